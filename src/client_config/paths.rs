//! Where each client keeps its user-level MCP configuration, on each OS, and which of two
//! Claude Desktop installs on Windows reads which file.
//!
//! Invariants: the path is a pure function of (client, OS, the base folders of [`Dirs`] and
//! a [`Probe`] of what exists), not the `dirs` crate, which only answers for the OS it runs
//! on: the tests prove the paths of all three. Only [`Dirs::from_env`]'s caller reads the
//! environment, and only [`RealFs`] looks at the disk. On Windows the home is the user
//! profile (`USERPROFILE`, else the known folder), never a `HOME` that Git Bash or MSYS set:
//! the clients (Node's `os.homedir()`, Rust's `dirs`) do not read it either.
//!
//! Claude Desktop on Windows comes in two installs that read different files: the classic
//! (Squirrel) installer's app, in `%LOCALAPPDATA%\AnthropicClaude`, reads
//! `%APPDATA%\Claude\claude_desktop_config.json`; the MSIX package (Microsoft Store, and the
//! claude.ai installer since early 2026), in `%LOCALAPPDATA%\Packages\Claude_<publisher id>`,
//! reads the same path as the package's virtualised view:
//! `%LOCALAPPDATA%\Packages\Claude_<id>\LocalCache\Roaming\Claude\claude_desktop_config.json`,
//! and never sees a file written to `%APPDATA%\Claude`. [`config_targets`] writes where the
//! installed app reads: the package's file when a package is present, both files when both
//! installs are (each app reads only its own, and the user may start either), the classic
//! file otherwise.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cli::ClientKind;

/// The operating systems whose config locations we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    MacOs,
    Linux,
    Windows,
}

impl Os {
    /// The OS this binary was built for: the one `cfg!` of the `config` code paths.
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Os::MacOs
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        }
    }
}

/// The base directories a config path is built from.
#[derive(Debug, Clone, Default)]
pub struct Dirs {
    pub home: Option<PathBuf>,
    /// `%APPDATA%` on Windows (the roaming application data).
    pub appdata: Option<PathBuf>,
    /// `%LOCALAPPDATA%` on Windows (MSIX packages, per-user programs).
    pub localappdata: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME` on Linux.
    pub xdg_config: Option<PathBuf>,
    /// `$CODEX_HOME`, which Codex reads instead of `~/.codex`.
    pub codex_home: Option<PathBuf>,
    /// `$CLAUDE_CONFIG_DIR`, where Claude Code keeps `.claude.json` instead of `~`.
    pub claude_config_dir: Option<PathBuf>,
    /// `$GEMINI_CLI_HOME`, which Gemini CLI uses instead of `~` (its folder is `.gemini` in it).
    pub gemini_cli_home: Option<PathBuf>,
}

impl Dirs {
    /// The folders of `os` from its environment (`var`), with `profile` (the OS's own answer
    /// for the home folder: the known folder on Windows, the password database on Unix) when
    /// the variables are unset. On Windows `HOME` is ignored: Git Bash and MSYS set it to
    /// their own idea of home, which no Windows client reads.
    pub fn from_env(
        os: Os,
        var: impl Fn(&str) -> Option<OsString>,
        profile: Option<PathBuf>,
    ) -> Self {
        let var = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = match os {
            Os::Windows => var("USERPROFILE").or(profile),
            Os::MacOs | Os::Linux => var("HOME").or(profile),
        };
        let windows = os == Os::Windows;
        Dirs {
            appdata: windows.then(|| var("APPDATA")).flatten().or_else(|| {
                windows
                    .then(|| home.as_ref().map(|h| h.join("AppData").join("Roaming")))
                    .flatten()
            }),
            localappdata: windows.then(|| var("LOCALAPPDATA")).flatten().or_else(|| {
                windows
                    .then(|| home.as_ref().map(|h| h.join("AppData").join("Local")))
                    .flatten()
            }),
            xdg_config: (os == Os::Linux).then(|| var("XDG_CONFIG_HOME")).flatten(),
            codex_home: var("CODEX_HOME"),
            claude_config_dir: var("CLAUDE_CONFIG_DIR"),
            gemini_cli_home: var("GEMINI_CLI_HOME"),
            home,
        }
    }
}

/// What exists on disk, as far as choosing a path needs to know. [`RealFs`] asks the disk;
/// tests give a made-up tree, so every OS's branch runs on any OS.
pub trait Probe {
    /// Whether something (file or folder) is at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// The names in the folder `dir` (empty when it is not one).
    fn children(&self, dir: &Path) -> Vec<String>;
    /// Whether `a` and `b` are the same file once links are followed.
    fn same_file(&self, a: &Path, b: &Path) -> bool;
    /// Whether `path` is a program the host can start by itself: a file that is not a
    /// script (`#!`), which would need an interpreter on the host's `PATH`.
    fn is_native(&self, path: &Path) -> bool;
}

