use super::*;
use crate::error::{Classify, ErrorKind};
use crate::transport::chunk::StreamSender;

const LF: DeliveryPolicy = DeliveryPolicy::LatencyFirst;
const REL: DeliveryPolicy = DeliveryPolicy::Reliable;

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

fn chunk(stream_id: u64, sequence: u64, end: bool) -> DataChunk {
    DataChunk { stream_id, sequence, payload: vec![sequence as u8; 10], end }
}

fn receiver(config: StreamConfig) -> StreamReceiver {
    StreamReceiver::new(config).expect("valid config")
}

fn events(r: &mut StreamReceiver) -> Vec<StreamEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

/// Sequence numbers of the chunks among `events`, with `end` marked by `+ 1000`.
fn delivered(events: &[StreamEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Chunk(c) => Some(c.sequence + if c.end { 1000 } else { 0 }),
            _ => None,
        })
        .collect()
}

fn feed(r: &mut StreamReceiver, now: Instant, policy: DeliveryPolicy, c: DataChunk) -> Arrival {
    r.handle_chunk(now, policy, c).expect("chunk accepted")
}

#[test]
fn in_order_chunks_are_delivered_and_the_stream_closes() {
    let mut r = receiver(StreamConfig::default());
    assert_eq!(feed(&mut r, at(0), REL, chunk(1, 0, false)), Arrival::Delivered);
    assert_eq!(feed(&mut r, at(0), REL, chunk(1, 1, false)), Arrival::Delivered);
    assert_eq!(r.open_streams(), 1);
    assert_eq!(feed(&mut r, at(0), REL, chunk(1, 2, true)), Arrival::Delivered);
    assert_eq!(delivered(&events(&mut r)), vec![0, 1, 1002]);
    assert_eq!(r.open_streams(), 0);
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.stats().ended, 1);
    assert_eq!(r.stats().delivered, 3);
}

#[test]
fn reordered_chunks_come_out_in_order() {
    let mut r = receiver(StreamConfig::default());
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 2, false)), Arrival::Buffered);
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 1, false)), Arrival::Buffered);
    assert_eq!(r.buffered_bytes(), 20);
    assert!(events(&mut r).is_empty());
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 0, false)), Arrival::Delivered);
    assert_eq!(delivered(&events(&mut r)), vec![0, 1, 2]);
    assert_eq!(r.buffered_bytes(), 0);
    assert_eq!(r.next_sequence(1), Some(3));
}

#[test]
fn streams_are_independent() {
    let mut r = receiver(StreamConfig::default());
    feed(&mut r, at(0), LF, chunk(1, 1, false));
    feed(&mut r, at(0), REL, chunk(2, 0, false));
    assert_eq!(events(&mut r), vec![StreamEvent::Chunk(chunk(2, 0, false))]);
    feed(&mut r, at(0), LF, chunk(1, 0, false));
    assert_eq!(delivered(&events(&mut r)), vec![0, 1]);
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let mut r = receiver(StreamConfig::default());
    feed(&mut r, at(0), LF, chunk(1, 0, false));
    feed(&mut r, at(0), LF, chunk(1, 2, false));
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 0, false)), Arrival::Duplicate, "already delivered");
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 2, false)), Arrival::Duplicate, "already held");
    feed(&mut r, at(0), LF, chunk(1, 1, false));
    feed(&mut r, at(0), LF, chunk(1, 3, true));
    assert_eq!(delivered(&events(&mut r)), vec![0, 1, 2, 1003]);
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 3, true)), Arrival::Duplicate, "stream closed");
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 1, false)), Arrival::Duplicate, "stream closed");
    assert!(events(&mut r).is_empty());
    assert_eq!(r.stats().duplicates, 4);
    assert_eq!(r.open_streams(), 0, "late copies do not reopen a closed stream");
}

#[test]
fn end_is_delivered_once_after_every_earlier_chunk() {
    let mut r = receiver(StreamConfig::default());
    feed(&mut r, at(0), REL, chunk(7, 3, true));
    feed(&mut r, at(0), REL, chunk(7, 1, false));
    feed(&mut r, at(0), REL, chunk(7, 0, false));
    assert_eq!(delivered(&events(&mut r)), vec![0, 1]);
    assert_eq!(r.open_streams(), 1);
    feed(&mut r, at(0), REL, chunk(7, 2, false));
    assert_eq!(delivered(&events(&mut r)), vec![2, 1003]);
    assert_eq!(r.open_streams(), 0);
    assert_eq!(r.stats().ended, 1);
}

