//! OAuth 2.1 against a real in-process authorization server and resource server
//! (`support/oauth_peer.rs`), with the built binary driven over stdio.
//!
//! The "browser" is `$BROWSER`: a script that appends the URL it is given to a file; the
//! test reads that file and visits the URL with an HTTP client that follows the
//! authorization server's redirect to the bridge's loopback callback, as a browser would.
//! Covered: first sign-in (discovery, registration, PKCE S256, `resource`, scope), the
//! stored token reused without a browser, refresh on a 401 and before expiry, step-up on
//! `insufficient_scope` and its retry limit, a forged `state` refused, the callback timeout,
//! the static-token path unchanged (with and without OAuth metadata on the server), the
//! `auth` subcommands and `check`'s auth line.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::driver::{Bridge, BridgeCmd, LINE_DEADLINE};
use crate::support::oauth_peer::{OAuthPeer, PeerConfig};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"oauth-test","version":"0"}}}"#;

fn call(id: u32, tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{}}}}}}"#
    )
}

/// A user's home for one test: the config dir (token store) and the `$BROWSER` script.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("browser.sh");
        let urls = dir.path().join("urls");
        std::fs::write(
            &script,
            format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n", urls.display()),
        )
        .expect("write browser script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod browser script");
        Self { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn env(&self) -> [(&'static str, String); 2] {
        [
            ("WAZION_MCP_CONFIG_DIR", self.config().display().to_string()),
            (
                "BROWSER",
                self.dir.path().join("browser.sh").display().to_string(),
            ),
        ]
    }

    fn bridge(&self, url: &str) -> BridgeCmd {
        let mut cmd = BridgeCmd::new(url);
        for (k, v) in self.env() {
            cmd = cmd.env(k, &v);
        }
        cmd
    }

    /// The URLs `$BROWSER` was asked to open, so far.
    fn urls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("urls"))
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// The `n`th URL `$BROWSER` was asked to open (0-based), once it was.
    async fn url(&self, n: usize) -> String {
        let deadline = tokio::time::Instant::now() + LINE_DEADLINE;
        loop {
            if let Some(u) = self.urls().get(n) {
                return u.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "$BROWSER was not asked to open URL #{n}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn token_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.config().join("oauth"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

/// Visits `url` as a browser would (following redirects); the final status and page.
async fn visit(url: &str) -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client");
    let resp = client.get(url).send().await.expect("visit the URL");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// Starts a bridge, sends `initialize` and completes the browser sign-in it starts.
async fn signed_in(home: &Home, peer: &OAuthPeer) -> Bridge {
    let mut bridge = home.bridge(&peer.mcp_url).spawn();
    bridge.send(INIT).await;
    let (status, page) = visit(&home.url(0).await).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Signed in"), "{page}");
    let (init, _) = bridge.recv_response(&json!(1)).await;
    assert_eq!(
        init["result"]["serverInfo"]["name"],
        "oauth-peer",
        "{init}\n{}",
        bridge.stderr()
    );
    bridge
}

async fn tool_text(bridge: &mut Bridge, id: u32, tool: &str) -> Value {
    bridge.send(&call(id, tool)).await;
    bridge.recv_response(&json!(id)).await.0
}

fn no_secret_in(text: &str) {
    for secret in ["-secret", "code-"] {
        assert!(
            !text.contains(secret),
            "a secret ({secret}…) leaked:\n{text}"
        );
    }
}

#[tokio::test]
async fn first_sign_in_discovers_registers_and_uses_pkce_and_resource() {
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut bridge = signed_in(&home, &peer).await;
    let answer = tool_text(&mut bridge, 2, "echo").await;
    assert_eq!(
        answer["result"]["content"][0]["text"],
        "ok with mcp:read offline_access"
    );
    {
        let seen = peer.seen();
        assert_eq!(seen.registrations.len(), 1);
        let redirect = seen.registrations[0]["redirect_uris"][0]
            .as_str()
            .unwrap_or("");
        assert!(
            redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"),
            "{redirect}"
        );
        assert_eq!(seen.authorizations.len(), 1);
        let a = &seen.authorizations[0];
        assert_eq!(a["code_challenge_method"], "S256");
        assert_eq!(a["resource"], peer.mcp_url);
        // No scope in the challenge: the resource's scopes_supported, plus offline_access
        // because the authorization server lists it.
        assert_eq!(a["scope"], "mcp:read offline_access");
        assert_eq!(seen.grants("authorization_code"), 1);
        // The first POST went out without a token; nothing else was refused.
        assert_eq!(seen.refused(), 1);
    }
    let files = home.token_files();
    assert_eq!(files.len(), 1, "{files:?}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&files[0])
        .expect("token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let stderr = bridge.stderr();
    assert!(
        stderr.contains(&format!("{}/authorize?", peer.issuer)),
        "the URL is printed to stderr:\n{stderr}"
    );
    no_secret_in(&stderr);
}

#[tokio::test]
async fn an_error_page_that_echoes_the_access_token_is_redacted() {
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut bridge = signed_in(&home, &peer).await;
    let answer = tool_text(&mut bridge, 2, "echo-headers").await;
    let text = answer.to_string();
    assert_eq!(answer["error"]["data"]["httpStatus"], 500, "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    no_secret_in(&text);
}

#[tokio::test]
async fn a_stored_sign_in_is_reused_without_a_browser() {
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut first = signed_in(&home, &peer).await;
    first.finish(Duration::from_secs(5)).await;
    let refused_before = peer.seen().refused();

    let mut second = home.bridge(&peer.mcp_url).spawn();
    second.send(INIT).await;
    let (init, _) = second.recv_response(&json!(1)).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "oauth-peer", "{init}");
    let seen = peer.seen();
    assert_eq!(seen.authorizations.len(), 1, "no second sign-in");
    assert_eq!(
        seen.refused(),
        refused_before,
        "the first request carried the token"
    );
    assert_eq!(home.urls().len(), 1, "no browser the second time");
}

#[tokio::test]
async fn a_refused_token_is_refreshed_without_a_browser() {
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut bridge = signed_in(&home, &peer).await;
    peer.seen().revoke_access_tokens();
    let answer = tool_text(&mut bridge, 2, "echo").await;
    assert!(answer["result"].is_object(), "{answer}");
    let seen = peer.seen();
    assert_eq!(seen.grants("refresh_token"), 1);
    assert_eq!(seen.authorizations.len(), 1);
    assert_eq!(
        seen.token_requests.last().map(|r| r.0["resource"].clone()),
        Some(peer.mcp_url.clone())
    );
    assert_eq!(home.urls().len(), 1);
    no_secret_in(&bridge.stderr());
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_before_it_is_sent() {
    // 30 s of life is within the bridge's 60 s refresh margin.
    let peer = OAuthPeer::start(PeerConfig {
        expires_in: 30,
        ..PeerConfig::default()
    })
    .await;
    let home = Home::new();
    let mut bridge = signed_in(&home, &peer).await;
    let answer = tool_text(&mut bridge, 2, "echo").await;
    assert!(answer["result"].is_object(), "{answer}");
    let seen = peer.seen();
    assert!(seen.grants("refresh_token") >= 1);
    assert_eq!(
        seen.refused(),
        1,
        "only the very first, token-less POST was refused"
    );
}

#[tokio::test]
async fn insufficient_scope_steps_up_and_stops_at_the_retry_limit() {
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut bridge = signed_in(&home, &peer).await;

    bridge.send(&call(2, "admin")).await;
    let (status, page) = visit(&home.url(1).await).await;
    assert_eq!(status, 200, "{page}");
    let (answer, _) = bridge.recv_response(&json!(2)).await;
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    assert!(text.contains("mcp:write"), "{answer}");
    {
        let seen = peer.seen();
        let scope = &seen.authorizations[1]["scope"];
        assert!(
            scope.contains("mcp:read") && scope.contains("mcp:write"),
            "{scope}"
        );
    }

    // A server that is never satisfied: two sign-ins, then its 403 reaches the client.
    bridge.send(&call(3, "impossible")).await;
    for n in [2, 3] {
        let (status, _) = visit(&home.url(n).await).await;
        assert_eq!(status, 200);
    }
    let (answer, _) = bridge.recv_response(&json!(3)).await;
    assert_eq!(answer["error"]["data"]["httpStatus"], 403, "{answer}");
    assert_eq!(peer.seen().authorizations.len(), 4);
    assert_eq!(home.urls().len(), 4, "no third sign-in for one request");
}

#[tokio::test]
async fn a_sign_in_slower_than_the_era_probe_is_not_started_twice() {
    // The era probe gives up after its own limit (10 s) while the user is still in the
    // browser; the client's `initialize` then goes out, is refused too, and must wait for the
    // sign-in already under way instead of starting a second one.
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut bridge = home.bridge(&peer.mcp_url).unknown_server().spawn();
    bridge.send(INIT).await;
    let url = home.url(0).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !peer.seen().rpc.iter().any(|(m, _)| m == "initialize") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the initialize never went out:\n{}",
            bridge.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, page) = visit(&url).await;
    assert_eq!(status, 200, "{page}");
    let (init, _) = bridge.recv_response(&json!(1)).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "oauth-peer", "{init}");
    assert_eq!(home.urls().len(), 1, "one sign-in, one browser");
    assert_eq!(peer.seen().authorizations.len(), 1);
}

#[tokio::test]
async fn a_callback_with_another_state_is_refused_and_the_sign_in_waits_on() {
    // Issue 16 item 2. On the old main the forged callback ended the sign-in at once with
    // "state does not match"; now it gets an error page and the sign-in waits for the real
    // callback, here until --oauth-timeout, since the authorization server forges every one.
    let peer = OAuthPeer::start(PeerConfig {
        forge_state: true,
        ..PeerConfig::default()
    })
    .await;
    let home = Home::new();
    let mut bridge = home
        .bridge(&peer.mcp_url)
        .arg("--oauth-timeout")
        .arg("3")
        .spawn();
    bridge.send(INIT).await;
    let (status, page) = visit(&home.url(0).await).await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("state does not") && page.contains("still waiting"),
        "{page}"
    );
    let (answer, _) = bridge.recv_response(&json!(1)).await;
    let message = answer["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("no answer from the browser"), "{answer}");
    let seen = peer.seen();
    assert_eq!(
        seen.grants("authorization_code"),
        0,
        "the code was never exchanged"
    );
    assert!(home.token_files().is_empty());
    no_secret_in(&bridge.stderr());
}

/// The callback URL the bridge listens on, from the `redirect_uri` of an authorization URL.
fn callback_of(authorization_url: &str) -> String {
    let url = url::Url::parse(authorization_url).expect("authorization URL");
    url.query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("a redirect_uri")
}

#[tokio::test]
async fn stray_requests_to_the_callback_do_not_end_the_sign_in() {
    // Issue 16 item 2. On the old main the first request with a wrong state ended the
    // sign-in ("state does not match"), so `initialize` got an error and the real callback
    // that followed reached nobody; now both stray requests get an error page and the real
    // callback completes the sign-in.
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut bridge = home.bridge(&peer.mcp_url).spawn();
    bridge.send(INIT).await;
    let url = home.url(0).await;
    let callback = callback_of(&url);
    let (status, page) = visit(&format!("{callback}?code=stolen&state=guessed")).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("still waiting"), "{page}");
    let (status, _) = visit(&format!("{callback}?code=no-state")).await;
    assert_eq!(status, 400);
    let root = callback.trim_end_matches("/callback");
    let (status, _) = visit(&format!("{root}/favicon.ico")).await;
    assert_eq!(status, 404);
    let (status, page) = visit(&url).await;
    assert_eq!(status, 200, "{page}");
    let (init, _) = bridge.recv_response(&json!(1)).await;
    assert_eq!(
        init["result"]["serverInfo"]["name"],
        "oauth-peer",
        "{init}\n{}",
        bridge.stderr()
    );
    assert_eq!(peer.seen().grants("authorization_code"), 1);
}

#[tokio::test]
async fn a_browser_command_through_a_shell_gets_an_inert_url() {
    // Issue 16 item 2. The authorization endpoint the server names carries `$(…)` and `;`:
    // with `BROWSER="sh -c 'echo %s; touch done'"` the old main substituted the URL as is,
    // and the shell ran `touch …/pwned-1` and `touch …/pwned-2`.
    let home = Home::new();
    let dir = home.dir.path().display().to_string();
    let peer = OAuthPeer::start(PeerConfig {
        authorize_suffix: Some(format!(
            "?x=$(touch${{IFS}}{dir}/pwned-1)&y=1;touch${{IFS}}{dir}/pwned-2;z="
        )),
        ..PeerConfig::default()
    })
    .await;
    let done = home.dir.path().join("done");
    let browser = format!("sh -c 'echo %s >/dev/null; touch {}'", done.display());
    let mut bridge = home
        .bridge(&peer.mcp_url)
        .env("BROWSER", &browser)
        .arg("--oauth-timeout")
        .arg("30")
        .spawn();
    bridge.send(INIT).await;
    let deadline = tokio::time::Instant::now() + LINE_DEADLINE;
    while !done.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "$BROWSER never ran:\n{}",
            bridge.stderr()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for marker in ["pwned-1", "pwned-2"] {
        assert!(
            !home.dir.path().join(marker).exists(),
            "the server's URL ran a shell command ({marker})"
        );
    }
    // The URL on stderr is the same inert one, and still the authorization request.
    let stderr = bridge.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("/authorize?"))
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(!line.contains('$') && !line.contains(';'), "{line}");
    let url = url::Url::parse(&line).expect("the printed URL");
    let x = url
        .query_pairs()
        .find(|(k, _)| k == "x")
        .map(|(_, v)| v.into_owned());
    assert_eq!(
        x.as_deref(),
        Some(format!("$(touch${{IFS}}{dir}/pwned-1)").as_str())
    );
}

#[tokio::test]
async fn an_authorization_server_without_s256_is_refused() {
    let peer = OAuthPeer::start(PeerConfig {
        pkce_methods: vec!["plain"],
        ..PeerConfig::default()
    })
    .await;
    let home = Home::new();
    let mut bridge = home.bridge(&peer.mcp_url).spawn();
    bridge.send(INIT).await;
    let (answer, _) = bridge.recv_response(&json!(1)).await;
    let message = answer["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("PKCE S256"), "{answer}");
    assert!(
        home.urls().is_empty(),
        "no browser for a server that would get no PKCE"
    );
    let seen = peer.seen();
    assert!(seen.authorizations.is_empty() && seen.registrations.is_empty());
}

#[tokio::test]
async fn a_sign_in_nobody_completes_times_out_with_an_answer() {
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut bridge = home
        .bridge(&peer.mcp_url)
        .arg("--oauth-timeout")
        .arg("1")
        .spawn();
    bridge.send(INIT).await;
    let (answer, _) = bridge.recv_response(&json!(1)).await;
    let message = answer["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("no answer from the browser") && message.contains("--oauth-timeout"),
        "{answer}"
    );
    assert_eq!(home.urls().len(), 1, "$BROWSER was asked to open the URL");
    assert_eq!(peer.seen().grants("authorization_code"), 0);
}

#[tokio::test]
async fn the_static_token_path_is_unchanged_when_the_server_has_oauth_metadata() {
    let peer = OAuthPeer::start(PeerConfig {
        static_token: Some("static-token-123"),
        ..PeerConfig::default()
    })
    .await;
    let home = Home::new();

    // A wrong token: the 401's JSON-RPC body reaches the client byte for byte, no OAuth.
    let mut bridge = home.bridge(&peer.mcp_url).token("wrong-token-456").spawn();
    bridge.send(INIT).await;
    let line = bridge.recv().await;
    let expected = json!({"jsonrpc": "2.0", "id": 1,
        "error": {"code": -32001, "message": "Unauthorized: sign in first"}});
    assert_eq!(line, expected.to_string());

    // The right token: used as is.
    let mut bridge = home.bridge(&peer.mcp_url).token("static-token-123").spawn();
    bridge.send(INIT).await;
    let (init, _) = bridge.recv_response(&json!(1)).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "oauth-peer");

    let seen = peer.seen();
    assert_eq!(
        seen.as_requests, 0,
        "the authorization server was never contacted"
    );
    assert!(
        seen.resource_requests
            .iter()
            .all(|(m, p, _)| m == "POST" && p == "/mcp"),
        "no discovery: {:?}",
        seen.resource_requests
    );
    assert!(home.urls().is_empty());
}

#[tokio::test]
async fn without_a_token_a_server_without_metadata_gets_its_401_relayed_unchanged() {
    let peer = OAuthPeer::start(PeerConfig {
        metadata: false,
        ..PeerConfig::default()
    })
    .await;
    let home = Home::new();
    let mut bridge = home.bridge(&peer.mcp_url).spawn();
    bridge.send(INIT).await;
    let line = bridge.recv().await;
    let expected = json!({"jsonrpc": "2.0", "id": 1,
        "error": {"code": -32001, "message": "Unauthorized: sign in first"}});
    assert_eq!(line, expected.to_string());
    let discovery = |p: &OAuthPeer| {
        p.seen()
            .resource_requests
            .iter()
            .filter(|(_, path, _)| path.starts_with("/.well-known/"))
            .count()
    };
    let probes = discovery(&peer);

    // Discovery is not repeated for the next request; the answer is the same.
    bridge.send(&call(2, "echo")).await;
    let line = bridge.recv().await;
    assert!(
        line.contains(r#""id":2"#) && line.contains("Unauthorized"),
        "{line}"
    );
    assert_eq!(discovery(&peer), probes);
    assert_eq!(peer.seen().as_requests, 0);
    assert!(
        home.urls().is_empty(),
        "no browser for a server without OAuth"
    );
    // And `--auth token` does not even look, nor does a bridge with a (wrong) token.
    let mut bridge = home
        .bridge(&peer.mcp_url)
        .arg("--auth")
        .arg("token")
        .spawn();
    bridge.send(INIT).await;
    assert_eq!(bridge.recv().await, expected.to_string());
    let mut bridge = home.bridge(&peer.mcp_url).token("wrong-token-789").spawn();
    bridge.send(INIT).await;
    assert_eq!(bridge.recv().await, expected.to_string());
    assert_eq!(discovery(&peer), probes);
    assert!(home.urls().is_empty());
}

#[tokio::test]
async fn nothing_secret_reaches_stderr_at_trace() {
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut bridge = home.bridge(&peer.mcp_url).env("RUST_LOG", "trace").spawn();
    bridge.send(INIT).await;
    let (status, _) = visit(&home.url(0).await).await;
    assert_eq!(status, 200);
    let (init, _) = bridge.recv_response(&json!(1)).await;
    assert!(init["result"].is_object(), "{init}");
    // A refresh too: its request and answer carry both kinds of token.
    peer.seen().revoke_access_tokens();
    let answer = tool_text(&mut bridge, 2, "echo").await;
    assert!(answer["result"].is_object(), "{answer}");
    assert_eq!(peer.seen().grants("refresh_token"), 1);
    bridge.finish(Duration::from_secs(5)).await;
    let stderr = bridge.stderr();
    assert!(
        stderr.contains("signed in"),
        "trace logs were written:\n{stderr}"
    );
    no_secret_in(&stderr);
    // The PKCE verifier is random: it must not appear either (it is the one form field of
    // the code exchange that the authorization server saw and stderr must not have).
    let verifier = peer.seen().token_requests[0].0["code_verifier"].clone();
    assert!(verifier.len() >= 43);
    assert!(!stderr.contains(&verifier), "the PKCE verifier leaked");
}

/// Runs `wazion-mcp <args>` in `home`; (exit code, stdout, stderr).
async fn wazion(home: &Home, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_wazion-mcp"));
    cmd.args(args)
        .env_remove("WAZION_TOKEN")
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    for (k, v) in home.env() {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("the command ends")
        .expect("run wazion-mcp");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn auth_login_status_and_logout() {
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let url = peer.mcp_url.clone();

    let (code, out, _) = wazion(&home, &["auth", "status", &url]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("not signed in"), "{out}");

    let login_args = ["auth", "login", url.as_str()];
    let login = wazion(&home, &login_args);
    let browser = async {
        let (status, page) = visit(&home.url(0).await).await;
        assert_eq!(status, 200, "{page}");
    };
    let ((code, out, err), ()) = tokio::join!(login, browser);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(&format!("signed in at {}", peer.issuer)),
        "{out}"
    );
    no_secret_in(&out);
    no_secret_in(&err);

    let (code, out, _) = wazion(&home, &["auth", "status", &url]).await;
    assert_eq!(code, Some(0));
    assert!(
        out.contains("refresh token: yes") && out.contains("expires in"),
        "{out}"
    );
    no_secret_in(&out);
    let (_, all, _) = wazion(&home, &["auth", "status"]).await;
    assert!(all.contains(&url), "{all}");

    // `check` sees the stored sign-in and uses it.
    let (code, out, _) = wazion(&home, &["check", &url]).await;
    assert!(out.contains("OAuth sign-in stored"), "{out}");
    assert!(out.contains("initialize"), "{out}");
    assert_eq!(code, Some(0), "{out}");
    no_secret_in(&out);

    let (code, out, _) = wazion(&home, &["auth", "logout", &url]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("signed out"), "{out}");
    assert!(home.token_files().is_empty());
    let (_, out, _) = wazion(&home, &["auth", "status", &url]).await;
    assert!(out.contains("not signed in"), "{out}");
}

#[tokio::test]
async fn check_says_what_it_would_do_without_a_sign_in() {
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let (code, out, _) = wazion(&home, &["check", &peer.mcp_url]).await;
    assert!(
        out.contains("auth") && out.contains("opens a browser to sign in"),
        "{out}"
    );
    assert_eq!(
        code,
        Some(1),
        "without a sign-in the initialize step fails: {out}"
    );
    assert!(home.urls().is_empty(), "check never opens a browser");
}

#[tokio::test]
async fn the_first_run_against_an_unknown_server_opens_one_browser() {
    // A server the bridge never met: the client's `initialize` is preceded by the era probe
    // (`server/discover`), whose 401 is the one that starts the sign-in.
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut bridge = home.bridge(&peer.mcp_url).unknown_server().spawn();
    bridge.send(INIT).await;
    let (status, page) = visit(&home.url(0).await).await;
    assert_eq!(status, 200, "{page}");
    let (init, _) = bridge.recv_response(&json!(1)).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "oauth-peer", "{init}");
    let answer = tool_text(&mut bridge, 2, "echo").await;
    assert!(answer["result"].is_object(), "{answer}");
    assert_eq!(home.urls().len(), 1, "one sign-in, one browser");
    assert_eq!(peer.seen().authorizations.len(), 1);
}

// ---- Issue 16: credentials stay with their issuer (items 1 and 8) ----

/// The refresh token stored in `home` (read from the token file, as an attacker would want).
fn stored_field(home: &Home, field: &str) -> String {
    let files = home.token_files();
    let json: Value =
        serde_json::from_slice(&std::fs::read(&files[0]).expect("token file")).expect("token JSON");
    json[field].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_refresh_token_never_reaches_another_authorization_server() {
    // Issue 16 item 1. The server's 401 names the metadata of another server, which names
    // another authorization server (and claims this server's resource). The old main
    // re-discovered and refreshed there: the attacker's token endpoint got the stored refresh
    // token, answered with tokens, and the stored sign-in kept the old issuer.
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut bridge = signed_in(&home, &peer).await;
    let refresh_token = stored_field(&home, "refresh_token");
    assert!(refresh_token.starts_with("rt-"), "{refresh_token}");

    let attacker = OAuthPeer::start(PeerConfig {
        resource_claim: Some(Some(peer.mcp_url.clone())),
        accept_any_refresh: true,
        ..PeerConfig::default()
    })
    .await;
    {
        let mut seen = peer.seen();
        seen.challenge_metadata = Some(attacker.metadata_url());
        seen.revoke_access_tokens();
    }
    bridge.send(&call(2, "echo")).await;
    // Whichever comes first: a refresh at the other issuer (the old main), or a browser.
    let deadline = tokio::time::Instant::now() + LINE_DEADLINE;
    while home.urls().len() < 2 && attacker.seen().token_requests.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "neither a refresh nor a sign-in:\n{}",
            bridge.stderr()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    {
        let seen = attacker.seen();
        assert_eq!(
            seen.grants("refresh_token"),
            0,
            "no refresh at another issuer"
        );
        assert!(seen.token_requests.is_empty(), "{:?}", seen.token_requests);
    }
    // A new sign-in is started at the new issuer, and nothing stored went there.
    let url = home.url(1).await;
    assert!(
        url.starts_with(&format!("{}/authorize?", attacker.issuer)),
        "{url}"
    );
    {
        let seen = attacker.seen();
        assert_eq!(
            seen.grants("refresh_token"),
            0,
            "no refresh at another issuer"
        );
        assert!(seen.token_requests.is_empty(), "{:?}", seen.token_requests);
    }
    assert_eq!(peer.seen().grants("refresh_token"), 0, "nor at the old one");
    let stderr = bridge.stderr();
    assert!(
        stderr.contains(&format!(
            "now names the authorization server {}",
            attacker.issuer
        )),
        "{stderr}"
    );
    // Until a new sign-in completes, what is stored is the old issuer's own sign-in.
    assert_eq!(stored_field(&home, "issuer"), peer.issuer);
    assert_eq!(stored_field(&home, "refresh_token"), refresh_token);

    // The user completes the new sign-in: the store now says the new issuer, with its own
    // tokens, and `auth status` reports it.
    let (status, page) = visit(&url).await;
    assert_eq!(status, 200, "{page}");
    let _ = bridge.recv_response(&json!(2)).await;
    assert_eq!(stored_field(&home, "issuer"), attacker.issuer);
    assert_ne!(stored_field(&home, "refresh_token"), refresh_token);
    let (_, out, _) = wazion(&home, &["auth", "status", &peer.mcp_url]).await;
    assert!(
        out.contains(&format!("signed in at {}", attacker.issuer)),
        "{out}"
    );
    let seen = attacker.seen();
    for (form, auth) in &seen.token_requests {
        assert!(
            !form.values().any(|v| v == &refresh_token) && auth.is_none(),
            "the old sign-in's credentials reached the other issuer: {form:?}"
        );
    }
}

#[tokio::test]
async fn a_configured_client_secret_is_not_sent_to_another_issuer() {
    // Issue 16 item 1: the pre-registered client's secret belongs to the issuer it was used
    // with. The old main refreshed at the other issuer with HTTP Basic carrying
    // `pre-1:pre-secret-xyz`.
    let peer = OAuthPeer::start(PeerConfig {
        any_client: true,
        ..PeerConfig::default()
    })
    .await;
    let home = Home::new();
    let with_secret = |url: &str| {
        home.bridge(url)
            .arg("--oauth-client-id")
            .arg("pre-1")
            .arg("--oauth-client-secret-env")
            .arg("PRE_SECRET")
            .env("PRE_SECRET", "pre-secret-xyz")
    };
    let mut bridge = with_secret(&peer.mcp_url).spawn();
    bridge.send(INIT).await;
    let (status, page) = visit(&home.url(0).await).await;
    assert_eq!(status, 200, "{page}");
    let (init, _) = bridge.recv_response(&json!(1)).await;
    assert!(init["result"].is_object(), "{init}\n{}", bridge.stderr());
    assert!(
        peer.seen().token_requests[0]
            .1
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "the secret was used with its own issuer"
    );

    let attacker = OAuthPeer::start(PeerConfig {
        resource_claim: Some(Some(peer.mcp_url.clone())),
        accept_any_refresh: true,
        any_client: true,
        ..PeerConfig::default()
    })
    .await;
    {
        let mut seen = peer.seen();
        seen.challenge_metadata = Some(attacker.metadata_url());
        seen.revoke_access_tokens();
    }
    let answer = tool_text(&mut bridge, 2, "echo").await;
    let seen = attacker.seen();
    assert!(
        seen.token_requests.is_empty(),
        "the other issuer got a token request: {:?}",
        seen.token_requests
    );
    let message = answer["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("the secret is not sent there"), "{answer}");
    assert!(message.contains("auth logout"), "{answer}");
    assert_eq!(home.urls().len(), 1, "no browser for the other issuer");
    let stderr = bridge.stderr();
    for secret in [
        "pre-secret-xyz".to_string(),
        stored_field(&home, "refresh_token"),
    ] {
        assert!(!stderr.contains(&secret), "{secret} leaked:\n{stderr}");
    }
}

#[tokio::test]
async fn metadata_for_another_issuer_or_resource_is_refused() {
    // Issue 16 item 1 (RFC 8414 §3.3, RFC 9728 §3.3). The old main signed in with each of
    // these: it took the issuer the document named, accepted a missing `resource`, and
    // accepted a parent path as the resource; each opened the browser.
    let cases: [(&str, PeerConfig); 4] = [
        (
            "RFC 8414",
            PeerConfig {
                issuer_claim: Some("https://issuer.example".into()),
                ..PeerConfig::default()
            },
        ),
        (
            "names no resource",
            PeerConfig {
                resource_claim: Some(None),
                ..PeerConfig::default()
            },
        ),
        (
            "RFC 9728",
            PeerConfig {
                // The parent path: this resource server's root.
                resource_claim: Some(Some("ROOT".into())),
                ..PeerConfig::default()
            },
        ),
        (
            "RFC 9728",
            PeerConfig {
                resource_claim: Some(Some("https://other.example/mcp".into())),
                ..PeerConfig::default()
            },
        ),
    ];
    for (why, config) in cases {
        let peer = OAuthPeer::start(config).await;
        let home = Home::new();
        let mut bridge = home.bridge(&peer.mcp_url).spawn();
        bridge.send(INIT).await;
        let (answer, _) = bridge.recv_response(&json!(1)).await;
        let message = answer["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(why), "{why}: {answer}");
        assert!(home.urls().is_empty(), "{why}: no browser");
        assert!(
            peer.seen().registrations.is_empty(),
            "{why}: no registration"
        );
    }
}

#[tokio::test]
async fn a_600_mb_metadata_answer_is_read_no_further_than_1_mib() {
    // Issue 16 item 1. The old main read the whole answer into memory (612 MiB RSS for
    // 600 MB, as the issue measured) before finding it was not metadata; here it gave no
    // answer within the 10 s line deadline. Now: about 20 MiB peak RSS, 4 MiB taken.
    let peer = OAuthPeer::start(PeerConfig {
        huge_metadata: true,
        ..PeerConfig::default()
    })
    .await;
    let home = Home::new();
    let mut bridge = home.bridge(&peer.mcp_url).spawn();
    bridge.send(INIT).await;
    let (answer, _) = bridge.recv_response(&json!(1)).await;
    let message = answer["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("larger than 1024 KiB"), "{answer}");
    let peak_kib =
        std::fs::read_to_string(format!("/proc/{}/status", bridge.pid().expect("running")))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .expect("VmHWM");
    let streamed = peer
        .seen()
        .streamed
        .load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("600 MB metadata: bridge peak RSS {peak_kib} KiB, {streamed} bytes taken");
    assert!(
        streamed < 64 << 20,
        "the bridge kept reading: {streamed} bytes taken"
    );
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
    assert!(home.urls().is_empty());
}

#[tokio::test]
async fn a_remote_servers_401_never_sends_the_bridge_to_an_internal_address() {
    // Issue 16 item 1. A "remote" server (a host name, reached through the peer acting as
    // an http proxy) names the cloud metadata service in its challenge. The old main fetched
    // http://169.254.169.254/… through the proxy; now the URL is refused before any request.
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    peer.seen().challenge_metadata =
        Some("http://169.254.169.254/latest/meta-data/iam/security-credentials/".into());
    let home = Home::new();
    let mut bridge = home
        .bridge("http://mcp.remote.test/mcp")
        .arg("--allow-http")
        .arg("--proxy")
        .arg(&peer.rs_base)
        .spawn();
    bridge.send(INIT).await;
    let (answer, _) = bridge.recv_response(&json!(1)).await;
    let targets = peer.seen().targets.clone();
    assert!(
        targets
            .iter()
            .any(|t| t.starts_with("http://mcp.remote.test/")),
        "the proxy was used: {targets:?}"
    );
    assert!(
        !targets.iter().any(|t| t.contains("169.254.")),
        "an internal address was fetched: {targets:?}"
    );
    let message = answer["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("internal address"), "{answer}");
    assert!(home.urls().is_empty());
}

#[tokio::test]
async fn the_token_store_is_private_refuses_links_and_cleans_up() {
    // Issue 16 item 8. The old main read a group-readable token file without a word, left
    // the folder 0755, left a crashed writer's temporary file forever, and read a token file
    // through a link.
    use std::os::unix::fs::PermissionsExt;
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut bridge = signed_in(&home, &peer).await;
    bridge.finish(Duration::from_secs(5)).await;
    let file = home.token_files().remove(0);
    let dir = file.parent().expect("folder").to_path_buf();
    let mode = |p: &std::path::Path| {
        std::fs::symlink_metadata(p)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    };
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let stale = dir.join(".x.json.tmp-1-1");
    std::fs::write(&stale, "{}").expect("stale temp");
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .and_then(|f| f.set_modified(hour_ago))
        .expect("age the temp file");
    let fresh = dir.join(".y.json.tmp-2-2");
    std::fs::write(&fresh, "{}").expect("fresh temp");

    let (code, out, err) = wazion(&home, &["auth", "status", &peer.mcp_url]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("signed in at"), "{out}");
    assert!(err.contains("readable by other users (mode 644)"), "{err}");
    assert_eq!(mode(&file), 0o600, "tightened on load");

    // A write (a refresh) tightens the folder and removes the stale temporary file only.
    peer.seen().revoke_access_tokens();
    let mut bridge = home.bridge(&peer.mcp_url).spawn();
    bridge.send(INIT).await;
    let (init, _) = bridge.recv_response(&json!(1)).await;
    assert!(init["result"].is_object(), "{init}");
    bridge.finish(Duration::from_secs(5)).await;
    assert_eq!(peer.seen().grants("refresh_token"), 1);
    assert_eq!(mode(&dir), 0o700);
    assert!(!stale.exists(), "the crashed writer's temp file is removed");
    assert!(
        fresh.exists(),
        "a temp file being written now is left alone"
    );

    // A token file that is a link is not read.
    let elsewhere = home.dir.path().join("elsewhere.json");
    std::fs::rename(&file, &elsewhere).expect("move");
    std::os::unix::fs::symlink(&elsewhere, &file).expect("link");
    let (_, out, err) = wazion(&home, &["auth", "status", &peer.mcp_url]).await;
    assert!(out.contains("not signed in"), "{out}");
    assert!(err.contains("is a link"), "{err}");
}

#[tokio::test]
async fn logout_revokes_the_tokens_and_deletes_them_even_when_revocation_fails() {
    // Issue 16 item 8 (RFC 7009). The old main only deleted the file: the tokens stayed
    // valid at the authorization server.
    for status in [200u16, 503] {
        let peer = OAuthPeer::start(PeerConfig {
            revocation: Some(status),
            ..PeerConfig::default()
        })
        .await;
        let home = Home::new();
        let mut bridge = signed_in(&home, &peer).await;
        bridge.finish(Duration::from_secs(5)).await;
        let refresh_token = stored_field(&home, "refresh_token");
        let access_token = stored_field(&home, "access_token");
        let (code, out, err) = wazion(&home, &["auth", "logout", &peer.mcp_url]).await;
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("signed out"), "{out}");
        assert!(
            home.token_files().is_empty(),
            "deleted whatever the revocation did"
        );
        no_secret_in(&out);
        no_secret_in(&err);
        let seen = peer.seen();
        let tokens: Vec<(String, String, String)> = seen
            .revocations
            .iter()
            .map(|(f, _)| {
                let get = |k: &str| f.get(k).cloned().unwrap_or_default();
                (get("token"), get("token_type_hint"), get("client_id"))
            })
            .collect();
        assert_eq!(tokens.len(), 2, "{tokens:?}\n{out}\n{err}");
        assert_eq!(tokens[0].0, refresh_token);
        assert_eq!(tokens[0].1, "refresh_token");
        assert_eq!(tokens[1].0, access_token);
        assert!(
            tokens[0].2.starts_with("client-"),
            "the client identifies itself"
        );
        if status == 200 {
            assert!(
                out.contains(&format!("revoked 2 tokens at {}", peer.issuer)),
                "{out}"
            );
        } else {
            assert!(err.contains("could not revoke"), "{err}");
        }
    }
}

#[tokio::test]
async fn a_trailing_slash_names_the_same_stored_sign_in() {
    // Issue 16 item 8. The old main keyed the store on the URL as typed: `…/mcp/` was
    // "not signed in" after a sign-in to `…/mcp`.
    let peer = OAuthPeer::start(PeerConfig::default()).await;
    let home = Home::new();
    let mut bridge = signed_in(&home, &peer).await;
    bridge.finish(Duration::from_secs(5)).await;
    let with_slash = format!("{}/", peer.mcp_url);
    let (code, out, _) = wazion(&home, &["auth", "status", &with_slash]).await;
    assert_eq!(code, Some(0));
    assert!(
        out.contains(&format!("signed in at {}", peer.issuer)),
        "{out}"
    );
    let (code, out, _) = wazion(&home, &["auth", "logout", &with_slash]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("signed out"), "{out}");
    assert!(home.token_files().is_empty());
}
