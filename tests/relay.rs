//! Exact-byte relay behaviour of the bridge against the scripted server: what goes out as a
//! POST body, what comes out on stdout, SSE delivery in real time, concurrency, the GET
//! stream, cancellation and batches (issue #2 points 3a–3d, 3f, 3h, 3i; S1, S7, H4–H8, J1,
//! J4, J7).
//!
//! Ordering is proven with events (the server holds a reply until the test saw something on
//! stdout), never with sleeps.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::driver::{Bridge, assert_jsonrpc};
use crate::support::scripted::{Gate, Reply, Scripted, Sse, json, sse, sse_stream};
use serde_json::Value;

/// Bound for the bridge to exit after stdin EOF in these tests (shutdown.rs owns the
/// real bound).
const EXIT: Duration = Duration::from_secs(5);
/// Deadline for the bridge to drop a request's stream after its response was delivered.
const STREAM_DROP: Duration = Duration::from_secs(5);

/// Ends the bridge (stdin EOF) and asserts it wrote nothing more.
async fn nothing_more(mut b: Bridge) {
    let (status, rest) = b.finish(EXIT).await;
    assert!(status.is_some(), "bridge did not exit after stdin EOF");
    assert!(rest.is_empty(), "unexpected stdout lines: {rest:#?}");
}

fn has_id(raw: &'static str) -> impl Fn(&crate::support::scripted::Recorded) -> bool {
    move |r| r.is_post() && r.rpc_id_raw().as_deref() == Some(raw)
}

