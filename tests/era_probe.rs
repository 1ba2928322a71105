//! Issue 19 §1: the era follows the server's answer to the client's own handshake. A 2025-era
//! client's `initialize` is the first request the server sees, byte for byte as the client
//! wrote it; a server that accepts it is a 2025 session (nothing translated, even when its
//! `server/discover` lists only 2026 versions, as dual-era servers of both official SDKs
//! do). A server that refuses it the 2026 way is translated for, that same `initialize`
//! answered from `server/discover`, and the refusal is remembered for a week, so a second
//! start sends no `initialize`. A stale memory is dropped when `server/discover` fails or a
//! translated request fails as a handshake server's would.
//!
//! On the old main (the `server/discover` probe before the client's `initialize`), each
//! new test failed as its comment says; the two kept from then say so.

use std::time::Duration;

use crate::support::driver::{BridgeCmd, fresh_cache_dir};
use crate::support::rmcp_peer;
use crate::support::scripted::{Recorded, Scripted, json, status};
use serde_json::{Value, json};

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"clientInfo":{"name":"probe-test","version":"0"}}}"#;

const DAY: u64 = 24 * 60 * 60;

fn is_discover(r: &Recorded) -> bool {
    r.is_rpc("server/discover")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A cache directory in which `url` is remembered as refusing the handshake since `since`.
fn remembered_as_refusing(url: &str, since: u64) -> std::path::PathBuf {
    let dir = fresh_cache_dir();
    let file = wazion_mcp::era_cache::file_in(&dir);
    wazion_mcp::era_cache::store_at_time(
        &file,
        &url::Url::parse(url).expect("url"),
        wazion_mcp::era_cache::Remembered::Modern,
        since,
    )
    .expect("seed the era cache");
    dir
}

/// Whether the era cache file in `dir` mentions `url` at all (in any shape).
fn mentioned(dir: &std::path::Path, url: &str) -> bool {
    std::fs::read_to_string(wazion_mcp::era_cache::file_in(dir))
        .is_ok_and(|text| text.contains(&format!("\"{url}\"")))
}

fn remembered(dir: &std::path::Path, url: &str) -> bool {
    wazion_mcp::era_cache::lookup_at(
        &wazion_mcp::era_cache::file_in(dir),
        &url::Url::parse(url).expect("url"),
        now(),
    )
    .is_some()
}

/// `server/discover` answered as a 2026 server answers it (dual-era ones included).
fn answers_discover(server: &Scripted) {
    server.always(is_discover, |r| {
        let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
        json(
            200,
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"resultType":"complete","supportedVersions":["2026-07-28"],"capabilities":{{"tools":{{"listChanged":true}}}},"_meta":{{"io.modelcontextprotocol/serverInfo":{{"name":"modern","version":"1"}}}}}}}}"#
            ),
        )
    });
}

/// A 2026-only server: refuses a 2025 `initialize` with UnsupportedProtocolVersion in an
/// HTTP 400, as the TypeScript SDK v2's `legacy: 'reject'` does.
fn refuses_initialize(server: &Scripted) {
    server.always(
        |r| r.is_rpc("initialize"),
        |r| {
            let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
            json(
                400,
                format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32022,"message":"Unsupported protocol version","data":{{"supported":["2026-07-28"],"requested":"2025-06-18"}}}}}}"#
                ),
            )
        },
    );
}

/// A dual-era server (its `server/discover` lists only 2026-07-28, as the Python SDK 2.x and
/// the TypeScript SDK v2 do) gets the client's `initialize` first and unchanged, and the
/// client gets the server's own answer. Old main: the first request was the probe, and its
/// 2026-only answer made the bridge translate (the client saw a synthesised result).
#[tokio::test]
async fn a_dual_era_server_sees_the_clients_initialize_first_and_is_not_translated() {
    let server = Scripted::start().await;
    answers_discover(&server);
    let cache = fresh_cache_dir();
    let mut b = BridgeCmd::new(&server.url())
        .env("WAZION_MCP_CACHE_DIR", &cache.display().to_string())
        .spawn();
    b.send(INIT).await;
    let init = b.recv().await;
    assert_eq!(
        init,
        r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{},"logging":{}},"serverInfo":{"name":"scripted","version":"0.0.0"}}}"#,
        "the server's own answer, byte for byte"
    );
    let seen = server.requests();
    assert!(seen[0].is_rpc("initialize"), "{}", server.dump());
    assert_eq!(seen[0].body_str(), INIT, "unchanged");
    b.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    b.recv_response(&json!(1)).await;
    let list = server
        .wait_for("tools/list", |r| r.is_rpc("tools/list"))
        .await;
    assert_eq!(list.session(), Some("sess-1"), "a 2025 session");
    assert_eq!(
        list.body_str(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        "nothing stamped"
    );
    b.finish(Duration::from_secs(3)).await;
    assert!(
        !server.requests().iter().any(is_discover),
        "{}",
        server.dump()
    );
    assert!(!remembered(&cache, &server.url()));
}

