//! Bad input, issue #3 §2: malformed client lines on stdin and malformed server output.
//! None may crash the bridge, panic, grow its memory without bound or overflow its stack.
//! Each gets one clear stderr line; where an id is readable the request gets a JSON-RPC
//! error (-32700 / -32600 / -32603) with that id; nothing malformed reaches the server or
//! stdout; and the bridge keeps serving, which every test proves with a normal request
//! answered afterwards and a clean exit (0) on EOF with no stray stdout line.
//!
//! The bridges run at the default log level (info), so the stderr lines counted are the
//! ones a user sees; stdin problems are recognised by the word "stdin", server problems by
//! the server's `host:port`.

use std::time::{Duration, Instant};

use crate::support::driver::{Bridge, BridgeCmd, assert_jsonrpc};
use crate::support::scripted::{Recorded, Scripted, Sse, json, sse, sse_stream, typed};
use serde_json::Value;

const VERSION: &str = "2025-06-18";
const ANSWER_BOUND: Duration = Duration::from_secs(5);
const EXIT_BOUND: Duration = Duration::from_millis(2500);
/// Nesting depth of the deep-JSON inputs.
const DEEP: usize = 100_000;

// ----- helpers -------------------------------------------------------------------------

async fn ready_with(server: &Scripted, args: &[&str]) -> Bridge {
    let mut cmd = BridgeCmd::new(&server.url());
    for a in args {
        cmd = cmd.arg(a);
    }
    let mut b = cmd.spawn();
    let init = b.handshake(VERSION).await;
    assert_eq!(init["result"]["protocolVersion"], VERSION, "{init}");
    server
        .wait_for("notifications/initialized", |r| {
            r.is_rpc("notifications/initialized")
        })
        .await;
    b
}

async fn ready(server: &Scripted) -> Bridge {
    ready_with(server, &[]).await
}

fn has_id(raw: impl Into<String>) -> impl Fn(&Recorded) -> bool + Send + Sync + 'static {
    let raw = raw.into();
    move |r| r.is_post() && r.rpc_id_raw().as_deref() == Some(raw.as_str())
}

/// Requests that are neither the handshake, the GET stream nor the final DELETE.
fn traffic(server: &Scripted) -> Vec<Recorded> {
    server.matching(|r| {
        r.is_post() && !r.is_rpc("initialize") && !r.is_rpc("notifications/initialized")
    })
}

fn call(raw_id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{raw_id},"method":"tools/call","params":{{"name":"work","arguments":{{}}}}}}"#
    )
}

/// Reads stdout until the response for `raw_id` (JSON text) arrives; every line must be
/// JSON-RPC and none may be something else. Panics after [`ANSWER_BOUND`].
async fn answer(b: &mut Bridge, raw_id: &str) -> Value {
    let id: Value = serde_json::from_str(raw_id).expect("raw id is JSON");
    let Some(line) = b.recv_within(ANSWER_BOUND).await else {
        panic!(
            "request {raw_id} not answered within {ANSWER_BOUND:?}; bridge stderr:\n{}",
            b.stderr()
        );
    };
    let v = assert_jsonrpc(&line);
    assert_eq!(
        v.get("id"),
        Some(&id),
        "expected the answer to {raw_id}: {line}"
    );
    v
}

/// Asserts `v` is a JSON-RPC error with `code`; returns its message.
fn error_with(v: &Value, code: i64) -> &str {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(v.get("result").is_none(), "{v}");
    let m = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        m.split_whitespace().count() >= 2,
        "not a clear message: {v}"
    );
    m
}

/// Proves the bridge still serves: `tools/list` with `raw_id` gets the server's answer as
/// the very next stdout line (so the bad input produced no stray line before it).
async fn still_serves(b: &mut Bridge, raw_id: &str) {
    b.send(&format!(
        r#"{{"jsonrpc":"2.0","id":{raw_id},"method":"tools/list"}}"#
    ))
    .await;
    let v = answer(b, raw_id).await;
    assert!(v.get("result").is_some(), "not served: {v}");
}

