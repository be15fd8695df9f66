//! What the guest asks of its host: frames out through `hyper_send`, and the
//! operations that wait for a result.
//!
//! An [`Operation`] sends `GuestFrame { request_id, op_id, op }` when it is
//! created and parks until [`complete`] hands it the `OpResult` with its
//! `op_id`. A refused send resolves it at once with an error. Dropping an
//! operation forgets it: a result that comes later is ignored.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use actr_core::ActrError;
use actr_core::abi::{GuestFrame, HostOperation, HostOperationResult, MAX_FRAME_BYTES, status};

use crate::ffi;

/// Encodes `frame` and hands it to the host; returns the host's status.
/// A frame over the limit is refused here with `TOO_LARGE`.
pub(crate) fn send_frame(frame: &GuestFrame) -> i32 {
    let bytes = frame.encode();
    if bytes.len() > MAX_FRAME_BYTES {
        return status::TOO_LARGE;
    }
    ffi::hyper_send(&bytes)
}

/// The error an operation ends with when the host refused its frame.
pub(crate) fn refused(status_code: i32) -> ActrError {
    match status_code {
        status::BUSY => ActrError::ResourceExhausted("hyper_send: host busy (too many operations in flight)".into()),
        status::TOO_LARGE => ActrError::InvalidArgument(format!("hyper_send: frame over {MAX_FRAME_BYTES} bytes")),
        status::UNKNOWN_REQUEST => ActrError::Internal("hyper_send: the request is no longer in flight".into()),
        other => ActrError::Internal(format!("hyper_send: status {other}")),
    }
}

/// An operation waiting for its result.
#[derive(Debug)]
struct PendingOp {
    request_id: u64,
    result: Option<HostOperationResult>,
    waker: Option<Waker>,
}

/// Operations in flight, by op id. The host bounds them (`BUSY` past 256).
#[derive(Debug)]
pub(crate) struct OpTable {
    next_id: u32,
    pending: BTreeMap<u32, PendingOp>,
}

impl OpTable {
    const fn new() -> Self {
        OpTable { next_id: 1, pending: BTreeMap::new() }
    }

    /// A fresh op id: from 1, never 0, never one in flight.
    fn allocate(&mut self) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            if !self.pending.contains_key(&id) {
                return id;
            }
        }
    }
}

thread_local! {
    static OPS: RefCell<OpTable> = const { RefCell::new(OpTable::new()) };
}

/// Forgets every operation in flight (their tasks are gone too).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn clear() {
    OPS.with_borrow_mut(|ops| *ops = OpTable::new());
}

/// Operations waiting for a result.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) fn pending() -> usize {
    OPS.with_borrow(|ops| ops.pending.len())
}

/// Hands a result to its operation and wakes the task. Returns false, and
/// drops the result, when no such operation waits (it was dropped) or it
/// works for another request.
pub(crate) fn complete(request_id: u64, op_id: u32, result: HostOperationResult) -> bool {
    let waker = OPS.with_borrow_mut(|ops| {
        let op = ops.pending.get_mut(&op_id).filter(|op| op.request_id == request_id && op.result.is_none())?;
        op.result = Some(result);
        Some(op.waker.take())
    });
    match waker {
        Some(waker) => {
            if let Some(waker) = waker {
                waker.wake();
            }
            true
        }
        None => false,
    }
}

/// Sends `op` for `request_id`; the returned future is its result.
pub(crate) fn start(request_id: u64, op: HostOperation) -> Operation {
    let op_id = OPS.with_borrow_mut(OpTable::allocate);
    let code = send_frame(&GuestFrame { request_id, op_id, op });
    if code != status::OK {
        return Operation { state: OpState::Refused(Some(refused(code))) };
    }
    OPS.with_borrow_mut(|ops| ops.pending.insert(op_id, PendingOp { request_id, result: None, waker: None }));
    Operation { state: OpState::Sent(op_id) }
}

#[derive(Debug)]
enum OpState {
    Sent(u32),
    Refused(Option<ActrError>),
    Done,
}

/// The result of one host operation; `HostOperationResult::Error` comes out
/// as `Err`.
#[derive(Debug)]
#[must_use = "an operation does nothing useful unless awaited"]
pub(crate) struct Operation {
    state: OpState,
}

impl Future for Operation {
    type Output = Result<HostOperationResult, ActrError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let op_id = match &mut self.state {
            OpState::Sent(op_id) => *op_id,
            OpState::Refused(error) => {
                let error = error.take().unwrap_or_else(|| ActrError::Internal("operation polled again".into()));
                self.state = OpState::Done;
                return Poll::Ready(Err(error));
            }
            OpState::Done => return Poll::Ready(Err(ActrError::Internal("operation polled after it ended".into()))),
        };
        let result = OPS.with_borrow_mut(|ops| {
            let op = ops.pending.get_mut(&op_id)?;
            if op.result.is_none() {
                op.waker = Some(cx.waker().clone());
                return None;
            }
            ops.pending.remove(&op_id).and_then(|op| op.result)
        });
        match result {
            None => Poll::Pending,
            Some(result) => {
                self.state = OpState::Done;
                Poll::Ready(match result {
                    HostOperationResult::Error(error) => Err(error),
                    other => Ok(other),
                })
            }
        }
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        if let OpState::Sent(op_id) = self.state {
            // try_with: the thread-local may be gone when a task drops at thread exit.
            let _ = OPS.try_with(|ops| ops.borrow_mut().pending.remove(&op_id));
        }
    }
}

/// The error for a result of the wrong kind.
pub(crate) fn unexpected(what: &str, got: &HostOperationResult) -> ActrError {
    let kind = match got {
        HostOperationResult::Done => "Done",
        HostOperationResult::Bytes(_) => "Bytes",
        HostOperationResult::Value(_) => "Value",
        HostOperationResult::Removed(_) => "Removed",
        HostOperationResult::Keys(_) => "Keys",
        HostOperationResult::Actors(_) => "Actors",
        HostOperationResult::Error(_) => "Error",
    };
    ActrError::DecodeFailure(format!("{what}: unexpected result {kind}"))
}
