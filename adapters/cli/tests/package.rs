//! `actr keygen`, `pack`, `inspect`, `verify` and `mfr` through the built
//! binary, registry trust against a server started here, and the host API
//! (`Hyper::verify_package`).

#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use actr_cli::serve::RegistryStore;
use actr_core::package::{self, PackageError, TrustedBy, keys};
use common::*;

fn actr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_actr")).args(args).env_remove("RUST_LOG").output().expect("run actr")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failure: non-zero exit and exactly one line on stderr, which is returned.
fn one_line_failure(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure, stdout {:?}", stdout(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.starts_with("actr: "), "{err:?}");
    err
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "actr failed: {}", stderr(&out));
    stdout(&out)
}

struct Fixture {
    dir: TempDir,
    key: PathBuf,
    binary: Vec<u8>,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let dir = TempDir::new(tag);
        let key = dir.path().join("mfr.key");
        ok(actr(&["keygen", "--out", p(&key)]));
        let binary: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(dir.path().join("actor.wasm"), &binary).unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"some notes").unwrap();
        Fixture { dir, key, binary }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn pub_key(&self) -> PathBuf {
        self.path("mfr.key.pub")
    }

    fn pack(&self, out: &str) -> PathBuf {
        let out = self.path(out);
        let report = ok(actr(&[
            "pack",
            "--type",
            "acme:echo:1.0.0",
            "--binary",
            p(&self.path("actor.wasm")),
            "--key",
            p(&self.key),
            "--out",
            p(&out),
            "--resource",
            p(&self.path("notes.txt")),
            "--route",
            "echo.Echo/Say",
        ]));
        assert!(report.starts_with("packed acme:echo:1.0.0 into "), "{report}");
        out
    }

    fn key_id(&self) -> String {
        let text = std::fs::read_to_string(self.pub_key()).unwrap();
        package::key_id(&keys::parse_public_key(&text).unwrap())
    }
}

#[test]
fn every_command_has_help() {
    for cmd in [&["keygen"][..], &["pack"], &["inspect"], &["verify"], &["mfr"], &["mfr", "add"], &["mfr", "publish"]] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = ok(actr(&args));
        assert!(out.contains("Usage: actr"), "{cmd:?}: {out}");
    }
}

#[test]
fn keygen_writes_a_private_0600_key_and_prints_its_id() {
    let dir = TempDir::new("keygen");
    let key = dir.path().join("k");
    let out = actr(&["keygen", "--out", p(&key)]);
    let report = ok(out.clone());
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let secret_text = std::fs::read_to_string(&key).unwrap();
    let public_text = std::fs::read_to_string(dir.path().join("k.pub")).unwrap();
    let secret = keys::parse_secret_key(&secret_text).unwrap();
    let public = keys::parse_public_key(&public_text).unwrap();
    assert_eq!(secret.verifying_key(), public);
    let id = package::key_id(&public);
    assert!(report.starts_with(&format!("key id {id}\n")), "{report}");
    let secret_hex = secret_text.trim().strip_prefix(keys::SECRET_PREFIX).unwrap();
    assert!(!report.contains(secret_hex) && !stderr(&out).contains(secret_hex), "the secret key is never printed");

    // No overwrite without --force; with it, a new key replaces the old one, still 0600.
    let err = one_line_failure(&actr(&["keygen", "--out", p(&key)]));
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), secret_text);
    ok(actr(&["keygen", "--out", p(&key), "--force"]));
    assert_ne!(std::fs::read_to_string(&key).unwrap(), secret_text);
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn pack_inspect_verify_round_trip() {
    let f = Fixture::new("roundtrip");
    let pkg = f.pack("echo.actr");
    let id = f.key_id();

    let inspected = ok(actr(&["inspect", p(&pkg)]));
    assert!(inspected.contains("NOT verified"), "{inspected}");
    assert!(inspected.contains(&format!("key id        {id} (claimed)")), "{inspected}");
    assert!(inspected.contains(&package::sha256_hex(&f.binary)), "{inspected}");
    assert!(inspected.contains("manufacturer = \"acme\""), "the manifest is printed: {inspected}");

    let verified = ok(actr(&["verify", p(&pkg), "--trust", p(&f.pub_key())]));
    assert!(verified.starts_with("verified acme:echo:1.0.0\n"), "{verified}");
    assert!(
        verified.contains(&format!("signed by     {id} (trusted through a trusted public key file)")),
        "{verified}"
    );
    assert!(verified.contains("resources/notes.txt"), "{verified}");
    assert!(verified.contains("2 entries, 50010 bytes hashed"), "{verified}");
}

