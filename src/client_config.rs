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
//!   symlinked file is written through the link, the previous version is saved next to the
//!   path given (mode 0600, timestamped, never overwritten), and the new text replaces the old
//!   by a rename in the target's directory;
//! - a file of an unexpected shape (`"mcpServers": [...]`, not JSON, …) is refused and left
//!   as it was. JSON files are edited through a CST (`jsonc-parser`), so comments, trailing
//!   commas and layout are kept; Codex's TOML through `toml_edit`, likewise.
//!
//! Config paths are computed by a pure function of (client, OS, home and the clients'
//! variables) rather than the `dirs` crate, because `dirs` only answers for the OS it runs on
//! and the tests must prove the paths of all three.

use std::io::Write;
use std::path::{Path, PathBuf};

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstNode, CstObject, CstRootNode};
use serde_json::{Map, Value, json};

use crate::cli::{
    BridgeArgs, ClientKind, DEFAULT_TOKEN_ENV, DEFAULT_URL, LogFormat, TransportKind,
};
use crate::report::{Out, warn};

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
    match write(req.client, &entry, &path, req.force) {
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

/// One server entry, independent of the client's file format.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    /// Absolute path of the bridge binary.
    pub command: String,
    /// The bridge flags, checked, with absolute paths.
    pub bridge: BridgeArgs,
}

impl Entry {
    /// The entry's `args`: the flags that differ from their defaults.
    pub fn args(&self) -> Vec<String> {
        entry_args(&self.bridge)
    }

    /// The variables the entry's `env` must hold: the token's (unless `--auth oauth` or
    /// `none`, which never read it), then each one a `--header` names with `${VAR}`.
    pub fn secret_vars(&self) -> Vec<String> {
        let reads_token = matches!(
            self.bridge.auth,
            crate::cli::AuthMode::Auto | crate::cli::AuthMode::Token
        );
        let mut vars: Vec<String> = reads_token
            .then(|| self.bridge.token_env.clone())
            .into_iter()
            .collect();
        for v in self.header_vars() {
            if !vars.contains(&v) {
                vars.push(v);
            }
        }
        vars
    }

    /// The variables the `--header` values name with `${VAR}`.
    pub fn header_vars(&self) -> Vec<String> {
        let mut vars: Vec<String> = Vec::new();
        for h in &self.bridge.headers {
            for v in crate::config::header_vars(h) {
                if !vars.contains(&v) {
                    vars.push(v);
                }
            }
        }
        vars
    }
}

/// Checks the flags as the bridge would at start and makes paths absolute. Returns the
/// checked flags and notes for the user (values the bridge will raise to its minimum).
pub fn checked_args(args: &BridgeArgs) -> Result<(BridgeArgs, Vec<String>), String> {
    let mut a = args.clone();
    a.ca_file = a.ca_file.map(absolute);
    a.log_file = a.log_file.map(absolute);
    // Every variable "set" to a dummy: the header values get checked in full, and nothing of
    // this shell's environment (which is not the client's) is read.
    crate::config::from_cli(&a, |_| Some("x".to_string())).map_err(|e| e.0)?;
    if let Some(p) = &a.proxy {
        crate::config::check_proxy(p).map_err(|e| e.0)?;
    }
    if let Some(ca) = &a.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| format!("cannot read --ca-file {}: {e}", ca.display()))?;
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certs) if !certs.is_empty() => {}
            _ => {
                return Err(format!(
                    "--ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    ca.display()
                ));
            }
        }
    }
    if format!("wazion_mcp={},warn", a.log_level)
        .parse::<tracing_subscriber::filter::Targets>()
        .is_err()
    {
        return Err(format!(
            "--log-level '{}' is not a level: use error, warn, info, debug or trace",
            a.log_level
        ));
    }
    let mut notes = Vec::new();
    if a.idle_timeout == 0 {
        notes.push("--idle-timeout 0 is raised to 1 s by the bridge (its minimum)".to_string());
    }
    if a.connect_timeout == 0 {
        notes.push("--connect-timeout 0 is raised to 1 s by the bridge (its minimum)".to_string());
    }
    if a.max_message_bytes < 1024 {
        notes.push(format!(
            "--max-message-bytes {} is raised to 1024 by the bridge (its minimum)",
            a.max_message_bytes
        ));
    }
    if let Some(dir) = a.log_file.as_deref().and_then(Path::parent)
        && !dir.is_dir()
    {
        notes.push(format!(
            "the --log-file folder {} does not exist; the bridge will not start until it does",
            dir.display()
        ));
    }
    Ok((a, notes))
}

