//! WASM actors against a real `actr serve`: the bundled guests (actr-guests,
//! built for wasm32 by its build script) are packed, signed, verified,
//! attached and called like linked actors: in-process, over the network
//! (WebRTC only where it says so), under the manifest's ACL. Their state
//! survives a restart, and a misbehaving guest costs the caller a typed
//! error, never the node.

use std::sync::Arc;
use std::time::Duration;

use actr_cli::serve::RegistryStore;
use actr_cli::serve::mfr::add_manufacturer;
use actr_core::package::{
    AclRuleEntry, AclSection, PackageLimits, PackageSpec, PermissionField, RealmField, RealmName, VerifiedPackage,
    pack, verify,
};
use actr_core::{ActrError, Dest};
use actr_driver::bytes::Bytes;
use actr_driver::{ActrRef, Hyper, HyperConfig, KeySigner, PackageIdentity, Runtime, WasmLimits};
use actr_e2e::actors::{TestActor, node_config, start_actor};
use actr_e2e::{TempDir, WAIT, actr_type, base_url, on_smol, on_tokio, serve};
use ed25519_dalek::SigningKey;

fn mfr() -> SigningKey {
    SigningKey::from_bytes(&[0x5e; 32])
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// `binary` packed and signed as `acme:<name>:1.0.0`, with `acl` rules if any.
fn package(name: &str, binary: &[u8], acl: Option<AclSection>) -> VerifiedPackage {
    let key = mfr();
    let mut manifest = PackageSpec::new(actr_type(name), "wasm32-unknown-unknown").into_manifest();
    manifest.acl = acl;
    let bytes = pack(&manifest, binary, &[], &key, &mut |_| {}).unwrap();
    verify(&bytes, &key.verifying_key(), &PackageLimits::default()).unwrap()
}

/// A server whose registry knows the test manufacturer.
fn server(dir: &TempDir) -> (actr_cli::serve::ServeHandle, String) {
    let server = serve(dir);
    let store = RegistryStore::open(dir.path()).unwrap();
    add_manufacturer(&store, "acme", &mfr().verifying_key(), unix_now()).unwrap();
    let url = base_url(&server);
    (server, url)
}

async fn attach<R: Runtime>(rt: &R, config: HyperConfig, package: VerifiedPackage) -> ActrRef {
    let identity = PackageIdentity::signed_by(package, Arc::new(KeySigner::new(mfr())));
    let node = Hyper::new(rt.clone(), config).node().attach(identity).await.expect("attaches");
    node.register().await.expect("registers").start().await.expect("starts")
}

fn host_config(url: &str, seed: u64, data: &std::path::Path) -> HyperConfig {
    node_config(url, seed, false).with_data_dir(data)
}

#[test]
fn wasm_echo_answers_in_process_and_remotely_on_tokio() {
    on_tokio(wasm_echo_answers_in_process_and_remotely);
}

#[test]
fn wasm_echo_answers_in_process_and_remotely_on_smol() {
    on_smol(wasm_echo_answers_in_process_and_remotely);
}

async fn wasm_echo_answers_in_process_and_remotely<R: Runtime>(rt: R) {
    let dir = TempDir::new("wasm-echo");
    let (server, url) = server(&dir);
    let echo =
        attach(&rt, host_config(&url, 81, &dir.path().join("host")), package("wasm-echo", actr_guests::ECHO, None))
            .await;
    assert_eq!(echo.call_local("echo.Echo/Say", &b"local"[..]).await.unwrap(), &b"local"[..]);
    assert_eq!(echo.call_local("any.Route/At-all", Bytes::new()).await.unwrap(), Bytes::new());

    let (caller, _) = TestActor::new("caller");
    let caller = start_actor(&rt, node_config(&url, 82, false), caller).await;
    let found = caller.discover(&actr_type("wasm-echo")).await.unwrap();
    assert_eq!(found, vec![echo.id().clone()]);
    let big = Bytes::from(vec![0x42; 256 * 1024]);
    let reply = caller.call(Dest::Peer(echo.id().clone()), "echo.Echo/Say", big.clone(), WAIT).await.unwrap();
    assert_eq!(reply, big);
    caller.tell(Dest::Peer(echo.id().clone()), "echo.Echo/Say", &b"told"[..]).await.unwrap();
    let stats = echo.wasm_stats().expect("a WASM actor has WASM stats");
    assert!(stats.turns >= 3 && stats.rebuilds == 0, "{stats:?}");
    assert!(caller.wasm_stats().is_none());
    caller.shutdown().await;
    echo.shutdown().await;
    server.stop();
}

#[test]
fn the_manifest_acl_guards_a_wasm_actor() {
    on_tokio(|rt| async move {
        let dir = TempDir::new("wasm-acl");
        let (server, url) = server(&dir);
        let rule = AclRuleEntry {
            permission: PermissionField::Allow,
            from_type: "acme:friend:1.0.0".into(),
            realm: RealmField::Named(RealmName::Own),
            verified_only: false,
        };
        let acl = AclSection { rules: vec![rule] };
        let guarded = package("guarded", actr_guests::ECHO, Some(acl));
        let echo = attach(&rt, host_config(&url, 91, &dir.path().join("host")), guarded).await;
        let (friend, _) = TestActor::new("friend");
        let friend = start_actor(&rt, node_config(&url, 92, false), friend).await;
        let (stranger, _) = TestActor::new("stranger");
        let stranger = start_actor(&rt, node_config(&url, 93, false), stranger).await;
        let dest = Dest::Peer(echo.id().clone());
        assert_eq!(friend.call(dest.clone(), "echo.Echo/Say", &b"hi"[..], WAIT).await.unwrap(), &b"hi"[..]);
        // Signaling hides it from the stranger, and a direct call is refused.
        assert!(stranger.discover(&actr_type("guarded")).await.unwrap().is_empty());
        stranger.add_route(echo.id().clone(), echo.ws_address().unwrap()).unwrap();
        let refused = stranger.call(dest, "echo.Echo/Say", &b"hi"[..], WAIT).await.unwrap_err();
        assert!(matches!(refused, ActrError::PermissionDenied(_)), "{refused:?}");
        for node in [&friend, &stranger, &echo] {
            node.shutdown().await;
        }
        server.stop();
    });
}

const INCREMENT: &str = "counter.Counter/Increment";
const GET: &str = "counter.Counter/Get";

fn count(reply: Bytes) -> u64 {
    u64::from_le_bytes(reply.as_ref().try_into().expect("8 bytes"))
}

#[test]
fn the_counter_survives_a_node_restart() {
    on_tokio(|rt| async move {
        let dir = TempDir::new("wasm-counter");
        let (server, url) = server(&dir);
        let data = dir.path().join("host");
        let counter = attach(&rt, host_config(&url, 101, &data), package("counter", actr_guests::COUNTER, None)).await;
        for expected in 1..=3 {
            assert_eq!(count(counter.call_local(INCREMENT, Bytes::new()).await.unwrap()), expected);
        }
        let first = counter.id().clone();
        counter.shutdown().await;

        let again = attach(&rt, host_config(&url, 102, &data), package("counter", actr_guests::COUNTER, None)).await;
        assert_ne!(again.id(), &first, "a new registration");
        assert_eq!(count(again.call_local(GET, Bytes::new()).await.unwrap()), 3);
        assert_eq!(count(again.call_local(INCREMENT, Bytes::new()).await.unwrap()), 4);
        let unknown = again.call_local("counter.Counter/Reset", Bytes::new()).await.unwrap_err();
        assert!(matches!(unknown, ActrError::UnknownRoute(_)), "{unknown:?}");
        again.shutdown().await;
        server.stop();
    });
}

#[test]
fn guests_cannot_reach_each_others_storage() {
    on_tokio(|rt| async move {
        let dir = TempDir::new("wasm-isolation");
        let (server, url) = server(&dir);
        let data = dir.path().join("host");
        let a = attach(&rt, host_config(&url, 111, &data), package("counter-a", actr_guests::COUNTER, None)).await;
        let b = attach(&rt, host_config(&url, 112, &data), package("counter-b", actr_guests::COUNTER, None)).await;
        a.call_local(INCREMENT, Bytes::new()).await.unwrap();
        a.call_local(INCREMENT, Bytes::new()).await.unwrap();
        assert_eq!(count(b.call_local(GET, Bytes::new()).await.unwrap()), 0);
        assert_eq!(count(a.call_local(GET, Bytes::new()).await.unwrap()), 2);
        // Each type has its own database, and nothing lands outside the data dir's actors/.
        for name in ["counter-a", "counter-b"] {
            assert!(data.join("actors/acme").join(name).join("1.0.0.sqlite").is_file(), "{name}'s store");
        }
        let mut stray = Vec::new();
        for entry in std::fs::read_dir(&data).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name != "actors" && name != "instance-uid" {
                stray.push(name);
            }
        }
        assert!(stray.is_empty(), "unexpected files in the data dir: {stray:?}");
        a.shutdown().await;
        b.shutdown().await;
        server.stop();
    });
}

