//! The fault matrix of issue #3 §1: one test per injected fault. Each asserts that every
//! pending request is answered exactly once (its result, or a JSON-RPC error whose message
//! says in plain words what happened), within a bounded time, and that the bridge still
//! serves the next request afterwards (except where stdin closed).
//!
//! Faults are injected by the scripted server (`tests/support/scripted.rs`: canned and
//! hanging replies, SSE streams cut mid-way, a server killed and restarted on the same
//! port) or by the rmcp peer behind its WAzion-like bearer layer (`rmcp_peer.rs`).
//! "Exactly once" is checked to the end: each test ends with stdin EOF, waits for the
//! process to exit and inspects every stdout line it wrote, so a late duplicate answer
//! cannot hide. Every stdout line must be JSON-RPC (`assert_jsonrpc`).
//!
//! Waits are deadlines on events (a stdout line, a request reaching the server, the
//! process exit), never sleeps; the only clock is the scenario itself (progress sent every
//! 300 ms against a 1 s idle timeout).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::driver::{Bridge, BridgeCmd, assert_jsonrpc};
use crate::support::rmcp_peer::{self, TOKEN, unauthorized_body};
use crate::support::scripted::{
    Gate, Recorded, Reply, Scripted, Sse, json, sse_stream, status, text, typed, unused_addr,
};
use serde_json::{Value, json};

const VERSION: &str = "2025-06-18";
/// The most any fault may take to be answered (the slowest row, the 1 s idle timeout,
/// is well inside it).
const ANSWER_BOUND: Duration = Duration::from_secs(5);
/// Exit bound after stdin EOF or a signal (S9).
const EXIT_BOUND: Duration = Duration::from_millis(2500);

// ----- helpers -------------------------------------------------------------------------

fn spawn(url: &str) -> Bridge {
    BridgeCmd::new(url).arg("--log-level").arg("debug").spawn()
}

/// A bridge through the handshake, with `notifications/initialized` seen by the server.
async fn ready(server: &Scripted, b: BridgeCmd) -> Bridge {
    let mut b = b.spawn();
    let init = b.handshake(VERSION).await;
    assert_eq!(init["result"]["protocolVersion"], VERSION, "{init}");
    server
        .wait_for("notifications/initialized", |r| {
            r.is_rpc("notifications/initialized")
        })
        .await;
    b
}

fn cmd(server: &Scripted) -> BridgeCmd {
    BridgeCmd::new(&server.url())
        .arg("--log-level")
        .arg("debug")
}

fn has_id(raw: impl Into<String>) -> impl Fn(&Recorded) -> bool + Send + Sync + 'static {
    let raw = raw.into();
    move |r| r.is_post() && r.rpc_id_raw().as_deref() == Some(raw.as_str())
}

fn is_private_init(r: &Recorded) -> bool {
    r.is_rpc("initialize")
        && r.rpc_id_raw()
            .is_some_and(|id| id.starts_with("\"wazion-mcp-"))
}

/// A `tools/call` line with `raw_id` (JSON text) as its id.
fn call(raw_id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{raw_id},"method":"tools/call","params":{{"name":"work","arguments":{{}}}}}}"#
    )
}

fn initialize(raw_id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{raw_id},"method":"initialize","params":{{"protocolVersion":"{VERSION}","capabilities":{{}},"clientInfo":{{"name":"faults","version":"0"}}}}}}"#
    )
}

/// Reads stdout until the response for `raw_id` arrives (within `bound`); every line
/// read must be JSON-RPC and none may be another answer to `raw_id`. Returns the answer
/// and the lines read before it.
async fn answer_within(b: &mut Bridge, raw_id: &str, bound: Duration) -> (Value, Vec<Value>) {
    let id: Value = serde_json::from_str(raw_id).expect("raw id is JSON");
    let deadline = Instant::now() + bound;
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(line) = b.recv_within(left).await else {
            panic!(
                "request {raw_id} not answered within {bound:?}; lines before: {before:#?}\nbridge stderr:\n{}",
                b.stderr()
            );
        };
        let v = assert_jsonrpc(&line);
        if v.get("id") == Some(&id) && (v.get("result").is_some() || v.get("error").is_some()) {
            return (v, before);
        }
        before.push(v);
    }
}

