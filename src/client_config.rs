//! `wazion-mcp config <client>`: the server entry for each MCP client, printed as a snippet
//! or merged into the client's config file.
//!
//! Invariants: the token is never written, only a placeholder (or, for VS Code, a password
//! input); merging keeps every other key and server; a backup of the old file is written
//! next to it and the new file replaces it atomically (write to a temporary file, rename).
//!
//! Config paths are computed by a pure function of (client, OS, home/APPDATA) rather than
//! the `dirs` crate, because `dirs` only answers for the OS it runs on and the tests must
//! prove the paths of all three.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::cli::{BridgeArgs, ClientKind, DEFAULT_TOKEN_ENV, DEFAULT_URL, TransportKind};

/// What the user asked `config` to do.
pub struct Request {
    pub client: ClientKind,
    pub write: bool,
    pub force: bool,
    pub name: String,
    pub file: Option<PathBuf>,
    pub args: BridgeArgs,
}

/// Placeholder put where the token goes; the user pastes the real one.
pub const TOKEN_PLACEHOLDER: &str = "<paste your token here>";

/// Runs the subcommand; returns the exit code. Output goes to stdout (this is not the
/// bridge, so stdout is free) and errors to stderr.
#[allow(clippy::print_stdout)]
pub fn run(req: Request) -> i32 {
    let command = match std::env::current_exe().and_then(|p| p.canonicalize()) {
        Ok(p) => p.display().to_string(),
        Err(e) => {
            eprintln!("wazion-mcp: cannot find this binary's path ({e})");
            return 1;
        }
    };
    let entry = Entry {
        name: req.name.clone(),
        command,
        args: entry_args(&req.args),
        token_env: req.args.token_env.clone(),
    };
    if !req.write {
        print!("{}", snippet(req.client, &entry));
        return 0;
    }
    let path = match req
        .file
        .clone()
        .or_else(|| default_path(req.client, Os::current(), &Dirs::from_env()))
    {
        Some(p) => p,
        None => {
            eprintln!(
                "wazion-mcp: cannot tell where this client keeps its config; pass --file PATH"
            );
            return 1;
        }
    };
    match write(req.client, &entry, &path, req.force) {
        Ok(outcome) => {
            println!("{outcome}");
            println!(
                "Next: put your token in place of \"{TOKEN_PLACEHOLDER}\" (for VS Code you are \
                 asked for it), restart the client, and run `wazion-mcp check` to verify."
            );
            0
        }
        Err(e) => {
            eprintln!("wazion-mcp: {e}");
            1
        }
    }
}

/// One server entry, independent of the client's file format.
pub struct Entry {
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub token_env: String,
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
        let abs = ca.canonicalize().unwrap_or_else(|_| ca.clone());
        flag("--ca-file", abs.display().to_string());
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
    if a.log_format != crate::cli::LogFormat::Text {
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
    /// `$CODEX_HOME`, which Codex honours instead of `~/.codex`.
    pub codex_home: Option<PathBuf>,
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
        ClientKind::ClaudeCode => home?.join(".claude.json"),
    })
}

