//! wazion-mcp: a stdio MCP server that relays every message to a Streamable HTTP MCP server.
//!
//! The flow, top-down: `cli` parses flags → `config` checks them into `Settings` → `relay`
//! runs the bridge until stdin closes or a signal arrives. `check` and `config` are the two
//! helper subcommands. See ARCHITECTURE.md for the map.

#![deny(clippy::print_stdout)] // stdout is the protocol channel (S3); see lib.rs

use clap::Parser;
use wazion_mcp::cli::{BridgeArgs, Cli, Command};
use wazion_mcp::{check, client_config, config, logging, relay};

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        None => bridge(&cli.bridge),
        // `check` reports unusable flags itself (as JSON with --json).
        Some(Command::Check { bridge, json }) => block_on(check::main(bridge, json)),
        Some(Command::Auth { action }) => block_on(wazion_mcp::oauth::command::run(action)),
        Some(Command::Config {
            client,
            write,
            force,
            name,
            file,
            follow_links,
            bridge,
        }) => client_config::run(client_config::Request {
            client,
            write,
            force,
            name,
            file,
            follow_links,
            args: bridge,
        }),
    };
    // Exit without waiting for the blocking stdin read, which cannot be cancelled.
    std::process::exit(code);
}

fn bridge(args: &BridgeArgs) -> i32 {
    if let Err(e) = logging::init(args) {
        eprintln!("wazion-mcp: {e}");
        return 2;
    }
    let settings = settings_or_exit(args, true);
    block_on(relay::run(settings))
}

/// Checks the flags; on error says what to do and exits 2.
fn settings_or_exit(args: &BridgeArgs, warn: bool) -> config::Settings {
    match config::from_cli(args, |name| std::env::var(name).ok()) {
        Ok((settings, warnings)) => {
            if warn {
                for w in warnings {
                    tracing::warn!("{w}");
                }
            }
            settings
        }
        Err(e) => {
            eprintln!("wazion-mcp: {e}");
            std::process::exit(2);
        }
    }
}

fn block_on<F: std::future::Future<Output = i32>>(f: F) -> i32 {
    // reqwest is built with rustls but without a default crypto provider: ring is ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => {
            let code = rt.block_on(f);
            // Dropping the runtime would wait for the blocking stdin read, which cannot be
            // cancelled: a SIGTERM with stdin still open must not hang (S9).
            rt.shutdown_background();
            code
        }
        Err(e) => {
            eprintln!("wazion-mcp: cannot start the async runtime: {e}");
            1
        }
    }
}
