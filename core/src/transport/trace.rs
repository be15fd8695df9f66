//! W3C trace context: one trace id spans every node a call touches.
//!
//! A [`TraceContext`] holds its ids as numbers, so making one per call and
//! copying it into a handler's context costs no formatting and no allocation.
//! The `traceparent` text (`00-<32 hex trace id>-<16 hex parent id>-<2 hex
//! flags>`) is written only where someone reads it: on the wire (its serde
//! form is the text, the same bytes as a `{ traceparent: String, tracestate:
//! Option<String> }` struct) and through `Display`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, Error as _};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

/// Length of a version-00 `traceparent`.
const TRACEPARENT_LEN: usize = 55;
/// The `sampled` flag, set on every trace this crate starts.
const SAMPLED: u8 = 0x01;

/// A 128-bit trace id, never zero. Displays as 32 lowercase hex digits.
/// Two words rather than a `u128`: 8-byte aligned, so a request that
/// carries it stays compact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId {
    hi: u64,
    lo: u64,
}

impl TraceId {
    fn new(id: u128) -> TraceId {
        TraceId { hi: (id >> 64) as u64, lo: id as u64 }
    }

    /// The id as a number.
    pub fn get(self) -> u128 {
        u128::from(self.hi) << 64 | u128::from(self.lo)
    }

    /// The 32 hex digits as a `String`.
    pub fn to_hex(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = [0u8; 32];
        write_hex(&mut text[..16], self.hi);
        write_hex(&mut text[16..], self.lo);
        f.write_str(ascii(&text))
    }
}

/// The trace context of one hop: trace id, the id of the span that made
/// this hop (the parent of the receiver's span), flags, and the vendor
/// `tracestate`, carried as is.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: TraceId,
    parent_id: u64,
    flags: u8,
    tracestate: Option<String>,
}

impl TraceContext {
    /// A new root context (sampled) from two random words and a span id.
    /// W3C forbids all-zero ids: a zero trace id or span id becomes one.
    pub fn root(trace_hi: u64, trace_lo: u64, span_id: u64) -> TraceContext {
        let id = (u128::from(trace_hi) << 64 | u128::from(trace_lo)).max(1);
        TraceContext { trace_id: TraceId::new(id), parent_id: span_id.max(1), flags: SAMPLED, tracestate: None }
    }

    /// A child context: same trace id, flags and `tracestate`, new parent
    /// span id (zero becomes one).
    pub fn child(&self, span_id: u64) -> TraceContext {
        TraceContext { parent_id: span_id.max(1), tracestate: self.tracestate.clone(), ..*self }
    }

    /// The trace id shared by every hop of this call chain.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The id of the span that made this hop; never zero.
    pub fn parent_id(&self) -> u64 {
        self.parent_id
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The vendor-specific `tracestate` header, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// This context with `tracestate` replaced.
    pub fn with_tracestate(self, tracestate: Option<String>) -> TraceContext {
        TraceContext { tracestate, ..self }
    }

    /// Reads a `traceparent` header: `vv-<32 hex>-<16 hex>-<2 hex>`, 55
    /// bytes, version not `ff`, ids not all zero. `None` otherwise: W3C has
    /// the receiver start a new trace then.
    pub fn parse(traceparent: &str) -> Option<TraceContext> {
        let b = traceparent.as_bytes();
        if b.len() != TRACEPARENT_LEN || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let version = read_hex(&b[0..2])?;
        let trace_id = u128::from(read_hex(&b[3..19])?) << 64 | u128::from(read_hex(&b[19..35])?);
        let parent_id = read_hex(&b[36..52])?;
        let flags = read_hex(&b[53..55])?;
        if version == 0xff || trace_id == 0 || parent_id == 0 {
            return None;
        }
        Some(TraceContext { trace_id: TraceId::new(trace_id), parent_id, flags: flags as u8, tracestate: None })
    }

    /// The `traceparent` header text (version 00).
    pub fn traceparent(&self) -> String {
        ascii(&self.text()).to_owned()
    }

    fn text(&self) -> [u8; TRACEPARENT_LEN] {
        let mut text = *b"00-0123456789abcdef0123456789abcdef-0123456789abcdef-01";
        write_hex(&mut text[3..19], self.trace_id.hi);
        write_hex(&mut text[19..35], self.trace_id.lo);
        write_hex(&mut text[36..52], self.parent_id);
        write_hex(&mut text[53..55], u64::from(self.flags));
        text
    }
}

/// The `traceparent` text.
impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ascii(&self.text()))
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("traceparent", &format_args!("{self}"))
            .field("tracestate", &self.tracestate)
            .finish()
    }
}

/// The wire form: the header texts.
#[derive(Deserialize)]
#[serde(rename = "TraceContext")]
struct WireTrace<'a> {
    #[serde(borrow)]
    traceparent: Cow<'a, str>,
    tracestate: Option<String>,
}

