//! Running requests, the services every era's room uses: a request's task
//! (`spawn_request`, bounded by `--request-timeout`), its error answer (`fail`), a claimed
//! answer written after inspection (`answer`), the bridge's own requests (`private_id`,
//! `private_request`), one-way messages (`send_one_way`) and cancellation.
//!
//! Invariant: every path here that writes a client answer first removes the request from
//! the pending table, so an answer is written at most once; a task's failure is always
//! answered (unless the request already left the table).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::context::Relay;
use super::pending::IdKey;
use crate::errors::{self, Failure};
use crate::jsonrpc;
use crate::upstream::SessionHeaders;

impl Relay {
    /// Runs a registered request's work as its own task, bounded by `--request-timeout`;
    /// a failure is answered with its mapped error. The task's handle is kept in the entry
    /// so a cancellation can stop it. Boxed: exchange futures are several KB, which tokio
    /// would otherwise move several times on their way into the task.
    pub fn spawn_request(
        self: &Arc<Self>,
        key: &IdKey,
        work: impl Future<Output = Result<(), Failure>> + Send + 'static,
    ) -> JoinHandle<()> {
        let this = self.clone();
        let k = key.clone();
        let limit = self.deadlines.request;
        // The clock started when the request was read from stdin, not now: time spent in
        // the stdin queue waiting for a --max-in-flight permit counts (issue 19).
        let started = self.pending.started(key).unwrap_or_else(Instant::now);
        let task = async move {
            let outcome = match limit {
                Some(limit) => {
                    let deadline = tokio::time::Instant::from_std(started + limit);
                    tokio::time::timeout_at(deadline, work)
                        .await
                        .unwrap_or(Err(Failure::RequestTimeout(limit)))
                }
                None => work.await,
            };
            if let Err(failure) = outcome {
                this.fail(&k, &failure).await;
            }
        };
        let handle = tokio::spawn(Box::pin(task));
        let abort = handle.abort_handle();
        self.pending.update(key, |e| e.task = Some(abort));
        handle
    }

    /// Answers `key` with the error `failure` maps to, if it is still pending.
    pub async fn fail(&self, key: &IdKey, failure: &Failure) {
        if let Some(entry) = self.pending.take(key) {
            self.fail_entry(entry, failure).await;
        }
    }

    /// Answers a request already removed from the pending table with the error `failure`
    /// maps to (nothing for the bridge's own requests).
    pub async fn fail_entry(&self, entry: super::pending::Entry, failure: &Failure) {
        if !entry.is_client() {
            return; // the bridge's own request: its claimant learns from the closed channel
        }
        tracing::debug!(
            method = &*entry.method,
            id = entry.id(),
            "request failed: {}",
            failure.summary()
        );
        // The OAuth access token changes at every refresh, so it is not among the configured
        // secrets: `secrets` adds it (and the last ones it replaced).
        let secrets = self.secrets();
        let hints = errors::Hints {
            secrets: &secrets,
            ..self.hints()
        };
        let message = errors::answer(entry.id(), failure, &hints);
        self.out.send(message).await;
    }

    /// Writes `message` as the answer to `key` if it is still pending (a claimant's way
    /// to answer after inspecting the server's response).
    pub async fn answer(&self, key: &IdKey, message: Bytes) {
        if let Some(entry) = self.pending.take(key) {
            let message = match jsonrpc::with_id(message.trim_ascii(), entry.id()) {
                std::borrow::Cow::Borrowed(b) if b.len() == message.len() => message,
                other => Bytes::copy_from_slice(&other),
            };
            self.write_answer(entry, message).await;
        }
    }