#[test]
fn the_relay_calls_an_echo_on_another_node_over_webrtc() {
    on_tokio(|rt| async move {
        let dir = TempDir::new("wasm-relay");
        let (server, url) = server(&dir);
        // No listeners: WebRTC is the only way between the nodes.
        let config = |seed, sub: &str| host_config(&url, seed, &dir.path().join(sub)).without_ws_listen();
        let echo = attach(&rt, config(121, "echo"), package("wasm-echo", actr_guests::ECHO, None)).await;
        let relay = attach(&rt, config(122, "relay"), package("relay", actr_guests::RELAY, None)).await;
        let reply = relay.call_local("relay.Relay/Forward", &b"acme:wasm-echo:1.0.0\nthrough the relay"[..]).await;
        assert_eq!(reply.unwrap(), &b"through the relay"[..]);
        let stats = relay.stats().await.unwrap();
        assert!(stats.webrtc_sent >= 1 && stats.links_open == 0, "{stats:?}");
        let missing = relay.call_local("relay.Relay/Forward", &b"acme:nobody:1.0.0\nx"[..]).await.unwrap_err();
        assert!(matches!(missing, ActrError::NotFound(_)), "the guest's error kind reaches the caller: {missing:?}");
        relay.shutdown().await;
        echo.shutdown().await;
        server.stop();
    });
}

