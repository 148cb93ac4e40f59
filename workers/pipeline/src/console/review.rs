//! The review queue: photos wait in RabbitMQ (`amqp.review_queue`, and `fail` results in
//! `amqp.review_fail_queue`) in order of arrival. A reviewer takes the next one as a lease: the
//! message stays unacknowledged on the console's channel, so no other reviewer can get it, and
//! it goes back to the front of the queue when the lease runs out, the reviewer releases it, or
//! the console stops (the broker returns whatever a closed channel held). A decision is stored,
//! handed to the central delivery queue and indexed before the message is acked, so a console
//! killed in between leaves the photo in the queue, and taking it again finds the decision and
//! clears it instead of asking twice.

use crate::audit::Audit;
use crate::broker::{json_properties, string, Publisher};
use crate::delivery::{ID_HEADER, SUBMITTED_HEADER};
use crate::error::{BrokerError, StoreError};
use crate::store::{photo_key, Store};
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::FieldTable;
use lapin::Acker;
use lapin::{Channel, Connection};
use photocheck_config::AmqpSection;
use photocheck_types::{CheckCode, CheckResult, Decision, DecisionKind};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Which queue a photo came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Verdict `review`.
    Review,
    /// Verdict `fail`, reviewed on request.
    Fail,
}

impl Queue {
    /// `review` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Queue::Review => "review",
            Queue::Fail => "fail",
        }
    }

    /// Parses `review` / `fail`.
    pub fn parse(text: &str) -> Option<Queue> {
        match text {
            "review" => Some(Queue::Review),
            "fail" => Some(Queue::Fail),
            _ => None,
        }
    }

    fn name(self, amqp: &AmqpSection) -> &str {
        match self {
            Queue::Review => &amqp.review_queue,
            Queue::Fail => &amqp.review_fail_queue,
        }
    }
}

/// A photo one reviewer holds.
#[derive(Clone)]
pub struct Lease {
    /// The lease's id (in the page's address).
    pub id: String,
    /// Who holds it.
    pub reviewer: String,
    /// Where it came from.
    pub queue: Queue,
    /// The engine's result.
    pub result: CheckResult,
    /// The photo's key in the store.
    pub photo_key: String,
    /// When it must be decided by.
    pub expires: Instant,
    acker: Acker,
}

/// Why an action on the review queue did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The lease ran out or belongs to someone else.
    #[error("the photo is no longer yours to decide")]
    NotHeld,
    /// The broker cannot be reached.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The store cannot be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReviewError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReviewError::NotHeld => "console.lease_lost",
            ReviewError::Broker(e) => e.code(),
            ReviewError::Store(e) => e.code(),
        }
    }
}

struct Link {
    conn: Connection,
    channel: Channel,
}

/// The console's leases on the review queues.
pub struct Reviews {
    amqp: AmqpSection,
    store: Store,
    publisher: std::sync::Arc<Publisher>,
    audit: Audit,
    deliver: bool,
    lease: Duration,
    utc_offset_min: i32,
    link: Mutex<Option<Link>>,
    leases: Mutex<HashMap<String, Lease>>,
}

/// What a reviewer decided, as the form sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Accept or reject.
    pub kind: DecisionKind,
    /// For a rejection, the reason's check code.
    pub reason: Option<CheckCode>,
    /// Free text (trimmed to 500 characters).
    pub note: String,
}

impl Reviews {
    /// Leases of `lease` length on the queues of `amqp`; decisions stored in `store`, delivered
    /// through the deliveries queue when `deliver` (a central URL is configured).
    pub fn new(
        amqp: AmqpSection,
        store: Store,
        publisher: std::sync::Arc<Publisher>,
        audit: Audit,
        deliver: bool,
        lease: Duration,
        utc_offset_min: i32,
    ) -> Reviews {
        Reviews {
            amqp,
            store,
            publisher,
            audit,
            deliver,
            lease,
            utc_offset_min,
            link: Mutex::new(None),
            leases: Mutex::new(HashMap::new()),
        }
    }

    async fn channel(&self) -> Result<Channel, BrokerError> {
        let mut link = self.link.lock().await;
        if let Some(l) = link.as_ref() {
            if l.channel.status().connected() && l.conn.status().connected() {
                return Ok(l.channel.clone());
            }
            // The broker returned whatever the old channel held: those leases are void.
            self.leases.lock().await.clear();
        }
        let conn = crate::broker::connect(&self.amqp).await?;
        let channel = conn.create_channel().await?;
        if self.amqp.declare {
            crate::broker::declare_topology(&channel, &self.amqp).await?;
        }
        *link = Some(Link {
            conn,
            channel: channel.clone(),
        });
        Ok(channel)
    }

