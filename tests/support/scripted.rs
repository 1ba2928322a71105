//! A scripted Streamable HTTP server for exact-byte tests.
//!
//! It listens on `127.0.0.1:0`, records every request it receives (method, path, headers,
//! body bytes, arrival order and time) and answers each one from, in this order:
//! 1. the first matching rule a test installed ([`Scripted::once`] or [`Scripted::always`]),
//! 2. a small MCP-ish default ([`Scripted::default_reply`]): `initialize` gets an
//!    `InitializeResult` plus a fresh `Mcp-Session-Id` (`sess-1`, `sess-2`, …), other
//!    requests get `{"result":{}}`, notifications and responses get 202, `GET` gets 405 and
//!    `DELETE` gets 200.
//!
//! Replies are plain values ([`json`], [`status`], [`sse`], [`sse_stream`]) or futures
//! ([`Reply::deferred`]), so a test can hold an answer until it saw something on the
//! bridge's stdout. [`sse_stream`] hands the test an [`SseTx`] that writes one event at a
//! time and can cut the connection mid-stream.
//!
//! Tests wait for requests with deadlines ([`Scripted::wait_for`]); arrival and answer
//! order is kept as a global tick count so ordering can be proven without clocks.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, Response, StatusCode};
use axum::serve::ListenerExt;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};

/// How long [`Scripted::wait_for`] waits before failing the test.
pub const WAIT_DEADLINE: Duration = Duration::from_secs(10);

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type Pred = Box<dyn Fn(&Recorded) -> bool + Send + Sync>;
type Responder = Arc<Mutex<dyn FnMut(&Recorded) -> Reply + Send>>;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// 0-based arrival index.
    pub index: usize,
    /// Position in the server's global event order (shared with answer ticks).
    pub tick: u64,
    /// Arrival time (only for lower-bound checks such as the SSE `retry` delay).
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn session(&self) -> Option<&str> {
        self.header("mcp-session-id")
    }
    pub fn protocol_version(&self) -> Option<&str> {
        self.header("mcp-protocol-version")
    }
    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("request body is UTF-8")
    }
    /// The body parsed as JSON (panics when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body_str()))
    }
    fn members(&self) -> Option<HashMap<String, Box<RawValue>>> {
        serde_json::from_slice(&self.body).ok()
    }
    /// `method` of a JSON-RPC object body.
    pub fn rpc_method(&self) -> Option<String> {
        let m = self.members()?;
        serde_json::from_str(m.get("method")?.get()).ok()
    }
    /// The exact bytes of the `id` of a JSON-RPC object body.
    pub fn rpc_id_raw(&self) -> Option<String> {
        Some(self.members()?.get("id")?.get().to_string())
    }
    pub fn is_post(&self) -> bool {
        self.method == "POST"
    }
    pub fn is_get(&self) -> bool {
        self.method == "GET"
    }
    pub fn is_delete(&self) -> bool {
        self.method == "DELETE"
    }
    /// A POST whose JSON-RPC `method` is `m`.
    pub fn is_rpc(&self, m: &str) -> bool {
        self.is_post() && self.rpc_method().as_deref() == Some(m)
    }
}

/// What the server sends back.
pub struct Reply {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: ReplyBody,
}

