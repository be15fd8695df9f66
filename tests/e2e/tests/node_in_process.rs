//! In-process delivery: the app calling its own workload, and two actors of
//! one `Hyper` calling each other, move `Bytes` handles — the callee sees the
//! caller's buffer and the caller gets the callee's back, never a copy — and
//! skip the ACL. Actors of two `Hyper`s in one process reach each other only
//! over the network. Each scenario runs under tokio and smol.

use actr_core::ActrError;
use actr_core::acl::Acl;
use actr_driver::bytes::Bytes;
use actr_driver::{ActrRef, Hyper, Runtime, with_deadline};
use actr_e2e::actors::{Seen, TestActor, node_config, start_actor};
use actr_e2e::{TempDir, WAIT, base_url, on_smol, on_tokio, serve};

#[test]
fn app_calls_its_workload_without_copying_on_tokio() {
    on_tokio(app_calls_its_workload_without_copying);
}

#[test]
fn app_calls_its_workload_without_copying_on_smol() {
    on_smol(app_calls_its_workload_without_copying);
}

#[test]
fn actors_of_one_process_call_in_process_on_tokio() {
    on_tokio(actors_of_one_process_call_in_process);
}

#[test]
fn actors_of_one_process_call_in_process_on_smol() {
    on_smol(actors_of_one_process_call_in_process);
}

#[test]
fn actors_of_two_hypers_call_over_the_network_on_tokio() {
    on_tokio(actors_of_two_hypers_call_over_the_network);
}

#[test]
fn actors_of_two_hypers_call_over_the_network_on_smol() {
    on_smol(actors_of_two_hypers_call_over_the_network);
}

#[test]
fn tells_carry_a_trace_and_a_panicking_one_hurts_no_other_on_tokio() {
    on_tokio(tells_carry_a_trace_and_a_panicking_one_hurts_no_other);
}

#[test]
fn tells_carry_a_trace_and_a_panicking_one_hurts_no_other_on_smol() {
    on_smol(tells_carry_a_trace_and_a_panicking_one_hurts_no_other);
}

/// Links, registers and starts `actor` as a node of `hyper` with `config`.
async fn start_on<R: Runtime>(hyper: &Hyper<R>, config: actr_driver::HyperConfig, actor: TestActor) -> ActrRef {
    let registered = hyper.node_with(config).link(actor).register().await.expect("registers");
    registered.start().await.expect("starts")
}

async fn app_calls_its_workload_without_copying<R: Runtime>(rt: R) {
    let dir = TempDir::new("inproc-app");
    let server = serve(&dir);
    let (actor, _probe) = TestActor::new("local");
    let node = start_actor(&rt, node_config(&base_url(&server), 21, true), actor).await;

    let payload = Bytes::from(vec![7u8; 64 * 1024]);
    let reply = node.call_local("echo", payload.clone()).await.unwrap();
    assert_eq!(reply.as_ptr(), payload.as_ptr(), "the echo handed back the very same buffer");
    assert_eq!(node.call_local("caller", Bytes::new()).await.unwrap(), Bytes::from_static(b"app"));
    let unknown = node.call_local("nope", Bytes::new()).await.unwrap_err();
    assert_eq!(unknown, ActrError::UnknownRoute("nope".into()));
    let panicked = node.call_local("panic", Bytes::new()).await.unwrap_err();
    assert!(matches!(panicked, ActrError::Internal(_)), "{panicked:?}");
    assert_eq!(node.call_local("echo", &b"still here"[..]).await.unwrap(), Bytes::from_static(b"still here"));

    let stats = node.stats().await.unwrap();
    assert_eq!(stats.in_process_delivered, 5);
    assert_eq!(stats.endpoint.calls + stats.endpoint.dispatched, 0, "nothing went through the RPC endpoint");
    node.shutdown().await;
    server.stop();
}