/// The snippet to paste into the client's configuration.
pub fn snippet(client: ClientKind, entry: &Entry) -> String {
    match client {
        ClientKind::Codex => {
            let mut doc = toml_edit::DocumentMut::new();
            insert_codex(&mut doc, entry);
            doc.to_string()
        }
        _ => {
            let mut root = Map::new();
            insert_json(client, &mut root, entry, true).ok();
            let mut s = serde_json::to_string_pretty(&Value::Object(root)).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

/// What `write` did, for the user.
#[derive(Debug)]
pub struct Outcome {
    pub path: PathBuf,
    pub backup: Option<PathBuf>,
    pub replaced: bool,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.replaced {
            "replaced the entry in"
        } else {
            "added the entry to"
        };
        write!(f, "{verb} {}", self.path.display())?;
        if let Some(b) = &self.backup {
            write!(f, " (previous version saved as {})", b.display())?;
        }
        Ok(())
    }
}

/// Merges `entry` into the config file at `path`.
pub fn write(
    client: ClientKind,
    entry: &Entry,
    path: &Path,
    force: bool,
) -> Result<Outcome, String> {
    let existing = match std::fs::read_to_string(path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let text = existing.as_deref().unwrap_or("");
    let (new_text, replaced) = match client {
        ClientKind::Codex => merge_codex(text, entry, force, path)?,
        _ => merge_json(client, text, entry, force, path)?,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let backup = match &existing {
        Some(old) => {
            let b = with_suffix(path, ".bak");
            std::fs::write(&b, old)
                .map_err(|e| format!("cannot write the backup {}: {e}", b.display()))?;
            Some(b)
        }
        None => None,
    };
    let tmp = with_suffix(path, &format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, new_text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot replace {}: {e}", path.display()));
    }
    Ok(Outcome {
        path: path.to_path_buf(),
        backup,
        replaced,
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn merge_json(
    client: ClientKind,
    text: &str,
    entry: &Entry,
    force: bool,
    path: &Path,
) -> Result<(String, bool), String> {
    let mut root = if text.trim().is_empty() {
        Map::new()
    } else {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(format!(
                    "{} does not hold a JSON object; fix or move it first",
                    path.display()
                ));
            }
            Err(e) => {
                return Err(format!(
                    "{} is not valid JSON ({e}); fix it (comments are not supported) or use --file",
                    path.display()
                ));
            }
        }
    };
    let replaced = insert_json(client, &mut root, entry, force).map_err(|existing| {
        format!(
            "{} already has a server named \"{existing}\"; keep it, pass --force to replace it, or \
             --name to add another",
            path.display()
        )
    })?;
    let mut s = serde_json::to_string_pretty(&Value::Object(root)).map_err(|e| e.to_string())?;
    s.push('\n');
    Ok((s, replaced))
}

/// Inserts the entry into a JSON config; `Err(name)` if it exists and `force` is off.
/// Returns whether an entry was replaced.
fn insert_json(
    client: ClientKind,
    root: &mut Map<String, Value>,
    entry: &Entry,
    force: bool,
) -> Result<bool, String> {
    let servers_key = if client == ClientKind::Vscode {
        "servers"
    } else {
        "mcpServers"
    };
    let token_value = if client == ClientKind::Vscode {
        format!("${{input:{}-token}}", entry.name)
    } else {
        TOKEN_PLACEHOLDER.to_string()
    };
    let mut server = Map::new();
    if matches!(client, ClientKind::Vscode | ClientKind::ClaudeCode) {
        server.insert("type".into(), json!("stdio"));
    }
    server.insert("command".into(), json!(entry.command));
    server.insert("args".into(), json!(entry.args));
    server.insert(
        "env".into(),
        json!({ entry.token_env.clone(): token_value }),
    );

    let servers = root
        .entry(servers_key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !servers.is_object() {
        *servers = Value::Object(Map::new());
    }
    let Some(servers) = servers.as_object_mut() else {
        return Err(entry.name.clone());
    };
    let replaced = servers.contains_key(&entry.name);
    if replaced && !force {
        return Err(entry.name.clone());
    }
    servers.insert(entry.name.clone(), Value::Object(server));

    if client == ClientKind::Vscode {
        let id = format!("{}-token", entry.name);
        let inputs = root.entry("inputs").or_insert_with(|| json!([]));
        if !inputs.is_array() {
            *inputs = json!([]);
        }
        if let Some(list) = inputs.as_array_mut()
            && !list
                .iter()
                .any(|i| i.get("id").and_then(Value::as_str) == Some(id.as_str()))
        {
            list.push(json!({
                "type": "promptString",
                "id": id,
                "description": format!("Token for the {} MCP server ({})", entry.name, entry.token_env),
                "password": true
            }));
        }
    }
    Ok(replaced)
}

fn merge_codex(
    text: &str,
    entry: &Entry,
    force: bool,
    path: &Path,
) -> Result<(String, bool), String> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| {
        format!(
            "{} is not valid TOML ({e}); fix it or use --file",
            path.display()
        )
    })?;
    let replaced = doc
        .get("mcp_servers")
        .and_then(|s| s.get(&entry.name))
        .is_some();
    if replaced && !force {
        return Err(format!(
            "{} already has [mcp_servers.{}]; keep it, pass --force to replace it, or --name to add another",
            path.display(),
            entry.name
        ));
    }
    insert_codex(&mut doc, entry);
    Ok((doc.to_string(), replaced))
}

fn insert_codex(doc: &mut toml_edit::DocumentMut, entry: &Entry) {
    use toml_edit::{Array, InlineTable, Item, Table, value};
    let servers = doc.entry("mcp_servers").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let mut server = Table::new();
    server.insert("command", value(entry.command.as_str()));
    let mut args = Array::new();
    for a in &entry.args {
        args.push(a.as_str());
    }
    server.insert("args", value(args));
    let mut env = InlineTable::new();
    env.insert(&entry.token_env, TOKEN_PLACEHOLDER.into());
    server.insert("env", value(env));
    if let Some(t) = servers.as_table_like_mut() {
        t.insert(&entry.name, Item::Table(server));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            name: "wazion".into(),
            command: "/opt/bin/wazion-mcp".into(),
            args: vec!["--header".into(), "X-API-Key: ${VPS_KEY}".into()],
            token_env: "WAZION_TOKEN".into(),
        }
    }

    fn dirs(root: &Path) -> Dirs {
        Dirs {
            home: Some(root.join("home")),
            appdata: Some(root.join("appdata")),
            xdg_config: None,
            codex_home: None,
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
        }
        let xdg = Dirs {
            xdg_config: Some(r.join("xdg")),
            codex_home: Some(r.join("cx")),
            ..d.clone()
        };
        assert_eq!(
            default_path(Vscode, Os::Linux, &xdg).unwrap(),
            r.join("xdg/Code/User/mcp.json")
        );
        assert_eq!(
            default_path(Codex, Os::Linux, &xdg).unwrap(),
            r.join("cx/config.toml")
        );
        let no_appdata = Dirs { appdata: None, ..d };
        assert_eq!(
            default_path(ClaudeDesktop, Os::Windows, &no_appdata).unwrap(),
            r.join("home/AppData/Roaming/Claude/claude_desktop_config.json")
        );
    }

    #[test]
    fn json_clients_write_their_own_shape_into_temp_dirs_on_every_os() {
        for client in [
            ClientKind::ClaudeDesktop,
            ClientKind::Vscode,
            ClientKind::Cursor,
            ClientKind::ClaudeCode,
        ] {
            for os in [Os::MacOs, Os::Windows, Os::Linux] {
                let tmp = tempfile::tempdir().unwrap();
                let path = default_path(client, os, &dirs(tmp.path())).unwrap();
                let out = write(client, &entry(), &path, false).unwrap();
                assert!(out.backup.is_none() && !out.replaced);
                let v: Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                let key = if client == ClientKind::Vscode {
                    "servers"
                } else {
                    "mcpServers"
                };
                let server = &v[key]["wazion"];
                assert_eq!(server["command"], "/opt/bin/wazion-mcp");
                assert_eq!(server["args"], json!(["--header", "X-API-Key: ${VPS_KEY}"]));
                if client == ClientKind::Vscode {
                    assert_eq!(server["env"]["WAZION_TOKEN"], "${input:wazion-token}");
                    assert_eq!(v["inputs"][0]["password"], true);
                    assert_eq!(v["inputs"][0]["id"], "wazion-token");
                } else {
                    assert_eq!(server["env"]["WAZION_TOKEN"], TOKEN_PLACEHOLDER);
                }
            }
        }
    }

    #[test]
    fn merging_keeps_other_servers_and_keys_backs_up_and_respects_force() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("claude_desktop_config.json");
        let before = r#"{"globalShortcut":"Ctrl+Space","mcpServers":{"other":{"command":"x"},"wazion":{"command":"old"}}}"#;
        std::fs::write(&path, before).unwrap();
        let err = write(ClientKind::ClaudeDesktop, &entry(), &path, false).unwrap_err();
        assert!(err.contains("--force"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            before,
            "untouched without --force"
        );
        let out = write(ClientKind::ClaudeDesktop, &entry(), &path, true).unwrap();
        assert!(out.replaced);
        assert_eq!(
            std::fs::read_to_string(out.backup.unwrap()).unwrap(),
            before
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["globalShortcut"], "Ctrl+Space");
        assert_eq!(v["mcpServers"]["other"]["command"], "x");
        assert_eq!(v["mcpServers"]["wazion"]["command"], "/opt/bin/wazion-mcp");
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn invalid_json_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("mcp.json");
        std::fs::write(&path, "{ // comment\n}").unwrap();
        let err = write(ClientKind::Cursor, &entry(), &path, false).unwrap_err();
        assert!(err.contains("not valid JSON"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ // comment\n}");
    }

    #[test]
    fn codex_toml_is_merged_preserving_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let path = default_path(ClientKind::Codex, Os::Linux, &dirs(tmp.path())).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let before = "# my settings\nmodel = \"o3\"\n\n[mcp_servers.other]\ncommand = \"x\"\n";
        std::fs::write(&path, before).unwrap();
        write(ClientKind::Codex, &entry(), &path, false).unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        assert!(
            after.starts_with("# my settings\nmodel = \"o3\"\n"),
            "{after}"
        );
        let doc: toml_edit::DocumentMut = after.parse().unwrap();
        assert_eq!(doc["mcp_servers"]["other"]["command"].as_str(), Some("x"));
        assert_eq!(
            doc["mcp_servers"]["wazion"]["command"].as_str(),
            Some("/opt/bin/wazion-mcp")
        );
        assert_eq!(
            doc["mcp_servers"]["wazion"]["env"]["WAZION_TOKEN"].as_str(),
            Some(TOKEN_PLACEHOLDER)
        );
        assert!(write(ClientKind::Codex, &entry(), &path, false).is_err());
        assert!(
            write(ClientKind::Codex, &entry(), &path, true)
                .unwrap()
                .replaced
        );
    }

    #[test]
    fn snippets_name_the_binary_and_never_a_token() {
        for client in [
            ClientKind::ClaudeDesktop,
            ClientKind::Vscode,
            ClientKind::Cursor,
            ClientKind::Codex,
            ClientKind::ClaudeCode,
        ] {
            let s = snippet(client, &entry());
            assert!(s.contains("/opt/bin/wazion-mcp"), "{s}");
            assert!(s.contains("WAZION_TOKEN"), "{s}");
        }
    }

    #[test]
    fn entry_args_carry_only_non_default_flags() {
        use clap::Parser;
        let parse = |a: &[&str]| {
            crate::cli::Cli::parse_from(std::iter::once("wazion-mcp").chain(a.iter().copied()))
                .bridge
        };
        assert!(entry_args(&parse(&[])).is_empty());
        assert_eq!(
            entry_args(&parse(&[
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
}
