//! Access control: who may call or discover an actor.
//!
//! Evaluation: a local (in-process) caller is allowed; otherwise every rule
//! that matches the caller's type and realm counts, any matching deny wins,
//! and with no matching allow the caller is denied. A rule marked
//! `verified_only` matches only callers whose type a manufacturer vouched
//! for (a package registration, `Claims::verified`): a linked actor that
//! merely claims the same type name is not covered by it.

use serde::{Deserialize, Serialize};

use crate::id::{ActrId, ActrType, Realm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    Allow,
    Deny,
}

/// Which caller realms a rule covers, relative to the protected actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RealmSelector {
    /// The protected actor's own realm.
    Own,
    /// Any realm.
    Any,
    /// One named realm.
    Exactly(Realm),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AclRule {
    pub permission: Permission,
    /// The caller's type; all three segments must match.
    pub from_type: ActrType,
    pub realm: RealmSelector,
    /// Match only manufacturer-verified callers of `from_type`.
    #[serde(default)]
    pub verified_only: bool,
}

/// An ordered set of rules protecting one actor.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Acl {
    pub rules: Vec<AclRule>,
}

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    /// The embedding application or another actor in the same process.
    Local,
    /// A remote actor whose type is self-asserted (linked).
    Remote(&'a ActrId),
    /// A remote actor whose type a manufacturer's signature vouches for.
    Verified(&'a ActrId),
}

impl<'a> Caller<'a> {
    /// The remote caller `id`, verified or not.
    pub fn remote(id: &'a ActrId, verified: bool) -> Self {
        if verified { Caller::Verified(id) } else { Caller::Remote(id) }
    }
}

/// The outcome, with the reason a denial happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclDecision {
    Allowed,
    DeniedByRule,
    NoMatchingRule,
}

impl AclDecision {
    pub fn is_allowed(self) -> bool {
        self == AclDecision::Allowed
    }
}

impl RealmSelector {
    fn covers(self, caller: Realm, own: Realm) -> bool {
        match self {
            RealmSelector::Own => caller == own,
            RealmSelector::Any => true,
            RealmSelector::Exactly(r) => caller == r,
        }
    }
}

impl Acl {
    pub fn allow(mut self, from_type: ActrType, realm: RealmSelector) -> Self {
        self.rules.push(AclRule { permission: Permission::Allow, from_type, realm, verified_only: false });
        self
    }

    /// Allows callers of `from_type` only when a manufacturer verified their type.
    pub fn allow_verified(mut self, from_type: ActrType, realm: RealmSelector) -> Self {
        self.rules.push(AclRule { permission: Permission::Allow, from_type, realm, verified_only: true });
        self
    }

    pub fn deny(mut self, from_type: ActrType, realm: RealmSelector) -> Self {
        self.rules.push(AclRule { permission: Permission::Deny, from_type, realm, verified_only: false });
        self
    }

    /// Decides whether `caller` may reach an actor of realm `own` protected by this ACL.
    pub fn check(&self, caller: Caller<'_>, own: Realm) -> AclDecision {
        let (id, verified) = match caller {
            Caller::Local => return AclDecision::Allowed,
            Caller::Remote(id) => (id, false),
            Caller::Verified(id) => (id, true),
        };
        let mut allowed = false;
        for rule in &self.rules {
            if rule.from_type != id.actr_type || !rule.realm.covers(id.realm, own) || (rule.verified_only && !verified)
            {
                continue;
            }
            match rule.permission {
                Permission::Deny => return AclDecision::DeniedByRule,
                Permission::Allow => allowed = true,
            }
        }
        if allowed { AclDecision::Allowed } else { AclDecision::NoMatchingRule }
    }
}

