//! Every way a request can fail, mapped to the one JSON-RPC answer its client gets. This is
//! the "relay unchanged" contract (A7, A8):
//!
//! - a body that is a JSON-RPC response is relayed byte-for-byte, whatever the HTTP status;
//!   only its `id` is set to the request's when it is absent, null or different;
//! - anything else becomes `-32603` with a message that names the host, the HTTP status or
//!   network cause, and what to do, plus machine-readable `data` (`httpStatus`,
//!   `wwwAuthenticate`, the first 2 KiB of the body).
//!
//! Messages never contain the token or the session id: only the variable's name. And since a
//! server's error page may echo the request's headers back, every answer built here has the
//! configured secrets (the token, `--header` values) cut out before it leaves ([`redact`]).

use bytes::Bytes;
use serde_json::json;

use crate::jsonrpc;
use crate::upstream::{Meta, NetError};

/// Code for every error the bridge itself composes: JSON-RPC's "internal error", allowed in
/// every protocol revision and outside the MCP-reserved range (requirements §2.5, J10).
pub const BRIDGE_ERROR: i64 = -32603;

/// The most of an HTTP body copied into `error.data.body`.
const BODY_EXCERPT: usize = 2048;

/// Why a request could not be answered by the server's own response.
#[derive(Debug)]
pub enum Failure {
    /// The server answered with an HTTP status the bridge cannot relay as JSON-RPC.
    Http(Box<Meta>, Bytes),
    /// Nothing usable came back from the network.
    Net(NetError),
    /// The response stream ended before the response (no event id to resume from).
    StreamEnded,
    /// The server accepted the request (2xx) but never sent a response for it.
    NoResponse,
    /// Re-initializing an expired session failed; the inner failure says how.
    Reinitialize(Box<Failure>),
    /// The bridge is shutting down (stdin closed or a signal).
    ShuttingDown,
    /// The legacy HTTP+SSE server gave no usable message endpoint (L1).
    NoEndpoint(String),
    /// The legacy HTTP+SSE event stream closed, taking every pending answer with it.
    LegacyStreamClosed,
    /// `--request-timeout` passed before the answer arrived.
    RequestTimeout(std::time::Duration),
}

impl From<crate::upstream::legacy::LinkError> for Failure {
    fn from(e: crate::upstream::legacy::LinkError) -> Failure {
        use crate::upstream::legacy::LinkError;
        match e {
            LinkError::Http(meta, body) => Failure::Http(meta, body),
            LinkError::NoEndpoint(why) => Failure::NoEndpoint(why),
            LinkError::Net(e) => Failure::Net(e),
        }
    }
}

impl Failure {
    /// A one-line description for the debug log: never a body (a server's error page may
    /// echo the request's headers, token included).
    pub fn summary(&self) -> String {
        match self {
            Failure::Http(meta, body) => {
                format!(
                    "HTTP {} with a {}-byte body",
                    meta.status.as_u16(),
                    body.len()
                )
            }
            Failure::Reinitialize(inner) => format!("re-initialize failed: {}", inner.summary()),
            other => format!("{other:?}"),
        }
    }
}

/// What error texts need to know about the configuration.
pub struct Hints<'a> {
    pub host: &'a str,
    pub token_env: &'a str,
    pub token_present: bool,
    /// Values that must never appear in an answer (see [`redact`]).
    pub secrets: &'a [String],
}

/// What replaces a secret in an answer.
const REDACTED: &[u8] = b"[redacted]";

/// `bytes` with every occurrence of every secret replaced by `[redacted]` (borrowed when
/// none occurs, the usual case: one `memmem` pass per secret).
pub fn redact<'b>(bytes: &'b [u8], secrets: &[String]) -> std::borrow::Cow<'b, [u8]> {
    let mut out = std::borrow::Cow::Borrowed(bytes);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let finder = memchr::memmem::Finder::new(secret.as_bytes());
        if finder.find(&out).is_none() {
            continue;
        }
        let mut replaced = Vec::with_capacity(out.len());
        let mut rest: &[u8] = &out;
        while let Some(i) = finder.find(rest) {
            replaced.extend_from_slice(&rest[..i]);
            replaced.extend_from_slice(REDACTED);
            rest = &rest[i + secret.len()..];
        }
        replaced.extend_from_slice(rest);
        out = std::borrow::Cow::Owned(replaced);
    }
    out
}

