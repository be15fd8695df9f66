//! The identity service (AIS), sans-IO: realms, registration and renewal.
//!
//! [`AisService::handle`] takes one decoded [`AisRequest`] and the current
//! Unix time and returns the reply; the driver owns HTTP and persistence.
//! After a registration, [`AisService::next_serial`] is the high-water mark to
//! persist so serials never repeat across restarts.
//!
//! Renewal tokens are stateless: an HMAC over the actor id and the token's
//! expiry under a key derived from the signing seed, so they stay valid across
//! a server restart without a token table.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::credential::{Claims, Credential, KeyRing};
use crate::error::{ActrError, ErrorReply};
use crate::id::{ActrId, ActrType, Realm};
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewRequest {
    pub actor: ActrId,
    pub renewal_token: Vec<u8>,
    pub renewal_token_expires_at: UnixSecs,
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
        match req.auth {
            RegisterAuth::Linked => {}
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let actor = ActrId { realm: req.realm, serial, actr_type: req.actr_type };
        let token_expires_at = now + self.config.renewal_token_ttl_secs;
        Ok(self.issue(now, actor, token_expires_at))
    }

    fn renew(&mut self, now: UnixSecs, req: RenewRequest) -> Result<RegisterOk, ActrError> {
        if req.renewal_token_expires_at <= now {
            return Err(ActrError::Unauthenticated("renewal token expired".into()));
        }
        let expected = self.renewal_token(&req.actor, req.renewal_token_expires_at);
        if !constant_time_eq(&expected, &req.renewal_token) {
            return Err(ActrError::Unauthenticated("renewal token rejected".into()));
        }
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
        Ok(self.issue(now, req.actor, token_expires_at))
    }

    fn issue(&self, now: UnixSecs, actor: ActrId, token_expires_at: UnixSecs) -> RegisterOk {
        let expires_at = now + self.config.credential_ttl_secs;
        let claims = Claims { realm: actor.realm, actor: actor.clone(), expires_at };
        RegisterOk {
            credential: Credential::issue(&self.key, self.key_id, &claims),
            credential_expires_at: expires_at,
            heartbeat_interval_secs: self.config.heartbeat_interval_secs,
            signing_key_id: self.key_id,
            signing_pubkey: self.public_key().to_vec(),
            renewal_token: self.renewal_token(&actor, token_expires_at),
            renewal_token_expires_at: token_expires_at,
            actor,
        }
    }

    fn renewal_token(&self, actor: &ActrId, expires_at: UnixSecs) -> Vec<u8> {
        // new_from_slice only fails for invalid key lengths, which HMAC does not have.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.renewal_key).expect("HMAC takes any key length");
        mac.update(b"actr/ais/renewal/v1");
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

    fn service() -> AisService {
        let mut s = AisService::new([9; 32], 1, 1, AisConfig::default());
        s.upsert_realm(RealmConfig { realm: Realm(1), secret: None }).unwrap();
        s.upsert_realm(RealmConfig { realm: Realm(2), secret: Some("s3cret".into()) }).unwrap();
        s
    }

    fn reg(realm: u32, secret: Option<&str>) -> AisRequest {
        AisRequest::Register(RegisterRequest {
            actr_type: "acme:echo:1".parse().unwrap(),
            realm: Realm(realm),
            realm_secret: secret.map(Into::into),
            auth: RegisterAuth::Linked,
        })
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
        assert_eq!(a.credential_expires_at, claims.expires_at);
        assert_eq!(s.next_serial(), 3);
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
    fn renewal_keeps_id_and_extends_expiry() {
        let mut s = service();
        let a = ok(s.handle(1000, reg(1, None)));
        let renewed = ok(s.handle(
            3000,
            AisRequest::Renew(RenewRequest {
                actor: a.actor.clone(),
                renewal_token: a.renewal_token.clone(),
                renewal_token_expires_at: a.renewal_token_expires_at,
            }),
        ));
        assert_eq!(renewed.actor, a.actor);
        assert_eq!(renewed.credential_expires_at, 3000 + 3600);
        assert!(renewed.credential.verify(&s.key_ring(), 4700, Some(&a.actor)).is_ok());
        assert_eq!(
            a.credential.verify(&s.key_ring(), 4700, Some(&a.actor)),
            Err(CredentialError::Expired { expires_at: 4600, now: 4700 })
        );
    }

    #[test]
    fn renewal_refuses_forged_or_expired_tokens() {
        let mut s = service();
        let a = ok(s.handle(1000, reg(1, None)));
        let mut other = a.actor.clone();
        other.serial += 100;
        let forged = RenewRequest {
            actor: other,
            renewal_token: a.renewal_token.clone(),
            renewal_token_expires_at: a.renewal_token_expires_at,
        };
        assert!(matches!(err(s.handle(1001, AisRequest::Renew(forged))), ActrError::Unauthenticated(_)));
        let stretched = RenewRequest {
            actor: a.actor.clone(),
            renewal_token: a.renewal_token.clone(),
            renewal_token_expires_at: a.renewal_token_expires_at + 1,
        };
        assert!(matches!(err(s.handle(1001, AisRequest::Renew(stretched))), ActrError::Unauthenticated(_)));
        let late = RenewRequest {
            actor: a.actor,
            renewal_token: a.renewal_token,
            renewal_token_expires_at: a.renewal_token_expires_at,
        };
        assert!(matches!(
            err(s.handle(a.renewal_token_expires_at, AisRequest::Renew(late))),
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
        let bad = AisRequest::Register(RegisterRequest {
            actr_type: ActrType { manufacturer: "1x".into(), name: "y".into(), version: "1".into() },
            realm: Realm(1),
            realm_secret: None,
            auth: RegisterAuth::Linked,
        });
        assert!(matches!(err(s.handle(0, bad)), ActrError::InvalidArgument(_)));
        assert!(matches!(err(s.handle(0, AisRequest::SigningKey { key_id: 5 })), ActrError::NotFound(_)));
    }
}
