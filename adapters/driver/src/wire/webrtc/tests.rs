//! Two in-memory peers on a virtual clock (see `test_pair.rs`).

use std::time::Duration;

use actr_core::transport::LaneKind::{self, Rpc, Stream};

use super::test_pair::{ADDR_A, Pair, addr, config};
use super::{MediaSample, MediaType, PeerTimer, RtcEvent, RtcPeer, RtcPeerConfig, RtcPeerError, RtcSignal, SendError};

fn pair() -> Pair {
    Pair::new(config(), config())
}

fn connected() -> Pair {
    let mut p = pair();
    p.connect();
    p
}

/// A message whose bytes encode its index and length.
fn message(index: u32, len: usize) -> Vec<u8> {
    let mut m = vec![(index % 251) as u8; len];
    let tag = index.to_be_bytes();
    m.iter_mut().zip(tag).for_each(|(b, t)| *b = t);
    m
}

fn is_message(e: &RtcEvent) -> bool {
    matches!(e, RtcEvent::Message { .. })
}

/// Runs until one message arrives at `b` (or `a` when `to_a`) and returns it.
fn receive(p: &mut Pair, to_a: bool) -> (LaneKind, Vec<u8>) {
    let mut got = None;
    let arrived = p.run_until(Duration::from_secs(30), |p| {
        let events = if to_a { &mut p.a_events } else { &mut p.b_events };
        got = Pair::take(events, is_message);
        got.is_some()
    });
    assert!(arrived, "no message arrived");
    match got {
        Some(RtcEvent::Message { lane, bytes }) => (lane, bytes),
        other => unreachable!("{other:?}"),
    }
}

#[test]
fn connects_and_opens_both_lanes() {
    let mut p = connected();
    for events in [&mut p.a_events, &mut p.b_events] {
        assert!(Pair::take(events, |e| *e == RtcEvent::Connected).is_some());
        assert!(Pair::take(events, |e| *e == RtcEvent::ChannelOpen(Rpc)).is_some());
        assert!(Pair::take(events, |e| *e == RtcEvent::ChannelOpen(Stream)).is_some());
    }
    assert!(p.a.is_offerer() && !p.b.is_offerer());
    assert!(p.a.is_connected() && p.b.is_connected());
    assert_eq!(p.a.next_timer(), None, "the setup deadline is off once RPC is open");
    assert_eq!(p.b.stats().unknown_channels, 0);
    assert!(p.now - p.start < Duration::from_secs(1), "took {:?} of virtual time", p.now - p.start);
}

#[test]
fn small_messages_travel_both_ways_on_both_lanes() {
    let mut p = connected();
    for lane in [Rpc, Stream] {
        p.a.send(lane, b"ping").unwrap();
        assert_eq!(receive(&mut p, false), (lane, b"ping".to_vec()));
        p.b.send(lane, b"pong").unwrap();
        assert_eq!(receive(&mut p, true), (lane, b"pong".to_vec()));
    }
    p.a.send(Rpc, b"").unwrap();
    assert_eq!(receive(&mut p, false), (Rpc, Vec::new()));
    assert_eq!(p.a.send(LaneKind::Media, b"x"), Err(SendError::NotAChannel(LaneKind::Media)));
}

#[test]
fn one_mib_message_is_fragmented_and_arrives_intact() {
    let mut p = connected();
    let big = message(7, 1 << 20);
    p.a.send(Rpc, &big).unwrap();
    let (lane, bytes) = receive(&mut p, false);
    assert_eq!(lane, Rpc);
    assert!(bytes == big, "content differs");
    assert!(p.a.stats().fragments_written >= 64);
    assert_eq!(p.b.reassembly_bytes(Rpc), 0);
    // The stream lane is unordered: fragments may arrive in any order.
    p.b.send(Stream, &big).unwrap();
    assert!(receive(&mut p, true) == (Stream, big.clone()), "stream lane content differs");
    let too_big = vec![0; super::RtcPeerConfig::default().max_message + 1];
    assert!(matches!(p.a.send(Rpc, &too_big), Err(SendError::TooLarge { .. })));
}

#[test]
fn twenty_mib_over_rpc_arrives_intact_with_bounded_queues() {
    const LEN: usize = 256 * 1024;
    const COUNT: u32 = 80; // 20 MiB
    let mut p = connected();
    let limits = config();
    let (mut next, mut received, mut refusals) = (0u32, 0u32, 0u32);
    let done = p.run_until(Duration::from_secs(600), |p| {
        while next < COUNT {
            match p.a.send(Rpc, &message(next, LEN)) {
                Ok(()) => next += 1,
                Err(SendError::Backpressure { queued, limit, .. }) => {
                    assert!(queued <= limit);
                    refusals += 1;
                    break;
                }
                Err(e) => panic!("send failed: {e}"),
            }
        }
        while let Some(RtcEvent::Message { lane, bytes }) = Pair::take(&mut p.b_events, is_message) {
            assert_eq!(lane, Rpc);
            assert!(bytes == message(received, LEN), "message {received} differs");
            received += 1;
        }
        assert!(p.a.queued_bytes(Rpc) <= limits.max_queued_bytes);
        assert!(p.b.reassembly_bytes(Rpc) <= limits.reassembly.max_buffered);
        assert!(p.b.pending_event_bytes() <= limits.max_pending_event_bytes);
        received == COUNT
    });
    assert!(done, "only {received} of {COUNT} messages arrived");
    assert!(refusals > 0, "the sender outran the channel at least once");
    assert!(p.a.queue_high_water(Rpc) <= limits.max_queued_bytes);
    assert_eq!(p.a.queued_bytes(Rpc), 0);
    assert_eq!(p.a.stats().transmits_dropped, 0);
}

