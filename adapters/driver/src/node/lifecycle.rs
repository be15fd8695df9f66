//! The node lifecycle as a typestate: `Node<R, Init>` → [`Node::link`] →
//! `Node<R, Attached>` → [`Node::register`] → `Node<R, Registered>` →
//! [`Node::start`] → [`ActrRef`]. Each transition consumes the node, so a
//! step cannot be skipped or repeated:
//!
//! ```compile_fail,E0599
//! # async fn wrong<R: actr_driver::Runtime>(hyper: actr_driver::Hyper<R>) {
//! // `start` exists only on `Node<R, Registered>`: a node that was never
//! // linked nor registered cannot start.
//! let actor = hyper.node().start().await;
//! # }
//! ```

use std::marker::PhantomData;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use actr_core::ais::{RegisterOk, RegisterRequest};
use actr_core::node::HubConfig;
use actr_core::package::BinaryKind;
use actr_core::signaling::ActorProfile;
use actr_core::{ActrError, ActrId};
use actr_wasm::WasmEngine;
use async_channel::Sender;

use crate::dispatch::mailbox::Mailbox;
use crate::dispatch::streams::{DataStreamRegistry, RegistryConfig};
use crate::gate::in_process::InProcessRegistry;
use crate::gate::remote::RpcHandle;
use crate::node::actr_ref::ActrRef;
use crate::node::config::HyperConfig;
use crate::node::drain::Admission;
use crate::node::handler::Handlers;
use crate::node::network::NetworkEventHandle;
use crate::node::package::PackageIdentity;
use crate::node::shared::{Hook, NodeShared, Settings};
use crate::node::trace::TraceIds;
use crate::node::wasm::{WasmStats, WasmWorkload};
use crate::node::workload::Workload;
use crate::runtime::{Runtime, Sleeper, run_blocking};
use crate::signaling::handle::{NodeConfig, SignalingHandle, SignalingNode};
use crate::task::io::Input;
use crate::wire::link_pump;
use crate::wire::rtc_wire::{RtcSettings, RtcWire};

mod sealed {
    pub trait Sealed {}
}

/// A lifecycle state of a [`Node`]. Sealed: the three states are all there is.
pub trait NodeState: sealed::Sealed + 'static {
    /// What the node holds in this state.
    #[doc(hidden)]
    type Parts<R: Runtime>;
}

/// Just made by [`crate::Hyper::node`]: link a workload next.
#[derive(Debug, Clone, Copy)]
pub struct Init;

/// A workload is linked: register with the identity service next.
#[derive(Debug, Clone, Copy)]
pub struct Attached;

/// Registered with the AIS (and connecting to signaling): start next.
#[derive(Debug, Clone, Copy)]
pub struct Registered;

impl sealed::Sealed for Init {}
impl sealed::Sealed for Attached {}
impl sealed::Sealed for Registered {}

impl NodeState for Init {
    type Parts<R: Runtime> = InitParts;
}

impl NodeState for Attached {
    type Parts<R: Runtime> = AttachedParts;
}

impl NodeState for Registered {
    type Parts<R: Runtime> = RegisteredParts<R>;
}

#[doc(hidden)]
#[derive(Debug)]
pub struct InitParts {
    /// The `Hyper`'s WASM engine (its module cache).
    wasm: WasmEngine,
}

#[doc(hidden)]
pub struct AttachedParts {
    workload: Arc<dyn Workload>,
    /// The signed package the node registers as, if any.
    package: Option<PackageIdentity>,
    /// Counters of an attached WASM actor.
    wasm: Option<Arc<WasmStats>>,
}

impl std::fmt::Debug for AttachedParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachedParts").field("actor_type", &self.workload.actor_type()).finish()
    }
}

#[doc(hidden)]
pub struct RegisteredParts<R: Runtime> {
    workload: Arc<dyn Workload>,
    signaling: SignalingHandle,
    /// Inputs of the node task.
    inputs: Sender<Input<R>>,
    registration: RegisterOk,
    /// The bound listener and the address advertised for it.
    listener: Option<(R::Listener, String)>,
    /// Handlers of inbound data streams.
    streams: DataStreamRegistry,
    /// The WebRTC wire the node task uses once the node opens.
    rtc: Option<Arc<RtcWire<R>>>,
    wasm: Option<Arc<WasmStats>>,
}

impl<R: Runtime> std::fmt::Debug for RegisteredParts<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let address = self.listener.as_ref().map(|l| &l.1);
        f.debug_struct("RegisteredParts")
            .field("actor", &self.registration.actor)
            .field("ws_address", &address)
            .finish()
    }
}