enum ReplyBody {
    Full(Vec<u8>),
    Stream(mpsc::UnboundedReceiver<Chunk>),
    Deferred(BoxFut<Reply>),
    /// Produced chunk by chunk as the HTTP layer asks for more (back-pressured).
    Lazy(Pin<Box<dyn futures::Stream<Item = Bytes> + Send + 'static>>),
}

enum Chunk {
    Data(Bytes),
    Cut,
}

impl Reply {
    /// A reply computed later (for holding an answer until the test releases it).
    pub fn deferred(fut: impl Future<Output = Reply> + Send + 'static) -> Reply {
        Reply {
            status: StatusCode::OK,
            headers: Vec::new(),
            body: ReplyBody::Deferred(Box::pin(fut)),
        }
    }
    /// A reply that never comes (the request hangs until the client gives up).
    pub fn hang() -> Reply {
        Reply::deferred(std::future::pending())
    }
    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// `status` with `Content-Type: application/json` and exactly `body`.
pub fn json(code: u16, body: impl AsRef<[u8]>) -> Reply {
    Reply {
        status: StatusCode::from_u16(code).expect("status code"),
        headers: vec![("content-type".into(), "application/json".into())],
        body: ReplyBody::Full(body.as_ref().to_vec()),
    }
}

/// A bare status with an empty body.
pub fn status(code: u16) -> Reply {
    Reply {
        status: StatusCode::from_u16(code).expect("status code"),
        headers: Vec::new(),
        body: ReplyBody::Full(Vec::new()),
    }
}

/// `status` with `Content-Type: text/plain` and `body`.
pub fn text(code: u16, body: &str) -> Reply {
    Reply {
        status: StatusCode::from_u16(code).expect("status code"),
        headers: vec![("content-type".into(), "text/plain".into())],
        body: ReplyBody::Full(body.as_bytes().to_vec()),
    }
}

/// One piece of an SSE stream, in wire form.
#[derive(Clone, Debug)]
pub enum Sse {
    /// `data:` lines (one per line of the payload), no id.
    Message(String),
    /// `id:` then `data:` lines.
    WithId(String, String),
    /// A priming event: `id:` with empty `data:`.
    Priming(String),
    /// `: text` comment.
    Comment(String),
    /// `retry: ms`.
    Retry(u64),
    /// Exact bytes, for anything else.
    Raw(String),
    /// Abort the connection here (no terminating chunk).
    Cut,
}

impl Sse {
    /// A `message` event carrying `data`.
    pub fn msg(data: &str) -> Sse {
        Sse::Message(data.to_string())
    }
    /// A `message` event with an event id.
    pub fn id(id: &str, data: &str) -> Sse {
        Sse::WithId(id.to_string(), data.to_string())
    }
    fn wire(&self) -> Option<String> {
        fn data_lines(data: &str) -> String {
            data.split('\n').map(|l| format!("data: {l}\n")).collect()
        }
        Some(match self {
            Sse::Message(d) => format!("{}\n", data_lines(d)),
            Sse::WithId(id, d) => format!("id: {id}\n{}\n", data_lines(d)),
            Sse::Priming(id) => format!("id: {id}\ndata:\n\n"),
            Sse::Comment(c) => format!(": {c}\n\n"),
            Sse::Retry(ms) => format!("retry: {ms}\n\n"),
            Sse::Raw(r) => r.clone(),
            Sse::Cut => return None,
        })
    }
}

/// The test's end of a streamed SSE reply. Dropping it (or [`SseTx::finish`]) ends the
/// stream cleanly; [`SseTx::cut`] aborts the connection.
pub struct SseTx {
    tx: mpsc::UnboundedSender<Chunk>,
}

impl SseTx {
    /// Sends one piece; returns false when the client already dropped the stream.
    pub fn send(&self, ev: Sse) -> bool {
        match ev.wire() {
            Some(w) => self.tx.send(Chunk::Data(Bytes::from(w))).is_ok(),
            None => self.tx.send(Chunk::Cut).is_ok(),
        }
    }
    /// Sends a `message` event with `data`.
    pub fn msg(&self, data: &str) -> bool {
        self.send(Sse::msg(data))
    }
    /// Aborts the connection (the client sees a broken stream).
    pub fn cut(self) {
        let _ = self.tx.send(Chunk::Cut);
    }
    /// Ends the stream cleanly.
    pub fn finish(self) {}
    /// Resolves once the server dropped the body (the client went away or it was cut).
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

/// A 200 `text/event-stream` reply the test feeds event by event.
pub fn sse_stream() -> (Reply, SseTx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let reply = Reply {
        status: StatusCode::OK,
        headers: vec![
            ("content-type".into(), "text/event-stream".into()),
            ("cache-control".into(), "no-cache".into()),
        ],
        body: ReplyBody::Stream(rx),
    };
    (reply, SseTx { tx })
}

/// A 200 `text/event-stream` reply with these pieces, then the end of the stream (or the
/// cut, when the list holds [`Sse::Cut`]).
pub fn sse(events: Vec<Sse>) -> Reply {
    let (reply, tx) = sse_stream();
    for e in events {
        tx.send(e);
    }
    reply
}

/// A one-shot latch a test opens to release held replies.
#[derive(Clone)]
pub struct Gate {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    pub fn new() -> Gate {
        Gate {
            tx: Arc::new(watch::channel(false).0),
        }
    }
    pub fn open(&self) {
        self.tx.send_replace(true);
    }
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

struct Rule {
    pred: Pred,
    responder: Responder,
    remaining: Option<usize>,
}

struct State {
    requests: Vec<Recorded>,
    answered: HashMap<usize, u64>,
    rules: Vec<Rule>,
    sessions_issued: usize,
}

struct Inner {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    tick: AtomicU64,
    connections: AtomicUsize,
    protocol_version: Option<String>,
}

impl Inner {
    fn new(protocol_version: Option<String>) -> Arc<Inner> {
        Arc::new(Inner {
            state: Mutex::new(State {
                requests: Vec::new(),
                answered: HashMap::new(),
                rules: Vec::new(),
                sessions_issued: 0,
            }),
            changed: watch::channel(0).0,
            tick: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            protocol_version,
        })
    }
}

/// Builder for a [`Scripted`] server.
#[derive(Default)]
pub struct ScriptedBuilder {
    protocol_version: Option<String>,
}

impl ScriptedBuilder {
    /// The `protocolVersion` the default `initialize` answer carries (default: the one the
    /// client asked for).
    pub fn protocol_version(mut self, v: &str) -> Self {
        self.protocol_version = Some(v.to_string());
        self
    }
    pub async fn start(self) -> Scripted {
        let inner = Inner::new(self.protocol_version);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let counted = inner.clone();
        let listener = listener.tap_io(move |_| {
            counted.connections.fetch_add(1, Ordering::SeqCst);
            counted.changed.send_modify(|n| *n += 1);
        });
        let server = Scripted { addr, inner };
        let handler_server = server.clone();
        let app = Router::new().fallback(move |req: Request<Body>| {
            let s = handler_server.clone();
            async move { s.handle(req).await }
        });
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("scripted server");
        });
        server
    }
}

/// The scripted server; cheap to clone (all clones share state).
#[derive(Clone)]
pub struct Scripted {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Scripted {
    pub fn builder() -> ScriptedBuilder {
        ScriptedBuilder::default()
    }
    /// Starts a server with the default behaviour.
    pub async fn start() -> Scripted {
        Self::builder().start().await
    }
    /// The MCP endpoint URL (`http://127.0.0.1:PORT/mcp`).
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Answers the next request matching `pred` with `reply` (once).
    pub fn once(&self, pred: impl Fn(&Recorded) -> bool + Send + Sync + 'static, reply: Reply) {
        let mut slot = Some(reply);
        self.add_rule(Rule {
            pred: Box::new(pred),
            responder: Arc::new(Mutex::new(move |_: &Recorded| {
                slot.take().expect("once rule used twice")
            })),
            remaining: Some(1),
        });
    }
    /// Answers every request matching `pred` with `f(request)`.
    pub fn always(
        &self,
        pred: impl Fn(&Recorded) -> bool + Send + Sync + 'static,
        f: impl FnMut(&Recorded) -> Reply + Send + 'static,
    ) {
        self.add_rule(Rule {
            pred: Box::new(pred),
            responder: Arc::new(Mutex::new(f)),
            remaining: None,
        });
    }
    /// Answers every `method` request with `result` (raw JSON) under the request's own id.
    pub fn answer_every(&self, method: &'static str, result: &'static str) {
        self.always(
            move |r| r.is_rpc(method),
            move |r| {
                let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
                json(
                    200,
                    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#),
                )
            },
        );
    }
    fn add_rule(&self, rule: Rule) {
        self.inner.state.lock().unwrap().rules.push(rule);
    }

