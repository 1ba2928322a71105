//! A real OAuth 2.1 authorization server and an MCP resource server that trusts it, both
//! in-process (axum), for `tests/oauth.rs`.
//!
//! The authorization server publishes RFC 8414 metadata, registers clients (RFC 7591),
//! auto-approves `/authorize` (302 to the redirect URI with `code`, `state` and `iss`),
//! checks PKCE S256, the redirect URI and the `resource` parameter at `/token`, and issues
//! and rotates refresh tokens. The resource server publishes RFC 9728 metadata (or not, like
//! WAzion), answers 401 with a Bearer challenge and a JSON-RPC body, and 403
//! `insufficient_scope` for tools that need more scope. Everything either side saw is
//! recorded in [`Seen`] for the tests to assert on.
//!
//! Hostile variants for issue 16: metadata naming another issuer or resource (or none), a
//! token endpoint that accepts any refresh token (an attacker's), a 600 MB metadata answer,
//! a challenge switched at run time to name another server's metadata, an authorization
//! endpoint with shell metacharacters, and a revocation endpoint (RFC 7009), working or not.
//! The resource server also serves as a plain-http forward proxy (it records the absolute
//! request target), which lets a test talk to a "remote" host name on 127.0.0.1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, Response, StatusCode};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How the pair behaves.
#[derive(Clone)]
pub struct PeerConfig {
    /// The resource server publishes protected-resource metadata and names it in its 401.
    pub metadata: bool,
    /// `expires_in` of every access token.
    pub expires_in: u64,
    /// `/authorize` redirects with a `state` other than the one it was given.
    pub forge_state: bool,
    /// Scopes the authorization server lists (`offline_access` makes clients ask for it).
    pub as_scopes: Vec<&'static str>,
    /// A static token the resource server also accepts (the static-token path).
    pub static_token: Option<&'static str>,
    /// `code_challenge_methods_supported` of the authorization server's metadata.
    pub pkce_methods: Vec<&'static str>,
    /// The protected-resource metadata's `resource`: `None` this server's URL, `Some(None)`
    /// left out, `Some(Some(url))` that URL (`"ROOT"`: this server's root, a parent path).
    pub resource_claim: Option<Option<String>>,
    /// The `issuer` the authorization server's metadata names (default: its own URL).
    pub issuer_claim: Option<String>,
    /// The token endpoint issues tokens for any refresh token (an attacker collecting them).
    pub accept_any_refresh: bool,
    /// The protected-resource metadata is a 600 MiB answer, streamed.
    pub huge_metadata: bool,
    /// `revocation_endpoint` in the metadata, answering with this status.
    pub revocation: Option<u16>,
    /// Raw text appended to the authorization endpoint's URL in the metadata.
    pub authorize_suffix: Option<String>,
    /// Any client id and redirect URI is accepted (a client pre-registered out of band).
    pub any_client: bool,
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            metadata: true,
            expires_in: 3600,
            forge_state: false,
            as_scopes: vec!["mcp:read", "mcp:write", "offline_access"],
            static_token: None,
            pkce_methods: vec!["S256"],
            resource_claim: None,
            issuer_claim: None,
            accept_any_refresh: false,
            huge_metadata: false,
            revocation: None,
            authorize_suffix: None,
            any_client: false,
        }
    }
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    resource: String,
}

