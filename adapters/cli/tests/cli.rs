//! The `actr` binary: `serve` prints its address, serves, and stops on Ctrl-C.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use actr_core::ais::{self, AisReply};
use common::*;

/// Waits for the child to exit, at most [`DEADLINE`].
fn wait_exit(child: Child) -> std::process::ExitStatus {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut child = child;
        let _ = tx.send(child.wait());
    });
    rx.recv_timeout(DEADLINE).expect("actr exits in time").expect("wait")
}

#[test]
fn serve_prints_its_address_and_stops_on_ctrl_c() {
    let dir = TempDir::new("cli");
    let secret_file = dir.path().join("realm8.secret");
    std::fs::write(&secret_file, "fr0m-file\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_actr"))
        .args(["serve", "--listen", "127.0.0.1:0", "--realm", "7", "--credential-ttl", "60", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--realm-secret-file")
        .arg(format!("8={}", secret_file.display()))
        .env("ACTR_REALM_7_SECRET", "s3cret")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn actr");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .strip_prefix("actr serve listening on http://")
        .and_then(|rest| rest.split_once(' '))
        .map(|(addr, _)| addr.parse().unwrap())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert_eq!(
        line.trim_end(),
        format!("actr serve listening on http://{addr} (signaling ws://{addr}/signaling, AIS http://{addr}/ais)")
    );

    assert_eq!(get(addr, "/healthz"), (200, b"ok".to_vec()));
    match ais_call(addr, ais::REGISTER_PATH, &register_request(7, Some("s3cret"))) {
        AisReply::Registered(ok) => assert!(ok.credential_expires_at <= unix_now() + 60),
        other => panic!("expected Registered, got {other:?}"),
    }
    assert!(matches!(ais_call(addr, ais::REGISTER_PATH, &register_request(7, None)), AisReply::Error(_)));
    assert!(matches!(
        ais_call(addr, ais::REGISTER_PATH, &register_request(8, Some("fr0m-file"))),
        AisReply::Registered(_)
    ));
    let mut socket = connect(addr).unwrap();

    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert_eq!(expect_closed(&mut socket), Some(1001), "open sockets are closed on Ctrl-C");
    assert!(wait_exit(child).success());
}

#[test]
fn a_bad_realm_argument_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_actr")).args(["serve", "--realm", "x"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("realm id"));
    // The old `ID=SECRET` form is refused, points at its replacements, and does not echo the secret.
    let out = Command::new(env!("CARGO_BIN_EXE_actr")).args(["serve", "--realm", "3=hunter2"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--realm-secret-file 3=PATH") && stderr.contains("ACTR_REALM_3_SECRET"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