async fn answer(b: &mut Bridge, raw_id: &str) -> Value {
    answer_within(b, raw_id, ANSWER_BOUND).await.0
}

/// Asserts `v` is the bridge's own error (-32603) with a plain-words message naming the
/// server (`host`); returns the message.
fn bridge_error<'a>(v: &'a Value, host: &str) -> &'a str {
    assert_eq!(v["error"]["code"], -32603, "not a bridge error: {v}");
    assert!(v.get("result").is_none(), "{v}");
    let m = v["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {v}"));
    assert!(
        m.contains(host),
        "the message does not name the server {host}: {m}"
    );
    // Plain words: a sentence, not a code or a debug dump.
    assert!(
        m.split_whitespace().count() >= 5 && !m.contains("Error {") && !m.contains("kind:"),
        "not a plain-words message: {m}"
    );
    m
}

/// Proves the bridge still serves: a `tools/list` with `raw_id` gets the server's answer.
async fn still_serves(b: &mut Bridge, raw_id: &str) {
    b.send(&format!(
        r#"{{"jsonrpc":"2.0","id":{raw_id},"method":"tools/list"}}"#
    ))
    .await;
    let v = answer(b, raw_id).await;
    assert!(
        v.get("result").is_some(),
        "the next request was not served: {v}"
    );
}

/// Closes stdin, asserts exit 0 within [`EXIT_BOUND`], and that nothing else was written
/// (in particular no second answer to any id). Returns the stderr.
async fn ends_cleanly(mut b: Bridge) -> String {
    b.close_stdin();
    let t0 = Instant::now();
    let st = b.wait_exit(EXIT_BOUND).await.unwrap_or_else(|| {
        panic!(
            "still running {EXIT_BOUND:?} after stdin EOF; stderr:\n{}",
            b.stderr()
        )
    });
    assert_eq!(
        st.code(),
        Some(0),
        "exit status {st:?} after {:?}; stderr:\n{}",
        t0.elapsed(),
        b.stderr()
    );
    let rest = b.drain(Duration::from_millis(200)).await;
    assert!(rest.is_empty(), "unexpected lines after the run: {rest:#?}");
    b.stderr()
}

fn host_of(addr: SocketAddr) -> String {
    addr.to_string()
}

// ----- server down, killed, restarted --------------------------------------------------

/// #3 §1 row "server down at start": connection refused → `initialize` answered -32603
/// naming host and "refused"; once a server listens on that port, the client's next
/// `initialize` works.
#[tokio::test]
async fn server_down_at_start_then_up() {
    let addr = unused_addr();
    let mut b = spawn(&format!("http://{addr}/mcp"));
    b.send(&initialize("1")).await;
    let v = answer(&mut b, "1").await;
    let m = bridge_error(&v, &host_of(addr));
    assert!(m.contains("refused"), "{m}");

    let (server, _killer) = Scripted::builder().start_on(addr).await;
    let init = b.handshake(VERSION).await;
    assert_eq!(init["result"]["protocolVersion"], VERSION, "{init}");
    still_serves(&mut b, "2").await;
    ends_cleanly(b).await;
    let first = &server.requests()[0];
    assert!(first.is_rpc("initialize"), "{}", server.dump());
    assert_eq!(first.session(), None);
}

