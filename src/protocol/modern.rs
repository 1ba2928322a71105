//! The 2026-07-28 (stateless) era on the HTTP side: per-message era detection and the
//! request headers that era requires (M2–M5).
//!
//! - A message is modern when `params._meta["io.modelcontextprotocol/protocolVersion"]` is
//!   present; its POST then carries `MCP-Protocol-Version` equal to that value (M3),
//!   `Mcp-Method`, and `Mcp-Name` where the method has one (M4).
//! - Tools may annotate input properties with `x-mcp-header`; the bridge learns them from
//!   relayed `tools/list` results and mirrors those arguments into `Mcp-Param-*` headers on
//!   `tools/call` (M5). A tool whose annotations break the rules is removed from the result
//!   with a warning: the one payload edit the spec asks of a client.
//!
//! Values that cannot travel as a bare header value are sent as `=?base64?…?=`.
//! Hand-written (not rmcp's): rmcp keeps these helpers private to its typed client.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use base64::Engine;
use memchr::memmem::Finder;
use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// The `_meta` key that marks a modern request and carries its protocol version.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

const BASE64_PREFIX: &str = "=?base64?";
const BASE64_SUFFIX: &str = "?=";

/// The protocol version a modern message declares in `params._meta`, if any (§1.3).
pub fn declared_version(message: &[u8]) -> Option<String> {
    // Most messages declare nothing: a byte search settles them without a second parse. A key
    // written with `\u` escapes is still found by the parse.
    // The searchers are built once: building one per message cost more than the search.
    static DECLARES: LazyLock<[Finder<'static>; 2]> =
        LazyLock::new(|| [Finder::new(b"protocolVersion"), Finder::new(b"\\u")]);
    if DECLARES.iter().all(|f| f.find(message).is_none()) {
        return None;
    }
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow, rename = "_meta")]
        meta: Option<HashMap<Cow<'a, str>, &'a RawValue>>,
    }
    let meta = crate::jsonrpc::params::<Params<'_>>(message).ok()??.meta?;
    let raw = meta.get(META_PROTOCOL_VERSION)?;
    serde_json::from_str::<String>(raw.get()).ok()
}

/// RFC 9110 token characters (header names).
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// The header form of a value: as-is when safe, else `=?base64?<b64 of UTF-8>?=` (M4).
pub fn header_text(value: &str) -> String {
    let b = value.as_bytes();
    let edge_space =
        matches!(b.first(), Some(b' ' | b'\t')) || matches!(b.last(), Some(b' ' | b'\t'));
    let unsafe_char = value
        .chars()
        .any(|c| (c as u32) < 0x20 || (c as u32) > 0x7E);
    let looks_encoded = value.starts_with(BASE64_PREFIX) && value.ends_with(BASE64_SUFFIX);
    if !value.is_empty() && (edge_space || unsafe_char || looks_encoded) {
        let encoded = base64::prelude::BASE64_STANDARD.encode(value);
        format!("{BASE64_PREFIX}{encoded}{BASE64_SUFFIX}")
    } else {
        value.to_string()
    }
}

/// Which `params` member names a request for `Mcp-Name` (M4).
fn name_member(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => Some("uri"),
        "tasks/get" | "tasks/update" | "tasks/cancel" => Some("taskId"),
        _ => None,
    }
}

/// A tool's `x-mcp-header` annotations: (argument path, header name) pairs.
pub type Annotations = Vec<(Vec<String>, String)>;

/// Tool header annotations learned from `tools/list` results, by tool name.
#[derive(Default)]
pub struct ToolHeaders {
    by_tool: Mutex<HashMap<String, Annotations>>,
}

impl ToolHeaders {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Annotations>> {
        self.by_tool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The headers for a modern request: version, method, name, and `Mcp-Param-*`.
    pub fn request_headers(&self, message: &[u8], version: &str) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        let mut push = |name: &str, value: &str| {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                out.push((n, v));
            }
        };
        push("mcp-protocol-version", version);
        let Ok(v) = serde_json::from_slice::<Value>(message) else {
            return out;
        };
        let Some(method) = v.get("method").and_then(Value::as_str) else {
            return out;
        };
        push("mcp-method", &header_text(method));
        let params = v.get("params");
        if let Some(member) = name_member(method)
            && let Some(name) = params.and_then(|p| p.get(member)).and_then(Value::as_str)
        {
            push("mcp-name", &header_text(name));
        }
        if method == "tools/call"
            && let Some(tool) = params.and_then(|p| p.get("name")).and_then(Value::as_str)
            && let Some(arguments) = params.and_then(|p| p.get("arguments"))
        {
            let annotations = self.map().get(tool).cloned().unwrap_or_default();
            for (path, header) in annotations {
                let value = path.iter().try_fold(arguments, |v, k| v.get(k));
                let text = match value {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Bool(b)) => b.to_string(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => continue, // null, absent or not a primitive: no header (M5)
                };
                push(&format!("mcp-param-{header}"), &header_text(&text));
            }
        }
        out
    }

    /// Learns the annotations of a `tools/list` result and removes the tools whose
    /// annotations break the rules (with a warning). Returns the message to relay.
    pub fn learn<'a>(&self, message: &'a [u8]) -> Cow<'a, [u8]> {
        crate::jsonrpc::retain_tools(message, |raw| {
            let Ok(tool) = serde_json::from_str::<Value>(raw.get()) else {
                return true;
            };
            let name = tool
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let schema = tool.get("inputSchema").cloned().unwrap_or(Value::Null);
            match annotations(&schema) {
                Ok(found) if found.is_empty() => {
                    self.map().remove(&name);
                    true
                }
                Ok(found) => {
                    self.map().insert(name, found);
                    true
                }
                Err(reason) => {
                    tracing::warn!(
                        "removed tool \"{name}\" from tools/list: invalid x-mcp-header ({reason})"
                    );
                    self.map().remove(&name);
                    false
                }
            }
        })
    }
}

