//! The legacy HTTP+SSE transport (2024-11-05; H23, L1–L4, issue 5 §4): with
//! `--transport auto` a POST refused with 405 and no JSON-RPC body makes the bridge GET the
//! URL, take the `endpoint` event, and POST every message there; answers come on the stream.

use std::sync::Arc;
use std::time::Duration;

use crate::support::driver::{Bridge, BridgeCmd};
use crate::support::scripted::{self, Recorded, Scripted, Sse};
use serde_json::json;

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

/// A legacy stream the test can cut: the sender, until taken.
type StreamSlot = Arc<std::sync::Mutex<Option<scripted::SseTx>>>;

/// One legacy stream per name, served to successive GETs in order; each names the endpoint
/// `/messages-<name>`.
fn legacy_streams(server: &Scripted, names: &[&str]) -> Vec<StreamSlot> {
    names
        .iter()
        .map(|name| {
            let (reply, tx) = scripted::sse_stream();
            tx.send(Sse::Raw(format!(
                "event: endpoint\ndata: /messages-{name}\n\n"
            )));
            server.once(|r| r.is_get(), reply);
            Arc::new(std::sync::Mutex::new(Some(tx)))
        })
        .collect()
}

/// The answer to an `initialize` with raw id `id`, as a legacy server sends it.
fn legacy_init_answer(id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":"2024-11-05","capabilities":{{"tools":{{}}}},"serverInfo":{{"name":"old","version":"1"}}}}}}"#
    )
}

/// A bridge on `--transport sse` that initialized over `first`, which the server then
/// closed; returns once the bridge has seen the close.
async fn bridge_after_a_closed_stream(server: &Scripted, first: &StreamSlot) -> Bridge {
    let mut bridge = BridgeCmd::new(&server.url())
        .token(TOKEN)
        .arg("--transport")
        .arg("sse")
        .spawn();
    bridge.handshake("2024-11-05").await;
    let taken = first.lock().unwrap().take();
    taken.expect("the first stream").cut();
    bridge
        .wait_stderr_line(Duration::from_secs(10), |l| {
            l.contains("the next message reconnects")
        })
        .await
        .expect("the bridge saw the stream close");
    bridge
}

