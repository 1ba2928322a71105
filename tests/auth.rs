//! Auth errors, byte for byte: raw line drivers against the rmcp server behind its
//! WAzion-like bearer layer (`tests/support/rmcp_peer.rs`).
//!
//! A JSON-RPC error body reaches stdout unchanged (only a wrong `id` replaced), whatever
//! the HTTP status; a non-JSON 401 becomes a -32603 naming host, status and remedy with
//! the challenge in `data`; a 401 on a notification is one stderr line; the bridge sends
//! the (normalised) bearer on every request, survives refusals, and never logs the token.

use std::time::Duration;

use crate::support::driver::{Bridge, BridgeCmd, LINE_DEADLINE};
use crate::support::rmcp_peer::{
    self, AuthFailure, PLAIN_BODY, PLAIN_WWW_AUTHENTICATE, PeerOptions, RecordedRequest,
    RunningPeer, TOKEN, unauthorized_body,
};
use serde_json::json;

const VERSION: &str = "2025-06-18";

/// An `initialize` request with `raw_id` (JSON text) as its id.
fn initialize(raw_id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{raw_id},"method":"initialize","params":{{"protocolVersion":"{VERSION}","capabilities":{{}},"clientInfo":{{"name":"auth-test","version":"0"}}}}}}"#
    )
}

fn with_failure(auth_failure: AuthFailure) -> PeerOptions {
    PeerOptions {
        auth_failure,
        ..rmcp_peer::options()
    }
}

/// The recorded POST whose JSON-RPC method is `method`, once the server has seen it.
async fn seen(server: &RunningPeer, method: &str) -> RecordedRequest {
    server
        .log
        .wait_for(LINE_DEADLINE, |r| {
            r.method == "POST" && r.rpc_method().as_deref() == Some(method)
        })
        .await
        .unwrap_or_else(|| panic!("the server never saw a {method} POST"))
}

/// The body the bearer layer answered to the recorded request.
fn refused_body(r: &RecordedRequest) -> String {
    r.rejection
        .as_ref()
        .unwrap_or_else(|| panic!("{} was not refused", r.body_str()))
        .body
        .clone()
}

async fn exit_cleanly(mut bridge: Bridge) -> Bridge {
    bridge.close_stdin();
    let status = bridge
        .wait_exit(Duration::from_secs(5))
        .await
        .unwrap_or_else(|| {
            panic!(
                "bridge still running after EOF; stderr:\n{}",
                bridge.stderr()
            )
        });
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        bridge.stderr()
    );
    bridge
}

