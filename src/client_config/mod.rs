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
//! - a write never widens access: the file keeps its mode and owner (new files: 0600 on Unix), a
//!   symlinked file is written through the link, the previous version is saved next to the
//!   path given (mode 0600, timestamped, never overwritten), and the new text replaces the old
//!   by a rename in the target's directory;
//! - a file of an unexpected shape (`"mcpServers": [...]`, not JSON, …) is refused and left
//!   as it was. JSON files are edited through a CST (`jsonc-parser`), so comments, trailing
//!   commas and layout are kept; Codex's TOML through `toml_edit`, likewise.
//!
//! Config paths, the entry's `command` and the printed shell lines are pure functions of (OS,
//! environment, what exists on disk through a `Probe`) rather than the `dirs` crate or
//! `cfg!`, which only answer for the OS they run on, while the tests must prove all three;
//! [`run`] is the one place that asks the machine.
//!
//! Layout: `entry` checks the flags and builds the entry; `paths` says where each client
//! keeps its file (and which Claude Desktop install on Windows reads which); `command` picks
//! the `command` path; `shell` quotes printed lines for POSIX sh or PowerShell; `json` is the
//! entry in each JSON client's shape and `snippet` what is printed; `writer` writes a file safely, after `jsonc` (JSON with comments) or `codex`
//! (TOML) merged the entry into it under the rules of `merge`.

mod codex;
pub mod command;
mod entry;
mod json;
mod jsonc;
mod merge;
mod paths;
pub mod shell;
mod snippet;
mod writer;

use std::path::{Path, PathBuf};

use crate::cli::{BridgeArgs, ClientKind};
use crate::report::{Out, warn};

use command::{Command, Launch, choose};
pub use entry::{Entry, checked_args, entry_args};
use entry::{absolute, check_name};
pub use json::json_entry;
pub use paths::{Dirs, Os, Probe, RealFs, Target, config_targets, default_path};
pub use shell::Shell;
pub use snippet::{Again, snippet};
use snippet::{expansion_note, next_steps};
pub use writer::{Outcome, write};

/// What the user asked `config` to do.
pub struct Request {
    pub client: ClientKind,
    pub write: bool,
    pub force: bool,
    pub name: String,
    pub file: Option<PathBuf>,
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
///
/// The one place that asks the machine: the OS (`Os::current`), the environment, the disk;
/// everything it decides with them is a pure function of those, tested for every OS.
pub fn run(req: Request) -> i32 {
    let mut out = Out::new();
    let os = Os::current();
    let shell = Shell::for_os(os);
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
    let dirs = Dirs::from_env(os, |k| std::env::var_os(k), dirs::home_dir());
    let command = match stable_command(os, &dirs) {
        Ok(c) => c,
        Err(e) => {
            warn(&format!("wazion-mcp: {e}"));
            return 1;
        }
    };
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
    let again = Again {
        client: req.client,
        name: &req.name,
        file: req.file.as_deref(),
    };
    if !req.write {
        out.write(&snippet(req.client, &entry, shell, &again));
        return 0;
    }
    let targets = match req.file.clone().map(absolute) {
        Some(path) => vec![Target { path, why: None }],
        None => config_targets(req.client, os, &dirs, &RealFs),
    };
    if targets.is_empty() {
        warn("wazion-mcp: cannot tell where this client keeps its config; pass --file PATH");
        return 1;
    }
    let mut outcomes = Vec::new();
    for t in &targets {
        match write(req.client, &entry, &t.path, req.force) {
            Ok(outcome) => {
                out.line(&outcome.to_string());
                if let Some(why) = &t.why {
                    out.line(&format!("  (why this file: {why})"));
                }
                outcomes.push(outcome);
            }
            Err(e) => {
                warn(&format!("wazion-mcp: {e}"));
                return 1;
            }
        }
    }
    out.write(&next_steps(req.client, &entry, &outcomes, shell));
    0
}

/// The path to write as the entry's `command` (see `command`), with the copy out of a
/// package runner's cache made here, and said on stderr.
fn stable_command(os: Os, dirs: &Dirs) -> Result<String, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find this binary's path ({e})"))?;
    let argv0 = std::env::args_os().next().map(PathBuf::from);
    let cwd = std::env::current_dir().ok();
    let path_var = std::env::var("PATH").unwrap_or_default();
    let env = |k: &str| std::env::var(k).ok();
    let launch = Launch {
        exe: &exe,
        argv0: argv0.as_deref(),
        cwd: cwd.as_deref(),
        path_var: &path_var,
    };
    let chosen = choose(os, &launch, dirs, &env, &RealFs);
    match &chosen {
        Command::Here(_) => {}
        Command::Installed { path, cache } => warn(&format!(
            "wazion-mcp: note: this binary runs from {}, which may be emptied at any time; the \
             entry names the wazion-mcp installed at {} instead",
            cache.describe(),
            path.display()
        )),
        Command::Copy { from, to, cache } => {
            let done = if install_copy(from, to)? {
                "it was copied to"
            } else {
                "the same binary is already at"
            };
            warn(&format!(
                "wazion-mcp: note: this binary runs from {}, which may be emptied at any time; \
                 {done} {} and the entry names that copy (delete it to uninstall)",
                cache.describe(),
                to.display()
            ));
        }
    }
    Ok(chosen.path().display().to_string())
}

