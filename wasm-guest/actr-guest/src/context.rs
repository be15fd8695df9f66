//! What a handler can do: who it is and who asks, calls and tells to other
//! actors, discovery, and the actor's own storage.

use std::rc::Rc;
use std::time::Duration;

use actr_core::abi::{HostOperation, HostOperationResult, InvocationContext};
use actr_core::platform::KvOp;
use actr_core::{ActrError, ActrId, ActrType, Dest};

use crate::host::{self, unexpected};

/// The request a handler works for. Cheap to clone; every operation made
/// through it goes out on behalf of its request (the host refuses them once
/// the request has ended).
#[derive(Debug, Clone)]
pub struct Context {
    invocation: Rc<InvocationContext>,
}

impl Context {
    pub(crate) fn new(invocation: InvocationContext) -> Self {
        Context { invocation: Rc::new(invocation) }
    }

    /// The host's id for this request.
    pub fn request_id(&self) -> u64 {
        self.invocation.request_id
    }

    /// The actor this instance runs as.
    pub fn self_id(&self) -> &ActrId {
        &self.invocation.self_id
    }

    /// The calling actor; `None` when the embedding application asks.
    pub fn caller(&self) -> Option<&ActrId> {
        self.invocation.caller.as_ref()
    }

    /// Calls `route_key` on `dest` and waits for its reply, at most
    /// `timeout` (rounded up to a millisecond, capped at `u32::MAX` ms).
    pub async fn call(
        &self,
        dest: impl Into<Dest>,
        route_key: impl Into<String>,
        payload: impl Into<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Vec<u8>, ActrError> {
        let op = HostOperation::Call {
            dest: dest.into(),
            route_key: route_key.into(),
            payload: payload.into(),
            timeout_ms: timeout_ms(timeout),
        };
        match host::start(self.request_id(), op).await? {
            HostOperationResult::Bytes(reply) => Ok(reply),
            other => Err(unexpected("call", &other)),
        }
    }

    /// Sends a one-way message; done once it left this node.
    pub async fn tell(
        &self,
        dest: impl Into<Dest>,
        route_key: impl Into<String>,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), ActrError> {
        let op = HostOperation::Tell { dest: dest.into(), route_key: route_key.into(), payload: payload.into() };
        match host::start(self.request_id(), op).await? {
            HostOperationResult::Done => Ok(()),
            other => Err(unexpected("tell", &other)),
        }
    }

    /// Actors of `actr_type` this actor may reach.
    pub async fn discover(&self, actr_type: &ActrType) -> Result<Vec<ActrId>, ActrError> {
        let op = HostOperation::Discover { actr_type: actr_type.clone() };
        match host::start(self.request_id(), op).await? {
            HostOperationResult::Actors(actors) => Ok(actors),
            other => Err(unexpected("discover", &other)),
        }
    }

    /// The actor's own key-value store (see `actr_core::platform` for the
    /// limits on keys and values).
    pub fn storage(&self) -> Storage {
        Storage { request_id: self.request_id() }
    }
}

fn timeout_ms(timeout: Duration) -> u32 {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    u32::try_from(ms).unwrap_or(u32::MAX)
}

/// The actor's key-value store, reached on behalf of one request.
#[derive(Debug, Clone, Copy)]
pub struct Storage {
    request_id: u64,
}

impl Storage {
    /// The value under `key`, `None` when absent.
    pub async fn get(&self, key: impl Into<String>) -> Result<Option<Vec<u8>>, ActrError> {
        match host::start(self.request_id, HostOperation::StorageGet { key: key.into() }).await? {
            HostOperationResult::Value(value) => Ok(value),
            other => Err(unexpected("storage get", &other)),
        }
    }

    /// Inserts or replaces.
    pub async fn set(&self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Result<(), ActrError> {
        let op = HostOperation::StorageSet { key: key.into(), value: value.into() };
        match host::start(self.request_id, op).await? {
            HostOperationResult::Done => Ok(()),
            other => Err(unexpected("storage set", &other)),
        }
    }

    /// Removes `key`; whether it was there.
    pub async fn delete(&self, key: impl Into<String>) -> Result<bool, ActrError> {
        match host::start(self.request_id, HostOperation::StorageDelete { key: key.into() }).await? {
            HostOperationResult::Removed(removed) => Ok(removed),
            other => Err(unexpected("storage delete", &other)),
        }
    }

    /// Keys starting with the literal `prefix`, ascending, at most `limit`.
    pub async fn list(&self, prefix: impl Into<String>, limit: u32) -> Result<Vec<String>, ActrError> {
        match host::start(self.request_id, HostOperation::StorageList { prefix: prefix.into(), limit }).await? {
            HostOperationResult::Keys(keys) => Ok(keys),
            other => Err(unexpected("storage list", &other)),
        }
    }

    /// All of `ops` in one transaction, or none of them.
    pub async fn batch(&self, ops: Vec<KvOp>) -> Result<(), ActrError> {
        match host::start(self.request_id, HostOperation::StorageBatch { ops }).await? {
            HostOperationResult::Done => Ok(()),
            other => Err(unexpected("storage batch", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_a_millisecond_and_saturate() {
        assert_eq!(timeout_ms(Duration::ZERO), 0);
        assert_eq!(timeout_ms(Duration::from_micros(1)), 1);
        assert_eq!(timeout_ms(Duration::from_millis(5000)), 5000);
        assert_eq!(timeout_ms(Duration::from_secs(u64::MAX)), u32::MAX);
    }
}
