//! `ActorStore` against the `KvStore` contract, on files and in memory.

mod common;

use actr_core::platform::{KvOp, KvStore, MAX_BATCH_OPS, MAX_KEY_BYTES, MAX_LIST_KEYS, MAX_VALUE_BYTES, PlatformError};
use actr_sqlite::ActorStore;
use common::Scratch;

fn set(key: &str, value: &[u8]) -> KvOp {
    KvOp::Set { key: key.into(), value: value.to_vec() }
}

fn fill(store: &ActorStore, keys: &[&str]) {
    for key in keys {
        store.set(key, key.as_bytes()).unwrap();
    }
}

#[test]
fn values_persist_across_reopen() {
    let dir = Scratch::new("persist");
    let path = dir.path().join("a/b/store.sqlite");
    {
        let store = ActorStore::open(&path).unwrap();
        assert_eq!(store.path(), Some(path.as_path()));
        store.set("kept", b"one").unwrap();
        store.set("replaced", b"old").unwrap();
        store.set("replaced", b"new").unwrap();
        store.set("removed", b"x").unwrap();
        assert!(store.delete("removed").unwrap());
    }
    let store = ActorStore::open(&path).unwrap();
    assert_eq!(store.get("kept").unwrap(), Some(b"one".to_vec()));
    assert_eq!(store.get("replaced").unwrap(), Some(b"new".to_vec()));
    assert_eq!(store.get("removed").unwrap(), None);
    assert_eq!(store.list("", 10).unwrap(), ["kept", "replaced"]);
}

#[test]
fn an_empty_value_reads_back_empty_not_missing() {
    let store = ActorStore::open_in_memory().unwrap();
    store.set("empty", b"").unwrap();
    assert_eq!(store.get("empty").unwrap(), Some(Vec::new()));
    assert_eq!(store.get("absent").unwrap(), None);
}

#[test]
fn delete_returns_whether_it_removed() {
    let store = ActorStore::open_in_memory().unwrap();
    assert!(!store.delete("k").unwrap());
    store.set("k", b"v").unwrap();
    assert!(store.delete("k").unwrap());
    assert!(!store.delete("k").unwrap());
    assert_eq!(store.get("k").unwrap(), None);
}

#[test]
fn list_takes_percent_underscore_and_backslash_literally() {
    let store = ActorStore::open_in_memory().unwrap();
    fill(&store, &["a%b", "a%c", "axb", "a_b", "azb", "a\\b", "a\\\\b", "ab", "a"]);
    assert_eq!(store.list("a%", 10).unwrap(), ["a%b", "a%c"]);
    assert_eq!(store.list("a_", 10).unwrap(), ["a_b"]);
    assert_eq!(store.list("a\\", 10).unwrap(), ["a\\\\b", "a\\b"]);
    assert_eq!(store.list("a\\\\", 10).unwrap(), ["a\\\\b"]);
    assert_eq!(store.list("%", 10).unwrap(), Vec::<String>::new());
    assert_eq!(store.list("_", 10).unwrap(), Vec::<String>::new());
}

#[test]
fn list_is_case_sensitive() {
    let store = ActorStore::open_in_memory().unwrap();
    fill(&store, &["User:1", "user:1", "user:2", "USER:3", "Ünit", "ünit"]);
    assert_eq!(store.list("user:", 10).unwrap(), ["user:1", "user:2"]);
    assert_eq!(store.list("User", 10).unwrap(), ["User:1"]);
    assert_eq!(store.list("USER", 10).unwrap(), ["USER:3"]);
    assert_eq!(store.list("ü", 10).unwrap(), ["ünit"]);
}

#[test]
fn list_matches_nul_and_the_highest_code_point_exactly() {
    let store = ActorStore::open_in_memory().unwrap();
    fill(&store, &["a", "a\0", "a\0b", "a\u{1}", "\u{10FFFF}", "\u{10FFFF}x", "\u{10FFFF}\u{10FFFF}", "b"]);
    assert_eq!(store.list("a\0", 10).unwrap(), ["a\0", "a\0b"]);
    assert_eq!(store.list("\u{10FFFF}", 10).unwrap(), ["\u{10FFFF}", "\u{10FFFF}x", "\u{10FFFF}\u{10FFFF}"]);
    assert_eq!(store.list("\u{10FFFF}\u{10FFFF}", 10).unwrap(), ["\u{10FFFF}\u{10FFFF}"]);
}

#[test]
fn list_is_sorted_and_honours_the_limit() {
    let store = ActorStore::open_in_memory().unwrap();
    fill(&store, &["p/3", "p/1", "q/1", "p/2", "o/9", "p/10"]);
    assert_eq!(store.list("p/", 10).unwrap(), ["p/1", "p/10", "p/2", "p/3"]);
    assert_eq!(store.list("p/", 2).unwrap(), ["p/1", "p/10"]);
    assert_eq!(store.list("p/", 0).unwrap(), Vec::<String>::new());
    assert_eq!(store.list("", 100).unwrap(), ["o/9", "p/1", "p/10", "p/2", "p/3", "q/1"]);
}

#[test]
fn list_limit_is_capped_at_max_list_keys() {
    let store = ActorStore::open_in_memory().unwrap();
    let keys: Vec<String> = (0..MAX_LIST_KEYS + 5).map(|i| format!("k{i:06}")).collect();
    for chunk in keys.chunks(MAX_BATCH_OPS) {
        let ops: Vec<KvOp> = chunk.iter().map(|k| set(k, b"")).collect();
        store.batch(&ops).unwrap();
    }
    let listed = store.list("k", usize::MAX).unwrap();
    assert_eq!(listed.len(), MAX_LIST_KEYS);
    assert_eq!(listed[..], keys[..MAX_LIST_KEYS]);
}

