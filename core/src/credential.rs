//! AIS credentials: Ed25519-signed claims `{realm, actor id, expires_at,
//! host key, verified}`.
//!
//! Anyone holding the AIS public key for the credential's key id can verify
//! one; [`KeyRing`] maps key ids to verifying keys. A credential is not a
//! bearer token: it binds the node's host key, and
//! [`Credential::verify_possession`] also checks a fresh signature by that
//! key (see [`crate::proof`]), so a credential someone saw is useless to them.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{ActrError, Classify, ErrorKind};
use crate::id::{ActrId, Realm};
use crate::proof::{self, ProofError, Statement};
use crate::time::UnixSecs;

/// Most keys a ring holds (current plus retired ones).
pub const MAX_KEYS: usize = 64;

/// What the AIS vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub realm: Realm,
    pub actor: ActrId,
    pub expires_at: UnixSecs,
    /// The public half of the node's host key: proofs of possession are
    /// checked against it.
    pub host_key: [u8; 32],
    /// The AIS checked a manufacturer's signature over the actor's type
    /// (a package registration); `false` for a linked workload.
    pub verified: bool,
}

/// Signed claims. `claims` holds the exact signed bytes (postcard of [`Claims`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Credential {
    pub key_id: u32,
    pub claims: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Why a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    #[error("unknown signing key id {0}")]
    UnknownKey(u32),
    #[error("signature does not verify")]
    BadSignature,
    #[error("malformed credential: {0}")]
    Malformed(&'static str),
    #[error("credential expired at {expires_at} (now {now})")]
    Expired { expires_at: UnixSecs, now: UnixSecs },
    #[error("credential is for realm {claimed}, not {expected}")]
    WrongRealm { claimed: Realm, expected: Realm },
    #[error("credential names another actor")]
    WrongActor,
    #[error("no proof of possession: {0}")]
    NoPossession(ProofError),
}

impl Classify for CredentialError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Client
    }
}

impl From<CredentialError> for ActrError {
    fn from(e: CredentialError) -> Self {
        ActrError::Unauthenticated(e.to_string())
    }
}

impl Credential {
    /// Signs `claims` with the AIS key.
    pub fn issue(key: &SigningKey, key_id: u32, claims: &Claims) -> Credential {
        let bytes = postcard::to_allocvec(claims).unwrap_or_default();
        let signature = key.sign(&bytes).to_bytes().to_vec();
        Credential { key_id, claims: bytes, signature }
    }

    /// Decodes the claims without checking the signature (for display and scheduling).
    pub fn peek_claims(&self) -> Result<Claims, CredentialError> {
        postcard::from_bytes(&self.claims).map_err(|_| CredentialError::Malformed("claims do not decode"))
    }

    /// Full check: known key, valid signature, unexpired at `now`, claims
    /// consistent, and, when given, bound to `expected`.
    pub fn verify(&self, ring: &KeyRing, now: UnixSecs, expected: Option<&ActrId>) -> Result<Claims, CredentialError> {
        let key = ring.get(self.key_id).ok_or(CredentialError::UnknownKey(self.key_id))?;
        let sig: [u8; 64] = self
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| CredentialError::Malformed("signature must be 64 bytes"))?;
        key.verify(&self.claims, &Signature::from_bytes(&sig)).map_err(|_| CredentialError::BadSignature)?;
        let claims = self.peek_claims()?;
        if claims.expires_at <= now {
            return Err(CredentialError::Expired { expires_at: claims.expires_at, now });
        }
        if claims.realm != claims.actor.realm {
            return Err(CredentialError::WrongRealm { claimed: claims.actor.realm, expected: claims.realm });
        }
        if let Some(expected) = expected {
            if expected.realm != claims.realm {
                return Err(CredentialError::WrongRealm { claimed: claims.realm, expected: expected.realm });
            }
            if *expected != claims.actor {
                return Err(CredentialError::WrongActor);
            }
        }
        Ok(claims)
    }

    /// [`Credential::verify`], then checks that `proof` is a signature over
    /// `statement` by the host key the credential binds: the one who shows
    /// the credential holds its key.
    pub fn verify_possession(
        &self,
        ring: &KeyRing,
        now: UnixSecs,
        expected: Option<&ActrId>,
        statement: &Statement<'_>,
        proof: &[u8],
    ) -> Result<Claims, CredentialError> {
        let claims = self.verify(ring, now, expected)?;
        proof::verify(&claims.host_key, statement, proof).map_err(CredentialError::NoPossession)?;
        Ok(claims)
    }
}

/// Verifying keys by key id, bounded by [`MAX_KEYS`].
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: BTreeMap<u32, VerifyingKey>,
}

