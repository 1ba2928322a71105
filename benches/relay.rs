//! `cargo bench --bench relay`: the bridge against a direct HTTP client, on loopback.
//!
//! One run starts two upstream MCP servers in this process — a canned one (fixed answers,
//! JSON on `/json`, SSE on `/sse`, 1 MB and 10 MB results) and the rmcp server of
//! `examples/peer` (sessions, SSE, bearer layer) — then measures the same requests sent
//!
//! - **direct**: reqwest with keep-alive on a current-thread runtime (the floor), and
//! - **bridge**: the release `wazion-mcp` binary driven over its stdin/stdout with blocking
//!   pipe I/O, one line per message,
//!
//! in alternating blocks (direct first in even rounds, bridge first in odd ones) so machine
//! noise hits both. It prints a table with bridge/direct ratios and the targets of issue 4,
//! and writes the same to `target/bench-relay.json`. A benchmark reports; it asserts nothing
//! about speed. A watchdog ends the run if something hangs.
//!
//! Placement: sequential figures (latency, CPU per call, large results, start-up) are taken
//! with every process on one CPU, calls/s with all CPUs free. On a VM a wake-up across vCPUs
//! costs tens of µs and flips between runs (direct p50 30 µs in one run, 85 µs in the next),
//! which swamps the bridge's share; pinned, block-to-block noise is about 1%. The main
//! sequential figures are repeated free to move, and 32 in flight on one CPU, for contrast.
//!
//! CPU per call: for the bridge, the whole process (all threads, from
//! `/proc/<pid>/task/*/schedstat`); for the direct client, the thread its runtime runs on.
//! `cargo bench --bench relay -- --serve` only starts the upstreams (the https one with its
//! CA file) and prints their URLs, for profiling the bridge by hand; `-- --hot-symbols`
//! rewrites `link/hot-symbols.txt` (see `relay/hot_symbols.rs`).

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::serve::ListenerExt;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

/// The demo server's tools (the rmcp server the tests use), served here by rmcp's
/// Streamable HTTP service on a listener with TCP_NODELAY (see [`start_rmcp`]).
// Only the tools are used here; helpers the tests need stay unused.
#[allow(dead_code)]
#[path = "../examples/peer/tools.rs"]
mod tools;

/// The test PKI and TLS accept loop (a CA and certificate made at run time).
#[allow(dead_code)]
#[path = "../tests/support/pki.rs"]
mod pki;

#[path = "relay/hot_symbols.rs"]
mod hot_symbols;

/// The release binary cargo built for this bench.
const BIN: &str = env!("CARGO_BIN_EXE_wazion-mcp");

/// The binary under test, once chosen ([`bin`]).
static BIN_PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The binary under test: `$WAZION_MCP_BENCH_BIN` to compare another build, else the one
/// `cargo install` makes ([`install_build`]), else [`BIN`].
fn bin() -> &'static str {
    BIN_PATH.get_or_init(|| {
        std::env::var("WAZION_MCP_BENCH_BIN").unwrap_or_else(|_| {
            install_build(None).unwrap_or_else(|e| {
                eprintln!("bench relay: {e}; measuring {BIN} instead");
                BIN.to_string()
            })
        })
    })
}

/// Builds `wazion-mcp` as users get it. The binary cargo builds for this bench ([`BIN`]) has
/// the dev-dependencies' features unified in (tokio's "full", among others): measured 0.6 MiB
/// larger, with more code pages resident. This one goes to `target/bench-bin` (incremental
/// after the first run). With `link_map`, LLD also writes its link map there (see build.rs).
fn install_build(link_map: Option<&Path>) -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let dir = target_dir().join("bench-bin");
    println!(
        "building the release binary as `cargo install` does, in {}",
        dir.display()
    );
    let mut cmd = Command::new(cargo);
    if let Some(map) = link_map {
        cmd.env("WAZION_MCP_LINK_MAP", map);
    }
    let status = cmd
        .args([
            "build",
            "--release",
            "--locked",
            "--bin",
            "wazion-mcp",
            "--target-dir",
        ])
        .arg(&dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("could not run cargo ({e})"))?;
    if !status.success() {
        return Err(format!("cargo build failed ({status})"));
    }
    Ok(dir.join("release").join("wazion-mcp").display().to_string())
}
const TOKEN: &str = "bench-token";
const USER_AGENT: &str = concat!("wazion-mcp/", env!("CARGO_PKG_VERSION"));
const PROTOCOL_VERSION: &str = "2025-06-18";
/// The whole run is killed after this, whatever happens (it normally takes well under 2 min).
const WATCHDOG: Duration = Duration::from_secs(170);
/// How long `--serve` serves at most.
const SERVE_LIMIT: Duration = Duration::from_secs(1800);

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const CANNED_INIT_RESULT: &str = r#"{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"canned","version":"1"}}"#;
const CANNED_SMALL_RESULT: &str =
    r#"{"content":[{"type":"text","text":"hello from the canned server"}],"isError":false}"#;
const MIB: usize = 1 << 20;

