//! Versioned, length-framed postcard envelopes.
//!
//! A frame is `len: u32 BE | version: u8 | postcard body`, where `len` counts
//! the version byte and the body. Over WebSocket one message carries one frame
//! without the length prefix ([`encode_message`] / [`decode_message`]); over a
//! byte stream [`FrameDecoder`] splits frames. Decoding never panics: every
//! failure is a [`WireError`] variant.

use serde::{Serialize, de::DeserializeOwned};

use crate::error::{ActrError, Classify, ErrorKind};

/// The envelope version this build writes and accepts.
pub const WIRE_VERSION: u8 = 1;
/// Largest frame (version byte plus body) accepted by default: 1 MiB.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// Why bytes could not become a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    #[error("empty frame")]
    Empty,
    #[error("unsupported envelope version {got} (this build speaks {WIRE_VERSION})")]
    UnknownVersion { got: u8 },
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("malformed body: {0}")]
    Malformed(String),
    #[error("trailing {0} byte(s) after the body")]
    Trailing(usize),
    #[error("encode failed: {0}")]
    Encode(String),
}

impl Classify for WireError {
    fn kind(&self) -> ErrorKind {
        match self {
            WireError::Encode(_) => ErrorKind::Internal,
            WireError::TooLarge { .. } | WireError::UnknownVersion { .. } => ErrorKind::Client,
            _ => ErrorKind::Corrupt,
        }
    }
}

impl From<WireError> for ActrError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::TooLarge { .. } => ActrError::InvalidArgument(e.to_string()),
            WireError::UnknownVersion { .. } => ActrError::InvalidArgument(e.to_string()),
            WireError::Encode(_) => ActrError::Internal(e.to_string()),
            _ => ActrError::DecodeFailure(e.to_string()),
        }
    }
}

/// Byte fields as one length and the bytes (postcard's form of a `Vec<u8>`
/// either way, so the wire does not change), copied whole rather than one
/// element at a time: for a 1 MiB payload that is one memcpy instead of a
/// million serde calls each way, and inside an interpreted guest the
/// difference is larger still. Use as `#[serde(with = "crate::wire::bytes")]`.
pub mod bytes {
    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }

    pub(crate) struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    /// A borrowed byte field, for the other helpers.
    pub(crate) struct Ref<'a>(pub &'a [u8]);

    impl serde::Serialize for Ref<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    /// An owned byte field, for the other helpers.
    pub(crate) struct Owned(pub Vec<u8>);

    impl<'de> serde::Deserialize<'de> for Owned {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Owned, D::Error> {
            d.deserialize_byte_buf(BytesVisitor).map(Owned)
        }
    }
}

/// Encodes one message: version byte then postcard body, no length prefix.
pub fn encode_message<T: Serialize>(msg: &T, max: usize) -> Result<Vec<u8>, WireError> {
    // Straight after the version byte: the body is not copied again.
    let out = postcard::to_extend(msg, vec![WIRE_VERSION]).map_err(|e| WireError::Encode(e.to_string()))?;
    if out.len() > max {
        return Err(WireError::TooLarge { len: out.len(), max });
    }
    Ok(out)
}

/// Decodes one message produced by [`encode_message`].
pub fn decode_message<T: DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, WireError> {
    if bytes.len() > max {
        return Err(WireError::TooLarge { len: bytes.len(), max });
    }
    let (&version, body) = bytes.split_first().ok_or(WireError::Empty)?;
    if version != WIRE_VERSION {
        return Err(WireError::UnknownVersion { got: version });
    }
    let (msg, rest) = postcard::take_from_bytes(body).map_err(|e| WireError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Trailing(rest.len()));
    }
    Ok(msg)
}

/// Encodes one message with its 4-byte big-endian length prefix.
pub fn encode_frame<T: Serialize>(msg: &T, max: usize) -> Result<Vec<u8>, WireError> {
    let inner = encode_message(msg, max)?;
    let mut out = Vec::with_capacity(inner.len() + 4);
    out.extend_from_slice(&(inner.len() as u32).to_be_bytes());
    out.extend_from_slice(&inner);
    Ok(out)
}

