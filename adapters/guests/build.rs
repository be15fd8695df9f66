//! Builds the wasm-guest workspace for wasm32-unknown-unknown in release
//! with a nested cargo, and copies the example modules into OUT_DIR.
//!
//! The nested build has a target dir of its own, `<target dir>/wasm-guest`:
//! sharing the outer one would wait forever on the lock the outer cargo
//! holds, and one stable place (not under OUT_DIR) keeps it incremental
//! across profiles and rebuilds of this crate.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;
use std::{env, fs};

/// The example crates, by the name of their `.wasm`.
const GUESTS: [&str; 4] = ["echo", "counter", "relay", "misbehave"];
const TARGET: &str = "wasm32-unknown-unknown";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("actr-guests: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?);
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let root = manifest_dir.join("../..").canonicalize().map_err(|e| format!("workspace root: {e}"))?;
    let guest = root.join("wasm-guest");

    watch_tree(&guest)?;
    watch_tree(&root.join("core/src"))?;
    // actr-core takes its dependency versions from the root manifest.
    for manifest in [root.join("core/Cargo.toml"), root.join("Cargo.toml")] {
        println!("cargo:rerun-if-changed={}", manifest.display());
    }

    let target_dir = nested_target_dir(&out_dir);
    build(&guest, &target_dir)?;

    let built = target_dir.join(TARGET).join("release");
    for name in GUESTS {
        let from = built.join(format!("{name}.wasm"));
        let to = out_dir.join(format!("{name}.wasm"));
        fs::copy(&from, &to).map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))?;
    }
    Ok(())
}

/// `$CARGO_TARGET_DIR/wasm-guest` when it is set (and absolute), else
/// `wasm-guest` in the target dir that holds OUT_DIR (cargo marks it with
/// CACHEDIR.TAG), else a dir under OUT_DIR.
fn nested_target_dir(out_dir: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).filter(|dir| dir.is_absolute()) {
        return dir.join("wasm-guest");
    }
    match out_dir.ancestors().find(|dir| dir.join("CACHEDIR.TAG").is_file()) {
        Some(target) => target.join("wasm-guest"),
        None => out_dir.join("wasm-guest-target"),
    }
}

/// Runs the nested cargo with none of the outer build's settings.
fn build(guest: &Path, target_dir: &Path) -> Result<(), String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = guest.join("Cargo.toml");
    let mut command = Command::new(&cargo);
    command
        .args(["build", "--release", "--locked", "--target", TARGET, "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(guest);
    for (key, _) in env::vars_os() {
        if key.to_str().is_some_and(leaks_into_nested_build) {
            command.env_remove(&key);
        }
    }

    let started = Instant::now();
    let output = command.output().map_err(|e| format!("running {}: {e}", Path::new(&cargo).display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("target may not be installed") {
            "\nhint: rustup target add wasm32-unknown-unknown"
        } else if stderr.contains("--locked") {
            "\nhint: wasm-guest/Cargo.lock is out of date (a dependency of actr-core changed?): run \
             `cargo update --workspace --manifest-path wasm-guest/Cargo.toml` and commit the lock file"
        } else {
            ""
        };
        return Err(format!(
            "building the WASM guests failed ({}).\ncommand: {command:?}\n--- nested cargo stderr ---\n{stderr}{hint}",
            output.status
        ));
    }
    // Shown with `cargo build -vv`.
    eprintln!("actr-guests: nested build of {} in {:.1?}", manifest.display(), started.elapsed());
    Ok(())
}

/// Variables the outer cargo sets or reads that would change the nested
/// build: flags and wrappers for another target, the outer target dir and
/// jobserver, and what cargo tells a build script about its own package.
fn leaks_into_nested_build(key: &str) -> bool {
    const EXACT: [&str; 12] = [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTDOCFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "CARGO_TARGET_DIR",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
    ];
    const PREFIXES: [&str; 4] = ["CARGO_PROFILE_", "CARGO_CFG_", "CARGO_FEATURE_", "CARGO_BUILD_"];
    EXACT.contains(&key) || PREFIXES.iter().any(|prefix| key.starts_with(prefix))
}

/// Emits `rerun-if-changed` for every manifest, lock file and `.rs` file
/// under `dir`, and for every directory (so a new file counts too); build
/// outputs are skipped.
fn watch_tree(dir: &Path) -> Result<(), String> {
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries = fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let file_type = entry.file_type().map_err(|e| format!("{}: {e}", path.display()))?;
        if file_type.is_dir() {
            if name != OsStr::new("target") && !name.to_string_lossy().starts_with('.') {
                watch_tree(&path)?;
            }
        } else if name == OsStr::new("Cargo.toml")
            || name == OsStr::new("Cargo.lock")
            || path.extension() == Some(OsStr::new("rs"))
        {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Ok(())
}
