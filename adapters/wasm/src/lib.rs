//! actr-wasm: runs WASM actors on wasmi, the host side of the ABI in
//! `actr_core::abi` (docs/wasm-abi.md).
//!
//! - [`WasmEngine`] compiles modules, checks that they speak the ABI and
//!   nothing else (one import, the five exports), and caches them by the
//!   SHA-256 of their binary.
//! - [`WasmInstance`] is one sandboxed instance: [`WasmInstance::turn`]
//!   hands it one [`HostFrame`] and returns the [`GuestFrame`]s it sent
//!   during that turn. A turn is bounded by fuel, the instance by its memory
//!   cap; a trap poisons the instance ([`WasmInstance::is_poisoned`]) and the
//!   caller builds a new one from the module.
//!
//! The crate does no I/O and owns no thread: whoever runs an instance
//! decides where its turns run, and carries out what the guest asked for.

mod engine;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod instance;
mod limits;

pub use actr_core::abi::{GuestFrame, HostFrame, HostOperation, HostOperationResult, InvocationContext, LogLevel};
pub use engine::{WasmEngine, WasmModule};
pub use error::WasmError;
pub use instance::WasmInstance;
pub use limits::WasmLimits;
