//! Era translation for 2025-era clients whose server speaks only 2026-07-28: the pieces of
//! JSON the bridge reads and writes to make the client believe it has a 2025 session.
//!
//! Detection: the server refuses the client's own `initialize` the 2026 way, e.g. with
//! UnsupportedProtocolVersion (-32022) listing only 2026-era versions (§1.3, M13). Then the
//! bridge asks `server/discover`, answers `initialize` itself, stamps `_meta` on every later
//! request, strips the 2026 envelope from results, and turns `input_required` results (MRTR)
//! into ordinary server→client requests.
//!
//! Every edit here is a byte splice into the client's own message (params members inserted
//! at the front of an object): the rest of the message — ids, numbers, unknown fields — is
//! untouched. Only the synthesised InitializeResult is built from scratch.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::protocol::modern::META_PROTOCOL_VERSION;

/// The `_meta` key carrying the client's capabilities on each modern request.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// The `_meta` key naming the client on each modern request (a SHOULD).
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// The `_meta` key carrying the client's log level on each modern request (the 2026-07-28
/// revision has no `logging/setLevel`; the TypeScript SDK v2's `LOG_LEVEL_META_KEY`).
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// The `_meta` key of `server/discover` results naming the server.
const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// The first protocol version without `initialize`.
const FIRST_MODERN: &str = "2026-07-28";

/// What translation needs to remember for the rest of the session.
#[derive(Debug, Clone)]
pub struct Translation {
    /// The modern version spoken to the server.
    pub version: String,
    /// The client's `initialize` capabilities, raw JSON, stamped on every request.
    pub capabilities: String,
    /// The client's `clientInfo`, raw JSON, stamped on every request.
    pub client_info: String,
}

/// If `message` is the server refusing `initialize` in a way that says it may speak only
/// the modern era, the modern version to try (confirmed by `server/discover` before the
/// bridge translates). The signal is not one error code (stdio.mdx: the fallback "MUST NOT
/// be keyed to one specific error code"): UnsupportedProtocolVersion (-32022, or any error
/// whose message says "unsupported protocol version") unless it lists a 2025-era version
/// the client can negotiate instead, the other modern errors (HeaderMismatch, missing
/// capability), or "method not found" for `initialize` itself, which no 2025-era server
/// answers.
pub fn modern_refusal(message: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(message).ok()?;
    let error = v.get("error")?;
    let code = error.get("code")?.as_i64()?;
    let unsupported_version = code == -32022
        || error
            .get("message")
            .and_then(Value::as_str)
            .is_some_and(|m| {
                m.to_ascii_lowercase()
                    .contains("unsupported protocol version")
            });
    if unsupported_version {
        let supported: Vec<&str> = error
            .get("data")
            .and_then(|d| d.get("supported"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if supported.iter().any(|s| *s < FIRST_MODERN) {
            return None; // it still speaks a 2025 version: the client can negotiate that
        }
        return Some(
            supported
                .iter()
                .max()
                .map_or(FIRST_MODERN, |s| s)
                .to_string(),
        );
    }
    match code {
        -32021 | -32020 | -32601 => Some(FIRST_MODERN.to_string()),
        _ => None,
    }
}

/// The 2025-era versions the bridge can present to a client while translating, oldest first.
pub const TRANSLATABLE: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// The version a translated `initialize` answers with: the client's own when the bridge can
/// speak it, else the newest one it can, as a server answers a version it does not support
/// (never an echo of a version nobody supports).
pub fn negotiated_version(requested: &str) -> &str {
    TRANSLATABLE
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(TRANSLATABLE[TRANSLATABLE.len() - 1])
}

/// Whether a translated request's failure suggests the server no longer speaks only the
/// 2026 era (it now wants a session, or refuses the Streamable HTTP POST altogether): an
/// HTTP 400, 404 or 405 whose body is not a JSON-RPC error, or whose error speaks of a
/// session or of initialization. A 2026-only server's own refusals (HeaderMismatch, an
/// unsupported version, invalid params, an unknown method) say nothing of the kind.
pub fn suggests_a_handshake_server(status: u16, body: &[u8]) -> bool {
    if !matches!(status, 400 | 404 | 405) {
        return false;
    }
    let Ok(v) = serde_json::from_slice::<Value>(body.trim_ascii()) else {
        return true;
    };
    let Some(error) = v.get("error") else {
        return true;
    };
    let code = error.get("code").and_then(Value::as_i64);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(code, Some(-32000 | -32600))
        && (message.contains("session") || message.contains("initializ"))
}

/// The newest 2026-era version a `server/discover` result lists, if it lists any.
pub fn discovered_version(discover: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(discover).ok()?;
    v.get("result")?
        .get("supportedVersions")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .filter(|s| *s >= FIRST_MODERN)
        .max()
        .map(str::to_string)
}

/// The client's `initialize`: its requested version, raw capabilities and raw clientInfo.
pub fn client_initialize(message: &[u8]) -> (String, String, String) {
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(rename = "protocolVersion")]
        protocol_version: Option<String>,
        #[serde(borrow)]
        capabilities: Option<&'a RawValue>,
        #[serde(borrow, rename = "clientInfo")]
        client_info: Option<&'a RawValue>,
    }
    let parsed = crate::jsonrpc::params::<Params<'_>>(message).ok().flatten();
    let version = parsed
        .as_ref()
        .and_then(|p| p.protocol_version.clone())
        .unwrap_or_else(|| "2025-06-18".into());
    let raw = |r: Option<&RawValue>, default: &str| {
        r.map_or(default.to_string(), |c| c.get().to_string())
    };
    let caps = raw(parsed.as_ref().and_then(|p| p.capabilities), "{}");
    let info = raw(
        parsed.as_ref().and_then(|p| p.client_info),
        r#"{"name":"wazion-mcp","version":""}"#,
    );
    (version, caps, info)
}

