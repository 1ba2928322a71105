//! The bridge's own folders: its config folder (the OAuth token store, `oauth/` in it).
//! A leaf: `config` and `oauth` both ask it, so neither has to ask the other.

use std::path::PathBuf;

/// The bridge's config folder: `wazion-mcp` in the platform's config dir.
pub fn config_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("wazion-mcp"))
}

/// The OAuth token store's folder: `oauth/` in the config folder.
pub fn oauth_store_dir() -> Option<PathBuf> {
    config_dir().map(|d| d.join("oauth"))
}