/// #3 §1 rows "server killed mid-call" and "restarted server (new session) afterwards":
/// the hanging call gets an error when the server dies; a server restarted on the same
/// port knows nothing of the old session (404) and the next call works through the
/// bridge's transparent re-initialize (H18).
#[tokio::test]
async fn server_killed_mid_call_then_restarted_with_a_new_session() {
    let addr = unused_addr();
    let (server, killer) = Scripted::builder().start_on(addr).await;
    server.once(has_id("1"), Reply::hang());
    let mut b = ready(&server, cmd(&server)).await;
    b.send(&call("1")).await;
    server.wait_for("the call", has_id("1")).await;

    killer.kill().await;
    let v = answer(&mut b, "1").await;
    bridge_error(&v, &host_of(addr));

    let (restarted, _k2) = Scripted::builder().start_on(addr).await;
    restarted.skip_sessions(1);
    restarted.always(|r| r.session() == Some("sess-1"), |_| status(404));
    b.send(&call("2")).await;
    let v = answer(&mut b, "2").await;
    assert_eq!(v, json!({"jsonrpc":"2.0","id":2,"result":{}}));

    let stale = restarted
        .wait_for("the call on the old session", has_id("2"))
        .await;
    assert_eq!(stale.session(), Some("sess-1"));
    let reinit = restarted
        .wait_for("the re-initialize", is_private_init)
        .await;
    assert_eq!(reinit.session(), None);
    let retried = restarted.wait_nth("the retried call", 1, has_id("2")).await;
    assert_eq!(retried.session(), Some("sess-2"), "{}", restarted.dump());
    assert!(stale.tick < reinit.tick && reinit.tick < retried.tick);
    ends_cleanly(b).await;
}

// ----- HTTP error statuses -------------------------------------------------------------

/// #3 §1 row "500 with a JSON-RPC error body": relayed byte for byte; when the body's id
/// differs from the request's, only the id is replaced (A7, A8).
#[tokio::test]
async fn status_500_with_a_jsonrpc_error_body_is_relayed_unchanged() {
    let server = Scripted::start().await;
    let same = r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"Database unavailable","data":{"retry":true}}}"#;
    let other = r#"{"jsonrpc":"2.0","error":{"code":-32001,"message":"Shop is closed"},"id":null}"#;
    server.once(has_id("3"), json(500, same));
    server.once(has_id("4"), json(500, other));
    let mut b = ready(&server, cmd(&server)).await;

    b.send(&call("3")).await;
    assert_eq!(b.recv().await, same);
    b.send(&call("4")).await;
    assert_eq!(b.recv().await, other.replace("\"id\":null", "\"id\":4"));
    still_serves(&mut b, "5").await;
    ends_cleanly(b).await;
    assert_eq!(server.matching(has_id("3")).len(), 1, "{}", server.dump());
    assert_eq!(server.matching(has_id("4")).len(), 1, "{}", server.dump());
}

/// #3 §1 row "502/503 with an HTML body": -32603, message `<host:port> answered HTTP 502
/// Bad Gateway: …` (summary of the page), the page in `data.body`, not retried.
#[tokio::test]
async fn status_502_and_503_with_html_bodies_become_plain_errors() {
    let server = Scripted::start().await;
    let host = host_of(server.addr);
    let page_502 = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
    let page_503 = "<!DOCTYPE html><html><body><h1>Service Unavailable</h1><p>The shop is under maintenance.</p></body></html>";
    server.once(has_id("6"), typed(502, "text/html", page_502));
    server.once(
        has_id("7"),
        typed(503, "text/html; charset=utf-8", page_503),
    );
    let mut b = ready(&server, cmd(&server)).await;

    for (id, code, reason, page) in [
        ("6", 502, "Bad Gateway", page_502),
        ("7", 503, "Service Unavailable", page_503),
    ] {
        b.send(&call(id)).await;
        let v = answer(&mut b, id).await;
        let m = bridge_error(&v, &host);
        let prefix = format!("{host} answered HTTP {code} {reason}: ");
        assert!(m.starts_with(&prefix), "expected `{prefix}…`, got: {m}");
        assert!(!m.contains('<'), "HTML tags in the message: {m}");
        assert_eq!(v["error"]["data"]["httpStatus"], code, "{v}");
        assert_eq!(v["error"]["data"]["body"], page, "{v}");
    }
    still_serves(&mut b, "8").await;
    ends_cleanly(b).await;
    assert_eq!(server.matching(has_id("6")).len(), 1, "{}", server.dump());
    assert_eq!(server.matching(has_id("7")).len(), 1, "{}", server.dump());
}

