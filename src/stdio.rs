//! The client side of the pipe: a bounded line reader for stdin and the single owner of
//! stdout.
//!
//! Invariants:
//! - only [`StdoutWriter`]'s task writes to stdout, one whole message plus `\n` at a time, so
//!   lines are never interleaved; everything else sends it [`Bytes`] through a channel;
//! - every message is compacted to one line before it is written (S1);
//! - a stdin line longer than the limit is drained and dropped, never held whole.
//!
//! The line reader is hand-written (about 40 lines) because tokio's `read_until` and
//! `LinesCodec` either hold an over-long line whole or end the stream on it; we need to
//! drain it and carry on.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, oneshot};

use crate::jsonrpc;

/// How much of an over-long line is kept to look for its id.
const HEAD_KEPT: usize = 1024;

/// One stdin line, or the fact that one was too long.
#[derive(Debug)]
pub enum Line {
    Message(Vec<u8>),
    TooLong { len: usize, head: Vec<u8> },
}

/// Reads `\n`-terminated lines (a trailing `\r` removed; blank lines skipped) up to `max`
/// bytes each. A final line without `\n` before EOF is still returned.
pub struct LineReader<R> {
    inner: R,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        Self { inner, max }
    }

    /// The next non-blank line, or `None` at EOF.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let mut line = Vec::new();
            let mut len = 0usize;
            let mut too_long = false;
            let mut saw_any = false;
            loop {
                let buf = self.inner.fill_buf().await?;
                if buf.is_empty() {
                    break;
                }
                saw_any = true;
                let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => (&buf[..i], Some(i + 1)),
                    None => (buf, None),
                };
                len += chunk.len();
                if !too_long && len > self.max {
                    too_long = true;
                    // Keep a short head so an id near the start can still be read.
                    let room = HEAD_KEPT.saturating_sub(line.len());
                    line.extend_from_slice(&chunk[..room.min(chunk.len())]);
                    line.truncate(HEAD_KEPT);
                } else if !too_long {
                    line.extend_from_slice(chunk);
                }
                let consumed = done.unwrap_or(buf.len());
                self.inner.consume(consumed);
                if done.is_some() {
                    break;
                }
            }
            if !saw_any {
                return Ok(None);
            }
            if too_long {
                return Ok(Some(Line::TooLong { len, head: line }));
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(Line::Message(line)));
        }
    }
}

/// The process's stdin as an async reader. When it is a socket (how Node and Electron hosts
/// launch servers: libuv's child pipes are socketpairs) or, on Linux, a pipe, it is read
/// non-blocking on the runtime's own thread; otherwise (a terminal, a file, a pipe on
/// macOS) through tokio's blocking-thread stdin. Measured: the thread hand-offs of the
/// fallback cost about half of the bridge's CPU per call (benches/relay.rs).
pub fn stdin() -> Box<dyn tokio::io::AsyncRead + Unpin + Send> {
    #[cfg(unix)]
    if !force_fallback()
        && let Some(r) = nonblocking::reader()
    {
        return r;
    }
    Box::new(tokio::io::stdin())
}

/// The process's stdout as an async writer, non-blocking under the same conditions.
pub fn stdout() -> Box<dyn AsyncWrite + Unpin + Send> {
    #[cfg(unix)]
    if !force_fallback()
        && let Some(w) = nonblocking::writer()
    {
        return w;
    }
    Box::new(tokio::io::stdout())
}

/// Set (to anything but empty) to take tokio's blocking-thread stdio even where the
/// non-blocking path works: a benchmark and test knob (benches/relay.rs compares the two),
/// not a user setting. Read once per process.
pub const FALLBACK_ENV: &str = "WAZION_MCP_BLOCKING_STDIO";

#[cfg(unix)]
fn force_fallback() -> bool {
    static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| std::env::var_os(FALLBACK_ENV).is_some_and(|v| !v.is_empty()))
}