/// Copies the running binary to `to` (a per-user folder), replacing an older copy by a
/// rename; an identical copy is left alone. A copy that cannot be replaced (Windows keeps a
/// running `.exe` locked) is kept, with a warning, as it still starts. Returns whether it
/// copied.
fn install_copy(from: &Path, to: &Path) -> Result<bool, String> {
    let same = match (std::fs::read(from), std::fs::read(to)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Ok(false);
    }
    let dir = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".wazion-mcp-copy-{}", std::process::id()));
    let copied = std::fs::copy(from, &tmp).and_then(|_| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::rename(&tmp, to)
    });
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        if to.is_file() {
            warn(&format!(
                "wazion-mcp: note: cannot replace {} ({e}); the entry names the copy already \
                 there (quit the client and run this again to update it)",
                to.display()
            ));
            return Ok(false);
        }
        return Err(format!(
            "cannot copy this binary to {} ({e}); install wazion-mcp (see the README) and run \
             this again",
            to.display()
        ));
    }
    Ok(true)
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
            let again = Again {
                client,
                name: "wazion",
                file: None,
            };
            assert_eq!(
                read(file),
                snippet(client, &e, Shell::Posix, &again),
                "examples/{file}"
            );
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

    fn outcome(path: &str, mode: Option<u32>) -> Outcome {
        Outcome {
            path: path.into(),
            target: None,
            backup: Some(format!("{path}.bak-1").into()),
            replaced: false,
            unchanged: false,
            kept: Vec::new(),
            kept_secrets: Vec::new(),
            mode,
        }
    }

    /// Issue 18 §5: "(mode 0600)" only where the file got that mode (not on Windows, where
    /// the writer sets none).
    #[test]
    fn mode_0600_is_said_only_where_modes_exist() {
        let unix = outcome("/h/.cursor/mcp.json", Some(0o600)).to_string();
        assert!(
            unix.contains(", mode 0600") && unix.contains(".bak-1 (mode 0600)"),
            "{unix}"
        );
        let windows = outcome(r"C:\Users\ana\.cursor\mcp.json", None).to_string();
        assert!(!windows.contains("0600"), "{windows}");
        assert!(windows.contains("previous version saved as"), "{windows}");
    }

    /// Issue 18 §4: the suggested `--write` line repeats the URL, the flags, the name and the
    /// file; the lines after a write are in the user's shell.
    #[test]
    fn printed_lines_repeat_the_flags_in_the_users_shell() {
        let e = Entry {
            name: "shop2".into(),
            command: "/opt/bin/wazion-mcp".into(),
            bridge: bridge(&["https://wa.example/mcp", "--header", "X-K: ${K}"]),
        };
        let again = Again {
            client: ClientKind::ClaudeCode,
            name: "shop2",
            file: None,
        };
        let posix = snippet(ClientKind::ClaudeCode, &e, Shell::Posix, &again);
        assert!(
            posix.contains(
                "\n/opt/bin/wazion-mcp config claude-code --name shop2 --header 'X-K: ${K}' \
                 https://wa.example/mcp --write\n"
            ),
            "{posix}"
        );
        let codex = Again {
            client: ClientKind::Codex,
            name: "wazion",
            file: Some(Path::new("/etc/codex.toml")),
        };
        let c = snippet(ClientKind::Codex, &e, Shell::Posix, &codex);
        assert!(
            c.contains(
                "config codex --file /etc/codex.toml --header 'X-K: ${K}' https://wa.example/mcp \
                 --write"
            ),
            "{c}"
        );
        let win = Entry {
            command: r"C:\Users\Ana Lopez\AppData\Local\Programs\wazion-mcp\wazion-mcp.exe".into(),
            ..e.clone()
        };
        let ps = snippet(ClientKind::ClaudeCode, &win, Shell::PowerShell, &again);
        assert!(
            ps.contains(
                "& 'C:\\Users\\Ana Lopez\\AppData\\Local\\Programs\\wazion-mcp\\wazion-mcp.exe' config \
                 claude-code --name shop2 --header 'X-K: ${K}' https://wa.example/mcp --write"
            ),
            "{ps}"
        );
        assert!(
            ps.contains(
                "claude mcp add shop2 --scope user --env 'WAZION_TOKEN=<paste your token here>' \
                 --env 'K=<paste your token here>' '--' 'C:\\Users\\Ana Lopez"
            ),
            "{ps}"
        );
        assert!(ps.contains("& { $PSNativeCommandArgumentPassing = 'Legacy'; claude mcp add-json shop2 --scope user '{\\\"type\\\":"), "{ps}");
        // After a write: the check line, with the variable set the shell's way.
        let done = [outcome("/h/.cursor/mcp.json", Some(0o600))];
        let n = next_steps(ClientKind::Cursor, &e, &done, Shell::Posix);
        assert!(
            n.contains(
                "a shell first: WAZION_TOKEN=… /opt/bin/wazion-mcp check --header 'X-K: ${K}' \
                 https://wa.example/mcp\n"
            ),
            "{n}"
        );
        let n = next_steps(ClientKind::Cursor, &win, &done, Shell::PowerShell);
        assert!(
            n.contains("PowerShell first: $env:WAZION_TOKEN = '…'; & 'C:\\Users\\Ana Lopez"),
            "{n}"
        );
        assert!(
            n.ends_with("wazion-mcp.exe' check --header 'X-K: ${K}' https://wa.example/mcp\n"),
            "{n}"
        );
        // Two files written (both Claude Desktop installs on Windows): both named once.
        let two = [outcome("/a.json", None), outcome("/b.json", None)];
        let n = next_steps(ClientKind::ClaudeDesktop, &e, &two, Shell::PowerShell);
        assert!(n.contains("open /a.json and /b.json"), "{n}");
        assert_eq!(n.matches("restart Claude Desktop").count(), 1, "{n}");
    }
}