/// #3 §1 row "429 with Retry-After": an error carrying `data.retryAfter` whose message
/// mentions retrying; exactly one POST of that request reached the server (no silent retry
/// of a non-idempotent call).
#[tokio::test]
async fn status_429_carries_retry_after_and_is_not_retried() {
    let server = Scripted::start().await;
    server.once(
        has_id("9"),
        text(429, "Too Many Requests").header("retry-after", "7"),
    );
    let mut b = ready(&server, cmd(&server)).await;
    b.send(&call("9")).await;
    let v = answer(&mut b, "9").await;
    let m = bridge_error(&v, &host_of(server.addr));
    assert!(m.to_lowercase().contains("retry"), "{m}");
    assert!(m.contains('7'), "{m}");
    assert_eq!(v["error"]["data"]["retryAfter"], "7", "{v}");
    assert_eq!(v["error"]["data"]["httpStatus"], 429, "{v}");
    still_serves(&mut b, "10").await;
    ends_cleanly(b).await;
    // The process has exited: these counts are final.
    assert_eq!(server.matching(has_id("9")).len(), 1, "{}", server.dump());
}

// ----- broken SSE streams --------------------------------------------------------------

const PROGRESS: &str = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}"#;

/// #3 §1 row "connection reset mid-SSE with no event id": the message sent before the
/// break is delivered, the request gets an error, no resumption is attempted.
#[tokio::test]
async fn reset_mid_sse_without_event_id_is_an_error() {
    let server = Scripted::start().await;
    let (reply, tx) = sse_stream();
    server.once(has_id("11"), reply);
    let mut b = ready(&server, cmd(&server)).await;
    b.send(&call("11")).await;
    server.wait_for("the call", has_id("11")).await;
    tx.msg(PROGRESS);
    assert_eq!(b.recv().await, PROGRESS);
    tx.cut();
    let (v, before) = answer_within(&mut b, "11", ANSWER_BOUND).await;
    assert!(before.is_empty(), "{before:#?}");
    bridge_error(&v, &host_of(server.addr));
    still_serves(&mut b, "12").await;
    ends_cleanly(b).await;
    assert!(
        server
            .matching(|r| r.is_get() && r.header("last-event-id").is_some())
            .is_empty(),
        "a resumption was attempted without an event id:\n{}",
        server.dump()
    );
}

/// #3 §1 row "mid-SSE after an event id where the resume GET fails too" (GET answers 500):
/// one resumption GET with `Last-Event-ID`, then an error for the request.
#[tokio::test]
async fn reset_mid_sse_after_event_id_with_resume_answered_500_is_an_error() {
    let server = Scripted::start().await;
    let (reply, tx) = sse_stream();
    server.once(has_id("13"), reply);
    server.always(
        |r| r.is_get() && r.header("last-event-id").is_some(),
        |_| text(500, "resume failed"),
    );
    let mut b = ready(&server, cmd(&server)).await;
    b.send(&call("13")).await;
    server.wait_for("the call", has_id("13")).await;
    tx.send(Sse::Raw("id: e1\nretry: 100\ndata:\n\n".into()));
    tx.send(Sse::id("e2", PROGRESS));
    assert_eq!(b.recv().await, PROGRESS);
    tx.cut();
    let v = answer(&mut b, "13").await;
    let m = bridge_error(&v, &host_of(server.addr));
    assert_eq!(v["error"]["data"]["httpStatus"], 500, "{m}");
    still_serves(&mut b, "14").await;
    ends_cleanly(b).await;
    let resumes = server.matching(|r| r.is_get() && r.header("last-event-id").is_some());
    assert_eq!(resumes.len(), 1, "{}", server.dump());
    assert_eq!(resumes[0].header("last-event-id"), Some("e2"));
}

