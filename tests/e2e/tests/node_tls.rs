//! Nodes that reach their server over TLS: the AIS over `https://` and
//! signaling over `wss://`, through a test TLS terminator ([`TlsFront`])
//! with a self-signed certificate in front of a plain `actr serve`. A node
//! that trusts the certificate works as over plain TCP; one that does not
//! fails registration with `Unauthenticated` at once. Each scenario runs
//! under tokio and smol.

use actr_core::ActrError;
use actr_driver::bytes::Bytes;
use actr_driver::{Hyper, NodeConfig, Runtime, SignalingNode, TlsRoots, with_deadline};
use actr_e2e::actors::{TestActor, node_config, start_actor};
use actr_e2e::tls::TlsFront;
use actr_e2e::{TempDir, WAIT, actr_type, on_smol, on_tokio, register_request, serve, test_client_config};

#[test]
fn signaling_node_connects_over_wss_on_tokio() {
    on_tokio(signaling_node_connects_over_wss);
}

#[test]
fn signaling_node_connects_over_wss_on_smol() {
    on_smol(signaling_node_connects_over_wss);
}

#[test]
fn nodes_call_each_other_through_a_tls_server_on_tokio() {
    on_tokio(nodes_call_each_other_through_a_tls_server);
}

#[test]
fn nodes_call_each_other_through_a_tls_server_on_smol() {
    on_smol(nodes_call_each_other_through_a_tls_server);
}

#[test]
fn an_untrusted_certificate_fails_registration_on_tokio() {
    on_tokio(an_untrusted_certificate_fails_registration);
}

#[test]
fn an_untrusted_certificate_fails_registration_on_smol() {
    on_smol(an_untrusted_certificate_fails_registration);
}

/// Registers over https, connects over wss and round-trips to the server.
async fn signaling_node_connects_over_wss<R: Runtime>(rt: R) {
    let dir = TempDir::new("wss-signaling");
    let server = serve(&dir);
    let front = TlsFront::start(server.local_addr());
    let config = NodeConfig::new(front.base_url(), register_request("wss"))
        .with_client(test_client_config())
        .with_seed(71)
        .with_tls_roots(front.roots());
    let node = SignalingNode::start(rt.clone(), config).expect("node starts");
    let registered = node.wait_registered(WAIT).await.expect("registers over https");
    let id = node.wait_connected(WAIT).await.expect("connects over wss");
    assert_eq!(id, registered.actor);
    node.ping().await.expect("a round trip over wss");
    let types = node.discover(Some("acme".into())).await.expect("discovery over wss");
    assert!(types.contains(&actr_type("wss")), "{types:?}");
    // One handshake for the AIS call, one for the signaling socket: the
    // node had no other way to the server.
    assert!(front.handshakes() >= 2, "{} TLS handshakes", front.handshakes());
    with_deadline(&rt, WAIT, node.shutdown()).await.expect("shutdown is bounded");
    drop(front);
    server.stop();
}

/// Two nodes of separate `Hyper`s find and call each other; the server is
/// named `localhost`, so the certificate is checked against a DNS name.
async fn nodes_call_each_other_through_a_tls_server<R: Runtime>(rt: R) {
    let dir = TempDir::new("wss-nodes");
    let server = serve(&dir);
    let front = TlsFront::start(server.local_addr());
    let url = front.base_url_by_name();
    let config = |seed| node_config(&url, seed, false).with_tls_roots(front.roots());
    let (alpha, _) = TestActor::new("alpha");
    let (beta, _) = TestActor::new("beta");
    let alpha = start_actor(&rt, config(72), alpha).await;
    let beta = start_actor(&rt, config(73), beta).await;
    assert_eq!(alpha.discover(&actr_type("beta")).await.unwrap(), vec![beta.id().clone()]);
    let reply = alpha.call(beta.id().clone(), "echo", &b"over tls"[..], WAIT).await.unwrap();
    assert_eq!(reply, Bytes::from_static(b"over tls"));
    assert!(front.handshakes() >= 4, "{} TLS handshakes", front.handshakes());
    with_deadline(&rt, WAIT, alpha.shutdown()).await.expect("shutdown is bounded");
    with_deadline(&rt, WAIT, beta.shutdown()).await.expect("shutdown is bounded");
    drop(front);
    server.stop();
}

/// Default roots, or roots of another certificate: `Unauthenticated`, long
/// before any connect deadline, and no handshake ever completes.
async fn an_untrusted_certificate_fails_registration<R: Runtime>(rt: R) {
    let dir = TempDir::new("wss-untrusted");
    let server = serve(&dir);
    let front = TlsFront::start(server.local_addr());

    let (actor, probe) = TestActor::new("doubter");
    let defaults = node_config(&front.base_url(), 74, false);
    assert!(defaults.tls_roots.is_webpki());
    let register = Hyper::new(rt.clone(), defaults).node().link(actor).register();
    let err = with_deadline(&rt, WAIT, register).await.expect("fails at once").expect_err("refused");
    assert!(matches!(err, ActrError::Unauthenticated(_)), "{err:?}");
    assert!(probe.log().is_empty(), "no hook ran");

    let other = TlsFront::start(server.local_addr());
    let config = NodeConfig::new(front.base_url(), register_request("doubter"))
        .with_client(test_client_config())
        .with_tls_roots(TlsRoots::from_pem(other.cert_pem().as_bytes()).unwrap());
    let node = SignalingNode::start(rt.clone(), config).expect("node starts");
    let err = node.wait_registered(WAIT).await.expect_err("refused");
    assert!(matches!(err, ActrError::Unauthenticated(ref why) if why.contains("certificate")), "{err:?}");
    with_deadline(&rt, WAIT, node.shutdown()).await.expect("shutdown is bounded");

    assert_eq!(front.handshakes(), 0, "no client completed a handshake");
    drop((front, other));
    server.stop();
}
