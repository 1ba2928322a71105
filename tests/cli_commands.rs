//! The helper subcommands, run as a user would: `wazion-mcp check` against a real rmcp server
//! (verdicts, exit codes, the server's own words on a 401, never the token, no leaked
//! session) and `wazion-mcp config --write` into a temp HOME (issue 5 §1, §2).

use std::process::Output;

use crate::support::rmcp_peer;
use serde_json::Value;

const SECRET: &str = "test-token";

fn wazion(args: &[&str], env: &[(&str, &str)]) -> Output {
    // The bridge's own folders: never the developer's (on every OS).
    let mut cmd = crate::support::driver::wazion_command();
    cmd.args(args)
        .env_remove("WAZION_TOKEN")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run wazion-mcp")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn check_passes_every_step_and_deletes_its_session() {
    let server = rmcp_peer::start().await;
    let url = server.url.clone();
    let out =
        tokio::task::spawn_blocking(move || wazion(&["check", &url], &[("WAZION_TOKEN", SECRET)]))
            .await
            .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    for step in ["flags", "DNS", "TCP", "HTTP", "initialize", "tools/list"] {
        assert!(
            t.lines()
                .any(|l| l.trim_start().starts_with("ok") && l.contains(step)),
            "step {step} not ok:\n{t}"
        );
    }
    assert!(t.contains("10 tools: confirm, echo"), "{t}");
    assert!(!t.contains(SECRET), "the token was printed:\n{t}");
    let deletes = server
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(deletes, 1, "check must close the session it opened");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn check_relays_the_servers_own_words_on_a_bad_token_and_exits_1() {
    let server = rmcp_peer::start().await;
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        wazion(
            &["check", &url, "--json"],
            &[("WAZION_TOKEN", "wrong-secret-xyz")],
        )
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(report["ok"], false);
    let init = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "initialize")
        .expect("an initialize step");
    assert_eq!(init["ok"], false);
    assert!(
        init["detail"]
            .as_str()
            .unwrap()
            .contains(rmcp_peer::UNAUTHORIZED_MESSAGE),
        "{init}"
    );
    assert!(
        init["fix"]
            .as_str()
            .unwrap()
            .contains("rejected the token in WAZION_TOKEN"),
        "{init}"
    );
    assert!(!text(&out).contains("wrong-secret-xyz"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn check_without_a_token_says_how_to_set_it_for_each_client() {
    let server = rmcp_peer::start().await;
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || wazion(&["check", &url], &[]))
        .await
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("WAZION_TOKEN is NOT set"), "{t}");
    for client in [
        "Claude Desktop",
        "VS Code",
        "Cursor",
        "Codex",
        "Claude Code",
    ] {
        assert!(t.contains(client), "no hint for {client}:\n{t}");
    }
    server.shutdown().await.unwrap();
}

#[test]
fn check_names_the_failing_step_when_nothing_listens() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = wazion(
        &["check", &format!("http://127.0.0.1:{port}/mcp")],
        &[("WAZION_TOKEN", SECRET)],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let fail = t
        .lines()
        .find(|l| l.trim_start().starts_with("FAIL"))
        .expect("a FAIL line");
    assert!(fail.contains("TCP") && fail.contains("refused"), "{t}");
}

#[test]
fn config_write_merges_into_the_clients_file_under_home() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join(".cursor/mcp.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, r#"{"mcpServers":{"other":{"command":"x"}}}"#).unwrap();
    let h = home.path().to_str().unwrap();
    let out = wazion(
        &["config", "cursor", "--write", "--token-env", "OTHER_TOKEN"],
        // Windows reads the profile, not HOME: both point at the temporary folder.
        &[("HOME", h), ("USERPROFILE", h)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["mcpServers"]["other"]["command"], "x");
    let entry = &v["mcpServers"]["wazion"];
    let command = entry["command"].as_str().unwrap();
    assert!(std::path::Path::new(command).is_absolute(), "{command}");
    assert!(
        command.ends_with("wazion-mcp") || command.ends_with("wazion-mcp.exe"),
        "{command}"
    );
    assert_eq!(
        entry["args"],
        serde_json::json!(["--token-env", "OTHER_TOKEN"])
    );
    assert!(entry["env"]["OTHER_TOKEN"].is_string());
    let backups = std::fs::read_dir(home.path().join(".cursor"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("mcp.json.bak-"))
        })
        .count();
    assert_eq!(backups, 1, "one timestamped backup");
    // A second write without --force keeps the entry and says so.
    let again = wazion(
        &["config", "cursor", "--write"],
        &[("HOME", h), ("USERPROFILE", h)],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again).contains("--force"), "{}", text(&again));
}

#[tokio::test]
async fn check_understands_a_2026_only_server() {
    let server = rmcp_peer::start_with(rmcp_peer::PeerOptions {
        mode: rmcp_peer::Mode::ModernOnly,
        ..rmcp_peer::options()
    })
    .await;
    let url = server.url.clone();
    let out =
        tokio::task::spawn_blocking(move || wazion(&["check", &url], &[("WAZION_TOKEN", SECRET)]))
            .await
            .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("speaks only MCP 2026-07-28"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.trim_start().starts_with("ok") && l.contains("10 tools")),
        "{t}"
    );
    server.shutdown().await.unwrap();
}

/// `check --transport sse` checks a legacy HTTP+SSE server over its event stream (the
/// endpoint event, then initialize and tools/list answered on the stream), never POSTing to
/// the Streamable HTTP URL; `auto` falls back to it after a 405, as the bridge does (H23).
#[tokio::test]
async fn check_speaks_the_legacy_transport_when_told_and_after_a_405() {
    use crate::support::scripted::{self, Scripted};
    for transport in ["sse", "auto"] {
        let server = Scripted::start().await;
        server.always(
            |r| r.is_post() && r.path == "/mcp",
            |_| scripted::text(405, "Method Not Allowed"),
        );
        let _stream = scripted::legacy_server(&server);
        let url = server.url();
        let out = tokio::task::spawn_blocking(move || {
            wazion(
                &["check", &url, "--transport", transport],
                &[("WAZION_TOKEN", SECRET)],
            )
        })
        .await
        .unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "--transport {transport}:\n{t}");
        for step in ["SSE stream", "initialize", "tools/list"] {
            assert!(
                t.lines()
                    .any(|l| l.trim_start().starts_with("ok") && l.contains(step)),
                "--transport {transport}: step {step} not ok:\n{t}"
            );
        }
        assert!(t.contains("server old 1, protocol 2024-11-05"), "{t}");
        assert!(t.contains("1 tools: old_tool"), "{t}");
        let probes = server.matching(|r| r.is_post() && r.path == "/mcp").len();
        assert_eq!(
            probes,
            usize::from(transport == "auto"),
            "--transport {transport}"
        );
        assert!(!t.contains(SECRET), "the token was printed:\n{t}");
    }
}
