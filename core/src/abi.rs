//! The WASM actor ABI, version 1: the frames a host and a guest module
//! exchange. docs/wasm-abi.md is the full description; in short:
//!
//! - the guest imports one function, `actr.hyper_send(ptr, len) -> i32`, and
//!   hands the host a [`GuestFrame`] through it: a reply, a call, a tell, a
//!   discovery, a storage operation or a log line;
//! - the guest exports `actr_recv(ptr, len) -> i32`, which receives every
//!   [`HostFrame`]: a request, or the result of an operation it asked for;
//! - the guest exports `actr_alloc(len) -> ptr` and `actr_free(ptr, len)`,
//!   with which the host places an input in guest memory (the guest owns and
//!   frees it), and `actr_abi_version() -> i32`, which returns [`ABI_VERSION`].
//!
//! Frames are postcard. Nothing here trusts the other side: every decode is
//! bounded by [`MAX_FRAME_BYTES`] and fails with an [`AbiError`].

use serde::{Deserialize, Serialize};

use crate::platform::KvOp;
use crate::{ActrError, ActrId, ActrType, Dest};

/// The version a guest's `actr_abi_version` export returns.
pub const ABI_VERSION: i32 = 1;
/// Module of the host import.
pub const IMPORT_MODULE: &str = "actr";
/// The host import: `(ptr: i32, len: i32) -> i32`.
pub const IMPORT_SEND: &str = "hyper_send";
/// The guest's input: `(ptr: i32, len: i32) -> i32`.
pub const EXPORT_RECV: &str = "actr_recv";
/// `(len: i32) -> i32`: a buffer of `len` bytes in guest memory, or 0.
pub const EXPORT_ALLOC: &str = "actr_alloc";
/// `(ptr: i32, len: i32)`: gives back a buffer from `actr_alloc`.
pub const EXPORT_FREE: &str = "actr_free";
/// `() -> i32`: the ABI the guest speaks.
pub const EXPORT_VERSION: &str = "actr_abi_version";
/// The guest's linear memory.
pub const EXPORT_MEMORY: &str = "memory";

/// Largest frame either side accepts: a payload of up to 8 MiB and its envelope.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024 + 64 * 1024;
/// Longest log line a guest may send; longer ones are cut.
pub const MAX_LOG_BYTES: usize = 4096;

/// Status codes `hyper_send` and `actr_recv` return. Zero is success.
pub mod status {
    /// Done.
    pub const OK: i32 = 0;
    /// The frame does not decode.
    pub const MALFORMED: i32 = -1;
    /// The frame is larger than [`super::MAX_FRAME_BYTES`].
    pub const TOO_LARGE: i32 = -2;
    /// Too many frames or bytes in this turn, or too many operations in flight.
    pub const BUSY: i32 = -3;
    /// `ptr..ptr+len` is not inside the guest's memory.
    pub const BAD_POINTER: i32 = -4;
    /// The frame names a request that is not in flight.
    pub const UNKNOWN_REQUEST: i32 = -5;
    /// The guest has no handler for this input, or failed to allocate.
    pub const GUEST_FAILED: i32 = -6;
}

/// Who is asking, for one request: the guest passes `request_id` back with
/// every operation it makes on the request's behalf and with its reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationContext {
    /// Chosen by the host, unique among requests in flight on this instance; never 0.
    pub request_id: u64,
    /// The actor the guest runs as.
    pub self_id: ActrId,
    /// The calling actor; `None` for the embedding application.
    pub caller: Option<ActrId>,
}

/// Host → guest, through `actr_recv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostFrame {
    /// A request (or a tell, which gets no reply) to handle.
    Request {
        ctx: InvocationContext,
        route_key: String,
        #[serde(with = "bytes")]
        payload: Vec<u8>,
        tell: bool,
    },
    /// The result of operation `op_id` the guest asked for on behalf of `request_id`.
    OpResult { request_id: u64, op_id: u32, result: HostOperationResult },
    /// Request `request_id` is over without a reply (its deadline passed, its
    /// caller left): drop its handler. Whatever the guest still sends for it
    /// is refused with `UNKNOWN_REQUEST`.
    Cancel { request_id: u64 },
}

