//! `GET /signaling`: one WebSocket per actor, driven through the hub.
//!
//! Each socket gets a reader loop (the upgrade task) and a writer task. The
//! reader feeds binary messages to the server; the writer sleeps on the
//! socket's [`PeerLink`], pops queued messages in batches and, once a close is
//! requested and its queue is empty, sends the Close frame and ends. The
//! reader then waits briefly for the client's Close reply before the socket is
//! released.

use std::sync::Arc;
use std::time::Duration;

use actr_core::signaling::messages::MAX_SIGNALING_FRAME;
use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::task::JoinHandle;

use super::accept::ConnHold;
use super::clock;
use super::http::AppState;
use super::hub::{ConnGuard, SharedHub};
use super::link::{CloseNote, PeerLink};

/// Path of the signaling endpoint.
pub const SIGNALING_PATH: &str = "/signaling";
/// Messages popped from the server per lock.
const WRITE_BATCH: usize = 64;
/// How long the reader waits for the client's Close reply after ours.
const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// How long the writer may take to flush and send Close once a close is
/// requested; past it the socket is dropped (a client that stopped reading).
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// Admits the socket into the signaling server, then upgrades it. A full or
/// stopping server answers 503 instead of upgrading. The connection's
/// admission moves into the socket's task, so it keeps counting against the
/// connection caps until the socket ends.
pub(crate) async fn upgrade(
    State(state): State<Arc<AppState>>,
    hold: Option<Extension<ConnHold>>,
    ws: WebSocketUpgrade,
) -> Response {
    let guard = match state.hub.admit() {
        Ok(guard) => guard,
        Err(e) => {
            tracing::info!(error = %e, "signaling socket refused");
            return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response();
        }
    };
    ws.max_message_size(MAX_SIGNALING_FRAME)
        .max_frame_size(MAX_SIGNALING_FRAME)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "signaling upgrade failed"))
        .on_upgrade(move |socket| async move {
            serve_socket(guard, socket).await;
            drop(hold);
        })
}

/// Runs one socket until it is closed by either side; dropping the guard at
/// the end reports the disconnect.
async fn serve_socket(guard: ConnGuard, socket: WebSocket) {
    let (sink, mut stream) = socket.split();
    let hub = Arc::clone(guard.hub());
    let mut writer = tokio::spawn(write_loop(hub, Arc::clone(guard.link()), guard.id(), sink));
    read_loop(&guard, &mut stream, &mut writer).await;
    if !writer.is_finished() {
        guard.link().request_close(CloseNote::normal());
        if tokio::time::timeout(WRITER_GRACE, &mut writer).await.is_err() {
            writer.abort();
        }
    }
    drop(guard);
}

/// Reads until the client leaves or the read fails; or, once a close is
/// requested, until the writer has sent our Close and the client's reply is
/// in (bounded by [`CLOSE_LINGER`]). A writer that cannot flush within
/// [`WRITER_GRACE`] of the close request (a client that stopped reading) is
/// aborted, so a slow consumer cannot hold its socket open.
async fn read_loop(guard: &ConnGuard, stream: &mut SplitStream<WebSocket>, writer: &mut JoinHandle<()>) {
    let link = guard.link();
    let mut writer_done = false;
    let mut close_seen = false;
    let mut deadline = None;
    loop {
        let deadline_at = deadline.unwrap_or_else(clock::far_future);
        tokio::select! {
            next = stream.next() => {
                if !on_read(guard, next) {
                    return;
                }
            }
            _ = link.close_pending(), if !close_seen => {
                close_seen = true;
                if !writer_done {
                    deadline = Some(tokio::time::Instant::now() + WRITER_GRACE);
                }
            }
            _ = &mut *writer, if !writer_done => {
                writer_done = true;
                deadline = Some(tokio::time::Instant::now() + CLOSE_LINGER);
            }
            _ = tokio::time::sleep_until(deadline_at), if deadline.is_some() => {
                if !writer_done {
                    tracing::debug!(conn = guard.id(), "writer did not flush in time; dropping the socket");
                    writer.abort();
                }
                return;
            }
        }
    }
}

/// Handles one read result; false once the socket is done.
fn on_read(guard: &ConnGuard, next: Option<Result<Message, axum::Error>>) -> bool {
    match next {
        Some(Ok(Message::Binary(bytes))) => guard.hub().input(guard.id(), &bytes),
        Some(Ok(Message::Text(_))) => guard.hub().note_text_frame(),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
        Some(Ok(Message::Close(_))) | None => return false,
        Some(Err(e)) => {
            if is_oversized(&e) {
                tracing::info!(conn = guard.id(), "signaling message over {MAX_SIGNALING_FRAME} bytes");
                guard.hub().note_oversized();
                guard.link().request_close(CloseNote::too_large());
            } else {
                tracing::debug!(conn = guard.id(), error = %e, "signaling read failed");
            }
            return false;
        }
    }
    true
}

/// Whether a read failed because a message or frame passed the size limit.
///
/// axum hides the tungstenite error type (and its version), so this reads
/// the error chain's text; `tests/ws.rs` checks it against the real thing.
fn is_oversized(e: &axum::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cause {
        if err.to_string().contains("Message too long") {
            return true;
        }
        cause = err.source();
    }
    false
}

/// Writes what the server queued for socket `id`, then the Close frame once
/// one is requested and the queue is empty.
async fn write_loop(hub: Arc<SharedHub>, link: Arc<PeerLink>, id: u64, mut sink: SplitSink<WebSocket, Message>) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        hub.pop_batch(id, &mut batch, WRITE_BATCH);
        if batch.is_empty() {
            if let Some(note) = link.close_requested() {
                let frame = CloseFrame { code: note.code, reason: note.reason.into() };
                // The peer may be gone already; there is nothing left to tell it then.
                let _ = sink.send(Message::Close(Some(frame))).await;
                return;
            }
            link.woken().await;
            continue;
        }
        for bytes in batch.drain(..) {
            if sink.feed(Message::Binary(bytes.into())).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
