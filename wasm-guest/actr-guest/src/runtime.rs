//! One turn: take a host frame, start or wake the task it concerns, and run
//! every ready task until none is.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use actr_core::ActrError;
use actr_core::abi::{GuestFrame, HostFrame, HostOperation, InvocationContext, MAX_FRAME_BYTES, status};

use crate::executor::{self, Executor, MAX_TASKS};
use crate::{Actor, Context, Request, host};

thread_local! {
    /// The instance's actor, created on its first request.
    static ACTOR: RefCell<Option<Rc<dyn Any>>> = const { RefCell::new(None) };
    static EXECUTOR: RefCell<Executor> = RefCell::new(Executor::new(MAX_TASKS));
}

/// Runs the turn for one decoded host frame; returns the status for
/// `actr_recv`.
pub(crate) fn dispatch<A: Actor>(frame: HostFrame) -> i32 {
    match frame {
        HostFrame::Request { ctx, route_key, payload, tell } => {
            if ctx.request_id == 0 {
                return status::MALFORMED;
            }
            start_request::<A>(ctx, Request { route_key, payload, tell });
        }
        // A result nobody waits for belongs to an operation its handler
        // dropped: not an error of the host, so the turn goes on.
        HostFrame::OpResult { request_id, op_id, result } => {
            host::complete(request_id, op_id, result);
        }
        // The host gave up on the request: drop its handler, and with it
        // the operations it waits for. Dropped outside the executor's borrow.
        HostFrame::Cancel { request_id } => {
            let cancelled = EXECUTOR.with_borrow_mut(|executor| executor.cancel(request_id));
            drop(cancelled);
        }
    }
    EXECUTOR.with(executor::run_until_stalled);
    status::OK
}

/// Decodes and dispatches, as `actr_recv` does after reading its buffer.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn receive<A: Actor>(bytes: &[u8]) -> i32 {
    match HostFrame::decode(bytes) {
        Ok(frame) => dispatch::<A>(frame),
        Err(error) => error.status(),
    }
}

/// Forgets the actor, every task and every operation: a fresh instance.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn reset() {
    EXECUTOR.with_borrow_mut(Executor::clear);
    host::clear();
    ACTOR.set(None);
}

/// Tasks in flight.
pub(crate) fn live_tasks() -> usize {
    EXECUTOR.with_borrow(Executor::live)
}

fn actor<A: Actor>() -> Rc<A> {
    let existing = ACTOR.with_borrow(|actor| actor.clone().and_then(|actor| actor.downcast::<A>().ok()));
    if let Some(actor) = existing {
        return actor;
    }
    // Outside the borrow: `A::new` may use the SDK.
    let actor = Rc::new(A::new());
    ACTOR.set(Some(actor.clone()));
    actor
}

fn start_request<A: Actor>(ctx: InvocationContext, req: Request) {
    let request_id = ctx.request_id;
    let actor = actor::<A>();
    let context = Context::new(ctx);
    // A tell is replied to as well: the host discards the result, and learns
    // that the handler is done and the request over.
    let task = async move {
        let result = actor.handle(context, req).await;
        reply(request_id, result);
    };
    let spawned = EXECUTOR.with_borrow_mut(|executor| executor.spawn(request_id, Box::pin(task)));
    if spawned.is_err() {
        reply(request_id, Err(ActrError::ResourceExhausted(format!("guest: {MAX_TASKS} requests in flight"))));
    }
}

/// Sends the reply that ends `request_id`. A reply too large for a frame
/// becomes an error reply, so the caller learns why.
fn reply(request_id: u64, result: Result<Vec<u8>, ActrError>) {
    let frame = GuestFrame { request_id, op_id: 0, op: HostOperation::Reply { result } };
    if host::send_frame(&frame) == status::TOO_LARGE {
        let error = ActrError::ResourceExhausted(format!("guest: reply over the {MAX_FRAME_BYTES}-byte frame limit"));
        let frame = GuestFrame { request_id, op_id: 0, op: HostOperation::Reply { result: Err(error) } };
        // Nothing more to do if the host refuses this one too: the caller's
        // deadline ends the request.
        host::send_frame(&frame);
    }
}

