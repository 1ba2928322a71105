//! Translation: a 2025-era client and a server that speaks only 2026-07-28.
//!
//! How the bridge finds out: the client's own `initialize` goes to the server first, as
//! the client wrote it (`streamable::initialize`). The bridge translates only when the
//! server refuses it the 2026 way or answers it with a 2026 version ([`refuses_or_outgrows`],
//! [`start`]; an HTTP 400/404/405 with an unrecognised JSON-RPC error gets one
//! `server/discover` to tell, [`start_if_modern`]), and then answers that same `initialize`
//! from `server/discover`. A refusal is remembered for a week ([`era_cache`]), so later starts
//! answer `initialize` from `server/discover` at once ([`remembered`]); a failed
//! `server/discover` then, or a translated request failing in a way that suggests the server
//! now wants a session, forgets it. A server that accepts the handshake is a 2025 session
//! with nothing translated: `server/discover` lists only 2026 versions on dual-era servers
//! too (both official SDKs), so it cannot tell a 2026-only server by itself.
//!
//! While translating ([`dispatch`]): `ping` is answered locally; `logging/setLevel` is
//! answered locally and its level rides every later request's `_meta`
//! (`io.modelcontextprotocol/logLevel`); resource subscriptions ride one
//! `subscriptions/listen` stream; every other request gets the modern `_meta` stamped in
//! and the modern headers; results lose the 2026 envelope (`resultType`, `ttlMs`,
//! `cacheScope`, the serverInfo stamp) on their way to the client; an `input_required`
//! result (MRTR) becomes server→client requests under private ids, and the request is
//! retried under a new private id with the client's answers; a HeaderMismatch on
//! `tools/call` makes the bridge list the tools once to learn their header annotations and
//! retry. The client only ever sees its own ids.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::context::{Era, Msg, Relay, TranslatedState, lock};
use super::pending::IdKey;
use crate::cli::TransportKind;
use crate::era_cache::{self, Remembered};
use crate::errors::Failure;
use crate::jsonrpc::{self, Kind};
use crate::protocol::translate::{self, Translation};
use crate::upstream::{NetError, Reply};

/// HeaderMismatch: the server wants headers the request lacked.
const HEADER_MISMATCH: i64 = -32020;
/// Pages of `tools/list` the bridge reads when it relists tools itself.
const MAX_LIST_PAGES: usize = 50;
/// MRTR rounds one request may take before the bridge gives up on it.
const MAX_INPUT_ROUNDS: usize = 8;
/// The first 2026-era version, the one the probe speaks.
const FIRST_MODERN: &str = "2026-07-28";

impl TranslatedState {
    pub fn reset(&self) {
        lock(&self.input_waiters).clear();
        *lock(&self.log_level) = None;
        let mut subs = lock(&self.subscriptions);
        subs.0.clear();
        if let Some(task) = subs.1.take() {
            task.abort();
        }
    }
}

/// Records what the server did with a 2025 handshake, for the next start (`Session`
/// forgets it). Awaited, so a bridge that exits right after still leaves the file right.
pub async fn remember_era(relay: &Relay, era: Remembered) {
    let url = relay.upstream.url().clone();
    let _ = tokio::task::spawn_blocking(move || era_cache::store(&url, era)).await;
}

/// A server remembered as refusing the 2025 handshake (within the week): answers the
/// client's `initialize` from `server/discover` at once and returns `true`, so the server
/// sees no 2025 `initialize` again. If `server/discover` fails, the server is forgotten and
/// the client's `initialize` goes out (`false`). Never with `--transport sse`.
pub async fn remembered(relay: &Arc<Relay>, msg: &Msg, key: &IdKey) -> bool {
    if relay.transport == TransportKind::Sse {
        return false;
    }
    let url = relay.upstream.url().clone();
    let remembered = tokio::task::spawn_blocking(move || era_cache::lookup(&url))
        .await
        .ok()
        .flatten();
    if remembered != Some(Remembered::Modern) {
        return false;
    }
    let mut t = translation_for(&msg.bytes, FIRST_MODERN.into());
    let Some(discover) = discover_modern(relay, &mut t).await else {
        tracing::info!(
            "{} no longer answers server/discover: sending the client's initialize",
            relay.host
        );
        remember_era(relay, Remembered::Session).await;
        return false;
    };
    let url = relay.upstream.url().clone();
    let _ = tokio::task::spawn_blocking(move || era_cache::touch(&url)).await;
    finish(relay, msg, key, t, discover, false).await;
    true
}