/// #3 §1 row "mid-SSE after an event id where the resume GET fails too" (connection
/// refused): the server dies mid-stream after an event id, the resumption GET is refused,
/// the request gets an error saying so; a server back on the port serves the next call.
#[tokio::test]
async fn reset_mid_sse_after_event_id_with_resume_refused_is_an_error() {
    let addr = unused_addr();
    let (server, killer) = Scripted::builder().start_on(addr).await;
    let (reply, tx) = sse_stream();
    server.once(has_id("15"), reply);
    let mut b = ready(&server, cmd(&server)).await;
    b.send(&call("15")).await;
    server.wait_for("the call", has_id("15")).await;
    tx.send(Sse::Raw("retry: 100\n\n".into()));
    tx.send(Sse::id("e1", PROGRESS));
    // Seen on stdout, so the event id reached the bridge before the server dies.
    assert_eq!(b.recv().await, PROGRESS);
    killer.kill().await;
    let v = answer(&mut b, "15").await;
    let m = bridge_error(&v, &host_of(addr));
    assert!(
        m.contains("refused"),
        "the resumption GET was not tried, or its failure not named: {m}"
    );
    assert!(
        b.stderr().contains("resuming"),
        "no resumption logged:\n{}",
        b.stderr()
    );

    let (_back, _k2) = Scripted::builder().start_on(addr).await;
    still_serves(&mut b, "16").await;
    ends_cleanly(b).await;
}

// ----- a server that stalls ------------------------------------------------------------

/// #3 §1 row "a server that stalls": with `--idle-timeout 1`, a request whose server never
/// sends a byte is answered with an error naming the idle timeout, after about 1 s.
#[tokio::test]
async fn stalled_server_hits_the_idle_timeout() {
    let server = Scripted::start().await;
    server.once(has_id("17"), Reply::hang());
    let mut b = ready(&server, cmd(&server).arg("--idle-timeout").arg("1")).await;
    let t0 = Instant::now();
    b.send(&call("17")).await;
    let v = answer(&mut b, "17").await;
    let waited = t0.elapsed();
    let m = bridge_error(&v, &host_of(server.addr));
    assert!(m.contains("idle-timeout"), "{m}");
    assert!(
        waited >= Duration::from_millis(900),
        "answered after {waited:?}, before the 1 s idle timeout"
    );
    still_serves(&mut b, "18").await;
    ends_cleanly(b).await;
}

/// Feeds `tx` one `piece(i)` every 300 ms for about 2.7 s (nine pieces), then the result.
async fn trickle(tx: crate::support::scripted::SseTx, piece: impl Fn(u32) -> Sse, result: &str) {
    let mut tick = tokio::time::interval(Duration::from_millis(300));
    tick.tick().await;
    for i in 1..=9 {
        tick.tick().await;
        assert!(
            tx.send(piece(i)),
            "the bridge dropped the stream at piece {i}"
        );
    }
    tick.tick().await;
    tx.msg(result);
}

fn progress(i: u32) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":"p","progress":{i}}}}}"#
    )
}

/// #3 §1 row "tool calls with regular progress run longer than the timeout without being
/// cut": progress every 300 ms for 2.7 s under `--idle-timeout 1`; all progress lines
/// arrive, in order, then the result.
#[tokio::test]
async fn progress_keeps_a_long_call_alive_past_the_idle_timeout() {
    let server = Scripted::start().await;
    let (reply, tx) = sse_stream();
    server.once(has_id("19"), reply);
    let mut b = ready(&server, cmd(&server).arg("--idle-timeout").arg("1")).await;
    let t0 = Instant::now();
    b.send(&call("19")).await;
    server.wait_for("the call", has_id("19")).await;
    let result =
        r#"{"jsonrpc":"2.0","id":19,"result":{"content":[{"type":"text","text":"done"}]}}"#;
    let feeder = tokio::spawn(async move {
        trickle(tx, |i| Sse::msg(&progress(i)), result).await;
    });
    let (v, before) = answer_within(&mut b, "19", ANSWER_BOUND).await;
    assert_eq!(v["result"]["content"][0]["text"], "done", "{v}");
    let expected: Vec<Value> = (1..=9)
        .map(|i| serde_json::from_str(&progress(i)).unwrap())
        .collect();
    assert_eq!(before, expected);
    assert!(
        t0.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );
    feeder.await.unwrap();
    still_serves(&mut b, "20").await;
    ends_cleanly(b).await;
}

