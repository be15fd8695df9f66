//! Signed actor packages (`.actr` files): format, signing and verification.
//!
//! A package is a ZIP archive holding `manifest.toml`, `manifest.sig` (64 raw
//! bytes, Ed25519 over the exact manifest bytes), the binary and resources
//! the manifest names. Entries the manifest does not name are ignored.
//! Everything here works on bytes and `Read + Seek` readers; nothing touches
//! a file system or a network. docs/package-format.md has the whole story.
//!
//! Verification order (first failure wins; every step has its own
//! [`PackageError`] variant), as done by [`OpenedPackage`]:
//! 1. central directory, entry count ≤ [`PackageLimits::max_entries`];
//! 2. `manifest.sig`: present, at most 64 bytes, exactly 64;
//! 3. `manifest.toml`: present, at most [`MAX_MANIFEST_BYTES`];
//! 4. Ed25519 `verify_strict` over the manifest bytes;
//! 5. UTF-8 and TOML parse;
//! 6. algorithm, hash formats, key id format, every named path;
//! 7. the manifest's key id names the verifying key;
//! 8. pre-flight of declared sizes (per entry and total) before inflating;
//! 9. streamed SHA-256 of each entry, bounded by its declared size.
//!
//! ```
//! use actr_core::package::{self, PackageLimits, PackageSpec};
//! let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
//! let spec = PackageSpec::new("acme:echo:1.0.0".parse().unwrap(), "wasm32-unknown-unknown");
//! let bytes = package::pack(&spec.into_manifest(), b"\0asm", &[], &key, &mut |_| {}).unwrap();
//! let verified = package::verify(&bytes, &key.verifying_key(), &PackageLimits::default()).unwrap();
//! assert_eq!(verified.key_id, package::key_id(&key.verifying_key()));
//! ```

mod build;
mod error;
pub mod hex;
pub mod keys;
mod manifest;
#[cfg(test)]
mod tests;
mod trust;
mod verify;
pub mod zip;

pub use build::{PackageSpec, pack};
pub use error::{PackageError, PathFault};
pub use manifest::{
    AclRuleEntry, AclSection, BinaryEntry, BinaryKind, MAX_PATH_LEN, Manifest, PermissionField, RealmField, RealmName,
    ResourceEntry, SIGNATURE_ALGORITHM, ServiceSection, check_path,
};
pub use trust::{
    ChainTrust, DEFAULT_CERT_TTL, MAX_MFR_KEY_REPLY, MfrCertCache, MfrKeyReply, StaticTrust, TrustProvider,
    mfr_key_path,
};
pub use verify::{Checked, KeyHint, OpenedPackage, PackageBinary, PackageLimits, TrustedBy, VerifiedPackage, verify};

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

/// Name of the signed manifest entry.
pub const MANIFEST_PATH: &str = "manifest.toml";
/// Name of the signature entry.
pub const SIGNATURE_PATH: &str = "manifest.sig";
/// Largest manifest accepted.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// Size of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// `mfr-` and the first 16 lowercase hex characters of SHA-256 of the public key.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("mfr-{}", hex::encode(&digest[..8]))
}

/// Whether `s` has the shape of a key id.
pub fn is_key_id(s: &str) -> bool {
    s.strip_prefix("mfr-").is_some_and(|h| hex::is_lower_hex(h, 16))
}

/// Parses 32 raw bytes as an Ed25519 public key.
pub fn verifying_key(bytes: &[u8]) -> Result<VerifyingKey, PackageError> {
    let bytes: &[u8; 32] = bytes.try_into().map_err(|_| PackageError::InvalidKey("expected 32 bytes"))?;
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| PackageError::InvalidKey("not a curve point"))?;
    if key.is_weak() {
        return Err(PackageError::InvalidKey("weak key"));
    }
    Ok(key)
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(&Sha256::digest(data))
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn key_id_shape_and_determinism() {
        let a = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]).verifying_key();
        let b = ed25519_dalek::SigningKey::from_bytes(&[2u8; 32]).verifying_key();
        assert!(is_key_id(&key_id(&a)));
        assert_eq!(key_id(&a).len(), 20);
        assert_eq!(key_id(&a), key_id(&a));
        assert_ne!(key_id(&a), key_id(&b));
        assert_eq!(key_id(&a), format!("mfr-{}", &sha256_hex(a.as_bytes())[..16]));
    }

    #[test]
    fn public_key_bytes_are_checked() {
        assert_eq!(verifying_key(&[1u8; 31]), Err(PackageError::InvalidKey("expected 32 bytes")));
        assert_eq!(verifying_key(&[0u8; 32]), Err(PackageError::InvalidKey("weak key")));
        let good = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]).verifying_key();
        assert_eq!(verifying_key(good.as_bytes()).unwrap(), good);
    }
}