/// `server/discover` in the first 2026 version, asked once more in the newest version the
/// server named when it answers UnsupportedProtocolVersion (-32022) naming only 2026-era
/// ones, as a 2026 client does. Its result, when it lists a 2026-era version.
async fn discover_modern(relay: &Arc<Relay>, t: &mut Translation) -> Option<Bytes> {
    let mut discover = relay.discover(t, super::deadlines::PROBE_TIMEOUT).await;
    if let Err(Some(refusal)) = &discover
        && jsonrpc::error_code(refusal) == Some(-32022)
        && let Some(version) = translate::modern_refusal(refusal)
    {
        t.version = version;
        discover = relay.discover(t, super::deadlines::PROBE_TIMEOUT).await;
    }
    discover
        .ok()
        .filter(|d| translate::discovered_version(d).is_some())
}

/// The server refused the client's `initialize` with an HTTP 400, 404 or 405 that is no
/// recognised modern refusal: one `server/discover` tells whether it speaks 2026-07-28. If
/// it does, `initialize` is answered by translation (`true`); if not, nothing was sent to
/// the client (`false`).
pub async fn start_if_modern(relay: &Arc<Relay>, msg: &Msg, key: &IdKey) -> bool {
    let mut t = translation_for(&msg.bytes, FIRST_MODERN.into());
    let Some(discover) = discover_modern(relay, &mut t).await else {
        return false;
    };
    finish(relay, msg, key, t, discover, true).await;
    true
}

/// Whether the server's answer to a 2025 client's `initialize` says it speaks only the
/// modern era: a modern refusal, or a result with a 2026 version the client did not ask.
pub fn refuses_or_outgrows(answer: &[u8], client_init: &[u8]) -> bool {
    if translate::modern_refusal(answer).is_some() {
        return true;
    }
    let requested = translate::client_initialize(client_init).0;
    jsonrpc::initialize_result_version(answer)
        .is_some_and(|v| v.as_str() >= FIRST_MODERN && requested.as_str() < FIRST_MODERN)
}

/// The server refused or outgrew the client's `initialize`: confirm with
/// `server/discover` and answer `initialize` by translation; if that fails, the client gets
/// the server's own answer.
pub async fn start(
    relay: &Arc<Relay>,
    msg: &Msg,
    key: &IdKey,
    refusal: Bytes,
) -> Result<(), Failure> {
    let version = translate::modern_refusal(&refusal).unwrap_or_else(|| FIRST_MODERN.into());
    let t = translation_for(&msg.bytes, version);
    match relay.discover(&t, relay.deadlines.idle).await {
        Ok(discover) => finish(relay, msg, key, t, discover, true).await,
        Err(_) => {
            tracing::debug!(
                "{} refused initialize and server/discover failed",
                relay.host
            );
            relay.answer(key, refusal).await;
        }
    }
    Ok(())
}

fn translation_for(client_init: &[u8], version: String) -> Translation {
    let (_, capabilities, client_info) = translate::client_initialize(client_init);
    Translation {
        version,
        capabilities,
        client_info,
    }
}

