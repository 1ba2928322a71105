//! Session behaviour as the server sees it: no traffic before `initialize`, the
//! `Mcp-Session-Id` / `MCP-Protocol-Version` / `Accept` headers, the initialize gate, the GET
//! stream's place in the handshake, transparent re-initialization on 404, and SSE
//! resumption with `Last-Event-ID` (issue #2 points 2, 3b, 3e, 3f, 3g; H2, H8, H9, H13, H14,
//! H16–H18, H20).
//!
//! Ordering is proven with the scripted server's global tick order (arrival of a request vs
//! the moment a held answer was released), never with wall-clock timings, except the
//! lower bound of the server's `retry` delay.

use std::time::{Duration, Instant};

use crate::support::driver::{Bridge, BridgeCmd, assert_jsonrpc};
use crate::support::scripted::{
    Gate, Recorded, Reply, Scripted, Sse, sse, sse_stream, status, text,
};
use serde_json::Value;

const EXIT: Duration = Duration::from_secs(5);
/// How long a held answer waits for a request that must NOT come before it is released.
/// A correct bridge passes whatever this is; a wrong one is caught when it misbehaves
/// within this window.
const HOLD: Duration = Duration::from_millis(500);

fn spawn(server: &Scripted) -> Bridge {
    BridgeCmd::new(&server.url())
        .arg("--log-level")
        .arg("debug")
        .spawn()
}

fn is_init(r: &Recorded) -> bool {
    r.is_rpc("initialize")
}

/// An initialize sent by the bridge itself (bridge-private string id).
fn is_private_init(r: &Recorded) -> bool {
    is_init(r)
        && r.rpc_id_raw()
            .is_some_and(|id| id.starts_with("\"wazion-mcp-"))
}

fn has_id(raw: &'static str) -> impl Fn(&Recorded) -> bool {
    move |r| r.is_post() && r.rpc_id_raw().as_deref() == Some(raw)
}

fn accept_lists(r: &Recorded, types: &[&str]) -> bool {
    let accept = r.header("accept").unwrap_or("");
    let listed: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .collect();
    types.iter().all(|t| listed.contains(t))
}

/// Issue #2 point 2: the bridge opens no connection and sends no request before the
/// client's `initialize`; the first request it makes is that `initialize`.
#[tokio::test]
async fn no_network_traffic_before_initialize() {
    let server = Scripted::start().await;
    let mut b = spawn(&server);
    // An absence can only be observed over a window: give the bridge HOLD to misbehave.
    tokio::time::sleep(HOLD).await;
    assert_eq!(server.connections(), 0, "{}", server.dump());
    assert!(server.requests().is_empty(), "{}", server.dump());
    b.handshake("2025-06-18").await;
    let first = &server.requests()[0];
    assert!(is_init(first), "first request: {}", server.dump());
}

/// H16, H20, H2, H8: the initialize POST carries neither `Mcp-Session-Id` nor
/// `MCP-Protocol-Version`; every later POST, GET and DELETE carries both, the version being
/// the one in the InitializeResult the server returned (not the one the client asked for).
/// POSTs send `Content-Type: application/json` and accept JSON and SSE; GET accepts SSE.
#[tokio::test]
async fn session_and_version_headers_on_every_later_request() {
    let server = Scripted::builder()
        .protocol_version("2025-06-18")
        .start()
        .await;
    let (reply, _get) = sse_stream();
    server.once(|r| r.is_get(), reply);
    let mut b = spawn(&server);
    let init = b.handshake("2025-11-25").await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    server.wait_for("the GET stream", |r| r.is_get()).await;
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    assert_eq!(
        b.recv_checked().await,
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#
    );
    let (status, rest) = b.finish(EXIT).await;
    assert!(status.is_some() && rest.is_empty(), "{rest:#?}");

    let all = server.requests();
    let init = all.iter().find(|r| is_init(r)).expect("initialize POST");
    assert_eq!(init.session(), None, "session id on initialize");
    assert_eq!(init.protocol_version(), None, "version on initialize");
    for r in &all {
        if r.is_post() {
            assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
            assert!(
                accept_lists(r, &["application/json", "text/event-stream"]),
                "POST Accept: {r:?}"
            );
        }
        if r.is_get() {
            assert!(accept_lists(r, &["text/event-stream"]), "GET Accept: {r:?}");
        }
        if r.index == init.index {
            continue;
        }
        assert_eq!(r.session(), Some("sess-1"), "{} {}", r.method, r.body_str());
        assert_eq!(
            r.protocol_version(),
            Some("2025-06-18"),
            "{} {}",
            r.method,
            r.body_str()
        );
    }
    for what in ["notifications/initialized", "tools/list"] {
        assert!(all.iter().any(|r| r.is_rpc(what)), "no {what}");
    }
    assert!(all.iter().any(|r| r.is_get()), "no GET");
    assert!(all.iter().any(|r| r.is_delete()), "no DELETE");
}

