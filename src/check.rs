//! `wazion-mcp check`: placeholder, replaced below.
use crate::config::Settings;
pub async fn run(_settings: Settings, _json: bool) -> i32 {
    0
}
