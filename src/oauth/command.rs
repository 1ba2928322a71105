//! `wazion-mcp auth status|login|logout [URL]`, and the one-line auth state `check` shows.
//!
//! Invariant: what is printed about a stored sign-in is where it is and what it is for
//! (server, issuer, client kind, scope, expiry, whether a refresh token exists), never a
//! token, a client secret or any part of one. Reports go to stdout (these commands never run
//! beside the bridge); the browser URL of `login` goes to stderr like the bridge's. Only the
//! three report functions may print (`#[allow(clippy::print_stdout)]` on each); `check_line`,
//! which `check` calls, returns its text.

use reqwest::Url;

use super::store::{self, Stored};
use crate::cli::{AuthAction, BridgeArgs};
use crate::config::Settings;

/// Runs an `auth` action; returns the exit code.
pub async fn run(action: AuthAction) -> i32 {
    match action {
        AuthAction::Status { url } => status(url.as_deref()),
        AuthAction::Logout { url } => logout(&url),
        AuthAction::Login { bridge } => login(*bridge).await,
    }
}

fn dir_or_complain() -> Option<std::path::PathBuf> {
    let dir = store::default_dir();
    if dir.is_none() {
        eprintln!("wazion-mcp: this machine has no config directory (is HOME set?)");
    }
    dir
}

fn parse_url(raw: &str) -> Option<Url> {
    match Url::parse(raw.trim()) {
        Ok(u) if u.has_host() => Some(u),
        _ => {
            eprintln!("wazion-mcp: '{raw}' is not a server URL (like https://host/mcp)");
            None
        }
    }
}

#[allow(clippy::print_stdout)] // the `auth` subcommand's report, never beside the bridge
fn status(url: Option<&str>) -> i32 {
    let Some(dir) = dir_or_complain() else {
        return 1;
    };
    match url {
        Some(raw) => {
            let Some(url) = parse_url(raw) else { return 2 };
            let file = store::file_for(&dir, &url);
            match store::load(&file) {
                Some(s) => {
                    println!("{}", describe(&s));
                    println!("  file: {}", file.display());
                }
                None => println!(
                    "{}: not signed in (nothing stored; the bridge signs in when the server \
                     asks, or run `wazion-mcp auth login {}`)",
                    super::discovery::without_query(&url),
                    super::discovery::without_query(&url)
                ),
            }
            0
        }
        None => {
            let all = store::list(&dir);
            if all.is_empty() {
                println!("no OAuth sign-ins stored (in {})", dir.display());
            }
            for (file, s) in all {
                println!("{}", describe(&s));
                println!("  file: {}", file.display());
            }
            0
        }
    }
}

#[allow(clippy::print_stdout)] // the `auth` subcommand's report, never beside the bridge
fn logout(raw: &str) -> i32 {
    let Some(dir) = dir_or_complain() else {
        return 1;
    };
    let Some(url) = parse_url(raw) else { return 2 };
    let file = store::file_for(&dir, &url);
    match store::remove(&file) {
        Ok(true) => {
            println!(
                "signed out of {}: deleted {}",
                super::discovery::without_query(&url),
                file.display()
            );
            0
        }
        Ok(false) => {
            println!(
                "nothing stored for {}",
                super::discovery::without_query(&url)
            );
            0
        }
        Err(e) => {
            eprintln!("wazion-mcp: {e}");
            1
        }
    }
}

#[allow(clippy::print_stdout)] // the `auth` subcommand's report, never beside the bridge
async fn login(mut bridge: BridgeArgs) -> i32 {
    if let Err(e) = crate::logging::init(&bridge) {
        eprintln!("wazion-mcp: {e}");
        return 2;
    }
    // A sign-in is what was asked for: the static token plays no part. Without an explicit
    // `--auth oauth`, only metadata the server publishes is used (no invented endpoints).
    let forced = bridge.auth == crate::cli::AuthMode::Oauth;
    bridge.auth = crate::cli::AuthMode::Oauth;
    let settings: Settings = match crate::config::from_cli(&bridge, |n| std::env::var(n).ok()) {
        Ok((s, _)) => s,
        Err(e) => {
            eprintln!("wazion-mcp: {e}");
            return 2;
        }
    };
    let Some(mut oauth) = settings.oauth.clone() else {
        eprintln!("wazion-mcp: OAuth is turned off by the flags");
        return 2;
    };
    if !forced {
        oauth.mode = super::Mode::Auto;
    }
    let auth = super::Authorizer::new(
        settings.url.clone(),
        oauth,
        super::HttpSettings::of(&settings),
    );
    match auth.login().await {
        Ok(stored) => {
            println!("{}", describe(&stored));
            if let Some(f) = auth.file() {
                // Only Unix has the mode to speak of (issue 18 §5).
                let mode =
                    if crate::client_config::Os::current() == crate::client_config::Os::Windows {
                        ""
                    } else {
                        " (mode 0600)"
                    };
                println!("  file: {}{mode}", f.display());
            }
            0
        }
        Err(e) => {
            eprintln!("wazion-mcp: sign-in failed: {e}");
            1
        }
    }
}

/// One paragraph about a stored sign-in, without any secret.
pub fn describe(s: &Stored) -> String {
    let expiry = match s.expires_at {
        None => "no expiry given".to_string(),
        Some(at) => {
            let now = store::now_secs();
            if at <= now {
                format!("expired {} ago", human(now - at))
            } else {
                format!("expires in {}", human(at - now))
            }
        }
    };
    format!(
        "{}: signed in at {} (client: {}, {}), scope: {}, access token {}, refresh token: {}",
        s.server,
        s.issuer,
        s.client.kind,
        s.client.auth_method,
        s.scope.as_deref().unwrap_or("(none)"),
        expiry,
        if s.refresh_token.is_some() {
            "yes"
        } else {
            "no"
        }
    )
}

fn human(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        7200..=172_799 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// `check`'s `auth` line: what the bridge would do about authorization with these settings.
/// `None` when a static credential is configured (the `flags` line already says so).
pub fn check_line(settings: &Settings) -> Option<String> {
    let oauth = settings.oauth.as_ref()?;
    let stored = oauth
        .dir
        .as_ref()
        .and_then(|d| store::load(&store::file_for(d, &settings.url)));
    let when = match oauth.mode {
        super::Mode::Auto => "if the server asks for OAuth",
        super::Mode::Forced => "(--auth oauth)",
    };
    Some(match stored {
        Some(s) if s.access_token.is_some() => format!(
            "OAuth sign-in stored, used for every request and refreshed as needed: {}",
            describe(&s)
        ),
        _ => format!(
            "no token and no stored OAuth sign-in: {when}, the bridge opens a browser to sign \
             in (or run `wazion-mcp auth login {}` first)",
            super::discovery::without_query(&settings.url)
        ),
    })
}