/// Answers the client's `initialize` from a `server/discover` result and switches to
/// translation; `refused` when the server refused the handshake just now (remembered for
/// the next starts from now on).
async fn finish(
    relay: &Arc<Relay>,
    msg: &Msg,
    key: &IdKey,
    mut t: Translation,
    discover: Bytes,
    refused: bool,
) {
    let requested = translate::client_initialize(&msg.bytes).0;
    if let Some(v) = translate::discovered_version(&discover) {
        t.version = v;
    }
    // Written under the client's own id spelling by `answer`, whatever id it is built with.
    let Some(init) = translate::synthesize_initialize("null", &requested, &discover) else {
        return relay.fail(key, &Failure::NoResponse).await;
    };
    tracing::info!(
        "{} speaks only MCP {}: translating for this {requested} client",
        relay.host,
        t.version
    );
    relay.set_era(Era::Translated(Arc::new(t)));
    if refused {
        remember_era(relay, Remembered::Modern).await;
    }
    relay.answer(key, Bytes::from(init)).await;
}

impl Relay {
    /// `server/discover` on the client's behalf: its result; else the server's JSON-RPC
    /// error (in a 2xx or an error status), or `None` on any other failure or after `limit`.
    async fn discover(
        self: &Arc<Self>,
        t: &Translation,
        limit: std::time::Duration,
    ) -> Result<Bytes, Option<Bytes>> {
        let (raw, key) = self.private_id("discover");
        let body = Bytes::from(translate::discover_request(t));
        let body = Bytes::from(jsonrpc::with_id(&body, &raw).into_owned());
        let headers = self.modern_headers(&body, &t.version);
        let asked = self.private_request(body, &key, "server/discover", &headers);
        let outcome = tokio::time::timeout(limit, asked).await;
        self.pending.take(&key);
        match outcome {
            Ok(Ok(answer)) if jsonrpc::error_code(&answer).is_none() => Ok(answer),
            Ok(Ok(error)) => Err(Some(error)),
            Ok(Err(Failure::Http(_, body))) if jsonrpc::error_code(body.trim_ascii()).is_some() => {
                Err(Some(Bytes::copy_from_slice(body.trim_ascii())))
            }
            _ => Err(None),
        }
    }
}

