//! The pump: reads client messages from stdin, forwards each to the server, routes every
//! server message to stdout, and guarantees each client request exactly one answer.
//!
//! Ownership and invariants:
//! - the **pending table** (`Bridge::pending`) holds every client request that has not been
//!   answered. A request leaves it exactly once — by the server's response, by a mapped error
//!   (`errors::answer`), by cancellation, or at shutdown — and only the caller that removes
//!   it may write its answer. So nothing is answered twice and nothing is forgotten;
//! - `initialize` and `notifications/initialized` are handled inline, so later messages wait
//!   for the session id and version, and for the GET stream to be open (H9, H17); every other
//!   message runs in its own task, so a slow call never delays another;
//! - bridge-private requests (the re-initialize) use `"wazion-mcp-…"` ids and their responses
//!   never reach stdout (J3).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::BufReader;
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};

use crate::cli::TransportKind;
use crate::config::Settings;
use crate::errors::{self, Failure, Hints};
use crate::jsonrpc::{self, Kind, Payload};
use crate::session::Session;
use crate::stdio::{Line, LineReader, StdoutWriter};
use crate::upstream::{EventStream, NetError, Reply, SessionHeaders, Upstream};

/// How long in-flight requests may still finish after stdin closed.
const EOF_GRACE: Duration = Duration::from_millis(800);
/// The most a `DELETE` of the session may take at shutdown (H19, S9).
const DELETE_TIMEOUT: Duration = Duration::from_millis(700);
/// Reconnect delay when the server gave no `retry` (H14).
const DEFAULT_RETRY: Duration = Duration::from_millis(1000);
/// HeaderMismatch (M3, M5): the server wants headers the request lacked.
const HEADER_MISMATCH: i64 = -32020;
/// Pages of `tools/list` the bridge reads when it relists tools itself.
const MAX_LIST_PAGES: usize = 50;
/// MRTR rounds one request may take before the bridge gives up on it.
const MAX_INPUT_ROUNDS: usize = 8;
/// Resumption attempts in a row without a new event before a stream is given up.
const MAX_RESUMES: u32 = 5;

/// Runs the bridge until stdin closes or a signal arrives; returns the exit code.
pub async fn run(settings: Settings) -> i32 {
    let upstream = match Upstream::new(&settings) {
        Ok(u) => u,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let bridge = Arc::new(Bridge {
        upstream,
        session: Session::default(),
        out: StdoutWriter::spawn(crate::stdio::stdout()),
        pending: Mutex::new(PendingMap::default()),
        drained: Notify::new(),
        listener: Mutex::new(None),
        host: settings.host_label.clone(),
        token_env: settings.token_env.clone(),
        token_present: settings.token_present,
        tool_filter: settings.tool_filter.clone(),
        transport: settings.transport,
        idle_timeout: settings.idle_timeout,
        legacy: Mutex::new(None),
        legacy_mode: std::sync::atomic::AtomicBool::new(false),
        legacy_reconnecting: tokio::sync::Mutex::new(()),
        legacy_init_wait: Mutex::new(None),
        answered: Notify::new(),
        tool_headers: crate::modern::ToolHeaders::default(),
        translation: Mutex::new(None),
        held_refusal: Mutex::new(None),
        held_input: Mutex::new(HashMap::new()),
        input_waiters: Mutex::new(HashMap::new()),
        private_ids: std::sync::atomic::AtomicU64::new(0),
        subscriptions: Mutex::new(Subscriptions::default()),
    });
    let reader = LineReader::new(
        BufReader::with_capacity(64 * 1024, crate::stdio::stdin()),
        settings.max_message_bytes,
    );
    let pump = tokio::spawn(pump(bridge.clone(), reader));
    let grace = tokio::select! {
        r = pump => {
            match r {
                Ok(Ok(())) => tracing::debug!("stdin closed"),
                Ok(Err(e)) => tracing::warn!("stdin failed: {e}"),
                Err(e) => tracing::error!("stdin reader stopped: {e}"),
            }
            EOF_GRACE
        }
        name = shutdown_signal() => {
            tracing::debug!("received {name}");
            Duration::ZERO
        }
    };
    bridge.shutdown(grace).await;
    0
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C), with the signal's name.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(_) => std::future::pending().await,
        }
    }
}

async fn pump<R>(bridge: Arc<Bridge>, mut reader: LineReader<R>) -> std::io::Result<()>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    while let Some(line) = reader.next_line().await? {
        match line {
            Line::Message(bytes) => bridge.clone().handle_line(Bytes::from(bytes)).await,
            Line::TooLong { len, head } => {
                tracing::warn!("stdin: dropped a {len}-byte line, larger than --max-message-bytes");
                if let Some(id) = jsonrpc::sniff_id(&head) {
                    let reason = format!(
                        "the message is {len} bytes, more than --max-message-bytes allows; it was not sent"
                    );
                    let e = jsonrpc::error_response(&id, -32600, &reason, None);
                    bridge.out.send(Bytes::from(e)).await;
                }
            }
        }
    }
    Ok(())
}

/// Pending requests by raw id text. foldhash (randomly seeded, as hashbrown's default) instead
/// of SipHash: a request is looked up about six times on its way, and SipHash was 4% of the
/// bridge's instructions per call (callgrind, issue #4).
type PendingMap = HashMap<String, Pending, foldhash::fast::RandomState>;

/// Everything the relay shares between its tasks.
struct Bridge {
    upstream: Upstream,
    session: Session,
    out: StdoutWriter,
    /// Client requests awaiting their answer, by raw id text, with the task serving them.
    pending: Mutex<PendingMap>,
    /// Notified whenever `pending` becomes empty.
    drained: Notify,
    /// The GET stream's task, if one is open.
    listener: Mutex<Option<JoinHandle<()>>>,
    host: String,
    token_env: String,
    token_present: bool,
    tool_filter: Option<crate::filter::ToolFilter>,
    transport: TransportKind,
    idle_timeout: Duration,
    /// The legacy HTTP+SSE link, when the server speaks only that (H23).
    legacy: Mutex<Option<LegacyLink>>,
    /// Set once the client's session runs over the legacy transport; it stays set when the
    /// server closes the stream, so the next message reconnects instead of trying a POST.
    legacy_mode: std::sync::atomic::AtomicBool,
    /// One reconnect at a time.
    legacy_reconnecting: tokio::sync::Mutex<()>,
    /// The bridge-private id of a replayed `initialize`, whose answer the stream reader
    /// takes (it is not the client's) and signals.
    legacy_init_wait: Mutex<Option<(String, tokio::sync::oneshot::Sender<()>)>>,
    /// Notified whenever a request is answered.
    answered: Notify,
    /// `x-mcp-header` annotations learned from modern `tools/list` results (M5).
    tool_headers: crate::modern::ToolHeaders,
    /// Set when a 2025-era client talks to a 2026-07-28-only server (issue 6 §2).
    translation: Mutex<Option<crate::translate::Translation>>,
    /// The server's refusal of `initialize`, held while translation is tried.
    held_refusal: Mutex<Option<Bytes>>,
    /// `input_required` results held for their request's task (MRTR), by id.
    held_input: Mutex<HashMap<String, Bytes>>,
    /// Client answers awaited by MRTR rounds, by bridge-private id.
    input_waiters: Mutex<HashMap<String, tokio::sync::oneshot::Sender<Bytes>>>,
    /// Sequence for bridge-private ids.
    private_ids: std::sync::atomic::AtomicU64,
    /// Translated resource subscriptions: the URIs and the listen stream's task.
    subscriptions: Mutex<Subscriptions>,
}

/// The client's resource subscriptions while translating (one `subscriptions/listen`).
#[derive(Default)]
struct Subscriptions {
    uris: Vec<String>,
    task: Option<JoinHandle<()>>,
}

/// An open legacy link: where messages are POSTed, and the task reading the stream.
struct LegacyLink {
    endpoint: reqwest::Url,
    reader: JoinHandle<()>,
}

