//! Ids from a worst-case peer (the worst-case server contract, items 4 and 5).
//!
//! 4: a server may spell an id differently from the client (`"xA"` for `"x\u0041"`, `7`
//! for `7.0`): the bridge matches ids by JSON value and writes the answer back in the
//! client's spelling, exactly once, and stops resuming once the request is answered.
//! Answers are sent on SSE streams with event ids, since a single JSON body answering a
//! single request is that request's answer whatever id it carries.
//!
//! 5: a client line whose id is not valid JSON (`--1`, `01`, `1.2.3`, a raw control
//! character in a string, a bad escape) is answered with `"id":null` and -32700 or -32600;
//! stdout never carries a line that is not JSON, and the next request is still served.
//!
//! Each test says above it why it fails against the relay core of today.

use std::time::Duration;

use serde_json::Value;

use crate::support::driver::{Bridge, raw_id};
use crate::support::scripted::{Recorded, Scripted, Sse, sse};

const VERSION: &str = "2025-06-18";
const EXIT: Duration = Duration::from_secs(3);
/// How long the bridge may take to answer here.
const ANSWER: Duration = Duration::from_secs(5);

fn is_call(r: &Recorded) -> bool {
    r.is_rpc("tools/call")
}

fn is_resume(r: &Recorded) -> bool {
    r.is_get() && r.header("last-event-id").is_some()
}

fn call(raw_id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{raw_id},"method":"tools/call","params":{{"name":"work","arguments":{{}}}}}}"#
    )
}

fn answer(raw_id: &str, text: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{raw_id},"result":{{"content":[{{"type":"text","text":"{text}"}}]}}}}"#
    )
}

/// An SSE event with event id `id`, `retry: 100` and `data` (so a bridge that wrongly
/// resumes does it at once, inside the test's window).
fn event(id: &str, data: &str) -> Sse {
    Sse::Raw(format!("id: {id}\nretry: 100\ndata: {data}\n\n"))
}

/// Closes stdin, expects an exit within [`EXIT`], returns every stdout line not read yet,
/// each checked to be JSON.
async fn finish(b: &mut Bridge) -> Vec<String> {
    let (status, rest) = b.finish(EXIT).await;
    assert!(
        status.is_some(),
        "the bridge still runs {EXIT:?} after stdin EOF; stderr:\n{}",
        b.stderr()
    );
    for l in &rest {
        serde_json::from_str::<Value>(l)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"));
    }
    rest
}

/// Asserts that no resuming GET came within 1 s after the answer (the stream said
/// `retry: 100`, so a bridge that keeps resuming does it well inside that second).
async fn no_resume_after_the_answer(server: &Scripted) {
    // Wall time for the bound under test.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let resumes = server.matching(is_resume);
    assert!(
        resumes.is_empty(),
        "the bridge resumed the stream of an answered request: {} GET(s) with Last-Event-ID; the server saw:\n{}",
        resumes.len(),
        server.dump()
    );
}

// ----- 4. ids matched by JSON value, written back in the client's spelling ------------

/// The client sends `client_id` (raw text); the server answers on an SSE stream with
/// `server_id`, the same JSON value spelled differently. Stdout must get that answer, once,
/// with the client's exact spelling; the bridge must not resume the answered stream.
async fn answered_in_the_clients_spelling(client_id: &str, server_id: &str) {
    let server = Scripted::start().await;
    server.once(is_call, sse(vec![event("e1", &answer(server_id, "first"))]));
    let mut b = server.ready_bridge(VERSION).await;
    b.send(&call(client_id)).await;
    let post = server.wait_for("the tools/call POST", is_call).await;
    assert_eq!(
        post.rpc_id_raw().as_deref(),
        Some(client_id),
        "the POST body is the stdin line"
    );

    let line = b.recv_within(ANSWER).await.unwrap_or_else(|| {
        panic!(
            "no answer for id {client_id} (server spelled it {server_id}) within {ANSWER:?}; stderr:\n{}",
            b.stderr()
        )
    });
    assert_eq!(
        raw_id(&line).as_deref(),
        Some(client_id),
        "the answer's id must be written exactly as the client spelled it: {line}"
    );
    assert_eq!(
        line,
        answer(client_id, "first"),
        "expected the server's answer with only the id respelled (the server answered id {server_id})"
    );
    no_resume_after_the_answer(&server).await;
    let rest = finish(&mut b).await;
    assert!(
        rest.is_empty(),
        "stdout after the one answer must be empty: {rest:#?}"
    );
}

