//! A raw WebSocket client misbehaves against a real `actr serve`; each abuse
//! gets a typed error or a clean close, and valid nodes keep working. Among
//! them: a real node's credential, captured, shown with the thief's own
//! proof of possession.

use actr_cli::serve::ServeConfig;
use actr_core::error::ErrorReply;
use actr_core::signaling::messages::MAX_SIGNALING_FRAME;
use actr_core::signaling::{ClientBody, ClientMsg, ClientRequest, ServerMsg};
use actr_core::wire::{WIRE_VERSION, encode_message};
use actr_core::{ActrError, ActrId};
use actr_driver::{NodeEvent, Runtime, SignalingHandle};
use actr_e2e::raw::{RawClient, Received, host_key, register, signaling_hello};
use actr_e2e::{TempDir, actr_type, base_url, on_smol, on_tokio, register_request, serve, serve_with, start_node};

#[test]
fn bad_input_is_refused_and_valid_nodes_keep_working_on_tokio() {
    on_tokio(bad_input_is_refused_and_valid_nodes_keep_working);
}

#[test]
fn bad_input_is_refused_and_valid_nodes_keep_working_on_smol() {
    on_smol(bad_input_is_refused_and_valid_nodes_keep_working);
}

fn expect_error(received: Received) -> ActrError {
    match received {
        Received::Msg(ServerMsg::Error(e)) => e.into(),
        other => panic!("expected a typed error, got {other:?}"),
    }
}

fn expect_reply_error(received: Received, want_id: u64) -> ActrError {
    match received {
        Received::Msg(ServerMsg::Reply { id, result: Err(e) }) if id == want_id => e.into(),
        other => panic!("expected an error reply to {want_id}, got {other:?}"),
    }
}

fn signed(
    source: &ActrId,
    credential: &actr_core::credential::Credential,
    id: u64,
    request: ClientRequest,
) -> ClientMsg {
    ClientMsg::Signed {
        source: source.clone(),
        credential: credential.clone(),
        body: ClientBody::Request { id, request },
    }
}

