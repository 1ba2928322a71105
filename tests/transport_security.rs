//! Transport security (issue 3 §5): plain `http://` only to loopback unless `--allow-http`;
//! redirects followed only when they keep the origin and the method (307/308), so the token
//! and the `--header` secrets never reach another origin and a POST is never turned into a
//! GET; TLS verified against the system's roots plus `--ca-file`, never switched off.
//!
//! Every server here is a scripted server on 127.0.0.1 (`tests/support/scripted.rs`); a
//! different port is a different origin. The HTTPS servers use a CA and a certificate made
//! at test time (`TestPki`), so no network and no fixture files are needed.
//!
//! Rows of issue 3 §5: "http:// refused" (§5.2), "redirects" (§5.3), "TLS" (§5.4).
//! Requirement ids: A2 (Authorization on every request, so on a followed redirect too),
//! A4 and A9 (the token goes to the configured server only, never to another origin),
//! H1 (every client message is a POST to the endpoint: never turned into a GET), H16/H20
//! (session headers kept across a same-origin redirect).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::driver::{Bridge, BridgeCmd, assert_jsonrpc};
use crate::support::scripted::{Recorded, Scripted, TestPki, json, status};

const VERSION: &str = "2025-06-18";
const TOKEN: &str = "tok-transport-5e6f";
const VPS_KEY: &str = "vps-key-transport-7a8b";
/// Exit deadline: a refusal at startup must be quick, and so must EOF with nothing pending.
const EXIT: Duration = Duration::from_secs(5);

/// A bridge with a token and a secret custom header (`X-API-Key: ${VPS_KEY}`).
fn spawn(url: &str, extra: &[&str]) -> Bridge {
    let mut cmd = BridgeCmd::new(url)
        .token(TOKEN)
        .env("VPS_KEY", VPS_KEY)
        .arg("--header")
        .arg("X-API-Key: ${VPS_KEY}");
    for a in extra {
        cmd = cmd.arg(a);
    }
    cmd.spawn()
}

async fn ready(server: &Scripted) -> Bridge {
    let mut b = spawn(&server.url(), &[]);
    let init = b.handshake(VERSION).await;
    assert!(init.get("result").is_some(), "initialize failed: {init}");
    server
        .wait_for("notifications/initialized", |r| {
            r.is_rpc("notifications/initialized")
        })
        .await;
    b
}

fn has_id(raw: &str) -> impl Fn(&Recorded) -> bool + Clone + Send + Sync + 'static {
    let raw = raw.to_string();
    move |r| r.is_post() && r.rpc_id_raw().as_deref() == Some(raw.as_str())
}

/// Closes stdin and expects a clean exit with nothing more on stdout.
async fn exit_cleanly(mut b: Bridge) {
    let (status, rest) = b.finish(EXIT).await;
    let status = status.unwrap_or_else(|| panic!("still running after EOF:\n{}", b.stderr()));
    assert!(status.success(), "exit {status}; stderr:\n{}", b.stderr());
    assert!(rest.is_empty(), "unexpected stdout lines: {rest:#?}");
}

/// Waits for the process to exit on its own (no stdin activity); panics after [`EXIT`].
async fn exit_status(b: &mut Bridge) -> std::process::ExitStatus {
    match b.wait_exit(EXIT).await {
        Some(s) => s,
        None => panic!(
            "the bridge was still running after {EXIT:?}; stderr:\n{}",
            b.stderr()
        ),
    }
}

// ----- §5.2: plain http:// ---------------------------------------------------------------

/// §5.2: `http://` to a host that is not loopback is refused at startup: non-zero exit
/// within the deadline (no stdin needed), a stderr message naming `--allow-http`, nothing
/// on stdout. Look-alikes of loopback (`localhost.example.com`) are not loopback.
#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_at_startup() {
    for url in [
        "http://example.com/mcp",
        "http://192.168.1.10:8080/mcp",
        "http://localhost.example.com/mcp",
        "http://[2001:db8::1]/mcp",
    ] {
        let mut b = spawn(url, &[]);
        let status = exit_status(&mut b).await;
        assert!(!status.success(), "{url}: exit {status}");
        // stderr is collected in the background: wait for the line rather than read once.
        let named = b
            .wait_stderr_line(EXIT, |l| l.contains("--allow-http"))
            .await;
        let err = b.stderr();
        assert!(
            named.is_some(),
            "{url}: stderr does not name --allow-http:\n{err}"
        );
        assert!(
            !err.contains(TOKEN) && !err.contains(VPS_KEY),
            "{url}: a secret in stderr:\n{err}"
        );
        let out = b.drain(Duration::from_millis(100)).await;
        assert!(out.is_empty(), "{url}: stdout: {out:#?}");
    }
}

