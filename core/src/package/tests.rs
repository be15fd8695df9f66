//! Sign/verify round trips and one test per refusal.

use std::io::Cursor;

use ed25519_dalek::{Signer, SigningKey};

use super::zip::{ZipIndex, ZipWriter, crc32};
use super::*;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn spec() -> PackageSpec {
    let mut spec = PackageSpec::new("acme:echo:1.0.0".parse().unwrap(), "wasm32-unknown-unknown");
    spec.resource_paths = vec!["resources/a.txt".into()];
    spec.service.routes = vec!["echo.Echo/Say".into()];
    spec
}

const BINARY: &[u8] = b"\0asm\x01\0\0\0 pretend this is a module";

fn resources() -> Vec<(String, Vec<u8>)> {
    vec![("resources/a.txt".into(), b"resource bytes".to_vec())]
}

fn good() -> Vec<u8> {
    pack(&spec().into_manifest(), BINARY, &resources(), &key(1), &mut |_| {}).unwrap()
}

fn limits() -> PackageLimits {
    PackageLimits::default()
}

fn check(bytes: &[u8]) -> Result<VerifiedPackage, PackageError> {
    verify(bytes, &key(1).verifying_key(), &limits())
}

/// Every entry of an archive, as (name, method, declared size, crc, raw body).
type RawEntry = (String, u16, u64, u32, Vec<u8>);

fn entries(bytes: &[u8]) -> Vec<RawEntry> {
    let mut c = Cursor::new(bytes);
    let index = ZipIndex::read(&mut c, 1024).unwrap();
    index
        .entries()
        .iter()
        .map(|e| {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut index.open(&mut c, e).unwrap(), &mut data).unwrap();
            (e.name.clone(), 0u16, data.len() as u64, crc32(&data), data)
        })
        .collect()
}

fn rebuild(entries: &[RawEntry]) -> Vec<u8> {
    let mut w = ZipWriter::new(Vec::new());
    for (name, method, size, crc, body) in entries {
        w.add_raw(name, *method, *size, *crc, body).unwrap();
    }
    w.finish().unwrap()
}

/// Rewrites one entry's stored bytes.
fn edit(bytes: &[u8], name: &str, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut all = entries(bytes);
    let e = all.iter_mut().find(|e| e.0 == name).unwrap();
    f(&mut e.4);
    e.2 = e.4.len() as u64;
    e.3 = crc32(&e.4);
    rebuild(&all)
}

/// Replaces the manifest with `text`, signed properly by `signer`.
fn resign(bytes: &[u8], signer: &SigningKey, text: &str) -> Vec<u8> {
    let sig = signer.sign(text.as_bytes()).to_bytes().to_vec();
    let b = edit(bytes, MANIFEST_PATH, |m| *m = text.as_bytes().to_vec());
    edit(&b, SIGNATURE_PATH, |s| *s = sig)
}

fn manifest_text(bytes: &[u8]) -> String {
    let all = entries(bytes);
    String::from_utf8(all.iter().find(|e| e.0 == MANIFEST_PATH).unwrap().4.clone()).unwrap()
}

#[test]
fn sign_verify_round_trip() {
    let bytes = good();
    assert_eq!(&bytes[..2], b"PK");
    let v = check(&bytes).unwrap();
    assert_eq!(v.actr_type.to_string(), "acme:echo:1.0.0");
    assert_eq!(v.key_id, key_id(&key(1).verifying_key()));
    assert_eq!(v.manifest.signing_key_id, v.key_id);
    assert_eq!(hex::encode(&v.binary_hash), sha256_hex(BINARY));
    assert_eq!(v.manifest.binary.size, BINARY.len() as u64);
    assert_eq!(v.checked, Checked { entries: 2, bytes: (BINARY.len() + 14) as u64 });
    assert_eq!(v.trusted_by, TrustedBy::Key);
    assert_eq!(v.manifest_hash_hex(), sha256_hex(&v.manifest_raw));
    // The manifest is the first entry, every entry is stored.
    let index = ZipIndex::read(&mut Cursor::new(&bytes), 16).unwrap();
    assert_eq!(index.entries()[0].name, MANIFEST_PATH);
    assert!(index.entries().iter().all(|e| e.method == 0));
    // Packing is deterministic.
    assert_eq!(bytes, good());
}

#[test]
fn tampered_manifest_byte_breaks_the_signature() {
    let bytes = edit(&good(), MANIFEST_PATH, |m| {
        let at = m.iter().position(|&b| b == b'1').unwrap();
        m[at] = b'2';
    });
    assert!(matches!(check(&bytes), Err(PackageError::SignatureInvalid { .. })));
}

