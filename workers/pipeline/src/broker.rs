//! RabbitMQ: connection, topology and confirmed publishing.
//!
//! Every publish waits for the broker's publisher confirm and is `mandatory`, so a message that
//! was not stored by the broker (nack, unroutable, connection lost) is an error for the caller,
//! never a silent loss. A broken connection is dropped and re-opened on the next use.

use crate::error::BrokerError;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use photocheck_config::AmqpSection;
use std::sync::Arc;
use tokio::sync::Mutex;

/// AMQP delivery mode of persistent messages.
pub const PERSISTENT: u8 = 2;

/// The node of [`connect`]'s list to try first: the last one that answered.
static PREFERRED_NODE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Opens a connection to the broker: `url`, else the `failover_urls` in turn (starting from
/// the node that answered last), each within `connect_timeout_ms`.
pub async fn connect(amqp: &AmqpSection) -> Result<Connection, BrokerError> {
    use std::sync::atomic::Ordering;
    let urls: Vec<&str> = std::iter::once(amqp.url.as_str())
        .chain(amqp.failover_urls.iter().map(String::as_str))
        .collect();
    let first = PREFERRED_NODE.load(Ordering::Relaxed);
    let mut last = None;
    for i in 0..urls.len() {
        let at = (first + i) % urls.len();
        match connect_one(urls[at], amqp.connect_timeout_ms, &amqp.ca_file).await {
            Ok(conn) => {
                PREFERRED_NODE.store(at, Ordering::Relaxed);
                return Ok(conn);
            }
            Err(e) => {
                if urls.len() > 1 {
                    tracing::warn!(node = at, error = %e, "broker node unavailable; trying the next");
                }
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| BrokerError::Unavailable("no broker URL configured".into())))
}

async fn connect_one(url: &str, timeout_ms: u64, ca_file: &str) -> Result<Connection, BrokerError> {
    let wait = std::time::Duration::from_millis(timeout_ms.max(1));
    // Read at each connect, so a rotated CA bundle is picked up by the next reconnect.
    let cert_chain = crate::tls::ca_bundle(ca_file)
        .map_err(|e| BrokerError::Unavailable(e.to_string()))?
        .map(|pem| String::from_utf8_lossy(&pem).into_owned());
    let tls = lapin::tcp::OwnedTLSConfig {
        identity: None,
        cert_chain,
    };
    let runtime = lapin::runtime::default_runtime()?;
    match tokio::time::timeout(
        wait,
        lapin::Connect::connect_with_config(url, ConnectionProperties::default(), tls, runtime),
    )
    .await
    {
        Ok(connected) => connected.map_err(BrokerError::from),
        Err(_) => Err(BrokerError::Unavailable(format!(
            "no connection within {} ms",
            wait.as_millis()
        ))),
    }
}

/// Arguments of the jobs queue: quorum, dead-lettering to the DLQ, broker-side redelivery cap.
pub fn jobs_queue_args(amqp: &AmqpSection) -> FieldTable {
    dead_lettering_args(&amqp.dead_letter_queue, amqp.delivery_limit)
}

/// Arguments of the deliveries queue: over the delivery limit a result goes to the parking
/// queue, never away.
pub fn deliveries_queue_args(amqp: &AmqpSection) -> FieldTable {
    dead_lettering_args(&amqp.parking_queue, amqp.delivery_limit)
}

/// A quorum queue that dead-letters to `target` at least once (the message stays until the
/// target confirms it; RabbitMQ ≥ 3.10 with `x-overflow = reject-publish`), after at most
/// `limit` deliveries (0 = the broker's default: none on 3.13, 20 on 4.x).
fn dead_lettering_args(target: &str, limit: u32) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), string("quorum"));
    args.insert("x-dead-letter-exchange".into(), string(""));
    args.insert("x-dead-letter-routing-key".into(), string(target));
    args.insert("x-dead-letter-strategy".into(), string("at-least-once"));
    args.insert("x-overflow".into(), string("reject-publish"));
    if limit > 0 {
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(i64::from(limit)),
        );
    }
    args
}

