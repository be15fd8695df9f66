//! WebSocket direct links as byte pumps: the dialer resolves, connects and
//! completes the client handshake; the acceptor completes the server
//! handshake; then both pump messages between the socket and the node task.
//! Hellos, deadlines and what a link means are the hub's: dropping a link's
//! [`LinkQueue`] closes it at any point, handshake included.
//!
//! Every link's writer queue is bounded in messages and in bytes: a peer
//! that does not read fills it, and the next send closes the link.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actr_core::ActrError;
use actr_core::node::LinkId;
use actr_core::node::hello::{MAX_HELLO, parse_ws_address};
use async_channel::{Receiver, Sender, TrySendError};
use futures::future::{Either, select};

use crate::runtime::{Runtime, run_blocking};
use crate::task::io::{Inlet, Input};
use crate::wire::ws_link::{LINK_QUEUE, LinkCmd, QueuedBytes, WsStream};

/// Bytes a link's writer may hold before the link counts as stalled.
pub const MAX_LINK_QUEUE_BYTES: usize = 32 * 1024 * 1024;

/// The node task's end of one link.
#[derive(Debug)]
pub(crate) struct LinkQueue {
    tx: Sender<LinkCmd>,
    queued: QueuedBytes,
}

impl LinkQueue {
    fn new() -> (Self, Receiver<LinkCmd>) {
        let (tx, rx) = async_channel::bounded(LINK_QUEUE);
        (Self { tx, queued: Arc::new(AtomicUsize::new(0)) }, rx)
    }

    /// Queues `cmd`; a full queue (in count or bytes) is a stalled link.
    pub fn send(&self, cmd: LinkCmd) -> Result<(), ActrError> {
        let len = match &cmd {
            LinkCmd::Send(bytes) => bytes.len(),
            LinkCmd::SetMaxMessage(_) => 0,
        };
        let queued = self.queued.load(Ordering::Relaxed);
        if queued > 0 && queued + len > MAX_LINK_QUEUE_BYTES {
            return Err(ActrError::ResourceExhausted(format!(
                "{queued} bytes wait on the link: the peer does not read"
            )));
        }
        self.queued.fetch_add(len, Ordering::Relaxed);
        self.tx.try_send(cmd).map_err(|e| {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            match e {
                TrySendError::Full(_) => ActrError::ResourceExhausted("the link's send queue is full".into()),
                TrySendError::Closed(_) => ActrError::Unavailable("direct link closed".into()),
            }
        })
    }

    /// Dials `address` for link `link`; reports `LinkUp` then pumps.
    pub fn dial<R: Runtime>(rt: &R, link: LinkId, address: String, (events, budget): Inlet<R>) -> Self {
        let (queue, cmds) = Self::new();
        let queued = queue.queued.clone();
        let task_rt = rt.clone();
        rt.spawn(Box::pin(async move {
            let rt = task_rt;
            let opened = until_closed(&cmds, open(&rt, &address)).await;
            let stream = match opened {
                Ok(stream) => stream,
                Err(error) => return drop(events.send(Input::LinkClosed(link, error)).await),
            };
            if events.send(Input::LinkUp(link)).await.is_err() {
                return stream.close().await;
            }
            stream.run(&rt, link, cmds, queued, (&events, &budget)).await;
        }));
        queue
    }

    /// Serves an accepted connection as link `link`.
    pub fn accept<R: Runtime>(rt: &R, link: LinkId, tcp: R::Tcp, (events, budget): Inlet<R>) -> Self {
        let (queue, cmds) = Self::new();
        let queued = queue.queued.clone();
        let task_rt = rt.clone();
        rt.spawn(Box::pin(async move {
            let rt = task_rt;
            // Until the hello verifies, a connection may send no more than a
            // hello's worth of bytes.
            let stream = match until_closed(&cmds, WsStream::server(tcp, MAX_HELLO)).await {
                Ok(stream) => stream,
                Err(error) => return drop(events.send(Input::LinkClosed(link, error)).await),
            };
            // The hub challenges the dialer once the WebSocket is up.
            if events.send(Input::LinkUp(link)).await.is_err() {
                return stream.close().await;
            }
            stream.run(&rt, link, cmds, queued, (&events, &budget)).await;
        }));
        queue
    }
}

/// Runs `step` unless the node task drops the link first.
async fn until_closed<T>(
    cmds: &Receiver<LinkCmd>,
    step: impl Future<Output = Result<T, ActrError>>,
) -> Result<T, ActrError> {
    match select(pin!(step), pin!(cmds.recv())).await {
        Either::Left((done, _)) => done,
        Either::Right(_) => Err(ActrError::Unavailable("direct link closed during its handshake".into())),
    }
}

async fn open<R: Runtime>(rt: &R, address: &str) -> Result<WsStream<R::Tcp>, ActrError> {
    let (authority, url) = parse_ws_address(address)?;
    let tcp = connect(rt, &authority).await?;
    WsStream::client(tcp, &url).await
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

/// Accepts connections on `listener` and hands them to the node task until
/// `stop` closes. The hub decides which to keep.
pub(crate) fn listen<R: Runtime>(rt: &R, listener: R::Listener, stop: Receiver<()>, events: Sender<Input<R>>) {
    let task_rt = rt.clone();
    rt.spawn(Box::pin(async move {
        let rt = task_rt;
        loop {
            let accepted = match select(rt.accept(&listener), pin!(stop.recv())).await {
                Either::Left((accepted, _)) => accepted,
                Either::Right(_) => return,
            };
            match accepted {
                Ok((tcp, from)) => {
                    if events.send(Input::Accepted(tcp, from)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!("direct listener accept: {e}");
                    // The process may be out of descriptors: pause before the next accept.
                    let pause = std::time::Duration::from_millis(100);
                    if let Either::Right(_) = select(rt.sleep(pause), pin!(stop.recv())).await {
                        return;
                    }
                }
            }
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_that_does_not_drain_refuses_past_its_byte_bound() {
        let (queue, cmds) = LinkQueue::new();
        let big = MAX_LINK_QUEUE_BYTES / 2 + 1;
        queue.send(LinkCmd::Send(vec![0; big])).unwrap();
        let refused = queue.send(LinkCmd::Send(vec![0; big]));
        assert!(matches!(refused, Err(ActrError::ResourceExhausted(_))), "{refused:?}");
        // Once the writer took the first message, the second fits.
        let LinkCmd::Send(taken) = cmds.try_recv().unwrap() else { panic!("a message") };
        crate::wire::ws_link::release(&queue.queued, taken.len());
        queue.send(LinkCmd::Send(vec![0; big])).unwrap();
    }

    #[test]
    fn a_link_refuses_past_its_message_bound() {
        let (queue, _cmds) = LinkQueue::new();
        for _ in 0..LINK_QUEUE {
            queue.send(LinkCmd::Send(vec![1])).unwrap();
        }
        assert!(matches!(queue.send(LinkCmd::Send(vec![1])), Err(ActrError::ResourceExhausted(_))));
    }
}