fn main() {
    if std::env::args().any(|a| a == STDIO_FLOOR_ARG) {
        return stdio_floor();
    }
    // `-- --serve`: only run the two upstreams (for profiling the bridge by hand).
    let serve_only = std::env::args().any(|a| a == "--serve");
    // `-- --hot-symbols`: regenerate link/hot-symbols.txt (see hot_symbols.rs).
    let hot_symbols = std::env::args().any(|a| a == hot_symbols::ARG);
    // Built before the watchdog starts: a first build takes minutes.
    if hot_symbols {
        hot_symbols::build();
    } else if !serve_only {
        bin();
    }
    // The callgrind runs take a minute or two (more with the Python SDK's server, and on a
    // loaded machine): they get a longer leash.
    let instructions = std::env::args().any(|a| a == hot_symbols::INSTRUCTIONS_ARG);
    let watchdog = if serve_only {
        SERVE_LIMIT
    } else if instructions {
        WATCHDOG * 4
    } else {
        WATCHDOG
    };
    std::thread::spawn(move || {
        std::thread::sleep(watchdog);
        eprintln!("bench relay: watchdog fired after {watchdog:?}; aborting");
        std::process::exit(3);
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    allowed_cpus(); // recorded before anything is pinned
    let started = Instant::now();
    let load_before = loadavg();

    // Upstreams run on their own runtime (one worker); the direct client runs on a
    // current-thread runtime on this thread, like the bridge's own runtime.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(record_thread)
        .enable_all()
        .build()
        .expect("server runtime");
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let canned = server_rt.block_on(start_canned());
    let rmcp_url = server_rt.block_on(start_rmcp());
    let json_url = format!("http://{}/json", canned.addr);
    let sse_url = format!("http://{}/sse", canned.addr);
    if serve_only {
        let (tls_url, ca_path) = server_rt.block_on(start_canned_tls_with_ca_file());
        println!("canned JSON: {json_url}\ncanned SSE:  {sse_url}\nrmcp:        {rmcp_url}");
        println!("canned https: {tls_url} (--ca-file {})", ca_path.display());
        println!("serving until stdin closes (at most {SERVE_LIMIT:?})");
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        return;
    }
    if instructions {
        let mut urls = vec![("JSON", json_url.clone()), ("SSE", sse_url.clone())];
        // The Python SDK's server too, when one can be run (sequential calls only).
        let python = std::env::var_os("WAZION_MCP_BENCH_PYTHON")
            .and_then(|py| server_rt.block_on(start_python_sdk(&py)).ok());
        if let Some((py_url, _)) = &python {
            urls.push(("Python SDK", py_url.clone()));
        }
        let urls: Vec<(&str, &str)> = urls.iter().map(|(n, u)| (*n, u.as_str())).collect();
        hot_symbols::instructions(&urls);
        if let Some((_, mut server)) = python {
            let _ = server.kill();
            let _ = server.wait();
        }
        return;
    }
    if hot_symbols {
        let (tls_url, ca_path) = server_rt.block_on(start_canned_tls_with_ca_file());
        let ca_arg = ca_path.display().to_string();
        hot_symbols::run(&[
            hot_symbols::Session {
                url: &json_url,
                extra: &[],
                big: true,
            },
            hot_symbols::Session {
                url: &sse_url,
                extra: &[],
                big: true,
            },
            hot_symbols::Session {
                url: &tls_url,
                extra: &["--ca-file", &ca_arg],
                big: false,
            },
        ]);
        return;
    }

    let mut report = Report::default();
    println!("wazion-mcp relay benchmark: {}", bin());

    // ----- binary, --version, exec → initialize ---------------------------------------
    let size = std::fs::metadata(bin()).map(|m| m.len()).unwrap_or(0);
    report.single("release binary size", "MiB", size as f64 / MIB as f64, None);
    let version_ms = median(
        &(0..10)
            .map(|_| {
                let t = Instant::now();
                let out = Command::new(bin())
                    .arg("--version")
                    .output()
                    .expect("--version");
                assert!(out.status.success());
                ms(t.elapsed())
            })
            .collect::<Vec<_>>(),
    );
    report.single("--version, exec → exit", "ms", version_ms, None);

    // Sequential measurements run on one CPU, calls/s on all of them (see `Placement`).
    place(Placement::OneCpu, &[]);
    let (d_start, b_start) = startup(&client_rt, &json_url, None, &[], 30);
    report.pair(Row {
        metric: "exec → initialize answered (http, loopback)".into(),
        unit: "ms",
        direct: median(&d_start),
        bridge: median(&b_start),
        noise: noise(&[&d_start, &b_start]),
        target: Some(Target::AddedAtMost(3.0)),
    });
    let firsts: Vec<f64> = (0..10)
        .map(|i| {
            let dir = target_dir().join(format!("bench-cache-first-{i}"));
            let _ = std::fs::remove_dir_all(&dir);
            let mut cmd = bridge_command(&json_url, &[]);
            cmd.env("WAZION_MCP_CACHE_DIR", &dir);
            let t = Instant::now();
            let mut b = BridgeProc::from_command(cmd);
            b.send(INITIALIZE.as_bytes());
            check(b.recv(), "\"result\"");
            let took = ms(t.elapsed());
            b.close();
            took
        })
        .collect();
    report.single(
        "exec → initialize answered, first start (server/discover probe first)",
        "ms",
        median(&firsts),
        None,
    );

    // ----- canned JSON upstream: latency, throughput, CPU, RSS --------------------------
    let reqs = Requests::new(
        6000,
        r#""method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}"#,
    );
    let mut bridge = BridgeProc::spawn(&json_url);
    bridge.handshake();
    std::thread::sleep(Duration::from_millis(100));
    let rss_idle = bridge.status_kib("VmRSS") as f64 / 1024.0;
    let code_idle = binary_code_resident_kib(bridge.pid());
    let direct = client_rt.block_on(Direct::connect(&json_url));

    // Warm-up: connections, allocator, caches.
    bridge.sequential(&reqs, 300);
    client_rt.block_on(direct.sequential(&reqs, 300));

    let mut floor = BridgeProc::spawn_floor();
    floor.handshake();
    floor.sequential(&reqs, 300);
    // On one CPU (the figures with targets), then free to move between CPUs: what cross-CPU
    // wake-ups add on this machine.
    for (placement, rounds, suffix) in [
        (Placement::OneCpu, 30, ""),
        (Placement::Free, 10, ", free to move"),
    ] {
        place(placement, &[bridge.pid(), floor.pid()]);
        let seq = compare_sequential(
            &client_rt,
            &mut bridge,
            &direct,
            Some(&mut floor),
            &reqs,
            rounds,
            600,
        );
        let pinned = placement == Placement::OneCpu;
        if pinned {
            report.conns("JSON", &seq);
            report.latency("tools/call", &seq, true);
            report.single(
                "stdio hop alone (a process answering from memory) p50",
                "µs",
                median(&seq.floor_lat),
                None,
            );
        } else {
            report.pair(Row {
                metric: format!("tools/call p50, sequential{suffix}"),
                unit: "µs",
                direct: median(&seq.direct_lat),
                bridge: median(&seq.bridge_lat),
                noise: noise(&[&seq.direct_block_p50, &seq.bridge_block_p50]),
                target: None,
            });
        }
        report.cpu(&format!("CPU per call, sequential{suffix}"), &seq, pinned);
        if pinned {
            report.single(
                "stdio hop alone, CPU per call",
                "µs",
                median(&seq.floor_cpu),
                None,
            );
        }
        report.single(
            &format!("CPU per call floor (direct + stdio hop){suffix}"),
            "µs",
            median(&seq.direct_cpu) + median(&seq.floor_cpu),
            None,
        );
    }

    let mut cpu32 = None;
    for n in [1usize, 32, 128] {
        let (rounds, m) = if n == 1 { (24, 300) } else { (12, 2000) };
        let f = compare_flight(&client_rt, &mut bridge, &direct, &reqs, rounds, m, n);
        report.pair(f.rate_row(
            format!("calls/s, {n} in flight"),
            (n == 32).then_some(Target::RatioAtLeast(0.97)),
        ));
        if n == 32 {
            cpu32 = Some(f);
        }
    }
    if let Some(f) = cpu32 {
        report.pair(Row {
            metric: "CPU per call, 32 in flight".into(),
            unit: "µs",
            direct: median(&f.direct_cpu),
            bridge: median(&f.bridge_cpu),
            noise: noise(&[&f.direct_cpu, &f.bridge_cpu]),
            target: Some(Target::BridgeAtMost(50.0)),
        });
    }
    // On one CPU, calls/s compare CPU cost alone: (client + server) against (stdio client +
    // bridge + server).
    place(Placement::OneCpu, &[bridge.pid(), floor.pid()]);
    let f = compare_flight(&client_rt, &mut bridge, &direct, &reqs, 8, 2000, 32);
    report.pair(f.rate_row("calls/s, 32 in flight, one CPU", None));
    report.single_target(
        "bridge RSS idle (after initialize)",
        "MiB",
        rss_idle,
        Target::BridgeAtMost(5.0),
    );
    // Most of the idle RSS is the binary's code; build.rs lays the hot part out together
    // (link/hot-symbols.txt). A figure near the whole .text says that list has gone stale.
    report.single(
        "bridge RSS idle: the binary's code resident",
        "KiB",
        code_idle.0 as f64,
        None,
    );
    report.single(
        "bridge RSS idle: the binary's code mapped",
        "KiB",
        code_idle.1 as f64,
        None,
    );
    report.single(
        "bridge RSS peak after small calls (VmHWM)",
        "MiB",
        bridge.status_kib("VmHWM") as f64 / 1024.0,
        None,
    );
    bridge.close();

    // ----- large results (a fresh bridge, so VmHWM is about them) -----------------------
    let mut bridge = BridgeProc::spawn(&json_url);
    bridge.handshake();
    for (size, calls, rounds) in [(1usize, 8usize, 20usize), (10, 2, 8)] {
        let line = big_request(size);
        let reqs = Requests {
            lines: vec![line; calls],
        };
        // The floor process holds a 1 MB answer only.
        let f = (size == 1).then_some(&mut floor);
        let r = compare_sequential(&client_rt, &mut bridge, &direct, f, &reqs, rounds, calls);
        report.pair(Row {
            metric: format!("{size} MB result, time per call"),
            unit: "ms",
            direct: median(&r.direct_lat) / 1000.0,
            bridge: median(&r.bridge_lat) / 1000.0,
            noise: noise(&[&r.direct_lat, &r.bridge_lat]),
            target: (size == 1).then_some(Target::RatioAtMost(1.1)),
        });
        if size == 1 {
            let hop = median(&r.floor_lat) / 1000.0;
            report.single("stdio hop alone, 1 MB answer", "ms", hop, None);
            report.single(
                "1 MB result floor (direct + stdio hop, store and forward)",
                "ms",
                median(&r.direct_lat) / 1000.0 + hop,
                None,
            );
        }
        let hwm = bridge.status_kib("VmHWM") as f64 / 1024.0;
        report.single_target(
            &format!("bridge RSS peak with {size} MB results (VmHWM)"),
            "MiB",
            hwm,
            if size == 1 {
                Target::BridgeAtMost(15.0)
            } else {
                Target::None
            },
        );
    }
    bridge.close();
    floor.close();

    // ----- canned SSE upstream -----------------------------------------------------------
    let mut bridge = BridgeProc::spawn(&sse_url);
    bridge.handshake();
    let direct_sse = client_rt.block_on(Direct::connect(&sse_url));
    bridge.sequential(&reqs, 200);
    client_rt.block_on(direct_sse.sequential(&reqs, 200));
    let seq = compare_sequential(&client_rt, &mut bridge, &direct_sse, None, &reqs, 16, 400);
    report.latency("SSE: tools/call", &seq, false);
    report.conns("SSE", &seq);
    report.cpu("SSE: CPU per call, sequential", &seq, false);
    place(Placement::Free, &[bridge.pid()]);
    let f = compare_flight(&client_rt, &mut bridge, &direct_sse, &reqs, 8, 2000, 32);
    place(Placement::OneCpu, &[bridge.pid()]);
    report.pair(f.rate_row("SSE: calls/s, 32 in flight", None));
    let big = Requests {
        lines: vec![big_request(1); 6],
    };
    let r = compare_sequential(&client_rt, &mut bridge, &direct_sse, None, &big, 12, 6);
    report.pair(Row {
        metric: "SSE: 1 MB result, time per call".into(),
        unit: "ms",
        direct: median(&r.direct_lat) / 1000.0,
        bridge: median(&r.bridge_lat) / 1000.0,
        noise: noise(&[&r.direct_lat, &r.bridge_lat]),
        target: None,
    });
    report.single(
        "SSE: bridge RSS peak with 1 MB results (VmHWM)",
        "MiB",
        bridge.status_kib("VmHWM") as f64 / 1024.0,
        None,
    );
    bridge.close();

    // ----- the rmcp server (sessions, SSE, bearer layer) --------------------------------
    let mut bridge = BridgeProc::spawn(&rmcp_url);
    bridge.handshake();
    let direct_rmcp = client_rt.block_on(Direct::connect(&rmcp_url));
    bridge.sequential(&reqs, 100);
    client_rt.block_on(direct_rmcp.sequential(&reqs, 100));
    let seq = compare_sequential(&client_rt, &mut bridge, &direct_rmcp, None, &reqs, 16, 200);
    report.latency("rmcp: tools/call", &seq, false);
    report.conns("rmcp (SSE)", &seq);
    report.cpu("rmcp: CPU per call, sequential", &seq, false);
    place(Placement::Free, &[bridge.pid()]);
    let f = compare_flight(&client_rt, &mut bridge, &direct_rmcp, &reqs, 8, 1000, 32);
    place(Placement::OneCpu, &[bridge.pid()]);
    report.pair(f.rate_row("rmcp: calls/s, 32 in flight", None));
    bridge.close();
    drop((direct, direct_sse, direct_rmcp));

    // ----- the Python SDK's server (uvicorn, SSE responses), when one can be run ----------
    if let Some(python) = std::env::var_os("WAZION_MCP_BENCH_PYTHON") {
        match server_rt.block_on(start_python_sdk(&python)) {
            Ok((py_url, mut server)) => {
                let mut bridge = BridgeProc::spawn(&py_url);
                bridge.handshake();
                let direct_py = client_rt.block_on(Direct::connect(&py_url));
                bridge.sequential(&reqs, 50);
                client_rt.block_on(direct_py.sequential(&reqs, 50));
                let seq =
                    compare_sequential(&client_rt, &mut bridge, &direct_py, None, &reqs, 8, 100);
                report.latency("Python SDK: tools/call", &seq, false);
                report.conns("Python SDK (SSE)", &seq);
                report.cpu("Python SDK: CPU per call, sequential", &seq, false);
                bridge.close();
                drop(direct_py);
                let _ = server.kill();
                let _ = server.wait();
            }
            Err(e) => {
                eprintln!("bench relay: the Python SDK server did not start ({e}); row skipped")
            }
        }
    }

    // ----- https (TLS; HTTP/2 by ALPN): what a bridge to WAzion loads ------------------
    let (tls_url, ca_pem) = server_rt.block_on(start_canned_tls());
    let ca_path = write_bench_ca(&ca_pem);
    let ca_arg = ca_path.display().to_string();
    let tls_args = ["--ca-file", ca_arg.as_str()];
    let (d_start, b_start) = startup(&client_rt, &tls_url, Some(&ca_pem), &tls_args, 20);
    report.pair(Row {
        metric: "https: exec → initialize answered".into(),
        unit: "ms",
        direct: median(&d_start),
        bridge: median(&b_start),
        noise: noise(&[&d_start, &b_start]),
        target: None,
    });
    let mut bridge = BridgeProc::spawn_with(&tls_url, &tls_args);
    bridge.handshake();
    std::thread::sleep(Duration::from_millis(100));
    report.single(
        "https: bridge RSS idle (after initialize)",
        "MiB",
        bridge.status_kib("VmRSS") as f64 / 1024.0,
        None,
    );
    let direct_tls = client_rt.block_on(Direct::connect_with_ca(&tls_url, Some(&ca_pem)));
    bridge.sequential(&reqs, 200);
    client_rt.block_on(direct_tls.sequential(&reqs, 200));
    let seq = compare_sequential(&client_rt, &mut bridge, &direct_tls, None, &reqs, 16, 400);
    report.latency("https: tools/call", &seq, false);
    report.conns("https", &seq);
    report.cpu("https: CPU per call, sequential", &seq, false);
    bridge.close();
    drop(direct_tls);
    let tls_sse_url = tls_url.replace("/json", "/sse");
    let mut bridge = BridgeProc::spawn_with(&tls_sse_url, &tls_args);
    bridge.handshake();
    let direct_tls = client_rt.block_on(Direct::connect_with_ca(&tls_sse_url, Some(&ca_pem)));
    bridge.sequential(&reqs, 100);
    client_rt.block_on(direct_tls.sequential(&reqs, 100));
    let seq = compare_sequential(&client_rt, &mut bridge, &direct_tls, None, &reqs, 8, 200);
    report.latency("https SSE: tools/call", &seq, false);
    report.conns("https SSE", &seq);
    bridge.close();
    drop(direct_tls);

    report.print();
    let elapsed = started.elapsed();
    println!(
        "\nrun took {:.1} s; load average {load_before} before, {} after; {} CPUs: {}",
        elapsed.as_secs_f64(),
        loadavg(),
        cpu_count(),
        cpu_model()
    );
    let out = target_dir().join("bench-relay.json");
    let doc = json!({
        "binary": bin(),
        "machine": {
            "cpus": cpu_count(),
            "cpu_model": cpu_model(),
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
        },
        "run_seconds": elapsed.as_secs_f64(),
        "rows": report.rows.iter().map(Row::to_json).collect::<Vec<_>>(),
    });
    match std::fs::write(
        &out,
        serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n",
    ) {
        Ok(()) => println!("wrote {}", out.display()),
        Err(e) => eprintln!("could not write {}: {e}", out.display()),
    }
    drop(server_rt);
}

// ===== the rmcp upstream ======================================================================

/// rmcp's Streamable HTTP service (stateful: sessions, SSE responses, a GET stream) with the
/// demo server's tools, on `/mcp`. Not `examples/peer`'s `start`: its listener leaves
/// Nagle on, and every SSE answer then waits ≈40 ms for a delayed ACK, direct or bridged.
async fn start_rmcp() -> String {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    let service: StreamableHttpService<tools::DemoServer, LocalSessionManager> =
        StreamableHttpService::new(
            || Ok(tools::DemoServer::new()),
            Default::default(),
            StreamableHttpServerConfig::default(),
        );
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind the rmcp server");
    let addr = listener.local_addr().expect("local addr");
    let listener = listener.tap_io(|io| {
        ACCEPTED.fetch_add(1, Ordering::Relaxed);
        let _ = io.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/mcp")
}

// ===== the Python SDK's server ================================================================

/// Starts `relay/py_server.py` with `python` on a free port behind [`counting_proxy`];
/// returns the proxy's URL and the server process. Bounded: 15 s to accept a connection.
async fn start_python_sdk(python: &std::ffi::OsStr) -> Result<(String, Child), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/relay/py_server.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(target).await.is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("no connection within 15 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let proxy = counting_proxy(target).await;
    Ok((format!("http://{proxy}/mcp"), child))
}

/// A TCP forwarder that counts the connections it accepts into [`ACCEPTED`]: the way to count
/// an external server's connections. Direct and bridge both go through it.
async fn counting_proxy(target: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind the counting proxy");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                continue;
            };
            ACCEPTED.fetch_add(1, Ordering::Relaxed);
            let _ = inbound.set_nodelay(true);
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = outbound.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

// ===== the canned upstream =================================================================

struct Canned {
    addr: SocketAddr,
}

struct CannedState {
    big_json: [Bytes; 2],
    big_sse: [Bytes; 2],
}

/// The only id the pre-built large results carry (the bench sends them sequentially).
const BIG_ID: &str = r#""big""#;
const BIG_SIZES: [usize; 2] = [1, 10];

fn big_request(mb: usize) -> Bytes {
    Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{BIG_ID},\"method\":\"tools/call\",\"params\":{{\"name\":\"big{mb}m\",\"arguments\":{{}}}}}}\n"
    ))
}

/// A tool result whose text is `mb` MiB of printable ASCII (with JSON escapes now and then).
fn big_result(mb: usize) -> String {
    let unit = r#"Order 1234: 2 × \"blue mug\", shipped\n; "#;
    let text = unit.repeat((mb * MIB).div_ceil(unit.len()));
    format!(r#"{{"content":[{{"type":"text","text":"{text}"}}],"isError":false}}"#)
}

fn message(id: &str, result: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
}

fn sse(message: &str) -> String {
    format!("event: message\ndata: {message}\n\n")
}

async fn start_canned() -> Canned {
    let big: Vec<String> = BIG_SIZES
        .iter()
        .map(|&mb| message(BIG_ID, &big_result(mb)))
        .collect();
    let state = Arc::new(CannedState {
        big_json: [Bytes::from(big[0].clone()), Bytes::from(big[1].clone())],
        big_sse: [Bytes::from(sse(&big[0])), Bytes::from(sse(&big[1]))],
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind the canned server");
    let addr = listener.local_addr().expect("local addr");
    let listener = listener.tap_io(move |io| {
        ACCEPTED.fetch_add(1, Ordering::Relaxed);
        let _ = io.set_nodelay(true);
    });
    let app = axum::Router::new().fallback(canned).with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Canned { addr }
}

// ===== the canned upstream over HTTPS ===========================================================

/// The canned server behind TLS (HTTP/2 or HTTP/1.1 by ALPN) with a certificate from a CA made
/// here; returns its JSON URL and the CA's PEM. The bridge then loads the system's CA store
/// plus `--ca-file`, as it does for WAzion's https endpoint.
async fn start_canned_tls() -> (String, String) {
    let pki = pki::TestPki::generate();
    let state = Arc::new(CannedState {
        big_json: [Bytes::new(), Bytes::new()],
        big_sse: [Bytes::new(), Bytes::new()],
    });
    let app = axum::Router::new().fallback(canned).with_state(state);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind the TLS server");
    let port = listener.local_addr().expect("local addr").port();
    pki::serve_tls(listener, pki.server_config(), app, || {
        ACCEPTED.fetch_add(1, Ordering::Relaxed);
    });
    (format!("https://localhost:{port}/json"), pki.ca_pem)
}

/// Writes the bench CA where the bridge's `--ca-file` can read it.
fn write_bench_ca(ca_pem: &str) -> PathBuf {
    let ca_path = target_dir().join("bench-relay-ca.pem");
    std::fs::write(&ca_path, ca_pem).expect("write the bench CA");
    ca_path
}

/// [`start_canned_tls`], with the CA written to a file: the https URL and that file.
async fn start_canned_tls_with_ca_file() -> (String, PathBuf) {
    let (url, ca_pem) = start_canned_tls().await;
    (url, write_bench_ca(&ca_pem))
}

#[derive(Deserialize)]
struct CannedRequest<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<CannedParams<'a>>,
}

#[derive(Deserialize)]
struct CannedParams<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}

/// initialize (with a session id), 202 for notifications and responses, 405 for GET,
/// 200 for DELETE, and `tools/call` answered as JSON (`/json`) or one SSE event (`/sse`).
async fn canned(
    State(state): State<Arc<CannedState>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    match method {
        Method::POST => {}
        Method::GET => return status(StatusCode::METHOD_NOT_ALLOWED),
        Method::DELETE => return status(StatusCode::OK),
        _ => return status(StatusCode::METHOD_NOT_ALLOWED),
    }
    let as_sse = uri.path().starts_with("/sse");
    let Ok(req) = serde_json::from_slice::<CannedRequest<'_>>(&body) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let Some(id) = req.id.map(RawValue::get) else {
        return status(StatusCode::ACCEPTED);
    };
    if req.method.is_none() {
        return status(StatusCode::ACCEPTED); // a client response
    }
    let method = req.method.as_deref().unwrap_or("");
    let tool = req.params.as_ref().and_then(|p| p.name.as_deref());
    let big = BIG_SIZES
        .iter()
        .position(|mb| tool == Some(format!("big{mb}m").as_str()));
    let payload = match big {
        Some(i) if id == BIG_ID && as_sse => state.big_sse[i].clone(),
        Some(i) if id == BIG_ID => state.big_json[i].clone(),
        _ => {
            let result = if method == "initialize" {
                CANNED_INIT_RESULT
            } else {
                CANNED_SMALL_RESULT
            };
            let m = message(id, result);
            Bytes::from(if as_sse { sse(&m) } else { m })
        }
    };
    let mut r = Response::new(Body::from(payload));
    let content_type = if as_sse {
        "text/event-stream"
    } else {
        "application/json"
    };
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if method == "initialize" {
        r.headers_mut().insert(
            HeaderName::from_static("mcp-session-id"),
            HeaderValue::from_static("canned-session-1"),
        );
    }
    r
}

// ===== the stdio floor ======================================================================

const STDIO_FLOOR_ARG: &str = "--stdio-floor";

/// The floor any stdio bridge stands on: a process that answers each line from memory with
/// blocking reads and writes (no HTTP, no runtime), on a 1 MiB stdout pipe like the bridge's.
/// What it costs per call is the pipe hop each way; the bridge's floor is the direct client
/// plus this.
fn stdio_floor() {
    let big = format!("{}\n", message(BIG_ID, &big_result(1)));
    let stdout = std::io::stdout();
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl on this process's own stdout; F_SETPIPE_SZ takes an int.
        let _ = unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
    }
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut input = BufReader::with_capacity(256 * 1024, std::io::stdin().lock());
    let mut line = Vec::with_capacity(64 * 1024);
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Some(id) = line_id(&line) else {
            continue; // a notification
        };
        let written = if memchr_find(&line, b"big1m") {
            out.write_all(big.as_bytes())
        } else if memchr_find(&line, b"\"initialize\"") {
            out.write_all(message(id, CANNED_INIT_RESULT).as_bytes())
                .and_then(|()| out.write_all(b"\n"))
        } else {
            out.write_all(message(id, CANNED_SMALL_RESULT).as_bytes())
                .and_then(|()| out.write_all(b"\n"))
        };
        if written.and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}

/// The raw id of a request line the bench wrote (`"id":` up to the next `,`).
fn line_id(line: &[u8]) -> Option<&str> {
    let at = line.windows(5).position(|w| w == b"\"id\":")? + 5;
    let len = line[at..].iter().position(|&b| b == b',')?;
    std::str::from_utf8(&line[at..at + len]).ok()
}

// ===== the two clients ======================================================================

/// Request lines (each ending in `\n`); the direct client sends them without the `\n`.
struct Requests {
    lines: Vec<Bytes>,
}

impl Requests {
    fn new(n: usize, rest: &str) -> Self {
        Self {
            lines: (1..=n)
                .map(|id| Bytes::from(format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},{rest}}}\n")))
                .collect(),
        }
    }
    fn line(&self, i: usize) -> &Bytes {
        &self.lines[i % self.lines.len()]
    }
    fn body(&self, i: usize) -> Bytes {
        let l = self.line(i);
        l.slice(..l.len() - 1)
    }
}

