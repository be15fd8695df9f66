//! Manufacturers: registering their package-signing keys, publishing
//! packages they signed, and `GET /mfr/{manufacturer}/verifying_key` for
//! hosts that trust the registry (`actr_driver::RegistryTrust`).
//!
//! The lookup answers 200 with a JSON [`MfrKeyReply`], 404 when the
//! manufacturer has no such key, 400 for a malformed name or key id.

use std::io::Cursor;
use std::sync::Arc;

use actr_core::ActrType;
use actr_core::package::{MfrKeyReply, OpenedPackage, PackageError, PackageLimits, VerifiedPackage, is_key_id};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ed25519_dalek::VerifyingKey;

use super::http::AppState;
use super::lock;
use super::store::{PublishedPackage, RegistryStore, StoreError};

/// Route of the key lookup.
pub const MFR_KEY_ROUTE: &str = "/mfr/{manufacturer}/verifying_key";

/// Why registering a key or publishing a package failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MfrError {
    #[error("invalid manufacturer name {0:?}")]
    InvalidName(String),
    #[error("manufacturer {manufacturer} has no key {key_id}: register it with `actr mfr add`")]
    UnknownKey { manufacturer: String, key_id: String },
    #[error("package refused: {0}")]
    Package(#[from] PackageError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn check_name(manufacturer: &str) -> Result<(), MfrError> {
    ActrType::new(manufacturer, "x", "1").map(|_| ()).map_err(|_| MfrError::InvalidName(manufacturer.to_owned()))
}

/// Registers `key` for `manufacturer`; returns the key id.
pub fn add_manufacturer(
    store: &RegistryStore,
    manufacturer: &str,
    key: &VerifyingKey,
    now_unix: u64,
) -> Result<String, MfrError> {
    check_name(manufacturer)?;
    Ok(store.add_manufacturer_key(manufacturer, key, now_unix)?)
}

/// Verifies `package` against the key its manufacturer registered under the
/// key id the manifest names, then records it as published.
pub fn publish(
    store: &RegistryStore,
    package: &[u8],
    limits: &PackageLimits,
    now_unix: u64,
) -> Result<(VerifiedPackage, PublishedPackage), MfrError> {
    let opened = OpenedPackage::open(Cursor::new(package), *limits)?;
    // The claimed manufacturer and key id only select the key.
    let hint = opened.key_hint();
    check_name(&hint.manufacturer)?;
    let key = store.manufacturer_key(&hint.manufacturer, &hint.signing_key_id)?.ok_or_else(|| {
        MfrError::UnknownKey { manufacturer: hint.manufacturer.clone(), key_id: hint.signing_key_id.clone() }
    })?;
    let verified = opened.verify(&key.public_key)?;
    let published = store.publish_package(&verified, now_unix)?;
    Ok((verified, published))
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct KeyQuery {
    key_id: Option<String>,
}

/// `GET /mfr/{manufacturer}/verifying_key[?key_id=mfr-…]`: the key with that
/// id, or the manufacturer's newest key when no id is given.
pub(crate) async fn verifying_key(
    State(state): State<Arc<AppState>>,
    Path(manufacturer): Path<String>,
    Query(query): Query<KeyQuery>,
) -> Response {
    if check_name(&manufacturer).is_err() {
        return (StatusCode::BAD_REQUEST, "invalid manufacturer name\n").into_response();
    }
    if let Some(id) = &query.key_id
        && !is_key_id(id)
    {
        return (StatusCode::BAD_REQUEST, "invalid key_id: expected mfr- and 16 lowercase hex\n").into_response();
    }
    let found = {
        let store = lock(&state.store);
        match &query.key_id {
            Some(id) => store.manufacturer_key(&manufacturer, id),
            None => store.manufacturer_keys(&manufacturer).map(|keys| keys.into_iter().next()),
        }
    };
    match found {
        Ok(Some(key)) => {
            let body = serde_json::to_vec(&MfrKeyReply::new(&key.manufacturer, &key.public_key))
                .expect("a key reply always serialises");
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, "no such manufacturer key\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "manufacturer key lookup failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "registry unavailable\n").into_response()
        }
    }
}
