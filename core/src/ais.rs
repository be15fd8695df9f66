//! The identity service (AIS), sans-IO: realms, registration and renewal.
//!
//! [`AisService::handle`] takes one decoded [`AisRequest`] and the current
//! Unix time and returns the reply; the driver owns HTTP and persistence.
//! After a registration, [`AisService::next_serial`] is the high-water mark to
//! persist so serials never repeat across restarts.
//!
//! Renewal tokens are stateless: an HMAC over the actor id, its host key and
//! the token's expiry under a key derived from the signing seed, so they stay
//! valid across a server restart without a token table.
//!
//! Proof of possession: a registration carries the node's host public key
//! and a signature by it ([`Statement::Register`]); the AIS binds that key
//! into the credential's claims. A renewal carries a signature over the actor
//! and the caller's clock ([`Statement::Renew`]), checked against the key the
//! token binds and refused outside [`RENEW_WINDOW_SECS`] of the AIS's clock.
//! Renewals are not single-use: a replayed one hands the replayer a
//! credential bound to a key it does not hold, which no verifier accepts.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::credential::{Claims, Credential, KeyRing};
use crate::error::{ActrError, ErrorReply};
use crate::id::{ActrId, ActrType, Realm};
use crate::proof::{self, RENEW_WINDOW_SECS, Statement};
use crate::time::UnixSecs;

/// HTTP paths, relative to the AIS base URL.
pub const REGISTER_PATH: &str = "/ais/register";
pub const RENEW_PATH: &str = "/ais/renew";
pub const SIGNING_KEY_PATH: &str = "/ais/signing-key";
/// Content type of AIS bodies (postcard envelopes, see `wire`).
pub const CONTENT_TYPE: &str = "application/x-actr-postcard";
/// Largest AIS request or reply body.
pub const MAX_AIS_BODY: usize = 64 * 1024;
/// Longest realm secret accepted.
pub const MAX_SECRET_LEN: usize = 256;

/// How the registering party proves it may take the type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RegisterAuth {
    /// A workload linked into the host binary, admitted by the realm secret;
    /// its type is self-asserted (`Claims::verified` is false).
    Linked,
    /// A signed package: the AIS checks the manufacturer's signature over the
    /// manifest, and issues a credential bound to the manifest's type and
    /// marked manufacturer-verified.
    Package(PackageAuth),
}

/// The package a host registers on its actor's behalf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageAuth {
    /// The exact bytes of `manifest.toml`.
    pub manifest: Vec<u8>,
    /// `manifest.sig`: the manufacturer's Ed25519 signature over `manifest`.
    pub signature: Vec<u8>,
    /// Needed when the package is not published with the AIS.
    pub manufacturer_proof: Option<ManufacturerProof>,
}

/// A manufacturer's fresh consent to one registration of an unpublished
/// package: its key signs [`Statement::ManufacturerRegister`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManufacturerProof {
    pub signed_at: UnixSecs,
    pub nonce: [u8; 32],
    pub signature: Vec<u8>,
}

/// How far in the future a manufacturer proof may be signed (clock skew).
pub const MFR_PROOF_FUTURE_SECS: u64 = 60;
/// How old a manufacturer proof may be.
pub const MFR_PROOF_MAX_AGE_SECS: u64 = 300;

impl ManufacturerProof {
    /// The proof `key` (the manufacturer's) gives for registering the package
    /// with `manifest` as `actr_type` in `realm` for the host `host_key`.
    pub fn sign(
        key: &SigningKey,
        realm: Realm,
        actr_type: &ActrType,
        manifest: &[u8],
        host_key: &[u8; 32],
        signed_at: UnixSecs,
        nonce: [u8; 32],
    ) -> Self {
        let manifest_sha256: [u8; 32] = Sha256::digest(manifest).into();
        let statement = Statement::ManufacturerRegister {
            realm,
            actr_type,
            manifest_sha256: &manifest_sha256,
            host_key,
            signed_at,
            nonce: &nonce,
        };
        let signature = ed25519_dalek::Signer::sign(key, &statement.transcript()).to_bytes().to_vec();
        ManufacturerProof { signed_at, nonce, signature }
    }
}

/// What the AIS knows of manufacturers and published packages. `actr serve`
/// backs it with its SQLite registry; tests and the simulator with a
/// [`MemoryDirectory`].
pub trait PackageDirectory {
    /// The public key `key_id` (`mfr-…`) of `manufacturer`, if registered.
    fn manufacturer_key(&self, manufacturer: &str, key_id: &str) -> Option<[u8; 32]>;
    /// Whether the manifest with this SHA-256 is published for `actr_type`,
    /// or only others are, or none.
    fn publication(&self, actr_type: &ActrType, manifest_sha256: &[u8; 32]) -> Publication;
    /// Marks `nonce` of `manufacturer` used until `until`; false if it was
    /// used already (a replayed proof), or if no more can be recorded.
    fn consume_nonce(&mut self, manufacturer: &str, nonce: &[u8; 32], now: UnixSecs, until: UnixSecs) -> bool;
}

