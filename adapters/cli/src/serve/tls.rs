//! TLS for `actr serve`: a certificate chain and a private key in PEM files,
//! served with rustls on its aws-lc-rs provider (already in the tree through
//! str0m; no second crypto library).
//!
//! The handshake runs inside the accept loop under the request-head deadline.
//! The key file is read once at start; neither it nor its content is logged,
//! and errors name only the file and what was wrong with it.

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Where the server's certificate chain and private key are (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// PKCS#8, PKCS#1 or SEC1 private key of the leaf certificate.
    pub key: PathBuf,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file could not be read or holds no certificate.
    #[error("certificate {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    /// The key file could not be read or holds no private key.
    #[error("private key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    /// rustls refused the pair (a key that does not match, say).
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Reads both files and builds the acceptor.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let cert_error = |reason: String| TlsError::Cert { path: files.cert.clone(), reason };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_error("no certificate in the file".into()));
    }
    // The error of a failed key parse describes the PEM structure, never the key.
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| TlsError::Key { path: files.key.clone(), reason: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
