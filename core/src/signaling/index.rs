//! The online actors by type, for discovery and route queries without a
//! scan of every actor.
//!
//! Types are kept in `(manufacturer, name, version)` order, so a discovery by
//! manufacturer is a range; each type's instances are kept newest serial
//! first, the order route candidates are returned in. A query still checks
//! each instance's ACL against the caller, so it examines at most
//! [`MAX_EXAMINED`] instances and returns what it found by then.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::id::{ActrId, ActrType};

/// Most instances one query examines (ACL checks); a bound on its cost.
pub const MAX_EXAMINED: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Newest(Reverse<u64>, ActrId);

/// Online actors by type, newest first.
#[derive(Debug, Default)]
pub(crate) struct ActorIndex {
    by_type: BTreeMap<ActrType, BTreeSet<Newest>>,
}

impl ActorIndex {
    pub(crate) fn insert(&mut self, actor: &ActrId) {
        let entry = Newest(Reverse(actor.serial), actor.clone());
        self.by_type.entry(actor.actr_type.clone()).or_default().insert(entry);
    }

    pub(crate) fn remove(&mut self, actor: &ActrId) {
        let Some(set) = self.by_type.get_mut(&actor.actr_type) else { return };
        set.remove(&Newest(Reverse(actor.serial), actor.clone()));
        if set.is_empty() {
            self.by_type.remove(&actor.actr_type);
        }
    }

    /// Online instances of `ty`, newest serial first.
    pub(crate) fn instances<'a>(&'a self, ty: &ActrType) -> impl Iterator<Item = &'a ActrId> + 'a {
        self.by_type.get(ty).into_iter().flat_map(|set| set.iter().map(|n| &n.1))
    }

    /// Types with an online instance, in order, of one manufacturer or all.
    pub(crate) fn types<'a>(&'a self, manufacturer: Option<&'a str>) -> impl Iterator<Item = &'a ActrType> + 'a {
        let start = ActrType {
            manufacturer: manufacturer.unwrap_or_default().to_owned(),
            name: String::new(),
            version: String::new(),
        };
        self.by_type
            .range(start..)
            .map(|(ty, _)| ty)
            .take_while(move |ty| manufacturer.is_none_or(|m| ty.manufacturer == m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_manufacturer_and_instances_newest_first() {
        let mut index = ActorIndex::default();
        for id in ["1@1/acme:echo:1", "5@1/acme:echo:1", "3@2/acme:echo:1", "2@1/beta:echo:1", "4@1/ac:x:1"] {
            index.insert(&id.parse().unwrap());
        }
        let echo: ActrType = "acme:echo:1".parse().unwrap();
        let serials: Vec<u64> = index.instances(&echo).map(|a| a.serial).collect();
        assert_eq!(serials, vec![5, 3, 1]);
        let acme: Vec<String> = index.types(Some("acme")).map(|t| t.to_string()).collect();
        assert_eq!(acme, vec!["acme:echo:1"]);
        assert_eq!(index.types(None).count(), 3);
        index.remove(&"5@1/acme:echo:1".parse().unwrap());
        assert_eq!(index.instances(&echo).count(), 2);
        index.remove(&"2@1/beta:echo:1".parse().unwrap());
        assert_eq!(index.types(Some("beta")).count(), 0);
        assert_eq!(index.by_type.len(), 2, "empty types leave the index");
    }
}
