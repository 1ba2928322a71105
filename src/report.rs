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

/// `text` fit for a terminal, for every string that came from a server (error messages,
/// server names, `issuer`, `scope`, `error_description`…): each of `secrets` cut out, and
/// every control character (C0, DEL, C1: ESC, BEL, CR, line breaks…) and bidirectional
/// override written as a visible escape (`\x1b`, `\u{9b}`), so a server can neither set the
/// terminal's title, clear the screen, overwrite a line, nor print a line of its own (a
/// fake "All checks passed"). Text without any comes back as it was.
///
/// Hand-written: the rule is one `match` over characters, and it must cover what a crate
/// for ANSI stripping leaves (CR, line breaks, C1, bidi overrides).
pub fn terminal_safe(text: &str, secrets: &[String]) -> String {
    let mut text = std::borrow::Cow::Borrowed(text);
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if text.contains(s.as_str()) {
            text = std::borrow::Cow::Owned(text.replace(s.as_str(), "[redacted]"));
        }
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{0}'..='\u{1f}' | '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn control_characters_and_secrets_are_made_harmless() {
        let hostile = "ok\x1b]0;pwned\x07\x1b[2J\r\nAll checks passed\u{9b}31m\u{202e}tok-1 \u{7f}";
        let safe = terminal_safe(hostile, &["tok-1".to_string()]);
        assert_eq!(
            safe,
            "ok\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x0aAll checks passed\\u{9b}31m\\u{202e}[redacted] \\x7f"
        );
        assert!(!safe.chars().any(char::is_control));
        assert_eq!(terminal_safe("server é 1.0 ✓", &[]), "server é 1.0 ✓");
    }
}
