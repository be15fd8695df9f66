//! The remote gate: a started node's commands to its node task, each with
//! a reply channel and bounded in time even if the task misbehaves.

use std::sync::Arc;
use std::time::Duration;

use actr_core::transport::TraceContext;
use actr_core::{ActrError, ActrId};
use async_channel::Sender;

use crate::node::stats::RpcStats;
use crate::runtime::Sleeper;
use crate::task::io::{Command as LoopCmd, MediaOp};

/// Waited beyond a call's own deadline before the handle gives up by itself;
/// the endpoint normally answers `TimedOut` at the deadline.
const REPLY_SLACK: Duration = Duration::from_secs(2);
/// Bound on a tell being handed to a link, dialing included.
const TELL_TIMEOUT: Duration = Duration::from_secs(13);
/// Bound on small requests to the loop (stats, shutdown).
const LOOP_REPLY: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub(crate) struct RpcHandle {
    commands: Sender<LoopCmd>,
    timer: Arc<dyn Sleeper>,
}

impl std::fmt::Debug for RpcHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcHandle").field("running", &!self.commands.is_closed()).finish()
    }
}

fn stopped() -> ActrError {
    ActrError::Unavailable("the node's RPC loop has stopped".into())
}

impl RpcHandle {
    pub fn new(commands: Sender<LoopCmd>, timer: Arc<dyn Sleeper>) -> Self {
        Self { commands, timer }
    }

    /// A remote call: resolves with the reply, a typed error, or `TimedOut` at `timeout`.
    pub async fn call(
        &self,
        dest: ActrId,
        route_key: String,
        payload: Vec<u8>,
        timeout: Duration,
        trace: TraceContext,
    ) -> Result<Vec<u8>, ActrError> {
        let core_timeout = actr_core::Duration::from_micros(timeout.as_micros().min(u64::MAX as u128) as u64);
        self.ask(timeout + REPLY_SLACK, |reply| LoopCmd::Call {
            dest,
            route_key,
            payload,
            timeout: core_timeout,
            trace,
            reply,
        })
        .await?
    }

    /// A remote tell: `Ok` once it is handed to a link.
    pub async fn tell(
        &self,
        dest: ActrId,
        route_key: String,
        payload: Vec<u8>,
        trace: TraceContext,
    ) -> Result<(), ActrError> {
        self.ask(TELL_TIMEOUT, |reply| LoopCmd::Tell { dest, route_key, payload, trace, reply }).await?
    }

    /// Hands a route to the node task (the caller checked the address).
    pub fn add_route(&self, peer: ActrId, ws_address: String) -> Result<(), ActrError> {
        let (reply, _) = async_channel::bounded(1);
        self.commands.try_send(LoopCmd::AddRoute { peer, ws_address, reply }).map_err(|e| match e {
            async_channel::TrySendError::Full(_) => ActrError::ResourceExhausted("the node's queue is full".into()),
            async_channel::TrySendError::Closed(_) => stopped(),
        })
    }

    /// A media operation on the WebRTC connection to `dest`, within `limit`.
    pub async fn media(&self, dest: ActrId, op: MediaOp, limit: Duration) -> Result<(), ActrError> {
        self.ask(limit, |reply| LoopCmd::Media { dest, op, reply }).await?
    }

    /// A latency-first chunk for WebRTC's stream lane.
    pub async fn stream_chunk(&self, dest: ActrId, bytes: Vec<u8>) -> Result<(), ActrError> {
        self.ask(LOOP_REPLY, |reply| LoopCmd::StreamChunk { dest, bytes, reply }).await?
    }

    pub async fn stats(&self) -> Result<RpcStats, ActrError> {
        self.ask(LOOP_REPLY, |reply| LoopCmd::RpcStats { reply }).await
    }

    /// Stops the loop: pending calls fail with `Unavailable`, links close.
    /// Refuses new remote requests; in-flight ones finish.
    pub fn drain(&self) {
        let _ = self.commands.try_send(LoopCmd::Drain);
    }

    pub async fn shutdown(&self) {
        let _ = self.ask(LOOP_REPLY, |done| LoopCmd::Shutdown { done }).await;
    }

    async fn ask<T>(&self, limit: Duration, command: impl FnOnce(Sender<T>) -> LoopCmd) -> Result<T, ActrError> {
        crate::task::io::ask((&self.commands, self.timer.as_ref()), limit, command, stopped).await
    }
}
