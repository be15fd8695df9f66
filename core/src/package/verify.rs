//! Verification of a package, in a fixed order with limits.

use std::io::{Cursor, Read, Seek};

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use super::error::PackageError;
use super::manifest::Manifest;
use super::zip::{ZipEntry, ZipIndex};
use super::{MANIFEST_PATH, MAX_MANIFEST_BYTES, SIGNATURE_LEN, SIGNATURE_PATH, hex, key_id};
use crate::id::ActrType;

const CHUNK: usize = 64 << 10;

/// Payload bounds, checked on declared sizes before anything is inflated and
/// again while streaming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageLimits {
    /// Largest single entry (binary or resource), uncompressed.
    pub max_entry_bytes: u64,
    /// Largest sum of the binary and all resources, uncompressed.
    pub max_total_bytes: u64,
    /// Most entries in the archive, and most entries the manifest may name.
    pub max_entries: usize,
}

impl Default for PackageLimits {
    fn default() -> Self {
        PackageLimits { max_entry_bytes: 64 << 20, max_total_bytes: 64 << 20, max_entries: 1024 }
    }
}

/// Which trust decision accepted the package.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustedBy {
    /// A key given directly to [`verify`].
    Key,
    /// A configured static key.
    Static,
    /// The manufacturer registry at this address.
    Registry(String),
}

/// What verification looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Entries hashed (binary and resources).
    pub entries: usize,
    /// Uncompressed bytes hashed.
    pub bytes: u64,
}

/// A package whose signature, manifest, paths, sizes and hashes all checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPackage {
    pub manifest: Manifest,
    pub actr_type: ActrType,
    /// The exact signed bytes of `manifest.toml`.
    pub manifest_raw: Vec<u8>,
    pub signature: [u8; SIGNATURE_LEN],
    /// Id of the key that verified the signature.
    pub key_id: String,
    /// SHA-256 of the manifest bytes: names this exact package.
    pub manifest_hash: [u8; 32],
    pub binary_hash: [u8; 32],
    /// The binary itself, read in the same pass that hashed it: these are
    /// the bytes [`VerifiedPackage::binary_hash`] names.
    pub binary: PackageBinary,
    pub trusted_by: TrustedBy,
    pub checked: Checked,
}

/// The verified binary of a package; cheap to clone, shown by its length.
#[derive(Clone, PartialEq, Eq)]
pub struct PackageBinary(std::sync::Arc<[u8]>);

impl core::ops::Deref for PackageBinary {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for PackageBinary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PackageBinary({} bytes)", self.0.len())
    }
}

impl VerifiedPackage {
    /// Lowercase hex of [`VerifiedPackage::manifest_hash`].
    pub fn manifest_hash_hex(&self) -> String {
        hex::encode(&self.manifest_hash)
    }
}

/// Verifies package bytes with one key.
pub fn verify(bytes: &[u8], key: &VerifyingKey, limits: &PackageLimits) -> Result<VerifiedPackage, PackageError> {
    OpenedPackage::open(Cursor::new(bytes), *limits)?.verify(key)
}

/// A package whose signature and manifest were read (bounded) but not checked.
/// Nothing read from it may be trusted before [`OpenedPackage::verify`] succeeds.
#[derive(Debug)]
pub struct OpenedPackage<R> {
    reader: R,
    index: ZipIndex,
    limits: PackageLimits,
    manifest_raw: Vec<u8>,
    signature: [u8; SIGNATURE_LEN],
}

/// The two manifest fields a trust provider needs to pick a key, read before
/// the signature is checked.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
pub struct KeyHint {
    #[serde(default)]
    pub manufacturer: String,
    #[serde(default)]
    pub signing_key_id: String,
}