#[test]
fn backpressure_refuses_instead_of_growing_memory() {
    let mut p = connected();
    let limit = config().max_queued_bytes;
    let chunk = message(1, 1 << 20);
    let mut accepted = 0;
    let refused = loop {
        match p.a.send(Rpc, &chunk) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 64, "the queue never filled");
    };
    assert!(matches!(refused, SendError::Backpressure { lane: Rpc, limit: l, .. } if l == limit), "{refused:?}");
    assert!(p.a.queued_bytes(Rpc) <= limit);
    assert!(matches!(p.a.send(Rpc, &chunk), Err(SendError::Backpressure { .. })), "still full without progress");
    // Everything accepted arrives, and the lane takes messages again.
    for _ in 0..accepted {
        assert_eq!(receive(&mut p, false).1.len(), chunk.len());
    }
    p.a.send(Rpc, &chunk).unwrap();
    assert_eq!(receive(&mut p, false).1.len(), chunk.len());
}

#[test]
fn unpolled_events_refuse_datagrams_and_nothing_is_lost() {
    let small = RtcPeerConfig { max_pending_event_bytes: 64 * 1024, ..config() };
    let mut p = Pair::new(config(), small);
    p.connect();
    p.poll_b_events = false;
    for i in 0..8 {
        p.a.send(Rpc, &message(i, 100 * 1024)).unwrap();
    }
    assert!(p.run_until(Duration::from_secs(5), |p| p.b_refusals > 0), "b never refused a datagram");
    assert!(p.b.pending_event_bytes() <= 64 * 1024 + 100 * 1024 + super::events::EVENT_OVERHEAD);
    p.poll_b_events = true;
    for i in 0..8 {
        assert!(receive(&mut p, false).1 == message(i, 100 * 1024), "message {i}");
    }
}

