//! The in-process gate: actors of one process reach each other through a
//! process-wide registry of started nodes, and messages move as [`Bytes`]
//! handles — the callee's handler sees the caller's buffer, never a copy.
//!
//! The ACL does not apply here: a caller in the same process is trusted like
//! the embedding application (`actr_core::acl::Caller::Local`).
//!
//! Entries are keyed by the identity service's public key as well as the
//! actor id: ids are unique per AIS, and one process may talk to several.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use actr_core::{ActrError, ActrId};

use crate::node::ops::NodeOps;

/// Most nodes one process registers; later ones are reachable over the network only.
pub const MAX_LOCAL_NODES: usize = 4096;

/// The AIS public key that issued an id, and the id.
type Key = (Vec<u8>, ActrId);

static LOCAL: Mutex<BTreeMap<Key, Weak<dyn NodeOps>>> = Mutex::new(BTreeMap::new());

fn table() -> MutexGuard<'static, BTreeMap<Key, Weak<dyn NodeOps>>> {
    // The table holds no invariant a panicking holder could break.
    LOCAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Makes `node` reachable in-process. Fails when the registry is full.
pub(crate) fn register(ais_key: &[u8], id: &ActrId, node: Weak<dyn NodeOps>) -> Result<(), ActrError> {
    let key = (ais_key.to_vec(), id.clone());
    let mut table = table();
    table.retain(|_, n| n.strong_count() > 0);
    if table.len() >= MAX_LOCAL_NODES && !table.contains_key(&key) {
        return Err(ActrError::ResourceExhausted(format!("{MAX_LOCAL_NODES} nodes in this process")));
    }
    table.insert(key, node);
    Ok(())
}

/// Makes the node `id` unreachable in-process (it is shutting down).
pub(crate) fn unregister(ais_key: &[u8], id: &ActrId) {
    table().remove(&(ais_key.to_vec(), id.clone()));
}

/// The started node `id` of this process, if any.
pub(crate) fn lookup(ais_key: &[u8], id: &ActrId) -> Option<Arc<dyn NodeOps>> {
    table().get(&(ais_key.to_vec(), id.clone())).and_then(Weak::upgrade)
}
