//! `actr serve`: actr-core's [`ServerHub`] (the signaling server and the
//! identity service, AIS) over real sockets, on one address. The hub holds
//! every server rule; module `hub` shares it between the socket tasks, the
//! AIS handlers and a timer task, and carries its outputs to the sockets.
//!
//! | path | what |
//! |---|---|
//! | `GET /signaling` | WebSocket; one binary message = one signaling envelope |
//! | `POST /ais/register`, `/ais/renew`, `/ais/signing-key` | AIS, postcard bodies |
//! | `GET /mfr/{manufacturer}/verifying_key?key_id=…` | a manufacturer's package key, JSON (see [`mfr`]) |
//! | `GET /healthz` | `200 ok` |
//!
//! Connections come in through our own accept loop (module `accept`), not
//! `axum::serve`: caps on open connections in all and per source address
//! ([`ConnectionLimits`]), a deadline for the request head (and the TLS
//! handshake), and hyper's HTTP/1 with upgrades serving the axum router. An
//! upgraded signaling socket keeps its place under the caps, and the core
//! server's `hello_timeout` closes one that never says hello.
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

mod accept;
mod clock;
mod directory;
mod handle;
mod http;
mod hub;
mod link;
pub mod mfr;
mod secrets;
pub mod store;
mod tls;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actr_core::ais::{AisConfig, AisService, RealmConfig};
use actr_core::server::ServerHub;
use actr_core::signaling::ServerConfig;
use actr_core::{ActrError, Realm};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use accept::{ConnectionLimits, ConnectionStats};
pub use handle::ServeHandle;
pub use http::HEALTH_PATH;
pub use hub::SignalingStats;
pub use secrets::{RealmSecretError, realms_with_secrets, secret_env_var};
pub use store::{ManufacturerKey, PublishedPackage, RegistryStore, StoreError};
pub use tls::{TlsError, TlsFiles};
pub use ws::SIGNALING_PATH;

use accept::ConnTable;
use http::AppState;
use hub::SharedHub;

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
    /// A realm without a secret keeps a secret already stored for it. When
    /// empty and the database holds no realm, realm 1 without secret is created.
    pub realms: Vec<RealmConfig>,
    /// Realms that admit signed packages only (linked, self-asserted types
    /// are refused); created if missing. Configuration, not stored: a
    /// restart without it admits linked workloads again.
    pub packages_only: Vec<Realm>,
    /// Credential lifetimes and realm limits of the identity service.
    pub ais: AisConfig,
    /// Connection limits, queue bounds and timeouts of the signaling server.
    pub signaling: ServerConfig,
    /// Caps on TCP connections and the deadline for a request head.
    pub connections: ConnectionLimits,
    /// Serve HTTPS and WSS with this certificate and key instead of plain text.
    pub tls: Option<TlsFiles>,
}

impl ServeConfig {
    /// Default AIS and signaling settings, no configured realm.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        ServeConfig {
            listen,
            data_dir,
            realms: Vec::new(),
            packages_only: Vec::new(),
            ais: AisConfig::default(),
            signaling: ServerConfig::default(),
            connections: ConnectionLimits::default(),
            tls: None,
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
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// Serving failed after start.
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

/// A server whose registry is open and whose state is built, ready to serve.
pub struct Server {
    state: Arc<AppState>,
    conns: Arc<ConnTable>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The TLS acceptor holds the private key: say only whether there is one.
        f.debug_struct("Server").field("state", &self.state).field("tls", &self.tls.is_some()).finish_non_exhaustive()
    }
}

