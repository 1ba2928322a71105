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

enum Out {
    Message(Bytes),
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

    /// Waits (at most `limit`) until everything queued so far reached stdout.
    pub async fn flush(&self, limit: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Out::Flush(tx)).await.is_ok() {
            let _ = tokio::time::timeout(limit, rx).await;
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(out: W, mut rx: mpsc::Receiver<Out>) {
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    while let Some(item) = rx.recv().await {
        let result = match item {
            Out::Message(m) => write_message(&mut out, &m).await,
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
