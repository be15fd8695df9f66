//! `actr keygen`, `pack`, `inspect`, `verify` and `mfr`: making, signing,
//! reading and checking `.actr` packages (format: actr_core::package and
//! docs/package-format.md). Each command returns the text it prints.

pub mod keyfile;
mod pack;

use std::fmt::Write as _;
use std::fs;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use actr_core::package::{
    MAX_MANIFEST_BYTES, Manifest, OpenedPackage, PackageError, PackageLimits, TrustProvider, TrustedBy,
    VerifiedPackage, key_id,
};
use actr_driver::{ChainTrust, RegistryTrust, StaticTrust};

use crate::serve::RegistryStore;
use crate::serve::mfr::{self, MfrError};
use crate::serve::store::StoreError;

pub use pack::{PackOptions, pack};

/// Why a package command failed. Each displays as one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkgError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0} already exists (use --force to replace it)")]
    Exists(PathBuf),
    #[error("no randomness for a new key: {0}")]
    Random(String),
    #[error("{path}: {source}")]
    Key { path: PathBuf, source: PackageError },
    #[error("{path} is larger than {limit} bytes")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path} not verified: {source}")]
    NotVerified { path: PathBuf, source: PackageError },
    #[error("{path}: {source}")]
    Package { path: PathBuf, source: PackageError },
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Mfr(#[from] MfrError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Largest package file read: the payload limit plus room for the manifest and directory.
pub fn max_package_file(limits: &PackageLimits) -> u64 {
    limits.max_total_bytes + MAX_MANIFEST_BYTES + (8 << 20)
}

/// Reads a file of at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, PkgError> {
    let io = |e| PkgError::Io { path: path.to_path_buf(), source: e };
    let mut data = Vec::new();
    fs::File::open(path).map_err(io)?.take(limit + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 > limit {
        return Err(PkgError::TooLarge { path: path.to_path_buf(), limit });
    }
    Ok(data)
}

/// `actr keygen`: writes the key pair, reports the key id and paths (never the key).
pub fn keygen(out: &Path, force: bool) -> Result<String, PkgError> {
    let key = keyfile::generate(out, force)?;
    Ok(format!(
        "key id {}\nsecret key {} (mode 0600, keep it private)\npublic key {}\n",
        key_id(&key.verifying_key()),
        out.display(),
        keyfile::public_path(out).display()
    ))
}

/// Which keys `actr verify` trusts.
#[derive(Debug, Clone, Default)]
pub struct TrustArgs {
    pub public_keys: Vec<PathBuf>,
    pub server: Option<String>,
}

/// Builds the trust provider: static keys first, then the registry.
pub fn trust_from(args: &TrustArgs) -> Result<Box<dyn TrustProvider>, PkgError> {
    let mut chain: Vec<Box<dyn TrustProvider>> = Vec::new();
    if !args.public_keys.is_empty() {
        let keys = args.public_keys.iter().map(|p| keyfile::read_public(p)).collect::<Result<Vec<_>, _>>()?;
        chain.push(Box::new(StaticTrust::with_keys(keys)));
    }
    if let Some(server) = &args.server {
        chain.push(Box::new(RegistryTrust::new(server)));
    }
    match chain.len() {
        0 => Err(PkgError::Usage("give --trust PUBKEY_FILE or --server URL: without trust nothing verifies".into())),
        1 => Ok(chain.remove(0)),
        _ => Ok(Box::new(ChainTrust::new(chain))),
    }
}

/// `actr verify`.
pub fn verify(path: &Path, trust: &TrustArgs) -> Result<String, PkgError> {
    Ok(describe_verified(&verify_file(path, trust)?))
}

/// Reads the package at `path` (bounded) and verifies it with `trust`.
pub fn verify_file(path: &Path, trust: &TrustArgs) -> Result<VerifiedPackage, PkgError> {
    let limits = PackageLimits::default();
    let provider = trust_from(trust)?;
    let bytes = read_bounded(path, max_package_file(&limits))?;
    provider.verify(&bytes, &limits).map_err(|source| PkgError::NotVerified { path: path.to_path_buf(), source })
}

fn describe_verified(v: &VerifiedPackage) -> String {
    let by = match &v.trusted_by {
        TrustedBy::Key => "a given key".to_owned(),
        TrustedBy::Static => "a trusted public key file".to_owned(),
        TrustedBy::Registry(url) => format!("the manufacturer registry at {url}"),
        other => format!("{other:?}"),
    };
    let b = &v.manifest.binary;
    let mut out = format!("verified {}\n", v.actr_type);
    let _ = writeln!(out, "  signed by     {} (trusted through {by})", v.key_id);
    let _ = writeln!(out, "  manifest      sha256 {}", v.manifest_hash_hex());
    let _ = writeln!(
        out,
        "  binary        {} ({}, {}, {} bytes, sha256 {})",
        b.path,
        b.kind.as_str(),
        b.target,
        b.size,
        b.hash
    );
    for r in &v.manifest.resources {
        let _ = writeln!(out, "  resource      {} (sha256 {})", r.path, r.hash);
    }
    let _ = writeln!(
        out,
        "  checked       signature, manifest, {} entries, {} bytes hashed",
        v.checked.entries, v.checked.bytes
    );
    out
}

/// `actr inspect`: what the package claims, without verifying it.
pub fn inspect(path: &Path) -> Result<String, PkgError> {
    let limits = PackageLimits::default();
    let bytes = read_bounded(path, max_package_file(&limits))?;
    let fail = |source| PkgError::Package { path: path.to_path_buf(), source };
    let opened = OpenedPackage::open(Cursor::new(&bytes), limits).map_err(fail)?;
    let raw = opened.manifest_raw().to_vec();
    let manifest = Manifest::parse(&raw).map_err(fail)?;
    let mut out = format!("{} (NOT verified: use `actr verify` for that)\n", path.display());
    let _ = writeln!(out, "type          {}:{}:{}", manifest.manufacturer, manifest.name, manifest.version);
    let _ = writeln!(out, "key id        {} (claimed)", manifest.signing_key_id);
    let _ = writeln!(out, "manifest      sha256 {}", actr_core::package::sha256_hex(&raw));
    let _ = writeln!(
        out,
        "binary        {} sha256 {} ({} bytes)",
        manifest.binary.path, manifest.binary.hash, manifest.binary.size
    );
    for r in &manifest.resources {
        let _ = writeln!(out, "resource      {} sha256 {}", r.path, r.hash);
    }
    let _ = writeln!(out, "--- manifest.toml ---");
    out.push_str(&String::from_utf8_lossy(&raw));
    Ok(out)
}

/// `actr mfr add`.
pub fn mfr_add(data_dir: &Path, name: &str, public_key: &Path) -> Result<String, PkgError> {
    let key = keyfile::read_public(public_key)?;
    let store = RegistryStore::open(data_dir)?;
    let id = mfr::add_manufacturer(&store, name, &key, unix_now())?;
    Ok(format!("manufacturer {name} key {id} registered in {}\n", store.path().display()))
}

/// `actr mfr publish`.
pub fn mfr_publish(data_dir: &Path, package: &Path) -> Result<String, PkgError> {
    let limits = PackageLimits::default();
    let bytes = read_bounded(package, max_package_file(&limits))?;
    let store = RegistryStore::open(data_dir)?;
    let (verified, published) = match mfr::publish(&store, &bytes, &limits, unix_now()) {
        Ok(done) => done,
        Err(MfrError::Package(source)) => return Err(PkgError::NotVerified { path: package.to_path_buf(), source }),
        Err(e) => return Err(e.into()),
    };
    Ok(format!(
        "published {} (manifest sha256 {}, key {})\n",
        verified.actr_type, published.manifest_hash, published.key_id
    ))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
