//! What the node task hands the workload: the [`Dispatch`] sink that runs a
//! handler for each delivery, and media operations for a connection task.

use std::sync::Arc;

use actr_core::node::Delivery;
use async_channel::Sender;

use crate::node_task::Input;
use crate::runtime::Runtime;

/// What an application does with media on a connection.
#[derive(Debug)]
pub(crate) enum MediaOp {
    /// Negotiate a track of this type; answered once it is usable.
    AddTrack(crate::webrtc::MediaType),
    /// Send one sample on the negotiated track of its type.
    Sample(crate::webrtc::MediaSample),
}

/// Where deliveries go: the node's workload.
pub(crate) trait Dispatch<R: Runtime>: Send + Sync + 'static {
    /// Runs the handler for `delivery` in its own task (never on the node
    /// task) and reports its result as [`Input::Respond`] on `results`
    /// (tells too, which frees their budget).
    fn dispatch(self: Arc<Self>, delivery: Delivery, results: Sender<Input<R>>);
}
