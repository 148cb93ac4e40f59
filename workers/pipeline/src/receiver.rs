//! A local central-system receiver: a real HTTP server that verifies signatures, records every
//! result it is sent, and can be told to answer 500. Used by the integration tests and by the
//! one-machine walkthrough (`photocheck-receiver`), where it prints each result as it arrives.

use crate::delivery::{unix_now, verify, DEFAULT_TOLERANCE_S};
use crate::tls::TlsListener;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use photocheck_config::ServerTlsSection;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// One POST the receiver accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `Idempotency-Key` header.
    pub idempotency_key: String,
    /// The body as received.
    pub body: Bytes,
    /// The `X-Photocheck-Signature` header as received.
    pub signature: String,
    /// Whether `X-Photocheck-Signature` matched (a secret, and the time within tolerance).
    pub signature_valid: bool,
    /// Seconds from the id's timestamp (UUIDv7: when the API accepted the photo) to arrival.
    pub latency_s: Option<f64>,
    /// When the request reached the receiver (monotonic clock of this process), so a client in
    /// the same process (`photocheck bench pipeline`) can time submit → delivery exactly.
    pub arrived: Instant,
}

struct Inner {
    secrets: Vec<Vec<u8>>,
    tolerance_s: u64,
    /// 0: answer normally; else the status every POST gets.
    refusing: std::sync::atomic::AtomicU16,
    refused: AtomicU64,
    received: Mutex<Vec<Received>>,
    changed: Notify,
    print: bool,
}

/// A running receiver. Stops when dropped or when its token is cancelled.
pub struct Receiver {
    addr: SocketAddr,
    /// `http` or `https`.
    scheme: &'static str,
    inner: Arc<Inner>,
    stop: CancellationToken,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Milliseconds since the epoch encoded in a UUIDv7, if `id` is one.
pub fn uuid_v7_millis(id: &str) -> Option<u64> {
    let uuid = uuid::Uuid::parse_str(id).ok()?;
    let (secs, nanos) = uuid.get_timestamp()?.to_unix();
    Some(secs * 1000 + u64::from(nanos) / 1_000_000)
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let arrived = Instant::now();
    let refusing = inner.refusing.load(Ordering::SeqCst);
    if refusing != 0 {
        inner.refused.fetch_add(1, Ordering::SeqCst);
        inner.changed.notify_waiters();
        return StatusCode::from_u16(refusing).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let key = header("idempotency-key");
    let secrets: Vec<&[u8]> = inner.secrets.iter().map(Vec::as_slice).collect();
    let signature = header("x-photocheck-signature");
    let signature_valid = verify(
        &secrets,
        &signature,
        &key,
        &body,
        unix_now(),
        inner.tolerance_s,
    )
    .is_ok();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let latency_s = uuid_v7_millis(&key).map(|t| now_ms.saturating_sub(t) as f64 / 1000.0);
    if inner.print {
        let parsed = serde_json::from_slice::<serde_json::Value>(&body).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(name).and_then(|v| v.as_str()).map(str::to_owned))
                .unwrap_or_default()
        };
        // A reviewer's decision names what was decided; a result its verdict.
        let what = if field("object") == "decision" {
            format!("decision={}", field("decision"))
        } else {
            format!("verdict={}", field("verdict"))
        };
        println!(
            "{key} {what} signature={} latency_ms={}",
            if signature_valid { "ok" } else { "BAD" },
            latency_s.map_or("?".into(), |s| format!("{:.0}", s * 1000.0))
        );
    }
    let status = if signature_valid {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    inner
        .received
        .lock()
        .expect("receiver lock")
        .push(Received {
            idempotency_key: key,
            body,
            signature,
            signature_valid,
            latency_s,
            arrived,
        });
    inner.changed.notify_waiters();
    status
}

impl Receiver {
    /// Starts a receiver on `listen` (`127.0.0.1:0` for a free port) verifying with `secret`
    /// and the default tolerance. With `print`, writes one line per result to stdout.
    pub async fn start(listen: &str, secret: &str, print: bool) -> std::io::Result<Receiver> {
        Receiver::start_with(listen, &[secret], DEFAULT_TOLERANCE_S, print).await
    }

    /// [`Receiver::start`] accepting any of `secrets` (a rotation) within `tolerance_s`
    /// seconds of its clock.
    pub async fn start_with(
        listen: &str,
        secrets: &[&str],
        tolerance_s: u64,
        print: bool,
    ) -> std::io::Result<Receiver> {
        Receiver::launch(listen, secrets, tolerance_s, print, None).await
    }

    /// [`Receiver::start_with`] serving HTTPS with the certificate of `tls` (as the central
    /// system would), read again when its files change.
    pub async fn start_tls(
        listen: &str,
        secrets: &[&str],
        tolerance_s: u64,
        print: bool,
        tls: &ServerTlsSection,
    ) -> std::io::Result<Receiver> {
        Receiver::launch(listen, secrets, tolerance_s, print, Some(tls)).await
    }

    async fn launch(
        listen: &str,
        secrets: &[&str],
        tolerance_s: u64,
        print: bool,
        tls: Option<&ServerTlsSection>,
    ) -> std::io::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            secrets: secrets.iter().map(|s| s.as_bytes().to_vec()).collect(),
            tolerance_s,
            refusing: 0.into(),
            refused: AtomicU64::new(0),
            received: Mutex::new(Vec::new()),
            changed: Notify::new(),
            print,
        });
        let stop = CancellationToken::new();
        let app = Router::new()
            .route("/", post(receive))
            .route("/results", post(receive))
            .with_state(Arc::clone(&inner));
        let token = stop.clone();
        let scheme = if let Some(tls) = tls {
            let listener = TlsListener::spawn(listener, tls.clone(), stop.clone())
                .map_err(std::io::Error::other)?;
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(token.cancelled_owned())
                    .await;
            });
            "https"
        } else {
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(token.cancelled_owned())
                    .await;
            });
            "http"
        };
        Ok(Receiver {
            addr,
            scheme,
            inner,
            stop,
        })
    }

    /// The URL to configure as `central.url`.
    pub fn url(&self) -> String {
        format!("{}://{}/results", self.scheme, self.addr)
    }

    /// Answer 500 to every POST while `failing` is true.
    pub fn set_failing(&self, failing: bool) {
        self.set_refusing(if failing { 500 } else { 0 });
    }

    /// Answer `status` to every POST (0: answer normally again).
    pub fn set_refusing(&self, status: u16) {
        self.inner.refusing.store(status, Ordering::SeqCst);
    }

    /// POSTs refused with 500 so far.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::SeqCst)
    }

    /// Every POST accepted so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().expect("receiver lock").clone()
    }

    /// How many POSTs were accepted so far (cheap: no copy of what was received).
    pub fn accepted_count(&self) -> usize {
        self.inner.received.lock().expect("receiver lock").len()
    }

    /// Distinct ids received so far.
    pub fn distinct(&self) -> BTreeSet<String> {
        self.received()
            .into_iter()
            .map(|r| r.idempotency_key)
            .collect()
    }

    /// Waits until `done(self)` holds, re-checking whenever a POST arrives (or every 200 ms).
    pub async fn wait_until(&self, mut done: impl FnMut(&Receiver) -> bool) {
        loop {
            let changed = self.inner.changed.notified();
            if done(self) {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), changed).await;
        }
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run_until(&self, shutdown: CancellationToken) {
        shutdown.cancelled().await;
    }
}
