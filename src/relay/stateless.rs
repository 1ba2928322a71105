//! 2026-07-28, a modern client: every message declares its protocol version in
//! `params._meta`, there is no handshake and no session.
//!
//! Each request goes out with `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` and the
//! `Mcp-Param-*` headers its tool's learned `x-mcp-header` annotations ask for. Invariant:
//! nothing here reads or writes the session (no session id, no re-initialize, no GET
//! stream, no DELETE); cancelling a request is closing its exchange.

use std::sync::Arc;

use super::context::{Msg, Relay};
use crate::jsonrpc::Kind;
use crate::upstream::SessionHeaders;

/// Routes a message of a 2026-07-28 client, which declared `version`.
pub async fn dispatch(relay: &Arc<Relay>, msg: Msg, version: &str) {
    let headers = relay.modern_headers(&msg.bytes, version);
    match msg.kind {
        Kind::Request => {
            let Some(key) = msg.key().cloned() else {
                return;
            };
            relay.pending.update(&key, |e| e.modern = true);
            let this = relay.clone();
            let k = key.clone();
            relay.spawn_request(&key, async move {
                let reply = this
                    .upstream
                    .post(msg.bytes, &headers)
                    .await
                    .map_err(crate::errors::Failure::Net)?;
                this.read_reply(reply, std::slice::from_ref(&k)).await
            });
        }
        // Cancelling is closing the request's HTTP exchange; nothing is POSTed.
        Kind::Notification
            if &*msg.method == "notifications/cancelled" && relay.cancels_modern(&msg.bytes) =>
        {
            relay.cancel_target(&msg.bytes);
        }
        _ => {
            let this = relay.clone();
            tokio::spawn(async move {
                let what = if msg.method.is_empty() {
                    "response"
                } else {
                    &msg.method
                };
                this.send_one_way(msg.bytes.clone(), what, headers).await
            });
        }
    }
}

impl Relay {
    /// The headers of a modern message: its version, method, name and `Mcp-Param-*`.
    pub fn modern_headers(&self, bytes: &[u8], version: &str) -> SessionHeaders {
        SessionHeaders {
            session_id: None,
            protocol_version: None,
            extra: self.tool_headers.request_headers(bytes, version),
        }
    }
}
