//! HTTP to the MCP server: POST a message, GET the listening or resuming stream, DELETE the
//! session; classify each answer into a [`Reply`]; decode SSE bodies into [`Event`]s.
//!
//! This module decides nothing about what the client sees (that is `relay` and `errors`);
//! it only says what the server did. Invariants:
//! - every request carries the configured headers (bearer token, `--header`s) and, once
//!   known, `Mcp-Session-Id` and `MCP-Protocol-Version` (A2, H16, H20);
//! - redirects are followed only to the same origin with 307/308, so neither the token nor a
//!   custom header ever reaches another origin, and a POST never silently turns into a GET;
//! - every body read is bounded in size and in idle time (no byte for `idle_timeout`).

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, StatusCode, Url};
use sse_stream::{Sse, SseByteStream};

use crate::config::Settings;
use crate::netutil::plain_cause;
/// The session headers every request carries are plain data of the session's state: defined
/// with it in `protocol::session`, and named here too because `post`, `get` and `delete` take them.
pub use crate::protocol::session::SessionHeaders;

pub mod legacy;

use crate::protocol::{HEADER_LAST_EVENT_ID, HEADER_PROTOCOL_VERSION, HEADER_SESSION_ID};
/// The Accept of every POST (H2): JSON and SSE answers are both understood (H5).
const POST_ACCEPT: &str = "application/json, text/event-stream";

/// What the HTTP response said besides its body.
#[derive(Debug, Clone)]
pub struct Meta {
    pub status: StatusCode,
    pub session_id: Option<HeaderValue>,
    pub www_authenticate: Option<String>,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    /// The server's leaf certificate (DER), only when built [`Upstream::with_tls_info`].
    pub peer_certificate: Option<Vec<u8>>,
}

/// How the server answered.
pub enum Reply {
    /// 2xx without a body to read (202 Accepted, or an empty 200).
    Accepted,
    /// `application/json` 2xx body, read whole.
    Json(Meta, Bytes),
    /// `text/event-stream` 2xx body, to be read event by event.
    Events(Meta, EventStream),
    /// Any status ≥ 300 (body read whole, bounded): the caller decides whether the body is a
    /// JSON-RPC message to relay or an HTTP failure to describe.
    Status(Meta, Bytes),
}

/// A failure below HTTP: nothing came back that could be relayed.
#[derive(Debug, Clone)]
pub enum NetError {
    /// Connection refused, DNS, TLS, connect timeout…; the text is in plain words.
    Connect(String),
    /// No byte from the server for the idle timeout.
    Idle(Duration),
    /// The connection broke while reading a body.
    Body(String),
    /// A body larger than `--max-message-bytes`.
    TooLarge(usize),
    /// The server asked for an OAuth sign-in, and it failed; the text says why and what to do.
    Auth(String),
}

/// One SSE event, as the MCP transport uses them.
#[derive(Debug, Default)]
pub struct Event {
    pub id: Option<String>,
    pub retry: Option<Duration>,
    /// `None` for metadata-only blocks; `Some("")` for priming events.
    pub data: Option<String>,
    /// `true` when the event type is `message` (or absent).
    pub is_message: bool,
    /// The explicit event type, if any (`endpoint` on the legacy transport).
    pub event: Option<String>,
}

impl Event {
    /// The JSON-RPC message this event carries: the data of a `message` event (or one with
    /// no type), unless blank. Priming events (`data:` empty), other event types and
    /// metadata-only blocks carry none.
    pub fn message(&mut self) -> Option<String> {
        let is_message = self.is_message;
        self.data
            .take()
            .filter(|d| is_message && !d.trim().is_empty())
    }
}

/// An SSE body: events in arrival order. The idle timeout runs between **events**: SSE
/// comments (`: keep-alive`) are not events, so a stream that only says it is alive cannot
/// hold a request open forever; any event, a progress notification or a bare `id:`, is a
/// life sign.
pub struct EventStream {
    inner: std::pin::Pin<Box<dyn Stream<Item = Result<Sse, sse_stream::Error>> + Send>>,
    idle: Duration,
}

