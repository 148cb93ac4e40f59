//! Central delivery: results wait in a durable quorum queue of their own and are POSTed to the
//! central system with `Idempotency-Key` and an HMAC-SHA256 signature.
//!
//! A result is acked off the deliveries queue only after a 2xx. Failures retry with exponential
//! backoff and jitter; after `central.requeue_after` failed attempts a delivery is moved to the
//! back of the queue (confirmed publish, then ack) carrying its attempt count, so a result the
//! central system keeps refusing never blocks the others and nothing is dropped. The body POSTed
//! is byte-for-byte the result stored in S3, so a repeat carries the same id and identical body.
//! When any delivery succeeds, deliveries waiting out a backoff retry at once.

use crate::broker::{header_str, header_u64, json_properties, string, Publisher};
use crate::error::{BrokerError, DeliveryError};
use crate::metrics::Metrics;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
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

/// `sha256=<hex HMAC-SHA256(body, secret)>`, the `X-Photocheck-Signature` value.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks an `X-Photocheck-Signature` value in constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex_part) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_part) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
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
    grace: Duration,
    shutdown: CancellationToken,
) -> Result<(), crate::PipelineError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(central.timeout_ms.max(1)))
        .user_agent(concat!("photocheck/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| crate::PipelineError::Config(format!("central http client: {e}")))?;
    let ctx = Arc::new(Ctx {
        central,
        amqp,
        http,
        publisher,
        metrics,
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
    let conn = crate::broker::connect(&ctx.amqp).await?;
    let channel = conn.create_channel().await?;
    if ctx.amqp.declare {
        crate::broker::declare_topology(&channel, &ctx.amqp).await?;
    }
    let prefetch = u16::try_from(ctx.central.concurrency.max(1)).unwrap_or(u16::MAX);
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("photocheck-delivery-{}", uuid::Uuid::now_v7());
    let mut consumer = channel
        .basic_consume(
            ctx.amqp.deliveries_queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let outcome = loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break Ok(()),
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let ctx = Arc::clone(ctx);
                    tracker.spawn(async move { deliver(&ctx, delivery).await });
                }
                Some(Err(e)) => break Err(BrokerError::from(e)),
                None => break Err(BrokerError::Unavailable("deliveries consumer ended".into())),
            }
        }
    };
    if outcome.is_ok() {
        let _ = channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await;
        // Keep the connection open while in-flight deliveries finish and ack; whatever is
        // unacked when it closes goes back to the queue.
        tracker.close();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(
                left = tracker.len(),
                "grace period over; unfinished deliveries go back to the queue"
            );
        }
        let _ = conn.close(200, "shutdown".into()).await;
    }
    outcome
}

async fn post(ctx: &Ctx, id: &str, body: &[u8], signature: &str) -> Result<(), DeliveryError> {
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
        Ok(())
    } else {
        Err(DeliveryError::Status(response.status().as_u16()))
    }
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
    let signature = sign(ctx.central.secret.as_bytes(), body);
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
    loop {
        match post(ctx, &id, body, &signature).await {
            Ok(()) => {
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
                Metrics::inc(&ctx.metrics.deliveries, "outcome", "failed");
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

/// Moves a delivery to the back of the queue with its attempt count. True when done.
async fn requeue(ctx: &Ctx, delivery: &Delivery, id: &str, attempt: u32) -> bool {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(ATTEMPT_HEADER.into(), string(&attempt.to_string()));
    headers.insert(ID_HEADER.into(), string(id));
    let published = ctx
        .publisher
        .publish(
            "",
            &ctx.amqp.deliveries_queue,
            true,
            &delivery.data,
            json_properties(id, headers),
        )
        .await;
    match published {
        Ok(()) => {
            if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
                tracing::warn!(error = %e, job_id = %id, "requeued delivery but could not ack the old copy");
            }
            Metrics::inc(&ctx.metrics.deliveries, "outcome", "requeued");
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, job_id = %id, "could not requeue delivery; holding it");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex_and_verifies() {
        // RFC 4231 test case 2.
        let sig = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify(b"Jefe", b"what do ya want for nothing?", &sig));
        assert!(!verify(b"Jefe", b"what do ya want for nothing!", &sig));
        assert!(!verify(b"other", b"what do ya want for nothing?", &sig));
        assert!(!verify(b"Jefe", b"x", "md5=00"));
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
}
