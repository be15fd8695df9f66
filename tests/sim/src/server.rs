//! The simulated `actr serve`: the shipped [`ServerHub`] (the AIS and the
//! signaling server) in a process that can crash and restart.
//!
//! Only two things here are the simulator's own: what survives a crash
//! ([`Persisted`], what `actr serve` writes to SQLite: the AIS signing seed,
//! its key id, the next serial, and the realms) and a skewed wall clock.
//! [`SimServer::drain`] carries out the hub's outputs the way a socket
//! writer with no backpressure would: every `Wake` and `Close` flushes the
//! connection's queue at once, and a closed socket is reported gone at once.

use actr_core::ais::{AisConfig, AisReply, AisRequest, AisService, NoPackages, RealmConfig};
use actr_core::server::{AisAnswer, ServerHub, ServerOutput};
use actr_core::signaling::server::ServerConnId;
use actr_core::signaling::{CloseReason, ServerConfig, ServerStats, SignalingServer};
use actr_core::{ActrError, ActrId, Instant, UnixSecs};

/// What survives a server crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persisted {
    pub seed: [u8; 32],
    pub key_id: u32,
    /// The AIS high-water mark, written whenever the hub asks.
    pub next_serial: u64,
    pub realms: Vec<RealmConfig>,
}

/// Output of the server for the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOut {
    Send(ServerConnId, Vec<u8>),
    /// The server closed this socket (its queue was flushed just before).
    Close(ServerConnId, CloseReason),
}

/// A running server process.
#[derive(Debug)]
pub struct SimServer {
    hub: ServerHub,
    persisted: Persisted,
    /// Seconds added to the virtual wall clock, to model a skewed server clock.
    skew_secs: i64,
}

impl SimServer {
    /// Boots from persisted state, as `actr serve` does on start, with a
    /// fresh `challenge_key` for the hellos (never persisted).
    pub fn boot(
        persisted: Persisted,
        ais: AisConfig,
        server: ServerConfig,
        skew_secs: i64,
        challenge_key: [u8; 32],
    ) -> Self {
        let mut service = AisService::new(persisted.seed, persisted.key_id, persisted.next_serial, ais);
        for realm in &persisted.realms {
            // Persisted realms were valid when stored; a refusal here is a harness bug.
            service.upsert_realm(realm.clone()).expect("persisted realm is valid");
        }
        let hub = ServerHub::new(service, server, challenge_key);
        Self { hub, persisted, skew_secs }
    }

    /// What a crash at this moment would keep.
    pub fn persisted(&self) -> &Persisted {
        &self.persisted
    }

    pub fn ais(&self) -> &AisService {
        self.hub.ais()
    }

    pub fn signaling(&self) -> &SignalingServer {
        self.hub.signaling()
    }

    pub fn stats(&self) -> ServerStats {
        self.hub.stats()
    }

    pub fn skew_secs(&self) -> i64 {
        self.skew_secs
    }

    /// Actors bound to a live connection.
    pub fn online(&self) -> impl Iterator<Item = &ActrId> {
        self.hub.online()
    }

    /// One AIS HTTP call at the server's wall-clock time `unix`. The
    /// simulated disk never fails, so the reply always follows the write.
    pub fn handle_ais(&mut self, unix: UnixSecs, request: AisRequest) -> AisReply {
        match self.hub.handle_ais(unix, request, &mut NoPackages) {
            AisAnswer::Reply(reply) => reply,
            AisAnswer::PersistThenReply { next_serial, reply } => {
                self.persisted.next_serial = self.persisted.next_serial.max(next_serial);
                reply
            }
        }
    }

    pub fn handle_connect(&mut self, now: Instant, conn: ServerConnId) -> Result<(), ActrError> {
        self.hub.handle_connect(now, conn)
    }

    pub fn handle_frame(&mut self, now: Instant, unix: UnixSecs, conn: ServerConnId, bytes: &[u8]) {
        self.hub.handle_frame(now, unix, conn, bytes);
    }

    pub fn handle_disconnect(&mut self, now: Instant, conn: ServerConnId) {
        self.hub.handle_disconnect(now, conn);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.hub.handle_timeout(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.hub.poll_timeout()
    }

    /// Step 3 of the hub's drive loop, for sockets that take everything at
    /// once: each output's queue is flushed into `out`, and a closed socket
    /// is reported gone right after its `Close`.
    pub fn drain(&mut self, now: Instant, out: &mut Vec<ServerOut>) {
        while let Some(output) = self.hub.poll_output() {
            match output {
                ServerOutput::Wake(conn) => self.flush(conn, out),
                ServerOutput::Close(conn, reason) => {
                    self.flush(conn, out);
                    out.push(ServerOut::Close(conn, reason));
                    self.hub.handle_disconnect(now, conn);
                }
            }
        }
    }

    fn flush(&mut self, conn: ServerConnId, out: &mut Vec<ServerOut>) {
        while let Some(bytes) = self.hub.pop_outbound(conn) {
            out.push(ServerOut::Send(conn, bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actr_core::Realm;
    use actr_core::ais::RegisterRequest;
    use actr_core::proof::HostKey;

    fn persisted() -> Persisted {
        Persisted { seed: [5; 32], key_id: 1, next_serial: 1, realms: vec![RealmConfig::new(Realm(1), None)] }
    }

    fn register() -> AisRequest {
        let mut request = RegisterRequest::new("sim:node-0:1".parse().unwrap(), Realm(1), None);
        request.sign(&HostKey::from_seed([2; 32]));
        AisRequest::Register(request)
    }

    #[test]
    fn serials_survive_a_crash() {
        let mut s = SimServer::boot(persisted(), AisConfig::default(), ServerConfig::default(), 0, [1; 32]);
        let first = s.handle_ais(1000, register());
        let kept = s.persisted().clone();
        assert_eq!(kept.next_serial, 2);
        let mut again = SimServer::boot(kept, AisConfig::default(), ServerConfig::default(), 0, [1; 32]);
        match (first, again.handle_ais(1001, register())) {
            (AisReply::Registered(a), AisReply::Registered(b)) => assert!(b.actor.serial > a.actor.serial),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn drain_flushes_a_refusal_before_closing() {
        let mut s = SimServer::boot(persisted(), AisConfig::default(), ServerConfig::default(), 0, [1; 32]);
        s.handle_connect(Instant::ZERO, 7).unwrap();
        s.handle_frame(Instant::ZERO, 1000, 7, &[1, 0, 0, 0]);
        let mut out = Vec::new();
        s.drain(Instant::ZERO, &mut out);
        assert!(matches!(out.first(), Some(ServerOut::Send(7, _))));
        assert_eq!(s.signaling().connection_count(), 1, "one malformed frame is a strike, not a close");
    }
}
