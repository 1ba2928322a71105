//! `cargo bench --bench relay -- --hot-symbols`: writes `link/hot-symbols.txt`, the functions
//! a bridge session runs, which build.rs hands to LLD so they are laid out side by side.
//!
//! It builds the binary as the bench does, with LLD's link map beside it; runs sessions
//! against the canned upstreams (JSON, SSE, https) under callgrind; and maps each executed
//! instruction to the input section, one per function, that holds it. Needs valgrind.
//!
//! Run it again after a toolchain or dependency update (mangled names carry crate hashes,
//! and names that no longer match are skipped at link time, losing the layout but nothing
//! else) or when a session's code paths change; the bench's "binary code resident" row shows
//! when it is due.

use super::*;

pub const ARG: &str = "--hot-symbols";

/// Where the list goes, relative to the package root (build.rs reads it from there).
const LIST: &str = "link/hot-symbols.txt";

fn map_path() -> PathBuf {
    target_dir().join("bench-bin").join("wazion-mcp.map")
}

/// Builds the binary with its link map and makes it the one [`bin`] returns.
pub fn build() {
    match install_build(Some(&map_path())) {
        Ok(path) => {
            let _ = BIN_PATH.set(path);
        }
        Err(e) => {
            eprintln!("bench relay: {e}");
            std::process::exit(2);
        }
    }
}

/// One session: the bridge's arguments, and whether to fetch a 1 MB result too.
pub struct Session<'a> {
    pub url: &'a str,
    pub extra: &'a [&'a str],
    pub big: bool,
}

pub fn run(sessions: &[Session<'_>]) {
    let dir = target_dir().join("hot-symbols");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("bench relay: cannot create {}: {e}", dir.display());
        std::process::exit(2);
    }
    let mut executed = Vec::new();
    for (i, session) in sessions.iter().enumerate() {
        let out = dir.join(format!("callgrind.{i}"));
        profile(session, &out);
        let text = std::fs::read_to_string(&out).expect("read the callgrind output");
        executed.extend(executed_addresses(&text, bin()));
    }
    let map = std::fs::read_to_string(map_path()).expect("read the link map");
    let sections = function_sections(&map);
    let hot = hot_sections(&sections, executed);
    let bytes: u64 = hot.iter().map(|s| s.size).sum();
    let list = Path::new(env!("CARGO_MANIFEST_DIR")).join(LIST);
    let mut text = format!(
        "# Functions a bridge session runs, first in .text (LLD --symbol-ordering-file; see build.rs).\n\
         # Written by `cargo bench --bench relay -- --hot-symbols` with {}; do not edit by hand.\n",
        rustc_version()
    );
    for s in &hot {
        text.push_str(s.name);
        text.push('\n');
    }
    std::fs::write(&list, text).expect("write the hot symbol list");
    println!(
        "wrote {}: {} functions, {} KiB of {} KiB of code",
        list.display(),
        hot.len(),
        bytes / 1024,
        sections.iter().map(|s| s.size).sum::<u64>() / 1024
    );
}

/// Runs one session under callgrind: start-up, `initialize`, `tools/list`, calls (JSON or
/// SSE as the URL answers), optionally a 1 MB result, and the exit on EOF.
fn profile(session: &Session<'_>, out: &Path) {
    let cmd = under_callgrind(
        session.url,
        session.extra,
        out,
        &[
            "--dump-instr=yes",
            "--compress-pos=no",
            "--compress-strings=no",
        ],
    );
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("bench relay: --hot-symbols needs valgrind on the PATH");
        std::process::exit(2);
    }
    let mut proc = BridgeProc::from_command(cmd);
    proc.handshake();
    proc.send(br#"{"jsonrpc":"2.0","id":"list","method":"tools/list"}"#);
    check(proc.recv(), "\"result\"");
    let reqs = Requests::new(
        32,
        r#""method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}"#,
    );
    proc.sequential(&reqs, 32);
    proc.flight(&reqs, 64, 8);
    if session.big {
        proc.send(&big_request(1));
        check(proc.recv(), "\"result\"");
    }
    end_under_callgrind(proc);
}

/// Instruction addresses callgrind saw executed in `object` (absolute positions, as
/// `--dump-instr=yes --compress-pos=no --compress-strings=no` writes them).
fn executed_addresses(callgrind: &str, object: &str) -> Vec<u64> {
    let mut in_object = false;
    let mut out = Vec::new();
    for line in callgrind.lines() {
        if let Some(ob) = line.strip_prefix("ob=") {
            in_object = ob == object;
        } else if in_object && let Some(hex) = line.strip_prefix("0x") {
            let addr = hex.split_whitespace().next().unwrap_or("");
            if let Ok(a) = u64::from_str_radix(addr, 16) {
                out.push(a);
            }
        }
    }
    out
}

