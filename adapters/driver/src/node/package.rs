//! Registering as a signed package: the host, not the workload, shows the
//! AIS the package's manifest and manufacturer signature, and, for a package
//! the AIS has not published, a fresh manufacturer proof from a
//! [`ManufacturerSigner`] (minted anew for every registration, so a hard
//! rebind gets its own; its nonce is single-use).

use std::fmt;
use std::sync::Arc;

use actr_core::ais::{ManufacturerProof, PackageAuth, RegisterAuth, RegisterRequest};
use actr_core::package::VerifiedPackage;
use actr_core::{ActrError, ActrType, Realm, UnixSecs};
use ed25519_dalek::SigningKey;

/// Mints manufacturer proofs for registrations of unpublished packages.
/// Called on a blocking thread, once per registration.
pub trait ManufacturerSigner: Send + Sync + fmt::Debug {
    /// The proof for registering the package with `manifest` as `actr_type`
    /// in `realm`, for the host whose key is `host_key`, at `unix`.
    fn sign(
        &self,
        realm: Realm,
        actr_type: &ActrType,
        manifest: &[u8],
        host_key: &[u8; 32],
        unix: UnixSecs,
    ) -> Result<ManufacturerProof, ActrError>;
}

/// A signer holding the manufacturer's key in memory (tests, development).
pub struct KeySigner {
    key: SigningKey,
}

impl KeySigner {
    pub fn new(key: SigningKey) -> Self {
        Self { key }
    }
}

impl fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = actr_core::package::key_id(&self.key.verifying_key());
        f.debug_struct("KeySigner").field("key_id", &id).finish_non_exhaustive()
    }
}

impl ManufacturerSigner for KeySigner {
    fn sign(
        &self,
        realm: Realm,
        actr_type: &ActrType,
        manifest: &[u8],
        host_key: &[u8; 32],
        unix: UnixSecs,
    ) -> Result<ManufacturerProof, ActrError> {
        let mut nonce = [0u8; 32];
        getrandom::fill(&mut nonce).map_err(|e| ActrError::Internal(format!("no OS randomness for a nonce: {e}")))?;
        Ok(ManufacturerProof::sign(&self.key, realm, actr_type, manifest, host_key, unix, nonce))
    }
}

/// A verified package a node registers as, and who signs its proofs.
#[derive(Debug, Clone)]
pub struct PackageIdentity {
    pub(crate) package: VerifiedPackage,
    pub(crate) signer: Option<Arc<dyn ManufacturerSigner>>,
}

impl PackageIdentity {
    /// Registers as `package`; enough when the AIS has it published.
    pub fn published(package: VerifiedPackage) -> Self {
        Self { package, signer: None }
    }

    /// Registers as `package`, with a fresh proof from `signer` each time.
    pub fn signed_by(package: VerifiedPackage, signer: Arc<dyn ManufacturerSigner>) -> Self {
        Self { package, signer: Some(signer) }
    }

    pub fn actr_type(&self) -> &ActrType {
        &self.package.actr_type
    }

    /// The registration request for `realm`; the proof is added per call.
    pub(crate) fn request(&self, realm: Realm, realm_secret: Option<String>) -> RegisterRequest {
        let mut request = RegisterRequest::new(self.package.actr_type.clone(), realm, realm_secret);
        request.auth = RegisterAuth::Package(PackageAuth {
            manifest: self.package.manifest_raw.clone(),
            signature: self.package.signature.to_vec(),
            manufacturer_proof: None,
        });
        request
    }
}

/// Adds a fresh manufacturer proof to a package registration, when a signer
/// is configured (on the blocking thread that makes the AIS call).
pub(crate) fn add_proof(
    request: &mut actr_core::ais::AisRequest,
    signer: Option<&Arc<dyn ManufacturerSigner>>,
    unix: UnixSecs,
) -> Result<(), ActrError> {
    let (actr_core::ais::AisRequest::Register(register), Some(signer)) = (request, signer) else { return Ok(()) };
    let RegisterAuth::Package(package) = &mut register.auth else { return Ok(()) };
    let proof = signer.sign(register.realm, &register.actr_type, &package.manifest, &register.host_key, unix)?;
    package.manufacturer_proof = Some(proof);
    Ok(())
}
