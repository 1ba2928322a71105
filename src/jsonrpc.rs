//! The JSON-RPC envelope over raw bytes: what kind of message a line is, its id and method,
//! and the few byte-level edits the bridge is allowed to make. No I/O here.
//!
//! Invariant: nothing in this module re-serialises a message. Classification borrows the id
//! as raw JSON text (`"1"` stays a string, `9223372036854775808` and `1.0` stay as written);
//! the only edits are removing insignificant whitespace ([`compact`]) and replacing an id
//! ([`with_id`]), both of which leave every other byte as it was.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// What a single JSON-RPC object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Notification,
    Response,
}

/// A classified single message. `id` is the raw JSON text of the id (`None` when absent;
/// `Some("null")` when explicitly null).
#[derive(Debug)]
pub struct Envelope<'a> {
    pub kind: Kind,
    pub id: Option<&'a RawValue>,
    pub method: Option<Cow<'a, str>>,
    /// A response with an `error` member: the one kind of server message whose text the
    /// bridge may edit (secrets cut out, `errors::redact`).
    pub is_error: bool,
}

impl Envelope<'_> {
    /// The id as a lookup key (raw JSON text), if it has a usable (non-null) id.
    pub fn id_key(&self) -> Option<&str> {
        self.id.map(RawValue::get).filter(|t| *t != "null")
    }
}

/// A stdin line or a server payload: one message or a batch of raw elements.
#[derive(Debug)]
pub enum Payload<'a> {
    Single(Envelope<'a>),
    Batch(Vec<&'a RawValue>),
}

/// Why bytes are not a JSON-RPC message; `id` is set when it could still be read, so the
/// sender of a request can be answered.
#[derive(Debug)]
pub struct Invalid {
    pub code: i64,
    pub reason: String,
    pub id: Option<String>,
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
    /// Not read, but named so that two `params` members are refused like two ids (serde
    /// refuses a duplicate field): which one counts would be the reader's choice. Skipping it
    /// costs what skipping an unknown member does.
    #[serde(default)]
    #[allow(dead_code)]
    params: Option<serde::de::IgnoredAny>,
}

/// Keeps an explicit `null` as `Some("null")` instead of folding it into "absent".
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// The message as text, if it is UTF-8. `simdutf8` checks a megabyte in about 60 µs where
/// `std::str::from_utf8` takes about 140 µs on the benchmark machine, and every message is
/// checked once on its way through (issue #4: large results).
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(bytes).ok()
}

/// Classifies one line or payload. Arrays become [`Payload::Batch`] of raw elements (each a
/// borrowed slice of the input, so forwarding an element forwards its exact bytes).
pub fn parse(bytes: &[u8]) -> Result<Payload<'_>, Invalid> {
    // Unparsable input is logged and never forwarded (S6); when an id can be read from the
    // bytes it is still answered, so the client does not wait forever (see relay::reject).
    let text = utf8(bytes).ok_or_else(|| Invalid {
        code: -32700,
        reason: match std::str::from_utf8(bytes) {
            Err(e) => format!("not UTF-8 ({e})"),
            Ok(_) => "not UTF-8".into(),
        },
        id: sniff_id(bytes),
    })?;
    let first = text.trim_start().as_bytes().first().copied();
    if first == Some(b'[') {
        let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| Invalid {
            code: -32700,
            reason: format!("invalid JSON ({e})"),
            id: None,
        })?;
        if items.is_empty() {
            return Err(Invalid {
                code: -32600,
                reason: "empty batch".into(),
                id: None,
            });
        }
        return Ok(Payload::Batch(items));
    }
    parse_single(text)
        .map(Payload::Single)
        .map_err(|mut invalid| {
            if invalid.code == -32700 && invalid.id.is_none() {
                invalid.id = sniff_id(bytes);
            }
            invalid
        })
}

