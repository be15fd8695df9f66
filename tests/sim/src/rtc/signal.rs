//! What one node's WebRTC layer relays to another through the signaling
//! server, as the opaque payload of `ClientRequest::Relay`.
//!
//! `magic | tag | body`:
//! - tag 0, `ConnectRequest`: `seen` (u64 LE), then nothing. The answerer
//!   has something to send and no session; only the offerer may offer, so
//!   it asks for one. `seen` is the newest `conn` it has heard of: an
//!   offerer whose current session is not newer knows the answerer lost it;
//! - tag 1, `Rtc`: `conn` (u64 LE) then an encoded [`RtcSignal`]. `conn` is
//!   the offerer's session id for the pair: both sides tag every signal of a
//!   session with it, so a signal of an older session is recognised and
//!   dropped, and an offer with a newer `conn` starts a new session.

use actr_driver::webrtc::RtcSignal;

/// Marks a relay payload as ours (workload relays are plain text).
const MAGIC: &[u8; 4] = b"ARTC";

/// One signaling message between two nodes' WebRTC layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerSignal {
    ConnectRequest { seen: u64 },
    Rtc { conn: u64, signal: RtcSignal },
}

impl PeerSignal {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        match self {
            PeerSignal::ConnectRequest { seen } => {
                out.push(0);
                out.extend_from_slice(&seen.to_le_bytes());
            }
            PeerSignal::Rtc { conn, signal } => {
                out.push(1);
                out.extend_from_slice(&conn.to_le_bytes());
                // Signals the peer produced always fit MAX_SIGNAL_BYTES.
                out.extend(signal.encode().expect("str0m's SDP fits the signal limit"));
            }
        }
        out
    }

    /// `None` for anything that is not a well-formed [`PeerSignal`].
    pub fn decode(bytes: &[u8]) -> Option<PeerSignal> {
        let rest = bytes.strip_prefix(MAGIC)?;
        match rest.split_first()? {
            (0, seen) => Some(PeerSignal::ConnectRequest { seen: u64::from_le_bytes(seen.try_into().ok()?) }),
            (1, body) if body.len() >= 8 => {
                let (conn, signal) = body.split_at(8);
                let conn = u64::from_le_bytes(conn.try_into().ok()?);
                Some(PeerSignal::Rtc { conn, signal: RtcSignal::decode(signal).ok()? })
            }
            _ => None,
        }
    }

    /// A short name for counters and traces.
    pub fn name(&self) -> &'static str {
        match self {
            PeerSignal::ConnectRequest { .. } => "connect-request",
            PeerSignal::Rtc { signal, .. } => signal.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_others() {
        let all = [
            PeerSignal::ConnectRequest { seen: 0 },
            PeerSignal::ConnectRequest { seen: 9 },
            PeerSignal::Rtc { conn: 7, signal: RtcSignal::IceRestartRequest },
            PeerSignal::Rtc { conn: u64::MAX, signal: RtcSignal::Offer { sdp: "v=0".into(), exchange_id: 3 } },
        ];
        for s in all {
            assert_eq!(PeerSignal::decode(&s.encode()), Some(s));
        }
        assert_eq!(PeerSignal::decode(b"relay 1 2"), None);
        assert_eq!(PeerSignal::decode(b"ARTC\x01\x00"), None);
        assert_eq!(PeerSignal::decode(b"ARTC\x00\x00"), None);
    }
}
