//! What the two WebSocket pumps (the signaling connection and a node's
//! direct links) share: one [`WsCodec`] locked by a reader and a writer
//! task; the signal a writer watches to learn that the node task dropped
//! its socket ([`drop_signal`]); the lingers bounding a closing or stuck
//! writer; and the signaling writer's step of writing a batch.

use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use futures::future::{Either, select};
use futures::io::{AsyncWrite, AsyncWriteExt};

use crate::runtime::Sleeper;
use crate::wire::ws_codec::WsCodec;

/// How long a closing socket waits for the peer's close before dropping.
pub(crate) const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// The framing state shared by a socket's reader and writer tasks.
pub(crate) type SharedWs = Arc<Mutex<WsCodec>>;

pub(crate) fn lock(ws: &SharedWs) -> MutexGuard<'_, WsCodec> {
    // A panic while holding the lock leaves framing state we can still close.
    ws.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Held by the node task's end of a socket; never sent on. Dropping it ends
/// [`Dropped::wait`] for the socket's tasks, without taking anything off
/// the socket's other queues.
#[derive(Debug)]
pub(crate) struct Holder(#[allow(dead_code)] Sender<()>);

/// The socket tasks' side of a [`Holder`].
#[derive(Debug, Clone)]
pub(crate) struct Dropped(Receiver<()>);

pub(crate) fn drop_signal() -> (Holder, Dropped) {
    let (holder, dropped) = async_channel::bounded(1);
    (Holder(holder), Dropped(dropped))
}

impl Dropped {
    /// Completes once the node task dropped the socket.
    pub async fn wait(&self) {
        let _ = self.0.recv().await;
    }

    /// Completes [`CLOSE_LINGER`] after the node task dropped the socket:
    /// how long a write the peer does not take may hold a writer.
    pub async fn then_linger(&self, timer: &impl Sleeper) {
        self.wait().await;
        timer.sleep(CLOSE_LINGER).await;
    }
}

/// After a close was written: waits (at most [`CLOSE_LINGER`]) for the
/// reader to end, signalled by `kick` closing.
pub(crate) async fn linger_for_reader(kick: &Receiver<()>, timer: &impl Sleeper) {
    let reader_done = async { while kick.recv().await.is_ok() {} };
    let _ = select(pin!(reader_done), timer.sleep(CLOSE_LINGER)).await;
}

/// Starts the closing handshake and returns the bytes to send.
pub(crate) fn encode_close(ws: &SharedWs) -> Vec<u8> {
    let mut ws = lock(ws);
    ws.close();
    ws.take_output()
}

/// Writes `bytes`; then, if `closing`, half-closes and lingers for the
/// reader ([`linger_for_reader`]). A write the peer does not take gives up
/// as [`Dropped::then_linger`] says. Returns whether the writer should go on.
pub(crate) async fn write_step<Wr: AsyncWrite + Unpin>(
    timer: &impl Sleeper,
    wr: &mut Wr,
    (kick, dropped): (&Receiver<()>, &Dropped),
    bytes: &[u8],
    closing: bool,
    reader_gone: bool,
) -> bool {
    if !bytes.is_empty() {
        // The flush matters under TLS: ciphertext may wait in the stream.
        let written = async { wr.write_all(bytes).await.is_ok() && wr.flush().await.is_ok() };
        match select(pin!(written), pin!(dropped.then_linger(timer))).await {
            Either::Left((true, _)) => {}
            Either::Left((false, _)) | Either::Right(_) => return false,
        }
    }
    if reader_gone {
        return false;
    }
    if closing {
        let _ = wr.close().await;
        linger_for_reader(kick, timer).await;
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::task::{Context, Poll};

    use futures::FutureExt;

    use super::*;
    use crate::test_wakes::ManualTimer;

    /// A peer that never reads.
    struct Full;

    impl AsyncWrite for Full {
        fn poll_write(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
            Poll::Pending
        }
        fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_write_the_server_never_takes_gives_up_once_the_socket_is_dropped_and_the_linger_passed() {
        let (timer, fire) = ManualTimer::new();
        let (_kick_tx, kick) = async_channel::bounded(1);
        let (holder, dropped) = drop_signal();
        let mut wr = Full;
        let mut step = Box::pin(write_step(&timer, &mut wr, (&kick, &dropped), b"frame", false, false));
        assert!(step.as_mut().now_or_never().is_none(), "waits for the socket");
        drop(holder);
        assert!(step.as_mut().now_or_never().is_none(), "a dropped socket gets the linger");
        fire();
        assert_eq!(step.as_mut().now_or_never(), Some(false), "then the writer gives up");
    }
}