/// Which way a stdio descriptor of this kind is made non-blocking on `os`; `None` means
/// tokio's blocking-thread fallback. A pure table, so every OS's choice is tested on Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fast {
    /// Open `/proc/self/fd/N` again: a new open file description of the same pipe, so
    /// O_NONBLOCK on it reaches no other process.
    Reopen,
    /// Duplicate the descriptor and set O_NONBLOCK on it. The flag lives on the open file
    /// description, which the duplicate shares: right for a socket, whose end of the pair
    /// the host handed to this process alone (the host holds the other end).
    DupNonblocking,
}

/// What a stdio descriptor is, as far as the choice goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pipe,
    Socket,
    /// A terminal, a file, /dev/null.
    Other,
}

/// The operating systems whose choices differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdioOs {
    Linux,
    /// macOS and the BSDs: `/dev/fd/N` duplicates the descriptor instead of reopening the
    /// pipe (fdesc(5)), and an anonymous pipe has no other name, so there is no private
    /// description to make non-blocking; setting O_NONBLOCK on the shared one would reach
    /// every process holding it (a wrapper script, a shell reading the same pipe after the
    /// bridge exits) and make its blocking reads or writes fail with EAGAIN.
    OtherUnix,
    /// tokio's stdio (a blocking thread) everywhere.
    Windows,
}

pub fn fast_path(os: StdioOs, kind: Kind) -> Option<Fast> {
    match (os, kind) {
        (StdioOs::Windows, _) | (_, Kind::Other) => None,
        (_, Kind::Socket) => Some(Fast::DupNonblocking),
        (StdioOs::Linux, Kind::Pipe) => Some(Fast::Reopen),
        (StdioOs::OtherUnix, Kind::Pipe) => None,
    }
}

#[cfg(unix)]
mod nonblocking {
    //! The I/O half of [`fast_path`](super::fast_path): what the descriptor is (fstat on a
    //! duplicate, which works on every Unix), then the chosen way of making it
    //! non-blocking.

    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
    use std::os::unix::fs::FileTypeExt;

    use tokio::io::{AsyncRead, AsyncWrite};

    use super::{Fast, Kind, StdioOs};

    const OS: StdioOs = if cfg!(target_os = "linux") {
        StdioOs::Linux
    } else {
        StdioOs::OtherUnix
    };

    fn kind(fd: BorrowedFd<'_>) -> Option<(Kind, OwnedFd)> {
        let dup = fd.try_clone_to_owned().ok()?;
        let file = std::fs::File::from(dup);
        let t = file.metadata().ok()?.file_type();
        let kind = if t.is_fifo() {
            Kind::Pipe
        } else if t.is_socket() {
            Kind::Socket
        } else {
            Kind::Other
        };
        Some((kind, OwnedFd::from(file)))
    }

    /// Asks for a 1 MiB pipe buffer (Linux's default is 64 KiB). A large message then
    /// crosses in one write and a few reads instead of sixteen wake-ups of each side; pages
    /// are only allocated while data sits in the pipe. Refused above
    /// /proc/sys/fs/pipe-max-size or the per-user limit: the pipe then keeps its size.
    #[cfg(target_os = "linux")]
    fn grow_pipe(file: &std::fs::File) {
        use std::os::fd::AsRawFd;
        const PIPE_BYTES: libc::c_int = 1 << 20;
        // SAFETY: fcntl on a descriptor this function borrows; F_SETPIPE_SZ takes an int.
        let _ = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES) };
    }

    /// A new open file description of stdio descriptor `n` (Linux only), non-blocking from
    /// the open on: a FIFO open would otherwise wait for a peer that may already be gone.
    #[cfg(target_os = "linux")]
    fn reopen(n: u8, write: bool) -> Option<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(libc::O_NONBLOCK)
            .open(format!("/proc/self/fd/{n}"))
            .ok()?;
        grow_pipe(&file);
        Some(file)
    }
    #[cfg(not(target_os = "linux"))]
    fn reopen(_n: u8, _write: bool) -> Option<std::fs::File> {
        None
    }

    fn socket(dup: OwnedFd) -> Option<tokio::net::UnixStream> {
        let stream = std::os::unix::net::UnixStream::from(dup);
        stream.set_nonblocking(true).ok()?;
        tokio::net::UnixStream::from_std(stream).ok()
    }

    pub fn reader() -> Option<Box<dyn AsyncRead + Unpin + Send>> {
        let (kind, dup) = kind(std::io::stdin().as_fd())?;
        match super::fast_path(OS, kind)? {
            Fast::Reopen => {
                drop(dup);
                let file = reopen(0, false)?;
                Some(Box::new(
                    tokio::net::unix::pipe::Receiver::from_file(file).ok()?,
                ))
            }
            Fast::DupNonblocking => Some(Box::new(socket(dup)?)),
        }
    }

    pub fn writer() -> Option<Box<dyn AsyncWrite + Unpin + Send>> {
        let (kind, dup) = kind(std::io::stdout().as_fd())?;
        match super::fast_path(OS, kind)? {
            Fast::Reopen => {
                drop(dup);
                let file = reopen(1, true)?;
                Some(Box::new(
                    tokio::net::unix::pipe::Sender::from_file(file).ok()?,
                ))
            }
            Fast::DupNonblocking => Some(Box::new(socket(dup)?)),
        }
    }
}

