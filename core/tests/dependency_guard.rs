//! actr-core must stay sans-IO: its normal dependency tree may not contain an
//! async runtime, a socket library, a WebRTC or WebSocket stack, SQLite, an
//! HTTP client, a WASM engine or an OS randomness source.
//!
//! Packages: the ZIP reader is our own (`package::zip`) over miniz_oxide, a
//! pure inflater. The `zip` crate (9.x, even with only `deflate`) pulls in
//! getrandom, libc and zopfli, so it is not used here; getrandom is listed
//! below so it cannot arrive unnoticed.

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "tokio",
    "smol",
    "async-io",
    "mio",
    "socket2",
    "str0m",
    "tungstenite",
    "rusqlite",
    "ureq",
    "wasmi",
    "getrandom",
    "zip",
];

fn normal_dependencies() -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "-p", "actr-core", "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn core_dependency_tree_has_no_io_crates() {
    let deps = normal_dependencies();
    assert!(deps.iter().any(|d| d == "actr-core"), "the tree lists the crate itself: {deps:?}");
    assert!(deps.iter().any(|d| d == "postcard"), "the tree lists real dependencies: {deps:?}");
    let bad: Vec<&String> = deps.iter().filter(|d| FORBIDDEN.contains(&d.as_str())).collect();
    assert!(bad.is_empty(), "actr-core depends on I/O crates: {bad:?}");
}

#[test]
fn guard_would_catch_a_forbidden_crate() {
    // The same filter applied to a tree that does contain one must flag it.
    let sample = ["actr-core", "postcard", "tokio"];
    let bad: Vec<&&str> = sample.iter().filter(|d| FORBIDDEN.contains(d)).collect();
    assert_eq!(bad, vec![&"tokio"]);
}