/// reqwest as the bridge configures it (keep-alive, TCP_NODELAY), sending the bridge's
/// headers: Accept, Content-Type, Authorization, User-Agent, and the session's.
struct Direct {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
}

impl Direct {
    /// A client like the bridge's; it also trusts `ca_pem` (the bench's own CA, for the https upstream).
    fn with_ca(url: &str, ca_pem: Option<&str>) -> Self {
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .no_proxy();
        if let Some(pem) = ca_pem {
            let ca = reqwest::Certificate::from_pem(pem.as_bytes()).expect("the bench CA");
            builder = builder.tls_certs_merge([ca]);
        }
        let client = builder.build().expect("reqwest client");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {TOKEN}")).expect("header"),
        );
        Self {
            client,
            url: url.to_string(),
            headers,
        }
    }

    /// A client with a session: initialize, then notifications/initialized.
    async fn connect(url: &str) -> Self {
        Self::connect_with_ca(url, None).await
    }

    async fn connect_with_ca(url: &str, ca_pem: Option<&str>) -> Self {
        let mut d = Self::with_ca(url, ca_pem);
        let resp = d
            .client
            .post(&d.url)
            .headers(d.headers.clone())
            .body(INITIALIZE)
            .send()
            .await
            .expect("direct initialize");
        let session = resp.headers().get("mcp-session-id").cloned();
        let body = resp.bytes().await.expect("initialize body");
        check(&body, "\"result\"");
        if let Some(s) = session {
            d.headers
                .insert(HeaderName::from_static("mcp-session-id"), s);
        }
        d.headers.insert(
            HeaderName::from_static("mcp-protocol-version"),
            HeaderValue::from_static(PROTOCOL_VERSION),
        );
        d.post(Bytes::from_static(INITIALIZED.as_bytes())).await;
        d
    }

    /// POSTs one body and reads the whole answer; returns its length.
    async fn post(&self, body: Bytes) -> usize {
        let resp = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .expect("direct POST");
        resp.bytes().await.expect("direct body").len()
    }

    async fn sequential(&self, reqs: &Requests, n: usize) -> Vec<f64> {
        let mut lat = Vec::with_capacity(n);
        for i in 0..n {
            let body = reqs.body(i);
            let t = Instant::now();
            let len = self.post(body).await;
            lat.push(us(t.elapsed()));
            assert!(len > 0, "empty answer");
        }
        lat
    }

    async fn flight(&self, reqs: &Requests, m: usize, n: usize) -> Duration {
        let t = Instant::now();
        futures::stream::iter(0..m)
            .map(|i| self.post(reqs.body(i)))
            .buffer_unordered(n)
            .for_each(|_| async {})
            .await;
        t.elapsed()
    }
}

