//! End to end with real peers on both sides: a real rmcp client spawns the built
//! `wazion-mcp` binary (rmcp's `TokioChildProcess`, protocol pinned to 2025-06-18) and
//! talks through it to the real rmcp server of `tests/support/rmcp_peer.rs`.
//!
//! Proves: tools listed and called; progress and logging notifications delivered to the
//! client; sampling, elicitation and roots requests from the server answered by the
//! client; 64 concurrent slow calls each answered once with its own result (this test
//! tees the bridge's stdout to count the responses per id, so it builds the child with
//! `tokio::process` and hands rmcp the pipes); the stateless JSON-response server works
//! too; and a wrong token makes `serve()` fail with the server's own -32000 error.
// Sampling, roots and logging are SEP-2577-deprecated in rmcp 3.x, still valid on 2025-06-18.
#![allow(deprecated)]

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::rmcp_peer::{self, ELICIT_MESSAGE, Mode, SAMPLE_PROMPT, UNAUTHORIZED_MESSAGE};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ClientRequest,
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
    ElicitationAction, Implementation, ListRootsResult, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion, Request, Root,
    SamplingMessage, ServerResult,
};
use rmcp::service::{
    ClientInitializeError, NotificationContext, PeerRequestOptions, RequestContext, RoleClient,
    RunningService,
};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, ErrorData, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Notify;

/// Every wait in this file is bounded by this.
const DEADLINE: Duration = Duration::from_secs(10);
/// What the client's "model" answers to `sampling/createMessage`.
const MODEL_TEXT: &str = "Hello from the test model!";
/// What the client's "user" answers to `elicitation/create`.
const USER_ANSWER: &str = "order 1042";
const ROOTS: [&str; 3] = ["file:///shop", "file:///orders", "file:///invoices"];

/// Everything the server sent to the client outside of responses.
#[derive(Default, Debug)]
struct Seen {
    progress: Vec<ProgressNotificationParam>,
    logs: Vec<LoggingMessageNotificationParam>,
    sampling: Vec<CreateMessageRequestParams>,
    elicitations: Vec<ElicitRequestParams>,
    roots_requests: usize,
}

/// The test's MCP client: answers the server's requests and records what it received.
#[derive(Clone, Default)]
struct TestClient {
    seen: Arc<Mutex<Seen>>,
    changed: Arc<Notify>,
}

impl TestClient {
    fn record(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().unwrap());
        self.changed.notify_waiters();
    }
    /// Waits until `check` returns `Some`, or panics after [`DEADLINE`].
    async fn wait<T>(&self, what: &str, check: impl Fn(&Seen) -> Option<T>) -> T {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(t) = check(&self.seen.lock().unwrap()) {
                    return t;
                }
                notified.await;
            }
        };
        match tokio::time::timeout(DEADLINE, wait).await {
            Ok(t) => t,
            Err(_) => panic!(
                "timed out waiting for {what}; client saw {:?}",
                self.seen.lock().unwrap()
            ),
        }
    }
}

impl ClientHandler for TestClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder()
                .enable_roots()
                .enable_sampling()
                .enable_elicitation()
                .build(),
            Implementation::new("e2e-client", "0.0.1"),
        )
        .with_protocol_version(ProtocolVersion::V_2025_06_18)
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.record(|s| s.sampling.push(params));
        Ok(CreateMessageResult::new(
            SamplingMessage::assistant_text(MODEL_TEXT),
            "test-model".to_string(),
        )
        .with_stop_reason(CreateMessageResult::STOP_REASON_END_TURN))
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.record(|s| s.elicitations.push(params));
        Ok(ElicitResult::new(ElicitationAction::Accept)
            .with_content(json!({"answer": USER_ANSWER})))
    }

    async fn list_roots(
        &self,
        _: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        self.record(|s| s.roots_requests += 1);
        Ok(ListRootsResult::new(
            ROOTS.iter().map(|r| Root::new(*r)).collect(),
        ))
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.record(|s| s.progress.push(params));
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.record(|s| s.logs.push(params));
    }
}

type Client = RunningService<RoleClient, TestClient>;

/// The bridge command: `wazion-mcp <url>` with `WAZION_TOKEN=<token>`, quiet logs.
fn bridge_command(url: &str, token: &str) -> tokio::process::Command {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_wazion-mcp")).configure(|c| {
        c.arg(url)
            .env("WAZION_TOKEN", token)
            .env(
                "WAZION_MCP_CACHE_DIR",
                crate::support::driver::known_2025_server(url),
            )
            .env_remove("RUST_LOG");
    })
}