#[test]
fn tampered_binary_byte_is_a_binary_hash_mismatch() {
    let bytes = edit(&good(), "bin/actor.wasm", |b| b[5] ^= 1);
    assert_eq!(check(&bytes).unwrap_err(), PackageError::BinaryHashMismatch { path: "bin/actor.wasm".into() });
}

#[test]
fn tampered_resource_is_a_resource_hash_mismatch() {
    let bytes = edit(&good(), "resources/a.txt", |b| b[0] ^= 1);
    assert_eq!(check(&bytes).unwrap_err(), PackageError::ResourceHashMismatch { path: "resources/a.txt".into() });
}

#[test]
fn tampered_signature_is_invalid() {
    let bytes = edit(&good(), SIGNATURE_PATH, |s| s[10] ^= 0x40);
    assert!(matches!(check(&bytes), Err(PackageError::SignatureInvalid { .. })));
}

#[test]
fn wrong_key_is_refused_with_its_id() {
    let other = key(2).verifying_key();
    assert_eq!(
        verify(&good(), &other, &limits()).unwrap_err(),
        PackageError::SignatureInvalid { key_id: key_id(&other) }
    );
}

#[test]
fn manifest_naming_another_key_is_a_key_id_mismatch() {
    let bytes = good();
    let text = manifest_text(&bytes).replace(&key_id(&key(1).verifying_key()), "mfr-0000000000000000");
    let bytes = resign(&bytes, &key(1), &text);
    assert!(matches!(check(&bytes), Err(PackageError::KeyIdMismatch { .. })));
}

#[test]
fn signature_size_checks() {
    let missing: Vec<_> = entries(&good()).into_iter().filter(|e| e.0 != SIGNATURE_PATH).collect();
    assert_eq!(check(&rebuild(&missing)).unwrap_err(), PackageError::SignatureMissing);
    let short = edit(&good(), SIGNATURE_PATH, |s| s.truncate(63));
    assert_eq!(check(&short).unwrap_err(), PackageError::SignatureLength { size: 63 });
    let long = edit(&good(), SIGNATURE_PATH, |s| s.push(0));
    assert_eq!(check(&long).unwrap_err(), PackageError::SignatureTooLarge { size: 65 });
}

#[test]
fn deflated_signature_bomb_is_refused() {
    // Declares 64 bytes, inflates to 1 MiB.
    let mut all = entries(&good());
    let sig = all.iter_mut().find(|e| e.0 == SIGNATURE_PATH).unwrap();
    *sig = (SIGNATURE_PATH.into(), 8, 64, 0, miniz_oxide::deflate::compress_to_vec(&vec![0u8; 1 << 20], 6));
    assert_eq!(check(&rebuild(&all)).unwrap_err(), PackageError::SignatureTooLarge { size: 65 });
}

#[test]
fn missing_manifest_is_refused() {
    let all: Vec<_> = entries(&good()).into_iter().filter(|e| e.0 != MANIFEST_PATH).collect();
    assert_eq!(check(&rebuild(&all)).unwrap_err(), PackageError::ManifestMissing);
}

#[test]
fn oversized_manifest_is_refused_before_reading() {
    let bytes = good();
    let text = manifest_text(&bytes) + &"#".repeat(MAX_MANIFEST_BYTES as usize);
    let bytes = resign(&bytes, &key(1), &text);
    assert_eq!(
        check(&bytes).unwrap_err(),
        PackageError::ManifestTooLarge { size: text.len() as u64, limit: MAX_MANIFEST_BYTES }
    );
}

#[test]
fn deflated_manifest_bomb_is_refused() {
    let mut all = entries(&good());
    let m = all.iter_mut().find(|e| e.0 == MANIFEST_PATH).unwrap();
    let body = miniz_oxide::deflate::compress_to_vec(&vec![b'#'; 4 << 20], 6);
    *m = (MANIFEST_PATH.into(), 8, 100, 0, body);
    assert_eq!(
        check(&rebuild(&all)).unwrap_err(),
        PackageError::ManifestTooLarge { size: MAX_MANIFEST_BYTES + 1, limit: MAX_MANIFEST_BYTES }
    );
}

