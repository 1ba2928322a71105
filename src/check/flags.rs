//! The settings, judged before anything goes on the network: the flags the bridge would
//! refuse, an HTTP client that cannot be built from them (`--proxy`, `--ca-file`), and the
//! `flags` step (the URL, where the token comes from, the extra headers).
//!
//! Invariants: the token is never shown, only whether its variable is set (or still holds
//! [`TOKEN_PLACEHOLDER`](crate::client_config::TOKEN_PLACEHOLDER)); the URL is shown without
//! credentials; a refusal's fix names the flag to change, and a missing token's fix says how
//! to set it in each client.

use super::network::without_credentials;
use super::report::Step;
use crate::config::Settings;
use crate::upstream::Upstream;

/// The bridge's HTTP client for these settings, or why it cannot be built and the fix.
pub(super) fn build_upstream(settings: &Settings) -> Result<Upstream, (String, String)> {
    if let Some(p) = &settings.proxy {
        crate::config::check_proxy(p).map_err(|e| {
            (
                e.0,
                "Write it as --proxy http://proxy.example:3128, or leave --proxy out to use \
                 HTTPS_PROXY / HTTP_PROXY and the system's settings."
                    .to_string(),
            )
        })?;
    }
    Upstream::with_tls_info(settings).map_err(|e| {
        let fix = if e.contains("--ca-file") {
            "Give --ca-file a PEM file holding the CA certificate (a block starting with \
             -----BEGIN CERTIFICATE-----)."
        } else if e.contains("--proxy") {
            "Write it as --proxy http://proxy.example:3128, or leave --proxy out."
        } else if e.contains("CA certificates") {
            "This machine has no CA certificates: install them (ca-certificates on Debian and \
             Ubuntu) or pass the server's CA with --ca-file."
        } else {
            "Check the flags above; `wazion-mcp --help` describes each."
        };
        (e, fix.to_string())
    })
}

/// The fix for flags `config::from_cli` refused (its message already says what is wrong).
pub(super) fn flags_fix(message: &str) -> String {
    if message.contains("--allow-http") {
        "Use the server's https:// URL. Only if the token may cross that network in clear text, \
         add --allow-http."
            .into()
    } else if message.contains("--ca-file") {
        "Give --ca-file the path of the PEM file with the CA certificate (an absolute path is \
         safest)."
            .into()
    } else if message.contains("user name or password") {
        "Remove user:password@ from the URL; send the credential with --token-env or \
         --header 'Name: ${VAR}' instead."
            .into()
    } else if message.contains("URL") || message.contains("scheme") || message.contains("host") {
        format!(
            "Give the server's full MCP endpoint, for example {}.",
            crate::cli::DEFAULT_URL
        )
    } else {
        "Correct the flag named above; `wazion-mcp --help` describes each.".into()
    }
}

pub(super) fn flags_step(settings: &Settings) -> Step {
    let extra: Vec<&str> = settings
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| *k != "authorization")
        .collect();
    let placeholder = settings
        .headers
        .get(reqwest::header::AUTHORIZATION)
        .is_some_and(|v| {
            v.as_bytes()
                .ends_with(crate::client_config::TOKEN_PLACEHOLDER.as_bytes())
        });
    let token = if placeholder {
        format!(
            "{} still holds the placeholder \"{}\"",
            settings.token_env,
            crate::client_config::TOKEN_PLACEHOLDER
        )
    } else if settings.token_present {
        format!("token from {} (set)", settings.token_env)
    } else if settings.headers.contains_key("authorization") {
        "Authorization from --header".to_string()
    } else if settings.auth == crate::cli::AuthMode::Oauth {
        "OAuth sign-in (--auth oauth)".to_string()
    } else if settings.auth == crate::cli::AuthMode::None {
        "no credentials (--auth none)".to_string()
    } else if oauth_signed_in(settings) {
        format!(
            "{} is not set; an OAuth sign-in is stored",
            settings.token_env
        )
    } else {
        format!("{} is NOT set", settings.token_env)
    };
    let headers = if extra.is_empty() {
        String::new()
    } else {
        format!(", extra headers: {}", extra.join(", "))
    };
    let ok = !placeholder
        && (settings.token_present
            || settings.headers.contains_key("authorization")
            || !extra.is_empty()
            || matches!(
                settings.auth,
                crate::cli::AuthMode::Oauth | crate::cli::AuthMode::None
            )
            || oauth_signed_in(settings));
    Step {
        step: "flags",
        ok,
        detail: format!(
            "{}, {token}{headers}",
            without_credentials(settings.url.as_str())
        ),
        fix: (!ok).then(|| {
            let shell = crate::client_config::Shell::for_os(crate::client_config::Os::current());
            let fix = token_fix(&settings.token_env, shell);
            if placeholder {
                format!(
                    "Replace \"{}\" with your token in the env block of the client's entry (and \
                     in this shell for the check).\n{fix}",
                    crate::client_config::TOKEN_PLACEHOLDER
                )
            } else {
                fix
            }
        }),
        ms: None,
    }
}

/// Whether an OAuth sign-in with an access token is stored for this server.
fn oauth_signed_in(settings: &Settings) -> bool {
    settings
        .oauth
        .as_ref()
        .and_then(|o| o.dir.as_ref())
        .and_then(|d| crate::oauth::store::load(&crate::oauth::store::file_for(d, &settings.url)))
        .is_some_and(|s| s.access_token.is_some())
}

/// How to set the token variable in each client, and in `shell` for the check.
pub(crate) fn token_fix(var: &str, shell: crate::client_config::Shell) -> String {
    let (label, set) = (format!("{}:", shell.name()), shell.export_line(var));
    let dashdash = shell.quote("--");
    format!(
        "Set {var} to your token where the bridge is launched (get a WAzion token at \
         https://www.wazion.com/dashboard → Settings):\n\
         {label:<15} {set}   (then run this check again)\n\
         Claude Desktop: \"env\": {{\"{var}\": \"…\"}} in the server entry of claude_desktop_config.json\n\
         VS Code:        \"env\": {{\"{var}\": \"${{input:wazion-token}}\"}} in mcp.json (asked once, stored securely)\n\
         Cursor:         \"env\": {{\"{var}\": \"…\"}} in ~/.cursor/mcp.json\n\
         Gemini CLI:     \"env\": {{\"{var}\": \"…\"}} in ~/.gemini/settings.json\n\
         Codex:          env = {{ {var} = \"…\" }} under [mcp_servers.wazion] in ~/.codex/config.toml\n\
         Claude Code:    claude mcp add wazion --scope user --env {var}=… {dashdash} /path/to/wazion-mcp\n\
         `wazion-mcp config <client> --write` adds the entry for you."
    )
}

#[cfg(test)]
mod tests {
    use super::token_fix;
    use crate::client_config::Shell;

    /// Issue 18 §4: the check's fix says how to set the variable in the user's shell.
    #[test]
    fn the_token_fix_is_written_for_the_users_shell() {
        let posix = token_fix("WAZION_TOKEN", Shell::Posix);
        assert!(
            posix.contains("shell:          export WAZION_TOKEN=…"),
            "{posix}"
        );
        assert!(!posix.contains("$env:"));
        let ps = token_fix("WAZION_TOKEN", Shell::PowerShell);
        assert!(
            ps.contains("PowerShell:     $env:WAZION_TOKEN = '…'"),
            "{ps}"
        );
        assert!(ps.contains("--env WAZION_TOKEN=… '--' /path"), "{ps}");
        assert!(!ps.contains("export "), "{ps}");
    }
}
