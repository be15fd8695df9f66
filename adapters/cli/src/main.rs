//! The `actr` command.
//!
//! ```text
//! actr demo [--calls N] [--tells N] [--bulk N] [--stream-mib N] [--frames N]
//! actr serve [--listen 127.0.0.1:7480] [--data-dir ./actr-data] [--realm ID]...
//!            [--realm-secret-file ID=PATH]... [--packages-only-realm ID]... [--credential-ttl SECS]
//!            [--tls-cert CERT.pem --tls-key KEY.pem]
//!            [--head-timeout SECS] [--max-connections N] [--max-connections-per-ip N]
//! actr keygen --out KEY [--force]
//! actr pack (--type MFR:NAME:VERSION | --manifest manifest.toml) --binary FILE --key KEY --out FILE.actr
//!           [--target TRIPLE] [--kind wasm-module|native-cdylib] [--resource LOCAL[=PATH]]... [--route NAME]...
//! actr inspect FILE.actr
//! actr verify FILE.actr (--trust KEY.pub... | --server URL)
//! actr mfr add --data-dir DIR NAME KEY.pub
//! actr mfr publish --data-dir DIR FILE.actr
//! actr run FILE.actr --server URL [--trust KEY.pub]... [--data-dir DIR] [--realm ID]
//!          [--realm-secret-file PATH] [--mfr-key KEY] [--listen ADDR]
//! actr call --server URL MFR:NAME:VERSION ROUTE [PAYLOAD] [--json] [--timeout SECS] [--realm ID]
//!           [--realm-secret-file PATH]
//! ```
//!
//! Realm secrets never come from the command line: give them in a file
//! (`--realm-secret-file 2=/run/secrets/realm2`) or in the environment
//! (`ACTR_REALM_2_SECRET`). A realm named without a secret keeps the secret
//! stored for it, if any.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use actr_cli::demo::{DemoError, DemoOptions};
use actr_cli::host::{self, CallOptions, RunOptions};
use actr_cli::pkg::{self, PackOptions, PkgError, TrustArgs};
use actr_cli::serve::{ServeConfig, ServeError, Server, TlsFiles, realms_with_secrets};
use actr_core::ActrType;
use actr_core::package::BinaryKind;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// actr: an actor runtime.
#[derive(Debug, Parser)]
#[command(name = "actr", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve signaling (WebSocket) and the identity service (HTTP) on one address.
    Serve(ServeArgs),
    /// Start a server and two nodes in this process, call between them, print
    /// which wire carried what with latency and throughput, and exit.
    Demo(DemoArgs),
    /// Make a manufacturer signing key: KEY (mode 0600) and KEY.pub; prints the key id.
    Keygen(KeygenArgs),
    /// Build and sign a .actr package.
    Pack(PackArgs),
    /// Print a package's manifest, hashes and key id, without verifying it.
    Inspect(InspectArgs),
    /// Verify a package's signature and contents against trusted keys.
    Verify(VerifyArgs),
    /// Manage manufacturers in a server's registry.
    #[command(subcommand)]
    Mfr(MfrCommand),
    /// Verify a WASM package, run it as an actor registered with the server,
    /// print its identity, and serve until Ctrl-C.
    Run(RunArgs),
    /// Find an actor of a type through the server, call it, print the reply.
    Call(CallArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The package.
    package: PathBuf,
    /// Base address of `actr serve` (http://host:port or https://host:port).
    #[arg(long, value_name = "URL")]
    server: String,
    /// A trusted manufacturer public key (KEY.pub). Repeatable. Without it,
    /// the manufacturer keys in the server's registry are trusted.
    #[arg(long = "trust", value_name = "KEY.pub")]
    trust: Vec<PathBuf>,
    /// Where the actor's store lives (created 0700).
    #[arg(long, value_name = "DIR", default_value = "./actr-host-data")]
    data_dir: PathBuf,
    #[command(flatten)]
    realm: RealmArgs,
    /// The manufacturer's secret key: signs a manufacturer proof, for a
    /// package the server has not published.
    #[arg(long, value_name = "KEY")]
    mfr_key: Option<PathBuf>,
    /// Also accept direct WebSocket links on this address.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
}

#[derive(Debug, Args)]
struct CallArgs {
    /// Base address of `actr serve`.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The type to call, manufacturer:name:version.
    #[arg(value_name = "MFR:NAME:VERSION")]
    target: ActrType,
    /// The route, e.g. echo.Echo/Say.
    route: String,
    /// The payload, as UTF-8 text [default: empty].
    payload: Option<String>,
    /// Print one JSON object (the reply, or the error) instead of the reply.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the reply.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    #[command(flatten)]
    realm: RealmArgs,
}