/// Server names every client accepts as a key (VS Code's schema is the narrowest).
fn check_name(name: &str) -> Result<(), String> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--name '{name}': use letters, digits, '-' and '_', starting with a letter"
        ))
    }
}

/// `path` made absolute against the current directory (not resolved: it may not exist yet).
fn absolute(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        return path;
    }
    std::path::absolute(&path).unwrap_or(path)
}

/// The bridge flags that differ from their defaults, to put in the entry's `args`.
pub fn entry_args(a: &BridgeArgs) -> Vec<String> {
    let mut out = Vec::new();
    let mut flag = |name: &str, value: String| {
        out.push(name.to_string());
        out.push(value);
    };
    if a.token_env != DEFAULT_TOKEN_ENV {
        flag("--token-env", a.token_env.clone());
    }
    for h in &a.headers {
        flag("--header", h.clone());
    }
    if let Some(ca) = &a.ca_file {
        flag("--ca-file", ca.display().to_string());
    }
    if let Some(p) = &a.proxy {
        flag("--proxy", p.clone());
    }
    if a.idle_timeout != 300 {
        flag("--idle-timeout", a.idle_timeout.to_string());
    }
    if a.connect_timeout != 10 {
        flag("--connect-timeout", a.connect_timeout.to_string());
    }
    if a.transport != TransportKind::Auto {
        let t = match a.transport {
            TransportKind::Sse => "sse",
            _ => "streamable-http",
        };
        flag("--transport", t.to_string());
    }
    if a.auth != crate::cli::AuthMode::Auto {
        let m = match a.auth {
            crate::cli::AuthMode::Token => "token",
            crate::cli::AuthMode::Oauth => "oauth",
            _ => "none",
        };
        flag("--auth", m.to_string());
    }
    if let Some(id) = &a.oauth_client_id {
        flag("--oauth-client-id", id.clone());
    }
    if let Some(name) = &a.oauth_client_secret_env {
        flag("--oauth-client-secret-env", name.clone());
    }
    if let Some(u) = &a.oauth_client_metadata_url {
        flag("--oauth-client-metadata-url", u.clone());
    }
    if a.oauth_timeout != 300 {
        flag("--oauth-timeout", a.oauth_timeout.to_string());
    }
    for g in &a.allow_tools {
        flag("--allow-tool", g.clone());
    }
    for g in &a.deny_tools {
        flag("--deny-tool", g.clone());
    }
    if a.log_level != "info" {
        flag("--log-level", a.log_level.clone());
    }
    if let Some(f) = &a.log_file {
        flag("--log-file", f.display().to_string());
    }
    if a.log_format != LogFormat::Text {
        flag("--log-format", "json".to_string());
    }
    if a.max_message_bytes != 64 * 1024 * 1024 {
        flag("--max-message-bytes", a.max_message_bytes.to_string());
    }
    if a.allow_http {
        out.push("--allow-http".into());
    }
    if a.url != DEFAULT_URL {
        out.push(a.url.clone());
    }
    out
}

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

/// The key that holds the servers in a JSON client's file.
fn servers_key(client: ClientKind) -> &'static str {
    if client == ClientKind::Vscode {
        "servers"
    } else {
        "mcpServers"
    }
}

/// Whether the client's documented stdio entry carries `"type": "stdio"`.
fn has_type(client: ClientKind) -> bool {
    matches!(client, ClientKind::Vscode | ClientKind::ClaudeCode)
}