/// The bridge binary on pipes. Reads block; the watchdog bounds the run.
/// The command line and environment every bridge of this bench runs with.
/// The era cache of the bench's bridges (`target/bench-cache`): after the first start against
/// an upstream it remembers the upstream's era, as a user's machine does, so start-up rows
/// are steady-state ones; the first start's probe is measured on its own row.
fn bench_cache_dir() -> PathBuf {
    std::env::var_os("WAZION_MCP_BENCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("bench-cache"))
}

fn bridge_command(url: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg(url)
        .args(extra)
        .args(["--log-level", "error"])
        .env("WAZION_TOKEN", TOKEN)
        .env("WAZION_MCP_CACHE_DIR", bench_cache_dir())
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for v in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(v);
    }
    cmd
}

struct BridgeProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    line: Vec<u8>,
}

impl BridgeProc {
    fn spawn(url: &str) -> Self {
        Self::spawn_with(url, &[])
    }

    /// The bridge with extra flags (`--ca-file` for the https upstream).
    fn spawn_with(url: &str, extra: &[&str]) -> Self {
        Self::from_command(bridge_command(url, extra))
    }

    /// This bench binary in its stdio-floor role (see [`stdio_floor`]).
    fn spawn_floor() -> Self {
        let exe = std::env::current_exe().expect("the bench's own path");
        let mut cmd = Command::new(exe);
        cmd.arg(STDIO_FLOOR_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        Self::from_command(cmd)
    }

    fn from_command(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("spawn the process under test");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::with_capacity(256 * 1024, child.stdout.take().expect("stdout"));
        Self {
            child,
            stdin,
            stdout,
            line: Vec::with_capacity(64 * 1024),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one message; `\n` is added unless it is there.
    fn send(&mut self, msg: &[u8]) {
        if msg.last() == Some(&b'\n') {
            self.stdin.write_all(msg).expect("write to the bridge");
        } else {
            let mut m = Vec::with_capacity(msg.len() + 1);
            m.extend_from_slice(msg);
            m.push(b'\n');
            self.stdin.write_all(&m).expect("write to the bridge");
        }
    }

    /// The next stdout line (without `\n`).
    fn recv(&mut self) -> &[u8] {
        self.line.clear();
        let n = self
            .stdout
            .read_until(b'\n', &mut self.line)
            .expect("read from the bridge");
        assert!(n > 0, "the bridge closed stdout");
        self.line.pop();
        &self.line
    }

    fn handshake(&mut self) {
        self.send(INITIALIZE.as_bytes());
        let line = self.recv();
        check(line, "\"result\"");
        self.send(INITIALIZED.as_bytes());
    }

    fn sequential(&mut self, reqs: &Requests, n: usize) -> Vec<f64> {
        let mut lat = Vec::with_capacity(n);
        for i in 0..n {
            let line = reqs.line(i).clone();
            let t = Instant::now();
            self.send(&line);
            let answer = self.recv();
            lat.push(us(t.elapsed()));
            check(answer, "\"result\"");
        }
        lat
    }

    /// `m` calls, keeping `n` in flight (one new request per answer).
    fn flight(&mut self, reqs: &Requests, m: usize, n: usize) -> Duration {
        let t = Instant::now();
        let mut sent = 0;
        while sent < n.min(m) {
            let line = reqs.line(sent).clone();
            self.send(&line);
            sent += 1;
        }
        for _ in 0..m {
            let answer = self.recv();
            check(answer, "\"result\"");
            if sent < m {
                let line = reqs.line(sent).clone();
                self.send(&line);
                sent += 1;
            }
        }
        t.elapsed()
    }

    fn status_kib(&self, field: &str) -> u64 {
        proc_status_kib(self.pid(), field)
    }

    /// CPU time of the whole process so far (all threads), in ns.
    fn cpu_ns(&self) -> f64 {
        proc_cpu_ns(self.pid())
    }

    /// Closes stdin and waits (bounded) for the exit; kills it after 5 s.
    fn close(self) {
        let Self {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        for _ in 0..500 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn check(answer: &[u8], needle: &str) {
    let ok = memchr_find(answer, needle.as_bytes());
    assert!(
        ok,
        "unexpected answer: {}",
        String::from_utf8_lossy(&answer[..answer.len().min(300)])
    );
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> bool {
    // Answers carry `"result"` near the start or the end; search both ends first.
    let head = &hay[..hay.len().min(4096)];
    let tail = &hay[hay.len().saturating_sub(4096)..];
    [head, tail, hay]
        .iter()
        .any(|h| h.windows(needle.len()).any(|w| w == needle))
}

// ===== measurement ==========================================================================

/// Per-call samples of alternating blocks.
#[derive(Default)]
struct Sequential {
    direct_lat: Vec<f64>,
    bridge_lat: Vec<f64>,
    /// Per-block median latency, for the noise estimate.
    direct_block_p50: Vec<f64>,
    bridge_block_p50: Vec<f64>,
    /// Per-block CPU µs per call: the direct client's thread, the bridge process.
    direct_cpu: Vec<f64>,
    bridge_cpu: Vec<f64>,
    /// Per-block new upstream connections per call.
    direct_conns: Vec<f64>,
    bridge_conns: Vec<f64>,
    /// The stdio floor process, when one took part: latencies and per-block CPU µs per call.
    floor_lat: Vec<f64>,
    floor_cpu: Vec<f64>,
}

/// TCP connections accepted by every upstream of this run (one is measured at a time, so a
/// block's difference is that upstream's).
static ACCEPTED: AtomicU64 = AtomicU64::new(0);

/// Start-up, `rounds` times each: a fresh bridge from exec to its answer to `initialize`, and a
/// fresh direct client (built in-process) to the same answer. In ms.
fn startup(
    rt: &tokio::runtime::Runtime,
    url: &str,
    ca_pem: Option<&str>,
    bridge_args: &[&str],
    rounds: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (mut direct, mut bridge) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for bridge_turn in order(round) {
            let t = Instant::now();
            if bridge_turn {
                let mut b = BridgeProc::spawn_with(url, bridge_args);
                b.send(INITIALIZE.as_bytes());
                check(b.recv(), "\"result\"");
                bridge.push(ms(t.elapsed()));
                b.close();
            } else {
                rt.block_on(async {
                    let d = Direct::with_ca(url, ca_pem);
                    d.post(Bytes::from_static(INITIALIZE.as_bytes())).await;
                });
                direct.push(ms(t.elapsed()));
            }
        }
    }
    (direct, bridge)
}

/// `rounds` rounds of `n` calls: direct and bridge in alternating order, then the stdio
/// floor process when given one.
fn compare_sequential(
    rt: &tokio::runtime::Runtime,
    bridge: &mut BridgeProc,
    direct: &Direct,
    mut floor: Option<&mut BridgeProc>,
    reqs: &Requests,
    rounds: usize,
    n: usize,
) -> Sequential {
    let mut s = Sequential::default();
    for round in 0..rounds {
        if let Some(f) = floor.as_deref_mut() {
            let cpu = f.cpu_ns();
            let lat = f.sequential(reqs, n);
            s.floor_cpu.push((f.cpu_ns() - cpu) / 1000.0 / n as f64);
            s.floor_lat.extend(lat);
        }
        for bridge_turn in order(round) {
            let conns = accepted();
            if bridge_turn {
                let cpu = bridge.cpu_ns();
                let lat = bridge.sequential(reqs, n);
                s.bridge_cpu
                    .push((bridge.cpu_ns() - cpu) / 1000.0 / n as f64);
                s.bridge_conns.push((accepted() - conns) as f64 / n as f64);
                s.bridge_block_p50.push(median(&lat));
                s.bridge_lat.extend(lat);
            } else {
                let cpu = thread_cpu_ns();
                let lat = rt.block_on(direct.sequential(reqs, n));
                s.direct_cpu
                    .push((thread_cpu_ns() - cpu) / 1000.0 / n as f64);
                s.direct_conns.push((accepted() - conns) as f64 / n as f64);
                s.direct_block_p50.push(median(&lat));
                s.direct_lat.extend(lat);
            }
        }
    }
    s
}

#[derive(Default)]
struct Flight {
    direct_rate: Vec<f64>,
    bridge_rate: Vec<f64>,
    direct_cpu: Vec<f64>,
    bridge_cpu: Vec<f64>,
}

impl Flight {
    /// The calls/s row of these blocks.
    fn rate_row(&self, metric: impl Into<String>, target: Option<Target>) -> Row {
        Row {
            metric: metric.into(),
            unit: "calls/s",
            direct: median(&self.direct_rate),
            bridge: median(&self.bridge_rate),
            noise: noise(&[&self.direct_rate, &self.bridge_rate]),
            target,
        }
    }
}

fn compare_flight(
    rt: &tokio::runtime::Runtime,
    bridge: &mut BridgeProc,
    direct: &Direct,
    reqs: &Requests,
    rounds: usize,
    m: usize,
    n: usize,
) -> Flight {
    let mut f = Flight::default();
    for round in 0..rounds {
        for bridge_turn in order(round) {
            if bridge_turn {
                let cpu = bridge.cpu_ns();
                let t = bridge.flight(reqs, m, n);
                f.bridge_cpu
                    .push((bridge.cpu_ns() - cpu) / 1000.0 / m as f64);
                f.bridge_rate.push(m as f64 / t.as_secs_f64());
            } else {
                let cpu = thread_cpu_ns();
                let t = rt.block_on(direct.flight(reqs, m, n));
                f.direct_cpu
                    .push((thread_cpu_ns() - cpu) / 1000.0 / m as f64);
                f.direct_rate.push(m as f64 / t.as_secs_f64());
            }
        }
    }
    f
}

/// Direct first in even rounds, bridge first in odd ones.
fn order(round: usize) -> [bool; 2] {
    if round.is_multiple_of(2) {
        [false, true]
    } else {
        [true, false]
    }
}

fn accepted() -> u64 {
    ACCEPTED.load(Ordering::Relaxed)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q).round() as usize]
}

fn median(v: &[f64]) -> f64 {
    percentile(v, 0.5)
}

/// Half the range of per-block values over their median, the largest of the series given:
/// how far one block can be from another on this machine right now.
fn noise(series: &[&Vec<f64>]) -> f64 {
    series
        .iter()
        .filter(|s| s.len() > 1)
        .map(|s| {
            let lo = s.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (hi - lo) / 2.0 / median(s)
        })
        .fold(0.0, f64::max)
}

// ===== /proc ================================================================================

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The binary's executable mapping in `pid`: (KiB resident, KiB mapped), from smaps.
fn binary_code_resident_kib(pid: u32) -> (u64, u64) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let (mut resident, mut size) = (0, 0);
    let mut in_code = false;
    for line in smaps.lines() {
        let mut cols = line.split_whitespace();
        let first = cols.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let perms = cols.next().unwrap_or("");
            in_code = perms.contains('x') && line.ends_with(bin());
        } else if in_code {
            let kib = cols.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            match first {
                "Size:" => size += kib,
                "Rss:" => resident += kib,
                _ => {}
            }
        }
    }
    (resident, size)
}

/// utime + stime of a whole process (all threads, live and exited), from /proc/<pid>/stat,
/// plus the nanosecond-precise run time of its live threads from their schedstat. The
/// schedstat sum is used when it is at least the tick-based figure (threads that exited
/// only show in the ticks).
fn proc_cpu_ns(pid: u32) -> f64 {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    let tick_ns = ticks as f64 * 1e7; // USER_HZ = 100 on Linux
    let mut sched = 0.0;
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in dir.flatten() {
            sched += schedstat_ns(&t.path().join("schedstat"));
        }
    }
    if sched > 0.0 { sched } else { tick_ns }
}

fn schedstat_ns(path: &Path) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// CPU time of the calling thread (the direct client's runtime), in ns.
fn thread_cpu_ns() -> f64 {
    schedstat_ns(Path::new("/proc/thread-self/schedstat"))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default()
}

/// `target/` (from the binary's path, `target/release/wazion-mcp`), or `$CARGO_TARGET_DIR`.
fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
}

