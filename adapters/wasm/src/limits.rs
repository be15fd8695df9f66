//! What one WASM actor may use.

/// Bounds of every instance an engine makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WasmLimits {
    /// Fuel for one turn (about one unit per instruction); running out traps.
    pub fuel_per_turn: u64,
    /// Linear memory of one instance, in bytes; growing past it traps.
    pub max_memory_bytes: usize,
    /// Largest binary the engine compiles.
    pub max_module_bytes: usize,
    /// Frames a guest may send in one turn.
    pub max_frames_per_turn: usize,
    /// Bytes a guest may send in one turn, all frames together.
    pub max_turn_bytes: usize,
    /// Operations with a result an instance may have outstanding.
    pub max_pending_ops: usize,
    /// Requests in flight on one instance.
    pub max_requests: usize,
    /// Compiled modules the engine keeps.
    pub max_cached_modules: usize,
}

impl Default for WasmLimits {
    fn default() -> Self {
        Self {
            fuel_per_turn: 50_000_000,
            max_memory_bytes: 64 * 1024 * 1024,
            max_module_bytes: 64 * 1024 * 1024,
            max_frames_per_turn: 1024,
            max_turn_bytes: 16 * 1024 * 1024,
            max_pending_ops: 256,
            max_requests: 64,
            max_cached_modules: 64,
        }
    }
}

impl WasmLimits {
    pub fn with_fuel_per_turn(mut self, fuel: u64) -> Self {
        self.fuel_per_turn = fuel;
        self
    }

    pub fn with_max_memory_bytes(mut self, bytes: usize) -> Self {
        self.max_memory_bytes = bytes;
        self
    }

    pub fn with_max_module_bytes(mut self, bytes: usize) -> Self {
        self.max_module_bytes = bytes;
        self
    }

    pub fn with_max_requests(mut self, n: usize) -> Self {
        self.max_requests = n;
        self
    }
}
