//! The real rmcp Streamable HTTP server the tests talk to: the demo server's own source
//! (`examples/peer/`, included here so tests and demo cannot drift apart), started on
//! 127.0.0.1 with a free port, plus the request log and shutdown.
// Not every re-export below is used by a test.
#![allow(unused_imports)]

#[path = "../../examples/peer/mod.rs"]
mod peer;

pub use peer::bearer::{
    PLAIN_BODY, PLAIN_WWW_AUTHENTICATE, UNAUTHORIZED_MESSAGE, unauthorized_body,
};
pub use peer::tools::{ELICIT_MESSAGE, SAMPLE_PROMPT};
pub use peer::{
    AuthFailure, Mode, PeerOptions, RecordedRequest, Rejection, RequestLog, RunningPeer,
};

/// The token the test server accepts unless a test picks another.
pub const TOKEN: &str = "test-token";

/// Options for a server on 127.0.0.1 (free port) accepting [`TOKEN`]; tweak and pass to
/// [`start_with`].
pub fn options() -> PeerOptions {
    PeerOptions {
        token: TOKEN.to_string(),
        ..PeerOptions::default()
    }
}

/// A stateful server (sessions + SSE) that answers a bad token like WAzion.
pub async fn start() -> RunningPeer {
    start_with(options()).await
}

pub async fn start_with(opts: PeerOptions) -> RunningPeer {
    assert!(
        opts.bind.ip().is_loopback(),
        "test servers listen on loopback only"
    );
    peer::start(opts).await.expect("start the rmcp test server")
}

impl RunningPeer {
    /// `127.0.0.1:<port>`, the host the bridge names in its synthesised errors.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }
    /// Everything the server saw so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.snapshot()
    }
}
