//! `actr run` and `actr call`: a host that runs one signed WASM actor, and a
//! one-shot client that finds an actor by type and calls it.
//!
//! `actr run` verifies the package (against `--trust` keys, else against the
//! manufacturer keys the server's registry holds), attaches it, registers it
//! as that package (the server must have it published, or `--mfr-key` signs
//! a manufacturer proof), starts it and prints its identity; it serves until
//! Ctrl-C or SIGTERM. Its store lives under `--data-dir`.
//!
//! `actr call` starts a client node, discovers actors of the type, calls the
//! first with the route and payload, and prints the reply. No actor, a
//! refusal or a deadline is an error and a non-zero exit.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actr_core::{ActrError, ActrId, ActrType, Dest, Realm};
use actr_driver::{KeySigner, PackageIdentity};
use actr_tokio::bytes::Bytes;
use actr_tokio::{Context, HyperConfig, Request, Workload};
use futures::future::BoxFuture;

use crate::pkg::{self, PkgError, TrustArgs, keyfile};

/// Why `run` or `call` failed; displays as one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    #[error(transparent)]
    Pkg(#[from] PkgError),
    #[error("{0}")]
    Actr(#[from] ActrError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// What `actr run` runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub package: PathBuf,
    pub server: String,
    /// Trusted manufacturer keys; empty: the server's registry.
    pub trust: Vec<PathBuf>,
    pub data_dir: PathBuf,
    pub realm: u32,
    pub realm_secret: Option<String>,
    /// The manufacturer's key, to register a package the server has not published.
    pub mfr_key: Option<PathBuf>,
    /// Accept direct WebSocket links here.
    pub listen: Option<SocketAddr>,
}

/// What `actr call` calls.
#[derive(Debug, Clone)]
pub struct CallOptions {
    pub server: String,
    pub target: ActrType,
    pub route: String,
    pub payload: Vec<u8>,
    pub json: bool,
    pub timeout: Duration,
    pub realm: u32,
    pub realm_secret: Option<String>,
}

fn runtime() -> Result<tokio::runtime::Runtime, HostError> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(HostError::Runtime)
}

/// `actr run`: `ready` gets the line announcing the actor; returns after
/// `stop` resolves and the node has shut down.
pub fn run<F>(options: &RunOptions, stop: F, ready: impl FnOnce(String)) -> Result<(), HostError>
where
    F: std::future::Future<Output = ()>,
{
    let trust = TrustArgs {
        public_keys: options.trust.clone(),
        server: options.trust.is_empty().then(|| options.server.clone()),
    };
    let verified = pkg::verify_file(&options.package, &trust)?;
    let identity = match &options.mfr_key {
        Some(path) => {
            let key = keyfile::read_secret(path)?;
            PackageIdentity::signed_by(verified.clone(), Arc::new(KeySigner::new(key)))
        }
        None => PackageIdentity::published(verified.clone()),
    };
    let mut config = HyperConfig::new(options.server.clone(), Realm(options.realm)).with_data_dir(&options.data_dir);
    if let Some(secret) = &options.realm_secret {
        config = config.with_realm_secret(secret.clone());
    }
    if let Some(addr) = options.listen {
        config = config.with_ws_listen(addr);
    }
    runtime()?.block_on(async move {
        let node = actr_tokio::hyper(config).node().attach(identity).await?;
        let actor = node.register().await?.start().await?;
        let hash = hex(&verified.binary_hash[..8]);
        let mut line = format!(
            "actr run: {} running as {} (WASM, {} bytes, sha256 {hash}…, trusted by {})",
            verified.actr_type,
            actor.id(),
            verified.binary.len(),
            verified.key_id,
        );
        if let Some(ws) = actor.ws_address() {
            let _ = write!(line, ", direct links on {ws}");
        }
        ready(line);
        stop.await;
        actor.shutdown().await;
        Ok(())
    })
}

/// The client's own workload: it calls out and answers nothing.
struct Client;

/// The type `actr call` registers as.
fn client_type() -> ActrType {
    ActrType { manufacturer: "actr".into(), name: "cli".into(), version: env!("CARGO_PKG_VERSION").into() }
}

impl Workload for Client {
    fn actor_type(&self) -> ActrType {
        client_type()
    }

    fn handle(&self, _ctx: Context, req: Request) -> BoxFuture<'static, Result<Bytes, ActrError>> {
        Box::pin(async move { Err(ActrError::UnknownRoute(req.route_key)) })
    }
}

/// What `actr call` got.
#[derive(Debug)]
pub struct CallOutcome {
    pub actor: ActrId,
    pub reply: Bytes,
    pub elapsed: Duration,
}

/// `actr call`: the reply of the first actor of the type that discovery
/// names, or the error. The output text is [`render_call`]'s.
pub fn call(options: &CallOptions) -> Result<CallOutcome, HostError> {
    let mut config = HyperConfig::new(options.server.clone(), Realm(options.realm)).with_call_timeout(options.timeout);
    if let Some(secret) = &options.realm_secret {
        config = config.with_realm_secret(secret.clone());
    }
    let options = options.clone();
    runtime()?.block_on(async move {
        let me = actr_tokio::hyper(config).node().link(Client).register().await?.start().await?;
        let outcome = async {
            let found = me.discover(&options.target).await?;
            let Some(target) = found.into_iter().next() else {
                return Err(ActrError::NotFound(format!("no actor of type {} is reachable", options.target)));
            };
            let started = Instant::now();
            let reply =
                me.call(Dest::Peer(target.clone()), &options.route, options.payload.clone(), options.timeout).await?;
            Ok(CallOutcome { actor: target, reply, elapsed: started.elapsed() })
        }
        .await;
        me.shutdown().await;
        Ok(outcome?)
    })
}

/// The text `actr call` prints for `result`: the reply (UTF-8 as is, else
/// hex), or with `json` one JSON object.
pub fn render_call(result: &Result<CallOutcome, HostError>, route: &str, json: bool) -> String {
    match (result, json) {
        (Ok(out), false) => match std::str::from_utf8(&out.reply) {
            Ok(text) => format!("{text}\n"),
            Err(_) => format!("{}\n", hex(&out.reply)),
        },
        (Ok(out), true) => {
            let value = serde_json::json!({
                "actor": out.actor.to_string(),
                "route": route,
                "reply": std::str::from_utf8(&out.reply).ok(),
                "reply_hex": hex(&out.reply),
                "micros": out.elapsed.as_micros() as u64,
            });
            format!("{value}\n")
        }
        (Err(e), false) => format!("{e}\n"),
        (Err(e), true) => {
            let (kind, code) = match e {
                HostError::Actr(a) => (a.name(), a.code()),
                _ => ("Host", 0),
            };
            let value = serde_json::json!({ "error": { "kind": kind, "code": code, "message": e.to_string() } });
            format!("{value}\n")
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    actr_core::package::hex::encode(bytes)
}

/// Prints `line` and flushes, so a pipe reader sees it at once.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
