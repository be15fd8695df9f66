//! The server's registry on disk: the AIS signing key, the realms and the
//! serial high-water mark, in one SQLite database in WAL mode.
//!
//! Every call is one short statement or transaction; callers never hold the
//! store across an `.await`. Writes use `synchronous=FULL` because the serial
//! high-water mark is what keeps actor ids unique across restarts, even after
//! a power loss; registrations are rare enough for that to cost nothing.
//!
//! The database holds the AIS signing seed, so on unix the data directory is
//! created with mode 0700 and the database file is created (or narrowed to)
//! 0600 before SQLite opens it; SQLite gives its `-wal` and `-shm` files the
//! database file's mode.

use std::path::{Path, PathBuf};

use actr_core::Realm;
use actr_core::ais::RealmConfig;
use rusqlite::{Connection, OptionalExtension, params};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "actr-serve.db";
/// Key id given to the first signing key.
pub const FIRST_KEY_ID: u32 = 1;
/// Schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS signing_key (
    key_id INTEGER PRIMARY KEY,
    seed   BLOB NOT NULL CHECK (length(seed) = 32)
);
CREATE TABLE IF NOT EXISTS realm (
    id     INTEGER PRIMARY KEY,
    secret TEXT
);
CREATE TABLE IF NOT EXISTS serial (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    next_serial INTEGER NOT NULL
);
";

/// Why the registry could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    /// The database file could not be created or made private.
    #[error("cannot create {path} with mode 0600: {source}")]
    DbFile { path: PathBuf, source: std::io::Error },
    /// SQLite refused an operation.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The operating system gave no randomness for a new signing key.
    #[error("no randomness for the signing key: {0}")]
    Random(getrandom::Error),
    /// The database was written by a newer build.
    #[error("database schema {found} is newer than this build's {supported}")]
    SchemaTooNew { found: i64, supported: i64 },
    /// A stored value is out of range.
    #[error("corrupt registry: {0}")]
    Corrupt(String),
}

/// The signing key as stored: its id and its Ed25519 seed.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub key_id: u32,
    pub seed: [u8; 32],
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the seed.
        f.debug_struct("StoredSigningKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// The registry database of one `actr serve` data directory.
#[derive(Debug)]
pub struct RegistryStore {
    conn: Connection,
    path: PathBuf,
}

impl RegistryStore {
    /// Opens (creating if needed) `{data_dir}/actr-serve.db` and its schema.
    pub fn open(data_dir: &Path) -> Result<RegistryStore, StoreError> {
        create_private_dir(data_dir).map_err(|source| StoreError::DataDir { path: data_dir.to_path_buf(), source })?;
        let path = data_dir.join(DB_FILE);
        create_private_file(&path).map_err(|source| StoreError::DbFile { path: path.clone(), source })?;
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(RegistryStore { conn, path })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The newest signing key, generated from OS randomness on first use.
    pub fn signing_key(&mut self) -> Result<StoredSigningKey, StoreError> {
        if let Some(key) = self.load_signing_key()? {
            return Ok(key);
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(StoreError::Random)?;
        self.conn.execute(
            "INSERT INTO signing_key (key_id, seed) VALUES (?1, ?2)",
            params![FIRST_KEY_ID, seed.as_slice()],
        )?;
        Ok(StoredSigningKey { key_id: FIRST_KEY_ID, seed })
    }

    fn load_signing_key(&self) -> Result<Option<StoredSigningKey>, StoreError> {
        let row = self
            .conn
            .query_row("SELECT key_id, seed FROM signing_key ORDER BY key_id DESC LIMIT 1", [], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .optional()?;
        let Some((key_id, seed)) = row else { return Ok(None) };
        let key_id = u32::try_from(key_id).map_err(|_| StoreError::Corrupt(format!("signing key id {key_id}")))?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|s: Vec<u8>| StoreError::Corrupt(format!("signing key seed of {} bytes", s.len())))?;
        Ok(Some(StoredSigningKey { key_id, seed }))
    }

    /// Every stored realm, in id order.
    pub fn realms(&self) -> Result<Vec<RealmConfig>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT id, secret FROM realm ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?)))?;
        let mut realms = Vec::new();
        for row in rows {
            let (id, secret) = row?;
            let id = u32::try_from(id).map_err(|_| StoreError::Corrupt(format!("realm id {id}")))?;
            realms.push(RealmConfig::new(Realm(id), secret));
        }
        Ok(realms)
    }

    /// Creates a realm or replaces its secret.
    pub fn upsert_realm(&self, realm: &RealmConfig) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO realm (id, secret) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET secret = excluded.secret",
            params![realm.realm.0, realm.secret],
        )?;
        Ok(())
    }

    /// The first serial not yet handed out (1 on a new database).
    pub fn next_serial(&self) -> Result<u64, StoreError> {
        let stored: Option<i64> =
            self.conn.query_row("SELECT next_serial FROM serial WHERE id = 1", [], |r| r.get(0)).optional()?;
        match stored {
            None => Ok(1),
            Some(n) => u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("next serial {n}"))),
        }
    }

    /// Raises the high-water mark to `next_serial`; a lower value never lowers it.
    pub fn save_next_serial(&self, next_serial: u64) -> Result<(), StoreError> {
        let n = i64::try_from(next_serial).map_err(|_| StoreError::Corrupt(format!("next serial {next_serial}")))?;
        self.conn.execute(
            "INSERT INTO serial (id, next_serial) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET next_serial = max(next_serial, excluded.next_serial)",
            params![n],
        )?;
        Ok(())
    }
}

/// Creates `dir` and missing parents with mode 0700 (on unix); an existing
/// directory is left as it is.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates `path` if missing with mode 0600 and narrows an existing one to
/// 0600 (on unix): it holds the signing seed.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    drop(file);
    Ok(())
}
