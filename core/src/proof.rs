//! Proof of possession: the host's key and the statements it signs.
//!
//! A credential alone proves nothing to a peer: anyone who saw it could show
//! it again. So every node has a [`HostKey`], an Ed25519 key the host (never
//! the workload) holds; the AIS binds its public half into the credential's
//! claims at registration, and every place that accepts a credential also
//! asks for a signature by that key over a [`Statement`] the verifier can
//! check is fresh and meant for it:
//!
//! | where | statement | fresh because |
//! |---|---|---|
//! | AIS registration | [`Statement::Register`] | binds the key (a CSR-like check) |
//! | AIS renewal | [`Statement::Renew`] | the AIS's clock, within [`RENEW_WINDOW_SECS`] |
//! | signaling hello | [`Statement::SignalingHello`] | the server's challenge nonce |
//! | direct link, dialer | [`Statement::LinkHello`] | the listener's challenge nonce |
//! | direct link, listener | [`Statement::LinkWelcome`] | the dialer's nonce |
//! | WebRTC offer/answer | [`Statement::RtcFingerprint`] | names both peers and the exchange |
//!
//! Every statement names both parties (where there are two), so a signature
//! made for one verifier is useless to another, and starts with its own
//! domain tag, so a signature for one purpose never verifies for another.
//! The signed bytes are the tag followed by the postcard encoding of the
//! fields; [`Statement::transcript`] builds them.

use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::id::{ActrId, ActrType, Realm};
use crate::time::UnixSecs;

/// Length of a signature in every proof.
pub const PROOF_LEN: usize = 64;
/// Length of a challenge nonce.
pub const NONCE_LEN: usize = 32;
/// How far a renewal's timestamp may be from the AIS's clock.
pub const RENEW_WINDOW_SECS: u64 = 300;

/// A challenge nonce.
pub type Nonce = [u8; NONCE_LEN];

/// The node's private key. Its `Debug` shows only a fingerprint of the
/// public half.
#[derive(Clone)]
pub struct HostKey {
    key: SigningKey,
}

impl HostKey {
    /// The key of a 32-byte seed (drawn from the OS by the driver; from the
    /// world's seed in the simulator).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self { key: SigningKey::from_bytes(&seed) }
    }

    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs `statement`.
    pub fn sign(&self, statement: &Statement<'_>) -> Vec<u8> {
        self.key.sign(&statement.transcript()).to_bytes().to_vec()
    }

    /// A nonce source keyed by this host key (distinct from the signing key).
    pub fn nonces(&self) -> NonceSource {
        let mut h = Sha256::new();
        h.update(b"actr/pop/nonce-key/v1");
        h.update(self.key.to_bytes());
        NonceSource::new(h.finalize().into())
    }
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let public = self.public();
        write!(f, "HostKey(public ")?;
        for b in &public[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// Unpredictable challenge nonces: SHA-256 of a secret key and a counter.
/// The key comes from the OS (or a world seed in the simulator); without it
/// the next nonce cannot be guessed from the ones seen.
#[derive(Clone)]
pub struct NonceSource {
    key: [u8; 32],
    counter: u64,
}

impl NonceSource {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key, counter: 0 }
    }

    pub fn next_nonce(&mut self) -> Nonce {
        self.counter += 1;
        let mut h = Sha256::new();
        h.update(b"actr/pop/nonce/v1");
        h.update(self.key);
        h.update(self.counter.to_le_bytes());
        h.finalize().into()
    }
}

impl fmt::Debug for NonceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceSource").field("counter", &self.counter).finish_non_exhaustive()
    }
}

/// What a host key signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Statement<'a> {
    /// "Bind this key into my credential": sent with a registration.
    Register { realm: Realm, actr_type: &'a ActrType, host_key: &'a [u8; 32] },
    /// "Renew `actor` for me, at time `unix`."
    Renew { actor: &'a ActrId, unix: UnixSecs },
    /// "I am `actor`, answering the signaling server's challenge."
    SignalingHello { nonce: &'a Nonce, actor: &'a ActrId },
    /// "I am `caller` and want `target`", answering the listener's nonce.
    LinkHello { listener_nonce: &'a Nonce, dialer_nonce: &'a Nonce, caller: &'a ActrId, target: &'a ActrId },
    /// "I am `listener` and welcome `caller`", answering the dialer's nonce.
    LinkWelcome { listener_nonce: &'a Nonce, dialer_nonce: &'a Nonce, listener: &'a ActrId, caller: &'a ActrId },
    /// "These DTLS fingerprints are mine", in an offer or answer from `from` to `to`.
    RtcFingerprint { from: &'a ActrId, to: &'a ActrId, exchange_id: u64, fingerprints: &'a [String] },
    /// Signed by a manufacturer's key, not a host key: "register this
    /// unpublished package of mine in `realm`, for the host holding
    /// `host_key`, once (`nonce`), at `signed_at`".
    ManufacturerRegister {
        realm: Realm,
        actr_type: &'a ActrType,
        manifest_sha256: &'a [u8; 32],
        host_key: &'a [u8; 32],
        signed_at: UnixSecs,
        nonce: &'a Nonce,
    },
}

impl Statement<'_> {
    fn tag(&self) -> &'static [u8] {
        match self {
            Statement::Register { .. } => b"actr/pop/register/v1",
            Statement::Renew { .. } => b"actr/pop/renew/v1",
            Statement::SignalingHello { .. } => b"actr/pop/signaling-hello/v1",
            Statement::LinkHello { .. } => b"actr/pop/link-hello/v1",
            Statement::LinkWelcome { .. } => b"actr/pop/link-welcome/v1",
            Statement::RtcFingerprint { .. } => b"actr/pop/rtc-fingerprint/v1",
            Statement::ManufacturerRegister { .. } => b"actr/pop/manufacturer-register/v1",
        }
    }

    /// The exact bytes signed: the domain tag, then the postcard encoding.
    pub fn transcript(&self) -> Vec<u8> {
        let mut out = self.tag().to_vec();
        // Encoding references to plain data into a Vec cannot fail.
        out.extend(postcard::to_allocvec(self).unwrap_or_default());
        out
    }
}

