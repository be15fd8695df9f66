//! Package trust for hosts: the registry provider (manufacturer keys fetched
//! from `actr serve` over HTTP) and how [`crate::Hyper`] runs providers.
//!
//! Providers are synchronous ([`TrustProvider`]); [`crate::Hyper::verify_package`]
//! runs them on the runtime's blocking pool, so a key fetch never blocks a task.

use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actr_core::package::{
    MAX_MFR_KEY_REPLY, MfrCertCache, MfrKeyReply, OpenedPackage, PackageError, PackageLimits, TrustProvider, TrustedBy,
    VerifiedPackage, mfr_key_path,
};
use actr_core::{ActrType, Instant};

pub use actr_core::package::{ChainTrust, StaticTrust};

/// Deadline of one key lookup, connect to last body byte.
pub const MFR_HTTP_TIMEOUT: Duration = Duration::from_secs(10);

type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Trusts a manufacturer key that the registry at `base` publishes for the
/// key id the package names, cached for a TTL ([`MfrCertCache`]).
///
/// Lookup errors: 404 is [`PackageError::Untrusted`]; transport failures and
/// other statuses are [`PackageError::KeyLookup`] (retryable).
#[derive(Clone)]
pub struct RegistryTrust {
    base: String,
    agent: ureq::Agent,
    cache: Arc<Mutex<MfrCertCache>>,
    clock: Clock,
}

impl std::fmt::Debug for RegistryTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryTrust").field("base", &self.base).finish_non_exhaustive()
    }
}

fn process_clock() -> Instant {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    Instant::from_micros(origin.elapsed().as_micros().min(u128::from(u64::MAX)) as u64)
}

impl RegistryTrust {
    /// `base` is `http://host:port` of `actr serve`; a trailing `/ais` is dropped.
    pub fn new(base: &str) -> Self {
        let config =
            ureq::Agent::config_builder().timeout_global(Some(MFR_HTTP_TIMEOUT)).http_status_as_error(false).build();
        let base = base.trim_end_matches('/');
        let base = base.strip_suffix("/ais").unwrap_or(base).to_owned();
        RegistryTrust { base, agent: config.into(), cache: Arc::default(), clock: Arc::new(process_clock) }
    }

    /// Uses `cache` (shared between providers, or with a custom TTL).
    pub fn with_cache(mut self, cache: Arc<Mutex<MfrCertCache>>) -> Self {
        self.cache = cache;
        self
    }

    /// Reads time from `clock` instead of the process's monotonic clock.
    pub fn with_clock(mut self, clock: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The key of `manufacturer` with `key_id`, from the cache or the registry.
    pub fn key(&self, manufacturer: &str, key_id: &str) -> Result<ed25519_dalek::VerifyingKey, PackageError> {
        let now = (self.clock)();
        if let Some(key) = self.lock()?.get(manufacturer, key_id, now) {
            return Ok(key);
        }
        let key = self.fetch(manufacturer, key_id)?;
        self.lock()?.insert(manufacturer, key_id, key, now)?;
        Ok(key)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, MfrCertCache>, PackageError> {
        self.cache.lock().map_err(|_| PackageError::Internal("manufacturer key cache poisoned".into()))
    }

    fn fetch(&self, manufacturer: &str, key_id: &str) -> Result<ed25519_dalek::VerifyingKey, PackageError> {
        let url = format!("{}{}", self.base, mfr_key_path(manufacturer, key_id)?);
        let mut response =
            self.agent.get(&url).call().map_err(|e| PackageError::KeyLookup(format!("GET {url}: {e}")))?;
        let status = response.status().as_u16();
        if status == 404 {
            return Err(PackageError::Untrusted { manufacturer: manufacturer.to_owned(), key_id: key_id.to_owned() });
        }
        if status != 200 {
            return Err(PackageError::KeyLookup(format!("GET {url} answered HTTP {status}")));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_MFR_KEY_REPLY)
            .read_to_vec()
            .map_err(|e| PackageError::KeyLookup(format!("GET {url}: {e}")))?;
        let reply: MfrKeyReply =
            serde_json::from_slice(&body).map_err(|e| PackageError::KeyLookup(format!("GET {url}: bad reply: {e}")))?;
        reply.key_for(manufacturer, key_id)
    }
}

impl TrustProvider for RegistryTrust {
    fn verify(&self, package: &[u8], limits: &PackageLimits) -> Result<VerifiedPackage, PackageError> {
        let opened = OpenedPackage::open(Cursor::new(package), *limits)?;
        // The claimed manufacturer and key id only choose which key to fetch;
        // the signature check below decides.
        let hint = opened.key_hint();
        ActrType::new(&hint.manufacturer, "x", "1").map_err(PackageError::InvalidType)?;
        let key = self.key(&hint.manufacturer, &hint.signing_key_id)?;
        let mut verified = opened.verify(&key)?;
        if verified.manifest.manufacturer != hint.manufacturer {
            return Err(PackageError::Internal("manifest changed between reads".into()));
        }
        verified.trusted_by = TrustedBy::Registry(self.base.clone());
        Ok(verified)
    }
}
