//! The terminal of the two helper subcommands, `check` and `config`, which run instead of the
//! bridge (never beside it): their reports go to stdout, their warnings and errors to stderr.
//!
//! `print!`/`println!` panic when the other end of the pipe is gone
//! (`wazion-mcp config cursor | head -c1` ended with exit 101 and a panic message). Here a
//! closed stdout is noted and every later write is skipped, so the command finishes its work
//! (`check` still closes the session it opened) and exits quietly; stderr errors are ignored.

use std::io::{IsTerminal, Write};

/// stdout for a report.
#[derive(Debug, Default)]
pub struct Out {
    closed: bool,
}

impl Out {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `text` as is and flushes, so a line shows as soon as it is known.
    pub fn write(&mut self, text: &str) {
        if self.closed {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        if stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .is_err()
        {
            // BrokenPipe above all; any other failure leaves nothing better to do either.
            self.closed = true;
        }
    }

    /// Writes `line` and a line break.
    pub fn line(&mut self, line: &str) {
        self.write(&format!("{line}\n"));
    }

    /// True once a write failed (the reader went away).
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Whether stdout is a terminal (where a waiting line can be replaced in place).
    pub fn is_terminal(&self) -> bool {
        std::io::stdout().is_terminal()
    }
}

/// Writes `line` to stderr, ignoring failures (`eprintln!` would panic on a closed stderr).
pub fn warn(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
