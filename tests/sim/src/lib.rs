//! actr-sim: deterministic simulation of actr nodes and the server.
//!
//! The sans-IO machines of `actr-core` run here on a virtual clock over a
//! seeded network model: one [`SimServer`] (the shipped server hub,
//! `actr_core::server::ServerHub`, that `actr serve` runs) and any number
//! of [`SimNode`]s, each
//! the shipped node hub (`actr_core::node::NodeHub`) driven by the
//! simulator in place of a runtime. The network delays,
//! drops, duplicates, reorders and partitions; the server and nodes crash
//! and restart. Same seed, same run, byte for byte: every delivered event
//! feeds a SHA-256 trace hash that a self-check compares across two runs.
//!
//! With [`SimConfig::rtc`], every hub also connects over WebRTC ([`rtc`]):
//! the simulator runs the str0m peers the hubs open, their datagrams on the
//! seeded network, and optionally a direct WebSocket wire between nodes. str0m's own random bytes do not replay; the sequence
//! of events does (see the crate README).
//!
//! # Running a scenario
//!
//! ```
//! use actr_sim::{NetPreset, Sim, SimConfig, Workload, at_secs, check};
//! use actr_core::Duration;
//!
//! let mut sim = Sim::new(SimConfig::new(42).nodes(3).preset(NetPreset::Lossy));
//! sim.set_workload(Workload::Discovery { every: Duration::from_secs(2) });
//! let converged = sim.run_until(at_secs(180), |s| check::all_online(s) && check::discovery_converged(s, at_secs(0)));
//! assert!(converged, "{}", check::describe(&sim));
//! sim.set_workload(Workload::Idle);
//! sim.run_for(Duration::from_secs(10));
//! check::ledgers_ok(&sim).unwrap();
//! ```
//!
//! Scenarios sweep seeds with [`sweep`]: `ACTR_SIM_SEED=S` replays one seed,
//! `ACTR_SIM_SEEDS=N` sets the sweep size, and a failure prints the replay
//! command. `ACTR_SIM_TRACE=1` prints every trace line.
//!
//! # Modules, by role
//!
//! - [`queue`]: virtual clock helpers and the earliest-first event queue.
//! - [`net`]: the network model and its presets.
//! - [`links`]: ordered, severable signaling connections.
//! - [`server`], [`node`]: the server hub, and each node's hub.
//! - [`world`]: [`Sim`], the hub: API, faults, the run loop.
//! - [`workload`]: periodic application requests.
//! - [`ledger`], [`check`]: invariants (exactly-once replies, convergence, relays).
//! - [`trace`], [`sweep`]: the trace hash; seeds and failure reports.
//! - [`rtc`]: str0m peers, the direct wire and the workload for the hubs,
//!   enabled with [`SimConfig::rtc`].

pub mod check;
pub mod config;
mod dispatch;
pub mod event;
pub mod ledger;
pub mod links;
pub mod net;
pub mod node;
pub mod queue;
pub mod rtc;
pub mod server;
pub mod sweep;
pub mod trace;
pub mod workload;
pub mod world;

pub use actr_core;
pub use config::SimConfig;
pub use net::{Endpoint, LinkProfile, NetPreset, Network};
pub use node::{NodeSpec, SimNode};
pub use queue::{UNIX_BASE, at_secs, unix_at};
pub use rtc::{CallLoad, RtcSimConfig, TransferSpec};
pub use server::{Persisted, SimServer};
pub use sweep::{ensure, sweep};
pub use trace::TraceHash;
pub use workload::Workload;
pub use world::Sim;
