//! The RPC envelope: one call, tell or response as it crosses a wire.
//!
//! Receivers route only on [`Direction`]: requests and tells are dispatched
//! (a tell never gets a reply, even on error); responses go to the pending
//! call with the same request id, or are dropped and counted as orphans.

use serde::{Deserialize, Serialize};

use crate::error::{ActrError, ErrorReply};
use crate::transport::trace::TraceContext;
use crate::wire::{WireError, decode_message, encode_message};

/// Largest encoded envelope before fragmentation: 16 MiB.
pub const MAX_ENVELOPE: usize = 16 << 20;
/// Longest route key.
pub const MAX_ROUTE_KEY: usize = 256;
/// Default deadline of a call.
pub const DEFAULT_CALL_TIMEOUT_MS: u32 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    Request,
    Response,
    Tell,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcEnvelope {
    /// Unique per call across retries: a retry resends the same id, which is
    /// what lets the receiver deduplicate.
    pub request_id: u64,
    pub direction: Direction,
    /// `package.Service.Method`, or a fast-path key for streams.
    pub route_key: String,
    #[serde(with = "crate::wire::bytes")]
    pub payload: Vec<u8>,
    /// A system-level failure; `payload` is empty when set.
    pub error: Option<ErrorReply>,
    /// The caller's deadline for a request; 0 for tells and responses.
    pub timeout_ms: u32,
    /// A malformed context from the wire is dropped, not refused (see [`TraceContext::parse`]).
    #[serde(deserialize_with = "crate::transport::trace::lenient")]
    pub trace: Option<TraceContext>,
}

impl RpcEnvelope {
    pub fn request(request_id: u64, route_key: &str, payload: Vec<u8>, timeout_ms: u32) -> Self {
        Self {
            request_id,
            direction: Direction::Request,
            route_key: route_key.into(),
            payload,
            error: None,
            timeout_ms,
            trace: None,
        }
    }

    pub fn tell(request_id: u64, route_key: &str, payload: Vec<u8>) -> Self {
        Self { direction: Direction::Tell, timeout_ms: 0, ..Self::request(request_id, route_key, payload, 0) }
    }

    /// The response to this request, carrying `result`.
    pub fn respond(&self, result: Result<Vec<u8>, ActrError>) -> Self {
        let (payload, error) = match result {
            Ok(p) => (p, None),
            Err(e) => (Vec::new(), Some(ErrorReply::from(&e))),
        };
        Self {
            request_id: self.request_id,
            direction: Direction::Response,
            route_key: self.route_key.clone(),
            payload,
            error,
            timeout_ms: 0,
            trace: self.trace.clone(),
        }
    }

    /// A response's outcome.
    pub fn into_result(self) -> Result<Vec<u8>, ActrError> {
        match self.error {
            Some(e) => Err(e.into()),
            None => Ok(self.payload),
        }
    }

    /// Checks what the type system cannot: route key length, a deadline on requests.
    pub fn validate(&self) -> Result<(), ActrError> {
        if self.route_key.is_empty() || self.route_key.len() > MAX_ROUTE_KEY {
            return Err(ActrError::InvalidArgument(format!("route key must be 1 to {MAX_ROUTE_KEY} bytes")));
        }
        if self.direction == Direction::Request && self.timeout_ms == 0 {
            return Err(ActrError::InvalidArgument("a request needs a timeout above zero".into()));
        }
        if self.error.is_some() && !self.payload.is_empty() {
            return Err(ActrError::InvalidArgument("an error response carries no payload".into()));
        }
        Ok(())
    }

    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        encode_message(self, MAX_ENVELOPE)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode_message(bytes, MAX_ENVELOPE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_response_round_trip() {
        let mut req = RpcEnvelope::request(7, "echo.Echo.Say", b"hi".to_vec(), 1000);
        req.trace = Some(TraceContext::root(1, 2, 3));
        let back = RpcEnvelope::decode(&req.encode().unwrap()).unwrap();
        assert_eq!(back, req);
        let ok = req.respond(Ok(b"hi back".to_vec()));
        assert_eq!(ok.direction, Direction::Response);
        assert_eq!(ok.request_id, 7);
        assert_eq!(ok.trace, req.trace);
        assert_eq!(ok.into_result(), Ok(b"hi back".to_vec()));
        let err = req.respond(Err(ActrError::UnknownRoute("x".into())));
        assert_eq!(err.into_result(), Err(ActrError::UnknownRoute("x".into())));
    }

    #[test]
    fn validation() {
        assert!(RpcEnvelope::request(1, "a", vec![], 0).validate().is_err());
        assert!(RpcEnvelope::request(1, "", vec![], 5).validate().is_err());
        assert!(RpcEnvelope::request(1, &"k".repeat(300), vec![], 5).validate().is_err());
        assert!(RpcEnvelope::tell(1, "a", vec![]).validate().is_ok());
        let mut bad = RpcEnvelope::request(1, "a", vec![1], 5).respond(Err(ActrError::TimedOut));
        bad.payload = vec![1];
        assert!(bad.validate().is_err());
    }

    #[test]
    fn a_malformed_trace_context_is_dropped_not_the_envelope() {
        let mut req = RpcEnvelope::tell(3, "a.B.c", b"x".to_vec());
        req.trace = Some(TraceContext::root(1, 2, 3));
        let good = req.encode().unwrap();
        let text = TraceContext::root(1, 2, 3).traceparent();
        let at = good.windows(text.len()).position(|w| w == text.as_bytes()).expect("the header text is on the wire");
        let mut bad = good.clone();
        bad[at + 5] = b'x';
        let back = RpcEnvelope::decode(&bad).unwrap();
        assert_eq!(back.trace, None);
        assert_eq!(RpcEnvelope { trace: None, ..req.clone() }, back);
        assert_eq!(RpcEnvelope::decode(&good).unwrap(), req);
    }
}
