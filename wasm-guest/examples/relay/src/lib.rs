//! Relay: `relay.Relay/Forward` takes `"<manufacturer>:<name>:<version>\n<body>"`,
//! discovers an actor of that type, calls its `echo.Echo/Say` with the body
//! and replies with what it got, or with the error as it came. Any other
//! route is `UnknownRoute`.

use std::time::Duration;

use actr_guest::{Actor, ActrError, ActrType, Context, Request};

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Relay;

impl Actor for Relay {
    fn new() -> Self {
        Relay
    }

    async fn handle(&self, ctx: Context, req: Request) -> Result<Vec<u8>, ActrError> {
        if req.route_key != "relay.Relay/Forward" {
            return Err(ActrError::UnknownRoute(req.route_key));
        }
        let (target, body) = parse(&req.payload)?;
        let found = ctx.discover(&target).await?;
        let Some(peer) = found.into_iter().next() else {
            return Err(ActrError::NotFound(format!("relay: no actor of type {target}")));
        };
        ctx.call(peer, "echo.Echo/Say", body, CALL_TIMEOUT).await
    }
}

/// Splits the payload into the target type and the body to forward.
fn parse(payload: &[u8]) -> Result<(ActrType, &[u8]), ActrError> {
    let newline = payload.iter().position(|&b| b == b'\n').unwrap_or(payload.len());
    let (header, rest) = payload.split_at(newline);
    let header = std::str::from_utf8(header)
        .map_err(|_| ActrError::InvalidArgument("relay: the type line is not UTF-8".into()))?;
    let target = header.parse::<ActrType>().map_err(|e| ActrError::InvalidArgument(format!("relay: {e}")))?;
    Ok((target, rest.strip_prefix(b"\n").unwrap_or(rest)))
}

actr_guest::actor!(Relay);

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_first_line_names_the_type_and_the_rest_is_the_body() {
        let (target, body) = parse(b"acme:echo:1.0.0\nhello\nworld").unwrap();
        assert_eq!((target.to_string().as_str(), body), ("acme:echo:1.0.0", &b"hello\nworld"[..]));
        assert_eq!(parse(b"acme:echo:1.0.0").unwrap().1, b"");
        assert!(parse(b"acme:echo\nhi").is_err());
    }
}
