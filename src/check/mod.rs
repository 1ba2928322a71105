//! `wazion-mcp check`: walks the path a real session takes — flags, DNS, TCP, TLS, HTTP,
//! `initialize`, `tools/list` — and gives a verdict per step with the fix for what failed.
//!
//! It goes through the same `Upstream` as the bridge (same headers, proxy, CA, redirect
//! policy, and `--transport`: a legacy HTTP+SSE server is checked over its event stream), so
//! what passes here works in the bridge. It never prints the token or the
//! session id, and it DELETEs the session it opened, so no session is leaked.
//!
//! Each step is printed as it finishes, and a step that waits on the network first says what
//! it waits for and for how long (on a terminal that line is then replaced by the verdict).
//! Every failed step carries a fix; causes are named in words (a self-signed certificate,
//! plain http on an https URL, the proxy), never as a Rust error's debug text. `--json`
//! prints one JSON report at the end, also when the flags are refused.
//!
//! Layout: `report` prints the verdicts; `flags` judges the settings before the network;
//! `network` the proxy, DNS and TCP; `streamable`, `modern` and `legacy` the requests of
//! each transport, sent and read through `exchange`; `words` and `tls` turn a failure into
//! its step, its words and its fix.

mod exchange;
mod flags;
mod legacy;
mod modern;
mod network;
mod report;
mod streamable;
mod tls;
mod words;

use crate::cli::{BridgeArgs, TransportKind};
use crate::config::Settings;
use crate::errors::Hints;
use crate::upstream::Upstream;

use flags::{build_upstream, flags_fix, flags_step};
use legacy::legacy_steps;
use network::{network_steps, proxy_for};
use report::fail;
pub use report::{Reporter, Step};
use streamable::streamable_steps;

/// `wazion-mcp check`: checks the flags, then every step. Exit 0 when all passed, 1 when a
/// step failed or the HTTP client cannot be built (an unusable `--proxy` or `--ca-file`, as
/// the bridge exits 1 for them), 2 when the flags are refused (as the bridge does).
pub async fn main(args: BridgeArgs, json: bool) -> i32 {
    let mut r = Reporter::new(&args.url, json);
    let settings = match crate::config::from_cli(&args, |name| std::env::var(name).ok()) {
        Ok((mut settings, _)) => {
            // `check` uses and refreshes a stored sign-in, but never opens a browser.
            if let Some(oauth) = settings.oauth.as_mut() {
                oauth.interactive = false;
            }
            settings
        }
        Err(e) => {
            let fix = flags_fix(&e.0);
            r.done(fail("flags", e.0, fix, None));
            r.finish();
            return 2;
        }
    };
    // The placeholder `config` writes is no secret: the flags step names it.
    let secrets: Vec<String> = settings
        .secrets
        .iter()
        .filter(|s| *s != crate::client_config::TOKEN_PLACEHOLDER)
        .cloned()
        .collect();
    r.hide(&secrets, None);
    let upstream = match build_upstream(&settings) {
        Ok(u) => u,
        Err((detail, fix)) => {
            r.done(fail("flags", detail, fix, None));
            r.finish();
            return 1;
        }
    };
    r.hide(&secrets, upstream.shared_authorizer());
    diagnose(&settings, &upstream, &mut r).await;
    let ok = r.ok();
    r.finish();
    if ok { 0 } else { 1 }
}

/// The steps, in order; stops after the first failure (later steps would only repeat it).
pub async fn diagnose(settings: &Settings, upstream: &Upstream, r: &mut Reporter) {
    let flags_ok = r.done(flags_step(settings));
    if let Some(detail) = crate::oauth::command::check_line(settings) {
        r.done(Step {
            step: "auth",
            ok: true,
            detail,
            fix: None,
            ms: None,
        });
    }
    if !flags_ok {
        return;
    }
    let proxied = proxy_for(settings);
    if !network_steps(settings, &proxied, r).await {
        return;
    }

    let hints = Hints {
        host: &settings.host_label,
        token_env: &settings.token_env,
        token_present: settings.token_present,
        secrets: &settings.secrets,
    };
    let ctx = Ctx {
        settings,
        hints: &hints,
        proxy: proxied.as_deref(),
    };

    if settings.transport == TransportKind::Sse {
        legacy_steps(upstream, &ctx, r).await;
        return;
    }
    streamable_steps(upstream, &ctx, r).await;
}

/// What the wording of a failure needs to know.
struct Ctx<'a> {
    settings: &'a Settings,
    hints: &'a Hints<'a>,
    proxy: Option<&'a str>,
}
