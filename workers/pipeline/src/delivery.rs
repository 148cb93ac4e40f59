//! Central delivery: results wait in a durable quorum queue of their own and are POSTed to the
//! central system with `Idempotency-Key` and an HMAC-SHA256 signature.
//!
//! A result is acked off the deliveries queue only after a 2xx. Failures retry with exponential
//! backoff and jitter; after `central.requeue_after` failed attempts a delivery is moved to the
//! back of the queue (confirmed publish, then ack) carrying its attempt count, so a result the
//! central system keeps refusing never blocks the others and nothing is dropped. The body POSTed
//! is byte-for-byte the result stored in S3, so a repeat carries the same id and identical body.
//! When any delivery succeeds, deliveries waiting out a backoff retry at once.

use crate::audit::Audit;
use crate::broker::{header_str, header_u64, json_properties, string, Publisher};
use crate::error::{BrokerError, DeliveryError};
use crate::metrics::Metrics;
use hmac::{Hmac, Mac};
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use photocheck_config::{AmqpSection, CentralSection};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Header carrying the job id on a delivery message.
pub const ID_HEADER: &str = "x-photocheck-id";
/// Header carrying the number of failed attempts so far.
pub const ATTEMPT_HEADER: &str = "x-photocheck-attempt";
/// Header carrying the RFC 3339 time the API accepted the photo.
pub const SUBMITTED_HEADER: &str = "x-photocheck-submitted-at";

/// Least length in bytes of a central secret (CONTRACT §4): shorter ones are refused at start.
pub const MIN_SECRET_BYTES: usize = 32;

/// Seconds a receiver accepts between a signature's `t` and its own clock, by default.
pub const DEFAULT_TOLERANCE_S: u64 = 300;