#[test]
fn chunks_after_the_end_are_invalid() {
    let mut r = receiver(StreamConfig::default());
    feed(&mut r, at(0), LF, chunk(1, 5, false));
    feed(&mut r, at(0), LF, chunk(1, 3, true));
    assert_eq!(r.buffered_bytes(), 10, "the held chunk after the end is discarded");
    let after = r.handle_chunk(at(0), LF, chunk(1, 4, false));
    assert_eq!(after, Err(StreamError::AfterEnd { stream_id: 1, sequence: 4, end: 3 }));
    let second_end = r.handle_chunk(at(0), LF, chunk(1, 2, true));
    assert_eq!(second_end, Err(StreamError::AfterEnd { stream_id: 1, sequence: 2, end: 3 }));
    assert!(second_end.unwrap_err().requires_dlq());
    assert_eq!(r.stats().rejected, 3);
    for s in 0..3 {
        feed(&mut r, at(0), LF, chunk(1, s, false));
    }
    assert_eq!(delivered(&events(&mut r)), vec![0, 1, 2, 1003]);
}

#[test]
fn latency_first_skips_a_gap_at_its_deadline() {
    let mut r = receiver(StreamConfig::default());
    feed(&mut r, at(0), LF, chunk(1, 0, false));
    feed(&mut r, at(100), LF, chunk(1, 2, false));
    feed(&mut r, at(200), LF, chunk(1, 3, false));
    assert_eq!(delivered(&events(&mut r)), vec![0]);
    assert_eq!(r.next_timer(), Some((1, StreamTimer::Gap, at(600))));
    r.handle_timeout(at(599));
    assert!(events(&mut r).is_empty());
    r.handle_timeout(at(600));
    let out = events(&mut r);
    assert_eq!(out[0], StreamEvent::Gap { stream_id: 1, missing: 1..2 });
    assert_eq!(delivered(&out), vec![2, 3]);
    assert_eq!(feed(&mut r, at(700), LF, chunk(1, 1, false)), Arrival::Duplicate, "too late");
    assert_eq!(r.stats().skipped, 1);
    assert_eq!(r.next_timer(), Some((1, StreamTimer::Idle, at(700) + Duration::from_secs(60))));
}

#[test]
fn each_gap_waits_for_the_chunk_held_behind_it() {
    let mut r = receiver(StreamConfig::default());
    feed(&mut r, at(0), LF, chunk(1, 2, false));
    feed(&mut r, at(400), LF, chunk(1, 5, false));
    r.handle_timeout(at(500));
    let out = events(&mut r);
    assert_eq!(out[0], StreamEvent::Gap { stream_id: 1, missing: 0..2 });
    assert_eq!(delivered(&out), vec![2]);
    assert_eq!(r.poll_timeout(), Some(at(900)), "the next gap counts from when chunk 5 arrived");
    feed(&mut r, at(600), LF, chunk(1, 3, false));
    r.handle_timeout(at(900));
    let out = events(&mut r);
    assert_eq!(out[1], StreamEvent::Gap { stream_id: 1, missing: 4..5 });
    assert_eq!(delivered(&out), vec![3, 5]);
}

#[test]
fn latency_first_end_after_a_gap_closes_the_stream() {
    let mut r = receiver(StreamConfig::default());
    feed(&mut r, at(0), LF, chunk(1, 0, false));
    feed(&mut r, at(0), LF, chunk(1, 2, true));
    r.handle_timeout(at(500));
    assert_eq!(delivered(&events(&mut r)), vec![0, 1002]);
    assert_eq!(r.open_streams(), 0);
    assert_eq!(r.stats().ended, 1);
}

#[test]
fn reliable_gap_fails_the_stream_at_its_deadline() {
    let mut r = receiver(StreamConfig::default());
    feed(&mut r, at(0), REL, chunk(1, 0, false));
    feed(&mut r, at(5), REL, chunk(1, 2, false));
    r.handle_timeout(at(5) + Duration::from_secs(10));
    let out = events(&mut r);
    let error = StreamError::GapTimeout { stream_id: 1, missing: 1 };
    assert_eq!(out.last(), Some(&StreamEvent::Failed { stream_id: 1, error: error.clone() }));
    assert_eq!(delivered(&out), vec![0]);
    assert!(error.is_retryable());
    assert_eq!(r.buffered_bytes(), 0);
    assert_eq!(r.open_streams(), 0);
    assert_eq!(feed(&mut r, at(20), REL, chunk(1, 1, false)), Arrival::Duplicate);
    assert_eq!(r.stats().failed, 1);
}