/// The valid `x-mcp-header` annotations of an input schema, or why they are invalid:
/// non-empty RFC 9110 tokens, unique case-insensitively, on `string`/`integer`/`boolean`
/// properties reached from the root through `properties` alone (M5).
pub fn annotations(schema: &Value) -> Result<Annotations, String> {
    let Some(root) = schema.as_object() else {
        return Ok(Vec::new());
    };
    if root.contains_key("x-mcp-header") {
        return Err("x-mcp-header on the schema root".into());
    }
    let mut found = Vec::new();
    collect(root.get("properties"), &mut Vec::new(), &mut found);
    if count_all(schema) != found.len() {
        return Err("x-mcp-header outside a properties-only path".into());
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (path, prop) in found {
        let p = path.join(".");
        let Some(header) = prop.get("x-mcp-header").and_then(Value::as_str) else {
            return Err(format!("property {p}: x-mcp-header must be a string"));
        };
        if header.is_empty() || !header.chars().all(is_tchar) {
            return Err(format!(
                "property {p}: '{header}' is not a valid header name"
            ));
        }
        if !seen.insert(header.to_ascii_lowercase()) {
            return Err(format!("property {p}: duplicate header '{header}'"));
        }
        if !matches!(
            prop.get("type").and_then(Value::as_str),
            Some("string" | "integer" | "boolean")
        ) {
            return Err(format!(
                "property {p}: x-mcp-header needs a string, integer or boolean"
            ));
        }
        out.push((path, header.to_string()));
    }
    Ok(out)
}

fn collect<'a>(
    properties: Option<&'a Value>,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, &'a Value)>,
) {
    let Some(Value::Object(props)) = properties else {
        return;
    };
    for (name, prop) in props {
        path.push(name.clone());
        if prop.get("x-mcp-header").is_some() {
            out.push((path.clone(), prop));
        }
        collect(prop.get("properties"), path, out);
        path.pop();
    }
}

/// Every `x-mcp-header` key anywhere in a schema, except inside instance-data keywords.
fn count_all(v: &Value) -> usize {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match k.as_str() {
                "x-mcp-header" => 1,
                "default" | "const" | "enum" | "examples" => 0,
                _ => count_all(v),
            })
            .sum(),
        Value::Array(a) => a.iter().map(count_all).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_the_era_from_meta() {
        let m = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        assert_eq!(declared_version(m).as_deref(), Some("2026-07-28"));
        assert_eq!(
            declared_version(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            None
        );
        // Escaped keys are the same key: the byte pre-check must not miss them.
        let escaped = [
            br#"{"id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol\/protocolVersion":"2026-07-28"}}}"#.as_slice(),
            br#"{"id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/\u0070rotocolVersion":"2026-07-28"}}}"#.as_slice(),
        ];
        for m in escaped {
            assert_eq!(declared_version(m).as_deref(), Some("2026-07-28"));
        }
    }

    #[test]
    fn unsafe_values_are_base64_wrapped() {
        assert_eq!(header_text("get_weather"), "get_weather");
        assert_eq!(header_text(" x"), "=?base64?IHg=?=");
        assert_eq!(header_text("café"), "=?base64?Y2Fmw6k=?=");
        assert_eq!(
            header_text("=?base64?abc?="),
            "=?base64?PT9iYXNlNjQ/YWJjPz0=?="
        );
    }

    #[test]
    fn standard_and_param_headers() {
        let h = ToolHeaders::default();
        let list = json!({"jsonrpc":"2.0","id":1,"result":{"tools":[
            {"name":"weather","inputSchema":{"type":"object","properties":{
                "region":{"type":"string","x-mcp-header":"Region"},
                "opts":{"type":"object","properties":{"metric":{"type":"boolean","x-mcp-header":"Metric"}}}}}},
            {"name":"bad","inputSchema":{"type":"object","properties":{"a":{"type":"array","x-mcp-header":"A"}}}},
            {"name":"plain","inputSchema":{"type":"object"}}
        ]}})
        .to_string();
        let relayed = h.learn(list.as_bytes());
        let v: Value = serde_json::from_slice(&relayed).unwrap();
        let names: Vec<&str> = v["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["weather", "plain"]);
        let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"weather","arguments":{"region":"Zürich","opts":{"metric":true}},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        let got: Vec<(String, String)> = h
            .request_headers(call.as_bytes(), "2026-07-28")
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let want = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "weather"),
            ("mcp-param-region", "=?base64?WsO8cmljaA==?="),
            ("mcp-param-metric", "true"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
    }

    #[test]
    fn annotation_rules() {
        assert!(annotations(&json!({"x-mcp-header":"A"})).is_err());
        assert!(annotations(&json!({"properties":{"a":{"type":"string","x-mcp-header":"A"},"b":{"type":"string","x-mcp-header":"a"}}})).is_err());
        assert!(
            annotations(&json!({"properties":{"a":{"type":"string","x-mcp-header":"bad name"}}}))
                .is_err()
        );
        assert!(annotations(&json!({"$defs":{"x":{"type":"string","x-mcp-header":"X"}}})).is_err());
        assert!(
            annotations(
                &json!({"properties":{"a":{"type":"string","default":{"x-mcp-header":1}}}})
            )
            .unwrap()
            .is_empty()
        );
    }
}
