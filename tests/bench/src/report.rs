//! Latency samples and the printed table.

use std::time::Duration;

/// Durations of repeated operations.
#[derive(Debug, Clone, Default)]
pub struct Sample(Vec<Duration>);

impl Sample {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// The `p`-th percentile (0 to 100), nearest rank.
    pub fn percentile(&self, p: usize) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len());
        sorted[rank - 1]
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub what: String,
    pub runtime: String,
    pub n: usize,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    pub rate: Option<f64>,
    /// p50 divided by a baseline's p50.
    pub ratio: Option<f64>,
    pub note: String,
}

impl Row {
    pub fn latency(what: &str, runtime: &str, sample: Sample) -> Row {
        Row {
            what: what.into(),
            runtime: runtime.into(),
            n: sample.0.len(),
            p50: Some(sample.percentile(50)),
            p99: Some(sample.percentile(99)),
            rate: None,
            ratio: None,
            note: String::new(),
        }
    }

    pub fn throughput(what: &str, runtime: &str, n: usize, took: Duration) -> Row {
        Row {
            what: what.into(),
            runtime: runtime.into(),
            n,
            p50: None,
            p99: None,
            rate: Some(n as f64 / took.as_secs_f64().max(1e-9)),
            ratio: None,
            note: String::new(),
        }
    }

    /// Records this row's p50 as a multiple of `baseline`'s.
    pub fn against(mut self, baseline: &Sample) -> Row {
        let base = baseline.percentile(50).as_secs_f64();
        self.ratio = self.p50.filter(|_| base > 0.0).map(|p| p.as_secs_f64() / base);
        self
    }
}

fn micros(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1} µs", d.as_secs_f64() * 1e6)).unwrap_or_else(|| "-".into())
}

/// Prints the rows as a plain table.
pub fn print(rows: &[Row]) {
    println!();
    println!(
        "{:<44} {:<7} {:>7} {:>12} {:>12} {:>14} {:>8}  note",
        "measurement", "runtime", "n", "p50", "p99", "rate (/s)", "ratio"
    );
    for r in rows {
        let rate = r.rate.map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into());
        let ratio = r.ratio.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into());
        println!(
            "{:<44} {:<7} {:>7} {:>12} {:>12} {:>14} {:>8}  {}",
            r.what,
            r.runtime,
            r.n,
            micros(r.p50),
            micros(r.p99),
            rate,
            ratio,
            r.note
        );
    }
}
