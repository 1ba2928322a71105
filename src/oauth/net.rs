//! Where the bridge may send OAuth traffic, and how much of an answer it reads: the rules
//! that keep a server's 401 from steering the bridge's credentials or its network reach.
//!
//! Invariants (pure functions, tested here; the I/O is one DNS filter and one body reader):
//! - every metadata document, token, registration and revocation request goes to an https
//!   URL; plain http only when the MCP server itself is loopback and the URL is loopback too,
//!   or with `--allow-http` (the user already accepts plain http for the MCP server);
//! - for an MCP server that is not loopback, no OAuth request goes to an internal address:
//!   loopback, link-local (169.254/16 with the cloud metadata services, fe80::/10),
//!   unspecified, broadcast, multicast, and — unless the MCP server's own address is private
//!   too (an intranet deployment) — private ranges (10/8, 172.16/12, 192.168/16, 100.64/10,
//!   fc00::/7). The decision is made twice: on the URL's literal host before any request
//!   (an IP literal, `localhost`), and on the *resolved* addresses at connect time by the
//!   client's DNS resolver ([`GuardedResolver`]), so a public-looking name that resolves (or
//!   re-resolves, DNS rebinding) to an internal address is never connected to. Through a
//!   proxy the proxy resolves names: only the literal check applies then;
//! - an answer's body is read in chunks up to [`MAX_BODY`]; a longer one (or one whose
//!   `Content-Length` says so) is an error and the connection is dropped, so a 600 MB
//!   metadata answer costs at most 1 MiB of memory.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The most of any metadata, token, registration or revocation answer that is read.
pub const MAX_BODY: usize = 1 << 20;

/// How an address is reached, for the rules above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Loopback,
    /// Link-local, unspecified, broadcast, multicast, documentation: never an OAuth server
    /// of a remote MCP server (169.254.169.254 is the cloud metadata service).
    Never,
    /// RFC 1918, CGNAT, IPv6 unique-local.
    Private,
    Public,
}

/// Classifies an address (IPv4-mapped and -compatible IPv6 as their IPv4).
pub fn reach(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(v4) => reach_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return reach_v4(v4);
            }
            let seg = v6.segments();
            // ::a.b.c.d (deprecated IPv4-compatible) and 64:ff9b::/96 (NAT64) carry an IPv4.
            if (seg[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified())
                || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
            {
                let o = v6.octets();
                return reach_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            if v6.is_loopback() {
                Reach::Loopback
            } else if v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] == 0x2001 && seg[1] == 0x0db8)
            {
                Reach::Never
            } else if (seg[0] & 0xfe00) == 0xfc00 {
                Reach::Private
            } else {
                Reach::Public
            }
        }
    }
}

fn reach_v4(ip: Ipv4Addr) -> Reach {
    let o = ip.octets();
    if ip.is_loopback() {
        Reach::Loopback
    } else if ip.is_unspecified()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || o[0] >= 240
    {
        Reach::Never
    } else if ip.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64) {
        Reach::Private
    } else {
        Reach::Public
    }
}

/// What the MCP server is, which decides where its OAuth traffic may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// `localhost` or a loopback literal: a local development setup, anything goes.
    Loopback,
    /// A private literal address: private authorization servers are allowed too.
    Private,
    /// Anything else (a public address or any host name).
    Remote,
}

