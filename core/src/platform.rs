//! What the host gives an actor in place of an operating system: a key-value
//! store of its own and crypto without keys.
//!
//! The traits are synchronous: a store is a file on the host, and the caller
//! decides which thread blocks on it (a WASM actor's own thread, or the
//! runtime's blocking pool). actr-sqlite implements them over SQLite.

use std::sync::Arc;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest key a store accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value a store accepts, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most operations in one [`KvStore::batch`].
pub const MAX_BATCH_OPS: usize = 1024;
/// Most bytes of keys and values in one [`KvStore::batch`].
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Most keys one [`KvStore::list`] returns.
pub const MAX_LIST_KEYS: usize = 10_000;

/// A platform operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PlatformError {
    /// The store could not do it (I/O, corruption, a closed database).
    #[error("storage: {0}")]
    Storage(String),
    /// A key or value over its limit, or an empty key.
    #[error("storage limit: {0}")]
    Limit(String),
    /// A signature, key or hash input that does not verify or parse.
    #[error("crypto: {0}")]
    Crypto(String),
    /// The host's file system.
    #[error("io: {0}")]
    Io(String),
    #[error("{0}")]
    Other(String),
}

impl From<std::io::Error> for PlatformError {
    fn from(e: std::io::Error) -> Self {
        PlatformError::Io(e.to_string())
    }
}

impl From<PlatformError> for crate::ActrError {
    fn from(e: PlatformError) -> Self {
        match e {
            PlatformError::Limit(m) => crate::ActrError::InvalidArgument(m),
            PlatformError::Crypto(m) => crate::ActrError::InvalidArgument(format!("crypto: {m}")),
            other => crate::ActrError::Unavailable(other.to_string()),
        }
    }
}

/// One write of a [`KvStore::batch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOp {
    Set {
        key: String,
        #[serde(with = "crate::wire::bytes")]
        value: Vec<u8>,
    },
    Delete {
        key: String,
    },
}

/// An actor's own key-value store. Keys are UTF-8, 1 to [`MAX_KEY_BYTES`]
/// bytes; values at most [`MAX_VALUE_BYTES`]. Data outlives the process.
pub trait KvStore: Send + Sync + std::fmt::Debug {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PlatformError>;
    /// Inserts or replaces.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError>;
    /// Whether a value was removed.
    fn delete(&self, key: &str) -> Result<bool, PlatformError>;
    /// Keys starting with `prefix` (taken literally: `%` and `_` are not
    /// wildcards), ascending, at most `limit` (capped at [`MAX_LIST_KEYS`]).
    fn list(&self, prefix: &str, limit: usize) -> Result<Vec<String>, PlatformError>;
    /// All of `ops` in one transaction, or none of them. At most [`MAX_BATCH_OPS`].
    fn batch(&self, ops: &[KvOp]) -> Result<(), PlatformError>;
}

/// Checks a key against the store's rules.
pub fn check_key(key: &str) -> Result<(), PlatformError> {
    if key.is_empty() {
        return Err(PlatformError::Limit("empty key".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(PlatformError::Limit(format!("key of {} bytes, the limit is {MAX_KEY_BYTES}", key.len())));
    }
    Ok(())
}

/// Checks a value against the store's rules.
pub fn check_value(value: &[u8]) -> Result<(), PlatformError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(PlatformError::Limit(format!("value of {} bytes, the limit is {MAX_VALUE_BYTES}", value.len())));
    }
    Ok(())
}

/// Checks every operation of a batch and its length.
pub fn check_batch(ops: &[KvOp]) -> Result<(), PlatformError> {
    if ops.len() > MAX_BATCH_OPS {
        return Err(PlatformError::Limit(format!("batch of {} operations, the limit is {MAX_BATCH_OPS}", ops.len())));
    }
    let mut bytes = 0usize;
    for op in ops {
        match op {
            KvOp::Set { key, value } => {
                check_key(key)?;
                check_value(value)?;
                bytes += key.len() + value.len();
            }
            KvOp::Delete { key } => {
                check_key(key)?;
                bytes += key.len();
            }
        }
    }
    if bytes > MAX_BATCH_BYTES {
        return Err(PlatformError::Limit(format!("batch of {bytes} bytes, the limit is {MAX_BATCH_BYTES}")));
    }
    Ok(())
}

