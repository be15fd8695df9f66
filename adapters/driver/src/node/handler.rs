//! Running a workload's handler for one request: its [`Context`], its span,
//! panic isolation, and the in-flight count it holds until it has finished.
//!
//! [`Handlers::start`] calls the handler; the [`Handling`] it returns is
//! polled by whoever runs the request (the mailbox worker, an in-process
//! caller, the remote dispatch job). A panic, in the call or in any poll,
//! becomes `ActrError::Internal` and hurts no other request.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Poll};

use actr_core::transport::TraceContext;
use actr_core::{ActrError, ActrId};
use bytes::Bytes;
use futures::future::BoxFuture;
use tracing::Span;

use crate::dispatch::mailbox::Recipient;
use crate::node::context::{Context, Home};
use crate::node::drain::InFlight;
use crate::node::ops::NodeOps;
use crate::node::workload::{Request, Workload};

/// The workload's handlers, with what their contexts need.
#[derive(Clone)]
pub(crate) struct Handlers {
    workload: Arc<dyn Workload>,
    home: Arc<Home>,
}

impl Handlers {
    pub fn new(workload: Arc<dyn Workload>, node: Weak<dyn NodeOps>, id: ActrId) -> Self {
        Self { workload, home: Home::new(node, id) }
    }

    pub fn workload(&self) -> &dyn Workload {
        &*self.workload
    }

    pub fn context(&self, caller: Option<ActrId>, trace: TraceContext) -> Context {
        Context::new(self.home.clone(), caller, trace)
    }

    /// Calls the handler for `req` inside `span`; poll the result next.
    /// `in_flight`, if any, is released once the handler has finished.
    pub fn start(&self, req: Request, span: Span, in_flight: Option<InFlight>) -> Handling {
        let ctx = self.context(req.caller.clone(), req.trace.clone());
        let handler = {
            let _entered = span.enter();
            catch_unwind(AssertUnwindSafe(|| self.workload.handle(ctx, req))).ok()
        };
        Handling { handler, span, in_flight }
    }
}

impl Recipient for Handlers {
    type Running = Handling;

    fn start(&self, req: Request, span: Span, in_flight: InFlight) -> Handling {
        Handlers::start(self, req, span, Some(in_flight))
    }
}

/// One handler running. Polled inside its span; a panic ends it with
/// `Internal`. Ready once: poll it no further.
pub(crate) struct Handling {
    /// `None` once finished, or if the call to the handler panicked.
    handler: Option<BoxFuture<'static, Result<Bytes, ActrError>>>,
    span: Span,
    in_flight: Option<InFlight>,
}

impl Future for Handling {
    type Output = Result<Bytes, ActrError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let result = match this.handler.as_mut() {
            Some(handler) => {
                let _entered = this.span.enter();
                match catch_unwind(AssertUnwindSafe(|| handler.as_mut().poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(result)) => result,
                    Err(_) => Err(panicked()),
                }
            }
            None => Err(panicked()),
        };
        // The handler's state goes before the request stops counting.
        this.handler = None;
        this.in_flight = None;
        Poll::Ready(result)
    }
}

fn panicked() -> ActrError {
    ActrError::Internal("the handler panicked".into())
}