/// What the directory knows of a type's published manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    /// This very manifest is published.
    ThisManifest,
    /// The type is published, but with other manifests.
    OtherManifests,
    /// Nothing of this type is published.
    Unpublished,
}

/// A directory that knows nothing: package registrations are refused.
#[derive(Debug, Default)]
pub struct NoPackages;

impl PackageDirectory for NoPackages {
    fn manufacturer_key(&self, _: &str, _: &str) -> Option<[u8; 32]> {
        None
    }
    fn publication(&self, _: &ActrType, _: &[u8; 32]) -> Publication {
        Publication::Unpublished
    }
    fn consume_nonce(&mut self, _: &str, _: &[u8; 32], _: UnixSecs, _: UnixSecs) -> bool {
        false
    }
}

/// Most nonces a [`MemoryDirectory`] remembers at once.
pub const MAX_REMEMBERED_NONCES: usize = 65_536;

/// An in-memory [`PackageDirectory`]; nonces are bounded and forgotten once
/// their proof could no longer be accepted.
#[derive(Debug, Default, Clone)]
pub struct MemoryDirectory {
    keys: BTreeMap<(String, String), [u8; 32]>,
    published: BTreeMap<ActrType, std::collections::BTreeSet<[u8; 32]>>,
    nonces: BTreeMap<(String, [u8; 32]), UnixSecs>,
}

impl MemoryDirectory {
    /// Registers `key` (32 bytes) for `manufacturer` under its key id.
    pub fn add_manufacturer(&mut self, manufacturer: &str, key: [u8; 32]) -> String {
        let id = crate::package::key_id(&ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap_or_default());
        self.keys.insert((manufacturer.to_owned(), id.clone()), key);
        id
    }

    /// Publishes the package whose manifest is `manifest` as `actr_type`.
    pub fn publish(&mut self, actr_type: ActrType, manifest: &[u8]) {
        self.published.entry(actr_type).or_default().insert(Sha256::digest(manifest).into());
    }
}

impl PackageDirectory for MemoryDirectory {
    fn manufacturer_key(&self, manufacturer: &str, key_id: &str) -> Option<[u8; 32]> {
        self.keys.get(&(manufacturer.to_owned(), key_id.to_owned())).copied()
    }
    fn publication(&self, actr_type: &ActrType, manifest_sha256: &[u8; 32]) -> Publication {
        match self.published.get(actr_type) {
            Some(set) if set.contains(manifest_sha256) => Publication::ThisManifest,
            Some(_) => Publication::OtherManifests,
            None => Publication::Unpublished,
        }
    }
    fn consume_nonce(&mut self, manufacturer: &str, nonce: &[u8; 32], now: UnixSecs, until: UnixSecs) -> bool {
        self.nonces.retain(|_, expiry| *expiry > now);
        let key = (manufacturer.to_owned(), *nonce);
        if self.nonces.contains_key(&key) || self.nonces.len() >= MAX_REMEMBERED_NONCES {
            return false;
        }
        self.nonces.insert(key, until);
        true
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub actr_type: ActrType,
    pub realm: Realm,
    pub realm_secret: Option<String>,
    pub auth: RegisterAuth,
    /// The node's host public key, bound into the credential.
    pub host_key: [u8; 32],
    /// The host key's signature over [`Statement::Register`].
    pub proof: Vec<u8>,
}

impl RegisterRequest {
    /// A request for `actr_type` in `realm`, not yet signed: a node hub
    /// fills in `host_key` and `proof` with [`RegisterRequest::sign`].
    pub fn new(actr_type: ActrType, realm: Realm, realm_secret: Option<String>) -> Self {
        Self { actr_type, realm, realm_secret, auth: RegisterAuth::Linked, host_key: [0; 32], proof: Vec::new() }
    }

