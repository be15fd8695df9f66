//! Media samples to the handler registered for their track.

use std::fmt;
use std::sync::Arc;

use actr_core::{ActrError, ActrId};
use futures::future::BoxFuture;

use super::workers::{KeyedWorkers, Overflow};
use super::{RegistryConfig, RegistryError, RegistryKey, RegistryStats, Spawner};
use crate::wire::webrtc::{MediaSample, MediaType};

impl From<MediaType> for RegistryKey {
    fn from(track: MediaType) -> Self {
        RegistryKey::Track(track)
    }
}

/// Handlers by media track, each fed in arrival order by its own worker.
///
/// A peer carries one track per [`MediaType`], so the type names the track.
/// Samples of one track reach its handler in the order they were
/// dispatched, one call at a time; tracks are independent. Media prefers
/// fresh samples: when a track's queue is full the new sample is dropped and
/// counted, and [`dispatch`](Self::dispatch) never waits. A sample for a
/// track with no handler is counted and dropped.
#[derive(Clone)]
pub struct MediaFrameRegistry {
    workers: Arc<KeyedWorkers<MediaType, MediaSample>>,
}

impl fmt::Debug for MediaFrameRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaFrameRegistry").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl MediaFrameRegistry {
    /// A registry whose workers run on `exec` (any [`Runtime`](crate::Runtime)).
    pub fn new<S: Spawner>(exec: S, config: RegistryConfig) -> Self {
        Self { workers: Arc::new(KeyedWorkers::new(Arc::new(exec), config)) }
    }

    /// Sets the handler of `track`, replacing any earlier one from the next sample on.
    pub fn register<F>(&self, track: MediaType, handler: F) -> Result<(), RegistryError>
    where
        F: Fn(MediaSample, ActrId) -> BoxFuture<'static, Result<(), ActrError>> + Send + Sync + 'static,
    {
        self.workers.register(track, Arc::new(handler), Overflow::DropNewest)
    }

    /// Removes the track's handler; queued samples still run. Returns false if none was registered.
    pub fn unregister(&self, track: MediaType) -> bool {
        self.workers.unregister(track)
    }

    pub fn is_registered(&self, track: MediaType) -> bool {
        self.workers.is_registered(track)
    }

    /// Queues `sample` for its track's handler, without waiting.
    ///
    /// Errors: no handler, the track's queue full, or shut down; the sample
    /// is dropped and counted in each case.
    pub fn dispatch(&self, sample: MediaSample, sender: ActrId) -> Result<(), RegistryError> {
        self.workers.try_dispatch(sample.media_type, sample, sender)
    }

    /// As [`DataStreamRegistry::shutdown`](super::DataStreamRegistry::shutdown).
    pub async fn shutdown(&self) {
        self.workers.shutdown().await;
    }

    pub fn stats(&self) -> RegistryStats {
        self.workers.stats()
    }

    /// Worker tasks still running, including ones draining after `unregister`.
    pub fn live_workers(&self) -> usize {
        self.workers.live_workers()
    }
}
