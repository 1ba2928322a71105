//! Streamable HTTP with a 2025-era session (2025-03-26, 2025-06-18, 2025-11-25).
//!
//! Owns the session's life: the handshake (`initialize`, whose answer sets the session id
//! and version, then `notifications/initialized` and the GET stream), every request's
//! exchange with the session headers, and the replacement of an expired session (a 404 on a
//! request that carried a session id: the client's `initialize` is replayed under a private
//! id, concurrent 404s share one replacement, and the request is retried once).
//!
//! Invariants: the client's own `initialize` is the first request the server sees (unless
//! the server is remembered as refusing it), unchanged; its answer is inspected before the
//! client sees it (a 2026-only server's refusal or 2026 answer turns into translation, a
//! pre-2025 server's refusal into the legacy transport); requests never carry a session id
//! from a generation other than the one they read.

use std::sync::Arc;

use bytes::Bytes;

use super::context::{Msg, Relay};
use super::deadlines::LANE_HEADSTART;
use super::pending::IdKey;
use super::{legacy, translated};
use crate::cli::TransportKind;
use crate::errors::Failure;
use crate::jsonrpc::{self, Kind};
use crate::upstream::{Reply, SessionHeaders};

/// Routes a client message in a 2025-era session.
pub async fn dispatch(relay: &Arc<Relay>, msg: Msg) {
    match msg.kind {
        Kind::Request => {
            let Some(key) = msg.key().cloned() else {
                return;
            };
            let this = relay.clone();
            let k = key.clone();
            relay.spawn_request(&key, async move {
                this.exchange(msg.bytes, std::slice::from_ref(&k), false)
                    .await
            });
        }
        Kind::Notification if &*msg.method == "notifications/cancelled" => {
            // The client expects no answer any more: stop waiting, and tell the server.
            relay.cancel_target(&msg.bytes);
            let this = relay.clone();
            tokio::spawn(async move {
                let (headers, _) = this.session.snapshot();
                this.send_one_way(msg.bytes, "notifications/cancelled", headers)
                    .await
            });
        }
        _ => {
            let this = relay.clone();
            tokio::spawn(async move {
                let what = if msg.method.is_empty() {
                    "response"
                } else {
                    &msg.method
                };
                let (headers, _) = this.session.snapshot();
                this.send_one_way(msg.bytes.clone(), what, headers).await
            });
        }
    }
}

/// The client's `initialize` (in the lane, so nothing later goes out before it is done).
///
/// It goes to the server as the client wrote it, the first request the server sees; the
/// answer decides the era. Accepted: a 2025 session, nothing translated. Refused the 2026
/// way (a modern JSON-RPC error, or a result with a 2026 version): translation, answering
/// this same `initialize` from `server/discover`. Refused with HTTP 400/404/405 and no
/// JSON-RPC body (with `--transport auto`): the legacy HTTP+SSE transport. Only a server
/// remembered as refusing the handshake skips it ([`translated::remembered`]).
pub async fn initialize(relay: &Arc<Relay>, msg: Msg) -> Result<(), Failure> {
    let Some(key) = msg.key().cloned() else {
        return Ok(());
    };
    if translated::remembered(relay, &msg, &key).await {
        return Ok(()); // refused the handshake last time: answered by translation
    }
    let Some(mut claimed) = relay.pending.claim(&key) else {
        return Ok(()); // cancelled meanwhile
    };
    let outcome = relay
        .exchange(msg.bytes.clone(), std::slice::from_ref(&key), true)
        .await;
    let answer = claimed.try_recv().ok();
    match (answer, outcome) {
        (Some(answer), _) => {
            if translated::refuses_or_outgrows(&answer, &msg.bytes) {
                return translated::start(relay, &msg, &key, answer).await;
            }
            match jsonrpc::initialize_result_version(&answer) {
                Some(v) => relay.session.set_version(&v),
                None => tracing::debug!("initialize answered without a protocolVersion"),
            }
            // A 2025 session: nothing to remember (a fresh memory of a refusal would have
            // answered this initialize by translation; a stale one was dropped on the way).
            relay.answer(&key, answer).await;
            Ok(())
        }
        (None, Err(Failure::Http(_, body)))
            if crate::protocol::translate::modern_refusal(body.trim_ascii()).is_some() =>
        {
            let refusal = Bytes::copy_from_slice(body.trim_ascii());
            translated::start(relay, &msg, &key, refusal).await
        }
        // A pre-2025 server refuses the POST with 400/404/405 and no JSON-RPC body.
        (None, Err(Failure::Http(meta, body)))
            if relay.transport == TransportKind::Auto
                && matches!(meta.status.as_u16(), 400 | 404 | 405)
                && !jsonrpc::is_response(body.trim_ascii()) =>
        {
            tracing::info!(
                "{} refused the Streamable HTTP POST (HTTP {}); trying the legacy HTTP+SSE transport",
                relay.host,
                meta.status.as_u16()
            );
            legacy::initialize(relay, msg).await
        }
        // Any other 400/404/405: a 2026-only server may refuse the handshake in words the
        // bridge does not know; one server/discover tells. Otherwise the refusal is relayed.
        (None, Err(Failure::Http(meta, body)))
            if matches!(meta.status.as_u16(), 400 | 404 | 405) =>
        {
            if translated::start_if_modern(relay, &msg, &key).await {
                return Ok(());
            }
            Err(Failure::Http(meta, body))
        }
        (None, Err(failure)) => Err(failure),
        (None, Ok(())) => Err(Failure::NoResponse),
    }
}