/// Returns a review photo may make to its queue (a reviewer's lease running out, a console
/// stopping): far beyond any real count, and set explicitly because RabbitMQ 4 otherwise caps
/// quorum queues at 20 deliveries and would drop a photo left open that often.
pub const REVIEW_DELIVERY_LIMIT: i64 = 1_000_000;

/// Arguments of the review queue (`result.review`): quorum, never capped.
pub fn review_queue_args() -> FieldTable {
    let mut args = quorum_args();
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(REVIEW_DELIVERY_LIMIT),
    );
    args
}

/// Arguments of the optional review queue of `fail` results: as the review queue, at most
/// `amqp.review_fail_max` messages, the oldest dropped first (a failed photo needs no review;
/// the cap keeps an unread queue from growing without end).
pub fn review_fail_queue_args(amqp: &AmqpSection) -> FieldTable {
    let mut args = review_queue_args();
    args.insert(
        "x-max-length".into(),
        AMQPValue::LongLongInt(i64::from(amqp.review_fail_max.max(1))),
    );
    args.insert("x-overflow".into(), string("drop-head"));
    args
}

/// Most results the statistics queue holds while no console reads it (about 4 KB each); older
/// ones drop off the front, so a deployment that runs no console never fills the broker.
pub const STATS_QUEUE_MAX: i64 = 1_000_000;

/// Arguments of the statistics queue: quorum, at most [`STATS_QUEUE_MAX`], oldest dropped.
pub fn stats_queue_args() -> FieldTable {
    let mut args = quorum_args();
    args.insert(
        "x-max-length".into(),
        AMQPValue::LongLongInt(STATS_QUEUE_MAX),
    );
    args.insert("x-overflow".into(), string("drop-head"));
    args
}

/// Queue, its arguments and its binding key on the results exchange: what the console reads.
/// A queue whose name is configured empty is not used (and not declared).
pub fn console_queues(amqp: &AmqpSection) -> Vec<(&str, FieldTable, &'static str)> {
    [
        (
            amqp.review_queue.as_str(),
            review_queue_args(),
            "result.review",
        ),
        (
            amqp.review_fail_queue.as_str(),
            review_fail_queue_args(amqp),
            "result.fail",
        ),
        (amqp.stats_queue.as_str(), stats_queue_args(), "result.#"),
    ]
    .into_iter()
    .filter(|(name, _, _)| !name.is_empty())
    .collect()
}

fn quorum_args() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), string("quorum"));
    args
}

/// An AMQP long-string value.
pub fn string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

