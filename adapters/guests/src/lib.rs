//! The example WASM actors of `wasm-guest/`, as bytes to load.
//!
//! This crate's build script builds the wasm-guest workspace for
//! `wasm32-unknown-unknown` in release (with a nested cargo, into
//! `<target dir>/wasm-guest`) and embeds the four modules. Each speaks the
//! WASM actor ABI (docs/wasm-abi.md): it exports `actr_recv`, `actr_alloc`,
//! `actr_free`, `actr_abi_version` and `memory`, and imports only
//! `actr.hyper_send`.
//!
//! Building it needs the wasm32 target (`rustup target add
//! wasm32-unknown-unknown`; rust-toolchain.toml lists it).

/// Answers every route with the payload it got; a tell gets no reply. Its
/// type comes from the package manifest.
pub const ECHO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/echo.wasm"));

/// A u64 in storage under `count`: `counter.Counter/Increment` adds 1 and
/// replies with the new value, `counter.Counter/Get` with the value (0 when
/// absent), both 8 bytes little-endian; other routes are `UnknownRoute`.
pub const COUNTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/counter.wasm"));

/// `relay.Relay/Forward` with `"<manufacturer>:<name>:<version>\n<body>"`:
/// discovers the first actor of that type, calls its `echo.Echo/Say` with
/// the body (5 s timeout) and replies with its answer or its error; other
/// routes are `UnknownRoute`.
pub const RELAY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/relay.wasm"));

/// Breaks the rules on request, for tests of the host's limits: `spin`
/// (runs out of fuel), `bomb` (allocates without end), `bad_send` (calls
/// `hyper_send(0x7fff_fff0, 4096)` and replies with the status as decimal
/// text), `panic` (traps), `hang` (never replies); other routes echo.
pub const MISBEHAVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/misbehave.wasm"));

/// Every module with its name.
pub const ALL: [(&str, &[u8]); 4] = [("echo", ECHO), ("counter", COUNTER), ("relay", RELAY), ("misbehave", MISBEHAVE)];