impl KeyRing {
    /// Adds a key; when full, the lowest key id (the oldest) is dropped.
    pub fn insert(&mut self, key_id: u32, key: VerifyingKey) {
        if !self.keys.contains_key(&key_id) && self.keys.len() >= MAX_KEYS {
            self.keys.pop_first();
        }
        self.keys.insert(key_id, key);
    }

    /// Adds a key from its 32 raw bytes.
    pub fn insert_bytes(&mut self, key_id: u32, bytes: &[u8]) -> Result<(), CredentialError> {
        let raw: [u8; 32] = bytes.try_into().map_err(|_| CredentialError::Malformed("public key must be 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&raw).map_err(|_| CredentialError::Malformed("not an Ed25519 point"))?;
        self.insert(key_id, key);
        Ok(())
    }

    pub fn get(&self, key_id: u32) -> Option<&VerifyingKey> {
        self.keys.get(&key_id)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (SigningKey, KeyRing, ActrId) {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut ring = KeyRing::default();
        ring.insert(1, key.verifying_key());
        let id: ActrId = "5@3/acme:echo:1".parse().unwrap();
        (key, ring, id)
    }

    #[test]
    fn issued_credential_verifies() {
        let (key, ring, id) = setup();
        let c = Credential::issue(
            &key,
            1,
            &Claims { realm: Realm(3), actor: id.clone(), expires_at: 100, host_key: [1; 32], verified: false },
        );
        assert_eq!(c.verify(&ring, 99, Some(&id)).unwrap().actor, id);
    }

    #[test]
    fn refusals_are_typed() {
        let (key, ring, id) = setup();
        let claims = Claims { realm: Realm(3), actor: id.clone(), expires_at: 100, host_key: [1; 32], verified: false };
        let c = Credential::issue(&key, 1, &claims);
        assert_eq!(c.verify(&ring, 100, None), Err(CredentialError::Expired { expires_at: 100, now: 100 }));
        let other: ActrId = "6@3/acme:echo:1".parse().unwrap();
        assert_eq!(c.verify(&ring, 1, Some(&other)), Err(CredentialError::WrongActor));
        let other_realm: ActrId = "5@4/acme:echo:1".parse().unwrap();
        assert!(matches!(c.verify(&ring, 1, Some(&other_realm)), Err(CredentialError::WrongRealm { .. })));
        let unknown = Credential { key_id: 9, ..c.clone() };
        assert_eq!(unknown.verify(&ring, 1, None), Err(CredentialError::UnknownKey(9)));
        let forged = Credential::issue(&SigningKey::from_bytes(&[8; 32]), 1, &claims);
        assert_eq!(forged.verify(&ring, 1, None), Err(CredentialError::BadSignature));
        let mut tampered = c.clone();
        let last = tampered.claims.len() - 1;
        tampered.claims[last] ^= 1;
        assert_eq!(tampered.verify(&ring, 1, None), Err(CredentialError::BadSignature));
        let short = Credential { signature: vec![0; 10], ..c.clone() };
        assert!(matches!(short.verify(&ring, 1, None), Err(CredentialError::Malformed(_))));
        let mismatched = Credential::issue(&key, 1, &Claims { realm: Realm(4), ..claims });
        assert!(matches!(mismatched.verify(&ring, 1, None), Err(CredentialError::WrongRealm { .. })));
    }

    #[test]
    fn possession_needs_the_bound_key() {
        let (key, ring, id) = setup();
        let host = crate::proof::HostKey::from_seed([5; 32]);
        let claims =
            Claims { realm: Realm(3), actor: id.clone(), expires_at: 100, host_key: host.public(), verified: false };
        let c = Credential::issue(&key, 1, &claims);
        let nonce = [2; 32];
        let statement = Statement::SignalingHello { nonce: &nonce, actor: &id };
        assert!(c.verify_possession(&ring, 1, Some(&id), &statement, &host.sign(&statement)).is_ok());
        let thief = crate::proof::HostKey::from_seed([6; 32]);
        assert_eq!(
            c.verify_possession(&ring, 1, Some(&id), &statement, &thief.sign(&statement)),
            Err(CredentialError::NoPossession(ProofError::BadSignature)),
            "a captured credential with the thief's own signature"
        );
    }

    #[test]
    fn key_ring_is_bounded() {
        let mut ring = KeyRing::default();
        let key = SigningKey::from_bytes(&[1; 32]).verifying_key();
        for i in 0..(MAX_KEYS as u32 + 5) {
            ring.insert(i, key);
        }
        assert_eq!(ring.len(), MAX_KEYS);
        assert!(ring.get(0).is_none());
        assert!(ring.get(MAX_KEYS as u32 + 4).is_some());
    }
}
