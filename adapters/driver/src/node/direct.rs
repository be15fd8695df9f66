//! The WebSocket direct wire: a listener that authenticates incoming links,
//! and a dialer that opens links to peers that advertise a `ws://` address.
//!
//! Both hand authenticated links to the RPC loop as [`LoopInput::LinkUp`].
//! Bounds: at most [`MAX_HANDSHAKING`] connections may be between accept and
//! an accepted hello, each for at most the hello timeout; at most
//! [`MAX_LINKS`] links are open; a connection beyond either is closed at once.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use actr_core::credential::KeyRing;
use actr_core::error::ErrorReply;
use actr_core::signaling::messages::MAX_QUERY_LIMIT;
use actr_core::{ActrError, ActrId, UnixSecs};
use async_channel::{Receiver, Sender};
use futures::future::{Either, select};

use crate::handle::SignalingHandle;
use crate::node::hello::{DirectHello, DirectReply, HelloError, MAX_HELLO, parse_ws_address, verify_hello};
use crate::node::ops::RpcStats;
use crate::node::rpc_loop::{LinkId, LoopInput};
use crate::node::ws_link::{LINK_QUEUE, MAX_LINK_MESSAGE, WsStream};
use crate::runtime::{Runtime, run_blocking, with_deadline};

/// Connections between accept and an accepted hello.
pub const MAX_HANDSHAKING: u64 = 16;
/// Open direct links, in both directions.
pub const MAX_LINKS: u64 = 256;
/// Bound on dialing: resolve, connect, handshake and hello exchange.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on an incoming connection's handshake and hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (the process may be out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Counters of the direct wire, read by the RPC loop's stats.
#[derive(Debug, Default)]
struct Counters {
    handshaking: AtomicU64,
    links_open: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    dialed: AtomicU64,
    dial_failures: AtomicU64,
}

/// Dialer and listener of one node.
#[derive(Debug)]
pub(crate) struct DirectWire<R: Runtime> {
    rt: R,
    own: ActrId,
    signaling: SignalingHandle,
    ring: Mutex<KeyRing>,
    events: Sender<LoopInput>,
    counters: Counters,
}

