//! Real peers for the integration tests: the bridge binary driven over raw lines
//! (`driver`), a real rmcp Streamable HTTP server behind a WAzion-like bearer layer
//! (`rmcp_peer`), and a scripted HTTP server that answers exactly what a test tells it
//! to and records every request it saw (`scripted`).
#![allow(dead_code)]

pub mod driver;
pub mod oauth_peer;
pub mod pki;
pub mod rmcp_peer;
pub mod scripted;
