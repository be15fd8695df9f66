//! Building and signing packages.

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use super::error::PackageError;
use super::manifest::{BinaryEntry, BinaryKind, Manifest, ResourceEntry, SIGNATURE_ALGORITHM, ServiceSection};
use super::zip::ZipWriter;
use super::{MANIFEST_PATH, SIGNATURE_PATH, hex, key_id};
use crate::id::ActrType;

const HASH_CHUNK: usize = 1 << 20;

/// The parts of a manifest a packer chooses; hashes, sizes and the key id
/// are filled in by [`pack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpec {
    pub actr_type: ActrType,
    pub target: String,
    pub kind: BinaryKind,
    pub binary_path: String,
    pub resource_paths: Vec<String>,
    pub description: Option<String>,
    pub service: ServiceSection,
}

impl PackageSpec {
    /// A WASM package with its binary at `bin/actor.wasm` (`bin/actor` for other targets).
    pub fn new(actr_type: ActrType, target: &str) -> Self {
        let wasm = target.starts_with("wasm32-");
        PackageSpec {
            actr_type,
            target: target.to_owned(),
            kind: if wasm { BinaryKind::WasmModule } else { BinaryKind::NativeCdylib },
            binary_path: if wasm { "bin/actor.wasm" } else { "bin/actor" }.to_owned(),
            resource_paths: Vec::new(),
            description: None,
            service: ServiceSection::default(),
        }
    }

    /// A manifest template with empty hashes.
    pub fn into_manifest(self) -> Manifest {
        Manifest {
            manufacturer: self.actr_type.manufacturer,
            name: self.actr_type.name,
            version: self.actr_type.version,
            signature_algorithm: SIGNATURE_ALGORITHM.to_owned(),
            signing_key_id: String::new(),
            description: self.description,
            binary: BinaryEntry {
                path: self.binary_path,
                kind: self.kind,
                target: self.target,
                hash: String::new(),
                size: 0,
            },
            resources: self
                .resource_paths
                .into_iter()
                .map(|path| ResourceEntry { path, hash: String::new() })
                .collect(),
            service: self.service,
            acl: None,
        }
    }
}

/// Fills in hashes, sizes, algorithm and key id of `template`, signs it and
/// writes the archive: manifest, signature, binary, resources, all stored.
/// `resources` pairs each path of `template.resources` (in order) with its bytes;
/// a resource the template does not list is added. `progress` is told how many
/// binary bytes have been hashed so far.
pub fn pack(
    template: &Manifest,
    binary: &[u8],
    resources: &[(String, Vec<u8>)],
    key: &SigningKey,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<u8>, PackageError> {
    let mut manifest = template.clone();
    manifest.signature_algorithm = SIGNATURE_ALGORITHM.to_owned();
    manifest.signing_key_id = key_id(&key.verifying_key());
    let mut h = Sha256::new();
    let mut done = 0u64;
    for chunk in binary.chunks(HASH_CHUNK) {
        h.update(chunk);
        done += chunk.len() as u64;
        progress(done);
    }
    manifest.binary.hash = hex::encode(&h.finalize());
    manifest.binary.size = binary.len() as u64;
    for (path, data) in resources {
        let hash = super::sha256_hex(data);
        match manifest.resources.iter_mut().find(|r| &r.path == path) {
            Some(entry) => entry.hash = hash,
            None => manifest.resources.push(ResourceEntry { path: path.clone(), hash }),
        }
    }
    if let Some(missing) = manifest.resources.iter().find(|r| !resources.iter().any(|(p, _)| p == &r.path)) {
        return Err(PackageError::EntryMissing { path: missing.path.clone() });
    }
    manifest.actr_type()?;
    manifest.acl()?;
    manifest.check_integrity_fields()?;

    let manifest_raw = manifest.to_toml().into_bytes();
    let signature = key.sign(&manifest_raw).to_bytes();
    let mut zip = ZipWriter::new(Vec::with_capacity(binary.len() + manifest_raw.len() + 1024));
    let io = PackageError::from;
    zip.add_stored(MANIFEST_PATH, &manifest_raw).map_err(io)?;
    zip.add_stored(SIGNATURE_PATH, &signature).map_err(io)?;
    zip.add_stored(&manifest.binary.path, binary).map_err(io)?;
    for r in &manifest.resources {
        let data = resources.iter().find(|(p, _)| p == &r.path).map(|(_, d)| d.as_slice()).unwrap_or_default();
        zip.add_stored(&r.path, data).map_err(io)?;
    }
    zip.finish().map_err(io)
}
