//! The raw line driver: spawns the freshly built `wazion-mcp` binary with piped stdio and
//! lets a test write exact lines to its stdin and read exact lines from its stdout.
//!
//! Every read has a deadline, so a bridge that hangs fails the test instead of hanging it.
//! stderr is collected in the background so tests can assert on log lines (and on the
//! absence of secrets).

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How long a test waits for one expected line before failing.
pub const LINE_DEADLINE: Duration = Duration::from_secs(10);

pub struct Bridge {
    child: Child,
    /// A duplicate of the test's end of the bridge's stdout pipe, to read the pipe's size
    /// (Unix only: the probes that use it are Linux-only).
    #[cfg(unix)]
    stdout_fd: Option<std::os::fd::OwnedFd>,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
    /// Set by [`Bridge::pause_stdout`]: the stdout reader stops reading (and keeps the pipe open).
    pause: tokio::sync::watch::Sender<bool>,
}

/// Resolves once [`Bridge::pause_stdout`] was called (never, if the bridge is dropped first).
async fn until_paused(paused: &mut tokio::sync::watch::Receiver<bool>) {
    if paused.wait_for(|p| *p).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A cache directory no other bridge of this test run uses, so what one test's server spoke
/// (the era cache) never changes what another test's bridge does. Tests of the cache itself
/// pass one directory to two bridges.
pub fn fresh_cache_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir()
        .join("wazion-mcp-tests")
        .join(format!("{}-{n}", std::process::id()))
}

/// A command for the built binary whose own folders (config and cache) are fresh throw-away
/// ones, on every OS: the `WAZION_MCP_*` overrides win over `XDG_*`, which `dirs` reads on
/// Linux only, so no test writes into the developer's real folders.
pub fn wazion_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wazion-mcp"));
    cmd.env("WAZION_MCP_CONFIG_DIR", fresh_cache_dir().join("config"))
        .env("WAZION_MCP_CACHE_DIR", fresh_cache_dir());
    cmd
}

/// A fresh cache directory in which `url` is remembered as a 2025-era server, so the bridge
/// sends the client's `initialize` first, as every start after the first does. Most tests
/// are about what follows the handshake; the tests of the era probe start with
/// [`BridgeCmd::unknown_server`] instead.
pub fn known_2025_server(url: &str) -> std::path::PathBuf {
    let dir = fresh_cache_dir();
    if let Ok(parsed) = url::Url::parse(url) {
        let file = wazion_mcp::era_cache::file_in(&dir);
        wazion_mcp::era_cache::store_at(&file, &parsed, wazion_mcp::era_cache::Remembered::Session)
            .expect("seed the era cache");
    }
    dir
}

/// Builder for a bridge process. The environment is cleared of `WAZION_TOKEN` so a
/// developer's own token never reaches a test server.
pub struct BridgeCmd {
    cmd: Command,
}

impl BridgeCmd {
    pub fn new(url: &str) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wazion-mcp"));
        cmd.arg(url)
            .env("WAZION_MCP_CACHE_DIR", known_2025_server(url))
            // The OAuth token store lives under the config dir: never the developer's own.
            .env("WAZION_MCP_CONFIG_DIR", fresh_cache_dir().join("config"))
            .env_remove("WAZION_TOKEN")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Self { cmd }
    }
    /// Starts with an empty era cache: the bridge has never met this server, so a 2025
    /// client's `initialize` is preceded by the `server/discover` probe.
    pub fn unknown_server(self) -> Self {
        self.env(
            "WAZION_MCP_CACHE_DIR",
            &fresh_cache_dir().display().to_string(),
        )
    }
    pub fn arg(mut self, a: &str) -> Self {
        self.cmd.arg(a);
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.cmd.env(k, v);
        self
    }
    /// Sets `WAZION_TOKEN`.
    pub fn token(self, t: &str) -> Self {
        self.env("WAZION_TOKEN", t)
    }
    pub fn spawn(mut self) -> Bridge {
        let mut child = self.cmd.spawn().expect("spawn wazion-mcp");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout piped");
        #[cfg(unix)]
        let stdout_fd = std::os::fd::AsFd::as_fd(&stdout).try_clone_to_owned().ok();
        let mut stderr_pipe = child.stderr.take().expect("stderr piped");
        let (tx, lines) = mpsc::unbounded_channel();
        let (pause, mut paused) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                let read = tokio::select! {
                    biased;
                    () = until_paused(&mut paused) => {
                        // Paused: hold the pipe open and never read again (the bridge's
                        // writes block once the pipe is full). A line being read is lost.
                        let _keep_open = r;
                        std::future::pending::<()>().await;
                        unreachable!()
                    }
                    read = r.read_line(&mut line) => read,
                };
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let l = line.strip_suffix('\n').unwrap_or(&line).to_string();
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            loop {
                match stderr_pipe.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        Bridge {
            child,
            #[cfg(unix)]
            stdout_fd,
            stdin,
            lines,
            stderr,
            pause,
        }
    }
}

