//! The two gates an outgoing message can take: [`in_process`] to a node
//! of the same `Hyper` (nothing is encoded), or [`remote`] to the node task,
//! which sends it over a wire.

pub(crate) mod in_process;
pub(crate) mod remote;
