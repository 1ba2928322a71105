//! The end of a run: on stdin EOF (after a short grace for in-flight requests) or on a
//! signal (SIGTERM, SIGINT, SIGHUP: a closed terminal is a request to stop, not a crash).
//!
//! Invariant: shutdown finishes within [`SHUTDOWN_BUDGET`] whatever stdout and the server
//! do. Every request still pending is answered with an error, but only as far as stdout
//! takes it without waiting (a client that stopped reading cannot hold the bridge); the
//! session's `DELETE` is sent with its own short limit; stdout gets a bounded last flush.

use std::time::Duration;

use super::context::Relay;
use super::deadlines::{DELETE_TIMEOUT, FLUSH_TIMEOUT, SHUTDOWN_BUDGET};
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
    for entry in relay.pending.drain() {
        if entry.is_client() {
            let message = errors::answer(entry.id(), &Failure::ShuttingDown, &relay.hints());
            relay.out.offer(message);
        }
    }
    relay.listener.stop();
    relay.legacy.close();
    relay.translated.reset();
    if relay.session.has_session_id() {
        let (headers, _) = relay.session.snapshot();
        match tokio::time::timeout(DELETE_TIMEOUT, relay.upstream.delete(&headers)).await {
            Ok(Ok(status)) => tracing::debug!("session DELETE answered {status}"),
            Ok(Err(e)) => tracing::debug!("session DELETE failed: {e:?}"),
            Err(_) => tracing::debug!("session DELETE timed out"),
        }
    }
    relay.out.flush(FLUSH_TIMEOUT).await;
}