/// A 2026-only server (rmcp 3.11 requiring the modern metadata) refuses the client's
/// `initialize` once; the client still gets a session by translation; the refusal is
/// remembered, so the second start sends no `initialize` at all. Old main: the first start
/// sent no `initialize` (the probe answered), so "refused once" failed.
#[tokio::test]
async fn a_2026_only_server_refuses_one_initialize_then_is_remembered() {
    let server = rmcp_peer::start_with(rmcp_peer::PeerOptions {
        mode: rmcp_peer::Mode::ModernOnly,
        ..rmcp_peer::options()
    })
    .await;
    let cache = fresh_cache_dir();
    let cache_env = cache.display().to_string();
    let methods = |server: &rmcp_peer::RunningPeer| -> Vec<String> {
        server
            .requests()
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter_map(|b| b["method"].as_str().map(str::to_string))
            .collect()
    };

    let mut b = BridgeCmd::new(&server.url)
        .env("WAZION_MCP_CACHE_DIR", &cache_env)
        .token(rmcp_peer::TOKEN)
        .spawn();
    let init = b.handshake("2025-06-18").await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let (list, _) = b.recv_response(&json!(1)).await;
    assert!(list["result"]["tools"].is_array(), "{list}");
    b.finish(Duration::from_secs(3)).await;
    let first = methods(&server);
    assert_eq!(first[0], "initialize", "the client's own first: {first:?}");
    assert_eq!(first[1], "server/discover", "{first:?}");
    assert_eq!(
        first.iter().filter(|m| *m == "initialize").count(),
        1,
        "{first:?}"
    );
    assert!(remembered(&cache, &server.url), "the refusal is remembered");

    let before = server.requests().len();
    let mut again = BridgeCmd::new(&server.url)
        .env("WAZION_MCP_CACHE_DIR", &cache_env)
        .token(rmcp_peer::TOKEN)
        .spawn();
    let init = again.handshake("2025-06-18").await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    again
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let (list, _) = again.recv_response(&json!(1)).await;
    assert!(list["result"]["tools"].is_array(), "{list}");
    again.finish(Duration::from_secs(3)).await;
    let second = &methods(&server)[before..];
    assert_eq!(second[0], "server/discover", "{second:?}");
    assert!(
        !second.iter().any(|m| m == "initialize"),
        "a second start sends no initialize: {second:?}"
    );
    server.shutdown().await.unwrap();
}

/// A refusal seen eight days ago has expired: the client's `initialize` goes out first
/// again. Old main: the file's new shape was unreadable to it, so it probed first.
#[tokio::test]
async fn a_remembered_refusal_expires_after_a_week() {
    let server = Scripted::start().await;
    answers_discover(&server);
    let cache = remembered_as_refusing(&server.url(), now() - 8 * DAY);
    let mut b = BridgeCmd::new(&server.url())
        .env("WAZION_MCP_CACHE_DIR", &cache.display().to_string())
        .spawn();
    b.send(INIT).await;
    let init: Value = b.recv_json().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "scripted", "{init}");
    assert!(
        server.requests()[0].is_rpc("initialize"),
        "{}",
        server.dump()
    );
    b.finish(Duration::from_secs(3)).await;
    assert!(!server.requests().iter().any(is_discover));
}

/// A server remembered as refusing the handshake whose `server/discover` now fails (it
/// speaks only 2025 now): the bridge forgets it and sends the client's `initialize`. Old
/// main: its probe's failure also led to the initialize, but it then wrote the server down
/// as a 2025 one (the file still named it), so the last assertion failed.
#[tokio::test]
async fn a_remembered_server_whose_discover_fails_is_forgotten() {
    let server = Scripted::start().await;
    server.always(is_discover, |_| status(404));
    let cache = remembered_as_refusing(&server.url(), now() - DAY);
    assert!(remembered(&cache, &server.url()));
    let mut b = BridgeCmd::new(&server.url())
        .env("WAZION_MCP_CACHE_DIR", &cache.display().to_string())
        .spawn();
    b.send(INIT).await;
    let init: Value = b.recv_json().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "scripted", "{init}");
    let seen = server.requests();
    assert!(is_discover(&seen[0]), "{}", server.dump());
    assert!(seen[1].is_rpc("initialize"), "{}", server.dump());
    assert_eq!(seen[1].body_str(), INIT);
    b.finish(Duration::from_secs(3)).await;
    assert!(!mentioned(&cache, &server.url()), "forgotten");
}

/// While translating for a remembered server, a request refused the way a 2025 server
/// refuses a request without a session suggests the server changed: the memory is dropped
/// (the next start tries the handshake), and the client gets the server's refusal.
/// Old main: the memory was never dropped (the file still named the server as "2026").
#[tokio::test]
async fn a_translated_request_refused_for_want_of_a_session_forgets_the_server() {
    let server = Scripted::start().await;
    answers_discover(&server);
    server.always(
        |r| r.is_rpc("tools/list"),
        |r| {
            let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
            json(
                400,
                format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32000,"message":"Bad Request: No valid session ID provided"}}}}"#
                ),
            )
        },
    );
    let cache = remembered_as_refusing(&server.url(), now() - DAY);
    let mut b = BridgeCmd::new(&server.url())
        .env("WAZION_MCP_CACHE_DIR", &cache.display().to_string())
        .spawn();
    b.send(INIT).await;
    let init: Value = b.recv_json().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "modern", "{init}");
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let (answer, _) = b.recv_response(&json!(1)).await;
    assert!(answer["error"].is_object(), "{answer}");
    b.finish(Duration::from_secs(3)).await;
    assert!(
        !server.requests().iter().any(|r| r.is_rpc("initialize")),
        "{}",
        server.dump()
    );
    assert!(!mentioned(&cache, &server.url()), "forgotten");
}