/// What both servers saw.
#[derive(Default)]
pub struct Seen {
    pub registrations: Vec<Value>,
    /// The query parameters of every `/authorize`.
    pub authorizations: Vec<HashMap<String, String>>,
    /// The form parameters of every `/token` request, and its Authorization header.
    pub token_requests: Vec<(HashMap<String, String>, Option<String>)>,
    /// Every request to the resource server: method, path, Authorization header.
    pub resource_requests: Vec<(String, String, Option<String>)>,
    /// Requests to the authorization server, any path.
    pub as_requests: u32,
    /// The JSON-RPC method of every POST to the resource server, with whether it carried a
    /// valid token.
    pub rpc: Vec<(String, bool)>,
    /// The request target of every request to the resource server, as sent (absolute when
    /// it came as a proxy request).
    pub targets: Vec<String>,
    /// The form and Authorization header of every revocation request.
    pub revocations: Vec<(HashMap<String, String>, Option<String>)>,
    /// When set, the resource server's challenge names this metadata URL.
    pub challenge_metadata: Option<String>,
    /// Bytes of the huge metadata answer handed to the connection.
    pub streamed: Arc<std::sync::atomic::AtomicU64>,
    clients: HashMap<String, Vec<String>>,
    codes: HashMap<String, Code>,
    /// access token → (scope, still valid)
    access: HashMap<String, (String, bool)>,
    refresh: HashMap<String, String>,
    next: u32,
}

impl Seen {
    /// Makes every issued access token invalid (as if it expired at the server).
    pub fn revoke_access_tokens(&mut self) {
        for v in self.access.values_mut() {
            v.1 = false;
        }
    }
    pub fn grants(&self, grant_type: &str) -> usize {
        self.token_requests
            .iter()
            .filter(|(f, _)| f.get("grant_type").map(String::as_str) == Some(grant_type))
            .count()
    }
    /// Resource-server requests that carried no valid token.
    pub fn refused(&self) -> usize {
        self.resource_requests
            .iter()
            .filter(|(m, p, a)| {
                m == "POST"
                    && p == "/mcp"
                    && !a
                        .as_deref()
                        .and_then(|a| a.strip_prefix("Bearer "))
                        .is_some_and(|t| self.access.get(t).is_some_and(|g| g.1))
            })
            .count()
    }
}

pub struct OAuthPeer {
    pub issuer: String,
    pub mcp_url: String,
    /// `http://127.0.0.1:<port>` of the resource server (also a forward proxy).
    pub rs_base: String,
    pub seen: Arc<Mutex<Seen>>,
}

impl OAuthPeer {
    pub async fn start(config: PeerConfig) -> OAuthPeer {
        let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let rs_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", as_listener.local_addr().expect("addr"));
        let rs_base = format!("http://{}", rs_listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let ctx = Arc::new(Ctx {
            config,
            issuer: issuer.clone(),
            rs_base: rs_base.clone(),
            seen: seen.clone(),
        });
        let as_ctx = ctx.clone();
        let as_app = Router::new().fallback(move |req: Request<Body>| {
            let c = as_ctx.clone();
            async move { c.authorization_server(req).await }
        });
        let rs_ctx = ctx;
        let rs_app = Router::new().fallback(move |req: Request<Body>| {
            let c = rs_ctx.clone();
            async move { c.resource_server(req).await }
        });
        tokio::spawn(async move { axum::serve(as_listener, as_app).await.expect("AS") });
        tokio::spawn(async move { axum::serve(rs_listener, rs_app).await.expect("RS") });
        OAuthPeer {
            issuer,
            mcp_url: format!("{rs_base}/mcp"),
            rs_base,
            seen,
        }
    }

    /// The protected-resource metadata URL the resource server's challenge names.
    pub fn metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.rs_base)
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Ctx {
    config: PeerConfig,
    issuer: String,
    rs_base: String,
    seen: Arc<Mutex<Seen>>,
}

fn respond(
    status: StatusCode,
    headers: &[(&str, String)],
    body: impl Into<Body>,
) -> Response<Body> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    b.body(body.into()).expect("response")
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    respond(
        status,
        &[("content-type", "application/json".into())],
        v.to_string(),
    )
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

impl Ctx {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn metadata(&self) -> Value {
        let mut v = json!({
            "issuer": self.config.issuer_claim.clone().unwrap_or_else(|| self.issuer.clone()),
            "authorization_endpoint": format!(
                "{}/authorize{}",
                self.issuer,
                self.config.authorize_suffix.as_deref().unwrap_or("")
            ),
            "token_endpoint": format!("{}/token", self.issuer),
            "registration_endpoint": format!("{}/register", self.issuer),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": self.config.pkce_methods,
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": self.config.as_scopes,
            "authorization_response_iss_parameter_supported": true,
        });
        if self.config.revocation.is_some() {
            v["revocation_endpoint"] = json!(format!("{}/revoke", self.issuer));
        }
        v
    }

