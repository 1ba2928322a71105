//! Shutdown whatever stdout does (the worst-case server contract, item 7): a client that
//! stops reading stdout while large results pile up, and SIGHUP (the terminal or the
//! parent went away), still end the bridge within 3 s, SIGHUP after a `DELETE` of the
//! session.
//!
//! Issue 19 item 2 adds a server flooding notifications (on the GET stream, or on a call's
//! stream) while the client reads nothing: the bridge is blocked on stdout from end to end
//! (the flood stalls at the server) when SIGTERM comes.
//!
//! The stalled client is the driver with [`Bridge::pause_stdout`]: its end of the pipe stays
//! open and unread, and the test waits until the pipe holds its whole capacity
//! (`FIONREAD` against `F_GETPIPE_SZ`) before it signals, so "stdout is full" is an
//! observed fact, not a hope.

use std::time::{Duration, Instant};

use crate::support::driver::Bridge;
use crate::support::scripted::{Recorded, Scripted, json};

const VERSION: &str = "2025-06-18";
const BOUND: Duration = Duration::from_secs(3);
/// The size of each large result.
const BIG: usize = 2 * 1024 * 1024;

fn call(id: usize, name: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{name}","arguments":{{}}}}}}"#
    )
}

fn calls_tool(r: &Recorded, name: &str) -> bool {
    r.is_rpc("tools/call") && r.json()["params"]["name"] == name
}

/// Answers `big` calls with a result of about 2 MB and `small` calls with a short one.
fn answer_big_and_small(server: &Scripted) {
    let text = "x".repeat(BIG);
    server.always(
        |r| calls_tool(r, "big"),
        move |r| {
            let id = r.rpc_id_raw().expect("id");
            json(
                200,
                format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"{text}"}}]}}}}"#
                ),
            )
        },
    );
    server.always(
        |r| calls_tool(r, "small"),
        |r| {
            let id = r.rpc_id_raw().expect("id");
            json(
                200,
                format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#),
            )
        },
    );
}

