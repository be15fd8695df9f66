//! What a simulation run is made of.

use actr_core::Realm;
use actr_core::ais::{AisConfig, RealmConfig};
use actr_core::keeper::KeeperConfig;
use actr_core::signaling::{ClientConfig, ServerConfig};

use crate::net::NetPreset;
use crate::rtc::RtcSimConfig;
use crate::server::Persisted;
use crate::sweep::derive_seed;

/// The configuration of one run. Every field is public; the builder methods
/// cover the common changes.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    /// Nodes booted at time zero, laid out by `NodeSpec::numbered`.
    pub nodes: usize,
    pub preset: NetPreset,
    pub ais: AisConfig,
    pub server: ServerConfig,
    pub client: ClientConfig,
    pub keeper: KeeperConfig,
    /// Seconds the server's wall clock runs ahead of the nodes' (negative: behind).
    pub server_skew_secs: i64,
    /// A WebRTC layer on every node (str0m peers, RPC endpoint), if set.
    pub rtc: Option<RtcSimConfig>,
}

impl SimConfig {
    /// How every node's hub is set up.
    pub fn hub_settings(&self, node: usize) -> crate::node::HubSettings {
        let webrtc = self.rtc.as_ref().map(|r| (r.connect_timeout, r.recovery_timeout, r.network_settle));
        let direct = self.rtc.as_ref().is_some_and(|r| r.direct);
        let ws_address = direct.then(|| crate::rtc::direct::direct_address(node));
        let max_peers = self.rtc.as_ref().and_then(|r| r.max_peers);
        crate::node::HubSettings { keeper: self.keeper, client: self.client, webrtc, ws_address, max_peers }
    }

    /// Three nodes on the WAN preset with the core's default settings.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            nodes: 3,
            preset: NetPreset::Wan,
            ais: AisConfig::default(),
            server: ServerConfig::default(),
            client: ClientConfig::default(),
            keeper: KeeperConfig::default(),
            server_skew_secs: 0,
            rtc: None,
        }
    }

    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n;
        self
    }

    pub fn preset(mut self, preset: NetPreset) -> Self {
        self.preset = preset;
        self
    }

    pub fn credential_ttl_secs(mut self, secs: u64) -> Self {
        self.ais.credential_ttl_secs = secs;
        self
    }

    pub fn server_skew_secs(mut self, secs: i64) -> Self {
        self.server_skew_secs = secs;
        self
    }

    /// Gives every node a WebRTC layer.
    pub fn rtc(mut self, rtc: RtcSimConfig) -> Self {
        self.rtc = Some(rtc);
        self
    }

    /// The first boot's persisted state: a signing seed derived from the run
    /// seed, key id 1, serials from 1, realm 1 without a secret.
    pub fn initial_persisted(&self) -> Persisted {
        let mut seed = [0u8; 32];
        for (i, chunk) in seed.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&derive_seed(self.seed, "ais-key", i as u64, 0).to_le_bytes());
        }
        Persisted { seed, key_id: 1, next_serial: 1, realms: vec![RealmConfig::new(Realm(1), None)] }
    }
}
