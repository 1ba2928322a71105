//! Tool filtering (`--allow-tool` / `--deny-tool`): which tools the client may see and call.
//!
//! Invariants: a hidden tool never appears in a `tools/list` result the client receives (on
//! every page), and calling it is refused locally without contacting the server. Filtering is
//! a byte splice of the `tools` array: every kept tool, and everything around the array,
//! stays byte-for-byte as the server sent it.

use std::borrow::Cow;

use serde::Deserialize;

/// Allow and deny globs; deny wins, and an empty allow list allows everything.
#[derive(Debug, Clone)]
pub struct ToolFilter {
    allow: Vec<glob::Pattern>,
    deny: Vec<glob::Pattern>,
}

impl ToolFilter {
    /// `None` when no glob is given (no filtering at all).
    pub fn new(allow: &[String], deny: &[String]) -> Result<Option<Self>, String> {
        if allow.is_empty() && deny.is_empty() {
            return Ok(None);
        }
        let compile = |flag: &str, globs: &[String]| {
            globs
                .iter()
                .map(|g| {
                    glob::Pattern::new(g)
                        .map_err(|e| format!("{flag} '{g}' is not a valid glob ({e})"))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Some(Self {
            allow: compile("--allow-tool", allow)?,
            deny: compile("--deny-tool", deny)?,
        }))
    }

    pub fn is_visible(&self, name: &str) -> bool {
        let allowed = self.allow.is_empty() || self.allow.iter().any(|p| p.matches(name));
        allowed && !self.deny.iter().any(|p| p.matches(name))
    }

    /// Removes hidden tools from a `tools/list` response; returns it unchanged (borrowed)
    /// when nothing is hidden or it is not a result with a `tools` array.
    pub fn filter_list_result<'a>(&self, message: &'a [u8]) -> Cow<'a, [u8]> {
        #[derive(Deserialize)]
        struct Tool<'a> {
            #[serde(borrow)]
            name: Option<Cow<'a, str>>,
        }
        crate::jsonrpc::retain_tools(message, |raw| {
            serde_json::from_str::<Tool<'_>>(raw.get())
                .ok()
                .and_then(|t| t.name)
                .is_none_or(|n| self.is_visible(&n))
        })
    }
}

/// What a `tools/call` names as its tool.
#[derive(Debug, PartialEq, Eq)]
pub enum Called {
    /// One string `params.name` (escapes decoded: the name the server reads).
    Tool(String),
    /// Two `params` objects or two `name` members: which one counts is the reader's choice,
    /// so the message means different things to different servers. Never forwarded.
    Ambiguous(String),
    /// No `params`, no `name`, or a `name` that is not a string: there is no tool to judge.
    Unreadable(String),
}

/// `params.name` of a `tools/call` (a request or a notification), read strictly: a
/// duplicate member is [`Called::Ambiguous`], not whichever comes last.
pub fn called_tool(message: &[u8]) -> Called {
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        name: Option<Cow<'a, str>>,
    }
    // serde's derived structs refuse a duplicate member (`params` in the envelope, `name` in
    // `params`), whatever its spelling (`"na\u006de"` is `name`).
    match crate::jsonrpc::params::<Params<'_>>(message) {
        Ok(Some(Params { name: Some(name) })) => Called::Tool(name.into_owned()),
        Ok(Some(Params { name: None })) => Called::Unreadable("it has no tool name".into()),
        Ok(None) => Called::Unreadable("it has no params".into()),
        Err(e) if e.to_string().starts_with("duplicate field") => {
            Called::Ambiguous(format!("it names its tool twice ({e})"))
        }
        Err(e) => Called::Unreadable(format!("its tool name is not a string ({e})")),
    }
}

/// Why a `tools/call` must not reach the server, if it must not: a tool hidden by the
/// filter, a tool named ambiguously (always refused, filter or not), or, when a filter is
/// set, no readable tool name (the filter fails closed). `None`: forward it.
pub fn refusal(filter: Option<&ToolFilter>, message: &[u8]) -> Option<String> {
    // Without a filter only an ambiguous name matters, and it needs two `name` members (or
    // an escape to spell one): a byte search settles nearly every call without a parse.
    if filter.is_none() {
        let names = memchr::memmem::find_iter(message, b"\"name\"")
            .take(2)
            .count();
        if names < 2 && memchr::memmem::find(message, b"\\u").is_none() {
            return None;
        }
    }
    match (called_tool(message), filter) {
        (Called::Ambiguous(why), _) => Some(format!(
            "tools/call refused: {why}; which tool is meant depends on which duplicate the \
             server keeps, so it was not sent. Send one params object with one name"
        )),
        (Called::Tool(name), Some(f)) if !f.is_visible(&name) => {
            Some(format!("Unknown tool: {name}"))
        }
        (Called::Unreadable(why), Some(_)) => Some(format!(
            "tools/call refused: {why}, and --allow-tool/--deny-tool can only let through a \
             call whose tool is known"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str]) -> ToolFilter {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        ToolFilter::new(&s(allow), &s(deny)).unwrap().unwrap()
    }

    #[test]
    fn deny_wins_and_empty_allow_allows_all() {
        let f = filter(&[], &["delete_*"]);
        assert!(f.is_visible("get_shop_status") && !f.is_visible("delete_order"));
        let f = filter(&["get_*", "delete_all"], &["delete_*"]);
        assert!(f.is_visible("get_x") && !f.is_visible("delete_all") && !f.is_visible("echo"));
        assert!(ToolFilter::new(&[], &[]).unwrap().is_none());
        assert!(ToolFilter::new(&["[".into()], &[]).is_err());
    }

    #[test]
    fn list_results_keep_every_other_byte() {
        let f = filter(&[], &["b*"]);
        let msg = br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[ {"name":"a","x":1.0} , {"name":"bad"},{"name":"c"} ],"nextCursor":"n"}}"#;
        assert_eq!(
            std::str::from_utf8(&f.filter_list_result(msg)).unwrap(),
            r#"{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"a","x":1.0},{"name":"c"}],"nextCursor":"n"}}"#
        );
        let untouched = br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"a"}]}}"#;
        assert!(matches!(f.filter_list_result(untouched), Cow::Borrowed(_)));
        let error = br#"{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"m"}}"#;
        assert!(matches!(f.filter_list_result(error), Cow::Borrowed(_)));
    }

    #[test]
    fn reads_the_called_tool_strictly() {
        let r = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"no"},"name":"get_x"}}"#;
        assert_eq!(called_tool(r), Called::Tool("get_x".into()));
        let escaped = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete\u005forder"}}"#;
        assert_eq!(called_tool(escaped), Called::Tool("delete_order".into()));
        for twice in [
            &br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#[..],
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","na\u006de":"b"}}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"},"params":{"name":"b"}}"#,
        ] {
            assert!(matches!(called_tool(twice), Called::Ambiguous(_)), "{twice:?}");
            assert!(refusal(None, twice).is_some());
        }
        let number = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#;
        assert!(matches!(called_tool(number), Called::Unreadable(_)));
        assert_eq!(refusal(None, number), None); // the server's own error, unfiltered
        let f = filter(&["get_*"], &[]);
        assert!(refusal(Some(&f), number).is_some());
        assert_eq!(refusal(Some(&f), r), None);
        assert_eq!(
            refusal(Some(&f), escaped).as_deref(),
            Some("Unknown tool: delete_order")
        );
    }
}
