//! Where logs go and how they look: stderr (or `--log-file`, created 0600), text or JSON.
//!
//! stdout is the protocol channel (S3), so nothing here may ever write to it. What is logged
//! is decided at the call sites; the rule there: method, id, status, duration and sizes, never
//! parameters, results, the token or the session id.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::{BridgeArgs, LogFormat};

/// Installs the global subscriber. `RUST_LOG` wins over `--log-level`.
///
/// Filtering is by target and level (`warn,wazion_mcp=debug`): `Targets`, not `EnvFilter`,
/// whose span and field-value directives pull in the regex engine, a fifth of the binary's
/// code that every launch maps (issue #4, RSS).
pub fn init(args: &BridgeArgs) -> Result<(), String> {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok());
    let filter = match from_env {
        Some(f) => f,
        None => format!("wazion_mcp={},warn", args.log_level)
            .parse::<Targets>()
            .map_err(|e| format!("--log-level '{}' is not a level ({e})", args.log_level))?,
    };
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
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(false)
        .with_ansi(false);
    let layer = match args.log_format {
        LogFormat::Text => layer.with_filter(filter).boxed(),
        LogFormat::Json => layer.json().flatten_event(true).with_filter(filter).boxed(),
    };
    let result = tracing_subscriber::registry().with(layer).try_init();
    result.map_err(|e| format!("cannot set up logging: {e}"))
}
