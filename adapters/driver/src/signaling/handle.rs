//! A signaling node: start it, then talk to it through a cloneable
//! [`SignalingHandle`]. The same start builds the node task of every
//! [`crate::Node`]; on its own it is the signaling-only API, public under
//! the `internals` feature.

// Without `internals` only the part every `Node` needs is used.
#![cfg_attr(not(feature = "internals"), allow(dead_code))]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actr_core::ais::{RegisterOk, RegisterRequest};
use actr_core::keeper::KeeperConfig;
use actr_core::node::{HubConfig, NodeHub};
use actr_core::proof::HostKey;

use crate::node::ManufacturerSigner;
use actr_core::signaling::messages::MAX_QUERY_LIMIT;
use actr_core::signaling::{ActorProfile, Candidate, ClientConfig, ClientRequest, ServerReply};
use actr_core::{ActrError, ActrId, ActrType};
use async_channel::{Receiver, Sender};

use crate::runtime::{Runtime, Sleeper};
use crate::signaling::events::{NodeEvent, NodeStats};
use crate::task::NodeTask;
use crate::task::io::{Command, INPUT_CAPACITY, Input, InputBudget};
use crate::wire::ais_http::AisHttpClient;
use crate::wire::rtc_wire::RtcWire;
use crate::wire::server_address::ServerAddress;

/// Capacity of the command queue from handles to the loop.
const COMMAND_CAPACITY: usize = 1024;
/// Slack added to the core's request deadline before a handle gives up itself.
const REPLY_SLACK: Duration = Duration::from_secs(2);
/// Bound on a shutdown's wait for the loop.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Everything a node needs to register and connect.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeConfig {
    /// Base address of `actr serve`, e.g. `http://127.0.0.1:7480`; the
    /// signaling URL `ws://…/signaling` is derived from it.
    pub server: String,
    pub register: RegisterRequest,
    pub profile: ActorProfile,
    pub client: ClientConfig,
    pub keeper: KeeperConfig,
    /// Seed of the core's RNGs (backoff jitter); random when `None`.
    pub seed: Option<u64>,
    /// Capacity of the event queue; events beyond it are dropped and counted.
    pub event_capacity: usize,
    /// Signs manufacturer proofs for a package registration (`register.auth`).
    pub manufacturer: Option<Arc<dyn ManufacturerSigner>>,
}

impl NodeConfig {
    /// A configuration with default client, keeper and profile settings.
    pub fn new(server: impl Into<String>, register: RegisterRequest) -> Self {
        Self {
            server: server.into(),
            register,
            profile: ActorProfile::default(),
            client: ClientConfig::default(),
            keeper: KeeperConfig::default(),
            seed: None,
            event_capacity: 4096,
            manufacturer: None,
        }
    }

    pub fn with_profile(mut self, profile: ActorProfile) -> Self {
        self.profile = profile;
        self
    }

    pub fn with_client(mut self, client: ClientConfig) -> Self {
        self.client = client;
        self
    }

    pub fn with_keeper(mut self, keeper: KeeperConfig) -> Self {
        self.keeper = keeper;
        self
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Capacity of the event queue (at least 1).
    pub fn with_event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }
}

/// Starts signaling nodes on a runtime.
#[derive(Debug)]
pub struct SignalingNode;

impl SignalingNode {
    /// Spawns the node's task on `rt`: it registers with the AIS, connects,
    /// and reconnects and renews on its own until [`SignalingHandle::shutdown`]
    /// or until every handle is dropped. It takes no part in RPC or WebRTC.
    pub fn start<R: Runtime>(rt: R, config: NodeConfig) -> Result<SignalingHandle, ActrError> {
        let mut hub = HubConfig::new(config.register.clone());
        hub.profile = config.profile.clone();
        hub.client = config.client;
        hub.keeper = config.keeper;
        hub.webrtc = false;
        Ok(Self::start_hub(rt, &config, hub, None)?.0)
    }

    /// Spawns the task of a node with the hub configured as `hub` and
    /// WebRTC connections on `webrtc`; returns its handle and the sender of
    /// its inputs.
    pub(crate) fn start_hub<R: Runtime>(
        rt: R,
        config: &NodeConfig,
        hub: HubConfig,
        webrtc: Option<Arc<RtcWire<R>>>,
    ) -> Result<(SignalingHandle, Sender<Input<R>>), ActrError> {
        let server = ServerAddress::parse(&config.server)?;
        let seed = config.seed.unwrap_or_else(random_seed);
        let (commands_tx, commands_rx) = async_channel::bounded(COMMAND_CAPACITY);
        let (inputs_tx, inputs_rx) = async_channel::bounded(INPUT_CAPACITY);
        let (events_tx, events_rx) = async_channel::bounded(config.event_capacity.max(1));
        let now = rt.now();
        let unix = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let unix_origin = unix.saturating_sub(now.as_micros() / 1_000_000);
        let host_key = new_host_key()?;
        let task = NodeTask {
            rt: rt.clone(),
            hub: NodeHub::new(hub, host_key, seed, unix_origin),
            ais: Arc::new(AisHttpClient::new(&server.http_base)),
            manufacturer: config.manufacturer.clone(),
            server: Arc::new(server),
            webrtc,
            commands: commands_rx,
            inputs_tx: inputs_tx.clone(),
            inputs: inputs_rx,
            budget: InputBudget::new(),
            events: events_tx,
        };
        rt.spawn(Box::pin(task.run()));
        let request_bound = Duration::from_micros(config.client.request_timeout.as_micros()) + REPLY_SLACK;
        let handle = SignalingHandle { commands: commands_tx, events: events_rx, timer: Arc::new(rt), request_bound };
        Ok((handle, inputs_tx))
    }
}