/// Issue 11 §2: SSE comments (`: ping`) are not life signs of the *call*: a stream that only
/// says it is alive ends with the idle error, so a stalled server cannot hold a call open
/// forever. (Progress events do count: the test above.)
#[tokio::test]
async fn sse_comments_alone_do_not_keep_a_call_alive() {
    let server = Scripted::start().await;
    let (reply, tx) = sse_stream();
    server.once(has_id("21"), reply);
    let mut b = ready(&server, cmd(&server).arg("--idle-timeout").arg("1")).await;
    b.send(&call("21")).await;
    server.wait_for("the call", has_id("21")).await;
    let result =
        r#"{"jsonrpc":"2.0","id":21,"result":{"content":[{"type":"text","text":"done"}]}}"#;
    let feeder = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(300));
        for _ in 0..30 {
            tick.tick().await;
            if !tx.send(Sse::Comment("ping".into())) {
                return; // the bridge gave the stream up, as it should
            }
        }
        tx.msg(result);
    });
    let (v, before) = answer_within(&mut b, "21", ANSWER_BOUND).await;
    assert_eq!(v["error"]["code"], -32603, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("--idle-timeout"), "{v}");
    assert!(before.is_empty(), "{before:#?}");
    feeder.abort();
    still_serves(&mut b, "22").await;
    ends_cleanly(b).await;
}

// ----- session expiry ------------------------------------------------------------------

/// #3 §1 row "404 session expiry where the re-initialize fails": the request gets an error
/// saying the session expired and a new one could not be started; the next request
/// (re-initialize succeeding this time) is served.
#[tokio::test]
async fn session_expiry_with_a_failing_reinitialize_is_an_error() {
    let server = Scripted::start().await;
    let mut b = ready(&server, cmd(&server)).await;
    server.always(|r| r.session() == Some("sess-1"), |_| status(404));
    server.once(is_private_init, text(500, "initialize failed"));
    b.send(&call("23")).await;
    let v = answer(&mut b, "23").await;
    let m = bridge_error(&v, &host_of(server.addr));
    assert!(m.contains("session"), "{m}");
    assert!(m.contains("500"), "{m}");
    assert_eq!(server.matching(has_id("23")).len(), 1, "{}", server.dump());

    still_serves(&mut b, "24").await;
    ends_cleanly(b).await;
    assert_eq!(
        server.matching(is_private_init).len(),
        2,
        "one failed and one successful re-initialize:\n{}",
        server.dump()
    );
    let served = server
        .wait_nth("the retried request", 1, has_id("24"))
        .await;
    assert_eq!(served.session(), Some("sess-2"));
}

// ----- 401 / 403 -----------------------------------------------------------------------

/// #3 §1 row "401 at initialize" (rmcp peer, no token): WAzion's 401 body reaches stdout
/// byte for byte, the initialize is not retried, and the next message is answered too.
#[tokio::test]
async fn unauthorized_initialize_relays_the_wazion_body() {
    let server = rmcp_peer::start().await;
    let mut b = BridgeCmd::new(&server.url).spawn();
    b.send(&initialize("1")).await;
    assert_eq!(b.recv().await, unauthorized_body("1"));
    b.send(&initialize("2")).await;
    assert_eq!(b.recv().await, unauthorized_body("2"));
    ends_cleanly(b).await;
    let posts = server
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 2, "{:#?}", server.requests());
    server.shutdown().await.unwrap();
}

/// #3 §1 row "401 mid-session": the token is rotated on the server mid-session; the next
/// call gets WAzion's 401 body (not retried, no re-initialize); once the token is valid
/// again the same session serves the next call.
#[tokio::test]
async fn unauthorized_mid_session_is_relayed_once() {
    let server = rmcp_peer::start().await;
    let mut b = BridgeCmd::new(&server.url).token(TOKEN).spawn();
    let init = b.handshake(VERSION).await;
    assert!(init.get("result").is_some(), "{init}");
    let echo = |id: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hi {id}"}}}}}}"#
        )
    };
    b.send(&echo(1)).await;
    let v = answer(&mut b, "1").await;
    assert_eq!(v["result"]["content"][0]["text"], "hi 1", "{v}");

    server.set_token("rotated-in-the-dashboard");
    b.send(&echo(2)).await;
    assert_eq!(b.recv().await, unauthorized_body("2"));

    server.set_token(TOKEN);
    b.send(&echo(3)).await;
    let v = answer(&mut b, "3").await;
    assert_eq!(v["result"]["content"][0]["text"], "hi 3", "{v}");
    ends_cleanly(b).await;

    let log = server.requests();
    let tries_2 = log
        .iter()
        .filter(|r| r.method == "POST" && r.body_str().contains("\"id\":2"))
        .count();
    assert_eq!(tries_2, 1, "the refused call was retried: {log:#?}");
    let inits = log
        .iter()
        .filter(|r| r.rpc_method().as_deref() == Some("initialize"))
        .count();
    assert_eq!(inits, 1, "a 401 must not trigger a re-initialize: {log:#?}");
    server.shutdown().await.unwrap();
}

