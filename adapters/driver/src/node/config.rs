//! [`HyperConfig`]: everything a node needs besides its workload.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use actr_core::platform::PlatformProvider;
use actr_wasm::WasmLimits;

use actr_core::Realm;
use actr_core::keeper::KeeperConfig;
use actr_core::package::{PackageLimits, TrustProvider};
use actr_core::signaling::ClientConfig;

use crate::wire::tls_roots::TlsRoots;

/// Default deadline of a call.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How a node registers, connects, listens and bounds its work.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HyperConfig {
    /// Base address of `actr serve`, e.g. `http://127.0.0.1:7480`: the AIS is
    /// reached over HTTP there and signaling at `ws://…/signaling`. With
    /// `https://host[:port]` both go over TLS (`wss://…/signaling`),
    /// verified against [`HyperConfig::tls_roots`] for the name `host`.
    pub server: String,
    /// What an `https://` server's certificate must chain to; by default
    /// Mozilla's roots ([`TlsRoots::webpki`]). A certificate that does not
    /// verify fails registration with `ActrError::Unauthenticated`.
    pub tls_roots: TlsRoots,
    pub realm: Realm,
    /// Admission secret of the realm, if it has one.
    pub realm_secret: Option<String>,
    /// Accept direct WebSocket connections on this address (port 0 picks one).
    pub ws_listen: Option<SocketAddr>,
    /// Host advertised in `ws://host:port`; defaults to the listen IP, or
    /// `127.0.0.1` when listening on an unspecified address.
    pub ws_advertised_host: Option<String>,
    pub signaling: ClientConfig,
    pub keeper: KeeperConfig,
    /// Deadline of calls made without an explicit one (`call_local`).
    pub call_timeout: Duration,
    /// Bound on registration and on `start` waiting for signaling.
    pub connect_timeout: Duration,
    /// Bound on each lifecycle hook; a hook past it counts as failed (`TimedOut`).
    pub hook_timeout: Duration,
    /// Bound on shutdown's wait for in-flight requests.
    pub drain_timeout: Duration,
    /// Most requests handled at once; more are refused with `ResourceExhausted`.
    pub max_in_flight: usize,
    /// Join the in-process registry of the [`crate::Hyper`] that makes the
    /// node: the other nodes of that `Hyper` then reach this node
    /// in-process, and this node reaches them in-process. Turn off to force
    /// every call between them onto the network. Nodes of another `Hyper`
    /// are always reached over the network.
    pub share_process: bool,
    /// Seed of the node's RNGs (request ids, trace ids, backoff); random when `None`.
    pub seed: Option<u64>,
    /// Reach remote actors over WebRTC first (see the module docs of `node`).
    /// Off: only the WebSocket direct wire is used.
    pub webrtc: bool,
    /// The IP each WebRTC connection's UDP socket binds to; it is also the
    /// host candidate offered to the peer, so it must be a concrete address.
    pub webrtc_ip: IpAddr,
    /// Deadline from starting a WebRTC connection until its RPC channel is open.
    pub webrtc_setup_timeout: Duration,
    /// From losing WebRTC connectivity until the connection is given up.
    pub webrtc_recovery_timeout: Duration,
    /// How long a WebRTC connection carrying calls may stay silent, while a
    /// direct link to the same peer is open, before those calls are resent
    /// over the link (a stall: SCTP backing off while ICE stays connected).
    pub webrtc_stall_timeout: Duration,
    /// Network-change reports closer than this form one burst, answered by
    /// one ICE recovery after the burst.
    pub network_debounce: Duration,
    /// Who may sign the packages this host runs. `None`: every package is
    /// refused with `PackageError::NoTrustConfigured`.
    pub trust: Option<std::sync::Arc<dyn TrustProvider>>,
    /// Bounds of package verification.
    pub package_limits: PackageLimits,
    /// What the host gives actors: each attached WASM actor's store.
    /// `None`: storage operations of guests fail with `Unavailable`.
    pub platform: Option<std::sync::Arc<dyn PlatformProvider>>,
    /// Fuel, memory and queue bounds of attached WASM actors.
    pub wasm_limits: WasmLimits,
}

impl HyperConfig {
    /// Defaults: no listener, 30 s calls, 10 s connect, 30 s hooks, 5 s drain.
    pub fn new(server: impl Into<String>, realm: Realm) -> Self {
        Self {
            server: server.into(),
            tls_roots: TlsRoots::default(),
            realm,
            realm_secret: None,
            ws_listen: None,
            ws_advertised_host: None,
            signaling: ClientConfig::default(),
            keeper: KeeperConfig::default(),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            connect_timeout: Duration::from_secs(10),
            hook_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(5),
            max_in_flight: 256,
            share_process: true,
            seed: None,
            webrtc: true,
            webrtc_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            webrtc_setup_timeout: Duration::from_secs(10),
            webrtc_recovery_timeout: Duration::from_secs(30),
            webrtc_stall_timeout: Duration::from_secs(4),
            network_debounce: Duration::from_secs(2),
            trust: None,
            package_limits: PackageLimits::default(),
            platform: None,
            wasm_limits: WasmLimits::default(),
        }
    }

