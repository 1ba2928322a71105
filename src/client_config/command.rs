//! The `command` an entry names: a path the host can launch, that outlives upgrades and
//! caches.
//!
//! Invariants: the path is the one the user ran when that is the running binary (a `PATH`
//! lookup of `argv[0]`, so `~/.local/bin/wazion-mcp` or Homebrew's `bin/` link stays a link,
//! not the file it points to); a Homebrew `Cellar/<formula>/<version>/…` path becomes the
//! prefix's `bin/` link when that is the same file (`brew upgrade` deletes the old version's
//! folder); on Windows no `\\?\` verbatim prefix (hosts and `cmd` reject it); and a binary run
//! from a package runner's cache (npx's `_npx`, `pnpm dlx`, `bunx`, `yarn dlx`, `uvx`,
//! `pipx run`), which the runner may empty at any time, is never named: [`choose`] picks a
//! native `wazion-mcp` on `PATH` instead, else a copy in a per-user folder that the caller
//! makes. Every decision is a pure function of (OS, paths, environment, a [`Probe`]).

use std::path::{Path, PathBuf};

use super::paths::{Dirs, Os, Probe};

/// A package runner's cache, which may be emptied at any time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    Npx,
    PnpmDlx,
    YarnDlx,
    Bunx,
    Uvx,
    PipxRun,
}

impl Transient {
    /// The cache, named as the user knows it.
    pub fn describe(self) -> &'static str {
        match self {
            Transient::Npx => "npx's cache (npm's _npx folder)",
            Transient::PnpmDlx => "pnpm dlx's cache",
            Transient::YarnDlx => "yarn dlx's temporary folder",
            Transient::Bunx => "bunx's temporary folder",
            Transient::Uvx => "uv's cache (uvx)",
            Transient::PipxRun => "pipx run's cache",
        }
    }
}

