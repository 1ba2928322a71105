//! A failure in words: which step it belongs to, what happened as the user would say it,
//! and the fix, for an HTTP status, a JSON-RPC error or a failure of the bridge's HTTP client.
//!
//! Invariants: causes are the bridge's own messages (what a client would be told) or the
//! server's JSON-RPC `message`, never a Rust error's debug text; every failure comes with a
//! fix; a proxy is named without its credentials. Failures below HTTP go to [`connect_words`].

use bytes::Bytes;
use serde_json::Value;

use super::Ctx;
use super::network::without_credentials;
use super::tls::connect_words;
use crate::errors::{self, Failure, Hints};
use crate::upstream::{Meta, NetError};

/// The fix for an HTTP status the server refused with.
pub(super) fn status_fix(status: u16, ctx: &Ctx<'_>) -> String {
    let settings = ctx.settings;
    match status {
        401 if !settings.token_present => format!(
            "Set {} (see the fix under \"flags\" above).",
            settings.token_env
        ),
        401 => format!(
            "The server rejected the token in {}: copy it again (complete, no quotes) or create a \
             new one.",
            settings.token_env
        ),
        403 => format!(
            "The token in {} is valid but not allowed to do this; use a token with more access.",
            settings.token_env
        ),
        404 | 405 | 400 => format!(
            "Check the URL: it should be the server's MCP endpoint (e.g. {}).",
            crate::cli::DEFAULT_URL
        ),
        407 => match ctx.proxy {
            Some(p) => format!(
                "The proxy {} wants credentials: put them in the proxy URL \
                 (http://user:password@host:port).",
                without_credentials(p)
            ),
            None => {
                "A proxy wants credentials: pass --proxy http://user:password@host:port.".into()
            }
        },
        429 => "The server is rate limiting: wait a moment and run the check again.".into(),
        300..=399 => "The URL redirects elsewhere (the bridge follows only same-origin 307/308): \
                      use the address it redirects to."
            .into(),
        500..=599 => "The server failed: try again later, or tell the server's operator.".into(),
        _ => "Check the URL and the server's status; the bridge would get the same answer.".into(),
    }
}

/// The server's own words for a refusal: the JSON-RPC error message if it sent one.
pub(super) fn server_words(meta: &Meta, body: &[u8], hints: &Hints<'_>) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.get("message")?.as_str().map(str::to_string));
    match message {
        Some(m) => format!("HTTP {}: the server says \"{m}\"", meta.status.as_u16()),
        None => describe(
            &Failure::Http(Box::new(meta.clone()), Bytes::copy_from_slice(body)),
            hints,
        ),
    }
}

/// The JSON-RPC error of an answer read off an event stream.
pub(super) fn rpc_error_words(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.get("message")?.as_str().map(str::to_string))
        .map_or_else(
            || "the server answered with an error".to_string(),
            |m| format!("the server says \"{m}\""),
        )
}

/// The bridge's own words for a failure (what a client would be told).
fn describe(failure: &Failure, hints: &Hints<'_>) -> String {
    let answer = errors::answer("0", failure, hints);
    serde_json::from_slice::<Value>(&answer)
        .ok()
        .and_then(|v| v.get("error")?.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("the request to {} failed", hints.host))
}

/// The step, the words and the fix for a failure of request `what`.
pub(super) fn failure_words(
    failure: &Failure,
    ctx: &Ctx<'_>,
    what: &str,
) -> (&'static str, String, String) {
    let host = ctx.hints.host;
    match failure {
        Failure::Net(NetError::Connect(cause)) => connect_words(cause, ctx),
        Failure::Net(NetError::Idle(d)) => (
            "HTTP",
            format!("{host} sent nothing for {} s after {what}", d.as_secs()),
            "Check that the URL is the server's MCP endpoint; a slow server needs a larger \
             --idle-timeout."
                .into(),
        ),
        Failure::Http(meta, _) => (
            "HTTP",
            describe(failure, ctx.hints),
            status_fix(meta.status.as_u16(), ctx),
        ),
        Failure::Net(NetError::TooLarge(_)) => (
            "HTTP",
            describe(failure, ctx.hints),
            "Raise --max-message-bytes, or check that the URL is the MCP endpoint.".into(),
        ),
        _ => (
            "HTTP",
            describe(failure, ctx.hints),
            "Run the check again; if it keeps failing, check the URL and the server's logs.".into(),
        ),
    }
}