#[test]
fn stale_answer_is_ignored() {
    let mut p = connected();
    p.hold_b_signals = true;
    p.a.restart_ice().unwrap();
    p.step();
    p.a.restart_ice().unwrap(); // supersedes the first restart offer
    p.step();
    let ids: Vec<u64> = p
        .held_from_b
        .iter()
        .map(|s| match s {
            RtcSignal::Answer { exchange_id, .. } => *exchange_id,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(ids, vec![2, 3], "the initial offer was 1");
    let held = std::mem::take(&mut p.held_from_b);
    p.hold_b_signals = false;
    let [first, second] = <[RtcSignal; 2]>::try_from(held).unwrap();
    p.a.handle_signal(p.now, first).unwrap();
    assert_eq!(p.a.stats().stale_answers, 1);
    p.a.handle_signal(p.now, second.clone()).unwrap();
    p.a.handle_signal(p.now, second).unwrap();
    assert_eq!(p.a.stats().stale_answers, 2, "a repeated answer is stale too");
    assert!(p.run_until(Duration::from_secs(10), |p| {
        Pair::take(&mut p.a_events, |e| *e == RtcEvent::IceRestarted).is_some()
    }));
    p.a.send(Rpc, b"after").unwrap();
    assert_eq!(receive(&mut p, false).1, b"after");
}

#[test]
fn ice_restart_after_path_loss_keeps_channels_working() {
    let mut p = connected();
    p.network_up = false;
    let lost = p.run_until(Duration::from_secs(60), |p| {
        Pair::take(&mut p.a_events, |e| *e == RtcEvent::IceDisconnected).is_some()
    });
    assert!(lost, "ICE never noticed the broken path");
    assert_eq!(p.a.next_timer().map(|t| t.0), Some(PeerTimer::Recovery));
    p.network_up = true;
    p.a.restart_ice().unwrap();
    let restarted = p.run_until(Duration::from_secs(30), |p| {
        p.a_events.contains(&RtcEvent::IceRestarted) && p.b_events.contains(&RtcEvent::IceRestarted)
    });
    assert!(restarted, "a: {:?} b: {:?}", p.a_events, p.b_events);
    assert!(!p.a.is_closed() && !p.b.is_closed());
    p.a.send(Rpc, b"still here").unwrap();
    assert_eq!(receive(&mut p, false), (Rpc, b"still here".to_vec()));
    p.b.send(Stream, b"me too").unwrap();
    assert_eq!(receive(&mut p, true), (Stream, b"me too".to_vec()));
}

#[test]
fn answerer_requests_and_offerer_restarts() {
    let mut p = connected();
    assert_eq!(p.b.restart_ice(), Err(RtcPeerError::NotOfferer("restart ICE")));
    assert_eq!(p.b.add_media_track(MediaType::Audio), Err(RtcPeerError::NotOfferer("add media tracks")));
    p.b.request_ice_restart().unwrap();
    let restarted = p.run_until(Duration::from_secs(30), |p| p.a_events.contains(&RtcEvent::IceRestarted));
    assert!(restarted);
    assert_eq!(p.a.stats().ice_restarts, 1);
    p.b.send(Rpc, b"ok").unwrap();
    assert_eq!(receive(&mut p, true).1, b"ok");
}

#[test]
fn restart_before_the_first_answer_is_refused() {
    let mut p = pair();
    assert_eq!(p.a.restart_ice(), Err(RtcPeerError::NegotiationPending));
    assert_eq!(p.a.send(Rpc, b"x"), Err(SendError::NotOpen(Rpc)));
}

#[test]
fn setup_deadline_reports_disconnected() {
    let mut a = RtcPeer::offerer(config(), addr(ADDR_A), std::time::Instant::now()).unwrap();
    assert!(matches!(a.poll_signal(), Some(RtcSignal::Offer { exchange_id: 1, .. })));
    assert_eq!(a.next_timer().map(|t| t.0), Some(PeerTimer::Setup));
    let deadline = a.next_timer().unwrap().1;
    let mut events = Vec::new();
    for _ in 0..10_000 {
        let now = a.poll_timeout();
        a.handle_timeout(now).unwrap();
        events.extend(std::iter::from_fn(|| a.poll_event()));
        if a.is_closed() {
            break;
        }
    }
    assert_eq!(events, vec![RtcEvent::Disconnected]);
    assert!(a.poll_timeout() > deadline);
    assert_eq!(a.send(Rpc, b"x"), Err(SendError::Closed));
}

#[test]
fn close_reports_disconnected_on_both_sides() {
    let mut p = connected();
    p.a.close();
    let both = p.run_until(Duration::from_secs(30), |p| {
        p.a_events.contains(&RtcEvent::Disconnected) && p.b_events.contains(&RtcEvent::Disconnected)
    });
    assert!(both, "a: {:?} b: {:?}", p.a_events, p.b_events);
}

fn sample(media_type: MediaType, timestamp: u32, len: usize) -> MediaSample {
    MediaSample { media_type, timestamp, data: (0..len).map(|i| (i * 7 % 256) as u8).collect() }
}

fn receive_sample(p: &mut Pair, to_a: bool) -> MediaSample {
    let mut got = None;
    let arrived = p.run_until(Duration::from_secs(10), |p| {
        let events = if to_a { &mut p.a_events } else { &mut p.b_events };
        got = Pair::take(events, |e| matches!(e, RtcEvent::MediaSample(_)));
        got.is_some()
    });
    assert!(arrived, "no media sample arrived");
    match got {
        Some(RtcEvent::MediaSample(s)) => s,
        other => unreachable!("{other:?}"),
    }
}

fn has_tracks(events: &std::collections::VecDeque<RtcEvent>, types: &[MediaType]) -> bool {
    types.iter().all(|t| events.contains(&RtcEvent::MediaTrack(*t)))
}

#[test]
fn media_samples_round_trip_both_ways() {
    let mut p = pair();
    p.a.add_media_track(MediaType::Audio).unwrap();
    p.a.add_media_track(MediaType::Video).unwrap();
    p.connect();
    let both = [MediaType::Audio, MediaType::Video];
    assert!(p.run_until(Duration::from_secs(5), |p| has_tracks(&p.a_events, &both) && has_tracks(&p.b_events, &both)));
    let audio = sample(MediaType::Audio, 960, 120);
    p.a.send_media(audio.clone()).unwrap();
    assert_eq!(receive_sample(&mut p, false), audio);
    let video = sample(MediaType::Video, 90_000, 3000);
    p.b.send_media(video.clone()).unwrap();
    assert_eq!(receive_sample(&mut p, true), video);
}

#[test]
fn media_track_added_after_connecting_is_renegotiated() {
    let mut p = connected();
    assert_eq!(p.a.send_media(sample(MediaType::Audio, 0, 10)), Err(SendError::NoTrack(MediaType::Audio)));
    p.a.add_media_track(MediaType::Audio).unwrap();
    let audio = [MediaType::Audio];
    assert!(
        p.run_until(Duration::from_secs(5), |p| has_tracks(&p.a_events, &audio) && has_tracks(&p.b_events, &audio))
    );
    let s = sample(MediaType::Audio, 48_000, 80);
    p.b.send_media(s.clone()).unwrap();
    assert_eq!(receive_sample(&mut p, true), s);
    p.a.send(Rpc, b"channels unaffected").unwrap();
    assert_eq!(receive(&mut p, false).1, b"channels unaffected");
}