impl WireTrace<'_> {
    fn parse(self) -> Option<TraceContext> {
        TraceContext::parse(&self.traceparent).map(|t| t.with_tracestate(self.tracestate))
    }
}

impl Serialize for TraceContext {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.text();
        let mut wire = serializer.serialize_struct("TraceContext", 2)?;
        wire.serialize_field("traceparent", ascii(&text))?;
        wire.serialize_field("tracestate", &self.tracestate)?;
        wire.end()
    }
}

/// Strict: a malformed `traceparent` is an error. Messages that carry a
/// context use [`lenient`] instead.
impl<'de> Deserialize<'de> for TraceContext {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        WireTrace::deserialize(deserializer)?.parse().ok_or_else(|| D::Error::custom("malformed traceparent"))
    }
}

/// Reads an optional context the W3C way: a malformed one is dropped (the
/// receiver starts a new trace), not an error that loses the message.
pub(crate) fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<TraceContext>, D::Error> {
    Ok(Option::<WireTrace<'de>>::deserialize(deserializer)?.and_then(WireTrace::parse))
}

/// Writes `v`'s low `out.len()` hex digits into `out`, lowercase.
fn write_hex(out: &mut [u8], v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let top = 4 * out.len() as u32;
    for (i, digit) in out.iter_mut().enumerate() {
        *digit = DIGITS[(v >> (top - 4 - 4 * i as u32)) as usize & 0xf];
    }
}

/// Up to 16 hex digits (either case) as a number.
fn read_hex(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| Some(acc << 4 | u64::from(char::from(d).to_digit(16)?)))
}

/// Hex digits and dashes as `&str`.
fn ascii(text: &[u8]) -> &str {
    std::str::from_utf8(text).expect("hex digits and dashes are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_children_keep_the_trace() {
        let root = TraceContext::root(0xab, 0xcd, 1);
        assert_eq!(root.to_string(), "00-00000000000000ab00000000000000cd-0000000000000001-01");
        assert_eq!(root.trace_id().to_string(), "00000000000000ab00000000000000cd");
        assert_eq!(TraceContext::parse(&root.traceparent()), Some(root.clone()));
        let child = TraceContext::root(1, 2, 3).with_tracestate(Some("k=v".into())).child(0xabc);
        assert_eq!(child.traceparent(), "00-00000000000000010000000000000002-0000000000000abc-01");
        assert_eq!(child.tracestate(), Some("k=v"));
        assert_eq!(child.trace_id(), TraceContext::root(1, 2, 99).trace_id());
        assert_eq!(child.trace_id().get(), 1 << 64 | 2);
        assert_eq!(TraceContext::root(0, 0, 0).to_string(), format!("00-{:032x}-{:016x}-01", 1, 1));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let good = TraceContext::root(u64::MAX, 7, 9).traceparent();
        assert!(TraceContext::parse(&good).is_some());
        assert!(TraceContext::parse(&good.to_uppercase()).is_some(), "either case is read");
        let mut bad_digit = good.clone();
        bad_digit.replace_range(10..11, "g");
        let zero_trace = format!("00-{:032x}-{:016x}-01", 0, 5);
        let zero_parent = format!("00-{:032x}-{:016x}-01", 5, 0);
        let version_ff = format!("ff{}", &good[2..]);
        let plus = format!("00-+{}", &good[4..]);
        for bad in [bad_digit, zero_trace, zero_parent, version_ff, plus, format!("{good}-00"), "nope".into()] {
            assert_eq!(TraceContext::parse(&bad), None, "{bad}");
        }
        let flags = TraceContext::parse(&format!("{}-00", &good[..52])).expect("unsampled is fine");
        assert_eq!(flags.flags(), 0);
        assert_eq!(flags.child(4).flags(), 0, "a child keeps the flags");
    }

    #[test]
    fn the_wire_form_is_the_header_text() {
        #[derive(Serialize)]
        struct Text<'a> {
            traceparent: &'a str,
            tracestate: Option<&'a str>,
        }
        let ctx = TraceContext::root(3, 4, 5).with_tracestate(Some("a=b".into()));
        let text = ctx.traceparent();
        let as_text = postcard::to_allocvec(&Text { traceparent: &text, tracestate: Some("a=b") }).unwrap();
        assert_eq!(postcard::to_allocvec(&ctx).unwrap(), as_text);
        assert_eq!(postcard::from_bytes::<TraceContext>(&as_text).unwrap(), ctx);
        let bad = postcard::to_allocvec(&Text { traceparent: "00-xyz-1-01", tracestate: None }).unwrap();
        assert!(postcard::from_bytes::<TraceContext>(&bad).is_err(), "strict on its own");
    }
}