impl Bridge {
    /// The capacity of the bridge's stdout pipe (F_GETPIPE_SZ, Linux), in bytes.
    #[cfg(target_os = "linux")]
    pub fn stdout_pipe_bytes(&self) -> Option<i32> {
        let fd = std::os::fd::AsRawFd::as_raw_fd(self.stdout_fd.as_ref()?);
        // SAFETY: F_GETPIPE_SZ reads a property of a descriptor this struct owns.
        let n = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
        (n > 0).then_some(n)
    }

    /// Writes `line` plus `\n` to the bridge's stdin.
    pub async fn send(&mut self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.send_raw(&bytes).await;
    }
    /// Writes raw bytes (no newline added). A failed write (the bridge exited) panics with
    /// the bridge's stderr.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        let written = match stdin.write_all(bytes).await {
            Ok(()) => stdin.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            // Give the stderr collector a moment to catch the exiting bridge's last words.
            let _ = self
                .wait_stderr_line(Duration::from_secs(1), |l| !l.is_empty())
                .await;
            panic!(
                "cannot write to the bridge's stdin ({e}); exit status: {:?}; bridge stderr:\n{}",
                self.child.try_wait().ok().flatten(),
                self.stderr()
            );
        }
    }
    /// The next stdout line, or `None` when the deadline passes or stdout closed.
    pub async fn recv_within(&mut self, d: Duration) -> Option<String> {
        tokio::time::timeout(d, self.lines.recv())
            .await
            .ok()
            .flatten()
    }
    /// The next stdout line; panics (with stderr attached) when none arrives in time.
    pub async fn recv(&mut self) -> String {
        match self.recv_within(LINE_DEADLINE).await {
            Some(l) => l,
            None => {
                // stdout closed early when the bridge exited: let stderr catch its last words.
                let _ = self
                    .wait_stderr_line(Duration::from_secs(1), |l| !l.is_empty())
                    .await;
                panic!(
                    "no stdout line within {LINE_DEADLINE:?} (or stdout closed: the bridge exited with {:?}); bridge stderr:\n{}",
                    self.child.try_wait().ok().flatten(),
                    self.stderr()
                )
            }
        }
    }
    /// The next stdout line parsed as JSON.
    pub async fn recv_json(&mut self) -> Value {
        let l = self.recv().await;
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
    }
    /// Reads lines until one is a response (has `result` or `error`) with this id
    /// (compared as JSON values); returns it and the lines skipped on the way.
    pub async fn recv_response(&mut self, id: &Value) -> (Value, Vec<Value>) {
        let mut skipped = Vec::new();
        loop {
            let v = self.recv_json().await;
            if v.get("id") == Some(id) && (v.get("result").is_some() || v.get("error").is_some()) {
                return (v, skipped);
            }
            skipped.push(v);
        }
    }
    /// Sends `initialize` (id 0) and `notifications/initialized`; returns the result line.
    pub async fn handshake(&mut self, protocol_version: &str) -> Value {
        self.send(&format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{protocol_version}","capabilities":{{"roots":{{}},"sampling":{{}},"elicitation":{{}}}},"clientInfo":{{"name":"raw-driver","version":"0"}}}}}}"#
        ))
        .await;
        let (init, _) = self.recv_response(&Value::from(0)).await;
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        init
    }
    /// Closes stdin (EOF for the bridge).
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }
    /// Sends a signal to the bridge process (e.g. `"TERM"`, `"INT"`) with `kill` (Unix; the
    /// Windows console events have no such outside sender: their mapping is unit-tested in
    /// `relay::shutdown`).
    #[cfg(unix)]
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("bridge still running");
        let ok = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} {pid} failed");
    }
    /// Waits for the process to exit; `None` if it is still running after `d`.
    pub async fn wait_exit(&mut self, d: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(d, self.child.wait())
            .await
            .ok()
            .map(|r| r.expect("wait"))
    }
    /// Everything the bridge wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
    /// Drains stdout lines already available (waits `d` for stragglers).
    pub async fn drain(&mut self, d: Duration) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = self.recv_within(d).await {
            out.push(l);
        }
        out
    }
}

