//! Two nodes over the WebSocket direct wire, found through signaling: calls
//! and tells both ways with a 1 MiB payload, one trace id across both nodes,
//! an ACL-denied caller, and typed errors from the workload. Every node here
//! stays off the process-local registry, so nothing goes in-process. Each
//! scenario runs under tokio and smol.

use actr_core::acl::{Acl, RealmSelector};
use actr_core::{ActrError, ActrId};
use actr_driver::bytes::Bytes;
use actr_driver::{Runtime, with_deadline};
use actr_e2e::actors::{Seen, TestActor, node_config, start_actor};
use actr_e2e::{TempDir, WAIT, actr_type, base_url, on_smol, on_tokio, serve};

#[test]
fn two_nodes_call_each_other_over_websocket_on_tokio() {
    on_tokio(two_nodes_call_each_other_over_websocket);
}

#[test]
fn two_nodes_call_each_other_over_websocket_on_smol() {
    on_smol(two_nodes_call_each_other_over_websocket);
}

#[test]
fn trace_id_is_the_same_on_both_nodes_on_tokio() {
    on_tokio(trace_id_is_the_same_on_both_nodes);
}

#[test]
fn trace_id_is_the_same_on_both_nodes_on_smol() {
    on_smol(trace_id_is_the_same_on_both_nodes);
}

#[test]
fn acl_denied_caller_is_refused_before_the_handler_on_tokio() {
    on_tokio(acl_denied_caller_is_refused_before_the_handler);
}

#[test]
fn acl_denied_caller_is_refused_before_the_handler_on_smol() {
    on_smol(acl_denied_caller_is_refused_before_the_handler);
}

async fn two_nodes_call_each_other_over_websocket<R: Runtime>(rt: R) {
    let dir = TempDir::new("direct");
    let server = serve(&dir);
    let url = base_url(&server);
    let (alpha, _) = TestActor::new("alpha");
    let alpha = start_actor(&rt, node_config(&url, 31, false), alpha).await;
    let (beta, beta_probe) = TestActor::new("beta");
    let beta = start_actor(&rt, node_config(&url, 32, false), beta).await;
    assert!(beta.ws_address().is_some_and(|a| a.starts_with("ws://127.0.0.1:")));

    assert_eq!(alpha.discover(&actr_type("beta")).await.unwrap(), vec![beta.id().clone()]);
    let big: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let reply = alpha.call(beta.id().clone(), "echo", big.clone(), WAIT).await.unwrap();
    assert_eq!(reply.len(), big.len());
    assert!(reply == big, "1 MiB came back intact");
    let caller = alpha.call(beta.id().clone(), "caller", Bytes::new(), WAIT).await.unwrap();
    assert_eq!(caller, Bytes::from(alpha.id().to_string()), "the callee sees the authenticated caller");

    alpha.tell(beta.id().clone(), "note", big.clone()).await.unwrap();
    let seen = with_deadline(&rt, WAIT, beta_probe.seen.recv()).await.expect("the tell arrives").unwrap();
    assert!(seen == Seen::Noted(big.clone()), "the 1 MiB tell arrived intact");

    // Beta calls back over the link alpha opened: links carry calls both ways.
    let back = beta.call(alpha.id().clone(), "echo", &b"back"[..], WAIT).await.unwrap();
    assert_eq!(back, Bytes::from_static(b"back"));

    // Typed errors from the workload cross the wire; the node keeps serving.
    let unknown = alpha.call(beta.id().clone(), "nope", Bytes::new(), WAIT).await.unwrap_err();
    assert_eq!(unknown, ActrError::UnknownRoute("nope".into()));
    let panicked = alpha.call(beta.id().clone(), "panic", Bytes::new(), WAIT).await.unwrap_err();
    assert!(matches!(panicked, ActrError::Internal(_)), "{panicked:?}");
    assert_eq!(alpha.call(beta.id().clone(), "echo", &b"ok"[..], WAIT).await.unwrap(), Bytes::from_static(b"ok"));
    let ghost: ActrId = "fffff@1/acme:ghost:1.0.0".parse().unwrap();
    let missing = alpha.call(ghost, "echo", Bytes::new(), WAIT).await.unwrap_err();
    assert!(matches!(missing, ActrError::NotFound(_)), "an actor signaling does not know: {missing:?}");

    let (a, b) = (alpha.stats().await.unwrap(), beta.stats().await.unwrap());
    assert_eq!((a.dialed, b.accepted), (1, 1), "alpha opened one link");
    assert_eq!((a.accepted, b.dialed), (0, 0), "beta reused it");
    assert_eq!(a.in_process_delivered + b.in_process_delivered, 0, "nothing went in-process");
    assert_eq!(b.endpoint.dispatched, 6);
    assert_eq!(b.endpoint.malformed + b.endpoint.acl_denied, 0);
    alpha.shutdown().await;
    beta.shutdown().await;
    server.stop();
}