/// Classifies one JSON object.
pub fn parse_single(text: &str) -> Result<Envelope<'_>, Invalid> {
    let raw: RawEnvelope<'_> = match serde_json::from_str(text) {
        Ok(raw) => raw,
        Err(e) if e.is_data() && e.to_string().starts_with("duplicate field") => {
            // Still answered (under its first id), so the sender does not wait forever.
            return Err(Invalid {
                code: -32600,
                reason: format!(
                    "a member appears twice ({e}); which one counts would be the reader's choice"
                ),
                id: sniff_id(text.as_bytes()),
            });
        }
        Err(e) => {
            let code = if e.is_data() { -32600 } else { -32700 };
            return Err(Invalid {
                code,
                reason: if e.is_data() {
                    "not a JSON-RPC message (expected an object with jsonrpc, method or result/error)".into()
                } else {
                    format!("invalid JSON ({e})")
                },
                id: None,
            });
        }
    };
    // The id text is copied only when there is an error to answer with it.
    let invalid = |reason: &str| Invalid {
        code: -32600,
        reason: reason.to_string(),
        id: raw
            .id
            .map(RawValue::get)
            .filter(|t| *t != "null")
            .map(str::to_string),
    };
    if raw.jsonrpc.as_deref() != Some("2.0") {
        return Err(invalid("\"jsonrpc\" must be \"2.0\""));
    }
    if let Some(id) = raw.id {
        let t = id.get().as_bytes().first().copied();
        let valid_type = matches!(t, Some(b'"' | b'-' | b'0'..=b'9' | b'n'));
        if !valid_type {
            return Err(invalid("\"id\" must be a string or a number"));
        }
    }
    let kind = match (&raw.method, raw.result.is_some() || raw.error.is_some()) {
        (Some(_), false) if raw.id.is_some_and(|i| i.get() != "null") => Kind::Request,
        (Some(_), false) if raw.id.is_none() => Kind::Notification,
        (Some(_), false) => return Err(invalid("a request id must not be null")),
        (None, true) => Kind::Response,
        (Some(_), true) => {
            return Err(invalid(
                "a message cannot have both method and result/error",
            ));
        }
        (None, false) => return Err(invalid("no method, result or error")),
    };
    Ok(Envelope {
        kind,
        id: raw.id,
        method: raw.method,
        is_error: kind == Kind::Response && raw.error.is_some(),
    })
}

/// Finds the top-level `"id"` of a message from its first bytes only (the head of a line
/// too long to parse), so an over-long request can still be answered. Returns the raw id
/// text when it is a complete string or number within the head.
pub fn sniff_id(head: &[u8]) -> Option<String> {
    let mut depth = 0usize;
    let mut i = 0usize;
    while i < head.len() {
        match head[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let end = string_end(head, i)?;
                let is_id_key = depth == 1 && &head[i..=end] == b"\"id\"";
                i = end + 1;
                if is_id_key {
                    while head.get(i).is_some_and(u8::is_ascii_whitespace) {
                        i += 1;
                    }
                    if head.get(i) != Some(&b':') {
                        continue;
                    }
                    i += 1;
                    while head.get(i).is_some_and(u8::is_ascii_whitespace) {
                        i += 1;
                    }
                    let start = i;
                    let end = match head.get(i)? {
                        b'"' => string_end(head, i)? + 1,
                        b'-' | b'0'..=b'9' => {
                            let len = head[i..]
                                .iter()
                                .take_while(|b| {
                                    matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                                })
                                .count();
                            // A number running to the end of the head may be cut short.
                            if i + len >= head.len() {
                                return None;
                            }
                            i + len
                        }
                        _ => return None,
                    };
                    // Raw text, possibly not valid JSON (`--1`): callers answer under it
                    // only when it is a usable id, and under `null` otherwise.
                    return std::str::from_utf8(&head[start..end])
                        .ok()
                        .map(str::to_string);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index of the closing quote of the string starting at `start`.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Reads `result.protocolVersion` from an InitializeResult, if present.
pub fn initialize_result_version(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Msg<'a> {
        #[serde(borrow)]
        result: Option<InitResult<'a>>,
    }
    #[derive(Deserialize)]
    struct InitResult<'a> {
        #[serde(borrow, rename = "protocolVersion")]
        protocol_version: Option<Cow<'a, str>>,
    }
    let m: Msg<'_> = serde_json::from_slice(bytes).ok()?;
    m.result?.protocol_version.map(Cow::into_owned)
}

/// A message's `params` read as `P` (borrowing from `bytes`): `Ok(None)` when the message has
/// no `params`, `Err` when the bytes are not such a message. The one reader of `params` for
/// the helpers that need a field or two of it.
pub fn params<'a, P: Deserialize<'a>>(bytes: &'a [u8]) -> Result<Option<P>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Msg<P> {
        params: Option<P>,
    }
    serde_json::from_slice::<Msg<P>>(bytes).map(|m| m.params)
}

/// The raw progress token of a request (`params._meta.progressToken`) or of a
/// `notifications/progress` (`params.progressToken`). Most messages carry none: a byte search
/// settles them without a parse (a key written with `\u` escapes is still found).
pub fn progress_token(bytes: &[u8]) -> Option<String> {
    static MENTIONS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 2]> =
        std::sync::LazyLock::new(|| {
            [
                memchr::memmem::Finder::new(b"progressToken"),
                memchr::memmem::Finder::new(b"\\u"),
            ]
        });
    if MENTIONS.iter().all(|f| f.find(bytes).is_none()) {
        return None;
    }
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow, rename = "progressToken")]
        token: Option<&'a RawValue>,
        #[serde(borrow, rename = "_meta")]
        meta: Option<Meta<'a>>,
    }
    #[derive(Deserialize)]
    struct Meta<'a> {
        #[serde(borrow, rename = "progressToken")]
        token: Option<&'a RawValue>,
    }
    let p = params::<Params<'_>>(bytes).ok()??;
    p.token
        .or(p.meta.and_then(|m| m.token))
        .map(|t| t.get().to_string())
}

