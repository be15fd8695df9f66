//! Data stream chunks to the handler registered for their stream.

use std::fmt;
use std::sync::Arc;

use actr_core::transport::{DataChunk, DeliveryPolicy};
use actr_core::{ActrError, ActrId};
use futures::future::BoxFuture;

use super::workers::{KeyedWorkers, Overflow};
use super::{RegistryConfig, RegistryError, RegistryKey, RegistryStats, Spawner};

impl From<u64> for RegistryKey {
    fn from(stream_id: u64) -> Self {
        RegistryKey::Stream(stream_id)
    }
}

/// Handlers by stream id, each fed in order by its own worker.
///
/// - Same stream: strict FIFO, one handler call at a time.
/// - Different streams: independent; a slow handler stalls only its stream.
/// - A full queue (see [`RegistryConfig::queue_depth`]) makes a
///   [`DeliveryPolicy::Reliable`] stream's [`dispatch`](Self::dispatch) wait
///   (backpressure towards the lane), while a [`DeliveryPolicy::LatencyFirst`]
///   stream drops the new chunk and counts it.
///
/// Cloning shares the registry. Dropping the last clone closes every queue;
/// workers finish what is queued and exit.
#[derive(Clone)]
pub struct DataStreamRegistry {
    workers: Arc<KeyedWorkers<u64, DataChunk>>,
}

impl fmt::Debug for DataStreamRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataStreamRegistry").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl DataStreamRegistry {
    /// A registry whose workers run on `exec` (any [`Runtime`](crate::Runtime)).
    pub fn new<S: Spawner>(exec: S, config: RegistryConfig) -> Self {
        Self { workers: Arc::new(KeyedWorkers::new(Arc::new(exec), config)) }
    }

    /// Sets `stream_id`'s handler and overflow policy. Re-registering swaps
    /// the handler from the next dispatched chunk on; chunks already queued
    /// keep the handler they were dispatched with.
    pub fn register<F>(&self, stream_id: u64, policy: DeliveryPolicy, handler: F) -> Result<(), RegistryError>
    where
        F: Fn(DataChunk, ActrId) -> BoxFuture<'static, Result<(), ActrError>> + Send + Sync + 'static,
    {
        let overflow = match policy {
            DeliveryPolicy::Reliable => Overflow::Wait,
            DeliveryPolicy::LatencyFirst => Overflow::DropNewest,
        };
        self.workers.register(stream_id, Arc::new(handler), overflow)
    }

    /// Removes the stream's handler. Chunks already queued still run; the
    /// worker then exits. Returns false if none was registered.
    pub fn unregister(&self, stream_id: u64) -> bool {
        self.workers.unregister(stream_id)
    }

    pub fn is_registered(&self, stream_id: u64) -> bool {
        self.workers.is_registered(stream_id)
    }

    /// Queues `chunk` for its stream's handler. For a reliable stream this
    /// waits while the queue is full; otherwise it returns at once.
    ///
    /// Errors: no handler ([`RegistryError::NotRegistered`]), a latency-first
    /// queue full ([`RegistryError::QueueFull`]), or shut down. The chunk is
    /// dropped and counted in each case.
    pub async fn dispatch(&self, chunk: DataChunk, sender: ActrId) -> Result<(), RegistryError> {
        self.workers.dispatch(chunk.stream_id, chunk, sender).await
    }

    /// Refuses further registrations and chunks, drops queued chunks, lets
    /// running handlers finish within [`RegistryConfig::shutdown_grace`], then
    /// aborts the workers that are still running.
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
