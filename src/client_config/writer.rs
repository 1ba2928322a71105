//! The safe writer: reads the client's file, has it merged ([`merge_json`], [`merge_codex`]),
//! and replaces it.
//!
//! Invariants: a write never widens access: the file keeps its mode and owner (a new file:
//! 0600); a symlinked file is written through the link (a dangling link's target is
//! created) only when the target lies in the link's own folder or below it, or with
//! `--follow-links` (a repository's `.cursor/mcp.json` linked to `~/.claude.json` must not
//! get the global file edited), and so is a linked folder on the way inside the home folder;
//! the previous version is saved next to the file actually
//! written, never into the link's folder (mode 0600, timestamped, never overwritten), and
//! the new text replaces the old by a rename in the target's directory; on any failure the
//! file is left as it was; a file that already holds the entry is not touched.

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
            // Whoever made the link chose this name: no control character of theirs is printed.
            write!(f, " (a link; wrote {})", shown(t))?;
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
    follow_links: bool,
) -> Result<Outcome, String> {
    let target = resolve_links(path)?;
    if !follow_links {
        if target != path {
            stays_in_link_folder(path, &target)?;
        }
        // A folder on the way can be a link too (a repository's `.cursor` linked to
        // `~/.cursor`): the same rule for each one inside the home folder, where projects
        // live. The home folder itself and what is above it are the system's business (a
        // home linked to another disk keeps working).
        let homes: Vec<PathBuf> = dirs::home_dir()
            .map(|h| vec![real_path(&h), h])
            .unwrap_or_default();
        for folder in path.ancestors().skip(1) {
            let inside_home = homes.iter().any(|h| folder.starts_with(h) && folder != h);
            if inside_home
                && std::fs::symlink_metadata(folder).is_ok_and(|m| m.file_type().is_symlink())
            {
                stays_in_link_folder(folder, &real_path(folder))?;
            }
        }
    }
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
        // Next to the file written: a link's folder may be a repository's working tree, where
        // a copy of the secrets of the file it points to must not land.
        Some(old) => Some(write_backup(&target, old)?),
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

/// Refuses a link whose target (`target`, where `path`'s links lead) lies outside the
/// link's own folder: following it is the user's call (`--follow-links`), not the call of
/// whoever made the link.
fn stays_in_link_folder(path: &Path, target: &Path) -> Result<(), String> {
    let folder = path.parent().map(real_path).unwrap_or_default();
    let real = real_path(target);
    if !folder.as_os_str().is_empty() && real.starts_with(&folder) {
        return Ok(());
    }
    Err(format!(
        "{} is a link to {}, outside its own folder, so it was not written (a link in a \
         project must not get another file edited). Pass --follow-links to write through it, \
         or --file with the file you mean",
        shown(path),
        shown(&real)
    ))
}

/// A path for the terminal: a link's target is named by whoever made the link, so control
/// characters in it are escaped (`report::terminal_safe`).
fn shown(path: &Path) -> String {
    crate::report::terminal_safe(&path.display().to_string(), &[])
}

/// `path` with every link and `..` resolved; for a file or folders not there yet, the
/// nearest existing folder resolved and the rest appended.
fn real_path(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
            real_path(parent).join(name)
        }
        _ => path.to_path_buf(),
    }
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
