//! The SQL text [`ActorStore`](crate::ActorStore) runs, public so that the
//! benchmark's raw rusqlite baseline runs exactly the same. Not a stable API.

/// Run once per connection, before [`SCHEMA`]. A file database must then
/// report `journal_mode` `wal`.
pub const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;";

pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS kv (
    key        TEXT PRIMARY KEY NOT NULL,
    value      BLOB NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;";

/// `?1` key, `?2` value, `?3` Unix milliseconds.
pub const UPSERT: &str = "INSERT INTO kv (key, value, updated_at) VALUES (?1, ?2, ?3)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

/// `?1` key.
pub const SELECT: &str = "SELECT value FROM kv WHERE key = ?1";

/// `?1` key.
pub const DELETE: &str = "DELETE FROM kv WHERE key = ?1";

/// Keys in `[?1, ?2)`, ascending, at most `?3`: a prefix and its successor.
/// A range on the primary key, so matching is exact and byte-wise
/// (case-sensitive, no wildcards) and uses the index.
pub const LIST_RANGE: &str = "SELECT key FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3";

/// Keys from `?1` on, ascending, at most `?2`: for a prefix with no
/// successor (empty, or only U+10FFFF).
pub const LIST_FROM: &str = "SELECT key FROM kv WHERE key >= ?1 ORDER BY key LIMIT ?2";
