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

/// Deterministic trace and span ids from a seed (no global RNG): the
/// splitmix64 sequence, one multiply and one mix per id.
#[derive(Debug)]
pub(crate) struct TraceIds {
    seed: u64,
    next: AtomicU64,
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl TraceIds {
    pub fn new(seed: u64) -> Self {
        Self { seed: splitmix64(seed), next: AtomicU64::new(1) }
    }

    /// Draw `n` of the sequence: distinct for distinct `n` (the mix is a bijection).
    fn draw(&self, n: u64) -> u64 {
        splitmix64(self.seed.wrapping_add(n.wrapping_mul(GOLDEN)))
    }

    fn next_u64(&self) -> u64 {
        self.draw(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// A new trace.
    pub fn root(&self) -> TraceContext {
        let n = self.next.fetch_add(3, Ordering::Relaxed);
        TraceContext::root(self.draw(n), self.draw(n.wrapping_add(1)), self.draw(n.wrapping_add(2)))
    }

    /// A child of `parent` (same trace id, new span id), or a new trace.
    pub fn continue_from(&self, parent: Option<&TraceContext>) -> TraceContext {
        match parent {
            Some(parent) => parent.child(self.next_u64()),
            None => self.root(),
        }
    }
}

/// Whether a subscriber may record an `info` span. If not, the spans below
/// are `Span::none()`: nothing is built, recorded, entered or dropped per
/// message. (A disabled span from the macros still carries its metadata and,
/// with `tracing`'s `log` feature, has its fields built for `log`.)
fn spans_wanted() -> bool {
    tracing::level_enabled!(tracing::Level::INFO)
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

/// The caller's span of one call or tell; `wire` is recorded once chosen.
pub(crate) fn call_span(kind: &'static str, trace: &TraceContext, dest: &Dest, route_key: &str) -> Span {
    if !spans_wanted() {
        return Span::none();
    }
    tracing::info_span!(
        "actr.call",
        kind,
        trace_id = %trace.trace_id(),
        dest = %Named(dest),
        route = route_key,
        wire = tracing::field::Empty,
    )
}

/// The callee's span of one request.
pub(crate) fn handle_span(trace: &TraceContext, route_key: &str, caller: Option<&ActrId>, wire: &'static str) -> Span {
    if !spans_wanted() {
        return Span::none();
    }
    tracing::info_span!(
        "actr.handle",
        trace_id = %trace.trace_id(),
        route = route_key,
        caller = %Named(&caller),
        wire,
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn children_keep_the_trace_id_and_seeds_repeat() {
        let ids = TraceIds::new(7);
        let root = ids.root();
        let child = ids.continue_from(Some(&root));
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child.parent_id(), root.parent_id());
        assert_eq!(TraceIds::new(7).root(), TraceIds::new(7).root());
        assert_ne!(TraceIds::new(7).root(), TraceIds::new(8).root());
        assert_ne!(ids.continue_from(None).trace_id(), root.trace_id(), "no parent starts a new trace");
    }

    #[test]
    fn spans_are_none_without_a_subscriber_and_real_with_one() {
        let trace = TraceIds::new(1).root();
        assert!(call_span("tell", &trace, &Dest::Workload, "k").is_none());
        assert!(handle_span(&trace, "k", None, "in-process").is_none());
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let subscriber = Recorder { spans: recorded.clone(), current: Mutex::new(None) };
        tracing::subscriber::with_default(subscriber, || {
            let call = call_span("tell", &trace, &Dest::Workload, "k");
            let _in_call = call.enter();
            assert!(!call.is_disabled());
            assert!(!handle_span(&trace, "k", None, "in-process").is_disabled());
        });
        let id = trace.trace_id().to_string();
        let spans = recorded.lock().unwrap().clone();
        assert_eq!(spans, [format!("actr.call trace_id={id}"), format!("actr.handle trace_id={id} parent=1")]);
    }

    /// Records each new span's name, trace id and parent (the entered span).
    struct Recorder {
        spans: Arc<Mutex<Vec<String>>>,
        current: Mutex<Option<u64>>,
    }

    struct TraceIdField(String);

    impl tracing::field::Visit for TraceIdField {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "trace_id" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl tracing::Subscriber for Recorder {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }

        fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            let mut field = TraceIdField(String::new());
            span.record(&mut field);
            let mut spans = self.spans.lock().unwrap();
            let parent = self.current.lock().unwrap().map(|p| format!(" parent={p}")).unwrap_or_default();
            spans.push(format!("{} trace_id={}{parent}", span.metadata().name(), field.0));
            tracing::span::Id::from_u64(spans.len() as u64)
        }

        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {}
        fn enter(&self, span: &tracing::span::Id) {
            *self.current.lock().unwrap() = Some(span.into_u64());
        }

        fn exit(&self, _: &tracing::span::Id) {
            *self.current.lock().unwrap() = None;
        }
    }
}
