//! The node lifecycle and embedding API, re-exported at the crate root:
//! [`Hyper`] → [`Node`] → [`ActrRef`], [`Context`], [`Workload`].

mod actr_ref;
mod config;
mod context;
mod data_stream;
pub(crate) mod drain;
pub(crate) mod handler;
mod hyper;
mod lifecycle;
mod network;
pub(crate) mod ops;
pub(crate) mod package;
mod shared;
pub(crate) mod stats;
mod trace;
mod wasm;
mod workload;

pub use actr_ref::ActrRef;
pub use config::{DEFAULT_CALL_TIMEOUT, HyperConfig};
pub use context::Context;
pub use data_stream::{STREAM_CHUNK_BYTES, STREAM_WINDOW, StreamWriter};
pub use hyper::Hyper;
pub use lifecycle::{Attached, Init, Node, NodeState, Registered};
pub use network::NetworkEventHandle;
pub use package::{KeySigner, ManufacturerSigner, PackageIdentity};
pub use stats::RpcStats;
pub use wasm::WasmActorStats;
pub use workload::{Request, Workload};