/// Reads `params.requestId` of a `notifications/cancelled` (raw id text).
pub fn cancelled_request_id(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow, rename = "requestId")]
        request_id: Option<&'a RawValue>,
    }
    params::<Params<'_>>(bytes)
        .ok()??
        .request_id
        .map(|r| r.get().to_string())
}

/// True when the bytes are a JSON-RPC response (`"jsonrpc":"2.0"` with `result` or `error`):
/// the shape the bridge relays byte-for-byte, whatever the HTTP status.
pub fn is_response(bytes: &[u8]) -> bool {
    utf8(bytes)
        .and_then(|t| parse_single(t).ok())
        .is_some_and(|e| e.kind == Kind::Response)
}

/// `error.code` of a JSON-RPC error response, if it is one.
pub fn error_code(bytes: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct Msg {
        error: Option<Err>,
    }
    #[derive(Deserialize)]
    struct Err {
        code: Option<i64>,
    }
    serde_json::from_slice::<Msg>(bytes).ok()?.error?.code
}

/// Returns the message with its id set to `id` (raw JSON text). If the id already equals
/// `id`, the bytes come back borrowed and unchanged; a missing id is inserted right after
/// the opening brace. Every other byte is kept.
pub fn with_id<'a>(bytes: &'a [u8], id: &str) -> Cow<'a, [u8]> {
    let Some(text) = utf8(bytes) else {
        return Cow::Borrowed(bytes);
    };
    let Ok(env) = parse_single(text) else {
        return Cow::Borrowed(bytes);
    };
    match env.id {
        Some(current) if current.get() == id => Cow::Borrowed(bytes),
        Some(current) => {
            // The raw id borrows from `text`, so its position is a pointer difference.
            let start = current.get().as_ptr() as usize - text.as_ptr() as usize;
            let end = start + current.get().len();
            let mut out = Vec::with_capacity(bytes.len() + id.len());
            out.extend_from_slice(&bytes[..start]);
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(&bytes[end..]);
            Cow::Owned(out)
        }
        None => {
            let Some(brace) = text.find('{') else {
                return Cow::Borrowed(bytes);
            };
            let mut out = Vec::with_capacity(bytes.len() + id.len() + 6);
            out.extend_from_slice(&bytes[..=brace]);
            out.extend_from_slice(b"\"id\":");
            out.extend_from_slice(id.as_bytes());
            out.push(b',');
            out.extend_from_slice(&bytes[brace + 1..]);
            Cow::Owned(out)
        }
    }
}

