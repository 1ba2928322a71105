//! The entry in each JSON client's documented shape: the key that holds the servers
//! (`servers` for VS Code, `mcpServers` elsewhere), `"type": "stdio"` where the client
//! documents it, and VS Code's `inputs`.
//!
//! Invariant: a secret is never written, only [`TOKEN_PLACEHOLDER`], or for VS Code a
//! `${input:…}` whose input is a password prompt (one per secret variable).

use serde_json::{Map, Value, json};

use super::{Entry, TOKEN_PLACEHOLDER, token_prompt};
use crate::cli::ClientKind;

/// The key that holds the servers in a JSON client's file.
pub(super) fn servers_key(client: ClientKind) -> &'static str {
    if client == ClientKind::Vscode {
        "servers"
    } else {
        "mcpServers"
    }
}

/// Whether the client's documented stdio entry carries `"type": "stdio"`.
pub(super) fn has_type(client: ClientKind) -> bool {
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
pub(super) fn vscode_inputs(entry: &Entry) -> Vec<Value> {
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
pub(super) fn json_document(client: ClientKind, entry: &Entry) -> Value {
    let mut root = Map::new();
    if client == ClientKind::Vscode {
        root.insert("inputs".into(), Value::Array(vscode_inputs(entry)));
    }
    let mut servers = Map::new();
    servers.insert(entry.name.clone(), json_entry(client, entry));
    root.insert(servers_key(client).into(), Value::Object(servers));
    Value::Object(root)
}

pub(super) fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}
