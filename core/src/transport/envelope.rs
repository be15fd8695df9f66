//! The RPC envelope: one call, tell or response as it crosses a wire.
//!
//! Receivers route only on [`Direction`]: requests and tells are dispatched
//! (a tell never gets a reply, even on error); responses go to the pending
//! call with the same request id, or are dropped and counted as orphans.

use serde::{Deserialize, Serialize};

use crate::error::{ActrError, ErrorReply};
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

/// Length of a version-00 `traceparent`.
const TRACEPARENT_LEN: usize = 55;

/// Appends `v` as 16 lowercase hex digits.
fn push_hex(out: &mut String, v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(DIGITS[((v >> (shift * 4)) & 0xf) as usize] as char);
    }
}

/// W3C trace context, carried so one trace spans every node a call touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
    pub traceparent: String,
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// The 32-hex-digit trace id, if the traceparent is well formed.
    ///
    /// Called on every call and request, so it checks fixed positions
    /// (`vv-<32>-<16>-ff`, 55 bytes) instead of splitting the text.
    pub fn trace_id(&self) -> Option<&str> {
        let b = self.traceparent.as_bytes();
        let hex = |r: core::ops::Range<usize>| b[r].iter().all(u8::is_ascii_hexdigit);
        let shaped = b.len() == TRACEPARENT_LEN && b[2] == b'-' && b[35] == b'-' && b[52] == b'-';
        (shaped && hex(0..2) && hex(3..35) && hex(36..52) && hex(53..55)).then(|| &self.traceparent[3..35])
    }

    /// A child context: same trace id, new parent span id.
    pub fn child(&self, span_id: u64) -> Option<TraceContext> {
        let trace = self.trace_id()?;
        let mut traceparent = String::with_capacity(TRACEPARENT_LEN);
        traceparent.push_str("00-");
        traceparent.push_str(trace);
        traceparent.push('-');
        push_hex(&mut traceparent, span_id);
        traceparent.push_str("-01");
        Some(TraceContext { traceparent, tracestate: self.tracestate.clone() })
    }

    /// A new root context from two random words.
    pub fn root(trace_hi: u64, trace_lo: u64, span_id: u64) -> TraceContext {
        TraceContext { traceparent: format!("00-{trace_hi:016x}{trace_lo:016x}-{span_id:016x}-01"), tracestate: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcEnvelope {
    /// Unique per call across retries: a retry resends the same id, which is
    /// what lets the receiver deduplicate.
    pub request_id: u64,
    pub direction: Direction,
    /// `package.Service.Method`, or a fast-path key for streams.
    pub route_key: String,
    pub payload: Vec<u8>,
    /// A system-level failure; `payload` is empty when set.
    pub error: Option<ErrorReply>,
    /// The caller's deadline for a request; 0 for tells and responses.
    pub timeout_ms: u32,
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
    fn trace_ids() {
        let root = TraceContext::root(0xab, 0xcd, 1);
        let id = root.trace_id().unwrap().to_string();
        assert_eq!(id.len(), 32);
        let child = root.child(99).unwrap();
        assert_eq!(child.trace_id(), Some(id.as_str()));
        assert_ne!(child.traceparent, root.traceparent);
        let bad = TraceContext { traceparent: "00-xyz-1-01".into(), tracestate: None };
        assert_eq!(bad.trace_id(), None);
        let mut almost = root.traceparent.clone();
        almost.replace_range(10..11, "g");
        assert_eq!(TraceContext { traceparent: almost, tracestate: None }.trace_id(), None);
        let long = format!("{}-00", root.traceparent);
        assert_eq!(TraceContext { traceparent: long, tracestate: None }.trace_id(), None);
        let child = TraceContext::root(1, 2, 3).child(0xabc).unwrap();
        assert_eq!(child.traceparent, "00-00000000000000010000000000000002-0000000000000abc-01");
        assert!(bad.child(1).is_none());
    }
}
