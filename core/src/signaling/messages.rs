//! Signaling messages. Each WebSocket binary message carries one envelope
//! encoded with [`crate::wire::encode_message`].

use serde::{Deserialize, Serialize};

use crate::acl::Acl;
use crate::credential::Credential;
use crate::error::ErrorReply;
use crate::id::{ActrId, ActrType, ServiceSpec};
use crate::proof::Nonce;

/// Largest signaling message: 256 KiB.
pub const MAX_SIGNALING_FRAME: usize = 256 * 1024;
/// Largest relay payload.
pub const MAX_RELAY_PAYLOAD: usize = 192 * 1024;
/// Most results one discovery or route query returns.
pub const MAX_QUERY_LIMIT: u32 = 256;

/// What an actor tells the server about itself when it connects.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ActorProfile {
    /// Who may discover and reach this actor; `None` means its own realm only.
    pub acl: Option<Acl>,
    /// A `ws://host:port` address for direct connections, if the node listens.
    pub ws_address: Option<String>,
    pub service: Option<ServiceSpec>,
}

/// Client to server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// The answer to the server's [`ServerMsg::Challenge`]: binds the
    /// connection to `actor`. `proof` is the host key's signature over
    /// [`crate::proof::Statement::SignalingHello`] with the challenge nonce.
    Hello { actor: ActrId, credential: Credential, profile: ActorProfile, proof: Vec<u8> },
    /// Every later message carries its claimed source and credential, checked each time.
    Signed { source: ActrId, credential: Credential, body: ClientBody },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientBody {
    Request {
        id: u64,
        request: ClientRequest,
    },
    /// Leaving for good: the server forgets the actor at once.
    Goodbye,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientRequest {
    Ping,
    /// Types visible to the caller, optionally of one manufacturer.
    Discover {
        manufacturer: Option<String>,
        limit: u32,
    },
    /// Live instances of one type the caller may reach, newest first.
    RouteCandidates {
        target_type: ActrType,
        limit: u32,
    },
    Subscribe {
        target_type: ActrType,
    },
    Unsubscribe {
        target_type: ActrType,
    },
    /// Opaque bytes for another actor (SDP and ICE in step 2).
    Relay {
        target: ActrId,
        payload: Vec<u8>,
    },
}

/// Server to client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// First message on every connection: the nonce the hello must sign.
    Challenge {
        nonce: Nonce,
    },
    /// Hello accepted: send a ping at least every `heartbeat_interval_ms`.
    Welcome {
        actor: ActrId,
        heartbeat_interval_ms: u64,
    },
    Reply {
        id: u64,
        result: Result<ServerReply, ErrorReply>,
    },
    Relay {
        source: ActrId,
        payload: Vec<u8>,
    },
    Presence {
        actor: ActrId,
        up: bool,
    },
    /// An error not tied to a request (a refused hello, a malformed frame).
    Error(ErrorReply),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerReply {
    Pong,
    Discovered(Vec<ActrType>),
    Candidates(Vec<Candidate>),
    Subscribed,
    Unsubscribed,
    Relayed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub actor: ActrId,
    pub ws_address: Option<String>,
}

/// Which of two peers makes the WebRTC offer: the one whose
/// `(realm, serial, type)` is lower. Both sides compute the same answer.
pub fn is_offerer(local: &ActrId, remote: &ActrId) -> bool {
    (local.realm, local.serial, &local.actr_type) < (remote.realm, remote.serial, &remote.actr_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offerer_choice_is_antisymmetric() {
        let a: ActrId = "1@1/a:x:1".parse().unwrap();
        let b: ActrId = "2@1/a:x:1".parse().unwrap();
        let c: ActrId = "1@0/a:x:1".parse().unwrap();
        assert!(is_offerer(&a, &b));
        assert!(!is_offerer(&b, &a));
        assert!(is_offerer(&c, &a), "realm orders first");
        assert!(!is_offerer(&a, &a), "a peer never offers to itself");
    }
}