/// The stderr lines matching `pred`, once at least `n` appeared (deadline), checked to be
/// exactly `n`.
async fn stderr_lines(
    b: &Bridge,
    n: usize,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + ANSWER_BOUND;
    loop {
        let lines = b.stderr_lines(&pred);
        if lines.len() >= n || Instant::now() >= deadline {
            assert_eq!(
                lines.len(),
                n,
                "expected {n} stderr line(s) about {what}; stderr:\n{}",
                b.stderr()
            );
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn about_stdin(l: &str) -> bool {
    l.contains("stdin")
}

/// EOF → exit 0 within 2.5 s, no stdout line left unread, no panic on stderr.
async fn ends_cleanly(mut b: Bridge) {
    b.close_stdin();
    let st = b.wait_exit(EXIT_BOUND).await.unwrap_or_else(|| {
        panic!(
            "still running {EXIT_BOUND:?} after EOF; stderr:\n{}",
            b.stderr()
        )
    });
    assert_eq!(st.code(), Some(0), "{st:?}; stderr:\n{}", b.stderr());
    let rest = b.drain(Duration::from_millis(200)).await;
    assert!(rest.is_empty(), "stray stdout lines: {rest:#?}");
    let err = b.stderr();
    assert!(
        !err.contains("panicked") && !err.contains("overflow"),
        "stderr:\n{err}"
    );
}

/// One stdin line the bridge must reject without an answer (no id readable): one stderr
/// line, nothing sent to the server, nothing on stdout, still serving.
async fn rejected_silently(line: &[u8]) {
    let server = Scripted::start().await;
    let mut b = ready(&server).await;
    b.send_raw(line).await;
    b.send_raw(b"\n").await;
    still_serves(&mut b, "100").await;
    stderr_lines(&b, 1, "the bad line", about_stdin).await;
    ends_cleanly(b).await;
    let sent = traffic(&server);
    assert_eq!(
        sent.len(),
        1,
        "the bad line reached the server:\n{}",
        server.dump()
    );
}

// ----- stdin ---------------------------------------------------------------------------

/// #3 §2 "invalid JSON" without a readable id: one stderr line, no answer, not forwarded.
#[tokio::test]
async fn invalid_json_is_logged_and_dropped() {
    rejected_silently(b"this is not json {").await;
}

/// #3 §2 "invalid JSON" whose id is readable (a truncated request): that request gets a
/// -32700 error with its id, so the client is not left waiting forever.
#[tokio::test]
async fn invalid_json_with_a_readable_id_gets_a_parse_error() {
    let server = Scripted::start().await;
    let mut b = ready(&server).await;
    b.send(r#"{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"work""#)
        .await;
    let v = answer(&mut b, "21").await;
    error_with(&v, -32700);
    stderr_lines(&b, 1, "the invalid JSON", about_stdin).await;
    still_serves(&mut b, "100").await;
    ends_cleanly(b).await;
    assert_eq!(traffic(&server).len(), 1, "{}", server.dump());
}

/// #3 §2 "invalid UTF-8" without a readable id: one stderr line, no answer, not forwarded.
#[tokio::test]
async fn invalid_utf8_is_logged_and_dropped() {
    rejected_silently(b"\xff\xfe\xfd garbage \xc3\x28").await;
}

/// #3 §2 "invalid UTF-8" inside a request whose id is readable: -32700 for that id.
#[tokio::test]
async fn invalid_utf8_with_a_readable_id_gets_a_parse_error() {
    let server = Scripted::start().await;
    let mut b = ready(&server).await;
    b.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":22,\"method\":\"tools/call\",\"params\":{\"name\":\"\xff\xfe\"}}\n")
        .await;
    let v = answer(&mut b, "22").await;
    error_with(&v, -32700);
    stderr_lines(&b, 1, "the invalid UTF-8", about_stdin).await;
    still_serves(&mut b, "100").await;
    ends_cleanly(b).await;
    assert_eq!(traffic(&server).len(), 1, "{}", server.dump());
}

/// #3 §2 "JSON that is not a JSON-RPC message": a bare number.
#[tokio::test]
async fn a_bare_number_is_not_a_message() {
    rejected_silently(b"42").await;
}

/// #3 §2 "JSON that is not a JSON-RPC message": an object with none of its members.
#[tokio::test]
async fn an_object_without_jsonrpc_members_is_not_a_message() {
    rejected_silently(br#"{"hello":1}"#).await;
}

/// #3 §2 "`jsonrpc` missing or not 2.0" with an id: -32600 with that id (kept as written:
/// a number stays a number, a string a string); not forwarded.
#[tokio::test]
async fn wrong_or_missing_jsonrpc_version_gets_invalid_request_with_its_id() {
    let server = Scripted::start().await;
    let mut b = ready(&server).await;
    b.send(r#"{"id":23,"method":"tools/list"}"#).await;
    let v = answer(&mut b, "23").await;
    error_with(&v, -32600);
    b.send(r#"{"jsonrpc":"1.0","id":"v1","method":"tools/list"}"#)
        .await;
    let v = answer(&mut b, r#""v1""#).await;
    error_with(&v, -32600);
    stderr_lines(&b, 2, "the two invalid requests", about_stdin).await;
    still_serves(&mut b, "100").await;
    ends_cleanly(b).await;
    assert_eq!(traffic(&server).len(), 1, "{}", server.dump());
}

/// #3 §2 "an empty batch": one stderr line, no answer (no id), not forwarded.
#[tokio::test]
async fn an_empty_batch_is_logged_and_dropped() {
    rejected_silently(b"[]").await;
    rejected_silently(b" [ \t ] ").await;
}

/// Peak resident memory (VmHWM) of the bridge process, in KiB (Linux: /proc).
#[cfg(target_os = "linux")]
fn peak_rss_kib(b: &Bridge) -> u64 {
    let pid = b.pid().expect("bridge running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// #3 §2 "a line longer than --max-message-bytes": with a 4096-byte limit, a ~1 MB request
/// whose head holds `"id":77` gets a -32600 error for id 77 (naming the limit) and never
/// reaches the server; one stderr line; still serving.
#[tokio::test]
async fn an_over_long_line_is_dropped_and_its_request_answered() {
    let server = Scripted::start().await;
    let mut b = ready_with(&server, &["--max-message-bytes", "4096"]).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":77,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{}"}}}}}}"#,
        "x".repeat(1 << 20)
    );
    b.send(&big).await;
    let v = answer(&mut b, "77").await;
    let m = error_with(&v, -32600);
    assert!(m.contains("max-message-bytes"), "{m}");
    stderr_lines(&b, 1, "the long line", about_stdin).await;
    still_serves(&mut b, "100").await;
    ends_cleanly(b).await;
    let sent = traffic(&server);
    assert_eq!(sent.len(), 1, "{}", server.dump());
    assert!(
        sent.iter().all(|r| r.body.len() < 4096),
        "{}",
        server.dump()
    );
}

/// #3 §2 "drained, never held whole": a 32 MiB line over a 4096-byte limit is drained
/// without being held: the bridge's peak RSS (VmHWM) grows by far less than 32 MiB, and it
/// keeps serving.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn an_over_long_line_is_drained_without_being_held() {
    let server = Scripted::start().await;
    let mut b = ready_with(&server, &["--max-message-bytes", "4096"]).await;
    still_serves(&mut b, "100").await;
    let before = peak_rss_kib(&b);
    let huge_len = 32 << 20;
    let mut huge = Vec::with_capacity(huge_len);
    huge.extend_from_slice(br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"t":""#);
    huge.resize(huge_len - 4, b'y');
    huge.extend_from_slice(b"\"}}\n");
    b.send_raw(&huge).await;
    drop(huge);
    still_serves(&mut b, "101").await;
    let after = peak_rss_kib(&b);
    assert!(
        after < before + 8 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB while draining a 32 MiB line"
    );
    stderr_lines(&b, 1, "the long line", about_stdin).await;
    ends_cleanly(b).await;
    let sent = traffic(&server);
    assert_eq!(sent.len(), 2, "{}", server.dump());
    assert!(
        sent.iter().all(|r| r.body.len() < 4096),
        "{}",
        server.dump()
    );
}

/// #3 §2 "JSON nested 100 000 deep", as a bare array: no stack overflow, one stderr line,
/// nothing forwarded, still serving.
#[tokio::test]
async fn deeply_nested_bare_array_does_not_overflow() {
    let mut line = "[".repeat(DEEP);
    line.push_str(&"]".repeat(DEEP));
    rejected_silently(line.as_bytes()).await;
}

/// #3 §2 "JSON nested 100 000 deep", inside `params` of a request with a readable id: no
/// stack overflow; the request is answered exactly once — forwarded as is (it is valid
/// JSON-RPC) and answered by the server, or refused with an error for id 31.
#[tokio::test]
async fn deeply_nested_params_do_not_overflow_and_are_answered_once() {
    let server = Scripted::start().await;
    let mut b = ready(&server).await;
    let line = format!(
        r#"{{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{{"name":"work","arguments":{{"deep":{}{}}}}}}}"#,
        "[".repeat(DEEP),
        "]".repeat(DEEP)
    );
    b.send(&line).await;
    let v = answer(&mut b, "31").await;
    match server.matching(has_id("31")).as_slice() {
        [] => {
            error_with(&v, v["error"]["code"].as_i64().unwrap_or(0));
            stderr_lines(&b, 1, "the nested request", about_stdin).await;
        }
        [forwarded] => {
            assert_eq!(forwarded.body, line.as_bytes(), "forwarded bytes differ");
            assert!(v.get("result").is_some(), "{v}");
        }
        more => panic!("forwarded {} times", more.len()),
    }
    still_serves(&mut b, "100").await;
    ends_cleanly(b).await;
}

/// The server's side of nesting: a result nested 100 000 deep is relayed whole, on one
/// line, byte for byte (the bridge never parses into it).
#[tokio::test]
async fn deeply_nested_server_result_is_relayed_whole() {
    let server = Scripted::start().await;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":32,"result":{{"deep":{}{}}}}}"#,
        "[".repeat(DEEP),
        "]".repeat(DEEP)
    );
    server.once(has_id("32"), json(200, &body));
    let mut b = ready(&server).await;
    b.send(&call("32")).await;
    let line = b.recv_within(ANSWER_BOUND).await.expect("answer to 32");
    assert!(line == body, "the nested result was not relayed unchanged");
    still_serves(&mut b, "100").await;
    ends_cleanly(b).await;
}

// ----- from the server -----------------------------------------------------------------

/// #3 §2 "from the server: non-JSON body": a 200 whose body is not JSON answers the
/// request with -32603; one stderr line names the server.
#[tokio::test]
async fn non_json_200_body_is_an_error_for_its_request() {
    let server = Scripted::start().await;
    let host = server.addr.to_string();
    server.once(has_id("41"), json(200, "this is not json"));
    server.once(
        has_id("42"),
        typed(
            200,
            "text/html",
            "<html><body>Welcome to nginx!</body></html>",
        ),
    );
    let mut b = ready(&server).await;
    for id in ["41", "42"] {
        b.send(&call(id)).await;
        let v = answer(&mut b, id).await;
        let m = error_with(&v, -32603);
        assert!(m.contains(&host), "{m}");
    }
    let h = host.clone();
    stderr_lines(&b, 2, "the two non-JSON bodies", move |l| l.contains(&h)).await;
    still_serves(&mut b, "100").await;
    ends_cleanly(b).await;
}

/// #3 §2 "invalid JSON in SSE data": the bad event is dropped with one stderr line, and the
/// request is still answered — by the next valid event, or (stream ended) with an error.
#[tokio::test]
async fn invalid_json_in_sse_data_is_skipped_and_the_request_still_answered() {
    let server = Scripted::start().await;
    let host = server.addr.to_string();
    let good = r#"{"jsonrpc":"2.0","id":43,"result":{"ok":true}}"#;
    server.once(
        has_id("43"),
        sse(vec![
            Sse::msg("{\"jsonrpc\":\"2.0\",\"id\":43,"),
            Sse::msg(good),
        ]),
    );
    server.once(has_id("44"), sse(vec![Sse::msg("not json at all")]));
    let mut b = ready(&server).await;

    b.send(&call("43")).await;
    assert_eq!(b.recv_within(ANSWER_BOUND).await.as_deref(), Some(good));
    b.send(&call("44")).await;
    let v = answer(&mut b, "44").await;
    let m = error_with(&v, -32603);
    assert!(m.contains(&host), "{m}");
    let h = host.clone();
    stderr_lines(&b, 2, "the two invalid events", move |l| l.contains(&h)).await;
    still_serves(&mut b, "100").await;
    ends_cleanly(b).await;
}

/// #3 §2 "an SSE event over the limit": with `--max-message-bytes 4096`, a 100 KB event
/// ends its request with an error naming the limit (and is not written); so does a 100 KB
/// JSON body.
#[tokio::test]
async fn oversized_server_messages_are_errors() {
    let server = Scripted::start().await;
    let big = |id: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"result":{{"text":"{}"}}}}"#,
            "z".repeat(100_000)
        )
    };
    let (reply, tx) = sse_stream();
    server.once(has_id("45"), reply);
    server.once(has_id("46"), json(200, big(46)));
    let mut b = ready_with(&server, &["--max-message-bytes", "4096"]).await;

    b.send(&call("45")).await;
    server.wait_for("the call", has_id("45")).await;
    tx.msg(&big(45));
    let v = answer(&mut b, "45").await;
    let m = error_with(&v, -32603);
    assert!(m.contains("max-message-bytes"), "{m}");
    b.send(&call("46")).await;
    let v = answer(&mut b, "46").await;
    let m = error_with(&v, -32603);
    assert!(m.contains("max-message-bytes"), "{m}");
    still_serves(&mut b, "100").await;
    ends_cleanly(b).await;
}

