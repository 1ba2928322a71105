//! The one integration-test crate (ripgrep-style): every behaviour family in `tests/` is a
//! module of this binary, so the dev-dependencies and `support/` are compiled and linked
//! once instead of once per file. `Cargo.toml` sets `autotests = false` and names this file
//! as the only `[[test]]`; a new `tests/<family>.rs` must be declared here to run.
//!
//! Run one family with a filter on its module path, e.g. `cargo test --test tests relay::`
//! (or one test: `cargo test --test tests shutdown::sigterm_mid_call_deletes_and_exits_zero`).
//!
//! It compiles and runs on Linux, macOS and Windows: what needs Unix (signals sent with
//! `kill`, file modes, `sh` scripts) or Linux (`/proc`, pipe-size probes) is gated per
//! test or per module with `#[cfg(unix)]` / `#[cfg(target_os = "linux")]`, and every bridge
//! a test starts keeps its era cache and token store in a temporary folder through
//! `WAZION_MCP_CACHE_DIR` / `WAZION_MCP_CONFIG_DIR` (the `XDG_*` variables work on Linux only).

mod support;

mod auth;
mod bad_input;
mod cli_commands;
mod e2e_client;
mod era_probe;
mod eras;
mod faults;
mod filter;
mod hostile_content;
// Signals and pipe-size probes (F_GETPIPE_SZ, FIONREAD): Linux only.
#[cfg(target_os = "linux")]
mod hostile_exit;
mod hostile_ids;
mod hostile_load;
mod hostile_streams;
mod legacy;
mod load;
mod logs;
mod network;
// Its browser stand-in is a `#!/bin/sh` script made executable: Unix only.
#[cfg(unix)]
mod oauth;
mod props;
mod relay;
mod secrets;
mod session;
mod setup_check;
mod setup_config;
mod shutdown;
// Reads descriptor flags from /proc.
#[cfg(target_os = "linux")]
mod stdio_paths;
mod transport_security;