/// Collects a child's stderr in the background, for failure messages.
fn collect(mut stderr: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> Arc<Mutex<String>> {
    let sink = Arc::new(Mutex::new(String::new()));
    let out = sink.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            out.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    sink
}

/// Spawns the bridge with rmcp's child-process transport and runs the MCP handshake.
async fn connect(
    url: &str,
    token: &str,
    handler: TestClient,
) -> (Result<Client, ClientInitializeError>, Arc<Mutex<String>>) {
    let (transport, stderr) = TokioChildProcess::builder(bridge_command(url, token))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wazion-mcp");
    let stderr = collect(stderr.expect("stderr piped"));
    let client = tokio::time::timeout(DEADLINE, handler.serve(transport))
        .await
        .expect("initialize handshake within the deadline");
    (client, stderr)
}

async fn connect_ok(url: &str, handler: TestClient) -> (Client, Arc<Mutex<String>>) {
    let (client, stderr) = connect(url, rmcp_peer::TOKEN, handler).await;
    match client {
        Ok(c) => (c, stderr),
        Err(e) => panic!(
            "serve() failed: {e}\nbridge stderr:\n{}",
            stderr.lock().unwrap()
        ),
    }
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().expect("arguments are an object").clone()
}

async fn call(client: &Client, name: &'static str, arguments: Value) -> CallToolResult {
    let params = CallToolRequestParams::new(name).with_arguments(args(arguments));
    tokio::time::timeout(DEADLINE, client.call_tool(params))
        .await
        .unwrap_or_else(|_| panic!("{name}: no answer within {DEADLINE:?}"))
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

/// The single text block of a successful tool result.
fn text(r: &CallToolResult) -> &str {
    assert_ne!(r.is_error, Some(true), "tool returned an error: {r:?}");
    assert_eq!(r.content.len(), 1, "one content block expected: {r:?}");
    &r.content[0].as_text().expect("text content").text
}

async fn close(client: Client) {
    tokio::time::timeout(DEADLINE, client.cancel())
        .await
        .expect("client closes within the deadline")
        .expect("client closes cleanly");
}

#[tokio::test]
async fn lists_and_calls_tools_through_the_bridge() {
    let server = rmcp_peer::start().await;
    let (client, _stderr) = connect_ok(&server.url, TestClient::default()).await;

    let info = client.peer_info().expect("server info after initialize");
    assert_eq!(info.protocol_version, ProtocolVersion::V_2025_06_18);
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("wazion-demo")
    );

    let tools = tokio::time::timeout(DEADLINE, client.list_all_tools())
        .await
        .expect("tools/list within the deadline")
        .expect("tools/list");
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "confirm",
            "echo",
            "elicit",
            "get_shop_status",
            "log",
            "progress",
            "roots_count",
            "sample",
            "shop_orders",
            "slow"
        ]
    );

    let r = call(
        &client,
        "echo",
        json!({"text": "hola, ¿qué tal? \u{1F600}"}),
    )
    .await;
    assert_eq!(text(&r), "hola, ¿qué tal? \u{1F600}");
    let r = call(&client, "get_shop_status", json!({})).await;
    assert_eq!(
        serde_json::from_str::<Value>(text(&r)).unwrap(),
        json!({"shop": "WAzion Demo Shop", "open": true, "ordersToday": 3})
    );
    close(client).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn progress_and_log_notifications_reach_the_client() {
    let server = rmcp_peer::start().await;
    let handler = TestClient::default();
    let (client, _stderr) = connect_ok(&server.url, handler.clone()).await;

    let params = CallToolRequestParams::new("progress").with_arguments(args(json!({"steps": 5})));
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("send progress call");
    let token = handle.progress_token.clone();
    let response = tokio::time::timeout(DEADLINE, handle.await_response())
        .await
        .expect("progress answered within the deadline")
        .expect("progress call");
    let ServerResult::CallToolResult(result) = response else {
        panic!("unexpected result: {response:?}");
    };
    assert_eq!(text(&result), "done 5 steps");
    let progress = handler
        .wait("5 progress notifications", |s| {
            (s.progress.len() >= 5).then(|| s.progress.clone())
        })
        .await;
    assert_eq!(
        progress.len(),
        5,
        "exactly 5 progress notifications: {progress:?}"
    );
    for (i, p) in progress.iter().enumerate() {
        let step = i + 1;
        assert_eq!(p.progress_token, token);
        assert_eq!(p.progress, step as f64);
        assert_eq!(p.total, Some(5.0));
        assert_eq!(
            p.message.as_deref(),
            Some(format!("step {step} of 5").as_str())
        );
    }

    let r = call(&client, "log", json!({"message": "order 1042 shipped"})).await;
    assert_eq!(text(&r), "logged");
    let logs = handler
        .wait("a logging notification", |s| {
            (!s.logs.is_empty()).then(|| s.logs.clone())
        })
        .await;
    assert_eq!(logs.len(), 1, "exactly one logging notification: {logs:?}");
    assert_eq!(logs[0].level, LoggingLevel::Info);
    assert_eq!(logs[0].logger.as_deref(), Some("demo"));
    assert_eq!(logs[0].data, json!("order 1042 shipped"));

    close(client).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn server_requests_are_answered_by_the_client() {
    let server = rmcp_peer::start().await;
    let handler = TestClient::default();
    let (client, _stderr) = connect_ok(&server.url, handler.clone()).await;

    let r = call(&client, "sample", json!({})).await;
    assert_eq!(text(&r), MODEL_TEXT);
    let r = call(&client, "elicit", json!({})).await;
    assert_eq!(text(&r), USER_ANSWER);
    let r = call(&client, "roots_count", json!({})).await;
    assert_eq!(text(&r), ROOTS.len().to_string());

    {
        let seen = handler.seen.lock().unwrap();
        assert_eq!(seen.sampling.len(), 1);
        assert_eq!(seen.sampling[0].max_tokens, 64);
        let prompt = seen.sampling[0].messages[0]
            .content
            .first()
            .and_then(|c| c.as_text());
        assert_eq!(prompt.map(|t| t.text.as_str()), Some(SAMPLE_PROMPT));
        assert_eq!(seen.elicitations.len(), 1);
        match &seen.elicitations[0] {
            ElicitRequestParams::FormElicitationParams { message, .. } => {
                assert_eq!(message, ELICIT_MESSAGE)
            }
            other => panic!("form elicitation expected, got {other:?}"),
        }
        assert_eq!(seen.roots_requests, 1);
    }

    close(client).await;
    server.shutdown().await.unwrap();
}

/// 64 `slow` calls at once, each with its own duration (so each result is unique): every
/// one gets its own result, the bridge writes exactly one response per request id, and
/// the calls overlap (64 × ≥300 ms one after another would take over 19 s).
#[tokio::test]
async fn sixty_four_concurrent_calls_are_each_answered_once() {
    let server = rmcp_peer::start().await;
    let mut child = bridge_command(&server.url, rmcp_peer::TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn wazion-mcp");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = collect(child.stderr.take().unwrap());

    // Tee: every stdout line is recorded, then handed to the rmcp client unchanged.
    let transcript = Arc::new(Mutex::new(Vec::<String>::new()));
    let (mut tee_in, tee_out) = tokio::io::duplex(1 << 20);
    let record = transcript.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            record.lock().unwrap().push(line.clone());
            if tee_in
                .write_all(format!("{line}\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let client = match tokio::time::timeout(DEADLINE, TestClient::default().serve((tee_out, stdin)))
        .await
        .expect("initialize within the deadline")
    {
        Ok(c) => c,
        Err(e) => panic!(
            "serve() failed: {e}\nbridge stderr:\n{}",
            stderr.lock().unwrap()
        ),
    };

    let started = Instant::now();
    let calls = (0..64u64).map(|i| {
        let client = &client;
        async move {
            let ms = 300 + i;
            let r = call(client, "slow", json!({"ms": ms})).await;
            assert_eq!(text(&r), format!("slept {ms} ms"));
        }
    });
    futures::future::join_all(calls).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(10),
        "64 concurrent 300-363 ms calls took {elapsed:?}"
    );

    // Exactly one response line per request id, and no response without a request.
    let mut responses: HashMap<String, usize> = HashMap::new();
    for line in transcript.lock().unwrap().iter() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        if v.get("result").is_some() || v.get("error").is_some() {
            *responses.entry(v["id"].to_string()).or_default() += 1;
        }
    }
    // initialize + 64 calls, each id once.
    assert_eq!(responses.len(), 65, "responses per id: {responses:?}");
    assert!(
        responses.values().all(|&n| n == 1),
        "a request was answered more than once: {responses:?}"
    );
    let slow_posts = server
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.body_str().contains(r#""name":"slow""#))
        .count();
    assert_eq!(slow_posts, 64, "each call POSTed exactly once");

    close(client).await;
    assert!(
        tokio::time::timeout(DEADLINE, child.wait()).await.is_ok(),
        "bridge exits after stdin EOF"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn stateless_json_server_works_through_the_bridge() {
    let server = rmcp_peer::start_with(rmcp_peer::PeerOptions {
        mode: Mode::StatelessJson,
        ..rmcp_peer::options()
    })
    .await;
    let handler = TestClient::default();
    let (client, _stderr) = connect_ok(&server.url, handler.clone()).await;
    assert_eq!(
        client.peer_info().expect("server info").protocol_version,
        ProtocolVersion::V_2025_06_18
    );

    let tools = tokio::time::timeout(DEADLINE, client.list_all_tools())
        .await
        .expect("tools/list within the deadline")
        .expect("tools/list");
    assert_eq!(tools.len(), 10);
    let r = call(&client, "echo", json!({"text": "stateless"})).await;
    assert_eq!(text(&r), "stateless");
    // A handler that notifies first makes the stateless server fall back to SSE.
    let r = call(&client, "progress", json!({"steps": 2})).await;
    assert_eq!(text(&r), "done 2 steps");
    let progress = handler
        .wait("2 progress notifications", |s| {
            (s.progress.len() >= 2).then_some(s.progress.len())
        })
        .await;
    assert_eq!(progress, 2);

    // No sessions in this mode: the server never issued an id, so none came back.
    assert!(
        server.requests().iter().all(|r| r.session_id.is_none()),
        "no Mcp-Session-Id expected in stateless mode"
    );
    close(client).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn wrong_token_fails_serve_with_the_servers_unauthorized_error() {
    let server = rmcp_peer::start().await;
    let (client, stderr) = connect(&server.url, "wrong-token", TestClient::default()).await;
    match client {
        Err(ClientInitializeError::JsonRpcError(e)) => {
            assert_eq!(e.code.0, -32000);
            assert_eq!(e.message, UNAUTHORIZED_MESSAGE);
        }
        Err(other) => panic!(
            "expected the server's JSON-RPC error, got {other}\nbridge stderr:\n{}",
            stderr.lock().unwrap()
        ),
        Ok(_) => panic!("serve() succeeded with a wrong token"),
    }
    let refused = server
        .requests()
        .into_iter()
        .find(|r| r.rpc_method().as_deref() == Some("initialize"))
        .expect("initialize reached the server");
    assert_eq!(refused.authorization.as_deref(), Some("Bearer wrong-token"));
    assert_eq!(refused.rejection.map(|r| r.status), Some(401));
    server.shutdown().await.unwrap();
}

/// Issue 6 §2: a 2025-06-18 client against a server that speaks only 2026-07-28. The
/// bridge answers `initialize` from `server/discover`, stamps `_meta` on every request,
/// learns `x-mcp-header` annotations when the server asks for them, and turns the
/// server's `input_required` result into an ordinary `elicitation/create` for the client.
#[tokio::test]
async fn a_2025_client_works_against_a_2026_only_server() {
    let server = rmcp_peer::start_with(rmcp_peer::PeerOptions {
        mode: Mode::ModernOnly,
        ..rmcp_peer::options()
    })
    .await;
    let handler = TestClient::default();
    let (client, stderr) = connect_ok(&server.url, handler.clone()).await;
    let info = client.peer_info().expect("server info");
    assert_eq!(info.protocol_version, ProtocolVersion::V_2025_06_18);
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("wazion-demo")
    );

    let tools = tokio::time::timeout(DEADLINE, client.list_all_tools())
        .await
        .expect("tools/list within the deadline")
        .expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "confirm"), "{tools:?}");
    assert_eq!(
        text(&call(&client, "echo", json!({"text": "hi"})).await),
        "hi"
    );
    assert_eq!(
        text(&call(&client, "shop_orders", json!({"shop": "Zürich"})).await),
        "Zürich: 3 orders today"
    );
    // MRTR: the server's input_required becomes elicitation/create; the answer goes back
    // in inputResponses with the echoed requestState.
    assert_eq!(
        text(&call(&client, "confirm", json!({})).await),
        format!("confirmed: {USER_ANSWER}")
    );
    let asked = handler
        .wait("the elicitation", |s| {
            (!s.elicitations.is_empty()).then_some(s.elicitations.len())
        })
        .await;
    assert_eq!(asked, 1);

    client.cancel().await.expect("close the client");
    let seen = server.requests();
    let initializes = seen
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("\"method\":\"initialize\""))
        .count();
    assert_eq!(
        initializes, 1,
        "only the client's own initialize, refused once"
    );
    assert!(
        seen.iter().all(|r| r.method == "POST"),
        "no GET or DELETE to a 2026-07-28 server"
    );
    assert!(
        stderr.lock().unwrap().contains("translating"),
        "{}",
        stderr.lock().unwrap()
    );
}
