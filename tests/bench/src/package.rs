//! Package verification against SHA-256 of the same bytes: a stored package
//! of 1 MiB and of 50 MiB, verified (signature, manifest, pre-flight,
//! streamed hashes) and, as the baseline, the binary hashed in one call.
//! Goal: verification within 1.2x of hashing alone.

use std::time::Duration;

use actr_core::package::{self, PackageLimits, PackageSpec};
use sha2::{Digest, Sha256};

use crate::report::{Row, time_pair};

fn binary(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn row(mib: usize, iterations: usize) -> Row {
    let key = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
    let data = binary(mib << 20);
    let spec = PackageSpec::new("bench:pkg:1.0.0".parse().expect("type"), "wasm32-unknown-unknown");
    let bytes = package::pack(&spec.into_manifest(), &data, &[], &key, &mut |_| {}).expect("packs");
    let limits = PackageLimits::default();
    let public = key.verifying_key();
    let (verify, hash) = time_pair(
        iterations,
        || {
            let v = package::verify(&bytes, &public, &limits).expect("verifies");
            std::hint::black_box(v);
        },
        || {
            std::hint::black_box(Sha256::digest(&data));
        },
    );
    let per_sec = |took: Duration| (mib * iterations) as f64 / took.as_secs_f64().max(1e-9);
    let mut row = Row::throughput(&format!("package: verify {mib} MiB"), "-", iterations, verify);
    row.rate = Some(per_sec(verify));
    row.unit = "MiB/s";
    row.ratio = Some(verify.as_secs_f64() / hash.as_secs_f64().max(1e-9));
    row.note = format!("SHA-256 of the same bytes {:.0} MiB/s; goal <= 1.2x", per_sec(hash));
    row
}

pub fn rows() -> Vec<Row> {
    vec![row(1, 200), row(50, 5)]
}