impl EventStream {
    /// Decodes events from a body's byte chunks, with a bound on the size of one event.
    pub fn new<S>(body: S, idle: Duration, max_event: usize) -> Self
    where
        S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + Unpin + 'static,
    {
        let guard = EventSizeGuard::new(max_event);
        let bytes = futures::stream::unfold(Some((body, guard)), move |state| async move {
            let (mut s, mut guard) = state?;
            match s.next().await {
                None => None,
                Some(Ok(b)) => match guard.feed(&b) {
                    Ok(()) => Some((Ok(b), Some((s, guard)))),
                    Err(n) => Some((Err(BodyError::TooLarge(n)), None)),
                },
                Some(Err(e)) => Some((Err(BodyError::Http(e)), None)),
            }
        });
        EventStream {
            inner: Box::pin(SseByteStream::new(Box::pin(bytes))),
            idle,
        }
    }

    /// The next event; `None` when the server closed the stream cleanly.
    pub async fn next(&mut self) -> Option<Result<Event, NetError>> {
        let item = match tokio::time::timeout(self.idle, self.inner.next()).await {
            Err(_) => return Some(Err(NetError::Idle(self.idle))),
            Ok(item) => item?,
        };
        match item {
            Ok(sse) => Some(Ok(Event {
                is_message: sse.event.as_deref().is_none_or(|e| e == "message"),
                event: sse.event,
                id: sse.id,
                retry: sse.retry.map(Duration::from_millis),
                data: sse.data,
            })),
            Err(e) => Some(Err(body_error(&e))),
        }
    }
}

/// The body-level error surfaced through the SSE decoder.
#[derive(Debug)]
enum BodyError {
    TooLarge(usize),
    Http(reqwest::Error),
}

/// Bounds the size of one SSE event (bytes since the last blank line), so a server cannot
/// make the decoder buffer without limit. Line endings are `\n`, `\r\n` or `\r`.
pub struct EventSizeGuard {
    max: usize,
    since_boundary: usize,
    line_len: usize,
    prev_cr: bool,
    overflow: Option<usize>,
}

impl EventSizeGuard {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            since_boundary: 0,
            line_len: 0,
            prev_cr: false,
            overflow: None,
        }
    }

    /// Accounts for a chunk; `Err(size)` once an event grows past the limit.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), usize> {
        let mut rest = chunk;
        while let Some(i) = memchr::memchr2(b'\n', b'\r', rest) {
            self.text(i);
            let b = rest[i];
            if !(b == b'\n' && self.prev_cr && i == 0) {
                self.line_end();
            }
            self.prev_cr = b == b'\r';
            rest = &rest[i + 1..];
        }
        if !rest.is_empty() {
            self.text(rest.len());
            self.prev_cr = false;
        }
        match self.overflow {
            Some(n) => Err(n),
            None => Ok(()),
        }
    }

    fn text(&mut self, n: usize) {
        if n > 0 {
            self.prev_cr = false;
        }
        self.line_len += n;
        self.since_boundary += n;
        if self.since_boundary > self.max && self.overflow.is_none() {
            self.overflow = Some(self.since_boundary);
        }
    }

    fn line_end(&mut self) {
        if self.line_len == 0 {
            self.since_boundary = 0;
        }
        self.line_len = 0;
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge(n) => write!(f, "an event of more than {n} bytes"),
            BodyError::Http(e) => write!(f, "{}", plain_cause(e)),
        }
    }
}

impl std::error::Error for BodyError {}

fn body_error(e: &sse_stream::Error) -> NetError {
    if let sse_stream::Error::Body(inner) = e
        && let Some(known) = inner.downcast_ref::<BodyError>()
    {
        match known {
            BodyError::TooLarge(n) => return NetError::TooLarge(*n),
            BodyError::Http(_) => {}
        }
    }
    match e {
        sse_stream::Error::Body(inner) => NetError::Body(inner.to_string()),
        other => NetError::Body(format!("invalid event stream ({other})")),
    }
}

