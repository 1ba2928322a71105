//! Server → client: every message the server sends, on any stream of any era, comes through
//! here and goes to exactly one place.
//!
//! - a response goes to the pending request whose id has the same **value**
//!   ([`Pending::route`](super::pending::Pending::route)), and is written under the id as
//!   the client spelled it (a byte splice of the id, nothing else), after the `tools/list`
//!   edits; a response nobody waits for is dropped (logged at debug);
//! - a `notifications/progress` whose request was already answered or cancelled is
//!   withheld: hosts fail, some drop the whole connection, on progress for a finished call;
//! - everything else (server requests, notifications) is written as is.
//!
//! [`Relay::read_reply`] turns one HTTP reply into deliveries; for an SSE reply it reads
//! until the requests it carries are answered, resuming a broken stream with
//! `Last-Event-ID` under the [`Reconnect`] policy, then reads the stream to its end in the
//! background (bounded), so the connection returns to the pool.

use std::sync::Arc;

use bytes::Bytes;

use super::context::{Era, Relay};
use super::deadlines::{DRAIN_AFTER_ANSWER, MAX_EMPTY_RESUMES, Reconnect};
use super::pending::{Entry, IdKey, Route};
use crate::errors::Failure;
use crate::jsonrpc::{self, Kind, Payload};
use crate::upstream::{EventStream, NetError, Reply};

impl Relay {
    /// Acts on the server's reply to a POST carrying the requests `ours` (empty for
    /// notifications and client responses). `Ok` once each of `ours` was answered (or
    /// left the table meanwhile, cancelled or timed out).
    pub async fn read_reply(self: &Arc<Self>, reply: Reply, ours: &[IdKey]) -> Result<(), Failure> {
        if let Reply::Json(m, _) | Reply::Events(m, _) | Reply::Status(m, _) = &reply {
            let status = m.status.as_u16();
            for key in ours {
                self.pending.update(key, |e| e.status = Some(status));
            }
        }
        match reply {
            Reply::Accepted if ours.is_empty() => Ok(()),
            Reply::Accepted => Err(Failure::NoResponse),
            Reply::Json(_, payload) => {
                let routed = self.deliver_json(&payload, ours).await;
                match self.remaining(ours, &routed).is_empty() {
                    true => Ok(()),
                    false => Err(Failure::NoResponse),
                }
            }
            Reply::Events(_, stream) => self.consume(stream, ours).await,
            Reply::Status(meta, payload) => Err(Failure::Http(Box::new(meta), payload)),
        }
    }

    /// Those of `ours` that still wait: not routed yet and still pending.
    fn remaining(&self, ours: &[IdKey], routed: &[IdKey]) -> Vec<IdKey> {
        ours.iter()
            .filter(|k| !routed.contains(k) && self.pending.contains(k))
            .cloned()
            .collect()
    }

    /// Delivers a JSON body: one message, or an array of them. A single response answering a
    /// single request is that request's answer, whatever id it carries (relayed with only
    /// the id fixed). Returns the keys it routed.
    pub async fn deliver_json(&self, payload: &Bytes, ours: &[IdKey]) -> Vec<IdKey> {
        match jsonrpc::parse(payload) {
            Ok(Payload::Single(e)) => {
                let force = (e.kind == Kind::Response && ours.len() == 1).then(|| &ours[0]);
                self.deliver_parsed(payload, &e, ours, force)
                    .await
                    .into_iter()
                    .collect()
            }
            Ok(Payload::Batch(items)) => {
                let mut routed = Vec::new();
                for raw in items {
                    let item = payload.slice_ref(raw.get().as_bytes());
                    routed.extend(self.deliver(item, ours).await);
                }
                routed
            }
            Err(invalid) => {
                tracing::warn!(
                    "{} sent a body that is not JSON-RPC: {}",
                    self.host,
                    invalid.reason
                );
                Vec::new()
            }
        }
    }

    /// Routes one server message; returns the key of the request it answered, if any.
    pub async fn deliver(&self, message: Bytes, ours: &[IdKey]) -> Option<IdKey> {
        let Some(text) = jsonrpc::utf8(&message) else {
            tracing::warn!("{} sent a message that is not UTF-8; dropped", self.host);
            return None;
        };
        match jsonrpc::parse_single(text) {
            Ok(e) => self.deliver_parsed(&message, &e, ours, None).await,
            Err(invalid) => {
                tracing::warn!(
                    "{} sent a message that is not JSON-RPC ({}); dropped",
                    self.host,
                    invalid.reason
                );
                None
            }
        }
    }

