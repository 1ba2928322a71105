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

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::cli::{BridgeArgs, TransportKind};
use crate::config::Settings;
use crate::errors::{self, Failure, Hints};
use crate::jsonrpc;
use crate::report::Out;
use crate::upstream::{EventStream, Meta, NetError, Reply, SessionHeaders, Upstream};

/// One step's verdict.
#[derive(Debug, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    ok: bool,
    url: &'a str,
    steps: &'a [Step],
}

/// Where the verdicts go as they come: printed at once (text), or kept for one JSON report.
pub struct Reporter {
    out: Out,
    json: bool,
    url: String,
    steps: Vec<Step>,
    /// A waiting line is on the terminal, without its line break, to be replaced.
    waiting: bool,
    terminal: bool,
}

impl Reporter {
    /// Starts a report about `url` (shown without user name or password).
    pub fn new(url: &str, json: bool) -> Self {
        let out = Out::new();
        let terminal = !json && out.is_terminal();
        let mut r = Reporter {
            out,
            json,
            url: without_credentials(url),
            steps: Vec::new(),
            waiting: false,
            terminal,
        };
        if !json {
            let line = format!("wazion-mcp check: {}", r.url);
            r.out.line(&line);
        }
        r
    }

    /// Says what a step is waiting for, before it waits.
    pub fn waiting(&mut self, step: &str, what: &str) {
        if self.json {
            return;
        }
        self.clear_waiting();
        let line = format!("  {:<4}  {:<12}  {what}", "...", step);
        if self.terminal {
            // One screen line at most, so `\r` and erase-line take all of it away.
            let short: String = line.chars().take(79).collect();
            self.out.write(&short);
            self.waiting = true;
        } else {
            self.out.line(&line);
        }
    }

    fn clear_waiting(&mut self) {
        if self.waiting {
            // Back to the line's start and erase it: the verdict takes its place.
            self.out.write("\r\x1b[2K");
            self.waiting = false;
        }
    }

    /// Records a verdict and prints it (text mode); returns whether the step passed.
    pub fn done(&mut self, s: Step) -> bool {
        let ok = s.ok;
        if !self.json {
            self.clear_waiting();
            let time = s.ms.map(|m| format!(" ({m} ms)")).unwrap_or_default();
            let line = format!(
                "  {:<4}  {:<12}  {}{time}",
                if s.ok { "ok" } else { "FAIL" },
                s.step,
                s.detail
            );
            self.out.line(&line);
            if let Some(fix) = &s.fix {
                for (i, l) in fix.lines().enumerate() {
                    let label = if i == 0 { "fix:" } else { "" };
                    let line = format!("  {:<4}  {:<12}  {l}", "", label);
                    self.out.line(&line);
                }
            }
        }
        self.steps.push(s);
        ok
    }

    /// Whether every step so far passed.
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| s.ok)
    }

    /// Prints the verdict (or the JSON report) and returns the steps.
    pub fn finish(mut self) -> Vec<Step> {
        let ok = self.ok();
        if self.json {
            let report = Report {
                ok,
                url: &self.url,
                steps: &self.steps,
            };
            let text = serde_json::to_string_pretty(&report)
                .unwrap_or_else(|_| r#"{"ok":false,"steps":[]}"#.to_string());
            self.out.line(&text);
        } else {
            self.clear_waiting();
            self.out.line(if ok {
                "All checks passed: the bridge will work with these settings."
            } else {
                "A check failed: see the fix above."
            });
        }
        self.steps
    }
}

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
    let upstream = match build_upstream(&settings) {
        Ok(u) => u,
        Err((detail, fix)) => {
            r.done(fail("flags", detail, fix, None));
            r.finish();
            return 1;
        }
    };
    diagnose(&settings, &upstream, &mut r).await;
    let ok = r.ok();
    r.finish();
    if ok { 0 } else { 1 }
}