/// Why a proof was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    #[error("the proof of possession must be a 64-byte signature")]
    Malformed,
    #[error("the host key bound into the credential is not a valid key")]
    BadKey,
    #[error("the proof of possession does not verify against the credential's host key")]
    BadSignature,
}

/// Checks that `signature` is `host_key`'s over `statement` (strict Ed25519).
pub fn verify(host_key: &[u8; 32], statement: &Statement<'_>, signature: &[u8]) -> Result<(), ProofError> {
    let sig: [u8; PROOF_LEN] = signature.try_into().map_err(|_| ProofError::Malformed)?;
    let key = VerifyingKey::from_bytes(host_key).map_err(|_| ProofError::BadKey)?;
    key.verify_strict(&statement.transcript(), &Signature::from_bytes(&sig)).map_err(|_| ProofError::BadSignature)
}

/// The DTLS fingerprints an SDP declares (`a=fingerprint:` lines, session
/// and media level, in order), normalised to lowercase: what a WebRTC
/// offer or answer's proof covers. Empty when the SDP declares none.
pub fn sdp_fingerprints(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|line| line.trim_end_matches('\r').strip_prefix("a=fingerprint:"))
        .map(|value| value.trim().to_ascii_lowercase())
        .take(16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (ActrId, ActrId) {
        ("1@1/acme:a:1".parse().unwrap(), "2@1/acme:b:1".parse().unwrap())
    }

    #[test]
    fn a_signature_verifies_only_for_its_own_statement() {
        let key = HostKey::from_seed([3; 32]);
        let (a, b) = ids();
        let nonce = [7; 32];
        let hello = Statement::SignalingHello { nonce: &nonce, actor: &a };
        let sig = key.sign(&hello);
        assert_eq!(verify(&key.public(), &hello, &sig), Ok(()));
        let other_nonce = [8; 32];
        let replayed = Statement::SignalingHello { nonce: &other_nonce, actor: &a };
        assert_eq!(verify(&key.public(), &replayed, &sig), Err(ProofError::BadSignature), "fresh nonce");
        let other_actor = Statement::SignalingHello { nonce: &nonce, actor: &b };
        assert_eq!(verify(&key.public(), &other_actor, &sig), Err(ProofError::BadSignature));
        let thief = HostKey::from_seed([4; 32]);
        assert_eq!(verify(&thief.public(), &hello, &sig), Err(ProofError::BadSignature), "another key");
        assert_eq!(verify(&key.public(), &hello, &sig[..63]), Err(ProofError::Malformed));
    }

    #[test]
    fn purposes_are_separated_by_their_tags() {
        let key = HostKey::from_seed([3; 32]);
        let (a, b) = ids();
        let (n1, n2) = ([1; 32], [2; 32]);
        let hello = Statement::LinkHello { listener_nonce: &n1, dialer_nonce: &n2, caller: &a, target: &b };
        let welcome = Statement::LinkWelcome { listener_nonce: &n1, dialer_nonce: &n2, listener: &a, caller: &b };
        // Same field layout, different purpose: the tag tells them apart.
        assert_ne!(hello.transcript(), welcome.transcript());
        assert_eq!(verify(&key.public(), &welcome, &key.sign(&hello)), Err(ProofError::BadSignature));
    }

    #[test]
    fn nonces_do_not_repeat_and_debug_hides_the_key() {
        let key = HostKey::from_seed([9; 32]);
        let mut nonces = key.nonces();
        let (x, y) = (nonces.next_nonce(), nonces.next_nonce());
        assert_ne!(x, y);
        assert_ne!(HostKey::from_seed([8; 32]).nonces().next_nonce(), x);
        let shown = format!("{key:?} {nonces:?}");
        assert!(shown.starts_with("HostKey(public "), "{shown}");
        assert!(!shown.contains("090909"), "the seed never shows: {shown}");
    }

    #[test]
    fn fingerprints_come_from_the_sdp() {
        let sdp = "v=0\r\na=fingerprint:sha-256 AB:CD\r\nm=application 9\r\na=fingerprint:SHA-256 EF:01\r\n";
        assert_eq!(sdp_fingerprints(sdp), vec!["sha-256 ab:cd".to_owned(), "sha-256 ef:01".to_owned()]);
        assert!(sdp_fingerprints("v=0\r\n").is_empty());
    }
}