    /// Everything received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.state.lock().unwrap().requests.clone()
    }
    /// Requests received so far that match `pred`.
    pub fn matching(&self, pred: impl Fn(&Recorded) -> bool) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| pred(r)).collect()
    }
    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::SeqCst)
    }
    /// The tick at which the response head for request `index` was handed to the HTTP
    /// layer, if it was yet.
    pub fn answered_tick(&self, index: usize) -> Option<u64> {
        self.inner
            .state
            .lock()
            .unwrap()
            .answered
            .get(&index)
            .copied()
    }
    /// The current position in the global event order.
    pub fn now_tick(&self) -> u64 {
        self.inner.tick.fetch_add(1, Ordering::SeqCst)
    }

    /// The `n`-th (0-based) request matching `pred`, or `None` after `d`.
    pub async fn wait_nth_within(
        &self,
        n: usize,
        pred: impl Fn(&Recorded) -> bool,
        d: Duration,
    ) -> Option<Recorded> {
        let mut rx = self.inner.changed.subscribe();
        let fut = async {
            loop {
                rx.borrow_and_update();
                if let Some(r) = self.matching(&pred).into_iter().nth(n) {
                    return r;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(d, fut).await.ok()
    }
    /// The first request matching `pred`, or `None` after `d`.
    pub async fn wait_for_within(
        &self,
        pred: impl Fn(&Recorded) -> bool,
        d: Duration,
    ) -> Option<Recorded> {
        self.wait_nth_within(0, pred, d).await
    }
    /// The first request matching `pred` (already received or still to come); panics with
    /// `what` and the requests seen when none arrives within [`WAIT_DEADLINE`].
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Recorded) -> bool) -> Recorded {
        self.wait_nth(what, 0, pred).await
    }
    /// The `n`-th (0-based) request matching `pred`; panics like [`Scripted::wait_for`].
    pub async fn wait_nth(
        &self,
        what: &str,
        n: usize,
        pred: impl Fn(&Recorded) -> bool,
    ) -> Recorded {
        match self.wait_nth_within(n, pred, WAIT_DEADLINE).await {
            Some(r) => r,
            None => panic!(
                "no request #{n} matching `{what}` within {WAIT_DEADLINE:?}; the server saw:\n{}",
                self.dump()
            ),
        }
    }
    /// A readable list of every request received, for failure messages.
    pub fn dump(&self) -> String {
        self.requests()
            .iter()
            .map(|r| {
                let hs: Vec<String> = r
                    .headers
                    .iter()
                    .filter(|(n, _)| n.starts_with("mcp-") || n == "last-event-id" || n == "accept")
                    .map(|(n, v)| format!("{n}: {v}"))
                    .collect();
                format!(
                    "  #{} {} {} [{}] {}\n",
                    r.index,
                    r.method,
                    r.path,
                    hs.join("; "),
                    String::from_utf8_lossy(&r.body)
                )
            })
            .collect()
    }

    /// The built-in MCP-ish answer for `req` (see the module docs).
    pub fn default_reply(&self, req: &Recorded) -> Reply {
        match req.method.as_str() {
            "GET" => return status(405),
            "DELETE" => return status(200),
            "POST" => {}
            _ => return status(405),
        }
        let Ok(value) = serde_json::from_slice::<Box<RawValue>>(&req.body) else {
            return status(400);
        };
        let text = value.get();
        if text.starts_with('[') {
            let items: Vec<Box<RawValue>> = serde_json::from_str(text).expect("array");
            let answers: Vec<String> = items.iter().filter_map(|i| self.answer(i)).collect();
            return if answers.is_empty() {
                status(202)
            } else {
                json(200, format!("[{}]", answers.join(",")))
            };
        }
        let session = self.is_initialize(&value).then(|| self.new_session());
        match self.answer(&value) {
            None => status(202),
            Some(a) => match session {
                Some(s) => json(200, a).header("mcp-session-id", &s),
                None => json(200, a),
            },
        }
    }
    fn is_initialize(&self, msg: &RawValue) -> bool {
        let m: HashMap<String, Box<RawValue>> = serde_json::from_str(msg.get()).unwrap_or_default();
        m.get("method").map(|v| v.get()) == Some("\"initialize\"")
    }
    fn new_session(&self) -> String {
        let mut st = self.inner.state.lock().unwrap();
        st.sessions_issued += 1;
        format!("sess-{}", st.sessions_issued)
    }
    /// The default answer to one message: `None` for notifications and responses.
    fn answer(&self, msg: &RawValue) -> Option<String> {
        let m: HashMap<String, Box<RawValue>> = serde_json::from_str(msg.get()).ok()?;
        let id = m.get("id")?.get();
        let method: String = serde_json::from_str(m.get("method")?.get()).ok()?;
        if method == "initialize" {
            let version = match &self.inner.protocol_version {
                Some(v) => Value::from(v.clone()),
                None => m
                    .get("params")
                    .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
                    .and_then(|p| p.get("protocolVersion").cloned())
                    .unwrap_or_else(|| Value::from("2025-06-18")),
            };
            Some(format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":{version},"capabilities":{{"tools":{{}},"logging":{{}}}},"serverInfo":{{"name":"scripted","version":"0.0.0"}}}}}}"#
            ))
        } else {
            Some(format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#))
        }
    }

    async fn handle(&self, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        let tick = self.now_tick();
        let (rec, responder) = {
            let mut st = self.inner.state.lock().unwrap();
            let rec = Recorded {
                index: st.requests.len(),
                tick,
                at: Instant::now(),
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_ascii_lowercase(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body,
            };
            st.requests.push(rec.clone());
            let pos = st
                .rules
                .iter()
                .position(|r| r.remaining != Some(0) && (r.pred)(&rec));
            let responder = pos.map(|i| {
                let rule = &mut st.rules[i];
                if let Some(n) = rule.remaining.as_mut() {
                    *n -= 1;
                }
                rule.responder.clone()
            });
            (rec, responder)
        };
        self.inner.changed.send_modify(|n| *n += 1);
        // Responders run outside the state lock: they may call `default_reply` or `requests`.
        let mut reply = match responder {
            Some(r) => (r.lock().unwrap())(&rec),
            None => self.default_reply(&rec),
        };
        while let ReplyBody::Deferred(fut) = reply.body {
            reply = fut.await;
        }
        let mut resp = Response::builder().status(reply.status);
        for (n, v) in &reply.headers {
            resp = resp.header(n, v);
        }
        let body = match reply.body {
            ReplyBody::Full(b) => Body::from(b),
            ReplyBody::Stream(rx) => {
                Body::from_stream(futures::stream::unfold(Some(rx), |rx| async move {
                    let mut rx = rx?;
                    match rx.recv().await? {
                        Chunk::Data(b) => Some((Ok::<Bytes, std::io::Error>(b), Some(rx))),
                        Chunk::Cut => {
                            // Let hyper flush what was sent before, then abort.
                            tokio::task::yield_now().await;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Some((Err(std::io::Error::other("scripted cut")), None))
                        }
                    }
                }))
            }
            ReplyBody::Lazy(s) => {
                Body::from_stream(futures::StreamExt::map(s, Ok::<Bytes, std::io::Error>))
            }
            ReplyBody::Deferred(_) => unreachable!(),
        };
        let tick = self.now_tick();
        self.inner
            .state
            .lock()
            .unwrap()
            .answered
            .insert(rec.index, tick);
        self.inner.changed.send_modify(|n| *n += 1);
        resp.body(body).expect("response")
    }
}

// ----- TLS: the same scripted server behind HTTPS (tests/transport_security.rs, secrets.rs) ---

pub use super::pki::TestPki;

impl ScriptedBuilder {
    /// Starts the server behind HTTPS with `pki`'s certificate (HTTP/1.1 and HTTP/2 by
    /// ALPN). [`Scripted::connections`] counts TCP connections, so a test can tell a
    /// refused TLS handshake (a connection, no request) from a refused connection.
    pub async fn start_tls(self, pki: &TestPki) -> Scripted {
        let inner = Inner::new(self.protocol_version);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let server = Scripted {
            addr,
            inner: inner.clone(),
        };
        let handler_server = server.clone();
        let app = Router::new().fallback(move |req: Request<Body>| {
            let s = handler_server.clone();
            async move { s.handle(req).await }
        });
        super::pki::serve_tls(listener, pki.server_config(), app, move || {
            inner.connections.fetch_add(1, Ordering::SeqCst);
            inner.changed.send_modify(|n| *n += 1);
        });
        server
    }
}

impl Scripted {
    /// The MCP endpoint URL over HTTPS (`https://127.0.0.1:PORT/mcp`), for
    /// [`ScriptedBuilder::start_tls`] servers.
    pub fn https_url(&self) -> String {
        format!("https://{}/mcp", self.addr)
    }
}

// ----- fault injection (appended for tests/faults.rs) -----------------------------------

/// The "power switch" of a server started with [`ScriptedBuilder::start_on`]: [`Killer::kill`]
/// makes the server behave like a process that died: the listening socket is closed (new
/// connections are refused) and every open connection is shut down mid-whatever (the
/// client sees its response end without completing).
#[derive(Clone)]
pub struct Killer {
    inner: Arc<KillerInner>,
}

struct KillerInner {
    stop: tokio_util::sync::CancellationToken,
    /// Duplicates of every accepted socket (`shutdown(2)` acts on the socket, so shutting
    /// a duplicate down ends the connection hyper is serving); `None` once killed.
    conns: Mutex<Option<Vec<std::net::TcpStream>>>,
    /// Set once the listening socket was closed.
    closed: watch::Sender<bool>,
}

impl Killer {
    fn new() -> Killer {
        Killer {
            inner: Arc::new(KillerInner {
                stop: tokio_util::sync::CancellationToken::new(),
                conns: Mutex::new(Some(Vec::new())),
                closed: watch::channel(false).0,
            }),
        }
    }
    /// Kills the server; returns once its port is free again (so a new server can bind
    /// it), at most [`WAIT_DEADLINE`] later.
    pub async fn kill(&self) {
        self.inner.stop.cancel();
        let conns = self.inner.conns.lock().unwrap().take().unwrap_or_default();
        for c in conns {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        let mut rx = self.inner.closed.subscribe();
        tokio::time::timeout(WAIT_DEADLINE, rx.wait_for(|closed| *closed))
            .await
            .expect("the killed server did not close its listening socket")
            .expect("killer state");
    }
    /// Registers an accepted connection; `None` (connection shut down) once killed.
    fn adopt(&self, stream: tokio::net::TcpStream) -> Option<tokio::net::TcpStream> {
        let std = stream.into_std().ok()?;
        let dup = std.try_clone().ok()?;
        let mut conns = self.inner.conns.lock().unwrap();
        match conns.as_mut() {
            Some(list) => list.push(dup),
            None => {
                let _ = dup.shutdown(std::net::Shutdown::Both);
                return None;
            }
        }
        drop(conns);
        tokio::net::TcpStream::from_std(std).ok()
    }
}

/// A TCP listener whose socket closes when its [`Killer`] fires.
struct KillableListener {
    inner: Option<tokio::net::TcpListener>,
    addr: SocketAddr,
    killer: Killer,
}

impl axum::serve::Listener for KillableListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let accepted = match &self.inner {
                None => std::future::pending().await,
                Some(l) => tokio::select! {
                    _ = self.killer.inner.stop.cancelled() => None,
                    r = l.accept() => Some(r),
                },
            };
            match accepted {
                None => {
                    self.inner = None; // closes the port: connects are refused from now on
                    self.killer.inner.closed.send_replace(true);
                }
                Some(Ok((stream, addr))) => {
                    if let Some(stream) = self.killer.adopt(stream) {
                        return (stream, addr);
                    }
                }
                Some(Err(_)) => tokio::task::yield_now().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

impl ScriptedBuilder {
    /// Starts a server on exactly `addr` (a port a killed server or a dropped listener
    /// just freed, say) and returns it with its [`Killer`].
    pub async fn start_on(self, addr: SocketAddr) -> (Scripted, Killer) {
        let inner = Inner::new(self.protocol_version);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().expect("local addr");
        let killer = Killer::new();
        let counted = inner.clone();
        let listener = KillableListener {
            inner: Some(listener),
            addr,
            killer: killer.clone(),
        }
        .tap_io(move |_| {
            counted.connections.fetch_add(1, Ordering::SeqCst);
            counted.changed.send_modify(|n| *n += 1);
        });
        let server = Scripted { addr, inner };
        let handler_server = server.clone();
        let app = Router::new().fallback(move |req: Request<Body>| {
            let s = handler_server.clone();
            async move { s.handle(req).await }
        });
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("scripted server");
        });
        (server, killer)
    }
}

impl Scripted {
    /// Makes the default `initialize` answer issue session ids after `sess-<n>` (for a
    /// restarted server whose sessions must differ from the killed one's).
    pub fn skip_sessions(&self, n: usize) {
        self.inner.state.lock().unwrap().sessions_issued = n;
    }
}

/// A loopback address nothing listens on (bound, then released), for "server down".
pub fn unused_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr")
}

