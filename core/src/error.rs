//! Errors with stable numeric codes and a fault domain each.
//!
//! The kind decides what a caller does next: retry a transient error with
//! backoff, fix the request for a client error, report an internal one, and
//! dead-letter a corrupt message.

use serde::{Deserialize, Serialize};

/// Fault domain of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// Try again later, with backoff.
    Transient,
    /// The request is wrong; retrying it unchanged will fail again.
    Client,
    /// A bug or broken invariant on the side that reported it.
    Internal,
    /// The bytes are damaged; park them in a dead-letter queue.
    Corrupt,
}

/// Anything that knows its fault domain.
pub trait Classify {
    fn kind(&self) -> ErrorKind;
    fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }
    fn requires_dlq(&self) -> bool {
        self.kind() == ErrorKind::Corrupt
    }
}

/// The framework's public error, returned to every caller and carried on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ActrError {
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("timed out")]
    TimedOut,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("unknown route: {0}")]
    UnknownRoute(String),
    #[error("decode failure: {0}")]
    DecodeFailure(String),
    #[error("not implemented: {0}")]
    NotImplemented(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("connection not ready")]
    ConnectionNotReady { retry_after_ms: Option<u64> },
    #[error("credential rejected: {0}")]
    Unauthenticated(String),
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
}

impl ActrError {
    /// The variant's name, e.g. `NotFound`: for machine-readable output.
    pub fn name(&self) -> &'static str {
        match self {
            ActrError::Unavailable(_) => "Unavailable",
            ActrError::TimedOut => "TimedOut",
            ActrError::NotFound(_) => "NotFound",
            ActrError::PermissionDenied(_) => "PermissionDenied",
            ActrError::InvalidArgument(_) => "InvalidArgument",
            ActrError::UnknownRoute(_) => "UnknownRoute",
            ActrError::DecodeFailure(_) => "DecodeFailure",
            ActrError::NotImplemented(_) => "NotImplemented",
            ActrError::Internal(_) => "Internal",
            ActrError::ConnectionNotReady { .. } => "ConnectionNotReady",
            ActrError::Unauthenticated(_) => "Unauthenticated",
            ActrError::ResourceExhausted(_) => "ResourceExhausted",
        }
    }

    /// Stable numeric code, as carried on the wire. Never reused.
    pub fn code(&self) -> u32 {
        match self {
            ActrError::Unavailable(_) => 10001,
            ActrError::TimedOut => 10002,
            ActrError::NotFound(_) => 10003,
            ActrError::PermissionDenied(_) => 10004,
            ActrError::InvalidArgument(_) => 10005,
            ActrError::UnknownRoute(_) => 10006,
            ActrError::DecodeFailure(_) => 10008,
            ActrError::NotImplemented(_) => 10009,
            ActrError::Internal(_) => 10010,
            ActrError::ConnectionNotReady { .. } => 10011,
            ActrError::Unauthenticated(_) => 10012,
            ActrError::ResourceExhausted(_) => 10013,
        }
    }

    /// Rebuilds an error from a code and message received from a peer.
    /// An unknown code is reported as transient so old callers back off.
    pub fn from_code(code: u32, message: String) -> ActrError {
        match code {
            10001 => ActrError::Unavailable(message),
            10002 => ActrError::TimedOut,
            10003 => ActrError::NotFound(message),
            10004 => ActrError::PermissionDenied(message),
            10005 => ActrError::InvalidArgument(message),
            10006 => ActrError::UnknownRoute(message),
            10008 => ActrError::DecodeFailure(message),
            10009 => ActrError::NotImplemented(message),
            10010 => ActrError::Internal(message),
            10011 => ActrError::ConnectionNotReady { retry_after_ms: message.parse().ok() },
            10012 => ActrError::Unauthenticated(message),
            10013 => ActrError::ResourceExhausted(message),
            other => ActrError::Unavailable(format!("error {other}: {message}")),
        }
    }

    /// The message part that [`ActrError::from_code`] takes back.
    pub fn message(&self) -> String {
        match self {
            ActrError::TimedOut => String::new(),
            ActrError::ConnectionNotReady { retry_after_ms } => {
                retry_after_ms.map(|ms| ms.to_string()).unwrap_or_default()
            }
            ActrError::Unavailable(m)
            | ActrError::NotFound(m)
            | ActrError::PermissionDenied(m)
            | ActrError::InvalidArgument(m)
            | ActrError::UnknownRoute(m)
            | ActrError::DecodeFailure(m)
            | ActrError::NotImplemented(m)
            | ActrError::Internal(m)
            | ActrError::Unauthenticated(m)
            | ActrError::ResourceExhausted(m) => m.clone(),
        }
    }
}

