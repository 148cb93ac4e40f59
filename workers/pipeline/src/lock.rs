//! Locks shared by every process on one RabbitMQ cluster, for the two steps that must not run
//! twice at once anywhere: taking an `Idempotency-Key` (API replicas) and writing a photo's
//! result (workers).
//!
//! The store cannot do it: S3 has no lock, and Garage 2.5.0 ignores `If-None-Match: *` on
//! `PutObject` (a second "create" overwrites). The broker can: a consumer that asks for
//! *exclusive* access to a classic queue is the only consumer that queue will take; a second
//! exclusive (or any) consumer, from any connection on any node of the cluster, is refused with
//! `403 ACCESS_REFUSED … in exclusive use`, and the consumer goes away with its channel or
//! connection. So a lock is an exclusive consumer on a lock queue; a process that dies, or loses
//! its connection, releases its locks by itself.
//!
//! The lock queues are long-lived *stripes*: a resource hashes to one of [`STRIPES`] queues,
//! declared on first use and left in place (each expires after [`STRIPE_IDLE_MS`] without a
//! consumer). A queue declared and deleted per lock (the first design) cost the broker 2.5 ms
//! of CPU per lock, two locks a photo, more than the rest of a photo's broker work together;
//! declaring an existing queue and adding and cancelling a consumer costs 0.3 ms, 0.7 ms with
//! the lock's channel (`bench/broker/op_cost.py`, `bench/RESULTS.md`, 2026-12-07). Two
//! resources that share a stripe exclude each other: with 1024 stripes and 16 locks held at
//! once (a few workers' jobs and the uploads in flight), about one lock in 70 waits for an
//! unrelated one, at most for one job. An idle lock queue costs the broker ~20 KB (1024 of
//! them ~20 MB, measured from `rabbitmq-diagnostics memory_breakdown`'s `queue_procs`).
//!
//! A lock queue never keeps a message (`x-max-length` 0). The process also keeps the stripes
//! it holds ([`HELD_HERE`]), so a second task of the same process is refused without asking
//! the broker (which would refuse it too, by closing the channel with an error).
//!
//! A holder that loses its connection, or whose lock queue is lost with its node (the broker
//! cancels the consumer), has lost the lock; callers check [`Held::still_held`] before the step
//! that must be single (and re-read what another holder may have written meanwhile).

use crate::error::BrokerError;
use futures::{FutureExt, StreamExt};
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, QueueDeclareOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, Consumer};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The lock stripes this process holds now (the broker would refuse a second consumer of this
/// connection too, but as an error that closes the channel; this answers without asking).
static HELD_HERE: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Claims `name` for this process; false when a task of this process holds it.
fn claim_here(name: &str) -> bool {
    let mut held = HELD_HERE.lock().unwrap_or_else(|e| e.into_inner());
    held.get_or_insert_with(HashSet::new)
        .insert(name.to_owned())
}

fn unclaim_here(name: &str) {
    let mut held = HELD_HERE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(held) = held.as_mut() {
        held.remove(name);
    }
}

/// Channels of released locks, open, each with its connection, for the next lock on that
/// connection: opening and closing a channel per lock cost the broker about as much CPU as the
/// lock itself, 0.34 against 0.32 ms (`bench/broker/op_cost.py`).
static IDLE: Mutex<Vec<(Weak<Connection>, Channel)>> = Mutex::new(Vec::new());

/// Most idle lock channels kept, across all connections.
const IDLE_MAX: usize = 32;

/// An idle channel of `conn`, when one is open (dropping those of closed connections).
fn take_idle(conn: &Arc<Connection>) -> Option<Channel> {
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    idle.retain(|(c, ch)| c.strong_count() > 0 && ch.status().connected());
    let at = idle
        .iter()
        .position(|(c, _)| c.upgrade().is_some_and(|c| Arc::ptr_eq(&c, conn)))?;
    Some(idle.swap_remove(at).1)
}

/// Keeps `channel` for a later lock on `conn`; `false` when the pool is full (the caller closes
/// it).
fn put_idle(conn: &Weak<Connection>, channel: &Channel) -> bool {
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    if idle.len() >= IDLE_MAX || !channel.status().connected() {
        return false;
    }
    idle.push((conn.clone(), channel.clone()));
    true
}

/// Prefix of every lock queue's name.
pub const PREFIX: &str = "photocheck.lock.";

/// How many lock queues the resources are spread over.
pub const STRIPES: u32 = 1024;

/// A lock queue with no consumer for this long is removed by the broker (`x-expires`), so an
/// idle deployment keeps none; the next lock declares it again.
pub const STRIPE_IDLE_MS: i64 = 300_000;

/// The lock queue of `resource`: one of [`STRIPES`], named by the stripe's number (fixed
/// length, nothing personal in the broker's queue list).
pub fn queue_name(resource: &str) -> String {
    let digest = Sha256::digest(resource.as_bytes());
    let stripe = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % STRIPES;
    format!("{PREFIX}{stripe:03x}")
}

/// A held lock; released by [`Held::release`] or when its channel or connection closes.
pub struct Held {
    conn: Weak<Connection>,
    channel: Channel,
    /// The exclusive consumer, and whether the broker has cancelled it.
    consumer: Mutex<(Consumer, bool)>,
    name: String,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").field("queue", &self.name).finish()
    }
}

/// Whether `e` is the broker's "another consumer holds it" answer (and not a permission
/// refusal, which is the same code with another text).
fn is_locked(e: &lapin::Error) -> bool {
    matches!(
        e.kind(),
        lapin::ErrorKind::ProtocolError(amqp)
            if matches!(amqp.kind(), AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED))
                && amqp.get_message().as_str().contains("exclusive use")
    )
}