impl Bridge {
    /// Answers a call to a tool the filter hides, without contacting the server.
    async fn refuse_hidden_tool(&self, request: &[u8], id: &str) {
        let name = crate::filter::called_tool(request).unwrap_or_default();
        tracing::debug!(id, tool = name, "refused a call to a hidden tool");
        let e = jsonrpc::error_response(id, -32602, &format!("Unknown tool: {name}"), None);
        self.out.send(Bytes::from(e)).await;
    }

    fn hides_called_tool(&self, request: &[u8]) -> bool {
        let Some(filter) = &self.tool_filter else {
            return false; // no filter: no need to read the tool name
        };
        crate::filter::called_tool(request).is_some_and(|name| !filter.is_visible(&name))
    }

    fn hints(&self) -> Hints<'_> {
        Hints {
            host: &self.host,
            token_env: &self.token_env,
            token_present: self.token_present,
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, PendingMap> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_pending(&self, id: &str) -> bool {
        self.pending().contains_key(id)
    }

    /// Writes `message` as the answer to `id` if `id` is still pending; returns whether it
    /// was. This is the only way a response reaches stdout.
    async fn answer(&self, id: &str, message: Bytes) -> bool {
        let removed = {
            let mut pending = self.pending();
            let removed = pending.remove(id);
            if removed.is_some() && pending.is_empty() {
                self.drained.notify_waiters();
            }
            removed
        };
        self.answered.notify_waiters();
        let Some(entry) = removed else {
            tracing::debug!("dropped a response for id {id}: no pending request has it");
            return false;
        };
        // Held back, not relayed: a modern-only server's refusal of `initialize` (translation
        // is tried first), and MRTR's `input_required` results (the bridge gathers the input).
        let hold = if entry.method == "initialize" && self.transport != TransportKind::Sse {
            crate::translate::modern_refusal(&message).is_some()
        } else {
            entry.translated
                && (crate::translate::input_required(&message).is_some()
                    || (entry.method == "tools/call"
                        && jsonrpc::error_code(&message) == Some(HEADER_MISMATCH)))
        };
        if hold {
            if entry.method == "initialize" {
                *lock(&self.held_refusal) = Some(message);
            } else {
                lock(&self.held_input).insert(id.to_string(), message);
            }
            self.pending().insert(id.to_string(), entry);
            return true;
        }
        // A retry's answer is the client's answer: its id, its pending entry.
        let (id, message) = match &entry.alias_of {
            Some(original) => {
                let removed = {
                    let mut pending = self.pending();
                    let removed = pending.remove(original).is_some();
                    if removed && pending.is_empty() {
                        self.drained.notify_waiters();
                    }
                    removed
                };
                if !removed {
                    return false; // cancelled meanwhile
                }
                let fixed = jsonrpc::with_id(&message, original).into_owned();
                (original.as_str(), Bytes::from(fixed))
            }
            None => (id, message),
        };
        let message = if entry.modern && entry.method == "tools/list" {
            match self.tool_headers.learn(&message) {
                std::borrow::Cow::Borrowed(_) => message,
                std::borrow::Cow::Owned(v) => Bytes::from(v),
            }
        } else {
            message
        };
        let message = match (&self.tool_filter, entry.method.as_str()) {
            (Some(filter), "tools/list") => match filter.filter_list_result(&message) {
                std::borrow::Cow::Borrowed(_) => message,
                std::borrow::Cow::Owned(v) => Bytes::from(v),
            },
            _ => message,
        };
        tracing::debug!(
            method = entry.method,
            id,
            status = entry.status.unwrap_or(0),
            ms = entry.started.elapsed().as_millis() as u64,
            bytes = message.len(),
            "client → server → client"
        );
        self.out.send(message).await;
        true
    }

    /// Registers a client request as awaiting its answer.
    fn register(&self, id: &str, method: &str) {
        self.pending().insert(id.to_string(), Pending::new(method));
    }

    /// Runs a registered request's exchange as its own task, and keeps the task's handle so
    /// a cancellation can stop it. Boxed: the exchange is a 6.5 KB future, which tokio would
    /// move several times on its way into the task and again when it finishes; boxed, only a
    /// pointer moves (2 000 fewer instructions per call, callgrind, issue #4).
    fn spawn_exchange(
        &self,
        id: &str,
        modern: bool,
        exchange: impl Future<Output = ()> + Send + 'static,
    ) {
        let handle = tokio::spawn(Box::pin(exchange));
        if let Some(slot) = self.pending().get_mut(id) {
            slot.task = Some(handle.abort_handle());
            slot.modern = modern;
        }
    }

    /// Records the HTTP status of a request's exchange, for the debug log.
    fn note_status(&self, id: &str, status: reqwest::StatusCode) {
        if let Some(p) = self.pending().get_mut(id) {
            p.status = Some(status.as_u16());
        }
    }

    /// Answers `id` with the error that `failure` maps to.
    async fn fail(&self, id: &str, failure: &Failure) {
        if self.is_pending(id) {
            tracing::debug!("request {id} failed: {failure:?}");
            let message = errors::answer(id, failure, &self.hints());
            self.answer(id, message).await;
        }
    }

    // ----- client → server -------------------------------------------------------------

    async fn handle_line(self: Arc<Self>, line: Bytes) {
        let parsed = jsonrpc::parse(&line);
        match parsed {
            Err(invalid) => self.reject(invalid).await,
            Ok(Payload::Batch(items)) => {
                let items: Vec<Bytes> = items
                    .iter()
                    .map(|raw| line.slice_ref(raw.get().as_bytes()))
                    .collect();
                if self.session.batches_allowed() {
                    let this = self.clone();
                    tokio::spawn(async move { this.batch(line, &items).await });
                } else {
                    for item in items {
                        let parsed = jsonrpc::utf8(&item)
                            .ok_or(())
                            .and_then(|t| {
                                jsonrpc::parse_single(t).map_err(|e| self.clone().reject_later(e))
                            })
                            .map(|e| Classified::of(&e));
                        if let Ok(c) = parsed {
                            self.clone().dispatch(item, c).await;
                        }
                    }
                }
            }
            Ok(Payload::Single(envelope)) => {
                let c = Classified::of(&envelope);
                self.dispatch(line, c).await
            }
        }
    }

    /// Logs a line that is not JSON-RPC; answers it when its id could be read.
    async fn reject(&self, invalid: jsonrpc::Invalid) {
        tracing::warn!(
            "stdin: ignored a line that is not a valid JSON-RPC message: {}",
            invalid.reason
        );
        if let Some(id) = invalid.id {
            let e = jsonrpc::error_response(&id, invalid.code, &invalid.reason, None);
            self.out.send(Bytes::from(e)).await;
        }
    }

    fn reject_later(self: Arc<Self>, invalid: jsonrpc::Invalid) {
        tokio::spawn(async move { self.reject(invalid).await });
    }

    async fn dispatch(self: Arc<Self>, bytes: Bytes, c: Classified) {
        let Classified { kind, method, id } = c;
        let method = method.as_str();
        // One debug line per message: a request's is written when it is answered (with its
        // HTTP status, duration and size, see `answer`); other messages are logged here.
        if kind != Kind::Request {
            tracing::debug!(
                ?kind,
                method,
                id = id.as_deref().unwrap_or(""),
                "client → server"
            );
        }
        match (kind, id) {
            (Kind::Request, Some(id)) if method == "initialize" => self.initialize(bytes, id).await,
            (kind, id) if self.translating() => {
                self.dispatch_translated(bytes, kind, method, id).await
            }
            (Kind::Request, Some(id)) if self.is_legacy() => {
                if method == "tools/call" && self.hides_called_tool(&bytes) {
                    return self.refuse_hidden_tool(&bytes, &id).await;
                }
                self.register(&id, method);
                let this = self.clone();
                tokio::spawn(async move { this.legacy_request(bytes, &id).await });
            }
            (_, _) if self.is_legacy() => {
                let this = self.clone();
                let what = method.to_string();
                tokio::spawn(async move {
                    if let Err(f) = this.legacy_post(bytes).await {
                        tracing::warn!("{} refused the client's {what}: {f:?}", this.host);
                    }
                });
            }
            (Kind::Request, Some(id))
                if method == "tools/call" && self.hides_called_tool(&bytes) =>
            {
                self.refuse_hidden_tool(&bytes, &id).await
            }
            (Kind::Request, Some(id))
                if let Some(version) = crate::modern::declared_version(&bytes) =>
            {
                self.register(&id, method);
                let this = self.clone();
                let task_id = id.clone();
                self.spawn_exchange(&id, true, async move {
                    let headers = this.modern_headers(&bytes, &version);
                    let result = this.exchange_with(bytes, &task_id, headers).await;
                    if let Err(failure) = result {
                        this.fail(&task_id, &failure).await;
                    }
                });
            }
            (Kind::Request, Some(id)) => {
                // Registered before the task starts, so a fast answer always finds it.
                self.register(&id, method);
                let this = self.clone();
                let task_id = id.clone();
                self.spawn_exchange(&id, false, async move {
                    let result = this.exchange(bytes, &task_id, false).await;
                    if let Err(failure) = result {
                        this.fail(&task_id, &failure).await;
                    }
                });
            }
            (Kind::Notification, _) if method == "notifications/initialized" => {
                self.send_one_way(bytes, method).await;
                if self.session.has_listen_stream() {
                    self.open_listener().await;
                }
            }
            // M6: in the 2026-07-28 era, cancelling is closing the request's HTTP exchange.
            (Kind::Notification, _)
                if method == "notifications/cancelled" && self.cancels_modern(&bytes) =>
            {
                if let Some(target) = jsonrpc::cancelled_request_id(&bytes)
                    && let Some(Pending {
                        task: Some(task), ..
                    }) = self.pending().remove(&target)
                {
                    task.abort();
                }
            }
            (Kind::Notification, _)
                if let Some(version) = crate::modern::declared_version(&bytes) =>
            {
                let this = self.clone();
                let what = method.to_string();
                tokio::spawn(async move {
                    let headers = this.modern_headers(&bytes, &version);
                    this.send_one_way_with(bytes, &what, headers).await
                });
            }
            (Kind::Notification, _) if method == "notifications/cancelled" => {
                let target = jsonrpc::cancelled_request_id(&bytes);
                let this = self.clone();
                tokio::spawn(
                    async move { this.send_one_way(bytes, "notifications/cancelled").await },
                );
                // The client expects no answer any more (J4): stop waiting for one.
                if let Some(target) = target
                    && let Some(Pending {
                        task: Some(task), ..
                    }) = self.pending().remove(&target)
                {
                    task.abort();
                }
            }
            (kind, _) => {
                let label = if kind == Kind::Response {
                    "response"
                } else {
                    "notification"
                };
                let this = self.clone();
                let method = method.to_string();
                tokio::spawn(async move {
                    this.send_one_way(bytes, if method.is_empty() { label } else { &method })
                        .await
                });
            }
        }
    }

    /// `initialize`: starts a new session and is awaited inline, so nothing else goes out
    /// before its response arrived (H17, lifecycle).
    async fn initialize(self: Arc<Self>, bytes: Bytes, id: String) {
        self.stop_listener();
        self.close_legacy();
        self.session.begin(bytes.clone());
        self.register(&id, "initialize");
        if self.transport == TransportKind::Sse {
            return self.legacy_initialize(bytes, &id).await;
        }
        *lock(&self.translation) = None;
        let outcome = self.exchange(bytes.clone(), &id, true).await;
        // A 2026-07-28-only server refuses `initialize` (as a 200 or a 400 body): translate.
        let refusal = lock(&self.held_refusal).take().or_else(|| match &outcome {
            Err(Failure::Http(_, body)) if crate::translate::modern_refusal(body).is_some() => {
                Some(Bytes::from(
                    jsonrpc::with_id(body.trim_ascii(), &id).into_owned(),
                ))
            }
            _ => None,
        });
        if let Some(refusal) = refusal {
            return self.translate_initialize(&bytes, &id, refusal).await;
        }
        match outcome {
            Ok(()) => {}
            // H23: a pre-2025 server refuses the POST with 400/404/405 and no JSON-RPC body.
            Err(Failure::Http(meta, body))
                if self.transport == TransportKind::Auto
                    && matches!(meta.status.as_u16(), 400 | 404 | 405)
                    && !jsonrpc::is_response(body.trim_ascii()) =>
            {
                tracing::info!(
                    "{} refused the Streamable HTTP POST (HTTP {}); trying the legacy HTTP+SSE transport",
                    self.host,
                    meta.status.as_u16()
                );
                self.legacy_initialize(bytes, &id).await;
            }
            Err(failure) => self.fail(&id, &failure).await,
        }
    }

    // ----- era translation: 2025-era client, 2026-07-28-only server -------------------

    fn translating(&self) -> bool {
        lock(&self.translation).is_some()
    }

    /// The server refused `initialize` because it speaks only the modern era: ask
    /// `server/discover` and answer `initialize` ourselves; on failure relay the refusal.
    async fn translate_initialize(self: &Arc<Self>, client_init: &[u8], id: &str, refusal: Bytes) {
        let Some(version) = crate::translate::modern_refusal(&refusal) else {
            return self.answer_held(id, refusal).await;
        };
        let (requested, capabilities, client_info) =
            crate::translate::client_initialize(client_init);
        let mut t = crate::translate::Translation {
            version,
            capabilities,
            client_info,
        };
        let discover = Bytes::from(crate::translate::discover_request(&t));
        let headers = self.modern_headers(&discover, &t.version);
        let reply = self.upstream.post(discover, &headers).await;
        let answer = match reply {
            Ok(Reply::Json(_, body)) => Some(body),
            Ok(Reply::Events(_, stream)) => first_response(stream, "\"wazion-mcp-discover\"").await,
            _ => None,
        };
        if let Some(v) = answer
            .as_deref()
            .and_then(crate::translate::discovered_version)
        {
            t.version = v;
        }
        match answer.and_then(|d| crate::translate::synthesize_initialize(id, &requested, &d)) {
            Some(init) => {
                tracing::info!(
                    "{} speaks only MCP {}: translating for this {requested} client",
                    self.host,
                    t.version
                );
                *lock(&self.translation) = Some(t);
                self.answer(id, Bytes::from(init)).await;
            }
            None => {
                tracing::debug!(
                    "{} refused initialize and server/discover failed",
                    self.host
                );
                self.answer_held(id, refusal).await;
            }
        }
    }

    /// Routes a client message while translating (issue 6 §2).
    async fn dispatch_translated(
        self: Arc<Self>,
        bytes: Bytes,
        kind: Kind,
        method: &str,
        id: Option<String>,
    ) {
        match (kind, id) {
            // Removed in 2026-07-28 (M1): answered here so the client's session goes on.
            (Kind::Request, Some(id)) if method == "ping" || method == "logging/setLevel" => {
                let ok = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#);
                self.out.send(Bytes::from(ok)).await;
            }
            // 2026-07-28 has no resources/subscribe: the set of subscribed URIs is carried by
            // one `subscriptions/listen` stream, reopened whenever the set changes.
            (Kind::Request, Some(id))
                if method == "resources/subscribe" || method == "resources/unsubscribe" =>
            {
                let Some(uri) = crate::translate::param_str(&bytes, "uri") else {
                    let e = jsonrpc::error_response(&id, -32602, "params.uri is required", None);
                    return self.out.send(Bytes::from(e)).await;
                };
                {
                    let mut subs = lock(&self.subscriptions);
                    subs.uris.retain(|u| *u != uri);
                    if method == "resources/subscribe" {
                        subs.uris.push(uri);
                    }
                }
                self.relisten(&id).await;
            }
            (Kind::Request, Some(id))
                if method == "tools/call" && self.hides_called_tool(&bytes) =>
            {
                self.refuse_hidden_tool(&bytes, &id).await
            }
            (Kind::Request, Some(id)) => {
                self.register(&id, method);
                let this = self.clone();
                let task_id = id.clone();
                let handle = tokio::spawn(async move {
                    if let Err(failure) = this.translated_request(bytes, &task_id).await {
                        if let Some(entry) = this.pending().get_mut(&task_id) {
                            entry.translated = false; // relay this failure, never hold it
                        }
                        this.fail(&task_id, &failure).await;
                    }
                });
                if let Some(slot) = self.pending().get_mut(&id) {
                    slot.task = Some(handle.abort_handle());
                    slot.modern = true;
                    slot.translated = true;
                }
            }
            (Kind::Response, Some(id)) => {
                let waiter = lock(&self.input_waiters).remove(&id);
                match waiter {
                    Some(w) => {
                        let _ = w.send(bytes);
                    }
                    None => tracing::debug!("dropped a client response for unknown id {id}"),
                }
            }
            (Kind::Notification, _) if method == "notifications/cancelled" => {
                if let Some(target) = jsonrpc::cancelled_request_id(&bytes)
                    && let Some(Pending {
                        task: Some(task), ..
                    }) = self.pending().remove(&target)
                {
                    task.abort();
                }
            }
            (_, _) => tracing::debug!(method, "not sent: the 2026-07-28 server has no use for it"),
        }
    }

    /// Replaces the `subscriptions/listen` stream with one for the current URIs and
    /// answers the client's subscribe/unsubscribe `id` once the server accepted it.
    async fn relisten(self: &Arc<Self>, id: &str) {
        let uris = {
            let mut subs = lock(&self.subscriptions);
            if let Some(old) = subs.task.take() {
                old.abort(); // closing the stream cancels the old subscription (M6, M9)
            }
            subs.uris.clone()
        };
        let ok = Bytes::from(format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#));
        let Some(t) = lock(&self.translation).clone() else {
            return;
        };
        if uris.is_empty() {
            return self.out.send(ok).await;
        }
        let n = self
            .private_ids
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let listen_id = format!("\"wazion-mcp-listen-{n}\"");
        let body = Bytes::from(crate::translate::listen_request(&listen_id, &uris, &t));
        let headers = self.modern_headers(&body, &t.version);
        let failure = match self.upstream.post(body, &headers).await {
            Ok(Reply::Events(_, stream)) => {
                let this = self.clone();
                let task = tokio::spawn(async move { this.relay_subscription(stream).await });
                lock(&self.subscriptions).task = Some(task);
                return self.out.send(ok).await;
            }
            Ok(Reply::Json(meta, body)) => match jsonrpc::error_code(&body) {
                Some(_) => Failure::Http(Box::new(meta), body),
                None => return self.out.send(ok).await,
            },
            Ok(Reply::Status(meta, body)) => Failure::Http(Box::new(meta), body),
            Ok(Reply::Accepted) => Failure::NoResponse,
            Err(e) => Failure::Net(e),
        };
        self.out
            .send(errors::answer(id, &failure, &self.hints()))
            .await;
    }

    /// Relays a subscription stream's notifications (resources/updated, list changes);
    /// its acknowledgement and final result are the bridge's business, not the client's.
    async fn relay_subscription(self: Arc<Self>, mut stream: EventStream) {
        while let Some(Ok(event)) = stream.next().await {
            let Some(data) = event
                .data
                .filter(|d| event.is_message && !d.trim().is_empty())
            else {
                continue;
            };
            let Ok(e) = jsonrpc::parse_single(&data) else {
                continue;
            };
            if e.kind == Kind::Notification
                && e.method.as_deref() != Some("notifications/subscriptions/acknowledged")
            {
                self.out.send(Bytes::from(data)).await;
            }
        }
        tracing::debug!("the subscriptions/listen stream from {} ended", self.host);
    }

    /// A fresh bridge-private id (J3), as raw JSON text.
    fn private_id(&self, kind: &str) -> String {
        let n = self
            .private_ids
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("\"wazion-mcp-{kind}-{n}\"")
    }

    /// Writes a held message as the answer after all (its entry is still pending).
    async fn answer_held(&self, id: &str, message: Bytes) {
        if let Some(entry) = self.pending().get_mut(id) {
            // So answer() relays it instead of holding it again.
            entry.translated = false;
            if entry.method == "initialize" {
                entry.method = "initialize (refused)".into();
            }
        }
        self.answer(id, message).await;
    }

    /// Lists every page of tools on the client's behalf, only to learn their
    /// `x-mcp-header` annotations (M5); nothing reaches stdout.
    async fn relist_tools(&self, t: &crate::translate::Translation) {
        let mut cursor: Option<String> = None;
        for page in 0..MAX_LIST_PAGES {
            let id = format!("\"wazion-mcp-list-{page}\"");
            let params = match &cursor {
                Some(c) => format!(r#"{{"cursor":{}}}"#, serde_json::Value::from(c.as_str())),
                None => "{}".into(),
            };
            let request =
                format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list","params":{params}}}"#);
            let body = Bytes::from(crate::translate::stamp_meta(request.as_bytes(), t));
            let headers = self.modern_headers(&body, &t.version);
            let result = match self.upstream.post(body, &headers).await {
                Ok(Reply::Json(_, b)) => Some(b),
                Ok(Reply::Events(_, stream)) => first_response(stream, &id).await,
                _ => None,
            };
            let Some(result) = result else { return };
            let _ = self.tool_headers.learn(&result);
            cursor = serde_json::from_slice::<serde_json::Value>(&result)
                .ok()
                .and_then(|v| {
                    v.get("result")?
                        .get("nextCursor")?
                        .as_str()
                        .map(str::to_string)
                });
            if cursor.is_none() {
                return;
            }
        }
    }

    /// A request translated to the modern era, with MRTR rounds (J8): each
    /// `input_required` result becomes server→client requests on stdout; the client's
    /// answers go back in `inputResponses` with the server's `requestState`.
    async fn translated_request(self: &Arc<Self>, bytes: Bytes, id: &str) -> Result<(), Failure> {
        let mut wire_id = id.to_string();
        let result = self.translated_rounds(bytes, id, &mut wire_id).await;
        if wire_id != id {
            self.pending().remove(&wire_id); // the last retry's alias, if still there
        }
        result
    }

    /// The rounds of [`Bridge::translated_request`]. Each retry goes out under a fresh
    /// bridge-private id (J8: "a new id"), registered as an alias of the client's id, so its
    /// answer reaches the client under the id the client used.
    async fn translated_rounds(
        self: &Arc<Self>,
        bytes: Bytes,
        id: &str,
        wire_id: &mut String,
    ) -> Result<(), Failure> {
        let Some(t) = lock(&self.translation).clone() else {
            return Err(Failure::NoResponse);
        };
        let base = crate::translate::stamp_meta(&bytes, &t);
        let mut body = Bytes::from(base.clone());
        let mut relisted = false;
        for _round in 0..MAX_INPUT_ROUNDS {
            let headers = self.modern_headers(&body, &t.version);
            let outcome = self.exchange_with(body, wire_id, headers).await;
            let held = lock(&self.held_input)
                .remove(wire_id.as_str())
                .or_else(|| match &outcome {
                    // A HeaderMismatch usually comes as HTTP 400 with the error as its body.
                    Err(Failure::Http(_, b))
                        if jsonrpc::error_code(b.trim_ascii()) == Some(HEADER_MISMATCH) =>
                    {
                        Some(Bytes::from(
                            jsonrpc::with_id(b.trim_ascii(), id).into_owned(),
                        ))
                    }
                    _ => None,
                });
            let Some(held) = held else {
                return outcome; // answered, or failed
            };
            if jsonrpc::error_code(&held) == Some(HEADER_MISMATCH) {
                // M5: the server wants Mcp-Param-* headers we have not learned yet. Like a
                // modern client would, list the tools once and retry; else relay the error.
                if relisted {
                    self.answer_held(wire_id, held).await;
                    return Ok(());
                }
                relisted = true;
                self.relist_tools(&t).await;
                body = Bytes::from(base.clone());
                continue;
            }
            let Some((requests, state)) = crate::translate::input_required(&held) else {
                return Err(Failure::NoResponse);
            };
            let mut responses = Vec::with_capacity(requests.len());
            for (key, request) in requests {
                let private = self.private_id("input");
                let (tx, rx) = tokio::sync::oneshot::channel();
                lock(&self.input_waiters).insert(private.clone(), tx);
                self.out
                    .send(Bytes::from(crate::translate::as_client_request(
                        &request, &private,
                    )))
                    .await;
                let reply = tokio::time::timeout(self.idle_timeout, rx).await;
                lock(&self.input_waiters).remove(&private);
                let Ok(Ok(reply)) = reply else {
                    return Err(Failure::Net(NetError::Idle(self.idle_timeout)));
                };
                match result_of(&reply) {
                    Some(result) => responses.push((key, result)),
                    // The client refused the server's request: that ends the call.
                    None => {
                        let relayed = jsonrpc::with_id(&reply, id).into_owned();
                        self.answer_held(id, Bytes::from(relayed)).await;
                        return Ok(());
                    }
                }
            }
            // The retry: a new id, aliased to the client's.
            let retry_id = self.private_id("retry");
            if *wire_id != id {
                self.pending().remove(wire_id.as_str());
            }
            self.register(&retry_id, "tools/call");
            if let Some(alias) = self.pending().get_mut(&retry_id) {
                alias.alias_of = Some(id.to_string());
                alias.modern = true;
                alias.translated = true;
            }
            *wire_id = retry_id;
            let with_new_id = jsonrpc::with_id(&base, wire_id).into_owned();
            body = Bytes::from(crate::translate::with_input_responses(
                &with_new_id,
                &responses,
                state.as_deref(),
            ));
        }
        Err(Failure::NoResponse)
    }

    // ----- legacy HTTP+SSE (2024-11-05) ------------------------------------------------

    fn legacy_slot(&self) -> std::sync::MutexGuard<'_, Option<LegacyLink>> {
        self.legacy.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the legacy link for good (a new client `initialize` decides the transport anew).
    fn close_legacy(&self) {
        self.legacy_mode.store(false, Ordering::SeqCst);
        self.drop_legacy_link();
    }

    fn drop_legacy_link(&self) {
        if let Some(link) = self.legacy_slot().take() {
            link.reader.abort();
        }
    }

    fn legacy_endpoint(&self) -> Option<reqwest::Url> {
        self.legacy_slot().as_ref().map(|l| l.endpoint.clone())
    }

    /// Installs an open link and starts relaying its stream.
    fn install_legacy(self: &Arc<Self>, link: crate::legacy::Link) {
        let this = self.clone();
        let events = link.events;
        let reader = tokio::spawn(async move { this.legacy_read(events).await });
        *self.legacy_slot() = Some(LegacyLink {
            endpoint: link.endpoint,
            reader,
        });
    }

    /// Opens the legacy link, then sends `initialize` over it and waits for the answer,
    /// which arrives on the event stream.
    async fn legacy_initialize(self: &Arc<Self>, bytes: Bytes, id: &str) {
        let link = match crate::legacy::connect(&self.upstream).await {
            Ok(link) => link,
            Err(failure) => return self.fail(id, &failure).await,
        };
        self.install_legacy(link);
        self.legacy_mode.store(true, Ordering::SeqCst);
        self.legacy_request(bytes, id).await;
        self.wait_answered(id).await;
    }

    /// The server closed the legacy stream earlier: open a new one, replay the client's
    /// `initialize` under a private id (its answer is not the client's) and wait for that
    /// answer, then send `notifications/initialized`. The legacy transport has no
    /// resumption, so this is a new session, as after a 404 on Streamable HTTP (H10).
    async fn legacy_reconnect(self: &Arc<Self>) -> Result<reqwest::Url, Failure> {
        let _turn = self.legacy_reconnecting.lock().await;
        if let Some(endpoint) = self.legacy_endpoint() {
            return Ok(endpoint); // another message reconnected meanwhile
        }
        let wrap = |f: Failure| Failure::Reinitialize(Box::new(f));
        let Some((init, private_id)) = self.session.reinitialize_request() else {
            return Err(wrap(Failure::NoResponse));
        };
        tracing::info!("reconnecting the legacy SSE stream to {}", self.host);
        let link = crate::legacy::connect(&self.upstream).await.map_err(wrap)?;
        let endpoint = link.endpoint.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        *lock(&self.legacy_init_wait) = Some((private_id, tx));
        self.install_legacy(link);
        let replayed = match self.upstream.post_to(&endpoint, init).await {
            Ok(Reply::Accepted) => tokio::time::timeout(self.idle_timeout, rx)
                .await
                .map_err(|_| Failure::NoResponse)
                .and_then(|r| r.map_err(|_| Failure::LegacyStreamClosed)),
            Ok(Reply::Status(meta, body)) => Err(Failure::Http(Box::new(meta), body)),
            Ok(_) => Ok(()), // answered on the POST itself: nothing to wait for
            Err(e) => Err(Failure::Net(e)),
        };
        lock(&self.legacy_init_wait).take();
        if let Err(failure) = replayed {
            self.drop_legacy_link();
            return Err(wrap(failure));
        }
        let initialized =
            Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        if let Err(e) = self.upstream.post_to(&endpoint, initialized).await {
            tracing::warn!("legacy reconnect: notifications/initialized failed: {e:?}");
        }
        Ok(endpoint)
    }

    /// Whether `data` answers the replayed `initialize` of a reconnect; if so, signals it.
    fn takes_replayed_init(&self, data: &str) -> bool {
        let mut wait = lock(&self.legacy_init_wait);
        let Some((id, _)) = wait.as_ref() else {
            return false;
        };
        let ours = jsonrpc::parse_single(data)
            .is_ok_and(|e| e.kind == Kind::Response && e.id_key() == Some(id.as_str()));
        if ours && let Some((_, tx)) = wait.take() {
            let _ = tx.send(());
        }
        ours
    }

    /// Relays the legacy event stream; when it ends, every pending request is answered
    /// with an error (nothing else could answer them) and the link is dropped.
    async fn legacy_read(self: Arc<Self>, mut events: EventStream) {
        while let Some(item) = events.next().await {
            match item {
                Ok(event) => {
                    if let Some(data) = event
                        .data
                        .filter(|d| event.is_message && !d.trim().is_empty())
                        && !self.takes_replayed_init(&data)
                    {
                        self.deliver(Bytes::from(data), &[], false).await;
                    }
                }
                Err(e) => {
                    tracing::warn!("the legacy SSE stream from {} broke: {e:?}", self.host);
                    break;
                }
            }
        }
        tracing::info!(
            "the legacy SSE stream from {} closed; the next message reconnects",
            self.host
        );
        self.legacy_slot().take();
        // A reconnect waiting for its replayed `initialize` learns now that none will come.
        lock(&self.legacy_init_wait).take();
        let ids: Vec<String> = self.pending().keys().cloned().collect();
        for id in ids {
            self.fail(&id, &Failure::LegacyStreamClosed).await;
        }
    }

    /// POSTs a request to the legacy endpoint; its answer comes on the stream, so only a
    /// refusal is answered here.
    async fn legacy_request(self: &Arc<Self>, bytes: Bytes, id: &str) {
        if let Err(failure) = self.legacy_post(bytes).await {
            self.fail(id, &failure).await;
        }
    }

    async fn legacy_post(self: &Arc<Self>, bytes: Bytes) -> Result<(), Failure> {
        let endpoint = match self.legacy_endpoint() {
            Some(endpoint) => endpoint,
            None => self.legacy_reconnect().await?,
        };
        match self.upstream.post_to(&endpoint, bytes).await {
            Ok(Reply::Status(meta, body)) => Err(Failure::Http(Box::new(meta), body)),
            Ok(Reply::Events(_, stream)) => {
                // Not expected on this transport, but never lose what a server sends.
                let _ = self.consume(stream, &[], false).await;
                Ok(())
            }
            Ok(Reply::Json(_, payload)) => {
                if jsonrpc::parse(&payload).is_ok() {
                    self.deliver_json(&payload, &[], false).await;
                }
                Ok(())
            }
            Ok(Reply::Accepted) => Ok(()),
            Err(e) => Err(Failure::Net(e)),
        }
    }

    fn is_legacy(&self) -> bool {
        self.legacy_mode.load(Ordering::SeqCst)
    }

    /// Waits until `id` is answered (by anyone), bounded by the idle timeout.
    async fn wait_answered(&self, id: &str) {
        let deadline = tokio::time::Instant::now() + self.idle_timeout;
        loop {
            let answered = self.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            if !self.is_pending(id) {
                return;
            }
            if tokio::time::timeout_at(deadline, answered).await.is_err() {
                self.fail(id, &Failure::Net(NetError::Idle(self.idle_timeout)))
                    .await;
                return;
            }
        }
    }

    /// One request's whole life: POST, read the reply, deliver the response; re-initialize
    /// once on a session 404 (H18); resume a broken stream (H13). `Ok` means answered.
    async fn exchange(
        self: &Arc<Self>,
        body: Bytes,
        id: &str,
        is_init: bool,
    ) -> Result<(), Failure> {
        let mut may_reinit = !is_init;
        loop {
            let (headers, generation) = if is_init {
                (SessionHeaders::default(), 0)
            } else {
                self.session.snapshot()
            };
            let reply = self
                .upstream
                .post(body.clone(), &headers)
                .await
                .map_err(Failure::Net)?;
            if let Reply::Status(meta, payload) = &reply {
                let expired = meta.status == reqwest::StatusCode::NOT_FOUND
                    && headers.session_id.is_some()
                    && !is_recognised_error(payload);
                if expired && may_reinit {
                    may_reinit = false;
                    tracing::info!(
                        "the server ended the MCP session (HTTP 404); starting a new one"
                    );
                    self.reinitialize(generation).await?;
                    continue;
                }
            }
            return self.finish_exchange(reply, id, is_init).await;
        }
    }

    /// A request with fixed headers (2026-07-28 era): no session, no re-initialize (M1).
    async fn exchange_with(
        self: &Arc<Self>,
        body: Bytes,
        id: &str,
        headers: SessionHeaders,
    ) -> Result<(), Failure> {
        let reply = self
            .upstream
            .post(body, &headers)
            .await
            .map_err(Failure::Net)?;
        self.finish_exchange(reply, id, false).await
    }

    /// The headers of a modern message: its version, method, name and `Mcp-Param-*`.
    fn modern_headers(&self, bytes: &[u8], version: &str) -> SessionHeaders {
        SessionHeaders {
            session_id: None,
            protocol_version: None,
            extra: self.tool_headers.request_headers(bytes, version),
        }
    }

    /// Whether a `notifications/cancelled` targets a request sent in the modern era.
    fn cancels_modern(&self, bytes: &[u8]) -> bool {
        jsonrpc::cancelled_request_id(bytes)
            .is_some_and(|t| self.pending().get(&t).is_some_and(|p| p.modern))
    }

    /// Turns the server's reply to a request into its answer (or the failure to map).
    async fn finish_exchange(
        self: &Arc<Self>,
        reply: Reply,
        id: &str,
        is_init: bool,
    ) -> Result<(), Failure> {
        if let Reply::Json(m, _) | Reply::Events(m, _) | Reply::Status(m, _) = &reply {
            self.note_status(id, m.status);
        }
        match reply {
            Reply::Accepted => Err(Failure::NoResponse),
            Reply::Json(meta, payload) => {
                if is_init {
                    self.session.set_session_id(meta.session_id);
                }
                self.deliver_json(&payload, &[id], is_init).await;
                self.answered(id)
            }
            Reply::Events(meta, stream) => {
                if is_init {
                    self.session.set_session_id(meta.session_id);
                }
                self.consume(stream, &[id], is_init).await
            }
            Reply::Status(meta, payload) => Err(Failure::Http(Box::new(meta), payload)),
        }
    }

    fn answered(&self, id: &str) -> Result<(), Failure> {
        if self.is_pending(id) {
            Err(Failure::NoResponse)
        } else {
            Ok(())
        }
    }

    /// A batch POSTed whole (2025-03-26 only, S7); every request in it is answered.
    async fn batch(&self, body: Bytes, items: &[Bytes]) {
        let ids: Vec<String> = items
            .iter()
            .filter_map(|b| {
                let text = jsonrpc::utf8(b)?;
                let e = jsonrpc::parse_single(text).ok()?;
                (e.kind == Kind::Request).then(|| e.id_key().map(str::to_string))?
            })
            .collect();
        {
            let mut pending = self.pending();
            for id in &ids {
                pending.insert(id.clone(), Pending::new("batch"));
            }
        }
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (headers, _) = self.session.snapshot();
        let failure = match self.upstream.post(body, &headers).await {
            Ok(Reply::Accepted) => None,
            Ok(Reply::Json(_, payload)) => {
                self.deliver_json(&payload, &id_refs, false).await;
                None
            }
            Ok(Reply::Events(_, stream)) => self.consume(stream, &id_refs, false).await.err(),
            Ok(Reply::Status(meta, payload)) => Some(Failure::Http(Box::new(meta), payload)),
            Err(e) => Some(Failure::Net(e)),
        };
        let failure = failure.unwrap_or(Failure::NoResponse);
        for id in &ids {
            self.fail(id, &failure).await;
        }
    }

    /// POSTs a notification or a client response; nobody waits for an answer, so problems
    /// are logged once on stderr (A7: a 401 here is reported, never retried).
    async fn send_one_way(&self, bytes: Bytes, what: &str) {
        let (headers, _) = self.session.snapshot();
        self.send_one_way_with(bytes, what, headers).await
    }

    async fn send_one_way_with(&self, bytes: Bytes, what: &str, headers: SessionHeaders) {
        match self.upstream.post(bytes, &headers).await {
            Ok(Reply::Accepted) => {}
            Ok(Reply::Json(_, payload)) => self.deliver_json(&payload, &[], false).await,
            Ok(Reply::Events(_, stream)) => {
                let _ = self.consume(stream, &[], false).await;
            }
            Ok(Reply::Status(meta, _)) => {
                let status = meta.status;
                match &meta.www_authenticate {
                    Some(w) => tracing::warn!(
                        "{} answered HTTP {status} to the client's {what}; WWW-Authenticate: {w}",
                        self.host
                    ),
                    None => tracing::warn!(
                        "{} answered HTTP {status} to the client's {what}",
                        self.host
                    ),
                }
            }
            Err(e) => tracing::warn!("could not send the client's {what} to {}: {e:?}", self.host),
        }
    }

    // ----- server → client -------------------------------------------------------------

    /// Delivers a JSON body: one message, or an array of them (a batch reply).
    async fn deliver_json(&self, payload: &Bytes, ours: &[&str], is_init: bool) {
        match jsonrpc::parse(payload) {
            // A single JSON body answering a single request is that request's answer, whatever
            // id it carries (A7: relayed with only the id fixed). Parsed once, here.
            Ok(Payload::Single(e)) => {
                let routed = self.route(
                    payload,
                    &e,
                    ours,
                    e.kind == Kind::Response && ours.len() == 1,
                );
                self.deliver_routed(routed, ours, is_init).await;
            }
            Ok(Payload::Batch(items)) => {
                for raw in items {
                    self.deliver(payload.slice_ref(raw.get().as_bytes()), ours, is_init)
                        .await;
                }
            }
            Err(invalid) => tracing::warn!(
                "{} sent a body that is not JSON-RPC: {}",
                self.host,
                invalid.reason
            ),
        }
    }

    /// Routes one server message: a response goes to its pending request (one answer per
    /// id); requests and notifications go straight to stdout.
    async fn deliver(&self, message: Bytes, ours: &[&str], is_init: bool) {
        let Some(text) = jsonrpc::utf8(&message) else {
            tracing::warn!("{} sent a message that is not UTF-8; dropped", self.host);
            return;
        };
        let routed = match jsonrpc::parse_single(text) {
            Ok(e) => self.route(&message, &e, ours, false),
            Err(invalid) => {
                tracing::warn!(
                    "{} sent a message that is not JSON-RPC ({}); dropped",
                    self.host,
                    invalid.reason
                );
                return;
            }
        };
        self.deliver_routed(routed, ours, is_init).await;
    }

    /// Decides where a parsed server message goes, fixing a response's id where needed by
    /// splicing at the span the parse found (no second parse). `force_ours`: the message is
    /// the whole answer to the single request in `ours`, whatever id it carries.
    fn route(
        &self,
        message: &Bytes,
        e: &jsonrpc::Envelope<'_>,
        ours: &[&str],
        force_ours: bool,
    ) -> Routed {
        if e.kind != Kind::Response {
            tracing::debug!(
                method = e.method.as_deref().unwrap_or(""),
                "server → client"
            );
            return Routed::ToClient(message.clone());
        }
        let target = match e.id_key() {
            _ if force_ours => ours[0].to_string(),
            Some(id) => id.to_string(),
            // A response without a usable id on a single request's stream answers that request.
            None if ours.len() == 1 => ours[0].to_string(),
            None => {
                tracing::warn!("{} sent a response without an id; dropped", self.host);
                return Routed::Dropped;
            }
        };
        let fixed = match e.id {
            Some(current) if current.get() == target => message.clone(),
            Some(current) => {
                let start = current.get().as_ptr() as usize - message.as_ptr() as usize;
                let end = start + current.get().len();
                let mut out = Vec::with_capacity(message.len() + target.len());
                out.extend_from_slice(&message[..start]);
                out.extend_from_slice(target.as_bytes());
                out.extend_from_slice(&message[end..]);
                Bytes::from(out)
            }
            None => match jsonrpc::with_id(message, &target) {
                std::borrow::Cow::Borrowed(_) => message.clone(),
                std::borrow::Cow::Owned(v) => Bytes::from(v),
            },
        };
        Routed::Answer(target, fixed)
    }

    async fn deliver_routed(&self, routed: Routed, ours: &[&str], is_init: bool) {
        match routed {
            Routed::ToClient(m) => self.out.send(m).await,
            Routed::Answer(target, message) => {
                if is_init && ours.first() == Some(&target.as_str()) {
                    match jsonrpc::initialize_result_version(&message) {
                        Some(v) => self.session.set_version(&v),
                        None => tracing::debug!("initialize answered without a protocolVersion"),
                    }
                }
                self.answer(&target, message).await;
            }
            Routed::Dropped => {}
        }
    }

    /// Reads a response stream until every id in `ours` is answered, resuming with
    /// `Last-Event-ID` after the server's `retry` delay when it breaks after an event id
    /// (H13, H14). Once answered the stream is dropped (H15).
    async fn consume(
        &self,
        mut stream: EventStream,
        ours: &[&str],
        is_init: bool,
    ) -> Result<(), Failure> {
        let mut last_event_id: Option<String> = None;
        let mut retry = DEFAULT_RETRY;
        let mut resumes = 0;
        loop {
            if !ours.is_empty() && ours.iter().all(|id| !self.is_pending(id)) {
                return Ok(());
            }
            let broke = match stream.next().await {
                Some(Ok(event)) => {
                    if let Some(id) = event.id {
                        last_event_id = Some(id);
                    }
                    if let Some(r) = event.retry {
                        retry = r;
                    }
                    if let Some(data) = event
                        .data
                        .filter(|d| event.is_message && !d.trim().is_empty())
                    {
                        resumes = 0;
                        self.deliver(Bytes::from(data), ours, is_init).await;
                    }
                    continue;
                }
                Some(Err(NetError::Idle(d))) => return Err(Failure::Net(NetError::Idle(d))),
                Some(Err(e)) => Some(e),
                None => None,
            };
            if !ours.is_empty() && ours.iter().all(|id| !self.is_pending(id)) {
                return Ok(());
            }
            let Some(resume_from) = last_event_id.clone() else {
                return Err(broke.map_or(Failure::StreamEnded, Failure::Net));
            };
            if resumes >= MAX_RESUMES {
                return Err(broke.map_or(Failure::StreamEnded, Failure::Net));
            }
            resumes += 1;
            tracing::debug!(
                "response stream interrupted; resuming in {} ms",
                retry.as_millis()
            );
            tokio::time::sleep(retry).await;
            let (headers, _) = self.session.snapshot();
            match self.upstream.get(&headers, Some(&resume_from)).await {
                Ok(Reply::Events(_, s)) => stream = s,
                Ok(Reply::Json(_, payload)) => {
                    self.deliver_json(&payload, ours, is_init).await;
                    return if ours.iter().any(|id| self.is_pending(id)) {
                        Err(Failure::StreamEnded)
                    } else {
                        Ok(())
                    };
                }
                Ok(Reply::Accepted) => return Err(Failure::StreamEnded),
                Ok(Reply::Status(meta, payload)) => {
                    return Err(Failure::Http(Box::new(meta), payload));
                }
                Err(e) => return Err(Failure::Net(e)),
            }
        }
    }

    // ----- the GET stream --------------------------------------------------------------

    /// Opens the standalone GET stream and waits for its response headers (H8, H9): a
    /// message the server sends there right after is not lost. 405 means none is offered.
    async fn open_listener(self: &Arc<Self>) {
        let (headers, _) = self.session.snapshot();
        match self.upstream.get(&headers, None).await {
            Ok(Reply::Events(_, stream)) => {
                let this = self.clone();
                let handle = tokio::spawn(async move { this.listen(stream).await });
                if let Some(old) = self.listener_slot().replace(handle) {
                    old.abort();
                }
            }
            Ok(Reply::Status(meta, _))
                if meta.status == reqwest::StatusCode::METHOD_NOT_ALLOWED =>
            {
                tracing::debug!("{} offers no GET stream (405)", self.host);
            }
            Ok(Reply::Status(meta, _)) => match &meta.www_authenticate {
                Some(w) => tracing::warn!(
                    "{} refused the GET stream: HTTP {}; WWW-Authenticate: {w}",
                    self.host,
                    meta.status
                ),
                // Stateless servers answer the GET with 400 or 404 as well as 405: not news.
                None if matches!(meta.status.as_u16(), 400 | 404) => {
                    tracing::debug!("{} offers no GET stream (HTTP {})", self.host, meta.status)
                }
                None => {
                    tracing::warn!("{} refused the GET stream: HTTP {}", self.host, meta.status)
                }
            },
            Ok(_) => tracing::debug!("{} answered the GET without an event stream", self.host),
            Err(e) => tracing::warn!("could not open the GET stream to {}: {e:?}", self.host),
        }
    }

    /// Relays the GET stream; reconnects (resuming when an event id was seen) with backoff,
    /// and stops for good on 4xx or after repeated failures, so it never hot-loops.
    async fn listen(self: Arc<Self>, mut stream: EventStream) {
        let mut last_event_id: Option<String> = None;
        let mut retry = DEFAULT_RETRY;
        let mut failures = 0u32;
        loop {
            while let Some(item) = stream.next().await {
                match item {
                    Ok(event) => {
                        if let Some(id) = event.id {
                            last_event_id = Some(id);
                        }
                        if let Some(r) = event.retry {
                            retry = r;
                        }
                        if let Some(data) = event
                            .data
                            .filter(|d| event.is_message && !d.trim().is_empty())
                        {
                            failures = 0;
                            self.deliver(Bytes::from(data), &[], false).await;
                        }
                    }
                    Err(e) => {
                        tracing::debug!("GET stream broke: {e:?}");
                        break;
                    }
                }
            }
            failures += 1;
            if failures > MAX_RESUMES {
                tracing::warn!(
                    "the GET stream to {} keeps failing; server-initiated messages stop until the next session",
                    self.host
                );
                return;
            }
            tokio::time::sleep(retry * failures).await;
            let (headers, _) = self.session.snapshot();
            match self.upstream.get(&headers, last_event_id.as_deref()).await {
                Ok(Reply::Events(_, s)) => stream = s,
                Ok(Reply::Status(meta, _)) => {
                    tracing::debug!("GET stream not reopened: HTTP {}", meta.status);
                    return;
                }
                Ok(_) => return,
                Err(e) => tracing::debug!("GET stream reconnect failed: {e:?}"),
            }
        }
    }

    fn listener_slot(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.listener.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stop_listener(&self) {
        if let Some(h) = self.listener_slot().take() {
            h.abort();
        }
    }

    // ----- session expiry --------------------------------------------------------------

    /// Replaces an expired session (H18): replays the client's initialize under a private
    /// id, swallows its result, sends `notifications/initialized`, reopens the GET stream.
    /// Concurrent callers that saw the same generation share one re-initialize.
    async fn reinitialize(self: &Arc<Self>, seen_generation: u64) -> Result<(), Failure> {
        let _turn = self.session.reinit_lock.lock().await;
        if self.session.generation() != seen_generation {
            return Ok(()); // someone else already replaced the session
        }
        let Some((body, private_id)) = self.session.reinitialize_request() else {
            return Err(Failure::Reinitialize(Box::new(Failure::NoResponse)));
        };
        self.stop_listener();
        let wrap = |f: Failure| Failure::Reinitialize(Box::new(f));
        let reply = self
            .upstream
            .post(body, &SessionHeaders::default())
            .await
            .map_err(|e| wrap(Failure::Net(e)))?;
        let (session_id, result) = match reply {
            Reply::Json(meta, payload) => (meta.session_id, Some(payload)),
            Reply::Events(meta, stream) => {
                (meta.session_id, first_response(stream, &private_id).await)
            }
            Reply::Status(meta, payload) => {
                return Err(wrap(Failure::Http(Box::new(meta), payload)));
            }
            Reply::Accepted => return Err(wrap(Failure::NoResponse)),
        };
        let Some(result) = result.filter(|r| jsonrpc::error_code(r).is_none()) else {
            return Err(wrap(Failure::NoResponse));
        };
        let version = jsonrpc::initialize_result_version(&result);
        if version.is_some() && version != self.session.version() {
            tracing::warn!(
                "the new session negotiated another protocol version; the client is not told"
            );
        }
        self.session.install(session_id, version.as_deref());
        let (headers, _) = self.session.snapshot();
        let initialized =
            Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        match self.upstream.post(initialized, &headers).await {
            Ok(Reply::Accepted) => {}
            Ok(Reply::Status(meta, _)) => tracing::warn!(
                "re-initialize: notifications/initialized answered HTTP {}",
                meta.status
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("re-initialize: notifications/initialized failed: {e:?}"),
        }
        if self.session.has_listen_stream() {
            self.open_listener().await;
        }
        Ok(())
    }

    // ----- shutdown --------------------------------------------------------------------

    /// S9/H19: give in-flight requests `grace` to finish, answer the rest with an error,
    /// stop the streams, DELETE the session (≤ 700 ms, 405 tolerated), flush stdout.
    async fn shutdown(&self, grace: Duration) {
        if !grace.is_zero() {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if !self.pending().is_empty() {
                let _ = tokio::time::timeout(grace, drained).await;
            }
        }
        let left: Vec<(String, Pending)> = self.pending().drain().collect();
        for (id, entry) in left {
            if let Some(t) = entry.task {
                t.abort();
            }
            if entry.alias_of.is_some() {
                continue; // the client's own id is answered instead
            }
            let message = errors::answer(&id, &Failure::ShuttingDown, &self.hints());
            self.out.send(message).await;
        }
        self.stop_listener();
        self.close_legacy();
        if self.session.has_session_id() {
            let (headers, _) = self.session.snapshot();
            match tokio::time::timeout(DELETE_TIMEOUT, self.upstream.delete(&headers)).await {
                Ok(Ok(status)) => tracing::debug!("session DELETE answered {status}"),
                Ok(Err(e)) => tracing::debug!("session DELETE failed: {e:?}"),
                Err(_) => tracing::debug!("session DELETE timed out"),
            }
        }
        self.out.flush(Duration::from_millis(200)).await;
    }
}

/// A client request awaiting its answer.
struct Pending {
    method: String,
    started: std::time::Instant,
    /// HTTP status of its exchange, once known (for the debug log).
    status: Option<u16>,
    /// The task serving it, aborted on cancellation or shutdown.
    task: Option<AbortHandle>,
    /// Sent in the 2026-07-28 era (cancelled by aborting its exchange, M6).
    modern: bool,
    /// Translated for a 2025-era client: `input_required` results are held, not relayed.
    translated: bool,
    /// A bridge-private retry standing for this client id: its answer goes out as that id's.
    alias_of: Option<String>,
}

impl Pending {
    fn new(method: &str) -> Self {
        Pending {
            method: method.to_string(),
            started: std::time::Instant::now(),
            status: None,
            task: None,
            modern: false,
            translated: false,
            alias_of: None,
        }
    }
}

/// Where a server message goes.
enum Routed {
    /// A request or notification for the client.
    ToClient(Bytes),
    /// The answer to a pending request (id already fixed).
    Answer(String, Bytes),
    Dropped,
}

/// The owned facts of a classified message, so its bytes can move on.
struct Classified {
    kind: Kind,
    method: String,
    id: Option<String>,
}

impl Classified {
    fn of(e: &jsonrpc::Envelope<'_>) -> Self {
        Self {
            kind: e.kind,
            method: e.method.as_deref().unwrap_or("").to_string(),
            id: e.id_key().map(str::to_string),
        }
    }
}

/// Locks a mutex, recovering from poisoning (a panicked holder left consistent data).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The raw `result` of a client response, if it is a result (not an error).
fn result_of(response: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Msg<'a> {
        #[serde(borrow)]
        result: Option<&'a serde_json::value::RawValue>,
    }
    serde_json::from_slice::<Msg<'_>>(response)
        .ok()?
        .result
        .map(|r| r.get().to_string())
}

/// Reads a stream until the response with `id` arrives; returns it.
async fn first_response(mut stream: EventStream, id: &str) -> Option<Bytes> {
    while let Some(Ok(event)) = stream.next().await {
        let Some(data) = event.data else { continue };
        if let Ok(e) = jsonrpc::parse_single(&data)
            && e.kind == Kind::Response
            && e.id_key() == Some(id)
        {
            return Some(Bytes::from(data));
        }
    }
    None
}

/// A 404 whose body is a JSON-RPC error the server meant (method not found, or one of the
/// 2026 era's errors) is relayed, never mistaken for an expired session (M10).
fn is_recognised_error(payload: &[u8]) -> bool {
    matches!(
        jsonrpc::error_code(payload.trim_ascii()),
        Some(-32601 | -32022..=-32020)
    )
}