#[test]
fn properly_signed_garbage_manifest_is_a_parse_error() {
    let bytes = resign(&good(), &key(1), "this is = not [toml");
    assert!(matches!(check(&bytes), Err(PackageError::ManifestParse(_))));
    let bytes = resign(&good(), &key(1), "\u{fffd}");
    assert!(matches!(check(&bytes), Err(PackageError::ManifestParse(_))));
    let sig = key(1).sign(&[0xff, 0xfe]).to_bytes().to_vec();
    let b = edit(&good(), MANIFEST_PATH, |m| *m = vec![0xff, 0xfe]);
    assert_eq!(check(&edit(&b, SIGNATURE_PATH, |s| *s = sig)).unwrap_err(), PackageError::ManifestEncoding);
}

#[test]
fn signed_bad_hash_format_is_refused() {
    let bytes = good();
    let text = manifest_text(&bytes).replace(&sha256_hex(BINARY), &sha256_hex(BINARY).to_uppercase());
    assert_eq!(
        check(&resign(&bytes, &key(1), &text)).unwrap_err(),
        PackageError::InvalidHash { field: "binary.hash".into() }
    );
}

#[test]
fn signed_path_traversal_is_refused() {
    let bytes = good();
    let text = manifest_text(&bytes).replace("resources/a.txt", "../../etc/passwd");
    assert_eq!(
        check(&resign(&bytes, &key(1), &text)).unwrap_err(),
        PackageError::InvalidPath { path: "../../etc/passwd".into(), fault: PathFault::ParentComponent }
    );
    let text = manifest_text(&bytes).replace("bin/actor.wasm", "C:/actor.wasm");
    assert_eq!(
        check(&resign(&bytes, &key(1), &text)).unwrap_err(),
        PackageError::InvalidPath { path: "C:/actor.wasm".into(), fault: PathFault::DriveLetter }
    );
}

#[test]
fn missing_binary_entry_is_refused() {
    let all: Vec<_> = entries(&good()).into_iter().filter(|e| e.0 != "bin/actor.wasm").collect();
    assert_eq!(check(&rebuild(&all)).unwrap_err(), PackageError::EntryMissing { path: "bin/actor.wasm".into() });
}

#[test]
fn missing_resource_entry_is_refused() {
    let all: Vec<_> = entries(&good()).into_iter().filter(|e| e.0 != "resources/a.txt").collect();
    assert_eq!(check(&rebuild(&all)).unwrap_err(), PackageError::EntryMissing { path: "resources/a.txt".into() });
}

#[test]
fn deflated_binary_declaring_a_small_size_is_a_zip_bomb() {
    let mut all = entries(&good());
    let bin = all.iter_mut().find(|e| e.0 == "bin/actor.wasm").unwrap();
    let bomb = vec![0u8; 8 << 20];
    *bin = (bin.0.clone(), 8, BINARY.len() as u64, 0, miniz_oxide::deflate::compress_to_vec(&bomb, 6));
    assert!(all[2].4.len() < 64 << 10, "the bomb is small on disk");
    assert_eq!(
        check(&rebuild(&all)).unwrap_err(),
        PackageError::EntryOverflow { path: "bin/actor.wasm".into(), limit: BINARY.len() as u64 }
    );
}

#[test]
fn deflated_entries_that_match_verify() {
    let mut all = entries(&good());
    for e in all.iter_mut().skip(2) {
        e.1 = 8;
        e.4 = miniz_oxide::deflate::compress_to_vec(&e.4, 6);
    }
    check(&rebuild(&all)).unwrap();
}

#[test]
fn entry_shorter_than_declared_is_a_size_mismatch() {
    let mut all = entries(&good());
    all[2].2 += 1;
    assert_eq!(
        check(&rebuild(&all)).unwrap_err(),
        PackageError::EntrySizeMismatch {
            path: "bin/actor.wasm".into(),
            declared: BINARY.len() as u64 + 1,
            actual: BINARY.len() as u64
        }
    );
}

#[test]
fn declared_sizes_are_checked_before_inflating() {
    let small = PackageLimits { max_entry_bytes: 16, ..limits() };
    assert_eq!(
        verify(&good(), &key(1).verifying_key(), &small).unwrap_err(),
        PackageError::EntryTooLarge { path: "bin/actor.wasm".into(), size: BINARY.len() as u64, limit: 16 }
    );
    let total = PackageLimits { max_total_bytes: BINARY.len() as u64 + 1, ..limits() };
    assert_eq!(
        verify(&good(), &key(1).verifying_key(), &total).unwrap_err(),
        PackageError::TotalTooLarge { size: BINARY.len() as u64 + 14, limit: BINARY.len() as u64 + 1 }
    );
}

