//! Load from a worst-case client and connection reuse with a worst-case-shaped server
//! (the worst-case server contract, items 6 and 10).
//!
//! 6: intake is bounded by `--max-in-flight N` (default 64): a client that writes 2 000
//! calls at once never has more than N open at the server, all are answered exactly once,
//! and the bridge stays on a handful of TCP connections. Concurrency is measured at the
//! server from its recorded arrival and answer ticks (`Scripted::peak_concurrency`).
//!
//! 10: sequential calls answered with SSE (one response event, then the end of the
//! stream) reuse the keep-alive connection, as JSON answers do: the bridge reads a
//! response stream to its end instead of dropping it, which would close the connection.
//!
//! Each test says above it why it fails against the relay core of today (or that it is a
//! control that passes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::driver::{Bridge, BridgeCmd, assert_jsonrpc};
use crate::support::rmcp_peer::{self, CountingProxy, TOKEN};
use crate::support::scripted::{Recorded, Reply, Scripted, SseTx, json, sse_stream};

const VERSION: &str = "2025-06-18";
const EXIT: Duration = Duration::from_secs(5);

fn is_call(r: &Recorded) -> bool {
    r.is_rpc("tools/call")
}

fn call(id: usize) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"work","arguments":{{"n":{id}}}}}}}"#
    )
}

fn result_for(raw_id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{raw_id},"result":{{"content":[{{"type":"text","text":"done {raw_id}"}}]}}}}"#
    )
}

/// Answers every tools/call after 30 ms, under its own id.
fn slow_answers(server: &Scripted) {
    server.always(is_call, |r| {
        let id = r.rpc_id_raw().expect("tools/call has an id");
        Reply::deferred(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            json(200, result_for(&id))
        })
    });
}

async fn ready(server: &Scripted, args: &[&str]) -> Bridge {
    let mut cmd = BridgeCmd::new(&server.url());
    for a in args {
        cmd = cmd.arg(a);
    }
    let mut b = cmd.spawn();
    b.handshake(VERSION).await;
    server
        .wait_for("notifications/initialized", |r| {
            r.is_rpc("notifications/initialized")
        })
        .await;
    b
}

