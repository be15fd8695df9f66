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
    /// A workload linked into the host binary, admitted by the realm secret.
    Linked,
    // Step 3 adds `Package { manifest, manufacturer signature, proof }`.
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

    /// Answers one request at wall-clock time `now`.
    pub fn handle(&mut self, now: UnixSecs, request: AisRequest) -> AisReply {
        match request {
            AisRequest::Register(r) => match self.register(now, r) {
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

    fn register(&mut self, now: UnixSecs, req: RegisterRequest) -> Result<RegisterOk, ActrError> {
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
        let verified = match req.auth {
            RegisterAuth::Linked => false,
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
        s.upsert_realm(RealmConfig { realm: Realm(1), secret: None }).unwrap();
        s.upsert_realm(RealmConfig { realm: Realm(2), secret: Some("s3cret".into()) }).unwrap();
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
        s.upsert_realm(RealmConfig { realm: Realm(1), secret: None }).unwrap();
        assert!(matches!(
            s.upsert_realm(RealmConfig { realm: Realm(2), secret: None }),
            Err(ActrError::ResourceExhausted(_))
        ));
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