/// 4. Fails today because pending requests are keyed by raw id text: `"xA"` does not find
/// `"x\u0041"`, the answer is dropped, the stream is resumed (GET → 405) and the client
/// gets an HTTP error instead of the result.
#[tokio::test]
async fn an_escaped_string_id_is_matched_by_value() {
    answered_in_the_clients_spelling(r#""x\u0041""#, r#""xA""#).await;
}

/// 4. Fails today for the same reason (`"a\"bé"` is not the text `"a\"b\u00e9"`).
#[tokio::test]
async fn an_id_with_an_escaped_quote_and_a_unicode_escape_is_matched_by_value() {
    answered_in_the_clients_spelling(r#""a\"b\u00e9""#, r#""a\"bé""#).await;
}

/// 4. Fails today for the same reason (`7` is not the text `7.0`).
#[tokio::test]
async fn a_number_id_is_matched_by_value() {
    answered_in_the_clients_spelling("7.0", "7").await;
}

/// 4, exactly once. Fails today because the first answer (`"xA"`) is dropped as unknown and
/// the second (`"x\u0041"`, sent as a duplicate) is the one relayed: stdout gets the
/// duplicate's result ("second"), not the first answer's.
#[tokio::test]
async fn an_answer_sent_twice_in_two_spellings_reaches_stdout_once() {
    let client_id = r#""x\u0041""#;
    let server = Scripted::start().await;
    server.once(
        is_call,
        sse(vec![
            event("e1", &answer(r#""xA""#, "first")),
            event("e2", &answer(client_id, "second")),
        ]),
    );
    let mut b = server.ready_bridge(VERSION).await;
    b.send(&call(client_id)).await;
    server.wait_for("the tools/call POST", is_call).await;
    let line = b
        .recv_within(ANSWER)
        .await
        .unwrap_or_else(|| panic!("no answer within {ANSWER:?}; stderr:\n{}", b.stderr()));
    no_resume_after_the_answer(&server).await;
    let rest = finish(&mut b).await;
    assert_eq!(
        line,
        answer(client_id, "first"),
        "the first answer (id \"xA\") must be the one relayed, in the client's spelling"
    );
    assert!(
        rest.is_empty(),
        "the duplicate answer (or anything else) reached stdout: {rest:#?}"
    );
}

// ----- 5. stdout only ever carries valid JSON -----------------------------------------

/// Writes `line` (whose id is not valid JSON), then a valid ping (id 99). Before the
/// ping's answer, stdout must carry exactly one line: an error with `"id":null` and code
/// -32700 or -32600; every line must be JSON; the server must not get the bad line.
async fn a_malformed_id_is_answered_with_a_null_id(line: &str) {
    let server = Scripted::start().await;
    let mut b = server.ready_bridge(VERSION).await;
    b.send(line).await;
    b.send(r#"{"jsonrpc":"2.0","id":99,"method":"ping"}"#).await;
    let mut before = Vec::new();
    loop {
        let out = b.recv_within(ANSWER).await.unwrap_or_else(|| {
            panic!(
                "the ping after {line:?} was not answered within {ANSWER:?}; lines before: {before:#?}\nstderr:\n{}",
                b.stderr()
            )
        });
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| {
            panic!(
                "after the stdin line {line:?}, stdout carried a line that is not JSON ({e}): {out}"
            )
        });
        if v["id"] == 99 && v.get("result").is_some() {
            break;
        }
        before.push(v);
    }
    assert_eq!(
        before.len(),
        1,
        "the line {line:?} must get exactly one answer before the ping's: {before:#?}"
    );
    let e = &before[0];
    assert!(
        e.get("id") == Some(&Value::Null),
        "the answer to {line:?} must have \"id\":null: {e}"
    );
    assert!(
        matches!(e["error"]["code"].as_i64(), Some(-32700 | -32600)),
        "the answer to {line:?} must be a -32700 or -32600 error: {e}"
    );
    let sent = server.matching(|r| r.is_post() && r.body.windows(6).any(|w| w == b"\"ping\""));
    assert_eq!(
        sent.len(),
        1,
        "only the valid ping may be POSTed; the server saw:\n{}",
        server.dump()
    );
    finish(&mut b).await;
}

/// 5. Fails today because the id sniffed from the unparsable line (`--1`) is written into
/// the error as is: stdout carries `"id":--1`, which is not JSON.
#[tokio::test]
async fn id_minus_minus_one_gets_a_null_id_error() {
    a_malformed_id_is_answered_with_a_null_id(r#"{"jsonrpc":"2.0","id":--1,"method":"ping"}"#)
        .await;
}

/// 5. Fails today: the sniffed id `01` is written back as is (not JSON).
#[tokio::test]
async fn id_with_a_leading_zero_gets_a_null_id_error() {
    a_malformed_id_is_answered_with_a_null_id(r#"{"jsonrpc":"2.0","id":01,"method":"ping"}"#).await;
}

/// 5. Fails today: the sniffed id `1.2.3` is written back as is (not JSON).
#[tokio::test]
async fn id_one_dot_two_dot_three_gets_a_null_id_error() {
    a_malformed_id_is_answered_with_a_null_id(r#"{"jsonrpc":"2.0","id":1.2.3,"method":"ping"}"#)
        .await;
}

/// 5. Fails today: the sniffed string id with a raw tab is written back as is (not JSON).
#[tokio::test]
async fn string_id_with_a_raw_tab_gets_a_null_id_error() {
    a_malformed_id_is_answered_with_a_null_id(
        "{\"jsonrpc\":\"2.0\",\"id\":\"a\tb\",\"method\":\"ping\"}",
    )
    .await;
}

/// 5. Fails today: the sniffed string id with a raw 0x01 is written back as is (not JSON).
#[tokio::test]
async fn string_id_with_a_raw_control_byte_gets_a_null_id_error() {
    a_malformed_id_is_answered_with_a_null_id(
        "{\"jsonrpc\":\"2.0\",\"id\":\"a\u{1}b\",\"method\":\"ping\"}",
    )
    .await;
}

/// 5. Fails today: the sniffed string id `"\q"` (a bad escape) is written back as is.
#[tokio::test]
async fn string_id_with_a_bad_escape_gets_a_null_id_error() {
    a_malformed_id_is_answered_with_a_null_id(r#"{"jsonrpc":"2.0","id":"\q","method":"ping"}"#)
        .await;
}
