//! The AIS over HTTP or HTTPS, with ureq. Calls block: run them with
//! [`crate::runtime::run_blocking`] or [`crate::Runtime::spawn_blocking`].
//!
//! HTTPS uses ureq's rustls support with the aws-lc-rs provider and the
//! node's [`TlsRoots`]; a server certificate that does not verify is
//! `ActrError::Unauthenticated`, which the keeper does not retry.

use std::time::Duration;

use actr_core::ActrError;
use actr_core::ais::{AisReply, AisRequest, CONTENT_TYPE, MAX_AIS_BODY, REGISTER_PATH, RENEW_PATH, SIGNING_KEY_PATH};
use actr_core::wire::{decode_message, encode_message};

use crate::wire::tls_roots::TlsRoots;
use crate::wire::tls_stream::handshake_error;

/// Deadline of one HTTP exchange, connect to last body byte.
pub const AIS_HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking client of `POST {base}/ais/*`.
#[derive(Debug, Clone)]
pub struct AisHttpClient {
    agent: ureq::Agent,
    base: String,
}

impl AisHttpClient {
    /// `base` is `http(s)://host:port` (the `http_base` of the server's
    /// address); HTTPS trusts the default roots ([`TlsRoots::webpki`]).
    // Nodes always pass their roots; tests and benchmarks use this.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn new(base: &str) -> Self {
        Self::with_tls_roots(base, &TlsRoots::default())
    }

    /// A client whose HTTPS trusts exactly `roots`.
    pub fn with_tls_roots(base: &str, roots: &TlsRoots) -> Self {
        // The global timeout covers connect and the TLS handshake too.
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(AIS_HTTP_TIMEOUT))
            .http_status_as_error(false)
            .tls_config(roots.ureq_config())
            .build();
        Self { agent: config.into(), base: base.trim_end_matches('/').to_owned() }
    }

    /// Performs one call. Errors:
    /// - transport failures and 5xx: `Unavailable` (retryable);
    /// - 400 and 413: `InvalidArgument`; other statuses by their meaning;
    /// - an undecodable reply: `DecodeFailure`.
    ///
    /// A non-200 reply whose body is an `AisReply::Error` yields that error.
    pub fn call(&self, request: &AisRequest) -> Result<AisReply, ActrError> {
        let body = encode_message(request, MAX_AIS_BODY)?;
        let url = format!("{}{}", self.base, path_of(request));
        let mut response = self
            .agent
            .post(&url)
            .header("content-type", CONTENT_TYPE)
            .send(&body[..])
            .map_err(|e| transport_error(&url, &e))?;
        let status = response.status().as_u16();
        let bytes = response.body_mut().with_config().limit(MAX_AIS_BODY as u64).read_to_vec();
        let bytes = match bytes {
            Ok(b) => b,
            Err(ureq::Error::BodyExceedsLimit(_)) => {
                return Err(ActrError::DecodeFailure(format!("AIS reply exceeds {MAX_AIS_BODY} bytes")));
            }
            Err(e) if status == 200 => return Err(ActrError::Unavailable(format!("AIS {url}: {e}"))),
            Err(_) => Vec::new(),
        };
        let decoded = decode_message::<AisReply>(&bytes, MAX_AIS_BODY);
        match (status, decoded) {
            (200, Ok(reply)) => Ok(reply),
            (200, Err(e)) => Err(ActrError::DecodeFailure(format!("AIS reply: {e}"))),
            (_, Ok(AisReply::Error(e))) => Err(e.into()),
            (status, _) => Err(status_error(status, &url)),
        }
    }
}

/// A certificate that does not verify is `Unauthenticated`; every other
/// transport failure is `Unavailable`.
fn transport_error(url: &str, e: &ureq::Error) -> ActrError {
    let tls = match e {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    match tls {
        Some(tls) => match handshake_error(url, tls.clone()) {
            ActrError::Unauthenticated(why) => ActrError::Unauthenticated(format!("AIS {why}")),
            _ => ActrError::Unavailable(format!("AIS {url}: {e}")),
        },
        None => ActrError::Unavailable(format!("AIS {url}: {e}")),
    }
}

fn path_of(request: &AisRequest) -> &'static str {
    match request {
        AisRequest::Register(_) => REGISTER_PATH,
        AisRequest::Renew(_) => RENEW_PATH,
        AisRequest::SigningKey { .. } => SIGNING_KEY_PATH,
    }
}

