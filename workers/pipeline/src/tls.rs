//! TLS: HTTPS for photocheck's own servers (the ingest API, the receiver) with certificates that
//! are read again when their files change, optional client certificates, and the extra roots its
//! clients trust (`amqps://`, `https://` storage and central URLs).
//!
//! Everything uses rustls with the aws-lc-rs provider, the one the S3 SDK and the broker client
//! already link.

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use photocheck_config::ServerTlsSection;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Longest time a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a certificate, key or CA bundle could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read.
    #[error("cannot read {what} {path}: {reason}")]
    Unreadable {
        /// What the file was meant to hold.
        what: &'static str,
        /// Its path.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The file holds no usable PEM item, or rustls refused it.
    #[error("invalid {what} {path}: {reason}")]
    Invalid {
        /// What the file was meant to hold.
        what: &'static str,
        /// Its path.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl TlsError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            TlsError::Unreadable { .. } => "tls.unreadable",
            TlsError::Invalid { .. } => "tls.invalid",
        }
    }

    pub(crate) fn invalid(what: &'static str, path: &str, reason: impl ToString) -> TlsError {
        TlsError::Invalid {
            what,
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }
}

fn read(what: &'static str, path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Unreadable {
        what,
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// The certificates of the PEM file at `path`; at least one.
fn certificates(what: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::invalid(what, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::invalid(what, path, "no CERTIFICATE in it"));
    }
    Ok(certs)
}

/// The extra roots at `path` as PEM, checked to hold at least one certificate; `None` for an
/// empty path (the system's roots only).
pub fn ca_bundle(path: &str) -> Result<Option<Vec<u8>>, TlsError> {
    if path.is_empty() {
        return Ok(None);
    }
    certificates("CA bundle", path)?;
    read("CA bundle", path).map(Some)
}

