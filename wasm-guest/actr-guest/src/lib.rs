//! actr-guest: write actr actors in Rust, compile them to
//! `wasm32-unknown-unknown`, and run them in actr-wasm.
//!
//! An actor is a type that implements [`Actor`]; [`actor!`] turns it into a
//! module that speaks the WASM actor ABI (docs/wasm-abi.md): it defines the
//! exports `actr_recv`, `actr_alloc`, `actr_free` and `actr_abi_version` in
//! your crate, and the SDK makes the one import, `actr.hyper_send`.
//!
//! ```
//! use actr_guest::{Actor, ActrError, Context, Request};
//!
//! struct Greeter;
//!
//! impl Actor for Greeter {
//!     fn new() -> Self {
//!         Greeter
//!     }
//!
//!     async fn handle(&self, ctx: Context, req: Request) -> Result<Vec<u8>, ActrError> {
//!         match req.route_key.as_str() {
//!             "greeter.Greeter/Hello" => {
//!                 let seen = ctx.storage().get("seen").await?.is_some();
//!                 ctx.storage().set("seen", b"1".as_slice()).await?;
//!                 Ok(if seen { b"hello again".to_vec() } else { b"hello".to_vec() })
//!             }
//!             other => Err(ActrError::UnknownRoute(other.into())),
//!         }
//!     }
//! }
//!
//! actr_guest::actor!(Greeter);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-unknown-unknown` with `panic = "abort"`.
//!
//! # How a handler runs
//!
//! The guest never blocks. Each host input (`actr_recv`, one *turn*) is a
//! request or the result of an operation the guest asked for:
//!
//! 1. a request spawns a task that runs [`Actor::handle`]; a result wakes the
//!    task that waits for it;
//! 2. the executor polls every ready task until none is ready, and the turn
//!    ends;
//! 3. an operation ([`Context::call`], [`Storage::get`], …) sends a frame
//!    through `hyper_send` and parks its task until its result comes in a
//!    later turn;
//! 4. when `handle` returns, the SDK sends the reply (none for a tell).
//!
//! State that must outlive the instance belongs in [`Context::storage`]:
//! the host rebuilds an instance after a trap, and its memory is lost.
//!
//! On other targets than wasm32 the exports are not defined and frames go to
//! a test sender: [`testing::TestHost`] drives an actor in unit tests.

#![deny(unsafe_code)]

mod context;
mod executor;
#[allow(unsafe_code)]
mod ffi;
mod host;
pub mod log;
mod runtime;
pub mod sync;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

use std::future::Future;

pub use actr_core::abi;
pub use actr_core::platform::KvOp;
pub use actr_core::{ActrError, ActrId, ActrType, Dest, Realm};
pub use context::{Context, Storage};
pub use executor::MAX_TASKS;

/// Handlers in flight on this instance (requests not yet replied to, the
/// caller's own included).
pub fn tasks_in_flight() -> usize {
    runtime::live_tasks()
}

/// An actor: one value per instance, created on the first request, that
/// handles every request of the instance.
///
/// Handlers of concurrent requests interleave at their `.await` points (one
/// thread, no preemption), so `&self` state needs a `Cell`/`RefCell` and a
/// read-modify-write across awaits needs [`sync::Mutex`].
///
/// `handle` may be written as an `async fn` in the impl.
pub trait Actor: 'static {
    /// Builds the actor; called once per instance, before its first request.
    fn new() -> Self;

    /// Handles one request or tell. The `Ok` bytes or the error are the
    /// reply; for a tell they are dropped.
    fn handle(&self, ctx: Context, req: Request) -> impl Future<Output = Result<Vec<u8>, ActrError>>;
}

/// One request (or tell) as the host delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What is asked for, e.g. `echo.Echo/Say`.
    pub route_key: String,
    pub payload: Vec<u8>,
    /// A one-way message: its result goes nowhere.
    pub tell: bool,
}

/// The raw ABI, for tests of the host.
pub mod raw {
    /// Calls the `actr.hyper_send` import with any range, well-formed or not,
    /// and returns its status. The host checks the range, so no value can
    /// harm the guest. On other targets than wasm32 it returns
    /// `BAD_POINTER`.
    pub fn hyper_send(ptr: i32, len: i32) -> i32 {
        crate::ffi::hyper_send_raw(ptr, len)
    }
}

/// Defines the ABI exports for an [`Actor`] type in the calling crate.
///
/// Invoke it once, at the top level of the `cdylib` crate. On wasm32 it
/// defines `actr_recv`, `actr_alloc`, `actr_free` and `actr_abi_version`;
/// elsewhere it only checks that the type is an [`Actor`].
#[macro_export]
macro_rules! actor {
    ($actor:ty) => {
        const _: () = $crate::__export::assert_actor::<$actor>();

        /// ABI export: one host frame at `ptr..ptr + len`, handed over.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn actr_recv(ptr: i32, len: i32) -> i32 {
            $crate::__export::recv::<$actor>(ptr, len)
        }

        /// ABI export: a buffer of `len` bytes for the host, or 0.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn actr_alloc(len: i32) -> i32 {
            $crate::__export::alloc(len)
        }

        /// ABI export: gives back a buffer from `actr_alloc`.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn actr_free(ptr: i32, len: i32) {
            $crate::__export::free(ptr, len)
        }

        /// ABI export: the ABI version this module speaks.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn actr_abi_version() -> i32 {
            $crate::__export::ABI_VERSION
        }
    };
}

/// What [`actor!`] expands to; not an API.
#[doc(hidden)]
pub mod __export {
    #[cfg(target_arch = "wasm32")]
    pub use crate::ffi::{alloc, free, recv};

    pub const ABI_VERSION: i32 = actr_core::abi::ABI_VERSION;

    pub const fn assert_actor<A: crate::Actor>() {}
}
