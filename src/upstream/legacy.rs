//! The legacy HTTP+SSE transport (protocol 2024-11-05, L1–L4): one long-lived GET event
//! stream whose first event, `endpoint`, names the URL every client message is POSTed to;
//! all server messages, responses included, arrive on that stream.
//!
//! This module only opens the link (GET, wait for `endpoint`, resolve and vet the URL), for
//! `relay::legacy` and `check`; it is HTTP I/O, so it lives under `upstream`, and it reports
//! in its own [`LinkError`] (which `errors` turns into a `Failure`), so `upstream` never
//! depends on `errors`. Invariant: the message endpoint must be on the same origin as the
//! configured URL, so the token never goes to a host the user did not name.

use reqwest::Url;

use super::{EventStream, Meta, NetError, Reply, SessionHeaders, Upstream};

/// An open legacy link: where to POST, and the stream the server answers on.
pub struct Link {
    pub endpoint: Url,
    pub events: EventStream,
}

/// Why no link could be opened.
pub enum LinkError {
    /// The GET was answered with a status ≥ 300 (its body read, bounded).
    Http(Box<Meta>, bytes::Bytes),
    /// The answer was no usable event stream, or it named no usable endpoint.
    NoEndpoint(String),
    /// The GET or the stream failed.
    Net(NetError),
}

/// GETs the SSE URL and waits for the `endpoint` event (L1).
pub async fn connect(upstream: &Upstream) -> Result<Link, LinkError> {
    let mut events = match upstream.get(&SessionHeaders::default(), None).await {
        Ok(Reply::Events(_, stream)) => stream,
        Ok(Reply::Status(meta, body)) => return Err(LinkError::Http(Box::new(meta), body)),
        Ok(_) => {
            return Err(LinkError::NoEndpoint(
                "the GET did not return an event stream".into(),
            ));
        }
        Err(e) => return Err(LinkError::Net(e)),
    };
    loop {
        match events.next().await {
            Some(Ok(event)) if event.event.as_deref() == Some("endpoint") => {
                let data = event.data.unwrap_or_default();
                let endpoint = upstream.url().join(data.trim()).map_err(|e| {
                    LinkError::NoEndpoint(format!("its endpoint event is not a URL ({e})"))
                })?;
                if endpoint.origin() != upstream.url().origin() {
                    return Err(LinkError::NoEndpoint(format!(
                        "its endpoint {} is on another origin; refusing to send the token there",
                        endpoint.origin().ascii_serialization()
                    )));
                }
                return Ok(Link { endpoint, events });
            }
            Some(Ok(_)) => continue,
            // Comments are not events: a stream of keep-alives without an endpoint ends here.
            Some(Err(NetError::Idle(d))) => {
                return Err(LinkError::NoEndpoint(format!(
                    "its event stream sent no endpoint event within {} s",
                    d.as_secs()
                )));
            }
            Some(Err(e)) => return Err(LinkError::Net(e)),
            None => {
                return Err(LinkError::NoEndpoint(
                    "the event stream ended before an endpoint event".into(),
                ));
            }
        }
    }
}
