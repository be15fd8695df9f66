//! Key files on disk: the secret key is created with mode 0600 in one step
//! and never overwritten unless asked; the public key sits beside it as `KEY.pub`.
//! The text format is `actr_core::package::keys`.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use actr_core::package::keys::{self, MAX_KEY_FILE};
use ed25519_dalek::{SigningKey, VerifyingKey};

use super::PkgError;

/// `KEY.pub` next to `KEY`.
pub fn public_path(secret: &Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Creates `path` with `mode` and writes `text`; with `force`, an existing
/// file is replaced through a fresh file renamed over it.
fn write_new(path: &Path, text: &str, mode: u32, force: bool) -> Result<(), PkgError> {
    let io = |e| PkgError::Io { path: path.to_path_buf(), source: e };
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(PkgError::Exists(path.to_path_buf()));
    }
    let target = if force { tmp_path(path) } else { path.to_path_buf() };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&target).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => PkgError::Exists(target.clone()),
        _ => io(e),
    })?;
    file.write_all(text.as_bytes()).and_then(|_| file.sync_all()).map_err(io)?;
    if force {
        fs::rename(&target, path).map_err(io)?;
    }
    Ok(())
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp-{}", std::process::id()));
    PathBuf::from(name)
}

/// Makes a new key from OS randomness and writes `KEY` (0600) and `KEY.pub` (0644).
pub fn generate(secret_path: &Path, force: bool) -> Result<SigningKey, PkgError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| PkgError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    let public = public_path(secret_path);
    for path in [secret_path, public.as_path()] {
        if !force && fs::symlink_metadata(path).is_ok() {
            return Err(PkgError::Exists(path.to_path_buf()));
        }
    }
    write_new(secret_path, &keys::encode_secret_key(&key), 0o600, force)?;
    write_new(&public, &keys::encode_public_key(&key.verifying_key()), 0o644, force)?;
    Ok(key)
}

fn read_small(path: &Path) -> Result<String, PkgError> {
    let io = |e| PkgError::Io { path: path.to_path_buf(), source: e };
    let mut text = String::new();
    fs::File::open(path).map_err(io)?.take(MAX_KEY_FILE as u64 + 1).read_to_string(&mut text).map_err(io)?;
    Ok(text)
}

pub fn read_secret(path: &Path) -> Result<SigningKey, PkgError> {
    keys::parse_secret_key(&read_small(path)?).map_err(|e| PkgError::Key { path: path.to_path_buf(), source: e })
}

pub fn read_public(path: &Path) -> Result<VerifyingKey, PkgError> {
    keys::parse_public_key(&read_small(path)?).map_err(|e| PkgError::Key { path: path.to_path_buf(), source: e })
}
