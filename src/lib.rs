//! wazion-mcp as a library: the bridge's modules, exposed so the binary, the benchmarks,
//! the property tests and the fuzz targets all exercise the same code. The binary
//! (`src/main.rs`) is the product; this API is not meant for other crates.

pub mod cli;
pub mod config;
pub mod errors;
pub mod jsonrpc;
pub mod relay;
pub mod session;
pub mod stdio;
pub mod upstream;
