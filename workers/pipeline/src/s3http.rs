//! The HTTP client under photocheck's S3 client: hyper over TCP (and rustls where the endpoint
//! is `https`), with **quick ACKs** on every connection.
//!
//! Why: an S3 server that writes a GET's response head and its body in two writes, with Nagle's
//! algorithm on (Garage 2.5.0 does, s3s-fs did), holds the body until the head is acknowledged;
//! a client in Linux's delayed-ACK mode (any connection the pool reuses for request after
//! request) acknowledges after up to 40 ms. Measured on one Garage node, a 30 KB object over one
//! kept-alive connection (`curl` with SigV4, 2026-12-05): 43 ms per GET, the first byte after
//! 0.3 ms; with quick ACKs on the loopback route (`ip route … quickack 1`) 0.4 ms. A fresh
//! connection starts in quick-ACK mode, which is why single requests never showed it.
//!
//! `TCP_QUICKACK` is not sticky on Linux (the kernel may fall back to delayed ACKs), so it is
//! set again after every read from the socket; on other systems the option does not exist and
//! the connections behave as before. `TCP_NODELAY` is on as well (the SDK's default client sets
//! it too), so a PUT's head and body are not held back on our side either.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector as TcpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

/// A TCP stream that asks the kernel for an immediate ACK after every read (when its flag
/// is set).
#[derive(Debug)]
pub struct QuickAckStream(TokioIo<TcpStream>, bool);

impl QuickAckStream {
    fn quick_ack(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.1 {
            // Best effort: a failure leaves the connection as it was (delayed ACKs).
            let _ = socket2::SockRef::from(self.0.inner()).set_tcp_quickack(true);
        }
    }
}

impl Read for QuickAckStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) {
            self.quick_ack();
        }
        polled
    }
}

impl Write for QuickAckStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}

impl Connection for QuickAckStream {
    fn connected(&self) -> Connected {
        self.0.connected()
    }
}

/// hyper-util's TCP connector, handing out [`QuickAckStream`]s (quick ACKs on when the flag
/// is set).
#[derive(Debug, Clone)]
pub struct QuickAckConnector(TcpConnector, bool);

type ConnectFuture = Pin<
    Box<
        dyn Future<Output = Result<QuickAckStream, Box<dyn std::error::Error + Send + Sync>>>
            + Send,
    >,
>;

impl tower_service::Service<http::Uri> for QuickAckConnector {
    type Response = QuickAckStream;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::<http::Uri>::poll_ready(&mut self.0, cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = tower_service::Service::<http::Uri>::call(&mut self.0, uri);
        let quick = self.1;
        Box::pin(async move { Ok(QuickAckStream(connecting.await?, quick)) })
    }
}

type Https = hyper_rustls::HttpsConnector<QuickAckConnector>;

/// The S3 SDK's HTTP client: one connection pool for every request of the SDK client it is
/// given to (see the module's documentation).
#[derive(Debug, Clone)]
pub struct QuickAckClient {
    client: Arc<Client<Https, SdkBody>>,
}

impl QuickAckClient {
    /// A client that trusts `tls` for `https` endpoints (plain `http` needs no TLS), gives up
    /// connecting after `connect_timeout`, and acknowledges reads at once when `quick_ack`.
    pub fn new(
        tls: rustls::ClientConfig,
        connect_timeout: Duration,
        quick_ack: bool,
    ) -> QuickAckClient {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(QuickAckConnector(tcp, quick_ack));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(https);
        QuickAckClient {
            client: Arc::new(client),
        }
    }

    /// As the SDK takes it.
    pub fn shared(self) -> SharedHttpClient {
        SharedHttpClient::new(self)
    }
}

impl HttpConnector for QuickAckClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = Arc::clone(&self.client);
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let response = client.request(request).await.map_err(|e| {
                // Connecting, a reset or a closed connection: transient, so retried.
                ConnectorError::io(e.into())
            })?;
            let response = response.map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

impl HttpClient for QuickAckClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // Timeouts: the connect timeout is the connector's; the SDK's operation attempt
        // timeout bounds the rest (store.rs sets both from `s3.timeout_ms`).
        SharedHttpConnector::new(self.clone())
    }
}
