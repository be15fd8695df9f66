//! Lanes as data channels: fragmentation, bounded outbound queues, reassembly.
//!
//! This part never touches the `Rtc`: [`LaneChannels`] decides what to write
//! and what was received, and the peer does the writing (draining str0m after
//! each write).

use std::collections::VecDeque;

use actr_core::Instant as CoreInstant;
use actr_core::transport::fragment::FRAGMENT_HEADER;
use actr_core::transport::{FragmentError, Fragmenter, LaneKind, Reassembler};
use str0m::channel::{ChannelConfig, ChannelId, Reliability};

use super::errors::{RtcPeerError, SendError};
use super::{CHANNEL_LANES, RtcPeerConfig};

/// str0m's configuration of the data channel carrying `lane`.
pub(super) fn channel_config(lane: LaneKind) -> ChannelConfig {
    let (ordered, retransmits) = lane.channel_reliability();
    let reliability = match retransmits {
        None => Reliability::Reliable,
        Some(retransmits) => Reliability::MaxRetransmits { retransmits },
    };
    ChannelConfig { label: lane.label().to_string(), ordered, reliability, ..Default::default() }
}

/// One lane's channel, outbound queue and reassembly.
#[derive(Debug)]
struct LaneChannel {
    lane: LaneKind,
    id: Option<ChannelId>,
    fragmenter: Fragmenter,
    /// Fragments not yet accepted by the channel, oldest first.
    queue: VecDeque<Vec<u8>>,
    queued_bytes: usize,
    queue_high_water: usize,
    reassembler: Reassembler,
}

/// The data channel lanes of one peer.
#[derive(Debug)]
pub(super) struct LaneChannels {
    lanes: Vec<LaneChannel>,
    max_queued: usize,
    max_message: usize,
    room: usize,
}

impl LaneChannels {
    pub(super) fn new(config: &RtcPeerConfig) -> Result<Self, RtcPeerError> {
        let lanes = CHANNEL_LANES
            .iter()
            .map(|&lane| {
                let fragmenter = Fragmenter::new(config.fragment_size, config.max_message)
                    .map_err(|e| RtcPeerError::Config(e.to_string()))?;
                Ok(LaneChannel {
                    lane,
                    id: None,
                    fragmenter,
                    queue: VecDeque::new(),
                    queued_bytes: 0,
                    queue_high_water: 0,
                    reassembler: Reassembler::new(config.reassembly),
                })
            })
            .collect::<Result<Vec<_>, RtcPeerError>>()?;
        let room = config.fragment_size - FRAGMENT_HEADER;
        Ok(Self { lanes, max_queued: config.max_queued_bytes, max_message: config.max_message, room })
    }

    fn get(&self, lane: LaneKind) -> Option<&LaneChannel> {
        self.lanes.iter().find(|l| l.lane == lane)
    }

    fn get_mut(&mut self, lane: LaneKind) -> Option<&mut LaneChannel> {
        self.lanes.iter_mut().find(|l| l.lane == lane)
    }

    /// The lane carried by channel `id`, if it is one of ours.
    pub(super) fn lane_of(&self, id: ChannelId) -> Option<LaneKind> {
        self.lanes.iter().find(|l| l.id == Some(id)).map(|l| l.lane)
    }

    pub(super) fn channel_id(&self, lane: LaneKind) -> Option<ChannelId> {
        self.get(lane).and_then(|l| l.id)
    }

    pub(super) fn is_open(&self, lane: LaneKind) -> bool {
        self.channel_id(lane).is_some()
    }

    /// Binds an opened channel to the lane its label names. Returns the lane,
    /// or `None` for unknown labels, media's label, and a second channel of a
    /// lane that already has one.
    pub(super) fn open(&mut self, id: ChannelId, label: &str) -> Option<LaneKind> {
        let lane = LaneKind::from_label(label)?;
        let slot = self.get_mut(lane)?;
        if slot.id.is_some() {
            return None;
        }
        slot.id = Some(id);
        Some(lane)
    }

    /// Unbinds a closed channel. Returns its lane and the queued bytes dropped
    /// with it (they can no longer be delivered in order).
    pub(super) fn close(&mut self, id: ChannelId) -> Option<(LaneKind, usize)> {
        let slot = self.lanes.iter_mut().find(|l| l.id == Some(id))?;
        slot.id = None;
        slot.queue.clear();
        let dropped = std::mem::take(&mut slot.queued_bytes);
        Some((slot.lane, dropped))
    }

    /// Bytes a message occupies once fragmented.
    fn framed_len(&self, len: usize) -> usize {
        len + len.div_ceil(self.room).max(1) * FRAGMENT_HEADER
    }

    /// Queues all fragments of `message`, or none of them.
    ///
    /// A message is refused when the queue is not empty and would exceed its
    /// bound; an empty queue takes any message up to `max_message`, so the
    /// queue never holds more than the larger of the two.
    pub(super) fn enqueue(&mut self, lane: LaneKind, message: &[u8]) -> Result<(), SendError> {
        if message.len() > self.max_message {
            return Err(SendError::TooLarge { len: message.len(), max: self.max_message });
        }
        let framed = self.framed_len(message.len());
        let limit = self.max_queued;
        let slot = self.get_mut(lane).ok_or(SendError::NotAChannel(lane))?;
        if slot.id.is_none() {
            return Err(SendError::NotOpen(lane));
        }
        if slot.queued_bytes > 0 && slot.queued_bytes + framed > limit {
            return Err(SendError::Backpressure { lane, queued: slot.queued_bytes, limit });
        }
        let fragments = slot.fragmenter.split(message).map_err(|e| match e {
            FragmentError::TooLarge { len, max } => SendError::TooLarge { len, max },
            other => SendError::Rtc(other.to_string()),
        })?;
        for fragment in fragments {
            slot.queued_bytes += fragment.len();
            slot.queue.push_back(fragment);
        }
        slot.queue_high_water = slot.queue_high_water.max(slot.queued_bytes);
        Ok(())
    }