/// Off wasm32 only: they drive the SDK through `testing::TestHost`.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::time::Duration;

    use actr_core::abi::{HostOperationResult as R, LogLevel};
    use actr_core::{ActrType, Dest};

    use super::*;
    use crate::testing::TestHost;

    /// Does what the route says, so one actor covers every path.
    struct Script;

    impl Actor for Script {
        fn new() -> Self {
            Script
        }

        async fn handle(&self, ctx: Context, req: Request) -> Result<Vec<u8>, ActrError> {
            match req.route_key.as_str() {
                "echo" => Ok(req.payload),
                "double" => Ok([req.payload.as_slice(), &req.payload].concat()),
                "get_set" => {
                    let old = ctx.storage().get("k").await?.unwrap_or_default();
                    ctx.storage().set("k", req.payload).await?;
                    Ok(old)
                }
                "call" => ctx.call(Dest::Host, "x.X/Y", req.payload, Duration::from_secs(5)).await,
                "discover" => {
                    let found = ctx.discover(&ActrType::new("acme", "echo", "1").unwrap()).await?;
                    Ok(vec![found.len() as u8])
                }
                "log" => {
                    crate::log::info("working");
                    Ok(Vec::new())
                }
                "hang" => std::future::pending().await,
                other => Err(ActrError::UnknownRoute(other.into())),
            }
        }
    }

    fn ops(host: &TestHost<Script>) -> Vec<(u64, u32, HostOperation)> {
        host.take_sent().into_iter().map(|f| (f.request_id, f.op_id, f.op)).collect()
    }

    fn reply(request_id: u64, result: Result<Vec<u8>, ActrError>) -> (u64, u32, HostOperation) {
        (request_id, 0, HostOperation::Reply { result })
    }

    #[test]
    fn malformed_input_is_refused_without_a_panic() {
        let host = TestHost::<Script>::new();
        let good = HostFrame::OpResult { request_id: 1, op_id: 1, result: R::Done }.encode();
        let mut trailing = good.clone();
        trailing.push(0);
        for bad in [&[][..], &[0xff; 16], &good[..good.len() - 1], &trailing] {
            assert_eq!(host.receive_bytes(bad), status::MALFORMED, "{bad:?}");
        }
        assert_eq!(host.receive_bytes(&vec![0; MAX_FRAME_BYTES + 1]), status::TOO_LARGE);
        assert_eq!(host.request(0, "echo", b"x", false), status::MALFORMED, "request 0 is reserved");
        assert!(host.take_sent().is_empty());
    }

    #[test]
    fn requests_and_tells_each_end_with_one_reply() {
        let host = TestHost::<Script>::new();
        assert_eq!(host.request(3, "echo", b"hi", false), status::OK);
        assert_eq!(host.request(4, "echo", b"quiet", true), status::OK);
        assert_eq!(host.request(5, "nope", b"", false), status::OK);
        assert_eq!(
            ops(&host),
            vec![
                reply(3, Ok(b"hi".to_vec())),
                reply(4, Ok(b"quiet".to_vec())),
                reply(5, Err(ActrError::UnknownRoute("nope".into())))
            ]
        );
        assert_eq!(host.tasks_in_flight(), 0);
    }

    #[test]
    fn operations_park_the_handler_until_their_result_comes() {
        let host = TestHost::<Script>::new();
        host.request(7, "get_set", b"new", false);
        assert_eq!(ops(&host), vec![(7, 1, HostOperation::StorageGet { key: "k".into() })]);
        host.result(7, 1, R::Value(Some(b"old".to_vec())));
        assert_eq!(ops(&host), vec![(7, 2, HostOperation::StorageSet { key: "k".into(), value: b"new".to_vec() })]);
        host.result(7, 2, R::Done);
        assert_eq!(ops(&host), vec![reply(7, Ok(b"old".to_vec()))]);
        assert_eq!((host.tasks_in_flight(), crate::host::pending()), (0, 0));
    }

    #[test]
    fn a_cancelled_request_drops_its_handler_and_its_operations() {
        let host = TestHost::<Script>::new();
        host.request(7, "get_set", b"new", false);
        host.request(8, "echo", b"other", false);
        assert_eq!(ops(&host).len(), 2, "7 waits on its get, 8 replied");
        assert_eq!((host.tasks_in_flight(), crate::host::pending()), (1, 1));
        assert_eq!(host.receive(&HostFrame::Cancel { request_id: 7 }), status::OK);
        assert_eq!((host.tasks_in_flight(), crate::host::pending()), (0, 0));
        // Its late result goes nowhere and the instance carries on.
        assert_eq!(host.result(7, 1, R::Value(None)), status::OK);
        assert!(host.take_sent().is_empty());
        assert_eq!(host.receive(&HostFrame::Cancel { request_id: 99 }), status::OK, "an unknown one is ignored");
        host.request(9, "echo", b"again", false);
        assert_eq!(ops(&host), vec![reply(9, Ok(b"again".to_vec()))]);
    }

    #[test]
    fn concurrent_requests_take_their_results_in_any_order() {
        let host = TestHost::<Script>::new();
        host.request(1, "call", b"a", false);
        host.request(2, "call", b"b", false);
        let sent = ops(&host);
        assert_eq!(sent.iter().map(|(r, o, _)| (*r, *o)).collect::<Vec<_>>(), vec![(1, 1), (2, 2)]);
        assert!(
            matches!(&sent[0].2, HostOperation::Call { dest: Dest::Host, timeout_ms: 5000, payload, .. } if payload == b"a")
        );
        host.result(2, 2, R::Bytes(b"B".to_vec()));
        host.result(1, 1, R::Error(ActrError::TimedOut));
        assert_eq!(ops(&host), vec![reply(2, Ok(b"B".to_vec())), reply(1, Err(ActrError::TimedOut))]);
    }

    #[test]
    fn stray_results_are_ignored() {
        let host = TestHost::<Script>::new();
        host.request(1, "call", b"", false);
        ops(&host);
        assert_eq!(host.result(1, 99, R::Bytes(vec![])), status::OK, "no such operation");
        assert_eq!(host.result(2, 1, R::Bytes(vec![])), status::OK, "another request's");
        assert!(ops(&host).is_empty());
        assert_eq!(host.tasks_in_flight(), 1);
        host.result(1, 1, R::Bytes(vec![1]));
        host.result(1, 1, R::Bytes(vec![2]));
        assert_eq!(ops(&host), vec![reply(1, Ok(vec![1]))], "one result per operation");
    }

    #[test]
    fn a_result_of_the_wrong_kind_is_a_decode_failure() {
        let host = TestHost::<Script>::new();
        host.request(1, "discover", b"", false);
        host.request(2, "discover", b"", false);
        ops(&host);
        host.result(1, 1, R::Done);
        host.result(2, 2, R::Actors(vec![host.self_id().clone()]));
        let replies = host.replies();
        assert!(matches!(&replies[0], (1, Err(ActrError::DecodeFailure(m))) if m.contains("Done")), "{replies:?}");
        assert_eq!(replies[1], (2, Ok(vec![1])));
    }

    #[test]
    fn a_refused_send_fails_the_operation_at_once() {
        let host = TestHost::<Script>::new();
        host.refuse_next(status::BUSY);
        host.request(1, "call", b"", false);
        assert!(matches!(&host.replies()[..], [(1, Err(ActrError::ResourceExhausted(_)))]));
        host.refuse_next(status::UNKNOWN_REQUEST);
        host.refuse_next(status::UNKNOWN_REQUEST);
        host.request(2, "call", b"", false);
        assert!(host.replies().is_empty(), "the reply was refused too");
        assert_eq!((host.tasks_in_flight(), crate::host::pending()), (0, 0));
        assert!(matches!(crate::host::refused(status::BAD_POINTER), ActrError::Internal(_)));
    }

    #[test]
    fn op_ids_count_from_one_across_requests() {
        let host = TestHost::<Script>::new();
        for request_id in 1..=3 {
            host.request(request_id, "call", b"", false);
        }
        let ids: Vec<u32> = ops(&host).iter().map(|(_, op_id, _)| *op_id).collect();
        assert_eq!(ids, vec![1, 2, 3]);
    }

    #[test]
    fn a_log_line_names_the_request_it_was_logged_for() {
        let host = TestHost::<Script>::new();
        host.request(9, "log", b"", false);
        crate::log::warn("outside");
        let sent = ops(&host);
        assert_eq!(sent[0], (9, 0, HostOperation::Log { level: LogLevel::Info, message: "working".into() }));
        assert_eq!(sent[1], reply(9, Ok(vec![])));
        assert_eq!(sent[2], (0, 0, HostOperation::Log { level: LogLevel::Warn, message: "outside".into() }));
    }

    #[test]
    fn requests_past_the_task_limit_are_refused_with_an_error() {
        let host = TestHost::<Script>::new();
        for request_id in 1..=MAX_TASKS as u64 {
            host.request(request_id, "hang", b"", false);
        }
        assert!(host.take_sent().is_empty());
        host.request(5000, "hang", b"", false);
        host.request(5001, "hang", b"", true);
        assert!(matches!(
            &host.replies()[..],
            [(5000, Err(ActrError::ResourceExhausted(_))), (5001, Err(ActrError::ResourceExhausted(_)))]
        ));
        assert_eq!(host.tasks_in_flight(), MAX_TASKS);
    }

    #[test]
    fn an_oversized_reply_becomes_an_error_reply() {
        let host = TestHost::<Script>::new();
        assert_eq!(host.request(1, "double", &vec![7; MAX_FRAME_BYTES / 2 + 1], false), status::OK);
        assert!(matches!(&host.replies()[..], [(1, Err(ActrError::ResourceExhausted(_)))]));
    }
}
