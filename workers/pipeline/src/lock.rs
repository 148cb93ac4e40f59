//! Locks shared by every process on one RabbitMQ cluster, for the two steps that must not run
//! twice at once anywhere: taking an `Idempotency-Key` (API replicas) and writing a photo's
//! result (workers).
//!
//! The store cannot do it: S3 has no lock, and Garage 2.5.0 ignores `If-None-Match: *` on
//! `PutObject` (a second "create" overwrites). The broker can: a queue declared *exclusive*
//! belongs to one connection; declaring it from any other connection, on any node of the
//! cluster, is refused with `405 RESOURCE_LOCKED`, and the queue disappears with its connection.
//! So a lock is an exclusive, auto-deleted, empty queue named after the resource; a process
//! that dies, or loses its connection, releases its locks by itself.
//!
//! The broker does not refuse the connection that already holds a queue, and one process shares
//! one connection among its tasks, so the process also keeps the names it holds
//! ([`HELD_HERE`]): a second task of the same process is refused like another process.
//!
//! A holder that loses its connection while it works has lost the lock too; callers check
//! [`Held::still_held`] before the step that must be single (and re-read what another holder may
//! have written meanwhile).

use crate::error::BrokerError;
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The lock queues this process holds now (the broker lets their own connection declare them
/// again, so it cannot tell two tasks of one process apart).
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

/// Prefix of every lock queue's name.
pub const PREFIX: &str = "photocheck.lock.";

/// The queue name of the lock on `resource` (hashed: any text, fixed length, nothing personal
/// in the broker's queue list).
pub fn queue_name(resource: &str) -> String {
    let digest = Sha256::digest(resource.as_bytes());
    format!("{PREFIX}{}", hex::encode(&digest[..16]))
}

/// A held lock; released by [`Held::release`] or when its connection closes.
pub struct Held {
    channel: Channel,
    name: String,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").field("queue", &self.name).finish()
    }
}

/// Whether `e` is the broker's "another connection holds it" answer.
fn is_locked(e: &lapin::Error) -> bool {
    matches!(
        e.kind(),
        lapin::ErrorKind::ProtocolError(amqp)
            if matches!(amqp.kind(), AMQPErrorKind::Soft(AMQPSoftError::RESOURCELOCKED))
    )
}

/// Longest wait for the broker to answer one lock operation (a connection blocked by a
/// resource alarm stops answering).
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// Tries once: `Some` when taken, `None` when another task or connection holds it.
pub async fn try_lock(conn: &Connection, resource: &str) -> Result<Option<Held>, BrokerError> {
    let name = queue_name(resource);
    if !claim_here(&name) {
        return Ok(None);
    }
    let taken = tokio::time::timeout(OP_TIMEOUT, declare(conn, &name))
        .await
        .unwrap_or_else(|_| {
            Err(BrokerError::Unavailable(format!(
                "no answer to a lock within {} s",
                OP_TIMEOUT.as_secs()
            )))
        });
    match taken {
        Ok(Some(channel)) => Ok(Some(Held { channel, name })),
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

/// Declares the lock queue on a channel of its own: the channel when taken, `None` when
/// another connection holds it.
async fn declare(conn: &Connection, name: &str) -> Result<Option<Channel>, BrokerError> {
    // A channel of its own: a refused declare closes the channel it was sent on.
    let channel = conn.create_channel().await?;
    let declared = channel
        .queue_declare(
            name.into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    match declared {
        Ok(_) => Ok(Some(channel)),
        Err(e) if is_locked(&e) => Ok(None),
        Err(e) => {
            let _ = channel.close(200, "lock failed".into()).await;
            Err(e.into())
        }
    }
}

/// Waits up to `patience` for the lock, polling (25 ms, growing to 250 ms). `None` when it
/// stayed held by another connection all that time.
pub async fn lock(
    conn: &Connection,
    resource: &str,
    patience: Duration,
) -> Result<Option<Held>, BrokerError> {
    let until = Instant::now() + patience;
    let mut pause = Duration::from_millis(25);
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
    /// Whether the lock is still this process's: its connection and channel are open. (A lock
    /// whose connection broke may already belong to someone else.)
    pub fn still_held(&self) -> bool {
        self.channel.status().connected()
    }

    /// Releases it (deletes the queue), waiting at most [`OP_TIMEOUT`]. Errors are ignored: a
    /// lock whose connection is gone is released already, and one whose connection hangs is
    /// released when that connection is closed.
    pub async fn release(self) {
        let _ = tokio::time::timeout(OP_TIMEOUT, async {
            let _ = self
                .channel
                .queue_delete(self.name.as_str().into(), QueueDeleteOptions::default())
                .await;
            let _ = self.channel.close(200, "unlocked".into()).await;
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
        let b = queue_name("idempotency/w1/other-key");
        assert_ne!(a, b);
        assert_eq!(a.len(), PREFIX.len() + 32);
        assert!(!a.contains("w1"));
        assert_eq!(a, queue_name("idempotency/w1/some-key"));
    }
}