/// The bridge's HTTP client for these settings, or why it cannot be built and the fix.
fn build_upstream(settings: &Settings) -> Result<Upstream, (String, String)> {
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
fn flags_fix(message: &str) -> String {
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
    let host = settings.url.host_str().unwrap_or_default().to_string();
    let port = settings.url.port_or_known_default().unwrap_or(443);
    let connect_s = settings.connect_timeout.as_secs();

    if let Some(proxy) = &proxied {
        r.done(Step {
            step: "proxy",
            ok: true,
            detail: format!(
                "requests go through the proxy {}; DNS and TCP below are the proxy's",
                without_credentials(proxy)
            ),
            fix: None,
            ms: None,
        });
    }
    let proxy_url = proxied.as_deref().and_then(proxy_url);
    let (dns_host, dns_port) = match &proxy_url {
        Some(p) => (
            p.host_str().unwrap_or_default().to_string(),
            p.port_or_known_default().unwrap_or(80),
        ),
        None => (host.clone(), port),
    };
    let through = |what: String| match &proxied {
        Some(p) => format!("{what} (the proxy {})", without_credentials(p)),
        None => what,
    };

    r.waiting(
        "DNS",
        &format!("resolving {dns_host} (up to {connect_s} s)"),
    );
    let started = Instant::now();
    let addrs: Vec<std::net::SocketAddr> = match tokio::time::timeout(
        settings.connect_timeout,
        tokio::net::lookup_host((dns_host.as_str(), dns_port)),
    )
    .await
    {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            r.done(fail(
                "DNS",
                through(format!(
                    "{dns_host} could not be resolved ({})",
                    io_words(&e)
                )),
                dns_fix(proxied.is_some()),
                Some(started),
            ));
            return;
        }
        Err(_) => {
            r.done(fail(
                "DNS",
                through(format!("resolving {dns_host} took more than {connect_s} s")),
                dns_fix(proxied.is_some()),
                Some(started),
            ));
            return;
        }
    };
    let shown: Vec<String> = addrs.iter().take(3).map(|a| a.ip().to_string()).collect();
    r.done(pass(
        "DNS",
        format!("{dns_host} → {}", shown.join(", ")),
        started,
    ));

    let first = addrs
        .first()
        .map_or_else(|| format!("{dns_host}:{dns_port}"), |a| a.to_string());
    r.waiting(
        "TCP",
        &format!("connecting to {first} (up to {connect_s} s)"),
    );
    let started = Instant::now();
    let mut connected = None;
    let mut last_error = String::from("no address to try");
    for addr in &addrs {
        match tokio::time::timeout(
            settings.connect_timeout,
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(_)) => {
                connected = Some(*addr);
                break;
            }
            Ok(Err(e)) => last_error = format!("{addr}: {}", io_words(&e)),
            Err(_) => last_error = format!("{addr}: no answer within {connect_s} s"),
        }
    }
    match connected {
        Some(addr) => {
            r.done(pass("TCP", format!("connected to {addr}"), started));
        }
        None => {
            let fix = match &proxied {
                Some(p) => format!(
                    "Check the proxy's address ({}, from --proxy or HTTPS_PROXY / HTTP_PROXY / \
                     ALL_PROXY) and that the proxy is running.",
                    without_credentials(p)
                ),
                None => "Check the URL's host and port, that the server is running, and that no \
                         firewall blocks it. Behind a corporate network, set HTTPS_PROXY or pass \
                         --proxy."
                    .into(),
            };
            let detail = match &proxied {
                Some(p) => format!(
                    "could not connect to the proxy {}: {last_error}",
                    without_credentials(p)
                ),
                None => format!("could not connect: {last_error}"),
            };
            r.done(fail("TCP", detail, fix, Some(started)));
            return;
        }
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

    // initialize: TLS and HTTP are judged from this first real request.
    r.waiting(
        "initialize",
        &format!(
            "sent; waiting for the answer (up to {} s of silence)",
            settings.idle_timeout.as_secs()
        ),
    );
    let started = Instant::now();
    let reply = upstream
        .post(Bytes::from_static(INITIALIZE), &SessionHeaders::default())
        .await;
    let https = settings.url.scheme() == "https";
    let (meta, body) = match collect(reply, INITIALIZE_ID).await {
        Ok(x) => x,
        Err(failure) => {
            let (step, detail, fix) = failure_words(&failure, &ctx, "initialize");
            r.done(fail(step, detail, fix, Some(started)));
            return;
        }
    };
    if https {
        r.done(pass(
            "TLS",
            tls_detail(meta.peer_certificate.as_deref()),
            started,
        ));
    }
    let ct = meta.content_type.clone().unwrap_or_default();
    r.done(pass(
        "HTTP",
        format!(
            "POST answered {} ({})",
            meta.status,
            ct.split(';').next().unwrap_or("")
        ),
        started,
    ));

    // H23, as the bridge does: a pre-2025 server refuses the POST with 400/404/405 and no
    // JSON-RPC body; `auto` then tries the legacy transport.
    if settings.transport == TransportKind::Auto
        && matches!(meta.status.as_u16(), 400 | 404 | 405)
        && !jsonrpc::is_response(body.trim_ascii())
    {
        legacy_steps(upstream, &ctx, r).await;
        return;
    }
    if let Some(version) = crate::translate::modern_refusal(&body) {
        r.done(pass(
            "initialize",
            format!(
                "the server speaks only MCP {version} (no initialize); the bridge translates \
                 for 2025-era clients"
            ),
            started,
        ));
        modern_steps(upstream, &ctx, version, r).await;
        return;
    }
    if !meta.status.is_success() || jsonrpc::error_code(&body).is_some() {
        r.done(fail(
            "initialize",
            server_words(&meta, &body, &hints),
            status_fix(meta.status.as_u16(), &ctx),
            Some(started),
        ));
        return;
    }
    let version = jsonrpc::initialize_result_version(&body);
    let session_note = if meta.session_id.is_some() {
        "session opened"
    } else {
        "no session (stateless)"
    };
    r.done(pass(
        "initialize",
        initialize_detail(&body, session_note),
        started,
    ));

    let mut session = SessionHeaders {
        session_id: meta.session_id.clone(),
        protocol_version: version
            .as_deref()
            .and_then(|v| reqwest::header::HeaderValue::from_str(v).ok()),
        extra: Vec::new(),
    };
    let _ = upstream
        .post(Bytes::from_static(INITIALIZED), &session)
        .await;

    r.waiting(
        "tools/list",
        &format!(
            "waiting for the answer (up to {} s of silence)",
            settings.idle_timeout.as_secs()
        ),
    );
    let started = Instant::now();
    let reply = upstream
        .post(Bytes::from_static(TOOLS_LIST), &session)
        .await;
    match collect(reply, TOOLS_LIST_ID).await {
        Ok((meta, body)) if meta.status.is_success() && jsonrpc::error_code(&body).is_none() => {
            r.done(pass("tools/list", tools_detail(&body), started));
        }
        Ok((meta, body)) => {
            r.done(fail(
                "tools/list",
                server_words(&meta, &body, &hints),
                status_fix(meta.status.as_u16(), &ctx),
                Some(started),
            ));
        }
        Err(failure) => {
            let (_, detail, fix) = failure_words(&failure, &ctx, "tools/list");
            r.done(fail("tools/list", detail, fix, Some(started)));
        }
    }

    // Leave nothing behind on the server (H19).
    if session.session_id.is_some() {
        let _ = tokio::time::timeout(Duration::from_secs(2), upstream.delete(&session)).await;
        session.session_id = None;
    }
}