impl Classify for ActrError {
    fn kind(&self) -> ErrorKind {
        match self {
            ActrError::Unavailable(_)
            | ActrError::TimedOut
            | ActrError::ConnectionNotReady { .. }
            | ActrError::ResourceExhausted(_) => ErrorKind::Transient,
            ActrError::NotFound(_)
            | ActrError::PermissionDenied(_)
            | ActrError::InvalidArgument(_)
            | ActrError::UnknownRoute(_)
            | ActrError::Unauthenticated(_) => ErrorKind::Client,
            ActrError::DecodeFailure(_) => ErrorKind::Corrupt,
            ActrError::NotImplemented(_) | ActrError::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// An error as it travels on the wire: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub code: u32,
    pub message: String,
}

impl From<&ActrError> for ErrorReply {
    fn from(e: &ActrError) -> Self {
        ErrorReply { code: e.code(), message: e.message() }
    }
}

impl From<ActrError> for ErrorReply {
    fn from(e: ActrError) -> Self {
        ErrorReply::from(&e)
    }
}

impl From<ErrorReply> for ActrError {
    fn from(w: ErrorReply) -> Self {
        ActrError::from_code(w.code, w.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<ActrError> {
        vec![
            ActrError::Unavailable("u".into()),
            ActrError::TimedOut,
            ActrError::NotFound("n".into()),
            ActrError::PermissionDenied("p".into()),
            ActrError::InvalidArgument("i".into()),
            ActrError::UnknownRoute("r".into()),
            ActrError::DecodeFailure("d".into()),
            ActrError::NotImplemented("x".into()),
            ActrError::Internal("y".into()),
            ActrError::ConnectionNotReady { retry_after_ms: Some(4800) },
            ActrError::ConnectionNotReady { retry_after_ms: None },
            ActrError::Unauthenticated("a".into()),
            ActrError::ResourceExhausted("q".into()),
        ]
    }

    #[test]
    fn codes_round_trip_and_are_unique() {
        let errors = all();
        for e in &errors {
            let w = ErrorReply::from(e);
            assert_eq!(ActrError::from(w), *e);
        }
        let mut codes: Vec<u32> = errors.iter().map(ActrError::code).collect();
        codes.dedup();
        assert_eq!(codes.len(), errors.len() - 1, "only ConnectionNotReady appears twice");
    }

    #[test]
    fn names_are_the_variants_names() {
        for e in all() {
            let debug = format!("{e:?}");
            let variant = debug.split(['(', ' ', '{']).next().unwrap_or_default();
            assert_eq!(variant, e.name(), "{debug}");
        }
    }

    #[test]
    fn retry_follows_kind() {
        assert!(ActrError::TimedOut.is_retryable());
        assert!(ActrError::Unavailable("x".into()).is_retryable());
        assert!(!ActrError::PermissionDenied("x".into()).is_retryable());
        assert!(!ActrError::Internal("x".into()).is_retryable());
        assert!(ActrError::DecodeFailure("x".into()).requires_dlq());
        assert_eq!(ActrError::Unauthenticated("x".into()).kind(), ErrorKind::Client);
    }

    #[test]
    fn unknown_code_is_transient() {
        let e = ActrError::from_code(77, "later".into());
        assert!(e.is_retryable());
        assert!(e.to_string().contains("77"));
    }
}