/// Writes calls 1..=n in one go, then reads n answers within `bound` (from the start):
/// each must be JSON-RPC, a result, and each id must be answered exactly once.
async fn all_answered_once(b: &mut Bridge, n: usize, bound: Duration) {
    let start = Instant::now();
    let all: String = (1..=n).map(|i| call(i) + "\n").collect();
    // A bridge that bounds its intake reads stdin as slots free up: the write is bounded too.
    if tokio::time::timeout(bound, b.send_raw(all.as_bytes()))
        .await
        .is_err()
    {
        panic!(
            "the bridge did not read {n} calls from stdin within {bound:?}; stderr:\n{}",
            b.stderr()
        );
    }
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for k in 0..n {
        let left = bound.saturating_sub(start.elapsed());
        let Some(line) = b.recv_within(left).await else {
            panic!(
                "only {k} of {n} calls answered within {bound:?}; stderr (tail):\n{}",
                tail(&b.stderr())
            );
        };
        let v = assert_jsonrpc(&line);
        assert!(
            v.get("result").is_some(),
            "call answered with an error: {line}"
        );
        let id = v["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("unexpected id: {line}"));
        assert!(
            (1..=n as u64).contains(&id),
            "answer for an id never sent: {line}"
        );
        *seen.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "ids answered more than once: {twice:?}");
    assert_eq!(seen.len(), n, "every id answered once");
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

async fn exits(b: &mut Bridge) {
    let (status, rest) = b.finish(EXIT).await;
    assert!(
        status.is_some(),
        "still running after stdin EOF:\n{}",
        b.stderr()
    );
    assert!(rest.is_empty(), "unexpected stdout lines: {rest:#?}");
}

// ----- 6. bounded intake --------------------------------------------------------------

/// 6. Fails today because there is no `--max-in-flight` flag: the bridge exits with a
/// usage error before the handshake. (Without the flag it would have all 2 000 open.)
#[tokio::test]
async fn max_in_flight_bounds_open_requests_and_connections() {
    let server = Scripted::start().await;
    slow_answers(&server);
    let mut b = ready(&server, &["--max-in-flight", "8"]).await;
    all_answered_once(&mut b, 2000, Duration::from_secs(25)).await;
    let peak = server.peak_concurrency(is_call);
    assert!(
        peak <= 8,
        "{peak} tools/call were open at the server at once with --max-in-flight 8"
    );
    assert_eq!(
        server.matching(is_call).len(),
        2000,
        "each call POSTed once"
    );
    let conns = server.connections();
    assert!(
        conns <= 10,
        "{conns} TCP connections for 2 000 calls with --max-in-flight 8 (at most 10)"
    );
    exits(&mut b).await;
}

/// 6. Fails today because every stdin line is dispatched at once: all 300 calls are open
/// at the server together (peak about 300).
#[tokio::test]
async fn intake_is_bounded_to_64_in_flight_by_default() {
    let server = Scripted::start().await;
    slow_answers(&server);
    let mut b = ready(&server, &[]).await;
    all_answered_once(&mut b, 300, Duration::from_secs(20)).await;
    let peak = server.peak_concurrency(is_call);
    assert!(
        peak <= 64,
        "{peak} tools/call were open at the server at once without --max-in-flight (default 64)"
    );
    exits(&mut b).await;
}

// ----- issue 19 item 3: the queue counts against --request-timeout ----------------------

/// Issue 19 item 3: `--request-timeout` bounds the client's wait, the wait for a
/// `--max-in-flight` permit included. 40 calls are written at once to a server that never
/// answers one, with `--max-in-flight 2 --request-timeout 2`: every call is answered once,
/// with the timeout error, about 2 s after it was written, and the calls whose time ran out
/// in the queue never reach the server. The 20 s bound is for liveness only.
///
/// Fails on the old main: a call was read from stdin only when a permit freed, so its clock
/// started then; the calls timed out two by two every 2 s, the last after 40 s, and each of
/// the 40 reached the server.
#[tokio::test]
async fn request_timeout_counts_the_wait_for_a_permit() {
    const N: usize = 40;
    let server = Scripted::start().await;
    server.always(is_call, |_| Reply::hang());
    let mut b = ready(&server, &["--max-in-flight", "2", "--request-timeout", "2"]).await;
    let bound = Duration::from_secs(20);
    let start = Instant::now();
    let all: String = (1..=N).map(|i| call(i) + "\n").collect();
    b.send_raw(all.as_bytes()).await;
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for k in 0..N {
        let left = bound.saturating_sub(start.elapsed());
        let Some(line) = b.recv_within(left).await else {
            panic!(
                "only {k} of {N} calls answered within {bound:?} (each should time out about 2 s after it was written); stderr (tail):\n{}",
                tail(&b.stderr())
            );
        };
        let v = assert_jsonrpc(&line);
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("--request-timeout")),
            "every call should end with the --request-timeout error: {line}"
        );
        let id = v["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("unexpected id: {line}"));
        assert!(
            (1..=N as u64).contains(&id),
            "answer for an id never sent: {line}"
        );
        *seen.entry(id).or_default() += 1;
    }
    eprintln!(
        "{N} calls, --max-in-flight 2, --request-timeout 2: all answered after {:?}; {} reached the server",
        start.elapsed(),
        server.matching(is_call).len()
    );
    assert!(
        seen.values().all(|c| *c == 1),
        "ids answered more than once: {seen:?}"
    );
    assert_eq!(seen.len(), N, "every id answered once");
    let sent = server.matching(is_call).len();
    assert!(
        sent < N,
        "all {N} calls reached the server: the ones that timed out in the queue should not"
    );
    exits(&mut b).await;
}

/// Issue 19 item 3, exactly once: a call cancelled while it waits in the queue is never
/// sent and never answered (nor is the cancellation: the server never saw the call), and
/// its id can be used again at once. With `--max-in-flight 1`
/// and the first call hanging, call 2 waits in the queue; the client cancels it and sends a
/// new call 2, then lets the first one finish: the server sees the new call 2 only, and the
/// client gets exactly one answer for id 2 (the new call's).
///
/// On the old main the cancellation was not even read (stdin is not read while no permit is
/// free), and the old call 2 went out once the first call ended.
#[tokio::test]
async fn a_call_cancelled_in_the_queue_is_never_sent() {
    let server = Scripted::start().await;
    let gate = crate::support::scripted::Gate::new();
    let g = gate.clone();
    server.once(
        |r| r.is_rpc("tools/call") && r.json()["id"] == 1,
        Reply::deferred(async move {
            g.wait().await;
            json(200, result_for("1"))
        }),
    );
    server.always(is_call, |r| {
        json(200, result_for(&r.rpc_id_raw().expect("id")))
    });
    let mut b = ready(&server, &["--max-in-flight", "1", "--log-level", "debug"]).await;
    b.send(&call(1)).await;
    server.wait_for("call 1", |r| r.is_rpc("tools/call")).await;
    b.send(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"old","arguments":{}}}"#,
    )
    .await;
    b.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}"#)
        .await;
    b.send(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"new","arguments":{}}}"#,
    )
    .await;
    // The new call 2 is registered once the old one left the table; then call 1 may end.
    b.wait_stderr_line(Duration::from_secs(10), |l| {
        l.contains("client → server") && l.contains("notifications/cancelled")
    })
    .await
    .unwrap_or_else(|| panic!("the cancellation was not read; stderr:\n{}", b.stderr()));
    gate.open();
    let (first, _) = b
        .response_within(&Value::from(1), Duration::from_secs(10), "call 1")
        .await;
    assert!(first.contains("done 1"), "{first}");
    let (second, before) = b
        .response_within(&Value::from(2), Duration::from_secs(10), "the new call 2")
        .await;
    assert!(
        before.is_empty(),
        "lines before the answer to call 2: {before:#?}"
    );
    assert!(second.contains("done 2"), "{second}");
    let calls: Vec<String> = server
        .matching(is_call)
        .iter()
        .map(|r| {
            r.json()["params"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(calls, ["work", "new"], "the server saw: {}", server.dump());
    assert!(
        server
            .matching(|r| r.is_rpc("notifications/cancelled"))
            .is_empty(),
        "the server was told of a cancellation for a call it never saw: {}",
        server.dump()
    );
    let rest = b.drain(Duration::from_millis(300)).await;
    assert!(rest.is_empty(), "a second answer for id 2: {rest:#?}");
    exits(&mut b).await;
}

/// Issue 19 item 3, control (passes on the old main too): without `--request-timeout`,
/// calls written before stdin closes are all sent and answered, also those still waiting in
/// the queue at EOF (the pump ends only once the queue is empty, as when it read stdin only
/// as permits freed).
#[tokio::test]
async fn calls_queued_at_stdin_eof_are_still_sent_and_answered() {
    const N: usize = 20;
    let server = Scripted::start().await;
    slow_answers(&server);
    let mut b = ready(&server, &["--max-in-flight", "2"]).await;
    let all: String = (1..=N).map(|i| call(i) + "\n").collect();
    b.send_raw(all.as_bytes()).await;
    let (status, lines) = b.finish(Duration::from_secs(20)).await;
    assert!(status.is_some(), "still running after EOF:\n{}", b.stderr());
    let mut ids: Vec<u64> = lines
        .iter()
        .map(|l| {
            let v = assert_jsonrpc(l);
            assert!(v.get("result").is_some(), "not a result: {l}");
            v["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("unexpected id: {l}"))
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=N as u64).collect::<Vec<_>>(),
        "each call answered once"
    );
    assert_eq!(server.matching(is_call).len(), N);
}

// ----- 10. keep-alive on SSE responses --------------------------------------------------

/// Sends 50 tools/call one after the other, each answered before the next is sent.
async fn fifty_sequential_calls(b: &mut Bridge) {
    for i in 1..=50 {
        b.send(&call(i)).await;
        let (line, _) = b
            .response_within(&Value::from(i), Duration::from_secs(5), "a sequential call")
            .await;
        assert!(
            assert_jsonrpc(&line).get("result").is_some(),
            "call {i} failed: {line}"
        );
    }
}

/// 10. Fails today because the bridge drops a response stream as soon as the response
/// event arrived, without reading on to the end of the stream, so the connection cannot
/// go back to the pool: one new TCP connection per call (50 measured). The server ends
/// each stream right after the answer reached stdout (an event, not a sleep), as a server
/// that closes the stream a moment after its last event does; ended in the same write as
/// the event, the end is read with it and the connection survives even today. The next
/// call goes once the bridge says (debug log) it read the stream to its end: a client
/// sending at the very same instant would race the end's arrival, which no bridge can win.
#[tokio::test]
async fn sequential_sse_answers_reuse_the_connection() {
    let server = Scripted::start().await;
    let open: Arc<Mutex<Vec<SseTx>>> = Arc::default();
    let streams = open.clone();
    server.always(is_call, move |r| {
        let id = r.rpc_id_raw().expect("id");
        let (reply, tx) = sse_stream();
        tx.msg(&result_for(&id));
        streams.lock().unwrap().push(tx);
        reply
    });
    let mut b = ready(&server, &["--log-level", "debug"]).await;
    for i in 1..=50 {
        b.send(&call(i)).await;
        let (line, _) = b
            .response_within(&Value::from(i), Duration::from_secs(5), "a sequential call")
            .await;
        assert!(
            assert_jsonrpc(&line).get("result").is_some(),
            "call {i} failed: {line}"
        );
        // The answer is out: now the server ends the stream normally.
        for tx in open.lock().unwrap().drain(..) {
            tx.finish();
        }
        let ended = |l: &str| l.contains("response stream read to its end");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while b.stderr_lines(ended).len() < i {
            assert!(
                tokio::time::Instant::now() < deadline,
                "call {i}: the bridge did not read the response stream to its end"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let conns = server.connections();
    assert!(
        conns <= 3,
        "{conns} TCP connections for the handshake and 50 sequential calls answered with SSE (at most 3): response streams are dropped instead of read to their end"
    );
    exits(&mut b).await;
}

/// 10, control: JSON answers reuse the connection (passes today).
#[tokio::test]
async fn sequential_json_answers_reuse_the_connection() {
    let server = Scripted::start().await;
    server.always(is_call, |r| {
        json(200, result_for(&r.rpc_id_raw().expect("id")))
    });
    let mut b = ready(&server, &[]).await;
    fifty_sequential_calls(&mut b).await;
    let conns = server.connections();
    assert!(
        conns <= 3,
        "{conns} TCP connections for the handshake and 50 sequential calls answered with JSON (at most 3)"
    );
    exits(&mut b).await;
}

/// 10, against the real rmcp Streamable HTTP server (SSE answers, a GET stream), counted
/// by a TCP proxy in front of it. Passes today: rmcp ends each response stream in the
/// same write as its last event, so the end is read with the answer (2 connections: the
/// GET stream's and the POSTs').
#[tokio::test]
async fn sequential_calls_to_the_rmcp_server_reuse_the_connection() {
    let peer = rmcp_peer::start().await;
    let proxy = CountingProxy::start(peer.addr).await;
    let url = format!("http://{}/mcp", proxy.addr);
    let mut b = BridgeCmd::new(&url).token(TOKEN).spawn();
    let init = b.handshake(VERSION).await;
    assert!(init.get("result").is_some(), "initialize failed: {init}");
    for i in 1..=50 {
        b.send(&format!(
            r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"n{i}"}}}}}}"#
        ))
        .await;
        let (line, _) = b
            .response_within(&Value::from(i), Duration::from_secs(5), "an echo call")
            .await;
        assert!(line.contains(&format!("n{i}")), "call {i}: {line}");
    }
    let conns = proxy.connections();
    assert!(
        conns <= 3,
        "{conns} TCP connections to the rmcp server for the handshake, the GET stream and 50 sequential calls (at most 3)"
    );
    let (status, _) = b.finish(EXIT).await;
    assert!(
        status.is_some(),
        "still running after stdin EOF:\n{}",
        b.stderr()
    );
}