/// 3a, 3d, J1: the POST body is the exact stdin line; the answer's unknown fields, key
/// order, `1.0`, exponents and integers beyond i64 come back byte for byte.
#[tokio::test]
async fn post_body_is_the_stdin_line_and_the_answer_is_unchanged() {
    let server = Scripted::start().await;
    let answer = r#"{"jsonrpc":"2.0","id":"1","result":{"zz":1.0,"aa":9223372036854775808,"content":[{"type":"text","text":"ok"}],"x-extra":{"e":1e5,"f":2.50},"_meta":{"io.example/k":true}}}"#;
    server.once(has_id(r#""1""#), json(200, answer));
    let mut b = server.ready_bridge("2025-06-18").await;

    let req = r#"{"jsonrpc":"2.0","id":"1","method":"tools/call","params":{"name":"get_shop_status","arguments":{"ratio":1.0,"big":9223372036854775808,"e":1e5,"f":2.50},"_meta":{"progressToken":"p"},"x-unknown":{"$schema":"https://json-schema.org/draft/2020-12/schema"}}}"#;
    b.send(req).await;
    let post = server
        .wait_for("the tools/call POST", has_id(r#""1""#))
        .await;
    assert_eq!(
        post.body_str(),
        req,
        "POST body differs from the stdin line"
    );
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(b.recv_checked().await, answer);
    nothing_more(b).await;
}

/// J1: `"1"` and `1` are different ids, `9223372036854775808` is kept; each answer goes
/// back with its own id, unchanged, and each request gets exactly one answer.
#[tokio::test]
async fn ids_of_every_shape_are_kept_both_ways() {
    let server = Scripted::start().await;
    server.always(
        |r| r.is_rpc("tools/list"),
        |r| {
            let id = r.rpc_id_raw().unwrap();
            json(
                200,
                format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"sawId":{id}}}}}"#),
            )
        },
    );
    let mut b = server.ready_bridge("2025-06-18").await;
    let ids = [r#""1""#, "1", "9223372036854775808", r#""wazion""#];
    let mut expected = BTreeSet::new();
    for id in ids {
        let req = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#);
        b.send(&req).await;
        expected.insert(format!(
            r#"{{"jsonrpc":"2.0","id":{id},"result":{{"sawId":{id}}}}}"#
        ));
    }
    let mut got = BTreeSet::new();
    for _ in ids {
        got.insert(b.recv_checked().await);
    }
    assert_eq!(got, expected);
    let bodies: BTreeSet<String> = server
        .matching(|r| r.is_rpc("tools/list"))
        .iter()
        .map(|r| r.body_str().to_string())
        .collect();
    let sent: BTreeSet<String> = ids
        .iter()
        .map(|id| format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#))
        .collect();
    assert_eq!(bodies, sent);
    nothing_more(b).await;
}

/// S1, 3d: a pretty-printed (multi-line) JSON answer arrives as one line with the same
/// content: only the whitespace between tokens is gone; strings, numbers and key order stay.
#[tokio::test]
async fn pretty_printed_json_answer_becomes_one_compact_line() {
    let server = Scripted::start().await;
    let pretty = "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 7,\n  \"result\": {\n    \"zeta\": \"two  spaces, a\\nescaped newline\\t and tab\",\n    \"alpha\": [\n      1.0,\n      9223372036854775808,\n      {}\n    ],\n    \"empty\": \"\"\n  }\n}\n";
    let compact = r#"{"jsonrpc":"2.0","id":7,"result":{"zeta":"two  spaces, a\nescaped newline\t and tab","alpha":[1.0,9223372036854775808,{}],"empty":""}}"#;
    server.once(has_id("7"), json(200, pretty));
    let mut b = server.ready_bridge("2025-06-18").await;
    b.send(r#"{"jsonrpc":"2.0","id":7,"method":"resources/list"}"#)
        .await;
    assert_eq!(b.recv_checked().await, compact);
    nothing_more(b).await;
}

/// A multi-megabyte answer crosses stdout byte for byte, and on Linux the bridge has asked
/// for a 1 MiB stdout pipe (or the system's maximum), so a large message needs a few wake-ups of
/// the client instead of one per 64 KiB (issue #4, measured in benches/relay.rs).
#[tokio::test]
async fn large_answers_cross_a_grown_stdout_pipe_unchanged() {
    let server = Scripted::start().await;
    let text = r#"Order 1234: 2 × \"blue mug\", shipped\n; "#.repeat(80_000);
    let answer = format!(
        r#"{{"jsonrpc":"2.0","id":8,"result":{{"content":[{{"type":"text","text":"{text}"}}]}}}}"#
    );
    assert!(answer.len() > 3 << 20);
    server.once(has_id("8"), json(200, answer.clone()));
    let mut b = server.ready_bridge("2025-06-18").await;
    #[cfg(target_os = "linux")]
    {
        let max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .unwrap_or(1 << 20);
        assert_eq!(b.stdout_pipe_bytes(), Some(max.min(1 << 20)));
    }
    b.send(r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"big"}}"#)
        .await;
    let got = b.recv_checked().await;
    assert_eq!(got.len(), answer.len());
    assert!(got == answer, "the large answer changed on its way");
    nothing_more(b).await;
}

/// S1: an SSE event whose data spans several `data:` lines (joined with `\n`) is written as
/// one compact line.
#[tokio::test]
async fn multi_line_sse_data_becomes_one_compact_line() {
    let server = Scripted::start().await;
    let data =
        "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 8,\n  \"result\": {\"b\": 1.0, \"a\": \"x y\"}\n}";
    server.once(has_id("8"), sse(vec![Sse::msg(data)]));
    let mut b = server.ready_bridge("2025-06-18").await;
    b.send(r#"{"jsonrpc":"2.0","id":8,"method":"prompts/list"}"#)
        .await;
    assert_eq!(
        b.recv_checked().await,
        r#"{"jsonrpc":"2.0","id":8,"result":{"b":1.0,"a":"x y"}}"#
    );
    nothing_more(b).await;
}

/// 3c, H6, H14, H15: each `message` event is written when it arrives. The server sends the
/// final response only after the test read the progress notification on stdout; the
/// priming event (id, empty data) and comments never reach stdout; once the response is
/// delivered the bridge drops the stream although the server keeps it open.
#[tokio::test]
async fn sse_events_are_written_as_they_arrive() {
    let server = Scripted::start().await;
    let (reply, tx) = sse_stream();
    server.once(has_id("3"), reply);
    let mut b = server.ready_bridge("2025-06-18").await;
    b.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"slow","arguments":{},"_meta":{"progressToken":"tok"}}}"#).await;
    server.wait_for("the tools/call POST", has_id("3")).await;

    let progress = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok","progress":1,"total":2,"message":"half"}}"#;
    let log = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":{"n":1.0}}}"#;
    tx.send(Sse::Priming("p0".into()));
    tx.send(Sse::Comment("keep-alive".into()));
    tx.msg(progress);
    assert_eq!(b.recv_checked().await, progress);
    tx.send(Sse::Comment("keep-alive".into()));
    tx.msg(log);
    assert_eq!(b.recv_checked().await, log);

    let fin = r#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"done"}],"isError":false}}"#;
    tx.msg(fin);
    assert_eq!(b.recv_checked().await, fin);
    // H15: the server keeps the stream open; the bridge drops it once the answer is in.
    tokio::time::timeout(STREAM_DROP, tx.closed())
        .await
        .expect("the bridge kept reading the stream after the response");
    nothing_more(b).await;
}

/// 3c, H4: a 202 answer (notification, client response) writes nothing; the next line is
/// the answer to the next request.
#[tokio::test]
async fn accepted_202_writes_nothing() {
    let server = Scripted::start().await;
    let mut b = server.ready_bridge("2025-06-18").await;
    b.send(r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#)
        .await;
    server
        .wait_for("the list_changed POST", |r| {
            r.is_rpc("notifications/roots/list_changed")
        })
        .await;
    b.send(r#"{"jsonrpc":"2.0","id":"after","method":"ping"}"#)
        .await;
    assert_eq!(
        b.recv_checked().await,
        r#"{"jsonrpc":"2.0","id":"after","result":{}}"#
    );
    nothing_more(b).await;
}

/// 3b: requests run concurrently. The server holds request A until the test read B's answer
/// on stdout; a bridge that serialises requests never posts B and fails here.
#[tokio::test]
async fn a_slow_request_does_not_delay_a_fast_one() {
    let server = Scripted::start().await;
    let gate = Gate::new();
    let g = gate.clone();
    server.once(
        has_id(r#""slow""#),
        Reply::deferred(async move {
            g.wait().await;
            json(
                200,
                r#"{"jsonrpc":"2.0","id":"slow","result":{"slow":true}}"#,
            )
        }),
    );
    let mut b = server.ready_bridge("2025-06-18").await;
    b.send(r#"{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"slow"}}"#)
        .await;
    server.wait_for("the slow POST", has_id(r#""slow""#)).await;
    b.send(r#"{"jsonrpc":"2.0","id":"fast","method":"ping"}"#)
        .await;
    assert_eq!(
        b.recv_checked().await,
        r#"{"jsonrpc":"2.0","id":"fast","result":{}}"#
    );
    gate.open();
    assert_eq!(
        b.recv_checked().await,
        r#"{"jsonrpc":"2.0","id":"slow","result":{"slow":true}}"#
    );
    nothing_more(b).await;
}

/// 3f, H8, J6, J7: requests and notifications on the GET stream reach stdout unchanged; the
/// client's answers on stdin are POSTed with their exact bytes (and draw 202, so nothing is
/// written for them).
#[tokio::test]
async fn server_requests_on_the_get_stream_round_trip() {
    let server = Scripted::start().await;
    let (reply, get) = sse_stream();
    server.once(|r| r.is_get(), reply);
    let mut b = server.ready_bridge("2025-06-18").await;
    server.wait_for("the GET stream", |r| r.is_get()).await;

    let roots =
        r#"{"jsonrpc":"2.0","id":"srv-1","method":"roots/list","params":{"_meta":{"k":1.0}}}"#;
    get.msg(roots);
    assert_eq!(b.recv_checked().await, roots);
    let answer =
        r#"{"jsonrpc":"2.0","id":"srv-1","result":{"roots":[{"uri":"file:///tmp","name":"tmp"}]}}"#;
    b.send(answer).await;
    let posted = server
        .wait_for("the roots/list answer POST", has_id(r#""srv-1""#))
        .await;
    assert_eq!(posted.body_str(), answer);

    let ping = r#"{"jsonrpc":"2.0","id":42,"method":"ping"}"#;
    let changed = r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;
    get.msg(changed);
    get.msg(ping);
    assert_eq!(b.recv_checked().await, changed);
    assert_eq!(b.recv_checked().await, ping);
    b.send(r#"{"jsonrpc":"2.0","id":42,"result":{}}"#).await;
    let pong = server.wait_for("the ping answer POST", has_id("42")).await;
    assert_eq!(pong.body_str(), r#"{"jsonrpc":"2.0","id":42,"result":{}}"#);
    nothing_more(b).await;
}

/// 3h, J4, H7: `notifications/cancelled` is POSTed at once, with its exact bytes, while the
/// target request's SSE stream is still open (the server has not answered it).
#[tokio::test]
async fn cancellation_is_forwarded_while_the_stream_is_open() {
    let server = Scripted::start().await;
    let (reply, tx) = sse_stream();
    server.once(has_id("5"), reply);
    let mut b = server.ready_bridge("2025-06-18").await;
    b.send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"long"}}"#)
        .await;
    server.wait_for("the tools/call POST", has_id("5")).await;
    tx.send(Sse::Priming("c0".into()));

    let cancel = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5,"reason":"user pressed stop"}}"#;
    b.send(cancel).await;
    let posted = server
        .wait_for("the cancellation POST", |r| {
            r.is_rpc("notifications/cancelled")
        })
        .await;
    assert_eq!(posted.body_str(), cancel);

    // The client expects no answer any more (J4): a late answer from the server may be
    // relayed or dropped, but never twice, and the bridge invents none.
    let fin = r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32800,"message":"cancelled"}}"#;
    tx.msg(fin);
    drop(tx);
    let (status, rest) = b.finish(EXIT).await;
    assert!(status.is_some(), "bridge did not exit after stdin EOF");
    assert!(
        rest.is_empty() || rest == [fin.to_string()],
        "after cancellation: {rest:#?}"
    );
}

const BATCH: &str = r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/roots/list_changed"},{"jsonrpc":"2.0","id":"two","method":"ping","params":{"x":1.0}}]"#;

/// S7, 3i: after negotiating 2025-03-26 a batch line is ONE POST with the exact bytes, and
/// the array answer comes out as one message per line, in order.
#[tokio::test]
async fn batch_is_one_post_under_2025_03_26() {
    let server = Scripted::builder()
        .protocol_version("2025-03-26")
        .start()
        .await;
    let answer = r#"[{"jsonrpc":"2.0","id":1,"result":{"tools":[]}},{"jsonrpc":"2.0","id":"two","result":{"y":2.0}}]"#;
    server.once(
        |r| r.is_post() && r.body.starts_with(b"["),
        json(200, answer),
    );
    let mut b = server.ready_bridge("2025-03-26").await;
    b.send(BATCH).await;
    assert_eq!(
        b.recv_checked().await,
        r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#
    );
    assert_eq!(
        b.recv_checked().await,
        r#"{"jsonrpc":"2.0","id":"two","result":{"y":2.0}}"#
    );
    let (status, rest) = b.finish(EXIT).await;
    assert!(status.is_some() && rest.is_empty(), "left over: {rest:#?}");
    let posts: Vec<String> = server
        .matching(|r| r.is_post())
        .iter()
        .map(|r| r.body_str().to_string())
        .filter(|b| !b.contains(r#""initialize""#) && !b.contains("notifications/initialized"))
        .collect();
    assert_eq!(posts, vec![BATCH.to_string()], "{}", server.dump());
}

/// A batch holds one `--max-in-flight` permit per request, but never waits for permits it
/// holds itself: a batch of two under `--max-in-flight 1` is still sent and answered.
#[tokio::test]
async fn a_batch_larger_than_max_in_flight_is_still_sent() {
    let server = Scripted::builder()
        .protocol_version("2025-03-26")
        .start()
        .await;
    let answer = r#"[{"jsonrpc":"2.0","id":1,"result":{"tools":[]}},{"jsonrpc":"2.0","id":"two","result":{}}]"#;
    server.once(
        |r| r.is_post() && r.body.starts_with(b"["),
        json(200, answer),
    );
    let mut b = crate::support::driver::BridgeCmd::new(&server.url())
        .arg("--max-in-flight")
        .arg("1")
        .spawn();
    b.handshake("2025-03-26").await;
    b.send(BATCH).await;
    let ids: BTreeSet<String> = [b.recv_checked().await, b.recv_checked().await]
        .iter()
        .map(|l| assert_jsonrpc(l)["id"].to_string())
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from(["1".to_string(), "\"two\"".to_string()])
    );
    let (status, rest) = b.finish(EXIT).await;
    assert!(status.is_some() && rest.is_empty(), "left over: {rest:#?}");
}

/// S7, 3i: with 2025-06-18 (no batches) the same line is split into one POST per element,
/// each with the element's exact bytes; every request is answered on its own line and the
/// notification draws nothing.
#[tokio::test]
async fn batch_is_split_under_2025_06_18() {
    let server = Scripted::builder()
        .protocol_version("2025-06-18")
        .start()
        .await;
    let mut b = server.ready_bridge("2025-06-18").await;
    b.send(BATCH).await;
    let got: BTreeSet<String> = [b.recv_checked().await, b.recv_checked().await].into();
    let want: BTreeSet<String> = [
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":"two","result":{}}"#.to_string(),
    ]
    .into();
    assert_eq!(got, want);
    server
        .wait_for("the list_changed POST", |r| {
            r.is_rpc("notifications/roots/list_changed")
        })
        .await;
    let (status, rest) = b.finish(EXIT).await;
    assert!(status.is_some() && rest.is_empty(), "left over: {rest:#?}");
    let posts: BTreeSet<String> = server
        .matching(|r| r.is_post())
        .iter()
        .map(|r| r.body_str().to_string())
        .filter(|b| !b.contains(r#""initialize""#) && !b.contains("notifications/initialized"))
        .collect();
    let elements: BTreeSet<String> = [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#,
        r#"{"jsonrpc":"2.0","id":"two","method":"ping","params":{"x":1.0}}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(posts, elements, "{}", server.dump());
}

/// 3a: blank stdin lines are ignored: no POST, nothing on stdout.
#[tokio::test]
async fn blank_stdin_lines_are_ignored() {
    let server = Scripted::start().await;
    let mut b = server.ready_bridge("2025-06-18").await;
    b.send_raw(b"\n\n\n").await;
    b.send(r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#)
        .await;
    assert_eq!(
        b.recv_checked().await,
        r#"{"jsonrpc":"2.0","id":"p","result":{}}"#
    );
    nothing_more(b).await;
    let posts: Vec<String> = server
        .matching(|r| r.is_post())
        .iter()
        .map(|r| r.body_str().to_string())
        .collect();
    assert_eq!(posts.len(), 3, "{}", server.dump());
    assert_eq!(posts[2], r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#);
}

/// S1, S3, J2: in a session mixing JSON answers, SSE with progress, a multi-line payload,
/// a server request, a batch-shaped answer and a broken stream (synthesised error), every
/// stdout line is one valid JSON-RPC 2.0 message and each request is answered exactly once.
#[tokio::test]
async fn every_stdout_line_is_jsonrpc() {
    let server = Scripted::start().await;
    server.once(
        has_id("1"),
        sse(vec![
            Sse::Priming("a0".into()),
            Sse::msg(r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#),
            Sse::msg(r#"{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{"messages":[],"maxTokens":1}}"#),
            Sse::msg("{\"jsonrpc\":\"2.0\",\n\"id\":1,\n\"result\":{}}"),
        ]),
    );
    server.once(
        has_id("2"),
        sse(vec![
            Sse::msg(r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}"#),
            Sse::Cut,
        ]),
    );
    server.once(
        has_id("3"),
        json(
            200,
            "{\n\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32602,\"message\":\"bad\"}}",
        ),
    );
    let mut b = server.ready_bridge("2025-06-18").await;
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","_meta":{"progressToken":1}}}"#).await;
    b.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"b"}}"#)
        .await;
    b.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"c"}}"#)
        .await;
    let mut answered = Vec::new();
    let mut lines = Vec::new();
    while answered.len() < 3 {
        let l = b.recv().await;
        let v = assert_jsonrpc(&l);
        if v.get("method").is_none() {
            answered.push(v["id"].clone());
        }
        lines.push(l);
    }
    answered.sort_by_key(|v| v.as_i64());
    assert_eq!(
        answered,
        vec![Value::from(1), Value::from(2), Value::from(3)],
        "{lines:#?}"
    );
    let (_, rest) = b.finish(EXIT).await;
    for l in &rest {
        let v = assert_jsonrpc(l);
        assert!(v.get("method").is_some(), "second answer: {l}");
    }
}
