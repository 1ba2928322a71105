//! No secret ever leaves where it belongs (issue 3 §5, first row): with `RUST_LOG=trace`
//! on the bridge — its own logs and every dependency's (reqwest, hyper, h2, rustls) — and
//! through the fault matrix, neither the bearer token, nor the `Mcp-Session-Id`, nor the
//! value of a `--header "X-API-Key: ${VPS_KEY}"` appears anywhere in stdout or stderr.
//!
//! Every secret is distinctive and carries the marker `SECRET`, so a partial leak (a cut or
//! an excerpt) is caught too. Each test also proves the secrets were in play: the server
//! recorded them on the wire, and the trace logs were really on; and a control test shows
//! the check catches a token that does reach stdout.
//!
//! Row of issue 3 §5.1, through the fault rows of §1. Requirement ids: A9 (never log the
//! token or the session id), A2 (the token on every request: POST, GET, resuming GET,
//! DELETE), H16/H18/H19 (session id, re-initialize, DELETE at exit), A7/A8 (401/403
//! relayed, not retried), S3 (stdout carries protocol only).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::driver::{Bridge, BridgeCmd, assert_jsonrpc};
use crate::support::rmcp_peer;
use crate::support::scripted::{Recorded, Reply, Scripted, Sse, TestPki, json, sse, status, text};
use serde_json::Value;

const TOKEN: &str = "wz_SECRET_t0ken_9f8e7d";
const SESSION: &str = "sess-SECRET-4a5b6c";
/// The session the server hands out when the bridge re-initializes after a 404.
const SESSION2: &str = "sess-SECRET-5d6e7f";
const VPS_KEY: &str = "vps_SECRET_key_1a2b3c";
/// In every secret above; nothing the bridge or the servers here legitimately print has it.
const MARKER: &str = "SECRET";
const VERSION: &str = "2025-06-18";
const EXIT: Duration = Duration::from_secs(5);

/// A bridge with trace logs on, the token, and a secret custom header.
fn spawn(url: &str, extra: &[&str]) -> Run {
    let mut cmd = BridgeCmd::new(url)
        .token(TOKEN)
        .env("VPS_KEY", VPS_KEY)
        .env("RUST_LOG", "trace")
        .arg("--header")
        .arg("X-API-Key: ${VPS_KEY}");
    for a in extra {
        cmd = cmd.arg(a);
    }
    Run {
        b: cmd.spawn(),
        stdout: Vec::new(),
    }
}

/// A bridge whose every stdout line is kept, so the whole output can be searched at the end.
struct Run {
    b: Bridge,
    stdout: Vec<String>,
}

impl Run {
    async fn send(&mut self, line: &str) {
        self.b.send(line).await;
    }
    /// The next stdout line (checked as JSON-RPC), kept.
    async fn recv(&mut self) -> Value {
        let line = self.b.recv().await;
        let v = assert_jsonrpc(&line);
        self.stdout.push(line);
        v
    }
    /// Reads until the response to `id` (JSON text); other lines are kept too.
    async fn answer(&mut self, id: &str) -> Value {
        let id: Value = serde_json::from_str(id).unwrap();
        loop {
            let v = self.recv().await;
            if v.get("id") == Some(&id) && (v.get("result").is_some() || v.get("error").is_some()) {
                return v;
            }
        }
    }
    /// Sends `line` and returns the answer to `id`, which must be an error with `code`.
    async fn error(&mut self, line: &str, id: &str, code: i64) -> Value {
        self.send(line).await;
        let v = self.answer(id).await;
        assert_eq!(
            v["error"]["code"],
            code,
            "{v}\nstderr:\n{}",
            self.b.stderr()
        );
        v
    }
    async fn handshake(&mut self) {
        self.send(&format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{VERSION}","capabilities":{{}},"clientInfo":{{"name":"secrets-test","version":"0"}}}}}}"#
        ))
        .await;
        let init = self.answer("0").await;
        assert!(init.get("result").is_some(), "initialize failed: {init}");
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
    }
    /// Closes stdin, waits for the exit, and checks that no secret is in anything the bridge
    /// wrote (stdout lines read before, the rest, and all of stderr).
    async fn finish_clean(mut self, secrets: &[&str]) -> String {
        let (status, rest) = self.b.finish(EXIT).await;
        let status = status.unwrap_or_else(|| panic!("still running:\n{}", self.b.stderr()));
        assert!(status.success(), "exit {status}:\n{}", self.b.stderr());
        for l in &rest {
            assert_jsonrpc(l);
        }
        self.stdout.extend(rest);
        // Let the stderr collector catch up with the exited process: its last line is the
        // bridge's own, so wait until a line mentions the end of stdin.
        let _ = self
            .b
            .wait_stderr_line(Duration::from_secs(2), |l| l.contains("stdin closed"))
            .await;
        let stderr = self.b.stderr();
        assert_no_secret(secrets, &self.stdout.join("\n"), &stderr);
        stderr
    }
}

