//! Tokens at rest: one JSON file per server (origin and path, the resource the tokens are
//! for) in `oauth/` in the bridge's config folder ([`crate::folders`]: `~/.config/wazion-mcp`
//! on Linux, `~/Library/Application Support/wazion-mcp` on macOS, `%LOCALAPPDATA%\wazion-mcp`
//! (local, never roaming) on Windows; `WAZION_MCP_CONFIG_DIR` overrides it).
//!
//! Invariants: the folder is created 0700 and every file 0600 (written to a temporary file
//! of that mode, then renamed over the old one, so a reader never sees half a file and the
//! secret is never readable by others, not even for a moment); nothing here logs or formats
//! a token, a refresh token or a client secret (`Debug` of [`Stored`] shows none of them).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How the bridge is known to the authorization server.
#[derive(Clone, Serialize, Deserialize, Default)]
pub struct ClientIdentity {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// `none`, `client_secret_basic` or `client_secret_post`.
    pub auth_method: String,
    /// `registered` (dynamic registration), `pre-registered` or `metadata-document`.
    pub kind: String,
    /// The loopback port the registration's redirect URI names (registered clients only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_port: Option<u16>,
}

/// One server's stored sign-in.
#[derive(Clone, Serialize, Deserialize, Default)]
pub struct Stored {
    /// The MCP server URL the tokens are for.
    pub server: String,
    /// The authorization server's issuer.
    pub issuer: String,
    pub client: ClientIdentity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// When the tokens were obtained, seconds since the Unix epoch.
    #[serde(default)]
    pub obtained_at: u64,
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field("server", &self.server)
            .field("issuer", &self.issuer)
            .field("client_kind", &self.client.kind)
            .field("has_access_token", &self.access_token.is_some())
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Stored {
    /// True when the access token is known to expire within `margin` seconds.
    pub fn expires_within(&self, margin: u64) -> bool {
        self.expires_at
            .is_some_and(|at| at <= now_secs().saturating_add(margin))
    }
}

/// The folder: `oauth/` in the bridge's config folder ([`crate::folders::config_dir`]).
/// `None` when the platform has none (no HOME).
pub fn default_dir() -> Option<PathBuf> {
    crate::folders::config_dir().map(|d| d.join("oauth"))
}

/// The file for `server`: `<host>_<port>-<hash>.json`, readable in a listing, unique per
/// origin and path.
pub fn file_for(dir: &Path, server: &Url) -> PathBuf {
    let key = crate::oauth::discovery::without_query(server);
    let digest = Sha256::digest(key.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let host: String = server
        .host_str()
        .unwrap_or("server")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let port = server.port_or_known_default().unwrap_or(0);
    dir.join(format!("{host}_{port}-{hash}.json"))
}

/// Reads the stored sign-in; `None` when there is none or the file is unreadable (a broken
/// file is the same as none: the next flow overwrites it).
pub fn load(file: &Path) -> Option<Stored> {
    let bytes = std::fs::read(file).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes `stored` to `file` with mode 0600, atomically.
pub fn save(file: &Path, stored: &Stored) -> Result<(), String> {
    let dir = file
        .parent()
        .ok_or_else(|| "the token file has no folder".to_string())?;
    create_private_dir(dir)?;
    let json = serde_json::to_vec_pretty(stored).map_err(|e| format!("cannot encode: {e}"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        file.file_name().and_then(|n| n.to_str()).unwrap_or("token"),
        std::process::id()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let write = |opts: &std::fs::OpenOptions| -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    };
    if let Err(e) = write(&opts) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", file.display()));
    }
    Ok(())
}

/// Deletes the stored sign-in; `Ok(false)` when there was none.
pub fn remove(file: &Path) -> Result<bool, String> {
    match std::fs::remove_file(file) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("cannot delete {}: {e}", file.display())),
    }
}

/// Every stored sign-in in `dir`, with its file.
pub fn list(dir: &Path) -> Vec<(PathBuf, Stored)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Stored)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| load(&p).map(|s| (p, s)))
        .collect();
    out.sort_by(|a, b| a.1.server.cmp(&b.1.server));
    out
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_per_origin_and_path() {
        let dir = Path::new("/x");
        let a = file_for(dir, &Url::parse("https://h.example/mcp").unwrap());
        let b = file_for(dir, &Url::parse("https://h.example/other").unwrap());
        let c = file_for(dir, &Url::parse("https://h.example:8443/mcp").unwrap());
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(a.to_string_lossy().contains("h.example_443-"), "{a:?}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = Stored {
            access_token: Some("at-secret-123".into()),
            refresh_token: Some("rt-secret-456".into()),
            client: ClientIdentity {
                client_secret: Some("cs-secret-789".into()),
                ..ClientIdentity::default()
            },
            ..Stored::default()
        };
        let text = format!("{s:?}");
        assert!(!text.contains("secret-"), "{text}");
    }
}
