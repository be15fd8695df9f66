//! Seeds: which runs a scenario sweeps, and how a failure is reported.
//!
//! - `ACTR_SIM_SEED=S` runs exactly seed `S`.
//! - `ACTR_SIM_SEEDS=N` sets the sweep size (default [`DEFAULT_SEEDS`]).
//!
//! Every run prints `actr-sim seed=<seed> scenario=<name>` before it starts,
//! so even a hang or an abort shows the seed. A failing run panics with the
//! seed and the command that replays it. By convention the scenario name is
//! the name of the `#[test]` function, so the replay command selects it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use sha2::{Digest, Sha256};

pub const SEED_VAR: &str = "ACTR_SIM_SEED";
pub const SEEDS_VAR: &str = "ACTR_SIM_SEEDS";
/// Sweep size when `ACTR_SIM_SEEDS` is not set.
pub const DEFAULT_SEEDS: u64 = 16;

/// A seed derived from `seed`, a purpose tag and two numbers (an index and
/// an incarnation, say), so sub-generators never share a stream.
/// 32 bytes of key material for `(tag, a)` under the run's `seed` (host
/// keys, the server's challenge key): deterministic, like every other draw.
pub fn derive_key(seed: u64, tag: &str, a: u64) -> [u8; 32] {
    let mut key = [0u8; 32];
    for (i, chunk) in key.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&derive_seed(seed, tag, a, i as u64).to_le_bytes());
    }
    key
}

pub fn derive_seed(seed: u64, tag: &str, a: u64, b: u64) -> u64 {
    let mut h = Sha256::new();
    h.update(b"actr-sim/seed/v1");
    h.update(seed.to_le_bytes());
    h.update((tag.len() as u64).to_le_bytes());
    h.update(tag.as_bytes());
    h.update(a.to_le_bytes());
    h.update(b.to_le_bytes());
    let out: [u8; 32] = h.finalize().into();
    let mut first = [0u8; 8];
    first.copy_from_slice(&out[..8]);
    u64::from_le_bytes(first)
}

/// The seeds a sweep of `scenario` runs: the one in `ACTR_SIM_SEED`, or
/// `ACTR_SIM_SEEDS` (default [`DEFAULT_SEEDS`]) seeds fixed per scenario.
pub fn seeds(scenario: &str) -> Vec<u64> {
    if let Some(seed) = env_u64(SEED_VAR) {
        return vec![seed];
    }
    let count = env_u64(SEEDS_VAR).unwrap_or(DEFAULT_SEEDS);
    (0..count).map(|i| derive_seed(0, scenario, i, 0) % 1_000_000_000).collect()
}

fn env_u64(var: &str) -> Option<u64> {
    let raw = std::env::var(var).ok()?;
    match raw.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => panic!("{var}={raw:?} is not an unsigned integer"),
    }
}

/// The command that replays one seed of one scenario.
pub fn replay_command(scenario: &str, seed: u64) -> String {
    format!("{SEED_VAR}={seed} cargo test -p actr-sim {scenario}")
}

/// Runs `run` for every seed of the sweep. The first failure (an `Err` or a
/// panic) panics with the seed and the replay command.
pub fn sweep(scenario: &str, run: impl Fn(u64) -> Result<(), String>) {
    for seed in seeds(scenario) {
        println!("actr-sim seed={seed} scenario={scenario}");
        let outcome = catch_unwind(AssertUnwindSafe(|| run(seed)));
        let failure = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(why)) => why,
            Err(panic) => panic_text(panic.as_ref()),
        };
        panic!(
            "actr-sim scenario {scenario} failed with seed {seed}: {failure}\n  replay: {}",
            replay_command(scenario, seed)
        );
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panic: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panic: {s}")
    } else {
        "panic with a non-text payload".into()
    }
}

/// Turns a failed condition into the scenario's `Err`, with a message.
pub fn ensure(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(why()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_differ_by_every_input() {
        let base = derive_seed(1, "node", 0, 0);
        assert_eq!(base, derive_seed(1, "node", 0, 0));
        assert_ne!(base, derive_seed(2, "node", 0, 0));
        assert_ne!(base, derive_seed(1, "net", 0, 0));
        assert_ne!(base, derive_seed(1, "node", 1, 0));
        assert_ne!(base, derive_seed(1, "node", 0, 1));
    }

    #[test]
    fn replay_command_names_seed_and_test() {
        assert_eq!(replay_command("x", 7), "ACTR_SIM_SEED=7 cargo test -p actr-sim x");
    }

    #[test]
    #[should_panic(expected = "replay: ACTR_SIM_SEED=")]
    fn failures_report_the_replay_command() {
        sweep("always_fails", |_| Err("boom".into()));
    }
}
