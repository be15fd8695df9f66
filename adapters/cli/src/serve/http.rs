//! The HTTP surface: AIS endpoints, the signaling upgrade and a health check,
//! all on one axum router.
//!
//! AIS bodies are postcard envelopes ([`actr_core::wire::encode_message`]).
//! A request that cannot be decoded, or whose kind does not match its path,
//! is answered 400; a body over [`MAX_AIS_BODY`] is answered 413. Every other
//! outcome is HTTP 200 with an [`AisReply`], errors included.
//!
//! An AIS call signs credentials and, after a registration, writes SQLite
//! with `synchronous=FULL` (an fsync): it runs on tokio's blocking pool, never
//! on an async worker, at most [`MAX_AIS_IN_FLIGHT`] at a time. Further calls
//! wait for a slot; how many can wait is bounded by the connection caps.

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use actr_core::ais::{self, AisReply, AisRequest, MAX_AIS_BODY};
use actr_core::server::AisAnswer;
use actr_core::wire::{decode_message, encode_message};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::directory::StoreDirectory;
use super::hub::SharedHub;
use super::store::RegistryStore;
use super::ws::{self, SIGNALING_PATH};
use super::{clock, lock};

/// Path of the health check.
pub const HEALTH_PATH: &str = "/healthz";
/// AIS calls running on the blocking pool at once.
pub const MAX_AIS_IN_FLIGHT: usize = 4;

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    /// Taken for a whole AIS call, so calls (and their writes) run one at a time.
    pub store: Mutex<RegistryStore>,
    /// The AIS and the signaling server.
    pub hub: Arc<SharedHub>,
    /// Slots for AIS calls on the blocking pool.
    pub ais_slots: Semaphore,
}

/// Which AIS endpoint a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AisEndpoint {
    Register,
    Renew,
    SigningKey,
}

impl AisEndpoint {
    fn of(request: &AisRequest) -> AisEndpoint {
        match request {
            AisRequest::Register(_) => AisEndpoint::Register,
            AisRequest::Renew(_) => AisEndpoint::Renew,
            AisRequest::SigningKey { .. } => AisEndpoint::SigningKey,
        }
    }

    fn path(self) -> &'static str {
        match self {
            AisEndpoint::Register => ais::REGISTER_PATH,
            AisEndpoint::Renew => ais::RENEW_PATH,
            AisEndpoint::SigningKey => ais::SIGNING_KEY_PATH,
        }
    }
}

/// The router of `actr serve`.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(HEALTH_PATH, get(healthz))
        .route(ais::REGISTER_PATH, post(register))
        .route(ais::RENEW_PATH, post(renew))
        .route(ais::SIGNING_KEY_PATH, post(signing_key))
        .route(SIGNALING_PATH, get(ws::upgrade))
        .route(super::mfr::MFR_KEY_ROUTE, get(super::mfr::verifying_key))
        .layer(DefaultBodyLimit::max(MAX_AIS_BODY))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn register(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    answer_off_worker(state, AisEndpoint::Register, body).await
}

async fn renew(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    answer_off_worker(state, AisEndpoint::Renew, body).await
}

async fn signing_key(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    answer_off_worker(state, AisEndpoint::SigningKey, body).await
}

/// Runs [`answer`] on the blocking pool once a slot is free.
async fn answer_off_worker(state: Arc<AppState>, endpoint: AisEndpoint, body: Bytes) -> Response {
    let Ok(_slot) = state.ais_slots.acquire().await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    };
    let worker = Arc::clone(&state);
    match tokio::task::spawn_blocking(move || answer(&worker, endpoint, &body)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "AIS call panicked");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

/// Decodes, checks the endpoint, answers and encodes one AIS call.
fn answer(state: &AppState, endpoint: AisEndpoint, body: &[u8]) -> Response {
    let request: AisRequest = match decode_message(body, MAX_AIS_BODY) {
        Ok(request) => request,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("undecodable AIS request: {e}\n")).into_response(),
    };
    let got = AisEndpoint::of(&request);
    if got != endpoint {
        let msg = format!("{:?} request sent to {}; use {}\n", got, endpoint.path(), got.path());
        return (StatusCode::BAD_REQUEST, msg).into_response();
    }
    let reply = state.handle_ais(request);
    match encode_message(&reply, MAX_AIS_BODY) {
        Ok(bytes) => ([(header::CONTENT_TYPE, ais::CONTENT_TYPE)], bytes).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "AIS reply does not encode");
            (StatusCode::INTERNAL_SERVER_ERROR, "reply too large\n").into_response()
        }
    }
}

impl AppState {
    /// Answers one AIS request and, when the hub asks (a registration),
    /// persists the serial high-water mark before the new identity leaves
    /// the process. The fsync runs with the server hub unlocked: signaling
    /// does not wait for the disk.
    fn handle_ais(&self, request: AisRequest) -> AisReply {
        let store = lock(&self.store);
        let mut directory = StoreDirectory { store: &store };
        match self.hub.handle_ais(clock::unix_now(), request, &mut directory) {
            AisAnswer::Reply(reply) => reply,
            AisAnswer::PersistThenReply { next_serial, reply } => match store.save_next_serial(next_serial) {
                Ok(()) => reply,
                Err(e) => {
                    tracing::error!(error = %e, next_serial, "cannot persist the serial high-water mark");
                    AisAnswer::unrecorded()
                }
            },
        }
    }
}
