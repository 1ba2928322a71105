//! The safe writer: reads the client's file, has it merged ([`merge_json`], [`merge_codex`]),
//! and replaces it.
//!
//! Invariants: a write never widens access: the file keeps its mode and owner (a new file:
//! 0600), a symlinked file is written through the link (a dangling link's target is
//! created), the previous version is saved next to the path given, not next to the link's
//! target (mode 0600, timestamped, never overwritten), and the new text replaces the old by
//! a rename in the target's directory; on any failure the file is left as it was; a file
//! that already holds the entry is not touched.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Entry;
use super::codex::merge_codex;
use super::jsonc::merge_json;
use crate::cli::ClientKind;

/// What `write` did, for the user.
#[derive(Debug)]
pub struct Outcome {
    pub path: PathBuf,
    /// The file actually written, when `path` is a symlink.
    pub target: Option<PathBuf>,
    pub backup: Option<PathBuf>,
    pub replaced: bool,
    /// Nothing to do: the file already held this entry.
    pub unchanged: bool,
    /// What `--force` kept from the previous entry, for the report.
    pub kept: Vec<String>,
    /// Secret variables whose value was kept (not a placeholder).
    pub kept_secrets: Vec<String>,
    /// Mode of the file written (Unix).
    pub mode: Option<u32>,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.unchanged {
            return write!(
                f,
                "{} already holds this entry; nothing changed",
                self.path.display()
            );
        }
        let verb = if self.replaced {
            "replaced the entry in"
        } else {
            "added the entry to"
        };
        write!(f, "{verb} {}", self.path.display())?;
        if let Some(t) = &self.target {
            write!(f, " (a link; wrote {})", t.display())?;
        }
        if let Some(m) = self.mode {
            write!(f, ", mode {m:04o}")?;
        }
        if let Some(b) = &self.backup {
            // The mode is only set (and so only said) where there are modes: not on Windows.
            let private = if self.mode.is_some() {
                " (mode 0600)"
            } else {
                ""
            };
            write!(f, "\nprevious version saved as {}{private}", b.display())?;
        }
        if !self.kept.is_empty() {
            write!(
                f,
                "\nkept from the previous entry: {}",
                self.kept.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Merges `entry` into the config file at `path` (see the module's invariants).
pub fn write(
    client: ClientKind,
    entry: &Entry,
    path: &Path,
    force: bool,
) -> Result<Outcome, String> {
    let target = resolve_links(path)?;
    let existing = match std::fs::read_to_string(&target) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", target.display())),
    };
    let merged = match client {
        ClientKind::Codex => merge_codex(existing.as_deref(), entry, force, path)?,
        _ => merge_json(client, existing.as_deref(), entry, force, path)?,
    };
    let linked = (target != path).then(|| target.clone());
    if existing.as_deref() == Some(merged.text.as_str()) {
        return Ok(Outcome {
            path: path.to_path_buf(),
            target: linked,
            backup: None,
            replaced: merged.replaced,
            unchanged: true,
            kept: merged.kept,
            kept_secrets: merged.kept_secrets,
            mode: None,
        });
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let old_meta = std::fs::metadata(&target).ok();
    let backup = match &existing {
        // Next to the path the user knows, not next to a link's target (which may be a
        // dotfiles repository, where a copy of a token must not land).
        Some(old) => Some(write_backup(path, old)?),
        None => None,
    };
    let mode = replace_file(&target, merged.text.as_bytes(), old_meta.as_ref())?;
    Ok(Outcome {
        path: path.to_path_buf(),
        target: linked,
        backup,
        replaced: merged.replaced,
        unchanged: false,
        kept: merged.kept,
        kept_secrets: merged.kept_secrets,
        mode,
    })
}

/// Follows symlinks (also a dangling one, whose target is then created) to the file to write.
fn resolve_links(path: &Path) -> Result<PathBuf, String> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)
                    .map_err(|e| format!("cannot read the link {}: {e}", current.display()))?;
                current = match current.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(m) if !m.is_file() => {
                return Err(format!("{} is not a file", current.display()));
            }
            _ => return Ok(current),
        }
    }
    Err(format!("{} is a loop of symlinks", path.display()))
}

/// Writes a copy of `old` as `<path>.bak-<UTC time>` (a new name every time, mode 0600).
fn write_backup(path: &Path, old: &str) -> Result<PathBuf, String> {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    for n in 1..1000 {
        let suffix = if n == 1 {
            format!(".bak-{stamp}")
        } else {
            format!(".bak-{stamp}-{n}")
        };
        let b = with_suffix(path, &suffix);
        match create_private(&b) {
            Ok(mut f) => {
                return f
                    .write_all(old.as_bytes())
                    .and_then(|()| f.sync_all())
                    .map(|()| b.clone())
                    .map_err(|e| format!("cannot write the backup {}: {e}", b.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot write the backup {}: {e}", b.display())),
        }
    }
    Err(format!(
        "cannot find a free backup name next to {}",
        path.display()
    ))
}

/// Creates a new file readable by its owner only.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// Replaces `target` by a file holding `text`: written to a temporary file in the same
/// directory (created 0600), given the old file's mode and owner (a new file stays 0600),
/// then renamed over `target`. Returns the mode written (Unix).
fn replace_file(
    target: &Path,
    text: &[u8],
    old: Option<&std::fs::Metadata>,
) -> Result<Option<u32>, String> {
    let tmp = {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        target.with_file_name(format!(".{name}.wazion-mcp-{}", std::process::id()))
    };
    let result = (|| -> std::io::Result<Option<u32>> {
        let _ = std::fs::remove_file(&tmp);
        let mut f = create_private(&tmp)?;
        f.write_all(text)?;
        #[cfg(unix)]
        let mode = {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            match old {
                Some(m) => {
                    // Same owner first (a no-op unless run as another user, e.g. root), then
                    // the same mode: never wider than what the file had.
                    let _ = std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()));
                    let bits = m.mode() & 0o7777;
                    f.set_permissions(std::fs::Permissions::from_mode(bits))?;
                    Some(bits)
                }
                None => Some(0o600),
            }
        };
        #[cfg(not(unix))]
        let mode = {
            let _ = old;
            None
        };
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, target)?;
        Ok(mode)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!(
            "cannot write {}: {e}; it was left as it was",
            target.display()
        )
    })
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
