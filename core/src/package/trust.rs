//! Who is trusted to sign packages.
//!
//! A [`TrustProvider`] turns package bytes into a [`VerifiedPackage`] or a
//! refusal. Providers are synchronous: verification is CPU work over bytes,
//! and a provider that must fetch a key (the driver's registry trust) blocks,
//! so hosts call providers from blocking work (the driver's `run_blocking`).

use std::collections::BTreeMap;
use std::io::Cursor;

use ed25519_dalek::VerifyingKey;

use super::error::PackageError;
use super::verify::{OpenedPackage, PackageLimits, TrustedBy, VerifiedPackage};
use super::{is_key_id, key_id};
use crate::time::{Duration, Instant};

/// Decides whether a package's signer is trusted and verifies it.
pub trait TrustProvider: Send + Sync + core::fmt::Debug {
    /// Verifies `package` within `limits`. May block (key lookups).
    fn verify(&self, package: &[u8], limits: &PackageLimits) -> Result<VerifiedPackage, PackageError>;
}

/// A fixed set of manufacturer keys; any manufacturer signing with one of them is accepted.
#[derive(Debug, Clone)]
pub struct StaticTrust {
    keys: Vec<(String, VerifyingKey)>,
}

impl StaticTrust {
    pub fn new(key: VerifyingKey) -> Self {
        Self::with_keys([key])
    }

    pub fn with_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        StaticTrust { keys: keys.into_iter().map(|k| (key_id(&k), k)).collect() }
    }

    /// Ids of the trusted keys.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }
}

impl TrustProvider for StaticTrust {
    fn verify(&self, package: &[u8], limits: &PackageLimits) -> Result<VerifiedPackage, PackageError> {
        let opened = OpenedPackage::open(Cursor::new(package), *limits)?;
        let hint = opened.key_hint();
        // The claimed key id only picks the key; the signature decides. With
        // no matching id, the first key's refusal is the answer.
        let key = match self.keys.iter().find(|(id, _)| *id == hint.signing_key_id) {
            Some((_, key)) => key,
            None => match self.keys.first() {
                Some((_, key)) => key,
                None => return Err(PackageError::NoTrustConfigured),
            },
        };
        let mut verified = opened.verify(key)?;
        verified.trusted_by = TrustedBy::Static;
        Ok(verified)
    }
}

/// Tries providers in order: the first success wins, otherwise the last error.
#[derive(Debug, Default)]
pub struct ChainTrust {
    providers: Vec<Box<dyn TrustProvider>>,
}

impl ChainTrust {
    pub fn new(providers: Vec<Box<dyn TrustProvider>>) -> Self {
        ChainTrust { providers }
    }

    pub fn push(mut self, provider: impl TrustProvider + 'static) -> Self {
        self.providers.push(Box::new(provider));
        self
    }
}

impl TrustProvider for ChainTrust {
    fn verify(&self, package: &[u8], limits: &PackageLimits) -> Result<VerifiedPackage, PackageError> {
        let mut last = PackageError::EmptyTrustChain;
        for provider in &self.providers {
            match provider.verify(package, limits) {
                Ok(v) => return Ok(v),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// How long a fetched manufacturer key is trusted before it is fetched again.
pub const DEFAULT_CERT_TTL: Duration = Duration::from_secs(3600);
/// Most keys the cache holds; the oldest fetch is dropped first.
pub const MAX_CACHED_KEYS: usize = 256;

/// Manufacturer keys fetched from a registry, by `(manufacturer, key id)`,
/// each valid for a TTL from when it was fetched. Time is an argument.
#[derive(Debug, Clone)]
pub struct MfrCertCache {
    ttl: Duration,
    capacity: usize,
    entries: BTreeMap<(String, String), (VerifyingKey, Instant)>,
}

impl Default for MfrCertCache {
    fn default() -> Self {
        Self::new(DEFAULT_CERT_TTL, MAX_CACHED_KEYS)
    }
}

impl MfrCertCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        MfrCertCache { ttl, capacity: capacity.max(1), entries: BTreeMap::new() }
    }

    /// A key fetched less than a TTL ago; an expired entry is dropped.
    pub fn get(&mut self, manufacturer: &str, key_id: &str, now: Instant) -> Option<VerifyingKey> {
        let k = (manufacturer.to_owned(), key_id.to_owned());
        let (key, fetched) = *self.entries.get(&k)?;
        if now.saturating_since(fetched) >= self.ttl {
            self.entries.remove(&k);
            return None;
        }
        Some(key)
    }

    /// Stores a fetched key after checking that it is the key the id names.
    pub fn insert(
        &mut self,
        manufacturer: &str,
        claimed_id: &str,
        key: VerifyingKey,
        now: Instant,
    ) -> Result<(), PackageError> {
        if !is_key_id(claimed_id) {
            return Err(PackageError::InvalidKeyId(claimed_id.to_owned()));
        }
        let actual = key_id(&key);
        if actual != claimed_id {
            return Err(PackageError::KeyIdMismatch { manifest: claimed_id.to_owned(), key: actual });
        }
        if self.entries.len() >= self.capacity {
            let oldest = self.entries.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.entries.insert((manufacturer.to_owned(), claimed_id.to_owned()), (key, now));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The registry's answer to `GET /mfr/{manufacturer}/verifying_key?key_id=…` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MfrKeyReply {
    pub manufacturer: String,
    pub key_id: String,
    /// 64 lowercase hex characters of the 32-byte Ed25519 key.
    pub public_key: String,
}

/// Largest registry reply a client reads.
pub const MAX_MFR_KEY_REPLY: u64 = 4096;

/// Path and query of a manufacturer key lookup. Manufacturer names and key
/// ids are validated first, so they need no escaping.
pub fn mfr_key_path(manufacturer: &str, key_id: &str) -> Result<String, PackageError> {
    crate::id::ActrType::new(manufacturer, "x", "1").map_err(PackageError::InvalidType)?;
    if !is_key_id(key_id) {
        return Err(PackageError::InvalidKeyId(key_id.to_owned()));
    }
    Ok(format!("/mfr/{manufacturer}/verifying_key?key_id={key_id}"))
}

impl MfrKeyReply {
    pub fn new(manufacturer: &str, key: &VerifyingKey) -> Self {
        MfrKeyReply {
            manufacturer: manufacturer.to_owned(),
            key_id: key_id(key),
            public_key: super::hex::encode(key.as_bytes()),
        }
    }

    /// The key, checked to be the one asked for.
    pub fn key_for(&self, manufacturer: &str, wanted_id: &str) -> Result<VerifyingKey, PackageError> {
        let bytes =
            super::hex::decode32(&self.public_key).ok_or(PackageError::InvalidKey("registry key is not 64 hex"))?;
        let key = super::verifying_key(&bytes)?;
        let actual = key_id(&key);
        if self.manufacturer != manufacturer || actual != wanted_id {
            return Err(PackageError::KeyIdMismatch { manifest: wanted_id.to_owned(), key: actual });
        }
        Ok(key)
    }
}