/// If `body` is a JSON-RPC response, returns it as the answer to `id` (raw id text):
/// unchanged when the ids match, otherwise with only the id replaced.
pub fn relay_as_answer(body: &[u8], id: &str) -> Option<Bytes> {
    let trimmed = body.trim_ascii();
    if !jsonrpc::is_response(trimmed) {
        return None;
    }
    Some(match jsonrpc::with_id(trimmed, id) {
        std::borrow::Cow::Borrowed(_) if trimmed.len() == body.len() => {
            Bytes::copy_from_slice(body)
        }
        std::borrow::Cow::Borrowed(b) => Bytes::copy_from_slice(b),
        std::borrow::Cow::Owned(v) => Bytes::from(v),
    })
}

/// The answer the client gets for request `id` when `failure` ended it, with the
/// configured secrets cut out.
pub fn answer(id: &str, failure: &Failure, hints: &Hints<'_>) -> Bytes {
    let message = unredacted_answer(id, failure, hints);
    match redact(&message, hints.secrets) {
        std::borrow::Cow::Borrowed(_) => message,
        std::borrow::Cow::Owned(v) => Bytes::from(v),
    }
}

fn unredacted_answer(id: &str, failure: &Failure, hints: &Hints<'_>) -> Bytes {
    let mut innermost = failure;
    while let Failure::Reinitialize(inner) = innermost {
        innermost = inner;
    }
    if let Failure::Http(_, body) = innermost
        && let Some(relayed) = relay_as_answer(body, id)
    {
        return relayed;
    }
    let (message, data) = describe(failure, hints);
    Bytes::from(jsonrpc::error_response(
        id,
        BRIDGE_ERROR,
        &message,
        data.as_deref(),
    ))
}

