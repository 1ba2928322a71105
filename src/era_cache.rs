//! Which servers refused a 2025-era client's handshake, so only the first start against
//! such a server pays for finding out.
//!
//! A 2025-era client's `initialize` always goes to the server first, as the client wrote it;
//! the bridge translates only when the server refuses it the 2026-07-28 way (see
//! `relay::translated`). That refusal costs one round trip, and a 2026-only server that checks
//! every message against the 2026 schema counts it as an invalid message; so the refusal is
//! remembered, and later starts answer `initialize` from `server/discover` at once. Only the
//! refusal is remembered: a server that accepts the handshake needs no memory.
//!
//! A remembered refusal expires a week after it was seen (the server may have learnt the
//! handshake era since; then the next start tries the client's own `initialize` again), and
//! is dropped sooner when a translated request fails in a way that suggests the server
//! changed, or when `server/discover` fails on a later start. The file keeps at most
//! [`MAX_ENTRIES`] servers, the most recently used ones.
//!
//! The file is `eras.json` in the bridge's cache folder ([`crate::folders::cache_dir`]:
//! `~/.cache/wazion-mcp` on Linux, `~/Library/Caches/wazion-mcp` on macOS,
//! `%LOCALAPPDATA%\wazion-mcp\cache` on Windows, `WAZION_MCP_CACHE_DIR` when set): a JSON
//! object from endpoint URL (no query) to `{"refused": <unix seconds>, "used": <unix
//! seconds>}`. Entries of another shape (the earlier `"2025"` / `"2026"` strings) are ignored
//! and dropped at the next write. It holds no secret. Every failure to read or write it is
//! logged at debug and otherwise ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Url;
use serde::{Deserialize, Serialize};

/// How long a refused handshake is remembered.
pub const EXPIRY: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The most servers the file remembers; the least recently used go first.
pub const MAX_ENTRIES: usize = 64;

/// What the bridge learnt about a server's era.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remembered {
    /// It accepted a 2025-era `initialize` (nothing is kept: storing this forgets the server).
    Session,
    /// It refused a 2025-era `initialize` the 2026-07-28 way (answered `server/discover`).
    Modern,
}

/// One remembered server: when it refused the handshake, and when that was last used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Unix seconds when the server refused a 2025-era `initialize`.
    pub refused: u64,
    /// Unix seconds when a start last relied on it.
    pub used: u64,
}

fn file() -> Option<PathBuf> {
    Some(file_in(&crate::folders::cache_dir()?))
}

