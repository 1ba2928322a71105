//! A throwaway PKI for TLS tests and the benchmark: a CA and a server certificate made at run
//! time (rcgen), a rustls server config offering h2 and http/1.1, and an accept loop that
//! serves an axum app over it. Shared by `scripted.rs` and `benches/relay.rs` (included there
//! with `#[path]`), so it depends on nothing else in `support`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A throwaway PKI made at test time: a CA and one server certificate it signed.
pub struct TestPki {
    /// The CA certificate in PEM, what `--ca-file` points at.
    pub ca_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl TestPki {
    /// A CA and a server certificate for `127.0.0.1` and `localhost`.
    pub fn generate() -> TestPki {
        Self::for_names(&["127.0.0.1", "localhost"])
    }

    /// A CA and a server certificate valid for exactly `names` (DNS names or IPs).
    pub fn for_names(names: &[&str]) -> TestPki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        // A distinct CA name each time, so two test CAs are never mistaken for each other.
        static CAS: AtomicUsize = AtomicUsize::new(0);
        let ca_name = format!(
            "wazion-mcp test CA {}-{}",
            std::process::id(),
            CAS.fetch_add(1, Ordering::SeqCst)
        );
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");
        let issuer = Issuer::new(ca, &ca_key);

        let key = KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut leaf = CertificateParams::new(names).expect("server params");
        leaf.distinguished_name
            .push(DnType::CommonName, "wazion-mcp test server");
        leaf.is_ca = IsCa::NoCa;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf.signed_by(&key, &issuer).expect("sign the server cert");
        TestPki {
            ca_pem: ca_cert.pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }

    /// Writes the CA's PEM to a fresh file in the target's test tmp dir; returns its path.
    pub fn write_ca(&self, name: &str) -> std::path::PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "{name}-{}-{}.pem",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, &self.ca_pem).expect("write the CA file");
        path
    }

    /// A rustls server config with this certificate, offering h2 and http/1.1 (ALPN).
    pub fn server_config(&self) -> Arc<tokio_rustls::rustls::ServerConfig> {
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .expect("server certificate");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// Serves `app` over TLS with `config` on `listener` (HTTP/1.1 or HTTP/2 by ALPN), calling
/// `on_connection` for every TCP connection accepted. A client that refuses the certificate
/// ends its connection at the handshake.
pub fn serve_tls(
    listener: tokio::net::TcpListener,
    config: Arc<tokio_rustls::rustls::ServerConfig>,
    app: axum::Router,
    on_connection: impl Fn() + Send + 'static,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            on_connection();
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
}
