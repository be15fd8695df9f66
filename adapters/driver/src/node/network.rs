//! [`NetworkEventHandle`]: how the application reports network changes, so
//! WebRTC connections recover without waiting for ICE to notice.
//!
//! Reports are debounced: reports closer together than
//! `HyperConfig::network_debounce` form one burst, and one recovery follows
//! the burst's end — unless the last report of the burst was "lost", in which
//! case recovery waits for the next "available". Recovery means: the offerer
//! of each connection restarts ICE, the answerer asks its offerer to.

use std::time::Duration;

use actr_core::ActrError;
use async_channel::{Receiver, Sender, TrySendError};

use crate::node::rpc_io::LoopCmd;
use crate::runtime::{Runtime, with_deadline};

/// Reports waiting for the debouncer; a full queue already holds a burst.
const REPORT_QUEUE: usize = 16;

/// A change the application observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NetworkChange {
    Lost,
    Available,
    TypeChanged,
}

/// Reports network changes to one node. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NetworkEventHandle {
    tx: Sender<NetworkChange>,
}

impl NetworkEventHandle {
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

    /// `Unavailable` once the node has stopped; a report into a full queue is
    /// merged into the burst already waiting and succeeds.
    fn report(&self, change: NetworkChange) -> Result<(), ActrError> {
        match self.tx.try_send(change) {
            Ok(()) | Err(TrySendError::Full(_)) => Ok(()),
            Err(TrySendError::Closed(_)) => Err(ActrError::Unavailable("the node has stopped".into())),
        }
    }
}

/// Spawns the debouncer feeding `commands`; it ends with the RPC loop.
pub(crate) fn spawn_debouncer<R: Runtime>(rt: &R, window: Duration, commands: Sender<LoopCmd>) -> NetworkEventHandle {
    let (tx, rx) = async_channel::bounded(REPORT_QUEUE);
    let timer = rt.clone();
    rt.spawn(Box::pin(async move {
        while let Some(last) = next_burst(&timer, window, &rx).await {
            if last != NetworkChange::Lost && commands.send(LoopCmd::RecoverNetwork).await.is_err() {
                return;
            }
        }
    }));
    NetworkEventHandle { tx }
}

/// Waits for a burst of reports and returns its last one; `None` when every
/// handle is gone. The burst ends after `window` without a report.
async fn next_burst<R: Runtime>(rt: &R, window: Duration, rx: &Receiver<NetworkChange>) -> Option<NetworkChange> {
    let mut last = rx.recv().await.ok()?;
    loop {
        match with_deadline(rt, window, rx.recv()).await {
            Ok(Ok(change)) => last = change,
            Ok(Err(_)) => return None,
            Err(_) => return Some(last),
        }
    }
}