    async fn deliver_parsed(
        &self,
        message: &Bytes,
        e: &jsonrpc::Envelope<'_>,
        ours: &[IdKey],
        force: Option<&IdKey>,
    ) -> Option<IdKey> {
        if e.kind != Kind::Response {
            let method = e.method.as_deref().unwrap_or("");
            let token = (method == "notifications/progress")
                .then(|| jsonrpc::progress_token(message).and_then(|t| IdKey::of(&t)))
                .flatten();
            tracing::debug!(method, "server → client");
            match token {
                Some(token) => {
                    if self.pending.progress_is_stale(&token) {
                        tracing::debug!("withheld a progress notification for a finished request");
                        return None;
                    }
                    // Checked again by the stdout writer when its turn comes: the answer may
                    // be routed (on another stream) between now and then, and once an answer
                    // is routed, its progress must not follow it out (issue 19).
                    let pending = self.pending.clone();
                    let stale = Box::new(move || pending.progress_is_stale(&token));
                    self.out.send_unless(message.clone(), stale).await;
                }
                None => self.out.send(message.clone()).await,
            }
            return None;
        }
        let key = match force {
            Some(k) => k.clone(),
            None => match e.id_key().and_then(IdKey::of) {
                Some(k) => k,
                // A response without a usable id on a single request's stream answers it.
                None if ours.len() == 1 => ours[0].clone(),
                None => {
                    tracing::warn!("{} sent a response without an id; dropped", self.host);
                    return None;
                }
            },
        };
        // An error has the secrets cut out (issue 16 item 3), also on its way to a claimant
        // (which may relay it); a result is routed as it came.
        let routed = match e.is_error {
            true => self.redact_error(message.clone()),
            false => message.clone(),
        };
        match self.pending.route(&key, routed) {
            Route::Client(entry) => {
                let fixed = with_spelling(message, e.id.map(|r| r.get()), entry.id());
                let fixed = match e.is_error {
                    true => self.redact_error(fixed),
                    false => fixed,
                };
                self.write_answer(entry, fixed).await;
                Some(key)
            }
            Route::Claimed => Some(key),
            Route::Unknown => {
                let id = e.id.map_or("null", |r| r.get());
                tracing::debug!("dropped a response for id {id}: no pending request has it");
                None
            }
        }
    }

    /// Writes the answer of a request that has left the pending table (its id already
    /// spelled as the client did), with hidden tools cut from `tools/list` and 2026-07-28
    /// tool annotations learned. The only way a response reaches stdout.
    pub async fn write_answer(&self, entry: Entry, message: Bytes) {
        let message = if &*entry.method == "tools/list" {
            self.edit_tools_list(message, entry.modern)
        } else {
            message
        };
        tracing::debug!(
            method = &*entry.method,
            id = entry.id(),
            status = entry.status.unwrap_or(0),
            ms = entry.started.elapsed().as_millis() as u64,
            bytes = message.len(),
            "client → server → client"
        );
        self.out.send(message).await;
    }

    fn edit_tools_list(&self, message: Bytes, modern: bool) -> Bytes {
        let modern = modern || matches!(self.era(), Era::Translated(_));
        let message = if modern {
            match self.tool_headers.learn(&message) {
                std::borrow::Cow::Borrowed(_) => message,
                std::borrow::Cow::Owned(v) => Bytes::from(v),
            }
        } else {
            message
        };
        match &self.tool_filter {
            Some(filter) => match filter.filter_list_result(&message) {
                std::borrow::Cow::Borrowed(_) => message,
                std::borrow::Cow::Owned(v) => Bytes::from(v),
            },
            None => message,
        }
    }

