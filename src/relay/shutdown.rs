//! The end of a run: on stdin EOF (after a short grace for in-flight requests) or on a
//! signal (SIGTERM, SIGINT, SIGHUP: a closed terminal is a request to stop, not a crash).
//!
//! Invariant: shutdown finishes within [`SHUTDOWN_BUDGET`] whatever stdout and the server
//! do. Every request still pending (those waiting in the stdin queue included) is answered
//! with an error, as far as stdout takes it within [`ANSWER_TIMEOUT`] (a client that
//! stopped reading cannot hold the bridge); the session's `DELETE` goes out beside those
//! answers, with its own short limit; stdout gets a bounded last flush. Nothing here writes
//! stdout except through its owner, so a line cut short by the exit can only be the last.

use std::time::Duration;

use super::Relay;
use super::deadlines::{
    ANSWER_TIMEOUT, DELETE_TIMEOUT, FLUSH_TIMEOUT, SHUTDOWN_BUDGET, STDOUT_STALL,
};
use crate::errors::{self, Failure};

/// Resolves on a stop signal, with its name.
pub async fn signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(mut term), Ok(mut int), Ok(mut hup)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = hup.recv() => "SIGHUP",
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

/// Gives in-flight requests `grace` to finish, then answers the rest, stops the streams,
/// ends the session and flushes stdout, all within the budget.
pub async fn shutdown(relay: &Relay, grace: Duration) {
    if !grace.is_zero() {
        let _ = tokio::time::timeout(grace, relay.pending.drained()).await;
    }
    if tokio::time::timeout(SHUTDOWN_BUDGET, close(relay))
        .await
        .is_err()
    {
        tracing::debug!("shutdown ran out of time; exiting anyway");
    }
}

async fn close(relay: &Relay) {
    let entries = relay.pending.drain();
    relay.listener.stop();
    relay.legacy.close();
    relay.translated.reset();
    // The session's DELETE and the answers go together: a long table (the stdin queue holds
    // thousands of requests) or a stdout that takes nothing cannot hold the DELETE back.
    let (taken, ()) = tokio::join!(answer_all(relay, entries), end_session(relay));
    if taken {
        relay.out.flush(FLUSH_TIMEOUT).await;
    }
}

/// Answers every client request still pending with the shutdown error, as far as stdout
/// takes them within [`ANSWER_TIMEOUT`], giving up as soon as it takes none for
/// [`STDOUT_STALL`]; the rest are dropped (logged). `false` when stdout did not take them
/// all: it is not being read, and a last flush would only wait.
async fn answer_all(relay: &Relay, entries: Vec<super::pending::Entry>) -> bool {
    let total = entries.iter().filter(|e| e.is_client()).count();
    let mut answered = 0usize;
    let answering = async {
        for entry in entries.iter().filter(|e| e.is_client()) {
            let message = errors::answer(entry.id(), &Failure::ShuttingDown, &relay.hints());
            // A stdout that takes nothing for a while is not being read: stop waiting.
            let sent = tokio::time::timeout(STDOUT_STALL, relay.out.send(message)).await;
            if sent.is_err() {
                return false;
            }
            answered += 1;
            // Composing thousands of answers must not starve the DELETE beside it.
            if answered.is_multiple_of(64) {
                tokio::task::yield_now().await;
            }
        }
        true
    };
    let all = tokio::time::timeout(ANSWER_TIMEOUT, answering)
        .await
        .unwrap_or(false);
    if !all {
        tracing::debug!(
            "stdout took {answered} of {total} shutdown answers in time; the rest were dropped"
        );
    }
    all
}

/// Ends the session with a `DELETE`, bounded by [`DELETE_TIMEOUT`].
async fn end_session(relay: &Relay) {
    if !relay.session.has_session_id() {
        return;
    }
    let (headers, _) = relay.session.snapshot();
    match tokio::time::timeout(DELETE_TIMEOUT, relay.upstream.delete(&headers)).await {
        Ok(Ok(status)) => tracing::debug!("session DELETE answered {status}"),
        Ok(Err(e)) => tracing::debug!("session DELETE failed: {e:?}"),
        Err(_) => tracing::debug!("session DELETE timed out"),
    }
}