/// A node on its way to running; see the module docs for the order.
pub struct Node<R: Runtime, S: NodeState> {
    rt: R,
    config: HyperConfig,
    /// The registry of the `Hyper` that made the node.
    registry: Arc<InProcessRegistry>,
    parts: S::Parts<R>,
    state: PhantomData<S>,
}

impl<R: Runtime, S: NodeState> std::fmt::Debug for Node<R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = std::any::type_name::<S>().rsplit("::").next().unwrap_or_default();
        f.debug_struct("Node").field("state", &state).field("server", &self.config.server).finish()
    }
}

impl<R: Runtime> Node<R, Init> {
    pub(crate) fn new(rt: R, config: HyperConfig, registry: Arc<InProcessRegistry>, wasm: WasmEngine) -> Self {
        Self { rt, config, registry, parts: InitParts { wasm }, state: PhantomData }
    }

    /// Attaches a verified WASM package: compiles its binary (once per
    /// binary hash, on the blocking pool), makes a first instance, opens
    /// its store when the `Hyper` has a platform
    /// ([`HyperConfig::with_platform`], [`HyperConfig::with_data_dir`]),
    /// and starts the thread its turns run on. The node then runs it like
    /// a linked workload, and registers it as `package` (see
    /// [`Node::link_package`]); its ACL is the manifest's.
    ///
    /// Errors: `InvalidArgument` for a package that is not a WASM module,
    /// whose binary does not compile or does not speak the ABI
    /// (docs/wasm-abi.md), or whose manifest ACL does not parse;
    /// `Unavailable` when its store cannot be opened.
    pub async fn attach(self, package: PackageIdentity) -> Result<Node<R, Attached>, ActrError> {
        let verified = &package.package;
        if verified.manifest.binary.kind != BinaryKind::WasmModule {
            return Err(ActrError::InvalidArgument(format!(
                "{} is a {} package; attach runs wasm-module packages (link_package runs native code)",
                verified.actr_type,
                verified.manifest.binary.kind.as_str()
            )));
        }
        let acl = verified.manifest.acl().map_err(|e| ActrError::InvalidArgument(e.to_string()))?;
        let actr_type = verified.actr_type.clone();
        let binary = verified.binary.clone();
        let engine = self.parts.wasm.clone();
        let platform = self.config.platform.clone();
        let ty = actr_type.clone();
        let (module, first, store) = run_blocking(&self.rt, move || {
            let module = engine.load(&binary)?;
            let first = module.instantiate()?;
            let store = platform.map(|p| p.actor_store(&ty)).transpose()?;
            Ok::<_, ActrError>((module, first, store))
        })
        .await??;
        let timer: Arc<dyn Sleeper> = Arc::new(self.rt.clone());
        let workload = WasmWorkload::start(module, first, store, actr_type, acl, timer, self.config.call_timeout)?;
        let wasm = Some(workload.stats());
        let parts = AttachedParts { workload: Arc::new(workload), package: Some(package), wasm };
        Ok(Node { rt: self.rt, config: self.config, registry: self.registry, parts, state: PhantomData })
    }

    /// Links a native workload into this node.
    pub fn link(self, workload: impl Workload) -> Node<R, Attached> {
        self.link_shared(Arc::new(workload))
    }

    /// Links a workload the application keeps a handle to.
    pub fn link_shared(self, workload: Arc<dyn Workload>) -> Node<R, Attached> {
        let parts = AttachedParts { workload, package: None, wasm: None };
        Node { rt: self.rt, config: self.config, registry: self.registry, parts, state: PhantomData }
    }

    /// Links a native workload that registers as the signed package
    /// `package` (verified by a trust provider): the AIS checks the
    /// manufacturer's signature and issues a credential marked verified, so
    /// ACL rules that require a verified type admit it.
    ///
    /// Errors: `InvalidArgument` when the workload's type is not the package's.
    pub fn link_package(
        self,
        package: PackageIdentity,
        workload: impl Workload,
    ) -> Result<Node<R, Attached>, ActrError> {
        let workload: Arc<dyn Workload> = Arc::new(workload);
        if workload.actor_type() != *package.actr_type() {
            return Err(ActrError::InvalidArgument(format!(
                "the workload is {}, the package {}",
                workload.actor_type(),
                package.actr_type()
            )));
        }
        let parts = AttachedParts { workload, package: Some(package), wasm: None };
        Ok(Node { rt: self.rt, config: self.config, registry: self.registry, parts, state: PhantomData })
    }
}