fn mac(secret: &[u8], t: u64, key: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(key.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Photocheck-Signature` value (CONTRACT §4): `t=<unix seconds>,v1=<hex>[,v1=<hex>]`,
/// each `v1` the HMAC-SHA256 with one of `secrets` (the current first, then the one being
/// rotated out) of `<t>.<Idempotency-Key>.<body bytes>`.
pub fn sign(secrets: &[&[u8]], t: u64, key: &str, body: &[u8]) -> String {
    let mut out = format!("t={t}");
    for secret in secrets {
        out.push_str(",v1=");
        out.push_str(&hex::encode(
            mac(secret, t, key, body).finalize().into_bytes(),
        ));
    }
    out
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not of the form `t=…,v1=…`.
    #[error("malformed signature header")]
    Malformed,
    /// `t` is further from the receiver's clock than its tolerance (a replay, or a clock off).
    #[error("signature time {t} is more than {tolerance} s from now ({now})")]
    Stale {
        /// The signature's time.
        t: u64,
        /// The receiver's time.
        now: u64,
        /// The tolerance in seconds.
        tolerance: u64,
    },
    /// No `v1` matches any of the receiver's secrets.
    #[error("no signature matches")]
    Mismatch,
}

/// Verifies an `X-Photocheck-Signature` value as a receiver does (CONTRACT §4): some `v1`
/// matches one of `secrets` (constant-time), and `t` lies within `tolerance` seconds of `now`.
pub fn verify(
    secrets: &[&[u8]],
    header: &str,
    key: &str,
    body: &[u8],
    now: u64,
    tolerance: u64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<u64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => sigs.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if t.abs_diff(now) > tolerance {
        return Err(SignatureError::Stale { t, now, tolerance });
    }
    let matches = secrets.iter().any(|secret| {
        sigs.iter()
            .any(|sig| mac(secret, t, key, body).verify_slice(sig).is_ok())
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The secrets a sender signs with: `central.secret`, then `central.previous_secret` while a
/// rotation is under way. Refuses an empty or short one when a central URL is set.
pub fn signing_secrets(central: &CentralSection) -> Result<Vec<Vec<u8>>, crate::PipelineError> {
    let mut out = Vec::new();
    for (name, secret) in [
        ("central.secret", &central.secret),
        ("central.previous_secret", &central.previous_secret),
    ] {
        if secret.is_empty() && name == "central.previous_secret" {
            continue;
        }
        if secret.len() < MIN_SECRET_BYTES {
            return Err(crate::PipelineError::Config(format!(
                "{name} must be at least {MIN_SECRET_BYTES} bytes when central.url is set (it is {})",
                secret.len()
            )));
        }
        out.push(secret.as_bytes().to_vec());
    }
    Ok(out)
}

/// Delay before retry number `attempt` (1-based): `base · 2^(attempt-1)` capped at `max`, with
/// "equal jitter" (half fixed, half random) so retries of many results spread out.
pub fn backoff(attempt: u32, base_ms: u64, max_ms: u64) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(32));
    let capped = exp.min(max_ms).max(1);
    let half = capped / 2;
    Duration::from_millis(half + fastrand::u64(0..=capped - half))
}

/// Everything a delivery task needs.
struct Ctx {
    central: CentralSection,
    amqp: AmqpSection,
    http: reqwest::Client,
    publisher: Arc<Publisher>,
    metrics: Metrics,
    audit: Audit,
    secrets: Vec<Vec<u8>>,
    recovered: Notify,
    shutdown: CancellationToken,
}

/// Consumes the deliveries queue until `shutdown`, reconnecting after broker failures; on
/// shutdown waits up to `grace` for deliveries in flight (the rest are redelivered later).
pub async fn run_deliveries(
    central: CentralSection,
    amqp: AmqpSection,
    publisher: Arc<Publisher>,
    metrics: Metrics,
    audit: Audit,
    grace: Duration,
    shutdown: CancellationToken,
) -> Result<(), crate::PipelineError> {
    let http = crate::tls::ClientTls::roots(&central.ca_file)
        .apply(reqwest::Client::builder())?
        .timeout(Duration::from_millis(central.timeout_ms.max(1)))
        .user_agent(concat!("photocheck/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| crate::PipelineError::Config(format!("central http client: {e}")))?;
    let secrets = signing_secrets(&central)?;
    let ctx = Arc::new(Ctx {
        secrets,
        central,
        amqp,
        http,
        publisher,
        metrics,
        audit,
        recovered: Notify::new(),
        shutdown: shutdown.clone(),
    });
    let tracker = TaskTracker::new();
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        match consume(&ctx, &tracker, grace).await {
            Ok(()) => break,
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "delivery consumer lost the broker; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff(failures.min(6), 500, 10_000)) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
    }
    Ok(())
}

async fn consume(
    ctx: &Arc<Ctx>,
    tracker: &TaskTracker,
    grace: Duration,
) -> Result<(), BrokerError> {
    let spec = crate::broker::ConsumerSpec {
        queue: &ctx.amqp.deliveries_queue,
        prefetch: ctx.central.concurrency,
        what: "deliveries",
        grace,
    };
    crate::broker::consume(
        &ctx.amqp,
        spec,
        &ctx.shutdown,
        tracker,
        |_| {},
        |delivery| {
            let ctx = Arc::clone(ctx);
            async move { deliver(&ctx, delivery).await }
        },
    )
    .await
}

async fn post(ctx: &Ctx, id: &str, body: &[u8], signature: &str) -> Result<u16, DeliveryError> {
    let response = ctx
        .http
        .post(&ctx.central.url)
        .header("content-type", "application/json")
        .header("idempotency-key", id)
        .header("x-photocheck-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| DeliveryError::Transport(e.to_string()))?;
    if response.status().is_success() {
        Ok(response.status().as_u16())
    } else {
        Err(DeliveryError::Status(response.status().as_u16()))
    }
}

/// The audit line of a delivered result: its window and verdict (read from the body), the
/// receiver and its answer.
fn audit_delivered(ctx: &Ctx, id: &str, body: &[u8], status: u16) {
    #[derive(serde::Deserialize)]
    struct Summary {
        window_id: Option<String>,
        verdict: Option<String>,
    }
    let summary = serde_json::from_slice::<Summary>(body).ok();
    let (window, verdict) = summary.map_or((None, None), |s| (s.window_id, s.verdict));
    ctx.audit.record(
        "result.delivered",
        id,
        serde_json::json!({
            "window": window,
            "verdict": verdict,
            "receiver": crate::audit::receiver_name(&ctx.central.url),
            "status": status,
        }),
    );
}

/// Waits `delay`, or less if another delivery succeeds meanwhile. False on shutdown.
async fn wait(ctx: &Ctx, delay: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = ctx.recovered.notified() => {
            // Spread the wake-up a little so recovered deliveries do not all fire at once.
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..50))).await;
            true
        }
        _ = ctx.shutdown.cancelled() => false,
    }
}

async fn deliver(ctx: &Ctx, delivery: Delivery) {
    ctx.metrics.deliveries_in_flight.inc();
    deliver_inner(ctx, &delivery).await;
    ctx.metrics.deliveries_in_flight.dec();
}

async fn deliver_inner(ctx: &Ctx, delivery: &Delivery) {
    let headers = delivery.properties.headers();
    let id = header_str(headers, ID_HEADER)
        .or_else(|| {
            delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.to_string())
        })
        .unwrap_or_default();
    let submitted_at = header_str(headers, SUBMITTED_HEADER);
    let mut attempt = u32::try_from(header_u64(headers, ATTEMPT_HEADER).unwrap_or(0)).unwrap_or(0);
    let body = &delivery.data;
    if attempt > 0
        && !wait(
            ctx,
            backoff(attempt, ctx.central.retry_base_ms, ctx.central.retry_max_ms),
        )
        .await
    {
        return;
    }
    let mut held = 0u32;
    let mut refusals = 0u32;
    loop {
        let secrets: Vec<&[u8]> = ctx.secrets.iter().map(Vec::as_slice).collect();
        let signature = sign(&secrets, unix_now(), &id, body);
        match post(ctx, &id, body, &signature).await {
            Ok(status) => {
                audit_delivered(ctx, &id, body, status);
                if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
                    // Redelivered later; the central system then sees the same id and body.
                    tracing::warn!(error = %e, job_id = %id, "delivered but could not ack");
                }
                Metrics::inc(&ctx.metrics.deliveries, "outcome", "delivered");
                if let Some(at) = submitted_at
                    .as_deref()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                {
                    let secs = (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
                        .num_microseconds()
                        .unwrap_or(0) as f64
                        / 1e6;
                    ctx.metrics
                        .submit_to_delivery_seconds
                        .observe(secs.max(0.0));
                }
                tracing::info!(job_id = %id, attempts = attempt + 1, "result delivered");
                ctx.recovered.notify_waiters();
                return;
            }
            Err(e) => {
                attempt += 1;
                held += 1;
                refusals = if e.is_refusal() { refusals + 1 } else { 0 };
                Metrics::inc(&ctx.metrics.deliveries, "outcome", "failed");
                if refusals >= ctx.central.park_after.max(1)
                    && park(ctx, delivery, &id, attempt, &e).await
                {
                    return;
                }
                tracing::warn!(error = %e, code = e.code(), job_id = %id, attempt, "delivery failed; will retry");
                if held >= ctx.central.requeue_after.max(1)
                    && requeue(ctx, delivery, &id, attempt).await
                {
                    return;
                }
                let delay = backoff(attempt, ctx.central.retry_base_ms, ctx.central.retry_max_ms);
                if !wait(ctx, delay).await {
                    return;
                }
            }
        }
    }
}

/// Header on a parked result or a dead-lettered job: when it was set aside (RFC 3339).
pub const PARKED_AT_HEADER: &str = "x-photocheck-parked-at";

/// Parks a result the central system keeps refusing: a confirmed publish to the parking queue
/// with the reason, then the ack. True when done; false keeps it here (retried as before).
async fn park(ctx: &Ctx, delivery: &Delivery, id: &str, attempt: u32, e: &DeliveryError) -> bool {
    let reason = [
        (crate::worker::ERROR_CODE_HEADER, e.code().to_owned()),
        (crate::worker::ERROR_HEADER, e.to_string()),
        (
            PARKED_AT_HEADER,
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
    ];
    let moved = move_to(ctx, delivery, id, attempt, &ctx.amqp.parking_queue, &reason).await;
    if moved {
        Metrics::inc(&ctx.metrics.deliveries, "outcome", "parked");
        tracing::error!(error = %e, job_id = %id, attempt, "central system refuses this result; parked for an operator");
    }
    moved
}

/// Moves a delivery to the back of the queue with its attempt count. True when done.
async fn requeue(ctx: &Ctx, delivery: &Delivery, id: &str, attempt: u32) -> bool {
    let moved = move_to(ctx, delivery, id, attempt, &ctx.amqp.deliveries_queue, &[]).await;
    if moved {
        Metrics::inc(&ctx.metrics.deliveries, "outcome", "requeued");
    }
    moved
}

/// Publishes a copy of `delivery` to `queue` (confirmed) with its id, attempt count and
/// `extra` headers, then acks the original. True when moved; false holds it here.
async fn move_to(
    ctx: &Ctx,
    delivery: &Delivery,
    id: &str,
    attempt: u32,
    queue: &str,
    extra: &[(&str, String)],
) -> bool {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(ATTEMPT_HEADER.into(), string(&attempt.to_string()));
    headers.insert(ID_HEADER.into(), string(id));
    for (name, value) in extra {
        headers.insert((*name).into(), string(value));
    }
    let published = ctx
        .publisher
        .publish(
            "",
            queue,
            true,
            &delivery.data,
            json_properties(id, headers),
        )
        .await;
    match published {
        Ok(()) => {
            if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
                tracing::warn!(error = %e, job_id = %id, queue, "moved a delivery but could not ack the old copy");
            }
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, job_id = %id, queue, "could not move a delivery; holding it");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"0123456789abcdef0123456789abcdef-new";
    const B: &[u8] = b"0123456789abcdef0123456789abcdef-old";

    #[test]
    fn the_signature_covers_time_key_and_body_with_each_secret() {
        let h = sign(&[A], 1_700_000_000, "01J", b"{}");
        // HMAC-SHA256(A, "1700000000.01J.{}"), computed independently.
        let mut m = Hmac::<Sha256>::new_from_slice(A).unwrap();
        m.update(b"1700000000.01J.{}");
        assert_eq!(
            h,
            format!("t=1700000000,v1={}", hex::encode(m.finalize().into_bytes()))
        );
        let now = 1_700_000_010;
        assert_eq!(verify(&[A], &h, "01J", b"{}", now, 300), Ok(()));
        // Another key, body or time: refused.
        assert_eq!(
            verify(&[A], &h, "01K", b"{}", now, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&[A], &h, "01J", b"{ }", now, 300),
            Err(SignatureError::Mismatch)
        );
        let moved = h.replace("t=1700000000", "t=1700000005");
        assert_eq!(
            verify(&[A], &moved, "01J", b"{}", now, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&[B], &h, "01J", b"{}", now, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_replay_outside_the_tolerance_is_refused() {
        let h = sign(&[A], 1_700_000_000, "01J", b"{}");
        assert!(matches!(
            verify(&[A], &h, "01J", b"{}", 1_700_000_301, 300),
            Err(SignatureError::Stale { .. })
        ));
        assert_eq!(verify(&[A], &h, "01J", b"{}", 1_700_000_300, 300), Ok(()));
        assert!(verify(&[A], "sha256=00", "01J", b"{}", 0, 300).is_err());
        assert_eq!(
            verify(&[A], "t=1,v1=zz", "01J", b"{}", 1, 300),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let h = sign(&[A, B], 1_700_000_000, "01J", b"{}");
        assert_eq!(h.matches("v1=").count(), 2);
        assert_eq!(verify(&[A], &h, "01J", b"{}", 1_700_000_000, 300), Ok(()));
        assert_eq!(verify(&[B], &h, "01J", b"{}", 1_700_000_000, 300), Ok(()));
    }

    #[test]
    fn short_or_empty_secrets_are_refused() {
        let mut c = CentralSection {
            url: "https://central.example/results".into(),
            ..CentralSection::default()
        };
        assert!(signing_secrets(&c).is_err());
        c.secret = "short".into();
        assert!(signing_secrets(&c).is_err());
        c.secret = String::from_utf8(A.to_vec()).unwrap();
        assert_eq!(signing_secrets(&c).unwrap().len(), 1);
        c.previous_secret = "old-and-short".into();
        assert!(signing_secrets(&c).is_err());
        c.previous_secret = String::from_utf8(B.to_vec()).unwrap();
        assert_eq!(signing_secrets(&c).unwrap().len(), 2);
    }

    #[test]
    fn backoff_grows_exponentially_within_jitter_and_cap() {
        for attempt in 1..=12 {
            let d = backoff(attempt, 100, 5_000).as_millis() as u64;
            let nominal = (100u64 << (attempt - 1)).min(5_000);
            assert!(d >= nominal / 2 && d <= nominal, "attempt {attempt}: {d}");
        }
        assert!(backoff(u32::MAX, 100, 5_000) <= Duration::from_millis(5_000));
    }

    /// The Python verification docs/pipeline.md gives the central system, run as written:
    /// it accepts a fresh delivery under either secret of a rotation, and refuses a replay
    /// (an old `t`), another body, another key and an unknown secret.
    #[test]
    fn the_documented_verification_refuses_replays() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/pipeline.md"),
        )
        .unwrap();
        let section = doc
            .split("## How the central system verifies a delivery")
            .nth(1)
            .expect("the section is in docs/pipeline.md");
        let code = section
            .split("```python\n")
            .nth(1)
            .and_then(|c| c.split("```").next())
            .expect("a python block in the section");
        let now = unix_now();
        let body = br#"{"id":"0190","verdict":"pass"}"#;
        let cases = [
            (sign(&[A, B], now, "0190", body), "0190", &body[..], true),
            (sign(&[B], now, "0190", body), "0190", &body[..], true),
            (
                sign(&[A], now - 600, "0190", body),
                "0190",
                &body[..],
                false,
            ),
            (
                sign(&[A], now, "0190", body),
                "0190",
                &br#"{"verdict":"fail"}"#[..],
                false,
            ),
            (sign(&[A], now, "0190", body), "0191", &body[..], false),
            (
                sign(&[b"another-secret-of-at-least-32-bytes"], now, "0190", body),
                "0190",
                &body[..],
                false,
            ),
        ];
        let mut script = format!(
            "{code}\nsecrets = [{:?}.encode(), {:?}.encode()]\n",
            std::str::from_utf8(A).unwrap(),
            std::str::from_utf8(B).unwrap()
        );
        for (header, key, body, _) in &cases {
            script.push_str(&format!(
                "print(verify(secrets, {header:?}, {key:?}, bytes.fromhex({:?})))\n",
                hex::encode(body)
            ));
        }
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answers: Vec<bool> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l == "True")
            .collect();
        let expected: Vec<bool> = cases.iter().map(|c| c.3).collect();
        assert_eq!(answers, expected);
    }
}
