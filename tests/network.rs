//! Corporate networks (issue 5 §3): requests go through an HTTP CONNECT proxy given by
//! `--proxy` or by `HTTPS_PROXY`, `NO_PROXY` bypasses it, and a private CA is trusted with
//! `--ca-file`. The proxy is a real loopback CONNECT tunnel written here; the server is the
//! scripted HTTPS server with a certificate from a CA made at test time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::driver::BridgeCmd;
use crate::support::scripted::{Scripted, TestPki};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "proxy-test-token";

/// A CONNECT-only proxy on 127.0.0.1; records the request heads it saw.
async fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                seen.lock().unwrap().push(head.clone());
                let Some(target) = head
                    .strip_prefix("CONNECT ")
                    .and_then(|r| r.split_whitespace().next())
                else {
                    let _ = client
                        .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                        .await;
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (url, heads)
}

async fn initialize_works(mut bridge: crate::support::driver::Bridge) {
    let init = bridge.handshake("2025-06-18").await;
    assert!(init.get("result").is_some(), "{init}\n{}", bridge.stderr());
    bridge
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let (list, _) = bridge.recv_response(&json!(1)).await;
    assert!(list.get("result").is_some(), "{list}");
    let (status, _) = bridge.finish(Duration::from_secs(3)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

#[tokio::test]
async fn proxy_flag_tunnels_https_and_sees_no_secret() {
    let pki = TestPki::generate();
    let server = Scripted::builder().start_tls(&pki).await;
    let (proxy, heads) = connect_proxy().await;
    let ca = pki.write_ca("proxy-flag");
    let bridge = BridgeCmd::new(&server.https_url())
        .token(TOKEN)
        .arg("--proxy")
        .arg(&proxy)
        .arg("--ca-file")
        .arg(ca.to_str().unwrap())
        .env("NO_PROXY", "")
        .env("no_proxy", "")
        .spawn();
    initialize_works(bridge).await;
    let heads = heads.lock().unwrap().clone();
    assert!(!heads.is_empty(), "the proxy was used");
    let target = server
        .https_url()
        .replace("https://", "")
        .replace("/mcp", "");
    assert!(
        heads
            .iter()
            .all(|h| h.starts_with(&format!("CONNECT {target} "))),
        "{heads:?}"
    );
    assert!(
        heads.iter().all(|h| !h.contains(TOKEN)),
        "the token travels inside TLS only"
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer proxy-test-token"))
    );
}

#[tokio::test]
async fn https_proxy_env_is_honoured_and_no_proxy_bypasses_it() {
    let pki = TestPki::generate();
    let server = Scripted::builder().start_tls(&pki).await;
    let (proxy, heads) = connect_proxy().await;
    let ca = pki.write_ca("proxy-env");
    let through = BridgeCmd::new(&server.https_url())
        .token(TOKEN)
        .arg("--ca-file")
        .arg(ca.to_str().unwrap())
        .env("HTTPS_PROXY", &proxy)
        .env("NO_PROXY", "")
        .env("no_proxy", "")
        .spawn();
    initialize_works(through).await;
    let used = heads.lock().unwrap().len();
    assert!(used > 0, "HTTPS_PROXY was not used");

    let bypass = BridgeCmd::new(&server.https_url())
        .token(TOKEN)
        .arg("--ca-file")
        .arg(ca.to_str().unwrap())
        .env("HTTPS_PROXY", &proxy)
        .env("NO_PROXY", "127.0.0.1")
        .spawn();
    initialize_works(bypass).await;
    assert_eq!(
        heads.lock().unwrap().len(),
        used,
        "NO_PROXY must bypass the proxy"
    );
}

/// A plain-http local server works on a machine with no CA certificates (a bare container):
/// the bridge loads the system's CA store only when TLS can be spoken (issue #4). An https
/// endpoint there still fails with an error that names the cause.
#[tokio::test]
async fn plain_http_needs_no_ca_store_and_https_says_what_is_missing() {
    let empty = std::env::temp_dir().join(format!("wazion-mcp-no-ca-{}.pem", std::process::id()));
    std::fs::write(&empty, "").unwrap();
    let no_store = |url: &str| {
        BridgeCmd::new(url)
            .token(TOKEN)
            .env("SSL_CERT_FILE", empty.to_str().unwrap())
            .env("SSL_CERT_DIR", "/nonexistent-wazion-mcp-test")
    };
    let server = Scripted::start().await;
    initialize_works(no_store(&server.url()).spawn()).await;

    let pki = TestPki::generate();
    let tls = Scripted::builder().start_tls(&pki).await;
    let mut b = no_store(&tls.https_url()).spawn();
    let status = b.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{}", b.stderr());
    let cause = b
        .wait_stderr_line(Duration::from_secs(5), |l| {
            l.contains("No CA certificates were loaded from the system")
        })
        .await;
    assert!(cause.is_some(), "{}", b.stderr());
    let _ = std::fs::remove_file(&empty);
}
