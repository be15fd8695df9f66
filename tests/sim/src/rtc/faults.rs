//! Injected send faults, decided by the simulator (which sees both ends).
//!
//! A call's first send may be failed before anything leaves, or *ambiguous*:
//! delivered, yet reported failed, so the caller resends the identical bytes
//! and the receiver sees a duplicate. An ambiguous call may also lose its
//! first response on the way back. Each of these makes the endpoint retry
//! (its only retry trigger is a failed send), which is what exercises the
//! receiver's dedup. Faults never touch a retry, so a retried call can
//! still succeed; a response is only lost when the ambiguous send really
//! went out, so that the retry's duplicate will fetch the result again.

use std::collections::BTreeMap;

use actr_core::rng::SeededRng;

/// How often each fault strikes a call, in thousandths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultConfig {
    /// The first send fails before anything leaves.
    pub fail_first_permille: u32,
    /// The first send leaves but is reported failed.
    pub ambiguous_first_permille: u32,
    /// Of ambiguous calls, those whose first response is lost too.
    pub lose_response_permille: u32,
}

/// What to do with one outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFate {
    Send,
    /// Report a transient failure without sending.
    FailBeforeSend,
    /// Send, then report a transient failure anyway.
    SendThenFail,
    /// Send nothing and report nothing: lost on the way.
    Lose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    FailFirst,
    Ambiguous { lose_response: bool },
}

/// Counts of faults that struck.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    pub failed_first: u64,
    pub ambiguous: u64,
    pub responses_lost: u64,
}

/// The plan of every faulted call, by request id.
#[derive(Debug)]
pub struct FaultBook {
    config: FaultConfig,
    rng: SeededRng,
    plans: BTreeMap<u64, Plan>,
    stats: FaultStats,
}

impl FaultBook {
    pub fn new(config: FaultConfig, seed: u64) -> Self {
        Self { config, rng: SeededRng::new(seed), plans: BTreeMap::new(), stats: FaultStats::default() }
    }

    pub fn stats(&self) -> FaultStats {
        self.stats
    }

    /// The fate of attempt `attempt` (1-based) of the caller's request.
    pub fn request(&mut self, request_id: u64, attempt: u32) -> SendFate {
        if attempt > 1 {
            return SendFate::Send;
        }
        let c = self.config;
        let draw = self.rng.below(1000) as u32;
        if draw < c.fail_first_permille {
            self.plans.insert(request_id, Plan::FailFirst);
            self.stats.failed_first += 1;
            SendFate::FailBeforeSend
        } else if draw < c.fail_first_permille + c.ambiguous_first_permille {
            let lose_response = self.rng.chance_permille(c.lose_response_permille);
            self.plans.insert(request_id, Plan::Ambiguous { lose_response });
            self.stats.ambiguous += 1;
            SendFate::SendThenFail
        } else {
            SendFate::Send
        }
    }

    /// The ambiguous first send of `request_id` failed for real, so no
    /// duplicate will follow the original: keep its response.
    pub fn not_delivered(&mut self, request_id: u64) {
        if let Some(Plan::Ambiguous { lose_response }) = self.plans.get_mut(&request_id) {
            *lose_response = false;
        }
    }

    /// The fate of a response to `request_id`: the first one of a call
    /// planned to lose it is lost, every other goes.
    pub fn response(&mut self, request_id: u64) -> SendFate {
        match self.plans.get_mut(&request_id) {
            Some(Plan::Ambiguous { lose_response }) if *lose_response => {
                *lose_response = false;
                self.stats.responses_lost += 1;
                SendFate::Lose
            }
            _ => SendFate::Send,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_first_attempts_fault_and_one_response_is_lost() {
        let config =
            FaultConfig { fail_first_permille: 0, ambiguous_first_permille: 1000, lose_response_permille: 1000 };
        let mut book = FaultBook::new(config, 1);
        assert_eq!(book.request(9, 1), SendFate::SendThenFail);
        assert_eq!(book.request(9, 2), SendFate::Send);
        assert_eq!(book.response(9), SendFate::Lose);
        assert_eq!(book.response(9), SendFate::Send);
        assert_eq!(book.response(10), SendFate::Send);
        let clean = FaultBook::new(FaultConfig::default(), 1).request(1, 1);
        assert_eq!(clean, SendFate::Send);
    }
}
