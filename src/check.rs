//! `wazion-mcp check`: walks the path a real session takes — flags, DNS, TCP, TLS, HTTP,
//! `initialize`, `tools/list` — and gives a verdict per step with the fix for what failed.
//!
//! It goes through the same `Upstream` as the bridge (same headers, proxy, CA, redirect
//! policy, and `--transport`: a legacy HTTP+SSE server is checked over its event stream), so
//! what passes here works in the bridge. It never prints the token or the
//! session id, and it DELETEs the session it opened, so no session is leaked.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::cli::TransportKind;
use crate::config::Settings;
use crate::errors::{self, Failure, Hints};
use crate::jsonrpc;
use crate::upstream::{EventStream, Meta, Reply, SessionHeaders, Upstream};

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

/// Runs every step (stopping at the first failure); prints the report; returns the exit code.
/// `wazion-mcp check` runs instead of the bridge, so its report may use stdout.
#[allow(clippy::print_stdout)]
pub async fn run(settings: Settings, json: bool) -> i32 {
    let steps = diagnose(&settings).await;
    let ok = steps.iter().all(|s| s.ok);
    if json {
        let report = Report {
            ok,
            url: settings.url.as_str(),
            steps: &steps,
        };
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("wazion-mcp: {e}"),
        }
    } else {
        println!("wazion-mcp check: {}", settings.url);
        for s in &steps {
            let time = s.ms.map(|m| format!(" ({m} ms)")).unwrap_or_default();
            println!(
                "  {:<4}  {:<12}  {}{time}",
                if s.ok { "ok" } else { "FAIL" },
                s.step,
                s.detail
            );
            if let Some(fix) = &s.fix {
                for (i, line) in fix.lines().enumerate() {
                    let label = if i == 0 { "fix:" } else { "" };
                    println!("  {:<4}  {:<12}  {line}", "", label);
                }
            }
        }
        println!(
            "{}",
            if ok {
                "All checks passed: the bridge will work with these settings."
            } else {
                "A check failed: see the fix above."
            }
        );
    }
    if ok { 0 } else { 1 }
}