/// The HTTP client and the fixed parts of every request.
pub struct Upstream {
    client: Client,
    url: Url,
    headers: HeaderMap,
    /// `headers` plus the Accept and Content-Type of every POST, built once.
    post_headers: HeaderMap,
    idle: Duration,
    max_body: usize,
    /// The OAuth token holder, when no static credential is configured (see `oauth`).
    auth: Option<std::sync::Arc<crate::oauth::Authorizer>>,
}

/// Sign-ins or refreshes one request may cause before the server's answer is relayed (a
/// server that keeps asking for more scope must not loop the user through the browser).
const MAX_AUTH_ATTEMPTS: u32 = 2;

impl Upstream {
    pub fn new(settings: &Settings) -> Result<Self, String> {
        Self::build(settings, false)
    }

    /// Like [`Upstream::new`], but each [`Meta`] carries the server's TLS certificate
    /// (for `check`).
    pub fn with_tls_info(settings: &Settings) -> Result<Self, String> {
        Self::build(settings, true)
    }

    fn build(settings: &Settings, tls_info: bool) -> Result<Self, String> {
        let origin = settings.url.origin();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            let same_origin = attempt.url().origin() == origin;
            let keeps_method = matches!(
                attempt.status(),
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            );
            if same_origin && keeps_method && attempt.previous().len() < 5 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let mut builder = Client::builder()
            .user_agent(concat!("wazion-mcp/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.connect_timeout)
            .redirect(policy)
            .tcp_nodelay(true)
            .tls_info(tls_info)
            .pool_idle_timeout(Duration::from_secs(90));
        if let Some(pem) = &settings.extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                format!(
                    "--ca-file does not hold PEM certificates ({})",
                    plain_cause(&e)
                )
            })?;
            if certs.is_empty() {
                return Err("--ca-file holds no PEM certificate".into());
            }
            builder = builder.tls_certs_merge(certs);
        }
        // A plain-http endpoint never speaks TLS to its server (redirects stay on the same
        // origin): only an https proxy would need the system's CA store. Without one the store
        // is not loaded. That is about 17 M instructions and some memory at every launch
        // (callgrind, issue #4), and a local server keeps working where no CA certificates are
        // installed at all (loading them is an error then).
        //
        // Nor can such an endpoint speak HTTP/2 (no TLS, no ALPN), whose refused streams are
        // all that reqwest's retry layer retries: it is turned off there, because arming it
        // clones every request's headers, URI and extensions (1 200 of the 84 000
        // instructions a call cost, callgrind, issue #4).
        if settings.url.scheme() == "http" && !https_proxy_possible(settings.proxy.as_deref()) {
            builder = builder
                .tls_certs_only(Vec::new())
                .retry(reqwest::retry::never().max_retries_per_request(0));
        }
        if let Some(proxy) = &settings.proxy {
            let proxy = reqwest::Proxy::all(proxy.as_str())
                .map_err(|e| format!("--proxy is not a usable proxy URL ({})", plain_cause(&e)))?;
            builder = builder.proxy(proxy);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {}", plain_cause(&e)))?;
        let auth = settings.oauth.as_ref().map(|oauth| {
            std::sync::Arc::new(crate::oauth::Authorizer::new(
                settings.url.clone(),
                oauth.clone(),
                crate::oauth::HttpSettings::of(settings),
            ))
        });
        Ok(Self {
            auth,
            client,
            url: settings.url.clone(),
            headers: settings.headers.clone(),
            post_headers: {
                let mut h = settings.headers.clone();
                h.insert(ACCEPT, HeaderValue::from_static(POST_ACCEPT));
                h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                h
            },
            idle: settings.idle_timeout,
            max_body: settings.max_message_bytes,
        })
    }

    /// POSTs one message (or batch) as the exact bytes given.
    pub async fn post(&self, body: Bytes, session: &SessionHeaders) -> Result<Reply, NetError> {
        self.send_authorized(|auth| {
            self.build_request(
                Method::POST,
                self.url.clone(),
                &self.post_headers,
                session,
                auth.as_ref(),
            )
            .body(body.clone())
        })
        .await
    }

