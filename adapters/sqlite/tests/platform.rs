//! `NativePlatform` and `actor_store_path`: isolation between actor types,
//! paths that stay in the data directory, the instance uid.

mod common;

use std::path::{Component, Path};
use std::sync::Arc;

use actr_core::ActrType;
use actr_core::platform::{PlatformError, PlatformProvider};
use actr_sqlite::{ACTORS_DIR, INSTANCE_UID_FILE, NativePlatform, actor_store_path};
use common::Scratch;

fn actr_type(manufacturer: &str, name: &str, version: &str) -> ActrType {
    // Built field by field, as a value off the wire would be: not validated.
    ActrType { manufacturer: manufacturer.into(), name: name.into(), version: version.into() }
}

#[test]
fn store_path_is_actors_manufacturer_name_version() {
    let path = actor_store_path(Path::new("/data"), &actr_type("acme", "echo", "1.2.0")).unwrap();
    assert_eq!(path, Path::new("/data/actors/acme/echo/1.2.0.sqlite"));
}

#[test]
fn two_actor_types_get_different_files_and_cannot_see_each_others_keys() {
    let dir = Scratch::new("isolation");
    let platform = NativePlatform::new(dir.path());
    let echo = platform.actor_store(&actr_type("acme", "echo", "1")).unwrap();
    let echo2 = platform.actor_store(&actr_type("acme", "echo", "2")).unwrap();
    let other = platform.actor_store(&actr_type("other", "echo", "1")).unwrap();
    echo.set("secret", b"echo v1").unwrap();
    assert_eq!(echo2.get("secret").unwrap(), None);
    assert_eq!(other.get("secret").unwrap(), None);
    other.set("secret", b"other").unwrap();
    assert_eq!(echo.get("secret").unwrap(), Some(b"echo v1".to_vec()));
    assert!(echo2.list("", 10).unwrap().is_empty());

    let actors = dir.path().join(ACTORS_DIR);
    for file in ["acme/echo/1.sqlite", "acme/echo/2.sqlite", "other/echo/1.sqlite"] {
        assert!(actors.join(file).is_file(), "{file}");
    }
}

#[test]
fn the_same_type_gets_the_same_store_and_it_persists() {
    let dir = Scratch::new("same-store");
    let t = actr_type("acme", "echo", "1");
    {
        let platform = NativePlatform::new(dir.path());
        let a = platform.actor_store(&t).unwrap();
        let b = platform.actor_store(&t).unwrap();
        assert_eq!(Arc::as_ptr(&a) as *const (), Arc::as_ptr(&b) as *const ());
        a.set("k", b"v").unwrap();
    }
    let reopened = NativePlatform::new(dir.path()).actor_store(&t).unwrap();
    assert_eq!(reopened.get("k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn path_derivation_refuses_dot_dot_slash_empty_and_odd_segments() {
    let dir = Scratch::new("bad-segments");
    let platform = NativePlatform::new(dir.path());
    let bad = [
        actr_type("..", "echo", "1"),
        actr_type("acme", "..", "1"),
        actr_type("acme", "echo", ".."),
        actr_type("acme", "echo", "."),
        actr_type("", "echo", "1"),
        actr_type("acme", "", "1"),
        actr_type("acme", "echo", ""),
        actr_type("/etc", "echo", "1"),
        actr_type("acme", "a/b", "1"),
        actr_type("acme", "echo", "../../../escape"),
        actr_type("acme", "echo", "1/2"),
        actr_type("acme", "echo", "..\\..\\escape"),
        actr_type("acme", "echo", "C:escape"),
        actr_type("acme", "echo", "1\0"),
        actr_type("acme", "echo", "1 2"),
        actr_type("acme", "echo", &"9".repeat(65)),
        actr_type("Acme Inc", "echo", "1"),
    ];
    for t in &bad {
        let err = actor_store_path(dir.path(), t).unwrap_err();
        assert!(matches!(err, PlatformError::Limit(_)), "{t:?}: {err:?}");
        assert!(matches!(platform.actor_store(t), Err(PlatformError::Limit(_))), "{t:?}");
    }
    assert!(!dir.path().exists(), "a refused type creates nothing");
}

#[test]
fn derived_paths_never_escape_the_data_dir() {
    let data = Path::new("/srv/actr");
    let actors = data.join(ACTORS_DIR);
    let odd_versions = ["...", ".1", "1..2", "~", "$HOME", "%2e%2e", "*", "-", "1.0.0+build.5", "v1_!#"];
    for version in odd_versions {
        let path = actor_store_path(data, &actr_type("a.b", "c-d_e", version)).unwrap();
        let rest = path.strip_prefix(&actors).unwrap_or_else(|_| panic!("{} escapes", path.display()));
        let parts: Vec<Component<'_>> = rest.components().collect();
        assert_eq!(parts.len(), 3, "{}", path.display());
        assert!(parts.iter().all(|c| matches!(c, Component::Normal(_))), "{}", path.display());
        assert_eq!(path.file_name().unwrap().to_str().unwrap(), format!("{version}.sqlite"));
    }
}

#[test]
fn instance_uid_is_stable_across_two_platforms_on_the_same_dir() {
    let dir = Scratch::new("uid-stable");
    let first = NativePlatform::new(dir.path()).instance_uid().unwrap();
    assert_eq!(first.len(), 32);
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{first}");
    let platform = NativePlatform::new(dir.path());
    assert_eq!(platform.instance_uid().unwrap(), first);
    assert_eq!(platform.instance_uid().unwrap(), first);

    let elsewhere = Scratch::new("uid-elsewhere");
    assert_ne!(NativePlatform::new(elsewhere.path()).instance_uid().unwrap(), first);
}

#[test]
fn platforms_creating_the_uid_at_once_agree_and_leave_no_staging_file() {
    let dir = Scratch::new("uid-race");
    let uids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..8).map(|_| s.spawn(|| NativePlatform::new(dir.path()).instance_uid().unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(uids.iter().all(|u| *u == uids[0]), "{uids:?}");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [INSTANCE_UID_FILE]);
}

#[test]
fn a_corrupt_instance_uid_is_a_storage_error() {
    let dir = Scratch::new("uid-corrupt");
    std::fs::create_dir_all(dir.path()).unwrap();
    let path = dir.path().join(INSTANCE_UID_FILE);
    for bad in ["", "not hex", &"A".repeat(32), &"a".repeat(33), &"a".repeat(1000)] {
        std::fs::write(&path, bad).unwrap();
        let got = NativePlatform::new(dir.path()).instance_uid();
        assert!(matches!(got, Err(PlatformError::Storage(_))), "{bad:?}: {got:?}");
    }
}

#[cfg(unix)]
#[test]
fn platform_files_are_0600_and_dirs_0700() {
    use common::mode;
    let dir = Scratch::new("platform-modes");
    let data = dir.path().join("data");
    let platform = NativePlatform::new(&data);
    platform.instance_uid().unwrap();
    platform.actor_store(&actr_type("acme", "echo", "1")).unwrap().set("k", b"v").unwrap();
    assert_eq!(mode(&data.join(INSTANCE_UID_FILE)), 0o600);
    assert_eq!(mode(&data.join("actors/acme/echo/1.sqlite")), 0o600);
    for d in ["", "actors", "actors/acme", "actors/acme/echo"] {
        assert_eq!(mode(&data.join(d)), 0o700, "{d:?}");
    }
}