    /// Every value that must never reach the client: the configured secrets (the token,
    /// `--header` values) and, with OAuth, the current access token and the last ones it
    /// replaced (a server may echo an older one in an error).
    pub fn secrets(&self) -> std::borrow::Cow<'_, [String]> {
        match self.upstream.authorizer() {
            None => std::borrow::Cow::Borrowed(&self.secrets),
            Some(auth) => {
                let mut all = self.secrets.clone();
                all.extend(auth.token_texts());
                std::borrow::Cow::Owned(all)
            }
        }
    }

    /// An error response from the server with the secrets cut out (by value, see
    /// [`errors::redact`]); results never come here (they are relayed unchanged). A byte
    /// search settles the usual case, nothing to cut, without decoding anything.
    pub fn redact_error(&self, message: Bytes) -> Bytes {
        let secrets = self.secrets();
        if !errors::may_hold_secret(&message, &secrets) {
            return message;
        }
        match errors::redact(&message, &secrets) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(v) => {
                tracing::debug!("cut a secret out of an error the server sent");
                Bytes::from(v)
            }
        }
    }

    /// A fresh bridge-private id, as raw JSON text with its key.
    pub fn private_id(&self, kind: &str) -> (String, IdKey) {
        let n = self.private_ids.fetch_add(1, Ordering::Relaxed);
        let raw = format!("\"wazion-mcp-{kind}-{n}\"");
        let key = IdKey::of(&raw).unwrap_or_else(|| unreachable!("a plain string id"));
        (raw, key)
    }

    /// POSTs one of the bridge's own requests (id `raw`) and returns the server's response
    /// to it; nothing reaches stdout except what else the server sends meanwhile.
    pub async fn private_request(
        self: &Arc<Self>,
        body: Bytes,
        key: &IdKey,
        method: &str,
        headers: &SessionHeaders,
    ) -> Result<Bytes, Failure> {
        let Some(mut rx) = self.pending.private(key.clone(), method) else {
            return Err(Failure::NoResponse);
        };
        let reply = self.upstream.post(body, headers).await;
        let outcome = match reply {
            Ok(reply) => self.read_reply(reply, std::slice::from_ref(key)).await,
            Err(e) => Err(Failure::Net(e)),
        };
        self.pending.take(key); // gone already when answered
        match rx.try_recv() {
            Ok(message) => Ok(message),
            Err(_) => Err(outcome.err().unwrap_or(Failure::NoResponse)),
        }
    }

    /// POSTs a notification or a client response; nobody waits for an answer, so problems
    /// are logged once (a 401 here is reported, never retried).
    pub async fn send_one_way(self: &Arc<Self>, bytes: Bytes, what: &str, headers: SessionHeaders) {
        match self.upstream.post(bytes, &headers).await {
            Ok(reply @ crate::upstream::Reply::Status(..)) => {
                if let crate::upstream::Reply::Status(meta, _) = reply {
                    let status = meta.status;
                    match &meta.www_authenticate {
                        Some(w) => tracing::warn!(
                            "{} answered HTTP {status} to the client's {what}; WWW-Authenticate: {}",
                            self.host,
                            // A server's words in the log: no secret, no control character.
                            crate::report::terminal_safe(w, &self.secrets())
                        ),
                        None => tracing::warn!(
                            "{} answered HTTP {status} to the client's {what}",
                            self.host
                        ),
                    }
                }
            }
            Ok(reply) => {
                let _ = self.read_reply(reply, &[]).await;
            }
            Err(e) => tracing::warn!("could not send the client's {what} to {}: {e:?}", self.host),
        }
    }

    /// Stops a request the client cancelled; `true` if it was pending.
    pub fn cancel_target(&self, bytes: &[u8]) -> bool {
        jsonrpc::cancelled_request_id(bytes)
            .and_then(|raw| IdKey::of(&raw))
            .and_then(|k| self.pending.cancel(&k))
            .is_some()
    }

    /// Whether a `notifications/cancelled` targets a request sent in the 2026-07-28 era.
    pub fn cancels_modern(&self, bytes: &[u8]) -> bool {
        jsonrpc::cancelled_request_id(bytes)
            .and_then(|raw| IdKey::of(&raw))
            .is_some_and(|k| self.pending.is_modern(&k))
    }
}
