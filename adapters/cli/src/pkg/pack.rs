//! `actr pack`: build (or complete) a manifest, sign it, write the archive.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use actr_core::ActrType;
use actr_core::package::{self, BinaryKind, Manifest, PackageLimits, PackageSpec};

use super::{PkgError, keyfile, read_bounded};

/// Binaries at least this large get a progress bar (on a terminal).
const PROGRESS_FROM: u64 = 8 << 20;

/// What `actr pack` was asked for.
#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    pub actr_type: Option<ActrType>,
    /// A hand-written manifest template; hashes, sizes and the key id are filled in.
    pub manifest: Option<PathBuf>,
    pub binary: PathBuf,
    pub key: PathBuf,
    pub out: PathBuf,
    pub target: Option<String>,
    pub kind: Option<BinaryKind>,
    /// `LOCAL` or `LOCAL=PACKAGE_PATH`; the default package path is `resources/<file name>`.
    pub resources: Vec<String>,
    pub routes: Vec<String>,
}

fn template(opts: &PackOptions) -> Result<(Manifest, PathBuf), PkgError> {
    if let Some(path) = &opts.manifest {
        let bytes = read_bounded(path, package::MAX_MANIFEST_BYTES)?;
        let manifest = Manifest::parse(&bytes).map_err(|source| PkgError::Package { path: path.clone(), source })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        return Ok((manifest, base));
    }
    let Some(actr_type) = opts.actr_type.clone() else {
        return Err(PkgError::Usage("give --type MFR:NAME:VERSION or --manifest manifest.toml".into()));
    };
    let mut spec = PackageSpec::new(actr_type, opts.target.as_deref().unwrap_or("wasm32-unknown-unknown"));
    if let Some(kind) = opts.kind {
        spec.kind = kind;
    }
    spec.service.routes = opts.routes.clone();
    Ok((spec.into_manifest(), PathBuf::new()))
}

fn resources(
    opts: &PackOptions,
    manifest: &Manifest,
    base: &Path,
    limit: u64,
) -> Result<Vec<(String, Vec<u8>)>, PkgError> {
    let mut out = Vec::new();
    // Resources a hand-written manifest lists are read relative to it.
    for r in &manifest.resources {
        package::check_path(&r.path).map_err(|source| PkgError::Package { path: r.path.clone().into(), source })?;
        out.push((r.path.clone(), read_bounded(&base.join(&r.path), limit)?));
    }
    for arg in &opts.resources {
        let (local, inside) = match arg.split_once('=') {
            Some((local, inside)) => (PathBuf::from(local), inside.to_owned()),
            None => {
                let name = Path::new(arg).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                (PathBuf::from(arg), format!("resources/{name}"))
            }
        };
        out.push((inside, read_bounded(&local, limit)?));
    }
    Ok(out)
}

/// Packs and writes `opts.out`; returns the report line.
pub fn pack(opts: &PackOptions) -> Result<String, PkgError> {
    let limits = PackageLimits::default();
    let key = keyfile::read_secret(&opts.key)?;
    let (mut manifest, base) = template(opts)?;
    if opts.manifest.is_some() {
        if let Some(target) = &opts.target {
            manifest.binary.target = target.clone();
        }
        if let Some(kind) = opts.kind {
            manifest.binary.kind = kind;
        }
    }
    let binary = read_bounded(&opts.binary, limits.max_entry_bytes)?;
    let resources = resources(opts, &manifest, &base, limits.max_entry_bytes)?;
    let bar = progress_bar(binary.len() as u64);
    let mut progress = |done: u64| {
        if let Some(bar) = &bar {
            bar.set_position(done);
        }
    };
    let bytes = package::pack(&manifest, &binary, &resources, &key, &mut progress)
        .map_err(|source| PkgError::Package { path: opts.out.clone(), source })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    std::fs::write(&opts.out, &bytes).map_err(|source| PkgError::Io { path: opts.out.clone(), source })?;
    Ok(format!(
        "packed {}:{}:{} into {} ({} bytes, key {})\n",
        manifest.manufacturer,
        manifest.name,
        manifest.version,
        opts.out.display(),
        bytes.len(),
        package::key_id(&key.verifying_key())
    ))
}

fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    if len < PROGRESS_FROM || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template("hashing {bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}