#[derive(Debug, Args)]
struct RealmArgs {
    /// The realm to register in.
    #[arg(long = "realm", value_name = "ID", default_value_t = 1)]
    id: u32,
    /// A file holding the realm's admission secret (else ACTR_REALM_{ID}_SECRET, if set).
    #[arg(long = "realm-secret-file", value_name = "PATH")]
    secret_file: Option<PathBuf>,
}

impl RealmArgs {
    fn secret(&self) -> Result<Option<String>, String> {
        if let Some(path) = &self.secret_file {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned()));
        }
        Ok(std::env::var(format!("ACTR_REALM_{}_SECRET", self.id)).ok())
    }
}

#[derive(Debug, Args)]
struct KeygenArgs {
    /// Where to write the secret key; the public key goes to OUT.pub.
    #[arg(long, value_name = "KEY")]
    out: PathBuf,
    /// Replace existing key files.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct PackArgs {
    /// Actor type, manufacturer:name:version.
    #[arg(
        long = "type",
        value_name = "MFR:NAME:VERSION",
        required_unless_present = "manifest",
        conflicts_with = "manifest"
    )]
    actr_type: Option<ActrType>,
    /// A hand-written manifest.toml to complete (hashes, sizes, key id) and sign;
    /// the resources it lists are read relative to it.
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// The actor binary.
    #[arg(long, value_name = "FILE")]
    binary: PathBuf,
    /// Secret key file from `actr keygen`.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// The package to write.
    #[arg(long, value_name = "FILE.actr")]
    out: PathBuf,
    /// Target triple of the binary [default: wasm32-unknown-unknown].
    #[arg(long, value_name = "TRIPLE")]
    target: Option<String>,
    /// Binary kind [default: wasm-module for wasm32 targets, else native-cdylib].
    #[arg(long, value_parser = parse_kind)]
    kind: Option<BinaryKind>,
    /// A resource file, stored at resources/<file name> or at PATH. Repeatable.
    #[arg(long = "resource", value_name = "LOCAL[=PATH]")]
    resources: Vec<String>,
    /// A route the actor serves, e.g. echo.Echo/Say. Repeatable.
    #[arg(long = "route", value_name = "NAME")]
    routes: Vec<String>,
}

fn parse_kind(text: &str) -> Result<BinaryKind, String> {
    match text {
        "wasm-module" => Ok(BinaryKind::WasmModule),
        "native-cdylib" => Ok(BinaryKind::NativeCdylib),
        other => Err(format!("unknown kind {other:?}: expected wasm-module or native-cdylib")),
    }
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// The package.
    package: PathBuf,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The package.
    package: PathBuf,
    /// A trusted public key file (KEY.pub). Repeatable.
    #[arg(long = "trust", value_name = "KEY.pub", required_unless_present = "server")]
    trust: Vec<PathBuf>,
    /// Trust the manufacturer keys registered with this `actr serve` (http://host:port).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

#[derive(Debug, Subcommand)]
enum MfrCommand {
    /// Register a manufacturer's public key with the registry in DIR.
    Add {
        /// Data directory of `actr serve`.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Manufacturer name, as in package types.
        name: String,
        /// The manufacturer's public key file (KEY.pub).
        public_key: PathBuf,
    },
    /// Verify a package against its manufacturer's registered key and record it as published.
    Publish {
        /// Data directory of `actr serve`.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The package.
        package: PathBuf,
    },
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Sequential calls per wire (latency p50/p99 come from these).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    calls: u32,
    /// Tells per wire.
    #[arg(long, default_value_t = 10_000)]
    tells: u32,
    /// Sequential 1 MiB calls over the network.
    #[arg(long, default_value_t = 32)]
    bulk: u32,
    /// MiB sent on the data stream.
    #[arg(long, default_value_t = 16)]
    stream_mib: u32,
    /// Audio frames sent on the media track.
    #[arg(long, default_value_t = 200)]
    frames: u32,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7480")]
    listen: SocketAddr,
    /// Directory of the registry database (created if missing).
    #[arg(long, default_value = "./actr-data")]
    data_dir: PathBuf,
    /// A realm to create; its secret, if any, comes from
    /// --realm-secret-file or the environment variable ACTR_REALM_{ID}_SECRET. Repeatable.
    /// (Checked after parsing, so that a secret given the old way is not echoed.)
    #[arg(long = "realm", value_name = "ID")]
    realms: Vec<String>,
    /// A realm that admits signed packages only (linked workloads, whose type
    /// is self-asserted, are refused). Repeatable.
    #[arg(long = "packages-only-realm", value_name = "ID")]
    packages_only: Vec<u32>,
    /// A realm and the file holding its admission secret. Repeatable.
    #[arg(long = "realm-secret-file", value_name = "ID=PATH", value_parser = parse_secret_file)]
    realm_secret_files: Vec<(u32, PathBuf)>,
    /// PEM certificate chain: serve HTTPS and WSS (needs --tls-key).
    #[arg(long, value_name = "CERT.pem", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate (needs --tls-cert).
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Seconds a connection has to send its request head (TLS handshake included).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=300))]
    head_timeout: Option<u64>,
    /// Open connections in all, WebSockets included.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,
    /// Open connections from one IP address, WebSockets included.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections_per_ip: Option<u64>,
    /// Lifetime of issued credentials, in seconds.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    credential_ttl: Option<u64>,
}

