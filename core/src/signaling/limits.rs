//! Per-connection bounds of the signaling server: a message rate limit and
//! size limits on what an actor may store in the server (its profile, the
//! types it subscribes to).
//!
//! # Rate limit
//!
//! Each connection has a token bucket of [`RateLimit::burst`] messages,
//! refilled at [`RateLimit::per_second`], driven by the `now` of each input.
//! A message that finds the bucket empty is not decoded: the sender gets a
//! `ResourceExhausted` error, and after [`RateLimit::max_refusals`] refusals
//! in a row (a client that does not back off) the connection is closed with
//! [`super::CloseReason::RateLimited`]. A client that slows down is simply
//! served again.
//!
//! # Size limits
//!
//! Every string and list in an [`ActorProfile`] and every [`ActrType`] a
//! client asks the server to keep has a bound; a value over it is refused
//! with `InvalidArgument` naming the field.

use crate::acl::Acl;
use crate::error::ActrError;
use crate::id::{ActrType, ServiceSpec};
use crate::signaling::messages::ActorProfile;
use crate::time::Instant;

/// Longest `ws_address` in a profile, in bytes.
pub const MAX_WS_ADDRESS: usize = 256;
/// Longest segment (manufacturer, name, version) of an actor type, in bytes.
pub const MAX_TYPE_SEGMENT: usize = 128;
/// Most rules in a profile's ACL.
pub const MAX_ACL_RULES: usize = 64;
/// Longest service name or fingerprint, in bytes.
pub const MAX_SERVICE_NAME: usize = 256;
/// Longest service description, in bytes.
pub const MAX_SERVICE_DESCRIPTION: usize = 4096;
/// Most tags on a service.
pub const MAX_SERVICE_TAGS: usize = 32;
/// Longest service tag, in bytes.
pub const MAX_SERVICE_TAG: usize = 64;

/// Token units per message: the bucket counts millionths of a message, so
/// the refill needs no floating point.
const UNIT: u64 = 1_000_000;

/// Messages a connection may send: a burst, then a steady rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Messages that may arrive back to back.
    pub burst: u32,
    /// Messages per second the bucket refills.
    pub per_second: u32,
    /// Refused messages in a row after which the connection is closed.
    pub max_refusals: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { burst: 256, per_second: 128, max_refusals: 64 }
    }
}

/// What the bucket says about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateVerdict {
    Allowed,
    /// Over the rate: answer with an error, do not handle it.
    Refused,
    /// Over the rate [`RateLimit::max_refusals`] times in a row: close.
    Exhausted,
}

/// One connection's token bucket.
#[derive(Debug, Clone)]
pub(crate) struct RateBucket {
    tokens: u64,
    last: Instant,
    refusals: u32,
}

impl RateBucket {
    /// A full bucket at `now`.
    pub(crate) fn new(now: Instant, limit: &RateLimit) -> RateBucket {
        RateBucket { tokens: u64::from(limit.burst) * UNIT, last: now, refusals: 0 }
    }

    /// Refills for the time since the last message, then takes one message.
    pub(crate) fn take(&mut self, now: Instant, limit: &RateLimit) -> RateVerdict {
        let elapsed_us = now.as_micros().saturating_sub(self.last.as_micros());
        self.last = self.last.max(now);
        let refill = elapsed_us.saturating_mul(u64::from(limit.per_second));
        self.tokens = self.tokens.saturating_add(refill).min(u64::from(limit.burst) * UNIT);
        if self.tokens >= UNIT {
            self.tokens -= UNIT;
            self.refusals = 0;
            return RateVerdict::Allowed;
        }
        self.refusals = self.refusals.saturating_add(1);
        if self.refusals >= limit.max_refusals { RateVerdict::Exhausted } else { RateVerdict::Refused }
    }
}

fn too_long(field: &str, len: usize, max: usize) -> ActrError {
    ActrError::InvalidArgument(format!("{field} is {len} bytes; at most {max}"))
}

fn check_len(field: &str, text: &str, max: usize) -> Result<(), ActrError> {
    if text.len() > max { Err(too_long(field, text.len(), max)) } else { Ok(()) }
}

/// Checks each segment of an actor type; `field` names it in the error.
pub fn check_type(field: &str, ty: &ActrType) -> Result<(), ActrError> {
    check_len(&format!("{field}.manufacturer"), &ty.manufacturer, MAX_TYPE_SEGMENT)?;
    check_len(&format!("{field}.name"), &ty.name, MAX_TYPE_SEGMENT)?;
    check_len(&format!("{field}.version"), &ty.version, MAX_TYPE_SEGMENT)
}