#[test]
fn too_many_entries_are_refused() {
    let mut all = entries(&good());
    for i in 0..3 {
        all.push((format!("junk/{i}"), 0, 0, 0, Vec::new()));
    }
    let few = PackageLimits { max_entries: 5, ..limits() };
    assert_eq!(
        verify(&rebuild(&all), &key(1).verifying_key(), &few).unwrap_err(),
        PackageError::TooManyEntries { count: 7, limit: 5 }
    );
}

#[test]
fn manifest_naming_too_many_entries_is_refused() {
    let bytes = good();
    let mut text = manifest_text(&bytes);
    let hash = sha256_hex(b"resource bytes");
    for _ in 0..4 {
        text.push_str(&format!("\n[[resources]]\npath = \"resources/a.txt\"\nhash = \"{hash}\"\n"));
    }
    let bytes = resign(&bytes, &key(1), &text);
    let few = PackageLimits { max_entries: 5, ..limits() };
    let err = verify(&bytes, &key(1).verifying_key(), &few).unwrap_err();
    assert_eq!(err, PackageError::TooManyEntries { count: 6, limit: 5 });
}

#[test]
fn unnamed_extra_entries_are_ignored() {
    let mut all = entries(&good());
    all.push(("resources/evil.js".into(), 0, 4, crc32(b"evil"), b"evil".to_vec()));
    all.push(("../escape".into(), 0, 1, crc32(b"x"), b"x".to_vec()));
    let v = check(&rebuild(&all)).unwrap();
    assert_eq!(v.checked.entries, 2);
    assert!(v.manifest.paths().all(|p| p != "resources/evil.js"));
}

#[test]
fn not_a_zip_is_malformed() {
    assert!(matches!(check(b"definitely not a zip file"), Err(PackageError::MalformedZip(_))));
    let mut truncated = good();
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(check(&truncated), Err(PackageError::MalformedZip(_))));
}

#[test]
fn static_trust_picks_the_key_the_manifest_names() {
    let trust = StaticTrust::with_keys([key(2).verifying_key(), key(1).verifying_key()]);
    let v = trust.verify(&good(), &limits()).unwrap();
    assert_eq!(v.trusted_by, TrustedBy::Static);
    let only_other = StaticTrust::new(key(2).verifying_key());
    assert!(matches!(only_other.verify(&good(), &limits()), Err(PackageError::SignatureInvalid { .. })));
    assert_eq!(StaticTrust::with_keys([]).verify(&good(), &limits()).unwrap_err(), PackageError::NoTrustConfigured);
}

#[test]
fn chain_trust_first_success_or_last_error() {
    assert_eq!(ChainTrust::default().verify(&good(), &limits()).unwrap_err(), PackageError::EmptyTrustChain);
    let chain = ChainTrust::default()
        .push(StaticTrust::new(key(2).verifying_key()))
        .push(StaticTrust::new(key(1).verifying_key()));
    assert_eq!(chain.verify(&good(), &limits()).unwrap().trusted_by, TrustedBy::Static);
    let failing = ChainTrust::default()
        .push(StaticTrust::new(key(1).verifying_key()))
        .push(StaticTrust::new(key(3).verifying_key()));
    let tampered = edit(&good(), "bin/actor.wasm", |b| b[0] ^= 1);
    // The last provider's error is reported, not the first's.
    assert_eq!(
        failing.verify(&tampered, &limits()).unwrap_err(),
        PackageError::SignatureInvalid { key_id: key_id(&key(3).verifying_key()) }
    );
}

#[test]
fn cert_cache_expires_and_checks_ids() {
    let mut cache = MfrCertCache::new(crate::Duration::from_secs(10), 2);
    let k = key(1).verifying_key();
    let t0 = crate::Instant::from_micros(1_000_000);
    assert_eq!(
        cache.insert("acme", "mfr-0000000000000000", k, t0).unwrap_err(),
        PackageError::KeyIdMismatch { manifest: "mfr-0000000000000000".into(), key: key_id(&k) }
    );
    cache.insert("acme", &key_id(&k), k, t0).unwrap();
    assert_eq!(cache.get("acme", &key_id(&k), t0 + crate::Duration::from_secs(9)), Some(k));
    assert_eq!(cache.get("other", &key_id(&k), t0), None);
    assert_eq!(cache.get("acme", &key_id(&k), t0 + crate::Duration::from_secs(10)), None);
    assert!(cache.is_empty());
    // Bounded: the oldest fetch goes first.
    for (i, seed) in [2u8, 3, 4].iter().enumerate() {
        let k = key(*seed).verifying_key();
        cache.insert("acme", &key_id(&k), k, t0 + crate::Duration::from_secs(i as u64)).unwrap();
    }
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.get("acme", &key_id(&key(2).verifying_key()), t0), None);
}