/// Guest → host, through `hyper_send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestFrame {
    /// The request this belongs to; 0 for work outside any request (a log line).
    pub request_id: u64,
    /// Chosen by the guest; the result comes back with it. Ignored for
    /// operations that have none ([`HostOperation::Reply`], [`HostOperation::Log`]).
    pub op_id: u32,
    pub op: HostOperation,
}

/// Everything a guest can ask its host for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostOperation {
    /// The answer to request `request_id`, which ends it. Ignored for a tell.
    Reply {
        #[serde(with = "result_bytes")]
        result: Result<Vec<u8>, ActrError>,
    },
    /// Calls another actor; the result is `Bytes` or `Error`.
    Call {
        dest: Dest,
        route_key: String,
        #[serde(with = "bytes")]
        payload: Vec<u8>,
        timeout_ms: u32,
    },
    /// A one-way message; the result is `Done` once it left, or `Error`.
    Tell {
        dest: Dest,
        route_key: String,
        #[serde(with = "bytes")]
        payload: Vec<u8>,
    },
    /// Actors of a type this actor may reach; the result is `Actors`.
    Discover { actr_type: ActrType },
    /// The result is `Value`.
    StorageGet { key: String },
    /// The result is `Done`.
    StorageSet {
        key: String,
        #[serde(with = "bytes")]
        value: Vec<u8>,
    },
    /// The result is `Removed`.
    StorageDelete { key: String },
    /// Keys with this literal prefix, ascending, at most `limit`; the result is `Keys`.
    StorageList { prefix: String, limit: u32 },
    /// All or nothing; the result is `Done`.
    StorageBatch { ops: Vec<KvOp> },
    /// A line for the host's log; no result.
    Log { level: LogLevel, message: String },
}

impl HostOperation {
    /// Whether the host answers it with an [`HostFrame::OpResult`].
    pub fn has_result(&self) -> bool {
        !matches!(self, HostOperation::Reply { .. } | HostOperation::Log { .. })
    }
}

/// What an operation came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostOperationResult {
    Done,
    Bytes(#[serde(with = "bytes")] Vec<u8>),
    Value(#[serde(with = "opt_bytes")] Option<Vec<u8>>),
    Removed(bool),
    Keys(Vec<String>),
    Actors(Vec<ActrId>),
    Error(ActrError),
}

/// Levels of [`HostOperation::Log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

pub use crate::wire::bytes;

/// `Option<Vec<u8>>` with the bytes as in [`bytes`].
mod opt_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_deref().map(crate::wire::bytes::Ref).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<crate::wire::bytes::Owned>::deserialize(d)?.map(|o| o.0))
    }
}

/// `Result<Vec<u8>, ActrError>` with the bytes as in [`bytes`]; the same
/// encoding as the derived one.
mod result_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::ActrError;

    #[derive(Serialize)]
    #[serde(rename = "Result")]
    enum Ref<'a> {
        Ok(crate::wire::bytes::Ref<'a>),
        Err(&'a ActrError),
    }

    #[derive(Deserialize)]
    #[serde(rename = "Result")]
    enum Owned {
        Ok(crate::wire::bytes::Owned),
        Err(ActrError),
    }

    pub fn serialize<S: Serializer>(v: &Result<Vec<u8>, ActrError>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Ok(b) => Ref::Ok(crate::wire::bytes::Ref(b)),
            Err(e) => Ref::Err(e),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Vec<u8>, ActrError>, D::Error> {
        Ok(match Owned::deserialize(d)? {
            Owned::Ok(b) => Ok(b.0),
            Owned::Err(e) => Err(e),
        })
    }
}

/// A frame that cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    #[error("frame of {size} bytes, the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
}