/// What the wording of a failure needs to know.
struct Ctx<'a> {
    settings: &'a Settings,
    hints: &'a Hints<'a>,
    proxy: Option<&'a str>,
}

/// `server/discover` and `tools/list` the 2026-07-28 way: `_meta` and request headers.
async fn modern_steps(upstream: &Upstream, ctx: &Ctx<'_>, version: String, r: &mut Reporter) {
    let t = crate::translate::Translation {
        version: version.clone(),
        capabilities: "{}".into(),
        client_info: r#"{"name":"wazion-mcp-check","version":"1"}"#.into(),
    };
    let headers = crate::modern::ToolHeaders::default();
    for (step, method) in [
        ("discover", "server/discover"),
        ("tools/list", "tools/list"),
    ] {
        r.waiting(
            step,
            &format!(
                "{method} sent; waiting for the answer (up to {} s of silence)",
                ctx.settings.idle_timeout.as_secs()
            ),
        );
        let started = Instant::now();
        let id = format!("\"wazion-mcp-check-{step}\"");
        let request = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#);
        let body = Bytes::from(crate::translate::stamp_meta(request.as_bytes(), &t));
        let session = SessionHeaders {
            extra: headers.request_headers(&body, &version),
            ..SessionHeaders::default()
        };
        match collect(upstream.post(body, &session).await, &id).await {
            Ok((meta, body))
                if meta.status.is_success() && jsonrpc::error_code(&body).is_none() =>
            {
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                let detail = match step {
                    "discover" => format!(
                        "capabilities {}",
                        v.pointer("/result/capabilities")
                            .map(Value::to_string)
                            .unwrap_or_default()
                    ),
                    _ => format!(
                        "{} tools",
                        v.pointer("/result/tools")
                            .and_then(Value::as_array)
                            .map_or(0, Vec::len)
                    ),
                };
                r.done(pass(step, detail, started));
            }
            Ok((meta, body)) => {
                r.done(fail(
                    step,
                    server_words(&meta, &body, ctx.hints),
                    status_fix(meta.status.as_u16(), ctx),
                    Some(started),
                ));
                return;
            }
            Err(failure) => {
                let (_, detail, fix) = failure_words(&failure, ctx, step);
                r.done(fail(step, detail, fix, Some(started)));
                return;
            }
        }
    }
}

