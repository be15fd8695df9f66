//! [`ServeHandle`]: `actr serve` on its own thread and tokio runtime, for
//! tests, benchmarks and embedding, whatever runtime (if any) the caller uses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::accept::ConnTable;
use super::hub::SharedHub;
use super::{ConnectionStats, ServeConfig, ServeError, Server, SignalingStats};

/// Longest [`ServeHandle::stop`] waits for the server thread.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Worker threads of the server's runtime.
const WORKER_THREADS: usize = 2;

type Ready = Result<(SocketAddr, Arc<SharedHub>, Arc<ConnTable>), ServeError>;

/// A running server. Dropping it stops it, like [`ServeHandle::stop`].
#[derive(Debug)]
pub struct ServeHandle {
    addr: SocketAddr,
    hub: Arc<SharedHub>,
    conns: Arc<ConnTable>,
    stop: Option<oneshot::Sender<()>>,
    /// Disconnects when the server thread ends (its sender is never used).
    ended: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl ServeHandle {
    /// Binds, opens the store, and serves on a dedicated thread with its own
    /// tokio runtime. Returns once listening. Works inside or outside a runtime.
    pub fn start(config: ServeConfig) -> Result<ServeHandle, ServeError> {
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Ready>(1);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ended_tx, ended) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("actr-serve".into())
            .spawn(move || {
                let _ended = ended_tx;
                serve_thread(config, ready_tx, stop_rx);
            })
            .map_err(ServeError::Runtime)?;
        let ready = ready_rx.recv();
        match ready {
            Ok(Ok((addr, hub, conns))) => {
                Ok(ServeHandle { addr, hub, conns, stop: Some(stop_tx), ended, thread: Some(thread) })
            }
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(ServeError::ThreadGone)
            }
        }
    }

    /// The bound address (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters of the signaling endpoint.
    pub fn signaling_stats(&self) -> SignalingStats {
        self.hub.stats()
    }

    /// Counters of the accept loop: open connections, refusals, head timeouts.
    pub fn connection_stats(&self) -> ConnectionStats {
        self.conns.stats()
    }

    /// Stops accepting, closes every connection, and waits (at most 5 s) for
    /// the server thread to end. The address can be bound again right after.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(thread) = self.thread.take() else { return };
        match self.ended.recv_timeout(STOP_TIMEOUT) {
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!(addr = %self.addr, "server thread still running after {STOP_TIMEOUT:?}; detaching it");
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                if thread.join().is_err() {
                    tracing::error!(addr = %self.addr, "server thread panicked");
                }
            }
        }
    }
}

impl Drop for ServeHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The server thread: build a runtime, open, bind, report, serve until stopped.
fn serve_thread(config: ServeConfig, ready: SyncSender<Ready>, stop: oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("actr-serve-worker")
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(ServeError::Runtime(e)));
            return;
        }
    };
    runtime.block_on(async move {
        let (server, listener) = match open_and_bind(config).await {
            Ok(opened) => opened,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => {
                let _ = ready.send(Err(ServeError::Serve(e)));
                return;
            }
        };
        if ready.send(Ok((addr, server.hub(), server.conn_table()))).is_err() {
            return;
        }
        let shutdown = async move {
            // A dropped sender means the handle is gone: stop as well.
            let _ = stop.await;
        };
        if let Err(e) = server.serve(listener, shutdown).await {
            tracing::error!(error = %e, %addr, "actr serve stopped with an error");
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
}

async fn open_and_bind(config: ServeConfig) -> Result<(Server, TcpListener), ServeError> {
    let addr = config.listen;
    let server = Server::open(config)?;
    let listener = TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
    Ok((server, listener))
}
