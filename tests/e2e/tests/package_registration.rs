//! Package registration against a real `actr serve`: the host registers its
//! actor as a signed package, with a fresh manufacturer proof for an
//! unpublished one; the AIS marks the credential verified, and an ACL that
//! requires a verified type admits that actor and refuses a linked actor of
//! the same name. A replayed manufacturer proof and a stale one are refused.
//! Runs under tokio and smol.

use std::sync::Arc;

use actr_cli::serve::RegistryStore;
use actr_cli::serve::mfr::add_manufacturer;
use actr_core::acl::{Acl, RealmSelector};
use actr_core::ais::{AisReply, AisRequest, MFR_PROOF_MAX_AGE_SECS, ManufacturerProof};
use actr_core::package::{PackageLimits, PackageSpec, VerifiedPackage, pack, verify};
use actr_core::proof::HostKey;
use actr_core::{ActrError, Realm};
use actr_driver::bytes::Bytes;
use actr_driver::{AisHttpClient, Hyper, KeySigner, PackageIdentity, Runtime, run_blocking};
use actr_e2e::actors::{TestActor, node_config, start_actor};
use actr_e2e::{TempDir, WAIT, actr_type, base_url, on_smol, on_tokio, serve};
use ed25519_dalek::SigningKey;

#[test]
fn a_package_registers_verified_and_passes_a_verified_only_acl_on_tokio() {
    on_tokio(a_package_registers_verified_and_passes_a_verified_only_acl);
}