fn parse_id(id: &str) -> Result<u32, String> {
    id.trim().parse().map_err(|_| format!("realm id must be a number, got {id:?}"))
}

/// Parses `ID`; `ID=SECRET` is refused with a pointer to the options that replaced it.
fn parse_realm_id(text: &str) -> Result<u32, String> {
    if let Some((id, _)) = text.split_once('=') {
        return Err(format!(
            "--realm no longer takes a secret (the command line is visible to every user); \
             use --realm {id} with --realm-secret-file {id}=PATH or the environment variable ACTR_REALM_{id}_SECRET"
        ));
    }
    parse_id(text)
}

/// Parses `ID=PATH`.
fn parse_secret_file(text: &str) -> Result<(u32, PathBuf), String> {
    let (id, path) = text.split_once('=').ok_or_else(|| format!("expected ID=PATH, got {text:?}"))?;
    if path.is_empty() {
        return Err(format!("realm {id}: empty secret file path"));
    }
    Ok((parse_id(id)?, PathBuf::from(path)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own report; only its warnings go to stderr by default.
    let default_level = if matches!(cli.command, Command::Serve(_) | Command::Run(_)) { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Demo(args) => demo(args).map_err(|e| e.to_string()),
        Command::Keygen(args) => print(pkg::keygen(&args.out, args.force)),
        Command::Pack(args) => print(pack(args)),
        Command::Inspect(args) => print(pkg::inspect(&args.package)),
        Command::Verify(args) => {
            print(pkg::verify(&args.package, &TrustArgs { public_keys: args.trust, server: args.server }))
        }
        Command::Mfr(MfrCommand::Add { data_dir, name, public_key }) => {
            print(pkg::mfr_add(&data_dir, &name, &public_key))
        }
        Command::Mfr(MfrCommand::Publish { data_dir, package }) => print(pkg::mfr_publish(&data_dir, &package)),
        Command::Run(args) => run(args),
        Command::Call(args) => return call(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("actr: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a command's report; an error becomes the one line `main` prints.
fn print(result: Result<String, PkgError>) -> Result<(), String> {
    let text = result.map_err(|e| e.to_string().replace('\n', " "))?;
    print!("{text}");
    Ok(())
}

fn pack(args: PackArgs) -> Result<String, PkgError> {
    pkg::pack(&PackOptions {
        actr_type: args.actr_type,
        manifest: args.manifest,
        binary: args.binary,
        key: args.key,
        out: args.out,
        target: args.target,
        kind: args.kind,
        resources: args.resources,
        routes: args.routes,
    })
}

fn run(args: RunArgs) -> Result<(), String> {
    let options = RunOptions {
        package: args.package,
        server: args.server,
        trust: args.trust,
        data_dir: args.data_dir,
        realm: args.realm.id,
        realm_secret: args.realm.secret()?,
        mfr_key: args.mfr_key,
        listen: args.listen,
    };
    host::run(&options, shutdown_signal(), |line| host::say(&line)).map_err(|e| e.to_string())
}

/// Exit 0 with the reply; 1 with the error (as JSON on stdout with --json).
fn call(args: CallArgs) -> ExitCode {
    let secret = match args.realm.secret() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("actr: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = CallOptions {
        server: args.server,
        target: args.target,
        route: args.route,
        payload: args.payload.unwrap_or_default().into_bytes(),
        json: args.json,
        timeout: std::time::Duration::from_secs(args.timeout),
        realm: args.realm.id,
        realm_secret: secret,
    };
    let result = host::call(&options);
    let text = host::render_call(&result, &options.route, options.json);
    match (&result, options.json) {
        (Ok(_), _) | (Err(_), true) => print!("{text}"),
        (Err(_), false) => eprint!("actr: {text}"),
    }
    if result.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn demo(args: DemoArgs) -> Result<(), DemoError> {
    let options = DemoOptions {
        calls: args.calls as usize,
        tells: args.tells as usize,
        bulk_calls: args.bulk as usize,
        stream_mib: args.stream_mib as usize,
        media_frames: args.frames as usize,
        ..DemoOptions::default()
    };
    actr_cli::demo::run(&options)
}

/// The server's configuration from the arguments and the environment.
fn serve_config(args: &ServeArgs) -> Result<ServeConfig, String> {
    let mut config = ServeConfig::new(args.listen, args.data_dir.clone());
    let ids = args.realms.iter().map(|r| parse_realm_id(r)).collect::<Result<Vec<_>, _>>()?;
    config.realms = realms_with_secrets(&ids, &args.realm_secret_files, |var| std::env::var(var).ok())
        .map_err(|e| e.to_string())?;
    config.packages_only = args.packages_only.iter().map(|&id| actr_core::Realm(id)).collect();
    if let Some(ttl) = args.credential_ttl {
        config.ais.credential_ttl_secs = ttl;
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(TlsFiles { cert: cert.clone(), key: key.clone() });
    }
    if let Some(secs) = args.head_timeout {
        config.connections.head_timeout = std::time::Duration::from_secs(secs);
    }
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    if let Some(n) = args.max_connections {
        config.connections.max_connections = to_usize(n);
    }
    if let Some(n) = args.max_connections_per_ip {
        config.connections.max_connections_per_ip = to_usize(n);
    }
    Ok(config)
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let config = serve_config(&args)?;
    run_server(config).map_err(|e| e.to_string())
}

fn run_server(config: ServeConfig) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(ServeError::Runtime)?;
    let listen = config.listen;
    runtime.block_on(async move {
        let server = Server::open(config)?;
        let listener =
            tokio::net::TcpListener::bind(listen).await.map_err(|source| ServeError::Bind { addr: listen, source })?;
        let addr = listener.local_addr().map_err(ServeError::Serve)?;
        let (http, ws) = if server.is_tls() { ("https", "wss") } else { ("http", "ws") };
        println!(
            "actr serve listening on {http}://{addr} (signaling {ws}://{addr}/signaling, AIS {http}://{addr}/ais)"
        );
        server.serve(listener, shutdown_signal()).await
    })
}

/// Resolves on Ctrl-C (SIGINT) or, on unix, SIGTERM. If no handler can be
/// installed, the server runs until killed.
async fn shutdown_signal() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = interrupt => tracing::info!("interrupted: shutting down"),
        _ = terminate => tracing::info!("terminated: shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_arguments_parse() {
        assert_eq!(parse_realm_id("3"), Ok(3));
        let old_form = parse_realm_id("4=a=b").unwrap_err();
        assert!(
            old_form.contains("--realm-secret-file 4=PATH") && old_form.contains("ACTR_REALM_4_SECRET"),
            "{old_form}"
        );
        assert!(!old_form.contains("a=b"), "the secret is not echoed back");
        assert!(parse_realm_id("x").is_err());
        assert!(parse_realm_id("-1").is_err());
        assert_eq!(parse_secret_file("2=/run/s"), Ok((2, PathBuf::from("/run/s"))));
        assert!(parse_secret_file("2").is_err() && parse_secret_file("2=").is_err());
        let cli = Cli::try_parse_from(["actr", "serve", "--realm", "7=pw"]).unwrap();
        let Command::Serve(args) = cli.command else { panic!("expected serve") };
        let refused = serve_config(&args).unwrap_err();
        assert!(refused.contains("--realm-secret-file") && !refused.contains("pw"), "{refused}");
    }

    #[test]
    fn tls_needs_both_files() {
        assert!(Cli::try_parse_from(["actr", "serve", "--tls-cert", "c.pem"]).is_err());
        let cli = Cli::try_parse_from(["actr", "serve", "--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap();
        let Command::Serve(args) = cli.command else { panic!("expected serve") };
        let config = serve_config(&args).unwrap();
        assert_eq!(config.tls, Some(TlsFiles { cert: "c.pem".into(), key: "k.pem".into() }));
    }

    #[test]
    fn serve_defaults() {
        let cli = Cli::try_parse_from(["actr", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else { panic!("expected serve") };
        assert_eq!(args.listen, "127.0.0.1:7480".parse().unwrap());
        assert_eq!(args.data_dir, PathBuf::from("./actr-data"));
        assert!(args.realms.is_empty() && args.credential_ttl.is_none() && args.tls_cert.is_none());
        assert!(Cli::try_parse_from(["actr", "serve", "--credential-ttl", "0"]).is_err());
    }

    #[test]
    fn demo_defaults() {
        let cli = Cli::try_parse_from(["actr", "demo"]).unwrap();
        let Command::Demo(args) = cli.command else { panic!("expected demo") };
        assert_eq!((args.calls, args.tells, args.bulk), (1000, 10_000, 32));
        assert!(Cli::try_parse_from(["actr", "demo", "--calls", "0"]).is_err());
    }
}
