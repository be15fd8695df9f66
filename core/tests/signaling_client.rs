//! The signaling client state machine driven directly: reconnect policy,
//! request deadlines, credential renewal and stale connections.

use actr_core::credential::Credential;
use actr_core::proof::{self, HostKey, Statement};
use actr_core::signaling::messages::*;
use actr_core::signaling::{ClientConfig, ClientTransmit, DisconnectReason, SignalingClient, SignalingEvent};
use actr_core::wire::{decode_message, encode_message};
use actr_core::{ActrError, ActrId, Duration, Instant};

fn actor() -> ActrId {
    "a@1/acme:node:1".parse().unwrap()
}

fn cred(n: u8) -> Credential {
    Credential { key_id: 1, claims: vec![n], signature: vec![n; 64] }
}

fn host_key() -> HostKey {
    HostKey::from_seed([12; 32])
}

fn client() -> SignalingClient {
    let mut c = SignalingClient::new(ClientConfig::default(), 42, ActorProfile::default(), host_key());
    c.set_identity(Instant::ZERO, 1_000, actor(), cred(1), 1_000 + 3_600);
    c.start(Instant::ZERO).unwrap();
    c
}

fn transmits(c: &mut SignalingClient) -> Vec<ClientTransmit> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

fn events(c: &mut SignalingClient) -> Vec<SignalingEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn sent(ts: &[ClientTransmit]) -> Vec<ClientMsg> {
    ts.iter()
        .filter_map(|t| match t {
            ClientTransmit::Send { bytes, .. } => Some(decode_message(bytes, MAX_SIGNALING_FRAME).unwrap()),
            _ => None,
        })
        .collect()
}

fn frame(msg: &ServerMsg) -> Vec<u8> {
    encode_message(msg, MAX_SIGNALING_FRAME).unwrap()
}

fn connect_id(ts: &[ClientTransmit]) -> u64 {
    ts.iter()
        .find_map(|t| match t {
            ClientTransmit::Connect { conn } => Some(*conn),
            _ => None,
        })
        .expect("a Connect transmit")
}

/// The server's challenge arrives on `conn`: the client answers with its hello.
fn challenge(c: &mut SignalingClient, now: Instant, conn: u64) -> Vec<ClientMsg> {
    c.handle_frame(now, conn, &frame(&ServerMsg::Challenge { nonce: [conn as u8; 32] }));
    sent(&transmits(c))
}

/// Connects and completes the hello; returns the connection id.
fn welcome(c: &mut SignalingClient, now: Instant) -> u64 {
    let conn = connect_id(&transmits(c));
    c.handle_connected(now, conn);
    assert!(transmits(c).is_empty(), "the server speaks first");
    assert!(matches!(challenge(c, now, conn).as_slice(), [ClientMsg::Hello { .. }]));
    c.handle_frame(now, conn, &frame(&ServerMsg::Welcome { actor: actor(), heartbeat_interval_ms: 10_000 }));
    conn
}

