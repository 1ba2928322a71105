//! Finding out how a server wants to be authorized: the `WWW-Authenticate` challenge, the
//! protected-resource metadata (RFC 9728) and the authorization server's metadata (RFC 8414,
//! OpenID Connect discovery, and the 2025-03-26 fallbacks).
//!
//! Owns no state: every function takes what it needs and returns what it found. Invariants:
//! - discovery only ever sends unauthenticated GETs (no token, no `--header`), so nothing
//!   secret reaches a metadata URL;
//! - a metadata document is used only if it parses and names the resource or issuer it was
//!   asked about (a protected resource naming another resource is refused, RFC 9728 §3.3);
//! - the well-known URLs are tried in the order the MCP authorization spec (2025-11-25) gives.

use reqwest::{Client, StatusCode, Url};
use serde::Deserialize;

/// The `Bearer` challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    pub resource_metadata: Option<String>,
    pub scope: Option<String>,
    pub error: Option<String>,
}

impl Challenge {
    pub fn insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}

/// Parses the `Bearer` challenge out of a `WWW-Authenticate` value; `None` when the header
/// holds no Bearer challenge. Parameters are `name=token` or `name="quoted"` (RFC 9110 §11).
/// Hand-written: the grammar is a dozen lines, and no maintained crate parses auth-params
/// without pulling in a whole HTTP-auth client.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let lower = header.to_ascii_lowercase();
    let start = find_scheme(&lower, "bearer")?;
    let mut rest = &header[start + "bearer".len()..];
    let mut out = Challenge::default();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim();
        if name.contains(' ') {
            // `Basic realm=…`: the next challenge begins; the Bearer one has ended.
            break;
        }
        let after = rest[eq + 1..].trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find([',', ' ']).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        match name.to_ascii_lowercase().as_str() {
            "resource_metadata" => out.resource_metadata = Some(value),
            "scope" => out.scope = Some(value),
            "error" => out.error = Some(value),
            _ => {}
        }
        rest = tail;
    }
    Some(out)
}

/// Where `scheme` starts as an auth-scheme token (at the start or after a comma or space).
fn find_scheme(lower: &str, scheme: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = lower[from..].find(scheme) {
        let at = from + i;
        let before_ok = at == 0 || matches!(lower.as_bytes()[at - 1], b' ' | b',' | b'\t');
        let after = lower.as_bytes().get(at + scheme.len());
        let after_ok = after.is_none_or(|b| *b == b' ' || *b == b'\t');
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + scheme.len();
    }
    None
}

/// Protected-resource metadata (RFC 9728), the fields the flow uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceMetadata {
    pub resource: Option<String>,
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Option<Vec<String>>,
}

/// Authorization-server metadata (RFC 8414 / OpenID discovery), the fields the flow uses.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ServerMetadata {
    pub issuer: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub registration_endpoint: Option<String>,
    pub scopes_supported: Option<Vec<String>>,
    pub code_challenge_methods_supported: Option<Vec<String>>,
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// What discovery found: the resource's metadata (absent for a 2025-03-26 server) and the
/// authorization server's.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub resource: Option<ResourceMetadata>,
    pub server: ServerMetadata,
    /// The authorization server's issuer (or the base URL it was derived from).
    pub issuer: String,
    /// True when no metadata document was found and the default endpoints are used.
    pub default_endpoints: bool,
}

/// The protected-resource metadata URLs to try, in order: the challenge's, then the
/// path-aware well-known URL, then the root one.
pub fn resource_metadata_urls(server: &Url, challenge: Option<&Challenge>) -> Vec<Url> {
    let mut urls = Vec::new();
    if let Some(u) = challenge
        .and_then(|c| c.resource_metadata.as_deref())
        .and_then(|u| server.join(u).ok())
    {
        urls.push(u);
    }
    let path = server.path().trim_end_matches('/');
    if !path.is_empty()
        && let Ok(u) = server.join(&format!("/.well-known/oauth-protected-resource{path}"))
    {
        urls.push(u);
    }
    if let Ok(u) = server.join("/.well-known/oauth-protected-resource") {
        urls.push(u);
    }
    urls
}

/// The authorization-server metadata URLs for an issuer, in the spec's order: RFC 8414 and
/// OpenID discovery, path-inserted and path-appended when the issuer has a path.
pub fn server_metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let at = |p: &str| issuer.join(p).ok();
    let list = if path.is_empty() {
        vec![
            at("/.well-known/oauth-authorization-server"),
            at("/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            at(&format!("/.well-known/oauth-authorization-server{path}")),
            at(&format!("/.well-known/openid-configuration{path}")),
            at(&format!("{path}/.well-known/openid-configuration")),
        ]
    };
    list.into_iter().flatten().collect()
}