/// The lines of `text` that hold a secret (or the marker).
fn leaking<'a>(secrets: &[&str], text: &'a str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.contains(MARKER) || secrets.iter().any(|s| l.contains(s)))
        .collect()
}

/// Fails with the exact offending lines when any secret (or the marker) is in the output.
fn assert_no_secret(secrets: &[&str], stdout: &str, stderr: &str) {
    for (name, text) in [("stdout", stdout), ("stderr", stderr)] {
        let lines = leaking(secrets, text);
        assert!(
            lines.is_empty(),
            "a secret is in the bridge's {name}:\n{}",
            lines.join("\n")
        );
    }
}

/// The trace logs were on (so a clean stderr means something): the bridge's debug lines
/// are there.
fn assert_trace_was_on(stderr: &str) {
    assert!(
        stderr.lines().any(|l| l.contains("DEBUG")),
        "RUST_LOG=trace produced no debug line; stderr:\n{stderr}"
    );
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn has_id(raw: &str) -> impl Fn(&Recorded) -> bool + Clone + Send + Sync + 'static {
    let raw = raw.to_string();
    move |r| r.is_post() && r.rpc_id_raw().as_deref() == Some(raw.as_str())
}

fn init_result(raw_id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{raw_id},"result":{{"protocolVersion":"{VERSION}","capabilities":{{"tools":{{}}}},"serverInfo":{{"name":"keeper","version":"0"}}}}}}"#
    )
}

const CHALLENGE: &str =
    r#"Bearer realm="mcp", error="invalid_token", error_description="The access token expired""#;

/// A scripted server that hands out [`SESSION`] (then [`SESSION2`] on re-initialize) and
/// refuses the standalone GET stream with a 401 challenge.
async fn keeper() -> Scripted {
    let server = Scripted::start().await;
    install_keeper_rules(&server);
    server
}

fn install_keeper_rules(server: &Scripted) {
    let issued = Arc::new(AtomicUsize::new(0));
    server.always(
        |r| r.is_rpc("initialize"),
        move |r| {
            let session = match issued.fetch_add(1, Ordering::SeqCst) {
                0 => SESSION,
                _ => SESSION2,
            };
            json(200, init_result(&r.rpc_id_raw().unwrap())).header("mcp-session-id", session)
        },
    );
    server.always(
        |r| r.is_get() && r.header("last-event-id").is_none(),
        |_| text(401, "Unauthorized").header("www-authenticate", CHALLENGE),
    );
}

