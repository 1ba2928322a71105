//! The Streamable HTTP steps (the 2025 era): `initialize`, from whose first reply TLS and
//! HTTP are judged, `notifications/initialized`, `tools/list` in the session, then the
//! session's DELETE.
//!
//! Invariants: as the bridge does, `--transport auto` falls back to the legacy steps when the
//! POST is refused with 400/404/405 and no JSON-RPC body, and a server that answers only in
//! the 2026 era is checked by [`modern_steps`]; the session this check opened is always
//! DELETEd (bounded to 2 s), so none is leaked; the session id is never shown.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Ctx;
use super::exchange::{
    INITIALIZE, INITIALIZE_ID, INITIALIZED, TOOLS_LIST, TOOLS_LIST_ID, collect, initialize_detail,
    tools_detail,
};
use super::legacy::legacy_steps;
use super::modern::modern_steps;
use super::report::{Reporter, fail, pass};
use super::tls::tls_detail;
use super::words::{failure_words, server_words, status_fix};
use crate::cli::TransportKind;
use crate::jsonrpc;
use crate::upstream::{SessionHeaders, Upstream};

/// `initialize`, `tools/list` and the DELETE over Streamable HTTP (or the legacy or 2026-era
/// steps, when the first reply says so).
pub(super) async fn streamable_steps(upstream: &Upstream, ctx: &Ctx<'_>, r: &mut Reporter) {
    let settings = ctx.settings;
    let hints = ctx.hints;

    // initialize: TLS and HTTP are judged from this first real request.
    r.waiting(
        "initialize",
        &format!(
            "sent; waiting for the answer (up to {} s of silence)",
            settings.idle_timeout.as_secs()
        ),
    );
    let started = Instant::now();
    let reply = upstream
        .post(Bytes::from_static(INITIALIZE), &SessionHeaders::default())
        .await;
    let https = settings.url.scheme() == "https";
    let (meta, body) = match collect(reply, INITIALIZE_ID).await {
        Ok(x) => x,
        Err(failure) => {
            let (step, detail, fix) = failure_words(&failure, ctx, "initialize");
            r.done(fail(step, detail, fix, Some(started)));
            return;
        }
    };
    if https {
        r.done(pass(
            "TLS",
            tls_detail(meta.peer_certificate.as_deref()),
            started,
        ));
    }
    let ct = meta.content_type.clone().unwrap_or_default();
    r.done(pass(
        "HTTP",
        format!(
            "POST answered {} ({})",
            meta.status,
            ct.split(';').next().unwrap_or("")
        ),
        started,
    ));

    // H23, as the bridge does: a pre-2025 server refuses the POST with 400/404/405 and no
    // JSON-RPC body; `auto` then tries the legacy transport.
    if settings.transport == TransportKind::Auto
        && matches!(meta.status.as_u16(), 400 | 404 | 405)
        && !jsonrpc::is_response(body.trim_ascii())
    {
        legacy_steps(upstream, ctx, r).await;
        return;
    }
    if let Some(version) = crate::protocol::translate::modern_refusal(&body) {
        r.done(pass(
            "initialize",
            format!(
                "the server speaks only MCP {version} (no initialize); the bridge translates \
                 for 2025-era clients"
            ),
            started,
        ));
        modern_steps(upstream, ctx, version, r).await;
        return;
    }
    if !meta.status.is_success() || jsonrpc::error_code(&body).is_some() {
        r.done(fail(
            "initialize",
            server_words(&meta, &body, hints),
            status_fix(meta.status.as_u16(), ctx),
            Some(started),
        ));
        return;
    }
    let version = jsonrpc::initialize_result_version(&body);
    let session_note = if meta.session_id.is_some() {
        "session opened"
    } else {
        "no session (stateless)"
    };
    r.done(pass(
        "initialize",
        initialize_detail(&body, session_note),
        started,
    ));

    let mut session = SessionHeaders {
        session_id: meta.session_id.clone(),
        protocol_version: version
            .as_deref()
            .and_then(|v| reqwest::header::HeaderValue::from_str(v).ok()),
        extra: Vec::new(),
    };
    let _ = upstream
        .post(Bytes::from_static(INITIALIZED), &session)
        .await;

    r.waiting(
        "tools/list",
        &format!(
            "waiting for the answer (up to {} s of silence)",
            settings.idle_timeout.as_secs()
        ),
    );
    let started = Instant::now();
    let reply = upstream
        .post(Bytes::from_static(TOOLS_LIST), &session)
        .await;
    match collect(reply, TOOLS_LIST_ID).await {
        Ok((meta, body)) if meta.status.is_success() && jsonrpc::error_code(&body).is_none() => {
            r.done(pass("tools/list", tools_detail(&body), started));
        }
        Ok((meta, body)) => {
            r.done(fail(
                "tools/list",
                server_words(&meta, &body, hints),
                status_fix(meta.status.as_u16(), ctx),
                Some(started),
            ));
        }
        Err(failure) => {
            let (_, detail, fix) = failure_words(&failure, ctx, "tools/list");
            r.done(fail("tools/list", detail, fix, Some(started)));
        }
    }

    // Leave nothing behind on the server (H19).
    if session.session_id.is_some() {
        let _ = tokio::time::timeout(Duration::from_secs(2), upstream.delete(&session)).await;
        session.session_id = None;
    }
}