    /// Binds `key` to this request.
    pub fn sign(&mut self, key: &proof::HostKey) {
        self.host_key = key.public();
        self.proof =
            key.sign(&Statement::Register { realm: self.realm, actr_type: &self.actr_type, host_key: &self.host_key });
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewRequest {
    pub actor: ActrId,
    pub renewal_token: Vec<u8>,
    pub renewal_token_expires_at: UnixSecs,
    /// The host key the credential binds (the token covers it).
    pub host_key: [u8; 32],
    /// Whether the type was manufacturer-verified at registration (the token covers it).
    pub verified: bool,
    /// The caller's wall clock when it signed.
    pub unix: UnixSecs,
    /// The host key's signature over [`Statement::Renew`].
    pub proof: Vec<u8>,
}

impl RenewRequest {
    /// Signs the renewal with `key` at wall-clock time `unix`.
    pub fn sign(&mut self, key: &proof::HostKey, unix: UnixSecs) {
        self.host_key = key.public();
        self.unix = unix;
        self.proof = key.sign(&Statement::Renew { actor: &self.actor, unix });
    }
}

/// What registration and renewal hand back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterOk {
    pub actor: ActrId,
    pub credential: Credential,
    pub credential_expires_at: UnixSecs,
    pub heartbeat_interval_secs: u32,
    pub signing_key_id: u32,
    pub signing_pubkey: Vec<u8>,
    pub renewal_token: Vec<u8>,
    pub renewal_token_expires_at: UnixSecs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AisRequest {
    Register(RegisterRequest),
    Renew(RenewRequest),
    SigningKey { key_id: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AisReply {
    Registered(RegisterOk),
    Renewed(RegisterOk),
    SigningKey { key_id: u32, pubkey: Vec<u8> },
    Error(ErrorReply),
}

/// A realm and its optional admission secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealmConfig {
    pub realm: Realm,
    pub secret: Option<String>,
    /// Refuse linked (self-asserted) registrations: only signed packages
    /// register in this realm.
    #[serde(default)]
    pub packages_only: bool,
}

impl RealmConfig {
    /// A realm admitting linked workloads and packages, with an optional secret.
    pub fn new(realm: Realm, secret: Option<String>) -> Self {
        Self { realm, secret, packages_only: false }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AisConfig {
    pub credential_ttl_secs: u64,
    pub renewal_token_ttl_secs: u64,
    pub heartbeat_interval_secs: u32,
    pub max_realms: usize,
}

impl Default for AisConfig {
    fn default() -> Self {
        Self {
            credential_ttl_secs: 3600,
            renewal_token_ttl_secs: 86_400,
            heartbeat_interval_secs: 30,
            max_realms: 1024,
        }
    }
}

/// The identity service state.
#[derive(Debug)]
pub struct AisService {
    key: SigningKey,
    key_id: u32,
    renewal_key: [u8; 32],
    realms: BTreeMap<Realm, RealmConfig>,
    next_serial: u64,
    config: AisConfig,
}

type HmacSha256 = Hmac<Sha256>;

fn reply_err(e: ActrError) -> AisReply {
    AisReply::Error(ErrorReply::from(e))
}

impl AisService {
    /// `seed` is the signing key's 32-byte seed; `next_serial` the first serial to hand out.
    pub fn new(seed: [u8; 32], key_id: u32, next_serial: u64, config: AisConfig) -> Self {
        let mut h = Sha256::new();
        h.update(b"actr/ais/renewal-key/v1");
        h.update(seed);
        let renewal_key: [u8; 32] = h.finalize().into();
        Self {
            key: SigningKey::from_bytes(&seed),
            key_id,
            renewal_key,
            realms: BTreeMap::new(),
            next_serial: next_serial.max(1),
            config,
        }
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// A ring holding this service's verifying key.
    pub fn key_ring(&self) -> KeyRing {
        let mut ring = KeyRing::default();
        ring.insert(self.key_id, self.key.verifying_key());
        ring
    }

    pub fn next_serial(&self) -> u64 {
        self.next_serial
    }

    pub fn config(&self) -> &AisConfig {
        &self.config
    }

    /// Creates or updates a realm.
    pub fn upsert_realm(&mut self, realm: RealmConfig) -> Result<(), ActrError> {
        if !self.realms.contains_key(&realm.realm) && self.realms.len() >= self.config.max_realms {
            return Err(ActrError::ResourceExhausted(format!("at most {} realms", self.config.max_realms)));
        }
        if realm.secret.as_ref().is_some_and(|s| s.is_empty() || s.len() > MAX_SECRET_LEN) {
            return Err(ActrError::InvalidArgument("realm secret must be 1 to 256 bytes".into()));
        }
        self.realms.insert(realm.realm, realm);
        Ok(())
    }

    pub fn realms(&self) -> impl Iterator<Item = &RealmConfig> {
        self.realms.values()
    }

    /// Answers one request at wall-clock time `now`, knowing no packages.
    pub fn handle(&mut self, now: UnixSecs, request: AisRequest) -> AisReply {
        self.handle_with(now, request, &mut NoPackages)
    }

    /// Answers one request at wall-clock time `now`; package registrations
    /// are checked against `directory`.
    pub fn handle_with(
        &mut self,
        now: UnixSecs,
        request: AisRequest,
        directory: &mut dyn PackageDirectory,
    ) -> AisReply {
        match request {
            AisRequest::Register(r) => match self.register(now, r, directory) {
                Ok(ok) => AisReply::Registered(ok),
                Err(e) => reply_err(e),
            },
            AisRequest::Renew(r) => match self.renew(now, r) {
                Ok(ok) => AisReply::Renewed(ok),
                Err(e) => reply_err(e),
            },
            AisRequest::SigningKey { key_id } if key_id == self.key_id => {
                AisReply::SigningKey { key_id, pubkey: self.public_key().to_vec() }
            }
            AisRequest::SigningKey { key_id } => reply_err(ActrError::NotFound(format!("signing key {key_id}"))),
        }
    }

    fn register(
        &mut self,
        now: UnixSecs,
        req: RegisterRequest,
        directory: &mut dyn PackageDirectory,
    ) -> Result<RegisterOk, ActrError> {
        req.actr_type.validate().map_err(|e| ActrError::InvalidArgument(e.to_string()))?;
        let realm = self.realms.get(&req.realm).ok_or_else(|| ActrError::NotFound(format!("realm {}", req.realm)))?;
        match (&realm.secret, &req.realm_secret) {
            (None, _) => {}
            (Some(_), None) => return Err(ActrError::PermissionDenied("realm secret required".into())),
            (Some(want), Some(got)) if !constant_time_eq(want.as_bytes(), got.as_bytes()) => {
                return Err(ActrError::PermissionDenied("invalid realm secret".into()));
            }
            (Some(_), Some(_)) => {}
        }
        let statement = Statement::Register { realm: req.realm, actr_type: &req.actr_type, host_key: &req.host_key };
        proof::verify(&req.host_key, &statement, &req.proof)
            .map_err(|e| ActrError::Unauthenticated(format!("registration: {e}")))?;
        let verified = match &req.auth {
            RegisterAuth::Linked if realm.packages_only => {
                return Err(ActrError::PermissionDenied(format!(
                    "realm {} admits signed packages only, not linked workloads",
                    req.realm
                )));
            }
            RegisterAuth::Linked => false,
            RegisterAuth::Package(package) => {
                check_package(now, &req, package, directory)?;
                true
            }
        };
        let serial = self.next_serial;
        self.next_serial += 1;
        let actor = ActrId { realm: req.realm, serial, actr_type: req.actr_type };
        let token_expires_at = now + self.config.renewal_token_ttl_secs;
        Ok(self.issue(now, actor, req.host_key, verified, token_expires_at))
    }

    fn renew(&mut self, now: UnixSecs, req: RenewRequest) -> Result<RegisterOk, ActrError> {
        if req.renewal_token_expires_at <= now {
            return Err(ActrError::Unauthenticated("renewal token expired".into()));
        }
        let expected = self.renewal_token(&req.actor, &req.host_key, req.verified, req.renewal_token_expires_at);
        if !constant_time_eq(&expected, &req.renewal_token) {
            return Err(ActrError::Unauthenticated("renewal token rejected".into()));
        }
        if req.unix.abs_diff(now) > RENEW_WINDOW_SECS {
            return Err(ActrError::Unauthenticated(format!(
                "renewal signed at {} is more than {RENEW_WINDOW_SECS} s from the AIS clock ({now})",
                req.unix
            )));
        }
        proof::verify(&req.host_key, &Statement::Renew { actor: &req.actor, unix: req.unix }, &req.proof)
            .map_err(|e| ActrError::Unauthenticated(format!("renewal: {e}")))?;
        if !self.realms.contains_key(&req.actor.realm) {
            return Err(ActrError::PermissionDenied(format!("realm {} unavailable", req.actor.realm)));
        }
        // Rotate the token once it has used most of its life.
        let remaining = req.renewal_token_expires_at - now;
        let token_expires_at = if remaining > self.config.renewal_token_ttl_secs / 4 {
            req.renewal_token_expires_at
        } else {
            now + self.config.renewal_token_ttl_secs
        };
        // The token covers `verified`: a renewal keeps what the first
        // registration established, so linked stays linked.
        Ok(self.issue(now, req.actor, req.host_key, req.verified, token_expires_at))
    }

    fn issue(
        &self,
        now: UnixSecs,
        actor: ActrId,
        host_key: [u8; 32],
        verified: bool,
        token_expires_at: UnixSecs,
    ) -> RegisterOk {
        let expires_at = now + self.config.credential_ttl_secs;
        let claims = Claims { realm: actor.realm, actor: actor.clone(), expires_at, host_key, verified };
        RegisterOk {
            credential: Credential::issue(&self.key, self.key_id, &claims),
            credential_expires_at: expires_at,
            heartbeat_interval_secs: self.config.heartbeat_interval_secs,
            signing_key_id: self.key_id,
            signing_pubkey: self.public_key().to_vec(),
            renewal_token: self.renewal_token(&actor, &host_key, verified, token_expires_at),
            renewal_token_expires_at: token_expires_at,
            actor,
        }
    }

    fn renewal_token(&self, actor: &ActrId, host_key: &[u8; 32], verified: bool, expires_at: UnixSecs) -> Vec<u8> {
        // new_from_slice only fails for invalid key lengths, which HMAC does not have.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.renewal_key).expect("HMAC takes any key length");
        mac.update(b"actr/ais/renewal/v2");
        mac.update(host_key);
        mac.update(&[u8::from(verified)]);
        mac.update(actor.to_string().as_bytes());
        mac.update(&expires_at.to_be_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// The checks of a package registration, in order (first failure wins):
/// the manifest parses and names the requested type; the manufacturer's key
/// for its key id is registered; its signature over the exact manifest bytes
/// verifies (strict); then either the package is published and the manifest
/// is the published one, or a fresh manufacturer proof for this realm, type,
/// manifest and host key verifies, within its time window, with a nonce never
/// seen before.
fn check_package(
    now: UnixSecs,
    req: &RegisterRequest,
    package: &PackageAuth,
    directory: &mut dyn PackageDirectory,
) -> Result<(), ActrError> {
    let denied = |why: String| ActrError::PermissionDenied(format!("package registration: {why}"));
    if package.manifest.len() as u64 > crate::package::MAX_MANIFEST_BYTES {
        return Err(ActrError::InvalidArgument("package registration: manifest too large".into()));
    }
    let manifest =
        crate::package::Manifest::parse(&package.manifest).map_err(|e| ActrError::InvalidArgument(e.to_string()))?;
    let actr_type = manifest.actr_type().map_err(|e| ActrError::InvalidArgument(e.to_string()))?;
    if actr_type != req.actr_type {
        return Err(denied(format!("the manifest is for {actr_type}, not {}", req.actr_type)));
    }
    let key = directory.manufacturer_key(&manifest.manufacturer, &manifest.signing_key_id).ok_or_else(|| {
        denied(format!("no key {} of manufacturer {}", manifest.signing_key_id, manifest.manufacturer))
    })?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| denied("the stored key is invalid".into()))?;
    let signature: [u8; 64] =
        package.signature.as_slice().try_into().map_err(|_| denied("the signature must be 64 bytes".into()))?;
    key.verify_strict(&package.manifest, &ed25519_dalek::Signature::from_bytes(&signature))
        .map_err(|_| denied("the manufacturer's signature over the manifest does not verify".into()))?;
    let manifest_sha256: [u8; 32] = Sha256::digest(&package.manifest).into();
    match directory.publication(&actr_type, &manifest_sha256) {
        Publication::ThisManifest => return Ok(()),
        // A published type registers only with a published manifest.
        Publication::OtherManifests => {
            return Err(denied(format!("the manifest differs from those published for {actr_type}")));
        }
        Publication::Unpublished => {}
    }
    let proof = package
        .manufacturer_proof
        .as_ref()
        .ok_or_else(|| denied(format!("{actr_type} is not published: a manufacturer proof is required")))?;
    if proof.signed_at > now + MFR_PROOF_FUTURE_SECS {
        return Err(ActrError::InvalidArgument(format!(
            "package registration: manufacturer proof signed in the future ({} > {now})",
            proof.signed_at
        )));
    }
    if now.saturating_sub(proof.signed_at) > MFR_PROOF_MAX_AGE_SECS {
        return Err(ActrError::Unauthenticated(format!(
            "package registration: the manufacturer proof is stale (signed at {}, now {now})",
            proof.signed_at
        )));
    }
    let statement = Statement::ManufacturerRegister {
        realm: req.realm,
        actr_type: &actr_type,
        manifest_sha256: &manifest_sha256,
        host_key: &req.host_key,
        signed_at: proof.signed_at,
        nonce: &proof.nonce,
    };
    let sig: [u8; 64] =
        proof.signature.as_slice().try_into().map_err(|_| denied("the manufacturer proof must be 64 bytes".into()))?;
    key.verify_strict(&statement.transcript(), &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| denied("the manufacturer proof does not verify".into()))?;
    let until = proof.signed_at + MFR_PROOF_MAX_AGE_SECS + MFR_PROOF_FUTURE_SECS;
    if !directory.consume_nonce(&manifest.manufacturer, &proof.nonce, now, until) {
        return Err(denied("the manufacturer proof was used before (replay)".into()));
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::CredentialError;
    use crate::proof::HostKey;

    fn service() -> AisService {
        let mut s = AisService::new([9; 32], 1, 1, AisConfig::default());
        s.upsert_realm(RealmConfig::new(Realm(1), None)).unwrap();
        s.upsert_realm(RealmConfig::new(Realm(2), Some("s3cret".into()))).unwrap();
        s
    }

    fn host() -> HostKey {
        HostKey::from_seed([4; 32])
    }

    fn reg(realm: u32, secret: Option<&str>) -> AisRequest {
        let mut r = RegisterRequest::new("acme:echo:1".parse().unwrap(), Realm(realm), secret.map(Into::into));
        r.sign(&host());
        AisRequest::Register(r)
    }

    fn renew(ok: &RegisterOk, key: &HostKey, unix: UnixSecs) -> RenewRequest {
        let mut r = RenewRequest {
            actor: ok.actor.clone(),
            renewal_token: ok.renewal_token.clone(),
            renewal_token_expires_at: ok.renewal_token_expires_at,
            host_key: [0; 32],
            verified: false,
            unix: 0,
            proof: Vec::new(),
        };
        r.sign(key, unix);
        r
    }

    fn ok(reply: AisReply) -> RegisterOk {
        match reply {
            AisReply::Registered(ok) | AisReply::Renewed(ok) => ok,
            other => panic!("expected success, got {other:?}"),
        }
    }

    fn err(reply: AisReply) -> ActrError {
        match reply {
            AisReply::Error(e) => e.into(),
            other => panic!("expected error, got {other:?}"),
        }
    }

    #[test]
    fn register_allocates_distinct_ids_with_verifiable_credentials() {
        let mut s = service();
        let a = ok(s.handle(1000, reg(1, None)));
        let b = ok(s.handle(1000, reg(1, None)));
        assert_ne!(a.actor.serial, b.actor.serial);
        let ring = s.key_ring();
        let claims = a.credential.verify(&ring, 1001, Some(&a.actor)).unwrap();
        assert_eq!(claims.expires_at, 1000 + 3600);
        assert_eq!(claims.host_key, host().public(), "the host key is bound into the credential");
        assert!(!claims.verified, "a linked registration is not manufacturer-verified");
        assert_eq!(a.credential_expires_at, claims.expires_at);
        assert_eq!(s.next_serial(), 3);
    }

    #[test]
    fn registration_proves_the_host_key() {
        let mut s = service();
        let AisRequest::Register(mut r) = reg(1, None) else { unreachable!() };
        r.host_key = HostKey::from_seed([5; 32]).public();
        assert!(
            matches!(err(s.handle(0, AisRequest::Register(r.clone()))), ActrError::Unauthenticated(_)),
            "not signed by that key"
        );
        r.proof.clear();
        assert!(matches!(err(s.handle(0, AisRequest::Register(r))), ActrError::Unauthenticated(_)), "unsigned");
    }

    #[test]
    fn realm_rules() {
        let mut s = service();
        assert!(matches!(err(s.handle(0, reg(9, None))), ActrError::NotFound(_)));
        assert!(matches!(err(s.handle(0, reg(2, None))), ActrError::PermissionDenied(_)));
        assert!(matches!(err(s.handle(0, reg(2, Some("wrong")))), ActrError::PermissionDenied(_)));
        ok(s.handle(0, reg(2, Some("s3cret"))));
    }

    #[test]
    fn renewal_keeps_id_and_key_and_extends_expiry() {
        let mut s = service();
        let a = ok(s.handle(1000, reg(1, None)));
        let renewed = ok(s.handle(3000, AisRequest::Renew(renew(&a, &host(), 3000))));
        assert_eq!(renewed.actor, a.actor);
        assert_eq!(renewed.credential_expires_at, 3000 + 3600);
        let claims = renewed.credential.verify(&s.key_ring(), 4700, Some(&a.actor)).unwrap();
        assert_eq!(claims.host_key, host().public());
        assert_eq!(
            a.credential.verify(&s.key_ring(), 4700, Some(&a.actor)),
            Err(CredentialError::Expired { expires_at: 4600, now: 4700 })
        );
    }

    #[test]
    fn renewal_reproves_possession() {
        let mut s = service();
        let a = ok(s.handle(1000, reg(1, None)));
        // A thief with the token but not the key: its own key breaks the token's binding...
        let thief = HostKey::from_seed([66; 32]);
        assert!(matches!(
            err(s.handle(1001, AisRequest::Renew(renew(&a, &thief, 1001)))),
            ActrError::Unauthenticated(_)
        ));
        // ...and the right key id with its own signature does not verify.
        let mut forged = renew(&a, &thief, 1001);
        forged.host_key = host().public();
        assert!(matches!(err(s.handle(1001, AisRequest::Renew(forged))), ActrError::Unauthenticated(_)));
        // A renewal signed too long ago (or ahead) is refused.
        let stale = renew(&a, &host(), 1001 - RENEW_WINDOW_SECS - 1);
        assert!(matches!(err(s.handle(1001, AisRequest::Renew(stale))), ActrError::Unauthenticated(_)));
        // Claiming a verified type the token does not cover fails the token.
        let mut upgraded = renew(&a, &host(), 1001);
        upgraded.verified = true;
        assert!(matches!(err(s.handle(1001, AisRequest::Renew(upgraded))), ActrError::Unauthenticated(_)));
        ok(s.handle(1001, AisRequest::Renew(renew(&a, &host(), 1001))));
    }

    #[test]
    fn renewal_refuses_forged_or_expired_tokens() {
        let mut s = service();
        let a = ok(s.handle(1000, reg(1, None)));
        let mut other = a.clone();
        other.actor.serial += 100;
        assert!(matches!(
            err(s.handle(1001, AisRequest::Renew(renew(&other, &host(), 1001)))),
            ActrError::Unauthenticated(_)
        ));
        let mut stretched = a.clone();
        stretched.renewal_token_expires_at += 1;
        assert!(matches!(
            err(s.handle(1001, AisRequest::Renew(renew(&stretched, &host(), 1001)))),
            ActrError::Unauthenticated(_)
        ));
        let late = a.renewal_token_expires_at;
        assert!(matches!(
            err(s.handle(late, AisRequest::Renew(renew(&a, &host(), late)))),
            ActrError::Unauthenticated(_)
        ));
    }

    /// A signed package of `acme:echo:1`: (manufacturer key, manifest, signature).
    fn package() -> (SigningKey, Vec<u8>, Vec<u8>) {
        use crate::package::{PackageLimits, PackageSpec, pack, verify};
        let mfr = SigningKey::from_bytes(&[0x4d; 32]);
        let spec = PackageSpec::new("acme:echo:1".parse().unwrap(), "wasm32-unknown-unknown");
        let bytes = pack(&spec.into_manifest(), b"\0asm", &[], &mfr, &mut |_| {}).unwrap();
        let verified = verify(&bytes, &mfr.verifying_key(), &PackageLimits::default()).unwrap();
        (mfr, verified.manifest_raw, verified.signature.to_vec())
    }

    fn package_reg(manifest: &[u8], signature: &[u8], proof: Option<ManufacturerProof>) -> AisRequest {
        let mut r = RegisterRequest::new("acme:echo:1".parse().unwrap(), Realm(1), None);
        r.auth = RegisterAuth::Package(PackageAuth {
            manifest: manifest.to_vec(),
            signature: signature.to_vec(),
            manufacturer_proof: proof,
        });
        r.sign(&host());
        AisRequest::Register(r)
    }

    fn mfr_proof(mfr: &SigningKey, manifest: &[u8], signed_at: UnixSecs, nonce: u8) -> ManufacturerProof {
        let ty = "acme:echo:1".parse().unwrap();
        ManufacturerProof::sign(mfr, Realm(1), &ty, manifest, &host().public(), signed_at, [nonce; 32])
    }

    #[test]
    fn a_published_package_registers_as_verified() {
        let mut s = service();
        let (mfr, manifest, sig) = package();
        let mut dir = MemoryDirectory::default();
        dir.add_manufacturer("acme", mfr.verifying_key().to_bytes());
        dir.publish("acme:echo:1".parse().unwrap(), &manifest);
        let ok = ok(s.handle_with(1000, package_reg(&manifest, &sig, None), &mut dir));
        let claims = ok.credential.verify(&s.key_ring(), 1001, Some(&ok.actor)).unwrap();
        assert!(claims.verified, "bound to the package's type and marked manufacturer-verified");
        // Renewal keeps it verified.
        let mut r = renew(&ok, &host(), 1100);
        r.verified = true;
        r.sign(&host(), 1100);
        let renewed = super::tests::ok(s.handle(1100, AisRequest::Renew(r)));
        assert!(renewed.credential.peek_claims().unwrap().verified);
        // Another manifest under the published type is refused, signed or not.
        let other = String::from_utf8(manifest.clone()).unwrap().replace("wasm32", "wasm64").into_bytes();
        let other_sig = ed25519_dalek::Signer::sign(&mfr, &other).to_bytes();
        let e = err(s.handle_with(1000, package_reg(&other, &other_sig, None), &mut dir));
        assert!(matches!(e, ActrError::PermissionDenied(ref m) if m.contains("published")), "{e:?}");
    }

    #[test]
    fn an_unpublished_package_needs_a_fresh_single_use_manufacturer_proof() {
        let mut s = service();
        let (mfr, manifest, sig) = package();
        let mut dir = MemoryDirectory::default();
        dir.add_manufacturer("acme", mfr.verifying_key().to_bytes());
        let now = 10_000;
        let e = err(s.handle_with(now, package_reg(&manifest, &sig, None), &mut dir));
        assert!(matches!(e, ActrError::PermissionDenied(ref m) if m.contains("proof is required")), "{e:?}");
        let proof = mfr_proof(&mfr, &manifest, now - 10, 1);
        let ok = ok(s.handle_with(now, package_reg(&manifest, &sig, Some(proof.clone())), &mut dir));
        assert!(ok.credential.peek_claims().unwrap().verified);
        // The same proof again: a replay.
        let e = err(s.handle_with(now + 1, package_reg(&manifest, &sig, Some(proof)), &mut dir));
        assert!(matches!(e, ActrError::PermissionDenied(ref m) if m.contains("replay")), "{e:?}");
        // Stale, or from the future.
        let stale = mfr_proof(&mfr, &manifest, now - MFR_PROOF_MAX_AGE_SECS - 1, 2);
        assert!(matches!(
            err(s.handle_with(now, package_reg(&manifest, &sig, Some(stale)), &mut dir)),
            ActrError::Unauthenticated(_)
        ));
        let ahead = mfr_proof(&mfr, &manifest, now + MFR_PROOF_FUTURE_SECS + 1, 3);
        assert!(matches!(
            err(s.handle_with(now, package_reg(&manifest, &sig, Some(ahead)), &mut dir)),
            ActrError::InvalidArgument(_)
        ));
        // Signed by someone else, or for another host key.
        let forged = mfr_proof(&SigningKey::from_bytes(&[0x4e; 32]), &manifest, now, 4);
        assert!(matches!(
            err(s.handle_with(now, package_reg(&manifest, &sig, Some(forged)), &mut dir)),
            ActrError::PermissionDenied(_)
        ));
        let ty = "acme:echo:1".parse().unwrap();
        let other_host = ManufacturerProof::sign(&mfr, Realm(1), &ty, &manifest, &[9; 32], now, [5; 32]);
        assert!(matches!(
            err(s.handle_with(now, package_reg(&manifest, &sig, Some(other_host)), &mut dir)),
            ActrError::PermissionDenied(_)
        ));
    }

    #[test]
    fn package_registration_refusals() {
        let mut s = service();
        let (mfr, manifest, sig) = package();
        let mut dir = MemoryDirectory::default();
        let proof = || Some(mfr_proof(&mfr, &manifest, 1000, 7));
        let e = err(s.handle_with(1000, package_reg(&manifest, &sig, proof()), &mut dir));
        assert!(matches!(e, ActrError::PermissionDenied(ref m) if m.contains("no key")), "unknown manufacturer: {e:?}");
        dir.add_manufacturer("acme", mfr.verifying_key().to_bytes());
        let mut bad_sig = sig.clone();
        bad_sig[0] ^= 1;
        let e = err(s.handle_with(1000, package_reg(&manifest, &bad_sig, proof()), &mut dir));
        assert!(matches!(e, ActrError::PermissionDenied(ref m) if m.contains("signature")), "{e:?}");
        let mut tampered = manifest.clone();
        let last = tampered.len() - 2;
        tampered[last] ^= 1;
        assert!(err(s.handle_with(1000, package_reg(&tampered, &sig, proof()), &mut dir)).code() != 0);
        // The request names another type than the manifest.
        let AisRequest::Register(mut r) = package_reg(&manifest, &sig, proof()) else { unreachable!() };
        r.actr_type = "acme:other:1".parse().unwrap();
        r.sign(&host());
        let e = err(s.handle_with(1000, AisRequest::Register(r), &mut dir));
        assert!(matches!(e, ActrError::PermissionDenied(ref m) if m.contains("manifest is for")), "{e:?}");
        // Without a directory (the plain `handle`) nothing is known.
        assert!(matches!(err(s.handle(1000, package_reg(&manifest, &sig, proof()))), ActrError::PermissionDenied(_)));
    }

    #[test]
    fn a_packages_only_realm_refuses_linked_workloads() {
        let mut s = service();
        s.upsert_realm(RealmConfig { packages_only: true, ..RealmConfig::new(Realm(1), None) }).unwrap();
        let e = err(s.handle(0, reg(1, None)));
        assert!(matches!(e, ActrError::PermissionDenied(ref m) if m.contains("signed packages only")), "{e:?}");
        let (mfr, manifest, sig) = package();
        let mut dir = MemoryDirectory::default();
        dir.add_manufacturer("acme", mfr.verifying_key().to_bytes());
        dir.publish("acme:echo:1".parse().unwrap(), &manifest);
        ok(s.handle_with(0, package_reg(&manifest, &sig, None), &mut dir));
    }

    #[test]
    fn same_seed_survives_restart() {
        let mut s = service();
        let a = ok(s.handle(1000, reg(1, None)));
        let restarted = AisService::new([9; 32], 1, s.next_serial(), AisConfig::default());
        assert!(a.credential.verify(&restarted.key_ring(), 1001, Some(&a.actor)).is_ok());
    }

    #[test]
    fn invalid_type_and_realm_bounds() {
        let mut s = AisService::new([1; 32], 1, 1, AisConfig { max_realms: 1, ..Default::default() });
        s.upsert_realm(RealmConfig::new(Realm(1), None)).unwrap();
        assert!(matches!(s.upsert_realm(RealmConfig::new(Realm(2), None)), Err(ActrError::ResourceExhausted(_))));
        let mut bad = RegisterRequest::new(
            ActrType { manufacturer: "1x".into(), name: "y".into(), version: "1".into() },
            Realm(1),
            None,
        );
        bad.sign(&host());
        assert!(matches!(err(s.handle(0, AisRequest::Register(bad))), ActrError::InvalidArgument(_)));
        assert!(matches!(err(s.handle(0, AisRequest::SigningKey { key_id: 5 })), ActrError::NotFound(_)));
    }
}