impl<R: Runtime> Node<R, Attached> {
    /// Binds the WebSocket listener (if configured), registers the workload's
    /// type with the AIS and waits for the credential. Signaling then connects
    /// in the background, advertising the ACL and the listener's address.
    ///
    /// Errors: `InvalidArgument` for a bad server address or actor type,
    /// `Unavailable` if the listener cannot bind, the AIS's refusal as is,
    /// `Unauthenticated` if an `https://` server's certificate does not
    /// verify against [`HyperConfig::tls_roots`], and `TimedOut` after
    /// `connect_timeout`.
    pub async fn register(self) -> Result<Node<R, Registered>, ActrError> {
        let workload = self.parts.workload;
        let actr_type = workload.actor_type();
        actr_type.validate().map_err(|e| ActrError::InvalidArgument(format!("actor type {actr_type}: {e}")))?;
        let listener = bind_listener(&self.rt, &self.config)?;
        // The node hub signs it with the host key.
        let package = self.parts.package;
        let register = match &package {
            Some(p) => p.request(self.config.realm, self.config.realm_secret.clone()),
            None => RegisterRequest::new(actr_type, self.config.realm, self.config.realm_secret.clone()),
        };
        let mut node = NodeConfig::new(self.config.server.clone(), register);
        node.manufacturer = package.and_then(|p| p.signer);
        node.profile =
            ActorProfile { acl: workload.acl(), ws_address: listener.as_ref().map(|l| l.1.clone()), service: None };
        node.client = self.config.signaling;
        node.keeper = self.config.keeper;
        node.seed = self.config.seed;
        node.tls_roots = self.config.tls_roots.clone();
        let hub = hub_config(&self.config, &node);
        let streams = DataStreamRegistry::new(self.rt.clone(), RegistryConfig::default());
        let rtc = self.config.webrtc.then(|| {
            let settings = RtcSettings {
                ip: self.config.webrtc_ip,
                setup_timeout: self.config.webrtc_setup_timeout,
                recovery_timeout: self.config.webrtc_recovery_timeout,
            };
            Arc::new(RtcWire::new(self.rt.clone(), streams.clone(), settings))
        });
        let (signaling, inputs) = SignalingNode::start_hub(self.rt.clone(), &node, hub, rtc.clone())?;
        let registration = match signaling.wait_registered(self.config.connect_timeout).await {
            Ok(ok) => ok,
            Err(e) => {
                signaling.shutdown().await;
                return Err(e);
            }
        };
        let wasm = self.parts.wasm;
        let parts = RegisteredParts { workload, signaling, inputs, registration, listener, streams, rtc, wasm };
        Ok(Node { rt: self.rt, config: self.config, registry: self.registry, parts, state: PhantomData })
    }
}

/// The hub's configuration for a node of `config`.
fn hub_config(config: &HyperConfig, node: &NodeConfig) -> HubConfig {
    let core = |d: std::time::Duration| actr_core::Duration::from_micros(d.as_micros().min(u64::MAX as u128) as u64);
    let mut hub = HubConfig::new(node.register.clone());
    hub.profile = node.profile.clone();
    hub.client = node.client;
    hub.keeper = node.keeper;
    hub.webrtc = config.webrtc;
    hub.rtc_setup_timeout = core(config.webrtc_setup_timeout);
    hub.rtc_recovery_timeout = core(config.webrtc_recovery_timeout);
    hub.rtc_stall_timeout = core(config.webrtc_stall_timeout);
    hub.network_debounce = core(config.network_debounce);
    hub.max_in_flight = config.max_in_flight;
    hub.max_in_flight_per_peer = config.max_in_flight.div_ceil(4).max(1);
    hub
}

fn bind_listener<R: Runtime>(rt: &R, config: &HyperConfig) -> Result<Option<(R::Listener, String)>, ActrError> {
    let Some(addr) = config.ws_listen else { return Ok(None) };
    let unavailable = |e: std::io::Error| ActrError::Unavailable(format!("cannot listen on {addr}: {e}"));
    let listener = rt.bind_tcp(addr).map_err(unavailable)?;
    let bound = rt.listener_addr(&listener).map_err(unavailable)?;
    Ok(Some((listener, config.advertised_ws_address(bound))))
}

impl<R: Runtime> Node<R, Registered> {
    /// The identity the AIS allocated.
    pub fn id(&self) -> &ActrId {
        &self.parts.registration.actor
    }

    /// The advertised `ws://host:port`, when the node listens.
    pub fn ws_address(&self) -> Option<&str> {
        self.parts.listener.as_ref().map(|l| l.1.as_str())
    }