/// The real disk.
pub struct RealFs;

impl Probe for RealFs {
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn children(&self, dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
    fn same_file(&self, a: &Path, b: &Path) -> bool {
        match (dunce::canonicalize(a), dunce::canonicalize(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
    fn is_native(&self, path: &Path) -> bool {
        use std::io::Read;
        let mut head = [0u8; 2];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok_and(|()| &head != b"#!")
            && path.is_file()
    }
}

/// One file `config --write` writes, and why it was chosen when that is not obvious.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub path: PathBuf,
    pub why: Option<String>,
}

/// Where `client` keeps its user-level MCP configuration on `os`, for the classic install
/// (see [`config_targets`] for the file the installed app actually reads).
pub fn default_path(client: ClientKind, os: Os, dirs: &Dirs) -> Option<PathBuf> {
    let home = dirs.home.clone();
    // The per-user application-config directory of each OS.
    let app_config = || match os {
        Os::MacOs => home
            .clone()
            .map(|h| h.join("Library").join("Application Support")),
        Os::Windows => dirs
            .appdata
            .clone()
            .or_else(|| home.clone().map(|h| h.join("AppData").join("Roaming"))),
        Os::Linux => dirs
            .xdg_config
            .clone()
            .or_else(|| home.clone().map(|h| h.join(".config"))),
    };
    Some(match client {
        ClientKind::ClaudeDesktop => app_config()?
            .join("Claude")
            .join("claude_desktop_config.json"),
        ClientKind::Vscode => app_config()?.join("Code").join("User").join("mcp.json"),
        ClientKind::Cursor => home?.join(".cursor").join("mcp.json"),
        ClientKind::Codex => dirs
            .codex_home
            .clone()
            .or_else(|| home.map(|h| h.join(".codex")))?
            .join("config.toml"),
        ClientKind::ClaudeCode => dirs
            .claude_config_dir
            .clone()
            .or(home)?
            .join(".claude.json"),
        ClientKind::Gemini => dirs
            .gemini_cli_home
            .clone()
            .or(home)?
            .join(".gemini")
            .join("settings.json"),
    })
}

/// The files `config --write` writes for `client` on `os`: one, except for Claude Desktop on
/// Windows with both installs present (see the module's header).
pub fn config_targets(client: ClientKind, os: Os, dirs: &Dirs, fs: &dyn Probe) -> Vec<Target> {
    if client == ClientKind::ClaudeDesktop && os == Os::Windows {
        return claude_desktop_windows(dirs, fs);
    }
    // A client's own variable moved its file: say so, as the default place is what the user
    // may look in.
    let moved = match client {
        ClientKind::Codex => dirs.codex_home.as_ref().map(|_| "CODEX_HOME"),
        ClientKind::ClaudeCode => dirs.claude_config_dir.as_ref().map(|_| "CLAUDE_CONFIG_DIR"),
        ClientKind::Gemini => dirs.gemini_cli_home.as_ref().map(|_| "GEMINI_CLI_HOME"),
        ClientKind::ClaudeDesktop | ClientKind::Vscode if os == Os::Linux => {
            dirs.xdg_config.as_ref().map(|_| "XDG_CONFIG_HOME")
        }
        _ => None,
    };
    default_path(client, os, dirs)
        .map(|path| Target {
            path,
            why: moved.map(|v| {
                let var = if os == Os::Windows {
                    format!("%{v}%")
                } else {
                    format!("${v}")
                };
                format!("{var} is set, and the client reads it too")
            }),
        })
        .into_iter()
        .collect()
}

/// The MSIX package folders of Claude Desktop: `Claude_<publisher id>` (`Claude_pzs8sxrjxfjjc`
/// for Anthropic's signature) under `%LOCALAPPDATA%\Packages`.
fn claude_packages(local: &Path, fs: &dyn Probe) -> Vec<PathBuf> {
    let packages = local.join("Packages");
    fs.children(&packages)
        .into_iter()
        .filter(|n| {
            n.get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("claude_"))
                && n.len() > 7
                && !n[7..].contains('_')
        })
        .map(|n| packages.join(n))
        .collect()
}

fn claude_desktop_windows(dirs: &Dirs, fs: &dyn Probe) -> Vec<Target> {
    let classic = default_path(ClientKind::ClaudeDesktop, Os::Windows, dirs);
    let Some(local) = dirs.localappdata.clone() else {
        return classic
            .map(|path| Target { path, why: None })
            .into_iter()
            .collect();
    };
    let packaged: Vec<PathBuf> = claude_packages(&local, fs)
        .into_iter()
        .map(|p| {
            p.join("LocalCache")
                .join("Roaming")
                .join("Claude")
                .join("claude_desktop_config.json")
        })
        .collect();
    let classic_app = fs.exists(&local.join("AnthropicClaude"));
    let mut out = Vec::new();
    for path in packaged.iter().cloned() {
        let package = path
            .ancestors()
            .nth(4)
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Target {
            path,
            why: Some(format!(
                "Claude Desktop is installed as the MSIX package {package} (Microsoft Store or \
                 the claude.ai installer), which reads this file and not %APPDATA%\\Claude"
            )),
        });
    }
    if let Some(path) = classic
        && (packaged.is_empty() || classic_app)
    {
        let why = if packaged.is_empty() {
            format!(
                "no MSIX package of Claude Desktop under {}; the classic install reads this file",
                local.join("Packages").display()
            )
        } else {
            "the classic install (%LOCALAPPDATA%\\AnthropicClaude) is present too and reads \
             this file, so both get the entry"
                .to_string()
        };
        out.push(Target {
            path,
            why: Some(why),
        });
    }
    out
}

/// A made-up disk for the tests of every OS's branch.
#[cfg(test)]
pub(crate) mod fake {
    use super::Probe;
    use std::path::{Path, PathBuf};

