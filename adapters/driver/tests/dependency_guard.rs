//! actr-driver is runtime-agnostic: its normal dependency tree may not
//! contain an async runtime or its reactor.

use std::process::Command;

const FORBIDDEN: &[&str] = &["tokio", "smol", "async-io", "async-executor", "async-std", "mio"];

#[test]
fn driver_dependency_tree_has_no_runtime() {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "-p", "actr-driver", "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    let deps: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(deps.contains(&"tungstenite") && deps.contains(&"ureq"), "the tree lists real dependencies: {deps:?}");
    let bad: Vec<&&str> = deps.iter().filter(|d| FORBIDDEN.contains(d)).collect();
    assert!(bad.is_empty(), "actr-driver depends on a runtime: {bad:?}");
}