#[test]
fn reliable_chunk_beyond_the_window_fails_the_stream() {
    let config = StreamConfig { window: 4, ..StreamConfig::default() };
    let mut r = receiver(config);
    feed(&mut r, at(0), REL, chunk(1, 3, false));
    let e = r.handle_chunk(at(0), REL, chunk(1, 4, false)).unwrap_err();
    assert_eq!(e, StreamError::BeyondWindow { stream_id: 1, sequence: 4, next: 0, window: 4 });
    assert_eq!(events(&mut r), vec![StreamEvent::Failed { stream_id: 1, error: e }]);
    assert_eq!((r.open_streams(), r.buffered_bytes()), (0, 0));
    assert_eq!(r.stats().rejected, 1);
}

#[test]
fn latency_first_chunk_beyond_the_window_slides_it() {
    let config = StreamConfig { window: 4, ..StreamConfig::default() };
    let mut r = receiver(config);
    feed(&mut r, at(0), LF, chunk(1, 2, false));
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 7, false)), Arrival::Buffered);
    let out = events(&mut r);
    assert_eq!(out[0], StreamEvent::Gap { stream_id: 1, missing: 0..2 });
    assert_eq!(out[2], StreamEvent::Gap { stream_id: 1, missing: 3..4 });
    assert_eq!(delivered(&out), vec![2]);
    assert_eq!(r.next_sequence(1), Some(4), "chunk 7 is now the window's last");
    assert_eq!(r.stats().skipped, 3);
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 100, false)), Arrival::Buffered);
    assert_eq!(r.next_sequence(1), Some(97));
    assert_eq!(delivered(&events(&mut r)), vec![7]);
}

#[test]
fn window_of_one_delivers_only_the_newest() {
    let config = StreamConfig { window: 1, ..StreamConfig::default() };
    let mut r = receiver(config);
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 3, false)), Arrival::Delivered);
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 2, false)), Arrival::Duplicate);
    assert_eq!(delivered(&events(&mut r)), vec![3]);
}

#[test]
fn stream_count_is_bounded() {
    let config = StreamConfig { max_streams: 2, ..StreamConfig::default() };
    let mut r = receiver(config);
    feed(&mut r, at(0), LF, chunk(1, 0, false));
    feed(&mut r, at(0), REL, chunk(2, 0, false));
    let e = r.handle_chunk(at(0), LF, chunk(3, 0, false)).unwrap_err();
    assert_eq!(e, StreamError::TooManyStreams { max: 2 });
    assert_eq!(e.kind(), ErrorKind::Transient);
    feed(&mut r, at(0), REL, chunk(2, 1, true));
    assert_eq!(feed(&mut r, at(0), LF, chunk(3, 0, false)), Arrival::Delivered, "a closed stream frees its slot");
}

#[test]
fn buffered_bytes_are_bounded() {
    let config = StreamConfig { max_buffered_bytes: 25, ..StreamConfig::default() };
    let mut r = receiver(config);
    feed(&mut r, at(0), LF, chunk(1, 1, false));
    feed(&mut r, at(0), REL, chunk(2, 1, false));
    let full = StreamError::BufferFull { buffered: 20, max: 25 };
    assert_eq!(r.handle_chunk(at(0), LF, chunk(1, 2, false)), Err(full.clone()));
    assert!(events(&mut r).is_empty(), "a latency-first stream only loses the chunk");
    assert_eq!(r.handle_chunk(at(0), REL, chunk(2, 2, false)), Err(full.clone()));
    assert_eq!(events(&mut r), vec![StreamEvent::Failed { stream_id: 2, error: full }]);
    assert_eq!(r.buffered_bytes(), 10);
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 0, false)), Arrival::Delivered, "in-order chunks need no room");
    assert_eq!(delivered(&events(&mut r)), vec![0, 1]);
}

#[test]
fn oversized_and_exhausted_chunks_are_refused() {
    let config = StreamConfig { max_chunk_payload: 8, ..StreamConfig::default() };
    let mut r = receiver(config);
    let e = r.handle_chunk(at(0), LF, chunk(1, 0, false)).unwrap_err();
    assert_eq!(e, StreamError::ChunkTooLarge { len: 10, max: 8 });
    let max = DataChunk { stream_id: 1, sequence: u64::MAX, payload: vec![], end: false };
    assert_eq!(r.handle_chunk(at(0), LF, max), Err(StreamError::SequenceExhausted { stream_id: 1 }));
    assert_eq!(r.open_streams(), 0);
}