    /// Files (native or script), folders, and links (`from` → `to`).
    #[derive(Default)]
    pub struct FakeFs {
        pub native: Vec<PathBuf>,
        pub scripts: Vec<PathBuf>,
        pub folders: Vec<PathBuf>,
        pub links: Vec<(PathBuf, PathBuf)>,
    }

    impl FakeFs {
        fn resolve(&self, p: &Path) -> PathBuf {
            let mut p = p.to_path_buf();
            for _ in 0..8 {
                match self.links.iter().find(|(from, _)| *from == p) {
                    Some((_, to)) => p = to.clone(),
                    None => break,
                }
            }
            p
        }
        fn all(&self) -> impl Iterator<Item = &PathBuf> {
            self.native
                .iter()
                .chain(&self.scripts)
                .chain(&self.folders)
                .chain(self.links.iter().map(|(from, _)| from))
        }
    }

    impl Probe for FakeFs {
        fn exists(&self, path: &Path) -> bool {
            self.all().any(|p| p.starts_with(path))
        }
        fn children(&self, dir: &Path) -> Vec<String> {
            let mut names: Vec<String> = self
                .all()
                .filter_map(|p| p.strip_prefix(dir).ok())
                .filter_map(|rest| rest.components().next())
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names.dedup();
            names
        }
        fn same_file(&self, a: &Path, b: &Path) -> bool {
            let (a, b) = (self.resolve(a), self.resolve(b));
            a == b && self.exists(&a)
        }
        fn is_native(&self, path: &Path) -> bool {
            self.native.contains(&self.resolve(path))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeFs;
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).map(OsString::from)
    }

