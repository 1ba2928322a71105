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

use std::borrow::Cow;

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

/// `bytes` with every secret cut out, by value: every occurrence in the raw bytes, and every
/// JSON string whose decoded text holds one (`\/` as PHP's `json_encode` writes it,
/// `\u0061`…), which is then written again, plainly escaped, with `[redacted]` in its place.
/// Borrowed when no secret occurs, the usual case: one `memmem` pass per secret and one
/// `memchr` for a backslash settle it before anything is decoded.
pub fn redact<'b>(bytes: &'b [u8], secrets: &[String]) -> Cow<'b, [u8]> {
    let secrets: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.is_empty() {
        return Cow::Borrowed(bytes);
    }
    // Decoded text differs from the bytes only where a backslash is: without one, the
    // byte search is the whole answer.
    let decoded = match memchr::memchr(b'\\', bytes) {
        Some(_) => redact_json_strings(bytes, &secrets),
        None => Cow::Borrowed(bytes),
    };
    match decoded {
        Cow::Borrowed(_) => redact_raw(bytes, &secrets),
        Cow::Owned(v) => Cow::Owned(redact_raw(&v, &secrets).into_owned()),
    }
}

/// Whether `bytes` may hold one of `secrets` once its JSON strings are decoded: a raw
/// occurrence, or an escape that could spell one of a secret's characters (`\u` always,
/// `\/` for a `/`, any escape for a quote, backslash or control character). A cheap test
/// before [`redact`] and before finding out whether a message is an error at all.
pub fn may_hold_secret(bytes: &[u8], secrets: &[String]) -> bool {
    let secrets = || secrets.iter().filter(|s| !s.is_empty());
    if secrets().any(|s| memchr::memmem::find(bytes, s.as_bytes()).is_some()) {
        return true;
    }
    if memchr::memchr(b'\\', bytes).is_none() {
        return false;
    }
    if memchr::memmem::find(bytes, b"\\u").is_some() {
        return true;
    }
    let slash = secrets().any(|s| s.contains('/'));
    let other = secrets().any(|s| s.chars().any(|c| c == '"' || c == '\\' || c.is_control()));
    other || (slash && memchr::memmem::find(bytes, b"\\/").is_some())
}

/// Every occurrence of every secret in `bytes` replaced (borrowed when none occurs).
fn redact_raw<'b>(bytes: &'b [u8], secrets: &[&str]) -> Cow<'b, [u8]> {
    let mut out = Cow::Borrowed(bytes);
    for secret in secrets {
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
        out = Cow::Owned(replaced);
    }
    out
}

/// Every JSON string token in `bytes` that holds an escape and whose decoded text holds a
/// secret, written again (serde_json's escaping) with the secret replaced; every other byte
/// kept. Works on any text: in something that is not JSON, a quoted part that does not
/// decode is left alone (the raw pass still covers it).
///
/// Hand-written scanning (the string tokens' spans) because a parse into `Value` and back
/// would reorder keys and respell numbers of a message the relay keeps byte for byte.
fn redact_json_strings<'b>(bytes: &'b [u8], secrets: &[&str]) -> Cow<'b, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0; // bytes[..copied] are in `out` already
    let mut i = 0;
    while let Some(open) = memchr::memchr(b'"', &bytes[i..]).map(|o| i + o) {
        let mut j = open + 1;
        let mut escaped = false;
        let close = loop {
            match bytes.get(j) {
                None => break None,
                Some(b'\\') => {
                    escaped = true;
                    j += 2;
                }
                Some(b'"') => break Some(j),
                Some(_) => j += 1,
            }
        };
        let Some(close) = close else { break };
        if escaped
            && let Ok(token) = std::str::from_utf8(&bytes[open..=close])
            && let Ok(text) = serde_json::from_str::<String>(token)
            && secrets.iter().any(|s| text.contains(s))
        {
            let mut text = text;
            for s in secrets {
                text = text.replace(s, "[redacted]");
            }
            let buf = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
            buf.extend_from_slice(&bytes[copied..open]);
            buf.extend_from_slice(serde_json::Value::from(text).to_string().as_bytes());
            copied = close + 1;
        }
        i = close + 1;
    }
    match out {
        None => Cow::Borrowed(bytes),
        Some(mut buf) => {
            buf.extend_from_slice(&bytes[copied..]);
            Cow::Owned(buf)
        }
    }
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
        Cow::Borrowed(_) => message,
        Cow::Owned(v) => Bytes::from(v),
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
    // Secrets out before anything is read or cut: a token straddling the excerpt's end
    // would otherwise leave its first part behind, where no search finds it.
    let body = &*redact(body, hints.secrets);
    // The challenge too: its `error_description` is shortened below.
    let challenge = meta
        .www_authenticate
        .as_deref()
        .map(|w| String::from_utf8_lossy(&redact(w.as_bytes(), hints.secrets)).into_owned());
    let status = meta.status;
    let reason = status.canonical_reason().unwrap_or("");
    let detail = oauth_description(body)
        .or_else(|| challenge.as_deref().and_then(challenge_description))
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
    if let Some(w) = &challenge {
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

    #[test]
    fn redaction_works_on_decoded_values() {
        let secrets = ["wz/SECRET+1".to_string()];
        // PHP's `\/`, a `\u` spelling, and a plain one: all cut, other bytes kept.
        let body =
            br#"{"a":"wz\/SECRET+1","b":"\u0077z/SECRET\u002b1 x","c":1.0,"d":"wz/SECRET+1"}"#;
        let out = redact(body, &secrets);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"a":"[redacted]","b":"[redacted] x","c":1.0,"d":"[redacted]"}"#
        );
        // Nothing to cut: borrowed, even with escapes about.
        let clean = br#"{"a":"x\/y\u0041","n":1e3}"#;
        assert!(matches!(redact(clean, &secrets), Cow::Borrowed(_)));
        assert!(may_hold_secret(clean, &secrets)); // `\u`: it must look
        assert!(!may_hold_secret(br#"{"a":"x\"y"}"#, &secrets));
        assert!(!may_hold_secret(b"plain", &secrets));
        // Not JSON at all: a raw occurrence is still cut.
        assert_eq!(
            &*redact(b"<p>wz/SECRET+1</p>", &secrets),
            b"<p>[redacted]</p>"
        );
    }

    #[test]
    fn the_excerpt_is_cut_after_the_redaction() {
        let secrets = ["tok-SECRET-0123456789".to_string()];
        let hints = Hints {
            secrets: &secrets,
            ..HINTS
        };
        let page = format!(
            "{}tok-SECRET-0123456789 tail",
            "x".repeat(BODY_EXCERPT - 10)
        );
        let f = Failure::Http(Box::new(meta(500, None)), Bytes::from(page));
        let text = String::from_utf8(answer("1", &f, &hints).to_vec()).unwrap();
        assert!(!text.contains("tok-SEC"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let excerpt = v["error"]["data"]["body"].as_str().unwrap();
        assert!(excerpt.ends_with("x[redacted]"), "{excerpt}");
        // The challenge's `error_description` is shortened to 200 characters: after the
        // redaction too.
        let www = format!(
            r#"Bearer error="invalid_token", error_description="{} tok-SECRET-0123456789""#,
            "y".repeat(190)
        );
        let f = Failure::Http(Box::new(meta(401, Some(&www))), Bytes::new());
        let text = String::from_utf8(answer("1", &f, &hints).to_vec()).unwrap();
        assert!(!text.contains("tok-SEC"), "{text}");
    }
}