/// The VS Code input id for secret variable `var` of entry `name`.
fn input_id(entry: &Entry, var: &str) -> String {
    if var == entry.bridge.token_env {
        format!("{}-token", entry.name)
    } else {
        format!("{}-{}", entry.name, var.to_ascii_lowercase())
    }
}

/// The VS Code inputs an entry needs: a password prompt per secret variable.
fn vscode_inputs(entry: &Entry) -> Vec<Value> {
    entry
        .secret_vars()
        .iter()
        .map(|var| {
            let description = if *var == entry.bridge.token_env {
                token_prompt(&entry.name, var)
            } else {
                format!("{var} for the {} MCP server", entry.name)
            };
            json!({
                "type": "promptString",
                "id": input_id(entry, var),
                "description": description,
                "password": true
            })
        })
        .collect()
}

/// The value a fresh entry gives secret variable `var`.
fn secret_value(client: ClientKind, entry: &Entry, var: &str) -> String {
    if client == ClientKind::Vscode {
        format!("${{input:{}}}", input_id(entry, var))
    } else {
        TOKEN_PLACEHOLDER.to_string()
    }
}

/// The entry as a JSON object, in the client's documented shape.
pub fn json_entry(client: ClientKind, entry: &Entry) -> Value {
    let mut server = Map::new();
    if has_type(client) {
        server.insert("type".into(), json!("stdio"));
    }
    server.insert("command".into(), json!(entry.command));
    server.insert("args".into(), json!(entry.args()));
    let env: Map<String, Value> = entry
        .secret_vars()
        .iter()
        .map(|v| (v.clone(), json!(secret_value(client, entry, v))))
        .collect();
    server.insert("env".into(), Value::Object(env));
    Value::Object(server)
}

