//! wazion-mcp: a stdio MCP server that relays every message to a Streamable HTTP MCP server.
//!
//! The flow, top-down: `cli` parses flags → `config` checks them into `Settings` → `relay`
//! runs the bridge until stdin closes or a signal arrives. See ARCHITECTURE.md for the map.

use clap::Parser;
use wazion_mcp::{cli, config, relay};

fn main() {
    let cli = cli::Cli::parse();
    init_logging(&cli.log_level);
    let (settings, warnings) = match config::from_cli(&cli, |name| std::env::var(name).ok()) {
        Ok(ok) => ok,
        Err(e) => {
            tracing::error!("{e}");
            std::process::exit(2);
        }
    };
    for w in warnings {
        tracing::warn!("{w}");
    }
    // reqwest is built with rustls but without a default crypto provider: ring is ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(relay::run(settings));
    // Exit without waiting for the blocking stdin read, which cannot be cancelled.
    std::process::exit(code);
}

/// Logs go to stderr only: stdout belongs to the protocol (S3). `RUST_LOG` wins over
/// `--log-level`.
fn init_logging(level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("wazion_mcp={level},warn")))
        .unwrap_or_else(|_| EnvFilter::new("wazion_mcp=info,warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .init();
}
