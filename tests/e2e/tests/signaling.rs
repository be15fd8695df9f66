//! Two nodes on a real `actr serve`: discovery, presence, relay, and
//! reconnection across a server restart. Each scenario runs under tokio and smol.

use actr_cli::serve::{ServeConfig, ServeHandle};
use actr_core::{ActrError, ActrId, Realm};
use actr_driver::{NodeConfig, NodeEvent, Runtime, SignalingHandle, SignalingNode};
use actr_e2e::{
    TempDir, actr_type, base_url, on_smol, on_tokio, register_request, serve, serve_with, start_node,
    test_client_config, wait_event,
};

#[test]
fn two_nodes_discover_and_relay_on_tokio() {
    on_tokio(two_nodes_discover_and_relay);
}

#[test]
fn two_nodes_discover_and_relay_on_smol() {
    on_smol(two_nodes_discover_and_relay);
}

#[test]
fn nodes_reconnect_after_server_restart_on_tokio() {
    on_tokio(nodes_reconnect_after_server_restart);
}

#[test]
fn nodes_reconnect_after_server_restart_on_smol() {
    on_smol(nodes_reconnect_after_server_restart);
}

/// Sends `payload` from `from` to `to` and waits for it on `to`'s events.
async fn relay_and_expect<R: Runtime>(rt: &R, from: (&SignalingHandle, &ActrId), to: (&SignalingHandle, &ActrId)) {
    let payload = format!("{} -> {}", from.1, to.1).into_bytes();
    from.0.relay(to.1.clone(), payload.clone()).await.expect("relay accepted");
    let events = to.0.events();
    let got = wait_event(rt, &events, |e| match e {
        NodeEvent::Relay { source, payload } if source == *from.1 => Some(payload),
        _ => None,
    })
    .await
    .expect("relay arrives");
    assert_eq!(got, payload);
}

async fn two_nodes_discover_and_relay<R: Runtime>(rt: R) {
    let dir = TempDir::new("relay");
    let server = serve(&dir);
    let url = base_url(&server);

    let alpha = start_node(&rt, &url, "alpha", 1).await;
    let alpha_id = alpha.wait_connected(actr_e2e::WAIT).await.unwrap();
    alpha.subscribe(actr_type("beta")).await.expect("subscribe");
    let beta = start_node(&rt, &url, "beta", 2).await;
    let beta_id = beta.wait_connected(actr_e2e::WAIT).await.unwrap();
    assert_ne!(alpha_id, beta_id);

    let alpha_events = alpha.events();
    let up = wait_event(&rt, &alpha_events, |e| match e {
        NodeEvent::Presence { actor, up: true } => Some(actor),
        _ => None,
    })
    .await
    .expect("alpha hears beta come up");
    assert_eq!(up, beta_id);

    let found = alpha.route_candidates(actr_type("beta"), 8).await.unwrap();
    assert_eq!(found.iter().map(|c| &c.actor).collect::<Vec<_>>(), vec![&beta_id]);
    let found = beta.route_candidates(actr_type("alpha"), 8).await.unwrap();
    assert_eq!(found.iter().map(|c| &c.actor).collect::<Vec<_>>(), vec![&alpha_id]);
    let types = beta.discover(Some("acme".into())).await.unwrap();
    assert!(types.contains(&actr_type("alpha")) && types.contains(&actr_type("beta")), "{types:?}");
    assert_eq!(beta.discover(Some("nobody".into())).await.unwrap(), vec![]);

    relay_and_expect(&rt, (&alpha, &alpha_id), (&beta, &beta_id)).await;
    relay_and_expect(&rt, (&beta, &beta_id), (&alpha, &alpha_id)).await;

    // Leaving says goodbye: the subscriber hears about it.
    beta.shutdown().await;
    let down = wait_event(&rt, &alpha_events, |e| match e {
        NodeEvent::Presence { actor, up: false } => Some(actor),
        _ => None,
    })
    .await
    .expect("alpha hears beta leave");
    assert_eq!(down, beta_id);
    let stats = alpha.stats().await.unwrap();
    assert_eq!(stats.events_dropped, 0);
    assert_eq!(stats.signaling.connections, 1);
    alpha.shutdown().await;
    server.stop();
}

