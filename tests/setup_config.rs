//! `wazion-mcp config` as a user runs it, on real files in a temporary HOME (issue 12 §1–§3):
//! a write never widens a file's mode and writes through a symlink; `--force` keeps what the
//! user pasted and never overwrites the only backup; flags the bridge would refuse are refused
//! and paths made absolute; a `${VAR}` in `--header` lands in `env`; unexpected shapes are
//! refused untouched; comments survive; every client's output has the shape its documentation
//! shows (`tests/fixtures/clients/`); a closed stdout is not a panic.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::Value;

const PLACEHOLDER: &str = "<paste your token here>";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/clients");

fn wazion(home: &Path, args: &[&str]) -> Output {
    // The bridge's own folders: never the developer's (on every OS).
    crate::support::driver::wazion_command()
        .args(args)
        .current_dir(home)
        .env("HOME", home)
        .env("USERPROFILE", home)
        // On Windows these point at the real profile: unset, they fall back to USERPROFILE's.
        .env_remove("APPDATA")
        .env_remove("LOCALAPPDATA")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CODEX_HOME")
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("GEMINI_CLI_HOME")
        .env_remove("WAZION_TOKEN")
        .output()
        .expect("run wazion-mcp")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read");
    jsonc_parser::cst::CstRootNode::parse(&text, &Default::default())
        .ok()
        .and_then(|root| root.value())
        .and_then(|v| v.to_serde_value())
        .unwrap_or_else(|| panic!("{} is not JSON(C):\n{text}", path.display()))
}

fn backups(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{prefix}.bak-"))
        })
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

