//! `wazion-mcp check` as a user meets it (issue 12 §3): each step printed as it finishes while
//! a later one still waits, a fix under every FAIL, causes in words (plain http on an https
//! URL, a self-signed CA certificate, an untrusted issuer, the proxy) instead of a Rust
//! error's debug text, `--json` always JSON, an unusable `--proxy` refused at start, and a
//! closed stdout that is not a panic. Real peers: the built binary, scripted HTTP(S) servers.

use std::process::{Output, Stdio};
use std::time::Duration;

use crate::support::scripted::{self, Gate, Reply, Scripted};
use serde_json::Value;

const SECRET: &str = "check-secret-token";

fn command(args: &[&str]) -> std::process::Command {
    // The bridge's own folders: never the developer's (on every OS).
    let mut cmd = crate::support::driver::wazion_command();
    cmd.args(args)
        .env_remove("WAZION_TOKEN")
        .env_remove("RUST_LOG")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env("WAZION_TOKEN", SECRET);
    cmd
}

async fn run(args: &[&str]) -> Output {
    let mut cmd = command(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run wazion-mcp"))
        .await
        .expect("join")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every FAIL line is followed by a `fix:` line, and no Rust debug text or token shows.
fn assert_plain_words(t: &str) {
    let lines: Vec<&str> = t.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with("FAIL") {
            let next = lines.get(i + 1).copied().unwrap_or("");
            assert!(next.contains("fix:"), "a FAIL without a fix:\n{t}");
        }
    }
    for raw in [
        "Other(",
        "OtherError",
        "Os {",
        "InvalidContentType",
        "CaUsedAsEndEntity",
        "UnknownIssuer",
        "Connect(",
        "os error",
        "panicked",
    ] {
        assert!(
            !t.contains(raw),
            "raw error text {raw:?} reached the user:\n{t}"
        );
    }
    assert!(!t.contains(SECRET), "the token was printed:\n{t}");
}

fn fail_line(t: &str) -> &str {
    t.lines()
        .find(|l| l.trim_start().starts_with("FAIL"))
        .unwrap_or_else(|| panic!("no FAIL line:\n{t}"))
}

/// While `initialize` is held by the server, the finished steps are already on stdout, and
/// the waiting step says what it waits for; the rest follows when the server answers.
#[tokio::test]
async fn each_step_is_printed_as_it_finishes_and_a_wait_says_what_it_waits_for() {
    use tokio::io::AsyncBufReadExt;
    let server = Scripted::start().await;
    let gate = Gate::new();
    let held = gate.clone();
    server.once(
        |r| r.is_rpc("initialize"),
        Reply::deferred(async move {
            held.wait().await;
            scripted::json(
                200,
                r#"{"jsonrpc":"2.0","id":"wazion-mcp-check-1","result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"held","version":"1"}}}"#,
            )
        }),
    );
    let mut child = tokio::process::Command::from(command(&["check", &server.url()]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn check");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    // A bound so a hanging check fails the test instead of hanging it; nothing waits on it.
    let bound = Duration::from_secs(60);
    loop {
        let line = tokio::time::timeout(bound, lines.next_line())
            .await
            .expect("a line within the bound")
            .expect("read stdout")
            .unwrap_or_else(|| panic!("stdout ended early:\n{}", seen.join("\n")));
        let waiting = line.contains("...") && line.contains("initialize");
        seen.push(line);
        if waiting {
            break;
        }
    }
    let so_far = seen.join("\n");
    for step in ["flags", "DNS", "TCP"] {
        assert!(
            seen.iter()
                .any(|l| l.trim_start().starts_with("ok") && l.contains(step)),
            "{step} not reported before initialize was answered:\n{so_far}"
        );
    }
    assert!(
        so_far.contains("waiting for the answer (up to 300 s of silence)"),
        "{so_far}"
    );
    assert!(
        !so_far.contains("All checks passed"),
        "the verdict came before the server answered:\n{so_far}"
    );
    gate.open();
    while let Some(line) = tokio::time::timeout(bound, lines.next_line())
        .await
        .expect("the rest within the bound")
        .expect("read stdout")
    {
        seen.push(line);
    }
    let status = child.wait().await.expect("wait");
    let all = seen.join("\n");
    assert_eq!(status.code(), Some(0), "{all}");
    assert!(all.contains("server held 1"), "{all}");
    assert!(all.ends_with("All checks passed: the bridge will work with these settings."));
    assert_plain_words(&all);
}

/// A URL the bridge would refuse still gets a JSON report with the reason and the fix.
#[tokio::test]
async fn json_is_printed_also_when_the_url_is_refused() {
    let out = run(&["check", "http://example.com/mcp", "--json"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(report["ok"], false);
    let step = &report["steps"][0];
    assert_eq!(step["step"], "flags");
    assert_eq!(step["ok"], false);
    assert!(
        step["detail"].as_str().unwrap().contains("plain http://"),
        "{step}"
    );
    assert!(step["fix"].as_str().unwrap().contains("https://"), "{step}");
    assert_eq!(report["steps"].as_array().unwrap().len(), 1);
    // The same without --json: words on stdout, still with the fix.
    let out = run(&["check", "http://example.com/mcp"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_plain_words(&text(&out));
}

/// An unusable `--proxy` is refused before any traffic, exit 1, JSON with --json; the value
/// (which may carry a password) is not repeated.
#[tokio::test]
async fn an_unusable_proxy_is_refused_at_start() {
    let server = Scripted::start().await;
    for proxy in ["not a url", "socks9://user:pw-secret@host:1"] {
        let out = run(&["check", &server.url(), "--proxy", proxy, "--json"]).await;
        assert_eq!(out.status.code(), Some(1), "{proxy}: {}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let step = &report["steps"][0];
        assert_eq!(step["step"], "flags");
        assert!(
            step["detail"].as_str().unwrap().contains("--proxy"),
            "{step}"
        );
        assert!(step["fix"].is_string(), "{step}");
        assert!(!text(&out).contains("pw-secret"), "{}", text(&out));
    }
    assert!(
        server.requests().is_empty(),
        "no request before the flags pass"
    );
}

/// A proxy that cannot be reached is named as the proxy, with a fix about the proxy.
#[tokio::test]
async fn a_proxy_failure_names_the_proxy() {
    let server = Scripted::start().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let proxy = format!("http://127.0.0.1:{port}");
    // https: plain http to loopback never goes through a proxy (issue 16 item 6).
    let url = server.url().replace("http://", "https://");
    let out = run(&["check", &url, "--proxy", &proxy]).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let fail = fail_line(&t);
    assert!(
        fail.contains("TCP") && fail.contains(&format!("the proxy {proxy}/")),
        "{t}"
    );
    assert!(t.contains("Check the proxy's address"), "{t}");
    assert_plain_words(&t);
    assert!(server.requests().is_empty());
}

/// `https://` to a server that speaks plain http: named as such, with the fix.
#[tokio::test]
async fn plain_http_on_an_https_url_is_named() {
    let server = Scripted::start().await;
    let url = server.url().replace("http://", "https://");
    let out = run(&["check", &url]).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let fail = fail_line(&t);
    assert!(fail.contains("TLS") && fail.contains("plain http"), "{t}");
    assert!(t.contains("Use http://"), "{t}");
    assert_plain_words(&t);
}

/// An untrusted issuer (the test CA, not passed) and a self-signed CA certificate used as the
/// server's own certificate (even when passed with --ca-file): each named, each with a fix.
#[tokio::test]
async fn certificate_problems_are_named_in_words() {
    let pki = crate::support::pki::TestPki::generate();
    let server = Scripted::builder().start_tls(&pki).await;
    let out = run(&["check", &server.https_url()]).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        fail_line(&t).contains("TLS") && t.contains("a CA this machine does not trust"),
        "{t}"
    );
    assert!(t.contains("--ca-file"), "{t}");
    assert_plain_words(&t);

    let (url, ca) = self_signed_ca_server().await;
    let out = run(&["check", &url, "--ca-file", ca.to_str().unwrap()]).await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        fail_line(&t).contains("self-signed CA certificate used as its own server certificate"),
        "{t}"
    );
    assert!(t.contains("issued by a CA"), "{t}");
    assert_plain_words(&t);
    let _ = std::fs::remove_file(ca);
}

/// A TLS server whose certificate is a self-signed CA certificate (what `openssl req -x509`
/// makes by default); returns its URL and the certificate's PEM file.
async fn self_signed_ca_server() -> (String, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("self-sign");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("self-signed-ca-{}.pem", std::process::id()));
    std::fs::write(&path, cert.pem()).expect("write the PEM");
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("cert");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|| async { "unused" });
    crate::support::pki::serve_tls(listener, std::sync::Arc::new(config), app, || {});
    (format!("https://{addr}/mcp"), path)
}

/// A token variable that still holds the placeholder `config` wrote is a FAIL, not a pass.
#[tokio::test]
async fn the_config_placeholder_is_not_taken_for_a_token() {
    let server = Scripted::start().await;
    let mut cmd = command(&["check", &server.url()]);
    cmd.env("WAZION_TOKEN", wazion_mcp::client_config::TOKEN_PLACEHOLDER);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(fail_line(&t).contains("still holds the placeholder"), "{t}");
    assert!(t.contains("Replace \"<paste your token here>\""), "{t}");
    assert!(server.requests().is_empty());
}

/// `check | head -c1`: the reader is gone before the report is written. The check still runs
/// to its verdict (exit 1 here, nothing listens) and ends quietly: no panic, no exit 101.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for json in [false, true] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut cmd = command(&["check", &format!("http://127.0.0.1:{port}/mcp")]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "--json {json}: {err}");
        assert!(err.is_empty(), "--json {json}: {err}");
    }
}

/// Issue 16 item 6, as `check` reports it: with `HTTP_PROXY` and `--proxy` set, a plain-http
/// loopback server is checked directly (no "proxy" step, DNS and TCP against the server) and
/// passes; the proxy, a dead port, is never tried.
///
/// On the old main: the proxy step named the proxy and the TCP step failed against it.
#[tokio::test]
async fn check_reaches_a_loopback_server_without_the_proxy() {
    let server = Scripted::start().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let proxy = format!("http://127.0.0.1:{port}");
    let mut cmd = command(&["check", &server.url(), "--proxy", &proxy]);
    cmd.env("HTTP_PROXY", &proxy)
        .env("NO_PROXY", "")
        .env("no_proxy", "");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run wazion-mcp"))
        .await
        .expect("join");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(!t.contains("proxy"), "{t}");
    assert!(t.contains("All checks passed"), "{t}");
}

/// Issue 16 item 4: what `check` prints is safe on a terminal. A hostile server names itself
/// with escape sequences (set the terminal title, clear the screen, a carriage return and a
/// line break, then a fake "All checks passed" line, a C1 CSI, a bidi override) and answers
/// `tools/list` with an error that echoes the token between more of them. Neither the text
/// report nor `--json` carries a control character, the token, or a line of the server's
/// own; the one verdict line is the real one ("A check failed").
///
/// On the old main: the ESC/BEL/CR bytes reached stdout as they were, the fake verdict was a
/// line of its own, and the echoed token was printed.
#[tokio::test]
async fn a_hostile_server_cannot_write_on_the_terminal() {
    let hostile = r"\u001b]0;pwned\u0007\u001b[2J\u001b[H\r\nAll checks passed: the bridge will work with these settings.\n\u009b31m\u202e\u007f";
    let server = Scripted::start().await;
    server.always(
        |r| r.is_rpc("initialize"),
        move |_| {
            scripted::json(
                200,
                format!(
                    r#"{{"jsonrpc":"2.0","id":"wazion-mcp-check-1","result":{{"protocolVersion":"2025-06-18","capabilities":{{}},"serverInfo":{{"name":"evil{hostile}","version":"1{hostile}"}}}}}}"#
                ),
            )
        },
    );
    server.always(
        |r| r.is_rpc("tools/list"),
        move |_| {
            scripted::json(
                200,
                format!(
                    r#"{{"jsonrpc":"2.0","id":"wazion-mcp-check-2","error":{{"code":-32000,"message":"no{hostile} for {SECRET}{hostile}"}}}}"#
                ),
            )
        },
    );
    for json in [false, true] {
        let mut args = vec!["check", &*server.url().leak()];
        if json {
            args.push("--json");
        }
        let out = run(&args).await;
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        let bad: Vec<char> = t
            .chars()
            .filter(|c| (c.is_control() && *c != '\n') || ('\u{202a}'..='\u{2069}').contains(c))
            .collect();
        assert!(
            bad.is_empty(),
            "control characters reached the terminal: {bad:?}\n{t:?}"
        );
        assert!(!t.contains(SECRET), "the token was printed:\n{t}");
        assert!(t.contains("evil"), "the server's name is still shown:\n{t}");
        if json {
            let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
            assert_eq!(report["ok"], false);
        } else {
            let verdicts: Vec<&str> = t
                .lines()
                .filter(|l| l.starts_with("All checks passed") || l.starts_with("A check failed"))
                .collect();
            assert_eq!(verdicts, ["A check failed: see the fix above."], "{t}");
        }
    }
}

/// Issue 16 item 4, for `auth status`: a stored sign-in whose issuer and scope came from a
/// hostile authorization server (escape sequences, a line break and a fake verdict, the
/// access token itself in the scope) is shown with the token cut out and every control
/// character escaped.
///
/// On the old main: the issuer's ESC/BEL bytes and the scope's line break reached stdout
/// as they were, and the scope printed the access token.
#[cfg(unix)]
#[tokio::test]
async fn auth_status_shows_a_hostile_sign_in_safely() {
    use std::os::unix::fs::PermissionsExt;
    let config = tempfile::tempdir().unwrap();
    let dir = config.path().join("oauth");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let access = "at-hostile-SECRET-4f3e";
    let stored = serde_json::json!({
        "server": "http://127.0.0.1:9/mcp",
        "issuer": "https://as.example\u{1b}]0;pwned\u{7}\u{1b}[2J",
        "client": {"client_id": "c", "auth_method": "none", "kind": "registered"},
        "access_token": access,
        "scope": format!("mcp\r\nAll checks passed\u{9b}31m {access}"),
        "obtained_at": 1,
    });
    let file = dir.join("hostile.json");
    std::fs::write(&file, stored.to_string()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = command(&["auth", "status"]);
    cmd.env("WAZION_MCP_CONFIG_DIR", config.path());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("as.example"), "the sign-in is listed:\n{t}");
    let bad: Vec<char> = t.chars().filter(|c| c.is_control() && *c != '\n').collect();
    assert!(bad.is_empty(), "control characters: {bad:?}\n{t:?}");
    assert!(!t.contains(access), "the access token was printed:\n{t}");
    assert!(
        !t.lines().any(|l| l.starts_with("All checks passed")),
        "{t}"
    );
}