/// The `server/discover` request the bridge sends on the client's behalf.
pub fn discover_request(t: &Translation) -> Vec<u8> {
    let version = Value::from(t.version.as_str());
    format!(
        r#"{{"jsonrpc":"2.0","id":"wazion-mcp-discover","method":"server/discover","params":{{"_meta":{{"{META_PROTOCOL_VERSION}":{version},"{META_CLIENT_CAPABILITIES}":{},"{META_CLIENT_INFO}":{}}}}}}}"#,
        t.capabilities,
        t.client_info
    )
    .into_bytes()
}

/// The InitializeResult the client receives, built from the `server/discover` response.
pub fn synthesize_initialize(client_id: &str, requested: &str, discover: &[u8]) -> Option<Vec<u8>> {
    let v: Value = serde_json::from_slice(discover).ok()?;
    let result = v.get("result")?;
    let server_info = result
        .get("_meta")
        .and_then(|m| m.get(META_SERVER_INFO))
        .cloned()
        .or_else(|| result.get("serverInfo").cloned())
        .unwrap_or_else(|| json!({"name": "mcp-server", "version": ""}));
    let mut init = json!({
        "protocolVersion": negotiated_version(requested),
        "capabilities": result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "serverInfo": server_info,
    });
    if let Some(instructions) = result.get("instructions") {
        init["instructions"] = instructions.clone();
    }
    Some(format!(r#"{{"jsonrpc":"2.0","id":{client_id},"result":{init}}}"#).into_bytes())
}

/// Stamps the modern `_meta` (protocol version, client capabilities and info) into a request.
pub fn stamp_meta(message: &[u8], t: &Translation) -> Vec<u8> {
    stamp_meta_leveled(message, t, None)
}

/// [`stamp_meta`], with the log level the client set with `logging/setLevel`, if any.
pub fn stamp_meta_leveled(message: &[u8], t: &Translation, log_level: Option<&str>) -> Vec<u8> {
    let mut members = format!(
        r#""{META_PROTOCOL_VERSION}":{},"{META_CLIENT_CAPABILITIES}":{},"{META_CLIENT_INFO}":{}"#,
        Value::from(t.version.as_str()),
        t.capabilities,
        t.client_info
    );
    if let Some(level) = log_level {
        members.push_str(&format!(r#","{META_LOG_LEVEL}":{}"#, Value::from(level)));
    }
    insert_into_meta(message, &members).into_owned()
}

/// The level of a `logging/setLevel` request (`params.level`), if it is a string.
pub fn set_level(message: &[u8]) -> Option<String> {
    param_str(message, "level")
}

/// A result for a 2025-era client: the 2026 envelope members of `result` (`resultType`,
/// `ttlMs`, `cacheScope`) and the `io.modelcontextprotocol/serverInfo` stamp in its `_meta`
/// are cut out (an emptied `_meta` with them); every other member keeps its bytes and order.
/// Anything that is not a result comes back as it was.
pub fn strip_envelope(message: &[u8]) -> Cow<'_, [u8]> {
    #[derive(Deserialize)]
    struct Msg<'a> {
        #[serde(borrow)]
        result: Option<&'a RawValue>,
    }
    let Some(text) = crate::jsonrpc::utf8(message) else {
        return Cow::Borrowed(message);
    };
    let Ok(Msg {
        result: Some(result),
    }) = serde_json::from_str::<Msg<'_>>(text)
    else {
        return Cow::Borrowed(message);
    };
    let Ok(Members(members)) = serde_json::from_str::<Members<'_>>(result.get()) else {
        return Cow::Borrowed(message);
    };
    let mut changed = false;
    let mut out = String::with_capacity(result.get().len());
    out.push('{');
    for (name, value) in &members {
        let kept: Cow<'_, str> = match &**name {
            "resultType" | "ttlMs" | "cacheScope" => {
                changed = true;
                continue;
            }
            "_meta" => match serde_json::from_str::<Members<'_>>(value.get()) {
                Ok(Members(meta)) if meta.iter().any(|(k, _)| k == META_SERVER_INFO) => {
                    changed = true;
                    let rest: Vec<_> = meta.iter().filter(|(k, _)| k != META_SERVER_INFO).collect();
                    if rest.is_empty() {
                        continue;
                    }
                    Cow::Owned(object_of(rest.into_iter().map(|(k, v)| (k, *v))))
                }
                _ => Cow::Borrowed(value.get()),
            },
            _ => Cow::Borrowed(value.get()),
        };
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&Value::from(&**name).to_string());
        out.push(':');
        out.push_str(&kept);
    }
    out.push('}');
    if !changed {
        return Cow::Borrowed(message);
    }
    let at = offset_in(text, result);
    let mut spliced = Vec::with_capacity(message.len());
    spliced.extend_from_slice(&message[..at]);
    spliced.extend_from_slice(out.as_bytes());
    spliced.extend_from_slice(&message[at + result.get().len()..]);
    Cow::Owned(spliced)
}

