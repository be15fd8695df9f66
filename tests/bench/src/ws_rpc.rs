//! RPC over the node's WebSocket direct link against a raw tungstenite echo
//! over loopback TCP, both with 64-byte messages:
//!
//! - one at a time: `ActrRef::call` to a remote node, against a blocking
//!   tungstenite client sending one message and reading the echo;
//! - pipelined, [`WINDOW`] in flight: concurrent calls, against a client that
//!   keeps [`WINDOW`] messages outstanding.
//!
//! Rounds alternate raw and node; the best of each counts. The ratio is the
//! node's messages per second over the raw echo's (higher is better).

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use actr_driver::bytes::Bytes;
use tungstenite::{Message, WebSocket};

use crate::node_calls::{PAYLOAD, PIPELINED, SEQUENTIAL, WINDOW, measure};
use crate::report::Row;

/// One-way hand-offs timed for the task hop row.
const HOPS: usize = 100_000;

/// Raw and node rounds alternate; see [`crate::node_calls`].
pub fn rows(url: &str) -> Vec<Row> {
    let rates = measure(url, false, raw_echo);
    let raw_one =
        Row::throughput("ws echo 1 at a time: raw tungstenite (baseline)", "threads", SEQUENTIAL, rates.raw_one);
    let raw_window = Row::throughput(
        &format!("ws echo {WINDOW} in flight: raw tungstenite (baseline)"),
        "threads",
        PIPELINED,
        rates.raw_window,
    );
    let goal = format!("msg/s; goal >= 0.9x; {}", rates.carried());
    let hops = crate::node_calls::task_hops(HOPS);
    let per_hop = hops.as_secs_f64() / HOPS as f64 * 1e6;
    let hop_note = format!("{per_hop:.1} µs per hop; a WebSocket call crosses 6 task hops, a WebRTC call 8");
    let hop =
        Row { note: hop_note, ..Row::throughput("task hop: async_channel ping-pong (one way)", "tokio", HOPS, hops) };
    vec![
        Row::throughput("ws call 1 at a time: node WebSocket direct", "tokio", SEQUENTIAL, rates.node_one)
            .rate_against(&raw_one, &goal),
        raw_one,
        Row::throughput(
            &format!("ws call {WINDOW} in flight: node WebSocket direct"),
            "tokio",
            PIPELINED,
            rates.node_window,
        )
        .rate_against(&raw_window, &goal),
        raw_window,
        hop,
    ]
}

/// `total` echoes with `window` outstanding, over one loopback connection
/// to a tungstenite echo server thread.
fn raw_echo(total: usize, window: usize) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        let mut ws = tungstenite::accept(tcp).expect("handshake");
        while let Ok(message) = ws.read() {
            if message.is_binary() && ws.send(message).is_err() {
                break;
            }
        }
    });
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/"), tcp).expect("client handshake");
    echo_round(&mut ws, 1000.min(total), window);
    let started = std::time::Instant::now();
    echo_round(&mut ws, total, window);
    let took = started.elapsed();
    let _ = ws.close(None);
    let _ = ws.flush();
    drop(ws);
    let _ = server.join();
    took
}

fn echo_round(ws: &mut WebSocket<TcpStream>, total: usize, window: usize) {
    let payload = Bytes::from(vec![0x5a; PAYLOAD]);
    let mut sent = 0;
    while sent < window.min(total) {
        ws.write(Message::Binary(payload.clone())).expect("write");
        sent += 1;
    }
    ws.flush().expect("flush");
    for _ in 0..total {
        let reply = ws.read().expect("echo");
        assert_eq!(reply.len(), PAYLOAD);
        if sent < total {
            ws.send(Message::Binary(payload.clone())).expect("send");
            sent += 1;
        }
    }
}