impl AbiError {
    /// The status code that reports it to a guest.
    pub fn status(&self) -> i32 {
        match self {
            AbiError::TooLarge { .. } => status::TOO_LARGE,
            AbiError::Malformed(_) => status::MALFORMED,
        }
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Encoding our own types into a Vec cannot fail.
    postcard::to_allocvec(value).unwrap_or_default()
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, AbiError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(AbiError::TooLarge { size: bytes.len(), limit: MAX_FRAME_BYTES });
    }
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(AbiError::Malformed(format!("{} bytes after the frame", rest.len()))),
        Err(e) => Err(AbiError::Malformed(e.to_string())),
    }
}

impl HostFrame {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, AbiError> {
        decode(bytes)
    }
}

impl GuestFrame {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, AbiError> {
        decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ActrId {
        ActrId { realm: crate::Realm(1), serial: 9, actr_type: ActrType::new("acme", "echo", "1.0.0").unwrap() }
    }

    #[test]
    fn frames_round_trip() {
        let host = HostFrame::Request {
            ctx: InvocationContext { request_id: 3, self_id: id(), caller: None },
            route_key: "echo.Echo/Say".into(),
            payload: b"hi".to_vec(),
            tell: false,
        };
        assert_eq!(HostFrame::decode(&host.encode()).unwrap(), host);
        let guest = GuestFrame {
            request_id: 3,
            op_id: 1,
            op: HostOperation::StorageBatch {
                ops: vec![KvOp::Set { key: "a".into(), value: vec![1] }, KvOp::Delete { key: "b".into() }],
            },
        };
        assert_eq!(GuestFrame::decode(&guest.encode()).unwrap(), guest);
    }

    #[test]
    fn byte_fields_encode_as_the_derived_form_would() {
        // A length and the bytes, as postcard encodes a Vec<u8>: the fuzz
        // corpus and any guest built before this keep decoding.
        let frame = GuestFrame { request_id: 1, op_id: 0, op: HostOperation::Reply { result: Ok(b"hi".to_vec()) } };
        assert_eq!(frame.encode(), [1, 0, 0, 0, 2, b'h', b'i']);
        let err = GuestFrame {
            request_id: 2,
            op_id: 0,
            op: HostOperation::Reply { result: Err(ActrError::UnknownRoute("r".into())) },
        };
        assert_eq!(GuestFrame::decode(&err.encode()).unwrap(), err);
        for value in [None, Some(vec![]), Some(vec![7; 300])] {
            let frame = HostFrame::OpResult { request_id: 1, op_id: 1, result: HostOperationResult::Value(value) };
            assert_eq!(HostFrame::decode(&frame.encode()).unwrap(), frame);
        }
        let plain: Vec<u8> = postcard::to_allocvec(&vec![9u8; 200]).unwrap();
        let bytes = postcard::to_allocvec(&HostOperationResult::Bytes(vec![9u8; 200])).unwrap();
        assert_eq!(&bytes[1..], &plain[..], "variant index, then what a Vec<u8> encodes to");
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        let frame = GuestFrame { request_id: 1, op_id: 0, op: HostOperation::Reply { result: Ok(vec![1, 2]) } };
        let mut bytes = frame.encode();
        bytes.push(0);
        assert!(matches!(GuestFrame::decode(&bytes), Err(AbiError::Malformed(_))));
        assert!(matches!(GuestFrame::decode(&bytes[..bytes.len() - 3]), Err(AbiError::Malformed(_))));
        assert!(matches!(GuestFrame::decode(&[0xff; 16]), Err(AbiError::Malformed(_))));
        let big = vec![0u8; MAX_FRAME_BYTES + 1];
        assert_eq!(GuestFrame::decode(&big).unwrap_err().status(), status::TOO_LARGE);
    }
}
