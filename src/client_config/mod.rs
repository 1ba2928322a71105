//! `wazion-mcp config <client>`: the server entry for each MCP client, printed as the client
//! documents it or merged into the client's config file (`--write`).
//!
//! Invariants:
//! - the flags are checked as the bridge checks them at start (`config::from_cli`, the proxy,
//!   the CA file, the log level), so an entry that could not start is never written; relative
//!   paths become absolute;
//! - the token is never written, only [`TOKEN_PLACEHOLDER`] (VS Code: a password prompt), and
//!   `--force` keeps every value the user already put in the entry (`env`, `--header`s, keys
//!   this tool does not set);
//! - a write never widens access: the file keeps its mode and owner (new files: 0600), a
//!   symlinked file is written through the link only when its target is in the link's folder
//!   or below (or with `--follow-links`), the previous version is saved next to the file
//!   written (mode 0600, timestamped, never overwritten), and the new text replaces the old
//!   by a rename in the target's directory;
//! - a file of an unexpected shape (`"mcpServers": [...]`, not JSON, …) is refused and left
//!   as it was. JSON files are edited through a CST (`jsonc-parser`), so comments, trailing
//!   commas and layout are kept; Codex's TOML through `toml_edit`, likewise.
//!
//! Config paths are computed by a pure function of (client, OS, home and the clients'
//! variables) rather than the `dirs` crate, because `dirs` only answers for the OS it runs on
//! and the tests must prove the paths of all three.
//!
//! Layout: `entry` checks the flags and builds the entry; `paths` says where each client
//! keeps its file; `json` is the entry in each JSON client's shape and `snippet` what is
//! printed; `writer` writes a file safely, after `jsonc` (JSON with comments) or `codex`
//! (TOML) merged the entry into it under the rules of `merge`.

mod codex;
mod entry;
mod json;
mod jsonc;
mod merge;
mod paths;
mod snippet;
mod writer;

use std::path::PathBuf;

use crate::cli::{BridgeArgs, ClientKind};
use crate::report::{Out, warn};

pub use entry::{Entry, checked_args, entry_args};
use entry::{absolute, check_name};
pub use json::json_entry;
pub use paths::{Dirs, Os, default_path};
pub use snippet::snippet;
use snippet::{expansion_note, next_steps};
pub use writer::{Outcome, write};

/// What the user asked `config` to do.
pub struct Request {
    pub client: ClientKind,
    pub write: bool,
    pub force: bool,
    pub name: String,
    pub file: Option<PathBuf>,
    /// `--follow-links`: write through a link whose target is outside the link's folder.
    pub follow_links: bool,
    pub args: BridgeArgs,
}

/// Put where a secret goes (the token, a `--header` variable); the user pastes the real one.
pub const TOKEN_PLACEHOLDER: &str = "<paste your token here>";

/// The text VS Code shows when it asks for the token.
pub fn token_prompt(name: &str, token_env: &str) -> String {
    format!("Token for the {name} MCP server ({token_env})")
}

/// Runs the subcommand; returns the exit code: 0 done, 1 the file could not be written
/// (nothing changed), 2 flags the bridge would refuse. The entry goes to stdout (this is not
/// the bridge, so stdout is free), notes and errors to stderr.
pub fn run(req: Request) -> i32 {
    let mut out = Out::new();
    let command = match std::env::current_exe().and_then(|p| p.canonicalize()) {
        Ok(p) => p.display().to_string(),
        Err(e) => {
            warn(&format!("wazion-mcp: cannot find this binary's path ({e})"));
            return 1;
        }
    };
    let (bridge, notes) = match checked_args(&req.args) {
        Ok(x) => x,
        Err(e) => {
            warn(&format!("wazion-mcp: {e}; nothing was written"));
            return 2;
        }
    };
    if let Err(e) = check_name(&req.name) {
        warn(&format!("wazion-mcp: {e}"));
        return 2;
    }
    for n in notes {
        warn(&format!("wazion-mcp: note: {n}"));
    }
    let entry = Entry {
        name: req.name.clone(),
        command,
        bridge,
    };
    if let Some(n) = expansion_note(req.client, &entry) {
        warn(&format!("wazion-mcp: note: {n}"));
    }
    if !req.write {
        out.write(&snippet(req.client, &entry));
        return 0;
    }
    let path = match req
        .file
        .clone()
        .map(absolute)
        .or_else(|| default_path(req.client, Os::current(), &Dirs::from_env()))
    {
        Some(p) => p,
        None => {
            warn("wazion-mcp: cannot tell where this client keeps its config; pass --file PATH");
            return 1;
        }
    };
    match write(req.client, &entry, &path, req.force, req.follow_links) {
        Ok(outcome) => {
            out.line(&outcome.to_string());
            out.write(&next_steps(req.client, &entry, &outcome));
            0
        }
        Err(e) => {
            warn(&format!("wazion-mcp: {e}"));
            1
        }
    }
}

