//! What the two WebSocket pumps (the signaling connection and a node's
//! direct links) share: one [`WsCodec`] locked by a reader and a writer
//! task, and how long a closing socket lingers; and the signaling writer's
//! step of writing a batch and, when closing, half-closing and lingering
//! for the peer's close.

use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_channel::Receiver;
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

/// Starts the closing handshake and returns the bytes to send.
pub(crate) fn encode_close(ws: &SharedWs) -> Vec<u8> {
    let mut ws = lock(ws);
    ws.close();
    ws.take_output()
}

/// Writes `bytes`; then, if `closing`, half-closes and waits (at most
/// [`CLOSE_LINGER`]) for the reader to end, signalled by `kick` closing.
/// A write the peer does not take gives up [`CLOSE_LINGER`] after the node
/// task dropped the socket (`dropped` ends). Returns whether the writer
/// should go on.
pub(crate) async fn write_step<Wr: AsyncWrite + Unpin>(
    timer: &impl Sleeper,
    wr: &mut Wr,
    (kick, dropped): (&Receiver<()>, &Receiver<()>),
    bytes: &[u8],
    closing: bool,
    reader_gone: bool,
) -> bool {
    if !bytes.is_empty() {
        // The flush matters under TLS: ciphertext may wait in the stream.
        let written = async { wr.write_all(bytes).await.is_ok() && wr.flush().await.is_ok() };
        let given_up = async {
            let _ = dropped.recv().await;
            timer.sleep(CLOSE_LINGER).await;
        };
        match select(pin!(written), pin!(given_up)).await {
            Either::Left((true, _)) => {}
            Either::Left((false, _)) | Either::Right(_) => return false,
        }
    }
    if reader_gone {
        return false;
    }
    if closing {
        let _ = wr.close().await;
        let reader_done = async { while kick.recv().await.is_ok() {} };
        let _ = select(pin!(reader_done), timer.sleep(CLOSE_LINGER)).await;
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::task::{Context, Poll};

    use futures::FutureExt;
    use futures::future::BoxFuture;

    use super::*;

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

    /// Sleeps that end when the test fires them.
    struct ManualTimer(Receiver<()>);

    impl Sleeper for ManualTimer {
        fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
            let fired = self.0.clone();
            Box::pin(async move {
                let _ = fired.recv().await;
            })
        }
    }

    #[test]
    fn a_write_the_server_never_takes_gives_up_once_the_socket_is_dropped_and_the_linger_passed() {
        let (fire, fired) = async_channel::bounded(1);
        let (_kick_tx, kick) = async_channel::bounded(1);
        let (open, dropped) = async_channel::bounded::<()>(1);
        let timer = ManualTimer(fired);
        let mut wr = Full;
        let mut step = Box::pin(write_step(&timer, &mut wr, (&kick, &dropped), b"frame", false, false));
        assert!(step.as_mut().now_or_never().is_none(), "waits for the socket");
        drop(open);
        assert!(step.as_mut().now_or_never().is_none(), "a dropped socket gets the linger");
        fire.try_send(()).unwrap();
        assert_eq!(step.as_mut().now_or_never(), Some(false), "then the writer gives up");
    }
}