/// Crypto an actor may use: verify and hash. There is no signing here, and
/// no key is ever handed to an actor.
pub trait CryptoProvider: Send + Sync + std::fmt::Debug {
    /// Checks an Ed25519 signature (strict: no malleable or small-order forms).
    fn ed25519_verify(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), PlatformError>;
    fn sha256(&self, data: &[u8]) -> [u8; 32];
}

/// The pure-Rust crypto the core already carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoreCrypto;

impl CryptoProvider for CoreCrypto {
    fn ed25519_verify(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), PlatformError> {
        let key: [u8; 32] = public_key
            .try_into()
            .map_err(|_| PlatformError::Crypto(format!("a public key is 32 bytes, not {}", public_key.len())))?;
        let sig: [u8; 64] = signature
            .try_into()
            .map_err(|_| PlatformError::Crypto(format!("a signature is 64 bytes, not {}", signature.len())))?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| PlatformError::Crypto("not a valid public key".into()))?;
        key.verify_strict(message, &Signature::from_bytes(&sig))
            .map_err(|_| PlatformError::Crypto("the signature does not verify".into()))
    }

    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }
}

/// The host services a node's actors get: a stable instance id, one store
/// per actor type, and crypto.
pub trait PlatformProvider: Send + Sync + std::fmt::Debug {
    /// Stable across restarts for the same data directory.
    fn instance_uid(&self) -> Result<String, PlatformError>;
    /// The store of actors of type `actr_type`: its own, isolated from every
    /// other type's.
    fn actor_store(&self, actr_type: &crate::ActrType) -> Result<Arc<dyn KvStore>, PlatformError>;
    fn crypto(&self) -> Arc<dyn CryptoProvider> {
        Arc::new(CoreCrypto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn core_crypto_verifies_only_the_signed_message() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let sig = key.sign(b"hello").to_bytes();
        let public = key.verifying_key().to_bytes();
        CoreCrypto.ed25519_verify(&public, b"hello", &sig).unwrap();
        assert!(matches!(CoreCrypto.ed25519_verify(&public, b"hellp", &sig), Err(PlatformError::Crypto(_))));
        assert!(matches!(CoreCrypto.ed25519_verify(&public[..31], b"hello", &sig), Err(PlatformError::Crypto(_))));
        assert!(matches!(CoreCrypto.ed25519_verify(&public, b"hello", &sig[..63]), Err(PlatformError::Crypto(_))));
        assert_eq!(hex_of(&CoreCrypto.sha256(b"abc"))[..8], *"ba7816bf");
    }

    #[test]
    fn limits_are_typed_errors() {
        assert!(matches!(check_key(""), Err(PlatformError::Limit(_))));
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(matches!(check_key(&"k".repeat(MAX_KEY_BYTES + 1)), Err(PlatformError::Limit(_))));
        assert!(matches!(check_value(&vec![0; MAX_VALUE_BYTES + 1]), Err(PlatformError::Limit(_))));
        let ops = vec![KvOp::Delete { key: "a".into() }; MAX_BATCH_OPS + 1];
        assert!(matches!(check_batch(&ops), Err(PlatformError::Limit(_))));
        assert!(check_batch(&ops[..MAX_BATCH_OPS]).is_ok());
        let big = KvOp::Set { key: "k".into(), value: vec![0; MAX_VALUE_BYTES] };
        assert!(matches!(check_batch(&vec![big; 17]), Err(PlatformError::Limit(m)) if m.contains("bytes")));
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