    /// Gives actors the services of `platform` (their stores).
    pub fn with_platform(mut self, platform: std::sync::Arc<dyn PlatformProvider>) -> Self {
        self.platform = Some(platform);
        self
    }

    /// Keeps each attached actor's store in SQLite under `dir`
    /// (`actr_sqlite::NativePlatform`): one database per actor type.
    pub fn with_data_dir(self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.with_platform(std::sync::Arc::new(actr_sqlite::NativePlatform::new(dir)))
    }

    pub fn with_wasm_limits(mut self, limits: WasmLimits) -> Self {
        self.wasm_limits = limits;
        self
    }

    /// Listens for direct WebSocket connections on `addr`.
    pub fn with_ws_listen(mut self, addr: SocketAddr) -> Self {
        self.ws_listen = Some(addr);
        self
    }

    /// Trusts exactly `roots` for an `https://` server, e.g. a private CA
    /// or a self-signed certificate: `TlsRoots::from_pem(&pem)?`.
    pub fn with_tls_roots(mut self, roots: TlsRoots) -> Self {
        self.tls_roots = roots;
        self
    }

    pub fn with_realm_secret(mut self, secret: impl Into<String>) -> Self {
        self.realm_secret = Some(secret.into());
        self
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Turns WebRTC on or off (on by default).
    pub fn with_webrtc(mut self, on: bool) -> Self {
        self.webrtc = on;
        self
    }

    pub fn with_share_process(mut self, share: bool) -> Self {
        self.share_process = share;
        self
    }

    /// Trusts packages that `trust` accepts (`StaticTrust`, `RegistryTrust`, `ChainTrust`).
    pub fn with_trust(mut self, trust: impl TrustProvider + 'static) -> Self {
        self.trust = Some(std::sync::Arc::new(trust));
        self
    }

    /// Accepts no direct WebSocket connections (the default).
    pub fn without_ws_listen(mut self) -> Self {
        self.ws_listen = None;
        self
    }

    pub fn with_ws_advertised_host(mut self, host: impl Into<String>) -> Self {
        self.ws_advertised_host = Some(host.into());
        self
    }

    pub fn with_signaling(mut self, signaling: ClientConfig) -> Self {
        self.signaling = signaling;
        self
    }

    pub fn with_keeper(mut self, keeper: KeeperConfig) -> Self {
        self.keeper = keeper;
        self
    }

    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn with_hook_timeout(mut self, timeout: Duration) -> Self {
        self.hook_timeout = timeout;
        self
    }

    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }

    pub fn with_webrtc_ip(mut self, ip: IpAddr) -> Self {
        self.webrtc_ip = ip;
        self
    }

    pub fn with_webrtc_setup_timeout(mut self, timeout: Duration) -> Self {
        self.webrtc_setup_timeout = timeout;
        self
    }

    pub fn with_webrtc_recovery_timeout(mut self, timeout: Duration) -> Self {
        self.webrtc_recovery_timeout = timeout;
        self
    }

    pub fn with_webrtc_stall_timeout(mut self, timeout: Duration) -> Self {
        self.webrtc_stall_timeout = timeout;
        self
    }

    pub fn with_network_debounce(mut self, debounce: Duration) -> Self {
        self.network_debounce = debounce;
        self
    }

    /// The `ws://host:port` to advertise for a listener bound to `bound`.
    pub fn advertised_ws_address(&self, bound: SocketAddr) -> String {
        let host = match &self.ws_advertised_host {
            Some(host) => host.clone(),
            None if bound.ip().is_unspecified() => "127.0.0.1".into(),
            None if bound.is_ipv6() => format!("[{}]", bound.ip()),
            None => bound.ip().to_string(),
        };
        format!("ws://{host}:{}", bound.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_address_follows_the_listener() {
        let c = HyperConfig::new("http://x:1", Realm(1));
        assert_eq!(c.advertised_ws_address("0.0.0.0:9".parse().unwrap()), "ws://127.0.0.1:9");
        assert_eq!(c.advertised_ws_address("10.0.0.2:9".parse().unwrap()), "ws://10.0.0.2:9");
        assert_eq!(c.advertised_ws_address("[::1]:9".parse().unwrap()), "ws://[::1]:9");
        let named = c.with_ws_advertised_host("node.example");
        assert_eq!(named.advertised_ws_address("0.0.0.0:9".parse().unwrap()), "ws://node.example:9");
    }
}
