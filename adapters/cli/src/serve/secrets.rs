//! Realm admission secrets for `actr serve`, from files or the environment,
//! never from the command line (argv is readable by every user of the host).
//!
//! A realm is named with `--realm ID` or by `--realm-secret-file ID=PATH`;
//! its secret comes from that file or from the environment variable
//! `ACTR_REALM_<ID>_SECRET` (one source per realm; both is an error). The
//! file's content is the secret, with trailing line breaks removed; an empty
//! secret is refused. A realm named without any secret keeps a secret already
//! stored for it (see [`super::ServeConfig::realms`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use actr_core::Realm;
use actr_core::ais::RealmConfig;

/// Longest secret file read, in bytes.
pub const MAX_SECRET_FILE: u64 = 4096;

/// Why the realm secrets could not be gathered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RealmSecretError {
    /// The secret file could not be read.
    #[error("realm {realm}: cannot read secret file {path}: {reason}")]
    File { realm: u32, path: PathBuf, reason: String },
    /// The secret is empty.
    #[error("realm {realm}: the secret from {source_name} is empty")]
    Empty { realm: u32, source_name: String },
    /// Both a file and the environment give a secret.
    #[error("realm {realm}: a secret comes from both {path} and {var}; keep one")]
    TwoSources { realm: u32, path: PathBuf, var: String },
    /// Two files for one realm.
    #[error("realm {realm}: --realm-secret-file given twice")]
    TwoFiles { realm: u32 },
}

/// The environment variable that may hold realm `id`'s secret.
pub fn secret_env_var(id: u32) -> String {
    format!("ACTR_REALM_{id}_SECRET")
}

/// The realms named by `ids` and `files`, each with its secret from its file
/// or from `env` (a lookup of environment variables), in id order.
pub fn realms_with_secrets(
    ids: &[u32],
    files: &[(u32, PathBuf)],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<RealmConfig>, RealmSecretError> {
    let mut named: BTreeMap<u32, Option<&Path>> = ids.iter().map(|&id| (id, None)).collect();
    for (id, path) in files {
        if named.get(id).is_some_and(|p| p.is_some()) {
            return Err(RealmSecretError::TwoFiles { realm: *id });
        }
        named.insert(*id, Some(path));
    }
    let mut realms = Vec::with_capacity(named.len());
    for (id, file) in named {
        let var = secret_env_var(id);
        let from_env = env(&var);
        let secret = match (file, from_env) {
            (Some(path), Some(_)) => {
                return Err(RealmSecretError::TwoSources { realm: id, path: path.to_path_buf(), var });
            }
            (Some(path), None) => Some(non_empty(id, read_secret(id, path)?, &path.display().to_string())?),
            (None, Some(secret)) => Some(non_empty(id, secret, &var)?),
            (None, None) => None,
        };
        realms.push(RealmConfig::new(Realm(id), secret));
    }
    Ok(realms)
}

fn read_secret(realm: u32, path: &Path) -> Result<String, RealmSecretError> {
    let fail = |reason: String| RealmSecretError::File { realm, path: path.to_path_buf(), reason };
    let len = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?.len();
    if len > MAX_SECRET_FILE {
        return Err(fail(format!("{len} bytes; at most {MAX_SECRET_FILE}")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

fn non_empty(realm: u32, secret: String, source_name: &str) -> Result<String, RealmSecretError> {
    if secret.is_empty() {
        return Err(RealmSecretError::Empty { realm, source_name: source_name.to_owned() });
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn secrets_come_from_files_or_the_environment() {
        let dir = std::env::temp_dir().join(format!("actr-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("realm2");
        std::fs::write(&file, "s3cret\n").unwrap();
        let env = |var: &str| (var == "ACTR_REALM_3_SECRET").then(|| "from-env".to_owned());
        let realms = realms_with_secrets(&[1, 3], &[(2, file.clone())], env).unwrap();
        let got: Vec<(u32, Option<&str>)> = realms.iter().map(|r| (r.realm.0, r.secret.as_deref())).collect();
        assert_eq!(got, vec![(1, None), (2, Some("s3cret")), (3, Some("from-env"))]);

        let both = |var: &str| (var == "ACTR_REALM_2_SECRET").then(|| "x".to_owned());
        assert!(matches!(
            realms_with_secrets(&[], &[(2, file.clone())], both),
            Err(RealmSecretError::TwoSources { realm: 2, .. })
        ));
        std::fs::write(&file, "\n").unwrap();
        assert!(matches!(realms_with_secrets(&[], &[(2, file.clone())], no_env), Err(RealmSecretError::Empty { .. })));
        let missing = dir.join("missing");
        assert!(matches!(realms_with_secrets(&[], &[(4, missing)], no_env), Err(RealmSecretError::File { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
