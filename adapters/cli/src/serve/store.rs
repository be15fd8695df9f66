//! The server's registry on disk: the AIS signing key, the realms, the
//! serial high-water mark, manufacturers' package-signing keys and published
//! packages, in one SQLite database in WAL mode.
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
use actr_core::package::{VerifiedPackage, key_id, verifying_key};
use ed25519_dalek::VerifyingKey;
use rusqlite::{Connection, OptionalExtension, params};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "actr-serve.db";
/// Key id given to the first signing key.
pub const FIRST_KEY_ID: u32 = 1;
/// Schema version this build writes (`PRAGMA user_version`). Version 2 added
/// the manufacturer tables; every table is created if missing, so opening a
/// version-1 database upgrades it in place.
const SCHEMA_VERSION: i64 = 2;

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
CREATE TABLE IF NOT EXISTS manufacturer_key (
    key_id       TEXT PRIMARY KEY,
    manufacturer TEXT NOT NULL,
    public_key   BLOB NOT NULL CHECK (length(public_key) = 32),
    added_at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS manufacturer_key_by_name ON manufacturer_key (manufacturer);
CREATE TABLE IF NOT EXISTS published_package (
    manifest_hash TEXT PRIMARY KEY,
    manufacturer  TEXT NOT NULL,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    binary_hash   TEXT NOT NULL,
    manifest      BLOB NOT NULL,
    signature     BLOB NOT NULL CHECK (length(signature) = 64),
    published_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS published_package_by_type ON published_package (manufacturer, name, version);
CREATE TABLE IF NOT EXISTS manufacturer_nonce (
    manufacturer TEXT NOT NULL,
    nonce        BLOB NOT NULL CHECK (length(nonce) = 32),
    until        INTEGER NOT NULL,
    PRIMARY KEY (manufacturer, nonce)
);
";

/// Most manufacturer-proof nonces remembered at once (each for about ten
/// minutes): a flood of proofs is refused past it, never forgotten early.
pub const MAX_STORED_NONCES: i64 = 100_000;

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
    /// A key id is already registered to another manufacturer.
    #[error("key {key_id} is already registered to manufacturer {manufacturer}")]
    KeyTaken { key_id: String, manufacturer: String },
}

/// A manufacturer's registered package-signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManufacturerKey {
    pub manufacturer: String,
    pub key_id: String,
    pub public_key: VerifyingKey,
    pub added_at: u64,
}

