//! Issue 11 §9: how a 2025-era client's bridge learns the server's era. Before the client's
//! `initialize` goes out to a server it has never met, the bridge asks `server/discover` with
//! full 2026-07-28 headers and `_meta`; a 2026-only answer means translation (the server
//! never sees a 2025 `initialize`), anything else means the client's `initialize` goes out
//! unchanged. What the server spoke is remembered per endpoint in the user's cache dir, so
//! only the first start pays for the probe. A server that answers a 2025 `initialize` with
//! a 2026 version is translated for too.

use std::time::Duration;

use crate::support::driver::{BridgeCmd, fresh_cache_dir};
use crate::support::rmcp_peer;
use crate::support::scripted::{Recorded, Scripted, json};
use serde_json::{Value, json};

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"clientInfo":{"name":"probe-test","version":"0"}}}"#;

fn is_discover(r: &Recorded) -> bool {
    r.is_rpc("server/discover")
}

/// The probe as the suite's 2026 checks want it: version and method headers, and `_meta`
/// with the version and the client's own capabilities and clientInfo.
fn assert_well_formed_probe(r: &Recorded) {
    assert_eq!(r.header("mcp-protocol-version"), Some("2026-07-28"));
    assert_eq!(r.header("mcp-method"), Some("server/discover"));
    assert_eq!(r.session(), None);
    let body = r.json();
    let meta = &body["params"]["_meta"];
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
    let id = body["id"].as_str().unwrap_or_default();
    assert!(id.starts_with("wazion-mcp-"), "a bridge-private id: {body}");
}

#[tokio::test]
async fn a_2025_server_is_probed_once_then_remembered() {
    let server = Scripted::start().await;
    let cache = fresh_cache_dir();
    let cache_env = cache.display().to_string();

    let mut b = BridgeCmd::new(&server.url())
        .env("WAZION_MCP_CACHE_DIR", &cache_env)
        .spawn();
    b.send(INIT).await;
    let init: Value = b.recv_json().await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    let seen = server.requests();
    assert!(is_discover(&seen[0]), "the probe first:\n{}", server.dump());
    assert_well_formed_probe(&seen[0]);
    assert!(seen[1].is_rpc("initialize"), "{}", server.dump());
    assert_eq!(
        seen[1].body_str(),
        INIT,
        "the client's initialize goes out unchanged"
    );
    let (status, _) = b.finish(Duration::from_secs(3)).await;
    assert!(status.is_some(), "the bridge exits at EOF");
    // Remembered in the folder WAZION_MCP_CACHE_DIR names (on every OS), not the user's.
    let file = wazion_mcp::era_cache::file_in(&cache);
    assert!(file.is_file(), "no era cache at {}", file.display());

    // The second start remembers: no probe, the initialize goes out first.
    let before = server.requests().len();
    let mut again = BridgeCmd::new(&server.url())
        .env("WAZION_MCP_CACHE_DIR", &cache_env)
        .spawn();
    again.send(INIT).await;
    let init: Value = again.recv_json().await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    let later = &server.requests()[before..];
    assert!(later[0].is_rpc("initialize"), "{}", server.dump());
    assert!(!later.iter().any(is_discover), "{}", server.dump());
    again.finish(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_2026_only_server_is_found_by_the_probe_and_never_sees_a_2025_initialize() {
    let server = rmcp_peer::start_with(rmcp_peer::PeerOptions {
        mode: rmcp_peer::Mode::ModernOnly,
        ..rmcp_peer::options()
    })
    .await;
    let mut b = BridgeCmd::new(&server.url)
        .unknown_server()
        .token(rmcp_peer::TOKEN)
        .spawn();
    let init = b.handshake("2025-06-18").await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let (list, _) = b.recv_response(&json!(1)).await;
    assert!(list["result"]["tools"].is_array(), "{list}");
    b.finish(Duration::from_secs(3)).await;

    let seen = server.requests();
    let bodies: Vec<Value> = seen
        .iter()
        .filter_map(|r| serde_json::from_slice(&r.body).ok())
        .collect();
    assert_eq!(bodies[0]["method"], "server/discover", "{bodies:#?}");
    assert!(
        !bodies.iter().any(|b| b["method"] == "initialize"),
        "no 2025 initialize reaches a 2026-only server: {bodies:#?}"
    );
    let list = bodies
        .iter()
        .find(|b| b["method"] == "tools/list")
        .expect("tools/list forwarded");
    assert_eq!(
        list["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    server.shutdown().await.unwrap();
}

/// A server remembered as 2025 that now answers the client's `initialize` with 2026-07-28
/// (it moved on): the client, which cannot speak that, gets its own version from
/// translation instead of an answer it would quit on.
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
    server.always(is_discover, |r| {
        let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
        json(
            200,
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"supportedVersions":["2026-07-28"],"capabilities":{{"tools":{{}}}},"serverInfo":{{"name":"new","version":"1"}}}}}}"#
            ),
        )
    });
    let mut b = BridgeCmd::new(&server.url()).spawn();
    b.send(INIT).await;
    let init: Value = b.recv_json().await;
    assert_eq!(init["id"], 0, "{init}");
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    assert_eq!(init["result"]["capabilities"]["tools"], json!({}), "{init}");
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

/// A probe refused with UnsupportedProtocolVersion (-32022) naming only 2026 versions is
/// asked once more in the newest version named, as a 2026 client does; the server then
/// answers as a 2026-only one and never sees a 2025 `initialize`.
#[tokio::test]
async fn a_probe_refused_with_minus_32022_is_retried_in_a_named_version() {
    let server = Scripted::start().await;
    server.once(
        is_discover,
        json(
            400,
            r#"{"jsonrpc":"2.0","id":"wazion-mcp-discover-0","error":{"code":-32022,"message":"Unsupported protocol version","data":{"supported":["2026-07-28"]}}}"#,
        ),
    );
    server.always(is_discover, |r| {
        let id = r.rpc_id_raw().unwrap_or_else(|| "null".into());
        json(
            200,
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"supportedVersions":["2026-07-28"],"capabilities":{{}},"serverInfo":{{"name":"modern","version":"1"}}}}}}"#
            ),
        )
    });
    let mut b = BridgeCmd::new(&server.url()).unknown_server().spawn();
    b.send(INIT).await;
    let init: Value = b.recv_json().await;
    assert_eq!(init["id"], 0, "{init}");
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    let probes = server.matching(is_discover);
    assert_eq!(probes.len(), 2, "{}", server.dump());
    assert_well_formed_probe(&probes[1]);
    assert!(
        !server.requests().iter().any(|r| r.is_rpc("initialize")),
        "{}",
        server.dump()
    );
    b.finish(Duration::from_secs(3)).await;
}