pub fn server_kind(server: &Url) -> ServerKind {
    if crate::netutil::is_loopback(server) {
        return ServerKind::Loopback;
    }
    match literal_ip(server) {
        Some(ip) if reach(ip) == Reach::Private => ServerKind::Private,
        _ => ServerKind::Remote,
    }
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Whether an address may be connected to for a server of this kind.
pub fn allowed(kind: ServerKind, ip: IpAddr) -> bool {
    matches!(
        (kind, reach(ip)),
        (ServerKind::Loopback, _) | (_, Reach::Public) | (ServerKind::Private, Reach::Private)
    )
}

/// The check made on every OAuth URL before it is fetched or posted to: `what` names it in
/// the error ("the protected-resource metadata", "the token endpoint", …).
pub fn check_url(server: &Url, url: &Url, allow_http: bool, what: &str) -> Result<(), String> {
    let kind = server_kind(server);
    let shown = super::discovery::without_query(url);
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => allow_http || (kind == ServerKind::Loopback && crate::netutil::is_loopback(url)),
        _ => false,
    };
    if !scheme_ok {
        return Err(format!(
            "{what} is at {shown}, not https: refusing to exchange sign-in data there (plain \
             http is accepted only for a loopback server's loopback authorization server, or \
             with --allow-http)"
        ));
    }
    let internal = match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            kind != ServerKind::Loopback && (d == "localhost" || d.ends_with(".localhost"))
        }
        Some(_) => literal_ip(url).is_some_and(|ip| !allowed(kind, ip)),
        None => true,
    };
    if internal {
        return Err(format!(
            "{what} is at {shown}, an internal address, for the server {}: refused (a remote \
             server's sign-in never reaches loopback, link-local or private addresses)",
            super::discovery::without_query(server)
        ));
    }
    Ok(())
}

/// The client's DNS resolver: the system's, with every address a server of this kind may
/// not reach dropped. A name with no address left fails to resolve ("resolves only to
/// internal addresses"). Exempt, resolved unfiltered: the MCP server's own host (requests to
/// it are what the user configured) and the configured proxies. For a server named by host
/// name, its own addresses decide its kind: one resolving to a private address is an
/// intranet server, whose authorization server may be private too.
pub struct GuardedResolver {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ServerKind,
    server_host: Option<String>,
    exempt: Vec<String>,
    resolved_kind: tokio::sync::OnceCell<ServerKind>,
}