    /// Reads a response stream until each of `ours` is answered, resuming it when it breaks
    /// after an event id. Once answered, the rest of the stream is read in the background.
    pub async fn consume(
        self: &Arc<Self>,
        mut stream: EventStream,
        ours: &[IdKey],
    ) -> Result<(), Failure> {
        let mut last_event_id: Option<String> = None;
        let mut reconnect = Reconnect::default();
        let mut empty_resumes = 0;
        let mut routed: Vec<IdKey> = Vec::new();
        loop {
            if !ours.is_empty() && self.remaining(ours, &routed).is_empty() {
                self.drain_in_background(stream).await;
                return Ok(());
            }
            let broke = match stream.next().await {
                Some(Ok(mut event)) => {
                    if let Some(id) = event.id.take() {
                        last_event_id = Some(id);
                    }
                    if let Some(r) = event.retry {
                        reconnect.server_retry(r);
                    }
                    if let Some(data) = event.message() {
                        empty_resumes = 0;
                        routed.extend(self.deliver(Bytes::from(data), ours).await);
                    }
                    continue;
                }
                Some(Err(NetError::Idle(d))) => return Err(Failure::Net(NetError::Idle(d))),
                Some(Err(e)) => Some(e),
                None => None,
            };
            if self.remaining(ours, &routed).is_empty() {
                return Ok(());
            }
            let Some(resume_from) = last_event_id.clone() else {
                return Err(broke.map_or(Failure::StreamEnded, Failure::Net));
            };
            if empty_resumes >= MAX_EMPTY_RESUMES {
                return Err(broke.map_or(Failure::StreamEnded, Failure::Net));
            }
            empty_resumes += 1;
            let delay = reconnect.next_delay();
            tracing::debug!(
                "response stream interrupted; resuming in {} ms",
                delay.as_millis()
            );
            tokio::time::sleep(delay).await;
            let (headers, _) = self.session.snapshot();
            match self.upstream.get(&headers, Some(&resume_from)).await {
                Ok(Reply::Events(_, s)) => {
                    stream = s;
                    reconnect.opened();
                }
                Ok(Reply::Json(_, payload)) => {
                    routed.extend(self.deliver_json(&payload, ours).await);
                    return match self.remaining(ours, &routed).is_empty() {
                        true => Ok(()),
                        false => Err(Failure::StreamEnded),
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

    /// Reads what is left of an answered response stream (servers close it right after the
    /// response) so its connection is reused; anything else it carries is still delivered.
    /// What has already arrived is read at once (usually the end itself, with no task
    /// spawned); the rest in the background, bounded by [`DRAIN_AFTER_ANSWER`]: a stream kept
    /// open is dropped then.
    async fn drain_in_background(self: &Arc<Self>, mut stream: EventStream) {
        use futures::FutureExt;
        loop {
            match stream.next().now_or_never() {
                Some(Some(Ok(mut event))) => {
                    if let Some(data) = event.message() {
                        self.deliver(Bytes::from(data), &[]).await;
                    }
                }
                Some(None) => return tracing::debug!("response stream read to its end"),
                Some(Some(Err(e))) => return tracing::debug!("response stream broke: {e:?}"),
                None => break,
            }
        }
        let this = self.clone();
        tokio::spawn(async move {
            let rest = async {
                loop {
                    match stream.next().await {
                        Some(Ok(mut event)) => {
                            if let Some(data) = event.message() {
                                this.deliver(Bytes::from(data), &[]).await;
                            }
                        }
                        None => return tracing::debug!("response stream read to its end"),
                        Some(Err(e)) => return tracing::debug!("response stream broke: {e:?}"),
                    }
                }
            };
            if tokio::time::timeout(DRAIN_AFTER_ANSWER, rest)
                .await
                .is_err()
            {
                tracing::debug!("response stream still open after its answer; dropped");
            }
        });
    }
}

/// `message` with its id (the raw text `current`, borrowed from `message`, or absent) set to
/// the client's `spelling`: unchanged when they are the same bytes, else one splice at the
/// id's span found by the parse already done (no second parse of a large message).
fn with_spelling(message: &Bytes, current: Option<&str>, spelling: &str) -> Bytes {
    match current {
        Some(raw) if raw == spelling => message.clone(),
        Some(raw) => {
            let start = raw.as_ptr() as usize - message.as_ptr() as usize;
            let end = start + raw.len();
            let mut out = Vec::with_capacity(message.len() + spelling.len());
            out.extend_from_slice(&message[..start]);
            out.extend_from_slice(spelling.as_bytes());
            out.extend_from_slice(&message[end..]);
            Bytes::from(out)
        }
        None => match jsonrpc::with_id(message, spelling) {
            std::borrow::Cow::Borrowed(_) => message.clone(),
            std::borrow::Cow::Owned(v) => Bytes::from(v),
        },
    }
}