// ===== placement ============================================================================

/// Where the processes of a measurement run.
#[derive(Clone, Copy, PartialEq)]
enum Placement {
    /// Everything (this thread, the upstreams' threads, the bridge or floor process) on the
    /// first CPU this run may use. A wake-up is then a context switch on one CPU, not an
    /// interrupt to another vCPU, whose cost on a VM flips from run to run.
    OneCpu,
    /// Every CPU this run may use.
    Free,
}

#[cfg(target_os = "linux")]
use placement::{allowed_cpus, cpu_count, place, record_thread};

/// Pinning with `sched_setaffinity` (Linux). Elsewhere the bench runs unpinned.
#[cfg(target_os = "linux")]
mod placement {
    use super::Placement;

    /// Thread ids of the upstreams' runtime threads, recorded as they start.
    static SERVER_TIDS: std::sync::Mutex<Vec<libc::pid_t>> = std::sync::Mutex::new(Vec::new());

    fn lock_tids() -> std::sync::MutexGuard<'static, Vec<libc::pid_t>> {
        SERVER_TIDS.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The CPUs this process was allowed at start.
    pub fn allowed_cpus() -> &'static libc::cpu_set_t {
        static ALLOWED: std::sync::OnceLock<libc::cpu_set_t> = std::sync::OnceLock::new();
        ALLOWED.get_or_init(|| {
            // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for this thread.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
            set
        })
    }

    /// How many CPUs this run may use (the mask at start, before any pinning).
    pub fn cpu_count() -> u32 {
        // SAFETY: reads a cpu_set_t filled by sched_getaffinity.
        unsafe { libc::CPU_COUNT(allowed_cpus()) as u32 }
    }

    /// Moves this thread, the upstreams' threads and `pids` (bridge or floor processes, each a
    /// single-threaded runtime) to `placement`. Processes spawned afterwards inherit it.
    pub fn place(placement: Placement, pids: &[u32]) {
        let allowed = allowed_cpus();
        // SAFETY: plain data, filled by the CPU_* helpers below.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        match placement {
            Placement::Free => set = *allowed,
            Placement::OneCpu => {
                let first = (0..libc::CPU_SETSIZE as usize)
                    .find(|&c| unsafe { libc::CPU_ISSET(c, allowed) })
                    .unwrap_or(0);
                unsafe { libc::CPU_SET(first, &mut set) };
            }
        }
        let tids = lock_tids().clone();
        let targets = std::iter::once(0)
            .chain(tids)
            .chain(pids.iter().map(|&p| p as libc::pid_t));
        for tid in targets {
            // SAFETY: sets the affinity of a thread of this process or of a child it spawned.
            unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&set), &set) };
        }
    }

    /// Records an upstream runtime thread, so [`place`] can move it.
    pub fn record_thread() {
        // SAFETY: gettid has no preconditions.
        lock_tids().push(unsafe { libc::gettid() });
    }
}

