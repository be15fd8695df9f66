//! A DTLS provider for str0m whose handshake timing replays.
//!
//! str0m's DTLS (dimpl) jitters its handshake retransmission timer with a
//! random draw, seeded only in str0m's own test builds. In the simulator a
//! lost handshake datagram would then be retransmitted at a different
//! virtual time on every run, and everything after it would diverge. This
//! provider builds dimpl exactly as str0m's aws-lc-rs provider does, plus a
//! fixed seed for dimpl's non-cryptographic randomness (the jitter and the
//! hello randoms; keys still come from the crypto library's own RNG). It is
//! installed as the process default, which only the simulator's test
//! processes ever do.

use std::sync::Arc;
use std::time::Instant;

use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
};
use str0m::crypto::{CryptoError, CryptoProvider, from_feature_flags};

/// Seed of dimpl's non-cryptographic randomness in every simulated peer.
const DIMPL_SEED: u64 = 0x5EED_D715;

/// Installs the replayable provider as str0m's process default (once).
pub fn install() {
    static PROVIDER: SeededDtlsProvider = SeededDtlsProvider;
    if CryptoProvider::get_default().is_none() {
        CryptoProvider { dtls_provider: &PROVIDER, ..from_feature_flags() }.install_process_default();
    }
}

#[derive(Debug)]
struct SeededDtlsProvider;

impl DtlsProvider for SeededDtlsProvider {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        from_feature_flags().dtls_provider.generate_certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let cert =
            dimpl::DtlsCertificate { certificate: cert.certificate.clone(), private_key: cert.private_key.clone() };
        // As str0m's aws-lc-rs provider: ICE has checked return routability,
        // so DTLS cookies are redundant.
        let mut builder = dimpl::Config::builder().use_server_cookie(false).dangerously_set_rng_seed(DIMPL_SEED);
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        let config = Arc::new(builder.build().map_err(|e| CryptoError::Other(format!("dimpl config: {e}")))?);
        let dtls = match version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert, now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert, now),
            other => return Err(CryptoError::Other(format!("unsupported DTLS version {other}"))),
        };
        Ok(Box::new(SeededDtls(dtls)))
    }
}

struct SeededDtls(dimpl::Dtls);

impl std::fmt::Debug for SeededDtls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeededDtls")
    }
}

impl DtlsInstance for SeededDtls {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.0.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}
