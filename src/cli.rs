//! Command-line flags and subcommands: every flag is declared and documented here, once.
//!
//! `--help` is generated from these doc comments, and docs/flags.md's flag table mirrors them.
//! Turning flags into checked settings (URL policy, token, headers) is `config`'s job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// WAzion's MCP endpoint, used when no URL is given.
pub const DEFAULT_URL: &str = "https://www.wazion.com/api/mcp/";

/// The environment variable the token is read from unless `--token-env` names another.
pub const DEFAULT_TOKEN_ENV: &str = "WAZION_TOKEN";

#[derive(Debug, Parser)]
#[command(
    name = "wazion-mcp",
    version,
    args_conflicts_with_subcommands = true,
    about = "Bridge an MCP client on stdin/stdout to a Streamable HTTP MCP server (WAzion by default).",
    long_about = "Bridge an MCP client on stdin/stdout to a Streamable HTTP MCP server.\n\n\
        wazion-mcp reads newline-delimited JSON-RPC from stdin, forwards every message to the \
        server with `Authorization: Bearer <token>`, and writes every server message to stdout. \
        Errors from the server (a 401 for a bad token, say) reach the client unchanged.",
    after_help = "TOKEN:\n  The bearer token is read from the environment variable WAZION_TOKEN (or the one named by\n  --token-env), never from the command line, so it stays out of process listings and shell\n  history. Put it in your MCP client's `env` block, e.g. for Claude Desktop:\n\n    {\"mcpServers\":{\"wazion\":{\"command\":\"/abs/path/wazion-mcp\",\"env\":{\"WAZION_TOKEN\":\"<paste your token here>\"}}}}\n\n  `wazion-mcp config <client> --write` adds that entry for you.\n\n  WAzion tokens: https://www.wazion.com/dashboard -> Settings. A missing token is not fatal:\n  the bridge starts and the server's own answer (usually a 401) reaches the client.\n\nOAUTH:\n  Without a token, a server whose 401 points to OAuth metadata gets a browser sign-in (the URL\n  is also printed to stderr); tokens are stored per server in the config dir. See\n  `wazion-mcp auth --help` (status, login, logout) and --auth.\n\nEXAMPLES:\n  WAZION_TOKEN=wz_... wazion-mcp\n  OTHER_TOKEN=... wazion-mcp https://other.example/mcp --token-env OTHER_TOKEN\n  wazion-mcp https://wa.example/mcp --header 'X-API-Key: ${VPS_KEY}'"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub bridge: BridgeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diagnose the connection step by step (URL, DNS, TCP, TLS, HTTP, initialize, tools/list)
    /// and say how to fix what fails. Exits 0 when everything works, 1 when a step fails, 2
    /// when the flags are refused.
    Check {
        #[command(flatten)]
        bridge: BridgeArgs,
        /// Print the report as JSON (for scripts) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a ready-to-paste MCP client configuration for this binary, or merge it into the
    /// client's config file with --write. Flags given after the client (URL, --token-env,
    /// --header, ...) are written into the entry.
    Config {
        /// The MCP client to configure.
        #[arg(value_enum)]
        client: ClientKind,
        /// Merge the entry into the client's config file (other servers, keys and comments
        /// are kept, the file keeps its mode, a timestamped backup is written next to it, the
        /// file is replaced atomically).
        #[arg(long)]
        write: bool,
        /// With --write: replace an existing entry of the same name (the values in its env
        /// and its --header flags are kept unless given again).
        #[arg(long)]
        force: bool,
        /// Name of the server entry.
        #[arg(long, default_value = "wazion")]
        name: String,
        /// Config file to write instead of the client's default location.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// With --write: write through a link to a file outside the link's own folder (by
        /// default such a link is refused; one to its folder or below is followed).
        #[arg(long)]
        follow_links: bool,
        #[command(flatten)]
        bridge: BridgeArgs,
    },
    /// OAuth sign-ins for servers that use OAuth: `status`, `login`, `logout`. Tokens are
    /// stored in the bridge's config folder (oauth/ in it, one file per server, 0600 on macOS and
    /// Linux; see docs/platforms.md).
    Auth {
        #[command(subcommand)]
        action: AuthAction,
    },
}

/// What `auth` does.
#[derive(Debug, Subcommand)]
pub enum AuthAction {
    /// Show what is stored for the server (issuer, client, scope, expiry; never a token),
    /// or for every server when no URL is given.
    Status {
        /// The server's MCP endpoint; every stored server when absent.
        #[arg(value_name = "URL")]
        url: Option<String>,
    },
    /// Sign in to the server now, from a terminal: discovery, browser, tokens stored.
    Login {
        #[command(flatten)]
        bridge: Box<BridgeArgs>,
    },
    /// Delete what is stored for the server (the next run signs in again).
    Logout {
        /// The server's MCP endpoint.
        #[arg(value_name = "URL", default_value = DEFAULT_URL)]
        url: String,
    },
}

/// How the bridge authenticates to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// The static token when set (or an `Authorization` --header); otherwise OAuth, but only
    /// when the server's 401 points to OAuth metadata.
    Auto,
    /// Only the static token; a 401 is relayed to the client unchanged.
    Token,
    /// Only OAuth (the token variable is ignored), with the 2025-03-26 default endpoints
    /// when the server publishes no metadata.
    Oauth,
    /// No credentials from the bridge (a --header may still carry some).
    None,
}

