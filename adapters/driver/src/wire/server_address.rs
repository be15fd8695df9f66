//! Where `actr serve` is: one base address gives the AIS and signaling
//! URLs, `http://` with `ws://` or `https://` with `wss://`.

use actr_core::ActrError;

/// Path of the signaling WebSocket on the server.
pub const SIGNALING_PATH: &str = "/signaling";

/// The server's addresses, derived from one base such as `http://127.0.0.1:7480`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// `http(s)://host:port`, no trailing slash: AIS paths are appended to it.
    pub http_base: String,
    /// `ws(s)://host:port/signaling`.
    pub ws_url: String,
    /// `host:port`, for the TCP connection.
    pub authority: String,
    /// For `https`: the host the server's certificate must name (an IPv6
    /// literal keeps its brackets). `None`: plain TCP.
    pub tls_host: Option<String>,
}

impl ServerAddress {
    /// Parses `http://host[:port]`, `https://host[:port]` or `host:port`
    /// (plain). The port defaults to 80, or 443 for `https`.
    pub fn parse(base: &str) -> Result<Self, ActrError> {
        let bad = |why: &str| ActrError::InvalidArgument(format!("server address {base:?}: {why}"));
        let (rest, tls) = match base.split_once("://") {
            Some(("http", rest)) => (rest, false),
            Some(("https", rest)) => (rest, true),
            Some((scheme, _)) => return Err(bad(&format!("scheme {scheme:?} is not supported, use http or https"))),
            None => (base, false),
        };
        let host_port = rest.trim_end_matches('/');
        if host_port.is_empty() || host_port.contains('/') || host_port.contains(char::is_whitespace) {
            return Err(bad("expected host:port with no path"));
        }
        let has_port = match host_port.rfind(']') {
            Some(bracket) => host_port[bracket..].contains(':'),
            None => host_port.contains(':'),
        };
        let default_port = if tls { 443 } else { 80 };
        let authority = if has_port { host_port.to_owned() } else { format!("{host_port}:{default_port}") };
        let (host, port) = authority.rsplit_once(':').unwrap_or_default();
        if port.parse::<u16>().is_err() {
            return Err(bad("port must be a number from 0 to 65535"));
        }
        if host.is_empty() {
            return Err(bad("expected a host before the port"));
        }
        let (http, ws) = if tls { ("https", "wss") } else { ("http", "ws") };
        Ok(Self {
            http_base: format!("{http}://{authority}"),
            ws_url: format!("{ws}://{authority}{SIGNALING_PATH}"),
            tls_host: tls.then(|| host.to_owned()),
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
        assert_eq!(e.tls_host, None);
    }

    #[test]
    fn https_gives_wss_and_the_name_to_verify() {
        let e = ServerAddress::parse("https://actr.example").unwrap();
        assert_eq!(e.http_base, "https://actr.example:443");
        assert_eq!(e.ws_url, "wss://actr.example:443/signaling");
        assert_eq!(e.authority, "actr.example:443");
        assert_eq!(e.tls_host.as_deref(), Some("actr.example"));
        let ip = ServerAddress::parse("https://127.0.0.1:8443/").unwrap();
        assert_eq!(ip.ws_url, "wss://127.0.0.1:8443/signaling");
        assert_eq!(ip.tls_host.as_deref(), Some("127.0.0.1"));
        assert_eq!(ServerAddress::parse("https://[::1]:9").unwrap().tls_host.as_deref(), Some("[::1]"));
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        for bad in ["wss://a:1", "ftp://a:1", "http://a:1/x", "https://:1", "a:port", "", "http://", "a b:1"] {
            assert!(matches!(ServerAddress::parse(bad), Err(ActrError::InvalidArgument(_))), "{bad}");
        }
    }
}
