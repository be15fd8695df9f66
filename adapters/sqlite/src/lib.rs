//! actr-sqlite: the host's storage for actors, over SQLite.
//!
//! - [`ActorStore`]: a [`KvStore`](actr_core::platform::KvStore) in one SQLite
//!   file (WAL, `synchronous=NORMAL`), every key and value checked against the
//!   core's limits before SQLite sees it.
//! - [`actor_store_path`]: the file of one actor type under a data directory.
//! - [`NativePlatform`]: a [`PlatformProvider`](actr_core::platform::PlatformProvider)
//!   with a stable instance uid and one cached store per actor type.
//!
//! Calls block on file I/O; an async caller runs them on its blocking pool.
//!
//! ```no_run
//! use actr_core::platform::{KvStore, PlatformProvider};
//! use actr_sqlite::NativePlatform;
//!
//! let platform = NativePlatform::new("/var/lib/actr");
//! let store = platform.actor_store(&"acme:echo:1.0.0".parse()?)?;
//! store.set("greeting", b"hello")?;
//! assert_eq!(store.get("greeting")?, Some(b"hello".to_vec()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod files;
mod path;
mod platform;
#[doc(hidden)]
pub mod sql;
mod store;

pub use path::{ACTORS_DIR, actor_store_path};
pub use platform::{INSTANCE_UID_FILE, MAX_OPEN_STORES, NativePlatform};
pub use store::ActorStore;
