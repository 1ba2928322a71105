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
    /// RFC 7009: where `auth logout` revokes the tokens.
    pub revocation_endpoint: Option<String>,
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
    resource_metadata_candidates(server, challenge)
        .into_iter()
        .map(|(url, _)| url)
        .collect()
}

/// Each metadata URL to try with the resource identifier its document must name (RFC 9728
/// §3.3): the server's URL for the challenge's URL and the path-aware one (the identifier
/// the path was inserted from); the server's origin for the root URL, which is built from
/// the origin alone. So a document may name the server or, found at the root, its origin
/// (the MCP spec's fallback, which the conformance suite uses): never a path above the
/// server, nor another origin.
pub fn resource_metadata_candidates(
    server: &Url,
    challenge: Option<&Challenge>,
) -> Vec<(Url, Url)> {
    let mut urls = Vec::new();
    if let Some(u) = challenge
        .and_then(|c| c.resource_metadata.as_deref())
        .and_then(|u| server.join(u).ok())
    {
        urls.push((u, server.clone()));
    }
    let path = server.path().trim_end_matches('/');
    if !path.is_empty()
        && let Ok(u) = server.join(&format!("/.well-known/oauth-protected-resource{path}"))
    {
        urls.push((u, server.clone()));
    }
    if let (Ok(u), Ok(origin)) = (
        server.join("/.well-known/oauth-protected-resource"),
        server.join("/"),
    ) {
        urls.push((u, origin));
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

/// What every OAuth request of one server obeys: the server it is for (loopback or not,
/// and the resource the metadata must name) and `--allow-http`.
pub struct Rules<'a> {
    pub server: &'a Url,
    pub allow_http: bool,
}

impl Rules<'_> {
    /// `net::check_url` for this server.
    pub fn check(&self, url: &Url, what: &str) -> Result<(), String> {
        super::net::check_url(self.server, url, self.allow_http, what)
    }
}

