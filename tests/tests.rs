//! The one integration-test crate (ripgrep-style): every behaviour family in `tests/` is a
//! module of this binary, so the dev-dependencies and `support/` are compiled and linked
//! once instead of once per file. `Cargo.toml` sets `autotests = false` and names this file
//! as the only `[[test]]`; a new `tests/<family>.rs` must be declared here to run.
//!
//! Run one family with a filter on its module path, e.g. `cargo test --test tests relay::`
//! (or one test: `cargo test --test tests shutdown::sigterm_mid_call_deletes_and_exits_zero`).

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
mod hostile_exit;
mod hostile_ids;
mod hostile_load;
mod hostile_streams;
mod legacy;
mod load;
mod logs;
mod network;
mod oauth;
mod props;
mod relay;
mod secrets;
mod session;
mod setup_check;
mod setup_config;
mod shutdown;
mod transport_security;
