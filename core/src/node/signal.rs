//! Signaling messages between two WebRTC peers (actr-driver's `RtcPeer`).
//!
//! They travel as an opaque payload of the signaling server's relay, encoded
//! with actr's versioned postcard envelope.

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
}

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
