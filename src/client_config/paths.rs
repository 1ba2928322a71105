//! Where each client keeps its user-level MCP configuration, on each OS.
//!
//! Invariant: the path is a pure function of (client, OS, home and the clients' own
//! variables: `APPDATA`, `XDG_CONFIG_HOME`, `CODEX_HOME`, `CLAUDE_CONFIG_DIR`,
//! `GEMINI_CLI_HOME`), not the `dirs` crate, which only answers for the OS it runs on: the
//! tests prove the paths of all three. Only [`Dirs::from_env`] reads the environment.

use std::path::PathBuf;

use crate::cli::ClientKind;

/// The operating systems whose config locations we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    MacOs,
    Linux,
    Windows,
}

impl Os {
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Os::MacOs
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        }
    }
}

/// The base directories a config path is built from.
#[derive(Debug, Clone, Default)]
pub struct Dirs {
    pub home: Option<PathBuf>,
    /// `%APPDATA%` on Windows.
    pub appdata: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME` on Linux.
    pub xdg_config: Option<PathBuf>,
    /// `$CODEX_HOME`, which Codex reads instead of `~/.codex`.
    pub codex_home: Option<PathBuf>,
    /// `$CLAUDE_CONFIG_DIR`, where Claude Code keeps `.claude.json` instead of `~`.
    pub claude_config_dir: Option<PathBuf>,
    /// `$GEMINI_CLI_HOME`, which Gemini CLI uses instead of `~` (its folder is `.gemini` in it).
    pub gemini_cli_home: Option<PathBuf>,
}

impl Dirs {
    pub fn from_env() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Dirs {
            home: var("HOME").or_else(|| var("USERPROFILE")),
            appdata: var("APPDATA"),
            xdg_config: var("XDG_CONFIG_HOME"),
            codex_home: var("CODEX_HOME"),
            claude_config_dir: var("CLAUDE_CONFIG_DIR"),
            gemini_cli_home: var("GEMINI_CLI_HOME"),
        }
    }
}

/// Where `client` keeps its user-level MCP configuration on `os`.
pub fn default_path(client: ClientKind, os: Os, dirs: &Dirs) -> Option<PathBuf> {
    let home = dirs.home.clone();
    // The per-user application-config directory of each OS.
    let app_config = || match os {
        Os::MacOs => home
            .clone()
            .map(|h| h.join("Library").join("Application Support")),
        Os::Windows => dirs
            .appdata
            .clone()
            .or_else(|| home.clone().map(|h| h.join("AppData").join("Roaming"))),
        Os::Linux => dirs
            .xdg_config
            .clone()
            .or_else(|| home.clone().map(|h| h.join(".config"))),
    };
    Some(match client {
        ClientKind::ClaudeDesktop => app_config()?
            .join("Claude")
            .join("claude_desktop_config.json"),
        ClientKind::Vscode => app_config()?.join("Code").join("User").join("mcp.json"),
        ClientKind::Cursor => home?.join(".cursor").join("mcp.json"),
        ClientKind::Codex => dirs
            .codex_home
            .clone()
            .or_else(|| home.map(|h| h.join(".codex")))?
            .join("config.toml"),
        ClientKind::ClaudeCode => dirs
            .claude_config_dir
            .clone()
            .or(home)?
            .join(".claude.json"),
        ClientKind::Gemini => dirs
            .gemini_cli_home
            .clone()
            .or(home)?
            .join(".gemini")
            .join("settings.json"),
    })
}
