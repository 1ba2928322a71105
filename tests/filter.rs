//! Tool filtering (`--allow-tool` / `--deny-tool`, issue 5 §5): hidden tools vanish from
//! every `tools/list` page, calls to them are refused without reaching the server, and the
//! filter still holds after the server announces `notifications/tools/list_changed`.

use crate::support::driver::BridgeCmd;
use crate::support::scripted::{self, Scripted};
use serde_json::{Value, json};

const VERSION: &str = "2025-06-18";

fn tools_page(id: &str, names: &[&str], next: Option<&str>) -> String {
    let tools: Vec<Value> = names
        .iter()
        .map(|n| json!({"name": n, "inputSchema": {"type": "object"}}))
        .collect();
    let mut result = json!({ "tools": tools });
    if let Some(c) = next {
        result["nextCursor"] = json!(c);
    }
    json!({"jsonrpc": "2.0", "id": serde_json::from_str::<Value>(id).unwrap(), "result": result})
        .to_string()
}

fn names(v: &Value) -> Vec<String> {
    v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn hidden_tools_vanish_from_every_page_and_cannot_be_called() {
    let server = Scripted::start().await;
    server.once(
        |r| r.is_rpc("tools/list") && !r.body_str().contains("cursor"),
        scripted::json(
            200,
            tools_page(
                "1",
                &["get_shop_status", "delete_order", "echo"],
                Some("p2"),
            ),
        ),
    );
    server.once(
        |r| r.is_rpc("tools/list") && r.body_str().contains("p2"),
        scripted::json(200, tools_page("2", &["delete_all", "get_orders"], None)),
    );
    server.answer_every("tools/call", r#"{"content":[]}"#);
    let mut bridge = BridgeCmd::new(&server.url())
        .arg("--allow-tool")
        .arg("get_*")
        .arg("--allow-tool")
        .arg("delete_*")
        .arg("--deny-tool")
        .arg("delete_*")
        .spawn();
    bridge.handshake(VERSION).await;

    bridge
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let (page1, _) = bridge.recv_response(&json!(1)).await;
    assert_eq!(names(&page1), ["get_shop_status"]);
    assert_eq!(
        page1["result"]["nextCursor"], "p2",
        "everything but the hidden tools is kept"
    );
    bridge
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"p2"}}"#)
        .await;
    let (page2, _) = bridge.recv_response(&json!(2)).await;
    assert_eq!(names(&page2), ["get_orders"]);

    bridge
        .send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_order","arguments":{}}}"#)
        .await;
    let (refused, _) = bridge.recv_response(&json!(3)).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert_eq!(refused["error"]["message"], "Unknown tool: delete_order");
    bridge
        .send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{}}}"#)
        .await;
    let (refused, _) = bridge.recv_response(&json!(4)).await;
    assert_eq!(
        refused["error"]["code"], -32602,
        "not in the allow list: {refused}"
    );
    bridge
        .send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get_orders","arguments":{}}}"#)
        .await;
    let (ok, _) = bridge.recv_response(&json!(5)).await;
    assert!(ok.get("result").is_some(), "{ok}");

    let calls: Vec<String> = server
        .matching(|r| r.is_rpc("tools/call"))
        .iter()
        .map(|r| r.json()["params"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(calls, ["get_orders"], "hidden tools never reach the server");
    bridge.finish(std::time::Duration::from_secs(3)).await;
}

#[tokio::test]
async fn the_filter_holds_after_list_changed() {
    let server = Scripted::start().await;
    let (get_reply, events) = scripted::sse_stream();
    server.once(|r| r.is_get(), get_reply);
    server.once(
        |r| r.is_rpc("tools/list"),
        scripted::json(200, tools_page("1", &["a", "secret_a"], None)),
    );
    server.once(
        |r| r.is_rpc("tools/list"),
        scripted::json(200, tools_page("2", &["a", "b", "secret_b"], None)),
    );
    let mut bridge = BridgeCmd::new(&server.url())
        .arg("--deny-tool")
        .arg("secret_*")
        .spawn();
    bridge.handshake(VERSION).await;
    bridge
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let (first, _) = bridge.recv_response(&json!(1)).await;
    assert_eq!(names(&first), ["a"]);

    assert!(events.msg(r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#));
    let note = bridge.recv_json().await;
    assert_eq!(note["method"], "notifications/tools/list_changed");
    bridge
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .await;
    let (second, _) = bridge.recv_response(&json!(2)).await;
    assert_eq!(names(&second), ["a", "b"]);
    bridge.finish(std::time::Duration::from_secs(3)).await;
}

/// Issue 16 item 5: the filter fails closed. A `tools/call` whose tool cannot be told
/// unambiguously (two `name` members, one spelled `na\u006de`; two `params` objects) or that
/// has no string name is refused with a clear error; a `tools/call` sent as a notification
/// for a denied tool is dropped with a log line; under 2025-03-26 a batch holding a call to
/// a hidden tool is split so the filter judges each item. The server sees only the allowed
/// call.
///
/// On the old main: the duplicate-name, `na\u006de`, two-params and non-string calls were
/// forwarded (serde refused the duplicate, `called_tool` read that as "no name", and no
/// name meant "allowed"), the notification was forwarded (only requests were filtered), and
/// the batch went out whole, `delete_order` included.
#[tokio::test]
async fn the_filter_fails_closed_on_ambiguous_calls_notifications_and_batches() {
    let server = Scripted::builder()
        .protocol_version("2025-03-26")
        .start()
        .await;
    server.answer_every("tools/call", r#"{"content":[]}"#);
    let mut bridge = BridgeCmd::new(&server.url())
        .arg("--deny-tool")
        .arg("delete_*")
        .spawn();
    bridge.handshake("2025-03-26").await;
    server
        .wait_for("notifications/initialized", |r| {
            r.is_rpc("notifications/initialized")
        })
        .await;

    let ambiguous = [
        (
            10,
            r#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"get_orders","name":"delete_order"}}"#,
        ),
        (
            11,
            r#"{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"get_orders","na\u006de":"delete_order"}}"#,
        ),
        (
            12,
            r#"{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"get_orders"},"params":{"name":"delete_order"}}"#,
        ),
        (
            13,
            r#"{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":["delete_order"]}}"#,
        ),
        (
            14,
            r#"{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"arguments":{}}}"#,
        ),
    ];
    for (id, line) in ambiguous {
        bridge.send(line).await;
        let (v, _) = bridge.recv_response(&json!(id)).await;
        let code = v["error"]["code"].as_i64();
        assert!(
            matches!(code, Some(-32602 | -32600)),
            "{id}: not refused: {v}"
        );
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("twice") || message.contains("tool"),
            "{id}: no clear reason: {message}"
        );
    }

    bridge
        .send(r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_order"}}"#)
        .await;
    bridge
        .wait_stderr_line(std::time::Duration::from_secs(5), |l| {
            l.contains("dropped a tools/call notification") && l.contains("delete_order")
        })
        .await
        .unwrap_or_else(|| panic!("no log line:\n{}", bridge.stderr()));

    bridge
        .send(r#"[{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"delete_order"}},{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"get_orders"}}]"#)
        .await;
    let mut answers = [bridge.recv_json().await, bridge.recv_json().await];
    answers.sort_by_key(|v| v["id"].as_i64());
    assert_eq!(answers[0]["id"], 20);
    assert_eq!(
        answers[0]["error"]["message"], "Unknown tool: delete_order",
        "{}",
        answers[0]
    );
    assert!(answers[1].get("result").is_some(), "{}", answers[1]);

    let calls: Vec<String> = server
        .matching(|r| r.is_post() && r.body_str().contains("tools/call"))
        .iter()
        .map(|r| r.body_str().to_string())
        .collect();
    assert_eq!(
        calls,
        [r#"{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"get_orders"}}"#],
        "only the allowed call reaches the server"
    );
    bridge.finish(std::time::Duration::from_secs(3)).await;
}
