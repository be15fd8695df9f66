//! The node lifecycle against a real `actr serve`: hook order, a failing
//! `on_start`, calls after shutdown, and a shutdown that drains calls in
//! flight. Each scenario runs under tokio and smol.

use actr_core::{ActrError, Dest};
use actr_driver::bytes::Bytes;
use actr_driver::{Hyper, Runtime, with_deadline};
use actr_e2e::actors::{Seen, TestActor, node_config, start_actor};
use actr_e2e::{TempDir, WAIT, actr_type, base_url, on_smol, on_tokio, serve};

#[test]
fn hooks_run_in_order_on_tokio() {
    on_tokio(hooks_run_in_order);
}

#[test]
fn hooks_run_in_order_on_smol() {
    on_smol(hooks_run_in_order);
}

#[test]
fn failing_on_start_aborts_start_on_tokio() {
    on_tokio(failing_on_start_aborts_start);
}

#[test]
fn failing_on_start_aborts_start_on_smol() {
    on_smol(failing_on_start_aborts_start);
}

#[test]
fn shutdown_drains_calls_in_flight_on_tokio() {
    on_tokio(shutdown_drains_calls_in_flight);
}

#[test]
fn shutdown_drains_calls_in_flight_on_smol() {
    on_smol(shutdown_drains_calls_in_flight);
}

/// start → ready → handlers → stop, and nothing is served after the stop.
async fn hooks_run_in_order<R: Runtime>(rt: R) {
    let dir = TempDir::new("hooks");
    let server = serve(&dir);
    let (actor, probe) = TestActor::new("hooks");
    let node = start_actor(&rt, node_config(&base_url(&server), 11, true), actor).await;
    assert_eq!(probe.log(), ["start", "ready"]);
    assert_eq!(node.call_local("echo", &b"hi"[..]).await.unwrap(), Bytes::from_static(b"hi"));

    with_deadline(&rt, WAIT, node.shutdown()).await.expect("shutdown is bounded");
    assert_eq!(probe.log(), ["start", "ready", "handle:echo", "stop"]);
    assert!(node.is_shutting_down());
    with_deadline(&rt, WAIT, node.wait_for_stop()).await.expect("stopped");

    let after = node.call_local("echo", &b"late"[..]).await.unwrap_err();
    assert!(matches!(after, ActrError::Unavailable(_)), "{after:?}");
    let after = node.call(node.id().clone(), "echo", &b"late"[..], WAIT).await.unwrap_err();
    assert!(matches!(after, ActrError::Unavailable(_)), "{after:?}");
    let after = node.tell(Dest::Workload, "note", &b"late"[..]).await.unwrap_err();
    assert!(matches!(after, ActrError::Unavailable(_)), "{after:?}");
    with_deadline(&rt, WAIT, node.shutdown()).await.expect("a second shutdown returns at once");
    assert_eq!(probe.log().iter().filter(|e| *e == "stop").count(), 1, "on_stop runs once");
    server.stop();
}

/// An `on_start` error is what `start` returns; the node never comes up.
async fn failing_on_start_aborts_start<R: Runtime>(rt: R) {
    let dir = TempDir::new("failstart");
    let server = serve(&dir);
    let url = base_url(&server);
    let (actor, probe) = TestActor::new("doomed");
    let config = node_config(&url, 12, true);
    let registered = Hyper::new(rt.clone(), config).node().link(actor.failing_start()).register().await.unwrap();
    let err = registered.start().await.unwrap_err();
    assert_eq!(err, ActrError::InvalidArgument("refused to start".into()));
    assert_eq!(probe.log(), ["start"], "neither on_ready nor on_stop ran");

    // The failed node left signaling: an observer cannot find it.
    let (observer, _) = TestActor::new("observer");
    let observer = start_actor(&rt, node_config(&url, 13, true), observer).await;
    assert_eq!(observer.discover(&actr_type("doomed")).await.unwrap(), vec![]);
    observer.shutdown().await;
    server.stop();
}

/// A call in flight in-process, one over the WebSocket wire and a tell on
/// the mailbox worker all finish after shutdown began; new calls and tells
/// are refused meanwhile; on_stop runs after.
async fn shutdown_drains_calls_in_flight<R: Runtime>(rt: R) {
    let dir = TempDir::new("drain");
    let server = serve(&dir);
    let url = base_url(&server);
    let (actor, probe) = TestActor::new("drained");
    let node = start_actor(&rt, node_config(&url, 14, false), actor).await;
    let (caller, _) = TestActor::new("remote");
    let caller = start_actor(&rt, node_config(&url, 15, false), caller).await;

    let (results_tx, results) = async_channel::bounded(2);
    let local = node.clone();
    let tx = results_tx.clone();
    rt.spawn(Box::pin(async move {
        let _ = tx.send(local.call_local("block", Bytes::new()).await).await;
    }));
    let target = node.id().clone();
    rt.spawn(Box::pin(async move {
        let _ = results_tx.send(caller.call(target, "block", Bytes::new(), WAIT).await).await;
    }));
    node.tell(Dest::Workload, "block", Bytes::new()).await.unwrap();
    for _ in 0..3 {
        let seen = with_deadline(&rt, WAIT, probe.seen.recv()).await.expect("both calls and the tell arrive").unwrap();
        assert_eq!(seen, Seen::Entered);
    }

    let release_after_shutdown_began = async {
        assert!(node.is_shutting_down(), "shutdown began on its first poll");
        let refused = node.call_local("echo", Bytes::new()).await.unwrap_err();
        assert!(matches!(refused, ActrError::Unavailable(_)), "{refused:?}");
        let refused = node.tell(Dest::Workload, "echo", Bytes::new()).await.unwrap_err();
        assert!(matches!(refused, ActrError::Unavailable(_)), "{refused:?}");
        for _ in 0..3 {
            probe.release();
        }
    };
    let drained = futures::future::join(node.shutdown(), release_after_shutdown_began);
    with_deadline(&rt, WAIT, drained).await.expect("shutdown is bounded");
    for _ in 0..2 {
        let result = with_deadline(&rt, WAIT, results.recv()).await.expect("calls resolve").unwrap();
        assert_eq!(result.unwrap(), Bytes::from_static(b"released"));
    }
    let log = probe.log();
    assert_eq!(log.last().map(String::as_str), Some("stop"), "{log:?}");
    assert_eq!(log.iter().filter(|e| *e == "done:block").count(), 3, "the tell drained too: {log:?}");
    server.stop();
}
