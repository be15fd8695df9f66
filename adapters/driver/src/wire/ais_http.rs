//! The AIS over HTTP, with ureq. Calls block: run them with
//! [`crate::runtime::run_blocking`] or [`crate::Runtime::spawn_blocking`].

use std::time::Duration;

use actr_core::ActrError;
use actr_core::ais::{AisReply, AisRequest, CONTENT_TYPE, MAX_AIS_BODY, REGISTER_PATH, RENEW_PATH, SIGNING_KEY_PATH};
use actr_core::wire::{decode_message, encode_message};

/// Deadline of one HTTP exchange, connect to last body byte.
pub const AIS_HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking client of `POST {base}/ais/*`.
#[derive(Debug, Clone)]
pub struct AisHttpClient {
    agent: ureq::Agent,
    base: String,
}

impl AisHttpClient {
    /// `base` is `http://host:port` (the `http_base` of the server's address).
    pub fn new(base: &str) -> Self {
        let config =
            ureq::Agent::config_builder().timeout_global(Some(AIS_HTTP_TIMEOUT)).http_status_as_error(false).build();
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
            .map_err(|e| ActrError::Unavailable(format!("AIS {url}: {e}")))?;
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
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            reader.read_exact(&mut vec![0; length]).unwrap();
            let head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let mut stream = reader.into_inner();
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        });
        (base, server)
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
    fn unreachable_server_is_unavailable() {
        // A port that was just free: the connection is refused.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = AisHttpClient::new(&format!("http://127.0.0.1:{port}/"));
        let err = client.call(&AisRequest::SigningKey { key_id: 1 }).unwrap_err();
        assert!(matches!(err, ActrError::Unavailable(_)), "{err:?}");
        assert!(matches!(status_error(404, "u"), ActrError::NotFound(_)));
    }
}