/// Keeps only the tools of a `tools/list` result for which `keep` says yes (it sees each
/// tool's raw JSON). The `tools` array is spliced byte-wise: kept tools and everything
/// around the array stay as the server sent them. Unchanged (borrowed) when every tool is
/// kept or the message is not such a result.
pub fn retain_tools<'a>(
    message: &'a [u8],
    mut keep: impl FnMut(&RawValue) -> bool,
) -> Cow<'a, [u8]> {
    #[derive(Deserialize)]
    struct Msg<'a> {
        #[serde(borrow)]
        result: Option<ListResult<'a>>,
    }
    #[derive(Deserialize)]
    struct ListResult<'a> {
        #[serde(borrow)]
        tools: Option<&'a RawValue>,
    }
    let Some(text) = utf8(message) else {
        return Cow::Borrowed(message);
    };
    let Some(tools) = serde_json::from_str::<Msg<'_>>(text)
        .ok()
        .and_then(|m| m.result?.tools)
    else {
        return Cow::Borrowed(message);
    };
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(tools.get()) else {
        return Cow::Borrowed(message);
    };
    let kept: Vec<&str> = items.iter().filter(|r| keep(r)).map(|r| r.get()).collect();
    if kept.len() == items.len() {
        return Cow::Borrowed(message);
    }
    let start = tools.get().as_ptr() as usize - text.as_ptr() as usize;
    let end = start + tools.get().len();
    let mut out = Vec::with_capacity(message.len());
    out.extend_from_slice(&message[..start]);
    out.push(b'[');
    out.extend_from_slice(kept.join(",").as_bytes());
    out.push(b']');
    out.extend_from_slice(&message[end..]);
    Cow::Owned(out)
}