/// §5.2: with `--allow-http` the same URL is accepted: the bridge starts and, since nothing
/// goes out before `initialize`, ends cleanly on EOF without touching the network.
#[tokio::test]
async fn allow_http_accepts_a_remote_plain_http_url() {
    let b = spawn("http://example.com/mcp", &["--allow-http"]);
    exit_cleanly(b).await;
}

// ----- §5.3: redirects --------------------------------------------------------------------

/// A tools/call whose body has characters a re-encoding would change.
fn call(id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":"{id}","method":"tools/call","params":{{"name":"echo","arguments":{{"text":"héllo  wörld \u00e9","n":[1, 2.50, 3]}}}}}}"#
    )
}

/// §5.3, A2: a 307/308 to the same origin is followed with the same method, the exact body
/// and every header (Authorization, the custom secret header, the session headers), and
/// the answer at the new location reaches the client. `absolute`: the `Location` is a full
/// URL (same scheme, host and port) rather than a path.
async fn same_origin_redirect_keeps_the_request(code: u16, absolute: bool) {
    let server = Scripted::start().await;
    let (location, moved_path) = if absolute {
        let path = format!("/moved-{code}");
        (format!("http://{}{path}", server.addr), path)
    } else {
        // The usual trailing-slash redirect.
        ("/mcp/".to_string(), "/mcp/".to_string())
    };
    let id = format!("r{code}");
    let raw_id = format!("\"{id}\"");
    let is_call = {
        let f = has_id(&raw_id);
        move |r: &Recorded| r.path == "/mcp" && f(r)
    };
    server.once(is_call.clone(), status(code).header("location", &location));
    let answer = format!(r#"{{"jsonrpc":"2.0","id":"{id}","result":{{"moved":{code}}}}}"#);
    let path = moved_path.clone();
    server.once(move |r| r.path == path, json(200, &answer));
    let mut b = ready(&server).await;

    let line = call(&id);
    b.send(&line).await;
    let got = b.recv().await;
    assert_jsonrpc(&got);
    assert_eq!(got, answer, "stderr:\n{}", b.stderr());

    let first = server.wait_for("the POST", is_call).await;
    let moved = server
        .wait_for("the redirected request", |r| r.path == moved_path)
        .await;
    assert_eq!(moved.method, "POST", "{code} changed the method");
    assert_eq!(moved.body, line.as_bytes(), "{code} changed the body");
    assert_eq!(moved.body, first.body);
    let bearer = format!("Bearer {TOKEN}");
    for r in [&first, &moved] {
        assert_eq!(r.header("authorization"), Some(bearer.as_str()), "{r:?}");
        assert_eq!(r.header("x-api-key"), Some(VPS_KEY), "{r:?}");
        assert_eq!(r.session(), Some("sess-1"), "{r:?}");
        assert_eq!(r.protocol_version(), Some(VERSION), "{r:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    assert_eq!(
        server.matching(|r| r.path == moved_path).len(),
        1,
        "{}",
        server.dump()
    );
    exit_cleanly(b).await;
}

/// §5.3, A2: a relative 307 (the usual trailing-slash redirect) is followed unchanged.
#[tokio::test]
async fn same_origin_307_keeps_method_body_and_authorization() {
    same_origin_redirect_keeps_the_request(307, false).await;
}

/// §5.3, A2: an absolute 308 to the same origin is followed unchanged.
#[tokio::test]
async fn same_origin_308_keeps_method_body_and_authorization() {
    same_origin_redirect_keeps_the_request(308, true).await;
}

/// §5.3, A2: the other combinations (absolute 307, relative 308) behave the same.
#[tokio::test]
async fn same_origin_absolute_307_and_relative_308_are_followed_too() {
    same_origin_redirect_keeps_the_request(307, true).await;
    same_origin_redirect_keeps_the_request(308, false).await;
}

/// §5.3, A4, A9: a 307 or 308 to another origin (another loopback port) is not followed:
/// the other server receives nothing at all (so neither the Authorization header nor
/// `X-API-Key`), and the client gets one -32603 naming the new location; the bridge keeps
/// serving.
#[tokio::test]
async fn redirect_to_another_origin_sends_no_secret_there() {
    let server = Scripted::start().await;
    let other = Scripted::start().await;
    assert_ne!(server.addr, other.addr);
    let mut b = ready(&server).await;
    for code in [307u16, 308] {
        let id = format!("x{code}");
        let location = format!("{}?from={code}", other.url());
        server.once(
            has_id(&format!("\"{id}\"")),
            status(code).header("location", &location),
        );
        b.send(&call(&id)).await;
        let v = assert_jsonrpc(&b.recv().await);
        assert_eq!(v["id"], id.as_str(), "{v}");
        assert_eq!(v["error"]["code"], -32603, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&location),
            "{code}: the message does not name {location}: {message}"
        );
        assert_eq!(v["error"]["data"]["httpStatus"], code, "{v}");
        assert_eq!(v["error"]["data"]["location"], location.as_str(), "{v}");
    }
    // Still serving after the refusals.
    b.send(r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#).await;
    assert_eq!(b.recv().await, r#"{"jsonrpc":"2.0","id":9,"result":{}}"#);
    exit_cleanly(b).await;

    let leaked: Vec<Recorded> = other.matching(|r| {
        r.header("authorization").is_some()
            || r.header("x-api-key").is_some()
            || r.session().is_some()
    });
    assert!(
        leaked.is_empty(),
        "secrets reached the other origin:\n{}",
        other.dump()
    );
    assert!(
        other.requests().is_empty() && other.connections() == 0,
        "the other origin was contacted ({} connections):\n{}",
        other.connections(),
        other.dump()
    );
    // And the refusals really came from the first server (the test can fail).
    assert_eq!(server.matching(has_id("\"x307\"")).len(), 1);
    assert_eq!(server.matching(has_id("\"x308\"")).len(), 1);
}

/// §5.3, H1: 301, 302 and 303 answers to a POST are not silently turned into a GET (what
/// browsers and most HTTP clients do): the target, although on the same origin, never
/// sees a request; the client gets one -32603 naming the new location.
#[tokio::test]
async fn moved_found_and_see_other_do_not_turn_a_post_into_a_get() {
    let server = Scripted::start().await;
    let mut b = ready(&server).await;
    for code in [301u16, 302, 303] {
        let id = format!("m{code}");
        let location = format!("http://{}/moved-{code}", server.addr);
        server.once(
            has_id(&format!("\"{id}\"")),
            status(code).header("location", &location),
        );
        b.send(&call(&id)).await;
        let v = assert_jsonrpc(&b.recv().await);
        assert_eq!(v["id"], id.as_str(), "{v}");
        assert_eq!(v["error"]["code"], -32603, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&location),
            "{code}: the message does not name {location}: {message}"
        );
        assert!(message.contains(&code.to_string()), "{message}");
        assert_eq!(v["error"]["data"]["httpStatus"], code, "{v}");
        assert_eq!(v["error"]["data"]["location"], location.as_str(), "{v}");
    }
    exit_cleanly(b).await;
    let moved = server.matching(|r| r.path.starts_with("/moved"));
    assert!(
        moved.is_empty(),
        "a redirect target was requested:\n{}",
        server.dump()
    );
    assert_eq!(
        server.matching(|r| r.is_post() && r.path == "/mcp").len(),
        // initialize, initialized, the three calls
        5,
        "{}",
        server.dump()
    );
}

// ----- §5.4: TLS --------------------------------------------------------------------------

/// The `initialize` line the TLS tests send.
fn initialize(id: u32) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":"{VERSION}","capabilities":{{}},"clientInfo":{{"name":"tls-test","version":"0"}}}}}}"#
    )
}