/// A package recorded as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPackage {
    /// Lowercase hex SHA-256 of the signed manifest bytes.
    pub manifest_hash: String,
    pub actr_type: String,
    pub key_id: String,
    pub binary_hash: String,
    pub published_at: u64,
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

    /// Registers `key` for `manufacturer` (idempotent) and returns its key id.
    /// A key already registered to another manufacturer is refused.
    pub fn add_manufacturer_key(
        &self,
        manufacturer: &str,
        key: &VerifyingKey,
        now_unix: u64,
    ) -> Result<String, StoreError> {
        let id = key_id(key);
        if let Some(existing) = self.manufacturer_key_by_id(&id)? {
            if existing.manufacturer != manufacturer {
                return Err(StoreError::KeyTaken { key_id: id, manufacturer: existing.manufacturer });
            }
            return Ok(id);
        }
        self.conn.execute(
            "INSERT INTO manufacturer_key (key_id, manufacturer, public_key, added_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, manufacturer, key.as_bytes().as_slice(), clamp_i64(now_unix)],
        )?;
        Ok(id)
    }

    /// The key registered under `key_id`, whoever it belongs to.
    pub fn manufacturer_key_by_id(&self, key_id: &str) -> Result<Option<ManufacturerKey>, StoreError> {
        self.query_keys("WHERE key_id = ?1", params![key_id]).map(|mut keys| keys.pop())
    }

    /// `manufacturer`'s key with `key_id`, or `None`.
    pub fn manufacturer_key(&self, manufacturer: &str, key_id: &str) -> Result<Option<ManufacturerKey>, StoreError> {
        Ok(self.manufacturer_key_by_id(key_id)?.filter(|k| k.manufacturer == manufacturer))
    }

    /// Every key of `manufacturer`, newest first.
    pub fn manufacturer_keys(&self, manufacturer: &str) -> Result<Vec<ManufacturerKey>, StoreError> {
        self.query_keys("WHERE manufacturer = ?1 ORDER BY added_at DESC, rowid DESC", params![manufacturer])
    }

    fn query_keys(&self, filter: &str, args: impl rusqlite::Params) -> Result<Vec<ManufacturerKey>, StoreError> {
        let sql = format!("SELECT manufacturer, key_id, public_key, added_at FROM manufacturer_key {filter}");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(args, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, i64>(3)?))
        })?;
        let mut keys = Vec::new();
        for row in rows {
            let (manufacturer, key_id, bytes, added_at) = row?;
            let public_key =
                verifying_key(&bytes).map_err(|e| StoreError::Corrupt(format!("manufacturer key {key_id}: {e}")))?;
            keys.push(ManufacturerKey { manufacturer, key_id, public_key, added_at: added_at.max(0) as u64 });
        }
        Ok(keys)
    }

    /// Records a verified package as published (idempotent).
    pub fn publish_package(&self, package: &VerifiedPackage, now_unix: u64) -> Result<PublishedPackage, StoreError> {
        let m = &package.manifest;
        self.conn.execute(
            "INSERT INTO published_package
                 (manifest_hash, manufacturer, name, version, key_id, binary_hash, manifest, signature, published_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (manifest_hash) DO NOTHING",
            params![
                package.manifest_hash_hex(),
                m.manufacturer,
                m.name,
                m.version,
                package.key_id,
                m.binary.hash,
                package.manifest_raw,
                package.signature.as_slice(),
                clamp_i64(now_unix)
            ],
        )?;
        self.published_package(&package.manifest_hash_hex())?
            .ok_or_else(|| StoreError::Corrupt("published package vanished".into()))
    }

    /// The published package whose manifest hashes to `manifest_hash` (lowercase hex).
    pub fn published_package(&self, manifest_hash: &str) -> Result<Option<PublishedPackage>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT manifest_hash, manufacturer, name, version, key_id, binary_hash, published_at
                 FROM published_package WHERE manifest_hash = ?1",
                params![manifest_hash],
                |r| {
                    Ok(PublishedPackage {
                        manifest_hash: r.get(0)?,
                        actr_type: format!(
                            "{}:{}:{}",
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?
                        ),
                        key_id: r.get(4)?,
                        binary_hash: r.get(5)?,
                        published_at: r.get::<_, i64>(6)?.max(0) as u64,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    /// The manifest hashes (lowercase hex) published for `actr_type`.
    pub fn published_hashes(&self, actr_type: &actr_core::ActrType) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT manifest_hash FROM published_package WHERE manufacturer = ?1 AND name = ?2 AND version = ?3",
        )?;
        let rows = stmt.query_map(params![actr_type.manufacturer, actr_type.name, actr_type.version], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<String>, _>>()?)
    }

    /// Records `nonce` of `manufacturer` as used until `until`; `false` when
    /// it was used already or the table is full. Expired nonces go first.
    pub fn consume_nonce(
        &self,
        manufacturer: &str,
        nonce: &[u8; 32],
        now: u64,
        until: u64,
    ) -> Result<bool, StoreError> {
        self.conn.execute("DELETE FROM manufacturer_nonce WHERE until <= ?1", params![clamp_i64(now)])?;
        let held: i64 = self.conn.query_row("SELECT count(*) FROM manufacturer_nonce", [], |r| r.get(0))?;
        if held >= MAX_STORED_NONCES {
            return Ok(false);
        }
        let inserted = self.conn.execute(
            "INSERT INTO manufacturer_nonce (manufacturer, nonce, until) VALUES (?1, ?2, ?3)
             ON CONFLICT (manufacturer, nonce) DO NOTHING",
            params![manufacturer, nonce.as_slice(), clamp_i64(until)],
        )?;
        Ok(inserted == 1)
    }

    /// Whether the package with this manifest hash was published.
    pub fn is_published(&self, manifest_hash: &str) -> Result<bool, StoreError> {
        Ok(self.published_package(manifest_hash)?.is_some())
    }
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
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
