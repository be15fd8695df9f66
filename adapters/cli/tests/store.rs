//! The registry database: what must survive a restart does.

mod common;

use actr_cli::serve::{RegistryStore, StoreError};
use actr_core::Realm;
use actr_core::ais::{AisConfig, AisReply, AisService, RealmConfig};
use common::{TempDir, register_request};

#[test]
fn key_realms_and_serial_survive_reopen() {
    let dir = TempDir::new("store-reopen");
    let (key, realm) = {
        let mut store = RegistryStore::open(dir.path()).unwrap();
        assert_eq!(store.next_serial().unwrap(), 1, "a new registry starts at serial 1");
        assert!(store.realms().unwrap().is_empty());
        let key = store.signing_key().unwrap();
        assert_eq!(key.key_id, 1);
        assert_eq!(store.signing_key().unwrap(), key, "the key is created once");
        let realm = RealmConfig::new(Realm(3), Some("pw".into()));
        store.upsert_realm(&realm).unwrap();
        store.upsert_realm(&RealmConfig::new(Realm(1), None)).unwrap();
        store.save_next_serial(42).unwrap();
        (key, realm)
    };
    let mut store = RegistryStore::open(dir.path()).unwrap();
    assert_eq!(store.signing_key().unwrap(), key);
    assert_eq!(store.realms().unwrap(), vec![RealmConfig::new(Realm(1), None), realm]);
    assert_eq!(store.next_serial().unwrap(), 42);
}

#[test]
fn realm_upsert_replaces_the_secret() {
    let dir = TempDir::new("store-realm");
    let store = RegistryStore::open(dir.path()).unwrap();
    store.upsert_realm(&RealmConfig::new(Realm(2), Some("old".into()))).unwrap();
    store.upsert_realm(&RealmConfig::new(Realm(2), None)).unwrap();
    assert_eq!(store.realms().unwrap(), vec![RealmConfig::new(Realm(2), None)]);
}

#[test]
fn serial_high_water_mark_never_goes_down() {
    let dir = TempDir::new("store-serial");
    let store = RegistryStore::open(dir.path()).unwrap();
    store.save_next_serial(10).unwrap();
    store.save_next_serial(7).unwrap();
    assert_eq!(store.next_serial().unwrap(), 10);
}

#[test]
fn credential_issued_before_restart_verifies_after() {
    let dir = TempDir::new("store-credential");
    let issued = {
        let mut store = RegistryStore::open(dir.path()).unwrap();
        let key = store.signing_key().unwrap();
        let mut ais = AisService::new(key.seed, key.key_id, store.next_serial().unwrap(), AisConfig::default());
        ais.upsert_realm(RealmConfig::new(Realm(1), None)).unwrap();
        let AisReply::Registered(ok) = ais.handle(1_000, register_request(1, None)) else { panic!("registers") };
        store.save_next_serial(ais.next_serial()).unwrap();
        ok
    };
    let mut store = RegistryStore::open(dir.path()).unwrap();
    let key = store.signing_key().unwrap();
    let mut ais = AisService::new(key.seed, key.key_id, store.next_serial().unwrap(), AisConfig::default());
    issued.credential.verify(&ais.key_ring(), 1_001, Some(&issued.actor)).expect("verifies after restart");
    ais.upsert_realm(RealmConfig::new(Realm(1), None)).unwrap();
    let AisReply::Registered(next) = ais.handle(1_002, register_request(1, None)) else { panic!("registers") };
    assert!(next.actor.serial > issued.actor.serial);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TempDir::new("store-schema");
    drop(RegistryStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("actr-serve.db")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match RegistryStore::open(dir.path()) {
        Err(StoreError::SchemaTooNew { found: 99, supported: 2 }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn data_dir_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("store-modes");
    let data = dir.path().join("nested").join("data");
    let mut store = RegistryStore::open(&data).unwrap();
    store.signing_key().unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(mode(store.path()), 0o600, "database");
    let wal = store.path().with_extension("db-wal");
    assert!(wal.exists(), "WAL mode writes a -wal file");
    assert_eq!(mode(&wal), 0o600, "SQLite gives the WAL the database's mode");
    drop(store);
    // A database left readable by an older build is narrowed on open.
    std::fs::set_permissions(data.join(actr_cli::serve::store::DB_FILE), std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let store = RegistryStore::open(&data).unwrap();
    assert_eq!(mode(store.path()), 0o600);
}

#[test]
fn a_realm_given_without_a_secret_keeps_the_stored_one() {
    use actr_cli::serve::{ServeConfig, Server};
    let dir = TempDir::new("store-keep-secret");
    let data = dir.path().join("data");
    let listen = "127.0.0.1:0".parse().unwrap();
    let mut config = ServeConfig::new(listen, data.clone());
    config.realms = vec![RealmConfig::new(Realm(5), Some("pw".into()))];
    drop(Server::open(config).unwrap());
    let mut config = ServeConfig::new(listen, data.clone());
    config.realms = vec![RealmConfig::new(Realm(5), None)];
    drop(Server::open(config).unwrap());
    let store = RegistryStore::open(&data).unwrap();
    assert_eq!(store.realms().unwrap(), vec![RealmConfig::new(Realm(5), Some("pw".into()))]);
}