    /// Brings the node up, in this order:
    ///
    /// 1. waits (at most `connect_timeout`) until signaling has welcomed it;
    /// 2. connects the workload to its node task, so calls can go out;
    /// 3. runs `on_start` — an error (or a panic, or passing `hook_timeout`)
    ///    stops everything and is returned; the node never becomes reachable;
    /// 4. becomes reachable: joins its `Hyper`'s in-process registry and accepts on
    ///    its WebSocket listener;
    /// 5. runs `on_ready` (an error is logged).
    pub async fn start(self) -> Result<ActrRef, ActrError> {
        let Node { rt, config, registry, parts, .. } = self;
        let RegisteredParts { workload, signaling, inputs, registration, listener, streams, rtc, wasm } = parts;
        let id = match signaling.wait_connected(config.connect_timeout).await {
            Ok(id) => id,
            Err(e) => {
                signaling.shutdown().await;
                return Err(e);
            }
        };
        let ws_address = listener.as_ref().map(|l| l.1.clone());
        let wires = Wires { signaling, inputs, registry, streams, rtc, wasm };
        let shared = assemble(rt, &config, id, workload, wires, &registration, ws_address);
        if let Err(e) = shared.run_hook(Hook::Start).await {
            shared.close().await;
            return Err(e);
        }
        shared.open().await;
        if let Some((listener, _)) = listener {
            let (stop_tx, stop_rx) = async_channel::bounded(1);
            *shared.listener_stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop_tx);
            link_pump::listen(&shared.rt, listener, stop_rx, shared.inputs.clone());
        }
        if let Err(e) = shared.run_hook(Hook::Ready).await {
            tracing::warn!(actor = %shared.id, "on_ready failed: {e}");
        }
        Ok(ActrRef::new(shared))
    }
}

/// What a registered node is connected to: its node task, its `Hyper`'s
/// registry, its stream handlers and its WebRTC wire.
struct Wires<R: Runtime> {
    signaling: SignalingHandle,
    inputs: Sender<Input<R>>,
    registry: Arc<InProcessRegistry>,
    streams: DataStreamRegistry,
    rtc: Option<Arc<RtcWire<R>>>,
    wasm: Option<Arc<WasmStats>>,
}

/// Builds the started node's state around its running node task.
fn assemble<R: Runtime>(
    rt: R,
    config: &HyperConfig,
    id: ActrId,
    workload: Arc<dyn Workload>,
    wires: Wires<R>,
    registration: &RegisterOk,
    ws_address: Option<String>,
) -> Arc<NodeShared<R>> {
    let Wires { signaling, inputs, registry, streams, rtc, wasm } = wires;
    let seed = config.seed.unwrap_or_else(random_seed);
    let settings = Settings {
        call_timeout: config.call_timeout,
        hook_timeout: config.hook_timeout,
        drain_timeout: config.drain_timeout,
        share_process: config.share_process,
    };
    let commands = signaling.commands();
    Arc::new_cyclic(|me: &std::sync::Weak<NodeShared<R>>| {
        let handlers = Handlers::new(workload, me.clone(), id.clone());
        NodeShared {
            mailbox: Mailbox::start(&rt, handlers.clone()),
            handlers,
            streams,
            chunk_order: Arc::default(),
            rpc: RpcHandle::new(commands.clone(), Arc::new(rt.clone())),
            inputs,
            rt,
            id,
            signaling,
            registry,
            rtc,
            network: NetworkEventHandle::new(commands),
            admission: Admission::new(config.max_in_flight),
            traces: TraceIds::new(seed ^ 0x7472_6163_6573),
            settings,
            ws_address,
            ais_key: registration.signing_pubkey.clone(),
            listener_stop: Mutex::new(None),
            delivered: AtomicU64::new(0),
            wasm,
            me: me.clone(),
        }
    })
}

fn random_seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        t.as_nanos() as u64 ^ u64::from(std::process::id())
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_hub_gets_the_webrtc_timeouts_of_the_hyper_config() {
        let realm = actr_core::Realm(7);
        let config = HyperConfig::new("http://127.0.0.1:1", realm)
            .with_webrtc_setup_timeout(Duration::from_secs(3))
            .with_webrtc_recovery_timeout(Duration::from_secs(9))
            .with_webrtc_stall_timeout(Duration::from_millis(1500));
        let actr_type = actr_core::ActrType::new("acme", "echo", "1.0.0").unwrap();
        let node = NodeConfig::new(config.server.clone(), RegisterRequest::new(actr_type, realm, None));
        let hub = hub_config(&config, &node);
        assert_eq!(hub.rtc_setup_timeout, actr_core::Duration::from_secs(3));
        assert_eq!(hub.rtc_recovery_timeout, actr_core::Duration::from_secs(9));
        assert_eq!(hub.rtc_stall_timeout, actr_core::Duration::from_millis(1500));
    }
}
