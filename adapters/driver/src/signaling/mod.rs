//! Signaling-only nodes: a node task with no workload, used through a
//! [`handle::SignalingHandle`]. Every [`crate::Node`] starts its task here
//! too and keeps the handle for discovery and shutdown.

pub(crate) mod events;
pub(crate) mod handle;
