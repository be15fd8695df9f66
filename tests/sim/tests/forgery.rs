//! A hostile node tries to speak for others.
//!
//! Node 0 is hostile, node 1 is impersonated, node 2 is the relay target and
//! node 3 a bystander. On its own connection node 0 sends hand-built frames:
//! 1. `Signed { source: node 1, credential: node 0's own, Relay to node 2 }`:
//!    it gets a reply with code PermissionDenied, the server counts a forged
//!    relay, and node 2 receives nothing;
//! 2. `Signed { source: node 0, credential: signed by another key, Relay to
//!    node 2 }`: it gets a reply with code Unauthenticated and node 2 again
//!    receives nothing.
//!
//! Afterwards the honest nodes keep working: all online, every request
//! resolved exactly once, every acknowledged relay delivered, and only
//! relays their senders issued arrive.

use actr_core::ais::{AisConfig, AisReply, AisRequest, AisService, RealmConfig, RegisterRequest};
use actr_core::credential::Credential;
use actr_core::error::ErrorReply;
use actr_core::signaling::messages::MAX_SIGNALING_FRAME;
use actr_core::signaling::{ClientBody, ClientMsg, ClientRequest, ServerMsg};
use actr_core::wire::encode_message;
use actr_core::{ActrError, ActrId, Duration};
use actr_sim::{Sim, SimConfig, Workload, at_secs, check, ensure, sweep};

const IMPERSONATION_ID: u64 = 900_001;
const FORGED_KEY_ID: u64 = 900_002;

fn relay_frame(request_id: u64, source: ActrId, credential: Credential, target: ActrId, payload: &[u8]) -> Vec<u8> {
    let request = ClientRequest::Relay { target, payload: payload.to_vec() };
    let msg = ClientMsg::Signed { source, credential, body: ClientBody::Request { id: request_id, request } };
    encode_message(&msg, MAX_SIGNALING_FRAME).expect("small frame encodes")
}

/// A credential for `actor` signed by a key the server does not trust, under
/// the server's key id: another AIS told to hand out the same serial.
fn forged_credential(sim: &Sim, actor: &ActrId) -> Result<Credential, String> {
    let key_id = sim.server().ok_or("server down")?.ais().key_id();
    let mut rogue = AisService::new([0x42; 32], key_id, actor.serial, AisConfig::default());
    rogue.upsert_realm(RealmConfig::new(actor.realm, None)).map_err(|e| e.to_string())?;
    let mut request = RegisterRequest::new(actor.actr_type.clone(), actor.realm, None);
    request.sign(&actr_core::proof::HostKey::from_seed([0x43; 32]));
    match rogue.handle(sim.unix(), AisRequest::Register(request)) {
        AisReply::Registered(ok) if ok.actor == *actor => Ok(ok.credential),
        other => Err(format!("rogue AIS answered {other:?}")),
    }
}

fn error_reply(sim: &Sim, id: u64) -> Option<ErrorReply> {
    sim.node(0).log().wire.iter().find_map(|(_, m)| match m {
        ServerMsg::Reply { id: got, result: Err(e) } if *got == id => Some(e.clone()),
        _ => None,
    })
}

fn scenario(seed: u64) -> Result<(), String> {
    let mut sim = Sim::new(SimConfig::new(seed).nodes(4));
    sim.tap(0, true);
    sim.set_workload(Workload::Steady { every: Duration::from_secs(1), relays: true });
    sim.set_node_workload(0, Workload::Idle);
    ensure(sim.run_until(at_secs(60), check::all_online), || format!("not online: {}", check::describe(&sim)))?;
    let id = |i: usize| sim.node(i).actor().cloned().ok_or(format!("node {i} has no identity"));
    let (hostile, victim, target) = (id(0)?, id(1)?, id(2)?);
    let own = sim.node(0).registration().map(|c| c.credential.clone()).ok_or("no credential")?;

    let impersonation = relay_frame(IMPERSONATION_ID, victim, own, target.clone(), b"forged: impersonation");
    sim.inject_frame(0, impersonation)?;
    let forged = forged_credential(&sim, &hostile)?;
    sim.inject_frame(0, relay_frame(FORGED_KEY_ID, hostile, forged, target, b"forged: bad key"))?;
    sim.run_for(Duration::from_secs(60));

    let denied = ActrError::PermissionDenied(String::new()).code();
    let unauthenticated = ActrError::Unauthenticated(String::new()).code();
    let got = error_reply(&sim, IMPERSONATION_ID).map(|e| e.code);
    ensure(got == Some(denied), || format!("impersonation answered {got:?}, want {denied}"))?;
    let got = error_reply(&sim, FORGED_KEY_ID).map(|e| e.code);
    ensure(got == Some(unauthenticated), || format!("forged credential answered {got:?}, want {unauthenticated}"))?;
    let forged_in = sim.nodes().flat_map(|n| &n.log().relays_in).filter(|(_, _, p)| p.starts_with(b"forged")).count();
    ensure(forged_in == 0, || format!("{forged_in} forged relay(s) were delivered"))?;
    let stats = sim.server().ok_or("server down")?.stats();
    ensure(stats.forged_relays >= 1, || format!("server did not count the forged relay: {stats:?}"))?;
    ensure(stats.auth_failures >= 1, || format!("server did not count the bad credential: {stats:?}"))?;

    ensure(check::all_online(&sim), || format!("honest nodes disturbed: {}", check::describe(&sim)))?;
    sim.set_workload(Workload::Idle);
    sim.run_for(sim.config().client.request_timeout + Duration::from_secs(1));
    check::ledgers_ok(&sim)?;
    let relays = check::relay_report(&sim)?;
    ensure(relays.lost == 0 && relays.acked >= 30, || format!("honest relays disturbed: {relays:?}"))
}

#[test]
fn forged_relay_refused() {
    sweep("forged_relay_refused", scenario);
}