#[cfg(not(target_os = "linux"))]
fn record_thread() {}
#[cfg(not(target_os = "linux"))]
fn allowed_cpus() {}
#[cfg(not(target_os = "linux"))]
fn place(_: Placement, _: &[u32]) {}
#[cfg(not(target_os = "linux"))]
fn cpu_count() -> u32 {
    std::thread::available_parallelism().map_or(0, |n| n.get() as u32)
}

// ===== the report ===========================================================================

enum Target {
    None,
    /// bridge − direct ≤ x (in the row's unit).
    AddedAtMost(f64),
    /// bridge / direct ≥ x.
    RatioAtLeast(f64),
    /// bridge / direct ≤ x.
    RatioAtMost(f64),
    /// bridge ≤ x (in the row's unit).
    BridgeAtMost(f64),
}

struct Row {
    metric: String,
    unit: &'static str,
    direct: f64,
    bridge: f64,
    /// Half-range of per-block values over their median (0 when not measured in blocks).
    noise: f64,
    target: Option<Target>,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.bridge / self.direct
    }
    fn target_text(&self) -> String {
        match &self.target {
            None | Some(Target::None) => String::new(),
            Some(Target::AddedAtMost(x)) => format!("≤ direct + {x} {}", self.unit),
            Some(Target::RatioAtLeast(x)) => format!("≥ {x}× direct"),
            Some(Target::RatioAtMost(x)) => format!("≤ {x}× direct"),
            Some(Target::BridgeAtMost(x)) => format!("≤ {x} {}", self.unit),
        }
    }
    fn met(&self) -> Option<bool> {
        Some(match self.target.as_ref()? {
            Target::None => return None,
            Target::AddedAtMost(x) => self.bridge - self.direct <= *x,
            Target::RatioAtLeast(x) => self.ratio() >= *x,
            Target::RatioAtMost(x) => self.ratio() <= *x,
            Target::BridgeAtMost(x) => self.bridge <= *x,
        })
    }
    fn to_json(&self) -> serde_json::Value {
        let num = |x: f64| if x.is_finite() { json!(x) } else { json!(null) };
        json!({
            "metric": self.metric,
            "unit": self.unit,
            "direct": num(self.direct),
            "bridge": num(self.bridge),
            "ratio": num(self.ratio()),
            "noise": num(self.noise),
            "target": self.target_text(),
            "met": self.met(),
        })
    }
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
}

