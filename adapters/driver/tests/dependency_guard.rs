//! The layering below the core (ARCHITECTURE.md, "What may depend on
//! what"), checked on each crate's normal dependency tree: actr-driver is
//! runtime-agnostic, actr-sqlite and actr-wasm depend on no async runtime
//! and not on each other or on the driver. (actr-core's own, stricter
//! guard is core/tests/dependency_guard.rs.)

use std::process::Command;

const RUNTIMES: &[&str] = &["tokio", "smol", "async-io", "async-executor", "async-std", "mio"];

/// Each crate, dependencies its tree must show (so an empty tree cannot
/// pass), and what it must not contain besides an async runtime.
const LAYERS: &[(&str, &[&str], &[&str])] = &[
    ("actr-driver", &["tungstenite", "ureq"], &["actr-tokio", "actr-smol"]),
    ("actr-sqlite", &["rusqlite"], &["actr-driver", "actr-tokio", "actr-smol", "actr-wasm", "wasmi"]),
    ("actr-wasm", &["wasmi"], &["actr-driver", "actr-tokio", "actr-smol", "actr-sqlite", "rusqlite"]),
];

fn normal_dependencies(package: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    tree.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect()
}

#[test]
fn each_layer_depends_only_on_what_it_may() {
    for (package, present, forbidden) in LAYERS {
        let deps = normal_dependencies(package);
        for needed in *present {
            assert!(deps.iter().any(|d| d == needed), "{package}'s tree lists real dependencies: {deps:?}");
        }
        let bad: Vec<&String> =
            deps.iter().filter(|d| RUNTIMES.contains(&d.as_str()) || forbidden.contains(&d.as_str())).collect();
        assert!(bad.is_empty(), "{package} depends on: {bad:?}");
    }
}
