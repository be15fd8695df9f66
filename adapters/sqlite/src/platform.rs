//! [`NativePlatform`]: the host services of a node whose actors keep their
//! data under one directory.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actr_core::ActrType;
use actr_core::platform::{KvStore, PlatformError, PlatformProvider};

use crate::files::{create_private_dir, io_error, write_new_private_file};
use crate::{ActorStore, actor_store_path};

/// File under the data directory that holds the instance uid.
pub const INSTANCE_UID_FILE: &str = "instance-uid";
/// Most actor stores one [`NativePlatform`] keeps open (each holds up to
/// three file descriptors); one more type is a [`PlatformError::Limit`].
pub const MAX_OPEN_STORES: usize = 256;
/// Length of an instance uid: 16 random bytes in lowercase hex.
const UID_HEX_LEN: usize = 32;

/// A [`PlatformProvider`] over a data directory: `instance-uid` and
/// `actors/{manufacturer}/{name}/{version}.sqlite`. Nothing is created until
/// first asked for; the directory is created with mode 0700, files with 0600.
pub struct NativePlatform {
    data_dir: PathBuf,
    instance_uid: Mutex<Option<String>>,
    stores: Mutex<HashMap<ActrType, Arc<ActorStore>>>,
}

impl NativePlatform {
    /// Touches nothing on disk.
    pub fn new(data_dir: impl Into<PathBuf>) -> NativePlatform {
        NativePlatform { data_dir: data_dir.into(), instance_uid: Mutex::new(None), stores: Mutex::new(HashMap::new()) }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl PlatformProvider for NativePlatform {
    /// Read from `instance-uid`, or created there once (32 random hex
    /// characters) if the file does not exist. Two processes creating it at
    /// once agree: the file appears whole, by a hard link that cannot
    /// replace an existing one.
    fn instance_uid(&self) -> Result<String, PlatformError> {
        let mut cached = lock(&self.instance_uid);
        if let Some(uid) = cached.as_ref() {
            return Ok(uid.clone());
        }
        let uid = load_or_create_uid(&self.data_dir)?;
        *cached = Some(uid.clone());
        Ok(uid)
    }

    /// Opened on first use and kept: later calls for the same type return
    /// the same store.
    fn actor_store(&self, actr_type: &ActrType) -> Result<Arc<dyn KvStore>, PlatformError> {
        let path = actor_store_path(&self.data_dir, actr_type)?;
        let mut stores = lock(&self.stores);
        if let Some(store) = stores.get(actr_type) {
            return Ok(store.clone());
        }
        if stores.len() >= MAX_OPEN_STORES {
            return Err(PlatformError::Limit(format!("{MAX_OPEN_STORES} actor stores are open, the limit")));
        }
        let store = Arc::new(ActorStore::open(&path)?);
        stores.insert(actr_type.clone(), store.clone());
        Ok(store)
    }
}

impl std::fmt::Debug for NativePlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativePlatform").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

/// Nothing a holder of these locks does can leave the value half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn load_or_create_uid(data_dir: &Path) -> Result<String, PlatformError> {
    let path = data_dir.join(INSTANCE_UID_FILE);
    if let Some(uid) = read_uid(&path)? {
        return Ok(uid);
    }
    create_private_dir(data_dir)?;
    let uid = random_uid()?;
    // Written whole under a name of its own, then linked into place: a
    // reader never sees a partial file, and a concurrent creator's link wins
    // or loses as a unit.
    let staged = data_dir.join(format!("{INSTANCE_UID_FILE}.{uid}.tmp"));
    write_new_private_file(&staged, format!("{uid}\n").as_bytes())?;
    let linked = std::fs::hard_link(&staged, &path);
    let _ = std::fs::remove_file(&staged);
    match linked {
        Ok(()) => sync_dir(data_dir),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error("cannot create", &path, e)),
    }
    read_uid(&path)?.ok_or_else(|| PlatformError::Io(format!("{} vanished after creation", path.display())))
}

/// The uid in `path`, `None` if there is no such file.
fn read_uid(path: &Path) -> Result<Option<String>, PlatformError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("cannot open", path, e)),
    };
    let mut text = String::new();
    // Bounded: one more byte than a uid and its newline shows it is too long.
    file.take(UID_HEX_LEN as u64 + 2).read_to_string(&mut text).map_err(|e| io_error("cannot read", path, e))?;
    let uid = text.strip_suffix('\n').unwrap_or(&text);
    if uid.len() != UID_HEX_LEN || !uid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(PlatformError::Storage(format!(
            "{} does not hold {UID_HEX_LEN} lowercase hex characters",
            path.display()
        )));
    }
    Ok(Some(uid.to_owned()))
}

fn random_uid() -> Result<String, PlatformError> {
    let mut bytes = [0u8; UID_HEX_LEN / 2];
    getrandom::fill(&mut bytes)
        .map_err(|e| PlatformError::Other(format!("no randomness for the instance uid: {e}")))?;
    Ok(bytes.iter().fold(String::with_capacity(UID_HEX_LEN), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// Makes the new link durable. Best effort: the link exists either way.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
