//! The legacy HTTP+SSE transport (protocol 2024-11-05): one long-lived GET event stream
//! whose first event, `endpoint`, names the URL every client message is POSTed to; every
//! server message, responses included, arrives on that stream.
//!
//! Owns the link (endpoint and stream reader) and its reconnection. Invariants: the message
//! endpoint is on the configured URL's origin, so the token never goes to a host the user
//! did not name; waiting for the `endpoint` event is bounded by the idle timeout (comments
//! do not count); when the stream ends every pending request is answered with an error, and
//! the next message reconnects (a new GET, the client's `initialize` replayed under a
//! private id, `notifications/initialized`), one reconnect at a time.

use std::sync::Arc;

use bytes::Bytes;
use reqwest::Url;

use super::context::{Era, Legacy, LegacyLink as Link, Msg, Relay, lock};
use super::pending::IdKey;
use crate::errors::Failure;
use crate::jsonrpc::Kind;
use crate::upstream::{EventStream, NetError, Reply};

impl Legacy {
    /// Drops the link (a new `initialize` decides the transport anew).
    pub fn close(&self) {
        if let Some(link) = lock(&self.link).take() {
            link.reader.abort();
        }
    }

    fn endpoint(&self) -> Option<Url> {
        lock(&self.link).as_ref().map(|l| l.endpoint.clone())
    }

    fn install(&self, relay: &Arc<Relay>, endpoint: Url, events: EventStream) {
        let this = relay.clone();
        let reader = tokio::spawn(async move { read(this, events).await });
        if let Some(old) = lock(&self.link).replace(Link { endpoint, reader }) {
            old.reader.abort();
        }
    }
}

/// Opens the link, sends the client's `initialize` over it and answers it when its answer
/// arrives on the stream.
pub async fn initialize(relay: &Arc<Relay>, msg: Msg) -> Result<(), Failure> {
    let link = crate::upstream::legacy::connect(&relay.upstream).await?;
    relay.legacy.install(relay, link.endpoint, link.events);
    relay.set_era(Era::Legacy);
    let Some(key) = msg.key().cloned() else {
        return Ok(());
    };
    request(relay, msg.bytes, &key).await
}

/// Routes a client message over the legacy link.
pub async fn dispatch(relay: &Arc<Relay>, msg: Msg) {
    match (msg.kind, msg.key().cloned()) {
        (Kind::Request, Some(key)) => {
            let this = relay.clone();
            let k = key.clone();
            relay.spawn_request(&key, async move { request(&this, msg.bytes, &k).await });
        }
        _ => {
            if &*msg.method == "notifications/cancelled" {
                relay.cancel_target(&msg.bytes);
            }
            let this = relay.clone();
            tokio::spawn(async move {
                if let Err(f) = post(&this, msg.bytes).await {
                    tracing::warn!(
                        "{} refused the client's {}: {}",
                        this.host,
                        msg.method,
                        f.summary()
                    );
                }
            });
        }
    }
}

/// POSTs a request; its answer comes on the stream and is written when it does (the
/// request's task waits for it, so `--request-timeout` covers the whole wait).
async fn request(relay: &Arc<Relay>, bytes: Bytes, key: &IdKey) -> Result<(), Failure> {
    let Some(answer) = relay.pending.claim(key) else {
        return Ok(()); // cancelled meanwhile
    };
    post(relay, bytes).await?;
    match answer.await {
        Ok(message) => {
            relay.answer(key, message).await;
            Ok(())
        }
        Err(_) => Err(Failure::LegacyStreamClosed),
    }
}

/// POSTs a message to the endpoint, reconnecting first if the stream was closed.
async fn post(relay: &Arc<Relay>, bytes: Bytes) -> Result<(), Failure> {
    let endpoint = match relay.legacy.endpoint() {
        Some(endpoint) => endpoint,
        None => reconnect(relay).await?,
    };
    match relay.upstream.post_to(&endpoint, bytes).await {
        Ok(Reply::Status(meta, body)) => Err(Failure::Http(Box::new(meta), body)),
        Ok(reply) => {
            // A body is not expected on this transport, but never lose what a server sends.
            let _ = relay.read_reply(reply, &[]).await;
            Ok(())
        }
        Err(e) => Err(Failure::Net(e)),
    }
}

/// The server closed the stream earlier: open a new one, replay the client's `initialize`
/// under a private id (its answer is not the client's), wait for that answer, then send
/// `notifications/initialized`. There is no resumption on this transport, so this is a new
/// session, as after a 404 on Streamable HTTP.
async fn reconnect(relay: &Arc<Relay>) -> Result<Url, Failure> {
    let _turn = relay.legacy.reconnecting.lock().await;
    if let Some(endpoint) = relay.legacy.endpoint() {
        return Ok(endpoint); // another message reconnected meanwhile
    }
    let wrap = |f: Failure| Failure::Reinitialize(Box::new(f));
    let Some((init, private_id)) = relay.session.reinitialize_request() else {
        return Err(wrap(Failure::NoResponse));
    };
    let Some(key) = IdKey::of(&private_id) else {
        return Err(wrap(Failure::NoResponse));
    };
    tracing::info!("reconnecting the legacy SSE stream to {}", relay.host);
    let link = crate::upstream::legacy::connect(&relay.upstream)
        .await
        .map_err(|e| wrap(e.into()))?;
    let (endpoint, events) = (link.endpoint, link.events);
    let Some(answered) = relay.pending.private(key.clone(), "initialize") else {
        return Err(wrap(Failure::NoResponse));
    };
    relay.legacy.install(relay, endpoint.clone(), events);
    let replayed = match relay.upstream.post_to(&endpoint, init).await {
        Ok(Reply::Status(meta, body)) => Err(Failure::Http(Box::new(meta), body)),
        Ok(Reply::Accepted) => tokio::time::timeout(relay.deadlines.idle, answered)
            .await
            .map_err(|_| Failure::NoResponse)
            .and_then(|r| r.map(drop).map_err(|_| Failure::LegacyStreamClosed)),
        Ok(_) => Ok(()), // answered on the POST itself: nothing to wait for
        Err(e) => Err(Failure::Net(e)),
    };
    relay.pending.take(&key);
    if let Err(failure) = replayed {
        relay.legacy.close();
        return Err(wrap(failure));
    }
    let initialized =
        Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    if let Err(e) = relay.upstream.post_to(&endpoint, initialized).await {
        tracing::warn!("legacy reconnect: notifications/initialized failed: {e:?}");
    }
    Ok(endpoint)
}

/// Relays the event stream; when it ends, every pending request (and a reconnect waiting
/// for its replayed `initialize`) learns that no answer will come.
async fn read(relay: Arc<Relay>, mut events: EventStream) {
    while let Some(item) = events.next().await {
        match item {
            Ok(mut event) => {
                if let Some(data) = event.message() {
                    relay.deliver(Bytes::from(data), &[]).await;
                }
            }
            // A quiet link is not a broken one, unless requests are waiting on it: then it
            // is the idle timeout of each of them.
            Err(NetError::Idle(_)) if relay.pending.client_count() == 0 => continue,
            Err(e) => {
                tracing::warn!("the legacy SSE stream from {} broke: {e:?}", relay.host);
                break;
            }
        }
    }
    tracing::info!(
        "the legacy SSE stream from {} closed; the next message reconnects",
        relay.host
    );
    lock(&relay.legacy.link).take();
    for key in relay.pending.keys() {
        relay.fail(&key, &Failure::LegacyStreamClosed).await;
    }
}
