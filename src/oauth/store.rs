//! Tokens at rest: one JSON file per server (origin and path, the resource the tokens are
//! for; `…/mcp` and `…/mcp/` are one server) in `oauth/` in the bridge's config folder
//! ([`crate::folders`]: `~/.config/wazion-mcp` on Linux, `~/Library/Application Support/wazion-mcp`
//! on macOS, `%LOCALAPPDATA%\wazion-mcp` (local, never roaming) on Windows;
//! `WAZION_MCP_CONFIG_DIR` overrides it).
//!
//! Invariants:
//! - the folder is 0700 (created so, and tightened when found wider) and every file 0600;
//! - a file is written to a new temporary file created exclusively (`O_EXCL`) without
//!   following links (`O_NOFOLLOW`), then renamed over the old one (a rename replaces a link
//!   rather than writing through it): a reader never sees half a file, the secret is never
//!   readable by others, not even for a moment, and a link planted in the folder never
//!   redirects a write;
//! - a token file is read without following links, and one readable by group or others is
//!   reported (and tightened to 0600): its tokens may have been seen;
//! - temporary files a crashed writer left behind are removed on the next write;
//! - nothing here logs or formats a token, a refresh token or a client secret (`Debug` of
//!   [`Stored`] shows none of them).
//!
//! The modes and `O_NOFOLLOW` are Unix-only; on Windows the folder sits in the user's
//! profile, whose ACL already keeps other users out, and files are created exclusively too.

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
    crate::folders::oauth_store_dir()
}

/// The file for `server`: `<host>_<port>-<hash>.json`, readable in a listing, unique per
/// origin and path (`discovery::resource_key`: no query, no trailing slash).
pub fn file_for(dir: &Path, server: &Url) -> PathBuf {
    named_by(dir, server, &crate::oauth::discovery::resource_key(server))
}

fn named_by(dir: &Path, server: &Url, key: &str) -> PathBuf {
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

/// [`file_for`], after moving a sign-in saved under the earlier key (the URL as typed, with
/// or without its trailing slash) to it, so an upgrade does not ask for a new sign-in.
pub fn open_for(dir: &Path, server: &Url) -> PathBuf {
    let file = file_for(dir, server);
    if std::fs::symlink_metadata(&file).is_ok() {
        return file;
    }
    let key = crate::oauth::discovery::resource_key(server);
    let mut base = server.clone();
    base.set_query(None);
    base.set_fragment(None);
    for old in [key.clone(), format!("{key}/"), base.to_string()] {
        let legacy = named_by(dir, server, &old);
        if legacy != file
            && std::fs::symlink_metadata(&legacy).is_ok_and(|m| m.is_file())
            && std::fs::rename(&legacy, &file).is_ok()
        {
            break;
        }
    }
    file
}

/// A warning about the store: to the log when the bridge has one, else to stderr (the
/// `auth` commands run without a log).
fn warn(message: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!("{message}");
    } else {
        eprintln!("wazion-mcp: warning: {message}");
    }
}

/// The most of a token file that is read (a real one is under 4 KiB).
const MAX_FILE: u64 = 1 << 20;
/// A temporary file older than this was left by a writer that crashed.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(300);

/// Reads the stored sign-in; `None` when there is none or the file is unusable (a broken
/// file is the same as none: the next flow overwrites it). A link is not followed; a file
/// others can read is reported and tightened.
pub fn load(file: &Path) -> Option<Stored> {
    use std::io::Read;
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW);
    }
    let f = match opts.open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            let link = std::fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink());
            if link {
                warn(&format!(
                    "{} is a link: ignored (a token file is never read through a link)",
                    file.display()
                ));
            } else {
                warn(&format!("cannot read {}: {e}", file.display()));
            }
            return None;
        }
    };
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let fixed = f
                .set_permissions(std::fs::Permissions::from_mode(0o600))
                .is_ok();
            warn(&format!(
                "{} was readable by other users (mode {mode:03o}){}: treat its tokens as \
                 exposed (`wazion-mcp auth logout` revokes them)",
                file.display(),
                if fixed { ", now 0600" } else { "" }
            ));
        }
    }
    let mut bytes = Vec::new();
    f.take(MAX_FILE).read_to_end(&mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes `stored` to `file` with mode 0600, atomically, through a temporary file created
/// exclusively without following links.
pub fn save(file: &Path, stored: &Stored) -> Result<(), String> {
    let dir = file
        .parent()
        .ok_or_else(|| "the token file has no folder".to_string())?;
    create_private_dir(dir)?;
    remove_stale_temporaries(dir);
    let json = serde_json::to_vec_pretty(stored).map_err(|e| format!("cannot encode: {e}"))?;
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("token");
    let (tmp, mut f) = create_temporary(dir, name)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    let written = f
        .write_all(&json)
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, file));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", file.display()));
    }
    Ok(())
}

/// Creates `.<name>.tmp-<pid>-<n>` exclusively, never through a link; a name already taken
/// (by anything, a planted link included) is skipped for the next.
fn create_temporary(dir: &Path, name: &str) -> std::io::Result<(PathBuf, std::fs::File)> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut last = None;
    for n in 0..16u32 {
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            nanos.wrapping_add(n)
        ));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        }
        match opts.open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

/// Removes temporary files older than [`STALE_TMP`] (a writer holds one for milliseconds).
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.contains(".tmp-")) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= STALE_TMP);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Deletes the stored sign-in (a link itself, never what it points to); `Ok(false)` when
/// there was none.
pub fn remove(file: &Path) -> Result<bool, String> {
    if let Some(dir) = file.parent() {
        remove_stale_temporaries(dir);
    }
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

/// Creates the folder 0700, or tightens an existing one to 0700.
fn create_private_dir(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(dir)
                && meta.permissions().mode() & 0o077 != 0
            {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| format!("cannot make {} private (0700): {e}", dir.display()))?;
            }
        }
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
        let slash = file_for(dir, &Url::parse("https://h.example/mcp/").unwrap());
        assert_eq!(a, slash, "…/mcp and …/mcp/ are one server");
    }

    #[test]
    fn a_sign_in_saved_under_the_earlier_key_is_moved_to_the_new_one() {
        let tmp = tempfile::tempdir().unwrap();
        let url = Url::parse("https://h.example/api/mcp/").unwrap();
        // The earlier key: the URL as typed, trailing slash included.
        let legacy = named_by(tmp.path(), &url, "https://h.example/api/mcp/");
        std::fs::write(&legacy, r#"{"server":"s","issuer":"i","client":{"client_id":"c","auth_method":"none","kind":"registered"}}"#).unwrap();
        let file = open_for(tmp.path(), &url);
        assert_ne!(file, legacy);
        assert!(!legacy.exists());
        assert_eq!(load(&file).map(|s| s.issuer).as_deref(), Some("i"));
        let bare = Url::parse("https://h.example/api/mcp").unwrap();
        assert_eq!(open_for(tmp.path(), &bare), file);
    }

    #[cfg(unix)]
    #[test]
    fn writes_never_go_through_a_link_and_tighten_the_folder() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("oauth");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        let file = dir.join("h_443-x.json");
        std::os::unix::fs::symlink(&victim, &file).unwrap();
        assert!(load(&file).is_none(), "a link is not read");
        save(&file, &Stored::default()).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        let meta = std::fs::symlink_metadata(&file).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
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