/// The misbehaving guest on a host with tight limits and a short deadline.
async fn misbehave<R: Runtime>(rt: &R, url: &str, data: &std::path::Path, seed: u64) -> ActrRef {
    let limits = WasmLimits::default()
        .with_fuel_per_turn(5_000_000)
        .with_max_memory_bytes(16 * 1024 * 1024)
        .with_max_requests(4);
    let config = host_config(url, seed, data).with_wasm_limits(limits).with_call_timeout(Duration::from_millis(700));
    attach(rt, config, package("misbehave", actr_guests::MISBEHAVE, None)).await
}

#[test]
fn an_infinite_loop_and_a_memory_bomb_are_typed_errors_and_the_next_call_works() {
    on_tokio(|rt| async move {
        let dir = TempDir::new("wasm-limits");
        let (server, url) = server(&dir);
        let bad = misbehave(&rt, &url, &dir.path().join("host"), 131).await;
        let fuel = bad.call_local("spin", Bytes::new()).await.unwrap_err();
        assert!(matches!(fuel, ActrError::ResourceExhausted(ref m) if m.contains("fuel")), "{fuel:?}");
        assert_eq!(bad.call_local("echo", &b"after the loop"[..]).await.unwrap(), &b"after the loop"[..]);
        let memory = bad.call_local("bomb", Bytes::new()).await.unwrap_err();
        assert!(matches!(memory, ActrError::ResourceExhausted(ref m) if m.contains("memory")), "{memory:?}");
        assert_eq!(bad.call_local("echo", &b"after the bomb"[..]).await.unwrap(), &b"after the bomb"[..]);
        let trap = bad.call_local("panic", Bytes::new()).await.unwrap_err();
        assert!(matches!(trap, ActrError::Internal(ref m) if m.contains("trap")), "{trap:?}");
        assert_eq!(bad.call_local("echo", &b"after the panic"[..]).await.unwrap(), &b"after the panic"[..]);
        assert_eq!(bad.wasm_stats().unwrap().rebuilds, 3, "one new instance per discarded one");
        bad.shutdown().await;
        server.stop();
    });
}

#[test]
fn a_bad_pointer_from_the_guest_is_a_status_code_not_a_crash() {
    on_tokio(|rt| async move {
        let dir = TempDir::new("wasm-pointer");
        let (server, url) = server(&dir);
        let bad = misbehave(&rt, &url, &dir.path().join("host"), 141).await;
        let status = bad.call_local("bad_send", Bytes::new()).await.unwrap();
        assert_eq!(status, actr_core::abi::status::BAD_POINTER.to_string().as_bytes());
        assert_eq!(bad.wasm_stats().unwrap().rebuilds, 0, "the instance lives on");
        assert_eq!(bad.call_local("echo", &b"still here"[..]).await.unwrap(), &b"still here"[..]);
        bad.shutdown().await;
        server.stop();
    });
}

#[test]
fn a_guest_that_never_replies_times_out_and_requests_in_flight_are_bounded() {
    on_tokio(|rt| async move {
        let dir = TempDir::new("wasm-hang");
        let (server, url) = server(&dir);
        let bad = misbehave(&rt, &url, &dir.path().join("host"), 151).await;
        let hung = bad.call_local("hang", Bytes::new()).await.unwrap_err();
        assert_eq!(hung, ActrError::TimedOut);
        // Four may be in flight; a fifth is refused at once.
        let hangs: Vec<_> = (0..4).map(|_| bad.call_local("hang", Bytes::new())).collect();
        // Joined after the four, so its request reaches the actor thread last.
        let (results, fifth) = futures::join!(futures::future::join_all(hangs), bad.call_local("hang", Bytes::new()));
        assert!(matches!(fifth, Err(ActrError::ResourceExhausted(_))), "{fifth:?}");
        assert!(results.iter().all(|r| matches!(r, Err(ActrError::TimedOut))), "{results:?}");
        assert_eq!(bad.call_local("echo", &b"alive"[..]).await.unwrap(), &b"alive"[..]);
        // The five that timed out were cancelled inside the guest too: only
        // the asking handler is in flight, and no instance was rebuilt.
        assert_eq!(bad.call_local("tasks", Bytes::new()).await.unwrap(), &b"1"[..]);
        assert_eq!(bad.wasm_stats().unwrap().rebuilds, 0);
        bad.shutdown().await;
        server.stop();
    });
}
