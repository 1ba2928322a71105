//! OAuth 2.1 for servers that ask for it (MCP authorization, spec 2025-11-25): the
//! [`Authorizer`] holds the current access token, and turns a server's 401 (or a 403
//! `insufficient_scope`) into a refresh or a browser sign-in, after which the request is
//! sent again.
//!
//! It exists only when no static credential is configured (`--auth auto` without a token or
//! an `Authorization` header, or `--auth oauth`): the static-token path never reaches this
//! module. Invariants:
//! - one sign-in or refresh at a time (a mutex): concurrent 401s wait for it, and a request
//!   sent with an older token than the current one is simply sent again;
//! - in `auto` mode a 401 leads to a sign-in only when the server publishes OAuth metadata
//!   (protected-resource metadata, or an RFC 8414 document at its origin); otherwise the
//!   401 reaches the client unchanged, and discovery is not tried again in this process;
//! - the access token is read per request ([`Authorizer::current`]): a refresh takes effect
//!   on the next request without rebuilding anything;
//! - tokens live in memory, in sensitive `HeaderValue`s, and in the 0600 file of `store`;
//!   they never reach a log line or an error text.

pub mod browser;
pub mod command;
pub mod discovery;
pub mod flow;
pub mod net;
pub mod store;

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Client, StatusCode, Url};

use discovery::{Challenge, Discovered};
use store::Stored;

/// Refresh when the access token expires within this many seconds.
const REFRESH_MARGIN_SECS: u64 = 60;
/// The longest one request to an authorization server may take.
const AS_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub use crate::config::{OAuthMode as Mode, OAuthSettings};

/// What to do with a request the server refused.
#[derive(Debug)]
pub enum Verdict {
    /// New credentials are in place: send it again.
    Retry,
    /// Not an OAuth matter (or nothing more can be done): relay the server's answer.
    Relay,
    /// The sign-in failed: answer the request with this error.
    Fail(String),
}

struct Current {
    header: Option<HeaderValue>,
    generation: u64,
    expires_at: Option<u64>,
    refreshable: bool,
}

#[derive(Default)]
struct State {
    /// The sign-in in use; `None` also after discovery named another issuer than its own.
    stored: Option<Stored>,
    found: Option<Discovered>,
    not_oauth: bool,
    /// The issuer the saved sign-in (and a configured client secret used with it) belongs
    /// to: a client secret is never sent to another one.
    bound_issuer: Option<String>,
}

/// How to reach authorization servers: the MCP server's connection settings.
#[derive(Clone)]
pub struct HttpSettings {
    connect_timeout: Duration,
    extra_ca_pem: Option<Vec<u8>>,
    proxy: Option<String>,
    /// The MCP server is on loopback: its sign-in (whose authorization server may then be
    /// plain http on loopback too) goes through no proxy.
    direct: bool,
}

impl HttpSettings {
    pub fn of(settings: &crate::config::Settings) -> Self {
        Self {
            connect_timeout: settings.connect_timeout,
            extra_ca_pem: settings.extra_ca_pem.clone(),
            proxy: settings.proxy.clone(),
            direct: crate::netutil::is_loopback(&settings.url),
        }
    }

