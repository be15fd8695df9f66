//! The in-process gate: actors made by one [`crate::Hyper`] reach each
//! other through that `Hyper`'s registry of started nodes, and messages move
//! as [`bytes::Bytes`] handles — the callee's handler sees the caller's
//! buffer, never a copy. Nodes of another `Hyper`, in this process or not,
//! are reached over the network.
//!
//! The ACL does not apply here: a caller in the same registry is trusted
//! like the embedding application (`actr_core::acl::Caller::Local`).
//!
//! Entries are keyed by the identity service's public key as well as the
//! actor id: ids are unique per AIS, and one `Hyper`'s nodes may talk to
//! several.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use actr_core::{ActrError, ActrId};

use crate::node::ops::NodeOps;

/// Most nodes one registry holds; later ones are reachable over the network only.
pub const MAX_LOCAL_NODES: usize = 4096;

/// The AIS public key that issued an id, and the id.
type Key = (Vec<u8>, ActrId);

/// The started nodes of one `Hyper` that share it (`HyperConfig::share_process`).
#[derive(Default)]
pub(crate) struct InProcessRegistry {
    nodes: Mutex<BTreeMap<Key, Weak<dyn NodeOps>>>,
}

impl std::fmt::Debug for InProcessRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessRegistry").field("nodes", &self.table().len()).finish()
    }
}

impl InProcessRegistry {
    fn table(&self) -> MutexGuard<'_, BTreeMap<Key, Weak<dyn NodeOps>>> {
        // The table holds no invariant a panicking holder could break.
        self.nodes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes `node` reachable in-process. Fails when the registry is full.
    pub fn register(&self, ais_key: &[u8], id: &ActrId, node: Weak<dyn NodeOps>) -> Result<(), ActrError> {
        let key = (ais_key.to_vec(), id.clone());
        let mut table = self.table();
        table.retain(|_, n| n.strong_count() > 0);
        if table.len() >= MAX_LOCAL_NODES && !table.contains_key(&key) {
            return Err(ActrError::ResourceExhausted(format!("{MAX_LOCAL_NODES} nodes in this registry")));
        }
        table.insert(key, node);
        Ok(())
    }

    /// Makes the node `id` unreachable in-process (it is shutting down).
    pub fn unregister(&self, ais_key: &[u8], id: &ActrId) {
        self.table().remove(&(ais_key.to_vec(), id.clone()));
    }

    /// The started node `id` of this registry, if any.
    pub fn lookup(&self, ais_key: &[u8], id: &ActrId) -> Option<Arc<dyn NodeOps>> {
        self.table().get(&(ais_key.to_vec(), id.clone())).and_then(Weak::upgrade)
    }
}