async fn nodes_reconnect_after_server_restart<R: Runtime>(rt: R) {
    let dir = TempDir::new("restart");
    let server = serve(&dir);
    let addr = server.local_addr();
    let url = base_url(&server);
    let alpha = start_node(&rt, &url, "alpha", 3).await;
    let beta = start_node(&rt, &url, "beta", 4).await;
    let alpha_id = alpha.wait_connected(actr_e2e::WAIT).await.unwrap();
    let beta_id = beta.wait_connected(actr_e2e::WAIT).await.unwrap();
    relay_and_expect(&rt, (&alpha, &alpha_id), (&beta, &beta_id)).await;

    server.stop();
    for node in [&alpha, &beta] {
        wait_event(&rt, &node.events(), |e| matches!(e, NodeEvent::Disconnected { .. }).then_some(()))
            .await
            .expect("the node notices the server is gone");
    }

    let restarted: ServeHandle = serve_with(ServeConfig::new(addr, dir.path().to_owned()));
    assert_eq!(restarted.local_addr(), addr);
    for (node, id) in [(&alpha, &alpha_id), (&beta, &beta_id)] {
        let back = wait_event(&rt, &node.events(), |e| match e {
            NodeEvent::Connected { actor } => Some(actor),
            _ => None,
        })
        .await
        .expect("the node reconnects");
        assert_eq!(back, *id, "the identity survives the restart");
    }
    relay_and_expect(&rt, (&alpha, &alpha_id), (&beta, &beta_id)).await;
    relay_and_expect(&rt, (&beta, &beta_id), (&alpha, &alpha_id)).await;
    let stats = beta.stats().await.unwrap();
    assert_eq!(stats.signaling.connections, 2);
    assert_eq!(stats.ais_calls, 1, "no new registration was needed");
    alpha.shutdown().await;
    beta.shutdown().await;
    restarted.stop();
}

#[test]
fn refused_registration_is_reported_on_tokio() {
    on_tokio(refused_registration_is_reported);
}

#[test]
fn refused_registration_is_reported_on_smol() {
    on_smol(refused_registration_is_reported);
}

#[test]
fn dropping_every_handle_says_goodbye_on_tokio() {
    on_tokio(dropping_every_handle_says_goodbye);
}

#[test]
fn dropping_every_handle_says_goodbye_on_smol() {
    on_smol(dropping_every_handle_says_goodbye);
}

/// A realm the server does not know: the AIS refuses for good, and the node
/// says so instead of retrying or timing out.
async fn refused_registration_is_reported<R: Runtime>(rt: R) {
    let dir = TempDir::new("refused");
    let server = serve(&dir);
    let mut register = register_request("lost");
    register.realm = Realm(99);
    let config = NodeConfig::new(base_url(&server), register).with_client(test_client_config());
    let node = SignalingNode::start(rt.clone(), config).unwrap();
    let err = node.wait_connected(actr_e2e::WAIT).await.unwrap_err();
    assert!(matches!(err, ActrError::NotFound(_)), "{err:?}");
    let events = node.events();
    let failed = wait_event(&rt, &events, |e| match e {
        NodeEvent::Failed(e) => Some(e),
        _ => None,
    })
    .await
    .unwrap();
    assert_eq!(failed, err);
    node.shutdown().await;
    server.stop();
}

/// A node whose handles are all dropped leaves like one that was shut down.
async fn dropping_every_handle_says_goodbye<R: Runtime>(rt: R) {
    let dir = TempDir::new("dropped");
    let server = serve(&dir);
    let url = base_url(&server);
    let watcher = start_node(&rt, &url, "watcher", 7).await;
    watcher.subscribe(actr_type("gamma")).await.unwrap();
    let gamma = start_node(&rt, &url, "gamma", 8).await;
    let gamma_id = gamma.wait_connected(actr_e2e::WAIT).await.unwrap();
    drop(gamma);
    let events = watcher.events();
    let down = wait_event(&rt, &events, |e| match e {
        NodeEvent::Presence { actor, up: false } => Some(actor),
        _ => None,
    })
    .await
    .expect("the watcher hears gamma leave");
    assert_eq!(down, gamma_id);
    watcher.shutdown().await;
    server.stop();
}