/// `error.data` members, in the order they are written.
type Data = Vec<(&'static str, serde_json::Value)>;

fn describe(failure: &Failure, hints: &Hints<'_>) -> (String, Option<Data>) {
    let host = hints.host;
    match failure {
        Failure::Http(meta, body) => describe_http(meta, body, hints),
        Failure::Net(NetError::Connect(cause)) => {
            (format!("could not reach {host}: {cause}"), None)
        }
        Failure::Net(NetError::Idle(d)) => (
            format!(
                "{host} sent nothing for {} s, so the request was given up (raise --idle-timeout \
                 for slower tools)",
                d.as_secs()
            ),
            None,
        ),
        Failure::Net(NetError::Body(cause)) => (
            format!(
                "the connection to {host} broke before the response arrived ({cause}); the \
                 request may already have been processed"
            ),
            None,
        ),
        Failure::Net(NetError::Auth(why)) => (
            format!(
                "{host} asks for an OAuth sign-in, and it did not complete: {why}. Run \
                 `wazion-mcp auth login` from a terminal, then retry"
            ),
            None,
        ),
        Failure::Net(NetError::TooLarge(n)) => (
            format!("{host} sent a message of {n} bytes, more than --max-message-bytes allows"),
            None,
        ),
        Failure::StreamEnded => (
            format!(
                "{host} closed the response stream before sending the response, and gave no \
                 event id to resume from; retry the request"
            ),
            None,
        ),
        Failure::NoResponse => (
            format!("{host} accepted the request but never sent a response; retry the request"),
            None,
        ),
        Failure::Reinitialize(inner) => {
            let (m, d) = describe(inner, hints);
            (
                format!("the MCP session expired and starting a new one failed: {m}"),
                d,
            )
        }
        Failure::NoEndpoint(why) => (
            format!(
                "{host} looks like a legacy HTTP+SSE MCP server, but {why}; check the URL (it \
                 usually ends in /sse) or pass --transport streamable-http"
            ),
            None,
        ),
        Failure::LegacyStreamClosed => (
            format!(
                "{host} closed the legacy SSE connection before answering; restart the MCP \
                 client to open a new session"
            ),
            None,
        ),
        Failure::RequestTimeout(d) => (
            format!(
                "{host} did not answer within {} s, the limit set by --request-timeout; the \
                 request was abandoned (raise --request-timeout for slower tools)",
                d.as_secs()
            ),
            None,
        ),
        Failure::ShuttingDown => (
            "wazion-mcp is shutting down (its stdin closed or it received a signal) before the \
             response arrived"
                .into(),
            None,
        ),
    }
}

fn describe_http(meta: &Meta, body: &[u8], hints: &Hints<'_>) -> (String, Option<Data>) {
    let status = meta.status;
    let reason = status.canonical_reason().unwrap_or("");
    let detail = oauth_description(body)
        .or_else(|| {
            meta.www_authenticate
                .as_deref()
                .and_then(challenge_description)
        })
        .or_else(|| body_detail(body))
        .unwrap_or_else(|| "(no explanation in the response body)".into());
    let env = hints.token_env;
    let advice = match status.as_u16() {
        401 if !hints.token_present => format!(
            "Set {env} to your token in the MCP client's env block and restart the client"
        ),
        401 => format!("The server rejected the token in {env}: check that it is complete and current"),
        403 if meta.www_authenticate.as_deref().is_some_and(|w| w.contains("insufficient_scope")) => {
            format!("The token in {env} lacks a required scope; use a token with more access")
        }
        403 => "The server refuses this request; check the token's permissions or the server's access rules".into(),
        404 => "Check the URL: this path is not an MCP endpoint".into(),
        405 => "Check the URL: this endpoint does not accept MCP requests".into(),
        408 | 504 => "The server or a gateway timed out; try again".into(),
        429 => match &meta.retry_after {
            Some(after) => format!("Rate limited: retry after {after}"),
            None => "Rate limited: wait and retry".into(),
        },
        300..=399 => match &meta.location {
            Some(loc) => format!(
                "The server redirects to {loc}; not followed because it changes the origin or \
                 the method. Use that URL directly if you trust it"
            ),
            None => "The server answered with a redirect without a location".into(),
        },
        500..=599 => "The server failed; try again later".into(),
        _ => "The server refused the request".into(),
    };
    let message = format!(
        "{} answered HTTP {} {reason}: {detail}. {advice}",
        hints.host,
        status.as_u16()
    );
    // Built in this order (httpStatus, wwwAuthenticate, …) for readers of raw logs;
    // serde_json's map would sort the keys.
    let mut data: Data = vec![("httpStatus", json!(status.as_u16()))];
    if let Some(w) = &meta.www_authenticate {
        data.push(("wwwAuthenticate", json!(w)));
    }
    if let Some(r) = &meta.retry_after {
        data.push(("retryAfter", json!(r)));
    }
    if let Some(l) = &meta.location {
        data.push(("location", json!(l)));
    }
    if !body.is_empty() {
        let end = floor_char_boundary(body, BODY_EXCERPT);
        data.push(("body", json!(String::from_utf8_lossy(&body[..end]))));
    }
    (message, Some(data))
}

/// OAuth's `error_description` (or `message`, or `error`) from a JSON body.
fn oauth_description(body: &[u8]) -> Option<String> {
    let v = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let d = field("error_description")
        .or_else(|| field("message"))
        .or_else(|| field("error"))?;
    Some(shorten(&d))
}

/// `error_description="…"` from a `WWW-Authenticate` challenge (RFC 6750 §3).
/// Hand-parsed: one quoted parameter does not justify an auth-header crate.
fn challenge_description(header: &str) -> Option<String> {
    const KEY: &str = "error_description=\"";
    let start = header.find(KEY)? + KEY.len();
    let mut out = String::new();
    let mut chars = header[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => return Some(shorten(&out)),
            c => out.push(c),
        }
    }
    None
}

/// The first non-empty line of a text or HTML body.
fn body_detail(body: &[u8]) -> Option<String> {
    let text =
        String::from_utf8_lossy(&body[..floor_char_boundary(body, BODY_EXCERPT)]).into_owned();
    let stripped = strip_tags(&text);
    stripped
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(shorten)
}

fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn shorten(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let s = s.trim_end_matches('.');
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s.to_string()
    }
}