/// When the server closes the legacy stream, the next message reconnects: a new GET, the
/// client's `initialize` replayed under a private id (its answer is taken by the bridge, not
/// written to stdout), `notifications/initialized`, then the message itself, answered on the
/// new stream. The legacy transport has no resumption, so this is a new session, as after a
/// 404 on Streamable HTTP.
#[tokio::test]
async fn the_next_message_after_a_closed_legacy_stream_reconnects() {
    let server = Scripted::start().await;
    let streams = legacy_streams(&server, &["a", "b"]);
    let answer_on = streams.clone();
    server.always(
        |r| r.is_post() && r.path.starts_with("/messages-"),
        move |r: &Recorded| {
            let stream = &answer_on[usize::from(r.path.ends_with("-b"))];
            if let (Some(id), Some(method)) = (r.rpc_id_raw(), r.rpc_method()) {
                let answer = match method.as_str() {
                    "initialize" => legacy_init_answer(&id),
                    _ => {
                        let result = json!({"content":[{"type":"text","text":format!("answered on {}", r.path)}]});
                        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
                    }
                };
                if let Some(s) = stream.lock().unwrap().as_ref() {
                    s.msg(&answer);
                }
            }
            scripted::status(202)
        },
    );
    let mut bridge = bridge_after_a_closed_stream(&server, &streams[0]).await;
    bridge
        .send(r#"{"jsonrpc":"2.0","id":"c2","method":"tools/call","params":{"name":"x","arguments":{}}}"#)
        .await;
    let (call, others) = bridge.recv_response(&json!("c2")).await;
    assert_eq!(
        call["result"]["content"][0]["text"], "answered on /messages-b",
        "{call}"
    );
    assert!(others.is_empty(), "nothing else on stdout: {others:?}");

    assert_eq!(server.matching(|r| r.is_get()).len(), 2, "one reconnect");
    let on_b: Vec<(String, Option<String>)> = server
        .matching(|r| r.path == "/messages-b")
        .iter()
        .map(|r| (r.rpc_method().unwrap_or_default(), r.rpc_id_raw()))
        .collect();
    assert_eq!(
        on_b,
        [
            (
                "initialize".to_string(),
                Some(r#""wazion-mcp-reinit-1""#.to_string())
            ),
            ("notifications/initialized".to_string(), None),
            ("tools/call".to_string(), Some(r#""c2""#.to_string())),
        ]
    );
    let (_, rest) = bridge.finish(Duration::from_secs(3)).await;
    assert!(rest.is_empty(), "unexpected stdout lines: {rest:?}");
}

/// A reconnect the server refuses still answers the message, with the server's own words
/// (a WAzion-style 401 body, only the id replaced), and the bridge keeps running.
#[tokio::test]
async fn a_refused_legacy_reconnect_answers_with_the_servers_words() {
    let server = Scripted::start().await;
    let streams = legacy_streams(&server, &["a"]);
    let refusal = r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Unauthorized: invalid or missing Bearer token."},"id":1}"#;
    server.always(|r| r.is_get(), move |_| scripted::json(401, refusal));
    let answer_on = streams[0].clone();
    server.always(
        |r| r.is_post() && r.path == "/messages-a",
        move |r: &Recorded| {
            if r.rpc_method().as_deref() == Some("initialize")
                && let Some(id) = r.rpc_id_raw()
                && let Some(s) = answer_on.lock().unwrap().as_ref()
            {
                s.msg(&legacy_init_answer(&id));
            }
            scripted::status(202)
        },
    );
    let mut bridge = bridge_after_a_closed_stream(&server, &streams[0]).await;

    bridge
        .send(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#)
        .await;
    let line = bridge.recv_checked().await;
    assert_eq!(line, refusal.replace(r#""id":1"#, r#""id":7"#));
    let (status, rest) = bridge.finish(Duration::from_secs(3)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(rest.is_empty(), "unexpected stdout lines: {rest:?}");
}

/// A reconnect whose new stream closes before the replayed `initialize` is answered ends
/// at once: the message gets an error, and the next message reconnects again instead of
/// waiting out the idle timeout behind the failed attempt.
#[tokio::test]
async fn a_reconnect_whose_stream_closes_answers_at_once() {
    let server = Scripted::start().await;
    let streams = legacy_streams(&server, &["a", "b"]);
    let on = streams.clone();
    server.always(
        |r| r.is_post() && r.path.starts_with("/messages-"),
        move |r: &Recorded| {
            let b = r.path.ends_with("-b");
            let stream = &on[usize::from(b)];
            if b {
                // The new stream dies instead of answering the replayed initialize.
                if let Some(tx) = stream.lock().unwrap().take() {
                    tx.cut();
                }
            } else if let Some(id) = r.rpc_id_raw()
                && let Some(s) = stream.lock().unwrap().as_ref()
            {
                s.msg(&legacy_init_answer(&id));
            }
            scripted::status(202)
        },
    );
    let mut bridge = bridge_after_a_closed_stream(&server, &streams[0]).await;
    bridge
        .send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#)
        .await;
    let (v, _) = bridge.recv_response(&json!(5)).await;
    assert_eq!(v["error"]["code"], -32603, "{v}");
    // The failed reconnect has let go: the next message tries again and is answered too.
    bridge
        .send(r#"{"jsonrpc":"2.0","id":6,"method":"tools/list"}"#)
        .await;
    let (v, _) = bridge.recv_response(&json!(6)).await;
    assert!(v.get("error").is_some(), "{v}");
    assert_eq!(server.matching(|r| r.is_get()).len(), 3, "a third GET");
    bridge.finish(Duration::from_secs(3)).await;
}