/// Every recorded request carried the token and the custom header; returns how many
/// carried each session id.
fn assert_secrets_were_sent(server: &Scripted) -> (usize, usize) {
    let all = server.requests();
    assert!(!all.is_empty());
    let bearer = format!("Bearer {TOKEN}");
    for r in &all {
        assert_eq!(
            r.header("authorization"),
            Some(bearer.as_str()),
            "{} {} without the token",
            r.method,
            r.path
        );
        assert_eq!(r.header("x-api-key"), Some(VPS_KEY), "{r:?}");
    }
    let count = |s: &str| all.iter().filter(|r| r.session() == Some(s)).count();
    (count(SESSION), count(SESSION2))
}

/// The fault matrix on one session, trace logs on: a JSON-RPC 401 relayed, a non-JSON 401
/// with a challenge, 403 insufficient_scope, 500 with a JSON-RPC body, 502 HTML, 429 with
/// Retry-After, a GET refused with 401, a cut SSE stream resumed with Last-Event-ID, a cut
/// stream without an event id, a 404 session expiry with re-initialize (a second session
/// id), a same-origin 307 followed and a cross-origin 307 refused, a stalled server hitting
/// `--idle-timeout`, a non-JSON 200 body, a notification drawing 401, and EOF with a call in
/// flight (answered, then DELETE). No secret in stdout or stderr.
#[tokio::test]
async fn trace_logs_hold_no_secret_through_the_fault_matrix() {
    let server = keeper().await;
    let other = Scripted::start().await;
    let s = &server;
    s.once(
        has_id(r#""r401""#),
        json(
            401,
            r#"{"jsonrpc":"2.0","id":"r401","error":{"code":-32000,"message":"Unauthorized: invalid or missing Bearer token."}}"#,
        ),
    );
    s.once(
        has_id(r#""p401""#),
        text(401, "Unauthorized").header("www-authenticate", CHALLENGE),
    );
    s.once(
        has_id(r#""scope""#),
        json(403, r#"{"error":"insufficient_scope"}"#).header(
            "www-authenticate",
            r#"Bearer error="insufficient_scope", scope="tools:write""#,
        ),
    );
    s.once(
        has_id(r#""e500""#),
        json(
            500,
            r#"{"jsonrpc":"2.0","id":"e500","error":{"code":-32603,"message":"database down"}}"#,
        ),
    );
    s.once(
        has_id(r#""h502""#),
        text(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    );
    s.once(
        has_id(r#""r429""#),
        text(429, "slow down").header("retry-after", "7"),
    );
    s.once(
        has_id(r#""sse""#),
        sse(vec![
            Sse::Raw("id: e1\nretry: 50\ndata:\n\n".into()),
            Sse::Cut,
        ]),
    );
    s.once(
        |r| r.is_get() && r.header("last-event-id") == Some("e1"),
        sse(vec![Sse::id(
            "e2",
            r#"{"jsonrpc":"2.0","id":"sse","result":{"resumed":true}}"#,
        )]),
    );
    s.once(
        has_id(r#""cut""#),
        sse(vec![
            Sse::msg(r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"working"}}"#),
            Sse::Cut,
        ]),
    );
    let expired = has_id(r#""exp""#);
    s.once(
        move |r| expired(r) && r.session() == Some(SESSION),
        status(404),
    );
    s.once(
        has_id(r#""moved""#),
        status(307).header("location", "/mcp/moved"),
    );
    let away = format!("{}?k=1", other.url());
    s.once(has_id(r#""away""#), status(307).header("location", &away));
    s.once(has_id(r#""stall""#), Reply::hang());
    s.once(has_id(r#""junk""#), json(200, "this is not json {"));
    s.once(
        |r| r.is_rpc("notifications/roots/list_changed"),
        text(401, "Unauthorized").header("www-authenticate", CHALLENGE),
    );
    s.once(has_id(r#""held""#), Reply::hang());

    let mut run = spawn(&server.url(), &["--idle-timeout", "2"]);
    run.handshake().await;
    server
        .wait_for("the refused GET", |r| {
            r.is_get() && r.session() == Some(SESSION)
        })
        .await;

    run.send(r#"{"jsonrpc":"2.0","id":"r401","method":"tools/list"}"#)
        .await;
    let v = run.answer(r#""r401""#).await;
    assert_eq!(v["error"]["code"], -32000, "{v}");
    for (id, code) in [
        ("p401", -32603),
        ("scope", -32603),
        ("e500", -32603),
        ("h502", -32603),
        ("r429", -32603),
        ("cut", -32603),
        ("away", -32603),
        ("stall", -32603),
        ("junk", -32603),
    ] {
        run.error(
            &format!(
                r#"{{"jsonrpc":"2.0","id":"{id}","method":"tools/call","params":{{"name":"x"}}}}"#
            ),
            &format!("\"{id}\""),
            code,
        )
        .await;
    }
    for id in ["sse", "exp", "moved"] {
        run.send(&format!(
            r#"{{"jsonrpc":"2.0","id":"{id}","method":"tools/call","params":{{"name":"x"}}}}"#
        ))
        .await;
        let v = run.answer(&format!("\"{id}\"")).await;
        assert!(v.get("result").is_some(), "{id}: {v}");
    }
    run.send(r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#)
        .await;
    run.b
        .wait_stderr_line(EXIT, |l| {
            l.contains("roots/list_changed") && l.contains("401")
        })
        .await
        .expect("the refused notification is reported on stderr");
    run.send(r#"{"jsonrpc":"2.0","id":"held","method":"tools/call","params":{"name":"x"}}"#)
        .await;
    server.wait_for("the held call", has_id(r#""held""#)).await;
    let stderr = run.finish_clean(&[TOKEN, SESSION, SESSION2, VPS_KEY]).await;
    assert_trace_was_on(&stderr);

    // The secrets were really on the wire, in every phase.
    let delete = server.wait_for("the DELETE", |r| r.is_delete()).await;
    assert_eq!(delete.session(), Some(SESSION2), "{}", server.dump());
    server
        .wait_for("the resuming GET", |r| {
            r.header("last-event-id") == Some("e1") && r.session() == Some(SESSION)
        })
        .await;
    server
        .wait_for("the re-initialize", |r| {
            r.is_rpc("initialize")
                && r.session().is_none()
                && r.rpc_id_raw().as_deref() != Some("0")
        })
        .await;
    let moved = server
        .wait_for("the redirected call", |r| r.path == "/mcp/moved")
        .await;
    assert_eq!(moved.session(), Some(SESSION2));
    let (first, second) = assert_secrets_were_sent(&server);
    assert!(
        first >= 10 && second >= 3,
        "{first} / {second}:\n{}",
        server.dump()
    );
    assert!(other.requests().is_empty(), "{}", other.dump());
}

/// A real rmcp server (its own UUID session ids, SSE responses, progress): normal calls,
/// the token rotated on the server (401 mid-session, on a call and on a notification), then
/// the server stopped (connection refused mid-session, and at the DELETE). Neither the
/// token nor rmcp's session id shows up.
#[tokio::test]
async fn trace_logs_hold_no_secret_with_a_real_server_that_goes_away() {
    let server = rmcp_peer::start_with(rmcp_peer::PeerOptions {
        token: TOKEN.to_string(),
        ..rmcp_peer::options()
    })
    .await;
    let mut run = spawn(&server.url, &[]);
    run.handshake().await;
    run.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    assert!(run.answer("1").await.get("result").is_some());
    run.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"progress","arguments":{"steps":3},"_meta":{"progressToken":"p"}}}"#).await;
    let v = run.answer("2").await;
    assert!(v.get("result").is_some(), "{v}");

    server.set_token("rotated-elsewhere");
    // The 401's JSON-RPC body, relayed (A7).
    run.error(
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
        "3",
        -32000,
    )
    .await;
    run.send(r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#)
        .await;
    run.b
        .wait_stderr_line(EXIT, |l| {
            l.contains("roots/list_changed") && l.contains("401")
        })
        .await
        .expect("the refused notification is reported on stderr");

    let log = server.requests();
    let session = log
        .iter()
        .find_map(|r| r.session_id.clone())
        .expect("rmcp handed out a session id");
    assert!(
        log.iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))),
        "a request without the token"
    );
    server.shutdown().await.expect("stop the server");

    run.error(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#, "4", -32603)
        .await;
    let stderr = run.finish_clean(&[TOKEN, VPS_KEY, &session]).await;
    assert_trace_was_on(&stderr);
}

/// Connection refused from the start (nothing listens on the port): the errors and the
/// trace logs name the host, never the token or the custom header's value.
#[tokio::test]
async fn trace_logs_hold_no_secret_when_the_server_is_down() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut run = spawn(&format!("http://127.0.0.1:{port}/mcp"), &[]);
    run.send(&format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{VERSION}","capabilities":{{}},"clientInfo":{{"name":"secrets-test","version":"0"}}}}}}"#
    ))
    .await;
    let v = run.answer("0").await;
    assert_eq!(v["error"]["code"], -32603, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("refused"), "{message}");
    run.error(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, "1", -32603)
        .await;
    let stderr = run.finish_clean(&[TOKEN, VPS_KEY]).await;
    assert_trace_was_on(&stderr);
}

/// Over HTTPS with HTTP/2 (ALPN), where h2 and rustls log at trace level and headers are
/// HPACK-coded: a call, a 401 relayed, SIGTERM mid-call (answered, DELETE sent). No secret.
#[tokio::test]
async fn trace_logs_hold_no_secret_over_tls_and_http2() {
    let pki = TestPki::generate();
    let ca = pki.write_ca("secrets-ca");
    let server = Scripted::builder().start_tls(&pki).await;
    install_keeper_rules(&server);
    server.once(
        has_id("2"),
        json(
            401,
            r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32001,"message":"Unauthorized"}}"#,
        ),
    );
    server.once(has_id("3"), Reply::hang());
    let mut run = spawn(&server.https_url(), &["--ca-file", ca.to_str().unwrap()]);
    run.handshake().await;
    run.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    assert!(run.answer("1").await.get("result").is_some());
    run.error(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        "2",
        -32001,
    )
    .await;
    run.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"}}"#)
        .await;
    server.wait_for("the held call", has_id("3")).await;
    // The host's polite stop: SIGTERM on Unix; elsewhere stdin EOF (same shutdown after
    // the grace period).
    #[cfg(unix)]
    run.b.signal("TERM");
    #[cfg(not(unix))]
    run.b.close_stdin();
    let v = run.answer("3").await;
    assert_eq!(v["error"]["code"], -32603, "{v}");
    let delete = server.wait_for("the DELETE", |r| r.is_delete()).await;
    assert_eq!(delete.session(), Some(SESSION));
    let (first, _) = assert_secrets_were_sent(&server);
    assert!(first >= 4, "{}", server.dump());
    run.b
        .wait_stderr_line(EXIT, |l| l.contains("session DELETE"))
        .await
        .unwrap_or_else(|| panic!("no DELETE outcome logged:\n{}", run.b.stderr()));
    // Secrets first (the point of this test), then the exit (S9, shutdown.rs's business).
    assert_no_secret(
        &[TOKEN, SESSION, VPS_KEY],
        &run.stdout.join("\n"),
        &run.b.stderr(),
    );
    assert_trace_was_on(&run.b.stderr());
    let status = match run.b.wait_exit(EXIT).await {
        Some(s) => s,
        None => panic!(
            "still running {EXIT:?} after SIGTERM (the DELETE was answered); stderr tail:\n{}",
            tail(&run.b.stderr(), 5)
        ),
    };
    assert!(status.success(), "exit {status}");
    let rest = run.b.drain(Duration::from_millis(200)).await;
    run.stdout.extend(rest);
    assert_no_secret(
        &[TOKEN, SESSION, VPS_KEY],
        &run.stdout.join("\n"),
        &run.b.stderr(),
    );
    let _ = std::fs::remove_file(ca);
}

/// The control: the check above does catch a leak. A server that reflects the request's
/// `Authorization` header into its result puts the token on the bridge's stdout (relayed
/// unchanged, as it must be); the same capture and check must then fail.
#[tokio::test]
async fn the_check_catches_a_reflected_token() {
    let server = keeper().await;
    server.always(has_id("1"), |r| {
        let auth = r.header("authorization").unwrap_or("").to_string();
        json(
            200,
            format!(r#"{{"jsonrpc":"2.0","id":1,"result":{{"youSent":"{auth}"}}}}"#),
        )
    });
    let mut run = spawn(&server.url(), &[]);
    run.handshake().await;
    run.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let v = run.answer("1").await;
    assert_eq!(v["result"]["youSent"], format!("Bearer {TOKEN}"));
    let stdout = run.stdout.join("\n");
    assert_eq!(
        leaking(&[TOKEN], &stdout),
        [run.stdout.last().unwrap().as_str()],
        "the leak check missed the token on stdout"
    );
    // The marker alone (a cut secret) is caught as well.
    assert_eq!(leaking(&[], "x\nBearer wz_SECRET_t0\ny").len(), 1);
}

/// A token written with a `/`, as OAuth and many API tokens are, so `\/` spells it too.
const SLASHED: &str = "wz/SECRET/t0k3n+Q9";

/// `text` with every character written as a `\u` escape (what some encoders emit).
fn u_escaped(text: &str) -> String {
    text.chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect()
}

/// Whether any JSON string in `v` (keys too), once decoded, holds `secret` or the marker.
fn decoded_leak(v: &Value, secret: &str) -> bool {
    match v {
        Value::String(s) => s.contains(secret) || s.contains(MARKER),
        Value::Array(a) => a.iter().any(|x| decoded_leak(x, secret)),
        Value::Object(o) => o
            .iter()
            .any(|(k, x)| k.contains(secret) || decoded_leak(x, secret)),
        _ => false,
    }
}

/// Issue 16 item 3: redaction works on values, not spellings, in every error that reaches
/// the client whatever the HTTP status, before any cut. The server echoes the token in
/// errors written as PHP's `json_encode` writes it (`\/`), fully `\u`-escaped, inside a
/// JSON-RPC error in a 200 JSON body and in an SSE event, in a 401 JSON-RPC body, in an
/// OAuth-style 400 body's `error_description`, and plainly across the 2 KiB cut of
/// `data.body` in a 500 page. No decoded string the client gets holds the token or a part
/// of it; a result (not an error) echoing it is relayed unchanged, as the relay promises.
///
/// On the old main: the `\/` and `\u` spellings reached stdout as written (decoding to the
/// token), the 200-body and SSE errors were relayed untouched, and `data.body` ended with
/// `wz/SECRET/` (the first part of the cut token).
#[tokio::test]
async fn errors_are_redacted_by_value_whatever_the_spelling_status_or_cut() {
    let server = keeper().await;
    let php = SLASHED.replace('/', "\\/");
    let uni = u_escaped(SLASHED);
    let s = &server;
    s.once(
        has_id(r#""json200""#),
        json(
            200,
            format!(
                r#"{{"jsonrpc":"2.0","id":"json200","error":{{"code":-32000,"message":"token {php} is not valid","data":{{"seen":"Bearer {uni}"}}}}}}"#
            ),
        ),
    );
    s.once(
        has_id(r#""sse200""#),
        sse(vec![Sse::msg(&format!(
            r#"{{"jsonrpc":"2.0","id":"sse200","error":{{"code":-32001,"message":"you sent {uni}"}}}}"#
        ))]),
    );
    s.once(
        has_id(r#""rpc401""#),
        json(
            401,
            format!(
                r#"{{"jsonrpc":"2.0","id":"rpc401","error":{{"code":-32000,"message":"Unauthorized: {php}"}}}}"#
            ),
        ),
    );
    s.once(
        has_id(r#""oauth400""#),
        json(
            400,
            format!(r#"{{"error":"invalid_request","error_description":"bad token {php}"}}"#),
        ),
    );
    // The token starts 10 bytes before the 2 KiB excerpt ends.
    let page = format!("{}{SLASHED} was refused", "x".repeat(2048 - 10));
    s.once(has_id(r#""cut500""#), text(500, &page));
    s.once(
        has_id(r#""result""#),
        json(
            200,
            format!(r#"{{"jsonrpc":"2.0","id":"result","result":{{"echo":"{php}"}}}}"#),
        ),
    );

    let mut run = Run {
        b: BridgeCmd::new(&server.url()).token(SLASHED).spawn(),
        stdout: Vec::new(),
    };
    run.handshake().await;
    let call = |id: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":"{id}","method":"tools/call","params":{{"name":"x"}}}}"#)
    };
    for (id, code) in [
        ("json200", -32000),
        ("sse200", -32001),
        ("rpc401", -32000),
        ("oauth400", -32603),
        ("cut500", -32603),
    ] {
        let v = run.error(&call(id), &format!("\"{id}\""), code).await;
        assert!(
            !decoded_leak(&v, SLASHED),
            "{id}: the token reached the client: {v}"
        );
        let line = run.stdout.last().unwrap().clone();
        assert!(line.contains("[redacted]"), "{id}: nothing was cut: {line}");
        assert!(!line.contains(MARKER), "{id}: {line}");
    }
    let cut: Value = serde_json::from_str(
        run.stdout
            .iter()
            .find(|l| l.contains("cut500"))
            .expect("the cut500 answer"),
    )
    .unwrap();
    let excerpt = cut["error"]["data"]["body"].as_str().unwrap();
    // Cut after the redaction: the excerpt ends where the whole token was.
    assert!(excerpt.ends_with("x[redacted]"), "{excerpt:?}");
    assert!(!excerpt.contains("wz/"), "a part of the token: {excerpt:?}");

    // A result is relayed byte for byte, token included: only errors are edited.
    run.send(&call("result")).await;
    let v = run.answer(r#""result""#).await;
    assert_eq!(v["result"]["echo"], SLASHED);
    assert!(run.stdout.last().unwrap().contains(&php));
}

/// Issue 16 item 3, on a claimed answer: the `initialize` answer is inspected by the bridge
/// before the client sees it (the era decision); a JSON-RPC error there that echoes the
/// token in PHP's spelling reaches the client with the token cut out too.
///
/// On the old main: relayed as the server wrote it, `wz\/SECRET\/…` decoding to the token.
#[tokio::test]
async fn a_claimed_initialize_error_is_redacted_too() {
    let server = Scripted::start().await;
    let php = SLASHED.replace('/', "\\/");
    server.always(
        |r| r.is_rpc("initialize"),
        move |r| {
            json(
                200,
                format!(
                    r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32001,"message":"token {php} revoked"}}}}"#,
                    r.rpc_id_raw().unwrap()
                ),
            )
        },
    );
    let mut run = Run {
        b: BridgeCmd::new(&server.url()).token(SLASHED).spawn(),
        stdout: Vec::new(),
    };
    run.send(&format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{VERSION}","capabilities":{{}},"clientInfo":{{"name":"secrets-test","version":"0"}}}}}}"#
    ))
    .await;
    let v = run.answer("0").await;
    assert_eq!(v["error"]["code"], -32001, "{v}");
    assert!(
        !decoded_leak(&v, SLASHED),
        "the token reached the client: {v}"
    );
    assert_eq!(v["error"]["message"], "token [redacted] revoked");
}
