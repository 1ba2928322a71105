//! The OAuth 2.1 exchanges themselves, on top of the `oauth2` crate: the client's identity
//! (pre-registered, Client ID Metadata Document, or Dynamic Client Registration), the
//! authorization-code flow with PKCE S256 and the `resource` parameter (RFC 8707), the code
//! exchange and the refresh.
//!
//! Invariants:
//! - an authorization server that does not list `S256` in its metadata is refused;
//! - the `iss` of the authorization response is checked against the issuer (RFC 9207);
//! - every token request carries `resource`, the server's canonical URL;
//! - no error text built here contains a token, a code, a verifier or a client secret:
//!   token-endpoint errors are reduced to the server's `error` and `error_description`.
//!
//! `oauth2` 5 ships an adapter for reqwest 0.12 only; the bridge uses reqwest 0.13, so the
//! adapter (`http_call`) is written here: `oauth2` accepts any async function from
//! `http::Request<Vec<u8>>` to `http::Response<Vec<u8>>` as its client. Dynamic Client
//! Registration (RFC 7591) is not in `oauth2` (only in `openidconnect`, which would bring a
//! JOSE stack for one POST), so it is one JSON POST here.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use reqwest::{Client, Url};
use serde_json::json;

use super::browser;
use super::discovery::{Discovered, without_query};
use super::store::{ClientIdentity, Stored, now_secs};

pub use crate::config::OAuthIdentity as Identity;

/// The error type of the adapter: the plain words of a reqwest failure.
#[derive(Debug)]
pub struct HttpError(String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

/// `oauth2`'s HTTP client over our reqwest: redirects are not followed (the client passed in
/// is built without them), bodies are read up to `net::MAX_BODY` within the caller's timeout.
async fn http_call(
    client: Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, HttpError> {
    let request = reqwest::Request::try_from(request)
        .map_err(|e| HttpError(crate::netutil::plain_cause(&e)))?;
    let resp = client
        .execute(request)
        .await
        .map_err(|e| HttpError(crate::netutil::plain_cause(&e)))?;
    let mut builder = oauth2::http::Response::builder().status(resp.status());
    for (name, value) in resp.headers() {
        builder = builder.header(name, value);
    }
    let body = super::net::read_bounded(resp, "the authorization server's answer")
        .await
        .map_err(HttpError)?;
    builder.body(body).map_err(|e| HttpError(e.to_string()))
}

/// Picks the token-endpoint authentication for a client with or without a secret, from what
/// the server advertises (RFC 8414: `client_secret_basic` when it says nothing).
fn auth_method(advertised: Option<&[String]>, has_secret: bool) -> &'static str {
    let supports = |m: &str| advertised.is_none_or(|l| l.iter().any(|x| x == m));
    if !has_secret {
        return "none";
    }
    match advertised {
        None => "client_secret_basic",
        Some(_) if supports("client_secret_basic") => "client_secret_basic",
        Some(_) if supports("client_secret_post") => "client_secret_post",
        Some(_) => "client_secret_basic",
    }
}

/// The method to ask for at registration: `none` when allowed (a native app keeps no
/// secret), else what the server lists first of the two secret methods.
fn registration_method(advertised: Option<&[String]>) -> &'static str {
    match advertised {
        None => "client_secret_basic",
        Some(l) if l.iter().any(|m| m == "none") => "none",
        Some(l) if l.iter().any(|m| m == "client_secret_basic") => "client_secret_basic",
        Some(l) if l.iter().any(|m| m == "client_secret_post") => "client_secret_post",
        Some(_) => "none",
    }
}

/// The client identity to use with this authorization server: the stored one when it is
/// for the same issuer, else pre-registration, CIMD, or a new registration (which binds the
/// callback port it names).
pub async fn identity(
    http: &Client,
    found: &Discovered,
    configured: &Identity,
    stored: Option<&Stored>,
    listener: &browser::Listener,
) -> Result<ClientIdentity, String> {
    let advertised = found
        .server
        .token_endpoint_auth_methods_supported
        .as_deref();
    if let Some(id) = &configured.client_id {
        return Ok(ClientIdentity {
            client_id: id.clone(),
            client_secret: configured.client_secret.clone(),
            auth_method: auth_method(advertised, configured.client_secret.is_some()).into(),
            kind: "pre-registered".into(),
            redirect_port: None,
        });
    }
    if let Some(url) = &configured.metadata_url
        && found.server.client_id_metadata_document_supported
    {
        return Ok(ClientIdentity {
            client_id: url.clone(),
            client_secret: None,
            auth_method: "none".into(),
            kind: "metadata-document".into(),
            redirect_port: None,
        });
    }
    if let Some(s) = stored
        && s.issuer == found.issuer
        && s.client.kind == "registered"
        && s.client.redirect_port == Some(listener.port)
    {
        return Ok(s.client.clone());
    }
    let Some(endpoint) = &found.server.registration_endpoint else {
        return Err(format!(
            "the authorization server {} offers no dynamic client registration: register \
             wazion-mcp there (redirect URI http://127.0.0.1/callback, any port) and pass \
             --oauth-client-id (and --oauth-client-secret-env)",
            found.issuer
        ));
    };
    register(
        http,
        endpoint,
        &listener.redirect_uri(),
        registration_method(advertised),
    )
    .await
    .map(|mut c| {
        c.redirect_port = Some(listener.port);
        c
    })
}