/// H17, 3b: a message that arrives on stdin before the initialize answer is held until that
/// answer arrived, and then goes out with the new session id. (A `ping` is the exception the
/// spec makes: `hostile_streams` proves it is answered while a handshake is stuck.)
#[tokio::test]
async fn messages_wait_for_the_initialize_answer() {
    let server = Scripted::start().await;
    let s = server.clone();
    server.always(is_init, move |req| {
        let answer = s.default_reply(req);
        let s = s.clone();
        Reply::deferred(async move {
            s.wait_for_within(|r| r.is_post() && !is_init(r), HOLD)
                .await;
            answer
        })
    });
    let mut b = spawn(&server);
    b.send(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#).await;
    b.send(r#"{"jsonrpc":"2.0","id":"early","method":"tools/list"}"#)
        .await;
    let init_line = b.recv_checked().await;
    assert!(init_line.contains(r#""id":0"#), "{init_line}");
    assert_eq!(
        b.recv_checked().await,
        r#"{"jsonrpc":"2.0","id":"early","result":{}}"#
    );
    let init = server.wait_for("initialize", is_init).await;
    let ping = server.wait_for("the ping", has_id(r#""early""#)).await;
    let released = server
        .answered_tick(init.index)
        .expect("initialize answered");
    assert!(
        ping.tick > released,
        "ping was POSTed before the initialize answer was sent:\n{}",
        server.dump()
    );
    assert_eq!(ping.session(), Some("sess-1"));
}

/// H9, E1: after `notifications/initialized` was accepted, the GET stream is opened and its
/// answer awaited before the next message is POSTed (the server holds the GET answer and
/// would see an early POST).
#[tokio::test]
async fn get_stream_opens_before_the_next_message() {
    let server = Scripted::start().await;
    let s = server.clone();
    server.once(
        |r| r.is_get(),
        Reply::deferred(async move {
            s.wait_for_within(|r| r.is_rpc("ping"), HOLD).await;
            status(405)
        }),
    );
    let mut b = spawn(&server);
    b.handshake("2025-06-18").await;
    b.send(r#"{"jsonrpc":"2.0","id":"next","method":"ping"}"#)
        .await;
    assert_eq!(
        b.recv_checked().await,
        r#"{"jsonrpc":"2.0","id":"next","result":{}}"#
    );
    let initialized = server
        .wait_for("initialized", |r| r.is_rpc("notifications/initialized"))
        .await;
    let get = server.wait_for("the GET", |r| r.is_get()).await;
    let ping = server.wait_for("the ping", |r| r.is_rpc("ping")).await;
    let init_answered = server.answered_tick(initialized.index).unwrap();
    let get_answered = server.answered_tick(get.index).expect("GET answered");
    assert!(
        init_answered < get.tick,
        "GET before initialized was accepted:\n{}",
        server.dump()
    );
    assert!(
        get_answered < ping.tick,
        "ping POSTed before the GET was answered:\n{}",
        server.dump()
    );
}

/// H8: a GET answered 405 means "no stream": it is not retried for the whole session.
#[tokio::test]
async fn get_answered_405_is_not_retried() {
    let server = Scripted::start().await;
    let mut b = server.ready_bridge("2025-06-18").await;
    server.wait_for("the GET", |r| r.is_get()).await;
    for id in ["1", "2", "3"] {
        b.send(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#))
            .await;
        assert_eq!(
            b.recv_checked().await,
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#)
        );
    }
    let (status, _) = b.finish(EXIT).await;
    assert!(status.is_some());
    assert_eq!(
        server.matching(|r| r.is_get()).len(),
        1,
        "{}",
        server.dump()
    );
}

/// Makes every POST carrying session `sess` draw 404, optionally held until `gate` opens.
fn expire(server: &Scripted, sess: &'static str, gate: Option<Gate>) {
    server.always(
        move |r| r.is_post() && r.session() == Some(sess),
        move |_| {
            let gate = gate.clone();
            Reply::deferred(async move {
                if let Some(g) = gate {
                    g.wait().await;
                }
                status(404)
            })
        },
    );
}

/// H18, 3e: 404 on a request that carried a session id → the bridge re-initializes once
/// (the client's initialize params under a bridge-private id, no session id; its result is
/// not written), sends `notifications/initialized`, reopens GET, then retries the request
/// with the new session; only the retried request's answer reaches stdout.
#[tokio::test]
async fn expired_session_is_reinitialized_and_the_request_retried() {
    let server = Scripted::start().await;
    let mut b = server.ready_bridge("2025-06-18").await;
    server.wait_for("the first GET", |r| r.is_get()).await;
    expire(&server, "sess-1", None);

    let req = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"cursor":"c1"}}"#;
    b.send(req).await;
    assert_eq!(
        b.recv_checked().await,
        r#"{"jsonrpc":"2.0","id":7,"result":{}}"#
    );

    let all = server.requests();
    let client_init = all.iter().find(|r| is_init(r)).unwrap();
    let failed = server.wait_for("the first tools/list", has_id("7")).await;
    assert_eq!(failed.session(), Some("sess-1"));
    let reinit = server.wait_for("the re-initialize", is_private_init).await;
    assert_eq!(reinit.session(), None, "re-initialize carried a session id");
    assert_eq!(
        reinit.json()["params"],
        client_init.json()["params"],
        "re-initialize params differ from the client's"
    );
    assert_eq!(
        server.matching(is_init).len(),
        2,
        "initialize count:\n{}",
        server.dump()
    );
    let initialized = server
        .wait_nth("second initialized", 1, |r| {
            r.is_rpc("notifications/initialized")
        })
        .await;
    let get = server.wait_nth("second GET", 1, |r| r.is_get()).await;
    let retried = server
        .wait_nth("the retried tools/list", 1, has_id("7"))
        .await;
    assert_eq!(retried.body_str(), req, "retried body differs");
    for r in [&initialized, &get, &retried] {
        assert_eq!(r.session(), Some("sess-2"), "{}", server.dump());
        assert_eq!(r.protocol_version(), Some("2025-06-18"));
    }
    assert!(
        failed.tick < reinit.tick
            && reinit.tick < initialized.tick
            && initialized.tick < get.tick
            && get.tick < retried.tick,
        "order is not 404 → initialize → initialized → GET → retry:\n{}",
        server.dump()
    );
    let (_, rest) = b.finish(EXIT).await;
    assert!(
        rest.is_empty(),
        "unexpected lines (re-init result?): {rest:#?}"
    );
}

/// H18: two requests failing with 404 at the same time share ONE re-initialize; both are
/// retried on the new session and both answers reach stdout.
#[tokio::test]
async fn concurrent_404s_share_one_reinitialize() {
    let server = Scripted::start().await;
    let mut b = server.ready_bridge("2025-06-18").await;
    let gate = Gate::new();
    expire(&server, "sess-1", Some(gate.clone()));
    b.send(r#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#)
        .await;
    b.send(r#"{"jsonrpc":"2.0","id":"b","method":"prompts/list"}"#)
        .await;
    server.wait_for("request a", has_id(r#""a""#)).await;
    server.wait_for("request b", has_id(r#""b""#)).await;
    gate.open();
    let mut got = [b.recv_checked().await, b.recv_checked().await];
    got.sort();
    assert_eq!(
        got,
        [
            r#"{"jsonrpc":"2.0","id":"a","result":{}}"#.to_string(),
            r#"{"jsonrpc":"2.0","id":"b","result":{}}"#.to_string(),
        ]
    );
    let (_, rest) = b.finish(EXIT).await;
    assert!(rest.is_empty(), "{rest:#?}");
    assert_eq!(
        server.matching(is_private_init).len(),
        1,
        "re-initialize count:\n{}",
        server.dump()
    );
    for id in [r#""a""#, r#""b""#] {
        let tries: Vec<Recorded> = server.matching(|r| r.rpc_id_raw().as_deref() == Some(id));
        assert_eq!(tries.len(), 2, "{}", server.dump());
        assert_eq!(tries[1].session(), Some("sess-2"));
    }
}

/// H18: when the re-initialize itself fails, each pending request gets exactly one
/// JSON-RPC error (-32603) with its own id, and the bridge keeps running.
#[tokio::test]
async fn failed_reinitialize_answers_each_pending_request_with_an_error() {
    let server = Scripted::start().await;
    let mut b = server.ready_bridge("2025-06-18").await;
    let gate = Gate::new();
    expire(&server, "sess-1", Some(gate.clone()));
    server.always(is_private_init, |_| text(500, "upstream down"));
    b.send(r#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#)
        .await;
    b.send(r#"{"jsonrpc":"2.0","id":"b","method":"prompts/list"}"#)
        .await;
    server.wait_for("request a", has_id(r#""a""#)).await;
    server.wait_for("request b", has_id(r#""b""#)).await;
    gate.open();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let v: Value = assert_jsonrpc(&b.recv().await);
        assert_eq!(v["error"]["code"], -32603, "{v}");
        assert!(v.get("result").is_none());
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    ids.sort();
    assert_eq!(ids, ["a", "b"]);
    // Still alive: EOF ends it cleanly and nothing else was written.
    let (status, rest) = b.finish(EXIT).await;
    assert!(status.is_some());
    assert!(rest.is_empty(), "{rest:#?}");
}

/// H13, H14, 3g: the POST's SSE stream sends a priming event `id: e1` with `retry` and is
/// cut; the bridge GETs with `Last-Event-ID: e1` (with the session headers) no sooner than
/// the retry delay, the response delivered on that GET reaches stdout, and the bridge then
/// drops that GET although the server keeps it open (H15).
#[tokio::test]
async fn cut_post_stream_is_resumed_with_last_event_id() {
    let server = Scripted::start().await;
    // A real standalone GET stream (kept open), so GET is known to be supported.
    let (standalone, _keep) = sse_stream();
    server.once(
        |r| r.is_get() && r.header("last-event-id").is_none(),
        standalone,
    );
    let (reply, tx) = sse_stream();
    server.once(has_id("9"), reply);
    let answer =
        r#"{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"resumed"}]}}"#;
    let (resumed, resumed_tx) = sse_stream();
    resumed_tx.send(Sse::id("e2", answer));
    server.once(
        |r| r.is_get() && r.header("last-event-id").is_some(),
        resumed,
    );
    let mut b = server.ready_bridge("2025-06-18").await;
    server.wait_for("the standalone GET", |r| r.is_get()).await;
    b.send(r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"long"}}"#)
        .await;
    server.wait_for("the tools/call POST", has_id("9")).await;
    const RETRY_MS: u64 = 250;
    tx.send(Sse::Raw(format!("id: e1\nretry: {RETRY_MS}\ndata:\n\n")));
    let cut_at = Instant::now();
    tx.cut();
    assert_eq!(b.recv_checked().await, answer);

    let resume = server
        .wait_for("the resuming GET", |r| {
            r.is_get() && r.header("last-event-id").is_some()
        })
        .await;
    assert_eq!(resume.header("last-event-id"), Some("e1"));
    assert_eq!(resume.session(), Some("sess-1"));
    assert_eq!(resume.protocol_version(), Some("2025-06-18"));
    assert!(
        resume.at.duration_since(cut_at) >= Duration::from_millis(RETRY_MS),
        "resumed {:?} after the cut, retry was {RETRY_MS} ms",
        resume.at.duration_since(cut_at)
    );
    // H15: the resuming GET is dropped once it delivered the response.
    tokio::time::timeout(Duration::from_secs(5), resumed_tx.closed())
        .await
        .expect("the bridge kept the resuming GET open after the response");
    let (_, rest) = b.finish(EXIT).await;
    assert!(rest.is_empty(), "{rest:#?}");
}

/// H13, 3g: the standalone GET stream, cut after an event id, is reopened with
/// `Last-Event-ID`, and messages on the new stream reach stdout.
#[tokio::test]
async fn cut_get_stream_is_resumed_with_last_event_id() {
    let server = Scripted::start().await;
    let (first, tx) = sse_stream();
    server.once(|r| r.is_get() && r.header("last-event-id").is_none(), first);
    let (second, tx2) = sse_stream();
    server.once(
        |r| r.is_get() && r.header("last-event-id") == Some("g1"),
        second,
    );
    let mut b = server.ready_bridge("2025-06-18").await;
    server.wait_for("the GET", |r| r.is_get()).await;
    let n1 =
        r#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"a://1"}}"#;
    tx.send(Sse::Retry(50));
    tx.send(Sse::id("g1", n1));
    assert_eq!(b.recv_checked().await, n1);
    tx.cut();
    let resume = server
        .wait_for("the resuming GET", |r| {
            r.is_get() && r.header("last-event-id").is_some()
        })
        .await;
    assert_eq!(resume.header("last-event-id"), Some("g1"));
    assert_eq!(resume.session(), Some("sess-1"));
    let n2 =
        r#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"a://2"}}"#;
    tx2.send(Sse::id("g2", n2));
    assert_eq!(b.recv_checked().await, n2);
    drop(tx2);
}

/// 3g: a POST's SSE stream that breaks before any event id: the request gets one JSON-RPC
/// error (-32603) with its id; messages before the break were delivered; no resumption GET.
#[tokio::test]
async fn stream_cut_without_event_id_answers_with_an_error() {
    let server = Scripted::start().await;
    let progress = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}"#;
    server.once(has_id(r#""x""#), sse(vec![Sse::msg(progress), Sse::Cut]));
    let mut b = server.ready_bridge("2025-06-18").await;
    b.send(r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"n","_meta":{"progressToken":"t"}}}"#).await;
    assert_eq!(b.recv_checked().await, progress);
    let err = assert_jsonrpc(&b.recv().await);
    assert_eq!(err["id"], "x", "{err}");
    assert_eq!(err["error"]["code"], -32603, "{err}");
    let (_, rest) = b.finish(EXIT).await;
    assert!(rest.is_empty(), "{rest:#?}");
    assert!(
        server
            .matching(|r| r.header("last-event-id").is_some())
            .is_empty(),
        "{}",
        server.dump()
    );
}

/// 3g: same with a stream that ends cleanly without delivering the response.
#[tokio::test]
async fn stream_ended_without_response_answers_with_an_error() {
    let server = Scripted::start().await;
    server.once(has_id(r#""y""#), sse(vec![Sse::Comment("bye".into())]));
    let mut b = server.ready_bridge("2025-06-18").await;
    b.send(r#"{"jsonrpc":"2.0","id":"y","method":"tools/call","params":{"name":"n"}}"#)
        .await;
    let err = assert_jsonrpc(&b.recv().await);
    assert_eq!(err["id"], "y", "{err}");
    assert_eq!(err["error"]["code"], -32603, "{err}");
}
