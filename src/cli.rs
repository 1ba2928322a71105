//! Command-line flags: every flag of the bridge is declared and documented here, once.
//!
//! `--help` is generated from these doc comments, and README's flag table mirrors them.
//! Turning flags into checked settings (URL policy, token, headers) is `config`'s job.

use clap::Parser;

/// WAzion's MCP endpoint, used when no URL is given.
pub const DEFAULT_URL: &str = "https://www.wazion.com/api/mcp/";

/// The environment variable the token is read from unless `--token-env` names another.
pub const DEFAULT_TOKEN_ENV: &str = "WAZION_TOKEN";

#[derive(Debug, Parser)]
#[command(
    name = "wazion-mcp",
    version,
    about = "Bridge an MCP client on stdin/stdout to a Streamable HTTP MCP server (WAzion by default).",
    long_about = "Bridge an MCP client on stdin/stdout to a Streamable HTTP MCP server.\n\n\
        wazion-mcp reads newline-delimited JSON-RPC from stdin, forwards every message to the \
        server with `Authorization: Bearer <token>`, and writes every server message to stdout. \
        Errors from the server (a 401 for a bad token, say) reach the client unchanged.",
    after_help = "TOKEN:\n  The bearer token is read from the environment variable WAZION_TOKEN (or the one named by\n  --token-env), never from the command line, so it stays out of process listings and shell\n  history. Put it in your MCP client's `env` block, e.g. for Claude Desktop:\n\n    {\"mcpServers\":{\"wazion\":{\"command\":\"/abs/path/wazion-mcp\",\"env\":{\"WAZION_TOKEN\":\"wz_...\"}}}}\n\n  WAzion tokens: https://www.wazion.com/dashboard -> Settings. A missing token is not fatal:\n  the bridge starts and the server's own answer (usually a 401) reaches the client.\n\nEXAMPLES:\n  WAZION_TOKEN=wz_... wazion-mcp\n  OTHER_TOKEN=... wazion-mcp https://other.example/mcp --token-env OTHER_TOKEN\n  wazion-mcp https://wa.example/mcp --header 'X-API-Key: ${VPS_KEY}'"
)]
pub struct Cli {
    /// The server's Streamable HTTP MCP endpoint.
    #[arg(value_name = "URL", default_value = DEFAULT_URL)]
    pub url: String,

    /// Environment variable holding the bearer token, sent as `Authorization: Bearer <token>`
    /// on every request. A leading `Bearer ` and surrounding whitespace are removed.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_TOKEN_ENV)]
    pub token_env: String,

    /// Extra request header, repeatable: `--header "X-API-Key: ${VPS_KEY}"`. `${VAR}` is
    /// replaced from the environment; if VAR is unset the header is left out (and a warning
    /// names VAR). Use single quotes in a shell so the shell does not expand it first.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Allow plain http:// to a host other than loopback. Without it, only https:// (and
    /// http:// to localhost, 127.0.0.0/8 or ::1) is accepted, so a token never crosses a
    /// network unencrypted.
    #[arg(long)]
    pub allow_http: bool,

    /// Log level for stderr: error, warn, info, debug or trace. RUST_LOG, when set, wins.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,

    /// Seconds a request may wait without receiving a single byte from the server before it
    /// is answered with an error. Progress notifications and SSE keep-alives reset the clock,
    /// so long tool calls that report progress are never cut.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub idle_timeout: u64,

    /// Seconds allowed to establish a connection (TCP and TLS) to the server.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub connect_timeout: u64,

    /// PEM file with extra CA certificates to trust (a corporate or private CA), in addition
    /// to the operating system's trust store, which is always used.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<std::path::PathBuf>,

    /// Send requests through this proxy (http://, https:// or socks5://). Without it,
    /// HTTPS_PROXY / HTTP_PROXY / NO_PROXY and the system's proxy settings are honoured.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,

    /// Largest message accepted from stdin or from the server, in bytes. A larger stdin line
    /// is discarded without being held in memory, and its request (if its id is readable) is
    /// answered with an error.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_message_bytes: usize,
}