impl Inner {
    async fn kind(&self) -> ServerKind {
        if self.kind != ServerKind::Remote {
            return self.kind;
        }
        let Some(host) = &self.server_host else {
            return self.kind;
        };
        *self
            .resolved_kind
            .get_or_init(|| async {
                let private = tokio::net::lookup_host((host.as_str(), 0))
                    .await
                    .is_ok_and(|mut addrs| addrs.any(|a| reach(a.ip()) == Reach::Private));
                if private {
                    ServerKind::Private
                } else {
                    ServerKind::Remote
                }
            })
            .await
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let inner = self.inner.clone();
        Box::pin(async move {
            let exempt = inner.exempt.iter().any(|e| e.eq_ignore_ascii_case(&host));
            let kind = inner.kind().await;
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| exempt || allowed(kind, a.ip()))
                .collect();
            if kept.is_empty() && !found.is_empty() {
                return Err(format!(
                    "{host} resolves only to internal addresses: refused for a remote server's \
                     sign-in"
                )
                .into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The resolver for the OAuth client of `server`; `None` for a loopback server (no filter).
pub fn resolver(server: &Url, proxy: Option<&str>) -> Option<Arc<GuardedResolver>> {
    let kind = server_kind(server);
    if kind == ServerKind::Loopback {
        return None;
    }
    let server_host = match server.host() {
        Some(url::Host::Domain(d)) => Some(d.to_ascii_lowercase()),
        _ => None,
    };
    let mut exempt: Vec<String> = server_host.iter().cloned().collect();
    let env = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ];
    let env = env.iter().filter_map(|k| std::env::var(k).ok());
    for p in proxy.map(str::to_string).into_iter().chain(env) {
        let parsed = Url::parse(&p).or_else(|_| Url::parse(&format!("http://{p}")));
        if let Ok(u) = parsed
            && let Some(h) = u.host_str()
        {
            exempt.push(h.trim_start_matches('[').trim_end_matches(']').to_string());
        }
    }
    Some(Arc::new(GuardedResolver {
        inner: Arc::new(Inner {
            kind,
            server_host,
            exempt,
            resolved_kind: tokio::sync::OnceCell::new(),
        }),
    }))
}

/// Reads an answer's body, at most [`MAX_BODY`] bytes, chunk by chunk.
pub async fn read_bounded(mut resp: reqwest::Response, what: &str) -> Result<Vec<u8>, String> {
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(format!(
            "{what} is larger than {} KiB: not read",
            MAX_BODY / 1024
        ));
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(format!(
                        "{what} is larger than {} KiB: not read",
                        MAX_BODY / 1024
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(format!(
                    "cannot read {what}: {}",
                    crate::netutil::plain_cause(&e)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_classified() {
        for (a, r) in [
            ("127.0.0.1", Reach::Loopback),
            ("::1", Reach::Loopback),
            ("::ffff:127.0.0.1", Reach::Loopback),
            ("169.254.169.254", Reach::Never),
            ("::ffff:169.254.169.254", Reach::Never),
            ("fe80::1", Reach::Never),
            ("0.0.0.0", Reach::Never),
            ("::", Reach::Never),
            ("224.0.0.1", Reach::Never),
            ("10.1.2.3", Reach::Private),
            ("172.20.0.1", Reach::Private),
            ("192.168.1.1", Reach::Private),
            ("100.64.0.1", Reach::Private),
            ("fd00::1", Reach::Private),
            ("64:ff9b::a9fe:a9fe", Reach::Never),
            ("8.8.8.8", Reach::Public),
            ("2606:4700::1111", Reach::Public),
        ] {
            assert_eq!(reach(ip(a)), r, "{a}");
        }
    }

    #[test]
    fn a_remote_server_reaches_only_public_https() {
        let remote = Url::parse("https://mcp.example/mcp").unwrap();
        let ok = |u: &str, allow_http: bool| {
            check_url(&remote, &Url::parse(u).unwrap(), allow_http, "x").is_ok()
        };
        assert!(ok(
            "https://as.example/.well-known/oauth-authorization-server",
            false
        ));
        assert!(!ok("http://as.example/token", false));
        assert!(ok("http://as.example/token", true));
        assert!(
            !ok("http://127.0.0.1:9/token", false),
            "loopback for a remote server"
        );
        assert!(!ok("https://127.0.0.1/token", false));
        assert!(!ok("https://localhost/token", false));
        assert!(!ok("https://169.254.169.254/latest", true));
        assert!(!ok("https://10.0.0.1/token", false));
        assert!(!ok("https://[::ffff:10.0.0.1]/token", false));
        assert!(!ok("ftp://as.example/token", true));
    }

    #[test]
    fn a_loopback_server_may_use_a_loopback_authorization_server() {
        let local = Url::parse("http://127.0.0.1:8080/mcp").unwrap();
        let ok = |u: &str| check_url(&local, &Url::parse(u).unwrap(), false, "x").is_ok();
        assert!(ok("http://127.0.0.1:9/token"));
        assert!(ok("http://localhost:9/token"));
        assert!(!ok("http://as.example/token"), "plain http beyond loopback");
        assert!(ok("https://as.example/token"));
    }

    #[tokio::test]
    async fn names_are_judged_on_the_addresses_they_resolve_to() {
        // `localhost` resolves to loopback: for a remote server, nothing is left to connect to.
        let remote = Url::parse("https://mcp.example/mcp").unwrap();
        let guarded = resolver(&remote, None).expect("a filter for a remote server");
        let name: Name = "localhost".parse().unwrap();
        let err = guarded
            .resolve(name)
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("internal addresses"), "{err}");
        // A proxy's name is not filtered.
        let guarded = resolver(&remote, Some("http://localhost:3128")).unwrap();
        let addrs: Vec<SocketAddr> = guarded
            .resolve("localhost".parse().unwrap())
            .await
            .expect("the proxy resolves")
            .collect();
        assert!(!addrs.is_empty());
        assert!(resolver(&Url::parse("http://127.0.0.1:1/mcp").unwrap(), None).is_none());
    }

    #[test]
    fn an_intranet_server_may_use_an_intranet_authorization_server() {
        let intranet = Url::parse("https://10.0.0.5/mcp").unwrap();
        let ok = |u: &str| check_url(&intranet, &Url::parse(u).unwrap(), false, "x").is_ok();
        assert!(ok("https://10.0.0.6/token"));
        assert!(!ok("https://169.254.169.254/token"));
        assert!(!ok("https://127.0.0.1/token"));
    }
}