/// Reads a header as text (long or short string).
pub fn header_str(headers: &Option<FieldTable>, name: &str) -> Option<String> {
    let value = headers.as_ref()?.inner().get(name)?;
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// Reads a header as an integer.
pub fn header_u64(headers: &Option<FieldTable>, name: &str) -> Option<u64> {
    let value = headers.as_ref()?.inner().get(name)?;
    match value {
        AMQPValue::LongLongInt(v) => u64::try_from(*v).ok(),
        AMQPValue::LongInt(v) => u64::try_from(*v).ok(),
        AMQPValue::LongUInt(v) => Some(u64::from(*v)),
        AMQPValue::ShortInt(v) => u64::try_from(*v).ok(),
        AMQPValue::ShortUInt(v) => Some(u64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(u64::from(*v)),
        AMQPValue::ShortShortInt(v) => u64::try_from(*v).ok(),
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).parse().ok(),
        _ => None,
    }
}

/// Declares the queues and the exchange the pipeline uses (idempotent; arguments must match
/// what exists, as in `deploy/rabbitmq/definitions.json`).
pub async fn declare_topology(channel: &Channel, amqp: &AmqpSection) -> Result<(), BrokerError> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(
            amqp.dead_letter_queue.as_str().into(),
            durable,
            quorum_args(),
        )
        .await?;
    channel
        .queue_declare(
            amqp.jobs_queue.as_str().into(),
            durable,
            jobs_queue_args(amqp),
        )
        .await?;
    channel
        .queue_declare(amqp.parking_queue.as_str().into(), durable, quorum_args())
        .await?;
    channel
        .queue_declare(
            amqp.deliveries_queue.as_str().into(),
            durable,
            deliveries_queue_args(amqp),
        )
        .await?;
    channel
        .exchange_declare(
            amqp.results_exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    for (queue, args, key) in console_queues(amqp) {
        channel.queue_declare(queue.into(), durable, args).await?;
        channel
            .queue_bind(
                queue.into(),
                amqp.results_exchange.as_str().into(),
                key.into(),
                lapin::options::QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// Properties of a persistent JSON message.
/// The queue as the broker sees it now (message and consumer counts), by a passive declare:
/// nothing is created, and a missing queue is an error.
pub async fn inspect(channel: &Channel, queue: &str) -> Result<lapin::Queue, BrokerError> {
    Ok(channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?)
}

pub fn json_properties(message_id: &str, headers: FieldTable) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type("application/json".into())
        .with_message_id(ShortString::from(message_id))
        .with_headers(headers)
}

/// Publishes on a channel in confirm mode and waits for the broker's confirm. With `mandatory`,
/// an unroutable message is an error (used for queues; a topic exchange without subscribers is
/// not an error).
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    mandatory: bool,
    payload: &[u8],
    properties: BasicProperties,
) -> Result<(), BrokerError> {
    let target = if exchange.is_empty() {
        routing_key
    } else {
        exchange
    };
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions {
                mandatory,
                ..BasicPublishOptions::default()
            },
            payload,
            properties,
        )
        .await?
        .await?;
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
            Err(BrokerError::NotConfirmed {
                target: target.into(),
                reason: returned.reply_text.to_string(),
            })
        }
        Confirmation::Nack(None) => Err(BrokerError::NotConfirmed {
            target: target.into(),
            reason: "nack".into(),
        }),
        Confirmation::NotRequested => Err(BrokerError::NotConfirmed {
            target: target.into(),
            reason: "channel is not in confirm mode".into(),
        }),
    }
}

/// A lazily (re)connected publishing channel in confirm mode, shared by many tasks.
pub struct Publisher {
    amqp: AmqpSection,
    link: Mutex<Option<(Arc<Connection>, Channel)>>,
}

impl Publisher {
    /// A publisher for `amqp`; connects on first use.
    pub fn new(amqp: AmqpSection) -> Publisher {
        Publisher {
            amqp,
            link: Mutex::new(None),
        }
    }

    /// The current channel, reconnecting (and declaring the topology) if needed.
    pub async fn channel(&self) -> Result<Channel, BrokerError> {
        self.link().await.map(|(_, channel)| channel)
    }

    /// The current connection (for [`crate::lock`]), reconnecting if needed.
    pub async fn connection(&self) -> Result<Arc<Connection>, BrokerError> {
        self.link().await.map(|(conn, _)| conn)
    }

    async fn link(&self) -> Result<(Arc<Connection>, Channel), BrokerError> {
        let mut link = self.link.lock().await;
        if let Some((conn, channel)) = link.as_ref() {
            if conn.status().connected() && channel.status().connected() {
                return Ok((Arc::clone(conn), channel.clone()));
            }
        }
        *link = None;
        let conn = connect(&self.amqp).await?;
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        if self.amqp.declare {
            declare_topology(&channel, &self.amqp).await?;
        }
        let conn = Arc::new(conn);
        *link = Some((Arc::clone(&conn), channel.clone()));
        Ok((conn, channel))
    }

