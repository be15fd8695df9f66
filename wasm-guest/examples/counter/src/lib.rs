//! Counter: a u64 kept in the actor's storage under `count`.
//!
//! - `counter.Counter/Increment` adds 1 and replies with the new value;
//! - `counter.Counter/Get` replies with the value, 0 when none was stored;
//!
//! both as 8 bytes little-endian. Any other route is `UnknownRoute`.

use actr_guest::sync::Mutex;
use actr_guest::{Actor, ActrError, Context, Request, Storage};

const KEY: &str = "count";

/// Holds no count itself (an instance may be rebuilt at any time), only the
/// lock that keeps two increments from interleaving their get and set.
#[derive(Debug)]
pub struct Counter {
    increment: Mutex<()>,
}

impl Actor for Counter {
    fn new() -> Self {
        Counter { increment: Mutex::new(()) }
    }

    async fn handle(&self, ctx: Context, req: Request) -> Result<Vec<u8>, ActrError> {
        let storage = ctx.storage();
        match req.route_key.as_str() {
            "counter.Counter/Increment" => {
                let _held = self.increment.lock().await;
                let next = read(storage)
                    .await?
                    .checked_add(1)
                    .ok_or_else(|| ActrError::ResourceExhausted("counter: the count is at u64::MAX".into()))?;
                storage.set(KEY, next.to_le_bytes()).await?;
                Ok(next.to_le_bytes().to_vec())
            }
            "counter.Counter/Get" => Ok(read(storage).await?.to_le_bytes().to_vec()),
            other => Err(ActrError::UnknownRoute(other.into())),
        }
    }
}

async fn read(storage: Storage) -> Result<u64, ActrError> {
    match storage.get(KEY).await? {
        None => Ok(0),
        Some(bytes) => {
            let bytes: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                ActrError::DecodeFailure(format!("counter: `{KEY}` holds {} bytes, not 8", bytes.len()))
            })?;
            Ok(u64::from_le_bytes(bytes))
        }
    }
}

actr_guest::actor!(Counter);

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use actr_guest::testing::TestHost;
    use actr_guest::{ActrError, abi::HostOperation, abi::HostOperationResult as R};

    use super::*;

    #[test]
    fn two_increments_at_once_do_not_lose_one() {
        let host = TestHost::<Counter>::new();
        host.request(1, "counter.Counter/Increment", b"", false);
        host.request(2, "counter.Counter/Increment", b"", false);
        let sent = host.take_sent();
        assert_eq!(sent.len(), 1, "the second waits for the lock: {sent:?}");
        assert_eq!(sent[0].op, HostOperation::StorageGet { key: KEY.into() });
        host.result(1, sent[0].op_id, R::Value(Some(41u64.to_le_bytes().to_vec())));
        let set = host.take_sent();
        assert_eq!(set[0].op, HostOperation::StorageSet { key: KEY.into(), value: 42u64.to_le_bytes().to_vec() });
        host.result(1, set[0].op_id, R::Done);

        let sent = host.take_sent();
        assert_eq!(sent[0].op, HostOperation::Reply { result: Ok(42u64.to_le_bytes().to_vec()) });
        assert_eq!((sent[1].request_id, &sent[1].op), (2, &HostOperation::StorageGet { key: KEY.into() }));
        host.result(2, sent[1].op_id, R::Value(Some(42u64.to_le_bytes().to_vec())));
        let set = host.take_sent();
        host.result(2, set[0].op_id, R::Done);
        assert_eq!(host.replies(), vec![(2, Ok(43u64.to_le_bytes().to_vec()))]);
    }

    #[test]
    fn get_reads_zero_when_absent_and_refuses_a_bad_value() {
        let host = TestHost::<Counter>::new();
        host.request(1, "counter.Counter/Get", b"", false);
        host.result(1, host.take_sent()[0].op_id, R::Value(None));
        assert_eq!(host.replies(), vec![(1, Ok(vec![0; 8]))]);
        host.request(2, "counter.Counter/Get", b"", false);
        host.result(2, host.take_sent()[0].op_id, R::Value(Some(vec![1, 2])));
        assert!(matches!(&host.replies()[..], [(2, Err(ActrError::DecodeFailure(_)))]));
        host.request(3, "counter.Counter/Reset", b"", false);
        assert_eq!(host.replies(), vec![(3, Err(ActrError::UnknownRoute("counter.Counter/Reset".into())))]);
    }
}
