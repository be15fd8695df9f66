//! The request ledger: every request a node issued and how it resolved.
//!
//! The invariant it checks is the client's contract: each request issued
//! through `SignalingClient::request` gets exactly one `Reply`, no later than
//! its deadline. Replies to unknown ids, second replies and late replies are
//! recorded as violations as they happen.

use std::collections::BTreeMap;

use actr_core::signaling::{ClientRequest, RequestId, ServerReply};
use actr_core::{ActrError, Instant};

/// One issued request.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    pub request: ClientRequest,
    pub issued_at: Instant,
    pub deadline: Instant,
    pub outcome: Option<(Instant, Result<ServerReply, ActrError>)>,
}

impl LedgerEntry {
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Some((_, Ok(_))))
    }

    pub fn error(&self) -> Option<&ActrError> {
        match &self.outcome {
            Some((_, Err(e))) => Some(e),
            _ => None,
        }
    }
}

/// Request ids restart with each node incarnation, so keys carry both.
pub type LedgerKey = (u32, RequestId);

/// Totals for reports and assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerCounts {
    pub issued: usize,
    pub ok: usize,
    pub failed: usize,
    pub pending: usize,
    pub abandoned: usize,
}

#[derive(Debug, Default)]
pub struct RequestLedger {
    entries: BTreeMap<LedgerKey, LedgerEntry>,
    /// Requests pending when their node crashed: they died with the process.
    abandoned: usize,
    violations: Vec<String>,
}

impl RequestLedger {
    pub fn issue(&mut self, key: LedgerKey, request: ClientRequest, now: Instant, deadline: Instant) {
        let entry = LedgerEntry { request, issued_at: now, deadline, outcome: None };
        if self.entries.insert(key, entry).is_some() {
            self.violations.push(format!("request id {key:?} issued twice"));
        }
    }

    /// Records a reply; returns the entry it resolved, if it was a valid one.
    pub fn resolve(
        &mut self,
        key: LedgerKey,
        now: Instant,
        result: Result<ServerReply, ActrError>,
    ) -> Option<&LedgerEntry> {
        let Some(entry) = self.entries.get_mut(&key) else {
            self.violations.push(format!("reply to unknown request {key:?} at {now:?}"));
            return None;
        };
        if entry.outcome.is_some() {
            self.violations.push(format!("second reply to request {key:?} at {now:?}: {result:?}"));
            return None;
        }
        if now > entry.deadline {
            self.violations
                .push(format!("request {key:?} resolved at {now:?}, after its deadline {:?}", entry.deadline));
        }
        entry.outcome = Some((now, result));
        Some(entry)
    }

    /// The node of incarnation `inc` crashed: its pending requests are gone.
    pub fn abandon(&mut self, inc: u32) {
        let before = self.entries.len();
        self.entries.retain(|(i, _), e| *i != inc || e.outcome.is_some());
        self.abandoned += before - self.entries.len();
    }

    /// Fails on any recorded violation, or on a request still unresolved
    /// after its deadline has passed at `now`.
    pub fn check(&self, now: Instant) -> Result<(), String> {
        if let Some(v) = self.violations.first() {
            return Err(format!("{} ledger violation(s), first: {v}", self.violations.len()));
        }
        let overdue = self.entries.iter().find(|(_, e)| e.outcome.is_none() && e.deadline < now);
        match overdue {
            Some((key, e)) => {
                Err(format!("request {key:?} ({:?}) unresolved past its deadline {:?}", e.request, e.deadline))
            }
            None => Ok(()),
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = (&LedgerKey, &LedgerEntry)> {
        self.entries.iter()
    }

    pub fn get(&self, key: LedgerKey) -> Option<&LedgerEntry> {
        self.entries.get(&key)
    }

    pub fn counts(&self) -> LedgerCounts {
        let mut c = LedgerCounts { abandoned: self.abandoned, ..Default::default() };
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

    pub fn violations(&self) -> &[String] {
        &self.violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::at_secs;

    #[test]
    fn exactly_once_by_the_deadline() {
        let mut l = RequestLedger::default();
        l.issue((1, 1), ClientRequest::Ping, at_secs(0), at_secs(5));
        l.issue((1, 2), ClientRequest::Ping, at_secs(0), at_secs(5));
        assert!(l.check(at_secs(5)).is_ok(), "not yet overdue");
        assert!(l.check(at_secs(6)).is_err(), "overdue");
        l.resolve((1, 1), at_secs(1), Ok(ServerReply::Pong));
        l.resolve((1, 2), at_secs(5), Err(ActrError::TimedOut));
        assert!(l.check(at_secs(9)).is_ok());
        assert_eq!(l.counts(), LedgerCounts { issued: 2, ok: 1, failed: 1, pending: 0, abandoned: 0 });
        l.resolve((1, 1), at_secs(2), Ok(ServerReply::Pong));
        assert!(l.check(at_secs(9)).unwrap_err().contains("second reply"));
    }

    #[test]
    fn unknown_and_late_replies_are_violations() {
        let mut l = RequestLedger::default();
        l.resolve((1, 9), at_secs(1), Ok(ServerReply::Pong));
        l.issue((1, 1), ClientRequest::Ping, at_secs(0), at_secs(5));
        l.resolve((1, 1), at_secs(6), Ok(ServerReply::Pong));
        assert_eq!(l.violations().len(), 2);
    }

    #[test]
    fn crash_abandons_pending_only() {
        let mut l = RequestLedger::default();
        l.issue((1, 1), ClientRequest::Ping, at_secs(0), at_secs(5));
        l.issue((1, 2), ClientRequest::Ping, at_secs(0), at_secs(5));
        l.resolve((1, 1), at_secs(1), Ok(ServerReply::Pong));
        l.abandon(1);
        assert_eq!(l.counts(), LedgerCounts { issued: 1, ok: 1, failed: 0, pending: 0, abandoned: 1 });
        assert!(l.check(at_secs(60)).is_ok());
    }
}
