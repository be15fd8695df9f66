//! The demo's data stream and media phases, between `caller-rtc` and `echo`
//! over their WebRTC connection.
//!
//! - stream: `ActrRef::open_stream` (reliable policy) on the sender, a stream
//!   handler on the receiver that checks the chunk order; timed until the
//!   handler saw the end of the stream;
//! - media: an Opus audio track added by whichever side makes the WebRTC
//!   offer, then `ActrRef::send_media` frames, counted by the receiver's
//!   media handler (media is not retransmitted: the count may fall short).

use std::time::{Duration, Instant};

use actr_core::signaling::is_offerer;
use actr_core::transport::{DataChunk, DeliveryPolicy};
use actr_core::{ActrError, ActrId};
use actr_tokio::ActrRef;
use actr_tokio::{MediaSample, MediaType};
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::phases::carried;
use super::report::Phase;

/// Bound on waiting for the receiver to see the whole stream.
const STREAM_WAIT: Duration = Duration::from_secs(30);
/// How long the receiver may take to get media frames after the last send.
const MEDIA_WAIT: Duration = Duration::from_secs(2);
/// One Opus frame: 20 ms at 48 kHz.
const FRAME_TICKS: u32 = 960;
const FRAME_BYTES: usize = 160;

/// Sends `mib` MiB on a reliable stream from `sender` to `receiver`.
pub async fn stream(sender: &ActrRef, receiver: &ActrRef, mib: usize) -> Result<Phase, ActrError> {
    let before = sender.stats().await?;
    let mut writer = sender.open_stream(receiver.id().clone(), DeliveryPolicy::Reliable)?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    receiver.register_stream_handler(writer.stream_id(), move |chunk: DataChunk, _from: ActrId| {
        let _ = tx.send((chunk.sequence, chunk.payload.len(), chunk.end));
        Box::pin(std::future::ready(Ok(()))) as BoxFuture<'static, Result<(), ActrError>>
    })?;
    let block = vec![0x3c; 1 << 20];
    let started = Instant::now();
    for _ in 0..mib {
        writer.send(&block).await?;
    }
    writer.finish(&[]).await?;
    let (mut chunks, mut bytes, mut in_order, mut ended) = (0u64, 0usize, true, false);
    let collect = async {
        while let Some((sequence, len, end)) = rx.recv().await {
            in_order &= sequence == chunks;
            chunks += 1;
            bytes += len;
            if end {
                ended = true;
                break;
            }
        }
    };
    let _ = tokio::time::timeout(STREAM_WAIT, collect).await;
    let took = started.elapsed();
    let order = if in_order { "in order" } else { "OUT OF ORDER" };
    let end = if ended { "end seen" } else { "no end" };
    let carried = carried(&before, &sender.stats().await?, chunks as usize);
    let note = format!("{} MiB arrived {order}, {end}; {carried}", bytes >> 20);
    let per_chunk = bytes / (chunks.max(1) as usize);
    Ok(Phase {
        kind: "stream",
        wire: "webrtc",
        count: chunks as usize,
        payload: per_chunk,
        took,
        latencies: None,
        note,
    })
}

/// Adds an audio track between the two and sends `frames` frames from `sender` to `receiver`.
pub async fn media(sender: &ActrRef, receiver: &ActrRef, frames: usize) -> Result<Phase, ActrError> {
    let offerer = if is_offerer(sender.id(), receiver.id()) { (sender, receiver) } else { (receiver, sender) };
    offerer.0.add_media_track(offerer.1.id().clone(), MediaType::Audio).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    receiver.register_media_handler(MediaType::Audio, move |sample: MediaSample, _from: ActrId| {
        let _ = tx.send(sample.data.len());
        Box::pin(std::future::ready(Ok(()))) as BoxFuture<'static, Result<(), ActrError>>
    })?;
    let started = Instant::now();
    for i in 0..frames {
        let timestamp = (i as u32).wrapping_mul(FRAME_TICKS);
        let sample = MediaSample { media_type: MediaType::Audio, timestamp, data: vec![0x4d; FRAME_BYTES] };
        sender.send_media(receiver.id().clone(), sample).await?;
    }
    let mut arrived = 0;
    let collect = async {
        while arrived < frames && rx.recv().await.is_some() {
            arrived += 1;
        }
    };
    let _ = tokio::time::timeout(MEDIA_WAIT, collect).await;
    let took = started.elapsed();
    let side = if std::ptr::eq(offerer.0, sender) { "sender" } else { "receiver" };
    let note = format!("{arrived} of {frames} frames arrived on an Opus RTP track (added by the {side}, the offerer)");
    Ok(Phase { kind: "media", wire: "webrtc", count: arrived, payload: FRAME_BYTES, took, latencies: None, note })
}
