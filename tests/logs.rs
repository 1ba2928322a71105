//! Logs (issue 5 §6): `--log-file` is created 0600 and appended to, `--log-format json`
//! writes one JSON object per line, and at debug level each message gets one line with its
//! method, id, HTTP status, duration and size — never its params, result, the token or the
//! session id.

use std::time::Duration;

use crate::support::driver::BridgeCmd;
use crate::support::scripted::Scripted;
use serde_json::{Value, json};

const TOKEN: &str = "wz_log_secret_77";

#[tokio::test]
async fn log_file_is_private_json_and_holds_one_line_per_message_without_secrets() {
    let server = Scripted::start().await;
    server.answer_every("tools/call", r#"{"secretResult":"s3cr3t-result"}"#);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.log");
    std::fs::write(&path, "earlier line\n").unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let fresh = dir.path().join("fresh.log");

    for (file, keep_existing) in [(&path, true), (&fresh, false)] {
        let mut bridge = BridgeCmd::new(&server.url())
            .token(TOKEN)
            .arg("--log-file")
            .arg(file.to_str().unwrap())
            .arg("--log-format")
            .arg("json")
            .arg("--log-level")
            .arg("debug")
            .spawn();
        bridge.handshake("2025-06-18").await;
        bridge
            .send(r#"{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"t","arguments":{"secretArg":"s3cr3t-arg"}}}"#)
            .await;
        bridge.recv_response(&json!("c1")).await;
        let (status, _) = bridge.finish(Duration::from_secs(3)).await;
        assert_eq!(status.and_then(|s| s.code()), Some(0));
        assert!(
            bridge.stderr().trim().is_empty(),
            "logs go to the file: {}",
            bridge.stderr()
        );

        let text = std::fs::read_to_string(file).unwrap();
        if keep_existing {
            assert!(
                text.starts_with("earlier line\n"),
                "appended, not truncated"
            );
        }
        #[cfg(unix)]
        {
            let mode = std::fs::metadata(file).unwrap().permissions();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
                0o600
            );
        }
        for secret in [TOKEN, "s3cr3t-arg", "s3cr3t-result", "sess-1"] {
            assert!(
                !text.contains(secret),
                "{secret} leaked into the log:\n{text}"
            );
        }
        let lines: Vec<Value> = text
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let call: Vec<&Value> = lines
            .iter()
            .filter(|l| l["method"] == "tools/call")
            .collect();
        assert_eq!(call.len(), 1, "one line for the call: {lines:#?}");
        assert_eq!(call[0]["id"], "\"c1\"");
        assert_eq!(call[0]["status"], 200);
        assert!(
            call[0]["ms"].is_u64() && call[0]["bytes"].as_u64() > Some(0),
            "{}",
            call[0]
        );
    }
}