/// Stops reading stdout, sends 8 calls with 2 MB results, and waits until the bridge's
/// stdout pipe holds its whole capacity.
async fn fill_stdout(server: &Scripted, b: &mut Bridge) {
    b.pause_stdout();
    for i in 1..=8 {
        b.send(&call(i, "big")).await;
    }
    let capacity = b.stdout_pipe_bytes().expect("F_GETPIPE_SZ") as usize;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let unread = b.stdout_unread_bytes().expect("FIONREAD");
        // A pipe is full when what is unread is within a page of its capacity.
        if unread + 4096 >= capacity {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the bridge's stdout pipe holds {unread} of {capacity} bytes 10 s after 8 calls with 2 MB results; the server saw:\n{}",
            server.dump()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Signals `sig` and expects the exit within [`BOUND`].
async fn exits_after(b: &mut Bridge, sig: &str, what: &str) {
    b.signal(sig);
    let t = Instant::now();
    assert!(
        b.wait_exit(BOUND).await.is_some(),
        "{what}: the bridge still runs {:?} after SIG{sig}; stderr:\n{}",
        t.elapsed(),
        b.stderr()
    );
}

/// 7a. Passes today (recorded in the commit): the answers that do not fit in the pipe
/// wait in the bridge's stdout queue, which still has room, so shutdown's final flush
/// gives up after 200 ms and the bridge exits. Kept as the contract's literal case; the
/// next test is the one that hangs today.
#[tokio::test]
async fn sigterm_exits_while_the_client_does_not_read_stdout() {
    let server = Scripted::start().await;
    answer_big_and_small(&server);
    let mut b = server.ready_bridge(VERSION).await;
    fill_stdout(&server, &mut b).await;
    exits_after(&mut b, "TERM", "stdout full with 2 MB results").await;
}

/// 7a, with the answers piling up behind the full pipe: 1 500 more calls, answered at
/// once by the server. Fails today because the bridge's stdout queue (1 024 messages)
/// fills up, and shutdown then waits forever to queue its final flush (and the errors of
/// requests still pending), so SIGTERM never ends the process.
#[tokio::test]
async fn sigterm_exits_with_stdout_full_and_answers_piling_up() {
    let server = Scripted::start().await;
    answer_big_and_small(&server);
    let mut b = server.ready_bridge(VERSION).await;
    fill_stdout(&server, &mut b).await;
    let more: String = (100..1600).map(|i| call(i, "small") + "\n").collect();
    // A bridge that bounds its intake may stop reading stdin here: the write may stay partial.
    let _ = tokio::time::timeout(Duration::from_secs(3), b.send_raw(more.as_bytes())).await;
    // Wait until the small calls reach the server and then stop coming (all 1 500, or
    // none new for 1 s: a bridge that bounds its intake stops taking them in), so every
    // answer the bridge will take in is on its way; at most 20 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = 0;
    let mut still_since = Instant::now();
    loop {
        let n = server.matching(|r| calls_tool(r, "small")).len();
        if n != last {
            last = n;
            still_since = Instant::now();
        } else if n == 1500 || (n > 0 && still_since.elapsed() >= Duration::from_secs(1)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 20 s, {n} small calls had reached the server (waiting for some, then none new for 1 s); stderr:\n{}",
            b.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    exits_after(
        &mut b,
        "TERM",
        &format!("stdout full and {last} more answers behind it"),
    )
    .await;
}

/// 7b. Fails today because SIGHUP is not handled: its default action kills the bridge at
/// once, without the session `DELETE`.
#[tokio::test]
async fn sighup_deletes_the_session_and_exits() {
    let server = Scripted::start().await;
    let mut b = server.ready_bridge(VERSION).await;
    b.signal("HUP");
    let t = Instant::now();
    let delete = server.wait_for_within(Recorded::is_delete, BOUND).await;
    let status = b.wait_exit(BOUND.saturating_sub(t.elapsed())).await;
    let Some(delete) = delete else {
        panic!(
            "no DELETE of the session within {BOUND:?} of SIGHUP (exit status: {status:?}); the server saw:\n{}",
            server.dump()
        );
    };
    assert_eq!(delete.session(), Some("sess-1"), "{}", server.dump());
    let status = status.unwrap_or_else(|| {
        panic!(
            "the bridge still runs {:?} after SIGHUP; stderr:\n{}",
            t.elapsed(),
            b.stderr()
        )
    });
    assert!(
        status.code().is_some(),
        "the bridge was killed by SIGHUP instead of handling it: {status:?}"
    );
}

/// How many notifications the flooding GET stream offers (far more than any pipe and
/// queue hold; the flood is back-pressured, so the server never holds them all).
const FLOOD: usize = 2_000_000;

/// Waits until the flood stopped moving: `pulled` unchanged for 500 ms (the server cannot
/// hand hyper another event because the bridge stopped reading its stream), at most 30 s.
async fn flood_stalls(pulled: &std::sync::atomic::AtomicUsize, b: &Bridge) -> usize {
    use std::sync::atomic::Ordering;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = pulled.load(Ordering::SeqCst);
    let mut still_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = pulled.load(Ordering::SeqCst);
        if n != last {
            last = n;
            still_since = Instant::now();
        } else if still_since.elapsed() >= Duration::from_millis(500) {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "the flood never stalled ({n} events pulled in 30 s); stderr tail:\n{}",
            tail(&b.stderr())
        );
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Issue 19 item 2: SIGTERM while the server floods notifications on the GET stream and the
/// client has stopped reading stdout. The test waits until the stdout pipe is full and the
/// flood has stalled (the bridge is blocked on stdout from end to end), then signals; the
/// bridge must exit (generous liveness bound: the budget itself is measured in
/// docs/benchmarks.md) and still `DELETE` the session. The issue saw over 9 s; on the old
/// main this test passes here (the exit took 30 ms on this machine), so it stands as the
/// contract's guard, not as a reproduction.
#[tokio::test]
async fn sigterm_exits_during_a_notification_flood_with_stdout_unread() {
    flood_then_sigterm(true).await;
}

/// Issue 19 item 2, the same flood on a call's own response stream (the call never
/// answered): SIGTERM still ends the bridge, after the `DELETE`.
#[tokio::test]
async fn sigterm_exits_during_a_notification_flood_on_a_call_stream() {
    flood_then_sigterm(false).await;
}

/// Floods notifications on the GET stream (`on_get`) or on a call's response stream, stops
/// reading stdout, waits until the flood stalls, then signals SIGTERM.
async fn flood_then_sigterm(on_get: bool) {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    let server = Scripted::start().await;
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    let flood = crate::support::scripted::sse_flood(
        FLOOD,
        |n| {
            format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"info","data":"flood {n}"}}}}"#
            )
        },
        p,
    );
    if on_get {
        server.once(|r| r.is_get(), flood);
    } else {
        server.once(|r| r.is_rpc("tools/call"), flood);
    }
    let mut b = crate::support::driver::BridgeCmd::new(&server.url()).spawn();
    b.handshake(VERSION).await;
    b.pause_stdout();
    if !on_get {
        b.send(&call(1, "flood")).await;
    }
    let capacity = b.stdout_pipe_bytes().expect("F_GETPIPE_SZ") as usize;
    let n = flood_stalls(&pulled, &b).await;
    let unread = b.stdout_unread_bytes().expect("FIONREAD");
    eprintln!(
        "the flood stalled ({n} events) with the stdout pipe holding {unread} of {capacity} bytes"
    );
    b.signal("TERM");
    let t = Instant::now();
    let status = b.wait_exit(BOUND).await;
    let took = t.elapsed();
    eprintln!("SIGTERM under a notification flood ({n} events pulled): exit after {took:?}");
    assert!(
        status.is_some(),
        "the bridge still runs {took:?} after SIGTERM during a notification flood; stderr tail:\n{}",
        tail(&b.stderr())
    );
    let delete = server.wait_for_within(Recorded::is_delete, BOUND).await;
    assert_eq!(
        delete
            .and_then(|d| d.session().map(str::to_string))
            .as_deref(),
        Some("sess-1"),
        "no DELETE of the session; the server saw:\n{}",
        server.dump()
    );
}
