//! The opening exchange of a direct WebSocket link: a challenge and two
//! proofs of possession, so each side knows who holds the other end.
//!
//! 1. The listener speaks first, once its WebSocket handshake is done: one
//!    [`DirectChallenge`] with a fresh nonce.
//! 2. The dialer answers with one [`DirectHello`]: its actor id, its AIS
//!    credential, the actor it wants, a nonce of its own, and a signature by
//!    the host key its credential binds over [`Statement::LinkHello`] (both
//!    nonces and both ids).
//! 3. The listener checks the credential against the AIS key ring and its
//!    own wall clock, and the signature against the credential's host key,
//!    then answers [`DirectReply::Welcome`] with its own credential and a
//!    signature over [`Statement::LinkWelcome`], or [`DirectReply::Refused`]
//!    (then closes). The dialer checks the welcome the same way.
//!
//! A credential seen on one link is useless on another: every proof covers
//! a nonce the verifier just made and names both ends. After a welcome,
//! every WebSocket binary message in either direction is one encoded
//! `RpcEnvelope`. All three messages use the versioned envelope of
//! `actr_core::wire`.

use crate::credential::{Claims, Credential, CredentialError, KeyRing};
use crate::error::ErrorReply;
use crate::proof::{HostKey, Nonce, Statement};
use crate::wire::{decode_message, encode_message};
use crate::{ActrError, ActrId, UnixSecs};
use serde::{Deserialize, Serialize};

/// Largest challenge, hello or reply.
pub const MAX_HELLO: usize = 16 * 1024;

/// First message on a direct link, from the listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectChallenge {
    pub nonce: Nonce,
}

/// The dialer's answer to the challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectHello {
    pub caller: ActrId,
    pub credential: Credential,
    /// The actor the caller wants; a listener serving another actor refuses.
    pub target: ActrId,
    /// The nonce the listener's welcome must sign.
    pub nonce: Nonce,
    /// Signature over [`Statement::LinkHello`].
    pub proof: Vec<u8>,
}

/// The listener's answer to a hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectReply {
    /// `proof` signs [`Statement::LinkWelcome`].
    Welcome {
        actor: ActrId,
        credential: Credential,
        proof: Vec<u8>,
    },
    Refused(ErrorReply),
}

/// Both nonces of one link's exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkNonces {
    pub listener: Nonce,
    pub dialer: Nonce,
}

