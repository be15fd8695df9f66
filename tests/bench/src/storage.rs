//! An actor's key-value store against raw rusqlite: `ActorStore` set and get
//! of 64-byte values, and as the baseline one rusqlite connection with the
//! same pragmas, schema and SQL (`actr_sqlite::sql`, `prepare_cached`), with
//! no mutex, no limit checks and no trait. Both databases are files in WAL
//! mode with `synchronous=NORMAL`, filled with the same keys first, so every
//! timed set replaces a value. Goal: the store within 0.9x of raw.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actr_core::platform::KvStore;
use actr_sqlite::{ActorStore, sql};
use rusqlite::{Connection, OptionalExtension, params};

use crate::report::{Row, time_pair};

const KEYS: usize = 10_000;
const VALUE: [u8; 64] = [0x5a; 64];
const ROUNDS: usize = 20;
const SETS_PER_ROUND: usize = 2_000;
const GETS_PER_ROUND: usize = 10_000;
const GOAL: &str = "rate / raw rusqlite's; goal >= 0.9x";

/// The baseline: what `ActorStore` runs, called directly.
struct RawStore(Connection);

impl RawStore {
    fn open(path: &Path) -> RawStore {
        let conn = Connection::open(path).expect("raw database opens");
        conn.execute_batch(sql::PRAGMAS).expect("pragmas");
        conn.execute_batch(sql::SCHEMA).expect("schema");
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("journal mode");
        assert_eq!(mode, "wal");
        RawStore(conn)
    }

    fn set(&self, key: &str, value: &[u8]) {
        let mut stmt = self.0.prepare_cached(sql::UPSERT).expect("prepares");
        stmt.execute(params![key, value, unix_millis()]).expect("raw set");
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut stmt = self.0.prepare_cached(sql::SELECT).expect("prepares");
        stmt.query_row([key], |r| r.get(0)).optional().expect("raw get")
    }
}

/// As `ActorStore` stamps `updated_at`.
fn unix_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub fn rows() -> Vec<Row> {
    let dir = std::env::temp_dir().join(format!("actr-bench-storage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rows = measure(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

fn measure(dir: &Path) -> Vec<Row> {
    let store = ActorStore::open(&dir.join("store.sqlite")).expect("store opens");
    let raw = RawStore::open(&dir.join("raw.sqlite"));
    let keys: Vec<String> = (0..KEYS).map(|i| format!("bench/key/{i:05}")).collect();
    for key in &keys {
        store.set(key, &VALUE).expect("fill");
        raw.set(key, &VALUE);
    }
    let (mut store_at, mut raw_at) = (Cycle::new(KEYS), Cycle::new(KEYS));
    let (store_set, raw_set) = time_pair(
        ROUNDS,
        || store_at.next(SETS_PER_ROUND).for_each(|i| store.set(&keys[i], &VALUE).expect("store set")),
        || raw_at.next(SETS_PER_ROUND).for_each(|i| raw.set(&keys[i], &VALUE)),
    );
    let (store_get, raw_get) = time_pair(
        ROUNDS,
        || store_at.next(GETS_PER_ROUND).for_each(|i| assert!(store.get(&keys[i]).expect("store get").is_some())),
        || raw_at.next(GETS_PER_ROUND).for_each(|i| assert!(raw.get(&keys[i]).is_some())),
    );
    pair("set", ROUNDS * SETS_PER_ROUND, store_set, raw_set)
        .into_iter()
        .chain(pair("get", ROUNDS * GETS_PER_ROUND, store_get, raw_get))
        .collect()
}

/// Key indices round the key set, each side at its own place.
struct Cycle {
    at: usize,
    len: usize,
}

impl Cycle {
    fn new(len: usize) -> Cycle {
        Cycle { at: 0, len }
    }

    fn next(&mut self, n: usize) -> impl Iterator<Item = usize> + use<> {
        let (start, len) = (self.at, self.len);
        self.at = (start + n) % len;
        (0..n).map(move |i| (start + i) % len)
    }
}

fn pair(op: &str, n: usize, store: Duration, raw: Duration) -> [Row; 2] {
    let mut baseline = Row::throughput(&format!("storage: raw rusqlite {op} (64 B)"), "-", n, raw);
    let store =
        Row::throughput(&format!("storage: ActorStore {op} (64 B)"), "-", n, store).rate_against(&baseline, GOAL);
    baseline.note = "baseline".into();
    [store, baseline]
}