    /// For `auth logout`, which has only a URL: the defaults (and the system's proxy).
    pub fn defaults() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            extra_ca_pem: None,
            proxy: None,
            direct: false,
        }
    }

    /// A client for authorization servers, with the same connection settings as the MCP
    /// server's (CA file, proxy, connect timeout) but no redirects, no configured headers,
    /// and, for a server that is not loopback, a resolver that never connects to an internal
    /// address (`net`).
    fn client(&self, server: &Url) -> Result<Client, String> {
        let mut builder = Client::builder()
            .user_agent(concat!("wazion-mcp/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.connect_timeout)
            .timeout(AS_REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &self.extra_ca_pem
            && let Ok(certs) = reqwest::Certificate::from_pem_bundle(pem)
        {
            builder = builder.tls_certs_merge(certs);
        }
        // No proxy at all for a loopback MCP server's sign-in (issue 16 item 6): its
        // authorization server may be plain http on loopback, and get the code, the verifier
        // and the tokens.
        let direct = self.direct || crate::netutil::is_loopback(server);
        builder = crate::netutil::with_proxy(builder, self.proxy.as_deref(), direct)
            .map_err(|e| format!("--proxy is not usable: {}", crate::netutil::plain_cause(&e)))?;
        if let Some(resolver) = net::resolver(server, self.proxy.as_deref()) {
            builder = builder.dns_resolver(resolver);
        }
        builder.build().map_err(|e| {
            format!(
                "cannot set up the HTTP client for sign-in: {}",
                crate::netutil::plain_cause(&e)
            )
        })
    }
}

/// The OAuth state of one server.
pub struct Authorizer {
    server: Url,
    settings: OAuthSettings,
    /// Built on first use: a bridge that never meets a 401 never loads a CA store for it.
    http: std::sync::OnceLock<Client>,
    http_settings: HttpSettings,
    file: Option<PathBuf>,
    current: RwLock<Current>,
    /// The access tokens replaced by the last refreshes (newest last, at most
    /// [`RETIRED_TOKENS`]): a server may still echo one in an error, which must not leak.
    retired: std::sync::Mutex<std::collections::VecDeque<String>>,
    state: tokio::sync::Mutex<State>,
}

/// How many replaced access tokens are kept to be cut out of error answers.
const RETIRED_TOKENS: usize = 4;

impl Authorizer {
    /// Loads the stored sign-in for `server`, if any.
    pub fn new(server: Url, settings: OAuthSettings, http_settings: HttpSettings) -> Self {
        let file = settings.dir.as_ref().map(|d| store::open_for(d, &server));
        let stored = file.as_deref().and_then(store::load);
        let current = current_of(stored.as_ref(), 1);
        Self {
            server,
            settings,
            http: std::sync::OnceLock::new(),
            http_settings,
            file,
            current: RwLock::new(current),
            retired: std::sync::Mutex::new(std::collections::VecDeque::new()),
            state: tokio::sync::Mutex::new(State {
                bound_issuer: stored.as_ref().map(|s| s.issuer.clone()),
                stored,
                ..State::default()
            }),
        }
    }

    /// The client for authorization servers, built on first use.
    fn http(&self) -> Result<&Client, String> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let client = self.http_settings.client(&self.server)?;
        Ok(self.http.get_or_init(|| client))
    }

    /// The `Authorization` value to send now, and its generation (to tell, after a 401,
    /// whether the token has changed since).
    pub fn current(&self) -> (Option<HeaderValue>, u64) {
        let c = self.current.read().unwrap_or_else(|p| p.into_inner());
        (c.header.clone(), c.generation)
    }

    /// The current access token itself, to cut out of error answers (never logged).
    pub fn token_text(&self) -> Option<String> {
        let (header, _) = self.current();
        let header = header?;
        let text = header.to_str().ok()?;
        text.strip_prefix("Bearer ").map(str::to_string)
    }

    /// The current access token and those the last refreshes replaced, to cut out of error
    /// answers (never logged).
    pub fn token_texts(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .retired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        all.extend(self.token_text());
        all
    }

    /// Refreshes ahead of time when the token is about to expire (best effort: a failure
    /// leaves it to the server's 401).
    pub async fn before_request(&self) {
        let (due, generation) = {
            let c = self.current.read().unwrap_or_else(|p| p.into_inner());
            let due = c.refreshable
                && c.expires_at
                    .is_some_and(|at| at <= store::now_secs() + REFRESH_MARGIN_SECS);
            (due, c.generation)
        };
        if !due {
            return;
        }
        let mut st = self.state.lock().await;
        if self.current().1 != generation {
            return;
        }
        if let Err(e) = self.refresh(&mut st).await {
            tracing::info!("refreshing the access token ahead of expiry failed: {e}");
        }
    }

    /// Decides what to do after the server answered `status` with `www_authenticate` to a
    /// request sent with token generation `sent`.
    ///
    /// The decision (and any sign-in) runs on a task of its own: a request that stops waiting
    /// (the era probe's own time limit, a `--request-timeout`, a cancel) does not cancel the
    /// sign-in the user is in the middle of; the next request waits for it and uses its token.
    pub async fn on_denied(
        self: &std::sync::Arc<Self>,
        status: StatusCode,
        www_authenticate: Option<&str>,
        sent: u64,
    ) -> Verdict {
        let this = self.clone();
        let challenge = www_authenticate.map(str::to_string);
        match tokio::spawn(async move { this.decide(status, challenge.as_deref(), sent).await })
            .await
        {
            Ok(verdict) => verdict,
            Err(_) => Verdict::Fail("the sign-in stopped unexpectedly".into()),
        }
    }

    async fn decide(
        &self,
        status: StatusCode,
        www_authenticate: Option<&str>,
        sent: u64,
    ) -> Verdict {
        let challenge = www_authenticate.and_then(discovery::parse_challenge);
        let step_up = status == StatusCode::FORBIDDEN
            && challenge
                .as_ref()
                .is_some_and(Challenge::insufficient_scope);
        if status != StatusCode::UNAUTHORIZED && !step_up {
            return Verdict::Relay;
        }
        let mut st = self.state.lock().await;
        if self.current().1 != sent {
            return Verdict::Retry;
        }
        if st.not_oauth {
            return Verdict::Relay;
        }
        if let Err(verdict) = self.ensure_discovered(&mut st, challenge.as_ref()).await {
            return verdict;
        }
        if !step_up
            && st
                .stored
                .as_ref()
                .is_some_and(|s| s.refresh_token.is_some())
        {
            match self.refresh(&mut st).await {
                Ok(()) => return Verdict::Retry,
                Err(e) => {
                    tracing::warn!("refreshing the access token failed ({e}); signing in again")
                }
            }
        }
        if !self.settings.interactive {
            return Verdict::Relay;
        }
        let mut scope = challenge.as_ref().and_then(|c| c.scope.clone());
        let held = st.stored.as_ref().and_then(|s| s.scope.clone());
        if step_up && covers(held.as_deref(), scope.as_deref()) {
            // The token already has every scope the server names and is still refused: a new
            // sign-in would ask for the same and loop the user through the browser.
            return Verdict::Relay;
        }
        if step_up
            && let (Some(wanted), Some(had)) = (
                scope.as_deref(),
                st.stored.as_ref().and_then(|s| s.scope.as_deref()),
            )
        {
            let mut all: Vec<&str> = had.split_whitespace().collect();
            for s in wanted.split_whitespace() {
                if !all.contains(&s) {
                    all.push(s);
                }
            }
            scope = Some(all.join(" "));
        }
        match self.sign_in(&mut st, scope.as_deref()).await {
            Ok(()) => Verdict::Retry,
            Err(e) => {
                tracing::error!("sign-in to {} failed: {e}", self.server_label());
                Verdict::Fail(e)
            }
        }
    }

    /// `auth login`: discovery (from a probe's challenge or the well-known URLs) and a new
    /// browser sign-in, whatever is stored.
    pub async fn login(&self) -> Result<Stored, String> {
        let mut st = self.state.lock().await;
        let challenge = self.probe_challenge().await?;
        if let Err(v) = self.ensure_discovered(&mut st, challenge.as_ref()).await {
            return Err(match v {
                Verdict::Fail(e) => e,
                _ => format!(
                    "{} publishes no OAuth metadata: it does not use OAuth sign-in (use a \
                     token, or pass --auth oauth to try the default endpoints)",
                    self.server_label()
                ),
            });
        }
        self.sign_in(&mut st, challenge.as_ref().and_then(|c| c.scope.as_deref()))
            .await?;
        st.stored
            .clone()
            .ok_or_else(|| "the sign-in stored nothing".into())
    }

    /// What is stored for this server (never shown: the tokens themselves).
    pub fn stored(&self) -> Option<Stored> {
        self.file.as_deref().and_then(store::load)
    }

    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    fn server_label(&self) -> String {
        discovery::without_query(&self.server)
    }

    /// POSTs an unauthenticated `ping` to read the server's challenge, if it sends one.
    async fn probe_challenge(&self) -> Result<Option<Challenge>, String> {
        let resp = self
            .http()?
            .post(self.server.clone())
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","id":"wazion-mcp-auth-probe","method":"ping"}"#)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot reach {}: {}",
                    self.server_label(),
                    crate::netutil::plain_cause(&e)
                )
            })?;
        Ok(resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .and_then(discovery::parse_challenge))
    }

    /// Fills `st.found`; `Err(Relay)` when the server does not use OAuth, `Err(Fail)` when
    /// it does but its metadata cannot be used.
    async fn ensure_discovered(
        &self,
        st: &mut State,
        challenge: Option<&Challenge>,
    ) -> Result<(), Verdict> {
        let named = challenge.is_some_and(|c| c.resource_metadata.is_some());
        if st.found.is_some() && !named {
            return Ok(());
        }
        let forced = self.settings.mode == Mode::Forced;
        let http = self.http().map_err(Verdict::Fail)?;
        let rules = discovery::Rules {
            server: &self.server,
            allow_http: self.settings.allow_http,
        };
        match discovery::discover(http, &rules, challenge, forced).await {
            Ok(Some(found)) => {
                discovery::check_endpoints(&self.server, &found, self.settings.allow_http)
                    .map_err(Verdict::Fail)?;
                self.unbind_other_issuer(st, &found.issuer);
                st.found = Some(found);
                Ok(())
            }
            Ok(None) => {
                st.not_oauth = true;
                Err(Verdict::Relay)
            }
            Err(e) if !named && !forced => {
                tracing::debug!("no usable OAuth metadata ({e}); relaying the server's answer");
                st.not_oauth = true;
                Err(Verdict::Relay)
            }
            Err(e) => Err(Verdict::Fail(e)),
        }
    }

    /// A stored sign-in belongs to the authorization server that issued it: when discovery
    /// names another issuer, its tokens and client are not used any more (never sent there:
    /// RFC 9700 §4.10, issue 16) and the next step is a new sign-in. The saved file keeps the
    /// old sign-in until the new one replaces it, so `auth status` reports what is stored.
    fn unbind_other_issuer(&self, st: &mut State, issuer: &str) {
        let Some(stored) = &st.stored else { return };
        if same_issuer(&stored.issuer, issuer) {
            return;
        }
        tracing::warn!(
            "{} now names the authorization server {} instead of {}, where this sign-in \
             was made: its tokens and client are not sent there; signing in again",
            self.server_label(),
            discovery::printable(issuer),
            discovery::printable(&stored.issuer)
        );
        st.stored = None;
        let mut c = self.current.write().unwrap_or_else(|p| p.into_inner());
        c.refreshable = false;
    }

    async fn refresh(&self, st: &mut State) -> Result<(), String> {
        if st.found.is_none() {
            // Without the server's challenge (a refresh ahead of expiry at start-up) discovery
            // may miss metadata the challenge would name: that says nothing about whether the
            // server uses OAuth, so the next 401 still gets its own discovery.
            let found = self.ensure_discovered(st, None).await;
            st.not_oauth = false;
            if let Err(v) = found {
                return Err(match v {
                    Verdict::Fail(e) => e,
                    _ => "no OAuth metadata found without the server's challenge".into(),
                });
            }
        }
        let (Some(found), Some(stored)) = (st.found.as_ref(), st.stored.as_mut()) else {
            return Err("nothing to refresh".into());
        };
        let Some(rt) = stored.refresh_token.clone() else {
            return Err("no refresh token".into());
        };
        if !same_issuer(&stored.issuer, &found.issuer) {
            return Err("the refresh token belongs to another authorization server".into());
        }
        let resource = self.resource(found);
        match flow::refresh(self.http()?, found, &stored.client, &rt, &resource).await {
            Ok(tokens) => {
                flow::apply(stored, &tokens);
                let stored = stored.clone();
                self.install(&stored);
                tracing::info!("access token refreshed for {}", self.server_label());
                Ok(())
            }
            Err(e) => {
                stored.refresh_token = None;
                let stored = stored.clone();
                self.persist(&stored);
                Err(e)
            }
        }
    }

    async fn sign_in(&self, st: &mut State, challenge_scope: Option<&str>) -> Result<(), String> {
        let found = st.found.clone().ok_or("no OAuth metadata")?;
        // Refused before anything is registered or opened.
        flow::require_s256(&found)?;
        if self.settings.identity.client_secret.is_some()
            && let Some(bound) = &st.bound_issuer
            && !same_issuer(bound, &found.issuer)
        {
            return Err(format!(
                "{} now names the authorization server {}, but the sign-in (and the client \
                 secret of --oauth-client-secret-env) belongs to {}: the secret is not sent \
                 there. If the server really moved, run `wazion-mcp auth logout {}` and sign \
                 in again",
                self.server_label(),
                discovery::printable(&found.issuer),
                discovery::printable(bound),
                self.server_label()
            ));
        }
        let preferred_port = st
            .stored
            .as_ref()
            .filter(|s| s.issuer == found.issuer)
            .and_then(|s| s.client.redirect_port);
        let listener = browser::Listener::bind(preferred_port).await?;
        let identity = flow::identity(
            self.http()?,
            &found,
            &self.settings.identity,
            st.stored.as_ref(),
            &listener,
        )
        .await?;
        let scope = flow::choose_scope(&found, challenge_scope);
        let resource = self.resource(&found);
        tracing::info!(
            "signing in to {} at {} (client: {}, scope: {})",
            self.server_label(),
            found.issuer,
            identity.kind,
            scope.as_deref().unwrap_or("none requested")
        );
        let tokens = flow::authorize(
            self.http()?,
            &found,
            &identity,
            listener,
            &resource,
            scope.as_deref(),
            self.settings.timeout,
        )
        .await?;
        let mut stored = Stored {
            server: self.server_label(),
            issuer: found.issuer.clone(),
            client: identity,
            scope,
            ..Stored::default()
        };
        flow::apply(&mut stored, &tokens);
        self.install(&stored);
        st.bound_issuer = Some(stored.issuer.clone());
        st.stored = Some(stored);
        tracing::info!("signed in to {}", self.server_label());
        Ok(())
    }

    /// The `resource` parameter: the metadata's resource when it names one, else the
    /// server's URL.
    fn resource(&self, found: &Discovered) -> String {
        found
            .resource
            .as_ref()
            .and_then(|r| r.resource.clone())
            .unwrap_or_else(|| self.server_label())
    }

    /// Makes `stored` the current token and writes it to disk.
    fn install(&self, stored: &Stored) {
        if let Some(old) = self.token_text() {
            retire(
                &mut self.retired.lock().unwrap_or_else(|p| p.into_inner()),
                old,
            );
        }
        {
            let mut c = self.current.write().unwrap_or_else(|p| p.into_inner());
            *c = current_of(Some(stored), c.generation + 1);
        }
        self.persist(stored);
    }

    fn persist(&self, stored: &Stored) {
        if let Some(file) = &self.file
            && let Err(e) = store::save(file, stored)
        {
            tracing::warn!("the sign-in works for this run but is not saved: {e}");
        }
    }
}

