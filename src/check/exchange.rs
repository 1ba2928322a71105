//! The check's own requests and how their answers are read, shared by every transport's
//! steps: `initialize` and `tools/list` under private ids, a reply read to the response with
//! that id (JSON or an event stream), and the details a passing step shows.
//!
//! Invariant: an answer is matched by its raw id, so a server request or notification on the
//! same stream is never taken for it; a stream that ends without it is a failure, not a hang
//! (the bounds are the idle timeout's and the callers').

use bytes::Bytes;
use serde_json::Value;

use crate::errors::Failure;
use crate::jsonrpc;
use crate::upstream::{EventStream, Meta, Reply};

/// The raw ids of the check's two requests, as they appear in `INITIALIZE` and `TOOLS_LIST`.
pub(super) const INITIALIZE_ID: &str = r#""wazion-mcp-check-1""#;
pub(super) const TOOLS_LIST_ID: &str = r#""wazion-mcp-check-2""#;
pub(super) const INITIALIZE: &[u8] = br#"{"jsonrpc":"2.0","id":"wazion-mcp-check-1","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"wazion-mcp-check","version":"1"}}}"#;
pub(super) const INITIALIZED: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
pub(super) const TOOLS_LIST: &[u8] =
    br#"{"jsonrpc":"2.0","id":"wazion-mcp-check-2","method":"tools/list"}"#;

/// Reads a reply to the end of the response with `id`; `Status` replies come back as-is.
pub(super) async fn collect(
    reply: Result<Reply, crate::upstream::NetError>,
    id: &str,
) -> Result<(Meta, Bytes), Failure> {
    match reply.map_err(Failure::Net)? {
        Reply::Json(meta, body) | Reply::Status(meta, body) => Ok((meta, body)),
        Reply::Events(meta, mut stream) => match first_response(&mut stream, id).await {
            Some(body) => Ok((meta, body)),
            None => Err(Failure::StreamEnded),
        },
        Reply::Accepted => Err(Failure::NoResponse),
    }
}

pub(super) async fn first_response(stream: &mut EventStream, id: &str) -> Option<Bytes> {
    while let Some(Ok(event)) = stream.next().await {
        let Some(data) = event.data else { continue };
        if let Ok(e) = jsonrpc::parse_single(&data)
            && e.kind == jsonrpc::Kind::Response
            && e.id_key() == Some(id)
        {
            return Some(Bytes::from(data));
        }
    }
    None
}

/// "server NAME VERSION, protocol P, NOTE" from an `initialize` result.
pub(super) fn initialize_detail(body: &[u8], note: &str) -> String {
    let version = jsonrpc::initialize_result_version(body);
    let server = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            let info = v.get("result")?.get("serverInfo")?;
            Some(format!(
                "{} {}",
                info.get("name")?.as_str()?,
                info.get("version").and_then(Value::as_str).unwrap_or("")
            ))
        })
        .unwrap_or_else(|| "(no serverInfo)".into());
    format!(
        "server {}, protocol {}, {note}",
        server.trim(),
        version.as_deref().unwrap_or("?"),
    )
}

/// "N tools: a, b, …" from a `tools/list` result.
pub(super) fn tools_detail(body: &[u8]) -> String {
    let names: Vec<String> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            Some(
                v.get("result")?
                    .get("tools")?
                    .as_array()?
                    .iter()
                    .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
                    .collect(),
            )
        })
        .unwrap_or_default();
    let mut shown = names.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 8 {
        shown.push_str(", …");
    }
    format!("{} tools: {shown}", names.len())
}
