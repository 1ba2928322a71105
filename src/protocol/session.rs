//! The upstream session's state: `Mcp-Session-Id`, the negotiated protocol version, the
//! client's own `initialize` (kept to replay it when the session expires), and a generation
//! counter that lets concurrent 404s share one re-initialize (H16, H18, H20).
//!
//! Only state lives here; the HTTP exchanges that change it are in `relay`. Invariant: the
//! session id is stored as a sensitive header value and never formatted into logs.

use std::sync::Mutex;

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};

use crate::jsonrpc;

use rmcp::model::ProtocolVersion;

/// The session headers to put on a request (cloned snapshot of the session state).
#[derive(Clone, Debug, Default)]
pub struct SessionHeaders {
    pub session_id: Option<HeaderValue>,
    pub protocol_version: Option<HeaderValue>,
    /// Per-message headers (the 2026-07-28 era's `Mcp-Method`, `Mcp-Name`, …).
    pub extra: Vec<(HeaderName, HeaderValue)>,
}

/// The protocol revision that allowed JSON-RPC batches (S7).
fn batch_version() -> &'static str {
    ProtocolVersion::V_2025_03_26.as_str()
}

/// The stateless revision: no GET stream, no session (M1).
fn stateless_version() -> &'static str {
    ProtocolVersion::V_2026_07_28.as_str()
}

#[derive(Default)]
struct State {
    headers: SessionHeaders,
    version: Option<String>,
    generation: u64,
    client_initialize: Option<Bytes>,
    reinit_count: u64,
}

/// Shared session state. Every method takes the lock briefly and never across an await.
#[derive(Default)]
pub struct Session {
    state: Mutex<State>,
    /// Held while a re-initialize runs, so concurrent 404s wait for the same one.
    pub reinit_lock: tokio::sync::Mutex<()>,
}

impl Session {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// The headers for the next request and the generation they belong to.
    pub fn snapshot(&self) -> (SessionHeaders, u64) {
        self.with(|s| (s.headers.clone(), s.generation))
    }

    pub fn generation(&self) -> u64 {
        self.with(|s| s.generation)
    }

    /// The client sent `initialize`: a new session starts; the old one's headers are dropped.
    pub fn begin(&self, client_initialize: Bytes) {
        self.with(|s| {
            s.headers = SessionHeaders::default();
            s.version = None;
            s.generation += 1;
            s.client_initialize = Some(client_initialize);
        });
    }

    /// Records the session id from the initialize response (or its absence).
    pub fn set_session_id(&self, id: Option<HeaderValue>) {
        self.with(|s| s.headers.session_id = id);
    }

    /// Records the protocol version of the InitializeResult the client received.
    pub fn set_version(&self, version: &str) {
        let value = HeaderValue::from_str(version).ok();
        self.with(|s| {
            s.version = Some(version.to_string());
            s.headers.protocol_version = value;
        });
    }

    /// Installs a re-initialized session and starts a new generation.
    pub fn install(&self, id: Option<HeaderValue>, version: Option<&str>) {
        let value = version.and_then(|v| HeaderValue::from_str(v).ok());
        self.with(|s| {
            s.headers.session_id = id;
            if let Some(v) = value {
                s.headers.protocol_version = Some(v);
                s.version = version.map(str::to_string);
            }
            s.generation += 1;
        });
    }

    pub fn version(&self) -> Option<String> {
        self.with(|s| s.version.clone())
    }

    /// Whether the server answered the handshake (a session id or a version is known).
    pub fn is_open(&self) -> bool {
        self.with(|s| s.version.is_some() || s.headers.session_id.is_some())
    }

    pub fn has_session_id(&self) -> bool {
        self.with(|s| s.headers.session_id.is_some())
    }

    /// Batches go upstream as one POST only on the revision that defined them (S7).
    pub fn batches_allowed(&self) -> bool {
        self.with(|s| s.version.as_deref() == Some(batch_version()))
    }

    /// Whether the standalone GET stream exists in the negotiated revision (M1).
    pub fn has_listen_stream(&self) -> bool {
        self.with(|s| s.version.as_deref() != Some(stateless_version()))
    }

    /// The client's initialize with a fresh bridge-private id (J3), and that id; `None` when
    /// the client never sent one.
    pub fn reinitialize_request(&self) -> Option<(Bytes, String)> {
        self.with(|s| {
            let body = s.client_initialize.clone()?;
            s.reinit_count += 1;
            let id = format!("\"wazion-mcp-reinit-{}\"", s.reinit_count);
            let replayed = Bytes::from(jsonrpc::with_id(&body, &id).into_owned());
            Some((replayed, id))
        })
    }
}