/// The raw ids of the check's two requests, as they appear in `INITIALIZE` and `TOOLS_LIST`.
const INITIALIZE_ID: &str = r#""wazion-mcp-check-1""#;
const TOOLS_LIST_ID: &str = r#""wazion-mcp-check-2""#;
const INITIALIZE: &[u8] = br#"{"jsonrpc":"2.0","id":"wazion-mcp-check-1","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"wazion-mcp-check","version":"1"}}}"#;
const INITIALIZED: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const TOOLS_LIST: &[u8] = br#"{"jsonrpc":"2.0","id":"wazion-mcp-check-2","method":"tools/list"}"#;
/// How long the legacy checks wait for an answer on the event stream.
const LEGACY_WAIT: Duration = Duration::from_secs(10);

/// The legacy HTTP+SSE transport (2024-11-05, L1–L4): the GET stream and its `endpoint`,
/// then `initialize` and `tools/list` POSTed there and answered on the stream. Nothing to
/// DELETE: the session ends when the stream is dropped.
async fn legacy_steps(upstream: &Upstream, ctx: &Ctx<'_>, r: &mut Reporter) {
    let wait_s = LEGACY_WAIT.as_secs();
    r.waiting(
        "SSE stream",
        &format!(
            "GET {}; waiting for its endpoint event (up to {wait_s} s)",
            ctx.hints.host
        ),
    );
    let started = Instant::now();
    let link = match tokio::time::timeout(LEGACY_WAIT, crate::legacy::connect(upstream)).await {
        Ok(Ok(link)) => link,
        Ok(Err(failure)) => {
            let (_, detail, fix) = failure_words(&failure, ctx, "SSE stream");
            r.done(fail("SSE stream", detail, fix, Some(started)));
            return;
        }
        Err(_) => {
            r.done(fail(
                "SSE stream",
                format!("no endpoint event within {wait_s} s of the GET"),
                "Check the URL: it should be the server's SSE endpoint (it usually ends in /sse)."
                    .into(),
                Some(started),
            ));
            return;
        }
    };
    r.done(pass(
        "SSE stream",
        format!(
            "legacy HTTP+SSE transport; messages go to {}",
            link.endpoint.path()
        ),
        started,
    ));
    let mut events = link.events;

    let answer_wait = format!("waiting for the answer on the event stream (up to {wait_s} s)");
    r.waiting("initialize", &answer_wait);
    let started = Instant::now();
    let body = match legacy_call(
        upstream,
        &link.endpoint,
        &mut events,
        INITIALIZE,
        INITIALIZE_ID,
        ctx,
    )
    .await
    {
        Ok(body) if jsonrpc::error_code(&body).is_none() => body,
        Ok(body) => {
            r.done(fail(
                "initialize",
                rpc_error_words(&body),
                status_fix(401, ctx),
                Some(started),
            ));
            return;
        }
        Err((why, fix)) => {
            r.done(fail("initialize", why, fix, Some(started)));
            return;
        }
    };
    r.done(pass(
        "initialize",
        initialize_detail(&body, "over the event stream"),
        started,
    ));
    let _ = upstream
        .post_to(&link.endpoint, Bytes::from_static(INITIALIZED))
        .await;

    r.waiting("tools/list", &answer_wait);
    let started = Instant::now();
    match legacy_call(
        upstream,
        &link.endpoint,
        &mut events,
        TOOLS_LIST,
        TOOLS_LIST_ID,
        ctx,
    )
    .await
    {
        Ok(body) if jsonrpc::error_code(&body).is_none() => {
            r.done(pass("tools/list", tools_detail(&body), started));
        }
        Ok(body) => {
            r.done(fail(
                "tools/list",
                rpc_error_words(&body),
                status_fix(401, ctx),
                Some(started),
            ));
        }
        Err((why, fix)) => {
            r.done(fail("tools/list", why, fix, Some(started)));
        }
    }
}