    /// The OAuth token holder, when OAuth is possible for this server.
    pub fn authorizer(&self) -> Option<&crate::oauth::Authorizer> {
        self.auth.as_deref()
    }

    /// Sends what `make` builds; with OAuth, with the current token, and again after a
    /// refresh or sign-in when the server refuses it (at most [`MAX_AUTH_ATTEMPTS`] times).
    /// Without OAuth this is exactly one `send`.
    async fn send_authorized(
        &self,
        make: impl Fn(Option<HeaderValue>) -> reqwest::RequestBuilder,
    ) -> Result<Reply, NetError> {
        let Some(auth) = &self.auth else {
            return self.send(make(None)).await;
        };
        let mut attempts = 0;
        loop {
            auth.before_request().await;
            let (token, generation) = auth.current();
            let reply = self.send(make(token)).await?;
            let (status, challenge) = match &reply {
                Reply::Status(meta, _)
                    if matches!(meta.status.as_u16(), 401 | 403)
                        && attempts < MAX_AUTH_ATTEMPTS =>
                {
                    (meta.status, meta.www_authenticate.clone())
                }
                _ => return Ok(reply),
            };
            attempts += 1;
            match auth
                .on_denied(status, challenge.as_deref(), generation)
                .await
            {
                crate::oauth::Verdict::Retry => continue,
                crate::oauth::Verdict::Relay => return Ok(reply),
                crate::oauth::Verdict::Fail(why) => return Err(NetError::Auth(why)),
            }
        }
    }

    /// GETs the event stream: the listening stream, or a resumption with `Last-Event-ID`.
    pub async fn get(
        &self,
        session: &SessionHeaders,
        last_event_id: Option<&str>,
    ) -> Result<Reply, NetError> {
        self.send_authorized(|auth| {
            let mut req = self
                .request(Method::GET, session, auth.as_ref())
                .header(ACCEPT, "text/event-stream");
            if let Some(id) = last_event_id
                && let Ok(v) = HeaderValue::from_str(id)
            {
                req = req.header(HeaderName::from_static(HEADER_LAST_EVENT_ID), v);
            }
            req
        })
        .await
    }

    /// DELETEs the session (H19). Returns the status, or why it could not be sent.
    pub async fn delete(&self, session: &SessionHeaders) -> Result<StatusCode, NetError> {
        let token = self.auth.as_ref().and_then(|a| a.current().0);
        let resp = self
            .request(Method::DELETE, session, token.as_ref())
            .send()
            .await
            .map_err(|e| NetError::Connect(plain_cause(&e)))?;
        Ok(resp.status())
    }

    /// The configured endpoint URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// POSTs to another URL of the same origin (the legacy transport's message endpoint).
    pub async fn post_to(&self, url: &Url, body: Bytes) -> Result<Reply, NetError> {
        let session = SessionHeaders::default();
        self.send_authorized(|auth| {
            self.build_request(
                Method::POST,
                url.clone(),
                &self.post_headers,
                &session,
                auth.as_ref(),
            )
            .body(body.clone())
        })
        .await
    }

    fn request(
        &self,
        method: Method,
        session: &SessionHeaders,
        auth: Option<&HeaderValue>,
    ) -> reqwest::RequestBuilder {
        self.build_request(method, self.url.clone(), &self.headers, session, auth)
    }