/// Removes insignificant whitespace, but only when the payload contains a line break (a
/// one-line payload is passed through untouched). Strings are copied verbatim: a JSON string
/// cannot contain a raw line break, so the result is always one line.
///
/// Hand-written instead of a parse/serialise round trip: re-serialising would reorder keys
/// or reformat numbers (`1.0`, big integers), which the relay promises never to do.
pub fn compact(bytes: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr2(b'\n', b'\r', bytes).is_none() {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b'"' => {
                    in_string = true;
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
    }
    Cow::Owned(out)
}

/// Builds a JSON-RPC error response for the request `id` (raw JSON text), with members in
/// the conventional order: `code`, `message`, then `data` members in the order given.
pub fn error_response(
    id: &str,
    code: i64,
    message: &str,
    data: Option<&[(&str, serde_json::Value)]>,
) -> Vec<u8> {
    let quoted = |s: &str| serde_json::Value::from(s).to_string();
    let mut out = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":{}"#,
        quoted(message)
    );
    if let Some(members) = data {
        out.push_str(r#","data":{"#);
        for (i, (k, v)) in members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&quoted(k));
            out.push(':');
            out.push_str(&v.to_string());
        }
        out.push('}');
    }
    out.push_str("}}");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(s: &str) -> Envelope<'_> {
        match parse(s.as_bytes()).unwrap() {
            Payload::Single(e) => e,
            Payload::Batch(_) => panic!("batch"),
        }
    }

    #[test]
    fn classifies_the_four_shapes_and_keeps_raw_ids() {
        let r = single(r#"{"jsonrpc":"2.0","id":"1","method":"x"}"#);
        assert_eq!((r.kind, r.id_key()), (Kind::Request, Some(r#""1""#)));
        let r = single(
            r#"{"jsonrpc":"2.0","id":9223372036854775808,"method":"x","params":{"a":[1,2]}}"#,
        );
        assert_eq!(r.id_key(), Some("9223372036854775808"));
        let n = single(r#"{"jsonrpc":"2.0","method":"notifications/x"}"#);
        assert_eq!(n.kind, Kind::Notification);
        let resp = single(r#"{"jsonrpc":"2.0","id":1.0,"result":{}}"#);
        assert_eq!((resp.kind, resp.id_key()), (Kind::Response, Some("1.0")));
        let e = single(r#"{"jsonrpc":"2.0","error":{"code":-1,"message":"m"},"id":null}"#);
        assert_eq!((e.kind, e.id_key()), (Kind::Response, None));
        match parse(b" [ {\"a\":1} , 2 ]").unwrap() {
            Payload::Batch(items) => {
                assert_eq!(
                    items.iter().map(|r| r.get()).collect::<Vec<_>>(),
                    ["{\"a\":1}", "2"]
                )
            }
            Payload::Single(_) => panic!("single"),
        }
    }

    #[test]
    fn rejects_what_is_not_jsonrpc_with_a_readable_id_when_possible() {
        let e = parse(br#"{"jsonrpc":"1.0","id":5,"method":"x"}"#).unwrap_err();
        assert_eq!((e.code, e.id.as_deref()), (-32600, Some("5")));
        assert_eq!(parse(b"{nope").unwrap_err().code, -32700);
        assert_eq!(parse(b"[]").unwrap_err().code, -32600);
        assert_eq!(parse(b"\xff").unwrap_err().code, -32700);
        assert_eq!(parse(b"42").unwrap_err().code, -32600);
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#)
                .unwrap_err()
                .code,
            -32600
        );
    }

    #[test]
    fn a_member_given_twice_is_refused() {
        for twice in [
            &br#"{"jsonrpc":"2.0","id":1,"method":"x","params":{},"params":{"a":1}}"#[..],
            br#"{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"x","method":"y"}"#,
        ] {
            let e = parse(twice).unwrap_err();
            assert_eq!(e.code, -32600, "{}", e.reason);
            assert!(e.reason.contains("twice"), "{}", e.reason);
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        match parse(deep.as_bytes()) {
            Err(_) => {}
            Ok(Payload::Batch(items)) => {
                assert!(items.iter().all(|i| parse_single(i.get()).is_err()))
            }
            Ok(Payload::Single(_)) => panic!("a nested array is not a message"),
        }
        let deep = format!(
            r#"{{"jsonrpc":"2.0","method":"x","params":{}1{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        // Deep params are skipped without recursion: the envelope is still classified and
        // the bytes go upstream untouched; the server decides what to make of them.
        match parse(deep.as_bytes()) {
            Ok(Payload::Single(e)) => assert_eq!(e.kind, Kind::Notification),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn with_id_replaces_only_the_id() {
        let body = br#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"no"},"id":1}"#;
        assert_eq!(
            &*with_id(body, "42"),
            br#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"no"},"id":42}"#
        );
        assert!(matches!(with_id(body, "1"), Cow::Borrowed(_)));
        let null = br#"{"jsonrpc":"2.0","id": null ,"error":{}}"#;
        assert_eq!(
            &*with_id(null, r#""a""#),
            br#"{"jsonrpc":"2.0","id": "a" ,"error":{}}"#
        );
        let absent = br#"{"jsonrpc":"2.0","error":{"code":1}}"#;
        assert_eq!(
            &*with_id(absent, "7"),
            br#"{"id":7,"jsonrpc":"2.0","error":{"code":1}}"#
        );
    }

    #[test]
    fn compact_removes_only_insignificant_whitespace() {
        let pretty = b"{\n  \"a\" : \"x \\\" y\\n\",\r\n  \"b\": [1.0, 9223372036854775808]\n}";
        assert_eq!(
            &*compact(pretty),
            br#"{"a":"x \" y\n","b":[1.0,9223372036854775808]}"#
        );
        let one_line = br#"{ "a" : 1 }"#;
        assert!(matches!(compact(one_line), Cow::Borrowed(_)));
    }

    #[test]
    fn reads_initialize_version_and_cancelled_id() {
        let r = br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{}}}"#;
        assert_eq!(initialize_result_version(r).as_deref(), Some("2025-06-18"));
        let c =
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"x"}}"#;
        assert_eq!(cancelled_request_id(c).as_deref(), Some(r#""x""#));
    }

    #[test]
    fn sniffs_a_top_level_id_from_a_head() {
        assert_eq!(
            sniff_id(br#"{"jsonrpc":"2.0","params":{"id":9},"id":"x\"y","method":"a"#).as_deref(),
            Some(r#""x\"y""#)
        );
        assert_eq!(sniff_id(br#"{"id": 12 ,"params":{"#).as_deref(), Some("12"));
        assert_eq!(sniff_id(br#"{"params":{"id":9,"data":"xxxx"#), None);
        assert_eq!(sniff_id(br#"{"id":12"#), None);
    }

    #[test]
    fn error_response_shape() {
        let e = error_response("3", -32603, "m \"q\"", None);
        assert_eq!(
            e,
            br#"{"jsonrpc":"2.0","id":3,"error":{"code":-32603,"message":"m \"q\""}}"#
        );
    }
}
