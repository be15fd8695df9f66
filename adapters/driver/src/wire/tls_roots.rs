//! [`TlsRoots`]: the certificate authorities a node trusts when it reaches
//! its server over `https://` and `wss://`, and the rustls and ureq
//! settings made from them. Every TLS connection uses rustls with the
//! aws-lc-rs crypto provider.

use std::sync::{Arc, OnceLock};

use actr_core::ActrError;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// Most root certificates one [`TlsRoots`] holds (a system bundle has ~150).
pub const MAX_TLS_ROOTS: usize = 1024;

/// The roots a node verifies its server's certificate against.
///
/// The default, [`TlsRoots::webpki`], is Mozilla's root program as compiled
/// into the `webpki-roots` crate: the same on every machine, no system
/// store read. For a private CA or a self-signed server certificate, give
/// exactly the roots to trust with [`TlsRoots::from_pem`] (they replace the
/// defaults; pass a system bundle such as
/// `/etc/ssl/certs/ca-certificates.crt` to trust the platform's roots).
#[derive(Clone, Default)]
pub struct TlsRoots {
    custom: Option<Arc<Vec<CertificateDer<'static>>>>,
}

impl std::fmt::Debug for TlsRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.custom {
            None => f.write_str("TlsRoots::WebPki"),
            Some(certs) => write!(f, "TlsRoots::Custom({} certificates)", certs.len()),
        }
    }
}

impl TlsRoots {
    /// Mozilla's roots (the default).
    pub fn webpki() -> Self {
        Self::default()
    }

    /// Exactly the `CERTIFICATE` blocks of `pem` (other blocks are skipped).
    ///
    /// Errors: `InvalidArgument` if `pem` holds no certificate, more than
    /// [`MAX_TLS_ROOTS`], or one that is malformed or no usable root.
    pub fn from_pem(pem: &[u8]) -> Result<Self, ActrError> {
        let bad = |why: String| ActrError::InvalidArgument(format!("TLS roots: {why}"));
        let mut certs = Vec::new();
        for cert in CertificateDer::pem_slice_iter(pem) {
            certs.push(cert.map_err(|e| bad(format!("bad PEM: {e}")))?);
            if certs.len() > MAX_TLS_ROOTS {
                return Err(bad(format!("more than {MAX_TLS_ROOTS} certificates")));
            }
        }
        Self::from_certs(certs)
    }

    /// Exactly these DER-encoded certificates.
    ///
    /// Errors as for [`TlsRoots::from_pem`].
    pub fn from_der(certs: impl IntoIterator<Item = Vec<u8>>) -> Result<Self, ActrError> {
        let certs: Vec<_> = certs.into_iter().take(MAX_TLS_ROOTS + 1).map(CertificateDer::from).collect();
        if certs.len() > MAX_TLS_ROOTS {
            return Err(ActrError::InvalidArgument(format!("TLS roots: more than {MAX_TLS_ROOTS} certificates")));
        }
        Self::from_certs(certs)
    }

    fn from_certs(certs: Vec<CertificateDer<'static>>) -> Result<Self, ActrError> {
        if certs.is_empty() {
            return Err(ActrError::InvalidArgument("TLS roots: no certificate given".into()));
        }
        // Parse each now, so a bad root fails here rather than at connect.
        let mut store = RootCertStore::empty();
        for (i, cert) in certs.iter().enumerate() {
            store
                .add(cert.clone())
                .map_err(|e| ActrError::InvalidArgument(format!("TLS roots: certificate {i}: {e}")))?;
        }
        Ok(Self { custom: Some(Arc::new(certs)) })
    }

    /// How many roots are trusted.
    pub fn len(&self) -> usize {
        self.custom.as_ref().map_or(webpki_roots::TLS_SERVER_ROOTS.len(), |c| c.len())
    }

    /// Whether no root is trusted (never, for a constructed value).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether these are the defaults.
    pub fn is_webpki(&self) -> bool {
        self.custom.is_none()
    }

    /// The rustls client settings for these roots (no client certificate).
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>, ActrError> {
        let store = match &self.custom {
            None => RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() },
            Some(certs) => {
                let mut store = RootCertStore::empty();
                let (_added, _ignored) = store.add_parsable_certificates(certs.iter().cloned());
                store
            }
        };
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| ActrError::Internal(format!("TLS settings: {e}")))?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// The same trust for ureq (the AIS client).
    pub(crate) fn ureq_config(&self) -> ureq::tls::TlsConfig {
        let roots = match &self.custom {
            None => ureq::tls::RootCerts::WebPki,
            Some(certs) => {
                let owned = certs.iter().map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned());
                ureq::tls::RootCerts::from(owned)
            }
        };
        ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(provider())
            .root_certs(roots)
            .build()
    }
}

/// The aws-lc-rs provider, built once per process.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider())).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> rcgen::CertifiedKey<rcgen::KeyPair> {
        rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap()
    }

    #[test]
    fn pem_with_certificates_becomes_custom_roots() {
        let (a, b) = (self_signed("a.test"), self_signed("b.test"));
        let pem = format!("{}{}{}", a.cert.pem(), a.signing_key.serialize_pem(), b.cert.pem());
        let roots = TlsRoots::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(roots.len(), 2, "the key block is skipped");
        assert!(!roots.is_webpki());
        assert!(roots.client_config().is_ok());
        let der = TlsRoots::from_der([a.cert.der().to_vec()]).unwrap();
        assert_eq!(der.len(), 1);
    }

    #[test]
    fn defaults_are_webpki() {
        let roots = TlsRoots::default();
        assert!(roots.is_webpki());
        assert!(roots.len() > 100, "Mozilla's program has well over 100 roots");
        assert!(roots.client_config().is_ok());
        assert_eq!(format!("{roots:?}"), "TlsRoots::WebPki");
    }

    #[test]
    fn unusable_roots_are_invalid_arguments() {
        let invalid = |r: Result<TlsRoots, ActrError>| matches!(r, Err(ActrError::InvalidArgument(_)));
        assert!(invalid(TlsRoots::from_pem(b"")));
        assert!(invalid(TlsRoots::from_pem(b"not pem at all")));
        let key_only = self_signed("a.test").signing_key.serialize_pem();
        assert!(invalid(TlsRoots::from_pem(key_only.as_bytes())));
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(invalid(TlsRoots::from_pem(broken.as_bytes())));
        assert!(invalid(TlsRoots::from_der([b"junk".to_vec()])));
        assert!(invalid(TlsRoots::from_der(std::iter::repeat_n(vec![0u8], MAX_TLS_ROOTS + 1))));
    }
}
