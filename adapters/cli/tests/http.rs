//! The HTTP surface of `actr serve`: AIS over raw POSTs, status codes, and
//! identities that outlive a restart.

mod common;

use actr_core::Realm;
use actr_core::ais::{self, AisReply, AisRequest, MAX_AIS_BODY, RealmConfig, RenewRequest};
use actr_core::credential::KeyRing;
use actr_core::error::ActrError;
use actr_core::wire::encode_message;
use common::*;

#[test]
fn healthz_answers_ok() {
    let dir = TempDir::new("healthz");
    let server = start(&dir);
    assert_eq!(get(server.local_addr(), "/healthz"), (200, b"ok".to_vec()));
    server.stop();
}

#[test]
fn register_returns_a_credential_that_verifies() {
    let dir = TempDir::new("register");
    let server = start(&dir);
    let addr = server.local_addr();
    let ok = register(addr);
    assert_eq!(ok.actor.realm, Realm(1), "realm 1 exists by default");
    let mut ring = KeyRing::default();
    ring.insert_bytes(ok.signing_key_id, &ok.signing_pubkey).unwrap();
    let claims = ok.credential.verify(&ring, unix_now(), Some(&ok.actor)).expect("credential verifies");
    assert_eq!(claims.expires_at, ok.credential_expires_at);

    let second = register(addr);
    assert!(second.actor.serial > ok.actor.serial, "serials are never reused");

    let key = ais_call(addr, ais::SIGNING_KEY_PATH, &AisRequest::SigningKey { key_id: ok.signing_key_id });
    assert_eq!(key, AisReply::SigningKey { key_id: ok.signing_key_id, pubkey: ok.signing_pubkey.clone() });
    server.stop();
}

#[test]
fn garbage_body_is_400() {
    let dir = TempDir::new("garbage");
    let server = start(&dir);
    let (status, body) = post(server.local_addr(), ais::REGISTER_PATH, b"\x01\xff\xff\xff garbage");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("undecodable"));
    let (status, _) = post(server.local_addr(), ais::RENEW_PATH, b"");
    assert_eq!(status, 400, "an empty body is not a request");
    server.stop();
}

#[test]
fn request_on_the_wrong_path_is_400() {
    let dir = TempDir::new("wrong-path");
    let server = start(&dir);
    let register = encode_message(&register_request(1, None), MAX_AIS_BODY).unwrap();
    let (status, body) = post(server.local_addr(), ais::RENEW_PATH, &register);
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains(ais::REGISTER_PATH));
    server.stop();
}

#[test]
fn oversized_body_is_413() {
    let dir = TempDir::new("oversized");
    let server = start(&dir);
    let (status, _) = post(server.local_addr(), ais::REGISTER_PATH, &vec![1u8; MAX_AIS_BODY + 1]);
    assert_eq!(status, 413);
    // The server still answers afterwards.
    register(server.local_addr());
    server.stop();
}

#[test]
fn realm_secret_from_the_config_is_enforced() {
    let dir = TempDir::new("secret");
    let mut config = config(&dir);
    config.realms = vec![RealmConfig::new(Realm(7), Some("s3cret".into()))];
    let server = actr_cli::serve::ServeHandle::start(config).unwrap();
    let addr = server.local_addr();
    match ais_call(addr, ais::REGISTER_PATH, &register_request(7, None)) {
        AisReply::Error(e) => assert!(matches!(ActrError::from(e), ActrError::PermissionDenied(_))),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        ais_call(addr, ais::REGISTER_PATH, &register_request(7, Some("s3cret"))),
        AisReply::Registered(_)
    ));
    match ais_call(addr, ais::REGISTER_PATH, &register_request(1, None)) {
        AisReply::Error(e) => assert!(matches!(ActrError::from(e), ActrError::NotFound(_)), "no default realm"),
        other => panic!("realm 1 should not exist when realms are configured, got {other:?}"),
    }
    server.stop();
}

#[test]
fn restart_on_the_same_address_renews_an_old_credential() {
    let dir = TempDir::new("restart");
    let server = start(&dir);
    let addr = server.local_addr();
    let old = register(addr);
    server.stop();

    let mut again = config(&dir);
    again.listen = addr;
    let server = actr_cli::serve::ServeHandle::start(again).expect("restart on the same address");
    assert_eq!(server.local_addr(), addr);
    let mut renew = RenewRequest {
        actor: old.actor.clone(),
        renewal_token: old.renewal_token.clone(),
        renewal_token_expires_at: old.renewal_token_expires_at,
        host_key: [0; 32],
        verified: false,
        unix: 0,
        proof: Vec::new(),
    };
    renew.sign(&common::host_key(), unix_now());
    let renew = AisRequest::Renew(renew);
    let renewed = match ais_call(addr, ais::RENEW_PATH, &renew) {
        AisReply::Renewed(ok) => ok,
        other => panic!("expected Renewed, got {other:?}"),
    };
    assert_eq!(renewed.actor, old.actor);
    assert_eq!(renewed.signing_pubkey, old.signing_pubkey, "the signing key survives a restart");
    let mut ring = KeyRing::default();
    ring.insert_bytes(renewed.signing_key_id, &renewed.signing_pubkey).unwrap();
    old.credential.verify(&ring, unix_now(), Some(&old.actor)).expect("the old credential still verifies");
    let fresh = register(addr);
    assert!(fresh.actor.serial > old.actor.serial, "no serial is handed out twice across a restart");
    server.stop();
}

#[tokio::test(flavor = "current_thread")]
async fn start_and_stop_from_inside_a_tokio_runtime() {
    let dir = TempDir::new("in-runtime");
    let server = start(&dir);
    let addr = server.local_addr();
    let health = tokio::task::spawn_blocking(move || get(addr, "/healthz")).await.unwrap();
    assert_eq!(health, (200, b"ok".to_vec()));
    server.stop();
}

#[test]
fn a_busy_address_is_a_bind_error() {
    let dir = TempDir::new("busy");
    let server = start(&dir);
    let mut again = config(&TempDir::new("busy-2"));
    again.listen = server.local_addr();
    match actr_cli::serve::ServeHandle::start(again) {
        Err(actr_cli::serve::ServeError::Bind { addr, .. }) => assert_eq!(addr, server.local_addr()),
        other => panic!("expected a bind error, got {other:?}"),
    }
    server.stop();
}