/// The human name of a client, for messages.
pub fn client_name(client: ClientKind) -> &'static str {
    match client {
        ClientKind::ClaudeDesktop => "Claude Desktop",
        ClientKind::Vscode => "VS Code",
        ClientKind::Cursor => "Cursor",
        ClientKind::Codex => "Codex",
        ClientKind::ClaudeCode => "Claude Code",
        ClientKind::Gemini => "Gemini CLI",
    }
}

#[cfg(test)]
mod tests {
    use super::json::{json_document, pretty};
    use super::merge::Previous;
    use super::*;
    use clap::Parser;
    use std::path::Path;

    fn bridge(args: &[&str]) -> BridgeArgs {
        crate::cli::Cli::parse_from(std::iter::once("wazion-mcp").chain(args.iter().copied()))
            .bridge
    }

    fn entry() -> Entry {
        Entry {
            name: "wazion".into(),
            command: "/opt/bin/wazion-mcp".into(),
            bridge: bridge(&["--header", "X-API-Key: ${VPS_KEY}"]),
        }
    }

    #[test]
    fn an_oauth_entry_has_no_token_placeholder() {
        let oauth = Entry {
            bridge: bridge(&["https://mcp.example.com/mcp", "--auth", "oauth"]),
            ..entry()
        };
        assert!(oauth.secret_vars().is_empty(), "{:?}", oauth.secret_vars());
        assert!(oauth.args().windows(2).any(|w| w == ["--auth", "oauth"]));
        assert_eq!(entry().secret_vars(), ["WAZION_TOKEN", "VPS_KEY"]);
        // No token variable first: the notes about `${VAR}` in args still hold (no panic).
        for client in [
            ClientKind::Cursor,
            ClientKind::Gemini,
            ClientKind::ClaudeCode,
        ] {
            assert_eq!(expansion_note(client, &oauth), None);
        }
        let with_header = Entry {
            bridge: bridge(&["--auth", "oauth", "--header", "X-K: ${K}"]),
            ..entry()
        };
        assert_eq!(with_header.secret_vars(), ["K"]);
        assert!(
            expansion_note(ClientKind::Gemini, &with_header).is_some_and(|n| n.contains("${K}"))
        );
    }

    fn dirs(root: &Path) -> Dirs {
        Dirs {
            home: Some(root.join("home")),
            appdata: Some(root.join("appdata")),
            ..Dirs::default()
        }
    }