/// One function's input section in the link map.
pub struct Section<'a> {
    addr: u64,
    size: u64,
    /// The symbol the section holds (its name after `.text.`), as the ordering file wants it.
    name: &'a str,
}

/// The `.text.<symbol>` input sections of LLD's map (`VMA LMA Size Align In Symbol`), by
/// address.
fn function_sections(map: &str) -> Vec<Section<'_>> {
    const PREFIXES: [&str; 5] = [
        ".text.unlikely.",
        ".text.startup.",
        ".text.hot.",
        ".text.exit.",
        ".text.",
    ];
    let mut out: Vec<Section<'_>> = map
        .lines()
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let addr = u64::from_str_radix(cols.next()?, 16).ok()?;
            let _lma = cols.next()?;
            let size = u64::from_str_radix(cols.next()?, 16).ok()?;
            let section = line.rsplit_once(":(")?.1.strip_suffix(')')?;
            let name = PREFIXES.iter().find_map(|p| section.strip_prefix(p))?;
            (size > 0).then_some(Section { addr, size, name })
        })
        .collect();
    out.sort_by_key(|s| s.addr);
    out
}

/// The sections holding any of `executed`, in their current order (so a list regenerated
/// from a binary laid out by the previous one keeps its order, and diffs stay small).
fn hot_sections<'a, 'm>(
    sections: &'a [Section<'m>],
    mut executed: Vec<u64>,
) -> Vec<&'a Section<'m>> {
    executed.sort_unstable();
    executed.dedup();
    let mut hot: Vec<&Section<'_>> = Vec::new();
    for a in executed {
        let i = sections.partition_point(|s| s.addr <= a);
        let Some(s) = i.checked_sub(1).map(|i| &sections[i]) else {
            continue;
        };
        let last = hot.last().map(|h| h.addr);
        if a < s.addr + s.size && last != Some(s.addr) {
            hot.push(s);
        }
    }
    hot
}

fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "an unknown rustc".into())
}

/// `cargo bench --bench relay -- --instructions`: the bridge's instructions per call under
/// callgrind (deterministic, unlike wall time on a shared VM), sequential and at 32 in
/// flight, against the canned JSON and SSE upstreams: the difference between runs of 500 and
/// 1 500 calls, so start-up and the handshake cancel out. Compare builds with
/// `WAZION_MCP_BENCH_BIN`.
pub const INSTRUCTIONS_ARG: &str = "--instructions";

pub fn instructions(urls: &[(&str, &str)]) {
    for (name, url) in urls {
        // The Python SDK's server is too slow for the 32-in-flight runs under the watchdog.
        let modes: &[(&str, usize)] = if name.starts_with("Python") {
            &[("sequential", 1)]
        } else {
            &[("sequential", 1), ("32 in flight", 32)]
        };
        for &(label, in_flight) in modes {
            let small = total_instructions(url, 500, in_flight);
            let large = total_instructions(url, 1500, in_flight);
            println!(
                "{name}, {label}: {} instructions per call",
                large.saturating_sub(small) / 1000
            );
        }
    }
}

/// Total instructions of one bridge run of `calls` calls, `in_flight` at a time.
fn total_instructions(url: &str, calls: usize, in_flight: usize) -> u64 {
    let out = target_dir().join(format!("callgrind.instructions.{calls}.{in_flight}"));
    let mut proc = BridgeProc::from_command(under_callgrind(url, &[], &out, &[]));
    proc.handshake();
    let reqs = Requests::new(
        64,
        r#""method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}"#,
    );
    if in_flight == 1 {
        proc.sequential(&reqs, calls);
    } else {
        proc.flight(&reqs, calls, in_flight);
    }
    end_under_callgrind(proc);
    let text = std::fs::read_to_string(&out).expect("read the callgrind output");
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|n| n.trim().parse().ok())
        .expect("a callgrind summary line")
}

/// The bridge command for `url` run under `valgrind --tool=callgrind`, writing to `out`, with
/// `extra` callgrind options; the bridge's own arguments and environment carried over.
fn under_callgrind(url: &str, bridge_args: &[&str], out: &Path, extra: &[&str]) -> Command {
    let bridge = bridge_command(url, bridge_args);
    let mut cmd = Command::new("valgrind");
    cmd.args(["--tool=callgrind", "--quiet"])
        .args(extra)
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(bridge.get_program())
        .args(bridge.get_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in bridge.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd
}

/// Closes the bridge's stdin, which ends it; callgrind writes its output as the process exits.
fn end_under_callgrind(proc: BridgeProc) {
    let BridgeProc {
        mut child, stdin, ..
    } = proc;
    drop(stdin);
    let status = child.wait().expect("wait for the bridge under callgrind");
    assert!(
        status.success(),
        "the bridge under callgrind exited with {status}"
    );
}
