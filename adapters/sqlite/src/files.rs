//! Private directories (0700) and files (0600) on unix; plain ones elsewhere.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use actr_core::platform::PlatformError;

/// Creates `dir` and any missing parents with mode 0700. Directories that
/// already exist keep their mode: the data directory may be the operator's.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), PlatformError> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| io_error("cannot create directory", dir, e))
}

/// Opens `path` for writing, creating it with mode 0600, and narrows an
/// existing file to 0600.
pub(crate) fn open_private_file(path: &Path) -> Result<File, PlatformError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|e| io_error("cannot create", path, e))?;
    narrow_to_owner(&file, path)?;
    Ok(file)
}

/// Writes `contents` to a new file at `path` (mode 0600) and syncs it;
/// fails if `path` exists.
pub(crate) fn write_new_private_file(path: &Path, contents: &[u8]) -> Result<(), PlatformError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| io_error("cannot create", path, e))?;
    narrow_to_owner(&file, path)?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(|e| io_error("cannot write", path, e))
}

#[cfg(unix)]
fn narrow_to_owner(file: &File, path: &Path) -> Result<(), PlatformError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file.metadata().map_err(|e| io_error("cannot stat", path, e))?.permissions().mode();
    if mode & 0o777 != 0o600 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_error("cannot set mode 0600 on", path, e))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn narrow_to_owner(_: &File, _: &Path) -> Result<(), PlatformError> {
    Ok(())
}

pub(crate) fn io_error(what: &str, path: &Path, e: std::io::Error) -> PlatformError {
    PlatformError::Io(format!("{what} {}: {e}", path.display()))
}
