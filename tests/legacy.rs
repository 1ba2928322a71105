//! The legacy HTTP+SSE transport (2024-11-05; H23, L1–L4, issue 5 §4): with
//! `--transport auto` a POST refused with 405 and no JSON-RPC body makes the bridge GET the
//! URL, take the `endpoint` event, and POST every message there; answers come on the stream.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::driver::BridgeCmd;
use support::scripted::{self, Recorded, Scripted, Sse};

const TOKEN: &str = "legacy-token";

#[tokio::test]
async fn auto_falls_back_to_legacy_sse_after_a_405() {
    let server = Scripted::start().await;
    server.always(
        |r| r.is_post() && r.path == "/mcp",
        |_| scripted::text(405, "Method Not Allowed"),
    );
    let _stream = scripted::legacy_server(&server);
    let mut bridge = BridgeCmd::new(&server.url()).token(TOKEN).spawn();

    let init = bridge.handshake("2024-11-05").await;
    assert_eq!(init["result"]["serverInfo"]["name"], "old", "{init}");
    bridge
        .send(r#"{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"x","arguments":{}}}"#)
        .await;
    let (call, _) = bridge.recv_response(&json!("c1")).await;
    assert_eq!(call["result"]["content"][0]["text"], "legacy says hi");

    let seen = server.requests();
    let probes = seen
        .iter()
        .filter(|r| r.is_post() && r.path == "/mcp")
        .count();
    assert_eq!(
        probes, 1,
        "one Streamable HTTP attempt, then the legacy transport"
    );
    let gets: Vec<&Recorded> = seen.iter().filter(|r| r.is_get()).collect();
    assert_eq!(gets.len(), 1);
    let posts: Vec<&Recorded> = seen
        .iter()
        .filter(|r| r.path.starts_with("/messages"))
        .collect();
    let methods: Vec<String> = posts.iter().filter_map(|r| r.rpc_method()).collect();
    assert_eq!(
        methods,
        ["initialize", "notifications/initialized", "tools/call"]
    );
    for r in gets.iter().chain(posts.iter()) {
        assert_eq!(
            r.header("authorization"),
            Some("Bearer legacy-token"),
            "A2 on every request"
        );
    }
    bridge.finish(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn transport_sse_skips_the_post_probe() {
    let server = Scripted::start().await;
    let _stream = scripted::legacy_server(&server);
    let mut bridge = BridgeCmd::new(&server.url())
        .token(TOKEN)
        .arg("--transport")
        .arg("sse")
        .spawn();
    let init = bridge.handshake("2024-11-05").await;
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05");
    assert!(
        server
            .matching(|r| r.is_post() && r.path == "/mcp")
            .is_empty()
    );
    bridge.finish(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn streamable_http_only_relays_the_405_as_an_error() {
    let server = Scripted::start().await;
    server.always(
        |r| r.is_post() && r.path == "/mcp",
        |_| scripted::text(405, "Method Not Allowed"),
    );
    let _stream = scripted::legacy_server(&server);
    let mut bridge = BridgeCmd::new(&server.url())
        .token(TOKEN)
        .arg("--transport")
        .arg("streamable-http")
        .spawn();
    bridge
        .send(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#)
        .await;
    let (v, _) = bridge.recv_response(&json!(0)).await;
    assert_eq!(v["error"]["code"], -32603, "{v}");
    assert_eq!(v["error"]["data"]["httpStatus"], 405);
    assert!(server.matching(|r| r.is_get()).is_empty(), "no fallback");
    bridge.finish(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_closed_legacy_stream_answers_pending_requests_with_an_error() {
    let server = Scripted::start().await;
    server.always(
        |r| r.is_post() && r.path == "/mcp",
        |_| scripted::status(404),
    );
    let (reply, tx) = scripted::sse_stream();
    tx.send(Sse::Raw(
        "event: endpoint\ndata: http://127.0.0.1:1/elsewhere\n\n".into(),
    ));
    server.once(|r| r.is_get(), reply);
    let mut bridge = BridgeCmd::new(&server.url()).token(TOKEN).spawn();
    // An endpoint on another origin is refused: the token never goes there.
    bridge
        .send(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#)
        .await;
    let (v, _) = bridge.recv_response(&json!(0)).await;
    assert_eq!(v["error"]["code"], -32603, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another origin"),
        "{v}"
    );
    drop(tx);

    // A proper link whose stream then closes with a request in flight.
    let (reply, tx) = scripted::sse_stream();
    tx.send(Sse::Raw("event: endpoint\ndata: /messages\n\n".into()));
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    server.once(|r| r.is_get(), reply);
    let stream = tx.clone();
    server.always(
        |r| r.is_post() && r.path.starts_with("/messages"),
        move |r: &Recorded| {
            if r.rpc_method().as_deref() == Some("initialize") {
                let id = r.rpc_id_raw().unwrap();
                if let Some(s) = stream.lock().unwrap().as_ref() {
                    s.msg(&format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":"2024-11-05","capabilities":{{}},"serverInfo":{{"name":"old","version":"1"}}}}}}"#));
                }
            }
            scripted::status(202)
        },
    );
    bridge.handshake("2024-11-05").await;
    bridge
        .send(r#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#)
        .await;
    server
        .wait_for_within(
            |r| r.rpc_method().as_deref() == Some("tools/list"),
            Duration::from_secs(10),
        )
        .await
        .expect("tools/list reached the server");
    let taken = tx.lock().unwrap().take();
    taken.expect("the stream's sender").cut();
    let (v, _) = bridge.recv_response(&json!(9)).await;
    assert_eq!(v["error"]["code"], -32603, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("closed the legacy SSE connection"),
        "{v}"
    );
    bridge.finish(Duration::from_secs(3)).await;
}