/// Asserts that `line` is one JSON-RPC 2.0 message as a stdio peer may receive it: an
/// object with `"jsonrpc":"2.0"` that is a request (method + string/integer id), a
/// notification (method, no id) or a response (string/integer id and exactly one of
/// `result` / `error`, the error with an integer `code` and a string `message`). Returns it.
pub fn assert_jsonrpc(line: &str) -> Value {
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("stdout line is not a JSON object: {line}"));
    assert_eq!(obj.get("jsonrpc"), Some(&Value::from("2.0")), "{line}");
    let id_ok = |id: &Value| id.is_string() || id.is_i64() || id.is_u64();
    if let Some(m) = obj.get("method") {
        assert!(m.is_string(), "method is not a string: {line}");
        if let Some(id) = obj.get("id") {
            assert!(id_ok(id), "request id is not a string or integer: {line}");
        }
        assert!(
            !obj.contains_key("result") && !obj.contains_key("error"),
            "message has both method and result/error: {line}"
        );
    } else {
        let id = obj
            .get("id")
            .unwrap_or_else(|| panic!("response without id: {line}"));
        assert!(id_ok(id), "response id is not a string or integer: {line}");
        match (obj.get("result"), obj.get("error")) {
            (Some(_), None) => {}
            (None, Some(e)) => {
                assert!(e["code"].is_i64(), "error code is not an integer: {line}");
                assert!(e["message"].is_string(), "error message missing: {line}");
            }
            _ => panic!("response needs exactly one of result/error: {line}"),
        }
    }
    v
}

impl Bridge {
    /// Closes stdin, waits up to `d` for the process to exit, then returns its exit status
    /// and every stdout line not read yet (all of them, since stdout closed at exit).
    pub async fn finish(&mut self, d: Duration) -> (Option<ExitStatus>, Vec<String>) {
        self.close_stdin();
        let status = self.wait_exit(d).await;
        let rest = self.drain(Duration::from_millis(200)).await;
        (status, rest)
    }
}

impl Bridge {
    /// Waits until a stderr line satisfies `pred` and returns it; `None` after `d`.
    /// (stderr is collected by a background task without a wake-up, so this polls it
    /// every 10 ms until the deadline.)
    pub async fn wait_stderr_line(
        &self,
        d: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            if let Some(l) = self.stderr().lines().find(|l| pred(l)) {
                return Some(l.to_string());
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    /// The stderr lines that satisfy `pred`, so far.
    pub fn stderr_lines(&self, pred: impl Fn(&str) -> bool) -> Vec<String> {
        self.stderr()
            .lines()
            .filter(|l| pred(l))
            .map(str::to_string)
            .collect()
    }
}

impl Bridge {
    /// The bridge's process id (for /proc/<pid>/status), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

impl Bridge {
    /// The next stdout line, checked to be one JSON-RPC 2.0 message.
    pub async fn recv_checked(&mut self) -> String {
        let l = self.recv().await;
        assert_jsonrpc(&l);
        l
    }
}

impl Bridge {
    /// Stops reading the bridge's stdout for good, as a client that hangs would: the pipe
    /// stays open, so once it is full the bridge's writes block. Lines read before stay
    /// available to [`Bridge::recv_within`].
    pub fn pause_stdout(&self) {
        self.pause.send_replace(true);
    }

    /// Bytes written by the bridge to its stdout pipe and not read yet (FIONREAD, Linux).
    #[cfg(target_os = "linux")]
    pub fn stdout_unread_bytes(&self) -> Option<usize> {
        let fd = std::os::fd::AsRawFd::as_raw_fd(self.stdout_fd.as_ref()?);
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int for a descriptor this struct owns.
        let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
        (r == 0).then_some(n as usize)
    }
}

impl Bridge {
    /// Reads stdout until the response (`result` or `error`) whose id equals `id` as a JSON
    /// value, for at most `bound`; every line read must be JSON. Returns the raw response
    /// line and the lines before it. Panics, saying `what` and with stderr, when none comes.
    pub async fn response_within(
        &mut self,
        id: &Value,
        bound: Duration,
        what: &str,
    ) -> (String, Vec<String>) {
        let deadline = tokio::time::Instant::now() + bound;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(line) = self.recv_within(left).await else {
                panic!(
                    "{what}: no response with id {id} on stdout within {bound:?}; lines before: {before:#?}\nbridge stderr:\n{}",
                    self.stderr()
                );
            };
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{what}: stdout line is not JSON ({e}): {line}"));
            if v.get("id") == Some(id) && (v.get("result").is_some() || v.get("error").is_some()) {
                return (line, before);
            }
            before.push(line);
        }
    }
}

/// The exact text of the top-level `id` of a JSON object line (`"x\u0041"` stays as
/// written), or `None` when the line is not a JSON object or has no id.
pub fn raw_id(line: &str) -> Option<String> {
    let members: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(line).ok()?;
    Some(members.get("id")?.get().to_string())
}