impl<R: Read + Seek> OpenedPackage<R> {
    /// Steps 1 to 3: directory, signature entry, manifest entry.
    pub fn open(mut reader: R, limits: PackageLimits) -> Result<Self, PackageError> {
        let index = ZipIndex::read(&mut reader, limits.max_entries)?;
        let sig = index.find(SIGNATURE_PATH).ok_or(PackageError::SignatureMissing)?.clone();
        let sig_limit = SIGNATURE_LEN as u64;
        if sig.size > sig_limit {
            return Err(PackageError::SignatureTooLarge { size: sig.size });
        }
        let sig_bytes = read_bounded(&index, &mut reader, &sig, sig_limit)
            .map_err(|e| bounded_as(e, |size| PackageError::SignatureTooLarge { size }))?;
        let signature: [u8; SIGNATURE_LEN] = sig_bytes
            .as_slice()
            .try_into()
            .map_err(|_| PackageError::SignatureLength { size: sig_bytes.len() as u64 })?;
        let man = index.find(MANIFEST_PATH).ok_or(PackageError::ManifestMissing)?.clone();
        let too_large = |size| PackageError::ManifestTooLarge { size, limit: MAX_MANIFEST_BYTES };
        if man.size > MAX_MANIFEST_BYTES {
            return Err(too_large(man.size));
        }
        let manifest_raw =
            read_bounded(&index, &mut reader, &man, MAX_MANIFEST_BYTES).map_err(|e| bounded_as(e, too_large))?;
        Ok(OpenedPackage { reader, index, limits, manifest_raw, signature })
    }

    /// The exact manifest bytes, unverified.
    pub fn manifest_raw(&self) -> &[u8] {
        &self.manifest_raw
    }

    /// Manufacturer and key id as the unverified manifest claims them: only
    /// to choose which key to verify with.
    pub fn key_hint(&self) -> KeyHint {
        core::str::from_utf8(&self.manifest_raw)
            .ok()
            .and_then(|text| toml::from_str::<KeyHint>(text).ok())
            .unwrap_or_default()
    }

    /// Steps 4 to 9. Consumes the package: a failed verification leaves nothing to use.
    pub fn verify(mut self, key: &VerifyingKey) -> Result<VerifiedPackage, PackageError> {
        let signer = key_id(key);
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.manifest_raw, &signature)
            .map_err(|_| PackageError::SignatureInvalid { key_id: signer.clone() })?;
        let manifest = Manifest::parse(&self.manifest_raw)?;
        manifest.check_integrity_fields()?;
        if manifest.signing_key_id != signer {
            return Err(PackageError::KeyIdMismatch { manifest: manifest.signing_key_id.clone(), key: signer });
        }
        let actr_type = manifest.actr_type()?;
        let entries = self.preflight(&manifest)?;
        let mut checked = Checked { entries: 0, bytes: 0 };
        let mut binary_hash = [0u8; 32];
        let mut binary = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let keep = if i == 0 { Some(&mut binary) } else { None };
            let digest = hash_entry(&self.index, &mut self.reader, entry, keep)?;
            checked.entries += 1;
            checked.bytes += entry.size;
            if i == 0 {
                check_binary(&manifest, entry, &digest)?;
                binary_hash = digest;
            } else if hex::encode(&digest) != manifest.resources[i - 1].hash {
                return Err(PackageError::ResourceHashMismatch { path: entry.name.clone() });
            }
        }
        Ok(VerifiedPackage {
            manifest_hash: Sha256::digest(&self.manifest_raw).into(),
            manifest,
            actr_type,
            manifest_raw: self.manifest_raw,
            signature: self.signature,
            key_id: signer,
            binary_hash,
            binary: PackageBinary(binary.into()),
            trusted_by: TrustedBy::Key,
            checked,
        })
    }

    /// Step 8: every named entry exists and its declared size fits, before inflating anything.
    fn preflight(&self, manifest: &Manifest) -> Result<Vec<ZipEntry>, PackageError> {
        let named = 1 + manifest.resources.len();
        if named > self.limits.max_entries {
            return Err(PackageError::TooManyEntries { count: named, limit: self.limits.max_entries });
        }
        let mut total = 0u64;
        let mut entries = Vec::with_capacity(named);
        for path in manifest.paths() {
            let entry = self.index.find(path).ok_or_else(|| PackageError::EntryMissing { path: path.to_owned() })?;
            if entry.size > self.limits.max_entry_bytes {
                return Err(PackageError::EntryTooLarge {
                    path: path.to_owned(),
                    size: entry.size,
                    limit: self.limits.max_entry_bytes,
                });
            }
            total = total.saturating_add(entry.size);
            if total > self.limits.max_total_bytes {
                return Err(PackageError::TotalTooLarge { size: total, limit: self.limits.max_total_bytes });
            }
            entries.push(entry.clone());
        }
        Ok(entries)
    }
}

