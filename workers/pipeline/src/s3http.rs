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
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
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
        // Idle connections are closed after 90 s (the timer drives the pool's reaper).
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers every request on a connection with the head and the body in two
    /// writes (as Garage does), counting the connections it accepted.
    async fn split_writes_server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut n = 0;
                    loop {
                        let Ok(r) = sock.read(&mut buf[n..]).await else {
                            return;
                        };
                        if r == 0 {
                            return;
                        }
                        n += r;
                        if !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                            continue;
                        }
                        n = 0;
                        let body = vec![b'x'; 30_000];
                        let head =
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                        if sock.write_all(head.as_bytes()).await.is_err()
                            || sock.write_all(&body).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    #[tokio::test]
    async fn requests_share_a_connection_and_read_whole_bodies() {
        let (url, accepted) = split_writes_server().await;
        let tls = crate::tls::client_config("").unwrap();
        for quick_ack in [true, false] {
            let before = accepted.load(Ordering::SeqCst);
            let client = QuickAckClient::new(tls.clone(), Duration::from_secs(5), quick_ack);
            for _ in 0..3 {
                let request = HttpRequest::get(format!("{url}/bucket/key")).unwrap();
                let response = client.call(request).await.unwrap();
                assert_eq!(response.status().as_u16(), 200);
                let body = aws_sdk_s3::primitives::ByteStream::new(response.into_body())
                    .collect()
                    .await
                    .unwrap()
                    .into_bytes();
                assert_eq!(body.len(), 30_000);
                assert!(body.iter().all(|&b| b == b'x'));
            }
            // Kept alive: three requests, one connection.
            assert_eq!(
                accepted.load(Ordering::SeqCst) - before,
                1,
                "quick_ack {quick_ack}"
            );
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error_the_sdk_retries() {
        // A port nobody listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = QuickAckClient::new(
            crate::tls::client_config("").unwrap(),
            Duration::from_secs(5),
            true,
        );
        let request = HttpRequest::get(format!("http://127.0.0.1:{port}/b/k")).unwrap();
        let err = client.call(request).await.unwrap_err();
        assert!(err.is_io(), "{err:?}");
    }
}