/// Longest wait for the broker to answer one lock operation (a connection blocked by a
/// resource alarm stops answering).
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// Tries once: `Some` when taken, `None` when another task or connection holds it.
pub async fn try_lock(conn: &Arc<Connection>, resource: &str) -> Result<Option<Held>, BrokerError> {
    let name = queue_name(resource);
    if !claim_here(&name) {
        return Ok(None);
    }
    let taken = tokio::time::timeout(OP_TIMEOUT, consume(conn, &name))
        .await
        .unwrap_or_else(|_| {
            Err(BrokerError::Unavailable(format!(
                "no answer to a lock within {} s",
                OP_TIMEOUT.as_secs()
            )))
        });
    match taken {
        Ok(Some((channel, consumer))) => Ok(Some(Held {
            conn: Arc::downgrade(conn),
            channel,
            consumer: Mutex::new((consumer, false)),
            name,
        })),
        Ok(None) => {
            unclaim_here(&name);
            Ok(None)
        }
        Err(e) => {
            unclaim_here(&name);
            Err(e)
        }
    }
}

/// The arguments every lock queue is declared with (a declaration with other arguments would
/// be refused, so they never change).
fn stripe_args() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-expires".into(), AMQPValue::LongLongInt(STRIPE_IDLE_MS));
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(0));
    args
}

/// Declares the lock queue (a no-op when it exists; it also restarts its idle clock) and
/// consumes it exclusively, on a channel of its own (an idle one of `conn`, else a new one):
/// the channel and the consumer when taken, `None` when another consumer holds it.
async fn consume(
    conn: &Arc<Connection>,
    name: &str,
) -> Result<Option<(Channel, Consumer)>, BrokerError> {
    // A channel of its own: a refused consume closes the channel it was sent on.
    let channel = match take_idle(conn) {
        Some(channel) => channel,
        None => conn.create_channel().await?,
    };
    let close = |channel: Channel| async move {
        let _ = channel.close(200, "lock failed".into()).await;
    };
    let queue = match channel
        .queue_declare(name.into(), QueueDeclareOptions::default(), stripe_args())
        .await
    {
        Ok(queue) => queue,
        Err(e) => {
            close(channel).await;
            return Err(e.into());
        }
    };
    // Held already: say so without asking for it, since a refused consume costs the broker more
    // than the declare, closes the channel and has lapin log an error line. (Taken between the
    // declare and the consume, it is refused below as before.)
    if queue.consumer_count() > 0 {
        if !put_idle(&Arc::downgrade(conn), &channel) {
            close(channel).await;
        }
        return Ok(None);
    }
    let consumed = channel
        .basic_consume(
            name.into(),
            "".into(),
            BasicConsumeOptions {
                exclusive: true,
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    match consumed {
        Ok(consumer) => Ok(Some((channel, consumer))),
        Err(e) if is_locked(&e) => Ok(None),
        Err(e) => {
            close(channel).await;
            Err(e.into())
        }
    }
}

/// Waits up to `patience` for the lock, polling (5 ms, doubling up to 250 ms: a lock that shares
/// its stripe with an unrelated one is usually free again within a job's time). `None` when it
/// stayed held by another connection all that time.
pub async fn lock(
    conn: &Arc<Connection>,
    resource: &str,
    patience: Duration,
) -> Result<Option<Held>, BrokerError> {
    let until = Instant::now() + patience;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(held) = try_lock(conn, resource).await? {
            return Ok(Some(held));
        }
        if Instant::now() >= until {
            return Ok(None);
        }
        tokio::time::sleep(pause.min(until.saturating_duration_since(Instant::now()))).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        unclaim_here(&self.name);
    }
}

impl Held {
    /// Whether the lock is still this process's: its channel is open and the broker has not
    /// cancelled its consumer (which it does when the lock queue is lost with its node). A lock
    /// whose connection broke may already belong to someone else.
    pub fn still_held(&self) -> bool {
        if !self.channel.status().connected() {
            return false;
        }
        let mut consumer = self.consumer.lock().unwrap_or_else(|e| e.into_inner());
        if consumer.1 {
            return false;
        }
        // The consumer's stream ends (once) when the broker cancels it; until then its next
        // item is pending (a stray message, dropped by `no_ack`, also means still held).
        if matches!(consumer.0.next().now_or_never(), Some(None)) {
            consumer.1 = true;
        }
        !consumer.1
    }

    /// Releases it (cancels the consumer; its channel is kept open for the next lock on the
    /// same connection), waiting at most [`OP_TIMEOUT`]. Errors are ignored: a lock whose
    /// connection is gone is released already, and one whose connection hangs is released when
    /// that connection is closed.
    pub async fn release(self) {
        let _ = tokio::time::timeout(OP_TIMEOUT, async {
            let tag = self
                .consumer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .0
                .tag();
            let cancelled = self
                .channel
                .basic_cancel(tag, BasicCancelOptions::default())
                .await;
            if cancelled.is_err() || !put_idle(&self.conn, &self.channel) {
                let _ = self.channel.close(200, "unlocked".into()).await;
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_fixed_length_and_hide_the_resource() {
        let a = queue_name("idempotency/w1/some-key");
        assert_eq!(a.len(), PREFIX.len() + 3);
        assert!(!a.contains("w1"));
        assert_eq!(a, queue_name("idempotency/w1/some-key"));
        // Resources spread over the stripes: 20 000 keys reach nearly all 1024.
        let stripes: HashSet<String> = (0..20_000)
            .map(|i| queue_name(&format!("result/photos/w1/{i}.result.json")))
            .collect();
        assert!(stripes.len() > 1000, "{} stripes used", stripes.len());
        assert!(stripes.iter().all(|s| s.len() == PREFIX.len() + 3));
    }
}
