//! actr-core: the sans-IO heart of actr.
//!
//! Every protocol rule lives here as a state machine that performs no I/O,
//! reads no clock, owns no thread and draws randomness only from a seed given
//! at construction. Inputs go in through `handle_*(now, …)`; outputs come out
//! of `poll_*()`; the caller drains outputs after every input and sleeps until
//! `poll_timeout()`. The same code runs under tokio, smol, the deterministic
//! simulator, the fuzzers, and on wasm32.
//!
//! - [`id`]: realms, actor types and ids, with text forms that parse back.
//! - [`time`]: the core's `Instant`, `Duration` and timer table.
//! - [`error`]: `ActrError` with stable codes and fault domains.
//! - [`wire`]: versioned, length-framed postcard envelopes.
//! - [`acl`]: allow/deny rules by type and realm.
//! - [`credential`], [`ais`], [`keeper`]: identity credentials, the identity
//!   service, and the client that keeps a credential fresh.
//! - [`proof`]: the host key and the proofs of possession it signs.
//! - [`signaling`]: discovery, presence and relay through the server.
//! - [`server`]: the server hub, the AIS and the signaling server that
//!   `actr serve` runs and the simulator drives.
//! - [`transport`]: RPC envelopes, fragmentation, dedup, correlation, routes.
//! - [`package`]: signed `.actr` packages, their verification and trust.

pub mod abi;
pub mod acl;
pub mod ais;
pub mod backoff;
pub mod credential;
pub mod error;
pub mod id;
pub mod keeper;
pub mod node;
pub mod package;
pub mod platform;
pub mod proof;
pub mod rng;
pub mod server;
pub mod signaling;
pub mod time;
pub mod transport;
pub mod wire;

#[doc(hidden)]
pub mod fuzzing;

pub use error::{ActrError, Classify, ErrorKind};
pub use id::{ActrId, ActrType, Dest, Realm, ServiceSpec};
pub use time::{Duration, Instant, UnixSecs};