fn check_binary(manifest: &Manifest, entry: &ZipEntry, digest: &[u8; 32]) -> Result<(), PackageError> {
    let path = &manifest.binary.path;
    if hex::encode(digest) != manifest.binary.hash {
        return Err(PackageError::BinaryHashMismatch { path: path.clone() });
    }
    if manifest.binary.size != entry.size {
        return Err(PackageError::BinarySizeMismatch {
            path: path.clone(),
            declared: manifest.binary.size,
            actual: entry.size,
        });
    }
    Ok(())
}

/// Turns an overflow of a bounded read into the caller's own "too large" error.
fn bounded_as(e: PackageError, too_large: impl FnOnce(u64) -> PackageError) -> PackageError {
    match e {
        PackageError::EntryOverflow { limit, .. } => too_large(limit + 1),
        other => other,
    }
}

/// Streams one entry through `sink`, at most `limit` bytes; more is
/// [`PackageError::EntryOverflow`], a different count than declared is
/// [`PackageError::EntrySizeMismatch`].
fn stream_entry<R: Read + Seek>(
    index: &ZipIndex,
    reader: &mut R,
    entry: &ZipEntry,
    limit: u64,
    mut sink: impl FnMut(&[u8]),
) -> Result<u64, PackageError> {
    let corrupt = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::InvalidData => PackageError::CorruptEntry { path: entry.name.clone() },
        kind => PackageError::Io(kind),
    };
    let mut body = index.open(reader, entry)?.take(limit.saturating_add(1));
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = body.read(&mut buf).map_err(corrupt)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit {
            return Err(PackageError::EntryOverflow { path: entry.name.clone(), limit });
        }
        sink(&buf[..n]);
    }
    if total != entry.size {
        return Err(PackageError::EntrySizeMismatch { path: entry.name.clone(), declared: entry.size, actual: total });
    }
    Ok(total)
}

fn read_bounded<R: Read + Seek>(
    index: &ZipIndex,
    reader: &mut R,
    entry: &ZipEntry,
    limit: u64,
) -> Result<Vec<u8>, PackageError> {
    let mut out = Vec::with_capacity(entry.size.min(limit) as usize);
    stream_entry(index, reader, entry, limit, |chunk| out.extend_from_slice(chunk))?;
    Ok(out)
}

/// Step 9 for one entry: its budget is its declared size, already checked against the limits.
/// With `keep`, the bytes hashed are also kept there.
fn hash_entry<R: Read + Seek>(
    index: &ZipIndex,
    reader: &mut R,
    entry: &ZipEntry,
    mut keep: Option<&mut Vec<u8>>,
) -> Result<[u8; 32], PackageError> {
    let mut h = Sha256::new();
    if let Some(k) = keep.as_mut() {
        k.reserve(entry.size as usize);
    }
    stream_entry(index, reader, entry, entry.size, |chunk| {
        h.update(chunk);
        if let Some(k) = keep.as_mut() {
            k.extend_from_slice(chunk);
        }
    })?;
    Ok(h.finalize().into())
}