/// The steps, in order; stops after the first failure (later steps would only repeat it).
pub async fn diagnose(settings: &Settings) -> Vec<Step> {
    let mut steps = vec![flags_step(settings)];
    let proxied = proxy_for(settings);
    let host = settings.url.host_str().unwrap_or_default().to_string();
    let port = settings.url.port_or_known_default().unwrap_or(443);

    if let Some(proxy) = &proxied {
        steps.push(Step {
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
    let (dns_host, dns_port) = match proxied.as_deref().and_then(|p| reqwest::Url::parse(p).ok()) {
        Some(p) => (
            p.host_str().unwrap_or_default().to_string(),
            p.port_or_known_default().unwrap_or(80),
        ),
        None => (host.clone(), port),
    };

    let started = Instant::now();
    let addrs: Vec<std::net::SocketAddr> = match tokio::time::timeout(
        settings.connect_timeout,
        tokio::net::lookup_host((dns_host.as_str(), dns_port)),
    )
    .await
    {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            steps.push(fail(
                "DNS",
                format!("{dns_host} could not be resolved: {e}"),
                dns_fix(),
                started,
            ));
            return steps;
        }
        Err(_) => {
            steps.push(fail(
                "DNS",
                format!("resolving {dns_host} timed out"),
                dns_fix(),
                started,
            ));
            return steps;
        }
    };
    let shown: Vec<String> = addrs.iter().take(3).map(|a| a.ip().to_string()).collect();
    steps.push(pass(
        "DNS",
        format!("{dns_host} → {}", shown.join(", ")),
        started,
    ));

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
            Ok(Err(e)) => last_error = format!("{addr}: {e}"),
            Err(_) => {
                last_error = format!(
                    "{addr}: timed out after {} s",
                    settings.connect_timeout.as_secs()
                )
            }
        }
    }
    match connected {
        Some(addr) => steps.push(pass("TCP", format!("connected to {addr}"), started)),
        None => {
            steps.push(fail(
                "TCP",
                format!("could not connect: {last_error}"),
                Some(
                    "Check the URL's host and port, that the server is running, and that no \
                     firewall blocks it. Behind a corporate network, set HTTPS_PROXY or pass --proxy."
                        .into(),
                ),
                started,
            ));
            return steps;
        }
    }

    let upstream = match Upstream::with_tls_info(settings) {
        Ok(u) => u,
        Err(e) => {
            steps.push(fail("HTTP", e, None, Instant::now()));
            return steps;
        }
    };
    let hints = Hints {
        host: &settings.host_label,
        token_env: &settings.token_env,
        token_present: settings.token_present,
        secrets: &settings.secrets,
    };

    if settings.transport == TransportKind::Sse {
        legacy_steps(&upstream, &hints, settings, &mut steps).await;
        return steps;
    }

    // initialize: TLS and HTTP are judged from this first real request.
    let started = Instant::now();
    let reply = upstream
        .post(Bytes::from_static(INITIALIZE), &SessionHeaders::default())
        .await;
    let https = settings.url.scheme() == "https";
    let (meta, body) = match collect(reply, INITIALIZE_ID).await {
        Ok(x) => x,
        Err(failure) => {
            let (step, fix) = match &failure {
                Failure::Net(crate::upstream::NetError::Connect(c)) if https && (c.contains("TLS") || c.contains("certificate")) => (
                    "TLS",
                    Some(
                        "If you are behind a proxy or antivirus that inspects HTTPS, pass its CA with \
                         --ca-file /path/to/ca.pem (or install it in the OS trust store). Also check the \
                         system clock, and that the URL's host name matches the certificate."
                            .to_string(),
                    ),
                ),
                _ => ("HTTP", None),
            };
            steps.push(fail(step, describe(&failure, &hints), fix, started));
            return steps;
        }
    };
    if https {
        steps.push(pass(
            "TLS",
            tls_detail(meta.peer_certificate.as_deref()),
            started,
        ));
    }
    let ct = meta.content_type.clone().unwrap_or_default();
    steps.push(pass(
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
        legacy_steps(&upstream, &hints, settings, &mut steps).await;
        return steps;
    }
    if let Some(version) = crate::translate::modern_refusal(&body) {
        steps.push(pass(
            "initialize",
            format!(
                "the server speaks only MCP {version} (no initialize); the bridge translates \
                 for 2025-era clients"
            ),
            started,
        ));
        modern_steps(&upstream, &hints, version, &mut steps).await;
        return steps;
    }
    if !meta.status.is_success() || jsonrpc::error_code(&body).is_some() {
        steps.push(fail(
            "initialize",
            server_words(&meta, &body, &hints),
            auth_fix(meta.status.as_u16(), settings),
            started,
        ));
        return steps;
    }
    let version = jsonrpc::initialize_result_version(&body);
    let session_note = if meta.session_id.is_some() {
        "session opened"
    } else {
        "no session (stateless)"
    };
    steps.push(pass(
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

    let started = Instant::now();
    let reply = upstream
        .post(Bytes::from_static(TOOLS_LIST), &session)
        .await;
    match collect(reply, TOOLS_LIST_ID).await {
        Ok((meta, body)) if meta.status.is_success() && jsonrpc::error_code(&body).is_none() => {
            steps.push(pass("tools/list", tools_detail(&body), started));
        }
        Ok((meta, body)) => steps.push(fail(
            "tools/list",
            server_words(&meta, &body, &hints),
            auth_fix(meta.status.as_u16(), settings),
            started,
        )),
        Err(failure) => steps.push(fail(
            "tools/list",
            describe(&failure, &hints),
            None,
            started,
        )),
    }

    // Leave nothing behind on the server (H19).
    if session.session_id.is_some() {
        let _ = tokio::time::timeout(Duration::from_secs(2), upstream.delete(&session)).await;
        session.session_id = None;
    }
    steps
}

/// `server/discover` and `tools/list` the 2026-07-28 way: `_meta` and request headers.
async fn modern_steps(
    upstream: &Upstream,
    hints: &Hints<'_>,
    version: String,
    steps: &mut Vec<Step>,
) {
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
                steps.push(pass(step, detail, started));
            }
            Ok((meta, body)) => {
                steps.push(fail(step, server_words(&meta, &body, hints), None, started));
                return;
            }
            Err(failure) => {
                steps.push(fail(step, describe(&failure, hints), None, started));
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
async fn legacy_steps(
    upstream: &Upstream,
    hints: &Hints<'_>,
    settings: &Settings,
    steps: &mut Vec<Step>,
) {
    let started = Instant::now();
    let link = match tokio::time::timeout(LEGACY_WAIT, crate::legacy::connect(upstream)).await {
        Ok(Ok(link)) => link,
        Ok(Err(failure)) => {
            let fix = match &failure {
                Failure::Http(meta, _) => auth_fix(meta.status.as_u16(), settings),
                _ => None,
            };
            steps.push(fail("SSE stream", describe(&failure, hints), fix, started));
            return;
        }
        Err(_) => {
            steps.push(fail(
                "SSE stream",
                format!(
                    "no endpoint event within {} s of the GET",
                    LEGACY_WAIT.as_secs()
                ),
                Some("Check the URL: it should be the server's SSE endpoint.".into()),
                started,
            ));
            return;
        }
    };
    steps.push(pass(
        "SSE stream",
        format!(
            "legacy HTTP+SSE transport; messages go to {}",
            link.endpoint.path()
        ),
        started,
    ));
    let mut events = link.events;

    let started = Instant::now();
    let body = match legacy_call(
        upstream,
        &link.endpoint,
        &mut events,
        INITIALIZE,
        INITIALIZE_ID,
        hints,
    )
    .await
    {
        Ok(body) if jsonrpc::error_code(&body).is_none() => body,
        Ok(body) => {
            let words = String::from_utf8_lossy(&body).into_owned();
            steps.push(fail("initialize", words, None, started));
            return;
        }
        Err(why) => {
            steps.push(fail("initialize", why, None, started));
            return;
        }
    };
    steps.push(pass(
        "initialize",
        initialize_detail(&body, "over the event stream"),
        started,
    ));
    let _ = upstream
        .post_to(&link.endpoint, Bytes::from_static(INITIALIZED))
        .await;

    let started = Instant::now();
    match legacy_call(
        upstream,
        &link.endpoint,
        &mut events,
        TOOLS_LIST,
        TOOLS_LIST_ID,
        hints,
    )
    .await
    {
        Ok(body) if jsonrpc::error_code(&body).is_none() => {
            steps.push(pass("tools/list", tools_detail(&body), started))
        }
        Ok(body) => {
            let words = String::from_utf8_lossy(&body).into_owned();
            steps.push(fail("tools/list", words, None, started));
        }
        Err(why) => steps.push(fail("tools/list", why, None, started)),
    }
}

/// POSTs `request` to the legacy endpoint and waits (bounded) for the answer to `id` (raw)
/// on `events`.
async fn legacy_call(
    upstream: &Upstream,
    endpoint: &reqwest::Url,
    events: &mut EventStream,
    request: &'static [u8],
    id: &str,
    hints: &Hints<'_>,
) -> Result<Bytes, String> {
    match upstream
        .post_to(endpoint, Bytes::from_static(request))
        .await
    {
        Ok(Reply::Status(meta, body)) => {
            return Err(describe(&Failure::Http(Box::new(meta), body), hints));
        }
        Ok(Reply::Json(_, body)) => return Ok(body),
        Ok(Reply::Events(_, mut stream)) => {
            return first_response(&mut stream, id)
                .await
                .ok_or_else(|| describe(&Failure::StreamEnded, hints));
        }
        Ok(Reply::Accepted) => {}
        Err(e) => return Err(describe(&Failure::Net(e), hints)),
    }
    match tokio::time::timeout(LEGACY_WAIT, first_response(events, id)).await {
        Ok(Some(body)) => Ok(body),
        Ok(None) => Err(describe(&Failure::LegacyStreamClosed, hints)),
        Err(_) => Err(format!(
            "no answer on the event stream within {} s",
            LEGACY_WAIT.as_secs()
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

fn fail(step: &'static str, detail: String, fix: Option<String>, started: Instant) -> Step {
    Step {
        step,
        ok: false,
        detail,
        fix,
        ms: Some(started.elapsed().as_millis() as u64),
    }
}

fn flags_step(settings: &Settings) -> Step {
    let extra: Vec<&str> = settings
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| *k != "authorization")
        .collect();
    let token = if settings.token_present {
        format!("token from {} (set)", settings.token_env)
    } else if settings.headers.contains_key("authorization") {
        "Authorization from --header".to_string()
    } else {
        format!("{} is NOT set", settings.token_env)
    };
    let headers = if extra.is_empty() {
        String::new()
    } else {
        format!(", extra headers: {}", extra.join(", "))
    };
    let ok = settings.token_present
        || settings.headers.contains_key("authorization")
        || !extra.is_empty();
    Step {
        step: "flags",
        ok,
        detail: format!("{}, {token}{headers}", settings.url),
        fix: (!ok).then(|| token_fix(&settings.token_env)),
        ms: None,
    }
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
         Codex:          env = {{ {var} = \"…\" }} under [mcp_servers.wazion] in ~/.codex/config.toml\n\
         Claude Code:    claude mcp add wazion --env {var}=… -- /path/to/wazion-mcp\n\
         `wazion-mcp config <client> --write` adds the entry for you."
    )
}

fn auth_fix(status: u16, settings: &Settings) -> Option<String> {
    match status {
        401 if !settings.token_present => Some(format!(
            "Set {} (see the fix under \"flags\" above).",
            settings.token_env
        )),
        401 => Some(format!(
            "The server rejected the token in {}: copy it again (complete, no quotes) or create a new one.",
            settings.token_env
        )),
        403 => Some(format!(
            "The token in {} is valid but not allowed to do this; use a token with more access.",
            settings.token_env
        )),
        404 | 405 => Some("Check the URL: it should be the server's MCP endpoint (e.g. https://www.wazion.com/api/mcp/).".into()),
        _ => None,
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

fn describe(failure: &Failure, hints: &Hints<'_>) -> String {
    let answer = errors::answer("0", failure, hints);
    serde_json::from_slice::<Value>(&answer)
        .ok()
        .and_then(|v| v.get("error")?.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{failure:?}"))
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

fn dns_fix() -> Option<String> {
    Some(
        "Check the host name in the URL. On a VPN or corporate network, check its DNS; \
         behind a proxy, set HTTPS_PROXY or pass --proxy."
            .into(),
    )
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

/// A proxy URL fit for display: user name and password removed.
fn without_credentials(proxy: &str) -> String {
    match reqwest::Url::parse(proxy) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "(unparsable proxy URL)".into(),
    }
}