/// `status` with the given `Content-Type` and exactly `body` (an HTML error page, say).
pub fn typed(code: u16, content_type: &str, body: impl AsRef<[u8]>) -> Reply {
    Reply {
        status: StatusCode::from_u16(code).expect("status code"),
        headers: vec![("content-type".into(), content_type.into())],
        body: ReplyBody::Full(body.as_ref().to_vec()),
    }
}

impl Scripted {
    /// A bridge (debug logs) for this server, past the handshake at `version`, returned once
    /// the server saw `notifications/initialized`.
    pub async fn ready_bridge(&self, version: &str) -> super::driver::Bridge {
        let mut b = super::driver::BridgeCmd::new(&self.url())
            .arg("--log-level")
            .arg("debug")
            .spawn();
        b.handshake(version).await;
        self.wait_for("notifications/initialized", |r| {
            r.is_rpc("notifications/initialized")
        })
        .await;
        b
    }
}

// ----- the legacy HTTP+SSE transport (tests/legacy.rs, tests/cli_commands.rs) ---------------

/// Makes `server` a legacy SSE server: GET opens the stream (first event: `endpoint`),
/// POSTs to `/messages` are answered 202 and their responses pushed onto the stream.
pub fn legacy_server(server: &Scripted) -> Arc<SseTx> {
    let (reply, tx) = sse_stream();
    tx.send(Sse::Raw(
        "event: endpoint\ndata: /messages?session_id=abc\n\n".into(),
    ));
    let tx = Arc::new(tx);
    server.once(|r| r.is_get(), reply);
    let stream = tx.clone();
    server.always(
        |r| r.is_post() && r.path.starts_with("/messages"),
        move |r: &Recorded| {
            if let (Some(id), Some(method)) = (r.rpc_id_raw(), r.rpc_method()) {
                let result = match method.as_str() {
                    "initialize" => serde_json::json!({"protocolVersion":"2024-11-05","capabilities":{"tools":{}},"serverInfo":{"name":"old","version":"1"}}),
                    "tools/call" => serde_json::json!({"content":[{"type":"text","text":"legacy says hi"}]}),
                    "tools/list" => serde_json::json!({"tools":[{"name":"old_tool","inputSchema":{"type":"object"}}]}),
                    _ => serde_json::json!({}),
                };
                stream.msg(&format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#));
            }
            status(202)
        },
    );
    tx
}

// ----- worst-case servers (tests/hostile_*.rs) ----------------------------------------------

/// A 200 `text/event-stream` reply that sends only `: keep-alive` comment lines, one every
/// `every`, and never an event, until the client goes away. Built when the request
/// arrives (not when the rule is installed), so the first comment follows the request.
pub fn sse_comments_forever(every: Duration) -> Reply {
    Reply::deferred(async move {
        let (reply, tx) = sse_stream();
        tokio::spawn(async move {
            while tx.send(Sse::Comment("keep-alive".into())) {
                tokio::time::sleep(every).await;
            }
        });
        reply
    })
}

/// A 200 reply with this `Content-Type` whose body is `bytes`, sent one byte every
/// `every`; it ends only if `bytes` does (pass an endless iterator for a body that never
/// completes). Starts when the request arrives; stops when the client goes away.
pub fn dripping(
    content_type: &str,
    bytes: impl Iterator<Item = u8> + Send + 'static,
    every: Duration,
) -> Reply {
    let content_type = content_type.to_string();
    Reply::deferred(async move {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            for b in bytes {
                if tx.send(Chunk::Data(Bytes::from(vec![b]))).is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        });
        Reply {
            status: StatusCode::OK,
            headers: vec![("content-type".into(), content_type)],
            body: ReplyBody::Stream(rx),
        }
    })
}

