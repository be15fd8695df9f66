//! What proof of possession costs a hello. The step-3 hello was a bearer
//! check: decode the hello, verify the credential. Now the client also
//! signs the server's challenge with its host key, and the server verifies
//! that signature against the key the credential binds. Rows: the bearer
//! check alone (the step-3 baseline), the full proof-of-possession check on
//! the server, and the client's signature; ratios against the baseline.

use std::time::Instant;

use actr_core::ais::{AisConfig, AisReply, AisRequest, AisService, RealmConfig, RegisterRequest};
use actr_core::proof::{HostKey, Statement};
use actr_core::signaling::ClientMsg;
use actr_core::signaling::messages::MAX_SIGNALING_FRAME;
use actr_core::wire::{decode_message, encode_message};
use actr_core::{ActrId, Realm};

use crate::report::Row;

const HELLOS: usize = 5_000;

pub fn rows() -> Vec<Row> {
    let mut ais = AisService::new([3; 32], 1, 1, AisConfig::default());
    ais.upsert_realm(RealmConfig::new(Realm(1), None)).expect("realm");
    let key = HostKey::from_seed([4; 32]);
    let mut request = RegisterRequest::new(crate::actr_type("hello"), Realm(1), None);
    request.sign(&key);
    let AisReply::Registered(ok) = ais.handle(1_000, AisRequest::Register(request)) else { panic!("registers") };
    let ring = ais.key_ring();
    let nonce = [7; 32];
    let sign = |actor: &ActrId| key.sign(&Statement::SignalingHello { nonce: &nonce, actor });
    let hello = ClientMsg::Hello {
        actor: ok.actor.clone(),
        credential: ok.credential.clone(),
        profile: Default::default(),
        proof: sign(&ok.actor),
    };
    let bytes = encode_message(&hello, MAX_SIGNALING_FRAME).expect("encodes");

    let check = |with_proof: bool| {
        let started = Instant::now();
        for _ in 0..HELLOS {
            let Ok(ClientMsg::Hello { actor, credential, proof, .. }) = decode_message(&bytes, MAX_SIGNALING_FRAME)
            else {
                panic!("decodes")
            };
            let checked = if with_proof {
                let statement = Statement::SignalingHello { nonce: &nonce, actor: &actor };
                credential.verify_possession(&ring, 1_001, Some(&actor), &statement, &proof).map(|_| ())
            } else {
                credential.verify(&ring, 1_001, Some(&actor)).map(|_| ())
            };
            assert!(checked.is_ok());
        }
        started.elapsed()
    };
    let bearer_took = check(false);
    let bearer = Row::throughput("hello: server check, credential only (step 3)", "core", HELLOS, bearer_took);
    let pop = Row::throughput("hello: server check with proof of possession", "core", HELLOS, check(true))
        .rate_against(&bearer, "two Ed25519 verifications instead of one");
    let started = Instant::now();
    for _ in 0..HELLOS {
        assert_eq!(sign(&ok.actor).len(), 64);
    }
    let signing = Row::throughput("hello: client proof (host-key signature)", "core", HELLOS, started.elapsed())
        .rate_against(&bearer, "once per connection");
    vec![bearer, pop, signing]
}