impl Server {
    /// Opens the registry, loads or creates the signing key and realms, and
    /// builds the AIS and signaling state. Blocking (SQLite), but short.
    pub fn open(config: ServeConfig) -> Result<Server, ServeError> {
        clock::init();
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let mut store = RegistryStore::open(&config.data_dir)?;
        let key = store.signing_key()?;
        let mut ais = AisService::new(key.seed, key.key_id, store.next_serial()?, config.ais);
        load_realms(&mut ais, &store, &config.realms)?;
        for &realm in &config.packages_only {
            let current = ais.realms().find(|r| r.realm == realm).cloned();
            let mut strict = current.unwrap_or_else(|| RealmConfig::new(realm, None));
            strict.packages_only = true;
            ais.upsert_realm(strict).map_err(|source| ServeError::Realm { realm, source })?;
            tracing::info!(realm = realm.0, "realm admits signed packages only");
        }
        tracing::info!(
            db = %store.path().display(),
            key_id = key.key_id,
            next_serial = ais.next_serial(),
            realms = ais.realms().count(),
            "registry open"
        );
        let hub = SharedHub::new(ServerHub::new(ais, config.signaling, challenge_key()?));
        let ais_slots = tokio::sync::Semaphore::new(http::MAX_AIS_IN_FLIGHT);
        let state = AppState { store: Mutex::new(store), hub, ais_slots };
        Ok(Server { state: Arc::new(state), conns: ConnTable::new(config.connections), tls })
    }

    /// Counters of the signaling endpoint.
    pub fn signaling_stats(&self) -> SignalingStats {
        self.state.hub.stats()
    }

    /// Whether connections are served over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Counters of the accept loop.
    pub fn connection_stats(&self) -> ConnectionStats {
        self.conns.stats()
    }

    fn hub(&self) -> Arc<SharedHub> {
        Arc::clone(&self.state.hub)
    }

    fn conn_table(&self) -> Arc<ConnTable> {
        Arc::clone(&self.conns)
    }

    /// Serves on `listener` until `shutdown` resolves, then closes every
    /// connection (bounded by [`SHUTDOWN_GRACE`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let hub = self.hub();
        let conns = self.conn_table();
        let stop = CancellationToken::new();
        let timer = tokio::spawn(Arc::clone(&hub).run_timer(stop.clone()));
        let router = http::router(self.state);
        let accept = tokio::spawn(accept::accept_loop(listener, Arc::clone(&conns), self.tls, router, stop.clone()));
        shutdown.await;
        stop.cancel();
        // The listener is dropped when the loop ends: nothing is accepted after this.
        let _ = accept.await;
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        hub.close_all();
        if tokio::time::timeout_at(deadline, hub.wait_idle()).await.is_err() {
            tracing::warn!(open = hub.stats().open_sockets, "signaling sockets still open after {SHUTDOWN_GRACE:?}");
        }
        if tokio::time::timeout_at(deadline, conns.wait_idle()).await.is_err() {
            tracing::warn!(open = conns.stats().open, "connections still open after {SHUTDOWN_GRACE:?}; leaving them");
        }
        let _ = timer.await;
        Ok(())
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

/// A fresh key for this process's hello challenges (never stored: a
/// restart draws a new one, so no nonce repeats across restarts).
fn challenge_key() -> Result<[u8; 32], ServeError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| {
        ServeError::Runtime(std::io::Error::other(format!("no OS randomness for hello challenges: {e}")))
    })?;
    Ok(key)
}

/// Stored realms first, then the configured ones (which win and are
/// persisted), then the default realm 1 if there is still none.
///
/// A configured realm without a secret never opens a realm whose secret is
/// stored: the stored secret is kept (and that is logged). Changing a secret
/// takes a new one; removing it is not offered on the command line.
fn load_realms(ais: &mut AisService, store: &RegistryStore, configured: &[RealmConfig]) -> Result<(), ServeError> {
    let add = |ais: &mut AisService, realm: RealmConfig| {
        let id = realm.realm;
        ais.upsert_realm(realm).map_err(|source| ServeError::Realm { realm: id, source })
    };
    let stored = store.realms()?;
    for realm in &stored {
        add(ais, realm.clone())?;
    }
    for realm in configured {
        let has_stored_secret = stored.iter().any(|s| s.realm == realm.realm && s.secret.is_some());
        if realm.secret.is_none() && has_stored_secret {
            tracing::info!(realm = realm.realm.0, "realm given without a secret: keeping its stored secret");
            continue;
        }
        add(ais, realm.clone())?;
        store.upsert_realm(realm)?;
    }
    if ais.realms().next().is_none() {
        let default = RealmConfig::new(Realm(1), None);
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