/// POSTs `request` to the legacy endpoint and waits (bounded) for the answer to `id` (raw)
/// on `events`. A failure comes with its fix.
async fn legacy_call(
    upstream: &Upstream,
    endpoint: &reqwest::Url,
    events: &mut EventStream,
    request: &'static [u8],
    id: &str,
    ctx: &Ctx<'_>,
) -> Result<Bytes, (String, String)> {
    let words = |f: Failure| {
        let (_, detail, fix) = failure_words(&f, ctx, "the request");
        (detail, fix)
    };
    match upstream
        .post_to(endpoint, Bytes::from_static(request))
        .await
    {
        Ok(Reply::Status(meta, body)) => return Err(words(Failure::Http(Box::new(meta), body))),
        Ok(Reply::Json(_, body)) => return Ok(body),
        Ok(Reply::Events(_, mut stream)) => {
            return first_response(&mut stream, id)
                .await
                .ok_or_else(|| words(Failure::StreamEnded));
        }
        Ok(Reply::Accepted) => {}
        Err(e) => return Err(words(Failure::Net(e))),
    }
    match tokio::time::timeout(LEGACY_WAIT, first_response(events, id)).await {
        Ok(Some(body)) => Ok(body),
        Ok(None) => Err(words(Failure::LegacyStreamClosed)),
        Err(_) => Err((
            format!(
                "no answer on the event stream within {} s",
                LEGACY_WAIT.as_secs()
            ),
            "The server accepted the request but did not answer on its event stream; check \
             that the URL is the server's SSE endpoint, and the server's logs."
                .into(),
        )),
    }
}

/// "server NAME VERSION, protocol P, NOTE" from an `initialize` result.
fn initialize_detail(body: &[u8], note: &str) -> String {
    let version = jsonrpc::initialize_result_version(body);
    let server = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            let info = v.get("result")?.get("serverInfo")?;
            Some(format!(
                "{} {}",
                info.get("name")?.as_str()?,
                info.get("version").and_then(Value::as_str).unwrap_or("")
            ))
        })
        .unwrap_or_else(|| "(no serverInfo)".into());
    format!(
        "server {}, protocol {}, {note}",
        server.trim(),
        version.as_deref().unwrap_or("?"),
    )
}

/// "N tools: a, b, …" from a `tools/list` result.
fn tools_detail(body: &[u8]) -> String {
    let names: Vec<String> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            Some(
                v.get("result")?
                    .get("tools")?
                    .as_array()?
                    .iter()
                    .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
                    .collect(),
            )
        })
        .unwrap_or_default();
    let mut shown = names.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 8 {
        shown.push_str(", …");
    }
    format!("{} tools: {shown}", names.len())
}

fn pass(step: &'static str, detail: String, started: Instant) -> Step {
    Step {
        step,
        ok: true,
        detail,
        fix: None,
        ms: Some(started.elapsed().as_millis() as u64),
    }
}

/// A failed step: it always says how to fix it.
fn fail(step: &'static str, detail: String, fix: String, started: Option<Instant>) -> Step {
    Step {
        step,
        ok: false,
        detail,
        fix: Some(fix),
        ms: started.map(|s| s.elapsed().as_millis() as u64),
    }
}