/// Dynamic Client Registration (RFC 7591).
async fn register(
    http: &Client,
    endpoint: &str,
    redirect_uri: &str,
    method: &str,
) -> Result<ClientIdentity, String> {
    let endpoint_url =
        Url::parse(endpoint).map_err(|_| "the registration endpoint is not a URL".to_string())?;
    let body = json!({
        "client_name": "wazion-mcp",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
    });
    let resp = http
        .post(endpoint_url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| {
            format!(
                "client registration at {} failed: {}",
                without_query(&endpoint_url),
                crate::netutil::plain_cause(&e)
            )
        })?;
    let status = resp.status();
    let bytes = super::net::read_bounded(resp, "the client registration answer").await?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    if !status.is_success() {
        return Err(format!(
            "the authorization server refused to register wazion-mcp (HTTP {}{})",
            status.as_u16(),
            text("error").map(|e| format!(": {e}")).unwrap_or_default()
        ));
    }
    let client_id =
        text("client_id").ok_or("the client registration answer has no client_id".to_string())?;
    let client_secret = text("client_secret");
    let method = text("token_endpoint_auth_method").unwrap_or_else(|| {
        if client_secret.is_some() {
            method.to_string()
        } else {
            "none".into()
        }
    });
    Ok(ClientIdentity {
        client_id,
        client_secret,
        auth_method: method,
        kind: "registered".into(),
        redirect_port: None,
    })
}

/// The scope to ask for: the challenge's, else the resource's `scopes_supported`, else none;
/// plus `offline_access` when the authorization server lists it (for a refresh token).
pub fn choose_scope(found: &Discovered, challenge_scope: Option<&str>) -> Option<String> {
    let mut scopes: Vec<String> = match challenge_scope {
        Some(s) => s.split_whitespace().map(str::to_string).collect(),
        None => found
            .resource
            .as_ref()
            .and_then(|r| r.scopes_supported.clone())
            .unwrap_or_default(),
    };
    let offline = found
        .server
        .scopes_supported
        .as_ref()
        .is_some_and(|l| l.iter().any(|s| s == "offline_access"));
    if offline && !scopes.iter().any(|s| s == "offline_access") {
        scopes.push("offline_access".into());
    }
    (!scopes.is_empty()).then(|| scopes.join(" "))
}

type Oauth = BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn oauth_client(found: &Discovered, id: &ClientIdentity, redirect: &str) -> Result<Oauth, String> {
    let auth = found
        .server
        .authorization_endpoint
        .clone()
        .ok_or("the authorization server has no authorization endpoint")?;
    let token = found
        .server
        .token_endpoint
        .clone()
        .ok_or("the authorization server has no token endpoint")?;
    let mut client = BasicClient::new(ClientId::new(id.client_id.clone()))
        .set_auth_uri(AuthUrl::new(auth).map_err(|_| "invalid authorization endpoint URL")?)
        .set_token_uri(TokenUrl::new(token).map_err(|_| "invalid token endpoint URL")?)
        .set_redirect_uri(RedirectUrl::new(redirect.to_string()).map_err(|_| "invalid redirect")?)
        .set_auth_type(if id.auth_method == "client_secret_post" {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        });
    // With `none`, oauth2 sends the client_id in the body and no Authorization header.
    if id.auth_method != "none"
        && let Some(secret) = &id.client_secret
    {
        client = client.set_client_secret(ClientSecret::new(secret.clone()));
    }
    Ok(client)
}

