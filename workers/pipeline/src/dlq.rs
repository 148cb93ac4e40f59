//! The operator's view of what was set aside: the jobs dead-letter queue (messages that are not
//! jobs, jobs over the broker's delivery limit) and the parking queue (results the central
//! system refused for good, deliveries over the delivery limit). `photocheck dlq` lists, shows
//! and re-queues them; the worker reports their depth and oldest age as metrics.
//!
//! Reading never loses a message: each is taken without acknowledgement and returned (nack with
//! requeue) unless it was re-queued, in which case its copy is published to the target queue
//! with a publisher confirm before the original is acked.

use crate::broker::{header_str, json_properties, string, Publisher};
use crate::delivery::{ATTEMPT_HEADER, ID_HEADER, PARKED_AT_HEADER};
use crate::error::BrokerError;
use crate::worker::{ATTEMPTS_HEADER, ERROR_CODE_HEADER, ERROR_HEADER};
use lapin::message::BasicGetMessage;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable};
use photocheck_config::AmqpSection;

/// Which set-aside queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The jobs dead-letter queue; re-queued to the jobs queue.
    DeadLetters,
    /// The parking queue of results; re-queued to the deliveries queue.
    Parked,
}

impl Which {
    /// The queue's name, and the queue its messages go back to.
    pub fn queues(self, amqp: &AmqpSection) -> (&str, &str) {
        match self {
            Which::DeadLetters => (&amqp.dead_letter_queue, &amqp.jobs_queue),
            Which::Parked => (&amqp.parking_queue, &amqp.deliveries_queue),
        }
    }
}

/// One set-aside message, as an operator sees it (never the photo; a parked result's body is
/// the result object, shown only by [`show`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// The job or result id (`malformed` for a message that is not a job).
    pub id: String,
    /// Stable error code, when recorded.
    pub code: Option<String>,
    /// The error, when recorded.
    pub error: Option<String>,
    /// Attempts made, when recorded.
    pub attempts: Option<String>,
    /// When it was set aside (RFC 3339), when known.
    pub set_aside_at: Option<String>,
    /// Size of the body in bytes.
    pub bytes: usize,
}

fn entry(m: &BasicGetMessage) -> Entry {
    let headers = m.delivery.properties.headers();
    let id = header_str(headers, ID_HEADER)
        .or_else(|| {
            m.delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.to_string())
        })
        .unwrap_or_else(|| "malformed".into());
    Entry {
        id,
        code: header_str(headers, ERROR_CODE_HEADER).or_else(|| death_reason(headers)),
        error: header_str(headers, ERROR_HEADER),
        attempts: header_str(headers, ATTEMPTS_HEADER)
            .or_else(|| header_str(headers, ATTEMPT_HEADER)),
        set_aside_at: header_str(headers, PARKED_AT_HEADER).or_else(|| death_time(headers)),
        bytes: m.delivery.data.len(),
    }
}

/// The first `x-death` record's field, for messages the broker dead-lettered itself.
fn death_field(headers: &Option<FieldTable>, name: &str) -> Option<AMQPValue> {
    let AMQPValue::FieldArray(deaths) = headers.as_ref()?.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    first.inner().get(name).cloned()
}

fn death_reason(headers: &Option<FieldTable>) -> Option<String> {
    match death_field(headers, "reason")? {
        AMQPValue::LongString(s) => {
            Some(format!("broker.{}", String::from_utf8_lossy(s.as_bytes())))
        }
        _ => None,
    }
}

fn death_time(headers: &Option<FieldTable>) -> Option<String> {
    match death_field(headers, "time")? {
        AMQPValue::Timestamp(t) => chrono::DateTime::from_timestamp(t as i64, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        _ => None,
    }
}

/// Returns a message taken unacknowledged to its queue.
async fn give_back(m: &BasicGetMessage) {
    let _ = m
        .delivery
        .acker
        .nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        })
        .await;
}

/// Takes every message of the queue (unacknowledged), lets `visit` decide each one's fate, and
/// returns the others to the queue; `visit` returns true when it re-queued the message (then
/// acked here). Returns every entry seen and how many were re-queued.
async fn sweep<F, Fut>(
    amqp: &AmqpSection,
    which: Which,
    mut visit: F,
) -> Result<(Vec<Entry>, usize), BrokerError>
where
    F: FnMut(BasicGetMessage) -> Fut,
    Fut: std::future::Future<Output = Result<(BasicGetMessage, bool), BrokerError>>,
{
    let (queue, _) = which.queues(amqp);
    let conn = crate::broker::connect(amqp).await?;
    let channel = conn.create_channel().await?;
    let mut seen = Vec::new();
    let mut held = Vec::new();
    let mut moved = 0usize;
    let outcome = async {
        while let Some(m) = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: false })
            .await?
        {
            seen.push(entry(&m));
            let (m, requeued) = visit(m).await?;
            if requeued {
                m.delivery.acker.ack(BasicAckOptions::default()).await?;
                moved += 1;
            } else {
                held.push(m);
            }
        }
        Ok::<(), BrokerError>(())
    }
    .await;
    for m in held {
        give_back(&m).await;
    }
    let _ = conn.close(200, "done".into()).await;
    outcome.map(|()| (seen, moved))
}

