//! Connections that fail below HTTP, TLS above all, named by their cause (plain http on an
//! https port, a self-signed or unknown CA, an expired certificate, another name, a TLS
//! alert, the proxy's tunnel, a refusal, a timeout), and the certificate of a handshake
//! that succeeded (issuer, expiry, days left).
//!
//! Invariant: the cause is read from the bridge's plain text of reqwest's error (rustls and
//! io roots), never shown as Rust's debug text; each cause has its own fix, and an unknown
//! TLS failure still gets the CA, clock and host-name hints.

use super::Ctx;
use super::network::{dns_fix, without_credentials};

/// Words and fix for a connection that failed below HTTP (`cause` is the bridge's plain text
/// of reqwest's error, whose root is a rustls or io error).
pub(super) fn connect_words(cause: &str, ctx: &Ctx<'_>) -> (&'static str, String, String) {
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

/// Issuer and expiry of the server's certificate.
pub(super) fn tls_detail(der: Option<&[u8]>) -> String {
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