fn floor_char_boundary(b: &[u8], max: usize) -> usize {
    if b.len() <= max {
        return b.len();
    }
    let mut end = max;
    // Back off continuation bytes so a multi-byte character is not cut in half.
    while end > 0 && (b[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn meta(status: u16, www: Option<&str>) -> Meta {
        Meta {
            status: StatusCode::from_u16(status).unwrap(),
            session_id: None,
            www_authenticate: www.map(str::to_string),
            location: None,
            retry_after: None,
            content_type: None,
            peer_certificate: None,
        }
    }

    const HINTS: Hints<'static> = Hints {
        host: "www.wazion.com",
        token_env: "WAZION_TOKEN",
        token_present: true,
        secrets: &[],
    };

    #[test]
    fn jsonrpc_bodies_are_relayed_with_only_the_id_fixed() {
        let body = r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Unauthorized: invalid or missing Bearer token. Get your token at https://www.wazion.com/dashboard → Settings."},"id":1}"#;
        let f = Failure::Http(Box::new(meta(401, None)), Bytes::from(body));
        assert_eq!(&answer("1", &f, &HINTS)[..], body.as_bytes());
        assert_eq!(
            &answer("42", &f, &HINTS)[..],
            body.replace("\"id\":1", "\"id\":42").as_bytes()
        );
    }

    #[test]
    fn oauth_401_becomes_a_plain_words_error_with_data() {
        let f = Failure::Http(
            Box::new(meta(401, Some(r#"Bearer error="invalid_token""#))),
            Bytes::from(
                r#"{"error":"invalid_token","error_description":"The access token expired"}"#,
            ),
        );
        let v: serde_json::Value = serde_json::from_slice(&answer("\"a\"", &f, &HINTS)).unwrap();
        assert_eq!(v["id"], "a");
        assert_eq!(v["error"]["code"], -32603);
        let m = v["error"]["message"].as_str().unwrap();
        assert!(
            m.starts_with(
                "www.wazion.com answered HTTP 401 Unauthorized: The access token expired. "
            ),
            "{m}"
        );
        assert!(m.contains("WAZION_TOKEN"), "{m}");
        assert_eq!(v["error"]["data"]["httpStatus"], 401);
        assert_eq!(
            v["error"]["data"]["wwwAuthenticate"],
            r#"Bearer error="invalid_token""#
        );
    }

    #[test]
    fn html_bodies_are_summarised_and_excerpted() {
        let html = format!(
            "<html><body><h1>502 Bad Gateway</h1>{}</body></html>",
            "x".repeat(5000)
        );
        let f = Failure::Http(Box::new(meta(502, None)), Bytes::from(html));
        let v: serde_json::Value = serde_json::from_slice(&answer("1", &f, &HINTS)).unwrap();
        let m = v["error"]["message"].as_str().unwrap();
        assert!(
            m.starts_with("www.wazion.com answered HTTP 502 Bad Gateway: 502 Bad Gateway"),
            "{m}"
        );
        assert_eq!(v["error"]["data"]["body"].as_str().unwrap().len(), 2048);
    }

    #[test]
    fn missing_token_advice_names_the_variable() {
        let hints = Hints {
            token_present: false,
            ..HINTS
        };
        let f = Failure::Http(Box::new(meta(401, None)), Bytes::new());
        let v: serde_json::Value = serde_json::from_slice(&answer("1", &f, &hints)).unwrap();
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains("Set WAZION_TOKEN"), "{m}");
    }

    #[test]
    fn echoed_secrets_are_cut_from_every_answer() {
        let secrets = ["tok-SECRET".to_string(), "key-SECRET".to_string()];
        let hints = Hints {
            secrets: &secrets,
            ..HINTS
        };
        let page = "<pre>Authorization: Bearer tok-SECRET\nX-Api-Key: key-SECRET</pre>";
        let f = Failure::Http(Box::new(meta(500, None)), Bytes::from(page));
        let text = String::from_utf8(answer("1", &f, &hints).to_vec()).unwrap();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("Bearer [redacted]"), "{text}");
        // A JSON-RPC error body echoing the token is relayed with the token cut out too.
        let body = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"bad tok-SECRET"}}"#;
        let f = Failure::Http(Box::new(meta(401, None)), Bytes::from(body));
        let text = String::from_utf8(answer("1", &f, &hints).to_vec()).unwrap();
        assert_eq!(text, body.replace("tok-SECRET", "[redacted]"));
    }
}