fn request_ids(msgs: &[ClientMsg]) -> Vec<u64> {
    msgs.iter()
        .filter_map(|m| match m {
            ClientMsg::Signed { body: ClientBody::Request { id, .. }, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

#[test]
fn requests_made_offline_go_out_after_welcome() {
    let mut c = client();
    let t0 = Instant::ZERO;
    let id = c.request(t0, ClientRequest::Discover { manufacturer: None, limit: 4 }).unwrap();
    let conn = connect_id(&transmits(&mut c));
    c.handle_connected(t0, conn);
    let _hello = challenge(&mut c, t0, conn);
    c.handle_frame(t0, conn, &frame(&ServerMsg::Welcome { actor: actor(), heartbeat_interval_ms: 10_000 }));
    assert_eq!(request_ids(&sent(&transmits(&mut c))), vec![id]);
    c.handle_frame(t0, conn, &frame(&ServerMsg::Reply { id, result: Ok(ServerReply::Discovered(vec![])) }));
    let ev = events(&mut c);
    assert!(ev.contains(&SignalingEvent::Reply { id, result: Ok(ServerReply::Discovered(vec![])) }));
    assert!(ev.iter().any(|e| matches!(e, SignalingEvent::Connected { .. })));
}

#[test]
fn failed_attempts_back_off_with_jitter_then_cool_down() {
    let mut c = client();
    let mut now = Instant::ZERO;
    let mut delays = Vec::new();
    loop {
        let conn = connect_id(&transmits(&mut c));
        c.handle_connect_failed(now, conn, "refused");
        if events(&mut c).iter().any(|e| matches!(e, SignalingEvent::GaveUp { .. })) {
            break;
        }
        let next = c.poll_timeout().unwrap();
        delays.push(next.saturating_since(now).as_millis());
        now = next;
        c.handle_timeout(now);
    }
    assert_eq!(delays.len(), 10, "ten retries, then a cooldown: {delays:?}");
    assert!((700..=1300).contains(&delays[0]), "{delays:?}");
    assert!((1400..=2600).contains(&delays[1]), "{delays:?}");
    assert!(delays.iter().all(|d| *d <= 78_000), "capped at 60 s + 30 %: {delays:?}");
    let cooldown_end = c.poll_timeout().unwrap();
    assert_eq!(cooldown_end.saturating_since(now), Duration::from_secs(120));
    c.handle_timeout(cooldown_end);
    assert!(matches!(transmits(&mut c).as_slice(), [ClientTransmit::Connect { .. }]), "a new cycle starts");
}

#[test]
fn request_times_out_once_and_late_reply_is_ignored() {
    let mut c = client();
    let conn = welcome(&mut c, Instant::ZERO);
    let id = c.request(Instant::ZERO, ClientRequest::Ping).unwrap();
    let _ = transmits(&mut c);
    let _ = events(&mut c);
    let deadline = Instant::ZERO + ClientConfig::default().request_timeout;
    c.handle_timeout(deadline);
    let ev = events(&mut c);
    assert_eq!(ev, vec![SignalingEvent::Reply { id, result: Err(ActrError::TimedOut) }]);
    c.handle_frame(deadline, conn, &frame(&ServerMsg::Reply { id, result: Ok(ServerReply::Pong) }));
    assert!(events(&mut c).is_empty(), "exactly one result per request");
    assert_eq!(c.stats().requests_timed_out, 1);
}

#[test]
fn refused_credential_holds_requests_until_renewed() {
    let mut c = client();
    let conn = welcome(&mut c, Instant::ZERO);
    let _ = events(&mut c);
    let id = c.request(Instant::ZERO, ClientRequest::Ping).unwrap();
    let _ = transmits(&mut c);
    let refused = actr_core::error::ErrorReply::from(ActrError::Unauthenticated("expired".into()));
    c.handle_frame(Instant::ZERO, conn, &frame(&ServerMsg::Reply { id, result: Err(refused) }));
    assert_eq!(events(&mut c), vec![SignalingEvent::CredentialNeeded]);
    assert!(transmits(&mut c).is_empty(), "nothing is resent with the old credential");
    c.set_identity(Instant::ZERO, 1_000, actor(), cred(2), 9_000);
    let resent = sent(&transmits(&mut c));
    assert_eq!(request_ids(&resent), vec![id]);
    assert!(matches!(&resent[0], ClientMsg::Signed { credential, .. } if *credential == cred(2)));
    c.handle_frame(Instant::ZERO, conn, &frame(&ServerMsg::Reply { id, result: Ok(ServerReply::Pong) }));
    assert_eq!(events(&mut c), vec![SignalingEvent::Reply { id, result: Ok(ServerReply::Pong) }]);
}

#[test]
fn credential_is_asked_for_before_it_expires() {
    let mut c = client();
    let _ = welcome(&mut c, Instant::ZERO);
    let _ = events(&mut c);
    // Expiry 3600 s after issue, margin 60 s.
    let t = Instant::ZERO + Duration::from_secs(3_540);
    let mut now = Instant::ZERO;
    while now < t {
        now = c.poll_timeout().unwrap().min(t);
        c.handle_timeout(now);
        // Keep the connection alive: answer pings.
        for m in sent(&transmits(&mut c)) {
            if let ClientMsg::Signed { body: ClientBody::Request { id, .. }, .. } = m {
                c.handle_frame(now, 1, &frame(&ServerMsg::Reply { id, result: Ok(ServerReply::Pong) }));
            }
        }
        if events(&mut c).contains(&SignalingEvent::CredentialNeeded) {
            assert_eq!(now, t);
            return;
        }
    }
    panic!("no CredentialNeeded by {t:?}");
}

#[test]
fn silence_from_server_disconnects_and_reconnects() {
    let mut c = client();
    let conn = welcome(&mut c, Instant::ZERO);
    let _ = events(&mut c);
    for _ in 0..10 {
        let now = c.poll_timeout().unwrap();
        c.handle_timeout(now);
        if events(&mut c).contains(&SignalingEvent::Disconnected { reason: DisconnectReason::PongTimeout }) {
            // 2.5 heartbeat intervals of 10 s.
            assert_eq!(now, Instant::ZERO + Duration::from_secs(25));
            let ts = transmits(&mut c);
            assert!(ts.contains(&ClientTransmit::Close { conn }));
            let retry = c.poll_timeout().unwrap();
            c.handle_timeout(retry);
            assert!(matches!(transmits(&mut c).as_slice(), [ClientTransmit::Connect { conn: next }] if *next != conn));
            return;
        }
        let _ = transmits(&mut c);
    }
    panic!("never timed out");
}

#[test]
fn events_from_a_stale_connection_are_ignored() {
    let mut c = client();
    let old = welcome(&mut c, Instant::ZERO);
    c.handle_closed(Instant::ZERO, old);
    let retry = c.poll_timeout().unwrap();
    c.handle_timeout(retry);
    let _ = events(&mut c);
    let new = connect_id(&transmits(&mut c));
    assert_ne!(old, new);
    // Late traffic from the old socket changes nothing.
    c.handle_frame(retry, old, &frame(&ServerMsg::Welcome { actor: actor(), heartbeat_interval_ms: 1 }));
    c.handle_closed(retry, old);
    assert!(events(&mut c).is_empty());
    assert!(!c.is_connected());
    c.handle_connected(retry, new);
    assert!(matches!(challenge(&mut c, retry, new).as_slice(), [ClientMsg::Hello { .. }]));
}

#[test]
fn the_hello_signs_the_challenge_once() {
    let mut c = client();
    let conn = connect_id(&transmits(&mut c));
    c.handle_connected(Instant::ZERO, conn);
    let sent: [ClientMsg; 1] = challenge(&mut c, Instant::ZERO, conn).try_into().expect("one message");
    let [ClientMsg::Hello { actor: who, proof, .. }] = sent else { panic!("a hello") };
    let nonce = [conn as u8; 32];
    let statement = Statement::SignalingHello { nonce: &nonce, actor: &who };
    assert_eq!(proof::verify(&host_key().public(), &statement, &proof), Ok(()));
    assert_eq!(who, actor());
    // A second challenge on the same connection is a protocol error, not a second hello.
    assert!(challenge(&mut c, Instant::ZERO, conn).is_empty());
    assert_eq!(c.stats().errors, 1);
}

#[test]
fn pending_table_is_bounded_and_stop_fails_everything() {
    let config = ClientConfig { max_pending: 3, ..Default::default() };
    let mut c = SignalingClient::new(config, 1, ActorProfile::default(), host_key());
    c.set_identity(Instant::ZERO, 0, actor(), cred(1), 100);
    c.start(Instant::ZERO).unwrap();
    let ids: Vec<u64> = (0..3).map(|_| c.request(Instant::ZERO, ClientRequest::Ping).unwrap()).collect();
    assert!(matches!(c.request(Instant::ZERO, ClientRequest::Ping), Err(ActrError::ResourceExhausted(_))));
    let big = ClientRequest::Relay { target: actor(), payload: vec![0; MAX_RELAY_PAYLOAD + 1] };
    assert!(matches!(c.request(Instant::ZERO, big), Err(ActrError::InvalidArgument(_))));
    let _ = events(&mut c);
    c.stop(Instant::ZERO);
    let failed: Vec<u64> = events(&mut c)
        .into_iter()
        .filter_map(|e| match e {
            SignalingEvent::Reply { id, result: Err(ActrError::Unavailable(_)) } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ids);
    assert!(matches!(c.request(Instant::ZERO, ClientRequest::Ping), Err(ActrError::Unavailable(_))));
}

#[test]
fn same_seed_same_behaviour() {
    let run = || {
        let mut c = client();
        let mut trace = Vec::new();
        let mut now = Instant::ZERO;
        for _ in 0..5 {
            let conn = connect_id(&transmits(&mut c));
            c.handle_connect_failed(now, conn, "x");
            now = c.poll_timeout().unwrap();
            trace.push(now);
            c.handle_timeout(now);
        }
        trace
    };
    assert_eq!(run(), run());
}

#[test]
fn a_fresh_credential_refused_again_waits_for_backoff() {
    let mut c = client();
    let refuse = |c: &mut SignalingClient, now: Instant| {
        let conn = connect_id(&transmits(c));
        c.handle_connected(now, conn);
        let _hello = challenge(c, now, conn);
        let refused = actr_core::error::ErrorReply::from(ActrError::Unauthenticated("expired".into()));
        c.handle_frame(now, conn, &frame(&ServerMsg::Error(refused)));
        assert!(events(c).contains(&SignalingEvent::CredentialNeeded));
    };
    refuse(&mut c, Instant::ZERO);
    let _ = transmits(&mut c);
    // The first renewal reconnects at once.
    c.set_identity(Instant::ZERO, 1_000, actor(), cred(2), 4_600);
    refuse(&mut c, Instant::ZERO);
    let _ = transmits(&mut c);
    // Refused again: the next renewal backs off before connecting.
    c.set_identity(Instant::ZERO, 1_000, actor(), cred(3), 4_600);
    assert!(transmits(&mut c).iter().all(|t| !matches!(t, ClientTransmit::Connect { .. })));
    let retry = c.poll_timeout().unwrap();
    assert!(retry.saturating_since(Instant::ZERO) >= Duration::from_millis(700), "{retry:?}");
    c.handle_timeout(retry);
    assert!(matches!(transmits(&mut c).as_slice(), [ClientTransmit::Connect { .. }]));
}
