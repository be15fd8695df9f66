//! Unit tests of actors off wasm32: a stand-in host that feeds frames to
//! the SDK and keeps what the guest sends.
//!
//! ```
//! use actr_guest::testing::TestHost;
//! use actr_guest::{Actor, ActrError, Context, Request};
//!
//! struct Echo;
//! impl Actor for Echo {
//!     fn new() -> Self {
//!         Echo
//!     }
//!     async fn handle(&self, _ctx: Context, req: Request) -> Result<Vec<u8>, ActrError> {
//!         Ok(req.payload)
//!     }
//! }
//!
//! let host = TestHost::<Echo>::new();
//! host.request(1, "echo.Echo/Say", b"hi", false);
//! assert_eq!(host.replies(), vec![(1, Ok(b"hi".to_vec()))]);
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::rc::Rc;

use actr_core::abi::{GuestFrame, HostFrame, HostOperation, HostOperationResult, InvocationContext, status};
use actr_core::{ActrError, ActrId, ActrType, Realm};

use crate::{Actor, ffi, runtime};

/// Stands for the host on this thread. Creating one resets the SDK's
/// state (a fresh instance); frames the guest sends are kept in order.
#[derive(Debug)]
pub struct TestHost<A> {
    sent: Rc<RefCell<Vec<GuestFrame>>>,
    refusals: Rc<RefCell<VecDeque<i32>>>,
    self_id: ActrId,
    _actor: PhantomData<A>,
}

impl<A: Actor> Default for TestHost<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Actor> TestHost<A> {
    pub fn new() -> Self {
        runtime::reset();
        let sent = Rc::new(RefCell::new(Vec::new()));
        let refusals = Rc::new(RefCell::new(VecDeque::new()));
        let (keep, refuse) = (sent.clone(), refusals.clone());
        ffi::set_sender(Some(Box::new(move |bytes: &[u8]| {
            if let Some(code) = refuse.borrow_mut().pop_front() {
                return code;
            }
            match GuestFrame::decode(bytes) {
                Ok(frame) => {
                    keep.borrow_mut().push(frame);
                    status::OK
                }
                Err(error) => error.status(),
            }
        })));
        let actr_type = ActrType::new("test", "actor", "1.0.0").unwrap_or_else(|_| unreachable!("a valid type"));
        TestHost { sent, refusals, self_id: ActrId { realm: Realm(1), serial: 1, actr_type }, _actor: PhantomData }
    }

    /// The id requests name as `self_id`.
    pub fn self_id(&self) -> &ActrId {
        &self.self_id
    }

    /// Feeds raw bytes as `actr_recv` would get them; returns its status.
    pub fn receive_bytes(&self, bytes: &[u8]) -> i32 {
        runtime::receive::<A>(bytes)
    }

    /// Feeds one frame (encoded, as the host sends it).
    pub fn receive(&self, frame: &HostFrame) -> i32 {
        self.receive_bytes(&frame.encode())
    }

    /// Delivers a request (or tell) from the embedding application.
    pub fn request(&self, request_id: u64, route_key: &str, payload: &[u8], tell: bool) -> i32 {
        let ctx = InvocationContext { request_id, self_id: self.self_id.clone(), caller: None };
        self.receive(&HostFrame::Request { ctx, route_key: route_key.into(), payload: payload.into(), tell })
    }

    /// Delivers the result of an operation.
    pub fn result(&self, request_id: u64, op_id: u32, result: HostOperationResult) -> i32 {
        self.receive(&HostFrame::OpResult { request_id, op_id, result })
    }

    /// The next `hyper_send` not yet refused answers `code` and keeps
    /// nothing; later ones are taken as usual.
    pub fn refuse_next(&self, code: i32) {
        self.refusals.borrow_mut().push_back(code);
    }

    /// Takes every frame sent so far.
    pub fn take_sent(&self) -> Vec<GuestFrame> {
        self.sent.take()
    }

    /// Takes the frames sent so far and keeps the replies, as
    /// `(request_id, result)`.
    pub fn replies(&self) -> Vec<(u64, Result<Vec<u8>, ActrError>)> {
        self.take_sent()
            .into_iter()
            .filter_map(|frame| match frame.op {
                HostOperation::Reply { result } => Some((frame.request_id, result)),
                _ => None,
            })
            .collect()
    }

    /// Tasks (handlers) still in flight.
    pub fn tasks_in_flight(&self) -> usize {
        runtime::live_tasks()
    }
}

impl<A> Drop for TestHost<A> {
    fn drop(&mut self) {
        ffi::set_sender(None);
    }
}
