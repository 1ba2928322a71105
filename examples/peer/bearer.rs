//! The WAzion-like bearer layer (an axum middleware in front of the rmcp service).
//!
//! It records every request in the [`RequestLog`], then lets through only those carrying
//! `Authorization: Bearer <token>` (and, when allowed, an `initialize` without a token).
//! Everything else gets the answer selected by [`AuthFailure`].

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{AuthFailure, RecordedRequest, Rejection, RequestLog};

/// The `message` of WAzion's JSON-RPC error for a missing or wrong token.
pub const UNAUTHORIZED_MESSAGE: &str = "Unauthorized: invalid or missing Bearer token. Get your token at https://www.wazion.com/dashboard → Settings.";
/// `WWW-Authenticate` of the [`AuthFailure::PlainText`] variant.
pub const PLAIN_WWW_AUTHENTICATE: &str =
    r#"Bearer realm="mcp", error="invalid_token", error_description="The access token expired""#;
/// Body of the [`AuthFailure::PlainText`] variant.
pub const PLAIN_BODY: &str = "Unauthorized";

/// Larger bodies are refused with 413 before the token check (and not recorded).
const MAX_BODY: usize = 8 << 20;

/// WAzion's 401 body, with `raw_id` (JSON text, e.g. `7`, `"a"` or `null`) as its id.
pub fn unauthorized_body(raw_id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","error":{{"code":-32000,"message":"{UNAUTHORIZED_MESSAGE}"}},"id":{raw_id}}}"#
    )
}

pub(super) struct LayerState {
    /// Shared with [`super::RunningPeer::set_token`].
    pub token: Arc<Mutex<String>>,
    pub auth_failure: AuthFailure,
    pub allow_initialize_without_token: bool,
    pub log: RequestLog,
}

/// Just the parts of a single JSON-RPC message the layer looks at; `id` kept verbatim.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    method: Option<String>,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

pub(super) async fn check(
    State(state): State<Arc<LayerState>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let mut record = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        authorization: header(&parts.headers, "authorization"),
        session_id: header(&parts.headers, "mcp-session-id"),
        protocol_version: header(&parts.headers, "mcp-protocol-version"),
        last_event_id: header(&parts.headers, "last-event-id"),
        body: bytes.to_vec(),
        rejection: None,
    };

    let expected = format!(
        "Bearer {}",
        state.token.lock().unwrap_or_else(|p| p.into_inner())
    );
    let authorized = parts
        .headers
        .get(AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    let envelope: Option<Envelope<'_>> = serde_json::from_slice(&bytes).ok();
    let is_initialize = envelope
        .as_ref()
        .is_some_and(|e| e.method.as_deref() == Some("initialize"));
    if authorized || (state.allow_initialize_without_token && is_initialize) {
        state.log.push(record);
        let request = Request::from_parts(parts, Body::from(bytes));
        return next.run(request).await;
    }

    let raw_id = envelope
        .as_ref()
        .and_then(|e| e.id)
        .map_or("null", RawValue::get);
    let rejection = match state.auth_failure {
        AuthFailure::EchoId => json_rejection(401, unauthorized_body(raw_id)),
        AuthFailure::AlwaysIdOne => json_rejection(401, unauthorized_body("1")),
        AuthFailure::Http200 => json_rejection(200, unauthorized_body(raw_id)),
        AuthFailure::PlainText => Rejection {
            status: 401,
            content_type: "text/plain".to_string(),
            www_authenticate: Some(PLAIN_WWW_AUTHENTICATE.to_string()),
            body: PLAIN_BODY.to_string(),
        },
    };
    record.rejection = Some(rejection.clone());
    state.log.push(record);
    into_response(rejection)
}

fn json_rejection(status: u16, body: String) -> Rejection {
    Rejection {
        status,
        content_type: "application/json".to_string(),
        www_authenticate: None,
        body,
    }
}

fn into_response(r: Rejection) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut response = (status, [(CONTENT_TYPE, r.content_type)], r.body).into_response();
    if let Some(challenge) = r.www_authenticate {
        match challenge.parse() {
            Ok(value) => {
                response.headers_mut().insert(WWW_AUTHENTICATE, value);
            }
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
    response
}
