//! What a node's WebRTC layer did, across incarnations: every call and how
//! it resolved, every handler run, and counters of notable events.
//!
//! The call ledger checks the endpoint's contract as it happens: each call
//! resolves exactly once, no later than its deadline, and a reply carries
//! exactly what the handler must have answered.

use std::collections::BTreeMap;

use actr_core::{ActrError, ActrId, Instant};

/// One call a node made.
#[derive(Debug, Clone)]
pub struct CallEntry {
    /// The node called.
    pub dest: usize,
    pub route: &'static str,
    pub issued_at: Instant,
    pub deadline: Instant,
    /// The reply a correct handler gives.
    pub expect: Vec<u8>,
    pub outcome: Option<(Instant, Result<Vec<u8>, ActrError>)>,
}

impl CallEntry {
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Some((_, Ok(_))))
    }
}

/// Request ids are unique per endpoint, so keys carry the layer (a slot's
/// `RtcNode`s are counted: a restart or a new identity builds a new one).
pub type CallKey = (u32, u64);

/// Totals for reports and assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub issued: usize,
    pub ok: usize,
    pub failed: usize,
    pub pending: usize,
    pub abandoned: usize,
}

#[derive(Debug, Default)]
pub struct CallLedger {
    entries: BTreeMap<CallKey, CallEntry>,
    abandoned: usize,
    violations: Vec<String>,
}

impl CallLedger {
    pub fn issue(&mut self, key: CallKey, entry: CallEntry) {
        if self.entries.insert(key, entry).is_some() {
            self.violations.push(format!("call id {key:?} issued twice"));
        }
    }

    /// Records an outcome, flagging unknown, second, late and wrong replies.
    pub fn resolve(&mut self, key: CallKey, now: Instant, result: Result<Vec<u8>, ActrError>) {
        let Some(e) = self.entries.get_mut(&key) else {
            return self.violations.push(format!("outcome for unknown call {key:?} at {now:?}"));
        };
        if e.outcome.is_some() {
            return self.violations.push(format!("second outcome for call {key:?} at {now:?}: {result:?}"));
        }
        if now > e.deadline {
            self.violations.push(format!("call {key:?} resolved at {now:?}, after its deadline {:?}", e.deadline));
        }
        if let Ok(reply) = &result
            && *reply != e.expect
        {
            self.violations.push(format!("call {key:?} got a reply of {} bytes that is not its answer", reply.len()));
        }
        e.outcome = Some((now, result));
    }

    /// Layer `layer` is gone (crash, new identity): its pending calls died with it.
    pub fn abandon(&mut self, layer: u32) {
        let before = self.entries.len();
        self.entries.retain(|(i, _), e| *i != layer || e.outcome.is_some());
        self.abandoned += before - self.entries.len();
    }

    /// Fails on a recorded violation or a call unresolved past its deadline.
    pub fn check(&self, now: Instant) -> Result<(), String> {
        if let Some(v) = self.violations.first() {
            return Err(format!("{} call violation(s), first: {v}", self.violations.len()));
        }
        match self.entries.iter().find(|(_, e)| e.outcome.is_none() && e.deadline < now) {
            Some((key, e)) => Err(format!("call {key:?} to node {} unresolved past {:?}", e.dest, e.deadline)),
            None => Ok(()),
        }
    }

    pub fn get(&self, key: CallKey) -> Option<&CallEntry> {
        self.entries.get(&key)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&CallKey, &CallEntry)> {
        self.entries.iter()
    }

    pub fn counts(&self) -> CallCounts {
        let mut c = CallCounts { abandoned: self.abandoned, ..Default::default() };
        for e in self.entries.values() {
            c.issued += 1;
            match &e.outcome {
                Some((_, Ok(_))) => c.ok += 1,
                Some((_, Err(_))) => c.failed += 1,
                None => c.pending += 1,
            }
        }
        c
    }
}

/// Counters of one node's WebRTC layer (its str0m peers; what the hub
/// decided is in the hub's own stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtcCounters {
    pub sessions_begun: u64,
    pub sessions_closed: u64,
    pub offers_sent: u64,
    pub answers_sent: u64,
    pub restart_requests_sent: u64,
    pub ice_disconnected: u64,
    pub ice_restarted: u64,
    pub ice_reconnected: u64,
    /// Restarts (offerer) and restart requests (answerer) the hub asked for.
    pub recoveries_asked: u64,
    /// Network-change reports made to the hub.
    pub network_changes: u64,
    /// Datagrams for a port no session holds.
    pub datagrams_unbound: u64,
    /// Inputs str0m refused (bad datagrams, SDP it rejected).
    pub peer_errors: u64,
}

/// Everything one node slot's WebRTC layer recorded.
#[derive(Debug, Default)]
pub struct RtcLog {
    pub calls: CallLedger,
    /// Handler runs per `(caller, request id)`.
    pub handler_runs: BTreeMap<(ActrId, u64), u32>,
    pub counters: RtcCounters,
}

impl RtcLog {
    /// Handler entries that ran more than once.
    pub fn repeated_runs(&self) -> Vec<(&(ActrId, u64), u32)> {
        self.handler_runs.iter().filter(|(_, n)| **n > 1).map(|(k, n)| (k, *n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::at_secs;

    fn entry(deadline: u64) -> CallEntry {
        CallEntry {
            dest: 1,
            route: "echo",
            issued_at: at_secs(0),
            deadline: at_secs(deadline),
            expect: b"x".to_vec(),
            outcome: None,
        }
    }

    #[test]
    fn exactly_once_right_answer_by_the_deadline() {
        let mut l = CallLedger::default();
        l.issue((1, 1), entry(5));
        l.issue((1, 2), entry(5));
        assert!(l.check(at_secs(6)).is_err(), "overdue");
        l.resolve((1, 1), at_secs(1), Ok(b"x".to_vec()));
        l.resolve((1, 2), at_secs(5), Err(ActrError::TimedOut));
        assert!(l.check(at_secs(9)).is_ok());
        l.resolve((1, 1), at_secs(2), Ok(b"x".to_vec()));
        assert!(l.check(at_secs(9)).unwrap_err().contains("second outcome"));
    }

    #[test]
    fn wrong_and_late_replies_are_violations() {
        let mut l = CallLedger::default();
        l.issue((1, 1), entry(5));
        l.resolve((1, 1), at_secs(6), Ok(b"y".to_vec()));
        assert!(l.check(at_secs(9)).unwrap_err().starts_with("2 call violation(s)"));
        let mut crashed = CallLedger::default();
        crashed.issue((1, 1), entry(5));
        crashed.abandon(1);
        assert_eq!(crashed.counts().abandoned, 1);
        assert!(crashed.check(at_secs(9)).is_ok());
    }
}
