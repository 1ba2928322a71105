//! The bridge's own folders: its config folder (the OAuth token store, `oauth/` in it) and
//! its cache folder (the era cache, `eras.json` in it).
//!
//! Invariant: each location is a pure function of (OS, one override variable, the platform
//! folders the `dirs` crate reports), [`resolve`], tested for every OS on Linux; only
//! [`config_dir`] and [`cache_dir`] read the environment.
//!
//! | OS      | config folder                                  | cache folder                              |
//! |---------|------------------------------------------------|-------------------------------------------|
//! | Linux   | `$XDG_CONFIG_HOME/wazion-mcp` (`~/.config/…`)  | `$XDG_CACHE_HOME/wazion-mcp` (`~/.cache/…`) |
//! | macOS   | `~/Library/Application Support/wazion-mcp`     | `~/Library/Caches/wazion-mcp`             |
//! | Windows | `%LOCALAPPDATA%\wazion-mcp`                    | `%LOCALAPPDATA%\wazion-mcp\cache`         |
//!
//! On Windows the config folder is the *local* app-data folder, not the roaming one
//! (`%APPDATA%`, which `dirs::config_dir` returns): it holds OAuth tokens, which must not be
//! copied to every machine a roaming profile reaches. The cache gets a subfolder there so
//! that clearing it cannot take the tokens along.
//!
//! `WAZION_MCP_CONFIG_DIR` and `WAZION_MCP_CACHE_DIR` name the folder itself and win over
//! the table. They exist so tests (and anyone who wants the bridge's files elsewhere) can
//! isolate it on every OS: `dirs` reads the `XDG_*` variables on Linux only.

use std::ffi::OsString;
use std::path::PathBuf;

/// Overrides the config folder (the token store is `oauth/` in it).
pub const CONFIG_DIR_ENV: &str = "WAZION_MCP_CONFIG_DIR";
/// Overrides the cache folder (the era cache is `eras.json` in it).
pub const CACHE_DIR_ENV: &str = "WAZION_MCP_CACHE_DIR";

const APP: &str = "wazion-mcp";

/// Which of the two folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    Config,
    Cache,
}

/// The two families whose layout differs (macOS and Linux differ only in what `dirs`
/// reports, not in how it is used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Unix,
    Windows,
}

impl Os {
    pub fn current() -> Self {
        if cfg!(windows) { Os::Windows } else { Os::Unix }
    }
}

/// What the platform reports (`dirs::config_dir`, `dirs::cache_dir`,
/// `dirs::data_local_dir`); `None` where it has none (no home).
#[derive(Debug, Clone, Default)]
pub struct Platform {
    pub config: Option<PathBuf>,
    pub cache: Option<PathBuf>,
    pub data_local: Option<PathBuf>,
}

impl Platform {
    fn current() -> Self {
        Platform {
            config: dirs::config_dir(),
            cache: dirs::cache_dir(),
            data_local: dirs::data_local_dir(),
        }
    }
}

/// The folder, from the OS, the override variable's value and the platform's folders. An
/// empty override counts as unset.
pub fn resolve(
    os: Os,
    folder: Folder,
    override_value: Option<OsString>,
    platform: &Platform,
) -> Option<PathBuf> {
    if let Some(v) = override_value.filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(v));
    }
    match (os, folder) {
        (Os::Unix, Folder::Config) => Some(platform.config.as_ref()?.join(APP)),
        (Os::Unix, Folder::Cache) => Some(platform.cache.as_ref()?.join(APP)),
        (Os::Windows, Folder::Config) => Some(platform.data_local.as_ref()?.join(APP)),
        (Os::Windows, Folder::Cache) => Some(platform.data_local.as_ref()?.join(APP).join("cache")),
    }
}

/// The bridge's config folder on this machine; `None` when there is none (no home).
pub fn config_dir() -> Option<PathBuf> {
    resolve(
        Os::current(),
        Folder::Config,
        std::env::var_os(CONFIG_DIR_ENV),
        &Platform::current(),
    )
}

/// The bridge's cache folder on this machine; `None` when there is none (no home).
pub fn cache_dir() -> Option<PathBuf> {
    resolve(
        Os::current(),
        Folder::Cache,
        std::env::var_os(CACHE_DIR_ENV),
        &Platform::current(),
    )
}

/// The OAuth token store's folder: `oauth/` in the config folder.
pub fn oauth_store_dir() -> Option<PathBuf> {
    config_dir().map(|d| d.join("oauth"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(os: Os) -> Platform {
        match os {
            // What `dirs` reports on Windows: config is the roaming folder.
            Os::Windows => Platform {
                config: Some(PathBuf::from(r"C:\Users\u\AppData\Roaming")),
                cache: Some(PathBuf::from(r"C:\Users\u\AppData\Local")),
                data_local: Some(PathBuf::from(r"C:\Users\u\AppData\Local")),
            },
            Os::Unix => Platform {
                config: Some(PathBuf::from("/home/u/.config")),
                cache: Some(PathBuf::from("/home/u/.cache")),
                data_local: Some(PathBuf::from("/home/u/.local/share")),
            },
        }
    }

    #[test]
    fn windows_keeps_tokens_in_the_local_not_the_roaming_app_data() {
        let p = platform(Os::Windows);
        let config = resolve(Os::Windows, Folder::Config, None, &p).unwrap();
        assert_eq!(
            config,
            PathBuf::from(r"C:\Users\u\AppData\Local").join("wazion-mcp")
        );
        assert!(!config.starts_with(r"C:\Users\u\AppData\Roaming"));
        let cache = resolve(Os::Windows, Folder::Cache, None, &p).unwrap();
        assert_eq!(cache, config.join("cache"));
    }

    #[test]
    fn unix_uses_the_platform_config_and_cache_folders() {
        let p = platform(Os::Unix);
        assert_eq!(
            resolve(Os::Unix, Folder::Config, None, &p),
            Some(PathBuf::from("/home/u/.config/wazion-mcp"))
        );
        assert_eq!(
            resolve(Os::Unix, Folder::Cache, None, &p),
            Some(PathBuf::from("/home/u/.cache/wazion-mcp"))
        );
        // macOS: the same rule over what `dirs` reports there.
        let mac = Platform {
            config: Some(PathBuf::from("/Users/u/Library/Application Support")),
            cache: Some(PathBuf::from("/Users/u/Library/Caches")),
            data_local: None,
        };
        assert_eq!(
            resolve(Os::Unix, Folder::Cache, None, &mac),
            Some(PathBuf::from("/Users/u/Library/Caches/wazion-mcp"))
        );
    }

    #[test]
    fn the_override_names_the_folder_itself_on_every_os_and_empty_is_unset() {
        for os in [Os::Unix, Os::Windows] {
            for folder in [Folder::Config, Folder::Cache] {
                let p = platform(os);
                assert_eq!(
                    resolve(os, folder, Some("/t/x".into()), &p),
                    Some(PathBuf::from("/t/x"))
                );
                assert_eq!(
                    resolve(os, folder, Some("".into()), &p),
                    resolve(os, folder, None, &p)
                );
                assert_eq!(resolve(os, folder, None, &Platform::default()), None);
            }
        }
    }
}