    /// Photos waiting in each queue now (not counting those held).
    pub async fn depths(&self) -> Result<(u32, u32), BrokerError> {
        let channel = self.channel().await?;
        let mut depths = [0u32; 2];
        for (depth, queue) in depths
            .iter_mut()
            .zip([&self.amqp.review_queue, &self.amqp.review_fail_queue])
        {
            if !queue.is_empty() {
                *depth = crate::broker::inspect(&channel, queue)
                    .await?
                    .message_count();
            }
        }
        Ok((depths[0], depths[1]))
    }

    /// Photos held by reviewers now.
    pub async fn held(&self) -> usize {
        self.leases.lock().await.len()
    }

    /// The lease `id` if `reviewer` holds it.
    pub async fn lease(&self, id: &str, reviewer: &str) -> Option<Lease> {
        let leases = self.leases.lock().await;
        leases.get(id).filter(|l| l.reviewer == reviewer).cloned()
    }

    /// The reviewer's current lease, or the next photo of `queue` as a new one (`None`: the
    /// queue is empty).
    pub async fn take(&self, reviewer: &str, queue: Queue) -> Result<Option<Lease>, ReviewError> {
        if let Some(l) = self
            .leases
            .lock()
            .await
            .values()
            .find(|l| l.reviewer == reviewer)
        {
            return Ok(Some(l.clone()));
        }
        if queue.name(&self.amqp).is_empty() {
            return Ok(None);
        }
        let channel = self.channel().await?;
        for _ in 0..1000 {
            let Some(m) = channel
                .basic_get(
                    queue.name(&self.amqp).into(),
                    BasicGetOptions { no_ack: false },
                )
                .await
                .map_err(BrokerError::from)?
            else {
                return Ok(None);
            };
            let acker = m.delivery.acker.clone();
            let result = match serde_json::from_slice::<CheckResult>(&m.delivery.data) {
                Ok(r) if r.id.is_some() => r,
                _ => {
                    tracing::warn!(
                        queue = queue.as_str(),
                        "review queue: a message that is not a service result; removed"
                    );
                    self.audit.record(
                        "review.malformed",
                        "",
                        serde_json::json!({"queue": queue.as_str()}),
                    );
                    acker
                        .ack(BasicAckOptions::default())
                        .await
                        .map_err(BrokerError::from)?;
                    continue;
                }
            };
            let key = self.photo_key_of(&result);
            match self.store.exists(&format!("{key}.decision.json")).await {
                Ok(true) => {
                    // Decided before a console stopped between storing and acking.
                    acker
                        .ack(BasicAckOptions::default())
                        .await
                        .map_err(BrokerError::from)?;
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    let _ = acker
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        })
                        .await;
                    return Err(e.into());
                }
            }
            let lease = Lease {
                id: uuid::Uuid::now_v7().simple().to_string(),
                reviewer: reviewer.to_owned(),
                queue,
                photo_key: key,
                expires: Instant::now() + self.lease,
                acker,
                result,
            };
            self.audit.record(
                "review.taken",
                lease.result.id.as_deref().unwrap_or(""),
                serde_json::json!({"reviewer": reviewer, "queue": queue.as_str()}),
            );
            self.leases
                .lock()
                .await
                .insert(lease.id.clone(), lease.clone());
            return Ok(Some(lease));
        }
        Ok(None)
    }

    /// The store key of the result's photo: its `source` when that names this bucket, else
    /// the API's layout.
    fn photo_key_of(&self, result: &CheckResult) -> String {
        let prefix = format!("s3://{}/", self.store.bucket());
        result
            .source
            .as_deref()
            .and_then(|s| s.strip_prefix(&prefix))
            .map(str::to_owned)
            .unwrap_or_else(|| {
                photo_key(
                    result.window_id.as_deref().unwrap_or("-"),
                    result.id.as_deref().unwrap_or(""),
                )
            })
    }

    /// Gives the photo back to the front of its queue.
    pub async fn release(&self, id: &str, reviewer: &str, why: &str) -> bool {
        let lease = {
            let mut leases = self.leases.lock().await;
            match leases.get(id) {
                Some(l) if l.reviewer == reviewer => leases.remove(id),
                _ => None,
            }
        };
        let Some(lease) = lease else { return false };
        let _ = lease
            .acker
            .nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await;
        self.audit.record(
            "review.returned",
            lease.result.id.as_deref().unwrap_or(""),
            serde_json::json!({"reviewer": reviewer, "why": why}),
        );
        true
    }

    /// Returns every lease past its time to the queue; how many.
    pub async fn expire(&self) -> usize {
        let now = Instant::now();
        let expired: Vec<(String, String)> = self
            .leases
            .lock()
            .await
            .values()
            .filter(|l| l.expires <= now)
            .map(|l| (l.id.clone(), l.reviewer.clone()))
            .collect();
        let mut n = 0;
        for (id, reviewer) in expired {
            if self.release(&id, &reviewer, "expired").await {
                n += 1;
            }
        }
        n
    }

    /// Records the reviewer's decision on lease `id`: stored next to the result, put on the
    /// deliveries queue (signed and retried there like a result), published to the results
    /// exchange as `decision.<accept|reject>`, indexed, and then the queue message acked.
    pub async fn decide(
        &self,
        id: &str,
        reviewer: &str,
        verdict: Verdict,
    ) -> Result<Decision, ReviewError> {
        let lease = self.lease(id, reviewer).await.ok_or(ReviewError::NotHeld)?;
        let result = &lease.result;
        let photo_id = result.id.clone().unwrap_or_default();
        let reason = match verdict.kind {
            DecisionKind::Accept => None,
            DecisionKind::Reject => verdict.reason,
        };
        let decision = Decision {
            object: Decision::OBJECT.into(),
            id: photo_id.clone(),
            application_id: result.application_id.clone().flatten(),
            window_id: result.window_id.clone(),
            decision: verdict.kind,
            reason_code: reason,
            reason: reason.map_or(String::new(), |c| c.label_zh().to_owned()),
            note: verdict.note.chars().take(500).collect(),
            reviewer: reviewer.to_owned(),
            decided_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            verdict: result.verdict,
            checked_at: result.checked_at.clone(),
        };
        let body = serde_json::to_vec(&decision).expect("a decision serialises");
        let key = format!("{}.decision.json", lease.photo_key);
        self.store
            .put(&key, bytes::Bytes::from(body.clone()), "application/json")
            .await?;
        let delivery_key = Decision::delivery_key(&photo_id);
        let mut headers = FieldTable::default();
        headers.insert(ID_HEADER.into(), string(&delivery_key));
        if let Some(s) = &result.submitted_at {
            headers.insert(SUBMITTED_HEADER.into(), string(s));
        }
        if self.deliver {
            self.publisher
                .publish(
                    "",
                    &self.amqp.deliveries_queue,
                    true,
                    &body,
                    json_properties(&delivery_key, headers.clone()),
                )
                .await?;
        }
        self.publisher
            .publish(
                &self.amqp.results_exchange,
                &format!("decision.{}", decision.decision.as_str()),
                false,
                &body,
                json_properties(&delivery_key, headers),
            )
            .await?;
        if let Some(index) = super::stats::decision_index_key(&decision, self.utc_offset_min) {
            self.store
                .put(&index, bytes::Bytes::new(), "application/octet-stream")
                .await?;
        }
        // Only now is the photo off the queue; had the lease run out meanwhile (the message is
        // back in the queue), the next taker finds the stored decision and clears it.
        let still_held = self.leases.lock().await.remove(id).is_some();
        if still_held {
            let _ = lease.acker.ack(BasicAckOptions::default()).await;
        }
        self.audit.record(
            "review.decided",
            &photo_id,
            serde_json::json!({
                "reviewer": reviewer,
                "decision": decision.decision.as_str(),
                "reason": decision.reason_code.map(|c| c.as_str()),
                "window": decision.window_id,
            }),
        );
        Ok(decision)
    }

    /// The photo's bytes and the result object's key, for the review page.
    pub async fn photo(&self, lease: &Lease) -> Result<Option<bytes::Bytes>, StoreError> {
        self.store.get_opt(&lease.photo_key).await
    }

    /// The stored decision on a photo, if any.
    pub async fn stored_decision(
        store: &Store,
        photo_key: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        match store.get_opt(&format!("{photo_key}.decision.json")).await? {
            Some(raw) => Ok(serde_json::from_slice(&raw).ok()),
            None => Ok(None),
        }
    }

    /// Closes the console's broker connection: the broker returns every photo still held.
    pub async fn close(&self) {
        self.leases.lock().await.clear();
        if let Some(link) = self.link.lock().await.take() {
            let _ = link.channel.close(200, "console stopping".into()).await;
            let _ = link.conn.close(200, "console stopping".into()).await;
        }
    }
}
