//! Inbound fast paths: data stream chunks and media samples to their handlers.
//!
//! [`DataStreamRegistry`] runs one worker per registered stream, fed by a
//! bounded queue: chunks of one stream reach its handler strictly in the
//! order they were dispatched, one call at a time, while different streams
//! never wait for each other. [`MediaFrameRegistry`] does the same per media
//! track (one per [`MediaType`]), so samples keep
//! their arrival order.
//!
//! Put the core's [`StreamReceiver`](actr_core::transport::StreamReceiver)
//! in front of the data registry: it turns chunks from an unordered lane into
//! the in-order sequence the registry then delivers.
//!
//! (With the `internals` feature, where the registries are public:)
//!
//! ```ignore
//! # async fn demo<R: actr_driver::Runtime>(rt: R, chunk: actr_core::transport::DataChunk, from: actr_core::ActrId) {
//! use actr_core::transport::DeliveryPolicy;
//! use actr_driver::streams::{DataStreamRegistry, RegistryConfig};
//! use futures::FutureExt;
//!
//! let streams = DataStreamRegistry::new(rt, RegistryConfig::default());
//! streams
//!     .register(7, DeliveryPolicy::Reliable, |chunk, _from| async move { println!("{}", chunk.sequence); Ok(()) }.boxed())
//!     .expect("room for a stream");
//! let _ = streams.dispatch(chunk, from).await;
//! streams.shutdown().await;
//! # }
//! ```
//!
//! Handlers run on the runtime's tasks. A handler that panics is counted in
//! [`RegistryStats::panics`] and its worker goes on with the next item.

// Public under `internals`; without it, the node uses only part of the
// registries' API (which their tests cover whole).
#![cfg_attr(not(feature = "internals"), allow(dead_code))]

mod data;
mod media;
mod workers;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use actr_core::error::{ActrError, Classify, ErrorKind};
use futures::future::BoxFuture;

use crate::runtime::Runtime;
use crate::wire::webrtc::MediaType;

pub use data::DataStreamRegistry;
pub use media::MediaFrameRegistry;

/// What the registries need from an executor: tasks and a timer.
///
/// Every [`Runtime`] is one; tests may bring their own.
pub trait Spawner: Send + Sync + 'static {
    /// Runs `fut` to completion in the background.
    fn spawn(&self, fut: BoxFuture<'static, ()>);
    /// Completes after `d`.
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
}

impl<R: Runtime> Spawner for R {
    fn spawn(&self, fut: BoxFuture<'static, ()>) {
        Runtime::spawn(self, fut);
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Runtime::sleep(self, d)
    }
}

/// Limits shared by both registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Items queued per stream or track before overflow applies.
    pub queue_depth: usize,
    /// Registered handlers at most, and running worker tasks at most.
    pub max_handlers: usize,
    /// How long [`DataStreamRegistry::shutdown`] lets running handlers finish
    /// before their workers are aborted.
    pub shutdown_grace: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self { queue_depth: 64, max_handlers: 1024, shutdown_grace: Duration::from_secs(5) }
    }
}

/// What a registry routes on: a data stream or a media track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistryKey {
    Stream(u64),
    Track(MediaType),
}

impl fmt::Display for RegistryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryKey::Stream(id) => write!(f, "stream {id}"),
            RegistryKey::Track(t) => write!(f, "{t:?} track"),
        }
    }
}

/// Why an item or a registration was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No handler is registered for the key; the item was dropped.
    #[error("no handler registered for {0}")]
    NotRegistered(RegistryKey),
    /// The key's queue was full and it drops the newest item: this one.
    #[error("queue of {0} is full; the item was dropped")]
    QueueFull(RegistryKey),
    #[error("at most {max} handlers, and as many worker tasks")]
    TooManyHandlers { max: usize },
    #[error("the registry has shut down")]
    ShutDown,
}

impl Classify for RegistryError {
    fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::QueueFull(_) | RegistryError::TooManyHandlers { .. } => ErrorKind::Transient,
            RegistryError::NotRegistered(_) | RegistryError::ShutDown => ErrorKind::Client,
        }
    }
}

impl From<RegistryError> for ActrError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotRegistered(_) => ActrError::NotFound(e.to_string()),
            RegistryError::ShutDown => ActrError::Unavailable(e.to_string()),
            _ => ActrError::ResourceExhausted(e.to_string()),
        }
    }
}

/// Counters of a registry, read with `stats()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryStats {
    /// Items accepted into a queue.
    pub dispatched: u64,
    /// Handler calls that returned `Ok`.
    pub handled: u64,
    /// Handler calls that returned an error.
    pub handler_errors: u64,
    /// Handler calls that panicked.
    pub panics: u64,
    /// Items dropped because their queue was full.
    pub dropped_full: u64,
    /// Items for a key with no handler.
    pub not_registered: u64,
    /// Queued items dropped by shutdown.
    pub dropped_on_shutdown: u64,
    /// Workers aborted because their handler outlived the shutdown grace.
    pub aborted_workers: u64,
}
