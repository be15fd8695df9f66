//! What the demo measured, and how it is printed.

use std::time::Duration;

use actr_tokio::RpcStats;

/// Durations of repeated operations.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// The `p`-th percentile (0 to 100), nearest rank; zero when empty.
    pub fn percentile(&self, p: usize) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len().max(1));
        sorted.get(rank - 1).copied().unwrap_or_default()
    }
}

/// One measured phase: what was sent on which wire, how fast.
#[derive(Debug, Clone)]
pub struct Phase {
    /// `calls`, `bulk` or `tells`.
    pub kind: &'static str,
    /// The wire that carried it, e.g. `websocket direct`.
    pub wire: &'static str,
    /// Operations completed and the payload size of each.
    pub count: usize,
    pub payload: usize,
    pub took: Duration,
    /// Per-operation latencies, for round trips.
    pub latencies: Option<Latencies>,
    /// Anything worth saying, e.g. how many tells arrived.
    pub note: String,
}

impl Phase {
    /// One table line.
    pub fn line(&self) -> String {
        let rate = self.count as f64 / self.took.as_secs_f64().max(1e-9);
        let mib_s = rate * self.payload as f64 / f64::from(1u32 << 20);
        let latency = match &self.latencies {
            Some(l) => format!("p50 {:>8}  p99 {:>8}", micros(l.percentile(50)), micros(l.percentile(99))),
            None => format!("{:>26}", ""),
        };
        format!(
            "  {:<6} {:<17} {:>6} x {:<8} {latency}  {:>9.0} /s {:>8.1} MiB/s  {}",
            self.kind,
            self.wire,
            self.count,
            size(self.payload),
            rate,
            mib_s,
            self.note
        )
    }
}

/// Counters of the three nodes after the run.
#[derive(Debug, Clone, Copy)]
pub struct WireStats {
    pub ws_caller: RpcStats,
    pub rtc_caller: RpcStats,
    pub echo: RpcStats,
}

impl WireStats {
    /// Which wire and lane carried what, from `ActrRef::stats`.
    pub fn lines(&self) -> Vec<String> {
        let (w, r, e) = (self.ws_caller, self.rtc_caller, self.echo);
        let all = [w, r, e];
        let sum = |f: fn(&RpcStats) -> u64| all.iter().map(f).sum::<u64>();
        vec![
            format!(
                "  in-process (HostGate, no encoding): caller-rtc's own workload got {} requests and tells",
                r.in_process_delivered
            ),
            format!(
                "  websocket direct, RPC lane (reliable, ordered): caller-ws dialed {} link(s), caller-rtc {}; \
                 echo accepted {} and dispatched {} remote requests and tells in all",
                w.dialed, r.dialed, e.accepted, e.endpoint.dispatched
            ),
            format!(
                "  webrtc data channel, RPC lane (reliable, ordered): caller-rtc sent {} / received {} envelopes, \
                 echo sent {} / received {}; connections up: {}, setup failures: {}",
                r.webrtc_sent,
                r.webrtc_received,
                e.webrtc_sent,
                e.webrtc_received,
                r.webrtc_connections_up,
                sum(|s| s.webrtc_connection_failures)
            ),
            format!(
                "  errors: {} retries, {} duplicates, {} malformed, {} ACL denials, {} responses dropped",
                sum(|s| s.endpoint.retries),
                sum(|s| s.endpoint.duplicates),
                sum(|s| s.endpoint.malformed),
                sum(|s| s.endpoint.acl_denied),
                sum(|s| s.responses_dropped)
            ),
        ]
    }
}

fn micros(d: Duration) -> String {
    match d.as_secs_f64() {
        s if s >= 0.01 => format!("{:.1}ms", s * 1e3),
        s => format!("{:.1}µs", s * 1e6),
    }
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut l = Latencies::default();
        assert_eq!(l.percentile(50), Duration::ZERO);
        for ms in 1..=100 {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile(50), Duration::from_millis(50));
        assert_eq!(l.percentile(99), Duration::from_millis(99));
    }

    #[test]
    fn durations_switch_to_milliseconds() {
        assert_eq!(micros(Duration::from_micros(250)), "250.0µs");
        assert_eq!(micros(Duration::from_millis(136)), "136.0ms");
    }

    #[test]
    fn sizes_are_short() {
        assert_eq!(size(64), "64 B");
        assert_eq!(size(4096), "4 KiB");
        assert_eq!(size(1 << 20), "1 MiB");
    }
}