/// `~/.claude.json` is 0600 and holds tokens: it stays 0600, and so does its backup; a file
/// that was 0640 stays 0640; a new file is created 0600.
#[cfg(unix)]
#[test]
fn a_write_keeps_the_files_mode_and_new_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let claude = h.join(".claude.json");
    std::fs::write(&claude, r#"{"numStartups": 1, "mcpServers": {}}"#).unwrap();
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = wazion(h, &["config", "claude-code", "--write"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(mode(&claude), 0o600);
    let b = backups(h, ".claude.json");
    assert_eq!(b.len(), 1);
    assert_eq!(mode(&b[0]), 0o600, "the backup holds the same secrets");
    assert!(text(&out).contains("mode 0600"), "{}", text(&out));

    let cursor = h.join(".cursor/mcp.json");
    std::fs::create_dir_all(cursor.parent().unwrap()).unwrap();
    std::fs::write(&cursor, "{}").unwrap();
    std::fs::set_permissions(&cursor, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = wazion(h, &["config", "cursor", "--write"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(mode(&cursor), 0o640, "never wider, never changed");

    let out = wazion(h, &["config", "gemini", "--write"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(mode(&h.join(".gemini/settings.json")), 0o600, "a new file");
    assert!(backups(&h.join(".gemini"), "settings.json").is_empty());
}

/// A config kept in a dotfiles folder and linked from HOME is written through the link when
/// asked with `--follow-links` (the target is outside the link's folder, issue 16 item 7):
/// the link stays a link, the target gets the entry, and the backup lands next to the file
/// written, never in the link's folder.
#[cfg(unix)]
#[test]
fn a_symlinked_config_is_written_through_the_link() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let dotfiles = h.join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    std::fs::create_dir_all(h.join(".cursor")).unwrap();
    let real = dotfiles.join("cursor-mcp.json");
    std::fs::write(&real, r#"{"mcpServers":{"other":{"command":"x"}}}"#).unwrap();
    let link = h.join(".cursor/mcp.json");
    std::os::unix::fs::symlink("../dotfiles/cursor-mcp.json", &link).unwrap();
    let out = wazion(h, &["config", "cursor", "--write", "--follow-links"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced by a file"
    );
    let v = read_json(&real);
    assert_eq!(v["mcpServers"]["other"]["command"], "x");
    assert!(v["mcpServers"]["wazion"]["command"].is_string(), "{v}");
    assert_eq!(backups(&dotfiles, "cursor-mcp.json").len(), 1);
    let in_link_folder = std::fs::read_dir(h.join(".cursor")).unwrap().count();
    assert_eq!(
        in_link_folder, 1,
        "nothing but the link in the link's folder"
    );
    assert!(text(&out).contains("a link; wrote"), "{}", text(&out));
}

/// `--force` replaces what this tool owns (command, args) and keeps what the user put there:
/// env values, `--header` flags not given again, other keys. A second `--force` makes a second
/// backup; the first, holding the original, is still there.
#[test]
fn force_keeps_pasted_values_and_every_backup() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let path = h.join(".cursor/mcp.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let original = r#"{
  "mcpServers": {
    "wazion": {
      "command": "/old/bin/wazion-mcp",
      "args": ["--header", "X-Other: ${OTHER_KEY}", "--header", "X-Api-Key: old", "https://old.example/mcp"],
      "env": { "WAZION_TOKEN": "wz_pasted_secret", "OTHER_KEY": "other-secret", "VPS_KEY": "<paste your token here>" },
      "disabled": false
    }
  }
}
"#;
    std::fs::write(&path, original).unwrap();
    let out = wazion(
        h,
        &[
            "config",
            "cursor",
            "--write",
            "--force",
            "https://new.example/mcp",
            "--header",
            "X-API-Key: ${VPS_KEY}",
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let v = read_json(&path);
    let e = &v["mcpServers"]["wazion"];
    assert!(
        e["command"].as_str().unwrap().ends_with("wazion-mcp")
            && e["command"] != "/old/bin/wazion-mcp",
        "{e}"
    );
    assert_eq!(
        e["args"],
        serde_json::json!([
            "--header",
            "X-API-Key: ${VPS_KEY}",
            "--header",
            "X-Other: ${OTHER_KEY}",
            "https://new.example/mcp"
        ]),
        "the new X-API-Key replaces the old one (same name); X-Other is kept"
    );
    assert_eq!(e["env"]["WAZION_TOKEN"], "wz_pasted_secret");
    assert_eq!(e["env"]["OTHER_KEY"], "other-secret");
    assert_eq!(e["env"]["VPS_KEY"], PLACEHOLDER);
    assert_eq!(e["disabled"], false);
    assert!(t.contains("kept from the previous entry"), "{t}");
    assert!(
        !t.contains("wz_pasted_secret") && !t.contains("other-secret"),
        "{t}"
    );

    let again = wazion(h, &["config", "cursor", "--write", "--force"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let b = backups(path.parent().unwrap(), "mcp.json");
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!(std::fs::read_to_string(&b[0]).unwrap(), original);
    assert_eq!(
        read_json(&path)["mcpServers"]["wazion"]["env"]["WAZION_TOKEN"],
        "wz_pasted_secret"
    );
}

/// Codex's TOML: `--force` keeps env values, other keys and comments, in place.
#[test]
fn codex_force_keeps_the_table_its_values_and_comments() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let path = h.join(".codex/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        "# mine\nmodel = \"o3\"\n\n[mcp_servers.wazion]\ncommand = \"/old/wazion-mcp\"\nargs = []\nstartup_timeout_sec = 30 # slow VPN\n\n[mcp_servers.wazion.env]\nWAZION_TOKEN = \"wz_kept\"\n",
    )
    .unwrap();
    let out = wazion(h, &["config", "codex", "--write"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    let out = wazion(
        h,
        &[
            "config",
            "codex",
            "--write",
            "--force",
            "--token-env",
            "OTHER",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.starts_with("# mine\nmodel = \"o3\"\n"), "{after}");
    assert!(
        after.contains("startup_timeout_sec = 30 # slow VPN"),
        "{after}"
    );
    let doc: toml_edit::DocumentMut = after.parse().unwrap();
    let t = &doc["mcp_servers"]["wazion"];
    assert_eq!(
        t["env"]["WAZION_TOKEN"].as_str(),
        Some("wz_kept"),
        "{after}"
    );
    assert_eq!(t["env"]["OTHER"].as_str(), Some(PLACEHOLDER), "{after}");
    assert_eq!(t["args"].as_array().unwrap().len(), 2, "{after}");
}

/// The bridge's own refusals, before anything is written: plain http to a remote host, a
/// missing CA file, an unusable proxy, a bad log level (exit 2, no file). Relative paths are
/// made absolute; a value the bridge raises to its minimum is named.
#[test]
fn flags_the_bridge_would_refuse_are_refused_and_paths_made_absolute() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let path = h.join(".cursor/mcp.json");
    for (args, says) in [
        (vec!["http://example.com/mcp"], "--allow-http"),
        (vec!["--ca-file", "missing.pem"], "--ca-file"),
        (vec!["--proxy", "not a proxy"], "--proxy"),
        (vec!["--log-level", "loud"], "--log-level"),
        (vec!["--header", "no colon"], "--header"),
    ] {
        let mut full = vec!["config", "cursor", "--write"];
        full.extend(args.iter().copied());
        let out = wazion(h, &full);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
        assert!(!path.exists(), "{args:?} wrote a file");
    }
    let pki = crate::support::pki::TestPki::generate();
    std::fs::write(h.join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(h.join("not-a-ca.pem"), "hello").unwrap();
    let out = wazion(
        h,
        &["config", "cursor", "--write", "--ca-file", "not-a-ca.pem"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no PEM certificate"), "{}", text(&out));
    let out = wazion(
        h,
        &[
            "config",
            "cursor",
            "--write",
            "--ca-file",
            "ca.pem",
            "--log-file",
            "logs/bridge.log",
            "--idle-timeout",
            "0",
            "http://example.com/mcp",
            "--allow-http",
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("--idle-timeout 0 is raised to 1 s"), "{t}");
    assert!(t.contains("logs does not exist"), "{t}");
    let args = read_json(&path)["mcpServers"]["wazion"]["args"].clone();
    let args: Vec<&str> = args
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let after = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
    let ca = std::fs::canonicalize(h.join("ca.pem")).unwrap();
    assert_eq!(after("--ca-file"), ca.to_str().unwrap());
    assert!(Path::new(after("--log-file")).is_absolute(), "{args:?}");
    assert!(after("--log-file").ends_with("logs/bridge.log"), "{args:?}");
}

/// `--header 'X-API-Key: ${VPS_KEY}'` puts VPS_KEY in the entry's env (a placeholder, or a
/// VS Code password prompt), next to the token's variable.
#[test]
fn a_header_variable_goes_into_env() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let header = ["--header", "X-API-Key: ${VPS_KEY}"];
    let out = wazion(h, &[&["config", "cursor"][..], &header].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let e = &v["mcpServers"]["wazion"];
    assert_eq!(e["env"]["WAZION_TOKEN"], PLACEHOLDER);
    assert_eq!(e["env"]["VPS_KEY"], PLACEHOLDER);
    assert_eq!(
        e["args"],
        serde_json::json!(["--header", "X-API-Key: ${VPS_KEY}"])
    );

    let out = wazion(h, &[&["config", "vscode"][..], &header].concat());
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(
        v["servers"]["wazion"]["env"]["VPS_KEY"],
        "${input:wazion-vps_key}"
    );
    let ids: Vec<&str> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["wazion-token", "wazion-vps_key"]);

    // Clients that expand ${VAR} in args themselves get a note on stderr.
    let out = wazion(h, &[&["config", "gemini"][..], &header].concat());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Keep VPS_KEY out of the environment"),
        "{}",
        text(&out)
    );
}

/// Files of a shape the tool does not expect are refused with a message naming what is
/// wrong, and left byte for byte, with no backup made.
#[test]
fn unexpected_shapes_are_refused_and_left_alone() {
    let cases: [(&str, &str, &str, &str); 6] = [
        (
            "cursor",
            ".cursor/mcp.json",
            r#"{"mcpServers": [{"name": "x"}]}"#,
            "is a list",
        ),
        (
            "cursor",
            ".cursor/mcp.json",
            "[1, 2]",
            "a list where a JSON object",
        ),
        (
            "claude-code",
            ".claude.json",
            "{\"mcpServers\": {",
            "not valid JSON",
        ),
        (
            "gemini",
            ".gemini/settings.json",
            r#"{"mcpServers": "none"}"#,
            "is a string",
        ),
        (
            "vscode",
            ".config/Code/User/mcp.json",
            r#"{"inputs": {}, "servers": {}}"#,
            "\"inputs\"",
        ),
        (
            "codex",
            ".codex/config.toml",
            "mcp_servers = \"x\"\n",
            "not a table",
        ),
    ];
    for (client, rel, content, says) in cases {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let path = h.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        let file = path.to_str().unwrap();
        let out = wazion(h, &["config", client, "--write", "--force", "--file", file]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{client} {content}: {t}");
        assert!(
            t.contains(says) && t.contains("nothing was changed"),
            "{client}: {t}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            backups(path.parent().unwrap(), &name).is_empty(),
            "{client}"
        );
    }
}

/// VS Code's mcp.json is JSONC: comments and trailing commas are read, and the comments are
/// still there after the entry and its input are added.
#[test]
fn vscode_comments_and_trailing_commas_survive() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let path = h.join(".config/Code/User/mcp.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(Path::new(FIXTURES).join("vscode.jsonc"), &path).unwrap();
    let out = wazion(
        h,
        &[
            "config",
            "vscode",
            "--write",
            "--file",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let after = std::fs::read_to_string(&path).unwrap();
    for comment in [
        "// 💡 Inputs are prompted on first server start",
        "// https://github.com/ppl-ai/modelcontextprotocol/",
    ] {
        assert!(after.contains(comment), "lost {comment:?}:\n{after}");
    }
    let v = read_json(&path);
    assert_eq!(v["servers"]["Perplexity"]["command"], "npx");
    assert_eq!(
        v["servers"]["wazion"]["env"]["WAZION_TOKEN"],
        "${input:wazion-token}"
    );
    assert_eq!(v["inputs"][0]["id"], "perplexity-key");
    assert_eq!(v["inputs"][1]["id"], "wazion-token");
    assert_eq!(
        v["inputs"][1]["description"],
        "Token for the wazion MCP server (WAZION_TOKEN)"
    );
}

/// The JSON type of every key of `ours` is the type the documented entry gives that key, and
/// `ours` has no key the documentation does not show.
fn assert_documented_shape(client: &str, ours: &Value, documented: &Value) {
    let (Some(ours), Some(doc)) = (ours.as_object(), documented.as_object()) else {
        panic!("{client}: not objects: {ours} / {documented}");
    };
    for (k, v) in ours {
        let d = doc.get(k).unwrap_or_else(|| {
            panic!("{client}: key {k:?} is not in the documented entry {documented}")
        });
        let kind = |v: &Value| std::mem::discriminant(v);
        assert_eq!(kind(v), kind(d), "{client}: {k} is {v}, documented as {d}");
        if let (Some(a), Some(_)) = (v.as_array(), d.as_array()) {
            assert!(
                a.iter().all(Value::is_string),
                "{client}: {k} holds only strings"
            );
        }
        if let Some(o) = v.as_object() {
            assert!(
                o.values().all(Value::is_string),
                "{client}: {k} maps to strings"
            );
        }
    }
    for k in ["command", "args", "env"] {
        assert!(ours.contains_key(k), "{client}: no {k}");
    }
}

/// Every client: `--write` into a copy of the documented config adds an entry of the
/// documented shape, under the documented key, and leaves the documented entry as it was.
#[test]
fn every_client_writes_the_shape_its_documentation_shows() {
    let cases = [
        (
            "claude-desktop",
            "claude-desktop.json",
            ".config/Claude/claude_desktop_config.json",
            "mcpServers",
            "brave-search",
        ),
        (
            "cursor",
            "cursor.json",
            ".cursor/mcp.json",
            "mcpServers",
            "server-name",
        ),
        (
            "vscode",
            "vscode.jsonc",
            ".config/Code/User/mcp.json",
            "servers",
            "Perplexity",
        ),
        (
            "gemini",
            "gemini.json",
            ".gemini/settings.json",
            "mcpServers",
            "pythonTools",
        ),
        (
            "claude-code",
            "claude-code.json",
            ".claude.json",
            "mcpServers",
            "airtable",
        ),
    ];
    for (client, fixture, rel, key, documented) in cases {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let path = h.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::copy(Path::new(FIXTURES).join(fixture), &path).unwrap();
        let before = read_json(&path);
        let file = path.to_str().unwrap();
        let out = wazion(h, &["config", client, "--write", "--file", file]);
        assert_eq!(out.status.code(), Some(0), "{client}: {}", text(&out));
        let after = read_json(&path);
        assert_eq!(after[key][documented], before[key][documented], "{client}");
        assert_documented_shape(client, &after[key]["wazion"], &before[key][documented]);
        for (k, v) in before.as_object().unwrap() {
            if k != key && k != "inputs" {
                assert_eq!(&after[k], v, "{client}: {k} changed");
            }
        }
    }

    // Codex: [mcp_servers.NAME] tables, with the documented keys and types.
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let path = h.join(".codex/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let fixture = std::fs::read_to_string(Path::new(FIXTURES).join("codex.toml")).unwrap();
    std::fs::write(&path, &fixture).unwrap();
    let out = wazion(h, &["config", "codex", "--write"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(
        after.starts_with(&fixture),
        "the documented part is kept as it was:\n{after}"
    );
    let doc: toml_edit::DocumentMut = after.parse().unwrap();
    let ours = doc["mcp_servers"]["wazion"].as_table().expect("a table");
    let documented = doc["mcp_servers"]["docs"].as_table().expect("a table");
    for (k, v) in ours.iter() {
        let d = documented
            .get(k)
            .unwrap_or_else(|| panic!("codex: {k} undocumented"));
        assert_eq!(v.type_name(), d.type_name(), "codex: {k}");
    }
}

/// Claude Code's CLI takes the server object itself: `config claude-code` prints a
/// `claude mcp add-json` line whose object has the documented shape, and a `claude mcp add`
/// line of the documented form (`NAME … --env K=V -- COMMAND ARGS`). POSIX lines: Windows
/// prints PowerShell, whose quoting `client_config::shell::tests` covers.
#[cfg(unix)]
#[test]
fn claude_code_gets_its_cli_lines() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = wazion(h, &["config", "claude-code", "https://wa.example/mcp"]);
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{t}");
    let documented: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("claude-code-add-json.json")).unwrap(),
    )
    .unwrap();
    let add_json = t
        .lines()
        .find(|l| l.starts_with("claude mcp add-json "))
        .unwrap_or_else(|| panic!("no add-json line:\n{t}"));
    let words = shlex::split(add_json).expect("a shell line");
    assert_eq!(
        words[..6],
        ["claude", "mcp", "add-json", "wazion", "--scope", "user"]
    );
    let object: Value = serde_json::from_str(&words[6]).expect("the server object");
    assert_documented_shape("claude-code add-json", &object, &documented);
    assert_eq!(object["type"], "stdio");
    assert_eq!(
        object["args"],
        serde_json::json!(["https://wa.example/mcp"])
    );

    let add = t
        .lines()
        .find(|l| l.starts_with("claude mcp add "))
        .unwrap_or_else(|| panic!("no add line:\n{t}"));
    let words = shlex::split(add).expect("a shell line");
    assert_eq!(words[..4], ["claude", "mcp", "add", "wazion"]);
    let dashdash = words.iter().position(|w| w == "--").expect("--");
    assert_eq!(
        &words[dashdash - 2..dashdash],
        ["--env", &format!("WAZION_TOKEN={PLACEHOLDER}")]
    );
    assert!(words[dashdash + 1].ends_with("wazion-mcp"), "{add}");
    assert_eq!(words[dashdash + 2..], ["https://wa.example/mcp"]);
}

/// `config cursor | head -c1`: the reader is gone before anything is written; the command
/// ends quietly (exit 0) instead of panicking with exit 101.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let home = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wazion-mcp"))
        .args(["config", "cursor"])
        .env("HOME", home.path())
        // The bridge's own folders: never the developer's (on every OS).
        .env(
            "WAZION_MCP_CONFIG_DIR",
            crate::support::driver::fresh_cache_dir().join("config"),
        )
        .env(
            "WAZION_MCP_CACHE_DIR",
            crate::support::driver::fresh_cache_dir(),
        )
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
}

/// Runs a given copy (or link) of the binary, as `argv0`, with a bare PATH.
#[cfg(unix)]
fn run_as(program: &Path, argv0: Option<&str>, home: &Path, path: &str, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new(program);
    if let Some(a) = argv0 {
        c.arg0(a);
    }
    c.args(args)
        .current_dir(home)
        .env("HOME", home)
        .env("PATH", path)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("WAZION_TOKEN")
        .output()
        .expect("run wazion-mcp")
}

/// A folder on the same file system as the built binary, so it can be hard-linked (a copy
/// in a folder of npx's cache, a Homebrew Cellar) without copying 100 MB.
#[cfg(unix)]
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("setup-config-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir")
}

#[cfg(unix)]
fn place_binary(at: &Path) {
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::fs::hard_link(env!("CARGO_BIN_EXE_wazion-mcp"), at)
        .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_wazion-mcp"), at).map(|_| ()))
        .expect("place the binary");
}

/// Issue 17 §7: run from npx's cache (as `npx -y wazion-mcp config cursor --write` does), the
/// entry does not name the cache: with nothing on PATH it names a copy made in ~/.local/bin,
/// which starts; with a native wazion-mcp on PATH it names that one.
#[cfg(unix)]
#[test]
fn a_binary_run_from_npx_cache_writes_a_stable_command() {
    let home = scratch();
    let h = home.path();
    let cached = h.join(".npm/_npx/6a9f0c/node_modules/@wazion-mcp/linux-x64/bin/wazion-mcp");
    place_binary(&cached);
    let out = run_as(
        &cached,
        None,
        h,
        "/usr/bin:/bin",
        &["config", "cursor", "--write"],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let copy = h.join(".local/bin/wazion-mcp");
    let entry = read_json(&h.join(".cursor/mcp.json"));
    assert_eq!(
        entry["mcpServers"]["wazion"]["command"],
        copy.display().to_string(),
        "{t}"
    );
    assert!(
        t.contains("npx's cache") && t.contains(&copy.display().to_string()),
        "{t}"
    );
    assert_eq!(mode(&copy), 0o755);
    let v = std::process::Command::new(&copy)
        .arg("--version")
        .output()
        .expect("run the copy");
    assert!(
        String::from_utf8_lossy(&v.stdout).starts_with("wazion-mcp "),
        "{v:?}"
    );
    // Again: the copy is already there and the same; nothing else changes.
    let again = ["config", "cursor", "--write", "--force"];
    let out = run_as(&cached, None, h, "/usr/bin:/bin", &again);
    let t = text(&out);
    assert!(
        t.contains("already holds this entry") && t.contains("already at"),
        "{t}"
    );

    // A native install on PATH (a link, as `uv tool install` or Homebrew make) is named.
    let installed = h.join("tools/wazion-mcp");
    place_binary(&installed);
    let bin = h.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(&installed, bin.join("wazion-mcp")).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let out = run_as(&cached, None, h, &path, &["config", "gemini", "--write"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let entry = read_json(&h.join(".gemini/settings.json"));
    assert_eq!(
        entry["mcpServers"]["wazion"]["command"],
        bin.join("wazion-mcp").display().to_string(),
        "{t}"
    );
}

/// Issue 18 §2: the command is the link the user ran (found on PATH), not the file it points
/// to; a Homebrew Cellar path becomes the prefix's bin/ link that `brew upgrade` keeps.
#[cfg(unix)]
#[test]
fn the_command_is_the_link_the_user_ran_not_a_cellar_path() {
    let home = scratch();
    let h = home.path();
    let cellar = h.join("brew/Cellar/wazion-mcp/0.3.0/bin/wazion-mcp");
    place_binary(&cellar);
    let bin = h.join("brew/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(
        "../Cellar/wazion-mcp/0.3.0/bin/wazion-mcp",
        bin.join("wazion-mcp"),
    )
    .unwrap();
    let link = bin.join("wazion-mcp").display().to_string();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    // Typed as `wazion-mcp`: the shell found the link; the kernel ran the Cellar file.
    let out = run_as(
        &cellar,
        Some("wazion-mcp"),
        h,
        &path,
        &["config", "cursor", "--write"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let entry = read_json(&h.join(".cursor/mcp.json"));
    assert_eq!(entry["mcpServers"]["wazion"]["command"], link);
    // Started by its Cellar path: the same file's bin/ link is named.
    let out = run_as(
        &cellar,
        None,
        h,
        "/usr/bin:/bin",
        &["config", "vscode", "--write"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let entry = read_json(&h.join(".config/Code/User/mcp.json"));
    assert_eq!(entry["servers"]["wazion"]["command"], link);
}

/// Issue 18 §4: `config claude-code URL --name X` ends with a `--write` line that keeps the
/// URL and the name; run as printed, it writes that entry (not the default server). POSIX
/// lines (see `claude_code_gets_its_cli_lines`).
#[cfg(unix)]
#[test]
fn the_suggested_write_line_keeps_the_url_and_the_name() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = wazion(
        h,
        &[
            "config",
            "claude-code",
            "https://wa.example/mcp",
            "--name",
            "shop2",
        ],
    );
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{t}");
    let line = t
        .lines()
        .find(|l| l.contains(" config claude-code ") && l.ends_with("--write"))
        .unwrap_or_else(|| panic!("no --write line:\n{t}"));
    let words = shlex::split(line).expect("a shell line");
    let out = wazion(
        h,
        &words[1..].iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = read_json(&h.join(".claude.json"));
    let entry = &written["mcpServers"]["shop2"];
    assert_eq!(
        entry["args"],
        serde_json::json!(["https://wa.example/mcp"]),
        "{written}"
    );
    assert!(written["mcpServers"].get("wazion").is_none(), "{written}");
}

/// Issue 16 item 7: `config --write` stays inside what the user pointed at. A repository
/// ships `.cursor/mcp.json` as a link to the user's global `~/.claude.json`: the write is
/// refused (exit 1, the global file and the repository untouched, the way out named); with
/// `--follow-links` it goes through, and the backup of the global file (holding its other
/// secrets) lands next to it, never in the repository. A link to its own folder or below
/// (`mcp.json -> real/mcp.json`) is still followed by default, its backup next to the target.
///
/// On the old main: the global file was edited (the report said only "a link; wrote …")
/// and its backup, with the user's other secrets, was written into the repository's
/// `.cursor/`.
#[cfg(unix)]
#[test]
fn a_link_out_of_its_folder_is_not_followed_without_follow_links() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let global = h.join(".claude.json");
    let original =
        r#"{"mcpServers":{"other":{"command":"x","env":{"OTHER_TOKEN":"kept-secret"}}}}"#;
    std::fs::write(&global, original).unwrap();
    let project = h.join("work/repo/.cursor");
    std::fs::create_dir_all(&project).unwrap();
    let link = project.join("mcp.json");
    std::os::unix::fs::symlink(&global, &link).unwrap();
    let file = link.to_str().unwrap();

    let out = wazion(h, &["config", "cursor", "--write", "--file", file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--follow-links"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&global).unwrap(), original);
    assert_eq!(
        std::fs::read_dir(&project).unwrap().count(),
        1,
        "only the link"
    );
    assert!(backups(h, ".claude.json").is_empty());

    let out = wazion(
        h,
        &[
            "config",
            "cursor",
            "--write",
            "--file",
            file,
            "--follow-links",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(read_json(&global)["mcpServers"]["wazion"].is_object());
    assert_eq!(
        backups(h, ".claude.json").len(),
        1,
        "next to the file written"
    );
    assert_eq!(
        std::fs::read_dir(&project).unwrap().count(),
        1,
        "no backup in the repository"
    );

    // Within its folder: followed without the flag; the backup next to the target.
    let dir = h.join(".cursor");
    std::fs::create_dir_all(dir.join("real")).unwrap();
    std::fs::write(dir.join("real/mcp.json"), "{}").unwrap();
    std::os::unix::fs::symlink("real/mcp.json", dir.join("mcp.json")).unwrap();
    let out = wazion(h, &["config", "cursor", "--write"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(read_json(&dir.join("real/mcp.json"))["mcpServers"]["wazion"].is_object());
    assert_eq!(backups(&dir.join("real"), "mcp.json").len(), 1);
    assert!(backups(&dir, "mcp.json").is_empty());

    // A folder on the way that is a link out of its own folder: the same rule.
    let repo2 = h.join("work/repo2");
    std::fs::create_dir_all(&repo2).unwrap();
    std::os::unix::fs::symlink(&dir, repo2.join(".cursor")).unwrap();
    let before = std::fs::read_to_string(dir.join("real/mcp.json")).unwrap();
    let through = repo2.join(".cursor/mcp.json");
    let out = wazion(
        h,
        &[
            "config",
            "cursor",
            "--write",
            "--force",
            "--name",
            "other",
            "--file",
            through.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--follow-links"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(dir.join("real/mcp.json")).unwrap(),
        before
    );

    // The link's maker names its target: an escape sequence in that name is not printed raw.
    let evil = project.join("evil.json");
    std::os::unix::fs::symlink(h.join("\u{1b}]0;pwned\u{7}.json"), &evil).unwrap();
    let out = wazion(
        h,
        &[
            "config",
            "cursor",
            "--write",
            "--file",
            evil.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains('\u{1b}'), "{:?}", text(&out));
    assert!(text(&out).contains("\\x1b]0;pwned"), "{}", text(&out));
}