#[test]
fn hand_written_manifest_is_completed_and_signed() {
    let f = Fixture::new("manifest");
    std::fs::create_dir_all(f.path("res")).unwrap();
    std::fs::write(f.path("res/config.toml"), b"x = 1").unwrap();
    let manifest = "manufacturer = \"acme\"\nname = \"echo\"\nversion = \"2.0.0\"\n\n[binary]\npath = \"bin/echo.wasm\"\n\
                    kind = \"wasm-module\"\ntarget = \"wasm32-unknown-unknown\"\n\n[[resources]]\npath = \"res/config.toml\"\n\n\
                    [service]\nroutes = [\"echo.Echo/Say\"]\n\n[[acl.rules]]\npermission = \"allow\"\ntype = \"acme:client:1.0.0\"\n";
    std::fs::write(f.path("manifest.toml"), manifest).unwrap();
    let out = f.path("hand.actr");
    ok(actr(&[
        "pack",
        "--manifest",
        p(&f.path("manifest.toml")),
        "--binary",
        p(&f.path("actor.wasm")),
        "--key",
        p(&f.key),
        "--out",
        p(&out),
    ]));
    let bytes = std::fs::read(&out).unwrap();
    let public = keys::parse_public_key(&std::fs::read_to_string(f.pub_key()).unwrap()).unwrap();
    let v = package::verify(&bytes, &public, &Default::default()).unwrap();
    assert_eq!(v.actr_type.to_string(), "acme:echo:2.0.0");
    assert_eq!(v.manifest.binary.path, "bin/echo.wasm");
    assert_eq!(v.manifest.resources[0].hash, package::sha256_hex(b"x = 1"));
    assert_eq!(v.manifest.acl().unwrap().unwrap().rules.len(), 1);
}

#[test]
fn tampered_package_fails_with_one_line() {
    let f = Fixture::new("tamper");
    let pkg = f.pack("echo.actr");
    let mut bytes = std::fs::read(&pkg).unwrap();
    // Entries are stored: the binary's bytes appear as they are.
    let at = bytes.windows(64).position(|w| w == &f.binary[1000..1064]).expect("binary is stored") + 10;
    bytes[at] ^= 0xff;
    let bad = f.path("bad.actr");
    std::fs::write(&bad, &bytes).unwrap();
    let err = one_line_failure(&actr(&["verify", p(&bad), "--trust", p(&f.pub_key())]));
    assert!(err.contains("not verified") && err.contains("bin/actor.wasm does not match its hash"), "{err}");

    // Another manufacturer's key does not verify it either.
    ok(actr(&["keygen", "--out", p(&f.path("other.key"))]));
    let err = one_line_failure(&actr(&["verify", p(&pkg), "--trust", p(&f.path("other.key.pub"))]));
    assert!(err.contains("signature does not verify"), "{err}");

    // Not a package at all.
    std::fs::write(f.path("junk.actr"), b"junk").unwrap();
    let err = one_line_failure(&actr(&["verify", p(&f.path("junk.actr")), "--trust", p(&f.pub_key())]));
    assert!(err.contains("not a ZIP archive"), "{err}");
    one_line_failure(&actr(&["inspect", p(&f.path("junk.actr"))]));
}

#[test]
fn registry_trust_against_a_running_server() {
    let f = Fixture::new("registry");
    let pkg = f.pack("echo.actr");
    let server = start(&f.dir);
    let addr = server.local_addr();
    let url = format!("http://{addr}");
    let data_dir = f.dir.path().join("data");

    // Unknown manufacturer key: refused, one line.
    let err = one_line_failure(&actr(&["verify", p(&pkg), "--server", &url]));
    assert!(err.contains("no trusted key for acme"), "{err}");
    assert_eq!(get(addr, &format!("/mfr/acme/verifying_key?key_id={}", f.key_id())).0, 404);
    assert_eq!(get(addr, "/mfr/acme/verifying_key?key_id=nonsense").0, 400);

    // Registered while the server runs; the server reads it on the next lookup.
    let added = ok(actr(&["mfr", "add", "--data-dir", p(&data_dir), "acme", p(&f.pub_key())]));
    assert!(added.contains(&f.key_id()), "{added}");
    let (status, body) = get(addr, &format!("/mfr/acme/verifying_key?key_id={}", f.key_id()));
    assert_eq!(status, 200);
    let reply: package::MfrKeyReply = serde_json::from_slice(&body).unwrap();
    assert_eq!(reply.key_id, f.key_id());
    assert_eq!(get(addr, &format!("/mfr/other/verifying_key?key_id={}", f.key_id())).0, 404);

    let verified = ok(actr(&["verify", p(&pkg), "--server", &url]));
    assert!(verified.contains(&format!("the manufacturer registry at {url}")), "{verified}");

    // Publishing verifies against the registered key and records the manifest hash.
    let published = ok(actr(&["mfr", "publish", "--data-dir", p(&data_dir), p(&pkg)]));
    let bytes = std::fs::read(&pkg).unwrap();
    let public = keys::parse_public_key(&std::fs::read_to_string(f.pub_key()).unwrap()).unwrap();
    let v = package::verify(&bytes, &public, &Default::default()).unwrap();
    assert!(published.contains(&v.manifest_hash_hex()), "{published}");
    server.stop();
    let store = RegistryStore::open(&data_dir).unwrap();
    assert!(store.is_published(&v.manifest_hash_hex()).unwrap());
    assert!(!store.is_published(&package::sha256_hex(b"other")).unwrap());
    assert_eq!(store.manufacturer_key_by_id(&f.key_id()).unwrap().unwrap().manufacturer, "acme");
}

