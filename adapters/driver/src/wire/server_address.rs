//! Where `actr serve` is: one base address gives the AIS and signaling URLs.

use actr_core::ActrError;

/// Path of the signaling WebSocket on the server.
pub const SIGNALING_PATH: &str = "/signaling";

/// The server's addresses, derived from one base such as `http://127.0.0.1:7480`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// `http://host:port`, no trailing slash: AIS paths are appended to it.
    pub http_base: String,
    /// `ws://host:port/signaling`.
    pub ws_url: String,
    /// `host:port`, for the TCP connection.
    pub authority: String,
}

impl ServerAddress {
    /// Parses `http://host[:port]` or `host:port`. The port defaults to 80.
    /// TLS (`https`) is refused until the driver speaks it on the WebSocket too.
    pub fn parse(base: &str) -> Result<Self, ActrError> {
        let bad = |why: &str| ActrError::InvalidArgument(format!("server address {base:?}: {why}"));
        let rest = match base.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => return Err(bad(&format!("scheme {scheme:?} is not supported, use http"))),
            None => base,
        };
        let host_port = rest.trim_end_matches('/');
        if host_port.is_empty() || host_port.contains('/') || host_port.contains(char::is_whitespace) {
            return Err(bad("expected host:port with no path"));
        }
        let has_port = match host_port.rfind(']') {
            Some(bracket) => host_port[bracket..].contains(':'),
            None => host_port.contains(':'),
        };
        let authority = if has_port { host_port.to_owned() } else { format!("{host_port}:80") };
        let port = authority.rsplit_once(':').map(|(_, p)| p).unwrap_or_default();
        if port.parse::<u16>().is_err() {
            return Err(bad("port must be a number from 0 to 65535"));
        }
        Ok(Self {
            http_base: format!("http://{authority}"),
            ws_url: format!("ws://{authority}{SIGNALING_PATH}"),
            authority,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_both_urls() {
        let e = ServerAddress::parse("http://127.0.0.1:7480/").unwrap();
        assert_eq!(e.http_base, "http://127.0.0.1:7480");
        assert_eq!(e.ws_url, "ws://127.0.0.1:7480/signaling");
        assert_eq!(e.authority, "127.0.0.1:7480");
        assert_eq!(ServerAddress::parse("localhost").unwrap().authority, "localhost:80");
        assert_eq!(ServerAddress::parse("[::1]:9").unwrap().ws_url, "ws://[::1]:9/signaling");
        assert_eq!(ServerAddress::parse("[::1]").unwrap().authority, "[::1]:80");
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        for bad in ["https://a:1", "http://a:1/x", "a:port", "", "http://", "a b:1"] {
            assert!(matches!(ServerAddress::parse(bad), Err(ActrError::InvalidArgument(_))), "{bad}");
        }
    }
}