/// Keeps `old` among the last [`RETIRED_TOKENS`] replaced access tokens.
fn retire(retired: &mut std::collections::VecDeque<String>, old: String) {
    if retired.back() != Some(&old) {
        retired.push_back(old);
    }
    while retired.len() > RETIRED_TOKENS {
        retired.pop_front();
    }
}

/// `auth logout`: revokes the stored tokens (RFC 7009) at the issuer that issued them, when
/// its metadata (fetched under the same rules as a sign-in, `issuer` checked) offers a
/// `revocation_endpoint`. `Ok(None)`: it offers none; `Ok(Some(n))`: `n` tokens revoked.
/// Bounded by `AS_REQUEST_TIMEOUT` as a whole.
pub async fn revoke_stored(
    server: &Url,
    stored: &Stored,
    http: &HttpSettings,
) -> Result<Option<usize>, String> {
    if stored.access_token.is_none() && stored.refresh_token.is_none() {
        return Ok(Some(0));
    }
    let client = http.client(server)?;
    let rules = discovery::Rules {
        server,
        allow_http: false,
    };
    let work = async {
        let meta = discovery::server_metadata(&client, &rules, &stored.issuer)
            .await?
            .ok_or_else(|| {
                format!(
                    "the authorization server {} publishes no metadata",
                    discovery::printable(&stored.issuer)
                )
            })?;
        let found = Discovered {
            resource: None,
            server: meta,
            issuer: stored.issuer.clone(),
            default_endpoints: false,
        };
        discovery::check_endpoints(server, &found, false)?;
        let Some(endpoint) = found.server.revocation_endpoint.clone() else {
            return Ok(None);
        };
        flow::revoke(&client, &endpoint, stored).await.map(Some)
    };
    match tokio::time::timeout(AS_REQUEST_TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the authorization server did not answer within {} s",
            AS_REQUEST_TIMEOUT.as_secs()
        )),
    }
}

