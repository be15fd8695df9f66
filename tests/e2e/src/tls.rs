//! A TLS terminator for tests: it accepts TLS on a free loopback port with a
//! fresh self-signed certificate (rcgen) and forwards the plaintext bytes
//! to a plain `actr serve`, so a node can reach the server over `https://`
//! and `wss://` before `actr serve` speaks TLS itself.
//!
//! It runs on a thread of its own with a current-thread tokio runtime
//! (tokio-rustls), whichever runtime the node under test uses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use actr_driver::TlsRoots;
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

/// Most connections served at once; more are closed at accept.
const MAX_CONNECTIONS: u64 = 64;

/// Handshakes that completed and that failed.
#[derive(Debug, Default)]
struct Counts {
    completed: AtomicU64,
    failed: AtomicU64,
    open: AtomicU64,
}

/// A running terminator; stops when dropped.
#[derive(Debug)]
pub struct TlsFront {
    addr: SocketAddr,
    cert_pem: String,
    counts: Arc<Counts>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsFront {
    /// Terminates TLS in front of `backend` with a certificate naming
    /// `127.0.0.1` and `localhost`.
    pub fn start(backend: SocketAddr) -> Self {
        let id = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("self-signed certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![id.cert.der().clone()], key)
            .expect("server certificate");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the TLS front");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("front address");
        let counts = Arc::new(Counts::default());
        let (stop, stopped) = oneshot::channel();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let thread_counts = counts.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            runtime.block_on(serve(listener, acceptor, backend, thread_counts, stopped));
        });
        Self { addr, cert_pem: id.cert.pem(), counts, stop: Some(stop), thread: Some(thread) }
    }

    /// `https://127.0.0.1:port`: the base address a node is given.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The same front by name: `https://localhost:port`.
    pub fn base_url_by_name(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// The certificate, PEM-encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Roots that trust this front (and nothing else).
    pub fn roots(&self) -> TlsRoots {
        TlsRoots::from_pem(self.cert_pem.as_bytes()).expect("the front's certificate is a valid root")
    }

    /// TLS handshakes completed so far.
    pub fn handshakes(&self) -> u64 {
        self.counts.completed.load(Ordering::SeqCst)
    }

    /// TLS handshakes that failed so far (a client that did not trust us).
    pub fn failed_handshakes(&self) -> u64 {
        self.counts.failed.load(Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: TlsAcceptor,
    backend: SocketAddr,
    counts: Arc<Counts>,
    mut stopped: oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        if counts.open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue; // dropped: closed
        }
        counts.open.fetch_add(1, Ordering::SeqCst);
        let (acceptor, counts) = (acceptor.clone(), counts.clone());
        tokio::spawn(async move {
            forward(acceptor, tcp, backend, &counts).await;
            counts.open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Completes the handshake and copies bytes both ways until either side ends.
async fn forward(acceptor: TlsAcceptor, tcp: TcpStream, backend: SocketAddr, counts: &Counts) {
    let mut tls = match acceptor.accept(tcp).await {
        Ok(tls) => tls,
        Err(_) => {
            counts.failed.fetch_add(1, Ordering::SeqCst);
            return;
        }
    };
    counts.completed.fetch_add(1, Ordering::SeqCst);
    let Ok(mut plain) = TcpStream::connect(backend).await else { return };
    let _ = plain.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
}
