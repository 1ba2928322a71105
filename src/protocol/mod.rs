//! What the bridge knows of MCP's protocol eras, as pure functions and plain state: no
//! sockets, no tasks, no clocks, no stdout. Every module here takes bytes (a message, a
//! header value) and returns bytes or a decision, so each is tested on its own and the
//! relay's rooms (`crate::relay`) and `check` are the only places that act on the answers.
//!
//! - [`session`]: the 2025 session's state (`Mcp-Session-Id`, the negotiated version, the
//!   client's `initialize` for replay) and the session headers a request carries.
//! - [`modern`]: the 2026-07-28 era's per-message version and request headers (`Mcp-Method`,
//!   `Mcp-Name`, `Mcp-Param-*`).
//! - [`translate`]: the byte splices that let a 2025 client talk to a 2026-only server.
//!
//! Invariant: nothing in this module imports `upstream`, `relay`, `oauth` or `config`; the
//! arrows point into it, never out (it uses only `jsonrpc`, the envelope reader).

pub mod modern;
pub mod session;
pub mod translate;

/// The session header of the Streamable HTTP transport (H16).
pub const HEADER_SESSION_ID: &str = "mcp-session-id";
/// The negotiated version, on every request after `initialize` (H20).
pub const HEADER_PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// Where a broken SSE stream resumes (H13).
pub const HEADER_LAST_EVENT_ID: &str = "last-event-id";
