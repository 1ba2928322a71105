//! Turns flags and environment into checked [`Settings`]: the URL policy, the token and the
//! extra headers. No network I/O happens here.
//!
//! Invariants established for everyone downstream:
//! - the URL is `https://`, or `http://` to loopback, or `http://` with `--allow-http`;
//! - every secret-bearing header value is marked sensitive, so it never shows in `Debug`;
//! - the token itself is never part of an error or warning text, only the variable's name.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use crate::cli::BridgeArgs;
use crate::netutil::{host_label, is_loopback};

/// Everything the bridge needs to run, already validated.
#[derive(Debug)]
pub struct Settings {
    pub url: Url,
    /// `host` or `host:port`, as shown in error messages.
    pub host_label: String,
    /// Headers sent on every request: `Authorization` (when a token is set) and `--header`s.
    pub headers: HeaderMap,
    /// Name of the token variable, for hints in error messages.
    pub token_env: String,
    pub token_present: bool,
    pub idle_timeout: Duration,
    /// `--request-timeout`: the overall limit on one request, if any.
    pub request_timeout: Option<Duration>,
    /// `--max-in-flight`, at least 1.
    pub max_in_flight: usize,
    /// Values that must never reach an answer: the token and every `--header` value.
    pub secrets: Vec<String>,
    pub connect_timeout: Duration,
    pub max_message_bytes: usize,
    /// PEM bytes of extra CA certificates (`--ca-file`).
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Explicit proxy (`--proxy`); `None` means the environment's and system's settings.
    pub proxy: Option<String>,
    /// `--allow-tool` / `--deny-tool`; `None` when neither is given.
    pub tool_filter: Option<crate::filter::ToolFilter>,
    pub transport: crate::cli::TransportKind,
    /// OAuth, when no static credential is configured and `--auth` allows it.
    pub oauth: Option<OAuthSettings>,
    /// `--auth`.
    pub auth: crate::cli::AuthMode,
}

/// When OAuth may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthMode {
    /// Only when the server publishes OAuth metadata.
    Auto,
    /// `--auth oauth`: also with the 2025-03-26 default endpoints when nothing is published.
    Forced,
}

/// The OAuth part of the settings (defined here, with the rest of the settings, so that
/// `config` never depends on `oauth`; `oauth` names these types as its own).
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub mode: OAuthMode,
    pub identity: OAuthIdentity,
    /// `--oauth-timeout`: how long the browser sign-in may take.
    pub timeout: Duration,
    /// Where tokens are stored; `None`: nowhere (no config dir on this machine).
    pub dir: Option<PathBuf>,
    /// False for `check`: a stored token is used and refreshed, but no browser opens.
    pub interactive: bool,
    /// `--allow-http`: authorization-server endpoints may be plain http beyond loopback.
    pub allow_http: bool,
}

/// How the user configured the client identity.
#[derive(Debug, Clone, Default)]
pub struct OAuthIdentity {
    /// `--oauth-client-id`.
    pub client_id: Option<String>,
    /// The secret from `--oauth-client-secret-env`'s variable.
    pub client_secret: Option<String>,
    /// `--oauth-client-metadata-url`: this client's metadata document (CIMD).
    pub metadata_url: Option<String>,
}