/// Sends `initialize` to an HTTPS server the bridge must refuse; checks the -32603 names a
/// certificate problem, that the bridge did connect (so the refusal is the certificate's,
/// not a closed port) but sent no HTTP request, and that it keeps serving.
async fn expect_certificate_refusal(server: &Scripted, mut b: Bridge) {
    b.send(&initialize(1)).await;
    let v = assert_jsonrpc(&b.recv().await);
    assert_eq!(v["id"], 1, "{v}");
    assert_eq!(v["error"]["code"], -32603, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    let lower = message.to_ascii_lowercase();
    assert!(
        lower.contains("certificate") && lower.contains("tls"),
        "the error does not name a certificate/TLS problem: {message}"
    );
    assert!(
        message.contains(&server.addr.to_string()),
        "the error does not name the host: {message}"
    );
    assert!(server.connections() >= 1, "the bridge never connected");
    assert!(
        server.requests().is_empty(),
        "a request went through a refused TLS handshake:\n{}",
        server.dump()
    );
    // No crash: the next request is answered too (again with the same refusal).
    b.send(&initialize(2)).await;
    let v = assert_jsonrpc(&b.recv().await);
    assert_eq!(v["id"], 2, "{v}");
    assert_eq!(v["error"]["code"], -32603, "{v}");
    exit_cleanly(b).await;
}

/// §5.4: an HTTPS server whose certificate chains to a CA the system does not trust is
/// refused with a clear certificate error, no crash.
#[tokio::test]
async fn self_signed_https_is_refused_with_a_certificate_error() {
    let pki = TestPki::generate();
    let server = Scripted::builder().start_tls(&pki).await;
    let b = spawn(&server.https_url(), &[]);
    expect_certificate_refusal(&server, b).await;
}

/// §5.4: with `--ca-file` naming that CA, the same kind of server is trusted: the handshake
/// and a call succeed over TLS, with the token and custom header delivered.
#[tokio::test]
async fn ca_file_makes_the_self_signed_server_trusted() {
    let pki = TestPki::generate();
    let ca = pki.write_ca("trusted-ca");
    let server = Scripted::builder().start_tls(&pki).await;
    let mut b = spawn(&server.https_url(), &["--ca-file", ca.to_str().unwrap()]);
    let init = b.handshake(VERSION).await;
    assert_eq!(init["result"]["protocolVersion"], VERSION, "{init}");
    b.send(r#"{"jsonrpc":"2.0","id":"t","method":"tools/list"}"#)
        .await;
    assert_eq!(b.recv().await, r#"{"jsonrpc":"2.0","id":"t","result":{}}"#);
    let call = server
        .wait_for("tools/list", |r| r.is_rpc("tools/list"))
        .await;
    assert_eq!(
        call.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(call.header("x-api-key"), Some(VPS_KEY));
    assert_eq!(call.session(), Some("sess-1"));
    exit_cleanly(b).await;
    let _ = std::fs::remove_file(ca);
}

/// §5.4: `--ca-file` adds a root, it does not switch verification off: a certificate from
/// that very CA but for another host name is still refused.
#[tokio::test]
async fn ca_file_still_checks_the_host_name() {
    let pki = TestPki::for_names(&["mcp.example.com"]);
    let ca = pki.write_ca("wrong-name-ca");
    let server = Scripted::builder().start_tls(&pki).await;
    let b = spawn(&server.https_url(), &["--ca-file", ca.to_str().unwrap()]);
    expect_certificate_refusal(&server, b).await;
    let _ = std::fs::remove_file(ca);
}

/// §5.4: `--ca-file` with another CA than the server's does not make it trusted.
#[tokio::test]
async fn ca_file_of_another_ca_does_not_help() {
    let pki = TestPki::generate();
    let unrelated = TestPki::generate();
    let ca = unrelated.write_ca("unrelated-ca");
    let server = Scripted::builder().start_tls(&pki).await;
    let b = spawn(&server.https_url(), &["--ca-file", ca.to_str().unwrap()]);
    expect_certificate_refusal(&server, b).await;
    let _ = std::fs::remove_file(ca);
}

/// §5.4: a `--ca-file` that holds no PEM certificate is a startup error naming the flag,
/// not a silently ignored option.
#[tokio::test]
async fn ca_file_without_a_certificate_is_refused_at_startup() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("not-a-ca-{}.pem", std::process::id()));
    std::fs::write(&path, "this is not a certificate\n").unwrap();
    let mut b = spawn(
        "https://127.0.0.1:9/mcp",
        &["--ca-file", path.to_str().unwrap()],
    );
    b.close_stdin();
    let status = exit_status(&mut b).await;
    assert!(!status.success(), "exit {status}; stderr:\n{}", b.stderr());
    let named = b.wait_stderr_line(EXIT, |l| l.contains("--ca-file")).await;
    assert!(named.is_some(), "stderr:\n{}", b.stderr());
    let _ = std::fs::remove_file(path);
}

/// A stand-in for a proxy on 127.0.0.1 that records every connection made to it (and
/// answers each request with a 502, as a proxy that cannot reach the target would).
async fn recording_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = vec![0u8; 16 * 1024];
                let n = client.read(&mut head).await.unwrap_or(0);
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head[..n]).into_owned());
                let _ = client
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    (url, heads)
}

