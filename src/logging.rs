//! Where logs go and how they look: stderr (or `--log-file`, created 0600), text or JSON.
//!
//! stdout is the protocol channel (S3), so nothing here may ever write to it. What is logged
//! is decided at the call sites; the rule there: method, id, status, duration and sizes, never
//! parameters, results, the token or the session id.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::cli::{BridgeArgs, LogFormat};

/// Installs the global subscriber. `RUST_LOG` wins over `--log-level`.
pub fn init(args: &BridgeArgs) -> Result<(), String> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("wazion_mcp={},warn", args.log_level)))
        .map_err(|e| format!("--log-level '{}' is not a level ({e})", args.log_level))?;
    let writer = match &args.log_file {
        None => BoxMakeWriter::new(std::io::stderr),
        Some(path) => {
            let mut options = OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let file = options
                .open(path)
                .map_err(|e| format!("cannot open --log-file {}: {e}", path.display()))?;
            BoxMakeWriter::new(Mutex::new(file))
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .with_ansi(false);
    let result = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("cannot set up logging: {e}"))
}