    #[test]
    fn every_client_has_a_path_on_every_os() {
        let r = Path::new("/r");
        let d = dirs(r);
        let p = |c, os| default_path(c, os, &d).unwrap();
        use ClientKind::*;
        assert_eq!(
            p(ClaudeDesktop, Os::MacOs),
            r.join("home/Library/Application Support/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            p(ClaudeDesktop, Os::Windows),
            r.join("appdata/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            p(ClaudeDesktop, Os::Linux),
            r.join("home/.config/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            p(Vscode, Os::MacOs),
            r.join("home/Library/Application Support/Code/User/mcp.json")
        );
        assert_eq!(p(Vscode, Os::Windows), r.join("appdata/Code/User/mcp.json"));
        assert_eq!(
            p(Vscode, Os::Linux),
            r.join("home/.config/Code/User/mcp.json")
        );
        for os in [Os::MacOs, Os::Windows, Os::Linux] {
            assert_eq!(p(Cursor, os), r.join("home/.cursor/mcp.json"));
            assert_eq!(p(Codex, os), r.join("home/.codex/config.toml"));
            assert_eq!(p(ClaudeCode, os), r.join("home/.claude.json"));
            assert_eq!(p(Gemini, os), r.join("home/.gemini/settings.json"));
        }
        let vars = Dirs {
            xdg_config: Some(r.join("xdg")),
            codex_home: Some(r.join("cx")),
            claude_config_dir: Some(r.join("cc")),
            gemini_cli_home: Some(r.join("gh")),
            ..d.clone()
        };
        let q = |c| default_path(c, Os::Linux, &vars).unwrap();
        assert_eq!(q(Vscode), r.join("xdg/Code/User/mcp.json"));
        assert_eq!(q(Codex), r.join("cx/config.toml"));
        assert_eq!(q(ClaudeCode), r.join("cc/.claude.json"));
        assert_eq!(q(Gemini), r.join("gh/.gemini/settings.json"));
        let no_appdata = Dirs { appdata: None, ..d };
        assert_eq!(
            default_path(ClaudeDesktop, Os::Windows, &no_appdata).unwrap(),
            r.join("home/AppData/Roaming/Claude/claude_desktop_config.json")
        );
    }

    #[test]
    fn header_variables_get_their_own_env_entry_and_vscode_prompt() {
        let e = entry();
        assert_eq!(e.secret_vars(), ["WAZION_TOKEN", "VPS_KEY"]);
        let v = json_document(ClientKind::Vscode, &e);
        assert_eq!(
            v["servers"]["wazion"]["env"]["VPS_KEY"],
            "${input:wazion-vps_key}"
        );
        assert_eq!(v["inputs"][1]["id"], "wazion-vps_key");
        assert_eq!(v["inputs"][1]["password"], true);
        let c = json_entry(ClientKind::Cursor, &e);
        assert_eq!(c["env"]["VPS_KEY"], TOKEN_PLACEHOLDER);
    }

    #[test]
    fn entry_args_carry_only_non_default_flags() {
        assert!(entry_args(&bridge(&[])).is_empty());
        assert_eq!(
            entry_args(&bridge(&[
                "https://wa.example/mcp",
                "--token-env",
                "VPS",
                "--deny-tool",
                "delete_*"
            ])),
            [
                "--token-env",
                "VPS",
                "--deny-tool",
                "delete_*",
                "https://wa.example/mcp"
            ]
        );
    }

    /// The files in `examples/` (linked from the README) are what `config` prints for the
    /// default flags, so they cannot drift from it.
    #[test]
    fn examples_are_what_config_prints() {
        let e = Entry {
            name: "wazion".into(),
            command: "/home/you/.local/bin/wazion-mcp".into(),
            bridge: bridge(&[]),
        };
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let read = |f: &str| std::fs::read_to_string(examples.join(f)).unwrap();
        use ClientKind::*;
        for (client, file) in [
            (ClaudeDesktop, "claude_desktop_config.json"),
            (Vscode, "vscode-mcp.json"),
            (Cursor, "cursor-mcp.json"),
            (Codex, "codex-config.toml"),
            (Gemini, "gemini-settings.json"),
        ] {
            assert_eq!(read(file), snippet(client, &e), "examples/{file}");
        }
        assert_eq!(
            read("claude-code-mcp.json"),
            pretty(&json_document(ClaudeCode, &e)),
            "the project-scope .mcp.json"
        );
    }

    #[test]
    fn previous_headers_are_kept_unless_named_again() {
        let new = Entry {
            bridge: bridge(&["--header", "X-A: ${NEW}"]),
            ..entry()
        };
        let old_args: Vec<String> = ["--header", "x-a: old", "-H", "X-B: ${B}", "--header=X-C: c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = Previous::read(Some("/x/wazion-mcp"), &old_args, &[], &new);
        assert_eq!(p.headers, ["X-B: ${B}", "X-C: c"]);
        let other = Previous::read(Some("/usr/bin/npx"), &old_args, &[], &new);
        assert!(
            other.headers.is_empty(),
            "another program's args are not ours"
        );
    }
}