/// A check made by the writer at the moment a message would be written: `true` withholds it.
pub type Withhold = Box<dyn FnOnce() -> bool + Send>;

enum Out {
    Message(Bytes),
    /// Written only if its check, made just before writing, says not to withhold it.
    Unless(Bytes, Withhold),
    Flush(oneshot::Sender<()>),
}

/// Handle to the stdout owner. Cheap to clone; sending never blocks the sender for long
/// (bounded queue: a client that stops reading slows the streams down, it does not grow
/// memory without bound).
#[derive(Clone)]
pub struct StdoutWriter {
    tx: mpsc::Sender<Out>,
}

impl StdoutWriter {
    /// Starts the writer task over `out` (stdout in production, a pipe in tests).
    pub fn spawn<W: AsyncWrite + Unpin + Send + 'static>(out: W) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(write_loop(out, rx));
        Self { tx }
    }

    /// Queues one message for stdout. Line breaks are removed here, by the one owner of the
    /// "one message per line" rule.
    pub async fn send(&self, message: Bytes) {
        let message = match jsonrpc::compact(&message) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(v) => Bytes::from(v),
        };
        if self.tx.send(Out::Message(message)).await.is_err() {
            tracing::debug!("stdout writer is gone; message dropped");
        }
    }

    /// Queues one message that the writer withholds if `withhold()` is `true` when its turn
    /// to be written comes. A decision made there is ordered with every other write: what
    /// was written before it is known to it, and nothing queued later is written before it
    /// (a progress notification is checked against answers already written, issue 19).
    pub async fn send_unless(&self, message: Bytes, withhold: Withhold) {
        let message = match jsonrpc::compact(&message) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(v) => Bytes::from(v),
        };
        if self.tx.send(Out::Unless(message, withhold)).await.is_err() {
            tracing::debug!("stdout writer is gone; message dropped");
        }
    }

    /// Waits (at most `limit`, including for room in the queue) until everything queued so
    /// far reached stdout.
    pub async fn flush(&self, limit: Duration) {
        let (tx, rx) = oneshot::channel();
        let flushed = async {
            if self.tx.send(Out::Flush(tx)).await.is_ok() {
                let _ = rx.await;
            }
        };
        let _ = tokio::time::timeout(limit, flushed).await;
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(out: W, mut rx: mpsc::Receiver<Out>) {
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    while let Some(item) = rx.recv().await {
        let result = match item {
            Out::Message(m) => write_message(&mut out, &m).await,
            Out::Unless(m, withhold) => {
                if withhold() {
                    tracing::debug!("withheld a message at the moment of writing it");
                    Ok(())
                } else {
                    write_message(&mut out, &m).await
                }
            }
            Out::Flush(done) => {
                let r = out.flush().await;
                let _ = done.send(());
                r
            }
        };
        // Flush once the queue is drained: one syscall per burst, not per message.
        let result = match result {
            Ok(()) if rx.is_empty() => out.flush().await,
            other => other,
        };
        if let Err(e) = result {
            // The client closed its end of the pipe; nothing more can be delivered.
            tracing::debug!("stdout closed: {e}");
            return;
        }
    }
    let _ = out.flush().await;
}

async fn write_message<W: AsyncWrite + Unpin>(
    out: &mut BufWriter<W>,
    m: &[u8],
) -> std::io::Result<()> {
    out.write_all(m).await?;
    out.write_all(b"\n").await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8], max: usize) -> Vec<String> {
        let mut r = LineReader::new(tokio::io::BufReader::with_capacity(7, input), max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().await.unwrap() {
            out.push(match l {
                Line::Message(m) => String::from_utf8(m).unwrap(),
                Line::TooLong { len, .. } => format!("<too long: {len}>"),
            });
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_skips_blanks_strips_cr_keeps_last_unterminated() {
        let got = lines_of(b"{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\":3}", 100).await;
        assert_eq!(got, ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
    }

    #[tokio::test]
    async fn over_long_line_is_reported_and_reading_continues() {
        let long = "x".repeat(50);
        let input = format!("{long}\n{{\"ok\":1}}\n");
        let got = lines_of(input.as_bytes(), 20).await;
        assert_eq!(got, ["<too long: 50>", "{\"ok\":1}"]);
    }

    #[test]
    fn the_fast_path_per_os_and_descriptor() {
        use Fast::*;
        let table = [
            (StdioOs::Linux, Kind::Pipe, Some(Reopen)),
            (StdioOs::Linux, Kind::Socket, Some(DupNonblocking)),
            (StdioOs::Linux, Kind::Other, None),
            // macOS: a socket (what Claude Desktop and every Node host hands over) is
            // fast; a pipe cannot be reopened privately, so it keeps the fallback.
            (StdioOs::OtherUnix, Kind::Socket, Some(DupNonblocking)),
            (StdioOs::OtherUnix, Kind::Pipe, None),
            (StdioOs::OtherUnix, Kind::Other, None),
            (StdioOs::Windows, Kind::Pipe, None),
            (StdioOs::Windows, Kind::Socket, None),
            (StdioOs::Windows, Kind::Other, None),
        ];
        for (os, kind, want) in table {
            assert_eq!(fast_path(os, kind), want, "{os:?} {kind:?}");
        }
    }

    /// Issue 19 item 4, the mechanism: a progress notification queued while its request
    /// was pending, whose answer was routed and queued after it, is withheld by the writer,
    /// because the check is made when its turn to be written comes. (The old writer had no
    /// such check: the progress, decided "not stale" before the answer was routed, was
    /// written after the answer whenever its send yielded in between.)
    #[tokio::test]
    async fn a_withheld_message_is_decided_when_its_turn_comes() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let w = StdoutWriter::spawn(client);
        let answered = Arc::new(AtomicBool::new(false));
        let a = answered.clone();
        w.send_unless(
            Bytes::from_static(b"{\"progress\":1}"),
            Box::new(move || a.load(Ordering::SeqCst)),
        )
        .await;
        let b = answered.clone();
        w.send_unless(
            Bytes::from_static(b"{\"progress\":0}"),
            Box::new(move || !b.load(Ordering::SeqCst)),
        )
        .await;
        // The answer is routed (the request leaves its table) only now, then queued.
        answered.store(true, Ordering::SeqCst);
        w.send(Bytes::from_static(b"{\"answer\":1}")).await;
        w.flush(Duration::from_secs(5)).await;
        drop(w);
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut server, &mut got)
            .await
            .unwrap();
        assert_eq!(got, b"{\"progress\":0}\n{\"answer\":1}\n");
    }

    #[tokio::test]
    async fn writer_writes_one_compact_line_per_message() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let w = StdoutWriter::spawn(client);
        w.send(Bytes::from_static(b"{\n \"a\": 1\n}")).await;
        w.send(Bytes::from_static(b"{\"b\": 2}")).await;
        w.flush(Duration::from_secs(5)).await;
        drop(w);
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut server, &mut got)
            .await
            .unwrap();
        assert_eq!(got, b"{\"a\":1}\n{\"b\": 2}\n");
    }
}