/// The key of an endpoint: scheme, host, port and path; never the query or user-info.
fn key(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Every well-formed entry of the file (an unreadable file reads as empty).
fn read_all(file: &Path) -> BTreeMap<String, Entry> {
    let Some(raw) = std::fs::read(file)
        .ok()
        .and_then(|b| serde_json::from_slice::<BTreeMap<String, serde_json::Value>>(&b).ok())
    else {
        return BTreeMap::new();
    };
    raw.into_iter()
        .filter_map(|(k, v)| Some((k, serde_json::from_value::<Entry>(v).ok()?)))
        .collect()
}

fn is_fresh(entry: &Entry, now: u64) -> bool {
    now.saturating_sub(entry.refused) < EXPIRY.as_secs() && entry.refused <= now + 60
}

/// What the endpoint is remembered for, if anything still fresh.
pub fn lookup(url: &Url) -> Option<Remembered> {
    lookup_at(&file()?, url, now())
}

/// [`lookup`] in `path` at time `now` (unix seconds).
pub fn lookup_at(path: &Path, url: &Url, now: u64) -> Option<Remembered> {
    read_all(path)
        .get(&key(url))
        .filter(|e| is_fresh(e, now))
        .map(|_| Remembered::Modern)
}

/// Records what the endpoint did, in the user's cache directory: `Modern` remembers a
/// refused handshake from now on, `Session` forgets the endpoint.
pub fn store(url: &Url, era: Remembered) {
    if let Some(path) = file()
        && let Err(e) = store_at(&path, url, era)
    {
        tracing::debug!(
            "could not record the server's era in {}: {e}",
            path.display()
        );
    }
}

/// Notes that a start relied on the endpoint's entry (it then stays among the kept ones).
pub fn touch(url: &Url) {
    if let Some(path) = file()
        && let Err(e) = update(&path, now(), |all, now| {
            if let Some(e) = all.get_mut(&key(url)) {
                e.used = now;
            }
        })
    {
        tracing::debug!("could not update {}: {e}", path.display());
    }
}

/// [`store`] into `path`.
pub fn store_at(path: &Path, url: &Url, era: Remembered) -> std::io::Result<()> {
    store_at_time(path, url, era, now())
}

/// [`store`] into `path` at time `now` (unix seconds).
pub fn store_at_time(path: &Path, url: &Url, era: Remembered, now: u64) -> std::io::Result<()> {
    update(path, now, |all, now| match era {
        Remembered::Session => {
            all.remove(&key(url));
        }
        Remembered::Modern => {
            all.insert(
                key(url),
                Entry {
                    refused: now,
                    used: now,
                },
            );
        }
    })
}

/// Reads the file, applies `change`, drops expired entries and all but the [`MAX_ENTRIES`]
/// most recently used, and writes the file back (to a temporary file renamed over the old
/// one, so a concurrent reader never sees half a file) when that changed anything.
fn update(
    path: &Path,
    now: u64,
    change: impl FnOnce(&mut BTreeMap<String, Entry>, u64),
) -> std::io::Result<()> {
    let on_disk = std::fs::read(path).ok();
    let mut all = read_all(path);
    change(&mut all, now);
    all.retain(|_, e| is_fresh(e, now));
    if all.len() > MAX_ENTRIES {
        let mut by_use: Vec<(u64, String)> = all.iter().map(|(k, e)| (e.used, k.clone())).collect();
        by_use.sort_unstable_by(|a, b| b.cmp(a));
        for (_, k) in by_use.into_iter().skip(MAX_ENTRIES) {
            all.remove(&k);
        }
    }
    let text = serde_json::to_vec_pretty(&all).unwrap_or_default();
    let unchanged = match &on_disk {
        Some(old) => *old == text,
        None => all.is_empty(), // nothing to remember, and no file to tidy
    };
    if unchanged {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(path);
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("eras.json.{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Where the cache file lives in the bridge's cache folder (the value
/// `WAZION_MCP_CACHE_DIR` would name).
pub fn file_in(cache_dir: &Path) -> PathBuf {
    cache_dir.join("eras.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(port: u16) -> Url {
        Url::parse(&format!("http://127.0.0.1:{port}/mcp?x=1")).unwrap()
    }

    fn temp_file(name: &str) -> PathBuf {
        let dir = std::env::temp_dir()
            .join("wazion-mcp-era-cache-unit")
            .join(format!("{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        file_in(&dir)
    }

    const DAY: u64 = 24 * 60 * 60;
    const T0: u64 = 1_800_000_000;

    #[test]
    fn a_refusal_is_remembered_for_a_week() {
        let f = temp_file("week");
        store_at_time(&f, &url(1), Remembered::Modern, T0).unwrap();
        assert_eq!(lookup_at(&f, &url(1), T0), Some(Remembered::Modern));
        assert_eq!(
            lookup_at(&f, &url(1), T0 + 7 * DAY - 1),
            Some(Remembered::Modern)
        );
        assert_eq!(lookup_at(&f, &url(1), T0 + 7 * DAY), None, "expired");
        assert_eq!(lookup_at(&f, &url(2), T0), None, "another port");
    }

    #[test]
    fn an_accepted_handshake_forgets_the_server_and_writes_nothing_new() {
        let f = temp_file("forget");
        store_at_time(&f, &url(1), Remembered::Session, T0).unwrap();
        assert!(!f.exists(), "no file for a server that needs no memory");
        store_at_time(&f, &url(1), Remembered::Modern, T0).unwrap();
        store_at_time(&f, &url(1), Remembered::Session, T0 + 1).unwrap();
        assert_eq!(lookup_at(&f, &url(1), T0 + 1), None);
    }

    #[test]
    fn the_file_keeps_the_most_recently_used_servers() {
        let f = temp_file("cap");
        for i in 0..(MAX_ENTRIES as u16 + 10) {
            store_at_time(&f, &url(1000 + i), Remembered::Modern, T0 + u64::from(i)).unwrap();
        }
        let all = read_all(&f);
        assert_eq!(all.len(), MAX_ENTRIES);
        assert!(
            lookup_at(&f, &url(1000), T0 + 100).is_none(),
            "oldest dropped"
        );
        assert!(lookup_at(&f, &url(1000 + MAX_ENTRIES as u16 + 9), T0 + 100).is_some());
    }

    #[test]
    fn expired_and_old_format_entries_are_dropped_at_the_next_write() {
        let f = temp_file("tidy");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(
            &f,
            format!(
                r#"{{"http://127.0.0.1:9/mcp":"2025","http://127.0.0.1:8/mcp":{{"refused":{T0},"used":{T0}}}}}"#
            ),
        )
        .unwrap();
        store_at_time(&f, &url(1), Remembered::Modern, T0 + 8 * DAY).unwrap();
        let all = read_all(&f);
        assert_eq!(all.keys().collect::<Vec<_>>(), ["http://127.0.0.1:1/mcp"]);
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.contains("2025"), "{text}");
    }
}