/// Alpha's handler calls beta over the wire; beta's handler reports the trace
/// id it received, alpha's the one it called with.
async fn trace_id_is_the_same_on_both_nodes<R: Runtime>(rt: R) {
    let dir = TempDir::new("trace");
    let server = serve(&dir);
    let url = base_url(&server);
    let (alpha, _) = TestActor::new("alpha");
    let alpha = start_actor(&rt, node_config(&url, 33, false), alpha).await;
    let (beta, _) = TestActor::new("beta");
    let beta = start_actor(&rt, node_config(&url, 34, false), beta).await;

    let relayed = alpha.call_local("relay", Bytes::from(beta.id().to_string())).await.unwrap();
    let (caller_side, callee_side) = std::str::from_utf8(&relayed).unwrap().split_once('|').unwrap();
    assert_eq!(caller_side.len(), 32);
    assert!(caller_side.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(caller_side, callee_side, "one trace id on both nodes");
    assert_eq!(beta.stats().await.unwrap().endpoint.dispatched, 1, "the hop went over the wire");

    let again = alpha.call_local("relay", Bytes::from(beta.id().to_string())).await.unwrap();
    assert_ne!(again, relayed, "each call from the app starts a new trace");
    alpha.shutdown().await;
    beta.shutdown().await;
    server.stop();
}

/// Beta admits only `friend`s. A `stranger` cannot even find it through
/// signaling; given the address anyway, its call is refused by beta's
/// endpoint with `PermissionDenied` and the handler never runs.
async fn acl_denied_caller_is_refused_before_the_handler<R: Runtime>(rt: R) {
    let dir = TempDir::new("acl");
    let server = serve(&dir);
    let url = base_url(&server);
    let acl = Acl::default().allow(actr_type("friend"), RealmSelector::Own);
    let (beta, beta_probe) = TestActor::new("beta");
    let beta = start_actor(&rt, node_config(&url, 35, false), beta.with_acl(acl)).await;
    let (friend, _) = TestActor::new("friend");
    let friend = start_actor(&rt, node_config(&url, 36, false), friend).await;
    let (stranger, _) = TestActor::new("stranger");
    let stranger = start_actor(&rt, node_config(&url, 37, false), stranger).await;

    assert_eq!(friend.call(beta.id().clone(), "echo", &b"hi"[..], WAIT).await.unwrap(), Bytes::from_static(b"hi"));
    assert_eq!(stranger.discover(&actr_type("beta")).await.unwrap(), vec![], "hidden by signaling");
    stranger.add_route(beta.id().clone(), beta.ws_address().unwrap()).unwrap();
    let denied = stranger.call(beta.id().clone(), "echo", &b"let me in"[..], WAIT).await.unwrap_err();
    assert!(matches!(denied, ActrError::PermissionDenied(_)), "{denied:?}");
    let told = stranger.tell(beta.id().clone(), "note", &b"psst"[..]).await;
    assert_eq!(told, Ok(()), "a tell is handed to the wire; the refusal is silent");

    // The link is ordered: once this second refusal is back, the tell was processed.
    let denied = stranger.call(beta.id().clone(), "note", &b"again"[..], WAIT).await.unwrap_err();
    assert!(matches!(denied, ActrError::PermissionDenied(_)), "{denied:?}");
    assert_eq!(beta_probe.log(), ["start", "ready", "handle:echo"], "only the friend was handled");
    assert!(beta_probe.seen.is_empty(), "the stranger's tell never ran");
    let stats = beta.stats().await.unwrap();
    assert_eq!(stats.endpoint.acl_denied, 3);
    assert_eq!(stats.accepted, 2, "the stranger authenticated; the ACL refused it");
    for node in [beta, friend, stranger] {
        node.shutdown().await;
    }
    server.stop();
}