/// Issuer identifiers compare exactly (RFC 8414 §3.3), a trailing slash aside.
pub fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Whether the scopes `held` include every scope in `wanted` (a challenge naming none is
/// not covered: there is nothing to compare).
fn covers(held: Option<&str>, wanted: Option<&str>) -> bool {
    let (Some(held), Some(wanted)) = (held, wanted) else {
        return false;
    };
    let held: Vec<&str> = held.split_whitespace().collect();
    let mut wanted = wanted.split_whitespace().peekable();
    wanted.peek().is_some() && wanted.all(|s| held.contains(&s))
}

fn current_of(stored: Option<&Stored>, generation: u64) -> Current {
    let header = stored
        .and_then(|s| s.access_token.as_deref())
        .and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok())
        .map(|mut v| {
            v.set_sensitive(true);
            v
        });
    Current {
        header,
        generation,
        expires_at: stored.and_then(|s| s.expires_at),
        refreshable: stored.is_some_and(|s| s.refresh_token.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::{RETIRED_TOKENS, covers, retire};

    #[test]
    fn the_last_replaced_tokens_are_kept_bounded() {
        let mut retired = std::collections::VecDeque::new();
        for n in 0..10 {
            retire(&mut retired, format!("t{n}"));
        }
        retire(&mut retired, "t9".into());
        assert_eq!(retired.len(), RETIRED_TOKENS);
        assert_eq!(retired, ["t6", "t7", "t8", "t9"]);
    }

    #[test]
    fn step_up_only_for_scopes_not_held() {
        assert!(covers(Some("a b c"), Some("a c")));
        assert!(!covers(Some("a b"), Some("a d")));
        assert!(!covers(None, Some("a")));
        assert!(!covers(Some("a"), None));
        assert!(!covers(Some("a"), Some(" ")));
    }
}