/// The path's folders, in the OS's spelling: `\` also separates on Windows, and names compare
/// without case on Windows and macOS (their default file systems ignore it).
fn parts(os: Os, path: &str) -> Vec<String> {
    let fold = |s: &str| {
        if os == Os::Linux {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    path.split(|c| c == '/' || (os == Os::Windows && c == '\\'))
        .filter(|p| !p.is_empty() && *p != ".")
        .map(fold)
        .collect()
}

/// Whether `path` lies under `dir` (both in `os`'s spelling).
fn under(os: Os, path: &str, dir: &str) -> bool {
    let (p, d) = (parts(os, path), parts(os, dir));
    !d.is_empty() && p.len() > d.len() && p[..d.len()] == d[..]
}

/// Which package runner's cache `exe` runs from, if any. `env` gives the variables that move
/// those caches (`UV_CACHE_DIR`, `PIPX_HOME`, `PIPX_CACHE_DIR`); the default places are
/// recognised by their folder names. npx always runs from `<npm cache>/_npx/<hash>/`, wherever
/// `npm_config_cache` moved the cache, so its folder name is enough.
pub fn transient(os: Os, exe: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<Transient> {
    let p = parts(os, exe);
    let has = |a: &str, b: &str| p.windows(2).any(|w| w[0] == a && w[1] == b);
    let moved = |var: &str| {
        env(var)
            .filter(|d| !d.is_empty())
            .is_some_and(|d| under(os, exe, &d))
    };
    if p.iter().any(|c| c == "_npx") {
        return Some(Transient::Npx);
    }
    if p.windows(2)
        .any(|w| w[0].starts_with("pnpm") && w[1] == "dlx")
    {
        return Some(Transient::PnpmDlx);
    }
    if p.iter().any(|c| c.starts_with("bunx-")) {
        return Some(Transient::Bunx);
    }
    if p.iter().any(|c| c.starts_with("xfs-")) && p.iter().any(|c| c.starts_with("dlx-")) {
        return Some(Transient::YarnDlx);
    }
    // uv: `~/.cache/uv` (Linux, macOS), `%LOCALAPPDATA%\uv\cache` (Windows), or UV_CACHE_DIR.
    if moved("UV_CACHE_DIR") || has(".cache", "uv") || has("uv", "cache") || has("caches", "uv") {
        return Some(Transient::Uvx);
    }
    // pipx run: `~/.cache/pipx` (Linux), `~/Library/Caches/pipx` (macOS),
    // `%LOCALAPPDATA%\pipx\pipx\Cache` (Windows), `$PIPX_HOME/.cache` (pipx before 1.3).
    if moved("PIPX_CACHE_DIR")
        || env("PIPX_HOME")
            .filter(|d| !d.is_empty())
            .is_some_and(|d| under(os, exe, &Path::new(&d).join(".cache").to_string_lossy()))
        || has(".cache", "pipx")
        || has("caches", "pipx")
        || has("pipx", ".cache")
        || (p.iter().any(|c| c == "pipx") && p.iter().any(|c| c == "cache"))
    {
        return Some(Transient::PipxRun);
    }
    None
}

/// The Homebrew link for a `Cellar` path: `<prefix>/Cellar/<formula>/<version>/bin/<name>` →
/// `<prefix>/bin/<name>` (the link `brew` keeps across upgrades).
pub fn cellar_link(path: &Path) -> Option<PathBuf> {
    let comps: Vec<_> = path.components().collect();
    let i = comps.iter().position(|c| c.as_os_str() == "Cellar")?;
    // Cellar, formula, version, …, file.
    if comps.len() < i + 4 {
        return None;
    }
    let prefix: PathBuf = comps[..i].iter().collect();
    Some(prefix.join("bin").join(path.file_name()?))
}

/// `path` without the Windows verbatim prefix: `\\?\C:\…` → `C:\…`, `\\?\UNC\srv\share\…` →
/// `\\srv\share\…`. Hosts start programs through APIs (and `cmd`) that reject the verbatim
/// form. At the call site `dunce` does this for the real file (it also knows when the prefix
/// must stay: over-long paths, reserved names); this is the same rule as a function of the
/// text, so it also holds for paths that did not come from `dunce` and is tested on any OS.
pub fn without_verbatim(os: Os, path: &str) -> String {
    if os != Os::Windows {
        return path.to_string();
    }
    if let Some(rest) = path.strip_prefix(r"\\?\UNC\") {
        return format!(r"\\{rest}");
    }
    match path.strip_prefix(r"\\?\") {
        Some(rest) if rest.as_bytes().get(1) == Some(&b':') => rest.to_string(),
        _ => path.to_string(),
    }
}

/// The program's file name on `os`.
pub fn program_name(os: Os) -> &'static str {
    match os {
        Os::Windows => "wazion-mcp.exe",
        Os::MacOs | Os::Linux => "wazion-mcp",
    }
}

/// The folders of a `PATH` value, split as `os` splits them.
fn path_dirs(os: Os, path_var: &str) -> Vec<PathBuf> {
    let sep = if os == Os::Windows { ';' } else { ':' };
    path_var
        .split(sep)
        .map(|d| d.trim_matches('"'))
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Looks `name` up on `PATH` as a shell would (on Windows with `.exe` added when it has no
/// extension): the first existing file.
fn lookup(os: Os, name: &str, path_var: &str, fs: &dyn Probe) -> Option<PathBuf> {
    let name = if os == Os::Windows && Path::new(name).extension().is_none() {
        format!("{name}.exe")
    } else {
        name.to_string()
    };
    path_dirs(os, path_var)
        .into_iter()
        .map(|d| d.join(&name))
        .find(|p| fs.exists(p))
}

/// What the entry's `command` should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The running binary, by the path the user ran it by.
    Here(PathBuf),
    /// The running binary lives in a runner's cache; this native install on `PATH` is named
    /// instead.
    Installed { path: PathBuf, cache: Transient },
    /// The running binary lives in a runner's cache and nothing stable is on `PATH`: the
    /// caller copies it to `to` and names that.
    Copy {
        from: PathBuf,
        to: PathBuf,
        cache: Transient,
    },
}

impl Command {
    pub fn path(&self) -> &Path {
        match self {
            Command::Here(p) | Command::Installed { path: p, .. } | Command::Copy { to: p, .. } => {
                p
            }
        }
    }
}

/// How the binary was started, and where things are.
pub struct Launch<'a> {
    /// The running binary (`std::env::current_exe`).
    pub exe: &'a Path,
    /// `argv[0]`, as the user (or the launcher) typed it.
    pub argv0: Option<&'a Path>,
    /// The current folder, for a relative `argv[0]`.
    pub cwd: Option<&'a Path>,
    /// `PATH`.
    pub path_var: &'a str,
}

/// The per-user folder a copy goes to: `~/.local/bin` on Unix,
/// `%LOCALAPPDATA%\Programs\wazion-mcp` on Windows (where install.ps1 installs too).
pub fn copy_dir(os: Os, dirs: &Dirs) -> Option<PathBuf> {
    match os {
        Os::Windows => dirs
            .localappdata
            .clone()
            .map(|l| l.join("Programs").join("wazion-mcp")),
        Os::MacOs | Os::Linux => dirs.home.clone().map(|h| h.join(".local").join("bin")),
    }
}

/// The `command` for an entry (see the module's header).
pub fn choose(
    os: Os,
    run: &Launch<'_>,
    dirs: &Dirs,
    env: &dyn Fn(&str) -> Option<String>,
    fs: &dyn Probe,
) -> Command {
    let exe = run.exe;
    if let Some(cache) = transient(os, &exe.to_string_lossy(), env) {
        let installed = lookup(os, program_name(os), run.path_var, fs).filter(|p| {
            fs.is_native(p)
                && transient(os, &p.to_string_lossy(), env).is_none()
                && !fs.same_file(p, exe)
        });
        if let Some(path) = installed {
            return Command::Installed { path, cache };
        }
        if let Some(dir) = copy_dir(os, dirs) {
            return Command::Copy {
                from: exe.to_path_buf(),
                to: dir.join(program_name(os)),
                cache,
            };
        }
    }
    // The path the user ran, when it is this binary: a link stays a link.
    let ran = run.argv0.and_then(|a| {
        let text = a.to_string_lossy();
        let has_dir = text.contains('/') || (os == Os::Windows && text.contains('\\'));
        if has_dir {
            Some(match run.cwd {
                Some(cwd) if !a.is_absolute() && !text.starts_with('\\') => cwd.join(a),
                _ => a.to_path_buf(),
            })
        } else {
            lookup(os, &text, run.path_var, fs)
        }
    });
    let mut chosen = ran
        .filter(|r| fs.same_file(r, exe))
        .unwrap_or_else(|| exe.to_path_buf());
    if os != Os::Windows
        && let Some(link) = cellar_link(&chosen)
        && fs.same_file(&link, &chosen)
    {
        chosen = link;
    }
    Command::Here(PathBuf::from(without_verbatim(
        os,
        &clean(&chosen).to_string_lossy(),
    )))
}

/// `path` without `.` components (`./target/…` typed by the user).
fn clean(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}
