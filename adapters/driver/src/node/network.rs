//! [`NetworkEventHandle`]: how the application reports network changes, so
//! WebRTC connections recover without waiting for ICE to notice.
//!
//! Reports go to the node's hub, which debounces them: reports closer
//! together than `HyperConfig::network_debounce` form one burst, and one
//! recovery follows the burst's end, unless its last report was "lost",
//! in which case recovery waits for the next "available". Recovery means:
//! the offerer of each connection restarts ICE, the answerer asks it to.

use actr_core::ActrError;
use actr_core::node::NetworkChange;
use async_channel::{Sender, TrySendError};

use crate::task::io::Command;

/// Reports network changes to one node. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NetworkEventHandle {
    tx: Sender<Command>,
}

impl NetworkEventHandle {
    pub(crate) fn new(tx: Sender<Command>) -> Self {
        Self { tx }
    }

    /// The network went away: recovery waits until it is available again.
    pub fn network_lost(&self) -> Result<(), ActrError> {
        self.report(NetworkChange::Lost)
    }

    /// The network is (back) up: connections recover after the burst.
    pub fn network_available(&self) -> Result<(), ActrError> {
        self.report(NetworkChange::Available)
    }

    /// The network changed type (Wi-Fi to cellular…): connections recover.
    pub fn network_type_changed(&self) -> Result<(), ActrError> {
        self.report(NetworkChange::TypeChanged)
    }

    /// `Unavailable` once the node has stopped. A report that finds the
    /// node's queue full is dropped and succeeds: the queue is busy, and the
    /// burst it belongs to ends with a later report.
    fn report(&self, change: NetworkChange) -> Result<(), ActrError> {
        match self.tx.try_send(Command::Network(change)) {
            Ok(()) | Err(TrySendError::Full(_)) => Ok(()),
            Err(TrySendError::Closed(_)) => Err(ActrError::Unavailable("the node has stopped".into())),
        }
    }
}
