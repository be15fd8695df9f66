//! Misbehave: an actor that breaks the rules on request, for the host's
//! tests of its limits.
//!
//! | route | what it does | what the host should do |
//! |---|---|---|
//! | `spin` | loops forever | run out of fuel |
//! | `bomb` | allocates and touches 1 MiB after 1 MiB, without end | hit the memory limit |
//! | `bad_send` | calls `hyper_send(0x7fff_fff0, 4096)`, replies with the status as text | answer `BAD_POINTER`, keep the instance |
//! | `panic` | panics (a trap, with `panic = "abort"`) | discard the instance |
//! | `hang` | waits for a future that never completes | time the request out, then cancel it |
//! | `tasks` | replies with the handlers in flight, itself included, as text | |
//! | anything else | echoes the payload | |

use std::hint::black_box;

use actr_guest::{Actor, ActrError, Context, Request};

/// The range `bad_send` hands the host: far past any memory the host allows.
const BAD_PTR: i32 = 0x7fff_fff0;
const BAD_LEN: i32 = 4096;

#[derive(Debug)]
pub struct Misbehave;

impl Actor for Misbehave {
    fn new() -> Self {
        Misbehave
    }

    async fn handle(&self, _ctx: Context, req: Request) -> Result<Vec<u8>, ActrError> {
        match req.route_key.as_str() {
            "spin" => spin(),
            "bomb" => bomb(),
            "bad_send" => Ok(actr_guest::raw::hyper_send(BAD_PTR, BAD_LEN).to_string().into_bytes()),
            "panic" => panic!("misbehave: asked to panic"),
            "hang" => std::future::pending().await,
            "tasks" => Ok(actr_guest::tasks_in_flight().to_string().into_bytes()),
            _ => Ok(req.payload),
        }
    }
}

/// Burns fuel until the host stops it; `black_box` keeps the loop from being
/// optimised away.
fn spin() -> ! {
    let mut turns = 0u64;
    loop {
        turns = black_box(turns.wrapping_add(1));
    }
}

/// Allocates until the host's memory limit (or the allocator) stops it.
fn bomb() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Filled with 1s, not 0s, so every page is written.
        hoard.push(black_box(vec![1u8; 1 << 20]));
        black_box(&hoard);
    }
}

actr_guest::actor!(Misbehave);
