//! The opening exchange of a direct WebSocket link.
//!
//! The dialing node sends one [`DirectHello`]: its actor id, its AIS
//! credential, and the actor it wants to reach. The listener checks the
//! credential against the AIS public key and its own wall clock, and answers
//! [`DirectReply::Welcome`] or [`DirectReply::Refused`] (then closes). After a
//! welcome, every WebSocket binary message in either direction is one encoded
//! `RpcEnvelope`. Both messages use the versioned envelope of `actr_core::wire`.

use crate::credential::{Credential, CredentialError, KeyRing};
use crate::error::ErrorReply;
use crate::wire::{decode_message, encode_message};
use crate::{ActrError, ActrId, UnixSecs};
use serde::{Deserialize, Serialize};

/// Largest hello or reply.
pub const MAX_HELLO: usize = 16 * 1024;

/// First message on a direct link, from the dialing node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectHello {
    pub caller: ActrId,
    pub credential: Credential,
    /// The actor the caller wants; a listener serving another actor refuses.
    pub target: ActrId,
}

/// The listener's answer to a hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectReply {
    Welcome { actor: ActrId },
    Refused(ErrorReply),
}

impl DirectHello {
    pub fn encode(&self) -> Result<Vec<u8>, ActrError> {
        Ok(encode_message(self, MAX_HELLO)?)
    }
}

impl DirectReply {
    pub fn encode(&self) -> Result<Vec<u8>, ActrError> {
        Ok(encode_message(self, MAX_HELLO)?)
    }

    /// Decodes a reply and turns it into the welcomed actor or the refusal.
    pub fn decode_outcome(bytes: &[u8], expected: &ActrId) -> Result<(), ActrError> {
        match decode_message::<DirectReply>(bytes, MAX_HELLO)? {
            DirectReply::Welcome { actor } if actor == *expected => Ok(()),
            DirectReply::Welcome { actor } => {
                Err(ActrError::Unauthenticated(format!("the listener is {actor}, not {expected}")))
            }
            DirectReply::Refused(e) => Err(e.into()),
        }
    }
}

/// Checks a received hello for the listener `own` at wall-clock time `unix`;
/// returns the authenticated caller.
///
/// Errors: `DecodeFailure` for bytes that are no hello, `NotFound` when the
/// hello targets another actor, `Unauthenticated` for a credential that does
/// not verify, has expired, or names another actor than `caller`.
pub fn verify_hello(bytes: &[u8], own: &ActrId, ring: &KeyRing, unix: UnixSecs) -> Result<ActrId, HelloError> {
    let hello: DirectHello = decode_message(bytes, MAX_HELLO).map_err(|e| HelloError::Refused(e.into()))?;
    if hello.target != *own {
        return Err(HelloError::Refused(ActrError::NotFound(format!("this listener serves {own}"))));
    }
    match hello.credential.verify(ring, unix, Some(&hello.caller)) {
        Ok(_) => Ok(hello.caller),
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

    fn setup() -> (KeyRing, ActrId, ActrId, Credential) {
        let key = SigningKey::from_bytes(&[9; 32]);
        let mut ring = KeyRing::default();
        ring.insert(1, key.verifying_key());
        let caller: ActrId = "5@1/acme:caller:1".parse().unwrap();
        let own: ActrId = "6@1/acme:callee:1".parse().unwrap();
        let cred = Credential::issue(&key, 1, &Claims { realm: Realm(1), actor: caller.clone(), expires_at: 100 });
        (ring, caller, own, cred)
    }

    fn hello(caller: &ActrId, credential: &Credential, target: &ActrId) -> Vec<u8> {
        DirectHello { caller: caller.clone(), credential: credential.clone(), target: target.clone() }.encode().unwrap()
    }

    #[test]
    fn a_valid_hello_names_the_caller() {
        let (ring, caller, own, cred) = setup();
        assert_eq!(verify_hello(&hello(&caller, &cred, &own), &own, &ring, 50), Ok(caller));
    }

    #[test]
    fn refusals_are_typed() {
        let (ring, caller, own, cred) = setup();
        let refused = |r| match r {
            Err(HelloError::Refused(e)) => e,
            other => panic!("{other:?}"),
        };
        assert!(matches!(refused(verify_hello(b"\x01junk", &own, &ring, 50)), ActrError::DecodeFailure(_)));
        assert!(matches!(refused(verify_hello(b"junk", &own, &ring, 50)), ActrError::InvalidArgument(_)), "version");
        assert!(matches!(
            refused(verify_hello(&hello(&caller, &cred, &caller), &own, &ring, 50)),
            ActrError::NotFound(_)
        ));
        let expired = verify_hello(&hello(&caller, &cred, &own), &own, &ring, 100);
        assert!(matches!(refused(expired), ActrError::Unauthenticated(_)));
        let impostor = verify_hello(&hello(&own, &cred, &own), &own, &ring, 50);
        assert!(matches!(refused(impostor), ActrError::Unauthenticated(_)));
        let unknown = Credential { key_id: 7, ..cred };
        assert_eq!(verify_hello(&hello(&caller, &unknown, &own), &own, &ring, 50), Err(HelloError::UnknownKey(7)));
    }

    #[test]
    fn replies_round_trip() {
        let (_, caller, own, _) = setup();
        let welcome = DirectReply::Welcome { actor: own.clone() }.encode().unwrap();
        assert_eq!(DirectReply::decode_outcome(&welcome, &own), Ok(()));
        assert!(matches!(DirectReply::decode_outcome(&welcome, &caller), Err(ActrError::Unauthenticated(_))));
        let refused = DirectReply::Refused(ErrorReply::from(ActrError::NotFound("x".into()))).encode().unwrap();
        assert_eq!(DirectReply::decode_outcome(&refused, &own), Err(ActrError::NotFound("x".into())));
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