/// The policy for an actor that registered no ACL: callers of its own realm only.
pub fn check_optional(acl: Option<&Acl>, caller: Caller<'_>, own: Realm) -> AclDecision {
    match (acl, caller) {
        (Some(acl), _) => acl.check(caller, own),
        (None, Caller::Local) => AclDecision::Allowed,
        (None, Caller::Remote(id) | Caller::Verified(id)) if id.realm == own => AclDecision::Allowed,
        (None, Caller::Remote(_) | Caller::Verified(_)) => AclDecision::NoMatchingRule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> ActrType {
        s.parse().unwrap()
    }
    fn id(realm: u32, t: &str) -> ActrId {
        ActrId { realm: Realm(realm), serial: 1, actr_type: ty(t) }
    }
    const OWN: Realm = Realm(1);

    #[test]
    fn local_caller_is_allowed_even_by_empty_acl() {
        assert_eq!(Acl::default().check(Caller::Local, OWN), AclDecision::Allowed);
    }

    #[test]
    fn a_verified_only_rule_refuses_a_linked_actor_of_the_same_name() {
        let acl = Acl::default().allow_verified(ty("acme:billing:1"), RealmSelector::Own);
        let caller = id(1, "acme:billing:1");
        assert_eq!(acl.check(Caller::Remote(&caller), OWN), AclDecision::NoMatchingRule, "linked: self-asserted");
        assert!(acl.check(Caller::Verified(&caller), OWN).is_allowed(), "a manufacturer vouched for it");
        // An ordinary rule covers both.
        let open = Acl::default().allow(ty("acme:billing:1"), RealmSelector::Own);
        assert!(open.check(Caller::remote(&caller, false), OWN).is_allowed());
        assert!(open.check(Caller::remote(&caller, true), OWN).is_allowed());
    }

    #[test]
    fn no_matching_rule_denies() {
        let acl = Acl::default().allow(ty("a:x:1"), RealmSelector::Own);
        assert_eq!(acl.check(Caller::Remote(&id(1, "a:y:1")), OWN), AclDecision::NoMatchingRule);
        assert_eq!(Acl::default().check(Caller::Remote(&id(1, "a:y:1")), OWN), AclDecision::NoMatchingRule);
    }

    #[test]
    fn type_must_match_all_three_segments() {
        let acl = Acl::default().allow(ty("a:x:1"), RealmSelector::Any);
        assert!(acl.check(Caller::Remote(&id(1, "a:x:1")), OWN).is_allowed());
        assert!(!acl.check(Caller::Remote(&id(1, "a:x:2")), OWN).is_allowed());
        assert!(!acl.check(Caller::Remote(&id(1, "b:x:1")), OWN).is_allowed());
    }

    #[test]
    fn own_realm_selector() {
        let acl = Acl::default().allow(ty("a:x:1"), RealmSelector::Own);
        assert!(acl.check(Caller::Remote(&id(1, "a:x:1")), OWN).is_allowed());
        assert_eq!(acl.check(Caller::Remote(&id(2, "a:x:1")), OWN), AclDecision::NoMatchingRule);
    }

    #[test]
    fn any_realm_selector() {
        let acl = Acl::default().allow(ty("a:x:1"), RealmSelector::Any);
        assert!(acl.check(Caller::Remote(&id(2, "a:x:1")), OWN).is_allowed());
        assert!(acl.check(Caller::Remote(&id(99, "a:x:1")), OWN).is_allowed());
    }

    #[test]
    fn given_realm_selector() {
        let acl = Acl::default().allow(ty("a:x:1"), RealmSelector::Exactly(Realm(5)));
        assert!(acl.check(Caller::Remote(&id(5, "a:x:1")), OWN).is_allowed());
        assert!(!acl.check(Caller::Remote(&id(1, "a:x:1")), OWN).is_allowed());
    }

    #[test]
    fn deny_wins_over_allow_in_any_order() {
        let a = Acl::default().allow(ty("a:x:1"), RealmSelector::Any).deny(ty("a:x:1"), RealmSelector::Own);
        let b = Acl::default().deny(ty("a:x:1"), RealmSelector::Own).allow(ty("a:x:1"), RealmSelector::Any);
        for acl in [a, b] {
            assert_eq!(acl.check(Caller::Remote(&id(1, "a:x:1")), OWN), AclDecision::DeniedByRule);
            // The deny covers only the own realm: another realm is still allowed.
            assert!(acl.check(Caller::Remote(&id(3, "a:x:1")), OWN).is_allowed());
        }
    }

    #[test]
    fn deny_for_other_type_does_not_block() {
        let acl = Acl::default().deny(ty("a:evil:1"), RealmSelector::Any).allow(ty("a:x:1"), RealmSelector::Own);
        assert!(acl.check(Caller::Remote(&id(1, "a:x:1")), OWN).is_allowed());
        assert_eq!(acl.check(Caller::Remote(&id(1, "a:evil:1")), OWN), AclDecision::DeniedByRule);
    }

    #[test]
    fn absent_acl_admits_own_realm_only() {
        assert!(check_optional(None, Caller::Remote(&id(1, "a:x:1")), OWN).is_allowed());
        assert!(!check_optional(None, Caller::Remote(&id(2, "a:x:1")), OWN).is_allowed());
        assert!(check_optional(None, Caller::Local, OWN).is_allowed());
    }
}