    async fn authorization_server(&self, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let path = parts.uri.path().to_string();
        let query = form(parts.uri.query().unwrap_or("").as_bytes());
        self.seen().as_requests += 1;
        match (parts.method.as_str(), path.as_str()) {
            ("GET", "/.well-known/oauth-authorization-server") => {
                json_response(StatusCode::OK, &self.metadata())
            }
            ("POST", "/register") => {
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                let mut seen = self.seen();
                seen.next += 1;
                let id = format!("client-{}", seen.next);
                let uris: Vec<String> = v["redirect_uris"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|u| u.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                seen.clients.insert(id.clone(), uris.clone());
                seen.registrations.push(v);
                json_response(
                    StatusCode::CREATED,
                    &json!({"client_id": id, "redirect_uris": uris,
                            "token_endpoint_auth_method": "none"}),
                )
            }
            ("GET", "/authorize") => self.authorize(query),
            ("POST", "/revoke") => {
                let auth = parts
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                let mut seen = self.seen();
                let f = form(&body);
                if let Some(t) = f.get("token") {
                    seen.refresh.remove(t);
                    seen.access.remove(t);
                }
                seen.revocations.push((f, auth));
                let status = self.config.revocation.unwrap_or(404);
                respond(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                    &[],
                    "",
                )
            }
            ("POST", "/token") => {
                let auth = parts
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                self.token(form(&body), auth)
            }
            _ => respond(StatusCode::NOT_FOUND, &[], "not found"),
        }
    }

    fn authorize(&self, q: HashMap<String, String>) -> Response<Body> {
        let mut seen = self.seen();
        seen.authorizations.push(q.clone());
        let get = |k: &str| q.get(k).cloned().unwrap_or_default();
        let client = get("client_id");
        let redirect = get("redirect_uri");
        let known = self.config.any_client
            || seen
                .clients
                .get(&client)
                .is_some_and(|u| u.contains(&redirect));
        if !known || get("code_challenge_method") != "S256" || get("response_type") != "code" {
            return respond(StatusCode::BAD_REQUEST, &[], "bad authorization request");
        }
        seen.next += 1;
        let code = format!("code-{}", seen.next);
        // Only scopes this server knows are granted (a request for more gets less).
        let requested = get("scope");
        let granted: Vec<&str> = requested
            .split_whitespace()
            .filter(|s| self.config.as_scopes.contains(s))
            .collect();
        seen.codes.insert(
            code.clone(),
            Code {
                client_id: client,
                redirect_uri: redirect.clone(),
                challenge: get("code_challenge"),
                scope: granted.join(" "),
                resource: get("resource"),
            },
        );
        let state = if self.config.forge_state {
            "forged-state".to_string()
        } else {
            get("state")
        };
        let mut to = url::Url::parse(&redirect).expect("redirect uri");
        to.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &state)
            .append_pair("iss", &self.issuer);
        respond(StatusCode::FOUND, &[("location", to.to_string())], "")
    }

