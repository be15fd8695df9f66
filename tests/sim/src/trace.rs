//! The trace: a running SHA-256 over one line per delivered event.
//!
//! Two runs with the same seed must produce the same hash; the self-check
//! test compares them. A second hash covers the lines alone, without
//! payload bytes: with WebRTC, payloads carry str0m's random bytes (ICE
//! credentials, DTLS keys, SCTP tags) while the lines must still replay.
//! Set `ACTR_SIM_TRACE=1` to also print every line.

use std::fmt::{self, Write as _};

use actr_core::Instant;
use sha2::{Digest, Sha256};

/// The environment variable that echoes trace lines to stdout.
pub const TRACE_VAR: &str = "ACTR_SIM_TRACE";

/// A finished or intermediate trace hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceHash(pub [u8; 32]);

impl fmt::Display for TraceHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Accumulates the trace hash.
#[derive(Debug, Clone)]
pub struct Trace {
    hasher: Sha256,
    events: Sha256,
    line: String,
    lines: u64,
    echo: bool,
}

impl Trace {
    /// `echo` prints each line as it is recorded.
    pub fn new(echo: bool) -> Self {
        Self { hasher: Sha256::new(), events: Sha256::new(), line: String::new(), lines: 0, echo }
    }

    /// A trace that echoes when `ACTR_SIM_TRACE` is set.
    pub fn from_env() -> Self {
        Self::new(std::env::var_os(TRACE_VAR).is_some_and(|v| v != "0"))
    }

    /// Appends one line `"<micros> <what>"`, plus `payload` bytes when given.
    pub fn record(&mut self, now: Instant, what: fmt::Arguments<'_>, payload: &[u8]) {
        self.line.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.line, "{} {what}", now.as_micros());
        if self.echo {
            println!("trace {} bytes={}", self.line, payload.len());
        }
        self.hasher.update(self.line.as_bytes());
        self.hasher.update((payload.len() as u64).to_le_bytes());
        self.hasher.update(payload);
        self.hasher.update(b"\n");
        self.events.update(self.line.as_bytes());
        self.events.update(b"\n");
        self.lines += 1;
    }

    /// Lines recorded so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The hash of everything recorded so far.
    pub fn hash(&self) -> TraceHash {
        TraceHash(self.hasher.clone().finalize().into())
    }

    /// The hash of the lines recorded so far, payloads left out.
    pub fn event_hash(&self) -> TraceHash {
        TraceHash(self.events.clone().finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_lines_same_hash_and_order_matters() {
        let t0 = Instant::ZERO;
        let mut a = Trace::new(false);
        let mut b = Trace::new(false);
        let mut c = Trace::new(false);
        a.record(t0, format_args!("x {}", 1), b"p");
        a.record(t0, format_args!("y"), &[]);
        b.record(t0, format_args!("x 1"), b"p");
        b.record(t0, format_args!("y"), &[]);
        c.record(t0, format_args!("y"), &[]);
        c.record(t0, format_args!("x 1"), b"p");
        assert_eq!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
        let mut d = Trace::new(false);
        d.record(t0, format_args!("x 1"), b"other bytes");
        d.record(t0, format_args!("y"), &[]);
        assert_ne!(a.hash(), d.hash());
        assert_eq!(a.event_hash(), d.event_hash(), "payloads stay out of the event hash");
        assert_eq!(a.lines(), 2);
        assert_eq!(a.hash().to_string().len(), 64);
    }
}
