//! Where an actor type's store lives: `{data_dir}/actors/{manufacturer}/{name}/{version}.sqlite`.

use std::path::{Component, Path, PathBuf};

use actr_core::ActrType;
use actr_core::platform::PlatformError;

/// The directory under the data directory that holds every actor store.
pub const ACTORS_DIR: &str = "actors";

/// The store file of `actr_type` under `data_dir`.
///
/// The type is validated again (it may have arrived over the wire), and each
/// segment must also be a plain file name: not empty, `.` or `..`, and free
/// of `/`, `\`, `:` and NUL. The result is checked, lexically, to lie under
/// `{data_dir}/actors`; symlinks inside the data directory are not resolved.
pub fn actor_store_path(data_dir: &Path, actr_type: &ActrType) -> Result<PathBuf, PlatformError> {
    actr_type.validate().map_err(|e| PlatformError::Limit(format!("actor type: {e}")))?;
    let ActrType { manufacturer, name, version } = actr_type;
    check_segment("manufacturer", manufacturer)?;
    check_segment("name", name)?;
    check_segment("version", version)?;
    let actors = data_dir.join(ACTORS_DIR);
    let path = actors.join(manufacturer).join(name).join(format!("{version}.sqlite"));
    let stays_under = path.strip_prefix(&actors).is_ok_and(|rest| {
        rest.components().count() == 3 && rest.components().all(|c| matches!(c, Component::Normal(_)))
    });
    if !stays_under {
        return Err(PlatformError::Other(format!(
            "the store of {actr_type} would be {}, outside {}",
            path.display(),
            actors.display()
        )));
    }
    Ok(path)
}

/// Refuses what a file system could read as anything but one plain name.
fn check_segment(field: &str, segment: &str) -> Result<(), PlatformError> {
    let why = if segment.is_empty() {
        "is empty"
    } else if segment == "." || segment == ".." {
        "is a relative directory"
    } else if segment.contains(['/', '\\']) {
        "contains a path separator"
    } else if segment.contains(':') {
        "contains ':'"
    } else if segment.contains('\0') {
        "contains NUL"
    } else {
        return Ok(());
    };
    Err(PlatformError::Limit(format!("actor type {field} {segment:?} {why}: not usable as a file name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_that_are_not_plain_names_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\\b", "c:", "a\0b"] {
            assert!(matches!(check_segment("version", bad), Err(PlatformError::Limit(_))), "{bad:?}");
        }
        for good in ["1", "1.0.0", "...", "v1-rc.2", "a_b"] {
            assert_eq!(check_segment("version", good), Ok(()), "{good:?}");
        }
    }
}
