//! Signaling messages between two WebRTC peers (actr-driver's `RtcPeer`).
//!
//! They travel as an opaque payload of the signaling server's relay, as a
//! [`RelaySignal`] encoded with actr's versioned postcard envelope. An offer
//! or answer carries a [`SignalProof`]: the sender's credential and its host
//! key's signature over the SDP's DTLS fingerprints and both peers' ids
//! ([`crate::proof::Statement::RtcFingerprint`]). The receiving hub checks
//! it before the str0m peer sees the SDP, so a relay that rewrites the SDP
//! (to put itself in the middle of DTLS) is caught, and the session never
//! comes up. The str0m peer itself only ever sees [`RtcSignal`]s.

use crate::credential::Credential;
use crate::wire::{WireError, decode_message, encode_message};
use serde::{Deserialize, Serialize};

/// Largest encoded signaling message: SDP with a few media sections fits
/// easily.
pub const MAX_SIGNAL_BYTES: usize = 64 * 1024;

/// One signaling message for the remote peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RtcSignal {
    /// The offerer's SDP; `exchange_id` grows with every offer.
    Offer { sdp: String, exchange_id: u64 },
    /// The answerer's SDP for the offer with the same `exchange_id`.
    Answer { sdp: String, exchange_id: u64 },
    /// A trickled local ICE candidate, in SDP `candidate:` form.
    Candidate { candidate: String },
    /// The answerer asks the offerer to restart ICE.
    IceRestartRequest,
    /// The answerer has no connection to the offerer (it never had one, or
    /// its own ended) and asks for a new one: the offerer replaces any it
    /// still holds.
    ConnectRequest,
    /// The receiver refused our offer or answer (its fingerprint proof did
    /// not hold): the session is over, with this reason. Hub to hub only;
    /// never answered with another refusal.
    Refused { reason: String },
}

/// Longest reason a [`RtcSignal::Refused`] carries.
pub const MAX_REFUSAL_REASON: usize = 256;

impl RtcSignal {
    /// Encodes for the signaling relay.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        encode_message(self, MAX_SIGNAL_BYTES)
    }

    /// Decodes bytes produced by [`RtcSignal::encode`]; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode_message(bytes, MAX_SIGNAL_BYTES)
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            RtcSignal::Offer { .. } => "offer",
            RtcSignal::Answer { .. } => "answer",
            RtcSignal::Candidate { .. } => "candidate",
            RtcSignal::IceRestartRequest => "ice-restart-request",
            RtcSignal::ConnectRequest => "connect-request",
            RtcSignal::Refused { .. } => "refused",
        }
    }
}

/// Who vouches for an offer's or answer's fingerprints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalProof {
    pub credential: Credential,
    /// The host key's signature over `Statement::RtcFingerprint`.
    pub signature: Vec<u8>,
}

/// What travels through the signaling relay between two hubs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelaySignal {
    pub signal: RtcSignal,
    /// Present on offers and answers.
    pub proof: Option<SignalProof>,
}

impl RelaySignal {
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        encode_message(self, MAX_SIGNAL_BYTES)
    }

    /// Decodes bytes produced by [`RelaySignal::encode`]; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode_message(bytes, MAX_SIGNAL_BYTES)
    }
}

impl RtcSignal {
    /// The SDP and exchange id of an offer or answer.
    pub fn sdp(&self) -> Option<(&str, u64)> {
        match self {
            RtcSignal::Offer { sdp, exchange_id } | RtcSignal::Answer { sdp, exchange_id } => Some((sdp, *exchange_id)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip_and_reject_garbage() {
        let all = [
            RtcSignal::Offer { sdp: "v=0\r\n".into(), exchange_id: 7 },
            RtcSignal::Answer { sdp: "v=0\r\n".into(), exchange_id: u64::MAX },
            RtcSignal::Candidate { candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into() },
            RtcSignal::IceRestartRequest,
            RtcSignal::ConnectRequest,
            RtcSignal::Refused { reason: "no".into() },
        ];
        for s in all {
            assert_eq!(RtcSignal::decode(&s.encode().unwrap()).unwrap(), s);
        }
        assert!(RtcSignal::decode(&[]).is_err());
        assert!(RtcSignal::decode(&[1, 9, 9, 9]).is_err());
        let huge = RtcSignal::Offer { sdp: "x".repeat(MAX_SIGNAL_BYTES), exchange_id: 1 };
        assert!(matches!(huge.encode(), Err(WireError::TooLarge { .. })));
    }
}
