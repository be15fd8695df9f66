//! WebSocket direct links as byte pumps: the dialer resolves, connects and
//! completes the client handshake; the acceptor completes the server
//! handshake; then both pump messages between the socket and the node task.
//! Hellos, deadlines and what a link means are the hub's: dropping a link's
//! [`LinkQueue`] closes it at any point, handshake included.
//!
//! The node task frames and writes a link's messages itself (see
//! [`crate::wire::ws_link`]). What waits unwritten is bounded in messages
//! and in bytes: a peer that does not read fills it, and the next send
//! closes the link.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::pin;

use actr_core::ActrError;
use actr_core::node::LinkId;
use actr_core::node::hello::{MAX_HELLO, parse_ws_address};
use async_channel::{Receiver, Sender};
use futures::future::{Either, select};
use futures::io::WriteHalf;

use crate::runtime::{Runtime, run_blocking};
use crate::task::io::{Inlet, Input};
use crate::wire::ws_link::{LinkEnd, WsStream};
use crate::wire::ws_pump::Dropped;

/// The node task's end of one link: it writes through it without a hop
/// ([`LinkEnd`]); dropping it closes the link.
pub(crate) type LinkQueue<R> = LinkEnd<WriteHalf<<R as Runtime>::Tcp>>;

/// Dials `address` for link `link`; reports `LinkUp` then pumps.
pub(crate) fn dial<R: Runtime>(rt: &R, link: LinkId, address: String, (events, budget): Inlet<R>) -> LinkQueue<R> {
    let (end, wake) = LinkEnd::new();
    let writer = end.writer.clone();
    let task_rt = rt.clone();
    rt.spawn(Box::pin(async move {
        let rt = task_rt;
        let opened = until_closed(&wake.dropped, open(&rt, &address)).await;
        let stream = match opened {
            Ok(stream) => stream,
            Err(error) => return drop(events.send(Input::LinkClosed(link, error)).await),
        };
        if events.send(Input::LinkUp(link)).await.is_err() {
            return stream.close().await;
        }
        stream.run(&rt, link, writer, wake, (&events, &budget)).await;
    }));
    end
}

/// Serves an accepted connection as link `link`.
pub(crate) fn accept<R: Runtime>(rt: &R, link: LinkId, tcp: R::Tcp, (events, budget): Inlet<R>) -> LinkQueue<R> {
    let (end, wake) = LinkEnd::new();
    let writer = end.writer.clone();
    let task_rt = rt.clone();
    rt.spawn(Box::pin(async move {
        let rt = task_rt;
        // Until the hello verifies, a connection may send no more than a
        // hello's worth of bytes.
        let stream = match until_closed(&wake.dropped, WsStream::server(tcp, MAX_HELLO)).await {
            Ok(stream) => stream,
            Err(error) => return drop(events.send(Input::LinkClosed(link, error)).await),
        };
        // The hub challenges the dialer once the WebSocket is up.
        if events.send(Input::LinkUp(link)).await.is_err() {
            return stream.close().await;
        }
        stream.run(&rt, link, writer, wake, (&events, &budget)).await;
    }));
    end
}

/// Runs `step` unless the node task drops the link first.
async fn until_closed<T>(dropped: &Dropped, step: impl Future<Output = Result<T, ActrError>>) -> Result<T, ActrError> {
    match select(pin!(step), pin!(dropped.wait())).await {
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