#[test]
fn idle_streams_fail() {
    let mut r = receiver(StreamConfig::default());
    feed(&mut r, at(0), REL, chunk(1, 0, false));
    let idle_at = at(0) + Duration::from_secs(60);
    assert_eq!(r.next_timer(), Some((1, StreamTimer::Idle, idle_at)));
    r.handle_timeout(idle_at);
    let out = events(&mut r);
    assert_eq!(
        out.last(),
        Some(&StreamEvent::Failed { stream_id: 1, error: StreamError::IdleTimeout { stream_id: 1 } })
    );
    assert_eq!(r.open_streams(), 0);
}

#[test]
fn policy_is_fixed_by_the_first_chunk() {
    let mut r = receiver(StreamConfig::default());
    feed(&mut r, at(0), REL, chunk(1, 0, false));
    assert_eq!(r.handle_chunk(at(0), LF, chunk(1, 1, false)), Err(StreamError::PolicyMismatch { stream_id: 1 }));
    assert_eq!(feed(&mut r, at(0), REL, chunk(1, 1, false)), Arrival::Delivered);
}

#[test]
fn undrained_events_refuse_new_chunks() {
    let config = StreamConfig { max_events: 2, ..StreamConfig::default() };
    let mut r = receiver(config);
    feed(&mut r, at(0), REL, chunk(1, 0, false));
    feed(&mut r, at(0), REL, chunk(1, 1, false));
    let e = r.handle_chunk(at(0), REL, chunk(1, 2, false)).unwrap_err();
    assert_eq!(e, StreamError::EventsNotDrained { pending: 2 });
    assert_eq!(e.kind(), ErrorKind::Internal);
    let out = events(&mut r);
    assert_eq!(out.last(), Some(&StreamEvent::Failed { stream_id: 1, error: e }), "the reliable stream lost a chunk");
}

#[test]
fn closing_a_stream_frees_it_silently() {
    let mut r = receiver(StreamConfig::default());
    feed(&mut r, at(0), LF, chunk(1, 4, false));
    assert!(r.close_stream(1));
    assert!(!r.close_stream(1));
    assert_eq!((r.open_streams(), r.buffered_bytes(), r.pending_events()), (0, 0, 0));
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 0, false)), Arrival::Duplicate);
}

#[test]
fn closed_ids_are_remembered_within_a_bound() {
    let config = StreamConfig { max_closed: 2, ..StreamConfig::default() };
    let mut r = receiver(config);
    for id in 1..=3 {
        feed(&mut r, at(0), LF, chunk(id, 0, true));
    }
    assert_eq!(feed(&mut r, at(0), LF, chunk(3, 0, true)), Arrival::Duplicate);
    assert_eq!(feed(&mut r, at(0), LF, chunk(1, 0, true)), Arrival::Delivered, "the oldest id was forgotten");
}

#[test]
fn config_is_validated() {
    let bad = |c: StreamConfig| StreamReceiver::new(c).unwrap_err().kind();
    assert_eq!(bad(StreamConfig { window: 0, ..StreamConfig::default() }), ErrorKind::Client);
    assert_eq!(
        bad(StreamConfig { max_chunk_payload: MAX_CHUNK_PAYLOAD + 1, ..StreamConfig::default() }),
        ErrorKind::Client
    );
    let slow_gap = StreamConfig { reliable_gap_timeout: Duration::from_secs(60), ..StreamConfig::default() };
    assert!(StreamReceiver::new(slow_gap).is_err());
}

#[test]
fn sender_to_receiver_through_the_wire_in_any_order() {
    let mut sender = StreamSender::new(42);
    let mut wire: Vec<Vec<u8>> = (0..20u8).map(|i| sender.chunk(vec![i; 3]).unwrap().encode().unwrap()).collect();
    wire.push(sender.finish(b"bye".to_vec()).unwrap().encode().unwrap());
    // A fixed shuffle: stride 8 over 21 messages visits each once.
    let order: Vec<usize> = (0..21).map(|i| (i * 8) % 21).collect();
    let mut r = receiver(StreamConfig::default());
    for &i in &order {
        let c = DataChunk::decode(&wire[i]).unwrap();
        r.handle_chunk(at(0), LF, c).unwrap();
        r.handle_chunk(at(0), LF, DataChunk::decode(&wire[i]).unwrap()).unwrap();
    }
    let out = events(&mut r);
    let seqs: Vec<u64> = delivered(&out);
    assert_eq!(seqs, (0..20).chain([1020]).collect::<Vec<u64>>());
    assert_eq!(r.stats().duplicates, 21);
    assert_eq!(r.stats().ended, 1);
}
