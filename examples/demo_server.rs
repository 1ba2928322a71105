//! A local, offline stand-in for WAzion's MCP server, to try `wazion-mcp` without an
//! account: rmcp's Streamable HTTP server with WAzion-like tools behind the same token
//! check (the server code is in `examples/peer/`, shared with the integration tests).
//!
//! ```text
//! cargo run --example demo_server -- [--port 8931] [--token demo-token]
//! WAZION_TOKEN=demo-token wazion-mcp http://127.0.0.1:8931/mcp
//! ```
//!
//! Flags also select the other answers a bridge must cope with: `--auth-failure`
//! (`echo-id`, `id-one`, `http200`, `plain`), `--allow-initialize-without-token` and
//! `--stateless` (JSON responses, no sessions). `--log-requests` prints every request the
//! server saw to stderr.

// The module is shared with the tests, which use parts this binary does not.
#[allow(dead_code)]
mod peer;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::{Parser, ValueEnum};
use peer::{AuthFailure, Mode, PeerOptions};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FailureArg {
    /// HTTP 401 + JSON-RPC error echoing the request id (what WAzion does)
    EchoId,
    /// HTTP 401 + JSON-RPC error with `"id":1` whatever the request id
    IdOne,
    /// HTTP 200 + JSON-RPC error echoing the request id
    Http200,
    /// HTTP 401 `text/plain` `Unauthorized` with a `WWW-Authenticate` challenge
    Plain,
}

/// A WAzion-like MCP server on your machine, for trying wazion-mcp offline.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8931)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// The token clients must send as `Authorization: Bearer <token>`.
    #[arg(long, default_value = "demo-token")]
    token: String,
    /// How to answer a request with a missing or wrong token.
    #[arg(long, value_enum, default_value_t = FailureArg::EchoId)]
    auth_failure: FailureArg,
    /// Let `initialize` through without a token, as WAzion does.
    #[arg(long)]
    allow_initialize_without_token: bool,
    /// Stateless mode: no sessions, `application/json` responses, no GET stream.
    #[arg(long)]
    stateless: bool,
    /// A 2026-07-28-only server: `initialize` is refused, every request needs its `_meta`
    /// (try the bridge's automatic translation for 2025-era clients against it).
    #[arg(long, conflicts_with = "stateless")]
    modern_only: bool,
    /// Print every HTTP request the server saw to stderr (the token is masked).
    #[arg(long)]
    log_requests: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let opts = PeerOptions {
        bind: SocketAddr::new(args.host, args.port),
        token: args.token.clone(),
        auth_failure: match args.auth_failure {
            FailureArg::EchoId => AuthFailure::EchoId,
            FailureArg::IdOne => AuthFailure::AlwaysIdOne,
            FailureArg::Http200 => AuthFailure::Http200,
            FailureArg::Plain => AuthFailure::PlainText,
        },
        allow_initialize_without_token: args.allow_initialize_without_token,
        mode: if args.modern_only {
            Mode::ModernOnly
        } else if args.stateless {
            Mode::StatelessJson
        } else {
            Mode::Stateful
        },
        ..PeerOptions::default()
    };
    let server = match peer::start(opts).await {
        Ok(s) => s,
        Err(e) => {
            // In plain words, not the io::Error's Debug form (`Os { code: 98, … }`).
            let why = match e.kind() {
                std::io::ErrorKind::AddrInUse => format!(
                    "port {} on {} is already in use (is a demo server still running?); stop \
                     that process, or pick another port with --port N (0 picks a free one)",
                    args.port, args.host
                ),
                std::io::ErrorKind::AddrNotAvailable => format!(
                    "{} is not an address of this machine; use --host 127.0.0.1",
                    args.host
                ),
                std::io::ErrorKind::PermissionDenied => format!(
                    "not allowed to listen on port {} (ports below 1024 need privileges); \
                     pick another with --port N",
                    args.port
                ),
                _ => format!("cannot listen on {}:{}: {e}", args.host, args.port),
            };
            eprintln!("demo_server: {why}");
            std::process::exit(1);
        }
    };
    println!("{}", server.url);
    eprintln!(
        "demo MCP server listening on {url}\n\
         try it: WAZION_TOKEN={token} wazion-mcp {url}\n\
         Ctrl-C stops it.",
        url = server.url,
        token = args.token,
    );

    let stop = server.stop_token();
    if args.log_requests {
        let log = server.log.clone();
        let token = args.token.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            loop {
                log.wait_len(seen + 1).await;
                let entries = log.snapshot();
                for r in &entries[seen..] {
                    let auth = r
                        .authorization
                        .as_deref()
                        .map(|a| a.replace(&token, "<token>"));
                    let fate = r
                        .rejection
                        .as_ref()
                        .map_or("passed".to_string(), |x| format!("refused {}", x.status));
                    eprintln!(
                        "{} {} auth={auth:?} session={:?} version={:?} last-event-id={:?} {fate}: {}",
                        r.method,
                        r.path,
                        r.session_id,
                        r.protocol_version,
                        r.last_event_id,
                        r.body_str(),
                    );
                }
                seen = entries.len();
            }
        });
    }
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
    });
    server.wait().await
}
