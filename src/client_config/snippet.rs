//! What `config` prints for the user: the entry to paste where the client documents it
//! (JSON, Codex's TOML, Claude Code's two `claude mcp` commands), the note for clients that
//! expand `${VAR}` in `args` themselves, and the next steps after a `--write`.
//!
//! Invariants: a snippet holds no secret, only [`TOKEN_PLACEHOLDER`] (or VS Code's prompt);
//! what is printed for the default flags is what `examples/` holds (a test compares them);
//! shell commands are quoted with `shlex`.

use super::codex::merge_codex_doc;
use super::json::{json_document, json_entry, pretty};
use super::writer::Outcome;
use super::{Entry, TOKEN_PLACEHOLDER, client_name};
use crate::cli::ClientKind;

/// What `config <client>` prints: what the user pastes where that client documents it.
pub fn snippet(client: ClientKind, entry: &Entry) -> String {
    match client {
        ClientKind::Codex => {
            let mut doc = toml_edit::DocumentMut::new();
            let _ = merge_codex_doc(&mut doc, entry, true);
            format!(
                "# Add to {} (or run `wazion-mcp config codex --write`):\n{doc}",
                "~/.codex/config.toml"
            )
        }
        ClientKind::ClaudeCode => claude_code_commands(entry),
        _ => pretty(&json_document(client, entry)),
    }
}

/// The two `claude mcp` lines for Claude Code (its CLI rejects the `.mcp.json` file shape:
/// `add-json` takes the server object itself).
fn claude_code_commands(entry: &Entry) -> String {
    let q = |s: &str| {
        shlex::try_quote(s)
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| s.to_string())
    };
    let mut add = vec![
        "claude mcp add".to_string(),
        q(&entry.name),
        "--scope user".to_string(),
    ];
    for var in entry.secret_vars() {
        add.push("--env".into());
        add.push(q(&format!("{var}={TOKEN_PLACEHOLDER}")));
    }
    add.push("--".into());
    add.push(q(&entry.command));
    add.extend(entry.args().iter().map(|a| q(a)));
    let object =
        serde_json::to_string(&json_entry(ClientKind::ClaudeCode, entry)).unwrap_or_default();
    format!(
        "# Claude Code: run one of these two commands, with your token in place of\n\
         # {TOKEN_PLACEHOLDER} (start the line with a space to keep it out of your shell\n\
         # history). `--scope user` makes the server available in all your projects; leave it\n\
         # out for the current project only.\n\
         {add}\n\
         \n\
         claude mcp add-json {name} --scope user {object}\n\
         \n\
         # Or let wazion-mcp add it to ~/.claude.json: wazion-mcp config claude-code --write\n",
        add = add.join(" "),
        name = q(&entry.name),
        object = q(&object),
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

/// The lines after a successful `--write`.
pub(super) fn next_steps(client: ClientKind, entry: &Entry, outcome: &Outcome) -> String {
    let mut s = String::new();
    let missing: Vec<String> = entry
        .secret_vars()
        .into_iter()
        .filter(|v| !outcome.kept_secrets.contains(v))
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
            outcome.path.display(),
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
    let mut check = vec![
        format!("{}=…", entry.bridge.token_env),
        "wazion-mcp check".into(),
    ];
    check.extend(entry.args().iter().map(|a| {
        shlex::try_quote(a)
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| a.clone())
    }));
    s.push_str(&format!(
        "To test the connection from a shell first: {}\n",
        check.join(" ")
    ));
    s
}
