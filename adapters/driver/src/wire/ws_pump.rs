//! What the two WebSocket pumps (the signaling connection and a node's
//! direct links) share: one [`WsCodec`] locked by a reader and a writer
//! task, and the writer's step of writing a batch and, when closing,
//! half-closing and lingering for the peer's close.

use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_channel::Receiver;
use futures::future::select;
use futures::io::{AsyncWrite, AsyncWriteExt};

use crate::runtime::Runtime;
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
/// Returns whether the writer should go on.
pub(crate) async fn write_step<R: Runtime, Wr: AsyncWrite + Unpin>(
    rt: &R,
    wr: &mut Wr,
    kick: &Receiver<()>,
    bytes: &[u8],
    closing: bool,
    reader_gone: bool,
) -> bool {
    // The flush matters under TLS: ciphertext may wait in the stream.
    if !bytes.is_empty() && (wr.write_all(bytes).await.is_err() || wr.flush().await.is_err()) {
        return false;
    }
    if reader_gone {
        return false;
    }
    if closing {
        let _ = wr.close().await;
        let reader_done = async { while kick.recv().await.is_ok() {} };
        let _ = select(pin!(reader_done), rt.sleep(CLOSE_LINGER)).await;
        return false;
    }
    true
}
