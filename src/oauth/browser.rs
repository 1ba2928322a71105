//! The user's side of the flow: opening the authorization URL in a browser and receiving the
//! redirect on a loopback callback (RFC 8252 §7.3).
//!
//! Invariants:
//! - the URL is always printed to stderr (headless machines), and the opener never inherits
//!   the bridge's stdout, which carries only protocol messages;
//! - the callback listens on 127.0.0.1 only, answers every request with a short page, and
//!   accepts exactly one result: the first request to the callback path, whose `state` must
//!   match (a mismatch ends the flow with an error, it is never retried with the same state);
//! - the wait is bounded by the caller's timeout; neither the code nor the state is logged.
//!
//! The listener is a dozen lines over `tokio::net` rather than an HTTP server crate: it reads
//! one request head per connection and writes one fixed answer, and the production crate has
//! no HTTP server in its tree (axum and hyper's server side are dev-dependencies only).

use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The path of the redirect URI.
pub const CALLBACK_PATH: &str = "/callback";
/// The most of a request head read from the browser.
const MAX_HEAD: usize = 16 * 1024;

/// What the authorization server sent back through the browser (no `Debug`: the code is a
/// secret).
pub struct Callback {
    pub code: String,
    pub iss: Option<String>,
}

/// A bound callback listener.
pub struct Listener {
    listener: TcpListener,
    pub port: u16,
}

impl Listener {
    /// Binds 127.0.0.1:`port` (0: an ephemeral port). A taken preferred port falls back to
    /// an ephemeral one; the caller sees the port it got.
    pub async fn bind(preferred: Option<u16>) -> Result<Self, String> {
        if let Some(port) = preferred
            && let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await
        {
            return Ok(Self { listener, port });
        }
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1 for the sign-in callback: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?
            .port();
        Ok(Self { listener, port })
    }

    pub fn redirect_uri(&self) -> String {
        redirect_uri(self.port)
    }

    /// Waits for the callback carrying `state`, up to `timeout`.
    pub async fn wait(self, state: &str, timeout: Duration) -> Result<Callback, String> {
        match tokio::time::timeout(timeout, self.accept_loop(state)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no answer from the browser within {} s (--oauth-timeout): the sign-in was not \
                 completed; run `wazion-mcp auth login` from a terminal, or retry",
                timeout.as_secs()
            )),
        }
    }

    async fn accept_loop(self, state: &str) -> Result<Callback, String> {
        // Each connection's head is read on a task of its own: browsers open speculative
        // connections that send nothing, and one of those must not hold up the real callback.
        let (heads, mut ready) = tokio::sync::mpsc::channel::<(TcpStream, String)>(8);
        loop {
            let (mut conn, target) = tokio::select! {
                accepted = self.listener.accept() => {
                    match accepted {
                        Ok((mut conn, _)) => {
                            let heads = heads.clone();
                            tokio::spawn(async move {
                                if let Some(target) = read_target(&mut conn).await {
                                    let _ = heads.send((conn, target)).await;
                                }
                            });
                            continue;
                        }
                        Err(e) => return Err(format!("the sign-in callback listener failed: {e}")),
                    }
                }
                Some(head) = ready.recv() => head,
            };
            let Some(query) = target.strip_prefix(CALLBACK_PATH) else {
                respond(&mut conn, "404 Not Found", "Not the sign-in callback.").await;
                continue;
            };
            let Ok(url) = Url::parse(&format!("http://127.0.0.1{CALLBACK_PATH}{query}")) else {
                respond(&mut conn, "400 Bad Request", "Unreadable callback.").await;
                continue;
            };
            let get = |k: &str| {
                url.query_pairs()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.into_owned())
            };
            let result = if get("state").as_deref() != Some(state) {
                Err(
                    "the sign-in callback's state does not match the one this sign-in sent: \
                     refused (an old browser tab, or a forged redirect); retry the sign-in"
                        .to_string(),
                )
            } else if let Some(err) = get("error") {
                let why = get("error_description").unwrap_or_default();
                Err(format!(
                    "the authorization server refused the sign-in: {}{}",
                    printable(&err),
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", printable(&why))
                    }
                ))
            } else if let Some(code) = get("code") {
                Ok(Callback {
                    code,
                    iss: get("iss"),
                })
            } else {
                Err("the sign-in callback carried no authorization code".to_string())
            };
            match &result {
                Ok(_) => {
                    respond(
                        &mut conn,
                        "200 OK",
                        "Signed in. You can close this tab and return to your MCP client.",
                    )
                    .await
                }
                Err(e) => {
                    respond(
                        &mut conn,
                        "400 Bad Request",
                        &format!("Sign-in failed: {e}"),
                    )
                    .await
                }
            }
            return result;
        }
    }
}

pub fn redirect_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}{CALLBACK_PATH}")
}