    fn token(&self, f: HashMap<String, String>, auth: Option<String>) -> Response<Body> {
        let mut seen = self.seen();
        seen.token_requests.push((f.clone(), auth.clone()));
        // A client authenticating with Basic names itself there, not in the form.
        let basic_id = auth
            .as_deref()
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split(':').next().map(String::from));
        let get = |k: &str| match (k, &basic_id) {
            ("client_id", Some(id)) => id.clone(),
            _ => f.get(k).cloned().unwrap_or_default(),
        };
        let invalid = |what: &str| {
            json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": "invalid_grant", "error_description": what}),
            )
        };
        let scope = match get("grant_type").as_str() {
            "authorization_code" => {
                let Some(code) = seen.codes.remove(&get("code")) else {
                    return invalid("unknown code");
                };
                let digest = Sha256::digest(get("code_verifier").as_bytes());
                let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
                if expected != code.challenge
                    || code.redirect_uri != get("redirect_uri")
                    || code.client_id != get("client_id")
                    || code.resource != get("resource")
                    || code.resource != self.claimed_resource()
                {
                    return invalid("code, verifier, client, redirect or resource mismatch");
                }
                code.scope
            }
            "refresh_token" => {
                let known = seen.refresh.remove(&get("refresh_token"));
                let Some(scope) = known.or_else(|| {
                    self.config
                        .accept_any_refresh
                        .then(|| "mcp:read offline_access".to_string())
                }) else {
                    return invalid("unknown refresh token");
                };
                if get("resource") != self.claimed_resource() {
                    return invalid("resource mismatch");
                }
                scope
            }
            _ => return invalid("unsupported grant"),
        };
        seen.next += 1;
        // Unique across peers (two authorization servers in one test): the port is in it.
        let tag = self.issuer.rsplit(':').next().unwrap_or("0");
        let access = format!("at-{}-{tag}-secret", seen.next);
        let refresh = format!("rt-{}-{tag}-secret", seen.next);
        seen.access.insert(access.clone(), (scope.clone(), true));
        let mut answer = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.config.expires_in,
            "scope": scope,
        });
        if scope.split_whitespace().any(|s| s == "offline_access") {
            seen.refresh.insert(refresh.clone(), scope);
            answer["refresh_token"] = json!(refresh);
        }
        json_response(StatusCode::OK, &answer)
    }

    fn rs_url(&self) -> String {
        format!("{}/mcp", self.rs_base)
    }

    /// The resource tokens are issued for: the claimed one when the metadata claims another
    /// server's (an attacker's authorization server issues tokens for it).
    fn claimed_resource(&self) -> String {
        match &self.config.resource_claim {
            Some(Some(claim)) if claim != "ROOT" => claim.clone(),
            _ => self.rs_url(),
        }
    }

    async fn resource_server(&self, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let path = parts.uri.path().to_string();
        let auth = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        {
            let mut seen = self.seen();
            seen.resource_requests
                .push((parts.method.to_string(), path.clone(), auth.clone()));
            seen.targets.push(parts.uri.to_string());
        }
        if path.starts_with("/.well-known/oauth-protected-resource") {
            if !self.config.metadata {
                return respond(StatusCode::NOT_FOUND, &[], "not found");
            }
            if self.config.huge_metadata {
                return self.huge_answer();
            }
            let mut v = json!({
                "resource": self.rs_url(),
                "authorization_servers": [self.issuer],
                "scopes_supported": ["mcp:read"],
                "bearer_methods_supported": ["header"],
            });
            match &self.config.resource_claim {
                None => {}
                Some(None) => {
                    v.as_object_mut().map(|o| o.remove("resource"));
                }
                Some(Some(claim)) if claim == "ROOT" => {
                    v["resource"] = json!(format!("{}/", self.rs_base));
                }
                Some(Some(claim)) => v["resource"] = json!(claim),
            }
            return json_response(StatusCode::OK, &v);
        }
        if path != "/mcp" {
            return respond(StatusCode::NOT_FOUND, &[], "not found");
        }
        if parts.method != "POST" {
            return respond(StatusCode::METHOD_NOT_ALLOWED, &[], "");
        }
        self.mcp(&body, auth.as_deref())
    }

    /// 600 MiB of one JSON string, in 64 KiB chunks made on demand; counts what was taken.
    fn huge_answer(&self) -> Response<Body> {
        const CHUNK: usize = 64 * 1024;
        const TOTAL: u64 = 600 << 20;
        let counter = self.seen().streamed.clone();
        let chunks = futures::stream::unfold(0u64, move |sent| {
            let counter = counter.clone();
            async move {
                if sent >= TOTAL {
                    return None;
                }
                let chunk = if sent == 0 {
                    let mut c = br#"{"resource":""#.to_vec();
                    c.resize(CHUNK, b'a');
                    c
                } else {
                    vec![b'a'; CHUNK]
                };
                counter.fetch_add(CHUNK as u64, std::sync::atomic::Ordering::Relaxed);
                Some((
                    Ok::<_, std::io::Error>(Bytes::from(chunk)),
                    sent + CHUNK as u64,
                ))
            }
        });
        respond(
            StatusCode::OK,
            &[("content-type", "application/json".into())],
            Body::from_stream(chunks),
        )
    }

    fn challenge(&self, extra: &str) -> String {
        if let Some(url) = &self.seen().challenge_metadata {
            return format!(r#"Bearer {extra}resource_metadata="{url}""#);
        }
        if self.config.metadata {
            format!(
                r#"Bearer {extra}resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
                self.rs_base
            )
        } else {
            format!(r#"Bearer {extra}realm="mcp""#)
        }
    }

    fn mcp(&self, body: &Bytes, auth: Option<&str>) -> Response<Body> {
        let msg: Value = serde_json::from_slice(body).unwrap_or_default();
        let id = msg.get("id").cloned();
        let token = auth.and_then(|a| a.strip_prefix("Bearer "));
        let scope = {
            let mut seen = self.seen();
            let scope = match token {
                Some(t) if Some(t) == self.config.static_token => Some("mcp:read".to_string()),
                Some(t) => seen.access.get(t).filter(|g| g.1).map(|g| g.0.clone()),
                None => None,
            };
            let method = msg["method"].as_str().unwrap_or_default().to_string();
            seen.rpc.push((method, scope.is_some()));
            scope
        };
        let Some(scope) = scope else {
            let body = json!({"jsonrpc": "2.0", "id": id.clone().unwrap_or(Value::Null),
                "error": {"code": -32001, "message": "Unauthorized: sign in first"}});
            return respond(
                StatusCode::UNAUTHORIZED,
                &[
                    ("www-authenticate", self.challenge("")),
                    ("content-type", "application/json".into()),
                ],
                body.to_string(),
            );
        };
        let Some(id) = id else {
            return respond(StatusCode::ACCEPTED, &[], "");
        };
        let method = msg["method"].as_str().unwrap_or_default();
        let result = match method {
            "initialize" => json!({
                "protocolVersion": msg["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "oauth-peer", "version": "0"},
            }),
            "tools/call" => {
                if msg["params"]["name"] == "echo-headers" {
                    // A server error page that echoes the request, token included.
                    return respond(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &[("content-type", "text/html".into())],
                        format!(
                            "<h1>500</h1><pre>Authorization: {}</pre>",
                            auth.unwrap_or("")
                        ),
                    );
                }
                let needs = match msg["params"]["name"].as_str() {
                    Some("admin") => Some("mcp:write"),
                    Some("impossible") => Some("mcp:never"),
                    _ => None,
                };
                if let Some(needed) = needs
                    && !scope.split_whitespace().any(|s| s == needed)
                {
                    let extra =
                        format!(r#"error="insufficient_scope", scope="mcp:read {needed}", "#);
                    return respond(
                        StatusCode::FORBIDDEN,
                        &[("www-authenticate", self.challenge(&extra))],
                        "insufficient scope",
                    );
                }
                json!({"content": [{"type": "text", "text": format!("ok with {scope}")}]})
            }
            "tools/list" => json!({"tools": []}),
            _ => json!({}),
        };
        json_response(
            StatusCode::OK,
            &json!({"jsonrpc": "2.0", "id": id, "result": result}),
        )
    }
}
