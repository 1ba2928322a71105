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
/// extension): the existing files, in `PATH` order.
fn lookup_all(os: Os, name: &str, path_var: &str, fs: &dyn Probe) -> Vec<PathBuf> {
    let name = if os == Os::Windows && Path::new(name).extension().is_none() {
        format!("{name}.exe")
    } else {
        name.to_string()
    };
    path_dirs(os, path_var)
        .into_iter()
        .map(|d| d.join(&name))
        .filter(|p| fs.exists(p))
        .collect()
}

/// The first of [`lookup_all`]: what a shell would run.
fn lookup(os: Os, name: &str, path_var: &str, fs: &dyn Probe) -> Option<PathBuf> {
    lookup_all(os, name, path_var, fs).into_iter().next()
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
        let installed = lookup_all(os, program_name(os), run.path_var, fs)
            .into_iter()
            .find(|p| {
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

#[cfg(test)]
mod tests {
    use super::super::paths::fake::FakeFs;
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// Issue 17 §7: each runner's cache, in each OS's spelling.
    #[test]
    fn runner_caches_are_recognised_in_every_os_spelling() {
        use Os::*;
        use Transient::*;
        let cases: &[(Os, &str, Option<Transient>)] = &[
            (
                Linux,
                "/home/ana/.npm/_npx/6a9f/node_modules/@wazion-mcp/linux-x64/bin/wazion-mcp",
                Some(Npx),
            ),
            (
                MacOs,
                "/Users/ana/.npm/_npx/6a9f/node_modules/@wazion-mcp/darwin-arm64/bin/wazion-mcp",
                Some(Npx),
            ),
            (
                Windows,
                r"C:\Users\ana\AppData\Local\npm-cache\_npx\6a9f\node_modules\@wazion-mcp\win32-x64\wazion-mcp.exe",
                Some(Npx),
            ),
            (
                Windows,
                r"\\?\C:\Users\ana\AppData\Local\npm-cache\_NPX\6a9f\wazion-mcp.exe",
                Some(Npx),
            ),
            (
                Linux,
                "/home/ana/.cache/pnpm/dlx/abc/node_modules/.bin/wazion-mcp",
                Some(PnpmDlx),
            ),
            (
                MacOs,
                "/Users/ana/Library/Caches/pnpm/dlx/abc/wazion-mcp",
                Some(PnpmDlx),
            ),
            (
                Windows,
                r"C:\Users\ana\AppData\Local\pnpm-cache\dlx\abc\wazion-mcp.exe",
                Some(PnpmDlx),
            ),
            (
                Linux,
                "/tmp/bunx-1000-wazion-mcp@latest/node_modules/x/wazion-mcp",
                Some(Bunx),
            ),
            (
                Linux,
                "/tmp/xfs-1a2b/dlx-4242/node_modules/x/wazion-mcp",
                Some(YarnDlx),
            ),
            (
                Linux,
                "/home/ana/.cache/uv/archive-v0/XyZ/bin/wazion-mcp",
                Some(Uvx),
            ),
            (
                MacOs,
                "/Users/ana/.cache/uv/environments-v2/wazion-mcp-1f/bin/wazion-mcp",
                Some(Uvx),
            ),
            (
                Windows,
                r"C:\Users\ana\AppData\Local\uv\cache\archive-v0\XyZ\Scripts\wazion-mcp.exe",
                Some(Uvx),
            ),
            (
                Linux,
                "/home/ana/.cache/pipx/3f2a/bin/wazion-mcp",
                Some(PipxRun),
            ),
            (
                MacOs,
                "/Users/ana/Library/Caches/pipx/3f2a/bin/wazion-mcp",
                Some(PipxRun),
            ),
            (
                Windows,
                r"C:\Users\ana\AppData\Local\pipx\pipx\Cache\3f2a\Scripts\wazion-mcp.exe",
                Some(PipxRun),
            ),
            (
                Linux,
                "/home/ana/.local/pipx/.cache/3f2a/bin/wazion-mcp",
                Some(PipxRun),
            ),
            // Stable places.
            (Linux, "/home/ana/.local/bin/wazion-mcp", None),
            (
                Linux,
                "/home/ana/.local/share/uv/tools/wazion-mcp/bin/wazion-mcp",
                None,
            ),
            (
                Linux,
                "/home/ana/.local/share/pipx/venvs/wazion-mcp/bin/wazion-mcp",
                None,
            ),
            (
                Linux,
                "/usr/lib/node_modules/@wazion-mcp/linux-x64/bin/wazion-mcp",
                None,
            ),
            (
                MacOs,
                "/opt/homebrew/Cellar/wazion-mcp/0.3.0/bin/wazion-mcp",
                None,
            ),
            (
                Windows,
                r"C:\Users\ana\AppData\Local\Programs\wazion-mcp\wazion-mcp.exe",
                None,
            ),
            (
                Windows,
                r"C:\Users\ana\AppData\Roaming\npm\node_modules\@wazion-mcp\win32-x64\wazion-mcp.exe",
                None,
            ),
            // A backslash is a file name character on Linux, not a separator.
            (Linux, r"/home/ana/C:\x\_npx_\wazion-mcp", None),
        ];
        for (os, path, want) in cases {
            assert_eq!(transient(*os, path, &no_env), *want, "{os:?} {path}");
        }
        // Caches moved by their variables.
        let env = |k: &str| match k {
            "UV_CACHE_DIR" => Some("/srv/uvc".to_string()),
            "PIPX_HOME" => Some("/srv/pipx".to_string()),
            _ => None,
        };
        assert_eq!(
            transient(Linux, "/srv/uvc/archive-v0/a/bin/wazion-mcp", &env),
            Some(Uvx)
        );
        assert_eq!(
            transient(Linux, "/srv/pipx/.cache/a/bin/wazion-mcp", &env),
            Some(PipxRun)
        );
        assert_eq!(
            transient(Linux, "/srv/pipx/venvs/a/bin/wazion-mcp", &env),
            None
        );
        let win = |k: &str| (k == "UV_CACHE_DIR").then(|| r"D:\UV".to_string());
        assert_eq!(
            transient(Windows, r"d:\uv\archive-v0\a\wazion-mcp.exe", &win),
            Some(Uvx)
        );
    }

    fn dirs_for(os: Os) -> Dirs {
        match os {
            Os::Windows => Dirs {
                home: Some("/U/ana".into()),
                localappdata: Some("/U/ana/AppData/Local".into()),
                ..Dirs::default()
            },
            _ => Dirs {
                home: Some("/home/ana".into()),
                ..Dirs::default()
            },
        }
    }

    /// Issue 17 §7: from a runner's cache, a native install on PATH is named; else a copy in
    /// the per-user folder (the one install.ps1 and install.sh use).
    #[test]
    fn a_binary_in_a_runner_cache_is_never_the_command() {
        let npx = PathBuf::from("/home/ana/.npm/_npx/6a9f/node_modules/p/bin/wazion-mcp");
        let launcher = PathBuf::from("/usr/local/bin/wazion-mcp");
        let native = PathBuf::from("/opt/bin/wazion-mcp");
        let fs = FakeFs {
            native: vec![npx.clone(), native.clone()],
            scripts: vec![launcher.clone()],
            ..FakeFs::default()
        };
        let run = |path_var: &'static str| Launch {
            exe: &npx,
            argv0: Some(&npx),
            cwd: None,
            path_var,
        };
        let d = dirs_for(Os::Linux);
        // The npm launcher script on PATH is skipped (the host may not find `node`); the
        // native binary after it is named.
        assert_eq!(
            choose(Os::Linux, &run("/usr/local/bin:/opt/bin"), &d, &no_env, &fs),
            Command::Installed {
                path: native.clone(),
                cache: Transient::Npx
            }
        );
        // Nothing usable on PATH: a copy in ~/.local/bin.
        for os in [Os::Linux, Os::MacOs] {
            assert_eq!(
                choose(os, &run("/usr/local/bin:/usr/bin"), &d, &no_env, &fs),
                Command::Copy {
                    from: npx.clone(),
                    to: "/home/ana/.local/bin/wazion-mcp".into(),
                    cache: Transient::Npx
                }
            );
        }
        // Windows: PATH split on `;`, `.exe` looked for, the copy under
        // %LOCALAPPDATA%\Programs\wazion-mcp.
        let wexe = PathBuf::from(r"C:\Users\ana\AppData\Local\npm-cache\_npx\1\wazion-mcp.exe");
        let cmd_shim = Path::new(r"C:\Users\ana\AppData\Roaming\npm").join("wazion-mcp.cmd");
        let installed = Path::new(r"C:\tools").join("wazion-mcp.exe");
        let wfs = FakeFs {
            native: vec![wexe.clone(), installed.clone()],
            scripts: vec![cmd_shim],
            ..FakeFs::default()
        };
        let wrun = |path_var: &'static str| Launch {
            exe: &wexe,
            argv0: None,
            cwd: None,
            path_var,
        };
        let wd = dirs_for(Os::Windows);
        assert_eq!(
            choose(
                Os::Windows,
                &wrun(r"C:\Users\ana\AppData\Roaming\npm;C:\tools"),
                &wd,
                &no_env,
                &wfs
            ),
            Command::Installed {
                path: installed,
                cache: Transient::Npx
            }
        );
        assert_eq!(
            choose(
                Os::Windows,
                &wrun(r"C:\Users\ana\AppData\Roaming\npm"),
                &wd,
                &no_env,
                &wfs
            ),
            Command::Copy {
                from: wexe.clone(),
                to: Path::new("/U/ana/AppData/Local/Programs/wazion-mcp").join("wazion-mcp.exe"),
                cache: Transient::Npx
            }
        );
    }

    /// Issue 18 §2: the link the user ran stays a link; a Cellar path becomes Homebrew's
    /// `bin/` link; Windows paths lose `\\?\`.
    #[test]
    fn the_command_is_the_stable_path_the_user_ran() {
        let cellar = PathBuf::from("/opt/homebrew/Cellar/wazion-mcp/0.3.0/bin/wazion-mcp");
        let link = PathBuf::from("/opt/homebrew/bin/wazion-mcp");
        let fs = FakeFs {
            native: vec![cellar.clone()],
            links: vec![(link.clone(), cellar.clone())],
            ..FakeFs::default()
        };
        let d = dirs_for(Os::MacOs);
        // Typed as `wazion-mcp`, found on PATH: the link, not the Cellar file it points to.
        let run = Launch {
            exe: &cellar,
            argv0: Some(Path::new("wazion-mcp")),
            cwd: None,
            path_var: "/usr/bin:/opt/homebrew/bin",
        };
        assert_eq!(
            choose(Os::MacOs, &run, &d, &no_env, &fs),
            Command::Here(link.clone())
        );
        // Started by its Cellar path (or argv[0] lost): mapped to the link, the same file.
        let direct = Launch {
            argv0: Some(&cellar),
            ..run
        };
        assert_eq!(
            choose(Os::MacOs, &direct, &d, &no_env, &fs),
            Command::Here(link.clone())
        );
        assert_eq!(
            choose(Os::Linux, &direct, &d, &no_env, &fs),
            Command::Here(link.clone())
        );
        // A `bin/` link to another version is not this binary: the Cellar path stays.
        let other = FakeFs {
            native: vec![
                cellar.clone(),
                "/opt/homebrew/Cellar/wazion-mcp/0.4.0/bin/wazion-mcp".into(),
            ],
            links: vec![(
                link.clone(),
                "/opt/homebrew/Cellar/wazion-mcp/0.4.0/bin/wazion-mcp".into(),
            )],
            ..FakeFs::default()
        };
        assert_eq!(
            choose(Os::MacOs, &direct, &d, &no_env, &other),
            Command::Here(cellar.clone())
        );
        // A relative argv[0] is made absolute, `./` dropped.
        let built = PathBuf::from("/src/w/target/release/wazion-mcp");
        let fs2 = FakeFs {
            native: vec![built.clone()],
            ..FakeFs::default()
        };
        let rel = Launch {
            exe: &built,
            argv0: Some(Path::new("./target/release/wazion-mcp")),
            cwd: Some(Path::new("/src/w")),
            path_var: "",
        };
        assert_eq!(
            choose(Os::Linux, &rel, &d, &no_env, &fs2),
            Command::Here(built.clone())
        );
        // An argv[0] that is not this binary (a launcher passed its own name): the exe.
        let liar = Launch {
            argv0: Some(Path::new("/usr/bin/node")),
            ..rel
        };
        assert_eq!(
            choose(Os::Linux, &liar, &d, &no_env, &fs2),
            Command::Here(built)
        );
        // Windows: the verbatim prefix goes.
        let v = PathBuf::from(r"\\?\C:\Program Files\wazion-mcp\wazion-mcp.exe");
        let wfs = FakeFs {
            native: vec![v.clone()],
            ..FakeFs::default()
        };
        let w = Launch {
            exe: &v,
            argv0: None,
            cwd: None,
            path_var: "",
        };
        assert_eq!(
            choose(Os::Windows, &w, &dirs_for(Os::Windows), &no_env, &wfs),
            Command::Here(r"C:\Program Files\wazion-mcp\wazion-mcp.exe".into())
        );
        assert_eq!(
            without_verbatim(Os::Windows, r"\\?\UNC\srv\share\w.exe"),
            r"\\srv\share\w.exe"
        );
        assert_eq!(
            without_verbatim(Os::Windows, r"\\?\Volume{1}\w.exe"),
            r"\\?\Volume{1}\w.exe"
        );
        assert_eq!(without_verbatim(Os::Linux, r"\\?\C:\w"), r"\\?\C:\w");
        assert_eq!(cellar_link(Path::new("/opt/homebrew/Cellar/x")), None);
    }
}
