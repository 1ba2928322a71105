//! Codex's `config.toml`: `[mcp_servers.<name>]`, edited with `toml_edit` so comments and
//! layout are kept.
//!
//! Invariants: a file that is not TOML, or whose `mcp_servers` is not a table, is refused and
//! left as it was; an existing server is replaced only with `--force`, in place: `command`,
//! `args` and `env` are set, the keys of the HTTP transport (`url`, `bearer_token_env_var`)
//! dropped, every other key (`startup_timeout_sec`, …) kept; `env` values already there are
//! kept, missing ones get [`TOKEN_PLACEHOLDER`].

use std::path::Path;

use super::merge::{Merged, Previous};
use super::{Entry, TOKEN_PLACEHOLDER};

pub(super) fn merge_codex(
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
pub(super) fn merge_codex_doc(
    doc: &mut toml_edit::DocumentMut,
    entry: &Entry,
    fresh: bool,
) -> Vec<String> {
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