fn unix_now() -> UnixSecs {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn bump(counter: &AtomicU64, by: i64) {
    if by >= 0 {
        counter.fetch_add(by as u64, Ordering::Relaxed);
    } else {
        counter.fetch_sub(by.unsigned_abs(), Ordering::Relaxed);
    }
}

impl<R: Runtime> DirectWire<R> {
    /// `ring` verifies callers' credentials; `events` is the RPC loop's input.
    pub fn new(rt: R, own: ActrId, signaling: SignalingHandle, ring: KeyRing, events: Sender<LoopInput>) -> Self {
        Self { rt, own, signaling, ring: Mutex::new(ring), events, counters: Counters::default() }
    }

    pub fn counters(&self) -> RpcStats {
        let c = &self.counters;
        RpcStats {
            links_open: c.links_open.load(Ordering::Relaxed),
            accepted: c.accepted.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            dialed: c.dialed.load(Ordering::Relaxed),
            dial_failures: c.dial_failures.load(Ordering::Relaxed),
            ..RpcStats::default()
        }
    }

    /// Opens link `link` to `peer` in the background, at `address` or at the
    /// address signaling knows. Ends with `LinkUp` or `LinkDown` for `link`.
    pub fn dial(self: &Arc<Self>, peer: ActrId, address: Option<String>, link: LinkId) {
        let wire = self.clone();
        self.rt.spawn(Box::pin(async move {
            let established = with_deadline(&wire.rt, DIAL_TIMEOUT, wire.open(&peer, address)).await;
            match established.and_then(|r| r) {
                Ok(stream) => {
                    bump(&wire.counters.dialed, 1);
                    wire.run_link(stream, peer, link).await;
                }
                Err(error) => {
                    bump(&wire.counters.dial_failures, 1);
                    let _ = wire.events.send(LoopInput::LinkDown { peer, link, error }).await;
                }
            }
        }));
    }

    async fn open(&self, peer: &ActrId, address: Option<String>) -> Result<WsStream<R::Tcp>, ActrError> {
        let address = match address {
            Some(a) => a,
            None => self.lookup(peer).await?,
        };
        let (authority, url) = parse_ws_address(&address)?;
        let tcp = connect(&self.rt, &authority).await?;
        let mut stream = WsStream::client(tcp, &url).await?;
        let me = self.signaling.wait_registered(DIAL_TIMEOUT).await?;
        let hello = DirectHello { caller: self.own.clone(), credential: me.credential, target: peer.clone() };
        stream.send(hello.encode()?).await?;
        DirectReply::decode_outcome(&stream.recv().await?, peer)?;
        Ok(stream)
    }

    /// The direct address signaling lists for `peer`.
    async fn lookup(&self, peer: &ActrId) -> Result<String, ActrError> {
        let found = self.signaling.route_candidates(peer.actr_type.clone(), MAX_QUERY_LIMIT).await?;
        let candidate = found
            .into_iter()
            .find(|c| c.actor == *peer)
            .ok_or_else(|| ActrError::NotFound(format!("{peer} is not reachable through signaling")))?;
        let address = candidate
            .ws_address
            .ok_or_else(|| ActrError::Unavailable(format!("{peer} advertises no direct address")))?;
        let learned = LoopInput::Learned { peer: peer.clone(), ws_address: address.clone() };
        let _ = self.events.send(learned).await;
        Ok(address)
    }

    /// Hands an authenticated link to the loop and pumps it until it ends.
    async fn run_link(&self, stream: WsStream<R::Tcp>, peer: ActrId, link: LinkId) {
        let (tx, rx) = async_channel::bounded(LINK_QUEUE);
        if self.events.send(LoopInput::LinkUp { peer: peer.clone(), link, tx }).await.is_err() {
            return stream.close().await;
        }
        bump(&self.counters.links_open, 1);
        stream.run(&self.rt, (peer, link), rx, &self.events).await;
        bump(&self.counters.links_open, -1);
    }

    /// Accepts connections on `listener` until `stop` closes.
    pub fn listen(self: &Arc<Self>, listener: R::Listener, stop: Receiver<()>) {
        let wire = self.clone();
        self.rt.spawn(Box::pin(async move { wire.accept_loop(listener, stop).await }));
    }

    async fn accept_loop(self: Arc<Self>, listener: R::Listener, stop: Receiver<()>) {
        loop {
            let accepted = match select(self.rt.accept(&listener), pin!(stop.recv())).await {
                Either::Left((accepted, _)) => accepted,
                Either::Right(_) => return,
            };
            match accepted {
                Ok((tcp, from)) => self.admit(tcp, from),
                Err(e) => {
                    tracing::warn!("direct listener accept: {e}");
                    if let Either::Right(_) = select(self.rt.sleep(ACCEPT_BACKOFF), pin!(stop.recv())).await {
                        return;
                    }
                }
            }
        }
    }

    fn admit(self: &Arc<Self>, tcp: R::Tcp, from: SocketAddr) {
        let c = &self.counters;
        if c.handshaking.load(Ordering::Relaxed) >= MAX_HANDSHAKING || c.links_open.load(Ordering::Relaxed) >= MAX_LINKS
        {
            bump(&c.refused, 1);
            tracing::debug!(%from, "direct connection refused: too many connections");
            return; // dropping `tcp` closes it
        }
        bump(&c.handshaking, 1);
        let wire = self.clone();
        self.rt.spawn(Box::pin(async move {
            let greeted = with_deadline(&wire.rt, HELLO_TIMEOUT, wire.greet(tcp)).await;
            bump(&wire.counters.handshaking, -1);
            match greeted.and_then(|r| r) {
                Ok((stream, peer)) => {
                    bump(&wire.counters.accepted, 1);
                    wire.run_link(stream, peer, LinkId::next()).await;
                }
                Err(e) => {
                    bump(&wire.counters.refused, 1);
                    tracing::debug!(%from, "direct connection refused: {e}");
                }
            }
        }));
    }

    /// Server handshake and hello; a refused hello is answered, then closed.
    async fn greet(&self, tcp: R::Tcp) -> Result<(WsStream<R::Tcp>, ActrId), ActrError> {
        // Until the hello verifies, a connection may send no more than a
        // hello's worth of bytes: unauthenticated sockets cannot make the
        // node buffer 16 MiB messages.
        let mut stream = WsStream::server(tcp, MAX_HELLO).await?;
        let hello = stream.recv().await?;
        match self.check_hello(&hello).await {
            Ok(peer) => {
                stream.set_max_message(MAX_LINK_MESSAGE);
                stream.send(DirectReply::Welcome { actor: self.own.clone() }.encode()?).await?;
                Ok((stream, peer))
            }
            Err(e) => {
                if let Ok(refusal) = DirectReply::Refused(ErrorReply::from(&e)).encode() {
                    let _ = stream.send(refusal).await;
                }
                stream.close().await;
                Err(e)
            }
        }
    }

    /// Verifies a hello; an unknown signing key refreshes the ring from the
    /// node's current registration once.
    async fn check_hello(&self, hello: &[u8]) -> Result<ActrId, ActrError> {
        let verify = |ring: &KeyRing| verify_hello(hello, &self.own, ring, unix_now());
        let first = verify(&self.ring.lock().unwrap_or_else(|p| p.into_inner()));
        let key_id = match first {
            Ok(peer) => return Ok(peer),
            Err(HelloError::Refused(e)) => return Err(e),
            Err(HelloError::UnknownKey(id)) => id,
        };
        let me = self.signaling.wait_registered(HELLO_TIMEOUT).await?;
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.insert_bytes(me.signing_key_id, &me.signing_pubkey).map_err(ActrError::from)?;
        match verify(&ring) {
            Ok(peer) => Ok(peer),
            Err(HelloError::Refused(e)) => Err(e),
            Err(HelloError::UnknownKey(_)) => Err(ActrError::Unauthenticated(format!("unknown signing key {key_id}"))),
        }
    }
}

/// Connects to `authority` (`host:port`), trying at most four resolved addresses.
async fn connect<R: Runtime>(rt: &R, authority: &str) -> Result<R::Tcp, ActrError> {
    let addrs = match authority.parse::<SocketAddr>() {
        Ok(addr) => vec![addr],
        Err(_) => {
            let owned = authority.to_owned();
            let lookup = move || owned.to_socket_addrs().map(|found| found.take(4).collect::<Vec<_>>());
            run_blocking(rt, lookup).await?.map_err(|e| ActrError::Unavailable(format!("resolve {authority}: {e}")))?
        }
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match rt.connect_tcp(addr).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = e,
        }
    }
    Err(ActrError::Unavailable(format!("connect {authority}: {last}")))
}
