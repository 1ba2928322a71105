//! Below HTTP: the proxy requests will go through, DNS and TCP, each step bounded by
//! `--connect-timeout`.
//!
//! Invariants: the proxy is found as the bridge's HTTP client finds it (`--proxy`, else
//! `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` unless `NO_PROXY` covers the host), and when
//! there is one, DNS and TCP are checked against the proxy, not the server; a proxy or URL is
//! only ever shown without user name and password; io errors are named in words, without
//! Rust's "(os error N)".

use std::time::Instant;

use super::report::{Reporter, Step, fail, pass};
use crate::config::Settings;

/// The proxy, DNS and TCP steps; false when one failed (the check stops there).
pub(super) async fn network_steps(
    settings: &Settings,
    proxied: &Option<String>,
    r: &mut Reporter,
) -> bool {
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
            return false;
        }
        Err(_) => {
            r.done(fail(
                "DNS",
                through(format!("resolving {dns_host} took more than {connect_s} s")),
                dns_fix(proxied.is_some()),
                Some(started),
            ));
            return false;
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
            return false;
        }
    }
    true
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

pub(super) fn dns_fix(proxied: bool) -> String {
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
pub(super) fn proxy_for(settings: &Settings) -> Option<String> {
    // As the bridge's client: a loopback server is reached directly (netutil::with_proxy).
    if crate::netutil::bypasses_proxies(&settings.url) {
        return None;
    }
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
pub(super) fn without_credentials(url: &str) -> String {
    match proxy_url(url) {
        Some(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        None => "(not a valid URL)".into(),
    }
}