/// Every message in the queue, oldest first; nothing is removed.
pub async fn list(amqp: &AmqpSection, which: Which) -> Result<Vec<Entry>, BrokerError> {
    Ok(sweep(amqp, which, |m| async move { Ok((m, false)) })
        .await?
        .0)
}

/// The message with `id` and its body; nothing is removed.
pub async fn show(
    amqp: &AmqpSection,
    which: Which,
    id: &str,
) -> Result<Option<(Entry, Vec<u8>)>, BrokerError> {
    let mut found = None;
    let found_ref = &mut found;
    sweep(amqp, which, |m| {
        if found_ref.is_none() && entry(&m).id == id {
            *found_ref = Some((entry(&m), m.delivery.data.clone()));
        }
        async move { Ok((m, false)) }
    })
    .await?;
    Ok(found)
}

/// Moves the messages with the given ids (all of them with `None`) back to where they came
/// from, each confirmed there before it leaves this queue; returns how many moved. The error
/// headers are dropped and the attempt count reset, so a re-queued item starts afresh.
pub async fn requeue(
    amqp: &AmqpSection,
    which: Which,
    ids: Option<&[String]>,
) -> Result<usize, BrokerError> {
    let publisher = Publisher::new(amqp.clone());
    // A message another reader holds for a moment (the worker's age probe) is invisible to one
    // sweep: sweep again while sweeps still move something.
    let mut total = 0;
    let outcome = loop {
        match requeue_once(amqp, which, ids, &publisher).await {
            Ok(0) => break Ok(total),
            Ok(n) => total += n,
            Err(e) => break Err(e),
        }
    };
    publisher.close().await;
    outcome
}

async fn requeue_once(
    amqp: &AmqpSection,
    which: Which,
    ids: Option<&[String]>,
    publisher_ref: &Publisher,
) -> Result<usize, BrokerError> {
    let (_, target) = which.queues(amqp);
    let outcome = sweep(amqp, which, |m| {
        let e = entry(&m);
        let chosen = ids.is_none_or(|ids| ids.contains(&e.id));
        async move {
            if !chosen {
                return Ok((m, false));
            }
            let mut headers = FieldTable::default();
            for (k, v) in m
                .delivery
                .properties
                .headers()
                .as_ref()
                .map(|h| h.inner().clone())
                .unwrap_or_default()
            {
                let drop = [
                    ERROR_CODE_HEADER,
                    ERROR_HEADER,
                    ATTEMPTS_HEADER,
                    ATTEMPT_HEADER,
                    PARKED_AT_HEADER,
                    "x-death",
                    "x-first-death-exchange",
                    "x-first-death-queue",
                    "x-first-death-reason",
                    "x-last-death-exchange",
                    "x-last-death-queue",
                    "x-last-death-reason",
                    "x-delivery-count",
                ]
                .contains(&k.as_str());
                if !drop {
                    headers.insert(k, v);
                }
            }
            if e.id != "malformed" {
                headers.insert(ID_HEADER.into(), string(&e.id));
            }
            publisher_ref
                .publish(
                    "",
                    target,
                    true,
                    &m.delivery.data,
                    json_properties(&e.id, headers),
                )
                .await?;
            Ok((m, true))
        }
    })
    .await;
    Ok(outcome?.1)
}

/// Removes the messages with the given ids for good (an operator's decision, audited by the
/// caller); returns how many were removed.
pub async fn discard(
    amqp: &AmqpSection,
    which: Which,
    ids: &[String],
) -> Result<usize, BrokerError> {
    let (_, removed) = sweep(amqp, which, |m| {
        let chosen = ids.contains(&entry(&m).id);
        async move { Ok((m, chosen)) }
    })
    .await?;
    Ok(removed)
}

/// Depth of the queue, and the age in seconds of its oldest message when it has one and its
/// time is known.
pub async fn stats(amqp: &AmqpSection, which: Which) -> Result<(u32, Option<f64>), BrokerError> {
    let (queue, _) = which.queues(amqp);
    let conn = crate::broker::connect(amqp).await?;
    let channel = conn.create_channel().await?;
    let depth = crate::broker::inspect(&channel, queue)
        .await?
        .message_count();
    let mut oldest = None;
    if depth > 0 {
        if let Some(m) = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: false })
            .await?
        {
            oldest = entry(&m)
                .set_aside_at
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| {
                    (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                        .num_milliseconds()
                        .max(0) as f64
                        / 1000.0
                });
            give_back(&m).await;
        }
    }
    let _ = conn.close(200, "done".into()).await;
    Ok((depth, oldest))
}
