//! [`ActorStore`]: one actor type's [`KvStore`] in one SQLite file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use actr_core::platform::{
    KvOp, KvStore, MAX_KEY_BYTES, MAX_LIST_KEYS, PlatformError, check_batch, check_key, check_value,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::files::{create_private_dir, open_private_file};
use crate::sql;

/// A [`KvStore`] over one SQLite database in WAL mode, table `kv`.
///
/// One connection behind a mutex: calls from many threads take turns, each
/// one statement (or one transaction for [`KvStore::batch`]) long.
pub struct ActorStore {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

impl ActorStore {
    /// Opens or creates the database at `path`. Missing parent directories
    /// are created with mode 0700 and the file with 0600 (an existing file is
    /// narrowed to 0600); SQLite gives its `-wal` and `-shm` files the same
    /// mode. A symlink at `path` is refused.
    pub fn open(path: &Path) -> Result<ActorStore, PlatformError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(PlatformError::Io(format!("{} is a symlink", path.display())));
        }
        drop(open_private_file(path)?);
        let flags =
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
        configure(&conn).map_err(|e| open_error(path, e))?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(|e| open_error(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(PlatformError::Storage(format!("{}: journal mode {mode}, not wal", path.display())));
        }
        Ok(ActorStore { conn: Mutex::new(conn), path: Some(path.to_owned()) })
    }

    /// A store that lives as long as the value, for tests.
    pub fn open_in_memory() -> Result<ActorStore, PlatformError> {
        let conn = Connection::open_in_memory().map_err(storage_error)?;
        configure(&conn).map_err(storage_error)?;
        Ok(ActorStore { conn: Mutex::new(conn), path: None })
    }

    /// The database file; `None` for [`ActorStore::open_in_memory`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs `f` on the connection. A panic in an earlier call poisons the
    /// mutex but cannot leave a transaction open (its guard rolls back on
    /// unwind), so the connection is taken back as it is.
    fn run<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, PlatformError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut conn).map_err(storage_error)
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(sql::PRAGMAS)?;
    conn.execute_batch(sql::SCHEMA)
}

impl KvStore for ActorStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        check_key(key)?;
        self.run(|conn| conn.prepare_cached(sql::SELECT)?.query_row([key], |r| r.get(0)).optional())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        check_key(key)?;
        check_value(value)?;
        let now = unix_millis();
        self.run(|conn| conn.prepare_cached(sql::UPSERT)?.execute(params![key, value, now]).map(drop))
    }

    fn delete(&self, key: &str) -> Result<bool, PlatformError> {
        check_key(key)?;
        self.run(|conn| Ok(conn.prepare_cached(sql::DELETE)?.execute([key])? > 0))
    }

    /// A `prefix` longer than [`MAX_KEY_BYTES`] is a [`PlatformError::Limit`].
    fn list(&self, prefix: &str, limit: usize) -> Result<Vec<String>, PlatformError> {
        if prefix.len() > MAX_KEY_BYTES {
            return Err(PlatformError::Limit(format!(
                "prefix of {} bytes, the limit is {MAX_KEY_BYTES}",
                prefix.len()
            )));
        }
        let limit = limit.min(MAX_LIST_KEYS);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = limit as i64;
        self.run(|conn| match prefix_successor(prefix) {
            Some(end) => {
                conn.prepare_cached(sql::LIST_RANGE)?.query_map(params![prefix, end, limit], |r| r.get(0))?.collect()
            }
            None => conn.prepare_cached(sql::LIST_FROM)?.query_map(params![prefix, limit], |r| r.get(0))?.collect(),
        })
    }

    /// An immediate transaction: it takes the write lock up front, so it
    /// cannot fail half-way for another connection's write.
    fn batch(&self, ops: &[KvOp]) -> Result<(), PlatformError> {
        check_batch(ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        let now = unix_millis();
        self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for op in ops {
                match op {
                    KvOp::Set { key, value } => tx.prepare_cached(sql::UPSERT)?.execute(params![key, value, now])?,
                    KvOp::Delete { key } => tx.prepare_cached(sql::DELETE)?.execute([key])?,
                };
            }
            // Dropping `tx` on an early return rolls the whole batch back.
            tx.commit()
        })
    }
}

impl fmt::Debug for ActorStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorStore").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The least string greater than every string that starts with `prefix`:
/// its last code point that has a successor, incremented, with what follows
/// dropped. `None` if there is none (every string is below no bound).
/// SQLite compares TEXT byte-wise, and UTF-8 byte order is code-point order.
pub(crate) fn prefix_successor(prefix: &str) -> Option<String> {
    prefix.char_indices().rev().find_map(|(at, c)| {
        let next = match c {
            '\u{D7FF}' => '\u{E000}',
            char::MAX => return None,
            c => char::from_u32(c as u32 + 1)?,
        };
        let mut end = String::with_capacity(at + next.len_utf8());
        end.push_str(&prefix[..at]);
        end.push(next);
        Some(end)
    })
}

fn unix_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn storage_error(e: rusqlite::Error) -> PlatformError {
    PlatformError::Storage(e.to_string())
}

fn open_error(path: &Path, e: rusqlite::Error) -> PlatformError {
    PlatformError::Storage(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn prefix_successor_increments_the_last_code_point_that_can_grow() {
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10FFFF}\u{10FFFF}"), None);
        assert_eq!(prefix_successor("x\u{D7FF}").as_deref(), Some("x\u{E000}"));
        assert_eq!(prefix_successor("a\u{7F}").as_deref(), Some("a\u{80}"));
    }
}
