//! Which protocol era each server spoke last time, so only the first start against a server
//! pays for finding out.
//!
//! A 2025-era client's `initialize` is preceded by a `server/discover` probe, because a
//! 2026-07-28-only server cannot be told from its answer to `initialize` alone. Once a server
//! answered a 2025 handshake, later starts skip the probe; a stale answer costs nothing but
//! the fallback that exists anyway (a refusal of `initialize` still leads to translation).
//!
//! The file is `eras.json` in the bridge's cache folder ([`crate::folders::cache_dir`]:
//! `~/.cache/wazion-mcp` on Linux, `~/Library/Caches/wazion-mcp` on macOS,
//! `%LOCALAPPDATA%\wazion-mcp\cache` on Windows, `WAZION_MCP_CACHE_DIR` when set): a JSON
//! object from endpoint URL (no query) to `"2025"` or `"2026"`. It holds no secret. Every
//! failure to read or write it is logged at debug and otherwise ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reqwest::Url;

/// What a server spoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remembered {
    /// A 2025-era `initialize` handshake.
    Session,
    /// 2026-07-28 only (answered `server/discover`).
    Modern,
}

impl Remembered {
    fn label(self) -> &'static str {
        match self {
            Remembered::Session => "2025",
            Remembered::Modern => "2026",
        }
    }
}

fn file() -> Option<PathBuf> {
    Some(file_in(&crate::folders::cache_dir()?))
}

/// The key of an endpoint: scheme, host, port and path; never the query or user-info.
fn key(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

fn read_all(file: &Path) -> BTreeMap<String, String> {
    std::fs::read(file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// What the endpoint spoke last time, if known.
pub fn lookup(url: &Url) -> Option<Remembered> {
    match read_all(&file()?).get(&key(url)).map(String::as_str) {
        Some("2025") => Some(Remembered::Session),
        Some("2026") => Some(Remembered::Modern),
        _ => None,
    }
}

/// Records what the endpoint spoke, in the user's cache directory.
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

/// Records what the endpoint spoke in `path` (written to a temporary file, then renamed
/// over the old one, so a concurrent reader never sees half a file).
pub fn store_at(path: &Path, url: &Url, era: Remembered) -> std::io::Result<()> {
    let mut all = read_all(path);
    if all.get(&key(url)).map(String::as_str) == Some(era.label()) {
        return Ok(());
    }
    all.insert(key(url), era.label().to_string());
    let dir = path.parent().unwrap_or(path);
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("eras.json.{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&all).unwrap_or_default())?;
    std::fs::rename(&tmp, path)
}

/// Where the cache file lives in the bridge's cache folder (the value
/// `WAZION_MCP_CACHE_DIR` would name).
pub fn file_in(cache_dir: &Path) -> PathBuf {
    cache_dir.join("eras.json")
}