/// Splits a byte stream into frames, holding at most one partial frame.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max: usize,
}

impl FrameDecoder {
    pub fn new(max: usize) -> Self {
        Self { buf: Vec::new(), max }
    }

    /// Appends received bytes. The buffer never grows past one maximal frame
    /// plus what the caller hands in at once.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame's payload (version byte and body), if any.
    /// An oversized length prefix is an error and poisons nothing: the caller
    /// should close the stream, since frame boundaries are lost.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > self.max {
            return Err(WireError::TooLarge { len, max: self.max });
        }
        if len == 0 {
            self.buf.drain(..4);
            return Err(WireError::Empty);
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let frame = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Ok(Some(frame))
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct PlainField {
        id: u64,
        payload: Vec<u8>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct BytesField {
        id: u64,
        #[serde(with = "bytes")]
        payload: Vec<u8>,
    }

    #[test]
    fn a_bytes_field_keeps_the_wire_form_of_a_plain_vec() {
        for len in [0, 1, 127, 128, 300, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let plain = encode_message(&PlainField { id: 9, payload: payload.clone() }, usize::MAX).unwrap();
            let bytes = encode_message(&BytesField { id: 9, payload: payload.clone() }, usize::MAX).unwrap();
            assert_eq!(plain, bytes, "{len} bytes");
            let back: BytesField = decode_message(&plain, usize::MAX).unwrap();
            assert_eq!(back.payload, payload);
        }
        // A length past the end is a typed error, not an allocation of that size.
        let mut lying = encode_message(&BytesField { id: 1, payload: vec![5; 4] }, usize::MAX).unwrap();
        lying.truncate(lying.len() - 1);
        assert!(matches!(decode_message::<BytesField>(&lying, usize::MAX), Err(WireError::Malformed(_))));
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Msg {
        a: u32,
        b: String,
    }

    #[test]
    fn message_round_trip() {
        let m = Msg { a: 7, b: "hi".into() };
        let bytes = encode_message(&m, 64).unwrap();
        assert_eq!(bytes[0], WIRE_VERSION);
        assert_eq!(decode_message::<Msg>(&bytes, 64).unwrap(), m);
    }

    #[test]
    fn decode_errors_are_typed() {
        assert_eq!(decode_message::<Msg>(&[], 64), Err(WireError::Empty));
        assert_eq!(decode_message::<Msg>(&[9, 1, 0], 64), Err(WireError::UnknownVersion { got: 9 }));
        assert_eq!(decode_message::<Msg>(&[1; 100], 64), Err(WireError::TooLarge { len: 100, max: 64 }));
        assert!(matches!(decode_message::<Msg>(&[1, 7, 200], 64), Err(WireError::Malformed(_))));
        let mut ok = encode_message(&Msg { a: 1, b: String::new() }, 64).unwrap();
        ok.push(0);
        assert_eq!(decode_message::<Msg>(&ok, 64), Err(WireError::Trailing(1)));
    }

    #[test]
    fn encode_refuses_oversized() {
        let m = Msg { a: 1, b: "x".repeat(100) };
        assert!(matches!(encode_message(&m, 50), Err(WireError::TooLarge { .. })));
    }

    #[test]
    fn frame_decoder_splits_partial_input() {
        let a = encode_frame(&Msg { a: 1, b: "one".into() }, 64).unwrap();
        let b = encode_frame(&Msg { a: 2, b: "two".into() }, 64).unwrap();
        let all: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        let mut d = FrameDecoder::new(64);
        let mut got = Vec::new();
        for byte in all {
            d.push(&[byte]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(decode_message::<Msg>(&f, 64).unwrap());
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].b, "two");
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn frame_decoder_rejects_oversized_prefix() {
        let mut d = FrameDecoder::new(16);
        d.push(&1000u32.to_be_bytes());
        assert_eq!(d.next_frame(), Err(WireError::TooLarge { len: 1000, max: 16 }));
    }
}
