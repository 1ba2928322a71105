//! Small facts about URLs and HTTP errors that `config`, `upstream`, `oauth` and `check` all
//! need: whether a URL is loopback, how to name a host, and a reqwest error in plain words.
//!
//! A leaf: it imports nothing from the crate, so any module may use it without an import
//! circle (before it existed, `config`, `oauth` and `upstream` imported each other for these).

use reqwest::Url;

/// True for `localhost`, 127.0.0.0/8 and `::1`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `host` or `host:port` when the port is explicit.
pub fn host_label(url: &Url) -> String {
    let host = url.host_str().unwrap_or("server");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// Describes a reqwest error in plain words, without the URL (which could carry a secret in
/// its query) and with the root cause a user can act on.
pub fn plain_cause(e: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    let root = causes
        .last()
        .cloned()
        .unwrap_or_else(|| e.without_url_string());
    let lower = causes.join(" | ").to_ascii_lowercase();
    if e.is_timeout() || lower.contains("timed out") {
        return "the connection timed out (check the URL, your network, or a proxy/firewall)"
            .into();
    }
    if lower.contains("connection refused") {
        return "connection refused (is the server running and the URL's port right?)".into();
    }
    if lower.contains("dns error")
        || lower.contains("failed to lookup")
        || lower.contains("name or service not known")
    {
        return format!(
            "the host name could not be resolved ({root}); check the URL and your DNS or VPN"
        );
    }
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        return format!(
            "the TLS handshake failed ({root}); a proxy or antivirus that intercepts HTTPS, or a \
             server with an invalid certificate, can cause this"
        );
    }
    if lower.contains("connection reset") {
        return "the server reset the connection".into();
    }
    root
}

trait WithoutUrlString {
    fn without_url_string(&self) -> String;
}

impl WithoutUrlString for reqwest::Error {
    fn without_url_string(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(url.as_str(), "<url>");
        }
        text
    }
}
