//! The native workload: actor code linked into the host binary.
//!
//! A [`Workload`] answers requests and observes its lifecycle. Handlers return
//! boxed `'static` futures, so the trait is object safe and one node can hold
//! any workload as `Arc<dyn Workload>`; clone what a handler needs (an `Arc`
//! of the workload's state, the [`Context`]) into its future.
//!
//! # Hook order
//!
//! 1. [`Workload::on_start`] once the node is registered and its signaling
//!    connection is up, before it accepts any request. The context can already
//!    call other actors. An error aborts [`crate::Node::start`], which returns
//!    it; the node never becomes reachable.
//! 2. [`Workload::on_ready`] once the node is reachable (in-process and over
//!    its WebSocket listener). An error is logged; the node stays up.
//! 3. [`Workload::handle`] for every request and tell, concurrently.
//! 4. [`Workload::on_stop`] during shutdown, after new requests are refused
//!    and in-flight ones have drained (or the drain bound passed), before the
//!    node leaves signaling. An error is logged.

use actr_core::acl::Acl;
use actr_core::transport::{TraceContext, TraceId};
use actr_core::{ActrError, ActrId, ActrType};
use bytes::Bytes;
use futures::future::BoxFuture;

use crate::node::context::Context;

/// One request or tell delivered to a workload.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Request {
    /// `package.Service.Method`: which handler the caller wants.
    pub route_key: String,
    /// The body. In-process it is the caller's buffer itself, never copied.
    pub payload: Bytes,
    /// The calling actor; `None` when the embedding application calls its own workload.
    pub caller: Option<ActrId>,
    /// The W3C trace context this request belongs to (same trace id on caller and callee).
    pub trace: TraceContext,
    /// A tell: the caller gets no reply, even on error.
    pub tell: bool,
}

impl Request {
    /// The trace id shared by every hop of this call chain (displays as 32 hex digits).
    pub fn trace_id(&self) -> TraceId {
        self.trace.trace_id()
    }
}

/// Actor code linked into the host: handlers and lifecycle hooks.
///
/// Every method may be called from any thread; handlers run concurrently.
pub trait Workload: Send + Sync + 'static {
    /// The type this workload registers as.
    fn actor_type(&self) -> ActrType;

    /// Answers one request. The result goes back to the caller (nothing goes
    /// back for a tell). Return [`ActrError::UnknownRoute`] for a route key
    /// this workload does not serve.
    fn handle(&self, ctx: Context, req: Request) -> BoxFuture<'static, Result<Bytes, ActrError>>;

    /// Who may call this actor from other processes; `None` admits callers of
    /// its own realm. Published to signaling, which hides the actor from
    /// callers the ACL refuses, and checked on every remote request. Callers in
    /// the same process are always admitted.
    fn acl(&self) -> Option<Acl> {
        None
    }

    /// Before the node accepts requests; an error aborts the start.
    fn on_start(&self, ctx: Context) -> BoxFuture<'static, Result<(), ActrError>> {
        let _ = ctx;
        Box::pin(async { Ok(()) })
    }

    /// After the node became reachable; an error is only logged.
    fn on_ready(&self, ctx: Context) -> BoxFuture<'static, Result<(), ActrError>> {
        let _ = ctx;
        Box::pin(async { Ok(()) })
    }

    /// During shutdown, after in-flight requests drained; an error is only logged.
    fn on_stop(&self, ctx: Context) -> BoxFuture<'static, Result<(), ActrError>> {
        let _ = ctx;
        Box::pin(async { Ok(()) })
    }
}
