//! One server entry, independent of the client's file format: the bridge's flags checked as
//! the bridge checks them at start, its `args` and the secret variables its `env` holds.
//!
//! Invariants: flags the bridge would refuse (`config::from_cli`, the proxy, the CA file, the
//! log level) are refused here, so an entry that could not start is never written or
//! printed; relative paths become absolute; `args` carry only the flags that differ from
//! their defaults; the secret variables are the token's, then each one a `--header` names
//! with `${VAR}`, each once.

use std::path::{Path, PathBuf};

use crate::cli::{BridgeArgs, DEFAULT_TOKEN_ENV, DEFAULT_URL, LogFormat, TransportKind};

/// One server entry, independent of the client's file format.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    /// Absolute path of the bridge binary.
    pub command: String,
    /// The bridge flags, checked, with absolute paths.
    pub bridge: BridgeArgs,
}

impl Entry {
    /// The entry's `args`: the flags that differ from their defaults.
    pub fn args(&self) -> Vec<String> {
        entry_args(&self.bridge)
    }

    /// The variables the entry's `env` must hold: the token's (unless `--auth oauth` or
    /// `none`, which never read it), then each one a `--header` names with `${VAR}`.
    pub fn secret_vars(&self) -> Vec<String> {
        let reads_token = matches!(
            self.bridge.auth,
            crate::cli::AuthMode::Auto | crate::cli::AuthMode::Token
        );
        let mut vars: Vec<String> = reads_token
            .then(|| self.bridge.token_env.clone())
            .into_iter()
            .collect();
        for v in self.header_vars() {
            if !vars.contains(&v) {
                vars.push(v);
            }
        }
        vars
    }

    /// The variables the `--header` values name with `${VAR}`.
    pub fn header_vars(&self) -> Vec<String> {
        let mut vars: Vec<String> = Vec::new();
        for h in &self.bridge.headers {
            for v in crate::config::header_vars(h) {
                if !vars.contains(&v) {
                    vars.push(v);
                }
            }
        }
        vars
    }
}

/// Checks the flags as the bridge would at start and makes paths absolute. Returns the
/// checked flags and notes for the user (values the bridge will raise to its minimum).
pub fn checked_args(args: &BridgeArgs) -> Result<(BridgeArgs, Vec<String>), String> {
    let mut a = args.clone();
    a.ca_file = a.ca_file.map(absolute);
    a.log_file = a.log_file.map(absolute);
    // Every variable "set" to a dummy: the header values get checked in full, and nothing of
    // this shell's environment (which is not the client's) is read.
    crate::config::from_cli(&a, |_| Some("x".to_string())).map_err(|e| e.0)?;
    if let Some(p) = &a.proxy {
        crate::config::check_proxy(p).map_err(|e| e.0)?;
    }
    if let Some(ca) = &a.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| format!("cannot read --ca-file {}: {e}", ca.display()))?;
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certs) if !certs.is_empty() => {}
            _ => {
                return Err(format!(
                    "--ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    ca.display()
                ));
            }
        }
    }
    if format!("wazion_mcp={},warn", a.log_level)
        .parse::<tracing_subscriber::filter::Targets>()
        .is_err()
    {
        return Err(format!(
            "--log-level '{}' is not a level: use error, warn, info, debug or trace",
            a.log_level
        ));
    }
    let mut notes = Vec::new();
    if a.idle_timeout == 0 {
        notes.push("--idle-timeout 0 is raised to 1 s by the bridge (its minimum)".to_string());
    }
    if a.connect_timeout == 0 {
        notes.push("--connect-timeout 0 is raised to 1 s by the bridge (its minimum)".to_string());
    }
    if a.max_message_bytes < 1024 {
        notes.push(format!(
            "--max-message-bytes {} is raised to 1024 by the bridge (its minimum)",
            a.max_message_bytes
        ));
    }
    if let Some(dir) = a.log_file.as_deref().and_then(Path::parent)
        && !dir.is_dir()
    {
        notes.push(format!(
            "the --log-file folder {} does not exist; the bridge will not start until it does",
            dir.display()
        ));
    }
    Ok((a, notes))
}

/// Server names every client accepts as a key (VS Code's schema is the narrowest).
pub(super) fn check_name(name: &str) -> Result<(), String> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--name '{name}': use letters, digits, '-' and '_', starting with a letter"
        ))
    }
}

/// `path` made absolute against the current directory (not resolved: it may not exist yet).
pub(super) fn absolute(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        return path;
    }
    std::path::absolute(&path).unwrap_or(path)
}

/// The bridge flags that differ from their defaults, to put in the entry's `args`.
pub fn entry_args(a: &BridgeArgs) -> Vec<String> {
    let mut out = Vec::new();
    let mut flag = |name: &str, value: String| {
        out.push(name.to_string());
        out.push(value);
    };
    if a.token_env != DEFAULT_TOKEN_ENV {
        flag("--token-env", a.token_env.clone());
    }
    for h in &a.headers {
        flag("--header", h.clone());
    }
    if let Some(ca) = &a.ca_file {
        flag("--ca-file", ca.display().to_string());
    }
    if let Some(p) = &a.proxy {
        flag("--proxy", p.clone());
    }
    if a.idle_timeout != 300 {
        flag("--idle-timeout", a.idle_timeout.to_string());
    }
    if a.connect_timeout != 10 {
        flag("--connect-timeout", a.connect_timeout.to_string());
    }
    if a.transport != TransportKind::Auto {
        let t = match a.transport {
            TransportKind::Sse => "sse",
            _ => "streamable-http",
        };
        flag("--transport", t.to_string());
    }
    if a.auth != crate::cli::AuthMode::Auto {
        let m = match a.auth {
            crate::cli::AuthMode::Token => "token",
            crate::cli::AuthMode::Oauth => "oauth",
            _ => "none",
        };
        flag("--auth", m.to_string());
    }
    if let Some(id) = &a.oauth_client_id {
        flag("--oauth-client-id", id.clone());
    }
    if let Some(name) = &a.oauth_client_secret_env {
        flag("--oauth-client-secret-env", name.clone());
    }
    if let Some(u) = &a.oauth_client_metadata_url {
        flag("--oauth-client-metadata-url", u.clone());
    }
    if a.oauth_timeout != 300 {
        flag("--oauth-timeout", a.oauth_timeout.to_string());
    }
    for g in &a.allow_tools {
        flag("--allow-tool", g.clone());
    }
    for g in &a.deny_tools {
        flag("--deny-tool", g.clone());
    }
    if a.log_level != "info" {
        flag("--log-level", a.log_level.clone());
    }
    if let Some(f) = &a.log_file {
        flag("--log-file", f.display().to_string());
    }
    if a.log_format != LogFormat::Text {
        flag("--log-format", "json".to_string());
    }
    if a.max_message_bytes != 64 * 1024 * 1024 {
        flag("--max-message-bytes", a.max_message_bytes.to_string());
    }
    if a.allow_http {
        out.push("--allow-http".into());
    }
    if a.url != DEFAULT_URL {
        out.push(a.url.clone());
    }
    out
}
