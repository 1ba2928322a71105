//! Which stdio path the bridge takes for which descriptor (src/stdio.rs, docs/platforms.md),
//! read from the outside on Linux: `/proc/<pid>/fdinfo` shows the status flags of each
//! descriptor's open file description.
//!
//! - a pipe (what Python and Rust hosts give) is read and written non-blocking through a
//!   *second* description of the same pipe, so the one the host shares stays blocking;
//! - a socket (what Node and Electron hosts give: libuv's socketpairs) is made non-blocking
//!   in place; this is the path macOS takes too;
//! - `WAZION_MCP_BLOCKING_STDIO=1` keeps tokio's blocking-thread stdio: nothing becomes
//!   non-blocking.
//!
//! Each case also relays a handshake and a call, so the path chosen works.

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::driver::{BridgeCmd, known_2025_server};
use crate::support::scripted::Scripted;

const O_NONBLOCK: u32 = 0o4000;

/// (inode, O_NONBLOCK set) of every descriptor of `pid` that is a pipe or a socket.
fn descriptors(pid: u32) -> Vec<(String, u64, bool)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read /proc/pid/fd") {
        let entry = entry.expect("fd entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        let info =
            std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{name}")).unwrap_or_default();
        let Some(flags) = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        else {
            continue;
        };
        out.push((name, meta.ino(), flags & O_NONBLOCK != 0));
    }
    out
}

fn flags_of<'a>(all: &'a [(String, u64, bool)], fd: &str) -> &'a (String, u64, bool) {
    all.iter()
        .find(|(n, _, _)| n == fd)
        .unwrap_or_else(|| panic!("fd {fd} in {all:?}"))
}

/// Over pipes: fds 0 and 1 stay blocking (the host's description is untouched), and other
/// descriptors of the same two pipes are non-blocking (the reopened ones).
#[tokio::test]
async fn a_pipe_is_reopened_so_the_hosts_description_stays_blocking() {
    let server = Scripted::start().await;
    let mut b = server.ready_bridge("2025-06-18").await;
    let all = descriptors(b.pid().expect("pid"));
    for fd in ["0", "1"] {
        let (_, ino, nonblocking) = flags_of(&all, fd);
        assert!(!nonblocking, "fd {fd} became non-blocking: {all:?}");
        assert!(
            all.iter().any(|(n, i, nb)| n != fd && i == ino && *nb),
            "no non-blocking second description of fd {fd}'s pipe: {all:?}"
        );
    }
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let (v, _) = b.recv_response(&Value::from(1)).await;
    assert!(v.get("result").is_some(), "{v}");
    let (status, _) = b.finish(Duration::from_secs(5)).await;
    assert!(status.is_some_and(|s| s.success()));
}

/// The knob: with `WAZION_MCP_BLOCKING_STDIO=1` no descriptor of either pipe is
/// non-blocking (tokio's blocking-thread stdio reads fd 0 and writes fd 1 themselves).
#[tokio::test]
async fn the_knob_keeps_the_blocking_thread_stdio() {
    let server = Scripted::start().await;
    let mut b = BridgeCmd::new(&server.url())
        .env("WAZION_MCP_BLOCKING_STDIO", "1")
        .spawn();
    b.handshake("2025-06-18").await;
    let all = descriptors(b.pid().expect("pid"));
    let pipes: Vec<u64> = ["0", "1"].iter().map(|fd| flags_of(&all, fd).1).collect();
    assert!(
        !all.iter().any(|(_, i, nb)| pipes.contains(i) && *nb),
        "a stdio pipe became non-blocking: {all:?}"
    );
    b.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let (v, _) = b.recv_response(&Value::from(1)).await;
    assert!(v.get("result").is_some(), "{v}");
    let (status, _) = b.finish(Duration::from_secs(5)).await;
    assert!(status.is_some_and(|s| s.success()));
}

/// Over socketpairs, as a Node or Electron host (Claude Desktop) starts it: fds 0 and 1
/// are non-blocking sockets, and a handshake and a call cross them.
#[tokio::test]
async fn a_socket_is_made_non_blocking_in_place_and_relays() {
    let server = Scripted::start().await;
    let url = server.url();
    let (stdin_host, stdin_child) = std::os::unix::net::UnixStream::pair().expect("pair");
    let (stdout_host, stdout_child) = std::os::unix::net::UnixStream::pair().expect("pair");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wazion-mcp"))
        .arg(&url)
        .env("WAZION_MCP_CACHE_DIR", known_2025_server(&url))
        .env(
            "WAZION_MCP_CONFIG_DIR",
            crate::support::driver::fresh_cache_dir().join("config"),
        )
        .env_remove("WAZION_TOKEN")
        .env_remove("RUST_LOG")
        .env_remove("WAZION_MCP_BLOCKING_STDIO")
        .stdin(Stdio::from(OwnedFd::from(stdin_child)))
        .stdout(Stdio::from(OwnedFd::from(stdout_child)))
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn wazion-mcp");
    stdin_host.set_nonblocking(true).unwrap();
    stdout_host.set_nonblocking(true).unwrap();
    let mut to_bridge = tokio::net::UnixStream::from_std(stdin_host).unwrap();
    let mut from_bridge = BufReader::new(tokio::net::UnixStream::from_std(stdout_host).unwrap());
    let mut line = String::new();
    let mut exchange = async |send: &str, id: i64| -> Value {
        to_bridge
            .write_all(format!("{send}\n").as_bytes())
            .await
            .unwrap();
        loop {
            line.clear();
            let n = tokio::time::timeout(Duration::from_secs(10), from_bridge.read_line(&mut line))
                .await
                .expect("an answer within 10 s")
                .unwrap();
            assert!(n > 0, "stdout closed");
            let v: Value = serde_json::from_str(&line).expect("JSON");
            if v["id"] == id {
                return v;
            }
        }
    };
    let init = exchange(
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"socket-host","version":"0"}}}"#,
        0,
    )
    .await;
    assert!(init.get("result").is_some(), "{init}");
    let pid = child.id().expect("pid");
    let all = descriptors(pid);
    for fd in ["0", "1"] {
        assert!(flags_of(&all, fd).2, "fd {fd} is not non-blocking: {all:?}");
    }
    let list = exchange(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, 1).await;
    assert!(list.get("result").is_some(), "{list}");
    drop(to_bridge);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("exits after EOF")
        .unwrap();
    assert!(status.success(), "{status}");
}
