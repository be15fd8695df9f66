//! `actr serve`: the signaling server and the identity service (AIS) of
//! actr-core over real sockets, on one address.
//!
//! | path | what |
//! |---|---|
//! | `GET /signaling` | WebSocket; one binary message = one signaling envelope |
//! | `POST /ais/register`, `/ais/renew`, `/ais/signing-key` | AIS, postcard bodies |
//! | `GET /mfr/{manufacturer}/verifying_key?key_id=…` | a manufacturer's package key, JSON (see [`mfr`]) |
//! | `GET /healthz` | `200 ok` |
//!
//! State that must survive a restart (the AIS signing key, realms, the serial
//! high-water mark) lives in `{data_dir}/actr-serve.db`; see [`store`].
//!
//! Two ways to run it:
//! - [`ServeHandle::start`] from any thread, inside a runtime or not: the
//!   server gets its own thread and tokio runtime; [`ServeHandle::stop`] ends it.
//! - [`run`] (or [`Server::open`] then [`Server::serve`]) inside a tokio
//!   runtime, until a shutdown future resolves. The `actr` binary does this.
//!
//! Shutdown stops accepting, sends every WebSocket a Close frame (1001) after
//! flushing what was queued for it, and waits up to [`SHUTDOWN_GRACE`] for
//! HTTP requests in flight and sockets to finish.

mod clock;
mod handle;
mod http;
mod hub;
mod link;
pub mod mfr;
pub mod store;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actr_core::ais::{AisConfig, AisService, RealmConfig};
use actr_core::signaling::{ServerConfig, SignalingServer};
use actr_core::{ActrError, Realm};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use handle::ServeHandle;
pub use http::HEALTH_PATH;
pub use hub::SignalingStats;
pub use store::{ManufacturerKey, PublishedPackage, RegistryStore, StoreError};
pub use ws::SIGNALING_PATH;

use http::AppState;
use hub::SignalingHub;

/// How long shutdown waits for requests in flight and sockets to close.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What `actr serve` listens on, where it keeps state, and its limits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeConfig {
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory of the registry database; created if missing.
    pub data_dir: PathBuf,
    /// Realms created or updated (secret included) at start, and persisted.
    /// When empty and the database holds no realm, realm 1 without secret is created.
    pub realms: Vec<RealmConfig>,
    /// Credential lifetimes and realm limits of the identity service.
    pub ais: AisConfig,
    /// Connection limits, queue bounds and timeouts of the signaling server.
    pub signaling: ServerConfig,
}

impl ServeConfig {
    /// Default AIS and signaling settings, no configured realm.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        ServeConfig {
            listen,
            data_dir,
            realms: Vec::new(),
            ais: AisConfig::default(),
            signaling: ServerConfig::default(),
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listen address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// The registry database could not be opened or initialized.
    #[error("registry: {0}")]
    Store(#[from] StoreError),
    /// A configured or stored realm was refused by the identity service.
    #[error("realm {realm}: {source}")]
    Realm { realm: Realm, source: ActrError },
    /// The server thread or its runtime could not be created.
    #[error("cannot start the server runtime: {0}")]
    Runtime(std::io::Error),
    /// The server thread ended before it was listening (it panicked).
    #[error("the server thread ended before it was listening")]
    ThreadGone,
    /// Serving failed after start.
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

/// A server whose registry is open and whose state is built, ready to serve.
#[derive(Debug)]
pub struct Server {
    state: Arc<AppState>,
}

impl Server {
    /// Opens the registry, loads or creates the signing key and realms, and
    /// builds the AIS and signaling state. Blocking (SQLite), but short.
    pub fn open(config: ServeConfig) -> Result<Server, ServeError> {
        clock::init();
        let mut store = RegistryStore::open(&config.data_dir)?;
        let key = store.signing_key()?;
        let mut ais = AisService::new(key.seed, key.key_id, store.next_serial()?, config.ais);
        load_realms(&mut ais, &store, &config.realms)?;
        let hub = SignalingHub::new(SignalingServer::new(config.signaling, ais.key_ring()));
        tracing::info!(
            db = %store.path().display(),
            key_id = key.key_id,
            next_serial = ais.next_serial(),
            realms = ais.realms().count(),
            "registry open"
        );
        let state = AppState { ais: Mutex::new(ais), store: Mutex::new(store), hub };
        Ok(Server { state: Arc::new(state) })
    }

    /// Counters of the signaling endpoint.
    pub fn signaling_stats(&self) -> SignalingStats {
        self.state.hub.stats()
    }

    fn hub(&self) -> Arc<SignalingHub> {
        Arc::clone(&self.state.hub)
    }

    /// Serves on `listener` until `shutdown` resolves, then closes every
    /// connection (bounded by [`SHUTDOWN_GRACE`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let hub = self.hub();
        let stop = CancellationToken::new();
        let timer = tokio::spawn(Arc::clone(&hub).run_timer(stop.clone()));
        let trigger = stop.clone();
        let http = axum::serve(listener, http::router(self.state)).with_graceful_shutdown(async move {
            shutdown.await;
            trigger.cancel();
        });
        let mut http = std::pin::pin!(http.into_future());
        let ended_early = tokio::select! {
            result = &mut http => Some(result),
            _ = stop.cancelled() => None,
        };
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        hub.close_all();
        let result = match ended_early {
            Some(result) => result,
            None => tokio::time::timeout_at(deadline, &mut http).await.unwrap_or_else(|_| {
                tracing::warn!("HTTP requests still running after {SHUTDOWN_GRACE:?}; leaving them");
                Ok(())
            }),
        };
        if tokio::time::timeout_at(deadline, hub.wait_idle()).await.is_err() {
            tracing::warn!(open = hub.stats().open_sockets, "signaling sockets still open after {SHUTDOWN_GRACE:?}");
        }
        stop.cancel();
        let _ = timer.await;
        result.map_err(ServeError::Serve)
    }
}

/// Serves `config` on an already bound `listener` until `shutdown` resolves.
pub async fn run(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    Server::open(config)?.serve(listener, shutdown).await
}

/// Stored realms first, then the configured ones (which win and are
/// persisted), then the default realm 1 if there is still none.
fn load_realms(ais: &mut AisService, store: &RegistryStore, configured: &[RealmConfig]) -> Result<(), ServeError> {
    let add = |ais: &mut AisService, realm: RealmConfig| {
        let id = realm.realm;
        ais.upsert_realm(realm).map_err(|source| ServeError::Realm { realm: id, source })
    };
    for realm in store.realms()? {
        add(ais, realm)?;
    }
    for realm in configured {
        add(ais, realm.clone())?;
        store.upsert_realm(realm)?;
    }
    if ais.realms().next().is_none() {
        let default = RealmConfig { realm: Realm(1), secret: None };
        add(ais, default.clone())?;
        store.upsert_realm(&default)?;
    }
    Ok(())
}

/// Locks a mutex, taking the data even if a panicking thread poisoned it:
/// the core's state machines do not panic, and a crashed socket task must
/// not take the whole server down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
