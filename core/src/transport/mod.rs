//! Transport building blocks (step 2): the RPC envelope and its trace
//! context, fragmentation, receiver dedup, call correlation, lanes and the
//! route table, and data streams (chunks, their sender and the in-order
//! receiver). Each is a small sans-IO piece; the node state machine composes
//! them.

pub mod chunk;
pub mod correlation;
pub mod dedup;
pub mod endpoint;
pub mod envelope;
pub mod fragment;
pub mod route;
pub mod stream;
pub mod trace;

pub use chunk::{DataChunk, DeliveryPolicy, SendRefused, StreamError, StreamSender};
pub use correlation::{Correlation, CorrelationStats, PendingCall};
pub use dedup::{DedupCache, DedupConfig, DedupVerdict};
pub use endpoint::{EndpointConfig, EndpointEvent, EndpointStats, Inbound, Outbound, RpcEndpoint};
pub use envelope::{Direction, RpcEnvelope};
pub use fragment::{FragmentError, Fragmenter, Reassembler, ReassemblyConfig};
pub use route::{LaneKind, PeerRoute, RetryPolicy, RouteDecision, RouteTable, SessionId, WireKind};
pub use stream::{Arrival, StreamConfig, StreamEvent, StreamReceiver, StreamStats, StreamTimer};
pub use trace::{TraceContext, TraceId};
