//! The 2026-07-28 (stateless) era through the bridge (issue 6 §1; M2–M6, M10): a modern
//! client's requests carry `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` and
//! `Mcp-Param-*` headers that a real rmcp 3.11 server checks; no session, GET or DELETE;
//! cancellation aborts the exchange instead of being POSTed; the server's 400 bodies are
//! relayed unchanged.

use std::time::Duration;

use crate::support::driver::BridgeCmd;
use crate::support::rmcp_peer;
use crate::support::scripted::{self, Scripted, Sse};
use serde_json::{Value, json};

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

fn modern(id: u32, method: &str, params: &str) -> String {
    let sep = if params.is_empty() { "" } else { "," };
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{params}{sep}{META}}}}}"#)
}

#[tokio::test]
async fn a_modern_client_passes_the_servers_header_checks() {
    let server = rmcp_peer::start().await;
    let mut bridge = BridgeCmd::new(&server.url).token(rmcp_peer::TOKEN).spawn();

    // Before tools/list the bridge cannot know the x-mcp-header annotations: the server's
    // own 400 (HeaderMismatch, -32020) comes back byte-for-byte (M3, M10).
    bridge
        .send(&modern(
            1,
            "tools/call",
            r#""name":"shop_orders","arguments":{"shop":"Zürich"}"#,
        ))
        .await;
    let (early, _) = bridge.recv_response(&json!(1)).await;
    assert_eq!(early["error"]["code"], -32020, "{early}");

    bridge.send(&modern(2, "tools/list", "")).await;
    let (list, _) = bridge.recv_response(&json!(2)).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"shop_orders"), "{names:?}");

    // Now Mcp-Param-Shop is sent (Base64-wrapped: the value is not ASCII) and accepted.
    bridge
        .send(&modern(
            3,
            "tools/call",
            r#""name":"shop_orders","arguments":{"shop":"Zürich"}"#,
        ))
        .await;
    let (call, _) = bridge.recv_response(&json!(3)).await;
    assert_eq!(
        call["result"]["content"][0]["text"], "Zürich: 3 orders today",
        "{call}"
    );
    bridge
        .send(&modern(
            4,
            "tools/call",
            r#""name":"echo","arguments":{"text":"hi"}"#,
        ))
        .await;
    let (echo, _) = bridge.recv_response(&json!(4)).await;
    assert_eq!(echo["result"]["content"][0]["text"], "hi", "{echo}");

    let (status, _) = bridge.finish(Duration::from_secs(3)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    let seen = server.requests();
    assert!(
        seen.iter().all(|r| r.method == "POST"),
        "no GET or DELETE in the modern era (M1)"
    );
    assert!(
        seen.iter().all(|r| r.session_id.is_none()),
        "no session id (M1)"
    );
    assert!(
        seen.iter()
            .all(|r| r.protocol_version.as_deref() == Some("2026-07-28")),
        "MCP-Protocol-Version on every POST equals _meta (M3)"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn standard_headers_are_exact_and_unsafe_names_are_base64() {
    let server = Scripted::start().await;
    server.always(
        |r| r.is_post(),
        |r| {
            let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
            scripted::json(
                200,
                format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#),
            )
        },
    );
    let mut bridge = BridgeCmd::new(&server.url()).spawn();
    bridge
        .send(&modern(1, "resources/read", r#""uri":"file:///tmp/ä b""#))
        .await;
    bridge.recv_response(&json!(1)).await;
    bridge
        .send(&modern(2, "prompts/get", r#""name":" padded ""#))
        .await;
    bridge.recv_response(&json!(2)).await;
    let posts = server.requests();
    assert_eq!(posts[0].header("mcp-method"), Some("resources/read"));
    let expected = format!("=?base64?{}?=", "ZmlsZTovLy90bXAvw6QgYg==");
    assert_eq!(posts[0].header("mcp-name"), Some(expected.as_str()));
    assert_eq!(posts[1].header("mcp-name"), Some("=?base64?IHBhZGRlZCA=?="));
    assert_eq!(posts[1].header("mcp-protocol-version"), Some("2026-07-28"));
    bridge.finish(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn modern_cancellation_closes_the_exchange_and_is_not_posted() {
    let server = Scripted::start().await;
    let (reply, events) = scripted::sse_stream();
    server.once(|r| r.is_rpc("tools/call"), reply);
    let mut bridge = BridgeCmd::new(&server.url()).spawn();
    bridge
        .send(&modern(7, "tools/call", r#""name":"slow","arguments":{}"#))
        .await;
    server
        .wait_for("the call", |r| r.is_rpc("tools/call"))
        .await;
    assert!(events.send(Sse::msg(
        r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#
    )));
    let progress: Value = bridge.recv_json().await;
    assert_eq!(progress["method"], "notifications/progress");
    bridge
        .send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}"#)
        .await;
    tokio::time::timeout(Duration::from_secs(10), events.closed())
        .await
        .expect("the bridge closed the request's stream (M6)");
    assert!(
        server
            .matching(|r| r.is_rpc("notifications/cancelled"))
            .is_empty(),
        "no cancellation POST in the modern era"
    );
    let (status, rest) = bridge.finish(Duration::from_secs(3)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(
        rest.is_empty(),
        "a cancelled request gets no answer: {rest:?}"
    );
}

/// Issue 6 §2 at the byte level: the synthesised InitializeResult, local answers for what
/// 2026-07-28 removed, a resource subscription carried by `subscriptions/listen`, `_meta`
/// stamped on forwarded requests, and one MRTR round.
#[tokio::test]
async fn translation_for_a_2025_client_at_the_byte_level() {
    let server = rmcp_peer::start_with(rmcp_peer::PeerOptions {
        mode: rmcp_peer::Mode::ModernOnly,
        ..rmcp_peer::options()
    })
    .await;
    let mut bridge = BridgeCmd::new(&server.url).token(rmcp_peer::TOKEN).spawn();
    let init = bridge.handshake("2025-06-18").await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    assert_eq!(init["result"]["capabilities"]["tools"], json!({}));

    bridge
        .send(r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#)
        .await;
    assert_eq!(
        bridge.recv().await,
        r#"{"jsonrpc":"2.0","id":"p","result":{}}"#
    );
    bridge
        .send(
            r#"{"jsonrpc":"2.0","id":"l","method":"logging/setLevel","params":{"level":"debug"}}"#,
        )
        .await;
    assert_eq!(
        bridge.recv().await,
        r#"{"jsonrpc":"2.0","id":"l","result":{}}"#
    );
    // resources/subscribe becomes a subscriptions/listen stream; the server's
    // resources/updated reaches the client, the acknowledgement does not.
    bridge
        .send(r#"{"jsonrpc":"2.0","id":"s","method":"resources/subscribe","params":{"uri":"wazion://orders/1042"}}"#)
        .await;
    assert_eq!(
        bridge.recv().await,
        r#"{"jsonrpc":"2.0","id":"s","result":{}}"#
    );
    let updated = bridge.recv_json().await;
    assert_eq!(
        updated["method"], "notifications/resources/updated",
        "{updated}"
    );
    assert_eq!(updated["params"]["uri"], "wazion://orders/1042");
    bridge
        .send(r#"{"jsonrpc":"2.0","id":"u","method":"resources/unsubscribe","params":{"uri":"wazion://orders/1042"}}"#)
        .await;
    assert_eq!(
        bridge.recv().await,
        r#"{"jsonrpc":"2.0","id":"u","result":{}}"#
    );

    bridge
        .send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"confirm","arguments":{},"extra":1.0}}"#)
        .await;
    let ask = bridge.recv_json().await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    assert_eq!(ask["params"]["message"], rmcp_peer::ELICIT_MESSAGE);
    let private = ask["id"].as_str().expect("a bridge-private string id");
    assert!(private.starts_with("wazion-mcp-"), "{private}");
    bridge
        .send(&format!(
            r#"{{"jsonrpc":"2.0","id":"{private}","result":{{"action":"accept","content":{{"answer":"yes"}}}}}}"#
        ))
        .await;
    let (done, _) = bridge.recv_response(&json!(5)).await;
    assert_eq!(
        done["result"]["content"][0]["text"], "confirmed: yes",
        "{done}"
    );

    bridge.finish(Duration::from_secs(3)).await;
    let seen = server.requests();
    let bodies: Vec<String> = seen
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(
        !bodies
            .iter()
            .any(|b| b.contains("notifications/initialized")),
        "swallowed: {bodies:#?}"
    );
    assert!(
        !bodies
            .iter()
            .any(|b| b.contains("\"ping\"") || b.contains("logging/setLevel"))
    );
    let calls: Vec<&String> = bodies.iter().filter(|b| b.contains("tools/call")).collect();
    assert_eq!(calls.len(), 2, "the call and its MRTR retry: {calls:#?}");
    assert!(calls.iter().all(|b| {
        b.contains(r#""io.modelcontextprotocol/protocolVersion":"2026-07-28""#)
            && b.contains(r#""extra":1.0"#)
    }));
    assert!(
        calls[1].contains(r#""requestState":"confirm-round-1""#)
            && calls[1].contains("inputResponses"),
        "{}",
        calls[1]
    );
    server.shutdown().await.unwrap();
}

/// A scripted 2026-only server for the translation's fidelity: refuses a 2025 `initialize`
/// with UnsupportedProtocolVersion (HTTP 400, as the TypeScript SDK v2's `legacy: 'reject'`),
/// answers `server/discover`, and answers every other request with `result` (raw JSON).
fn modern_only_server(server: &Scripted, result: &'static str) {
    server.always(
        |r| r.is_rpc("initialize"),
        |r| {
            let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
            scripted::json(
                400,
                format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32022,"message":"Unsupported protocol version","data":{{"supported":["2026-07-28"]}}}}}}"#
                ),
            )
        },
    );
    server.always(
        |r| r.is_rpc("server/discover"),
        |r| {
            let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
            scripted::json(
                200,
                format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"result":{{"resultType":"complete","supportedVersions":["2026-07-28"],"capabilities":{{"tools":{{}},"logging":{{}}}},"_meta":{{"io.modelcontextprotocol/serverInfo":{{"name":"modern","version":"2"}}}}}}}}"#
                ),
            )
        },
    );
    server.always(
        |r| r.is_post(),
        move |r| {
            let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
            scripted::json(
                200,
                format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#),
            )
        },
    );
}

/// Issue 19 §6: results reach a 2025 client in the 2025 shape: `resultType`, `ttlMs`,
/// `cacheScope` and the `io.modelcontextprotocol/serverInfo` stamp are cut, every other
/// member keeps its bytes and order (an emptied `_meta` goes too). Old main: the client got
/// the 2026 members as the server sent them.
#[tokio::test]
async fn translated_results_lose_the_2026_envelope() {
    let server = Scripted::start().await;
    modern_only_server(
        &server,
        r#"{"resultType":"complete","tools":[{"name":"t","inputSchema":{"type":"object"}}],"ttlMs":60000,"cacheScope":"shared","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"modern","version":"2"},"x.example/keep":1.0}}"#,
    );
    let mut bridge = BridgeCmd::new(&server.url()).spawn();
    let init = bridge.handshake("2025-06-18").await;
    assert_eq!(init["result"]["serverInfo"]["name"], "modern", "{init}");
    bridge
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    assert_eq!(
        bridge.recv().await,
        r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"t","inputSchema":{"type":"object"}}],"_meta":{"x.example/keep":1.0}}}"#
    );
    bridge
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t"}}"#)
        .await;
    let (call, _) = bridge.recv_response(&json!(2)).await;
    assert_eq!(call["result"].get("resultType"), None, "{call}");
    assert_eq!(call["result"].get("ttlMs"), None, "{call}");
    bridge.finish(Duration::from_secs(3)).await;
}

/// Issue 19 §6: `logging/setLevel` is answered locally (2026-07-28 has no such request) and
/// its level rides every later translated request's `_meta` as
/// `io.modelcontextprotocol/logLevel`, so the server sends `notifications/message`. Old main:
/// the level was dropped, and the server, told no level, sent no log message.
#[tokio::test]
async fn the_clients_log_level_rides_each_translated_request() {
    let server = Scripted::start().await;
    server.always(
        |r| {
            r.is_rpc("tools/call")
                && r.json()["params"]["_meta"]["io.modelcontextprotocol/logLevel"] == "debug"
        },
        |r| {
            let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
            scripted::sse(vec![
                Sse::msg(
                    r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"debug","data":"working"}}"#,
                ),
                Sse::msg(&format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"result":{{"resultType":"complete","content":[]}}}}"#
                )),
            ])
        },
    );
    modern_only_server(&server, r#"{"resultType":"complete","content":[]}"#);
    let mut bridge = BridgeCmd::new(&server.url()).spawn();
    bridge.handshake("2025-06-18").await;
    bridge
        .send(
            r#"{"jsonrpc":"2.0","id":"l","method":"logging/setLevel","params":{"level":"debug"}}"#,
        )
        .await;
    assert_eq!(
        bridge.recv().await,
        r#"{"jsonrpc":"2.0","id":"l","result":{}}"#
    );
    bridge
        .send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t","arguments":{}}}"#)
        .await;
    let (done, before) = bridge.recv_response(&json!(3)).await;
    assert_eq!(done["result"], json!({"content":[]}), "{done}");
    assert!(
        before
            .iter()
            .any(|m| m["method"] == "notifications/message" && m["params"]["data"] == "working"),
        "the log message reached the client: {before:?}"
    );
    let call = server
        .wait_for("tools/call", |r| r.is_rpc("tools/call"))
        .await;
    assert_eq!(
        call.json()["params"]["_meta"]["io.modelcontextprotocol/logLevel"],
        "debug",
        "{}",
        call.body_str()
    );
    assert!(
        server.matching(|r| r.is_rpc("logging/setLevel")).is_empty(),
        "not forwarded: the 2026 server has no such method"
    );
    bridge.finish(Duration::from_secs(3)).await;
}

/// Issue 19 §6: an `initialize` asking for a version nobody supports is answered, by
/// translation, with the newest 2025 version the bridge can present (as a server answers a
/// version it does not support), never by echoing it. Old main: `1999-01-01` came back.
#[tokio::test]
async fn a_translated_initialize_for_an_unknown_version_gets_a_supported_one() {
    let server = Scripted::start().await;
    modern_only_server(&server, "{}");
    let mut bridge = BridgeCmd::new(&server.url()).spawn();
    bridge
        .send(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"1999-01-01","capabilities":{},"clientInfo":{"name":"old","version":"0"}}}"#)
        .await;
    let init: Value = bridge.recv_json().await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
    bridge.finish(Duration::from_secs(3)).await;
}