async fn actors_of_one_process_call_in_process<R: Runtime>(rt: R) {
    let dir = TempDir::new("inproc-pair");
    let server = serve(&dir);
    let url = base_url(&server);
    let hyper = Hyper::new(rt.clone(), node_config(&url, 22, true));
    let (alpha, _) = TestActor::new("alpha");
    let alpha = start_on(&hyper, node_config(&url, 22, true), alpha).await;
    // An empty ACL refuses every remote caller; in-process callers are still admitted.
    let (beta, beta_probe) = TestActor::new("beta");
    let beta = start_on(&hyper, node_config(&url, 23, true), beta.with_acl(Acl::default())).await;

    let payload = Bytes::from(vec![1u8; 1 << 20]);
    let reply = alpha.call(beta.id().clone(), "echo", payload.clone(), WAIT).await.unwrap();
    assert_eq!(reply.as_ptr(), payload.as_ptr(), "1 MiB crossed both ways without a copy");
    let caller = alpha.call(beta.id().clone(), "caller", Bytes::new(), WAIT).await.unwrap();
    assert_eq!(caller, Bytes::from(alpha.id().to_string()));

    alpha.tell(beta.id().clone(), "note", &b"psst"[..]).await.unwrap();
    let seen = with_deadline(&rt, WAIT, beta_probe.seen.recv()).await.expect("the tell arrives").unwrap();
    assert_eq!(seen, Seen::Noted(b"psst".to_vec()));

    // A handler's call continues the trace in-process too.
    let relayed = alpha.call_local("relay", Bytes::from(beta.id().to_string())).await.unwrap();
    let (mine, theirs) = std::str::from_utf8(&relayed).unwrap().split_once('|').unwrap();
    assert_eq!(mine.len(), 32);
    assert_eq!(mine, theirs);

    let (a, b) = (alpha.stats().await.unwrap(), beta.stats().await.unwrap());
    assert_eq!(a.endpoint.calls + b.endpoint.dispatched, 0, "no call went through the RPC endpoint");
    assert_eq!(a.dialed + b.accepted, 0, "no direct link was opened");
    assert_eq!(b.in_process_delivered, 4);
    alpha.shutdown().await;
    beta.shutdown().await;
    server.stop();
}

/// In-process tells run on the callee's mailbox worker: each handler sees a
/// trace context of its own (every tell from the app starts a trace), and a
/// handler that panics leaves the worker serving the next tells.
async fn tells_carry_a_trace_and_a_panicking_one_hurts_no_other<R: Runtime>(rt: R) {
    let dir = TempDir::new("inproc-tells");
    let server = serve(&dir);
    let url = base_url(&server);
    let hyper = Hyper::new(rt.clone(), node_config(&url, 27, true));
    let (alpha, _) = TestActor::new("alpha");
    let alpha = start_on(&hyper, node_config(&url, 27, true), alpha).await;
    let (beta, probe) = TestActor::new("beta");
    let beta = start_on(&hyper, node_config(&url, 28, true), beta).await;
    let next = || async { with_deadline(&rt, WAIT, probe.seen.recv()).await.expect("a tell arrives").unwrap() };

    let mut ids = Vec::new();
    for _ in 0..2 {
        alpha.tell(beta.id().clone(), "trace", Bytes::new()).await.unwrap();
        let Seen::Traced(id) = next().await else { panic!("a trace report") };
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
        assert_ne!(id, "0".repeat(32));
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "each tell from the app starts a trace");

    beta.tell(actr_core::Dest::Workload, "panic", Bytes::new()).await.expect("handed over; the panic is the callee's");
    beta.tell(actr_core::Dest::Workload, "note", &b"after"[..]).await.unwrap();
    assert_eq!(next().await, Seen::Noted(b"after".to_vec()), "the worker survived the panic");

    let stats = beta.stats().await.unwrap();
    assert_eq!(stats.in_process_delivered, 4);
    assert_eq!(stats.endpoint.dispatched, 0, "nothing went through the RPC endpoint");
    alpha.shutdown().await;
    beta.shutdown().await;
    server.stop();
}

