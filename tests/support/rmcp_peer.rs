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

/// A TCP forwarder on 127.0.0.1 that counts the connections it accepts and pipes each to
/// `target`: put it in front of a server to count how many connections a client opened.
pub struct CountingProxy {
    pub addr: std::net::SocketAddr,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingProxy {
    pub async fn start(target: std::net::SocketAddr) -> CountingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        CountingProxy { addr, accepted }
    }
    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}
