//! wazion-mcp as a library: the bridge's modules, exposed so the binary, the benchmarks,
//! the property tests and the fuzz targets all exercise the same code. The binary
//! (`src/main.rs`) is the product; this API is not meant for other crates.
//!
//! stdout is the protocol channel while bridging (S3): only `stdio::StdoutWriter` writes
//! it. `print!`/`println!` are denied crate-wide; the two helper subcommands, `check` and
//! `config`, which run instead of the bridge (never beside it, see `main`), allow them for
//! their reports.
#![deny(clippy::print_stdout)]

pub mod check;
pub mod cli;
pub mod client_config;
pub mod config;
pub mod era_cache;
pub mod errors;
pub mod filter;
pub mod folders;
pub mod jsonrpc;
pub mod legacy;
pub mod logging;
pub mod modern;
pub mod oauth;
pub mod relay;
pub mod report;
pub mod session;
pub mod stdio;
pub mod translate;
pub mod upstream;