/// PKCE S256 must be listed in the server's metadata (without metadata, the 2025-03-26
/// default endpoints, S256 is used without asking).
pub fn require_s256(found: &Discovered) -> Result<(), String> {
    let s256 = found
        .server
        .code_challenge_methods_supported
        .as_ref()
        .is_some_and(|l| l.iter().any(|m| m == "S256"));
    if s256 || found.default_endpoints {
        Ok(())
    } else {
        Err(format!(
            "the authorization server {} does not list PKCE S256 support \
             (code_challenge_methods_supported): refusing to sign in there",
            found.issuer
        ))
    }
}

/// The authorization-code flow: browser, callback, code exchange. Returns the new tokens.
#[allow(clippy::too_many_arguments)]
pub async fn authorize(
    http: &Client,
    found: &Discovered,
    id: &ClientIdentity,
    listener: browser::Listener,
    resource: &str,
    scope: Option<&str>,
    timeout: Duration,
) -> Result<oauth2::basic::BasicTokenResponse, String> {
    require_s256(found)?;
    let redirect = listener.redirect_uri();
    let client = oauth_client(found, id, &redirect)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .add_extra_param("resource", resource);
    if let Some(scope) = scope {
        request = request.add_scopes(scope.split_whitespace().map(|s| Scope::new(s.into())));
    }
    let (url, state) = request.url();
    browser::open(url.as_str());
    let callback = listener.wait(state.secret(), timeout).await?;
    check_iss(found, callback.iss.as_deref())?;
    let http_fn = |req| http_call(http.clone(), req);
    client
        .exchange_code(AuthorizationCode::new(callback.code))
        .set_pkce_verifier(verifier)
        .add_extra_param("resource", resource)
        .request_async(&http_fn)
        .await
        .map_err(|e| token_error("exchanging the authorization code", e))
}

/// RFC 9207: an `iss` in the response must be the issuer; it must be there when the server
/// says it sends one.
fn check_iss(found: &Discovered, iss: Option<&str>) -> Result<(), String> {
    let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    match iss {
        Some(iss) if !same(iss, &found.issuer) => Err(format!(
            "the authorization response came from issuer {iss}, not {}: refused (RFC 9207)",
            found.issuer
        )),
        None if found.server.authorization_response_iss_parameter_supported => Err(format!(
            "the authorization response lacks the iss parameter {} promised: refused (RFC 9207)",
            found.issuer
        )),
        _ => Ok(()),
    }
}

/// Exchanges a refresh token.
pub async fn refresh(
    http: &Client,
    found: &Discovered,
    id: &ClientIdentity,
    refresh_token: &str,
    resource: &str,
) -> Result<oauth2::basic::BasicTokenResponse, String> {
    let redirect = browser::redirect_uri(id.redirect_port.unwrap_or(0));
    let client = oauth_client(found, id, &redirect)?;
    let token = RefreshToken::new(refresh_token.to_string());
    let http_fn = |req| http_call(http.clone(), req);
    client
        .exchange_refresh_token(&token)
        .add_extra_param("resource", resource)
        .request_async(&http_fn)
        .await
        .map_err(|e| token_error("refreshing the access token", e))
}

