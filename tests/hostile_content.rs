//! What a worst-case server must not get onto stdout (the worst-case server contract,
//! items 8 and 9).
//!
//! 8: an HTML 500 page that echoes every request header (the bearer token, a `--header`
//! secret) is turned into an error answer that quotes none of them, and no log line at
//! `--log-level trace` carries them either.
//!
//! 9: `notifications/progress` is relayed while its request runs and withheld once the
//! request was answered or cancelled by the client. The proof that a progress was
//! withheld is the next event the server sent after it (a `notifications/message` on the
//! same stream) reaching stdout first, never a sleep.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::driver::{Bridge, BridgeCmd, assert_jsonrpc};
use crate::support::scripted::{Recorded, Scripted, SseTx, sse_stream, typed};

const VERSION: &str = "2025-06-18";
const EXIT: Duration = Duration::from_secs(3);
const LINE: Duration = Duration::from_secs(5);

// ----- 8. secrets never on stdout -----------------------------------------------------

const TOKEN: &str = "tok-SECRET-123";
const VPS_KEY: &str = "key-SECRET-456";

/// 8. Fails today because an HTML error body is quoted into the error answer (its first
/// line in `message`, an excerpt in `data.body`), so the echoed `Authorization` and
/// `X-API-Key` reach stdout; and the failure, body included, is logged at debug level.
#[tokio::test]
async fn secrets_echoed_by_an_html_500_reach_neither_stdout_nor_stderr() {
    let server = Scripted::start().await;
    server.always(
        |r| r.is_rpc("tools/call"),
        |r| {
            let echoed: String = r
                .headers
                .iter()
                .map(|(n, v)| format!("{n}: {v}<br>\n"))
                .collect();
            typed(
                500,
                "text/html",
                format!(
                    "<html><head><title>500 Internal Server Error</title></head>\n<body><h1>Internal Server Error</h1>\n<p>Your request headers were:</p>\n{echoed}</body></html>\n"
                ),
            )
        },
    );
    let mut b = BridgeCmd::new(&server.url())
        .token(TOKEN)
        .env("VPS_KEY", VPS_KEY)
        .arg("--header")
        .arg("X-API-Key: ${VPS_KEY}")
        .arg("--log-level")
        .arg("trace")
        .spawn();
    let mut stdout = Vec::new();
    b.send(&format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{VERSION}","capabilities":{{}},"clientInfo":{{"name":"hostile","version":"0"}}}}}}"#
    ))
    .await;
    let (init, before) = b.response_within(&Value::from(0), LINE, "initialize").await;
    stdout.extend(before);
    stdout.push(init);
    b.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    b.send(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"work","arguments":{}}}"#,
    )
    .await;
    let (answer, before) = b
        .response_within(
            &Value::from(1),
            LINE,
            "the tools/call answered 500 text/html",
        )
        .await;
    stdout.extend(before);
    assert!(
        assert_jsonrpc(&answer).get("error").is_some(),
        "the 500 must reach the client as an error: {answer}"
    );
    stdout.push(answer);

    // The secrets were on the wire, and the page echoed them.
    let post = server
        .wait_for("the tools/call POST", |r| r.is_rpc("tools/call"))
        .await;
    assert_eq!(
        post.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(post.header("x-api-key"), Some(VPS_KEY));

    let (status, rest) = b.finish(EXIT).await;
    assert!(
        status.is_some(),
        "still running after stdin EOF:\n{}",
        b.stderr()
    );
    stdout.extend(rest);
    // The collector may lag the exit by a moment: its last line says stdin closed.
    let _ = b
        .wait_stderr_line(Duration::from_secs(2), |l| l.contains("stdin closed"))
        .await;
    let stderr = b.stderr();
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("DEBUG") || l.contains("TRACE")),
        "--log-level trace produced no debug line, so a clean stderr would prove nothing:\n{stderr}"
    );
    for (name, text) in [("stdout", stdout.join("\n")), ("stderr", stderr)] {
        let leaks: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(TOKEN) || l.contains(VPS_KEY) || l.contains("SECRET"))
            .collect();
        assert!(
            leaks.is_empty(),
            "a secret echoed by the server's HTML page is in the bridge's {name}:\n{}",
            leaks.join("\n")
        );
    }
}

// ----- 9. progress after the answer is withheld ---------------------------------------

fn call_with_progress(id: u32, token: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"work","arguments":{{}},"_meta":{{"progressToken":"{token}"}}}}}}"#
    )
}

