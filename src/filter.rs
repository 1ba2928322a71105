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

/// `params.name` of a `tools/call` request.
pub fn called_tool(request: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        name: Option<Cow<'a, str>>,
    }
    crate::jsonrpc::params::<Params<'_>>(request)
        .ok()??
        .name
        .map(Cow::into_owned)
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
    fn reads_the_called_tool() {
        let r = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"no"},"name":"get_x"}}"#;
        assert_eq!(called_tool(r).as_deref(), Some("get_x"));
    }
}