/// A server that answers the client's `initialize` with 2026-07-28 (a version the client
/// cannot speak): the client gets its own version from translation instead. (Kept from old
/// main, where it passed too.)
#[tokio::test]
async fn an_initialize_answered_with_a_2026_version_is_translated() {
    let server = Scripted::start().await;
    server.always(
        |r| r.is_rpc("initialize"),
        |r| {
            let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
            json(
                200,
                format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":"2026-07-28","capabilities":{{}},"serverInfo":{{"name":"new","version":"1"}}}}}}"#
                ),
            )
        },
    );
    answers_discover(&server);
    let mut b = BridgeCmd::new(&server.url()).spawn();
    b.send(INIT).await;
    let init: Value = b.recv_json().await;
    assert_eq!(init["id"], 0, "{init}");
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    assert_eq!(
        init["result"]["capabilities"]["tools"],
        json!({"listChanged":true}),
        "{init}"
    );
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let (list, _) = b.recv_response(&json!(1)).await;
    assert!(list.get("result").is_some(), "{list}");
    let forwarded = server
        .wait_for("tools/list", |r| r.is_rpc("tools/list"))
        .await;
    assert_eq!(forwarded.header("mcp-protocol-version"), Some("2026-07-28"));
    assert_eq!(
        forwarded.json()["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    b.finish(Duration::from_secs(3)).await;
}

/// A remembered server whose `server/discover` is refused with UnsupportedProtocolVersion
/// (-32022) naming only 2026 versions is asked once more in the newest version named, as a
/// 2026 client does (headers and `_meta` as the suite's 2026 checks want them), and never
/// sees a 2025 `initialize`. (Old main did the same in its probe, so it passed there too.)
#[tokio::test]
async fn a_discover_refused_with_minus_32022_is_retried_in_a_named_version() {
    let server = Scripted::start().await;
    server.once(
        is_discover,
        json(
            400,
            r#"{"jsonrpc":"2.0","id":"wazion-mcp-discover-0","error":{"code":-32022,"message":"Unsupported protocol version","data":{"supported":["2026-07-28"]}}}"#,
        ),
    );
    answers_discover(&server);
    refuses_initialize(&server);
    let cache = remembered_as_refusing(&server.url(), now() - DAY);
    let mut b = BridgeCmd::new(&server.url())
        .env("WAZION_MCP_CACHE_DIR", &cache.display().to_string())
        .spawn();
    b.send(INIT).await;
    let init: Value = b.recv_json().await;
    assert_eq!(init["id"], 0, "{init}");
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    let probes = server.matching(is_discover);
    assert_eq!(probes.len(), 2, "{}", server.dump());
    let p = &probes[1];
    assert_eq!(p.header("mcp-protocol-version"), Some("2026-07-28"));
    assert_eq!(p.header("mcp-method"), Some("server/discover"));
    assert_eq!(p.session(), None);
    let meta = &p.json()["params"]["_meta"];
    assert_eq!(
        meta["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    assert_eq!(
        meta["io.modelcontextprotocol/clientCapabilities"],
        json!({"roots":{}})
    );
    assert_eq!(
        meta["io.modelcontextprotocol/clientInfo"]["name"],
        "probe-test"
    );
    assert!(
        !server.requests().iter().any(|r| r.is_rpc("initialize")),
        "{}",
        server.dump()
    );
    b.finish(Duration::from_secs(3)).await;
}

/// A 2026-only server that refuses the handshake with an HTTP 400 the bridge does not
/// recognise as modern (a plain invalid-request error) is asked `server/discover` once; it
/// answers, so the client's `initialize` is answered by translation. A legacy server's
/// refusal (no JSON-RPC body) still leads to the legacy transport (tests/legacy.rs).
/// Old main: the probe found it before the initialize; here the initialize comes first.
#[tokio::test]
async fn an_unrecognised_400_to_initialize_is_checked_with_one_discover() {
    let server = Scripted::start().await;
    server.always(
        |r| r.is_rpc("initialize"),
        |r| {
            let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
            json(
                400,
                format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32600,"message":"Bad Request: this endpoint wants request metadata"}}}}"#
                ),
            )
        },
    );
    answers_discover(&server);
    let mut b = BridgeCmd::new(&server.url()).spawn();
    b.send(INIT).await;
    let init: Value = b.recv_json().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "modern", "{init}");
    let seen = server.requests();
    assert!(seen[0].is_rpc("initialize"), "{}", server.dump());
    assert!(is_discover(&seen[1]), "{}", server.dump());
    b.finish(Duration::from_secs(3)).await;
}