    /// Issue 18 §2: Git Bash and MSYS set HOME=/c/Users/ana; Windows clients read the profile.
    #[test]
    fn the_windows_home_is_the_user_profile_not_an_msys_home() {
        let e = env(&[
            ("HOME", "/c/Users/ana"),
            ("USERPROFILE", r"C:\Users\ana"),
            ("APPDATA", r"C:\Users\ana\AppData\Roaming"),
            ("LOCALAPPDATA", r"C:\Users\ana\AppData\Local"),
            ("XDG_CONFIG_HOME", "/c/Users/ana/.config"),
        ]);
        let d = Dirs::from_env(Os::Windows, &e, None);
        assert_eq!(d.home, Some(PathBuf::from(r"C:\Users\ana")));
        assert_eq!(
            d.localappdata,
            Some(PathBuf::from(r"C:\Users\ana\AppData\Local"))
        );
        assert_eq!(d.xdg_config, None, "XDG is Linux's");
        // No USERPROFILE: the known folder (the caller's `dirs::home_dir()`), still not HOME.
        let only_home = env(&[("HOME", "/c/Users/ana")]);
        let d = Dirs::from_env(Os::Windows, &only_home, Some(PathBuf::from("/profile")));
        assert_eq!(d.home, Some(PathBuf::from("/profile")));
        assert_eq!(d.appdata, Some(PathBuf::from("/profile/AppData/Roaming")));
        assert_eq!(
            d.localappdata,
            Some(PathBuf::from("/profile/AppData/Local"))
        );
        let d = Dirs::from_env(Os::Windows, &only_home, None);
        assert_eq!(d.home, None);
        // Unix: HOME, and USERPROFILE means nothing.
        let unix = env(&[("HOME", "/home/ana"), ("USERPROFILE", "/nope")]);
        for os in [Os::Linux, Os::MacOs] {
            let d = Dirs::from_env(os, &unix, Some(PathBuf::from("/pw")));
            assert_eq!(d.home, Some(PathBuf::from("/home/ana")));
            assert_eq!(d.appdata, None);
            assert_eq!(d.localappdata, None);
        }
        let d = Dirs::from_env(Os::Linux, env(&[("HOME", "")]), Some(PathBuf::from("/pw")));
        assert_eq!(d.home, Some(PathBuf::from("/pw")), "an empty HOME is unset");
    }

    fn windows_dirs() -> Dirs {
        Dirs {
            home: Some(PathBuf::from("/u/ana")),
            appdata: Some(PathBuf::from("/u/ana/AppData/Roaming")),
            localappdata: Some(PathBuf::from("/u/ana/AppData/Local")),
            ..Dirs::default()
        }
    }

    const PKG: &str = "/u/ana/AppData/Local/Packages/Claude_pzs8sxrjxfjjc";
    const CLASSIC: &str = "/u/ana/AppData/Roaming/Claude/claude_desktop_config.json";

    fn msix_file() -> PathBuf {
        Path::new(PKG).join("LocalCache/Roaming/Claude/claude_desktop_config.json")
    }

    fn paths(t: &[Target]) -> Vec<PathBuf> {
        t.iter().map(|t| t.path.clone()).collect()
    }