#[test]
fn publish_refuses_an_unregistered_or_tampered_package() {
    let f = Fixture::new("publish");
    let pkg = f.pack("echo.actr");
    let data_dir = f.path("data");
    let err = one_line_failure(&actr(&["mfr", "publish", "--data-dir", p(&data_dir), p(&pkg)]));
    assert!(err.contains("has no key"), "{err}");
    ok(actr(&["mfr", "add", "--data-dir", p(&data_dir), "acme", p(&f.pub_key())]));
    // The same key cannot be claimed by a second manufacturer.
    let err = one_line_failure(&actr(&["mfr", "add", "--data-dir", p(&data_dir), "globex", p(&f.pub_key())]));
    assert!(err.contains("already registered to manufacturer acme"), "{err}");
    let mut bytes = std::fs::read(&pkg).unwrap();
    let at = bytes.windows(64).position(|w| w == &f.binary[0..64]).unwrap();
    bytes[at] ^= 1;
    std::fs::write(f.path("bad.actr"), &bytes).unwrap();
    let err = one_line_failure(&actr(&["mfr", "publish", "--data-dir", p(&data_dir), p(&f.path("bad.actr"))]));
    assert!(err.contains("does not match its hash"), "{err}");
    let store = RegistryStore::open(&data_dir).unwrap();
    let opened = package::OpenedPackage::open(std::io::Cursor::new(&bytes), Default::default()).unwrap();
    let hash = package::sha256_hex(opened.manifest_raw());
    assert!(!store.is_published(&hash).unwrap());
}

#[test]
fn hosts_verify_packages_only_with_trust_configured() {
    let f = Fixture::new("host");
    let pkg = std::fs::read(f.pack("echo.actr")).unwrap();
    let public = keys::parse_public_key(&std::fs::read_to_string(f.pub_key()).unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        let config = actr_tokio::HyperConfig::new("http://127.0.0.1:9", actr_core::Realm(1));
        let untrusting = actr_tokio::hyper(config.clone());
        assert_eq!(untrusting.verify_package(pkg.clone()).await.unwrap_err(), PackageError::NoTrustConfigured);

        let trusting = actr_tokio::hyper(config.clone().with_trust(actr_tokio::StaticTrust::new(public)));
        let v = trusting.verify_package(pkg.clone()).await.unwrap();
        assert_eq!((v.trusted_by, v.key_id), (TrustedBy::Static, f.key_id()));

        // Registry trust with a static fallback: the registry has no key, the static key wins.
        let server = start(&f.dir);
        let registry = actr_tokio::RegistryTrust::new(&format!("http://{}", server.local_addr()));
        let chain = actr_tokio::ChainTrust::default().push(registry.clone()).push(actr_tokio::StaticTrust::new(public));
        let chained = actr_tokio::hyper(config.clone().with_trust(chain));
        assert_eq!(chained.verify_package(pkg.clone()).await.unwrap().trusted_by, TrustedBy::Static);
        let only_registry = actr_tokio::hyper(config.with_trust(registry));
        assert!(matches!(only_registry.verify_package(pkg.clone()).await.unwrap_err(), PackageError::Untrusted { .. }));
        server.stop();
    });
}

#[test]
fn schema_1_registry_upgrades_in_place() {
    let dir = TempDir::new("schema1");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    {
        let conn = rusqlite::Connection::open(data.join(actr_cli::serve::store::DB_FILE)).unwrap();
        conn.execute_batch(
            "CREATE TABLE realm (id INTEGER PRIMARY KEY, secret TEXT);
             INSERT INTO realm (id, secret) VALUES (5, 'pw');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = RegistryStore::open(&data).unwrap();
    assert_eq!(store.realms().unwrap().len(), 1, "existing rows survive");
    let key = ed25519_dalek::SigningKey::from_bytes(&[4u8; 32]).verifying_key();
    let id = store.add_manufacturer_key("acme", &key, 1).unwrap();
    assert_eq!(store.manufacturer_keys("acme").unwrap()[0].key_id, id);
    assert_eq!(store.manufacturer_key("globex", &id).unwrap(), None);
}