impl Scripted {
    /// The most requests matching `pred` that were open at the same time, as the server saw
    /// it: each is open from its arrival tick to the tick its response head was handed to
    /// the HTTP layer (one still unanswered stays open). Ticks are unique, so no ties.
    pub fn peak_concurrency(&self, pred: impl Fn(&Recorded) -> bool) -> usize {
        let st = self.inner.state.lock().unwrap();
        let mut edges: Vec<(u64, i64)> = Vec::new();
        for r in st.requests.iter().filter(|r| pred(r)) {
            edges.push((r.tick, 1));
            if let Some(t) = st.answered.get(&r.index) {
                edges.push((*t, -1));
            }
        }
        edges.sort_unstable();
        let (mut open, mut peak) = (0i64, 0i64);
        for (_, d) in edges {
            open += d;
            peak = peak.max(open);
        }
        peak as usize
    }
}

// ----- floods (tests/hostile_exit.rs) -------------------------------------------------------

/// A 200 `text/event-stream` reply of `count` events, the `n`-th carrying `data(n)`, made
/// only as fast as the client reads them: hyper asks for the next event when the socket
/// took the last one, so a client that stops reading stops the flood, and the server holds
/// no backlog. `pulled` counts the events handed to the HTTP layer so far, so a test can
/// see the moment the client stopped taking them in.
pub fn sse_flood(
    count: usize,
    data: impl Fn(usize) -> String + Send + Sync + 'static,
    pulled: Arc<AtomicUsize>,
) -> Reply {
    let events = futures::StreamExt::map(futures::stream::iter(0..count), move |n| {
        pulled.fetch_add(1, Ordering::SeqCst);
        Bytes::from(format!("data: {}\n\n", data(n)))
    });
    Reply {
        status: StatusCode::OK,
        headers: vec![
            ("content-type".into(), "text/event-stream".into()),
            ("cache-control".into(), "no-cache".into()),
        ],
        body: ReplyBody::Lazy(Box::pin(events)),
    }
}