impl Report {
    fn pair(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// A bridge-only figure.
    fn single(&mut self, metric: &str, unit: &'static str, bridge: f64, target: Option<Target>) {
        self.rows.push(Row {
            metric: metric.into(),
            unit,
            direct: f64::NAN,
            bridge,
            noise: 0.0,
            target,
        });
    }

    fn single_target(&mut self, metric: &str, unit: &'static str, bridge: f64, target: Target) {
        self.single(metric, unit, bridge, Some(target));
    }

    fn latency(&mut self, label: &str, s: &Sequential, targets: bool) {
        let noise_p50 = noise(&[&s.direct_block_p50, &s.bridge_block_p50]);
        self.pair(Row {
            metric: format!("{label} p50, sequential"),
            unit: "µs",
            direct: median(&s.direct_lat),
            bridge: median(&s.bridge_lat),
            noise: noise_p50,
            target: None,
        });
        self.pair(Row {
            metric: format!("{label} p99, sequential"),
            unit: "µs",
            direct: percentile(&s.direct_lat, 0.99),
            bridge: percentile(&s.bridge_lat, 0.99),
            noise: 0.0,
            target: None,
        });
        // Added latency: median over rounds of (bridge block p50 − direct block p50).
        let added: Vec<f64> = s
            .bridge_block_p50
            .iter()
            .zip(&s.direct_block_p50)
            .map(|(b, d)| b - d)
            .collect();
        self.pair(Row {
            metric: format!("{label} added latency p50 (bridge − direct)"),
            unit: "µs",
            direct: 0.0,
            bridge: median(&added),
            noise: 0.0,
            target: targets.then_some(Target::AddedAtMost(100.0)),
        });
    }

    /// The new-TCP-connections-per-call row of sequential blocks (0: every call reused
    /// its connection).
    fn conns(&mut self, label: &str, s: &Sequential) {
        self.pair(Row {
            metric: format!("{label}: new TCP connections per call"),
            unit: "conns",
            direct: median(&s.direct_conns),
            bridge: median(&s.bridge_conns),
            noise: 0.0,
            target: None,
        });
    }

    fn cpu(&mut self, metric: &str, s: &Sequential, target: bool) {
        self.pair(Row {
            metric: metric.into(),
            unit: "µs",
            direct: median(&s.direct_cpu),
            bridge: median(&s.bridge_cpu),
            noise: noise(&[&s.direct_cpu, &s.bridge_cpu]),
            target: target.then_some(Target::BridgeAtMost(50.0)),
        });
    }

    fn print(&self) {
        println!();
        println!(
            "{:<52} {:>11} {:>11} {:>8} {:>7}  {:<20} met",
            "metric", "direct", "bridge", "b/d", "noise", "target"
        );
        println!("{}", "-".repeat(122));
        for r in &self.rows {
            let fmt = |x: f64| {
                if !x.is_finite() {
                    "—".to_string()
                } else if x.abs() >= 1000.0 {
                    format!("{x:.0}")
                } else if x.abs() >= 10.0 {
                    format!("{x:.1}")
                } else {
                    format!("{x:.2}")
                }
            };
            let ratio = r.ratio();
            let met = match r.met() {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            println!(
                "{:<52} {:>11} {:>11} {:>8} {:>7}  {:<20} {}",
                format!("{} ({})", r.metric, r.unit),
                fmt(r.direct),
                fmt(r.bridge),
                if ratio.is_finite() && r.direct != 0.0 {
                    format!("{ratio:.2}×")
                } else {
                    "—".into()
                },
                if r.noise > 0.0 {
                    format!("±{:.0}%", r.noise * 100.0)
                } else {
                    String::new()
                },
                r.target_text(),
                met
            );
        }
    }
}