    /// The next fragment to write on `lane` and its channel.
    pub(super) fn front(&self, lane: LaneKind) -> Option<(ChannelId, &[u8])> {
        let slot = self.get(lane)?;
        Some((slot.id?, slot.queue.front()?.as_slice()))
    }

    /// Forgets the fragment that [`LaneChannels::front`] returned; it was written.
    pub(super) fn pop(&mut self, lane: LaneKind) {
        if let Some(slot) = self.get_mut(lane)
            && let Some(fragment) = slot.queue.pop_front()
        {
            slot.queued_bytes -= fragment.len();
        }
    }

    /// Lanes with an open channel and fragments waiting.
    pub(super) fn backlogged(&self) -> Vec<LaneKind> {
        self.lanes.iter().filter(|l| l.id.is_some() && !l.queue.is_empty()).map(|l| l.lane).collect()
    }

    /// Takes one received data channel message; returns the whole application
    /// message once its last fragment arrives.
    pub(super) fn receive(
        &mut self,
        lane: LaneKind,
        now: CoreInstant,
        fragment: &[u8],
    ) -> Result<Option<Vec<u8>>, FragmentError> {
        match self.get_mut(lane) {
            Some(slot) => slot.reassembler.push(now, fragment),
            None => Ok(None),
        }
    }

    /// Discards partial messages past their deadline; returns how many.
    pub(super) fn handle_timeout(&mut self, now: CoreInstant) -> usize {
        self.lanes.iter_mut().map(|l| l.reassembler.handle_timeout(now)).sum()
    }

    pub(super) fn poll_timeout(&self) -> Option<CoreInstant> {
        self.lanes.iter().filter_map(|l| l.reassembler.poll_timeout()).min()
    }

    pub(super) fn queued_bytes(&self, lane: LaneKind) -> usize {
        self.get(lane).map_or(0, |l| l.queued_bytes)
    }

    pub(super) fn queue_high_water(&self, lane: LaneKind) -> usize {
        self.get(lane).map_or(0, |l| l.queue_high_water)
    }

    pub(super) fn reassembly_bytes(&self, lane: LaneKind) -> usize {
        self.get(lane).map_or(0, |l| l.reassembler.buffered_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes(max_queued: usize) -> LaneChannels {
        let config = RtcPeerConfig { fragment_size: 1024, max_queued_bytes: max_queued, ..Default::default() };
        LaneChannels::new(&config).unwrap()
    }

    /// Channel ids as str0m hands them out (it has no public constructor).
    fn ids(n: usize) -> Vec<ChannelId> {
        let config = str0m::Rtc::builder().set_dtls_cert(super::super::test_pair::shared_cert());
        let mut rtc = config.build(std::time::Instant::now());
        let mut api = rtc.sdp_api();
        (0..n).map(|_| api.add_channel("x".into())).collect()
    }

    #[test]
    fn labels_map_to_lanes_and_unknown_labels_are_ignored() {
        let mut l = lanes(1 << 20);
        let [a, b, c] = ids(3)[..] else { unreachable!() };
        assert_eq!(l.open(a, "actr-rpc"), Some(LaneKind::Rpc));
        assert_eq!(l.open(b, "not-ours"), None);
        assert_eq!(l.open(b, LaneKind::Media.label()), None, "media is not a channel lane");
        assert_eq!(l.open(c, "actr-rpc"), None, "a lane binds once");
        assert_eq!(l.lane_of(a), Some(LaneKind::Rpc));
        assert_eq!(l.lane_of(b), None);
        let cfg = channel_config(LaneKind::Stream);
        assert!(!cfg.ordered);
        assert_eq!(cfg.reliability, Reliability::MaxRetransmits { retransmits: 3 });
        assert_eq!(channel_config(LaneKind::Rpc).reliability, Reliability::Reliable);
    }

    #[test]
    fn queue_is_all_or_nothing_and_bounded() {
        let mut l = lanes(4096);
        assert_eq!(l.enqueue(LaneKind::Rpc, b"x"), Err(SendError::NotOpen(LaneKind::Rpc)));
        assert_eq!(l.enqueue(LaneKind::Media, b"x"), Err(SendError::NotAChannel(LaneKind::Media)));
        l.open(ids(1)[0], "actr-rpc");
        // An empty queue takes a message larger than its bound.
        l.enqueue(LaneKind::Rpc, &[7; 5000]).unwrap();
        assert_eq!(l.queued_bytes(LaneKind::Rpc), 5000 + 5 * FRAGMENT_HEADER);
        let refused = l.enqueue(LaneKind::Rpc, b"y");
        assert!(matches!(refused, Err(SendError::Backpressure { lane: LaneKind::Rpc, .. })));
        while l.front(LaneKind::Rpc).is_some() {
            l.pop(LaneKind::Rpc);
        }
        assert_eq!(l.queued_bytes(LaneKind::Rpc), 0);
        l.enqueue(LaneKind::Rpc, b"y").unwrap();
        assert_eq!(l.backlogged(), vec![LaneKind::Rpc]);
        assert_eq!(l.queue_high_water(LaneKind::Rpc), 5040);
    }
}