/// Issue 16 item 6: plain http to a loopback server never goes through a proxy, whether it
/// comes from `HTTP_PROXY` / `ALL_PROXY` or from `--proxy`: a proxy would read the bearer
/// token in clear. The proxy here is a real listener on 127.0.0.1 that records every
/// connection; the session works directly and the proxy sees nothing.
///
/// On the old main: every request (token included, `Authorization: Bearer …` in the proxy's
/// recorded head) went to the proxy, which answered 502, and `initialize` failed.
#[tokio::test]
async fn plain_http_to_loopback_never_goes_through_a_proxy() {
    let server = Scripted::start().await;
    let (proxy, heads) = recording_proxy().await;
    let env_proxied = |cmd: BridgeCmd| {
        cmd.env("HTTP_PROXY", &proxy)
            .env("http_proxy", &proxy)
            .env("ALL_PROXY", &proxy)
            .env("NO_PROXY", "")
            .env("no_proxy", "")
    };
    for (what, cmd) in [
        ("HTTP_PROXY", env_proxied(BridgeCmd::new(&server.url()))),
        (
            "--proxy",
            BridgeCmd::new(&server.url()).arg("--proxy").arg(&proxy),
        ),
    ] {
        let mut b = cmd.token(TOKEN).spawn();
        let init = b.handshake(VERSION).await;
        assert!(init.get("result").is_some(), "{what}: {init}");
        b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .await;
        let (list, _) = b.recv_response(&serde_json::json!(1)).await;
        assert!(list.get("result").is_some(), "{what}: {list}");
        b.finish(EXIT).await;
        let seen = heads.lock().unwrap().clone();
        assert!(seen.is_empty(), "{what}: the proxy saw {seen:?}");
    }
    // The server did get the token, directly.
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}")))
    );
}

