//! Admission of remote requests into the workload: the node's phase and its
//! in-flight budgets, in all and per calling peer, so one busy peer cannot
//! take every slot from the others.

use std::collections::BTreeMap;

use crate::error::ActrError;
use crate::id::ActrId;

/// Where the node is in its life, as far as inbound work goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Registered, `on_start` not yet done: remote requests are refused.
    Starting,
    Running,
    /// Shutting down: in-flight work finishes, new work is refused.
    Draining,
    Stopped,
}

#[derive(Debug)]
pub(crate) struct Admission {
    phase: Phase,
    max_in_flight: usize,
    max_per_peer: usize,
    in_flight: usize,
    per_peer: BTreeMap<ActrId, usize>,
}

impl Admission {
    pub fn new(max_in_flight: usize, max_per_peer: usize) -> Self {
        Self { phase: Phase::Starting, max_in_flight, max_per_peer, in_flight: 0, per_peer: BTreeMap::new() }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Takes a slot for a request from `caller`, or says why not.
    pub fn admit(&mut self, caller: &ActrId, own: &ActrId) -> Result<(), ActrError> {
        if self.phase != Phase::Running {
            return Err(ActrError::Unavailable(format!("{own} is not serving ({:?})", self.phase)));
        }
        if self.in_flight >= self.max_in_flight {
            return Err(ActrError::ResourceExhausted(format!("{} requests in flight", self.in_flight)));
        }
        let mine = self.per_peer.get(caller).copied().unwrap_or(0);
        if mine >= self.max_per_peer {
            return Err(ActrError::ResourceExhausted(format!("{mine} requests in flight from {caller}")));
        }
        self.in_flight += 1;
        *self.per_peer.entry(caller.clone()).or_default() += 1;
        Ok(())
    }

    /// Frees the slot `caller` held.
    pub fn release(&mut self, caller: &ActrId) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(n) = self.per_peer.get_mut(caller) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> ActrId {
        format!("{n}@1/acme:x:1").parse().unwrap()
    }

    #[test]
    fn budgets_hold_in_all_and_per_peer() {
        let mut a = Admission::new(3, 2);
        assert!(matches!(a.admit(&id(1), &id(9)), Err(ActrError::Unavailable(_))), "not running yet");
        a.set_phase(Phase::Running);
        a.admit(&id(1), &id(9)).unwrap();
        a.admit(&id(1), &id(9)).unwrap();
        assert!(matches!(a.admit(&id(1), &id(9)), Err(ActrError::ResourceExhausted(_))), "per peer");
        a.admit(&id(2), &id(9)).unwrap();
        assert!(matches!(a.admit(&id(3), &id(9)), Err(ActrError::ResourceExhausted(_))), "in all");
        a.release(&id(1));
        a.admit(&id(3), &id(9)).unwrap();
        a.set_phase(Phase::Draining);
        assert!(matches!(a.admit(&id(4), &id(9)), Err(ActrError::Unavailable(_))));
        assert_eq!(a.in_flight(), 3);
    }
}