/// MCP clients that `config` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientKind {
    /// claude_desktop_config.json (mcpServers)
    ClaudeDesktop,
    /// mcp.json, user or workspace (servers, inputs; comments kept)
    Vscode,
    /// ~/.cursor/mcp.json (mcpServers)
    Cursor,
    /// ~/.codex/config.toml ([mcp_servers.NAME])
    Codex,
    /// the `claude mcp add` / `add-json` lines; --write: ~/.claude.json (user scope)
    ClaudeCode,
    /// ~/.gemini/settings.json (mcpServers; comments kept)
    Gemini,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// How to talk to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportKind {
    /// Streamable HTTP, falling back to the legacy HTTP+SSE transport (2024-11-05) when the
    /// server answers the first POST with 400/404/405 and no modern JSON-RPC error.
    Auto,
    /// Streamable HTTP only.
    StreamableHttp,
    /// Legacy HTTP+SSE only: GET the URL for an `endpoint` event, POST messages there.
    Sse,
}

/// The bridge's flags, shared by the bridge itself, `check` and `config`.
#[derive(Debug, Clone, Args)]
pub struct BridgeArgs {
    /// The server's Streamable HTTP MCP endpoint.
    #[arg(value_name = "URL", default_value = DEFAULT_URL)]
    pub url: String,

    /// Environment variable holding the bearer token, sent as `Authorization: Bearer <token>`
    /// on every request. A leading `Bearer ` and surrounding whitespace are removed.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_TOKEN_ENV)]
    pub token_env: String,

    /// How to authenticate: `auto` (the token when set, else OAuth if the server asks for
    /// it), `token`, `oauth` or `none`.
    #[arg(long, value_enum, value_name = "MODE", default_value = "auto")]
    pub auth: AuthMode,

    /// OAuth: a client id registered with the authorization server (else the bridge
    /// registers itself, or uses --oauth-client-metadata-url).
    #[arg(long, value_name = "ID")]
    pub oauth_client_id: Option<String>,

    /// OAuth: environment variable holding the pre-registered client's secret.
    #[arg(long, value_name = "NAME")]
    pub oauth_client_secret_env: Option<String>,

    /// OAuth: the https URL of this client's metadata document (used as the client id when
    /// the authorization server supports Client ID Metadata Documents).
    #[arg(long, value_name = "URL")]
    pub oauth_client_metadata_url: Option<String>,

    /// OAuth: seconds the browser sign-in may take; the client's request waits that long
    /// at most, then gets an error.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub oauth_timeout: u64,

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

    /// Log level: error, warn, info, debug or trace. RUST_LOG, when set, wins. At debug, one
    /// line per message (direction, method, id, HTTP status, duration, bytes); never
    /// parameters, results, the token or the session id.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,

    /// Append logs to this file (created with mode 0600 on macOS and Linux) instead of stderr.
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// Log line format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Transport to the server.
    #[arg(long, value_enum, value_name = "KIND", default_value = "auto")]
    pub transport: TransportKind,

    /// Only expose tools whose name matches this glob (repeatable; `*` and `?` wildcards).
    /// Hidden tools are removed from tools/list and their calls are refused locally.
    #[arg(long = "allow-tool", value_name = "GLOB")]
    pub allow_tools: Vec<String>,

    /// Hide tools whose name matches this glob (repeatable); wins over --allow-tool.
    #[arg(long = "deny-tool", value_name = "GLOB")]
    pub deny_tools: Vec<String>,

    /// Seconds a request may wait without receiving anything from the server before it is
    /// answered with an error. Any byte of a JSON body and any SSE event (progress
    /// notifications included) reset the clock, so long tool calls that report progress are
    /// never cut; SSE comments (`: keep-alive`) do not, so a stream that only says it is alive
    /// cannot hold a call open forever.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub idle_timeout: u64,

    /// Overall limit, in seconds, on one request, counted from the moment it is read from
    /// stdin (time spent waiting for a --max-in-flight slot included): when it passes, the
    /// request is answered with an error and its exchange closed, however busy the server
    /// looks. Default: none.
    #[arg(long, value_name = "SECONDS")]
    pub request_timeout: Option<u64>,

    /// Requests forwarded at once. Further requests wait in a queue of at most 24 MiB; while
    /// that is full, stdin is not read (the pipe holds the rest), so memory and connections
    /// stay bounded.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_in_flight: usize,

    /// Seconds allowed to establish a connection (TCP and TLS) to the server.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub connect_timeout: u64,

    /// PEM file with extra CA certificates to trust (a corporate or private CA), in addition
    /// to the operating system's trust store, which is always used.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Send requests through this proxy (http:// or https://). Without it,
    /// HTTPS_PROXY / HTTP_PROXY / NO_PROXY and the system's proxy settings are honoured. A
    /// plain-http loopback server is always reached directly (never its token to a proxy).
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,

    /// Largest message accepted from stdin or from the server, in bytes. A larger stdin line
    /// is discarded without being held in memory, and its request (if its id is readable) is
    /// answered with an error.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_message_bytes: usize,
}
