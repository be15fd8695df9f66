//! Why a package was refused. Every check of the verification order has its
//! own variant, so a caller (and a test) can tell the failures apart.

use crate::error::{Classify, ErrorKind};
use crate::id::ParseIdError;

/// What is wrong with a path the manifest names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathFault {
    Empty,
    Absolute,
    ParentComponent,
    Backslash,
    DriveLetter,
    EmptyComponent,
    CurrentComponent,
    ControlCharacter,
    TooLong,
}

impl core::fmt::Display for PathFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let why = match self {
            PathFault::Empty => "empty",
            PathFault::Absolute => "absolute",
            PathFault::ParentComponent => "contains '..'",
            PathFault::Backslash => "contains a backslash",
            PathFault::DriveLetter => "starts with a drive letter",
            PathFault::EmptyComponent => "has an empty component",
            PathFault::CurrentComponent => "contains '.'",
            PathFault::ControlCharacter => "contains a control character",
            PathFault::TooLong => "is longer than 512 bytes",
        };
        f.write_str(why)
    }
}

/// A refused package, a refused key, or a trust decision that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    // The container.
    #[error("not a ZIP archive: {0}")]
    MalformedZip(&'static str),
    #[error("read failed: {0:?}")]
    Io(std::io::ErrorKind),
    #[error("archive has {count} entries, limit {limit}")]
    TooManyEntries { count: usize, limit: usize },
    #[error("entry {path}: unsupported compression method {method}")]
    UnsupportedCompression { path: String, method: u16 },
    #[error("entry {path}: corrupt deflate stream")]
    CorruptEntry { path: String },

    // Signature and manifest, in verification order.
    #[error("manifest.sig is missing")]
    SignatureMissing,
    #[error("manifest.sig is {size} bytes, limit 64")]
    SignatureTooLarge { size: u64 },
    #[error("manifest.sig is {size} bytes, expected 64")]
    SignatureLength { size: u64 },
    #[error("manifest.toml is missing")]
    ManifestMissing,
    #[error("manifest.toml is {size} bytes, limit {limit}")]
    ManifestTooLarge { size: u64, limit: u64 },
    #[error("the signature does not verify with key {key_id}")]
    SignatureInvalid { key_id: String },
    #[error("manifest.toml is not UTF-8")]
    ManifestEncoding,
    #[error("manifest.toml does not parse: {0}")]
    ManifestParse(String),
    #[error("unsupported signature algorithm {0:?}, expected \"ed25519\"")]
    UnsupportedSignatureAlgorithm(String),
    #[error("{field}: expected 64 lowercase hex characters")]
    InvalidHash { field: String },
    #[error("invalid actor type in manifest: {0}")]
    InvalidType(ParseIdError),
    #[error("invalid signing_key_id {0:?}: expected mfr- and 16 lowercase hex")]
    InvalidKeyId(String),
    #[error("manifest names key {manifest}, but it was verified with key {key}")]
    KeyIdMismatch { manifest: String, key: String },
    #[error("path {path:?} {fault}")]
    InvalidPath { path: String, fault: PathFault },

    // Payload pre-flight (declared sizes, nothing decompressed yet).
    #[error("entry {path} is missing from the archive")]
    EntryMissing { path: String },
    #[error("entry {path} declares {size} bytes, limit {limit}")]
    EntryTooLarge { path: String, size: u64, limit: u64 },
    #[error("entries declare {size} bytes in total, limit {limit}")]
    TotalTooLarge { size: u64, limit: u64 },

    // Payload streaming and hashes.
    #[error("entry {path} decompresses past {limit} bytes")]
    EntryOverflow { path: String, limit: u64 },
    #[error("entry {path} holds {actual} bytes, its header declares {declared}")]
    EntrySizeMismatch { path: String, declared: u64, actual: u64 },
    #[error("binary {path} is {actual} bytes, the manifest declares {declared}")]
    BinarySizeMismatch { path: String, declared: u64, actual: u64 },
    #[error("binary {path} does not match its hash")]
    BinaryHashMismatch { path: String },
    #[error("resource {path} does not match its hash")]
    ResourceHashMismatch { path: String },

    // Keys and trust.
    #[error("invalid Ed25519 public key: {0}")]
    InvalidKey(&'static str),
    #[error("no trusted key for {manufacturer} with id {key_id}")]
    Untrusted { manufacturer: String, key_id: String },
    #[error("the trust chain is empty")]
    EmptyTrustChain,
    #[error("no trust is configured: this host refuses every package")]
    NoTrustConfigured,
    #[error("manufacturer key lookup failed: {0}")]
    KeyLookup(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<std::io::Error> for PackageError {
    fn from(e: std::io::Error) -> Self {
        PackageError::Io(e.kind())
    }
}

impl Classify for PackageError {
    fn kind(&self) -> ErrorKind {
        use PackageError::*;
        match self {
            KeyLookup(_) => ErrorKind::Transient,
            Io(_) | Internal(_) => ErrorKind::Internal,
            MalformedZip(_)
            | CorruptEntry { .. }
            | SignatureInvalid { .. }
            | EntrySizeMismatch { .. }
            | BinarySizeMismatch { .. }
            | BinaryHashMismatch { .. }
            | ResourceHashMismatch { .. } => ErrorKind::Corrupt,
            _ => ErrorKind::Client,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_domains() {
        assert!(PackageError::KeyLookup("503".into()).is_retryable());
        assert!(PackageError::BinaryHashMismatch { path: "a".into() }.requires_dlq());
        assert_eq!(PackageError::NoTrustConfigured.kind(), ErrorKind::Client);
        assert_eq!(PackageError::Io(std::io::ErrorKind::UnexpectedEof).kind(), ErrorKind::Internal);
    }
}
