//! The context the rooms share: [`Relay`] (the upstream, the stdout writer, the pending
//! table, the session, the era, and each room's state), one classified client message
//! ([`Msg`]), the [`Era`], and the local answers every room may write.
//!
//! It sits below the rooms: `mod.rs` (the pump, the lane, the one `Era` match) and the rooms
//! (`streamable`, `stateless`, `translated`, `legacy`) import it, and it imports none of
//! them, so the way down is one-way. Each room's state is declared here as plain data
//! ([`Listener`], [`Legacy`], [`TranslatedState`]), and so is the stdin queue's ([`Queue`],
//! [`Queued`]); the behaviour on it is an `impl` block in the owner's own file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use reqwest::Url;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::deadlines::Deadlines;
use super::pending::{IdKey, Pending};
use crate::cli::TransportKind;
use crate::errors::Hints;
use crate::jsonrpc::{self, Kind};
use crate::protocol::session::Session;
use crate::stdio::StdoutWriter;
use crate::upstream::Upstream;

/// The protocol era the client's messages are relayed in. Held in one place
/// ([`Relay::era`]) and changed only by the handshake (`initialize` in the lane) or by the
/// first message of a 2026-07-28 client.
#[derive(Clone)]
pub(crate) enum Era {
    /// Streamable HTTP with a 2025-era session (also before any handshake).
    Session,
    /// A 2026-07-28 client: every message declares its version; no session.
    Stateless(Arc<str>),
    /// A 2025-era client and a 2026-07-28-only server: the bridge translates.
    Translated(Arc<crate::protocol::translate::Translation>),
    /// The legacy HTTP+SSE transport (2024-11-05).
    Legacy,
}

/// One client message, classified; its bytes are kept whole.
pub(crate) struct Msg {
    pub bytes: Bytes,
    pub kind: Kind,
    /// `""` for responses.
    pub method: Box<str>,
    /// The id's canonical key (requests and responses).
    pub id: Option<IdKey>,
    /// The id as the client spelled it, until [`Relay::admit`] moves it into the request's
    /// pending entry (answers are written under the entry's spelling).
    pub(super) spelling: Option<Box<str>>,
}

impl Msg {
    pub(super) fn of(bytes: Bytes, e: &jsonrpc::Envelope<'_>) -> Msg {
        let raw = e.id_key();
        let id = raw.and_then(IdKey::of);
        Msg {
            kind: e.kind,
            method: e.method.as_deref().unwrap_or("").into(),
            spelling: id.as_ref().and(raw).map(Box::from),
            id,
            bytes,
        }
    }

    pub fn key(&self) -> Option<&IdKey> {
        self.id.as_ref()
    }

    pub(super) fn is(&self, kind: Kind, method: &str) -> bool {
        self.kind == kind && &*self.method == method
    }
}

/// Messages whose order matters, handled one at a time by one task.
pub(super) struct Lane {
    pub(super) tx: mpsc::UnboundedSender<Msg>,
    /// Messages pushed and not yet handled.
    pub(super) queued: AtomicUsize,
}

/// Everything the relay's tasks share.
pub(crate) struct Relay {
    pub upstream: Upstream,
    pub out: StdoutWriter,
    /// Shared with the stdout writer, which checks progress against it (see `deliver`).
    pub pending: Arc<Pending>,
    pub session: Session,
    pub(super) era: Mutex<Era>,
    pub(super) lane: Lane,
    pub listener: Listener,
    pub legacy: Legacy,
    pub translated: TranslatedState,
    /// `x-mcp-header` annotations learned from 2026-07-28 `tools/list` results.
    pub tool_headers: crate::protocol::modern::ToolHeaders,
    pub tool_filter: Option<crate::filter::ToolFilter>,
    pub host: String,
    pub(super) token_env: String,
    pub(super) token_present: bool,
    pub(super) secrets: Vec<String>,
    pub transport: TransportKind,
    pub deadlines: Deadlines,
    /// `--max-in-flight` permits; a client request holds one until it is answered.
    pub(super) intake: Arc<Semaphore>,
    /// What the pump read, waiting for its turn (see `intake`).
    pub(super) queue: Queue,
    /// Registration numbers of client requests (see [`Entry::seq`](super::pending::Entry)).
    pub(super) seq: AtomicU64,
    pub(super) private_ids: AtomicU64,
}

/// One message read from stdin and registered, waiting for its turn in the stdin queue
/// (behaviour: `intake.rs`).
pub(super) enum Queued {
    Message {
        msg: Msg,
        /// The request's registration number (0 for notifications).
        seq: u64,
        room: Arc<OwnedSemaphorePermit>,
    },
    /// A 2025-03-26 batch, sent as one POST (its requests register when it leaves).
    Batch {
        line: Bytes,
        items: Vec<Bytes>,
        room: Arc<OwnedSemaphorePermit>,
    },
}

/// The pump's end of the stdin queue (behaviour: `intake.rs`).
pub(super) struct Queue {
    pub(super) tx: mpsc::UnboundedSender<Queued>,
    pub(super) room: Arc<Semaphore>,
    /// Messages pushed and not yet handed on.
    pub(super) items: AtomicUsize,
}

/// The standalone GET stream's one listening task (behaviour: `listener.rs`).
#[derive(Default)]
pub struct Listener {
    pub(super) task: Mutex<Option<JoinHandle<()>>>,
}

/// The legacy link's state, when the session runs over HTTP+SSE (behaviour: `legacy.rs`).
#[derive(Default)]
pub struct Legacy {
    pub(super) link: Mutex<Option<LegacyLink>>,
    /// One reconnect at a time.
    pub(super) reconnecting: tokio::sync::Mutex<()>,
}

/// An open legacy link: where messages are POSTed, and the task reading the stream.
pub(super) struct LegacyLink {
    pub(super) endpoint: Url,
    pub(super) reader: JoinHandle<()>,
}

/// Translation's own state, reset by each new `initialize` (behaviour: `translated.rs`).
#[derive(Default)]
pub struct TranslatedState {
    /// Client answers awaited by MRTR rounds, by the private id of the request.
    pub(super) input_waiters: Mutex<HashMap<IdKey, oneshot::Sender<Bytes>>>,
    /// The client's subscribed resource URIs and the `subscriptions/listen` stream's task.
    pub(super) subscriptions: Mutex<(Vec<String>, Option<JoinHandle<()>>)>,
    /// The level of the client's last `logging/setLevel`, stamped on every request.
    pub(super) log_level: Mutex<Option<String>>,
}

impl Relay {
    pub fn era(&self) -> Era {
        self.era.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_era(&self, era: Era) {
        *self.era.lock().unwrap_or_else(|p| p.into_inner()) = era;
    }

    pub fn hints(&self) -> Hints<'_> {
        Hints {
            host: &self.host,
            token_env: &self.token_env,
            token_present: self.token_present,
            secrets: &self.secrets,
        }
    }

    /// Writes an error the bridge itself composes for `id` (raw JSON text).
    pub async fn reply_error(&self, id: &str, code: i64, reason: &str) {
        let e = jsonrpc::error_response(id, code, reason, None);
        self.out.send(Bytes::from(e)).await;
    }
}

/// Locks a mutex, recovering from poisoning (a panicked holder left consistent data).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