/// An object's members in their order, each value as its raw text.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                let mut members = Vec::new();
                while let Some(name) = m.next_key::<Cow<'de, str>>()? {
                    members.push((name, m.next_value::<&'de RawValue>()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

fn object_of<'a>(members: impl Iterator<Item = (&'a Cow<'a, str>, &'a RawValue)>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in members.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::from(&**k).to_string());
        out.push(':');
        out.push_str(v.get());
    }
    out.push('}');
    out
}

/// An MRTR round the server asked for: (key, raw request object) pairs, and the raw
/// `requestState` to echo.
pub type InputRequired = (Vec<(String, String)>, Option<String>);

/// If `message` is an `input_required` result (MRTR, J8): its input requests and state.
pub fn input_required(message: &[u8]) -> Option<InputRequired> {
    #[derive(Deserialize)]
    struct Msg<'a> {
        #[serde(borrow)]
        result: Option<MrtrResult<'a>>,
    }
    #[derive(Deserialize)]
    struct MrtrResult<'a> {
        #[serde(rename = "resultType")]
        result_type: Option<Cow<'a, str>>,
        #[serde(borrow, rename = "inputRequests")]
        input_requests: Option<std::collections::BTreeMap<String, &'a RawValue>>,
        #[serde(borrow, rename = "requestState")]
        request_state: Option<&'a RawValue>,
    }
    let m: Msg<'_> = serde_json::from_slice(message).ok()?;
    let r = m.result?;
    if r.result_type.as_deref() != Some("input_required") {
        return None;
    }
    let requests = r
        .input_requests
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.get().to_string()))
        .collect();
    Some((requests, r.request_state.map(|s| s.get().to_string())))
}

/// A server→client request for stdout, from an MRTR input request object.
pub fn as_client_request(request: &str, id: &str) -> Vec<u8> {
    insert_members(
        request.as_bytes(),
        0,
        &format!(r#""jsonrpc":"2.0","id":{id}"#),
    )
}

/// The retry of the original request: `inputResponses` and `requestState` added to params.
pub fn with_input_responses(
    message: &[u8],
    responses: &[(String, String)],
    state: Option<&str>,
) -> Vec<u8> {
    let mut members = String::from(r#""inputResponses":{"#);
    for (i, (k, v)) in responses.iter().enumerate() {
        if i > 0 {
            members.push(',');
        }
        members.push_str(&Value::from(k.as_str()).to_string());
        members.push(':');
        members.push_str(v);
    }
    members.push('}');
    if let Some(s) = state {
        members.push_str(r#","requestState":"#);
        members.push_str(s);
    }
    insert_into_params(message, &members).into_owned()
}

/// `params.<key>` as a string (e.g. the `uri` of `resources/subscribe`).
pub fn param_str(message: &[u8], key: &str) -> Option<String> {
    let v: Value = serde_json::from_slice(message).ok()?;
    v.get("params")?.get(key)?.as_str().map(str::to_string)
}

/// The `subscriptions/listen` request that carries the client's resource subscriptions.
pub fn listen_request(id: &str, uris: &[String], t: &Translation) -> Vec<u8> {
    let filter = json!({ "resourceSubscriptions": uris });
    let request = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"subscriptions/listen","params":{{"notifications":{filter}}}}}"#
    );
    stamp_meta(request.as_bytes(), t)
}

