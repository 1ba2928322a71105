//! What `config` prints for the user: the entry to paste where the client documents it
//! (JSON, Codex's TOML, Claude Code's two `claude mcp` commands), the note for clients that
//! expand `${VAR}` in `args` themselves, and the next steps after a `--write`.
//!
//! Invariants: a snippet holds no secret, only [`TOKEN_PLACEHOLDER`] (or VS Code's prompt);
//! what is printed for the default flags is what `examples/` holds (a test compares them);
//! shell commands are quoted for the user's shell ([`Shell`]: POSIX sh on macOS and Linux,
//! PowerShell on Windows); a suggested `config … --write` repeats the flags the user gave.

use std::path::Path;

use clap::ValueEnum;

use super::codex::merge_codex_doc;
use super::json::{json_document, json_entry, pretty};
use super::shell::Shell;
use super::writer::Outcome;
use super::{Entry, TOKEN_PLACEHOLDER, client_name};
use crate::cli::ClientKind;

/// What the user asked `config` for, to suggest the same command with `--write`.
#[derive(Debug, Clone, Copy)]
pub struct Again<'a> {
    pub client: ClientKind,
    pub name: &'a str,
    pub file: Option<&'a Path>,
}

impl Again<'_> {
    /// `<command> config <client> [--name N] [--file F] <the entry's flags> --write`: the
    /// same entry, written (the flags are the checked ones, paths already absolute).
    pub fn write_line(&self, entry: &Entry, shell: Shell) -> String {
        let client = self
            .client
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        let mut args = vec!["config".to_string(), client];
        if self.name != "wazion" {
            args.extend(["--name".to_string(), self.name.to_string()]);
        }
        if let Some(f) = self.file {
            args.extend(["--file".to_string(), f.display().to_string()]);
        }
        args.extend(entry.args());
        args.push("--write".into());
        shell.command(&entry.command, &args)
    }
}

/// What `config <client>` prints: what the user pastes where that client documents it.
pub fn snippet(client: ClientKind, entry: &Entry, shell: Shell, again: &Again<'_>) -> String {
    match client {
        ClientKind::Codex => {
            let mut doc = toml_edit::DocumentMut::new();
            let _ = merge_codex_doc(&mut doc, entry, true);
            let file = match shell {
                Shell::Posix => "~/.codex/config.toml",
                Shell::PowerShell => "%USERPROFILE%\\.codex\\config.toml",
            };
            format!(
                "# Add to {file} (or run: {}):\n{doc}",
                again.write_line(entry, shell)
            )
        }
        ClientKind::ClaudeCode => claude_code_commands(entry, shell, again),
        _ => pretty(&json_document(client, entry)),
    }
}

/// The two `claude mcp` lines for Claude Code (its CLI rejects the `.mcp.json` file shape:
/// `add-json` takes the server object itself), in the user's shell.
fn claude_code_commands(entry: &Entry, shell: Shell, again: &Again<'_>) -> String {
    let scope = ["--scope".to_string(), "user".to_string()];
    let mut add = vec!["mcp".to_string(), "add".to_string(), entry.name.clone()];
    add.extend(scope.iter().cloned());
    for var in entry.secret_vars() {
        add.push("--env".into());
        add.push(format!("{var}={TOKEN_PLACEHOLDER}"));
    }
    add.push("--".into());
    add.push(entry.command.clone());
    add.extend(entry.args());
    let object =
        serde_json::to_string(&json_entry(ClientKind::ClaudeCode, entry)).unwrap_or_default();
    let mut add_json = vec![
        "mcp".to_string(),
        "add-json".to_string(),
        entry.name.clone(),
    ];
    add_json.extend(scope.iter().cloned());
    let history = match shell {
        Shell::Posix => "(start the line with a space to keep it out of your shell\n# history)",
        Shell::PowerShell => {
            "(PowerShell 7 leaves lines that name a token out of its history\n# file; Windows \
             PowerShell 5.1 keeps them: clear it after, or use --write)"
        }
    };
    let json_note = match shell {
        Shell::Posix => "",
        Shell::PowerShell => {
            "# (The add-json line sets legacy argument passing for itself so the JSON keeps its\n\
             # quotes in Windows PowerShell 5.1 and PowerShell 7 alike.)\n"
        }
    };
    format!(
        "# Claude Code: run one of these two commands, with your token in place of\n\
         # {TOKEN_PLACEHOLDER} {history}.\n\
         # `--scope user` makes the server available in all your projects; leave it out for\n\
         # the current project only.\n\
         {add}\n\
         \n\
         {json_note}{add_json}\n\
         \n\
         # Or let wazion-mcp add it to ~/.claude.json:\n\
         {again}\n",
        add = shell.command("claude", &add),
        add_json = shell.native_json_command("claude", &add_json, &object),
        again = again.write_line(entry, shell),
    )
}

/// A warning for clients that expand `${VAR}` in `args` themselves, from their own
/// environment (seen with Claude Code 2.1 and Gemini CLI 0.61): set there, the value would
/// land on the bridge's command line.
pub(super) fn expansion_note(client: ClientKind, entry: &Entry) -> Option<String> {
    let mut vars = entry.header_vars();
    vars.retain(|v| *v != entry.bridge.token_env);
    if vars.is_empty() || !matches!(client, ClientKind::ClaudeCode | ClientKind::Gemini) {
        return None;
    }
    let written: Vec<String> = vars.iter().map(|v| format!("${{{v}}}")).collect();
    Some(format!(
        "{} replaces {} in args with the value from its own environment when that is set, \
         which would put it on the bridge's command line. Keep {} out of the environment you \
         start it from: the entry's env hands it to the bridge{}",
        client_name(client),
        written.join(", "),
        vars.join(", "),
        if client == ClientKind::ClaudeCode {
            " (Claude Code then lists a harmless \"Missing environment variables\" warning)."
        } else {
            "."
        }
    ))
}

/// The lines after a successful `--write` of one file or more, in the user's shell.
pub(super) fn next_steps(
    client: ClientKind,
    entry: &Entry,
    outcomes: &[Outcome],
    shell: Shell,
) -> String {
    let mut s = String::new();
    let missing: Vec<String> = entry
        .secret_vars()
        .into_iter()
        .filter(|v| !outcomes.iter().all(|o| o.kept_secrets.contains(v)))
        .collect();
    let paths: Vec<String> = outcomes
        .iter()
        .map(|o| o.path.display().to_string())
        .collect();
    if client == ClientKind::Vscode {
        if !missing.is_empty() {
            s.push_str(
                "VS Code asks for the token (a password prompt) when it starts the server.\n",
            );
        }
    } else if !missing.is_empty() {
        s.push_str(&format!(
            "Next: open {} and put your token in place of \"{TOKEN_PLACEHOLDER}\" (for {}).\n",
            paths.join(" and "),
            missing.join(", ")
        ));
    }
    if client == ClientKind::ClaudeCode {
        s.push_str(
            "Claude Code rewrites this file while it runs: quit it before editing, then start it \
             again.\n",
        );
    } else {
        s.push_str(&format!("Then restart {}.\n", client_name(client)));
    }
    let mut args = vec!["check".to_string()];
    args.extend(entry.args());
    let check = shell.command(&entry.command, &args);
    let line = if entry.secret_vars().contains(&entry.bridge.token_env) {
        shell.with_env(&shell.set_env(&entry.bridge.token_env, "…"), &check)
    } else {
        check
    };
    s.push_str(&format!(
        "To test the connection from {} first: {line}\n",
        match shell {
            Shell::Posix => "a shell",
            Shell::PowerShell => "PowerShell",
        }
    ));
    s
}