/// #3 §2 "a response for an id nobody asked": dropped (never on stdout), on the request's
/// stream and on the standalone GET stream; the real answer still arrives. Logged at debug.
#[tokio::test]
async fn responses_for_unknown_ids_are_dropped() {
    let server = Scripted::start().await;
    let (get, get_tx) = sse_stream();
    server.once(|r| r.is_get(), get);
    let stray = r#"{"jsonrpc":"2.0","id":999,"result":{"stray":true}}"#;
    let good = r#"{"jsonrpc":"2.0","id":47,"result":{"ok":true}}"#;
    server.once(has_id("47"), sse(vec![Sse::msg(stray), Sse::msg(good)]));
    let mut b = ready_with(&server, &["--log-level", "debug"]).await;
    server.wait_for("the GET stream", |r| r.is_get()).await;

    b.send(&call("47")).await;
    assert_eq!(b.recv_within(ANSWER_BOUND).await.as_deref(), Some(good));
    let stray_get = r#"{"jsonrpc":"2.0","id":"nobody","error":{"code":-1,"message":"m"}}"#;
    let note = r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;
    get_tx.msg(stray_get);
    get_tx.msg(note);
    // The notification after it arrives, so the stray response was processed and dropped.
    assert_eq!(b.recv_within(ANSWER_BOUND).await.as_deref(), Some(note));
    stderr_lines(&b, 1, "the stray id 999", |l| l.contains("id 999")).await;
    stderr_lines(&b, 1, "the stray id \"nobody\"", |l| l.contains("nobody")).await;
    still_serves(&mut b, "100").await;
    ends_cleanly(b).await;
    drop(get_tx);
}