    /// Publishes with confirm (see [`publish_confirmed`]); on a connection failure the link is
    /// dropped so the next call reconnects.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        mandatory: bool,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<(), BrokerError> {
        let channel = self.channel().await?;
        let wait = std::time::Duration::from_millis(self.amqp.confirm_timeout_ms.max(1));
        let result = tokio::time::timeout(
            wait,
            publish_confirmed(
                &channel,
                exchange,
                routing_key,
                mandatory,
                payload,
                properties,
            ),
        )
        .await
        .unwrap_or_else(|_| {
            Err(BrokerError::Unavailable(format!(
                "no publisher confirm within {} ms",
                wait.as_millis()
            )))
        });
        if matches!(result, Err(BrokerError::Unavailable(_))) {
            // The channel's state is unknown (blocked, or a confirm still owed): start afresh.
            if let Some((conn, _)) = self.link.lock().await.take() {
                tokio::spawn(async move {
                    let _ = conn.close(200, "reset".into()).await;
                });
            }
        }
        result
    }

    /// Whether the broker is reachable now (connects if needed).
    pub async fn ready(&self) -> Result<(), BrokerError> {
        self.channel().await.map(|_| ())
    }

    /// Closes the connection, if open.
    pub async fn close(&self) {
        if let Some((conn, _)) = self.link.lock().await.take() {
            let _ = conn.close(200, "bye".into()).await;
        }
    }
}

/// What [`consume`] consumes, and how it stops.
pub struct ConsumerSpec<'a> {
    /// The queue.
    pub queue: &'a str,
    /// Messages taken ahead (AMQP prefetch).
    pub prefetch: usize,
    /// What the messages are, for the consumer tag and the logs (`jobs`, `deliveries`).
    pub what: &'static str,
    /// How long in-flight handlers may run on after shutdown before the connection closes.
    pub grace: std::time::Duration,
}

/// One consumer session on `spec.queue`: connects, declares the topology (if configured),
/// spawns `handle` on `tracker` for each message, until `shutdown` (then stops taking messages,
/// lets the handlers finish within the grace period, closes: whatever is unacked goes back to
/// the queue) or the broker is lost (an error: the caller reconnects). `consuming` hears when
/// the consumer attaches and detaches (the worker's readiness).
pub async fn consume<F, Fut>(
    amqp: &AmqpSection,
    spec: ConsumerSpec<'_>,
    shutdown: &tokio_util::sync::CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
    consuming: impl Fn(bool),
    handle: F,
) -> Result<(), BrokerError>
where
    F: Fn(lapin::message::Delivery) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use futures::StreamExt;
    use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
    let conn = connect(amqp).await?;
    let channel = conn.create_channel().await?;
    if amqp.declare {
        declare_topology(&channel, amqp).await?;
    }
    channel
        .basic_qos(
            u16::try_from(spec.prefetch.max(1)).unwrap_or(u16::MAX),
            BasicQosOptions::default(),
        )
        .await?;
    let tag = format!("photocheck-{}-{}", spec.what, uuid::Uuid::now_v7());
    let mut consumer = channel
        .basic_consume(
            spec.queue.into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    consuming(true);
    let outcome = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    tracker.spawn(handle(delivery));
                }
                Some(Err(e)) => break Err(BrokerError::from(e)),
                None => {
                    break Err(BrokerError::Unavailable(format!("{} consumer ended", spec.what)))
                }
            }
        }
    };
    consuming(false);
    if outcome.is_ok() {
        tracing::info!(
            in_flight = tracker.len(),
            what = spec.what,
            "shutting down: taking no more, draining"
        );
        let _ = channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await;
        // The connection stays open while in-flight handlers finish and ack.
        tracker.close();
        if tokio::time::timeout(spec.grace, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = tracker.len(),
                what = spec.what,
                "grace period over; unfinished messages go back to the queue"
            );
        }
        let _ = conn.close(200, "shutdown".into()).await;
    }
    outcome
}