/// `notifications/initialized` (in the lane): later messages wait until the server
/// accepted it and the GET stream is open, so a server message sent right away is not
/// lost, but never longer than [`LANE_HEADSTART`]: a server that holds either exchange open
/// delays nothing beyond that (the exchanges go on in the background).
pub async fn initialized(relay: &Arc<Relay>, msg: Msg) {
    let this = relay.clone();
    let sent = tokio::spawn(async move {
        let (headers, _) = this.session.snapshot();
        this.send_head_then_rest(msg.bytes, headers).await;
        if this.session.has_listen_stream() {
            this.listener.open(&this).await;
        }
    });
    if tokio::time::timeout(LANE_HEADSTART, sent).await.is_err() {
        tracing::debug!("notifications/initialized or the GET stream is slow; going on");
    }
}

impl Relay {
    /// POSTs a notification and returns once the reply's head arrived; a body (an SSE
    /// stream the server keeps open, say) is read in the background.
    async fn send_head_then_rest(self: &Arc<Self>, bytes: Bytes, headers: SessionHeaders) {
        match self.upstream.post(bytes, &headers).await {
            Ok(Reply::Status(meta, _)) => tracing::warn!(
                "{} answered HTTP {} to the client's notifications/initialized",
                self.host,
                meta.status
            ),
            Ok(reply) => {
                let this = self.clone();
                tokio::spawn(async move { this.read_reply(reply, &[]).await });
            }
            Err(e) => tracing::warn!(
                "could not send the client's notifications/initialized to {}: {e:?}",
                self.host
            ),
        }
    }

    /// One POST's whole life in a session: send with the session's headers, read the reply
    /// until `ours` are answered; re-initialize once on a session 404. `Ok` means answered.
    pub async fn exchange(
        self: &Arc<Self>,
        body: Bytes,
        ours: &[IdKey],
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
            if is_init && let Reply::Json(meta, _) | Reply::Events(meta, _) = &reply {
                self.session.set_session_id(meta.session_id.clone());
            }
            return self.read_reply(reply, ours).await;
        }
    }

    /// Replaces an expired session: replays the client's `initialize` under a private id,
    /// keeps its result from the client, sends `notifications/initialized`, reopens the GET
    /// stream. Concurrent callers that saw the same generation share one replacement.
    async fn reinitialize(self: &Arc<Self>, seen_generation: u64) -> Result<(), Failure> {
        let _turn = self.session.reinit_lock.lock().await;
        if self.session.generation() != seen_generation {
            return Ok(()); // someone else already replaced the session
        }
        let wrap = |f: Failure| Failure::Reinitialize(Box::new(f));
        let Some((body, private_id)) = self.session.reinitialize_request() else {
            return Err(wrap(Failure::NoResponse));
        };
        let Some(key) = IdKey::of(&private_id) else {
            return Err(wrap(Failure::NoResponse));
        };
        self.listener.stop();
        let Some(mut claimed) = self.pending.private(key.clone(), "initialize") else {
            return Err(wrap(Failure::NoResponse));
        };
        let reply = self
            .upstream
            .post(body, &SessionHeaders::default())
            .await
            .map_err(|e| wrap(Failure::Net(e)))?;
        let session_id = match &reply {
            Reply::Json(meta, _) | Reply::Events(meta, _) => meta.session_id.clone(),
            _ => None,
        };
        let outcome = self.read_reply(reply, std::slice::from_ref(&key)).await;
        self.pending.take(&key);
        let result = claimed.try_recv().ok();
        let Some(result) = result.filter(|r| jsonrpc::error_code(r).is_none()) else {
            return Err(wrap(outcome.err().unwrap_or(Failure::NoResponse)));
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
            Ok(Reply::Status(meta, _)) => tracing::warn!(
                "re-initialize: notifications/initialized answered HTTP {}",
                meta.status
            ),
            Ok(reply) => {
                let this = self.clone();
                tokio::spawn(async move { this.read_reply(reply, &[]).await });
            }
            Err(e) => tracing::warn!("re-initialize: notifications/initialized failed: {e:?}"),
        }
        if self.session.has_listen_stream() {
            self.listener.open(self).await;
        }
        Ok(())
    }
}

/// A batch POSTed whole (2025-03-26 only, the revision that defined batches); every
/// request in it is admitted and answered.
pub async fn batch(relay: &Arc<Relay>, body: Bytes, items: Vec<Bytes>) {
    let mut ours = Vec::new();
    for item in &items {
        let Some(Ok(e)) = jsonrpc::utf8(item).map(jsonrpc::parse_single) else {
            continue;
        };
        if e.kind != Kind::Request {
            continue;
        }
        let mut msg = Msg::of(item.clone(), &e);
        let (Some(spelling), Some(key)) = (msg.spelling.take(), msg.id.clone()) else {
            continue;
        };
        // The batch's first request waits for a permit; the others take one only if one is
        // free: a batch larger than --max-in-flight must not wait for permits it holds itself
        // (its size is bounded by --max-message-bytes anyway).
        let permit = if ours.is_empty() {
            relay.intake.clone().acquire_owned().await.ok()
        } else {
            relay.intake.clone().try_acquire_owned().ok()
        };
        let entry = super::pending::Entry::client(spelling, &msg.method, permit);
        if relay.pending.insert(key.clone(), entry) {
            ours.push(key);
        }
    }
    let this = relay.clone();
    tokio::spawn(async move {
        let failure = this.exchange(body, &ours, false).await.err();
        let failure = failure.unwrap_or(Failure::NoResponse);
        for key in &ours {
            this.fail(key, &failure).await;
        }
    });
}

/// A 404 whose body is a JSON-RPC error the server meant (method not found, or one of the
/// 2026 era's errors) is relayed, never mistaken for an expired session.
fn is_recognised_error(payload: &[u8]) -> bool {
    matches!(
        jsonrpc::error_code(payload.trim_ascii()),
        Some(-32601 | -32022..=-32020)
    )
}