    /// Issue 18 §1: the MSIX build reads its package's LocalCache copy; the classic build
    /// %APPDATA%\Claude; both present: both.
    #[test]
    fn claude_desktop_on_windows_is_written_where_the_installed_app_reads() {
        let d = windows_dirs();
        let t = |fs: &FakeFs| config_targets(ClientKind::ClaudeDesktop, Os::Windows, &d, fs);
        // Nothing installed (or the classic one only): the classic file, with the reason.
        let none = FakeFs::default();
        assert_eq!(paths(&t(&none)), [PathBuf::from(CLASSIC)]);
        assert!(
            t(&none)[0]
                .why
                .as_deref()
                .is_some_and(|w| w.contains("no MSIX"))
        );
        // The MSIX package, even with a stale classic file: its own file only.
        let msix = FakeFs {
            folders: vec![
                PathBuf::from(PKG),
                PathBuf::from("/u/ana/AppData/Local/Packages/Microsoft.Foo_8wekyb3d8bbwe"),
            ],
            native: vec![PathBuf::from(CLASSIC)],
            ..FakeFs::default()
        };
        assert_eq!(paths(&t(&msix)), [msix_file()]);
        let why = t(&msix)[0].why.clone().unwrap();
        assert!(
            why.contains("Claude_pzs8sxrjxfjjc") && why.contains("MSIX"),
            "{why}"
        );
        // Both installs: both files, each said why.
        let both = FakeFs {
            folders: vec![
                PathBuf::from(PKG),
                PathBuf::from("/u/ana/AppData/Local/AnthropicClaude/app-0.9.0"),
            ],
            ..FakeFs::default()
        };
        let b = t(&both);
        assert_eq!(paths(&b), [msix_file(), PathBuf::from(CLASSIC)]);
        assert!(b[1].why.as_deref().is_some_and(|w| w.contains("both")));
        // Package names are matched without case, and only `Claude_<id>`.
        let odd = FakeFs {
            folders: vec![
                PathBuf::from("/u/ana/AppData/Local/Packages/claude_abc"),
                PathBuf::from("/u/ana/AppData/Local/Packages/ClaudeHelper_x_y"),
                PathBuf::from("/u/ana/AppData/Local/Packages/Claude_"),
            ],
            ..FakeFs::default()
        };
        assert_eq!(
            paths(&t(&odd)),
            [Path::new("/u/ana/AppData/Local/Packages/claude_abc")
                .join("LocalCache/Roaming/Claude/claude_desktop_config.json")]
        );
        // The same disk means nothing on macOS or Linux, nor to the other clients.
        for os in [Os::MacOs, Os::Linux] {
            assert_eq!(
                config_targets(ClientKind::ClaudeDesktop, os, &d, &msix).len(),
                1
            );
            assert_eq!(
                config_targets(ClientKind::ClaudeDesktop, os, &d, &msix)[0].why,
                None
            );
        }
        assert_eq!(
            paths(&config_targets(ClientKind::Vscode, Os::Windows, &d, &msix)),
            [PathBuf::from("/u/ana/AppData/Roaming/Code/User/mcp.json")]
        );
        // A client's variable that moved its file is named as the reason.
        let moved = Dirs {
            codex_home: Some("/cx".into()),
            ..d.clone()
        };
        let c = config_targets(ClientKind::Codex, Os::Windows, &moved, &none);
        assert_eq!(paths(&c), [PathBuf::from("/cx/config.toml")]);
        assert!(
            c[0].why
                .as_deref()
                .is_some_and(|w| w.contains("CODEX_HOME"))
        );
        assert_eq!(
            config_targets(ClientKind::Cursor, Os::Windows, &moved, &none)[0].why,
            None
        );
        // No LOCALAPPDATA known at all: the classic file.
        let no_local = Dirs {
            localappdata: None,
            ..d.clone()
        };
        assert_eq!(
            paths(&config_targets(
                ClientKind::ClaudeDesktop,
                Os::Windows,
                &no_local,
                &msix
            )),
            [PathBuf::from(CLASSIC)]
        );
    }
}
