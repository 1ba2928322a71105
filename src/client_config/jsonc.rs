//! Merging the entry into a JSON client's file, edited as a CST (`jsonc-parser`) so comments,
//! trailing commas and layout are kept: what VS Code and Gemini CLI accept (JSONC), and plain
//! JSON for the others.
//!
//! Invariants: a file of an unexpected shape (not JSON, a top level that is not an object,
//! `"mcpServers": [...]`, `"inputs"` that is not a list) is refused and left as it was; an
//! existing entry is replaced only with `--force`, in place: the keys this tool owns are set,
//! the keys of another transport dropped, every other key stays with its comments, and `env`
//! values already there are kept; VS Code's missing `inputs` are added, none removed.

use std::path::Path;

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstNode, CstObject, CstRootNode};
use serde_json::{Map, Value, json};

use super::Entry;
use super::json::{has_type, json_document, json_entry, pretty, servers_key, vscode_inputs};
use super::merge::{Merged, Previous};
use crate::cli::ClientKind;

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

pub(super) fn merge_json(
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