async fn bad_input_is_refused_and_valid_nodes_keep_working<R: Runtime>(rt: R) {
    let dir = TempDir::new("bad-input");
    let server = serve(&dir);
    let url = base_url(&server);
    let alpha = start_node(&rt, &url, "alpha", 5).await;
    let beta = start_node(&rt, &url, "beta", 6).await;
    let alpha_id = alpha.wait_connected(actr_e2e::WAIT).await.unwrap();
    let beta_id = beta.wait_connected(actr_e2e::WAIT).await.unwrap();
    let addr = server.local_addr();

    // Garbage after a valid version byte: a decode failure, and the socket stays usable.
    let mallory = register(&url, register_request("mallory"));
    let mut raw = RawClient::connect(addr);
    raw.send_bytes(vec![WIRE_VERSION, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert!(matches!(expect_error(raw.recv()), ActrError::DecodeFailure(_)));
    raw.hello(&mallory);

    // A forged source, with mallory's own valid credential: refused, nothing relayed.
    let forged = signed(&alpha_id, &mallory.credential, 7, relay_request(&beta_id, b"forged"));
    raw.send_msg(&forged);
    assert!(matches!(expect_reply_error(raw.recv(), 7), ActrError::PermissionDenied(_)));
    // Mallory's honest requests still work on the same connection.
    raw.send_msg(&signed(&mallory.actor, &mallory.credential, 8, ClientRequest::Ping));
    assert!(matches!(raw.recv(), Received::Msg(ServerMsg::Reply { id: 8, result: Ok(_) })));

    // A wrong envelope version: a typed refusal.
    let mut raw2 = RawClient::connect(addr);
    let nonce = raw2.challenge();
    let mut wrong_version =
        encode_message(&signaling_hello(&mallory.actor, &mallory.credential, &nonce, &host_key()), MAX_SIGNALING_FRAME)
            .unwrap();
    wrong_version[0] = WIRE_VERSION.wrapping_add(1);
    raw2.send_bytes(wrong_version);
    assert!(matches!(expect_error(raw2.recv()), ActrError::InvalidArgument(_)));

    // Another actor's id with mallory's credential in a hello: refused, then closed.
    let victim = register(&url, register_request("victim"));
    raw2.send_msg(&signaling_hello(&victim.actor, &mallory.credential, &nonce, &host_key()));
    assert!(matches!(expect_error(raw2.recv()), ActrError::Unauthenticated(_)));
    assert!(matches!(raw2.recv(), Received::Closed(_)));

    // Alpha's real credential, as a peer or a proxy saw it, with mallory's
    // own signature over a fresh challenge: refused, and alpha stays bound.
    let captured = alpha.wait_registered(actr_e2e::WAIT).await.unwrap().credential;
    let mut raw5 = RawClient::connect(addr);
    let nonce = raw5.challenge();
    raw5.send_msg(&signaling_hello(&alpha_id, &captured, &nonce, &host_key()));
    let e = expect_error(raw5.recv());
    assert!(matches!(e, ActrError::Unauthenticated(ref m) if m.contains("possession")), "{e:?}");
    assert!(matches!(raw5.recv(), Received::Closed(_)));

    // An oversized message: refused as too large, or the socket closed.
    let mut raw3 = RawClient::connect(addr);
    // The server may hang up before the whole message is written.
    let sent = raw3.try_send_bytes(vec![WIRE_VERSION; MAX_SIGNALING_FRAME + 1]);
    match if sent.is_ok() { raw3.recv() } else { Received::Closed(None) } {
        Received::Closed(_) => {}
        Received::Msg(ServerMsg::Error(e)) => assert!(matches!(ActrError::from(e), ActrError::InvalidArgument(_))),
        other => panic!("oversized message: {other:?}"),
    }

    // Persistent garbage: one typed error each, then the server hangs up.
    let mut raw4 = RawClient::connect(addr);
    let closed_after = strikes_until_closed(&mut raw4);
    assert!((1..=64).contains(&closed_after), "closed after {closed_after} malformed messages");

    // The valid nodes never noticed.
    expect_relay(&rt, &alpha, &alpha_id, &beta, &beta_id).await;
    expect_relay(&rt, &beta, &beta_id, &alpha, &alpha_id).await;
    let found = alpha.route_candidates(actr_type("beta"), 8).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(alpha.stats().await.unwrap().signaling.disconnections, 0);
    drop((raw, raw3, raw4));
    alpha.shutdown().await;
    beta.shutdown().await;
    server.stop();
}

fn relay_request(target: &ActrId, payload: &[u8]) -> ClientRequest {
    ClientRequest::Relay { target: target.clone(), payload: payload.to_vec() }
}

/// Sends malformed messages until the server closes; returns how many it took.
fn strikes_until_closed(raw: &mut RawClient) -> usize {
    for sent in 1..=64 {
        raw.send_bytes(vec![WIRE_VERSION, 0xff, 0xff, 0xff]);
        match raw.recv() {
            Received::Msg(ServerMsg::Error(ErrorReply { code, .. })) => {
                assert_eq!(code, ActrError::DecodeFailure(String::new()).code());
            }
            Received::Closed(_) => return sent,
            other => panic!("malformed message {sent}: {other:?}"),
        }
    }
    usize::MAX
}

/// A relay from `from` arrives at `to` with exactly the payload sent (so a
/// forged relay that slipped through would fail this).
async fn expect_relay<R: Runtime>(
    rt: &R,
    from: &SignalingHandle,
    from_id: &ActrId,
    to: &SignalingHandle,
    to_id: &ActrId,
) {
    let payload = b"honest".to_vec();
    from.relay(to_id.clone(), payload.clone()).await.unwrap();
    let events = to.events();
    let got = actr_e2e::wait_event(rt, &events, |e| match e {
        NodeEvent::Relay { source, payload } if source == *from_id => Some(payload),
        _ => None,
    })
    .await
    .unwrap();
    assert_eq!(got, payload);
}

/// A credential with a lifetime of zero is expired the moment it is issued:
/// a dedicated server issues such credentials, and refuses them at hello.
/// No clock is waited on.
#[test]
fn expired_credential_is_refused_and_the_server_keeps_serving() {
    let dir = TempDir::new("expired");
    let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().to_owned());
    config.ais.credential_ttl_secs = 0;
    let server = serve_with(config);
    let url = base_url(&server);
    for attempt in 0..2 {
        let ok = register(&url, register_request("late"));
        let claims = ok.credential.peek_claims().unwrap();
        let unix_now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert!(claims.expires_at <= unix_now, "issued already expired");
        let mut raw = RawClient::connect(server.local_addr());
        let nonce = raw.challenge();
        raw.send_msg(&signaling_hello(&ok.actor, &ok.credential, &nonce, &host_key()));
        let e = expect_error(raw.recv());
        assert!(matches!(e, ActrError::Unauthenticated(ref m) if m.contains("expired")), "attempt {attempt}: {e:?}");
        assert!(matches!(raw.recv(), Received::Closed(_)), "attempt {attempt}: refused hello closes");
    }
    server.stop();
}
