//! The relay: reads client messages from stdin, hands each to the room of the protocol era
//! in use, and guarantees every client request exactly one answer in bounded time.
//!
//! The flow, top-down:
//! - [`run`] builds the [`Relay`] and runs the **pump** until stdin closes or a signal
//!   arrives, then [`shutdown`];
//! - the pump reads one line, classifies it ([`Msg`]), admits requests into the
//!   [`pending`] table (waiting for a `--max-in-flight` permit: while the bridge is full it
//!   stops reading stdin, and the pipe is the queue), and hands the message off. It never
//!   awaits the network;
//! - messages whose order matters (the client's `initialize`, `notifications/initialized`,
//!   and whatever arrives while those are under way) go through the **lane**, one task that
//!   handles them strictly in order; `ping`, cancellations and client responses skip it,
//!   so they are served while a handshake is stuck;
//! - [`Relay::dispatch`] matches the one [`Era`] and calls into its room: [`streamable`]
//!   (2025 sessions), [`stateless`] (2026-07-28 clients), [`translated`] (a 2025 client
//!   with a 2026-only server), [`legacy`] (HTTP+SSE). Each request runs in its own task
//!   ([`requests`]), bounded by [`deadlines`];
//! - every server message comes back through [`deliver`], which routes responses to their
//!   pending request by id value and writes them under the client's own id spelling.
//!
//! Invariants at this boundary: only [`stdio::StdoutWriter`](crate::stdio::StdoutWriter)
//! writes stdout; only the holder of an entry removed from [`pending::Pending`] writes its
//! answer; the bridge's own requests use `"wazion-mcp-…"` ids whose answers never reach
//! stdout.

mod context;
mod deadlines;
mod deliver;
mod intake;
mod legacy;
mod listener;
pub mod pending;
mod requests;
mod shutdown;
mod stateless;
mod streamable;
mod translated;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::BufReader;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::cli::TransportKind;
use crate::config::Settings;
use crate::errors::Failure;
use crate::jsonrpc::{self, Kind, Payload};
use crate::protocol::session::Session;
use crate::stdio::{Line, LineReader, StdoutWriter};
use crate::upstream::Upstream;

use context::{Era, Lane, Msg, Relay};
use deadlines::Deadlines;
use pending::{Entry, IdKey, Pending};

