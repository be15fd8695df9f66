//! Offer/answer bookkeeping: who offers, the one outstanding exchange, and
//! the changes waiting for the next offer.
//!
//! Only the offerer creates offers, one at a time. Changes asked for while an
//! offer is outstanding (a new media track) wait for its answer; an ICE
//! restart supersedes an outstanding restart or renegotiation (its changes are
//! carried into the new offer). Each method performs at most one mutation of
//! the `Rtc`; the caller drains str0m after it.

use str0m::Rtc;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, Mid};

use super::CHANNEL_LANES;
use super::channels::channel_config;
use super::errors::RtcPeerError;
use super::media::MediaType;
use super::tracks::MAX_TRACKS;
use actr_core::node::signal::RtcSignal;

/// An offer sent and not yet answered.
struct Outstanding {
    exchange_id: u64,
    pending: SdpPendingOffer,
    media: Vec<(MediaType, Mid)>,
    restart: bool,
}

impl std::fmt::Debug for Outstanding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outstanding")
            .field("exchange_id", &self.exchange_id)
            .field("media", &self.media)
            .field("restart", &self.restart)
            .finish_non_exhaustive()
    }
}

/// What became of a remote answer.
#[derive(Debug)]
pub(super) enum AnswerOutcome {
    /// Applied: these local tracks are now negotiated.
    Accepted { media: Vec<(MediaType, Mid)> },
    /// Not the outstanding offer's exchange id.
    Stale,
    /// This side is the answerer.
    Ignored,
}

/// The SDP state of one peer.
#[derive(Debug)]
pub(super) struct Negotiator {
    offerer: bool,
    next_exchange_id: u64,
    outstanding: Option<Outstanding>,
    wanted_channels: bool,
    wanted_media: Vec<MediaType>,
    wanted_restart: bool,
    /// An offer/answer has completed at least once.
    established: bool,
    /// Answerer: the newest offer answered.
    last_offer_id: Option<u64>,
}

impl Negotiator {
    pub(super) fn new(offerer: bool, first_exchange_id: u64) -> Self {
        Self {
            offerer,
            next_exchange_id: first_exchange_id,
            outstanding: None,
            wanted_channels: offerer,
            wanted_media: Vec::new(),
            wanted_restart: false,
            established: false,
            last_offer_id: None,
        }
    }

    pub(super) fn is_offerer(&self) -> bool {
        self.offerer
    }

    pub(super) fn is_established(&self) -> bool {
        self.established
    }

    /// A local description (offer or answer) has gone out, so new local
    /// candidates must be trickled.
    pub(super) fn described(&self) -> bool {
        self.established || self.outstanding.is_some()
    }

    pub(super) fn restart_in_flight(&self) -> bool {
        self.wanted_restart || self.outstanding.as_ref().is_some_and(|o| o.restart)
    }

    /// Asks for a media track in the next offer. `negotiated` counts tracks already up.
    pub(super) fn want_media(&mut self, media_type: MediaType, negotiated: usize) -> Result<(), RtcPeerError> {
        if !self.offerer {
            return Err(RtcPeerError::NotOfferer("add media tracks"));
        }
        let outstanding = self.outstanding.as_ref().map_or(0, |o| o.media.len());
        if negotiated + outstanding + self.wanted_media.len() >= MAX_TRACKS {
            return Err(RtcPeerError::TooManyTracks(MAX_TRACKS));
        }
        self.wanted_media.push(media_type);
        Ok(())
    }

    /// Asks for an ICE restart in the next offer, superseding an outstanding
    /// restart or renegotiation.
    pub(super) fn want_restart(&mut self) -> Result<(), RtcPeerError> {
        if !self.offerer {
            return Err(RtcPeerError::NotOfferer("restart ICE"));
        }
        if !self.established {
            return Err(RtcPeerError::NegotiationPending);
        }
        if let Some(old) = self.outstanding.take() {
            // str0m invalidates the old pending offer when the new one is applied;
            // its answer, if it ever comes, is stale by exchange id.
            self.wanted_media.extend(old.media.into_iter().map(|(t, _)| t));
        }
        self.wanted_restart = true;
        Ok(())
    }

    /// Builds the next offer if this side offers, nothing is outstanding and
    /// something is wanted.
    pub(super) fn make_offer(&mut self, rtc: &mut Rtc) -> Option<RtcSignal> {
        let wanted = self.wanted_channels || !self.wanted_media.is_empty() || self.wanted_restart;
        if !self.offerer || self.outstanding.is_some() || !wanted {
            return None;
        }
        let mut api = rtc.sdp_api();
        if self.wanted_channels {
            for lane in CHANNEL_LANES {
                api.add_channel_with_config(channel_config(lane));
            }
        }
        let media: Vec<(MediaType, Mid)> = self
            .wanted_media
            .iter()
            .map(|&t| {
                let stream = format!("actr-{}", if t == MediaType::Audio { "audio" } else { "video" });
                (t, api.add_media(t.kind(), Direction::SendRecv, Some(stream), None, None))
            })
            .collect();
        if self.wanted_restart {
            api.ice_restart(true);
        }
        let (offer, pending) = api.apply()?;
        let exchange_id = self.next_exchange_id;
        self.next_exchange_id = self.next_exchange_id.wrapping_add(1);
        self.outstanding = Some(Outstanding { exchange_id, pending, media, restart: self.wanted_restart });
        self.wanted_channels = false;
        self.wanted_media.clear();
        self.wanted_restart = false;
        Some(RtcSignal::Offer { sdp: offer.to_sdp_string(), exchange_id })
    }

    /// Applies the remote answer if it answers the outstanding offer.
    pub(super) fn on_answer(
        &mut self,
        rtc: &mut Rtc,
        sdp: &str,
        exchange_id: u64,
    ) -> Result<AnswerOutcome, RtcPeerError> {
        if !self.offerer {
            return Ok(AnswerOutcome::Ignored);
        }
        if self.outstanding.as_ref().is_none_or(|o| o.exchange_id != exchange_id) {
            return Ok(AnswerOutcome::Stale);
        }
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| RtcPeerError::Sdp(e.to_string()))?;
        let Some(o) = self.outstanding.take() else { return Ok(AnswerOutcome::Stale) };
        rtc.sdp_api().accept_answer(o.pending, answer).map_err(|e| RtcPeerError::Sdp(e.to_string()))?;
        self.established = true;
        Ok(AnswerOutcome::Accepted { media: o.media })
    }

    /// Answers a remote offer; `None` when this side offers or the offer is older
    /// than one already answered.
    pub(super) fn on_offer(
        &mut self,
        rtc: &mut Rtc,
        sdp: &str,
        exchange_id: u64,
    ) -> Result<Option<RtcSignal>, RtcPeerError> {
        if self.offerer || self.last_offer_id.is_some_and(|last| exchange_id <= last) {
            return Ok(None);
        }
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| RtcPeerError::Sdp(e.to_string()))?;
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| RtcPeerError::Sdp(e.to_string()))?;
        self.last_offer_id = Some(exchange_id);
        self.established = true;
        Ok(Some(RtcSignal::Answer { sdp: answer.to_sdp_string(), exchange_id }))
    }
}