/// GETs a JSON document; `Ok(None)` for a 4xx (not there), `Err` for anything that stops
/// discovery (a URL the rules refuse, a network failure, a 5xx, a body over
/// `net::MAX_BODY`).
async fn fetch_json<T: for<'de> Deserialize<'de>>(
    http: &Client,
    rules: &Rules<'_>,
    url: &Url,
    what: &str,
) -> Result<Option<T>, String> {
    rules.check(url, what)?;
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
    let body = super::net::read_bounded(resp, &format!("{what} at {}", without_query(url))).await?;
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

/// A server's words for a log line or a message: no control characters, bounded.
pub fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// The identity of a resource: origin and path without query, fragment or trailing slash
/// (`…/mcp` and `…/mcp/` are one server; the token store is keyed on it too).
pub fn resource_key(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let path = u.path().trim_end_matches('/').to_string();
    u.set_path(&path);
    u.as_str().trim_end_matches('/').to_string()
}

/// Finds the protected-resource metadata; `Ok(None)` when the server publishes none.
pub async fn resource_metadata(
    http: &Client,
    rules: &Rules<'_>,
    challenge: Option<&Challenge>,
) -> Result<Option<ResourceMetadata>, String> {
    for (url, identifier) in resource_metadata_candidates(rules.server, challenge) {
        let what = "the server's protected-resource metadata";
        if let Some(found) = fetch_json::<ResourceMetadata>(http, rules, &url, what).await? {
            check_resource(&identifier, found.resource.as_deref())?;
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// RFC 9728 §3.3: the metadata's `resource` must be present and be the identifier its URL
/// was built from (`server`: the MCP server's URL, or its origin for the root well-known
/// URL), exactly (a trailing slash aside): a parent path or another origin is another
/// resource, whose tokens must not be sent here nor this server's credentials obtained for it.
pub fn check_resource(server: &Url, resource: Option<&str>) -> Result<(), String> {
    let Some(resource) = resource else {
        return Err(format!(
            "the protected-resource metadata for {} names no resource (RFC 9728 §3.3): \
             refusing to sign in with it",
            without_query(server)
        ));
    };
    let same = Url::parse(resource).is_ok_and(|r| resource_key(&r) == resource_key(server));
    if same {
        Ok(())
    } else {
        Err(format!(
            "the server's protected-resource metadata is for {}, not for {}: refusing to sign \
             in (RFC 9728 §3.3: a token for that resource must not be sent here)",
            printable(resource),
            without_query(server)
        ))
    }
}

/// Every endpoint the authorization server names obeys the rules (https, no internal
/// address for a remote server), since the code, the verifier, the client secret and the
/// tokens travel to them; the authorization endpoint too, as the browser is sent there.
pub fn check_endpoints(server: &Url, found: &Discovered, allow_http: bool) -> Result<(), String> {
    let s = &found.server;
    let endpoints = [
        (
            "the authorization endpoint",
            s.authorization_endpoint.as_deref(),
        ),
        ("the token endpoint", s.token_endpoint.as_deref()),
        (
            "the registration endpoint",
            s.registration_endpoint.as_deref(),
        ),
        ("the revocation endpoint", s.revocation_endpoint.as_deref()),
    ];
    for (what, raw) in endpoints {
        let Some(raw) = raw else { continue };
        let url = Url::parse(raw).map_err(|_| {
            format!(
                "the authorization server names an invalid endpoint ({})",
                printable(raw)
            )
        })?;
        super::net::check_url(server, &url, allow_http, what)?;
    }
    Ok(())
}

/// Finds the authorization server's metadata for the issuer identifier `issuer`; `Ok(None)`
/// when none is published. RFC 8414 §3.3: the document's `issuer` must be the identifier its
/// URL was built from, else it is refused (a document served for another issuer).
pub async fn server_metadata(
    http: &Client,
    rules: &Rules<'_>,
    issuer: &str,
) -> Result<Option<ServerMetadata>, String> {
    server_metadata_as(http, rules, issuer, IssuerRule::Exact).await
}

/// How a metadata document's `issuer` is checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IssuerRule {
    /// RFC 8414 §3.3: the identifier the URL was built from.
    Exact,
    /// The 2025-03-26 fallback (no protected-resource metadata): the bridge, not the server,
    /// built the URL from the MCP server's origin, and servers of that revision name their
    /// issuer freely (`https://host/oauth`, say). Any issuer on that same origin is taken:
    /// the credentials still go only to that origin, and the sign-in is bound to it.
    SameOrigin,
}

fn issuer_accepted(rule: IssuerRule, named: &str, issuer: &str) -> bool {
    super::same_issuer(named, issuer)
        || rule == IssuerRule::SameOrigin
            && matches!((Url::parse(named), Url::parse(issuer)), (Ok(n), Ok(i)) if n.origin() == i.origin())
}

async fn server_metadata_as(
    http: &Client,
    rules: &Rules<'_>,
    issuer: &str,
    rule: IssuerRule,
) -> Result<Option<ServerMetadata>, String> {
    let issuer_url = Url::parse(issuer).map_err(|_| {
        format!(
            "the authorization server {} is not a URL",
            printable(issuer)
        )
    })?;
    for url in server_metadata_urls(&issuer_url) {
        let what = "the authorization server's metadata";
        if let Some(found) = fetch_json::<ServerMetadata>(http, rules, &url, what).await? {
            if found.authorization_endpoint.is_none() || found.token_endpoint.is_none() {
                continue;
            }
            match found.issuer.as_deref() {
                Some(named) if issuer_accepted(rule, named, issuer) => {}
                named => {
                    return Err(format!(
                        "the authorization server metadata at {} is for issuer {}, not {}: \
                         refused (RFC 8414 §3.3)",
                        without_query(&url),
                        named.map_or("(none named)".into(), printable),
                        printable(issuer)
                    ));
                }
            }
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The whole discovery, after a challenge (or without one, for `auth login`).
///
/// `allow_defaults`: when the server publishes no resource metadata, use the 2025-03-26
/// rules: the authorization server is the server's origin, its metadata at the root
/// well-known URL, or else the default `/authorize`, `/token` and `/register` endpoints
/// (the last only when `allow_defaults`, since any server would then look like one).
/// `Ok(None)`: the server does not use OAuth as far as can be told.
pub async fn discover(
    http: &Client,
    rules: &Rules<'_>,
    challenge: Option<&Challenge>,
    allow_defaults: bool,
) -> Result<Option<Discovered>, String> {
    let server = rules.server;
    let resource = resource_metadata(http, rules, challenge).await?;
    let Some(resource) = resource else {
        let mut origin = server.clone();
        origin.set_path("/");
        origin.set_query(None);
        origin.set_fragment(None);
        let issuer = origin.as_str().trim_end_matches('/').to_string();
        if let Some(server_meta) =
            server_metadata_as(http, rules, &issuer, IssuerRule::SameOrigin).await?
        {
            return Ok(Some(Discovered {
                resource: None,
                issuer,
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
    let server_meta = server_metadata(http, rules, &as_url)
        .await?
        .ok_or_else(|| {
            format!(
                "the authorization server {} publishes no metadata (RFC 8414 or OpenID discovery)",
                printable(&as_url)
            )
        })?;
    Ok(Some(Discovered {
        resource: Some(resource),
        issuer: as_url.trim_end_matches('/').to_string(),
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
    fn endpoints_must_be_https_or_loopback_for_a_loopback_server() {
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
        let local = Url::parse("http://127.0.0.1:8/mcp").unwrap();
        let remote = Url::parse("https://h.example/mcp").unwrap();
        assert!(check_endpoints(&remote, &found("https://as.example/token"), false).is_ok());
        assert!(check_endpoints(&local, &found("http://127.0.0.1:9/token"), false).is_ok());
        assert!(check_endpoints(&remote, &found("http://127.0.0.1:9/token"), false).is_err());
        assert!(check_endpoints(&remote, &found("http://as.example/token"), false).is_err());
        assert!(check_endpoints(&remote, &found("http://as.example/token"), true).is_ok());
    }

    #[test]
    fn resource_must_be_this_server_exactly() {
        let server = Url::parse("https://h.example/mcp").unwrap();
        assert!(check_resource(&server, Some("https://h.example/mcp")).is_ok());
        assert!(check_resource(&server, Some("https://h.example/mcp/")).is_ok());
        assert!(check_resource(&server, None).is_err(), "missing resource");
        assert!(
            check_resource(&server, Some("https://h.example/")).is_err(),
            "parent"
        );
        assert!(check_resource(&server, Some("https://h.example")).is_err());
        assert!(check_resource(&server, Some("https://h.example/other")).is_err());
        assert!(check_resource(&server, Some("https://evil.example/mcp")).is_err());
        assert!(check_resource(&server, Some("http://h.example/mcp")).is_err());
        // Found at the root well-known URL, a document names the origin (RFC 9728 §3.3:
        // the identifier that URL was built from); found for the server, the server.
        let origins: Vec<String> = resource_metadata_candidates(&server, None)
            .iter()
            .map(|(_, id)| id.to_string())
            .collect();
        assert_eq!(origins, ["https://h.example/mcp", "https://h.example/"]);
        assert!(issuer_accepted(
            IssuerRule::SameOrigin,
            "https://h.example/oauth",
            "https://h.example"
        ));
        assert!(!issuer_accepted(
            IssuerRule::Exact,
            "https://h.example/oauth",
            "https://h.example"
        ));
        assert!(!issuer_accepted(
            IssuerRule::SameOrigin,
            "https://evil.example",
            "https://h.example"
        ));
        let root = Url::parse("https://h.example/").unwrap();
        assert!(check_resource(&root, Some("https://h.example")).is_ok());
    }

    #[test]
    fn one_key_with_or_without_the_trailing_slash() {
        let k = |u: &str| resource_key(&Url::parse(u).unwrap());
        assert_eq!(k("https://h.example/mcp"), k("https://h.example/mcp/"));
        assert_eq!(k("https://h.example/mcp?x=1"), "https://h.example/mcp");
        assert_eq!(k("https://h.example/"), "https://h.example");
        assert_ne!(k("https://h.example/mcp"), k("https://h.example/"));
    }
}