/// GETs a JSON document; `Ok(None)` for a 4xx (not there), `Err` for anything that stops
/// discovery (network failure, a 5xx, a body that is not the document).
async fn fetch_json<T: for<'de> Deserialize<'de>>(
    http: &Client,
    url: &Url,
) -> Result<Option<T>, String> {
    let resp = http
        .get(url.clone())
        .header("accept", "application/json")
        .header(crate::protocol::HEADER_PROTOCOL_VERSION, "2025-06-18")
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot fetch {}: {}",
                without_query(url),
                crate::netutil::plain_cause(&e)
            )
        })?;
    let status = resp.status();
    if status.is_client_error() || status == StatusCode::NOT_IMPLEMENTED {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(format!(
            "{} answered HTTP {}",
            without_query(url),
            status.as_u16()
        ));
    }
    let body = resp.bytes().await.map_err(|e| {
        format!(
            "cannot read {}: {}",
            without_query(url),
            crate::netutil::plain_cause(&e)
        )
    })?;
    match serde_json::from_slice(&body) {
        Ok(v) => Ok(Some(v)),
        // A 200 that is not the document (an HTML page at a catch-all route) is "not there".
        Err(_) => Ok(None),
    }
}

/// A URL for messages: origin and path, never the query.
pub fn without_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// Finds the protected-resource metadata; `Ok(None)` when the server publishes none.
pub async fn resource_metadata(
    http: &Client,
    server: &Url,
    challenge: Option<&Challenge>,
) -> Result<Option<ResourceMetadata>, String> {
    for url in resource_metadata_urls(server, challenge) {
        if let Some(found) = fetch_json::<ResourceMetadata>(http, &url).await? {
            check_resource(server, found.resource.as_deref())?;
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// RFC 9728 §3.3 and RFC 8707: the metadata's `resource` must be this server (same origin,
/// and the server's path within the resource's path).
pub fn check_resource(server: &Url, resource: Option<&str>) -> Result<(), String> {
    let Some(resource) = resource else {
        return Ok(());
    };
    let parsed = Url::parse(resource)
        .map_err(|_| "the server's protected-resource metadata names an invalid resource")?;
    let base = parsed.path().trim_end_matches('/');
    let path = server.path();
    let path_ok = path.trim_end_matches('/') == base || path.starts_with(&format!("{base}/"));
    if parsed.origin() == server.origin() && path_ok {
        Ok(())
    } else {
        Err(format!(
            "the server's protected-resource metadata is for {resource}, not for {}: refusing \
             to sign in (a token for that resource must not be sent here)",
            without_query(server)
        ))
    }
}

/// OAuth 2.1 §1.5 and the MCP spec: the authorization server's endpoints are https (plain
/// http only to loopback, or with `--allow-http`), since the code, the verifier and the
/// tokens travel to them.
pub fn check_endpoints(found: &Discovered, allow_http: bool) -> Result<(), String> {
    let s = &found.server;
    let endpoints = [
        s.authorization_endpoint.as_deref(),
        s.token_endpoint.as_deref(),
        s.registration_endpoint.as_deref(),
    ];
    for raw in endpoints.into_iter().flatten() {
        let url = Url::parse(raw)
            .map_err(|_| format!("the authorization server names an invalid endpoint ({raw})"))?;
        let ok = match url.scheme() {
            "https" => true,
            "http" => allow_http || crate::netutil::is_loopback(&url),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "the authorization server's endpoint {} is not https: refusing to send a \
                 sign-in there (pass --allow-http if you really mean it)",
                without_query(&url)
            ));
        }
    }
    Ok(())
}

/// Finds the authorization server's metadata for `issuer`; `Ok(None)` when none is published.
pub async fn server_metadata(
    http: &Client,
    issuer: &Url,
) -> Result<Option<ServerMetadata>, String> {
    for url in server_metadata_urls(issuer) {
        if let Some(found) = fetch_json::<ServerMetadata>(http, &url).await? {
            if found.authorization_endpoint.is_none() || found.token_endpoint.is_none() {
                continue;
            }
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The whole discovery, after a challenge (or without one, for `auth login`).
///
/// `allow_fallback`: when the server publishes no resource metadata, use the 2025-03-26
/// rules: the authorization server is the server's origin, its metadata at the root
/// well-known URL, or else the default `/authorize`, `/token` and `/register` endpoints
/// (the last only when `allow_defaults`, since any server would then look like one).
/// `Ok(None)`: the server does not use OAuth as far as can be told.
pub async fn discover(
    http: &Client,
    server: &Url,
    challenge: Option<&Challenge>,
    allow_defaults: bool,
) -> Result<Option<Discovered>, String> {
    let resource = resource_metadata(http, server, challenge).await?;
    let Some(resource) = resource else {
        let mut origin = server.clone();
        origin.set_path("/");
        origin.set_query(None);
        origin.set_fragment(None);
        let issuer = origin.as_str().trim_end_matches('/').to_string();
        if let Some(server_meta) = server_metadata(http, &origin).await? {
            return Ok(Some(Discovered {
                resource: None,
                issuer: server_meta.issuer.clone().unwrap_or(issuer),
                server: server_meta,
                default_endpoints: false,
            }));
        }
        if !allow_defaults {
            return Ok(None);
        }
        let at = |p: &str| origin.join(p).ok().map(|u| u.to_string());
        return Ok(Some(Discovered {
            resource: None,
            server: ServerMetadata {
                authorization_endpoint: at("/authorize"),
                token_endpoint: at("/token"),
                registration_endpoint: at("/register"),
                ..ServerMetadata::default()
            },
            issuer,
            default_endpoints: true,
        }));
    };
    let Some(as_url) = resource.authorization_servers.first().cloned() else {
        return Err(
            "the server's protected-resource metadata names no authorization server".into(),
        );
    };
    let issuer = Url::parse(&as_url).map_err(
        |_| "the server's protected-resource metadata names an invalid authorization server",
    )?;
    let server_meta = server_metadata(http, &issuer).await?.ok_or_else(|| {
        format!(
            "the authorization server {} publishes no metadata (RFC 8414 or OpenID discovery)",
            without_query(&issuer)
        )
    })?;
    Ok(Some(Discovered {
        resource: Some(resource),
        issuer: server_meta
            .issuer
            .clone()
            .unwrap_or_else(|| as_url.trim_end_matches('/').to_string()),
        server: server_meta,
        default_endpoints: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_params_quoted_and_bare() {
        let c = parse_challenge(
            r#"Bearer realm="x", error="insufficient_scope", scope="a b", resource_metadata="https://h/.well-known/oauth-protected-resource/mcp""#,
        )
        .unwrap();
        assert_eq!(c.scope.as_deref(), Some("a b"));
        assert!(c.insufficient_scope());
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://h/.well-known/oauth-protected-resource/mcp")
        );
        let c = parse_challenge("Basic realm=\"a\", bearer error=invalid_token").unwrap();
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
        assert!(parse_challenge("Basic realm=\"a\"").is_none());
        assert_eq!(parse_challenge("Bearer"), Some(Challenge::default()));
    }

    #[test]
    fn well_known_urls_in_spec_order() {
        let server = Url::parse("https://h.example/public/mcp").unwrap();
        let urls: Vec<String> = resource_metadata_urls(&server, None)
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            urls,
            [
                "https://h.example/.well-known/oauth-protected-resource/public/mcp",
                "https://h.example/.well-known/oauth-protected-resource"
            ]
        );
        let issuer = Url::parse("https://as.example/tenant1").unwrap();
        let urls: Vec<String> = server_metadata_urls(&issuer)
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(
            urls,
            [
                "https://as.example/.well-known/oauth-authorization-server/tenant1",
                "https://as.example/.well-known/openid-configuration/tenant1",
                "https://as.example/tenant1/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        let found = |token: &str| Discovered {
            resource: None,
            server: ServerMetadata {
                authorization_endpoint: Some("https://as.example/authorize".into()),
                token_endpoint: Some(token.into()),
                ..ServerMetadata::default()
            },
            issuer: "https://as.example".into(),
            default_endpoints: false,
        };
        assert!(check_endpoints(&found("https://as.example/token"), false).is_ok());
        assert!(check_endpoints(&found("http://127.0.0.1:9/token"), false).is_ok());
        assert!(check_endpoints(&found("http://as.example/token"), false).is_err());
        assert!(check_endpoints(&found("http://as.example/token"), true).is_ok());
    }

    #[test]
    fn resource_must_be_this_server() {
        let server = Url::parse("https://h.example/mcp").unwrap();
        assert!(check_resource(&server, Some("https://h.example/mcp")).is_ok());
        assert!(check_resource(&server, Some("https://h.example/")).is_ok());
        assert!(check_resource(&server, Some("https://h.example/other")).is_err());
        assert!(check_resource(&server, Some("https://evil.example/mcp")).is_err());
    }
}
