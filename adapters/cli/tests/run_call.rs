//! `actr run` and `actr call` end to end over loopback, through the built
//! binary: a manufacturer makes a key, packs the bundled echo guest, the
//! server's registry publishes it; `actr run` verifies it against that
//! registry, runs it and prints its identity; `actr call` finds it by type
//! and prints its reply, in text and JSON; a type nobody serves is a typed
//! error and a non-zero exit; Ctrl-C stops `actr run` cleanly.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;

use common::*;

fn actr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_actr")).args(args).env_remove("RUST_LOG").output().expect("run actr")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn ok(out: Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "stdout {text:?} stderr {:?}", String::from_utf8_lossy(&out.stderr));
    text
}

/// Kills the child if the test fails before it stopped it.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A fresh manufacturer key and the bundled echo guest packed and signed
/// with it as `acme:echo:1.0.0`, both in `dir`: (secret key, package).
fn packed_echo(dir: &TempDir) -> (PathBuf, PathBuf) {
    let key = dir.path().join("mfr.key");
    ok(actr(&["keygen", "--out", p(&key)]));
    let wasm = dir.path().join("echo.wasm");
    std::fs::write(&wasm, actr_guests::ECHO).unwrap();
    let pkg = dir.path().join("echo.actr");
    let (wasm_arg, key_arg, pkg_arg) = (p(&wasm), p(&key), p(&pkg));
    let args = ["pack", "--type", "acme:echo:1.0.0", "--binary", wasm_arg, "--key", key_arg, "--out", pkg_arg];
    ok(actr(&[&args[..], &["--route", "echo.Echo/Say"]].concat()));
    (key, pkg)
}

#[test]
fn run_serves_a_wasm_package_and_call_reaches_it() {
    let dir = TempDir::new("run-call");
    let server = start(&dir);
    let url = format!("http://{}", server.local_addr());
    let (key, pkg) = packed_echo(&dir);
    let data = dir.path().join("data");
    let registry = p(&data);
    ok(actr(&["mfr", "add", "--data-dir", registry, "acme", p(&key.with_extension("key.pub"))]));
    ok(actr(&["mfr", "publish", "--data-dir", registry, p(&pkg)]));

    let host = dir.path().join("host");
    let child = Command::new(env!("CARGO_BIN_EXE_actr"))
        .args(["run", p(&pkg), "--server", &url, "--data-dir", p(&host)])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start actr run");
    let mut running = Running(Some(child));
    let stdout = running.0.as_mut().unwrap().stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(DEADLINE).expect("actr run announces the actor");
    assert!(line.starts_with("actr run: acme:echo:1.0.0 running as "), "{line}");
    assert!(line.contains("WASM") && line.contains("trusted by mfr-"), "{line}");

    let reply = ok(actr(&["call", "--server", &url, "acme:echo:1.0.0", "echo.Echo/Say", "hello over the wire"]));
    assert_eq!(reply, "hello over the wire\n");
    let json = ok(actr(&["call", "--server", &url, "acme:echo:1.0.0", "echo.Echo/Say", "as json", "--json"]));
    let value: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
    assert_eq!(value["reply"], "as json");
    assert!(value["actor"].as_str().unwrap().ends_with("/acme:echo:1.0.0"), "{value}");

    let none = actr(&["call", "--server", &url, "acme:nobody:1.0.0", "echo.Echo/Say", "x", "--json"]);
    assert!(!none.status.success());
    let error: serde_json::Value = serde_json::from_slice(&none.stdout).expect("a JSON error");
    assert_eq!(error["error"]["kind"], "NotFound", "{error}");
    let none = actr(&["call", "--server", &url, "acme:nobody:1.0.0", "echo.Echo/Say"]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no actor of type acme:nobody:1.0.0"));

    // Ctrl-C: the node leaves and the process exits 0.
    let child = running.0.take().unwrap();
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let status = wait_exit(child);
    assert!(status.success(), "{status:?}");
    assert!(host.join("actors/acme/echo/1.0.0.sqlite").is_file(), "the actor's store is under --data-dir");
    server.stop();
}

#[test]
fn run_refuses_a_package_no_trusted_key_signed() {
    let dir = TempDir::new("run-untrusted");
    let server = start(&dir);
    let url = format!("http://{}", server.local_addr());
    let (_, pkg) = packed_echo(&dir);
    // The registry has never heard of this manufacturer.
    let out = actr(&["run", p(&pkg), "--server", &url, "--data-dir", p(&dir.path().join("host"))]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not verified"), "{err}");
    server.stop();
}

/// Waits for `child` to exit, at most [`DEADLINE`] (then kills it and fails).
fn wait_exit(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(status) => status.expect("wait for actr run"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("actr run did not exit within {DEADLINE:?} of SIGINT");
        }
    }
}
