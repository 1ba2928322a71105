//! Era translation for 2025-era clients whose server speaks only 2026-07-28: the pieces of
//! JSON the bridge reads and writes to make the client believe it has a 2025 session.
//!
//! Detection: the server refuses the client's own `initialize` with
//! UnsupportedProtocolVersion (-32022) listing only 2026-era versions (§1.3, M13). Then the
//! bridge asks `server/discover`, answers `initialize` itself, stamps `_meta` on every later
//! request, and turns `input_required` results (MRTR) into ordinary server→client requests.
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
/// be keyed to one specific error code"): UnsupportedProtocolVersion listing only
/// 2026-era versions, the other modern errors (HeaderMismatch, missing capability), or
/// "method not found" for `initialize` itself, which no 2025-era server answers.
pub fn modern_refusal(message: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(message).ok()?;
    let error = v.get("error")?;
    match error.get("code")?.as_i64()? {
        -32022 => {
            let supported: Vec<&str> = error
                .get("data")
                .and_then(|d| d.get("supported"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if supported.iter().any(|s| *s < FIRST_MODERN) {
                return None; // it still speaks a 2025 version: the client can negotiate that
            }
            Some(
                supported
                    .iter()
                    .max()
                    .map_or(FIRST_MODERN, |s| s)
                    .to_string(),
            )
        }
        -32021 | -32020 | -32601 => Some(FIRST_MODERN.to_string()),
        _ => None,
    }
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

/// Whether a `server/discover` result says the server speaks **only** the 2026 era: it lists
/// a 2026 version and no earlier one. A server that lists both keeps its 2025 clients in their
/// own era (no translation needed, nothing lost).
pub fn discovered_modern_only(discover: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(discover) else {
        return false;
    };
    let Some(versions) = v
        .get("result")
        .and_then(|r| r.get("supportedVersions"))
        .and_then(Value::as_array)
    else {
        return false;
    };
    let versions: Vec<&str> = versions.iter().filter_map(Value::as_str).collect();
    versions.iter().any(|s| *s >= FIRST_MODERN) && versions.iter().all(|s| *s >= FIRST_MODERN)
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
        "protocolVersion": requested,
        "capabilities": result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "serverInfo": server_info,
    });
    if let Some(instructions) = result.get("instructions") {
        init["instructions"] = instructions.clone();
    }
    Some(format!(r#"{{"jsonrpc":"2.0","id":{client_id},"result":{init}}}"#).into_bytes())
}

/// Stamps the modern `_meta` (protocol version, client capabilities) into a request.
pub fn stamp_meta(message: &[u8], t: &Translation) -> Vec<u8> {
    let members = format!(
        r#""{META_PROTOCOL_VERSION}":{},"{META_CLIENT_CAPABILITIES}":{},"{META_CLIENT_INFO}":{}"#,
        Value::from(t.version.as_str()),
        t.capabilities,
        t.client_info
    );
    insert_into_meta(message, &members).into_owned()
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