/// Two `Hyper`s in one process keep separate registries: a call between
/// their actors is encoded and goes over the WebSocket wire, and the
/// callee's ACL applies.
async fn actors_of_two_hypers_call_over_the_network<R: Runtime>(rt: R) {
    let dir = TempDir::new("inproc-two-hypers");
    let server = serve(&dir);
    let url = base_url(&server);
    let (alpha, _) = TestActor::new("alpha");
    let alpha = start_actor(&rt, node_config(&url, 24, true), alpha).await;
    let (beta, _) = TestActor::new("beta");
    let beta = start_actor(&rt, node_config(&url, 25, true), beta).await;
    let (gamma, _) = TestActor::new("gamma");
    let gamma = start_actor(&rt, node_config(&url, 26, true), gamma.with_acl(Acl::default())).await;

    let payload = Bytes::from(vec![3u8; 4096]);
    let reply = alpha.call(beta.id().clone(), "echo", payload.clone(), WAIT).await.unwrap();
    assert_eq!(reply, payload);
    assert_ne!(reply.as_ptr(), payload.as_ptr(), "the reply was decoded from the wire");
    // Signaling hides gamma from alpha; given its address, the call is refused by gamma's endpoint.
    alpha.add_route(gamma.id().clone(), gamma.ws_address().unwrap()).unwrap();
    let refused = alpha.call(gamma.id().clone(), "echo", payload.clone(), WAIT).await.unwrap_err();
    assert!(matches!(refused, ActrError::PermissionDenied(_)), "the ACL applies: {refused:?}");

    let (a, b) = (alpha.stats().await.unwrap(), beta.stats().await.unwrap());
    assert!(a.endpoint.calls >= 1, "the call went through the RPC endpoint: {a:?}");
    assert_eq!(b.in_process_delivered, 0, "nothing reached beta in-process");
    alpha.shutdown().await;
    beta.shutdown().await;
    gamma.shutdown().await;
    server.stop();
}

#[test]
fn a_windowed_reliable_stream_arrives_in_order_in_process_on_tokio() {
    on_tokio(a_windowed_reliable_stream_arrives_in_order_in_process);
}

#[test]
fn a_windowed_reliable_stream_arrives_in_order_in_process_on_smol() {
    on_smol(a_windowed_reliable_stream_arrives_in_order_in_process);
}

/// One `send` of many chunks keeps a window of them in flight; in-process
/// their handlers run concurrently on the writer's task, yet the stream's
/// handler sees them strictly in sequence, each once.
async fn a_windowed_reliable_stream_arrives_in_order_in_process<R: Runtime>(rt: R) {
    use actr_driver::{DeliveryPolicy, STREAM_CHUNK_BYTES, STREAM_WINDOW};
    use std::sync::{Arc, Mutex};

    let dir = TempDir::new("inproc-stream");
    let server = serve(&dir);
    let url = base_url(&server);
    let hyper = Hyper::new(rt.clone(), node_config(&url, 31, true));
    let alpha = start_on(&hyper, node_config(&url, 31, true), TestActor::new("alpha").0).await;
    let beta = start_on(&hyper, node_config(&url, 32, true), TestActor::new("beta").0).await;
    let mut writer = alpha.open_stream(beta.id().clone(), DeliveryPolicy::Reliable).expect("opens");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (done_tx, done_rx) = async_channel::bounded(1);
    let log = seen.clone();
    beta.register_stream_handler(writer.stream_id(), move |chunk, _| {
        log.lock().unwrap().push((chunk.sequence, chunk.payload.first().copied()));
        if chunk.end {
            let _ = done_tx.try_send(());
        }
        Box::pin(async { Ok(()) })
    })
    .expect("registers");
    let chunks = 4 * STREAM_WINDOW;
    let data: Vec<u8> = (0..chunks).flat_map(|i| vec![i as u8; STREAM_CHUNK_BYTES]).collect();
    writer.send(&data).await.expect("every chunk queued");
    writer.finish(&[]).await.expect("finished");
    with_deadline(&rt, WAIT, done_rx.recv()).await.expect("the end arrives").unwrap();
    let seen = seen.lock().unwrap().clone();
    let expected: Vec<(u64, Option<u8>)> =
        (0..chunks).map(|i| (i as u64, Some(i as u8))).chain([(chunks as u64, None)]).collect();
    assert_eq!(seen, expected, "in sequence, each once");
    alpha.shutdown().await;
    beta.shutdown().await;
    server.stop();
}
