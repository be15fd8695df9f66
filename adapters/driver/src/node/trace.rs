//! Trace ids and the spans every call carries.
//!
//! Each call runs in a span named `actr.call` (caller side) or `actr.handle`
//! (callee side) whose `trace_id` field is the W3C trace id; the id travels in
//! `RpcEnvelope.trace` between nodes, so both spans of one call show the same
//! id. Lifecycle hooks run in `actr.hook`.

use std::sync::atomic::{AtomicU64, Ordering};

use actr_core::transport::TraceContext;
use actr_core::{ActrId, Dest};
use tracing::Span;

/// Deterministic trace and span ids from a seed (no global RNG).
#[derive(Debug)]
pub(crate) struct TraceIds {
    seed: u64,
    next: AtomicU64,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl TraceIds {
    pub fn new(seed: u64) -> Self {
        Self { seed, next: AtomicU64::new(1) }
    }

    fn next_u64(&self) -> u64 {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // W3C forbids all-zero ids; a zero draw becomes one.
        splitmix64(self.seed ^ splitmix64(n)).max(1)
    }

    /// A new trace (as `TraceContext::root`, without the formatting machinery:
    /// every call without a parent makes one).
    pub fn root(&self) -> TraceContext {
        let n = self.next.fetch_add(3, Ordering::Relaxed);
        let id = |k: u64| splitmix64(self.seed ^ splitmix64(n.wrapping_add(k))).max(1);
        let mut text = *b"00-0123456789abcdef0123456789abcdef-0123456789abcdef-01";
        write_hex(&mut text[3..19], id(0));
        write_hex(&mut text[19..35], id(1));
        write_hex(&mut text[36..52], id(2));
        let traceparent = String::from_utf8(text.to_vec()).expect("hex digits and dashes are ASCII");
        TraceContext { traceparent, tracestate: None }
    }

    /// A child of `parent` (same trace id, new span id), or a new trace when
    /// there is no well-formed parent.
    pub fn continue_from(&self, parent: Option<&TraceContext>) -> TraceContext {
        parent.and_then(|p| p.child(self.next_u64())).unwrap_or_else(|| self.root())
    }
}

/// Writes `v` as 16 lowercase hex digits into `out`.
fn write_hex(out: &mut [u8], v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, digit) in out.iter_mut().enumerate() {
        *digit = DIGITS[(v >> (60 - 4 * i)) as usize & 0xf];
    }
}

/// Formats a destination or caller only if a subscriber records the span.
struct Named<'a, T>(&'a T);

impl std::fmt::Display for Named<'_, Dest> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Dest::Host => f.write_str("host"),
            Dest::Workload => f.write_str("workload"),
            Dest::Peer(id) => id.fmt(f),
        }
    }
}

impl std::fmt::Display for Named<'_, Option<&ActrId>> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(id) => id.fmt(f),
            None => f.write_str("app"),
        }
    }
}

/// Checks and writes a trace id only if a subscriber or logger records the
/// span: without a subscriber, `tracing`'s `log` feature still builds the
/// span's fields.
struct TraceIdOf<'a>(&'a TraceContext);

impl std::fmt::Display for TraceIdOf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.trace_id().unwrap_or_default())
    }
}

/// The caller's span of one call or tell; `wire` is recorded once chosen.
pub(crate) fn call_span(kind: &'static str, trace: &TraceContext, dest: &Dest, route_key: &str) -> Span {
    tracing::info_span!(
        "actr.call",
        kind,
        trace_id = %TraceIdOf(trace),
        dest = %Named(dest),
        route = route_key,
        wire = tracing::field::Empty,
    )
}

/// The callee's span of one request.
pub(crate) fn handle_span(trace: &TraceContext, route_key: &str, caller: Option<&ActrId>, wire: &'static str) -> Span {
    tracing::info_span!(
        "actr.handle",
        trace_id = %TraceIdOf(trace),
        route = route_key,
        caller = %Named(&caller),
        wire,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_keep_the_trace_id_and_seeds_repeat() {
        let ids = TraceIds::new(7);
        let root = ids.root();
        let child = ids.continue_from(Some(&root));
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child.traceparent, root.traceparent);
        assert_eq!(TraceIds::new(7).root(), TraceIds::new(7).root());
        let (ids, again) = (TraceIds::new(9), TraceIds::new(9));
        let (hi, lo, span) = (again.next_u64(), again.next_u64(), again.next_u64());
        assert_eq!(ids.root(), TraceContext::root(hi, lo, span), "same text as the core's");
        assert_ne!(TraceIds::new(7).root(), TraceIds::new(8).root());
        let bad = TraceContext { traceparent: "nope".into(), tracestate: None };
        assert!(ids.continue_from(Some(&bad)).trace_id().is_some(), "a bad parent starts a new trace");
    }
}