    /// A request with `base` plus the session's headers, set as the request's header map in
    /// one move (`RequestBuilder::headers` would merge them one by one, on every call).
    fn build_request(
        &self,
        method: Method,
        url: Url,
        base: &HeaderMap,
        session: &SessionHeaders,
        auth: Option<&HeaderValue>,
    ) -> reqwest::RequestBuilder {
        let mut headers = base.clone();
        if let Some(token) = auth {
            headers.insert(reqwest::header::AUTHORIZATION, token.clone());
        }
        if let Some(id) = &session.session_id {
            headers.insert(HeaderName::from_static(HEADER_SESSION_ID), id.clone());
        }
        if let Some(v) = &session.protocol_version {
            headers.insert(HeaderName::from_static(HEADER_PROTOCOL_VERSION), v.clone());
        }
        for (name, value) in &session.extra {
            headers.insert(name.clone(), value.clone());
        }
        let mut req = reqwest::Request::new(method, url);
        *req.headers_mut() = headers;
        reqwest::RequestBuilder::from_parts(self.client.clone(), req)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Reply, NetError> {
        let resp = match tokio::time::timeout(self.idle, req.send()).await {
            Err(_) => return Err(NetError::Idle(self.idle)),
            // Only a failure to connect means the request never left; after that, the server
            // may have received it, and the error must not say "could not reach".
            Ok(r) => r.map_err(|e| {
                if e.is_connect() {
                    NetError::Connect(plain_cause(&e))
                } else {
                    NetError::Body(plain_cause(&e))
                }
            })?,
        };
        let meta = meta_of(&resp);
        let status = meta.status;
        if status.is_success() {
            let ct = meta.content_type.as_deref().unwrap_or("");
            if ct.starts_with("text/event-stream") {
                let stream = self.event_stream(resp);
                return Ok(Reply::Events(meta, stream));
            }
            let body = self.read_body(resp).await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Reply::Accepted);
            }
            return Ok(Reply::Json(meta, body));
        }
        let body = self.read_body(resp).await?;
        Ok(Reply::Status(meta, body))
    }

    fn event_stream(&self, resp: reqwest::Response) -> EventStream {
        EventStream::new(resp.bytes_stream(), self.idle, self.max_body)
    }

    /// Reads a whole body, bounded in size and idle time.
    async fn read_body(&self, resp: reqwest::Response) -> Result<Bytes, NetError> {
        if let Some(len) = resp.content_length()
            && len as usize > self.max_body
        {
            return Err(NetError::TooLarge(len as usize));
        }
        let mut stream = resp.bytes_stream();
        // Most bodies arrive in one chunk: that one is returned without copying.
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        loop {
            match tokio::time::timeout(self.idle, stream.next()).await {
                Err(_) => return Err(NetError::Idle(self.idle)),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(NetError::Body(plain_cause(&e))),
                Ok(Some(Ok(chunk))) => {
                    total += chunk.len();
                    if total > self.max_body {
                        return Err(NetError::TooLarge(total));
                    }
                    chunks.push(chunk);
                }
            }
        }
        Ok(match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.swap_remove(0),
            _ => Bytes::from(chunks.concat()),
        })
    }
}

/// Whether requests to a plain-http endpoint may go through an https proxy: `--proxy`, or
/// the variables reqwest reads for http targets.
fn https_proxy_possible(flag: Option<&str>) -> bool {
    let is_https = |v: &str| v.trim().to_ascii_lowercase().starts_with("https:");
    flag.is_some_and(is_https)
        || ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .any(|v| is_https(&v))
}

fn meta_of(resp: &reqwest::Response) -> Meta {
    let h = resp.headers();
    let text = |name: &str| {
        h.get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let mut session_id = h.get(HEADER_SESSION_ID).cloned();
    if let Some(v) = session_id.as_mut() {
        v.set_sensitive(true);
    }
    Meta {
        status: resp.status(),
        session_id,
        www_authenticate: text("www-authenticate"),
        location: text("location"),
        retry_after: text("retry-after"),
        content_type: text("content-type"),
        peer_certificate: resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .map(<[u8]>::to_vec),
    }
}

#[cfg(test)]
mod tests {
    use super::EventSizeGuard;

    #[test]
    fn event_size_resets_at_blank_lines_in_every_line_ending() {
        for sep in ["\n\n", "\r\n\r\n", "\r\r"] {
            let mut g = EventSizeGuard::new(20);
            let event = format!("data: 0123456789{sep}");
            for _ in 0..10 {
                assert!(g.feed(event.as_bytes()).is_ok(), "{sep:?}");
            }
        }
    }

    #[test]
    fn one_big_event_is_refused_even_when_chunked() {
        let mut g = EventSizeGuard::new(20);
        assert!(g.feed(b"data: 0123456789\r").is_ok());
        assert!(g.feed(b"\ndata: 0123456789\r\n").is_err());
    }
}