/// Why the flags cannot be used; the message says what to do instead.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Builds settings from flags; `env` looks up environment variables (injected for tests).
/// Returns the settings and the warnings to show once logging is up.
pub fn from_cli(
    cli: &BridgeArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(Settings, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    let url = check_url(&cli.url, cli.allow_http)?;
    let host_label = host_label(&url);

    let mut headers = HeaderMap::new();
    let mut secrets = Vec::new();
    for raw in &cli.headers {
        match parse_header(raw, &env)? {
            HeaderSpec::Ready(name, value) => {
                secrets.extend(secret_parts(&value));
                headers.append(name, value);
            }
            HeaderSpec::MissingVars(name, vars) => warnings.push(format!(
                "header {name} left out: environment variable {} is not set",
                vars.join(", ")
            )),
        }
    }

    use crate::cli::AuthMode;
    let token = match cli.auth {
        AuthMode::Auto | AuthMode::Token => env(&cli.token_env).and_then(|t| normalise_token(&t)),
        AuthMode::Oauth | AuthMode::None => None,
    };
    if cli.auth == AuthMode::Oauth && env(&cli.token_env).is_some() {
        warnings.push(format!(
            "{} is ignored with --auth oauth: the bridge signs in with OAuth instead",
            cli.token_env
        ));
    }
    if cli.auth == AuthMode::Oauth && headers.contains_key(AUTHORIZATION) {
        return Err(ConfigError(
            "--auth oauth and an Authorization --header exclude each other: drop one".into(),
        ));
    }
    let token_present = token.is_some();
    let static_auth = token_present || headers.contains_key(AUTHORIZATION);
    let oauth = match cli.auth {
        AuthMode::Oauth => Some(OAuthMode::Forced),
        AuthMode::Auto if !static_auth => Some(OAuthMode::Auto),
        _ => None,
    }
    .map(|mode| OAuthSettings {
        mode,
        identity: OAuthIdentity {
            client_id: cli.oauth_client_id.clone(),
            client_secret: cli
                .oauth_client_secret_env
                .as_deref()
                .and_then(&env)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            metadata_url: cli.oauth_client_metadata_url.clone(),
        },
        timeout: Duration::from_secs(cli.oauth_timeout.max(1)),
        dir: crate::folders::oauth_store_dir(),
        interactive: true,
        allow_http: cli.allow_http,
    });
    if let Some(name) = &cli.oauth_client_secret_env
        && oauth
            .as_ref()
            .is_some_and(|o| o.identity.client_secret.is_none())
    {
        warnings.push(format!(
            "{name} (--oauth-client-secret-env) is not set: the client signs in without a secret"
        ));
    }
    if let Some(secret) = oauth
        .as_ref()
        .and_then(|o| o.identity.client_secret.clone())
    {
        secrets.push(secret);
    }
    match token {
        Some(token) => {
            secrets.push(token.clone());
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                ConfigError(format!(
                    "the token in {} contains characters that cannot go in an HTTP header; \
                     copy it again from your dashboard",
                    cli.token_env
                ))
            })?;
            value.set_sensitive(true);
            // An explicit `--header "Authorization: …"` wins over the token variable.
            if !headers.contains_key(AUTHORIZATION) {
                headers.insert(AUTHORIZATION, value);
            }
        }
        None if !headers.contains_key(AUTHORIZATION)
            && cli.auth != AuthMode::None
            && cli.auth != AuthMode::Oauth =>
        {
            let oauth_note = if cli.auth == AuthMode::Auto {
                " (a server that uses OAuth gets a browser sign-in instead)"
            } else {
                ""
            };
            warnings.push(format!(
                "{} is not set: requests go out without a bearer token and the server will \
                 likely answer 401{oauth_note}. Set {} in your MCP client's env block.",
                cli.token_env, cli.token_env
            ))
        }
        None => {}
    }

    let extra_ca_pem = match &cli.ca_file {
        None => None,
        Some(path) => Some(std::fs::read(path).map_err(|e| {
            ConfigError(format!(
                "cannot read --ca-file {}: {e}; give the path of a PEM file with the CA certificate",
                path.display()
            ))
        })?),
    };

    let tool_filter =
        crate::filter::ToolFilter::new(&cli.allow_tools, &cli.deny_tools).map_err(ConfigError)?;

    Ok((
        Settings {
            url,
            host_label,
            headers,
            token_env: cli.token_env.clone(),
            token_present,
            idle_timeout: Duration::from_secs(cli.idle_timeout.max(1)),
            request_timeout: cli.request_timeout.map(|s| Duration::from_secs(s.max(1))),
            max_in_flight: cli.max_in_flight.max(1),
            secrets,
            connect_timeout: Duration::from_secs(cli.connect_timeout.max(1)),
            max_message_bytes: cli.max_message_bytes.max(1024),
            extra_ca_pem,
            proxy: cli.proxy.clone(),
            tool_filter,
            transport: cli.transport,
            oauth,
            auth: cli.auth,
        },
        warnings,
    ))
}

/// The parts of a header value to keep out of answers: the whole value and, for
/// `Scheme credentials` forms such as `Bearer abc`, the credentials alone. Values shorter than
/// 6 bytes are left alone: cutting `1` or `yes` out of every error would garble them and
/// protect nothing.
fn secret_parts(value: &HeaderValue) -> Vec<String> {
    let Ok(text) = value.to_str() else {
        return Vec::new();
    };
    let mut parts = vec![text.trim().to_string()];
    if let Some((_, credentials)) = text.trim().split_once(' ') {
        parts.push(credentials.trim().to_string());
    }
    parts.retain(|p| p.len() >= 6);
    parts
}