/// Position of a raw value inside `text` (it borrows from it).
fn offset_in(text: &str, raw: &RawValue) -> usize {
    raw.get().as_ptr() as usize - text.as_ptr() as usize
}

/// Inserts `members` at the front of the object starting at byte `at` (its `{`), adding a
/// comma when the object was not empty.
fn insert_members(bytes: &[u8], at: usize, members: &str) -> Vec<u8> {
    let Some(open) = bytes[at..].iter().position(|&b| b == b'{').map(|p| at + p) else {
        return bytes.to_vec();
    };
    let rest = &bytes[open + 1..];
    let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let mut out = Vec::with_capacity(bytes.len() + members.len() + 1);
    out.extend_from_slice(&bytes[..=open]);
    out.extend_from_slice(members.as_bytes());
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    out
}

/// Inserts members at the front of `params`, creating `params` when absent.
fn insert_into_params<'a>(message: &'a [u8], members: &str) -> Cow<'a, [u8]> {
    #[derive(Deserialize)]
    struct Msg<'a> {
        #[serde(borrow)]
        params: Option<&'a RawValue>,
    }
    let Some(text) = crate::jsonrpc::utf8(message) else {
        return Cow::Borrowed(message);
    };
    match serde_json::from_str::<Msg<'_>>(text) {
        Ok(Msg { params: Some(p) }) if p.get().starts_with('{') => {
            Cow::Owned(insert_members(message, offset_in(text, p), members))
        }
        Ok(_) => Cow::Owned(insert_members(
            message,
            0,
            &format!(r#""params":{{{members}}}"#),
        )),
        Err(_) => Cow::Borrowed(message),
    }
}