fn flags_step(settings: &Settings) -> Step {
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
            let fix = token_fix(&settings.token_env);
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

/// How to set the token variable in each client.
fn token_fix(var: &str) -> String {
    format!(
        "Set {var} to your token where the bridge is launched (get a WAzion token at \
         https://www.wazion.com/dashboard → Settings):\n\
         shell:          export {var}=…   (then run this check again)\n\
         Claude Desktop: \"env\": {{\"{var}\": \"…\"}} in the server entry of claude_desktop_config.json\n\
         VS Code:        \"env\": {{\"{var}\": \"${{input:wazion-token}}\"}} in mcp.json (asked once, stored securely)\n\
         Cursor:         \"env\": {{\"{var}\": \"…\"}} in ~/.cursor/mcp.json\n\
         Gemini CLI:     \"env\": {{\"{var}\": \"…\"}} in ~/.gemini/settings.json\n\
         Codex:          env = {{ {var} = \"…\" }} under [mcp_servers.wazion] in ~/.codex/config.toml\n\
         Claude Code:    claude mcp add wazion --scope user --env {var}=… -- /path/to/wazion-mcp\n\
         `wazion-mcp config <client> --write` adds the entry for you."
    )
}

/// The fix for an HTTP status the server refused with.
fn status_fix(status: u16, ctx: &Ctx<'_>) -> String {
    let settings = ctx.settings;
    match status {
        401 if !settings.token_present => format!(
            "Set {} (see the fix under \"flags\" above).",
            settings.token_env
        ),
        401 => format!(
            "The server rejected the token in {}: copy it again (complete, no quotes) or create a \
             new one.",
            settings.token_env
        ),
        403 => format!(
            "The token in {} is valid but not allowed to do this; use a token with more access.",
            settings.token_env
        ),
        404 | 405 | 400 => format!(
            "Check the URL: it should be the server's MCP endpoint (e.g. {}).",
            crate::cli::DEFAULT_URL
        ),
        407 => match ctx.proxy {
            Some(p) => format!(
                "The proxy {} wants credentials: put them in the proxy URL \
                 (http://user:password@host:port).",
                without_credentials(p)
            ),
            None => {
                "A proxy wants credentials: pass --proxy http://user:password@host:port.".into()
            }
        },
        429 => "The server is rate limiting: wait a moment and run the check again.".into(),
        300..=399 => "The URL redirects elsewhere (the bridge follows only same-origin 307/308): \
                      use the address it redirects to."
            .into(),
        500..=599 => "The server failed: try again later, or tell the server's operator.".into(),
        _ => "Check the URL and the server's status; the bridge would get the same answer.".into(),
    }
}

/// The server's own words for a refusal: the JSON-RPC error message if it sent one.
fn server_words(meta: &Meta, body: &[u8], hints: &Hints<'_>) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.get("message")?.as_str().map(str::to_string));
    match message {
        Some(m) => format!("HTTP {}: the server says \"{m}\"", meta.status.as_u16()),
        None => describe(
            &Failure::Http(Box::new(meta.clone()), Bytes::copy_from_slice(body)),
            hints,
        ),
    }
}

/// The JSON-RPC error of an answer read off an event stream.
fn rpc_error_words(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.get("message")?.as_str().map(str::to_string))
        .map_or_else(
            || "the server answered with an error".to_string(),
            |m| format!("the server says \"{m}\""),
        )
}

/// The bridge's own words for a failure (what a client would be told).
fn describe(failure: &Failure, hints: &Hints<'_>) -> String {
    let answer = errors::answer("0", failure, hints);
    serde_json::from_slice::<Value>(&answer)
        .ok()
        .and_then(|v| v.get("error")?.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("the request to {} failed", hints.host))
}

/// The step, the words and the fix for a failure of request `what`.
fn failure_words(failure: &Failure, ctx: &Ctx<'_>, what: &str) -> (&'static str, String, String) {
    let host = ctx.hints.host;
    match failure {
        Failure::Net(NetError::Connect(cause)) => connect_words(cause, ctx),
        Failure::Net(NetError::Idle(d)) => (
            "HTTP",
            format!("{host} sent nothing for {} s after {what}", d.as_secs()),
            "Check that the URL is the server's MCP endpoint; a slow server needs a larger \
             --idle-timeout."
                .into(),
        ),
        Failure::Http(meta, _) => (
            "HTTP",
            describe(failure, ctx.hints),
            status_fix(meta.status.as_u16(), ctx),
        ),
        Failure::Net(NetError::TooLarge(_)) => (
            "HTTP",
            describe(failure, ctx.hints),
            "Raise --max-message-bytes, or check that the URL is the MCP endpoint.".into(),
        ),
        _ => (
            "HTTP",
            describe(failure, ctx.hints),
            "Run the check again; if it keeps failing, check the URL and the server's logs.".into(),
        ),
    }
}