#[test]
fn a_package_registers_verified_and_passes_a_verified_only_acl_on_smol() {
    on_smol(a_package_registers_verified_and_passes_a_verified_only_acl);
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A signed package of `acme:billing:1.0.0` and its manufacturer's key.
fn billing_package() -> (SigningKey, VerifiedPackage) {
    let mfr = SigningKey::from_bytes(&[0x4d; 32]);
    let spec = PackageSpec::new(actr_type("billing"), "wasm32-unknown-unknown");
    let bytes = pack(&spec.into_manifest(), b"\0asm", &[], &mfr, &mut |_| {}).unwrap();
    (mfr.clone(), verify(&bytes, &mfr.verifying_key(), &PackageLimits::default()).unwrap())
}

async fn a_package_registers_verified_and_passes_a_verified_only_acl<R: Runtime>(rt: R) {
    let dir = TempDir::new("package-registration");
    let server = serve(&dir);
    let url = base_url(&server);
    let (mfr, package) = billing_package();
    let store = RegistryStore::open(dir.path()).unwrap();
    add_manufacturer(&store, "acme", &mfr.verifying_key(), unix_now()).unwrap();

    let acl = Acl::default().allow_verified(actr_type("billing"), RealmSelector::Own);
    let (vault, vault_probe) = TestActor::new("vault");
    let vault = start_actor(&rt, node_config(&url, 61, false), vault.with_acl(acl)).await;

    // The unpublished package registers with a proof the host asks the
    // manufacturer's signer for.
    let identity = PackageIdentity::signed_by(package.clone(), Arc::new(KeySigner::new(mfr.clone())));
    let (billing, _) = TestActor::new("billing");
    let node = Hyper::new(rt.clone(), node_config(&url, 62, false)).node().link_package(identity, billing).unwrap();
    let signed = node.register().await.expect("a package registers").start().await.unwrap();
    let reply = signed.call(vault.id().clone(), "echo", &b"invoice"[..], WAIT).await.unwrap();
    assert_eq!(reply, Bytes::from_static(b"invoice"));

    // A linked actor of the same name does not get in: signaling hides the
    // vault, and the vault refuses it when dialed directly.
    let (namesake, _) = TestActor::new("billing");
    let linked = start_actor(&rt, node_config(&url, 63, false), namesake).await;
    assert_eq!(linked.discover(&actr_type("vault")).await.unwrap(), vec![], "hidden by signaling");
    linked.add_route(vault.id().clone(), vault.ws_address().unwrap()).unwrap();
    let refused = linked.call(vault.id().clone(), "echo", &b"invoice"[..], WAIT).await.unwrap_err();
    assert!(matches!(refused, ActrError::PermissionDenied(_)), "{refused:?}");
    assert_eq!(vault_probe.log(), ["start", "ready", "handle:echo"], "only the package was handled");

    // Without a proof, an unpublished package is refused.
    let (unsigned, _) = TestActor::new("billing");
    let node = Hyper::new(rt.clone(), node_config(&url, 64, false))
        .node()
        .link_package(PackageIdentity::published(package.clone()), unsigned)
        .unwrap();
    let e = node.register().await.unwrap_err();
    assert!(matches!(e, ActrError::PermissionDenied(ref m) if m.contains("proof")), "{e:?}");

    // A proof is single-use and short-lived.
    run_blocking(&rt, move || replayed_and_stale_proofs(&url, &mfr, &package)).await.unwrap();
    for node in [signed, linked, vault] {
        node.shutdown().await;
    }
    server.stop();
}

fn replayed_and_stale_proofs(url: &str, mfr: &SigningKey, package: &VerifiedPackage) {
    let ais = AisHttpClient::new(url);
    let host = HostKey::from_seed([0x77; 32]);
    let register = |proof: ManufacturerProof| {
        let mut request = package_request(package);
        if let actr_core::ais::RegisterAuth::Package(p) = &mut request.auth {
            p.manufacturer_proof = Some(proof);
        }
        request.sign(&host);
        ais.call(&AisRequest::Register(request))
    };
    let ty = actr_type("billing");
    let now = unix_now();
    let proof = ManufacturerProof::sign(mfr, Realm(1), &ty, &package.manifest_raw, &host.public(), now, [1; 32]);
    let first = register(proof.clone());
    assert!(
        matches!(&first, Ok(AisReply::Registered(ok)) if ok.credential.peek_claims().unwrap().verified),
        "{first:?}"
    );
    match register(proof) {
        Ok(AisReply::Error(e)) => assert!(e.message.contains("replay"), "{e:?}"),
        other => panic!("a replayed proof registered: {other:?}"),
    }
    let stale = now - MFR_PROOF_MAX_AGE_SECS - 5;
    let proof = ManufacturerProof::sign(mfr, Realm(1), &ty, &package.manifest_raw, &host.public(), stale, [2; 32]);
    match register(proof) {
        Ok(AisReply::Error(e)) => {
            assert!(matches!(ActrError::from(e), ActrError::Unauthenticated(ref m) if m.contains("stale")))
        }
        other => panic!("a stale proof registered: {other:?}"),
    }
}

/// The request a host makes for `package` in realm 1 (before its proofs).
fn package_request(package: &VerifiedPackage) -> actr_core::ais::RegisterRequest {
    let mut request = actr_core::ais::RegisterRequest::new(package.actr_type.clone(), Realm(1), None);
    request.auth = actr_core::ais::RegisterAuth::Package(actr_core::ais::PackageAuth {
        manifest: package.manifest_raw.clone(),
        signature: package.signature.to_vec(),
        manufacturer_proof: None,
    });
    request
}

#[test]
fn a_packages_only_realm_refuses_linked_workloads_and_admits_packages() {
    on_tokio(packages_only_realm);
}

async fn packages_only_realm<R: Runtime>(rt: R) {
    let dir = TempDir::new("packages-only");
    let mut config = actr_cli::serve::ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().to_owned());
    config.packages_only = vec![Realm(1)];
    let server = actr_e2e::serve_with(config);
    let url = base_url(&server);
    let (mfr, package) = billing_package();
    let store = RegistryStore::open(dir.path()).unwrap();
    add_manufacturer(&store, "acme", &mfr.verifying_key(), unix_now()).unwrap();

    let (linked, _) = TestActor::new("billing");
    let refused =
        Hyper::new(rt.clone(), node_config(&url, 71, false)).node().link(linked).register().await.unwrap_err();
    assert!(matches!(refused, ActrError::PermissionDenied(ref m) if m.contains("packages only")), "{refused:?}");

    let identity = PackageIdentity::signed_by(package, Arc::new(KeySigner::new(mfr)));
    let (billing, _) = TestActor::new("billing");
    let node = Hyper::new(rt.clone(), node_config(&url, 72, false)).node().link_package(identity, billing).unwrap();
    let actor = node.register().await.expect("a package registers").start().await.unwrap();
    actor.shutdown().await;
    server.stop();
}