/// A server's words for a page or a message: printable ASCII-ish, bounded.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// Reads the request head and returns the request target of a GET.
async fn read_target(conn: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let read = async {
        loop {
            let n = conn.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > MAX_HEAD {
                return Some(());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .ok()??;
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next()?.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    (method == "GET").then(|| target.to_string())
}

async fn respond(conn: &mut TcpStream, status: &str, text: &str) {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>wazion-mcp</title></head>\
         <body><p>{escaped}</p></body></html>"
    );
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(answer.as_bytes()).await;
    let _ = conn.shutdown().await;
}

/// Prints the URL to stderr and opens it: `$BROWSER` when set (its first `:`-separated entry;
/// `%s` is replaced by the URL, else the URL is appended), otherwise the platform's opener.
/// A failure to open is not an error: the printed URL is the way out.
pub fn open(url: &str) {
    eprintln!("wazion-mcp: sign in to continue. If no browser opens, visit this URL:\n  {url}");
    let browser = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty());
    let opened = match browser {
        Some(b) => run_browser_command(&b, url),
        None => open::that_detached(url).map_err(|e| e.to_string()),
    };
    if let Err(e) = opened {
        tracing::warn!("could not open a browser ({e}); open the URL printed above");
    }
}

fn run_browser_command(spec: &str, url: &str) -> Result<(), String> {
    let words = browser_argv(crate::client_config::Os::current(), spec, url)?;
    let mut child = std::process::Command::new(&words[0])
        .args(&words[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run $BROWSER: {e}"))?;
    // Reaped in the background, so no zombie is left whatever the browser does.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

/// The program and arguments `$BROWSER` names for `url`: its first entry (entries are
/// separated by `:` on Unix, by `;` on Windows, where `:` is part of `C:\`), split as the
/// OS's shell splits (POSIX words on Unix; on Windows the C runtime's rules, so `\` stays a
/// path separator, and an unquoted `C:\Program Files\…\x.exe` is one program), with `%s`
/// replaced by the URL or the URL appended.
pub(crate) fn browser_argv(
    os: crate::client_config::Os,
    spec: &str,
    url: &str,
) -> Result<Vec<String>, String> {
    let windows = os == crate::client_config::Os::Windows;
    let sep = if windows { ';' } else { ':' };
    let first = spec
        .split(sep)
        .find(|s| !s.trim().is_empty())
        .ok_or_else(|| "BROWSER is empty".to_string())?
        .trim();
    let mut words = if windows {
        // An unquoted program path with spaces: up to the first `.exe` that ends a word.
        let lower = first.to_ascii_lowercase();
        let exe_end = (!first.starts_with('"'))
            .then(|| {
                lower
                    .match_indices(".exe")
                    .map(|(i, _)| i + 4)
                    .find(|&e| lower[e..].is_empty() || lower[e..].starts_with(' '))
            })
            .flatten();
        match exe_end {
            Some(e) if first[..e].contains(' ') => {
                let mut w = vec![first[..e].to_string()];
                w.extend(winsplit::split(&first[e..]));
                w
            }
            _ => winsplit::split(first),
        }
    } else {
        shlex::split(first).ok_or_else(|| "BROWSER is not a valid command line".to_string())?
    };
    if words.is_empty() {
        return Err("BROWSER is empty".into());
    }
    if words.iter().any(|w| w.contains("%s")) {
        for w in &mut words {
            *w = w.replace("%s", url);
        }
    } else {
        words.push(url.to_string());
    }
    Ok(words)
}

#[cfg(test)]
mod browser_tests {
    use super::browser_argv;
    use crate::client_config::Os;

    /// Issue 18 §4: $BROWSER holding a Windows path (backslashes, spaces, quotes) names that
    /// program; Unix keeps its `:`-list and shell words.
    #[test]
    fn browser_accepts_windows_paths() {
        let u = "https://as.example/authorize?x=1";
        let ff = r"C:\Program Files\Mozilla Firefox\firefox.exe";
        for spec in [
            ff.to_string(),
            format!("\"{ff}\""),
            format!("\"{ff}\" %s"),
            format!("{ff};C:\\other.exe"),
        ] {
            assert_eq!(
                browser_argv(Os::Windows, &spec, u).unwrap(),
                [ff, u],
                "{spec}"
            );
        }
        assert_eq!(
            browser_argv(Os::Windows, &format!("{ff} -private-window %s"), u).unwrap(),
            [ff, "-private-window", u]
        );
        assert_eq!(
            browser_argv(Os::Windows, r"C:\tools\chrome.exe --new-window", u).unwrap(),
            [r"C:\tools\chrome.exe", "--new-window", u]
        );
        assert_eq!(
            browser_argv(Os::Linux, "firefox --new-tab '%s':chromium", u).unwrap(),
            ["firefox", "--new-tab", u]
        );
        assert_eq!(
            browser_argv(Os::MacOs, "'/Applications/My Browser.app/x' %s", u).unwrap(),
            ["/Applications/My Browser.app/x", u]
        );
        assert!(browser_argv(Os::Windows, "  ;  ", u).is_err());
    }
}