/// Routes a client message while translating.
pub async fn dispatch(relay: &Arc<Relay>, msg: Msg, t: Arc<Translation>) {
    let method = &*msg.method;
    match (msg.kind, msg.key().cloned()) {
        // Removed in 2026-07-28: answered here so the client's session goes on. The level
        // rides every later request's `_meta`, the way the 2026 revision carries it.
        (Kind::Request, Some(key)) if method == "ping" || method == "logging/setLevel" => {
            if method == "logging/setLevel" {
                *lock(&relay.translated.log_level) = translate::set_level(&msg.bytes);
            }
            // Written under the client's own id spelling by `answer`.
            let ok = Bytes::from_static(br#"{"jsonrpc":"2.0","id":null,"result":{}}"#);
            relay.answer(&key, ok).await;
        }
        (Kind::Request, Some(key))
            if method == "resources/subscribe" || method == "resources/unsubscribe" =>
        {
            let Some(uri) = translate::param_str(&msg.bytes, "uri") else {
                let e = jsonrpc::error_response("null", -32602, "params.uri is required", None);
                return relay.answer(&key, Bytes::from(e)).await;
            };
            {
                let mut subs = lock(&relay.translated.subscriptions);
                subs.0.retain(|u| *u != uri);
                if method == "resources/subscribe" {
                    subs.0.push(uri);
                }
            }
            let this = relay.clone();
            let k = key.clone();
            relay.spawn_request(&key, async move { relisten(&this, &k, &t).await });
        }
        (Kind::Request, Some(key)) => {
            relay.pending.update(&key, |e| e.modern = true);
            let this = relay.clone();
            let k = key.clone();
            relay.spawn_request(&key, async move { rounds(&this, msg, &k, &t).await });
        }
        (Kind::Response, Some(key)) => {
            let waiter = lock(&relay.translated.input_waiters).remove(&key);
            match waiter {
                Some(w) => {
                    let _ = w.send(msg.bytes);
                }
                None => tracing::debug!("dropped a client response nobody waits for"),
            }
        }
        (Kind::Notification, _) if method == "notifications/cancelled" => {
            relay.cancel_target(&msg.bytes);
        }
        _ => tracing::debug!(method, "not sent: the 2026-07-28 server has no use for it"),
    }
}

/// A translated request with its MRTR rounds. Each round's answer is handed to this task
/// (the client entry is claimed, each retry's private id too), which relays it under the
/// client's id unless it is an `input_required` result or a HeaderMismatch to act on.
async fn rounds(relay: &Arc<Relay>, msg: Msg, key: &IdKey, t: &Translation) -> Result<(), Failure> {
    let level = lock(&relay.translated.log_level).clone();
    let base = translate::stamp_meta_leveled(&msg.bytes, t, level.as_deref());
    let mut body = Bytes::from(base.clone());
    let mut wire = key.clone();
    let mut relisted = false;
    for _round in 0..MAX_INPUT_ROUNDS {
        let claimed = if wire == *key {
            relay.pending.claim(key)
        } else {
            relay.pending.private(wire.clone(), &msg.method)
        };
        let Some(mut claimed) = claimed else {
            return Ok(()); // cancelled
        };
        let headers = relay.modern_headers(&body, &t.version);
        let outcome = match relay.upstream.post(body, &headers).await {
            Ok(reply) => relay.read_reply(reply, std::slice::from_ref(&wire)).await,
            Err(e) => Err(Failure::Net(e)),
        };
        if wire != *key {
            relay.pending.take(&wire);
        }
        let answer = claimed.try_recv().ok().or_else(|| match &outcome {
            // A HeaderMismatch usually comes as HTTP 400 with the error as its body.
            Err(Failure::Http(_, b))
                if jsonrpc::error_code(b.trim_ascii()) == Some(HEADER_MISMATCH) =>
            {
                Some(Bytes::copy_from_slice(b.trim_ascii()))
            }
            _ => None,
        });
        let Some(answer) = answer else {
            if let Err(Failure::Http(meta, b)) = &outcome
                && translate::suggests_a_handshake_server(meta.status.as_u16(), b)
            {
                tracing::info!(
                    "{} refused a translated request with HTTP {}: it may speak the handshake era now; the next start tries the client's initialize",
                    relay.host,
                    meta.status.as_u16()
                );
                remember_era(relay, Remembered::Session).await;
            }
            return outcome.and(Err(Failure::NoResponse));
        };
        if &*msg.method == "tools/call"
            && jsonrpc::error_code(&answer) == Some(HEADER_MISMATCH)
            && !relisted
        {
            // The server wants Mcp-Param-* headers not learned yet. Like a modern client
            // would, list the tools once and retry; a second mismatch is relayed.
            relisted = true;
            relist_tools(relay, t).await;
            body = Bytes::from(base.clone());
            wire = key.clone();
            continue;
        }
        let Some((requests, state)) = translate::input_required(&answer) else {
            let answer = match translate::strip_envelope(&answer) {
                std::borrow::Cow::Borrowed(_) => answer,
                std::borrow::Cow::Owned(stripped) => Bytes::from(stripped),
            };
            relay.answer(key, answer).await;
            return Ok(());
        };
        let mut responses = Vec::with_capacity(requests.len());
        for (name, request) in requests {
            let reply = ask_client(relay, &request).await?;
            match result_of(&reply) {
                Some(result) => responses.push((name, result)),
                // The client refused the server's request: that ends the call.
                None => {
                    relay.answer(key, reply).await;
                    return Ok(());
                }
            }
        }
        let (retry_raw, retry_key) = relay.private_id("retry");
        let with_new_id = jsonrpc::with_id(&base, &retry_raw).into_owned();
        body = Bytes::from(translate::with_input_responses(
            &with_new_id,
            &responses,
            state.as_deref(),
        ));
        wire = retry_key;
    }
    Err(Failure::NoResponse)
}

/// Sends one MRTR input request to the client under a private id and waits (bounded by the
/// idle timeout) for its answer.
async fn ask_client(relay: &Relay, request: &str) -> Result<Bytes, Failure> {
    let (raw, key) = relay.private_id("input");
    let (tx, rx) = oneshot::channel();
    lock(&relay.translated.input_waiters).insert(key.clone(), tx);
    relay
        .out
        .send(Bytes::from(translate::as_client_request(request, &raw)))
        .await;
    let reply = tokio::time::timeout(relay.deadlines.idle, rx).await;
    lock(&relay.translated.input_waiters).remove(&key);
    match reply {
        Ok(Ok(reply)) => Ok(reply),
        _ => Err(Failure::Net(NetError::Idle(relay.deadlines.idle))),
    }
}

/// Lists every page of tools on the client's behalf, only to learn their `x-mcp-header`
/// annotations; nothing reaches stdout.
async fn relist_tools(relay: &Arc<Relay>, t: &Translation) {
    let mut cursor: Option<String> = None;
    for _page in 0..MAX_LIST_PAGES {
        let (raw, key) = relay.private_id("list");
        let params = match &cursor {
            Some(c) => format!(r#"{{"cursor":{}}}"#, serde_json::Value::from(c.as_str())),
            None => "{}".into(),
        };
        let request =
            format!(r#"{{"jsonrpc":"2.0","id":{raw},"method":"tools/list","params":{params}}}"#);
        let body = Bytes::from(translate::stamp_meta(request.as_bytes(), t));
        let headers = relay.modern_headers(&body, &t.version);
        let Ok(result) = relay
            .private_request(body, &key, "tools/list", &headers)
            .await
        else {
            return;
        };
        let _ = relay.tool_headers.learn(&result);
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

/// Replaces the `subscriptions/listen` stream with one for the current URIs and answers
/// the client's subscribe/unsubscribe once the server accepted it.
async fn relisten(relay: &Arc<Relay>, key: &IdKey, t: &Translation) -> Result<(), Failure> {
    let uris = {
        let mut subs = lock(&relay.translated.subscriptions);
        if let Some(old) = subs.1.take() {
            old.abort(); // closing the stream cancels the old subscription
        }
        subs.0.clone()
    };
    let ok = Bytes::from_static(br#"{"jsonrpc":"2.0","id":0,"result":{}}"#);
    if uris.is_empty() {
        relay.answer(key, ok).await;
        return Ok(());
    }
    let (listen_raw, _) = relay.private_id("listen");
    let body = Bytes::from(translate::listen_request(&listen_raw, &uris, t));
    let headers = relay.modern_headers(&body, &t.version);
    match relay.upstream.post(body, &headers).await {
        Ok(Reply::Events(_, stream)) => {
            let this = relay.clone();
            let task = tokio::spawn(async move { relay_subscription(&this, stream).await });
            lock(&relay.translated.subscriptions).1 = Some(task);
            relay.answer(key, ok).await;
            Ok(())
        }
        Ok(Reply::Json(meta, body)) => match jsonrpc::error_code(&body) {
            Some(_) => Err(Failure::Http(Box::new(meta), body)),
            None => {
                relay.answer(key, ok).await;
                Ok(())
            }
        },
        Ok(Reply::Status(meta, body)) => Err(Failure::Http(Box::new(meta), body)),
        Ok(Reply::Accepted) => Err(Failure::NoResponse),
        Err(e) => Err(Failure::Net(e)),
    }
}

/// Relays a subscription stream's notifications (resource updates, list changes); its
/// acknowledgement and final result are the bridge's business, not the client's.
async fn relay_subscription(relay: &Relay, mut stream: crate::upstream::EventStream) {
    loop {
        match stream.next().await {
            Some(Ok(mut event)) => {
                let Some(data) = event.message() else {
                    continue;
                };
                let Ok(e) = jsonrpc::parse_single(&data) else {
                    continue;
                };
                if e.kind == Kind::Notification
                    && e.method.as_deref() != Some("notifications/subscriptions/acknowledged")
                {
                    relay.out.send(Bytes::from(data)).await;
                }
            }
            // A quiet subscription is not a broken one.
            Some(Err(NetError::Idle(_))) => continue,
            _ => break,
        }
    }
    tracing::debug!("the subscriptions/listen stream from {} ended", relay.host);
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
