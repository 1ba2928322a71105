//! The stdin queue: what the pump has read and registered, waiting for its turn.
//!
//! The pump reads stdin as long as the queue has room (a bound in **bytes**, [`QUEUE_BYTES`],
//! so a client that writes 20 000 calls at once costs a few MiB, not a growing heap), and
//! registers every request in the pending table the moment it is read: its
//! `--request-timeout` clock starts then. One task ([`run`]) takes the messages out in the
//! order they were read; a request waits there for a `--max-in-flight` permit, and one whose
//! time runs out while it waits is answered with the timeout error (issue 19). The deadline
//! of the request at the head is the earliest of all (every request gets the same limit, and
//! they are queued in reading order), so one timer serves the whole queue.
//!
//! Invariants:
//! - a queued request is known by its key *and* its `seq`: only the pending entry with both
//!   is the one queued (the client may cancel it and reuse its id);
//! - a request leaves the queue exactly once: dispatched with a permit, answered with the
//!   timeout error (through [`Pending::take_current`](super::pending::Pending::take_current)),
//!   or skipped because it already left the table (cancelled, or answered at shutdown);
//! - the queue's room is given back only when a message leaves it, so the pump stops reading
//!   while it is full, as it stopped while every permit was taken before the queue existed;
//! - at stdin EOF the pump returns only once the queue is empty, so a client that writes its
//!   requests and closes stdin sees each of them sent, as before.
//!
//! Client responses and `notifications/cancelled` skip the queue: they need no permit, and a
//! server waiting on a client's answer must not wait behind requests waiting for permits.
//! So does any message while the queue is empty (a request only if a permit is free): the
//! usual case costs no hop through the queue's task, and the order is kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::context::{Msg, Queue, Queued, Relay};
use crate::errors::Failure;
use crate::jsonrpc::Kind;

/// The most the stdin queue holds, in bytes (each message counted as its length plus
/// [`PER_MESSAGE`]). A single message larger than this (up to `--max-message-bytes`) is
/// still taken, alone, once the queue is empty.
pub const QUEUE_BYTES: usize = 24 << 20;
/// What a queued request costs besides its bytes (its pending entry, its key, the queue
/// slot), counted against [`QUEUE_BYTES`] so a flood of tiny requests is bounded too.
const PER_MESSAGE: usize = 512;

impl Queue {
    /// The queue and the receiver [`run`] serves.
    pub fn new() -> (Queue, mpsc::UnboundedReceiver<Queued>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(QUEUE_BYTES));
        let items = AtomicUsize::new(0);
        (Queue { tx, room, items }, rx)
    }

    /// Waits until the queue has room for a line of `len` bytes, and reserves it.
    pub async fn room_for(&self, len: usize) -> Option<Arc<OwnedSemaphorePermit>> {
        let charge = len.saturating_add(PER_MESSAGE).min(QUEUE_BYTES);
        let n = u32::try_from(charge).unwrap_or(u32::MAX);
        self.room
            .clone()
            .acquire_many_owned(n)
            .await
            .ok()
            .map(Arc::new)
    }

    /// Queues a message; `false` when the queue's task is gone (shutdown).
    pub fn push(&self, item: Queued) -> bool {
        self.items.fetch_add(1, Ordering::SeqCst);
        let sent = self.tx.send(item).is_ok();
        if !sent {
            self.items.fetch_sub(1, Ordering::SeqCst);
        }
        sent
    }

    /// Whether nothing waits in the queue: a message may then skip it and keep its order.
    pub fn is_idle(&self) -> bool {
        self.items.load(Ordering::SeqCst) == 0
    }

    /// Resolves once every queued message has left the queue.
    pub async fn emptied(&self) {
        let all = u32::try_from(QUEUE_BYTES).unwrap_or(u32::MAX);
        let _ = self.room.acquire_many(all).await;
    }
}

/// The queue's task: hands each message on, in reading order, once it may go.
pub(super) async fn run(relay: Arc<Relay>, mut rx: mpsc::UnboundedReceiver<Queued>) {
    while let Some(item) = rx.recv().await {
        match item {
            Queued::Message { msg, seq, room } => {
                relay.leave(msg, seq).await;
                drop(room);
            }
            Queued::Batch { line, items, room } => {
                super::streamable::batch(&relay, line, items).await;
                drop(room);
            }
        }
        relay.queue.items.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Relay {
    /// Takes one message out of the queue: a request first waits for its permit (or is
    /// answered with the timeout error when its deadline passes first); then it goes to the
    /// lane or its era's room.
    async fn leave(self: &Arc<Self>, msg: Msg, seq: u64) {
        if msg.kind == Kind::Request {
            let Some(key) = msg.id.clone() else {
                return;
            };
            if !self.pending.is_current(&key, seq) {
                tracing::debug!(
                    method = &*msg.method,
                    "skipped a request that left while queued"
                );
                return;
            }
            let permit = self.intake.clone().acquire_owned();
            let deadline = self
                .deadlines
                .request
                .and_then(|limit| Some((limit, self.pending.started(&key)? + limit)));
            let permit = match deadline {
                None => permit.await.ok(),
                Some((limit, deadline)) => {
                    let expired = async {
                        if std::time::Instant::now() < deadline {
                            tokio::time::sleep_until(tokio::time::Instant::from_std(deadline))
                                .await;
                        }
                    };
                    tokio::select! {
                        biased;
                        () = expired => {
                            if let Some(entry) = self.pending.take_current(&key, seq) {
                                tracing::debug!(
                                    method = &*entry.method,
                                    id = entry.id(),
                                    "timed out waiting for a --max-in-flight permit"
                                );
                                self.fail_entry(entry, &Failure::RequestTimeout(limit)).await;
                            }
                            return;
                        }
                        p = permit => p.ok(),
                    }
                }
            };
            let Some(permit) = permit else {
                return; // the permits are never closed; nothing to send with
            };
            if !self.pending.attach_permit(&key, seq, permit) {
                return; // cancelled while it waited
            }
        }
        self.forward(msg).await;
    }
}
