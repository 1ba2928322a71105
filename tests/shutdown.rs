//! Shutdown: stdin EOF, SIGTERM and SIGINT end the bridge with exit code 0 within 2.5 s,
//! after a `DELETE` of the session, even with an open GET stream, a call in flight, a
//! DELETE answered 405, or a DELETE never answered (issue #2 point 3j; S9, H19, E2).
//!
//! The 2.5 s bound is the one wall-clock contract in the suite; it is measured from the
//! moment stdin is closed or the signal is sent.

use std::time::Duration;

use crate::support::driver::{Bridge, BridgeCmd};
use crate::support::scripted::{Recorded, Reply, Scripted, SseTx, sse_stream, status};

const BOUND: Duration = Duration::from_millis(2500);

fn has_id(raw: &'static str) -> impl Fn(&Recorded) -> bool {
    move |r| r.is_post() && r.rpc_id_raw().as_deref() == Some(raw)
}

/// A bridge in session `sess-1` with the standalone GET stream open (the returned sender
/// keeps it open).
async fn with_open_get(server: &Scripted) -> (Bridge, SseTx) {
    let (reply, get) = sse_stream();
    server.once(|r| r.is_get(), reply);
    let mut b = BridgeCmd::new(&server.url())
        .arg("--log-level")
        .arg("debug")
        .spawn();
    b.handshake("2025-06-18").await;
    server.wait_for("the GET stream", |r| r.is_get()).await;
    (b, get)
}

/// Waits for exit within [`BOUND`] and asserts exit code 0.
async fn exits_zero(b: &mut Bridge, how: &str) {
    match b.wait_exit(BOUND).await {
        Some(st) => assert_eq!(
            st.code(),
            Some(0),
            "exit status after {how}: {st:?}; stderr:\n{}",
            b.stderr()
        ),
        None => panic!(
            "still running {BOUND:?} after {how}; stderr:\n{}",
            b.stderr()
        ),
    }
}

/// The DELETE the server saw, with the session headers.
async fn deleted(server: &Scripted) -> Recorded {
    let d = server.wait_for("the DELETE", |r| r.is_delete()).await;
    assert_eq!(d.session(), Some("sess-1"), "{}", server.dump());
    assert_eq!(d.protocol_version(), Some("2025-06-18"));
    assert_eq!(d.path, "/mcp");
    d
}

/// S9, H19, E2: stdin EOF with the GET stream open → DELETE with the session id, exit 0
/// within 2.5 s.
#[tokio::test]
async fn eof_deletes_the_session_and_exits_with_the_get_stream_open() {
    let server = Scripted::start().await;
    let (mut b, _get) = with_open_get(&server).await;
    b.close_stdin();
    exits_zero(&mut b, "stdin EOF").await;
    deleted(&server).await;
    assert_eq!(server.matching(|r| r.is_delete()).len(), 1);
}

/// H19: a DELETE answered 405 (termination not allowed) is tolerated: exit 0.
#[tokio::test]
async fn eof_tolerates_a_delete_answered_405() {
    let server = Scripted::start().await;
    server.always(|r| r.is_delete(), |_| status(405));
    let (mut b, _get) = with_open_get(&server).await;
    b.close_stdin();
    exits_zero(&mut b, "stdin EOF (DELETE → 405)").await;
    deleted(&server).await;
}

/// S9: a server that never answers the DELETE does not hold the exit past 2.5 s.
#[tokio::test]
async fn unanswered_delete_does_not_block_the_exit() {
    let server = Scripted::start().await;
    server.always(|r| r.is_delete(), |_| Reply::hang());
    let (mut b, _get) = with_open_get(&server).await;
    b.close_stdin();
    exits_zero(&mut b, "stdin EOF (DELETE never answered)").await;
    deleted(&server).await;
}

/// S9, H19: a signal while a call is in flight (its SSE stream open, no answer yet) →
/// DELETE, exit 0 within 2.5 s. (Unix: the signal is sent with `kill`; Windows' console
/// events map to the same shutdown, see `relay::shutdown::triggers`.)
#[cfg(unix)]
async fn signal_mid_call(sig: &str) {
    let server = Scripted::start().await;
    let (call, _call_tx) = sse_stream();
    server.once(has_id("1"), call);
    let (mut b, _get) = with_open_get(&server).await;
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"long"}}"#)
        .await;
    server.wait_for("the tools/call POST", has_id("1")).await;
    b.signal(sig);
    exits_zero(&mut b, &format!("SIG{sig}")).await;
    deleted(&server).await;
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_mid_call_deletes_and_exits_zero() {
    signal_mid_call("TERM").await;
}

#[cfg(unix)]
#[tokio::test]
async fn sigint_mid_call_deletes_and_exits_zero() {
    signal_mid_call("INT").await;
}

/// S9: stdin EOF while a call is in flight behaves the same (no waiting for the call).
#[tokio::test]
async fn eof_mid_call_does_not_wait_for_the_call() {
    let server = Scripted::start().await;
    server.once(has_id("1"), Reply::hang());
    let (mut b, _get) = with_open_get(&server).await;
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"long"}}"#)
        .await;
    server.wait_for("the tools/call POST", has_id("1")).await;
    b.close_stdin();
    exits_zero(&mut b, "stdin EOF mid-call").await;
    deleted(&server).await;
}

/// S9, H19: the worst case together: EOF with a call in flight, the GET stream open and a
/// DELETE the server never answers still ends within 2.5 s with exit code 0.
#[tokio::test]
async fn eof_mid_call_with_an_unanswered_delete_still_exits_in_time() {
    let server = Scripted::start().await;
    server.once(has_id("1"), Reply::hang());
    server.always(|r| r.is_delete(), |_| Reply::hang());
    let (mut b, _get) = with_open_get(&server).await;
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"long"}}"#)
        .await;
    server.wait_for("the tools/call POST", has_id("1")).await;
    b.close_stdin();
    exits_zero(&mut b, "stdin EOF mid-call (DELETE never answered)").await;
    deleted(&server).await;
}
