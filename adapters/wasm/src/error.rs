//! What can go wrong running a guest.

use actr_core::ActrError;
use actr_core::abi::AbiError;

/// A failed load or turn. Every variant but [`WasmError::Load`],
/// [`WasmError::Refused`] and [`WasmError::Busy`] poisons the instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WasmError {
    /// The binary is not a module we run: invalid, too large, or not speaking the ABI.
    #[error("wasm load: {0}")]
    Load(String),
    /// The turn used up its fuel.
    #[error("wasm: out of fuel ({fuel} units per turn)")]
    OutOfFuel { fuel: u64 },
    /// The guest tried to grow its memory past the cap.
    #[error("wasm: memory limit of {limit} bytes")]
    MemoryLimit { limit: usize },
    /// Any other trap: `unreachable`, a guest panic, a bad memory access.
    #[error("wasm trap: {0}")]
    Trap(String),
    /// The guest broke the ABI: a bad buffer from `actr_alloc`, an error
    /// status from `actr_recv`.
    #[error("wasm guest: {0}")]
    Guest(String),
    /// The host refused the input without running the guest (a request id
    /// already in flight, too many requests); the instance is unharmed.
    #[error("wasm host: {0}")]
    Refused(String),
    /// A new request found the instance's requests in flight at their limit
    /// ([`crate::WasmLimits::max_requests`]); the instance is unharmed.
    #[error("wasm host: busy, {in_flight} requests in flight")]
    Busy { in_flight: usize },
    /// The instance trapped before; build a new one.
    #[error("wasm: the instance trapped before and must be rebuilt")]
    Poisoned,
}

impl WasmError {
    /// Whether the instance is unusable after it.
    pub fn poisons(&self) -> bool {
        !matches!(self, WasmError::Load(_) | WasmError::Refused(_) | WasmError::Busy { .. })
    }
}

impl From<AbiError> for WasmError {
    fn from(e: AbiError) -> Self {
        WasmError::Guest(e.to_string())
    }
}

impl From<WasmError> for ActrError {
    fn from(e: WasmError) -> Self {
        match e {
            WasmError::OutOfFuel { .. } | WasmError::MemoryLimit { .. } | WasmError::Busy { .. } => {
                ActrError::ResourceExhausted(e.to_string())
            }
            WasmError::Load(_) => ActrError::InvalidArgument(e.to_string()),
            other => ActrError::Internal(other.to_string()),
        }
    }
}