/// #3 §1 row "401 on every path including GET and DELETE": everything but `initialize`
/// draws 401. No loop, no hang: each path is tried at most once per client message
/// (initialized POST, the GET stream, each request, the DELETE at exit), every request is
/// answered with an error, and EOF still ends the bridge with exit 0.
#[tokio::test]
async fn unauthorized_on_every_path_neither_loops_nor_hangs() {
    let server = Scripted::start().await;
    let challenge = r#"Bearer realm="mcp", error="invalid_token""#;
    server.always(
        |r| !r.is_rpc("initialize"),
        move |_| text(401, "Unauthorized").header("www-authenticate", challenge),
    );
    let mut b = spawn(&server.url());
    let init = b.handshake(VERSION).await;
    assert!(init.get("result").is_some(), "{init}");
    server.wait_for("the GET stream", |r| r.is_get()).await;
    for id in ["1", "2"] {
        b.send(&call(id)).await;
        let v = answer(&mut b, id).await;
        let m = bridge_error(&v, &host_of(server.addr));
        assert!(m.contains("401"), "{m}");
        assert_eq!(v["error"]["data"]["wwwAuthenticate"], challenge, "{v}");
    }
    ends_cleanly(b).await;

    // The process has exited: these counts are final.
    let count = |pred: &dyn Fn(&Recorded) -> bool| server.matching(pred).len();
    assert_eq!(count(&|r| r.is_rpc("initialize")), 1, "{}", server.dump());
    assert_eq!(
        count(&|r| r.is_rpc("notifications/initialized")),
        1,
        "{}",
        server.dump()
    );
    let stream_get = |r: &Recorded| r.is_get() && !r.path.starts_with("/.well-known/");
    assert_eq!(count(&stream_get), 1, "GET retried:\n{}", server.dump());
    assert_eq!(count(&has_id("1")), 1, "{}", server.dump());
    assert_eq!(count(&has_id("2")), 1, "{}", server.dump());
    assert_eq!(count(&|r| r.is_delete()), 1, "{}", server.dump());
    // Without a token the bridge looks once for OAuth metadata (issue 13: two
    // protected-resource URLs, two authorization-server ones), finds none, and never again.
    let discovery = |r: &Recorded| r.path.starts_with("/.well-known/");
    assert_eq!(count(&discovery), 4, "{}", server.dump());
    assert_eq!(server.requests().len(), 6 + 4, "{}", server.dump());
}

/// #3 §1 row "403 insufficient_scope with WWW-Authenticate": relayed as -32603 with the
/// challenge verbatim in `data.wwwAuthenticate` and its `error_description` in the
/// message; not retried.
#[tokio::test]
async fn forbidden_insufficient_scope_is_relayed_not_retried() {
    let server = Scripted::start().await;
    let challenge = r#"Bearer error="insufficient_scope", scope="shop:write", error_description="Needs write access""#;
    server.once(
        has_id("25"),
        typed(403, "text/html", "<html><body>Forbidden</body></html>")
            .header("www-authenticate", challenge),
    );
    let mut b = ready(&server, cmd(&server)).await;
    b.send(&call("25")).await;
    let v = answer(&mut b, "25").await;
    let m = bridge_error(&v, &host_of(server.addr));
    assert!(m.contains("Needs write access"), "{m}");
    assert_eq!(v["error"]["data"]["wwwAuthenticate"], challenge, "{v}");
    assert_eq!(v["error"]["data"]["httpStatus"], 403, "{v}");
    still_serves(&mut b, "26").await;
    ends_cleanly(b).await;
    assert_eq!(server.matching(has_id("25")).len(), 1, "{}", server.dump());
}

