//! Media on actr's API: the two track kinds ([`MediaType`]: Opus audio,
//! VP8 video) and one encoded frame ([`MediaSample`]). The tracks of one
//! peer are in `tracks.rs`.

use serde::{Deserialize, Serialize};
use str0m::format::Codec;
use str0m::media::MediaKind;

/// The kind of a media track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MediaType {
    /// Opus, 48 kHz RTP clock.
    Audio,
    /// VP8, 90 kHz RTP clock.
    Video,
}

impl MediaType {
    pub(super) fn kind(self) -> MediaKind {
        match self {
            MediaType::Audio => MediaKind::Audio,
            MediaType::Video => MediaKind::Video,
        }
    }

    pub(super) fn from_kind(kind: MediaKind) -> Self {
        match kind {
            MediaKind::Audio => MediaType::Audio,
            MediaKind::Video => MediaType::Video,
        }
    }

    pub(super) fn codec(self) -> Codec {
        match self {
            MediaType::Audio => Codec::Opus,
            MediaType::Video => Codec::Vp8,
        }
    }
}

/// One encoded frame and its RTP timestamp (in the codec's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSample {
    pub media_type: MediaType,
    pub timestamp: u32,
    pub data: Vec<u8>,
}