/// Inserts members at the front of `params._meta`, creating either when absent.
fn insert_into_meta<'a>(message: &'a [u8], members: &str) -> Cow<'a, [u8]> {
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow, rename = "_meta")]
        meta: Option<&'a RawValue>,
    }
    let Some(text) = crate::jsonrpc::utf8(message) else {
        return Cow::Borrowed(message);
    };
    match crate::jsonrpc::params::<Params<'_>>(text.as_bytes()) {
        Ok(Some(Params { meta: Some(m) })) if m.get().starts_with('{') => {
            Cow::Owned(insert_members(message, offset_in(text, m), members))
        }
        Ok(_) => insert_into_params(message, &format!(r#""_meta":{{{members}}}"#)),
        Err(_) => Cow::Borrowed(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Translation {
        Translation {
            version: "2026-07-28".into(),
            capabilities: r#"{"elicitation":{}}"#.into(),
            client_info: r#"{"name":"c","version":"1"}"#.into(),
        }
    }

    #[test]
    fn detects_a_modern_only_refusal() {
        let only_modern = br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32022,"message":"Unsupported protocol version","data":{"requested":"2025-06-18","supported":["2026-07-28"]}}}"#;
        assert_eq!(modern_refusal(only_modern).as_deref(), Some("2026-07-28"));
        let dual = br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32022,"message":"x","data":{"supported":["2025-06-18","2026-07-28"]}}}"#;
        assert_eq!(modern_refusal(dual), None);
        let not_found = br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32601,"message":"Method not found: initialize"}}"#;
        assert_eq!(modern_refusal(not_found).as_deref(), Some("2026-07-28"));
        let header = br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32020,"message":"Missing MCP-Protocol-Version header"}}"#;
        assert_eq!(modern_refusal(header).as_deref(), Some("2026-07-28"));
        assert_eq!(
            modern_refusal(
                br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32000,"message":"Unauthorized"}}"#
            ),
            None
        );
    }

    #[test]
    fn stamps_meta_into_every_shape_of_params() {
        let cases = [
            (
                r#"{"jsonrpc":"2.0","id":9223372036854775808,"method":"tools/list"}"#,
                r#"{"params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}},"io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"}}},"jsonrpc":"2.0","id":9223372036854775808,"method":"tools/list"}"#,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}},"io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"}}}}"#,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":1.0}}}"#,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}},"io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"},"progressToken":1.0}}}"#,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                String::from_utf8(stamp_meta(input.as_bytes(), &t())).unwrap(),
                want
            );
        }
    }

    #[test]
    fn mrtr_round_trip_pieces() {
        let ir = br#"{"jsonrpc":"2.0","id":5,"result":{"resultType":"input_required","inputRequests":{"confirm":{"method":"elicitation/create","params":{"message":"ok?"}}},"requestState":"s1"}}"#;
        let (reqs, state) = input_required(ir).unwrap();
        assert_eq!(
            reqs,
            [(
                "confirm".to_string(),
                r#"{"method":"elicitation/create","params":{"message":"ok?"}}"#.to_string()
            )]
        );
        assert_eq!(state.as_deref(), Some(r#""s1""#));
        assert_eq!(
            String::from_utf8(as_client_request(&reqs[0].1, r#""b1""#)).unwrap(),
            r#"{"jsonrpc":"2.0","id":"b1","method":"elicitation/create","params":{"message":"ok?"}}"#
        );
        let retry = with_input_responses(
            br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"x"}}"#,
            &[("confirm".into(), r#"{"action":"accept"}"#.into())],
            state.as_deref(),
        );
        assert_eq!(
            String::from_utf8(retry).unwrap(),
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"inputResponses":{"confirm":{"action":"accept"}},"requestState":"s1","name":"x"}}"#
        );
        assert!(
            input_required(br#"{"jsonrpc":"2.0","id":5,"result":{"resultType":"complete"}}"#)
                .is_none()
        );
    }

    #[test]
    fn an_unsupported_version_named_in_words_is_a_modern_refusal_unless_2025_is_offered() {
        let words = br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32602,"message":"Unsupported protocol version: 2025-06-18","data":{"supported":["2026-07-28"]}}}"#;
        assert_eq!(modern_refusal(words).as_deref(), Some("2026-07-28"));
        let older = br#"{"jsonrpc":"2.0","id":0,"error":{"code":-32602,"message":"Unsupported protocol version","data":{"supported":["2024-11-05"]}}}"#;
        assert_eq!(modern_refusal(older), None);
    }

    #[test]
    fn the_2026_envelope_is_cut_from_results_and_nothing_else() {
        let r = br#"{"jsonrpc":"2.0","id":7,"result":{"resultType":"complete","tools":[{"n":1.0}],"ttlMs":5,"cacheScope":"shared","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"s"},"k":9007199254740993}}}"#;
        assert_eq!(
            String::from_utf8(strip_envelope(r).into_owned()).unwrap(),
            r#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"n":1.0}],"_meta":{"k":9007199254740993}}}"#
        );
        let emptied = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[],"_meta":{"io.modelcontextprotocol/serverInfo":{}}}}"#;
        assert_eq!(
            &*strip_envelope(emptied),
            br#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#
        );
        for untouched in [
            &br#"{"jsonrpc":"2.0","id":7,"result":{"content":[] , "_meta":{"x":1}}}"#[..],
            br#"{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"resultType"}}"#,
        ] {
            assert!(matches!(strip_envelope(untouched), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn an_unknown_version_is_answered_with_the_newest_translatable_one() {
        assert_eq!(negotiated_version("2025-03-26"), "2025-03-26");
        assert_eq!(negotiated_version("1999-01-01"), "2025-11-25");
        assert_eq!(negotiated_version("2026-07-28"), "2025-11-25");
    }

    #[test]
    fn which_failures_suggest_the_server_now_wants_a_handshake() {
        assert!(suggests_a_handshake_server(405, b""));
        assert!(suggests_a_handshake_server(
            400,
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: No valid session ID provided"}}"#
        ));
        assert!(suggests_a_handshake_server(
            400,
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"Server not initialized"}}"#
        ));
        assert!(!suggests_a_handshake_server(
            400,
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32020,"message":"Header mismatch"}}"#
        ));
        assert!(!suggests_a_handshake_server(401, b""));
        assert!(!suggests_a_handshake_server(500, b""));
    }

    #[test]
    fn synthesises_initialize_from_discover() {
        let d = br#"{"jsonrpc":"2.0","id":"wazion-mcp-discover","result":{"resultType":"complete","supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},"instructions":"hi","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"s","version":"1"}}}}"#;
        let init: Value =
            serde_json::from_slice(&synthesize_initialize("0", "2025-06-18", d).unwrap()).unwrap();
        assert_eq!(init["id"], 0);
        assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
        assert_eq!(init["result"]["capabilities"], json!({"tools":{}}));
        assert_eq!(init["result"]["serverInfo"]["name"], "s");
        assert_eq!(init["result"]["instructions"], "hi");
    }
}