// ----- stdin EOF and signals -----------------------------------------------------------

/// #3 §1 row "stdin EOF with 10 calls in flight": each of the 10 ids is answered exactly
/// once — the five the server answers during the grace period with their results, the
/// five it never answers with the shutting-down error — and the bridge exits 0 within
/// 2.5 s of the EOF, after a DELETE.
#[tokio::test]
async fn eof_with_ten_calls_in_flight_answers_each_once() {
    let server = Scripted::start().await;
    let gate = Gate::new();
    let ids: Vec<u32> = (101..=110).collect();
    for &id in &ids {
        let raw = id.to_string();
        if id % 2 == 1 {
            let gate = gate.clone();
            server.once(
                has_id(raw),
                Reply::deferred(async move {
                    gate.wait().await;
                    json(
                        200,
                        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"n":{id}}}}}"#),
                    )
                }),
            );
        } else {
            server.once(has_id(raw), Reply::hang());
        }
    }
    let mut b = ready(&server, cmd(&server)).await;
    for &id in &ids {
        b.send(&call(&id.to_string())).await;
    }
    for &id in &ids {
        server
            .wait_for("a call in flight", has_id(id.to_string()))
            .await;
    }

    b.close_stdin();
    let t0 = Instant::now();
    gate.open();
    let st = b.wait_exit(EXIT_BOUND).await.unwrap_or_else(|| {
        panic!(
            "still running {EXIT_BOUND:?} after EOF; stderr:\n{}",
            b.stderr()
        )
    });
    assert_eq!(st.code(), Some(0), "{st:?} after {:?}", t0.elapsed());
    let lines = b.drain(Duration::from_millis(200)).await;
    let mut answers: HashMap<u64, Value> = HashMap::new();
    for l in &lines {
        let v = assert_jsonrpc(l);
        let id = v["id"].as_u64().unwrap_or_else(|| panic!("{l}"));
        assert!(
            answers.insert(id, v).is_none(),
            "id {id} answered twice: {lines:#?}"
        );
    }
    for &id in &ids {
        let v = answers
            .get(&u64::from(id))
            .unwrap_or_else(|| panic!("id {id} never answered: {lines:#?}"));
        if id % 2 == 1 {
            assert_eq!(v["result"]["n"], id, "{v}");
        } else {
            assert_eq!(v["error"]["code"], -32603, "{v}");
            let m = v["error"]["message"].as_str().unwrap();
            assert!(m.contains("shutting down"), "{m}");
        }
    }
    assert_eq!(answers.len(), 10, "{lines:#?}");
    server.wait_for("the DELETE", |r| r.is_delete()).await;
}

/// #3 §1 row "SIGTERM mid-call": the call is answered once (with the shutting-down error),
/// the session is DELETEd, exit 0 within 2.5 s of the signal.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_mid_call_answers_deletes_and_exits() {
    let server = Scripted::start().await;
    server.once(has_id("27"), Reply::hang());
    let mut b = ready(&server, cmd(&server)).await;
    b.send(&call("27")).await;
    server.wait_for("the call", has_id("27")).await;
    let t0 = Instant::now();
    b.signal("TERM");
    let st = b.wait_exit(EXIT_BOUND).await.unwrap_or_else(|| {
        panic!(
            "still running {EXIT_BOUND:?} after SIGTERM; stderr:\n{}",
            b.stderr()
        )
    });
    assert_eq!(st.code(), Some(0), "{st:?} after {:?}", t0.elapsed());
    let lines = b.drain(Duration::from_millis(200)).await;
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let v = assert_jsonrpc(&lines[0]);
    assert_eq!(v["id"], 27, "{v}");
    assert_eq!(v["error"]["code"], -32603, "{v}");
    let d = server.wait_for("the DELETE", |r| r.is_delete()).await;
    assert_eq!(d.session(), Some("sess-1"));
}
