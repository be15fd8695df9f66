//! Latency samples and the printed table.

use std::time::{Duration, Instant};

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
    /// Unit of `rate`: operations per second unless set (e.g. `MiB/s`).
    pub unit: &'static str,
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
            unit: "/s",
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
            unit: "/s",
            ratio: None,
            note: String::new(),
        }
    }

    /// Records this row's time per operation as a multiple of a baseline's
    /// (`n` operations in `took`): lower is better. `goal` goes in the note.
    pub fn cost_against(mut self, n: usize, took: Duration, goal: &str) -> Row {
        let base = n as f64 / took.as_secs_f64().max(1e-9);
        self.ratio = self.rate.filter(|r| *r > 0.0).map(|r| base / r);
        self.note = goal.into();
        self
    }

    /// Records this row's rate as a multiple of `baseline`'s: higher is better.
    pub fn rate_against(mut self, baseline: &Row, goal: &str) -> Row {
        self.ratio = self.rate.zip(baseline.rate.filter(|b| *b > 0.0)).map(|(r, b)| r / b);
        self.note = goal.into();
        self
    }

    /// Records this row's p50 as a multiple of `baseline`'s.
    pub fn against(mut self, baseline: &Sample) -> Row {
        let base = baseline.percentile(50).as_secs_f64();
        self.ratio = self.p50.filter(|_| base > 0.0).map(|p| p.as_secs_f64() / base);
        self
    }
}

/// Times `a` and `b` alternately, so load from other processes hits both alike.
pub fn time_pair(iterations: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (Duration, Duration) {
    a(); // warm up
    b();
    let (mut ta, mut tb) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..iterations {
        let started = Instant::now();
        a();
        ta += started.elapsed();
        let started = Instant::now();
        b();
        tb += started.elapsed();
    }
    (ta, tb)
}

fn micros(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1} µs", d.as_secs_f64() * 1e6)).unwrap_or_else(|| "-".into())
}

/// Prints the rows as a plain table.
pub fn print(rows: &[Row]) {
    println!();
    println!(
        "{:<50} {:<7} {:>7} {:>12} {:>12} {:>16} {:>8}  note",
        "measurement", "runtime", "n", "p50", "p99", "rate", "ratio"
    );
    for r in rows {
        let rate = match r.rate {
            Some(x) if r.unit == "/s" => format!("{x:.0} /s"),
            Some(x) => format!("{x:.1} {}", r.unit),
            None => "-".into(),
        };
        let ratio = r.ratio.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into());
        println!(
            "{:<50} {:<7} {:>7} {:>12} {:>12} {:>16} {:>8}  {}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_compare_rates_and_costs() {
        let second = Duration::from_secs(1);
        let baseline = Row::throughput("base", "-", 100, second);
        let slower = Row::throughput("node", "-", 50, second);
        assert_eq!(slower.clone().rate_against(&baseline, "goal").ratio, Some(0.5));
        assert_eq!(slower.cost_against(100, second, "goal").ratio, Some(2.0));
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut sample = Sample::default();
        assert_eq!(sample.percentile(50), Duration::ZERO);
        (1..=100).for_each(|ms| sample.push(Duration::from_millis(ms)));
        assert_eq!(sample.percentile(50), Duration::from_millis(50));
        assert_eq!(sample.percentile(99), Duration::from_millis(99));
    }
}
