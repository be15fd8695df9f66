//! Media tracks on str0m's frame-level API: Opus for audio, VP8 for video.
//!
//! The offerer adds tracks (send and receive) through SDP; the answerer
//! learns them from str0m's `MediaAdded` and may send on them too. A sample
//! is one encoded frame; str0m packetizes it into RTP and depacketizes it on
//! the other side.

use std::time::Instant;

use str0m::media::{MediaData, MediaKind, MediaTime, Mid};
use str0m::{Rtc, RtcConfig};

use super::errors::SendError;
use super::media::{MediaSample, MediaType};

/// Most tracks one peer keeps; further remote tracks are ignored.
pub const MAX_TRACKS: usize = 16;

/// Restricts str0m's codecs to the two actr uses, so both sides agree.
pub(super) fn configure_codecs(config: RtcConfig) -> RtcConfig {
    config.clear_codecs().enable_opus(true, false).enable_vp8(true)
}

/// The negotiated tracks of one peer, by mid.
#[derive(Debug, Default)]
pub(super) struct MediaTracks {
    tracks: Vec<(Mid, MediaType)>,
}

impl MediaTracks {
    /// Records a negotiated track. Returns false if it was known or the table is full.
    pub(super) fn add(&mut self, mid: Mid, kind: MediaKind) -> bool {
        if self.tracks.len() >= MAX_TRACKS || self.tracks.iter().any(|(m, _)| *m == mid) {
            return false;
        }
        self.tracks.push((mid, MediaType::from_kind(kind)));
        true
    }

    pub(super) fn len(&self) -> usize {
        self.tracks.len()
    }

    pub(super) fn has(&self, media_type: MediaType) -> bool {
        self.tracks.iter().any(|(_, t)| *t == media_type)
    }

    /// Writes one sample on the first track of its type.
    ///
    /// A mutation of `rtc`: the caller drains it afterwards.
    pub(super) fn write(&self, rtc: &mut Rtc, wallclock: Instant, sample: MediaSample) -> Result<(), SendError> {
        let media_type = sample.media_type;
        let mid = self.tracks.iter().find(|(_, t)| *t == media_type).map(|(m, _)| *m);
        let mid = mid.ok_or(SendError::NoTrack(media_type))?;
        let writer = rtc.writer(mid).ok_or(SendError::Closed)?;
        let params = writer.payload_params().find(|p| p.spec().codec == media_type.codec());
        let (pt, clock) = params.map(|p| (p.pt(), p.spec().clock_rate)).ok_or(SendError::NoTrack(media_type))?;
        let time = MediaTime::new(u64::from(sample.timestamp), clock);
        writer.write(pt, wallclock, time, sample.data).map_err(|e| SendError::Rtc(e.to_string()))
    }

    /// The sample carried by str0m's `MediaData`, if it belongs to a known track.
    pub(super) fn sample_from(&self, data: &MediaData) -> Option<MediaSample> {
        let media_type = self.tracks.iter().find(|(m, _)| *m == data.mid).map(|(_, t)| *t)?;
        // The RTP timestamp is the low 32 bits of str0m's extended media time.
        let timestamp = data.time.numer() as u32;
        Some(MediaSample { media_type, timestamp, data: data.data.to_vec() })
    }
}
