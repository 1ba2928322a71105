//! The 2026-07-28 era, for a server that refused `initialize` as only a modern server does:
//! `server/discover` then `tools/list`, each stamped with `_meta` and the request headers as
//! the bridge's translation sends them.
//!
//! Invariant: there is no session, so nothing to close; the first failure ends the steps.

use std::time::Instant;

use bytes::Bytes;
use serde_json::Value;

use super::Ctx;
use super::exchange::collect;
use super::report::{Reporter, fail, pass};
use super::words::{failure_words, server_words, status_fix};
use crate::jsonrpc;
use crate::upstream::{SessionHeaders, Upstream};

/// `server/discover` and `tools/list` the 2026-07-28 way: `_meta` and request headers.
pub(super) async fn modern_steps(
    upstream: &Upstream,
    ctx: &Ctx<'_>,
    version: String,
    r: &mut Reporter,
) {
    let t = crate::protocol::translate::Translation {
        version: version.clone(),
        capabilities: "{}".into(),
        client_info: r#"{"name":"wazion-mcp-check","version":"1"}"#.into(),
    };
    let headers = crate::protocol::modern::ToolHeaders::default();
    for (step, method) in [
        ("discover", "server/discover"),
        ("tools/list", "tools/list"),
    ] {
        r.waiting(
            step,
            &format!(
                "{method} sent; waiting for the answer (up to {} s of silence)",
                ctx.settings.idle_timeout.as_secs()
            ),
        );
        let started = Instant::now();
        let id = format!("\"wazion-mcp-check-{step}\"");
        let request = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#);
        let body = Bytes::from(crate::protocol::translate::stamp_meta(
            request.as_bytes(),
            &t,
        ));
        let session = SessionHeaders {
            extra: headers.request_headers(&body, &version),
            ..SessionHeaders::default()
        };
        match collect(upstream.post(body, &session).await, &id).await {
            Ok((meta, body))
                if meta.status.is_success() && jsonrpc::error_code(&body).is_none() =>
            {
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                let detail = match step {
                    "discover" => format!(
                        "capabilities {}",
                        v.pointer("/result/capabilities")
                            .map(Value::to_string)
                            .unwrap_or_default()
                    ),
                    _ => format!(
                        "{} tools",
                        v.pointer("/result/tools")
                            .and_then(Value::as_array)
                            .map_or(0, Vec::len)
                    ),
                };
                r.done(pass(step, detail, started));
            }
            Ok((meta, body)) => {
                r.done(fail(
                    step,
                    server_words(&meta, &body, ctx.hints),
                    status_fix(meta.status.as_u16(), ctx),
                    Some(started),
                ));
                return;
            }
            Err(failure) => {
                let (_, detail, fix) = failure_words(&failure, ctx, step);
                r.done(fail(step, detail, fix, Some(started)));
                return;
            }
        }
    }
}