impl DirectChallenge {
    pub fn encode(&self) -> Result<Vec<u8>, ActrError> {
        Ok(encode_message(self, MAX_HELLO)?)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ActrError> {
        Ok(decode_message(bytes, MAX_HELLO)?)
    }
}

impl DirectHello {
    /// The hello of `caller` (holding `key`) to `target`, for `nonces`.
    pub fn signed(
        caller: &ActrId,
        credential: &Credential,
        target: &ActrId,
        nonces: LinkNonces,
        key: &HostKey,
    ) -> Self {
        let statement =
            Statement::LinkHello { listener_nonce: &nonces.listener, dialer_nonce: &nonces.dialer, caller, target };
        DirectHello {
            caller: caller.clone(),
            credential: credential.clone(),
            target: target.clone(),
            nonce: nonces.dialer,
            proof: key.sign(&statement),
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, ActrError> {
        Ok(encode_message(self, MAX_HELLO)?)
    }
}

impl DirectReply {
    /// The welcome of `listener` (holding `key`) to `caller`.
    pub fn welcome(
        listener: &ActrId,
        credential: &Credential,
        caller: &ActrId,
        nonces: LinkNonces,
        key: &HostKey,
    ) -> Self {
        let statement =
            Statement::LinkWelcome { listener_nonce: &nonces.listener, dialer_nonce: &nonces.dialer, listener, caller };
        DirectReply::Welcome { actor: listener.clone(), credential: credential.clone(), proof: key.sign(&statement) }
    }

    pub fn encode(&self) -> Result<Vec<u8>, ActrError> {
        Ok(encode_message(self, MAX_HELLO)?)
    }

    /// Decodes the reply to `caller`'s hello to `expected` and checks the
    /// welcome's credential and proof; returns the listener's verified
    /// claims, or the refusal as an error.
    pub fn decode_outcome(
        bytes: &[u8],
        expected: &ActrId,
        caller: &ActrId,
        nonces: LinkNonces,
        ring: &KeyRing,
        unix: UnixSecs,
    ) -> Result<Claims, ActrError> {
        match decode_message::<DirectReply>(bytes, MAX_HELLO)? {
            DirectReply::Welcome { actor, .. } if actor != *expected => {
                Err(ActrError::Unauthenticated(format!("the listener is {actor}, not {expected}")))
            }
            DirectReply::Welcome { actor, credential, proof } => {
                let statement = Statement::LinkWelcome {
                    listener_nonce: &nonces.listener,
                    dialer_nonce: &nonces.dialer,
                    listener: &actor,
                    caller,
                };
                credential
                    .verify_possession(ring, unix, Some(&actor), &statement, &proof)
                    .map_err(|e| ActrError::Unauthenticated(format!("the listener's welcome: {e}")))
            }
            DirectReply::Refused(e) => Err(e.into()),
        }
    }
}

/// Checks a received hello for the listener `own`, which challenged with
/// `listener_nonce`, at wall-clock time `unix`; returns the authenticated
/// caller's claims and the nonces of the exchange.
///
/// Errors: `DecodeFailure` for bytes that are no hello, `NotFound` when the
/// hello targets another actor, `Unauthenticated` for a credential that does
/// not verify, has expired, or names another actor than `caller`, and for a
/// proof that is not the credential's host key's over this exchange.
pub fn verify_hello(
    bytes: &[u8],
    own: &ActrId,
    listener_nonce: &Nonce,
    ring: &KeyRing,
    unix: UnixSecs,
) -> Result<(Claims, LinkNonces), HelloError> {
    let hello: DirectHello = decode_message(bytes, MAX_HELLO).map_err(|e| HelloError::Refused(e.into()))?;
    if hello.target != *own {
        return Err(HelloError::Refused(ActrError::NotFound(format!("this listener serves {own}"))));
    }
    let nonces = LinkNonces { listener: *listener_nonce, dialer: hello.nonce };
    let statement = Statement::LinkHello {
        listener_nonce: &nonces.listener,
        dialer_nonce: &nonces.dialer,
        caller: &hello.caller,
        target: own,
    };
    match hello.credential.verify_possession(ring, unix, Some(&hello.caller), &statement, &hello.proof) {
        Ok(claims) => Ok((claims, nonces)),
        Err(CredentialError::UnknownKey(id)) => Err(HelloError::UnknownKey(id)),
        Err(e) => Err(HelloError::Refused(e.into())),
    }
}

/// Why a hello was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloError {
    /// Signed with a key this node does not know yet: refresh the key ring and retry.
    UnknownKey(u32),
    Refused(ActrError),
}

/// Splits `ws://host:port[/path]` into the TCP authority and the URL to request.
pub fn parse_ws_address(address: &str) -> Result<(String, String), ActrError> {
    let bad = |why: &str| ActrError::InvalidArgument(format!("direct address {address:?}: {why}"));
    let rest = address.strip_prefix("ws://").ok_or_else(|| bad("expected ws://host:port"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let port = authority.rsplit_once(':').map(|(_, p)| p).ok_or_else(|| bad("missing port"))?;
    if port.parse::<u16>().is_err() || authority.contains(char::is_whitespace) || authority.starts_with(':') {
        return Err(bad("expected host:port"));
    }
    Ok((authority.to_owned(), format!("ws://{authority}{path}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Realm;
    use crate::credential::Claims;
    use ed25519_dalek::SigningKey;

    struct Side {
        id: ActrId,
        key: HostKey,
        cred: Credential,
    }

    fn setup() -> (KeyRing, Side, Side) {
        let ais = SigningKey::from_bytes(&[9; 32]);
        let mut ring = KeyRing::default();
        ring.insert(1, ais.verifying_key());
        let side = |id: &str, seed: u8| {
            let id: ActrId = id.parse().unwrap();
            let key = HostKey::from_seed([seed; 32]);
            let claims =
                Claims { realm: Realm(1), actor: id.clone(), expires_at: 100, host_key: key.public(), verified: false };
            Side { cred: Credential::issue(&ais, 1, &claims), id, key }
        };
        (ring, side("5@1/acme:caller:1", 1), side("6@1/acme:callee:1", 2))
    }

    const NONCES: LinkNonces = LinkNonces { listener: [3; 32], dialer: [4; 32] };

    fn hello(from: &Side, target: &ActrId) -> Vec<u8> {
        DirectHello::signed(&from.id, &from.cred, target, NONCES, &from.key).encode().unwrap()
    }

    #[test]
    fn a_valid_hello_names_the_caller() {
        let (ring, caller, own) = setup();
        let (claims, nonces) = verify_hello(&hello(&caller, &own.id), &own.id, &NONCES.listener, &ring, 50).unwrap();
        assert_eq!((claims.actor, nonces), (caller.id, NONCES));
    }

    #[test]
    fn refusals_are_typed() {
        let (ring, caller, own) = setup();
        let refused = |r| match r {
            Err(HelloError::Refused(e)) => e,
            other => panic!("{other:?}"),
        };
        let check = |bytes: &[u8], unix| verify_hello(bytes, &own.id, &NONCES.listener, &ring, unix);
        assert!(matches!(refused(check(b"\x01junk", 50)), ActrError::DecodeFailure(_)));
        assert!(matches!(refused(check(b"junk", 50)), ActrError::InvalidArgument(_)), "version");
        assert!(matches!(refused(check(&hello(&caller, &caller.id), 50)), ActrError::NotFound(_)));
        assert!(matches!(refused(check(&hello(&caller, &own.id), 100)), ActrError::Unauthenticated(_)), "expired");
        let impostor =
            DirectHello { caller: own.id.clone(), ..decode_message(&hello(&caller, &own.id), MAX_HELLO).unwrap() };
        assert!(matches!(refused(check(&impostor.encode().unwrap(), 50)), ActrError::Unauthenticated(_)));
        let unknown = Credential { key_id: 7, ..caller.cred.clone() };
        let with_unknown = DirectHello::signed(&caller.id, &unknown, &own.id, NONCES, &caller.key);
        assert_eq!(check(&with_unknown.encode().unwrap(), 50), Err(HelloError::UnknownKey(7)));
    }

    #[test]
    fn a_captured_credential_or_hello_is_refused() {
        let (ring, caller, own) = setup();
        // The thief holds the caller's credential but not its host key.
        let thief = HostKey::from_seed([66; 32]);
        let stolen = DirectHello::signed(&caller.id, &caller.cred, &own.id, NONCES, &thief).encode().unwrap();
        let e = verify_hello(&stolen, &own.id, &NONCES.listener, &ring, 50);
        assert!(
            matches!(e, Err(HelloError::Refused(ActrError::Unauthenticated(ref m))) if m.contains("possession")),
            "{e:?}"
        );
        // A whole hello replayed to a new challenge signs the old nonce.
        let replayed = verify_hello(&hello(&caller, &own.id), &own.id, &[5; 32], &ring, 50);
        assert!(matches!(replayed, Err(HelloError::Refused(ActrError::Unauthenticated(_)))), "{replayed:?}");
    }

    #[test]
    fn the_dialer_checks_the_welcome() {
        let (ring, caller, own) = setup();
        let welcome = DirectReply::welcome(&own.id, &own.cred, &caller.id, NONCES, &own.key).encode().unwrap();
        let outcome = |bytes: &[u8], expected: &ActrId, nonces| {
            DirectReply::decode_outcome(bytes, expected, &caller.id, nonces, &ring, 50)
        };
        assert_eq!(outcome(&welcome, &own.id, NONCES).map(|c| c.actor), Ok(own.id.clone()));
        assert!(matches!(outcome(&welcome, &caller.id, NONCES), Err(ActrError::Unauthenticated(_))), "another actor");
        let stale = LinkNonces { dialer: [8; 32], ..NONCES };
        assert!(matches!(outcome(&welcome, &own.id, stale), Err(ActrError::Unauthenticated(_))), "old nonce");
        let thief = HostKey::from_seed([66; 32]);
        let forged = DirectReply::welcome(&own.id, &own.cred, &caller.id, NONCES, &thief).encode().unwrap();
        assert!(matches!(outcome(&forged, &own.id, NONCES), Err(ActrError::Unauthenticated(_))), "stolen credential");
        let refused = DirectReply::Refused(ErrorReply::from(ActrError::NotFound("x".into()))).encode().unwrap();
        assert_eq!(outcome(&refused, &own.id, NONCES), Err(ActrError::NotFound("x".into())));
        let challenge = DirectChallenge { nonce: [1; 32] };
        assert_eq!(DirectChallenge::decode(&challenge.encode().unwrap()), Ok(challenge));
    }

    #[test]
    fn ws_addresses_parse() {
        assert_eq!(parse_ws_address("ws://127.0.0.1:9").unwrap(), ("127.0.0.1:9".into(), "ws://127.0.0.1:9/".into()));
        assert_eq!(parse_ws_address("ws://[::1]:9/x").unwrap(), ("[::1]:9".into(), "ws://[::1]:9/x".into()));
        for bad in ["http://a:1", "ws://a", "ws://a:x", "ws://:1", "ws://a b:1"] {
            assert!(parse_ws_address(bad).is_err(), "{bad}");
        }
    }
}