fn check_acl(acl: &Acl) -> Result<(), ActrError> {
    if acl.rules.len() > MAX_ACL_RULES {
        let n = acl.rules.len();
        return Err(ActrError::InvalidArgument(format!("profile.acl.rules has {n} rules; at most {MAX_ACL_RULES}")));
    }
    for rule in &acl.rules {
        check_type("profile.acl.rules.from_type", &rule.from_type)?;
    }
    Ok(())
}

fn check_service(service: &ServiceSpec) -> Result<(), ActrError> {
    check_len("profile.service.name", &service.name, MAX_SERVICE_NAME)?;
    check_len("profile.service.fingerprint", &service.fingerprint, MAX_SERVICE_NAME)?;
    if let Some(description) = &service.description {
        check_len("profile.service.description", description, MAX_SERVICE_DESCRIPTION)?;
    }
    if service.tags.len() > MAX_SERVICE_TAGS {
        let n = service.tags.len();
        return Err(ActrError::InvalidArgument(format!(
            "profile.service.tags has {n} tags; at most {MAX_SERVICE_TAGS}"
        )));
    }
    for tag in &service.tags {
        check_len("profile.service.tags", tag, MAX_SERVICE_TAG)?;
    }
    Ok(())
}

/// Checks every field of a profile against its bound.
pub fn check_profile(profile: &ActorProfile) -> Result<(), ActrError> {
    if let Some(acl) = &profile.acl {
        check_acl(acl)?;
    }
    if let Some(address) = &profile.ws_address {
        check_len("profile.ws_address", address, MAX_WS_ADDRESS)?;
    }
    if let Some(service) = &profile.service {
        check_service(service)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{AclRule, Permission, RealmSelector};
    use crate::time::Duration;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let limit = RateLimit { burst: 3, per_second: 10, max_refusals: 2 };
        let t0 = Instant::ZERO;
        let mut bucket = RateBucket::new(t0, &limit);
        for _ in 0..3 {
            assert_eq!(bucket.take(t0, &limit), RateVerdict::Allowed);
        }
        assert_eq!(bucket.take(t0, &limit), RateVerdict::Refused);
        // 100 ms at 10/s is one message.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(bucket.take(t1, &limit), RateVerdict::Allowed);
        assert_eq!(bucket.take(t1, &limit), RateVerdict::Refused);
        assert_eq!(bucket.take(t1, &limit), RateVerdict::Exhausted);
        // A long pause refills to the burst, no more.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(bucket.take(t2, &limit), RateVerdict::Allowed);
        }
        assert_eq!(bucket.take(t2, &limit), RateVerdict::Refused);
    }

    #[test]
    fn every_profile_field_is_bounded_and_named() {
        let long = |n: usize| "x".repeat(n);
        let ok = ActorProfile::default();
        assert!(check_profile(&ok).is_ok());
        let field_of = |p: &ActorProfile| match check_profile(p) {
            Err(ActrError::InvalidArgument(m)) => m.split(' ').next().unwrap_or_default().to_owned(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
        let p = ActorProfile { ws_address: Some(long(MAX_WS_ADDRESS + 1)), ..Default::default() };
        assert_eq!(field_of(&p), "profile.ws_address");
        let service = |s: ServiceSpec| ActorProfile { service: Some(s), ..Default::default() };
        assert_eq!(field_of(&service(ServiceSpec { name: long(300), ..Default::default() })), "profile.service.name");
        let fp = ServiceSpec { fingerprint: long(300), ..Default::default() };
        assert_eq!(field_of(&service(fp)), "profile.service.fingerprint");
        let d = ServiceSpec { description: Some(long(5000)), ..Default::default() };
        assert_eq!(field_of(&service(d)), "profile.service.description");
        let tags = ServiceSpec { tags: vec![String::new(); 33], ..Default::default() };
        assert_eq!(field_of(&service(tags)), "profile.service.tags");
        let tag = ServiceSpec { tags: vec![long(65)], ..Default::default() };
        assert_eq!(field_of(&service(tag)), "profile.service.tags");
        let rule = |ty: ActrType| AclRule {
            permission: Permission::Allow,
            from_type: ty,
            realm: RealmSelector::Own,
            verified_only: false,
        };
        let ty = ActrType { manufacturer: "a".into(), name: long(129), version: "1".into() };
        let acl = Acl { rules: vec![rule(ty)] };
        let p = ActorProfile { acl: Some(acl), ..Default::default() };
        assert_eq!(field_of(&p), "profile.acl.rules.from_type.name");
        let many = Acl { rules: vec![rule("a:b:1".parse().unwrap()); 65] };
        assert_eq!(field_of(&ActorProfile { acl: Some(many), ..Default::default() }), "profile.acl.rules");
    }
}