/// The typed error for an HTTP status without a typed body.
pub fn status_error(status: u16, url: &str) -> ActrError {
    let what = format!("AIS {url} answered HTTP {status}");
    match status {
        400 | 413 | 415 | 422 => ActrError::InvalidArgument(what),
        401 => ActrError::Unauthenticated(what),
        403 => ActrError::PermissionDenied(what),
        404 => ActrError::NotFound(what),
        429 => ActrError::ResourceExhausted(what),
        _ => ActrError::Unavailable(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actr_core::Classify;
    use actr_core::error::ErrorReply;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// Serves one canned HTTP response on loopback; returns the base URL.
    fn canned(status: u16, body: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            answer_once(stream, status, &body).unwrap();
        });
        (base, server)
    }

    /// Reads one request from `stream` and answers it.
    fn answer_once<S: Read + Write>(stream: S, status: u16, body: &[u8]) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream);
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        reader.read_exact(&mut vec![0; length])?;
        let head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let mut stream = reader.into_inner();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()
    }

    /// The same over TLS with a fresh self-signed certificate for 127.0.0.1;
    /// returns the base URL, the certificate and the server's outcome.
    fn canned_tls(body: Vec<u8>) -> (String, String, std::thread::JoinHandle<std::io::Result<()>>) {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let id = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.signing_key.serialize_der()));
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![id.cert.der().clone()], key)
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept()?;
            let conn = rustls::ServerConnection::new(std::sync::Arc::new(config)).map_err(std::io::Error::other)?;
            answer_once(rustls::StreamOwned::new(conn, tcp), 200, &body)
        });
        (base, id.cert.pem(), server)
    }

    fn call_canned(status: u16, body: Vec<u8>) -> Result<AisReply, ActrError> {
        let (base, server) = canned(status, body);
        let result = AisHttpClient::new(&base).call(&AisRequest::SigningKey { key_id: 1 });
        server.join().unwrap();
        result
    }

    #[test]
    fn replies_decode_and_statuses_map_to_fault_domains() {
        let reply = AisReply::SigningKey { key_id: 1, pubkey: vec![5; 32] };
        assert_eq!(call_canned(200, encode_message(&reply, MAX_AIS_BODY).unwrap()), Ok(reply));
        assert!(matches!(call_canned(200, b"junk".to_vec()), Err(ActrError::DecodeFailure(_))));
        assert!(matches!(call_canned(400, Vec::new()), Err(ActrError::InvalidArgument(_))));
        assert!(matches!(call_canned(413, Vec::new()), Err(ActrError::InvalidArgument(_))));
        assert!(call_canned(503, Vec::new()).unwrap_err().is_retryable());
        let typed = AisReply::Error(ErrorReply::from(ActrError::PermissionDenied("secret".into())));
        let typed = encode_message(&typed, MAX_AIS_BODY).unwrap();
        assert_eq!(call_canned(403, typed), Err(ActrError::PermissionDenied("secret".into())));
    }

    #[test]
    fn https_trusts_exactly_the_configured_roots() {
        let reply = AisReply::SigningKey { key_id: 1, pubkey: vec![5; 32] };
        let encoded = encode_message(&reply, MAX_AIS_BODY).unwrap();
        let (base, cert, server) = canned_tls(encoded.clone());
        let roots = TlsRoots::from_pem(cert.as_bytes()).unwrap();
        let got = AisHttpClient::with_tls_roots(&base, &roots).call(&AisRequest::SigningKey { key_id: 1 });
        assert_eq!(got, Ok(reply));
        server.join().unwrap().unwrap();

        // The default roots do not include a self-signed certificate.
        let (base, _cert, server) = canned_tls(encoded);
        let err = AisHttpClient::new(&base).call(&AisRequest::SigningKey { key_id: 1 }).unwrap_err();
        assert!(matches!(err, ActrError::Unauthenticated(_)), "{err:?}");
        assert!(!err.is_retryable());
        assert!(server.join().unwrap().is_err(), "the server sees the handshake fail");
    }

    #[test]
    fn unreachable_server_is_unavailable() {
        // A port that was just free: the connection is refused.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = AisHttpClient::new(&format!("http://127.0.0.1:{port}/"));
        let err = client.call(&AisRequest::SigningKey { key_id: 1 }).unwrap_err();
        assert!(matches!(err, ActrError::Unavailable(_)), "{err:?}");
        assert!(matches!(status_error(404, "u"), ActrError::NotFound(_)));
    }
}