/// Runs the bridge until stdin closes or a signal arrives; returns the exit code.
pub async fn run(settings: Settings) -> i32 {
    let upstream = match Upstream::new(&settings) {
        Ok(u) => u,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let (lane_tx, lane_rx) = mpsc::unbounded_channel();
    let (queue, queue_rx) = context::Queue::new();
    let relay = Arc::new(Relay {
        upstream,
        out: StdoutWriter::spawn(crate::stdio::stdout()),
        pending: Arc::new(Pending::default()),
        session: Session::default(),
        era: Mutex::new(Era::Session),
        lane: Lane {
            tx: lane_tx,
            queued: AtomicUsize::new(0),
        },
        listener: context::Listener::default(),
        legacy: context::Legacy::default(),
        translated: context::TranslatedState::default(),
        tool_headers: crate::protocol::modern::ToolHeaders::default(),
        tool_filter: settings.tool_filter.clone(),
        host: settings.host_label.clone(),
        token_env: settings.token_env.clone(),
        token_present: settings.token_present,
        secrets: settings.secrets.clone(),
        transport: settings.transport,
        deadlines: Deadlines {
            idle: settings.idle_timeout,
            request: settings.request_timeout,
        },
        intake: Arc::new(Semaphore::new(settings.max_in_flight)),
        queue,
        seq: AtomicU64::new(0),
        private_ids: AtomicU64::new(0),
    });
    let lane = tokio::spawn(relay.clone().run_lane(lane_rx));
    let queue = tokio::spawn(intake::run(relay.clone(), queue_rx));
    let reader = LineReader::new(
        BufReader::with_capacity(64 * 1024, crate::stdio::stdin()),
        settings.max_message_bytes,
    );
    let mut pump = tokio::spawn(relay.clone().pump(reader));
    let grace = tokio::select! {
        r = &mut pump => {
            match r {
                Ok(Ok(())) => tracing::debug!("stdin closed"),
                Ok(Err(e)) => tracing::warn!("stdin failed: {e}"),
                Err(e) => tracing::error!("stdin reader stopped: {e}"),
            }
            deadlines::EOF_GRACE
        }
        name = shutdown::signal() => {
            tracing::debug!("received {name}");
            std::time::Duration::ZERO
        }
    };
    // Nothing more is read, and nothing more leaves the stdin queue: what waits there is
    // answered by the shutdown (at EOF the queue is empty already).
    pump.abort();
    queue.abort();
    shutdown::shutdown(&relay, grace).await;
    lane.abort();
    0
}

impl Relay {
    // ----- the pump --------------------------------------------------------------------

    async fn pump<R>(self: Arc<Self>, mut reader: LineReader<R>) -> std::io::Result<()>
    where
        R: tokio::io::AsyncBufRead + Unpin,
    {
        while let Some(line) = reader.next_line().await? {
            match line {
                Line::Message(bytes) => {
                    // Stop reading while the queue is full (the pipe then holds the rest).
                    let Some(room) = self.queue.room_for(bytes.len()).await else {
                        break;
                    };
                    self.intake(Bytes::from(bytes), &room).await
                }
                Line::TooLong { len, head } => {
                    tracing::warn!(
                        "stdin: dropped a {len}-byte line, larger than --max-message-bytes"
                    );
                    if let Some(id) = jsonrpc::sniff_id(&head) {
                        let reason = format!(
                            "the message is {len} bytes, more than --max-message-bytes allows; it was not sent"
                        );
                        self.reply_error(usable_id(&id), -32600, &reason).await;
                    }
                }
            }
        }
        // EOF: what was read still goes out before the end begins, as when stdin was read
        // only as fast as requests were sent.
        self.queue.emptied().await;
        Ok(())
    }

    /// Classifies one stdin line and admits each message in it.
    async fn intake(self: &Arc<Self>, line: Bytes, room: &Arc<OwnedSemaphorePermit>) {
        let items: Vec<Bytes> = match jsonrpc::parse(&line) {
            Err(invalid) => return self.reject(invalid).await,
            Ok(Payload::Single(e)) => {
                let msg = Msg::of(line.clone(), &e);
                return self.admit(msg, room).await;
            }
            Ok(Payload::Batch(items)) => items
                .iter()
                .map(|raw| line.slice_ref(raw.get().as_bytes()))
                .collect(),
        };
        // A batch goes out as one POST only when no item is a tools/call to refuse (a hidden
        // tool, an ambiguous name): otherwise its items are admitted one by one, so the
        // refused one is answered and the others go.
        let refused = |item: &Bytes| {
            jsonrpc::utf8(item)
                .and_then(|t| jsonrpc::parse_single(t).ok())
                .is_some_and(|e| e.method.as_deref() == Some("tools/call"))
                && crate::filter::refusal(self.tool_filter.as_ref(), item).is_some()
        };
        if self.session.batches_allowed()
            && matches!(self.era(), Era::Session)
            && !items.iter().any(refused)
        {
            let room = room.clone();
            self.queue
                .push(context::Queued::Batch { line, items, room });
            return;
        }
        for item in items {
            match jsonrpc::utf8(&item).map(jsonrpc::parse_single) {
                Some(Ok(e)) => {
                    let msg = Msg::of(item.clone(), &e);
                    self.admit(msg, room).await
                }
                Some(Err(invalid)) => self.reject(invalid).await,
                None => {}
            }
        }
    }

    /// Registers a request in the pending table (its clock starts now) and queues the
    /// message; client responses and cancellations go on at once (see [`intake`]).
    async fn admit(self: &Arc<Self>, mut msg: Msg, room: &Arc<OwnedSemaphorePermit>) {
        let mut seq = 0;
        if msg.kind == Kind::Request {
            let (Some(spelling), Some(key)) = (msg.spelling.take(), msg.id.clone()) else {
                return self
                    .reply_error("null", -32600, "the request id is not a string or a number")
                    .await;
            };
            if let Some(why) = self.tool_call_refusal(&msg) {
                tracing::debug!(id = &*spelling, "refused a tools/call: {why}");
                return self.reply_error(&spelling, -32602, &why).await;
            }
            // The usual case: nothing waits in the queue and a permit is free, so the
            // request goes on at once, in order, without the queue's task hop.
            let permit = match self.queue.is_idle() {
                true => self.intake.clone().try_acquire_owned().ok(),
                false => None,
            };
            let at_once = permit.is_some();
            seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
            let mut entry = Entry::client(spelling, &msg.method, permit);
            entry.progress = jsonrpc::progress_token(&msg.bytes).and_then(|t| IdKey::of(&t));
            entry.seq = seq;
            entry.queued = !at_once;
            if let Err(refused) = self.pending.try_insert(key, entry) {
                return self
                    .reply_error(
                        refused.id(),
                        -32600,
                        "a request with this id is still pending; ids must be unique",
                    )
                    .await;
            }
            if at_once {
                return self.forward(msg).await;
            }
        } else if let Some(why) = self.tool_call_refusal(&msg) {
            return tracing::warn!("dropped a tools/call notification: {why}");
        } else {
            tracing::debug!(kind = ?msg.kind, method = &*msg.method, "client → server");
            let cancel = msg.is(Kind::Notification, "notifications/cancelled");
            if cancel && self.cancels_queued(&msg) {
                // The server never saw that request: nothing to tell it.
                return tracing::debug!("a request cancelled in the stdin queue; never sent");
            }
            if msg.kind == Kind::Response || cancel || self.queue.is_idle() {
                return self.forward(msg).await;
            }
        }
        let room = room.clone();
        if !self.queue.push(context::Queued::Message { msg, seq, room }) {
            tracing::debug!("the stdin queue is closed (shutting down); message dropped");
        }
    }

    /// Cancels the target of a `notifications/cancelled` if it still waits in the stdin
    /// queue; `true` if it did.
    fn cancels_queued(&self, msg: &Msg) -> bool {
        jsonrpc::cancelled_request_id(&msg.bytes)
            .and_then(|raw| IdKey::of(&raw))
            .is_some_and(|k| self.pending.cancel_queued(&k))
    }

    /// Hands a message to the lane or to its era's room.
    async fn forward(self: &Arc<Self>, msg: Msg) {
        if self.needs_lane(&msg) {
            self.lane.queued.fetch_add(1, Ordering::SeqCst);
            if let Err(mpsc::error::SendError(msg)) = self.lane.tx.send(msg) {
                self.lane.queued.fetch_sub(1, Ordering::SeqCst);
                self.dispatch(msg).await;
            }
        } else {
            self.dispatch(msg).await;
        }
    }

    /// Whether a message must wait its turn behind the handshake.
    fn needs_lane(&self, msg: &Msg) -> bool {
        if msg.is(Kind::Request, "initialize") {
            return true;
        }
        // A ping is the one request the spec allows before the initialize answer: it is
        // forwarded at once then, so a stuck handshake cannot leave it unanswered. Later it
        // keeps its place, like every other message.
        let bypass = msg.kind == Kind::Response
            || msg.is(Kind::Notification, "notifications/cancelled")
            || msg.is(Kind::Request, "ping") && !self.session.is_open();
        if bypass {
            return false;
        }
        msg.is(Kind::Notification, "notifications/initialized")
            && matches!(self.era(), Era::Session)
            || self.lane.queued.load(Ordering::SeqCst) > 0
    }

    /// The lane: handles ordering-sensitive messages strictly one after the other.
    async fn run_lane(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            let cancelled =
                msg.kind == Kind::Request && msg.key().is_some_and(|k| !self.pending.contains(k));
            if cancelled {
                tracing::debug!(
                    method = &*msg.method,
                    "skipped a request cancelled while queued"
                );
            } else if msg.is(Kind::Request, "initialize") {
                let key = msg.key().cloned();
                let this = self.clone();
                if let Some(key) = key {
                    let task = self.spawn_request(&key, async move { this.initialize(msg).await });
                    let _ = task.await;
                }
            } else if msg.is(Kind::Notification, "notifications/initialized")
                && matches!(self.era(), Era::Session)
            {
                streamable::initialized(&self, msg).await;
            } else {
                self.dispatch(msg).await;
            }
            self.lane.queued.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The client's `initialize`: a new session, in whichever era the server speaks.
    async fn initialize(self: &Arc<Self>, msg: Msg) -> Result<(), Failure> {
        self.listener.stop();
        self.legacy.close();
        self.translated.reset();
        self.set_era(Era::Session);
        self.session.begin(msg.bytes.clone());
        if self.transport == TransportKind::Sse {
            return legacy::initialize(self, msg).await;
        }
        streamable::initialize(self, msg).await
    }

    // ----- routing by era --------------------------------------------------------------

    /// Hands a message to its era's room. Never awaits the network: rooms spawn a task per
    /// exchange; the only awaits are local answers going to stdout.
    async fn dispatch(self: &Arc<Self>, msg: Msg) {
        match self.era() {
            Era::Translated(t) => translated::dispatch(self, msg, t).await,
            Era::Legacy => legacy::dispatch(self, msg).await,
            era @ (Era::Session | Era::Stateless(_)) => {
                match (crate::protocol::modern::declared_version(&msg.bytes), era) {
                    (Some(version), Era::Session) => {
                        if !self.session.has_session_id() {
                            // A 2026-07-28 client: no handshake, each message says its version.
                            self.set_era(Era::Stateless(version.as_str().into()));
                        }
                        stateless::dispatch(self, msg, &version).await
                    }
                    (Some(version), _) => stateless::dispatch(self, msg, &version).await,
                    (None, Era::Stateless(version)) => {
                        stateless::dispatch(self, msg, &version).await
                    }
                    (None, _) => streamable::dispatch(self, msg).await,
                }
            }
        }
    }

    // ----- local answers ---------------------------------------------------------------

    /// Why a `tools/call` (request or notification) is not sent, if it is not: a hidden
    /// tool, an ambiguous name, or no readable name under a filter ([`crate::filter::refusal`]).
    fn tool_call_refusal(&self, msg: &Msg) -> Option<String> {
        if &*msg.method != "tools/call" {
            return None;
        }
        crate::filter::refusal(self.tool_filter.as_ref(), &msg.bytes)
    }

    /// Logs a line that is not JSON-RPC; answers it, under its id when that id is a valid
    /// one and under `null` otherwise, so stdout only ever carries valid JSON.
    async fn reject(&self, invalid: jsonrpc::Invalid) {
        tracing::warn!(
            "stdin: ignored a line that is not a valid JSON-RPC message: {}",
            invalid.reason
        );
        if let Some(raw) = invalid.id.as_deref() {
            self.reply_error(usable_id(raw), invalid.code, &invalid.reason)
                .await;
        }
    }
}

/// `raw` when it is a valid JSON-RPC id, else `null`: stdout only ever carries valid JSON,
/// so a line whose id is `--1` or a string with a raw control character is answered under
/// `null`, as JSON-RPC 2.0 prescribes for an id that cannot be read. (S6 warns that schemas
/// before 2025-11-25 want a string or number id; a line without any id is still only logged,
/// and one with a valid id is answered under it. Only an id that cannot be echoed gets
/// `null`: the client is waiting on that request, and an answer it may reject beats none.)
fn usable_id(raw: &str) -> &str {
    if IdKey::of(raw).is_some() {
        raw
    } else {
        "null"
    }
}