fn progress(token: &str, n: u32) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":"{token}","progress":{n},"total":10}}}}"#
    )
}

fn message(text: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"info","data":"{text}"}}}}"#
    )
}

fn result(id: u32) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"done"}}]}}}}"#
    )
}

fn has_id(id: u32) -> impl Fn(&Recorded) -> bool + Send + Sync + 'static {
    let raw = id.to_string();
    move |r| r.is_post() && r.rpc_id_raw().as_deref() == Some(raw.as_str())
}

/// The next stdout line, which must be exactly `expected`.
async fn next_is(b: &mut Bridge, expected: &str, what: &str) {
    let line = b.recv_within(LINE).await.unwrap_or_else(|| {
        panic!(
            "{what}: nothing on stdout within {LINE:?}; stderr:\n{}",
            b.stderr()
        )
    });
    assert_eq!(line, expected, "{what}");
}

/// A scripted server whose standalone GET stream the test feeds, and a bridge past the
/// handshake with that stream open.
async fn with_get_stream() -> (Scripted, Bridge, SseTx) {
    let server = Scripted::start().await;
    let (reply, get) = sse_stream();
    server.once(|r| r.is_get(), reply);
    let b = server.ready_bridge(VERSION).await;
    server.wait_for("the standalone GET", |r| r.is_get()).await;
    (server, b, get)
}

/// Closes stdin: the bridge exits and writes nothing more.
async fn nothing_more(b: &mut Bridge) {
    let t = Instant::now();
    let (status, rest) = b.finish(EXIT).await;
    assert!(
        status.is_some(),
        "still running {:?} after stdin EOF:\n{}",
        t.elapsed(),
        b.stderr()
    );
    assert!(rest.is_empty(), "unexpected stdout lines: {rest:#?}");
}

/// 9. Fails today because progress notifications are relayed whatever the state of their
/// request: the late progress for `p1` reaches stdout before the marker message.
/// (The other two steps, progress while the call runs, pass today.)
#[tokio::test]
async fn progress_after_the_answer_is_withheld_and_progress_while_running_is_relayed() {
    let (server, mut b, get) = with_get_stream().await;
    let (reply1, call1) = sse_stream();
    server.once(has_id(1), reply1);
    let (reply3, call3) = sse_stream();
    server.once(has_id(3), reply3);

    // While call 1 runs, its progress (on its own stream) is relayed; then its answer.
    b.send(&call_with_progress(1, "p1")).await;
    server.wait_for("call 1", has_id(1)).await;
    call1.msg(&progress("p1", 1));
    next_is(
        &mut b,
        &progress("p1", 1),
        "progress of a running call, relayed",
    )
    .await;
    call1.msg(&result(1));
    next_is(&mut b, &result(1), "the answer of call 1").await;

    // After the answer: progress for p1 on the GET stream is withheld; the message is not.
    get.msg(&progress("p1", 2));
    get.msg(&message("after p1 was answered"));
    next_is(
        &mut b,
        &message("after p1 was answered"),
        "the progress for p1 sent after call 1 was answered must be withheld",
    )
    .await;

    // Progress for a call still running, on the GET stream: relayed.
    b.send(&call_with_progress(3, "p3")).await;
    server.wait_for("call 3", has_id(3)).await;
    get.msg(&progress("p3", 1));
    next_is(
        &mut b,
        &progress("p3", 1),
        "progress of a running call on the GET stream, relayed",
    )
    .await;
    call3.msg(&result(3));
    next_is(&mut b, &result(3), "the answer of call 3").await;
    nothing_more(&mut b).await;
}

/// 9. Fails today for the same reason: a request the client cancelled gets no answer, but
/// its late progress is still relayed.
#[tokio::test]
async fn progress_after_a_cancel_is_withheld() {
    let (server, mut b, get) = with_get_stream().await;
    let (reply2, _call2) = sse_stream();
    server.once(has_id(2), reply2);
    b.send(&call_with_progress(2, "p2")).await;
    server.wait_for("call 2", has_id(2)).await;
    b.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2,"reason":"user"}}"#)
        .await;
    server
        .wait_for("the forwarded cancellation", |r| {
            r.is_rpc("notifications/cancelled")
        })
        .await;
    get.msg(&progress("p2", 1));
    get.msg(&message("after 2 was cancelled"));
    next_is(
        &mut b,
        &message("after 2 was cancelled"),
        "the progress for p2 sent after the client cancelled call 2 must be withheld",
    )
    .await;
    nothing_more(&mut b).await;
}