/// Words and fix for a connection that failed below HTTP (`cause` is the bridge's plain text
/// of reqwest's error, whose root is a rustls or io error).
fn connect_words(cause: &str, ctx: &Ctx<'_>) -> (&'static str, String, String) {
    let host = ctx.hints.host;
    let lower = cause.to_ascii_lowercase();
    let https = ctx.settings.url.scheme() == "https";
    let via = ctx
        .proxy
        .map(|p| format!(" (through the proxy {})", without_credentials(p)))
        .unwrap_or_default();
    let has = |needle: &str| lower.contains(needle);
    let ca_hint = "If a proxy or antivirus inspects HTTPS on this machine, pass its CA with \
                   --ca-file /path/to/ca.pem (or install it in the system's trust store); for a \
                   server with a private CA, pass that CA.";
    if has("invalidcontenttype") || has("corrupt message") || has("wrong version number") {
        return (
            "TLS",
            format!(
                "{host} answered in plain http, not TLS: nothing speaks https on that port{via}"
            ),
            "Use http:// in the URL if the server really speaks plain http (accepted for \
             localhost; for another host only with --allow-http), or the server's https port."
                .into(),
        );
    }
    if has("caused") && has("endentity") || has("ca used as end entity") {
        return (
            "TLS",
            format!(
                "{host}'s certificate is a self-signed CA certificate used as its own server \
                 certificate, which TLS clients refuse even when that CA is trusted{via}"
            ),
            "Give the server a certificate issued by a CA (for a local server, mkcert makes one), \
             and pass that CA with --ca-file if it is private."
                .into(),
        );
    }
    if has("unknownissuer") || has("unknown issuer") {
        return (
            "TLS",
            format!(
                "{host}'s certificate is issued by a CA this machine does not trust (a \
                 self-signed certificate, a private CA, or a proxy that inspects HTTPS){via}"
            ),
            ca_hint.into(),
        );
    }
    if has("expired") || has("notvalidyet") || has("not valid yet") {
        return (
            "TLS",
            format!("{host}'s certificate is outside its validity dates{via}"),
            "Check this machine's date and time; if they are right, the server's certificate \
             must be renewed (tell its operator)."
                .into(),
        );
    }
    if has("notvalidforname") || has("not valid for name") {
        return (
            "TLS",
            format!("{host}'s certificate is issued for another name{via}"),
            "Use the host name the certificate names in the URL (an IP address works only when \
             the certificate lists it)."
                .into(),
        );
    }
    if has("tunnel") || (ctx.proxy.is_some() && has("proxy")) {
        let p = ctx.proxy.map(without_credentials).unwrap_or_default();
        return (
            "HTTP",
            format!("the proxy {p} did not open a connection to {host}"),
            format!(
                "Check that the proxy {p} allows {host}, and its credentials \
                 (http://user:password@host:port in --proxy or HTTPS_PROXY)."
            ),
        );
    }
    if has("connection refused") {
        return (
            "HTTP",
            format!("{host} refused the connection{via}"),
            "Check that the server is running and the URL's port is right.".into(),
        );
    }
    if has("timed out") {
        return (
            "HTTP",
            format!(
                "no connection to {host} within {} s{via}",
                ctx.settings.connect_timeout.as_secs()
            ),
            "Check the URL, your network and any firewall or proxy; raise --connect-timeout for \
             a slow network."
                .into(),
        );
    }
    if has("could not be resolved") {
        return (
            "DNS",
            format!("{host} could not be resolved{via}"),
            dns_fix(ctx.proxy.is_some()),
        );
    }
    if https && (has("tls") || has("handshake") || has("certificate") || has("alert")) {
        let alert = cause
            .split("alert: ")
            .nth(1)
            .map(|a| {
                a.split(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap_or("")
            })
            .filter(|a| !a.is_empty())
            .map(|a| format!(" (the server sent the TLS alert \"{}\")", spaced(a)))
            .unwrap_or_default();
        return (
            "TLS",
            format!("the TLS handshake with {host} failed{alert}{via}"),
            format!(
                "{ca_hint} Also check this machine's clock, and that the URL's host name matches \
                 the certificate."
            ),
        );
    }
    (
        "HTTP",
        format!("could not reach {host}: {}{via}", cause.trim()),
        "Check the URL, your network and any proxy; the bridge would fail the same way.".into(),
    )
}

/// `HandshakeFailure` → `handshake failure`.
fn spaced(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// An io error in words, without Rust's "(os error N)" suffix.
fn io_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused: nothing listens there".into(),
        TimedOut => "timed out".into(),
        NotFound => "no such host".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

/// Reads a reply to the end of the response with `id`; `Status` replies come back as-is.
async fn collect(
    reply: Result<Reply, crate::upstream::NetError>,
    id: &str,
) -> Result<(Meta, Bytes), Failure> {
    match reply.map_err(Failure::Net)? {
        Reply::Json(meta, body) | Reply::Status(meta, body) => Ok((meta, body)),
        Reply::Events(meta, mut stream) => match first_response(&mut stream, id).await {
            Some(body) => Ok((meta, body)),
            None => Err(Failure::StreamEnded),
        },
        Reply::Accepted => Err(Failure::NoResponse),
    }
}

async fn first_response(stream: &mut EventStream, id: &str) -> Option<Bytes> {
    while let Some(Ok(event)) = stream.next().await {
        let Some(data) = event.data else { continue };
        if let Ok(e) = jsonrpc::parse_single(&data)
            && e.kind == jsonrpc::Kind::Response
            && e.id_key() == Some(id)
        {
            return Some(Bytes::from(data));
        }
    }
    None
}

/// Issuer and expiry of the server's certificate.
fn tls_detail(der: Option<&[u8]>) -> String {
    let Some(der) = der else {
        return "handshake succeeded".into();
    };
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let issuer = cert
                .issuer()
                .iter_organization()
                .chain(cert.issuer().iter_common_name())
                .filter_map(|a| a.as_str().ok())
                .collect::<Vec<_>>()
                .join(" / ");
            let until = cert.validity().not_after;
            let days = (until.timestamp() - time_now()) / 86_400;
            format!(
                "certificate issued by {}, valid until {} ({days} days left)",
                if issuer.is_empty() {
                    "(unnamed issuer)".into()
                } else {
                    issuer
                },
                until.to_datetime().date()
            )
        }
        Err(_) => "handshake succeeded (certificate not parsed)".into(),
    }
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn dns_fix(proxied: bool) -> String {
    if proxied {
        "Check the proxy's host name (--proxy, or HTTPS_PROXY / HTTP_PROXY / ALL_PROXY).".into()
    } else {
        "Check the host name in the URL. On a VPN or corporate network, check its DNS; behind a \
         proxy, set HTTPS_PROXY or pass --proxy."
            .into()
    }
}

/// The proxy requests to the server will use, if any (explicit `--proxy`, else the
/// environment's), so DNS/TCP are checked against it.
fn proxy_for(settings: &Settings) -> Option<String> {
    if let Some(p) = &settings.proxy {
        return Some(p.clone());
    }
    let var = |k: &str| {
        std::env::var(k)
            .ok()
            .or_else(|| std::env::var(k.to_ascii_lowercase()).ok())
            .filter(|v| !v.is_empty())
    };
    let candidate = match settings.url.scheme() {
        "https" => var("HTTPS_PROXY").or_else(|| var("ALL_PROXY")),
        _ => var("HTTP_PROXY").or_else(|| var("ALL_PROXY")),
    }?;
    let host = settings.url.host_str().unwrap_or_default();
    let bypass = var("NO_PROXY").is_some_and(|list| {
        list.split(',').map(str::trim).any(|entry| {
            entry == "*"
                || (!entry.is_empty()
                    && (host == entry.trim_start_matches('.')
                        || host.ends_with(&format!(".{}", entry.trim_start_matches('.')))))
        })
    });
    (!bypass).then_some(candidate)
}

/// A proxy as a URL (a bare `host:port` is `http://host:port`, as reqwest takes it).
fn proxy_url(p: &str) -> Option<reqwest::Url> {
    reqwest::Url::parse(p)
        .ok()
        .filter(|u| u.has_host())
        .or_else(|| reqwest::Url::parse(&format!("http://{p}")).ok())
}

/// A URL fit for display: user name and password removed.
fn without_credentials(url: &str) -> String {
    match proxy_url(url) {
        Some(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        None => "(not a valid URL)".into(),
    }
}
