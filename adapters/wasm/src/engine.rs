//! Compiling and caching modules, and checking that they speak the ABI.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actr_core::abi;
use actr_core::platform::{CoreCrypto, CryptoProvider};
use wasmi::{Config, Engine, ExternType, FuncType, Module, ValType};

use crate::error::WasmError;
use crate::instance::WasmInstance;
use crate::limits::WasmLimits;

/// Compiles modules once per binary hash and makes instances of them.
/// Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct WasmEngine {
    engine: Engine,
    limits: WasmLimits,
    cache: Arc<Mutex<HashMap<[u8; 32], Module>>>,
}

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine").field("limits", &self.limits).field("cached", &self.cached()).finish()
    }
}

impl Default for WasmEngine {
    fn default() -> Self {
        Self::new(WasmLimits::default())
    }
}

impl WasmEngine {
    pub fn new(limits: WasmLimits) -> Self {
        let mut config = Config::default();
        config.consume_fuel(true);
        Self { engine: Engine::new(&config), limits, cache: Arc::default() }
    }

    pub fn limits(&self) -> &WasmLimits {
        &self.limits
    }

    /// How many compiled modules the cache holds.
    pub fn cached(&self) -> usize {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The module of `binary`: from the cache when a binary with the same
    /// SHA-256 was loaded before, else compiled (on the calling thread) and
    /// checked against the ABI.
    ///
    /// Errors: [`WasmError::Load`] for a binary over the size limit, one
    /// that does not validate, or one whose imports or exports are not the
    /// ABI's.
    pub fn load(&self, binary: &[u8]) -> Result<WasmModule, WasmError> {
        if binary.len() > self.limits.max_module_bytes {
            return Err(WasmError::Load(format!(
                "binary of {} bytes, the limit is {}",
                binary.len(),
                self.limits.max_module_bytes
            )));
        }
        let hash = CoreCrypto.sha256(binary);
        if let Some(module) = self.lock().get(&hash) {
            return Ok(self.wrap(module.clone(), hash));
        }
        let module = Module::new(&self.engine, binary).map_err(|e| WasmError::Load(e.to_string()))?;
        check_abi(&module)?;
        let mut cache = self.lock();
        if cache.len() >= self.limits.max_cached_modules {
            // Any one: modules are cheap to recompile and the cache is only a shortcut.
            if let Some(old) = cache.keys().next().copied() {
                cache.remove(&old);
            }
        }
        cache.insert(hash, module.clone());
        Ok(self.wrap(module, hash))
    }

    fn wrap(&self, module: Module, hash: [u8; 32]) -> WasmModule {
        WasmModule { engine: self.engine.clone(), module, hash, limits: self.limits }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Module>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A compiled module that speaks the ABI.
#[derive(Clone)]
pub struct WasmModule {
    pub(crate) engine: Engine,
    pub(crate) module: Module,
    hash: [u8; 32],
    pub(crate) limits: WasmLimits,
}

impl std::fmt::Debug for WasmModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex: String = self.hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        f.debug_struct("WasmModule").field("sha256", &hex).finish_non_exhaustive()
    }
}

impl WasmModule {
    /// SHA-256 of the binary.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    pub fn limits(&self) -> &WasmLimits {
        &self.limits
    }

    /// A fresh instance with the engine's limits.
    pub fn instantiate(&self) -> Result<WasmInstance, WasmError> {
        WasmInstance::new(self)
    }
}

fn check_abi(module: &Module) -> Result<(), WasmError> {
    let bad = |m: String| Err(WasmError::Load(m));
    let send = FuncType::new([ValType::I32, ValType::I32], [ValType::I32]);
    let mut imports = 0;
    for import in module.imports() {
        imports += 1;
        let ok = import.module() == abi::IMPORT_MODULE
            && import.name() == abi::IMPORT_SEND
            && matches!(import.ty(), ExternType::Func(f) if *f == send);
        if !ok {
            return bad(format!(
                "imports {}.{} ({:?}); a guest may import only {}.{} (i32, i32) -> i32",
                import.module(),
                import.name(),
                import.ty(),
                abi::IMPORT_MODULE,
                abi::IMPORT_SEND
            ));
        }
    }
    if imports == 0 {
        return bad(format!("does not import {}.{}", abi::IMPORT_MODULE, abi::IMPORT_SEND));
    }
    let wanted: [(&str, Option<FuncType>); 5] = [
        (abi::EXPORT_MEMORY, None),
        (abi::EXPORT_RECV, Some(send.clone())),
        (abi::EXPORT_ALLOC, Some(FuncType::new([ValType::I32], [ValType::I32]))),
        (abi::EXPORT_FREE, Some(FuncType::new([ValType::I32, ValType::I32], []))),
        (abi::EXPORT_VERSION, Some(FuncType::new([], [ValType::I32]))),
    ];
    for (name, ty) in wanted {
        let Some(export) = module.exports().find(|e| e.name() == name) else {
            return bad(format!("does not export {name}"));
        };
        let ok = match (&ty, export.ty()) {
            (None, ExternType::Memory(_)) => true,
            (Some(want), ExternType::Func(got)) => want == got,
            _ => false,
        };
        if !ok {
            return bad(format!("exports {name} as {:?}, the ABI wants {:?}", export.ty(), ty));
        }
    }
    Ok(())
}
