//! The verdicts as they come: each step printed the moment it finishes (text), or all of
//! them kept for one JSON report at the end (`--json`).
//!
//! Owns [`Step`] and [`Reporter`]. Invariants: a failed step always carries a fix ([`fail`]
//! takes one); a line saying what a step waits for is replaced by its verdict on a terminal
//! (one screen line, so `\r` and erase-line take all of it) and left as its own line
//! elsewhere; JSON mode prints nothing but the one report; the URL shown has no user name or
//! password; every detail and fix (which quote servers: error messages, server names,
//! issuers, scopes) passes [`terminal_safe`] first, so no secret and no control character
//! reaches the terminal or the JSON report (issue 16 item 4).

use std::time::Instant;

use serde::Serialize;

use super::network::without_credentials;
use crate::report::{Out, terminal_safe};

/// One step's verdict.
#[derive(Debug, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    ok: bool,
    url: &'a str,
    steps: &'a [Step],
}

/// Where the verdicts go as they come: printed at once (text), or kept for one JSON report.
pub struct Reporter {
    out: Out,
    json: bool,
    url: String,
    steps: Vec<Step>,
    /// A waiting line is on the terminal, without its line break, to be replaced.
    waiting: bool,
    terminal: bool,
    /// Cut out of everything shown: the configured secrets, and the OAuth tokens.
    secrets: Vec<String>,
    auth: Option<std::sync::Arc<crate::oauth::Authorizer>>,
}

impl Reporter {
    /// Starts a report about `url` (shown without user name or password).
    pub fn new(url: &str, json: bool) -> Self {
        let out = Out::new();
        let terminal = !json && out.is_terminal();
        let mut r = Reporter {
            out,
            json,
            url: without_credentials(url),
            steps: Vec::new(),
            waiting: false,
            terminal,
            secrets: Vec::new(),
            auth: None,
        };
        if !json {
            let line = format!("wazion-mcp check: {}", r.url);
            r.out.line(&line);
        }
        r
    }

    /// What to cut out of every line from now on: `secrets`, and the current and recent
    /// access tokens of `auth`.
    pub fn hide(
        &mut self,
        secrets: &[String],
        auth: Option<std::sync::Arc<crate::oauth::Authorizer>>,
    ) {
        self.secrets = secrets.to_vec();
        self.auth = auth;
    }

    /// `text` with the secrets cut out and control characters escaped.
    fn safe(&self, text: &str) -> String {
        match &self.auth {
            None => terminal_safe(text, &self.secrets),
            Some(a) => {
                let mut all = self.secrets.clone();
                all.extend(a.token_texts());
                terminal_safe(text, &all)
            }
        }
    }

    /// Says what a step is waiting for, before it waits.
    pub fn waiting(&mut self, step: &str, what: &str) {
        if self.json {
            return;
        }
        self.clear_waiting();
        let line = format!("  {:<4}  {:<12}  {}", "...", step, self.safe(what));
        if self.terminal {
            // One screen line at most, so `\r` and erase-line take all of it away.
            let short: String = line.chars().take(79).collect();
            self.out.write(&short);
            self.waiting = true;
        } else {
            self.out.line(&line);
        }
    }

    fn clear_waiting(&mut self) {
        if self.waiting {
            // Back to the line's start and erase it: the verdict takes its place.
            self.out.write("\r\x1b[2K");
            self.waiting = false;
        }
    }

    /// Records a verdict and prints it (text mode); returns whether the step passed.
    pub fn done(&mut self, mut s: Step) -> bool {
        let ok = s.ok;
        s.detail = self.safe(&s.detail);
        s.fix = s.fix.map(|fix| {
            // Line by line, as printed (each line indented under its step): every line made
            // safe, so none can reach column 0 or hold an escape sequence.
            fix.lines()
                .map(|l| self.safe(l))
                .collect::<Vec<_>>()
                .join("\n")
        });
        if !self.json {
            self.clear_waiting();
            let time = s.ms.map(|m| format!(" ({m} ms)")).unwrap_or_default();
            let line = format!(
                "  {:<4}  {:<12}  {}{time}",
                if s.ok { "ok" } else { "FAIL" },
                s.step,
                s.detail
            );
            self.out.line(&line);
            if let Some(fix) = &s.fix {
                for (i, l) in fix.lines().enumerate() {
                    let label = if i == 0 { "fix:" } else { "" };
                    let line = format!("  {:<4}  {:<12}  {l}", "", label);
                    self.out.line(&line);
                }
            }
        }
        self.steps.push(s);
        ok
    }

    /// Whether every step so far passed.
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| s.ok)
    }

    /// Prints the verdict (or the JSON report) and returns the steps.
    pub fn finish(mut self) -> Vec<Step> {
        let ok = self.ok();
        if self.json {
            let report = Report {
                ok,
                url: &self.url,
                steps: &self.steps,
            };
            let text = serde_json::to_string_pretty(&report)
                .unwrap_or_else(|_| r#"{"ok":false,"steps":[]}"#.to_string());
            self.out.line(&text);
        } else {
            self.clear_waiting();
            self.out.line(if ok {
                "All checks passed: the bridge will work with these settings."
            } else {
                "A check failed: see the fix above."
            });
        }
        self.steps
    }
}

pub(super) fn pass(step: &'static str, detail: String, started: Instant) -> Step {
    Step {
        step,
        ok: true,
        detail,
        fix: None,
        ms: Some(started.elapsed().as_millis() as u64),
    }
}

/// A failed step: it always says how to fix it.
pub(super) fn fail(
    step: &'static str,
    detail: String,
    fix: String,
    started: Option<Instant>,
) -> Step {
    Step {
        step,
        ok: false,
        detail,
        fix: Some(fix),
        ms: started.map(|s| s.elapsed().as_millis() as u64),
    }
}