/// Issue 16 item 6, for the OAuth sign-in of a loopback server: discovery, registration and
/// the token exchange with its plain-http loopback authorization server (the code, the PKCE
/// verifier, the tokens) go direct too, with `HTTP_PROXY` set. The authorization and
/// resource servers are the real in-process pair of `support/oauth_peer.rs`; `$BROWSER` is
/// a script that records the URL, visited here as a browser would.
///
/// On the old main: the bridge's requests went to the proxy (a 502), so no sign-in started.
#[cfg(unix)]
#[tokio::test]
async fn an_oauth_sign_in_with_a_loopback_server_never_goes_through_a_proxy() {
    use crate::support::oauth_peer::{OAuthPeer, PeerConfig};
    use std::os::unix::fs::PermissionsExt;
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let (proxy, heads) = recording_proxy().await;
    let home = tempfile::tempdir().unwrap();
    let urls = home.path().join("urls");
    let script = home.path().join("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n", urls.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut b = BridgeCmd::new(&peer.mcp_url)
        .env(
            "WAZION_MCP_CONFIG_DIR",
            home.path().join("config").to_str().unwrap(),
        )
        .env("BROWSER", script.to_str().unwrap())
        .env("HTTP_PROXY", &proxy)
        .env("http_proxy", &proxy)
        .env("ALL_PROXY", &proxy)
        .env("NO_PROXY", "")
        .env("no_proxy", "")
        .spawn();
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"proxy-test","version":"0"}}}"#).await;
    // Polled with a deadline, as tests/oauth.rs reads its `$BROWSER` file.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let url = loop {
        if let Some(u) = std::fs::read_to_string(&urls)
            .ok()
            .and_then(|s| s.lines().next().map(str::to_string))
        {
            break u;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no sign-in started:\n{}",
            b.stderr()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let browser = reqwest::Client::builder().no_proxy().build().unwrap();
    let page = browser.get(&url).send().await.expect("visit");
    assert_eq!(page.status().as_u16(), 200);
    let (init, _) = b.recv_response(&serde_json::json!(1)).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "oauth-peer", "{init}");
    assert_eq!(peer.seen().grants("authorization_code"), 1);
    b.finish(EXIT).await;
    let seen = heads.lock().unwrap().clone();
    assert!(seen.is_empty(), "the proxy saw {seen:?}");
}