/// A fresh host key from the OS; it lives only in this node's hub and is
/// never written anywhere (its `Debug` shows a fingerprint of the public half).
fn new_host_key() -> Result<HostKey, ActrError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| ActrError::Internal(format!("no OS randomness for the host key: {e}")))?;
    Ok(HostKey::from_seed(seed))
}

fn random_seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        t.as_nanos() as u64 ^ u64::from(std::process::id())
    })
}

/// A cloneable handle to a running node. Every call is bounded in time.
#[derive(Clone)]
pub struct SignalingHandle {
    commands: Sender<Command>,
    events: Receiver<NodeEvent>,
    timer: Arc<dyn Sleeper>,
    request_bound: Duration,
}

impl std::fmt::Debug for SignalingHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalingHandle").field("running", &!self.commands.is_closed()).finish()
    }
}

impl SignalingHandle {
    /// The actor id once the server has welcomed the node, waiting at most `timeout`.
    /// Fails at once if the identity service refused the registration.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<ActrId, ActrError> {
        self.ask(timeout, |reply| Command::WaitConnected { reply }).await?
    }

    /// The current registration (identity, credential, AIS signing key) once
    /// the identity service has answered, waiting at most `timeout`; after a
    /// renewal, the renewed one. Fails at once if the AIS refused for good.
    pub async fn wait_registered(&self, timeout: Duration) -> Result<RegisterOk, ActrError> {
        self.ask(timeout, |reply| Command::WaitRegistered { reply }).await?
    }

    /// Types visible to this actor, optionally of one manufacturer.
    pub async fn discover(&self, manufacturer: Option<String>) -> Result<Vec<ActrType>, ActrError> {
        match self.request(ClientRequest::Discover { manufacturer, limit: MAX_QUERY_LIMIT }).await? {
            ServerReply::Discovered(types) => Ok(types),
            other => Err(unexpected(other)),
        }
    }

    /// Live instances of `target_type` this actor may reach, newest first.
    pub async fn route_candidates(&self, target_type: ActrType, limit: u32) -> Result<Vec<Candidate>, ActrError> {
        match self.request(ClientRequest::RouteCandidates { target_type, limit }).await? {
            ServerReply::Candidates(found) => Ok(found),
            other => Err(unexpected(other)),
        }
    }

    /// Sends opaque bytes to `target` through the server; `Ok` once the server forwarded them.
    pub async fn relay(&self, target: ActrId, payload: Vec<u8>) -> Result<(), ActrError> {
        self.expect(ClientRequest::Relay { target, payload }, ServerReply::Relayed).await
    }

    /// Asks for `Presence` events about actors of `target_type`.
    pub async fn subscribe(&self, target_type: ActrType) -> Result<(), ActrError> {
        self.expect(ClientRequest::Subscribe { target_type }, ServerReply::Subscribed).await
    }

    pub async fn unsubscribe(&self, target_type: ActrType) -> Result<(), ActrError> {
        self.expect(ClientRequest::Unsubscribe { target_type }, ServerReply::Unsubscribed).await
    }

    /// A round trip to the server.
    pub async fn ping(&self) -> Result<(), ActrError> {
        self.expect(ClientRequest::Ping, ServerReply::Pong).await
    }

    /// The node's events. One queue is shared by all clones of the handle:
    /// each event goes to one receiver. Ends after shutdown.
    /// The command queue of the node task, shared by the node's RPC handle.
    pub(crate) fn commands(&self) -> Sender<Command> {
        self.commands.clone()
    }

    pub fn events(&self) -> Receiver<NodeEvent> {
        self.events.clone()
    }

    pub async fn stats(&self) -> Result<NodeStats, ActrError> {
        self.ask(self.request_bound, |reply| Command::Stats { reply }).await
    }

    /// Says goodbye to the server, closes the socket and ends the loop,
    /// waiting a few seconds at most. Other clones then fail with `Unavailable`.
    pub async fn shutdown(self) {
        let _ = self.ask(SHUTDOWN_WAIT, |done| Command::Shutdown { done }).await;
    }

    async fn expect(&self, request: ClientRequest, want: ServerReply) -> Result<(), ActrError> {
        match self.request(request).await? {
            got if got == want => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn request(&self, request: ClientRequest) -> Result<ServerReply, ActrError> {
        self.ask(self.request_bound, |reply| Command::Request { request, reply }).await?
    }

    async fn ask<T>(&self, limit: Duration, command: impl FnOnce(Sender<T>) -> Command) -> Result<T, ActrError> {
        crate::task::io::ask((&self.commands, self.timer.as_ref()), limit, command, stopped).await
    }
}

fn stopped() -> ActrError {
    ActrError::Unavailable("signaling node stopped".into())
}

fn unexpected(reply: ServerReply) -> ActrError {
    ActrError::Internal(format!("unexpected signaling reply {reply:?}"))
}
