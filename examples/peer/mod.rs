//! A WAzion-like MCP server built on rmcp's Streamable HTTP service, shared by the
//! runnable demo (`examples/demo_server.rs`) and the integration tests
//! (`tests/support/rmcp_peer.rs` includes this very file with `#[path]`).
//!
//! This module owns the server's start-up and shutdown ([`start`] → [`RunningPeer`]),
//! its options ([`PeerOptions`]: token, auth-failure variant, session mode) and the
//! request log every test reads. The tools (and the texts they use) live in [`tools`],
//! the bearer layer (and WAzion's exact 401 answers) in [`bearer`].

pub mod bearer;
pub mod tools;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use tools::DemoServer;

/// How the bearer layer answers a request without the right token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthFailure {
    /// HTTP 401, `application/json`, the JSON-RPC error echoing the request's raw id
    /// (`null` when the request had none). What WAzion does.
    #[default]
    EchoId,
    /// HTTP 401 with the same body but always `"id":1`.
    AlwaysIdOne,
    /// HTTP 200 with the JSON-RPC error body (id echoed).
    Http200,
    /// HTTP 401, `text/plain` body `Unauthorized`, with an RFC 6750 `WWW-Authenticate`.
    PlainText,
}

/// Session handling of the rmcp service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// rmcp's defaults: sessions (`Mcp-Session-Id`), SSE responses, a GET stream.
    #[default]
    Stateful,
    /// No sessions, `application/json` responses when a handler answers without
    /// sending anything first (GET and DELETE get 405).
    StatelessJson,
    /// A 2026-07-28-only server: no `initialize`, per-request `_meta` required.
    ModernOnly,
}

#[derive(Clone, Debug)]
pub struct PeerOptions {
    /// Where to listen; port 0 picks a free one.
    pub bind: SocketAddr,
    /// The MCP endpoint path, e.g. `/mcp`.
    pub path: String,
    /// The only accepted credential is `Authorization: Bearer <token>`.
    pub token: String,
    pub auth_failure: AuthFailure,
    /// Let an `initialize` POST through without a token (WAzion's behaviour).
    pub allow_initialize_without_token: bool,
    pub mode: Mode,
}

impl Default for PeerOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            path: "/mcp".to_string(),
            token: "demo-token".to_string(),
            auth_failure: AuthFailure::default(),
            allow_initialize_without_token: false,
            mode: Mode::default(),
        }
    }
}

/// One HTTP request as the server saw it (before the token check).
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub session_id: Option<String>,
    pub protocol_version: Option<String>,
    pub last_event_id: Option<String>,
    pub body: Vec<u8>,
    /// Set when the bearer layer refused the request: what it answered. (A request is
    /// recorded once its fate is known, before the answer is sent.)
    pub rejection: Option<Rejection>,
}

impl RecordedRequest {
    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<non-UTF-8 body>")
    }
    /// The JSON-RPC `method` of a POST body that is a single message, if any.
    pub fn rpc_method(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("method")?.as_str().map(str::to_string)
    }
}

/// The bearer layer's answer to a refused request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub content_type: String,
    pub www_authenticate: Option<String>,
    pub body: String,
}

/// Every request the server saw, in arrival order, shared with the bearer layer.
#[derive(Clone, Default)]
pub struct RequestLog {
    entries: Arc<Mutex<Vec<RecordedRequest>>>,
    changed: Arc<Notify>,
}

impl RequestLog {
    fn lock(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        // A panic while holding the lock cannot leave a Vec half-pushed: keep going.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn push(&self, r: RecordedRequest) {
        self.lock().push(r);
        self.changed.notify_waiters();
    }
    /// A snapshot of everything recorded so far.
    pub fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock().clone()
    }
    /// Waits until some recorded request satisfies `pred` and returns it; `None` when
    /// `deadline` passes first.
    pub async fn wait_for(
        &self,
        deadline: Duration,
        pred: impl Fn(&RecordedRequest) -> bool,
    ) -> Option<RecordedRequest> {
        let found = self.wait_until(|entries| entries.iter().find(|r| pred(r)).cloned());
        tokio::time::timeout(deadline, found).await.ok()
    }
    /// Waits (without a deadline) until at least `len` requests were recorded.
    pub async fn wait_len(&self, len: usize) {
        self.wait_until(|entries| (entries.len() >= len).then_some(()))
            .await
    }
    async fn wait_until<T>(&self, check: impl Fn(&[RecordedRequest]) -> Option<T>) -> T {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(t) = check(&self.lock()) {
                return t;
            }
            notified.await;
        }
    }
}

/// A server that is up and accepting connections.
pub struct RunningPeer {
    pub addr: SocketAddr,
    /// `http://<addr><path>`.
    pub url: String,
    pub log: RequestLog,
    token: Arc<Mutex<String>>,
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningPeer {
    /// Stops accepting, ends every open stream and waits (at most 5 s) for the server task.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.stop.cancel();
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(std::io::Error::other(join)),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "server did not stop within 5 s",
            )),
        }
    }
    /// Resolves when the server stops (after [`RunningPeer::shutdown`] or a fatal error).
    pub async fn wait(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(result) => result,
            Err(join) => Err(std::io::Error::other(join)),
        }
    }
    /// Changes the accepted token from now on, as when a user regenerates it in the
    /// dashboard; streams already open stay open.
    pub fn set_token(&self, token: &str) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = token.to_string();
    }
    /// A handle that stops the server when cancelled (e.g. from a Ctrl-C handler).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }
}

/// Binds `opts.bind` and serves the demo MCP server behind the bearer layer.
pub async fn start(opts: PeerOptions) -> std::io::Result<RunningPeer> {
    let stop = CancellationToken::new();
    let mut config =
        StreamableHttpServerConfig::default().with_cancellation_token(stop.child_token());
    if opts.mode != Mode::Stateful {
        config = config
            .with_legacy_session_mode(false)
            .with_json_response(true);
    }
    let modern_only = opts.mode == Mode::ModernOnly;
    if modern_only {
        config = config.with_stateless_protocol_metadata_required(true);
    }
    let service: StreamableHttpService<DemoServer, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(DemoServer::new().modern_only(modern_only)),
            Default::default(),
            config,
        );

    let log = RequestLog::default();
    let token = Arc::new(Mutex::new(opts.token.clone()));
    let layer_state = Arc::new(bearer::LayerState {
        token: token.clone(),
        auth_failure: opts.auth_failure,
        allow_initialize_without_token: opts.allow_initialize_without_token,
        log: log.clone(),
    });
    let app = axum::Router::new().nest_service(&opts.path, service).layer(
        axum::middleware::from_fn_with_state(layer_state, bearer::check),
    );

    let listener = tokio::net::TcpListener::bind(opts.bind).await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}{}", opts.path);
    let shutdown = stop.clone();
    // Without TCP_NODELAY a small SSE response waits ~40 ms on delayed ACKs.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    });
    Ok(RunningPeer {
        addr,
        url,
        log,
        token,
        stop,
        task,
    })
}