/// Checks scheme and the plain-HTTP policy. The URL must not carry credentials in its
/// query (A3) or user-info; we cannot know every query parameter, so only user-info is
/// refused outright.
fn check_url(raw: &str, allow_http: bool) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        ConfigError(format!(
            "'{raw}' is not a valid URL ({e}); expected something like {}",
            crate::cli::DEFAULT_URL
        ))
    })?;
    if url.host_str().is_none() {
        return Err(ConfigError(format!("'{raw}' has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError(
            "the URL contains a user name or password; put credentials in --token-env or \
             --header instead, so they stay out of process listings"
                .into(),
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_http || is_loopback(&url) => Ok(url),
        "http" => Err(ConfigError(format!(
            "refusing plain http:// to {}: the token would cross the network unencrypted. \
             Use https://, or pass --allow-http if you really mean it",
            host_label(&url)
        ))),
        other => Err(ConfigError(format!(
            "unsupported URL scheme '{other}': use https:// (or http:// to localhost)"
        ))),
    }
}

/// Strips surrounding whitespace and a leading `Bearer ` (any case); `None` if nothing is left.
pub fn normalise_token(raw: &str) -> Option<String> {
    let t = raw.trim();
    if t.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let t = match t.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => t[7..].trim(),
        _ => t,
    };
    (!t.is_empty()).then(|| t.to_string())
}

enum HeaderSpec {
    Ready(HeaderName, HeaderValue),
    MissingVars(String, Vec<String>),
}

fn parse_header(
    raw: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<HeaderSpec, ConfigError> {
    let Some((name, value)) = raw.split_once(':') else {
        return Err(ConfigError(format!(
            "--header '{}' is not of the form 'Name: value'",
            redact_value(raw)
        )));
    };
    let name = name.trim();
    let header = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ConfigError(format!("--header: '{name}' is not a valid header name")))?;
    let (expanded, missing) = expand_vars(value.trim(), env);
    if !missing.is_empty() {
        return Ok(HeaderSpec::MissingVars(name.to_string(), missing));
    }
    let mut value = HeaderValue::from_str(&expanded).map_err(|_| {
        ConfigError(format!(
            "--header {name}: the value contains characters not allowed in an HTTP header"
        ))
    })?;
    // Custom headers usually carry keys (X-API-Key): treat every one as a secret.
    value.set_sensitive(true);
    Ok(HeaderSpec::Ready(header, value))
}

/// The variables a `--header` value names with `${VAR}` (for `config`, which puts them in the
/// client entry's `env`).
pub fn header_vars(raw: &str) -> Vec<String> {
    let value = raw.split_once(':').map_or(raw, |(_, v)| v);
    let mut names: Vec<String> = expand_vars(value, &|_: &str| None).1;
    names.dedup();
    names
}

/// Whether `--proxy` can be used: an `http://` or `https://` URL with a host (a bare
/// `host:port` is taken as `http://host:port`, as reqwest does). The error never repeats
/// the value, which may carry a password.
pub fn check_proxy(raw: &str) -> Result<(), ConfigError> {
    let raw = raw.trim();
    let parsed = Url::parse(raw)
        .ok()
        .filter(|u| u.has_host())
        .or_else(|| Url::parse(&format!("http://{raw}")).ok());
    let usable = parsed
        .as_ref()
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if usable && reqwest::Proxy::all(raw).is_ok() {
        Ok(())
    } else {
        Err(ConfigError(
            "--proxy is not a usable proxy URL: give it as http://host:port or \
             https://host:port (user:password@ before the host if the proxy wants them)"
                .into(),
        ))
    }
}

/// Expands `${VAR}`; returns the text and the names of unset variables.
/// Hand-written: the only syntax is `${NAME}`, and a crate for it (shellexpand) would also
/// expand `$NAME` and `~`, which header values (e.g. passwords) may legitimately contain.
fn expand_vars(value: &str, env: &impl Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(value.len());
    let mut missing = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let var = &after[..end];
                match env(var) {
                    Some(v) => out.push_str(&v),
                    None => missing.push(var.to_string()),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    (out, missing)
}

/// For error texts about a malformed `--header`: never echo what might be a secret.
fn redact_value(raw: &str) -> String {
    let shown: String = raw.chars().take(12).collect();
    if raw.chars().count() > 12 {
        format!("{shown}…")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> BridgeArgs {
        crate::cli::Cli::parse_from(std::iter::once("wazion-mcp").chain(args.iter().copied()))
            .bridge
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn default_url_is_wazion_and_token_becomes_bearer() {
        let (s, w) = from_cli(&cli(&[]), env_of(&[("WAZION_TOKEN", " Bearer wz_abc\n")])).unwrap();
        assert_eq!(s.url.as_str(), "https://www.wazion.com/api/mcp/");
        assert_eq!(s.headers[AUTHORIZATION], "Bearer wz_abc");
        assert!(s.headers[AUTHORIZATION].is_sensitive());
        assert!(w.is_empty());
    }

    #[test]
    fn missing_token_is_a_warning_naming_the_variable() {
        let (s, w) = from_cli(&cli(&["--token-env", "OTHER"]), env_of(&[])).unwrap();
        assert!(!s.token_present);
        assert!(s.headers.get(AUTHORIZATION).is_none());
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("OTHER is not set"), "{w:?}");
    }

    #[test]
    fn header_vars_expand_and_missing_ones_drop_the_header() {
        let c = cli(&[
            "https://wa.example/mcp",
            "--header",
            "X-API-Key: ${VPS_KEY}",
            "--header",
            "X-Other: a-${NOPE}-b",
        ]);
        let (s, w) = from_cli(&c, env_of(&[("VPS_KEY", "k1")])).unwrap();
        assert_eq!(s.headers["x-api-key"], "k1");
        assert!(s.headers.get("x-other").is_none());
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("X-Other") && w[0].contains("NOPE"), "{w:?}");
    }

    #[test]
    fn plain_http_needs_loopback_or_the_flag() {
        let e = from_cli(&cli(&["http://example.com/mcp"]), env_of(&[])).unwrap_err();
        assert!(e.0.contains("--allow-http"), "{e}");
        for ok in [
            "http://127.0.0.1:9/mcp",
            "http://localhost/mcp",
            "http://[::1]:8/mcp",
        ] {
            assert!(from_cli(&cli(&[ok]), env_of(&[])).is_ok(), "{ok}");
        }
        assert!(
            from_cli(
                &cli(&["http://example.com/mcp", "--allow-http"]),
                env_of(&[])
            )
            .is_ok()
        );
    }

    #[test]
    fn oauth_only_without_a_static_credential_or_when_asked() {
        let mode = |args: &[&str], env: &'static [(&'static str, &'static str)]| {
            from_cli(&cli(args), env_of(env))
                .unwrap()
                .0
                .oauth
                .map(|o| o.mode)
        };
        let token: &'static [(&str, &str)] = &[("WAZION_TOKEN", "wz_abc")];
        assert_eq!(mode(&[], token), None);
        assert_eq!(mode(&[], &[]), Some(OAuthMode::Auto));
        assert_eq!(mode(&["--header", "Authorization: Basic xyz"], &[]), None);
        assert_eq!(mode(&["--auth", "token"], &[]), None);
        assert_eq!(mode(&["--auth", "none"], token), None);
        assert_eq!(mode(&["--auth", "oauth"], token), Some(OAuthMode::Forced));
        // `--auth oauth` never sends the static token, and says so.
        let (s, w) = from_cli(&cli(&["--auth", "oauth"]), env_of(token)).unwrap();
        assert!(s.headers.get(AUTHORIZATION).is_none());
        assert!(
            w.iter().any(|w| w.contains("ignored with --auth oauth")),
            "{w:?}"
        );
        // `--auth none`: no token, no warning about it.
        let (s, w) = from_cli(&cli(&["--auth", "none"]), env_of(token)).unwrap();
        assert!(s.headers.get(AUTHORIZATION).is_none());
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn token_normalisation() {
        assert_eq!(normalise_token("  tok \n").as_deref(), Some("tok"));
        assert_eq!(normalise_token("bearer  tok").as_deref(), Some("tok"));
        assert_eq!(normalise_token("Bearer "), None);
        assert_eq!(normalise_token(""), None);
    }

    #[test]
    fn bad_header_value_does_not_echo_a_secret() {
        let e = from_cli(
            &cli(&["--header", "no-colon-here-secret-value-1234567890"]),
            env_of(&[]),
        )
        .unwrap_err();
        assert!(!e.0.contains("1234567890"), "{e}");
    }
}
