//! The AIS's view of manufacturers and published packages: the registry
//! store behind actr-core's [`PackageDirectory`]. Runs on the blocking AIS
//! worker with the store and the server hub locked (only package
//! registrations read it, and only one with a manufacturer proof writes: its
//! nonce); a store error refuses the registration (the directory answers
//! "unknown"), it never admits one.

use actr_core::ActrType;
use actr_core::ais::{PackageDirectory, Publication};
use actr_core::package::hex;

use super::store::RegistryStore;

pub(crate) struct StoreDirectory<'a> {
    pub store: &'a RegistryStore,
}

impl PackageDirectory for StoreDirectory<'_> {
    fn manufacturer_key(&self, manufacturer: &str, key_id: &str) -> Option<[u8; 32]> {
        match self.store.manufacturer_key(manufacturer, key_id) {
            Ok(key) => key.map(|k| k.public_key.to_bytes()),
            Err(e) => {
                tracing::error!(error = %e, manufacturer, key_id, "cannot read manufacturer keys");
                None
            }
        }
    }

    fn publication(&self, actr_type: &ActrType, manifest_sha256: &[u8; 32]) -> Publication {
        let wanted = hex::encode(manifest_sha256);
        match self.store.published_hashes(actr_type) {
            Ok(hashes) if hashes.contains(&wanted) => Publication::ThisManifest,
            Ok(hashes) if !hashes.is_empty() => Publication::OtherManifests,
            Ok(_) => Publication::Unpublished,
            Err(e) => {
                // Unknown is not "unpublished": that would fall through to the
                // proof path and could admit another manifest of a published type.
                tracing::error!(error = %e, %actr_type, "cannot read published packages");
                Publication::OtherManifests
            }
        }
    }

    fn consume_nonce(&mut self, manufacturer: &str, nonce: &[u8; 32], now: u64, until: u64) -> bool {
        self.store.consume_nonce(manufacturer, nonce, now, until).unwrap_or_else(|e| {
            tracing::error!(error = %e, manufacturer, "cannot record a manufacturer nonce");
            false
        })
    }
}
