//! The wires, as byte and datagram pumps between sockets and the node task:
//!
//! - to the server: [`server_address`] (where `actr serve` is),
//!   [`ais_http`] (the identity service over HTTP) and [`signaling_socket`]
//!   (the signaling WebSocket), over TLS for an `https://` server:
//!   [`tls_roots`] (what a node trusts) and [`tls_stream`] (rustls driven
//!   over the runtime's TCP stream);
//! - WebSocket framing shared by the server socket and direct links:
//!   [`ws_codec`] (tungstenite over in-memory buffers) and [`ws_pump`];
//! - direct links to other nodes: [`link_pump`] (dial, accept, the node
//!   task's end of a link) over [`ws_link`] (one link's socket, written by
//!   the node task through a bounded buffer);
//! - WebRTC: [`webrtc`] (`RtcPeer`, the str0m bridge), driven per connection
//!   by [`rtc_link`], with what all of a node's connections share in
//!   [`rtc_wire`] and latency-first stream chunks in [`rtc_streams`].

pub mod ais_http;
pub(crate) mod link_pump;
pub(crate) mod rtc_link;
pub(crate) mod rtc_streams;
pub(crate) mod rtc_wire;
pub(crate) mod server_address;
pub(crate) mod signaling_socket;
pub(crate) mod tls_roots;
pub(crate) mod tls_stream;
pub mod webrtc;
pub mod ws_codec;
pub(crate) mod ws_link;
pub(crate) mod ws_pump;