#[tokio::test]
async fn without_token_the_401_body_reaches_stdout_byte_identical() {
    let server = rmcp_peer::start().await;
    let mut bridge = BridgeCmd::new(&server.url).spawn();

    bridge.send(&initialize("7")).await;
    let line = bridge.recv().await;
    let refused = seen(&server, "initialize").await;
    assert_eq!(
        refused.authorization, None,
        "no token, no Authorization header"
    );
    assert_eq!(line, refused_body(&refused));
    assert_eq!(line, unauthorized_body("7"));
    assert!(
        bridge.stderr().contains("WAZION_TOKEN"),
        "a missing token is reported on stderr:\n{}",
        bridge.stderr()
    );
    exit_cleanly(bridge).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn string_id_is_echoed_byte_identical() {
    let server = rmcp_peer::start().await;
    let mut bridge = BridgeCmd::new(&server.url).token("wrong-token").spawn();

    bridge.send(&initialize(r#""init-1""#)).await;
    let line = bridge.recv().await;
    let refused = seen(&server, "initialize").await;
    assert_eq!(refused.authorization.as_deref(), Some("Bearer wrong-token"));
    assert_eq!(line, refused_body(&refused));
    assert_eq!(line, unauthorized_body(r#""init-1""#));
    exit_cleanly(bridge).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_wrong_id_in_the_401_body_is_the_only_byte_replaced() {
    let server = rmcp_peer::start_with(with_failure(AuthFailure::AlwaysIdOne)).await;
    let mut bridge = BridgeCmd::new(&server.url).token("wrong-token").spawn();

    bridge.send(&initialize("42")).await;
    let line = bridge.recv().await;
    let body = refused_body(&seen(&server, "initialize").await);
    let (head, tail) = body
        .rsplit_once(r#""id":1"#)
        .expect("the body ends with id 1");
    assert_eq!(tail, "}");
    assert_eq!(line, format!(r#"{head}"id":42{tail}"#));
    exit_cleanly(bridge).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_json_rpc_error_with_http_200_is_relayed() {
    let server = rmcp_peer::start_with(with_failure(AuthFailure::Http200)).await;
    let mut bridge = BridgeCmd::new(&server.url).token("wrong-token").spawn();

    bridge.send(&initialize("3")).await;
    let line = bridge.recv().await;
    let refused = seen(&server, "initialize").await;
    assert_eq!(refused.rejection.as_ref().map(|r| r.status), Some(200));
    assert_eq!(line, refused_body(&refused));
    exit_cleanly(bridge).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_non_json_401_becomes_an_error_naming_host_status_and_remedy() {
    let server = rmcp_peer::start_with(with_failure(AuthFailure::PlainText)).await;
    let mut bridge = BridgeCmd::new(&server.url).token("expired-token").spawn();

    bridge.send(&initialize("5")).await;
    let v = bridge.recv_json().await;
    let obj = v.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["error", "id", "jsonrpc"], "{v}");
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], 5);
    assert_eq!(v["error"]["code"], -32603);
    let message = v["error"]["message"].as_str().expect("a message string");
    // The challenge's error_description explains the 401 better than the body's "Unauthorized".
    let prefix = format!(
        "{} answered HTTP 401 Unauthorized: The access token expired. ",
        server.authority()
    );
    assert!(message.starts_with(&prefix), "message: {message}");
    assert!(message.contains("WAZION_TOKEN"), "message: {message}");
    assert_eq!(
        v["error"]["data"],
        json!({
            "httpStatus": 401,
            "wwwAuthenticate": PLAIN_WWW_AUTHENTICATE,
            "body": PLAIN_BODY,
        })
    );
    exit_cleanly(bridge).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn initialize_without_token_then_every_request_gets_the_401_body() {
    let server = rmcp_peer::start_with(PeerOptions {
        allow_initialize_without_token: true,
        ..rmcp_peer::options()
    })
    .await;
    let mut bridge = BridgeCmd::new(&server.url).spawn();

    let init = bridge.handshake(VERSION).await;
    assert_eq!(init["result"]["protocolVersion"], VERSION, "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "wazion-demo");

    bridge
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let line = bridge.recv().await;
    assert_eq!(line, refused_body(&seen(&server, "tools/list").await));
    assert_eq!(line, unauthorized_body("1"));

    bridge
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_shop_status","arguments":{}}}"#)
        .await;
    let line = bridge.recv().await;
    assert_eq!(line, unauthorized_body("2"));
    assert_eq!(
        bridge.wait_exit(Duration::ZERO).await,
        None,
        "the bridge keeps running after refusals"
    );
    exit_cleanly(bridge).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_normalised_bearer_goes_on_every_post_get_and_delete() {
    let server = rmcp_peer::start().await;
    let mut bridge = BridgeCmd::new(&server.url)
        .token(&format!("Bearer  {TOKEN}\n"))
        .spawn();

    let init = bridge.handshake(VERSION).await;
    assert_eq!(init["result"]["protocolVersion"], VERSION, "{init}");
    bridge
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#)
        .await;
    let (r, _) = bridge.recv_response(&json!(1)).await;
    assert_eq!(r["result"]["content"][0]["text"], "hi", "{r}");
    let bridge = exit_cleanly(bridge).await;
    server
        .log
        .wait_for(LINE_DEADLINE, |r| r.method == "DELETE")
        .await
        .unwrap_or_else(|| panic!("no DELETE at EOF; stderr:\n{}", bridge.stderr()));

    let requests = server.requests();
    let expected = format!("Bearer {TOKEN}");
    for r in &requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some(expected.as_str()),
            "{} {} {}",
            r.method,
            r.path,
            r.body_str()
        );
        assert!(r.rejection.is_none());
    }
    for method in ["POST", "GET", "DELETE"] {
        assert!(
            requests.iter().any(|r| r.method == method),
            "no {method} among {:?}",
            requests.iter().map(|r| &r.method).collect::<Vec<_>>()
        );
    }
    server.shutdown().await.unwrap();
}

/// Whether `line` mentions status 401 (as a number of its own, not inside a port).
fn mentions_401(line: &str) -> bool {
    line.match_indices("401").any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + 3..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// The token is revoked mid-session (as when it is regenerated in the dashboard): a
/// notification drawing 401 yields one stderr line and nothing on stdout.
#[tokio::test]
async fn a_notification_refused_with_401_is_one_stderr_line_and_nothing_on_stdout() {
    let server = rmcp_peer::start().await;
    let mut bridge = BridgeCmd::new(&server.url).token(TOKEN).spawn();
    bridge.handshake(VERSION).await;
    bridge
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let (r, _) = bridge.recv_response(&json!(1)).await;
    assert!(r["result"]["tools"].is_array(), "{r}");
    assert_eq!(bridge.stderr_lines(mentions_401), Vec::<String>::new());

    server.set_token("regenerated-token");
    bridge
        .send(r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#)
        .await;
    let refused = seen(&server, "notifications/roots/list_changed").await;
    assert_eq!(refused.rejection.map(|r| r.status), Some(401));
    let logged = bridge.wait_stderr_line(LINE_DEADLINE, mentions_401).await;
    assert!(
        logged.is_some(),
        "no stderr line about the 401:\n{}",
        bridge.stderr()
    );

    // The next stdout line answers the next request: nothing was written for the
    // notification.
    server.set_token(TOKEN);
    bridge
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#)
        .await;
    let v = bridge.recv_json().await;
    assert_eq!(v, json!({"jsonrpc": "2.0", "id": 2, "result": {}}));
    assert_eq!(
        bridge.stderr_lines(mentions_401).len(),
        1,
        "exactly one stderr line about the 401:\n{}",
        bridge.stderr()
    );
    exit_cleanly(bridge).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_token_never_appears_in_stderr_even_at_trace() {
    let secret = "wz_live_7f3a9c1e5b2d4f60";
    let server = rmcp_peer::start_with(PeerOptions {
        token: secret.to_string(),
        ..rmcp_peer::options()
    })
    .await;
    let mut bridge = BridgeCmd::new(&server.url)
        .token(secret)
        .env("RUST_LOG", "trace")
        .spawn();

    let init = bridge.handshake(VERSION).await;
    assert_eq!(init["result"]["protocolVersion"], VERSION, "{init}");
    bridge
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#)
        .await;
    let (r, _) = bridge.recv_response(&json!(1)).await;
    assert_eq!(r["result"]["content"][0]["text"], "hi", "{r}");
    // A refusal exercises the error paths too.
    server.set_token("regenerated-token");
    bridge
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        .await;
    assert_eq!(bridge.recv().await, unauthorized_body("2"));
    let bridge = exit_cleanly(bridge).await;

    let stderr = bridge.stderr();
    assert!(
        stderr.lines().count() > 5,
        "RUST_LOG=trace should log something:\n{stderr}"
    );
    assert!(
        !stderr.contains(secret),
        "the token leaked into stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains(&secret[..12]),
        "a prefix of the token leaked into stderr:\n{stderr}"
    );
    server.shutdown().await.unwrap();
}
