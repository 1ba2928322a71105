//! What every merge (JSONC or TOML) returns, and what `--force` takes over from the entry it
//! replaces.
//!
//! Invariants: `--force` keeps every `env` value the user put in (anything but a placeholder
//! this tool writes) and, from a previous wazion-mcp entry, each `--header` whose header the
//! new flags do not set; another program's `args` are never read as ours; what was kept is
//! reported by name, never by value.

use std::path::Path;

use super::{Entry, TOKEN_PLACEHOLDER};

/// A merge's result.
pub(super) struct Merged {
    pub(super) text: String,
    pub(super) replaced: bool,
    pub(super) kept: Vec<String>,
    pub(super) kept_secrets: Vec<String>,
}

/// What `--force` takes over from the entry it replaces.
#[derive(Default)]
pub(super) struct Previous {
    /// `env` values that are not placeholders, by variable.
    env: Vec<(String, String)>,
    /// `--header` values of a previous wazion-mcp entry whose header the new flags do not set.
    pub(super) headers: Vec<String>,
}

impl Previous {
    /// Reads the old entry's `command`, `args` and `env` (as JSON values).
    pub(super) fn read(
        command: Option<&str>,
        args: &[String],
        env: &[(String, String)],
        new: &Entry,
    ) -> Self {
        let ours = command
            .and_then(|c| Path::new(c).file_name())
            .is_some_and(|n| n.to_string_lossy().starts_with("wazion-mcp"));
        let new_names: Vec<String> = new.bridge.headers.iter().map(|h| header_name(h)).collect();
        let mut headers = Vec::new();
        if ours {
            let mut it = args.iter();
            while let Some(a) = it.next() {
                let value = if a == "--header" || a == "-H" {
                    it.next().cloned()
                } else if let Some(v) = a.strip_prefix("--header=") {
                    Some(v.to_string())
                } else {
                    a.strip_prefix("-H")
                        .filter(|v| !v.is_empty())
                        .map(str::to_string)
                };
                if let Some(v) = value
                    && !new_names.contains(&header_name(&v))
                    && !headers.contains(&v)
                {
                    headers.push(v);
                }
            }
        }
        let env = env
            .iter()
            .filter(|(_, v)| !is_placeholder(v))
            .cloned()
            .collect();
        Previous { env, headers }
    }

    /// The entry with the kept `--header`s added.
    pub(super) fn apply(&self, entry: &Entry) -> Entry {
        let mut e = entry.clone();
        e.bridge.headers.extend(self.headers.iter().cloned());
        e
    }

    pub(super) fn report(&self) -> (Vec<String>, Vec<String>) {
        let mut kept: Vec<String> = self
            .env
            .iter()
            .map(|(k, _)| format!("the value of {k}"))
            .collect();
        kept.extend(
            self.headers
                .iter()
                .map(|h| format!("--header {}", header_name(h))),
        );
        (kept, self.env.iter().map(|(k, _)| k.clone()).collect())
    }
}

fn header_name(h: &str) -> String {
    h.split_once(':')
        .map_or(h, |(n, _)| n)
        .trim()
        .to_ascii_lowercase()
}

/// A value this tool writes where a secret goes (not something the user pasted).
fn is_placeholder(v: &str) -> bool {
    v == TOKEN_PLACEHOLDER || (v.starts_with("${input:") && v.ends_with('}'))
}