/// The TLS configuration of photocheck's own HTTPS clients (the S3 store): the system's
/// trusted roots and, when `ca_file` names one, the certificates of that bundle as well.
pub fn client_config(ca_file: &str) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    // The system's roots, as far as they load (a missing store leaves only the bundle's).
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if !ca_file.is_empty() {
        for cert in certificates("CA bundle", ca_file)? {
            roots
                .add(cert)
                .map_err(|e| TlsError::invalid("CA bundle", ca_file, e))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::invalid("CA bundle", ca_file, e))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The server configuration `section` describes: its certificate chain and key, and a verifier
/// of client certificates when `client_ca_file` is set. HTTP/1.1 is offered by ALPN.
pub fn server_config(section: &ServerTlsSection) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = certificates("certificate", &section.cert_file)?;
    let key_pem = read("private key", &section.key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| TlsError::invalid("private key", &section.key_file, e))?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::invalid("certificate", &section.cert_file, e))?;
    let builder = if section.client_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        for cert in certificates("client CA bundle", &section.client_ca_file)? {
            roots
                .add(cert)
                .map_err(|e| TlsError::invalid("client CA bundle", &section.client_ca_file, e))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| TlsError::invalid("client CA bundle", &section.client_ca_file, e))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::invalid("certificate", &section.cert_file, e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Who is at the other end of a connection: its address and, over mutual TLS, the subject
/// common name of the client certificate it presented (already verified against the CA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// The verified client certificate's subject CN, if any.
    pub client_cn: Option<String>,
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer {
            addr: *stream.remote_addr(),
            client_cn: None,
        }
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// The subject CN of the first certificate the client presented.
fn client_cn(stream: &TlsStream<TcpStream>) -> Option<String> {
    let der = stream.get_ref().1.peer_certificates()?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// Modification time and length of each file `section` names: what changes when an operator
/// (or cert-manager) replaces them.
fn stamp(section: &ServerTlsSection) -> Vec<Option<(SystemTime, u64)>> {
    [
        &section.cert_file,
        &section.key_file,
        &section.client_ca_file,
    ]
    .iter()
    .map(|p| {
        let meta = std::fs::metadata(Path::new(p.as_str())).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    })
    .collect()
}

/// A TCP listener that hands out finished TLS connections. Handshakes run in their own tasks
/// (bounded by a timeout), so a slow or hostile client never holds up the next accept; the
/// server configuration is rebuilt when its files change, and a broken replacement keeps the
/// previous one in service (with a warning).
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, Peer)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `listener` with the certificate of `section`; stops at `shutdown`.
    pub fn spawn(
        listener: TcpListener,
        section: ServerTlsSection,
        shutdown: CancellationToken,
    ) -> Result<TlsListener, TlsError> {
        let local = listener
            .local_addr()
            .map_err(|e| TlsError::invalid("listener", "", e))?;
        let current = Arc::new(RwLock::new(server_config(&section)?));
        tokio::spawn(reload(section, Arc::clone(&current), shutdown.clone()));
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = shutdown.cancelled() => break,
                    accepted = listener.accept() => accepted,
                };
                let (tcp, addr) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: pause rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let config = Arc::clone(&current.read().unwrap_or_else(|p| p.into_inner()));
                let tx = tx.clone();
                tokio::spawn(async move {
                    let handshake = TlsAcceptor::from(config).accept(tcp);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                        Ok(Ok(stream)) => {
                            let client_cn = client_cn(&stream);
                            let _ = tx.send((stream, Peer { addr, client_cn })).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

/// Rebuilds the server configuration whenever the files' stamps change.
async fn reload(
    section: ServerTlsSection,
    current: Arc<RwLock<Arc<ServerConfig>>>,
    shutdown: CancellationToken,
) {
    let every = Duration::from_secs(section.reload_every_s.max(1));
    let mut seen = stamp(&section);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let now = stamp(&section);
        if now == seen {
            continue;
        }
        match server_config(&section) {
            Ok(config) => {
                *current.write().unwrap_or_else(|p| p.into_inner()) = config;
                seen = now;
                tracing::info!("TLS certificate reloaded");
            }
            // A half-written replacement: try again at the next tick, serve the old one.
            Err(e) => {
                tracing::warn!(error = %e, code = e.code(), "new TLS files refused; the previous certificate stays in use")
            }
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The acceptor stopped (shutdown): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer {
            addr: self.local,
            client_cn: None,
        })
    }
}

/// What an HTTPS client of photocheck trusts and presents: extra roots besides the system's
/// and, for an API that asks for one, a client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM bundle of extra roots; empty = the system's only.
    pub ca_file: String,
    /// Client certificate chain (PEM); empty = none.
    pub cert_file: String,
    /// Its private key (PEM).
    pub key_file: String,
}

impl ClientTls {
    /// Trust of `ca_file` alone, no client certificate.
    pub fn roots(ca_file: &str) -> ClientTls {
        ClientTls {
            ca_file: ca_file.to_owned(),
            ..ClientTls::default()
        }
    }

    /// `builder` with these roots added and this identity presented.
    pub fn apply(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, TlsError> {
        if let Some(pem) = ca_bundle(&self.ca_file)? {
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| TlsError::invalid("CA bundle", &self.ca_file, e))?;
            builder = builder.tls_certs_merge(certs);
        }
        if !self.cert_file.is_empty() {
            let mut pem = read("client certificate", &self.cert_file)?;
            pem.push(b'\n');
            pem.extend(read("client key", &self.key_file)?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| TlsError::invalid("client certificate", &self.cert_file, e))?;
            builder = builder.identity(identity);
        }
        Ok(builder)
    }
}

#[cfg(test)]
#[path = "../tests/pipeline/pki.rs"]
mod pki;

#[cfg(test)]
mod tests {
    use super::pki::Pki;
    use super::*;
    use axum::extract::ConnectInfo;
    use axum::routing::get;
    use axum::Router;

    /// Serves `/` (answering the client certificate's CN) over TLS; returns the address.
    async fn serve(section: ServerTlsSection, stop: &CancellationToken) -> SocketAddr {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = TlsListener::spawn(tcp, section, stop.clone()).unwrap();
        let addr = axum::serve::Listener::local_addr(&listener).unwrap().addr;
        let app = Router::new().route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<Peer>| async move {
                peer.client_cn.unwrap_or_else(|| "-".into())
            }),
        );
        let stop = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
        addr
    }

    /// The certificate the server at `addr` presents, trusting `ca`.
    async fn served_certificate(addr: SocketAddr, ca: &str) -> Vec<u8> {
        let mut roots = RootCertStore::empty();
        for cert in certificates("CA", ca).unwrap() {
            roots.add(cert).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    }

    fn file_der(path: &str) -> Vec<u8> {
        certificates("cert", path).unwrap()[0].to_vec()
    }

    #[tokio::test]
    async fn a_replaced_certificate_is_served_without_a_restart() {
        let pki = Pki::new();
        let section = ServerTlsSection {
            cert_file: pki.path("live.pem"),
            key_file: pki.path("live.key"),
            reload_every_s: 1,
            ..Default::default()
        };
        let (first, _) = pki.server("live");
        let first = file_der(&first);
        let stop = CancellationToken::new();
        let addr = serve(section, &stop).await;
        assert_eq!(served_certificate(addr, &pki.path("ca.pem")).await, first);

        // A half-written replacement is refused: the old certificate stays in service.
        std::fs::write(pki.path("live.pem"), "-----BEGIN CERTIFICATE-----\n").unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(served_certificate(addr, &pki.path("ca.pem")).await, first);

        let (second, _) = pki.server("live");
        let second = file_der(&second);
        assert_ne!(first, second);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if served_certificate(addr, &pki.path("ca.pem")).await == second {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the renewed certificate was not picked up"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        stop.cancel();
    }

    #[tokio::test]
    async fn client_certificates_are_required_and_named() {
        let pki = Pki::new();
        let (client_cert, client_key) = pki.client("w1", "window-w1");
        let section = ServerTlsSection {
            cert_file: pki.path("server.pem"),
            key_file: pki.path("server.key"),
            client_ca_file: pki.path("ca.pem"),
            reload_every_s: 30,
        };
        let stop = CancellationToken::new();
        let addr = serve(section, &stop).await;
        let url = format!("https://localhost:{}/", addr.port());

        let anonymous = ClientTls::roots(&pki.path("ca.pem"))
            .apply(reqwest::Client::builder())
            .unwrap()
            .build()
            .unwrap();
        assert!(
            anonymous.get(&url).send().await.is_err(),
            "served a client without a certificate"
        );

        // A certificate from another CA is refused too.
        let other = Pki::new();
        let (stranger_cert, stranger_key) = other.client("w1", "window-w1");
        let stranger = ClientTls {
            ca_file: pki.path("ca.pem"),
            cert_file: stranger_cert,
            key_file: stranger_key,
        }
        .apply(reqwest::Client::builder())
        .unwrap()
        .build()
        .unwrap();
        assert!(stranger.get(&url).send().await.is_err());

        let known = ClientTls {
            ca_file: pki.path("ca.pem"),
            cert_file: client_cert,
            key_file: client_key,
        }
        .apply(reqwest::Client::builder())
        .unwrap()
        .build()
        .unwrap();
        let answer = known.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(answer, "window-w1");
        stop.cancel();
    }

    #[test]
    fn unusable_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let junk = junk.display().to_string();
        assert_eq!(ca_bundle(&junk).unwrap_err().code(), "tls.invalid");
        assert_eq!(
            ca_bundle("/nonexistent/ca.pem").unwrap_err().code(),
            "tls.unreadable"
        );
        assert!(ca_bundle("").unwrap().is_none());
        let section = ServerTlsSection {
            cert_file: junk.clone(),
            key_file: junk,
            ..Default::default()
        };
        assert_eq!(server_config(&section).unwrap_err().code(), "tls.invalid");
    }
}
