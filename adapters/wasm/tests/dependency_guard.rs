//! actr-wasm may depend on actr-core and wasmi, never on an async runtime,
//! a socket or SQLite (ARCHITECTURE.md, "What may depend on what").

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "tokio",
    "smol",
    "async-io",
    "async-std",
    "async-executor",
    "mio",
    "rusqlite",
    "actr-driver",
    "actr-tokio",
    "actr-smol",
    "actr-sqlite",
];

#[test]
fn wasm_dependency_tree_has_no_async_runtime() {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "-p", "actr-wasm", "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    let deps: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(deps.contains(&"wasmi"), "the tree lists real dependencies: {deps:?}");
    let bad: Vec<&&str> = deps.iter().filter(|d| FORBIDDEN.contains(d)).collect();
    assert!(bad.is_empty(), "actr-wasm depends on: {bad:?}");
}
