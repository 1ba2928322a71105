//! The legacy HTTP+SSE steps (protocol 2024-11-05): the GET event stream and its `endpoint`
//! event, then `initialize` and `tools/list` POSTed there and answered on the stream.
//!
//! Invariants: the wait for the `endpoint` event and for each answer on the stream is
//! bounded by [`LEGACY_WAIT`] (the POSTs by the bridge's own timeouts); messages go only to
//! the endpoint `crate::upstream::legacy::connect` accepted (on the configured URL's origin); nothing
//! is DELETEd: the session ends when the stream is dropped.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Ctx;
use super::exchange::{
    INITIALIZE, INITIALIZE_ID, INITIALIZED, TOOLS_LIST, TOOLS_LIST_ID, first_response,
    initialize_detail, tools_detail,
};
use super::report::{Reporter, fail, pass};
use super::words::{failure_words, rpc_error_words, status_fix};
use crate::errors::Failure;
use crate::jsonrpc;
use crate::upstream::{EventStream, Reply, Upstream};

/// How long the legacy checks wait for an answer on the event stream.
const LEGACY_WAIT: Duration = Duration::from_secs(10);

/// The legacy HTTP+SSE transport (2024-11-05, L1–L4): the GET stream and its `endpoint`,
/// then `initialize` and `tools/list` POSTed there and answered on the stream. Nothing to
/// DELETE: the session ends when the stream is dropped.
pub(super) async fn legacy_steps(upstream: &Upstream, ctx: &Ctx<'_>, r: &mut Reporter) {
    let wait_s = LEGACY_WAIT.as_secs();
    r.waiting(
        "SSE stream",
        &format!(
            "GET {}; waiting for its endpoint event (up to {wait_s} s)",
            ctx.hints.host
        ),
    );
    let started = Instant::now();
    let link =
        match tokio::time::timeout(LEGACY_WAIT, crate::upstream::legacy::connect(upstream)).await {
            Ok(Ok(link)) => link,
            Ok(Err(e)) => {
                let failure = Failure::from(e);
                let (_, detail, fix) = failure_words(&failure, ctx, "SSE stream");
                r.done(fail("SSE stream", detail, fix, Some(started)));
                return;
            }
            Err(_) => {
                r.done(fail(
                "SSE stream",
                format!("no endpoint event within {wait_s} s of the GET"),
                "Check the URL: it should be the server's SSE endpoint (it usually ends in /sse)."
                    .into(),
                Some(started),
            ));
                return;
            }
        };
    r.done(pass(
        "SSE stream",
        format!(
            "legacy HTTP+SSE transport; messages go to {}",
            link.endpoint.path()
        ),
        started,
    ));
    let mut events = link.events;

    let answer_wait = format!("waiting for the answer on the event stream (up to {wait_s} s)");
    r.waiting("initialize", &answer_wait);
    let started = Instant::now();
    let body = match legacy_call(
        upstream,
        &link.endpoint,
        &mut events,
        INITIALIZE,
        INITIALIZE_ID,
        ctx,
    )
    .await
    {
        Ok(body) if jsonrpc::error_code(&body).is_none() => body,
        Ok(body) => {
            r.done(fail(
                "initialize",
                rpc_error_words(&body),
                status_fix(401, ctx),
                Some(started),
            ));
            return;
        }
        Err((why, fix)) => {
            r.done(fail("initialize", why, fix, Some(started)));
            return;
        }
    };
    r.done(pass(
        "initialize",
        initialize_detail(&body, "over the event stream"),
        started,
    ));
    let _ = upstream
        .post_to(&link.endpoint, Bytes::from_static(INITIALIZED))
        .await;

    r.waiting("tools/list", &answer_wait);
    let started = Instant::now();
    match legacy_call(
        upstream,
        &link.endpoint,
        &mut events,
        TOOLS_LIST,
        TOOLS_LIST_ID,
        ctx,
    )
    .await
    {
        Ok(body) if jsonrpc::error_code(&body).is_none() => {
            r.done(pass("tools/list", tools_detail(&body), started));
        }
        Ok(body) => {
            r.done(fail(
                "tools/list",
                rpc_error_words(&body),
                status_fix(401, ctx),
                Some(started),
            ));
        }
        Err((why, fix)) => {
            r.done(fail("tools/list", why, fix, Some(started)));
        }
    }
}

/// POSTs `request` to the legacy endpoint and waits (bounded) for the answer to `id` (raw)
/// on `events`. A failure comes with its fix.
async fn legacy_call(
    upstream: &Upstream,
    endpoint: &reqwest::Url,
    events: &mut EventStream,
    request: &'static [u8],
    id: &str,
    ctx: &Ctx<'_>,
) -> Result<Bytes, (String, String)> {
    let words = |f: Failure| {
        let (_, detail, fix) = failure_words(&f, ctx, "the request");
        (detail, fix)
    };
    match upstream
        .post_to(endpoint, Bytes::from_static(request))
        .await
    {
        Ok(Reply::Status(meta, body)) => return Err(words(Failure::Http(Box::new(meta), body))),
        Ok(Reply::Json(_, body)) => return Ok(body),
        Ok(Reply::Events(_, mut stream)) => {
            return first_response(&mut stream, id)
                .await
                .ok_or_else(|| words(Failure::StreamEnded));
        }
        Ok(Reply::Accepted) => {}
        Err(e) => return Err(words(Failure::Net(e))),
    }
    match tokio::time::timeout(LEGACY_WAIT, first_response(events, id)).await {
        Ok(Some(body)) => Ok(body),
        Ok(None) => Err(words(Failure::LegacyStreamClosed)),
        Err(_) => Err((
            format!(
                "no answer on the event stream within {} s",
                LEGACY_WAIT.as_secs()
            ),
            "The server accepted the request but did not answer on its event stream; check \
             that the URL is the server's SSE endpoint, and the server's logs."
                .into(),
        )),
    }
}