/// Merges a token response into the stored sign-in (a refresh without a new refresh token
/// keeps the old one).
pub fn apply(stored: &mut Stored, tokens: &oauth2::basic::BasicTokenResponse) {
    stored.access_token = Some(tokens.access_token().secret().clone());
    if let Some(rt) = tokens.refresh_token() {
        stored.refresh_token = Some(rt.secret().clone());
    }
    stored.expires_at = tokens
        .expires_in()
        .map(|d| now_secs().saturating_add(d.as_secs()));
    if let Some(scopes) = tokens.scopes() {
        stored.scope = Some(
            scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    stored.obtained_at = now_secs();
}

/// RFC 7009: revokes the stored refresh token and access token at `endpoint`, with the
/// client's own authentication. Each failure is returned in words (never with a token);
/// `Ok(n)`: `n` tokens revoked.
///
/// One form POST per token, written here rather than with `oauth2`'s `revoke_token`: that
/// refuses any http revocation URL, while the bridge's rules (`net::check_url`) allow plain
/// http to a loopback authorization server of a loopback MCP server, as for every other
/// endpoint.
pub async fn revoke(http: &Client, endpoint: &str, stored: &Stored) -> Result<usize, String> {
    let url = Url::parse(endpoint).map_err(|_| "the revocation endpoint is not a URL")?;
    // The refresh token first: revoking it also ends the access tokens issued with it at
    // most servers (RFC 7009 §2.1).
    let tokens = [
        ("refresh_token", stored.refresh_token.as_deref()),
        ("access_token", stored.access_token.as_deref()),
    ];
    let id = &stored.client;
    let mut done = 0;
    let mut failures = Vec::new();
    for (hint, token) in tokens {
        let Some(token) = token else { continue };
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("token", token)
            .append_pair("token_type_hint", hint);
        let mut request = http
            .post(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        match (id.auth_method.as_str(), &id.client_secret) {
            ("client_secret_basic", Some(secret)) => {
                // RFC 6749 §2.3.1: both parts form-encoded before Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                request = request.basic_auth(enc(&id.client_id), Some(enc(secret)));
            }
            ("client_secret_post", Some(secret)) => {
                form.append_pair("client_id", &id.client_id)
                    .append_pair("client_secret", secret);
            }
            _ => {
                form.append_pair("client_id", &id.client_id);
            }
        }
        let what = hint.replace('_', " ");
        let outcome = match request.body(form.finish()).send().await {
            Err(e) => Err(crate::netutil::plain_cause(&e)),
            Ok(resp) => {
                let status = resp.status();
                let body = super::net::read_bounded(resp, "the revocation answer")
                    .await
                    .unwrap_or_default();
                if status.is_success() {
                    Ok(())
                } else {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let error = v.get("error").and_then(|e| e.as_str()).map(printable);
                    Err(format!(
                        "HTTP {}{}",
                        status.as_u16(),
                        error.map(|e| format!(", {e}")).unwrap_or_default()
                    ))
                }
            }
        };
        match outcome {
            Ok(()) => done += 1,
            Err(e) => failures.push(format!("revoking the {what} failed: {e}")),
        }
    }
    if failures.is_empty() {
        Ok(done)
    } else {
        Err(failures.join("; "))
    }
}

fn printable(s: &str) -> String {
    super::discovery::printable(s)
}

/// A token-endpoint failure in words, without anything secret: the server's error code and
/// description, or the network cause; never the response body.
fn token_error(
    what: &str,
    e: RequestTokenError<HttpError, oauth2::basic::BasicErrorResponse>,
) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => format!(
            "{what} failed: the authorization server said {}{}",
            r.error(),
            r.error_description()
                .map(|d| format!(" ({})", d.chars().take(300).collect::<String>()))
                .unwrap_or_default()
        ),
        RequestTokenError::Request(e) => format!("{what} failed: {e}"),
        RequestTokenError::Parse(..) => {
            format!("{what} failed: the authorization server's answer is not a token response")
        }
        RequestTokenError::Other(_) => {
            format!("{what} failed: the authorization server answered unexpectedly")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::discovery::{ResourceMetadata, ServerMetadata};

    fn found(challenge_scopes: Option<Vec<&str>>, as_scopes: Option<Vec<&str>>) -> Discovered {
        let list = |v: Option<Vec<&str>>| v.map(|l| l.into_iter().map(String::from).collect());
        Discovered {
            resource: Some(ResourceMetadata {
                resource: None,
                authorization_servers: vec![],
                scopes_supported: list(challenge_scopes),
            }),
            server: ServerMetadata {
                scopes_supported: list(as_scopes),
                ..ServerMetadata::default()
            },
            issuer: "https://as".into(),
            default_endpoints: false,
        }
    }

    #[test]
    fn scope_from_challenge_then_metadata_then_none() {
        let f = found(Some(vec!["a", "b"]), None);
        assert_eq!(choose_scope(&f, Some("x")).as_deref(), Some("x"));
        assert_eq!(choose_scope(&f, None).as_deref(), Some("a b"));
        assert_eq!(choose_scope(&found(None, None), None), None);
        let f = found(Some(vec!["a"]), Some(vec!["a", "offline_access"]));
        assert_eq!(choose_scope(&f, None).as_deref(), Some("a offline_access"));
    }

    #[test]
    fn token_endpoint_auth_follows_the_advertised_list() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let post = l(&["client_secret_post"]);
        let basic = l(&["client_secret_basic"]);
        let both = l(&["none", "client_secret_basic"]);
        assert_eq!(auth_method(None, true), "client_secret_basic");
        assert_eq!(auth_method(Some(&post), true), "client_secret_post");
        assert_eq!(auth_method(Some(&basic), false), "none");
        assert_eq!(registration_method(Some(&both)), "none");
        assert_eq!(registration_method(Some(&post)), "client_secret_post");
    }

    #[test]
    fn iss_must_match_when_present_or_promised() {
        let mut f = found(None, None);
        assert!(check_iss(&f, None).is_ok());
        assert!(check_iss(&f, Some("https://as/")).is_ok());
        assert!(check_iss(&f, Some("https://evil")).is_err());
        f.server.authorization_response_iss_parameter_supported = true;
        assert!(check_iss(&f, None).is_err());
    }
}