/// A whole JSON config holding just this entry (what a new file gets).
fn json_document(client: ClientKind, entry: &Entry) -> Value {
    let mut root = Map::new();
    if client == ClientKind::Vscode {
        root.insert("inputs".into(), Value::Array(vscode_inputs(entry)));
    }
    let mut servers = Map::new();
    servers.insert(entry.name.clone(), json_entry(client, entry));
    root.insert(servers_key(client).into(), Value::Object(servers));
    Value::Object(root)
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

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
fn expansion_note(client: ClientKind, entry: &Entry) -> Option<String> {
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

/// What `write` did, for the user.
#[derive(Debug)]
pub struct Outcome {
    pub path: PathBuf,
    /// The file actually written, when `path` is a symlink.
    pub target: Option<PathBuf>,
    pub backup: Option<PathBuf>,
    pub replaced: bool,
    /// Nothing to do: the file already held this entry.
    pub unchanged: bool,
    /// What `--force` kept from the previous entry, for the report.
    pub kept: Vec<String>,
    /// Secret variables whose value was kept (not a placeholder).
    pub kept_secrets: Vec<String>,
    /// Mode of the file written (Unix).
    pub mode: Option<u32>,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.unchanged {
            return write!(
                f,
                "{} already holds this entry; nothing changed",
                self.path.display()
            );
        }
        let verb = if self.replaced {
            "replaced the entry in"
        } else {
            "added the entry to"
        };
        write!(f, "{verb} {}", self.path.display())?;
        if let Some(t) = &self.target {
            write!(f, " (a link; wrote {})", t.display())?;
        }
        if let Some(m) = self.mode {
            write!(f, ", mode {m:04o}")?;
        }
        if let Some(b) = &self.backup {
            write!(f, "\nprevious version saved as {} (mode 0600)", b.display())?;
        }
        if !self.kept.is_empty() {
            write!(
                f,
                "\nkept from the previous entry: {}",
                self.kept.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The lines after a successful `--write`.
fn next_steps(client: ClientKind, entry: &Entry, outcome: &Outcome) -> String {
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

/// Merges `entry` into the config file at `path` (see the module's invariants).
pub fn write(
    client: ClientKind,
    entry: &Entry,
    path: &Path,
    force: bool,
) -> Result<Outcome, String> {
    let target = resolve_links(path)?;
    let existing = match std::fs::read_to_string(&target) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", target.display())),
    };
    let merged = match client {
        ClientKind::Codex => merge_codex(existing.as_deref(), entry, force, path)?,
        _ => merge_json(client, existing.as_deref(), entry, force, path)?,
    };
    let linked = (target != path).then(|| target.clone());
    if existing.as_deref() == Some(merged.text.as_str()) {
        return Ok(Outcome {
            path: path.to_path_buf(),
            target: linked,
            backup: None,
            replaced: merged.replaced,
            unchanged: true,
            kept: merged.kept,
            kept_secrets: merged.kept_secrets,
            mode: None,
        });
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let old_meta = std::fs::metadata(&target).ok();
    let backup = match &existing {
        // Next to the path the user knows, not next to a link's target (which may be a
        // dotfiles repository, where a copy of a token must not land).
        Some(old) => Some(write_backup(path, old)?),
        None => None,
    };
    let mode = replace_file(&target, merged.text.as_bytes(), old_meta.as_ref())?;
    Ok(Outcome {
        path: path.to_path_buf(),
        target: linked,
        backup,
        replaced: merged.replaced,
        unchanged: false,
        kept: merged.kept,
        kept_secrets: merged.kept_secrets,
        mode,
    })
}

/// Follows symlinks (also a dangling one, whose target is then created) to the file to write.
fn resolve_links(path: &Path) -> Result<PathBuf, String> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)
                    .map_err(|e| format!("cannot read the link {}: {e}", current.display()))?;
                current = match current.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(m) if !m.is_file() => {
                return Err(format!("{} is not a file", current.display()));
            }
            _ => return Ok(current),
        }
    }
    Err(format!("{} is a loop of symlinks", path.display()))
}

/// Writes a copy of `old` as `<path>.bak-<UTC time>` (a new name every time, mode 0600).
fn write_backup(path: &Path, old: &str) -> Result<PathBuf, String> {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    for n in 1..1000 {
        let suffix = if n == 1 {
            format!(".bak-{stamp}")
        } else {
            format!(".bak-{stamp}-{n}")
        };
        let b = with_suffix(path, &suffix);
        match create_private(&b) {
            Ok(mut f) => {
                return f
                    .write_all(old.as_bytes())
                    .and_then(|()| f.sync_all())
                    .map(|()| b.clone())
                    .map_err(|e| format!("cannot write the backup {}: {e}", b.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot write the backup {}: {e}", b.display())),
        }
    }
    Err(format!(
        "cannot find a free backup name next to {}",
        path.display()
    ))
}

/// Creates a new file readable by its owner only.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// Replaces `target` by a file holding `text`: written to a temporary file in the same
/// directory (created 0600), given the old file's mode and owner (a new file stays 0600),
/// then renamed over `target`. Returns the mode written (Unix).
fn replace_file(
    target: &Path,
    text: &[u8],
    old: Option<&std::fs::Metadata>,
) -> Result<Option<u32>, String> {
    let tmp = {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        target.with_file_name(format!(".{name}.wazion-mcp-{}", std::process::id()))
    };
    let result = (|| -> std::io::Result<Option<u32>> {
        let _ = std::fs::remove_file(&tmp);
        let mut f = create_private(&tmp)?;
        f.write_all(text)?;
        #[cfg(unix)]
        let mode = {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            match old {
                Some(m) => {
                    // Same owner first (a no-op unless run as another user, e.g. root), then
                    // the same mode: never wider than what the file had.
                    let _ = std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()));
                    let bits = m.mode() & 0o7777;
                    f.set_permissions(std::fs::Permissions::from_mode(bits))?;
                    Some(bits)
                }
                None => Some(0o600),
            }
        };
        #[cfg(not(unix))]
        let mode = {
            let _ = old;
            None
        };
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, target)?;
        Ok(mode)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!(
            "cannot write {}: {e}; it was left as it was",
            target.display()
        )
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A merge's result.
struct Merged {
    text: String,
    replaced: bool,
    kept: Vec<String>,
    kept_secrets: Vec<String>,
}

/// What `--force` takes over from the entry it replaces.
#[derive(Default)]
struct Previous {
    /// `env` values that are not placeholders, by variable.
    env: Vec<(String, String)>,
    /// `--header` values of a previous wazion-mcp entry whose header the new flags do not set.
    headers: Vec<String>,
}

impl Previous {
    /// Reads the old entry's `command`, `args` and `env` (as JSON values).
    fn read(command: Option<&str>, args: &[String], env: &[(String, String)], new: &Entry) -> Self {
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
    fn apply(&self, entry: &Entry) -> Entry {
        let mut e = entry.clone();
        e.bridge.headers.extend(self.headers.iter().cloned());
        e
    }

    fn report(&self) -> (Vec<String>, Vec<String>) {
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

/// Keys of a previous entry that define another transport: dropped when it becomes a stdio
/// entry. Every other key (`disabled`, `timeout`, `headers`, …) is kept.
const TRANSPORT_KEYS: [&str; 5] = ["url", "httpUrl", "serverUrl", "transport", "type"];

/// JSONC as VS Code and Gemini CLI accept it: comments and trailing commas, nothing else.
fn jsonc_options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// What a JSON value is, for messages about unexpected shapes.
fn shape(v: Option<&Value>) -> &'static str {
    match v {
        Some(Value::Object(_)) => "an object",
        Some(Value::Array(_)) => "a list",
        Some(Value::String(_)) => "a string",
        Some(Value::Number(_)) => "a number",
        Some(Value::Bool(_)) => "true or false",
        Some(Value::Null) => "null",
        None => "empty",
    }
}

fn cst_value(v: &Value) -> CstInputValue {
    match v {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(a) => CstInputValue::Array(a.iter().map(cst_value).collect()),
        Value::Object(o) => {
            CstInputValue::Object(o.iter().map(|(k, v)| (k.clone(), cst_value(v))).collect())
        }
    }
}

fn node_value(n: Option<CstNode>) -> Option<Value> {
    n.and_then(|n| n.to_serde_value())
}

/// Sets `key` of `obj` to `value`, in place when the key exists (its comments stay).
fn set_key(obj: &CstObject, key: &str, value: &Value) {
    match obj.get(key) {
        Some(p) => p.set_value(cst_value(value)),
        None => {
            obj.append(key, cst_value(value));
        }
    }
}

fn merge_json(
    client: ClientKind,
    text: Option<&str>,
    entry: &Entry,
    force: bool,
    path: &Path,
) -> Result<Merged, String> {
    let unchanged = "nothing was changed";
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(Merged {
            text: pretty(&json_document(client, entry)),
            replaced: false,
            kept: Vec::new(),
            kept_secrets: Vec::new(),
        });
    };
    let root = CstRootNode::parse(text, &jsonc_options()).map_err(|e| {
        format!(
            "{} is not valid JSON ({e}); {unchanged}. Fix the file, or move it away to start a \
             new one",
            path.display()
        )
    })?;
    let top = match root.value() {
        None => root.object_value_or_set(),
        Some(v) => v.as_object().ok_or_else(|| {
            format!(
                "{} holds {} where a JSON object ({{…}}) belongs; {unchanged}",
                path.display(),
                shape(node_value(Some(v)).as_ref())
            )
        })?,
    };
    let key = servers_key(client);
    let servers = match top.get(key) {
        None => None,
        Some(p) => Some(p.object_value().ok_or_else(|| {
            format!(
                "\"{key}\" in {} is {}, not an object of servers ({{\"name\": {{…}}}}); \
                 {unchanged}. Fix it by hand first",
                path.display(),
                shape(node_value(p.value()).as_ref())
            )
        })?),
    };
    let inputs = match top.get("inputs") {
        Some(p) if client == ClientKind::Vscode => Some(p.array_value().ok_or_else(|| {
            format!(
                "\"inputs\" in {} is {}, not a list; {unchanged}. Fix it by hand first",
                path.display(),
                shape(node_value(p.value()).as_ref())
            )
        })?),
        _ => None,
    };
    let old = servers.as_ref().and_then(|s| s.get(&entry.name));
    if old.is_some() && !force {
        return Err(format!(
            "{} already has a server named \"{}\"; {unchanged}. Pass --force to replace it \
             (values you put in its env and its --header flags are kept), or --name to add \
             another",
            path.display(),
            entry.name
        ));
    }
    let old_value = old.as_ref().and_then(|p| node_value(p.value()));
    let previous = match &old_value {
        Some(Value::Object(o)) => {
            let args: Vec<String> = o
                .get("args")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let env: Vec<(String, String)> = o
                .get("env")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            Previous::read(o.get("command").and_then(Value::as_str), &args, &env, entry)
        }
        _ => Previous::default(),
    };
    let entry = previous.apply(entry);
    let fresh = json_entry(client, &entry);
    let (mut kept, kept_secrets) = previous.report();

    match (old.as_ref().and_then(|p| p.object_value()), &fresh) {
        (Some(obj), Value::Object(new)) => {
            // In place: the keys this tool owns are set, the rest stays with its comments.
            for k in TRANSPORT_KEYS {
                let keep_type = k == "type"
                    && (has_type(client)
                        || node_value(obj.get(k).and_then(|p| p.value())) == Some(json!("stdio")));
                if !keep_type && let Some(p) = obj.get(k) {
                    p.remove();
                }
            }
            let others: Vec<String> = obj
                .properties()
                .iter()
                .filter_map(|p| p.name().and_then(|n| n.decoded_value().ok()))
                .filter(|n| !matches!(n.as_str(), "type" | "command" | "args" | "env"))
                .collect();
            kept.extend(others.iter().map(|k| format!("\"{k}\"")));
            for (k, v) in new {
                if k == "env" {
                    continue;
                }
                set_key(&obj, k, v);
            }
            let env = new.get("env").and_then(Value::as_object);
            match obj.get("env").and_then(|p| p.object_value()) {
                Some(old_env) => {
                    for (k, v) in env.into_iter().flatten() {
                        if old_env.get(k).is_none() {
                            old_env.append(k, cst_value(v));
                        }
                    }
                }
                None => set_key(
                    &obj,
                    "env",
                    &Value::Object(env.cloned().unwrap_or_default()),
                ),
            }
        }
        (_, fresh) => match (&servers, old) {
            (_, Some(p)) => p.set_value(cst_value(fresh)),
            (Some(s), None) => {
                s.append(&entry.name, cst_value(fresh));
            }
            (None, None) => {
                let mut m = Map::new();
                m.insert(entry.name.clone(), fresh.clone());
                top.append(key, cst_value(&Value::Object(m)));
            }
        },
    }

    if client == ClientKind::Vscode {
        let wanted = vscode_inputs(&entry);
        let list = match inputs {
            Some(list) => list,
            None => top.array_value_or_create("inputs").ok_or_else(|| {
                format!("cannot add \"inputs\" to {}; {unchanged}", path.display())
            })?,
        };
        let have: Vec<String> = list
            .elements()
            .iter()
            .filter_map(|e| node_value(Some(e.clone())))
            .filter_map(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
            .collect();
        for input in wanted {
            let id = input.get("id").and_then(Value::as_str).unwrap_or_default();
            if !have.iter().any(|h| h == id) {
                list.append(cst_value(&input));
            }
        }
    }
    let mut out = root.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(Merged {
        text: out,
        replaced: old_value.is_some(),
        kept,
        kept_secrets,
    })
}

fn merge_codex(
    text: Option<&str>,
    entry: &Entry,
    force: bool,
    path: &Path,
) -> Result<Merged, String> {
    let unchanged = "nothing was changed";
    let mut doc = text
        .unwrap_or("")
        .parse::<toml_edit::DocumentMut>()
        .map_err(|e| {
            format!(
                "{} is not valid TOML ({}); {unchanged}. Fix the file, or move it away to start a \
             new one",
                path.display(),
                e.to_string().trim()
            )
        })?;
    if let Some(item) = doc.get("mcp_servers")
        && !item.is_table_like()
    {
        return Err(format!(
            "mcp_servers in {} is a {}, not a table of servers ([mcp_servers.NAME]); \
             {unchanged}. Fix it by hand first",
            path.display(),
            item.type_name()
        ));
    }
    let old = doc.get("mcp_servers").and_then(|s| s.get(&entry.name));
    if old.is_some() && !force {
        return Err(format!(
            "{} already has [mcp_servers.{}]; {unchanged}. Pass --force to replace it (values \
             you put in its env and its --header flags are kept), or --name to add another",
            path.display(),
            entry.name
        ));
    }
    let replaced = old.is_some();
    let previous = match old.and_then(|o| o.as_table_like()) {
        Some(t) => {
            let args: Vec<String> = t
                .get("args")
                .and_then(|a| a.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let env: Vec<(String, String)> = t
                .get("env")
                .and_then(|e| e.as_table_like())
                .map(|e| {
                    e.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.to_string(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            Previous::read(
                t.get("command").and_then(|c| c.as_str()),
                &args,
                &env,
                entry,
            )
        }
        None => Previous::default(),
    };
    let entry = previous.apply(entry);
    let (mut kept, kept_secrets) = previous.report();
    kept.extend(merge_codex_doc(&mut doc, &entry, false));
    Ok(Merged {
        text: doc.to_string(),
        replaced,
        kept,
        kept_secrets,
    })
}

/// Sets `[mcp_servers.<name>]` in `doc`, in place when it is a table (its other keys, such as
/// `startup_timeout_sec`, and its comments stay). Returns the keys kept.
fn merge_codex_doc(doc: &mut toml_edit::DocumentMut, entry: &Entry, fresh: bool) -> Vec<String> {
    use toml_edit::{Array, InlineTable, Item, Table, value};
    let mut args = Array::new();
    for a in entry.args() {
        args.push(a);
    }
    let secrets = entry.secret_vars();
    let servers = doc.entry("mcp_servers").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let Some(servers) = servers.as_table_like_mut() else {
        return Vec::new();
    };
    let existing = servers
        .get_mut(&entry.name)
        .and_then(|s| s.as_table_like_mut())
        .filter(|_| !fresh);
    match existing {
        Some(t) => {
            for k in ["url", "bearer_token_env_var"] {
                t.remove(k);
            }
            let kept = t
                .iter()
                .map(|(k, _)| k.to_string())
                .filter(|k| !matches!(k.as_str(), "command" | "args" | "env"))
                .collect();
            t.insert("command", value(entry.command.as_str()));
            t.insert("args", value(args));
            match t.get_mut("env").and_then(|e| e.as_table_like_mut()) {
                Some(env) => {
                    for v in &secrets {
                        if env.get(v).is_none() {
                            env.insert(v, value(TOKEN_PLACEHOLDER));
                        }
                    }
                }
                None => {
                    let mut env = InlineTable::new();
                    for v in &secrets {
                        env.insert(v, TOKEN_PLACEHOLDER.into());
                    }
                    t.insert("env", value(env));
                }
            }
            kept
        }
        None => {
            let mut server = Table::new();
            server.insert("command", value(entry.command.as_str()));
            server.insert("args", value(args));
            let mut env = InlineTable::new();
            for v in &secrets {
                env.insert(v, TOKEN_PLACEHOLDER.into());
            }
            server.insert("env", value(env));
            servers.insert(&entry.name, Item::Table(server));
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

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