#[test]
fn list_prefix_over_the_key_limit_is_a_limit_error() {
    let store = ActorStore::open_in_memory().unwrap();
    assert!(store.list(&"p".repeat(MAX_KEY_BYTES), 1).unwrap().is_empty());
    assert!(matches!(store.list(&"p".repeat(MAX_KEY_BYTES + 1), 1), Err(PlatformError::Limit(_))));
}

#[test]
fn batch_applies_sets_and_deletes_in_order() {
    let store = ActorStore::open_in_memory().unwrap();
    store.set("gone", b"x").unwrap();
    let ops = [set("a", b"1"), set("b", b"2"), KvOp::Delete { key: "gone".into() }, set("a", b"3")];
    store.batch(&ops).unwrap();
    assert_eq!(store.get("a").unwrap(), Some(b"3".to_vec()));
    assert_eq!(store.get("b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.get("gone").unwrap(), None);
    store.batch(&[]).unwrap();
}

#[test]
fn batch_with_an_over_limit_third_value_writes_nothing() {
    let store = ActorStore::open_in_memory().unwrap();
    store.set("kept", b"before").unwrap();
    let ops = [set("a", b"1"), set("kept", b"after"), set("c", &vec![0; MAX_VALUE_BYTES + 1]), set("d", b"4")];
    assert!(matches!(store.batch(&ops), Err(PlatformError::Limit(_))));
    assert_eq!(store.list("", 10).unwrap(), ["kept"]);
    assert_eq!(store.get("kept").unwrap(), Some(b"before".to_vec()));
}

/// A trigger installed through a second connection makes SQLite itself
/// refuse the third write, after two have run inside the transaction.
#[test]
fn batch_failing_inside_sqlite_rolls_back_every_op() {
    let dir = Scratch::new("batch-sqlite-failure");
    let path = dir.path().join("store.sqlite");
    let store = ActorStore::open(&path).unwrap();
    store.set("kept", b"before").unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON kv WHEN NEW.key = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poison refused'); END;",
        )
        .unwrap();
    let ops = [set("a", b"1"), KvOp::Delete { key: "kept".into() }, set("poison", b"p"), set("d", b"4")];
    let err = store.batch(&ops).unwrap_err();
    assert!(matches!(&err, PlatformError::Storage(m) if m.contains("poison refused")), "{err:?}");
    assert_eq!(store.list("", 10).unwrap(), ["kept"]);
    assert_eq!(store.get("kept").unwrap(), Some(b"before".to_vec()));
    // The connection is not left inside the failed transaction.
    store.batch(&[set("a", b"1")]).unwrap();
    assert_eq!(ActorStore::open(&path).unwrap().get("a").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn key_and_value_limits_are_typed_errors() {
    let store = ActorStore::open_in_memory().unwrap();
    let long_key = "k".repeat(MAX_KEY_BYTES + 1);
    let limit = |r: Result<(), PlatformError>| matches!(r, Err(PlatformError::Limit(_)));
    assert!(limit(store.set("", b"v")));
    assert!(limit(store.set(&long_key, b"v")));
    assert!(limit(store.set("k", &vec![0; MAX_VALUE_BYTES + 1])));
    assert!(limit(store.get("").map(drop)));
    assert!(limit(store.get(&long_key).map(drop)));
    assert!(limit(store.delete("").map(drop)));
    assert!(limit(store.delete(&long_key).map(drop)));
    assert!(limit(store.batch(&[KvOp::Delete { key: String::new() }])));
    assert!(limit(store.batch(&vec![KvOp::Delete { key: "k".into() }; MAX_BATCH_OPS + 1])));
    assert!(store.list("", 10).unwrap().is_empty(), "nothing was written");

    let max_key = "k".repeat(MAX_KEY_BYTES);
    store.set(&max_key, &vec![7; MAX_VALUE_BYTES]).unwrap();
    assert_eq!(store.get(&max_key).unwrap().map(|v| v.len()), Some(MAX_VALUE_BYTES));
    store.batch(&vec![KvOp::Delete { key: "k".into() }; MAX_BATCH_OPS]).unwrap();
}

#[cfg(unix)]
#[test]
fn files_are_0600_and_dirs_0700() {
    use common::mode;
    let dir = Scratch::new("modes");
    let path = dir.path().join("x/y/store.sqlite");
    let store = ActorStore::open(&path).unwrap();
    store.set("k", b"v").unwrap();
    for d in [dir.path(), &dir.path().join("x"), &dir.path().join("x/y")] {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        assert_eq!(mode(file.as_ref()), 0o600, "{file}");
    }
}

#[cfg(unix)]
#[test]
fn an_existing_wider_file_is_narrowed_to_0600_and_a_symlink_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Scratch::new("narrow");
    std::fs::create_dir_all(dir.path()).unwrap();
    let path = dir.path().join("store.sqlite");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    ActorStore::open(&path).unwrap().set("k", b"v").unwrap();
    assert_eq!(common::mode(&path), 0o600);

    let link = dir.path().join("link.sqlite");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(matches!(ActorStore::open(&link), Err(PlatformError::Io(_))));
}

#[test]
fn a_file_that_is_not_a_database_is_a_storage_error() {
    let dir = Scratch::new("not-a-db");
    std::fs::create_dir_all(dir.path()).unwrap();
    let path = dir.path().join("store.sqlite");
    std::fs::write(&path, vec![0x5a; 4096]).unwrap();
    assert!(matches!(ActorStore::open(&path), Err(PlatformError::Storage(_))));
}
