//! `manifest.toml`: what a package is, what it contains, who may call it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{PackageError, PathFault};
use super::hex;
use crate::acl::{Acl, AclRule, Permission, RealmSelector};
use crate::id::{ActrType, Realm, ServiceSpec};

/// The only signature algorithm packages use.
pub const SIGNATURE_ALGORITHM: &str = "ed25519";
/// Longest path a manifest may name.
pub const MAX_PATH_LEN: usize = 512;

/// What the binary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BinaryKind {
    /// A core WASM module for the actr WASM ABI (docs/wasm-abi.md).
    WasmModule,
    /// A native shared library for the host's target triple.
    NativeCdylib,
}

impl BinaryKind {
    /// The manifest's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryKind::WasmModule => "wasm-module",
            BinaryKind::NativeCdylib => "native-cdylib",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinaryEntry {
    pub path: String,
    pub kind: BinaryKind,
    /// Rust target triple, e.g. `wasm32-unknown-unknown`.
    pub target: String,
    /// Lowercase hex SHA-256 of the binary (filled in by packing).
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceEntry {
    pub path: String,
    #[serde(default)]
    pub hash: String,
}

/// What the actor serves. Maps to [`ServiceSpec`] via [`Manifest::service_spec`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Route names the actor handles, e.g. `echo.Echo/Say`.
    #[serde(default)]
    pub routes: Vec<String>,
}

/// Which realms a rule covers: `"own"`, `"any"` or a realm number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RealmField {
    Named(RealmName),
    Id(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RealmName {
    Own,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRuleEntry {
    pub permission: PermissionField,
    /// The caller's type, `manufacturer:name:version`.
    #[serde(rename = "type")]
    pub from_type: String,
    #[serde(default = "own_realm")]
    pub realm: RealmField,
    /// Match only callers whose type a manufacturer verified.
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub verified_only: bool,
}

fn default_algorithm() -> String {
    SIGNATURE_ALGORITHM.to_owned()
}

fn own_realm() -> RealmField {
    RealmField::Named(RealmName::Own)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionField {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclSection {
    #[serde(default)]
    pub rules: Vec<AclRuleEntry>,
}

/// The signed description of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub manufacturer: String,
    pub name: String,
    pub version: String,
    /// Always `"ed25519"`; absent means that too.
    #[serde(default = "default_algorithm")]
    pub signature_algorithm: String,
    /// `mfr-` and 16 hex of SHA-256 of the signing public key. May be left
    /// out of a hand-written template: packing fills it in, and verification
    /// refuses a manifest without a well-formed one.
    #[serde(default)]
    pub signing_key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub binary: BinaryEntry,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceEntry>,
    #[serde(default)]
    pub service: ServiceSection,
    /// Absent: the host's default policy applies (own realm only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<AclSection>,
}

impl Manifest {
    /// Parses manifest bytes (UTF-8 TOML). Does not check hashes or paths.
    pub fn parse(bytes: &[u8]) -> Result<Self, PackageError> {
        let text = core::str::from_utf8(bytes).map_err(|_| PackageError::ManifestEncoding)?;
        toml::from_str(text).map_err(|e| PackageError::ManifestParse(e.message().to_owned()))
    }

    /// Serialises the manifest as the bytes to sign.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a manifest always serialises")
    }

    /// `manufacturer:name:version`, validated.
    pub fn actr_type(&self) -> Result<ActrType, PackageError> {
        ActrType::new(&self.manufacturer, &self.name, &self.version).map_err(PackageError::InvalidType)
    }

    /// The ACL rules as core values; `None` when the manifest has no `[acl]`.
    pub fn acl(&self) -> Result<Option<Acl>, PackageError> {
        let Some(section) = &self.acl else { return Ok(None) };
        let mut rules = Vec::with_capacity(section.rules.len());
        for rule in &section.rules {
            let from_type = rule.from_type.parse().map_err(PackageError::InvalidType)?;
            let permission = match rule.permission {
                PermissionField::Allow => Permission::Allow,
                PermissionField::Deny => Permission::Deny,
            };
            let realm = match rule.realm {
                RealmField::Named(RealmName::Own) => RealmSelector::Own,
                RealmField::Named(RealmName::Any) => RealmSelector::Any,
                RealmField::Id(id) => RealmSelector::Exactly(Realm(id)),
            };
            rules.push(AclRule { permission, from_type, realm, verified_only: rule.verified_only });
        }
        Ok(Some(Acl { rules }))
    }

    /// The service as published at registration. The fingerprint is
    /// `sha256:` and the hex SHA-256 of the sorted route names, one per line.
    pub fn service_spec(&self) -> ServiceSpec {
        let mut routes: Vec<&str> = self.service.routes.iter().map(String::as_str).collect();
        routes.sort_unstable();
        let mut h = Sha256::new();
        for r in routes {
            h.update(r.as_bytes());
            h.update(b"\n");
        }
        ServiceSpec {
            name: self.name.clone(),
            description: self.service.description.clone().or_else(|| self.description.clone()),
            fingerprint: format!("sha256:{}", hex::encode(&h.finalize())),
            tags: self.service.tags.clone(),
        }
    }

    /// Every path the manifest names, binary first.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        core::iter::once(self.binary.path.as_str()).chain(self.resources.iter().map(|r| r.path.as_str()))
    }

    /// The integrity checks that need no archive: algorithm, hashes, key id, paths.
    pub fn check_integrity_fields(&self) -> Result<(), PackageError> {
        if self.signature_algorithm != SIGNATURE_ALGORITHM {
            return Err(PackageError::UnsupportedSignatureAlgorithm(self.signature_algorithm.clone()));
        }
        check_hash("binary.hash", &self.binary.hash)?;
        for (i, r) in self.resources.iter().enumerate() {
            check_hash(&format!("resources[{i}].hash"), &r.hash)?;
        }
        if !super::is_key_id(&self.signing_key_id) {
            return Err(PackageError::InvalidKeyId(self.signing_key_id.clone()));
        }
        self.paths().try_for_each(check_path)
    }
}

fn check_hash(field: &str, value: &str) -> Result<(), PackageError> {
    if hex::is_lower_hex(value, 64) { Ok(()) } else { Err(PackageError::InvalidHash { field: field.to_owned() }) }
}

/// Refuses a path that could escape an extraction directory or mean two things.
pub fn check_path(path: &str) -> Result<(), PackageError> {
    let fail = |fault| Err(PackageError::InvalidPath { path: path.to_owned(), fault });
    let bytes = path.as_bytes();
    if path.is_empty() {
        return fail(PathFault::Empty);
    }
    if path.len() > MAX_PATH_LEN {
        return fail(PathFault::TooLong);
    }
    if path.contains('\\') {
        return fail(PathFault::Backslash);
    }
    if path.chars().any(char::is_control) {
        return fail(PathFault::ControlCharacter);
    }
    if path.starts_with('/') {
        return fail(PathFault::Absolute);
    }
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return fail(PathFault::DriveLetter);
    }
    for part in path.split('/') {
        match part {
            "" => return fail(PathFault::EmptyComponent),
            ".." => return fail(PathFault::ParentComponent),
            "." => return fail(PathFault::CurrentComponent),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
manufacturer = "acme"
name = "echo"
version = "1.0.0"
signature_algorithm = "ed25519"
signing_key_id = "mfr-0123456789abcdef"

[binary]
path = "bin/actor.wasm"
kind = "wasm-module"
target = "wasm32-unknown-unknown"
hash = "0000000000000000000000000000000000000000000000000000000000000000"
size = 4

[service]
routes = ["echo.Echo/Say", "echo.Echo/Ping"]

[[acl.rules]]
permission = "allow"
type = "acme:client:1.0.0"

[[acl.rules]]
permission = "deny"
type = "evil:client:1.0.0"
realm = "any"

[[acl.rules]]
permission = "allow"
type = "acme:ops:2"
realm = 7
"#;

    #[test]
    fn sample_parses_and_maps_to_core_types() {
        let m = Manifest::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(m.actr_type().unwrap().to_string(), "acme:echo:1.0.0");
        let acl = m.acl().unwrap().unwrap();
        assert_eq!(acl.rules.len(), 3);
        assert_eq!(acl.rules[0].realm, RealmSelector::Own);
        assert_eq!(acl.rules[1].permission, Permission::Deny);
        assert_eq!(acl.rules[1].realm, RealmSelector::Any);
        assert_eq!(acl.rules[2].realm, RealmSelector::Exactly(Realm(7)));
        let spec = m.service_spec();
        assert_eq!(spec.name, "echo");
        assert!(spec.fingerprint.starts_with("sha256:"));
        m.check_integrity_fields().unwrap();
        // Serialising and parsing again gives the same manifest.
        assert_eq!(Manifest::parse(m.to_toml().as_bytes()).unwrap(), m);
    }

    #[test]
    fn fingerprint_ignores_route_order() {
        let a = Manifest::parse(SAMPLE.as_bytes()).unwrap();
        let mut b = a.clone();
        b.service.routes.reverse();
        assert_eq!(a.service_spec().fingerprint, b.service_spec().fingerprint);
        b.service.routes.push("echo.Echo/New".into());
        assert_ne!(a.service_spec().fingerprint, b.service_spec().fingerprint);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_parse_errors() {
        let extra = SAMPLE.replace("size = 4", "size = 4\nsurprise = 1");
        assert!(matches!(Manifest::parse(extra.as_bytes()), Err(PackageError::ManifestParse(_))));
        let bad_perm = SAMPLE.replace("\"deny\"", "\"maybe\"");
        assert!(matches!(Manifest::parse(bad_perm.as_bytes()), Err(PackageError::ManifestParse(_))));
        assert_eq!(Manifest::parse(&[0xff, 0xfe]), Err(PackageError::ManifestEncoding));
    }

    #[test]
    fn integrity_fields_are_strict() {
        let m = Manifest::parse(SAMPLE.as_bytes()).unwrap();
        let mut bad = m.clone();
        bad.signature_algorithm = "rsa".into();
        assert_eq!(bad.check_integrity_fields(), Err(PackageError::UnsupportedSignatureAlgorithm("rsa".into())));
        let mut bad = m.clone();
        bad.binary.hash = bad.binary.hash.to_uppercase().replace('0', "A");
        assert_eq!(bad.check_integrity_fields(), Err(PackageError::InvalidHash { field: "binary.hash".into() }));
        let mut bad = m.clone();
        bad.signing_key_id = "mfr-xyz".into();
        assert!(matches!(bad.check_integrity_fields(), Err(PackageError::InvalidKeyId(_))));
    }

    #[test]
    fn hostile_paths_are_refused() {
        let cases = [
            ("", PathFault::Empty),
            ("/etc/passwd", PathFault::Absolute),
            ("bin/../../x", PathFault::ParentComponent),
            ("..", PathFault::ParentComponent),
            ("bin\\x.wasm", PathFault::Backslash),
            ("C:/x", PathFault::DriveLetter),
            ("bin//x", PathFault::EmptyComponent),
            ("bin/", PathFault::EmptyComponent),
            ("./bin", PathFault::CurrentComponent),
            ("bin/\u{0}x", PathFault::ControlCharacter),
        ];
        for (path, fault) in cases {
            assert_eq!(check_path(path), Err(PackageError::InvalidPath { path: path.into(), fault }), "{path:?}");
        }
        check_path("bin/actor.wasm").unwrap();
        check_path("resources/a..b.txt").unwrap();
    }
}
