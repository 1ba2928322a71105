//! The standalone GET stream of a 2025-era session, where the server sends requests and
//! notifications that belong to no client request.
//!
//! Owns the one listening task. Invariants: at most one stream is open; it is reconnected
//! under the [`Reconnect`] policy (resuming from the last event id), so neither `retry: 0`
//! nor a stream that dies at once can make it spin; it stops for good on an error status or
//! after [`MAX_LISTENER_FAILURES`] short-lived streams in a row that brought no message (a
//! quiet stream that the idle timeout ends after a long life is simply reopened).

use std::sync::Arc;

use bytes::Bytes;

use super::context::{Listener, Relay, lock};
use super::deadlines::{MAX_LISTENER_FAILURES, Reconnect, STABLE_STREAM};
use crate::upstream::{EventStream, Reply};

impl Listener {
    /// Opens the GET stream and returns once its response head arrived (405: the server
    /// offers none), so a message sent on it right away is not lost.
    pub async fn open(&self, relay: &Arc<Relay>) {
        let (headers, _) = relay.session.snapshot();
        match relay.upstream.get(&headers, None).await {
            Ok(Reply::Events(_, stream)) => {
                let this = relay.clone();
                let handle = tokio::spawn(async move { listen(this, stream).await });
                if let Some(old) = lock(&self.task).replace(handle) {
                    old.abort();
                }
            }
            Ok(Reply::Status(meta, _)) => match &meta.www_authenticate {
                _ if meta.status == reqwest::StatusCode::METHOD_NOT_ALLOWED => {
                    tracing::debug!("{} offers no GET stream (405)", relay.host)
                }
                Some(w) => tracing::warn!(
                    "{} refused the GET stream: HTTP {}; WWW-Authenticate: {w}",
                    relay.host,
                    meta.status
                ),
                // Stateless servers answer the GET with 400 or 404 as well as 405: not news.
                None if matches!(meta.status.as_u16(), 400 | 404) => {
                    tracing::debug!("{} offers no GET stream (HTTP {})", relay.host, meta.status)
                }
                None => {
                    tracing::warn!(
                        "{} refused the GET stream: HTTP {}",
                        relay.host,
                        meta.status
                    )
                }
            },
            Ok(_) => tracing::debug!("{} answered the GET without an event stream", relay.host),
            Err(e) => tracing::warn!("could not open the GET stream to {}: {e:?}", relay.host),
        }
    }

    pub fn stop(&self) {
        if let Some(h) = lock(&self.task).take() {
            h.abort();
        }
    }
}

/// Relays the GET stream and reconnects it when it ends.
async fn listen(relay: Arc<Relay>, mut stream: EventStream) {
    let mut last_event_id: Option<String> = None;
    let mut reconnect = Reconnect::default();
    let mut failures = 0u32;
    loop {
        let opened = std::time::Instant::now();
        while let Some(item) = stream.next().await {
            match item {
                Ok(mut event) => {
                    if let Some(id) = event.id.take() {
                        last_event_id = Some(id);
                    }
                    if let Some(r) = event.retry {
                        reconnect.server_retry(r);
                    }
                    if let Some(data) = event.message() {
                        failures = 0;
                        relay.deliver(Bytes::from(data), &[]).await;
                    }
                }
                Err(e) => {
                    tracing::debug!("GET stream broke: {e:?}");
                    break;
                }
            }
        }
        // A quiet stream cut by the idle timeout after a long life is not failing.
        if opened.elapsed() >= STABLE_STREAM {
            failures = 0;
        }
        failures += 1;
        if failures > MAX_LISTENER_FAILURES {
            tracing::warn!(
                "the GET stream to {} keeps failing; server-initiated messages stop until the next session",
                relay.host
            );
            return;
        }
        tokio::time::sleep(reconnect.next_delay()).await;
        let (headers, _) = relay.session.snapshot();
        match relay.upstream.get(&headers, last_event_id.as_deref()).await {
            Ok(Reply::Events(_, s)) => {
                stream = s;
                reconnect.opened();
            }
            Ok(Reply::Status(meta, _)) => {
                tracing::debug!("GET stream not reopened: HTTP {}", meta.status);
                return;
            }
            Ok(_) => return,
            Err(e) => tracing::debug!("GET stream reconnect failed: {e:?}"),
        }
    }
}
