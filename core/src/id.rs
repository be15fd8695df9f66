//! Actor addressing: realms, types, ids, destinations and service specs.
//!
//! Text forms parse back to the same value:
//! - `ActrType`: `manufacturer:name:version`, e.g. `acme:echo:1.0.0`;
//! - `ActrId`: `<serial hex>@<realm>/<type>`, e.g. `1a2b@7/acme:echo:1.0.0`.

use core::fmt;
use core::str::FromStr;
use serde::{Deserialize, Serialize};

/// Longest manufacturer or name segment.
pub const MAX_NAME_LEN: usize = 32;
/// Longest version segment.
pub const MAX_VERSION_LEN: usize = 64;

/// A tenant boundary: actors see each other only as their ACLs allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Realm(pub u32);

impl fmt::Display for Realm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What kind of actor this is: who made it, what it is called, which version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActrType {
    pub manufacturer: String,
    pub name: String,
    pub version: String,
}

/// The identity the AIS allocated to one running actor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActrId {
    pub realm: Realm,
    pub serial: u64,
    pub actr_type: ActrType,
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dest {
    /// The embedding application of this node.
    Host,
    /// The workload linked into this node.
    Workload,
    /// Another actor, local or remote.
    Peer(ActrId),
}

impl From<ActrId> for Dest {
    fn from(id: ActrId) -> Self {
        Dest::Peer(id)
    }
}

/// What an actor offers, as published at registration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub name: String,
    pub description: Option<String>,
    /// Deterministic hash over the service's interface definitions.
    pub fingerprint: String,
    pub tags: Vec<String>,
}

/// Why a text form did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseIdError {
    #[error("expected manufacturer:name:version, got {0} segment(s)")]
    SegmentCount(usize),
    #[error("invalid {field} {value:?}: {why}")]
    InvalidName { field: &'static str, value: String, why: &'static str },
    #[error("empty or overlong version")]
    InvalidVersion,
    #[error("expected <serial hex>@<realm>/<type>")]
    IdShape,
    #[error("invalid serial {0:?}: expected lowercase hex")]
    Serial(String),
    #[error("invalid realm {0:?}: expected a decimal u32")]
    Realm(String),
}

fn check_name(field: &'static str, value: &str) -> Result<(), ParseIdError> {
    let bad = |why| Err(ParseIdError::InvalidName { field, value: value.to_owned(), why });
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME_LEN {
        return bad("length must be 1 to 32");
    }
    if !bytes[0].is_ascii_alphabetic() {
        return bad("must start with a letter");
    }
    if !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
        return bad("must end with a letter or digit");
    }
    if !bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return bad("only letters, digits, '-', '_' and '.' are allowed");
    }
    Ok(())
}

fn check_version(value: &str) -> Result<(), ParseIdError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_VERSION_LEN
        && value.bytes().all(|b| b.is_ascii_graphic() && b != b':' && b != b'/' && b != b'@');
    if ok { Ok(()) } else { Err(ParseIdError::InvalidVersion) }
}

impl ActrType {
    /// Builds a type after validating each segment.
    pub fn new(manufacturer: &str, name: &str, version: &str) -> Result<Self, ParseIdError> {
        check_name("manufacturer", manufacturer)?;
        check_name("name", name)?;
        check_version(version)?;
        Ok(Self { manufacturer: manufacturer.into(), name: name.into(), version: version.into() })
    }

    /// Checks a value that arrived over the wire.
    pub fn validate(&self) -> Result<(), ParseIdError> {
        check_name("manufacturer", &self.manufacturer)?;
        check_name("name", &self.name)?;
        check_version(&self.version)
    }
}

impl fmt::Display for ActrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.manufacturer, self.name, self.version)
    }
}

impl FromStr for ActrType {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            [m, n, v] => ActrType::new(m, n, v),
            other => Err(ParseIdError::SegmentCount(other.len())),
        }
    }
}

impl fmt::Display for ActrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}@{}/{}", self.serial, self.realm.0, self.actr_type)
    }
}

impl FromStr for ActrId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (serial, rest) = s.split_once('@').ok_or(ParseIdError::IdShape)?;
        let (realm, ty) = rest.split_once('/').ok_or(ParseIdError::IdShape)?;
        let hex_ok = !serial.is_empty()
            && serial.len() <= 16
            && serial.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(ParseIdError::Serial(serial.into()));
        }
        let serial = u64::from_str_radix(serial, 16).map_err(|_| ParseIdError::Serial(serial.into()))?;
        if realm.is_empty() || !realm.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseIdError::Realm(realm.into()));
        }
        let realm = realm.parse::<u32>().map_err(|_| ParseIdError::Realm(realm.into()))?;
        Ok(ActrId { realm: Realm(realm), serial, actr_type: ty.parse()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actr_type_round_trips() {
        let t: ActrType = "acme:echo-svc:1.0.0".parse().unwrap();
        assert_eq!(t.manufacturer, "acme");
        assert_eq!(t.to_string().parse::<ActrType>().unwrap(), t);
    }

    #[test]
    fn actr_id_round_trips() {
        let id: ActrId = "1a2b@7/acme:echo:1.0.0".parse().unwrap();
        assert_eq!(id.serial, 0x1a2b);
        assert_eq!(id.realm, Realm(7));
        assert_eq!(id.to_string(), "1a2b@7/acme:echo:1.0.0");
        let max = ActrId { serial: u64::MAX, ..id };
        assert_eq!(max.to_string().parse::<ActrId>().unwrap(), max);
    }

    #[test]
    fn type_parse_errors_are_typed() {
        assert_eq!("a:b".parse::<ActrType>(), Err(ParseIdError::SegmentCount(2)));
        assert_eq!("a:b:c:d".parse::<ActrType>(), Err(ParseIdError::SegmentCount(4)));
        assert_eq!("acme:echo:".parse::<ActrType>(), Err(ParseIdError::InvalidVersion));
        assert!(matches!(
            "1acme:echo:1".parse::<ActrType>(),
            Err(ParseIdError::InvalidName { field: "manufacturer", .. })
        ));
        assert!(matches!("acme:echo-:1".parse::<ActrType>(), Err(ParseIdError::InvalidName { field: "name", .. })));
        assert!(matches!("acme:e cho:1".parse::<ActrType>(), Err(ParseIdError::InvalidName { .. })));
        let long = "a".repeat(33);
        assert!(matches!(format!("{long}:x:1").parse::<ActrType>(), Err(ParseIdError::InvalidName { .. })));
    }

    #[test]
    fn id_parse_errors_are_typed() {
        assert_eq!("nope".parse::<ActrId>(), Err(ParseIdError::IdShape));
        assert_eq!("1@2".parse::<ActrId>(), Err(ParseIdError::IdShape));
        assert_eq!("XYZ@1/a:b:1".parse::<ActrId>(), Err(ParseIdError::Serial("XYZ".into())));
        assert_eq!("1@-1/a:b:1".parse::<ActrId>(), Err(ParseIdError::Realm("-1".into())));
        assert_eq!("1@99999999999/a:b:1".parse::<ActrId>(), Err(ParseIdError::Realm("99999999999".into())));
        assert_eq!(
            "11111111111111111@1/a:b:1".parse::<ActrId>(),
            Err(ParseIdError::Serial("11111111111111111".into()))
        );
        assert_eq!("1@1/a:b".parse::<ActrId>(), Err(ParseIdError::SegmentCount(2)));
    }

    #[test]
    fn dest_from_id() {
        let id: ActrId = "1@1/a:b:1".parse().unwrap();
        assert_eq!(Dest::from(id.clone()), Dest::Peer(id));
    }
}
