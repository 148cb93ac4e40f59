//! The worker (`photocheck worker`, `shared/CONTRACT.md` §4).
//!
//! ```text
//! jobs queue ─(prefetch = 2 × concurrency)─ task per job (checks queue on `concurrency` threads):
//!   read the stored result and the photo (at once); result already in S3? ── yes ──┐
//!        └ no: check the photo on the rayon pool ─ store result JSON next to it    │ (reused)
//!   publish to results exchange `result.<verdict>` and to the deliveries queue (at once, each
//!   confirmed) ─ ack
//! ```
//! Outages (storage unreachable, the broker not confirming) are waits, never failures: the job
//! retries with capped exponential backoff for as long as the outage lasts and the worker's
//! [`Gate`] closes, so its other jobs wait instead of failing against the same outage; the first
//! job through reopens it. Attempts (`worker.max_attempts`) count only failures of the job itself
//! (a retryable engine error). When the engine cannot check the photo (its error after the
//! attempts, a panic, a profile this worker lacks, the photo gone from storage) the job answers
//! with an `engine.error` result (verdict `review`), stored and delivered like any other, so every
//! accepted photo gets an answer. Only a message that cannot be read as a job goes to the
//! dead-letter queue, with `x-photocheck-error-code`, `x-photocheck-error` and
//! `x-photocheck-attempts` headers. An undecodable photo is not a failure: the engine returns a
//! `fail` result for it. A job is acked
//! only after its result is stored and both publishes are confirmed, so a worker killed at any
//! point loses nothing. On shutdown the worker stops consuming, lets in-flight jobs finish within
//! `worker.grace_period_s`, and closes the channel (anything unfinished is redelivered).

use crate::audit::Audit;
use crate::broker::{json_properties, string, Publisher};
use crate::checker::{CheckPool, Checker};
use crate::delivery::{backoff, ID_HEADER, SUBMITTED_HEADER};
use crate::error::{BrokerError, JobError, StoreError};
use crate::metrics::Metrics;
use crate::store::{result_key, Store};
use crate::PipelineError;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::FieldTable;
use photocheck_config::Config;
use photocheck_types::{CheckResult, JobMessage, Status};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Header on a dead-lettered job: the stable error code.
pub const ERROR_CODE_HEADER: &str = "x-photocheck-error-code";
/// Header on a dead-lettered job: the error message.
pub const ERROR_HEADER: &str = "x-photocheck-error";
/// Header on a dead-lettered job: attempts made.
pub const ATTEMPTS_HEADER: &str = "x-photocheck-attempts";

/// What the worker's `/healthz` and `/readyz` report: whether the jobs consumer is attached,
/// since when it has not been, and the outage gate.
struct Health {
    consuming: std::sync::atomic::AtomicBool,
    detached_since: std::sync::Mutex<Option<Instant>>,
    gate: Gate,
}

/// How long the consumer may be detached (reconnecting) before `/healthz` fails, so an
/// orchestrator restarts a worker whose consumer does not come back.
pub const LIVENESS_GRACE: Duration = Duration::from_secs(120);

impl Health {
    fn new() -> Health {
        Health {
            consuming: false.into(),
            detached_since: std::sync::Mutex::new(Some(Instant::now())),
            gate: Gate::new(),
        }
    }

    fn set_consuming(&self, on: bool) {
        use std::sync::atomic::Ordering;
        self.consuming.store(on, Ordering::SeqCst);
        let mut since = self
            .detached_since
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *since = if on {
            None
        } else {
            since.or(Some(Instant::now()))
        };
    }

    /// Liveness: the consumer is attached, or has been detached for less than the grace.
    fn live(&self) -> Result<(), String> {
        let since = *self
            .detached_since
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match since {
            Some(t) if t.elapsed() > LIVENESS_GRACE => Err(format!(
                "jobs consumer detached for {} s",
                t.elapsed().as_secs()
            )),
            _ => Ok(()),
        }
    }

    /// Readiness: consuming jobs, and the services jobs need answering (the gate is open).
    fn ready(&self) -> Result<(), &'static str> {
        if !self.consuming.load(std::sync::atomic::Ordering::SeqCst) {
            Err("not consuming jobs (broker unreachable)")
        } else if !self.gate.is_open() {
            Err("paused: storage or broker unavailable to jobs")
        } else {
            Ok(())
        }
    }
}

struct Ctx {
    config: Config,
    store: Store,
    audit: Audit,
    pool: CheckPool,
    publisher: Arc<Publisher>,
    metrics: Metrics,
    shutdown: CancellationToken,
    deliver: bool,
    health: Arc<Health>,
}

/// The number of jobs checked in parallel: `worker.concurrency`, or one per core.
pub fn concurrency(config: &Config) -> usize {
    if config.worker.concurrency > 0 {
        config.worker.concurrency
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Jobs taken from the queue ahead of the checks (AMQP prefetch): `worker.prefetch`, or twice
/// the concurrency. With only one job per check thread, the thread idles while that job's photo
/// is fetched and its result stored and published; a second job in hand is fetched meanwhile and
/// checked as soon as the thread is free.
pub fn prefetch(config: &Config) -> usize {
    if config.worker.prefetch > 0 {
        config.worker.prefetch
    } else {
        2 * concurrency(config)
    }
}

/// Runs a worker with `checker` (the engine) until `shutdown` is cancelled, then drains.
pub async fn run_worker(
    config: Config,
    checker: Arc<dyn Checker>,
    shutdown: CancellationToken,
) -> Result<(), PipelineError> {
    run_worker_with(config, checker, Metrics::new(), shutdown).await
}

/// Runs a worker with any [`Checker`] and the given metrics registry.
pub async fn run_worker_with(
    config: Config,
    checker: Arc<dyn Checker>,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), PipelineError> {
    for warning in config.security_warnings() {
        tracing::warn!("{warning}");
    }
    let threads = concurrency(&config);
    let pool = CheckPool::new(checker, threads).map_err(PipelineError::Engine)?;
    let store = Store::new(&config.s3)?;
    let audit = Audit::open(&config.audit)?;
    if config.s3.create_bucket {
        if let Err(e) = store.ensure_bucket().await {
            tracing::warn!(error = %e, "cannot ensure the bucket exists yet");
        }
    }
    let publisher = Arc::new(Publisher::new(config.amqp.clone()));
    let deliver = !config.central.url.is_empty();
    if deliver {
        crate::delivery::signing_secrets(&config.central)?;
    }
    if !deliver {
        tracing::warn!("central.url is empty: results go to S3 and the results exchange only");
    }
    let grace = Duration::from_secs(config.worker.grace_period_s);
    let health = Arc::new(Health::new());
    let metrics_server = if config.worker.metrics_listen.is_empty() {
        None
    } else {
        // A busy port (e.g. a second worker on one machine) costs the metrics, not the worker.
        spawn_metrics_server(
            &config.worker.metrics_listen,
            metrics.clone(),
            Arc::clone(&health),
            shutdown.clone(),
        )
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "worker metrics endpoint disabled"))
        .ok()
    };
    let deliveries = deliver.then(|| {
        tokio::spawn(crate::delivery::run_deliveries(
            config.central.clone(),
            config.amqp.clone(),
            Arc::clone(&publisher),
            metrics.clone(),
            audit.clone(),
            grace,
            shutdown.clone(),
        ))
    });
    let watch = tokio::spawn(watch_set_aside(
        config.amqp.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let ctx = Arc::new(Ctx {
        config,
        store,
        audit,
        pool,
        publisher: Arc::clone(&publisher),
        metrics,
        shutdown: shutdown.clone(),
        deliver,
        health,
    });
    tracing::info!(
        concurrency = threads,
        prefetch = prefetch(&ctx.config),
        "worker started"
    );
    let tracker = TaskTracker::new();
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        match consume(&ctx, &tracker, prefetch(&ctx.config), grace).await {
            Ok(()) => break,
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "worker lost the broker; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff(failures.min(6), 500, 10_000)) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
    }
    if let Some(task) = deliveries {
        match task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "delivery loop ended with an error"),
            Err(e) => tracing::warn!(error = %e, "delivery loop panicked"),
            Ok(Ok(())) => {}
        }
    }
    if let Some(task) = metrics_server {
        let _ = task.await;
    }
    let _ = watch.await;
    publisher.close().await;
    tracing::info!("worker stopped");
    Ok(())
}

/// How often the worker reads the dead-letter and parking queues for its metrics.
const SET_ASIDE_EVERY: Duration = Duration::from_secs(15);

/// Keeps `photocheck_set_aside_messages` and `…_oldest_seconds` current until shutdown.
async fn watch_set_aside(
    amqp: photocheck_config::AmqpSection,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    use crate::dlq::{stats, Which};
    loop {
        for (which, label) in [
            (Which::DeadLetters, "dead_letters"),
            (Which::Parked, "parked"),
        ] {
            if let Ok((depth, oldest)) = stats(&amqp, which).await {
                let labels = vec![("queue", label.to_owned())];
                metrics
                    .set_aside_messages
                    .get_or_create(&labels)
                    .set(i64::from(depth));
                metrics
                    .set_aside_oldest_seconds
                    .get_or_create(&labels)
                    .set(oldest.unwrap_or(0.0));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(SET_ASIDE_EVERY) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn spawn_metrics_server(
    listen: &str,
    metrics: Metrics,
    health: Arc<Health>,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, PipelineError> {
    let listener =
        tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| PipelineError::Listen {
                addr: listen.to_owned(),
                reason: e.to_string(),
            })?;
    use axum::http::StatusCode;
    let live = Arc::clone(&health);
    let app = axum::Router::new()
        .route(
            "/healthz",
            axum::routing::get(move || {
                let outcome = live.live();
                async move {
                    match outcome {
                        Ok(()) => (StatusCode::OK, "ok".to_owned()),
                        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
                    }
                }
            }),
        )
        .route(
            "/readyz",
            axum::routing::get(move || {
                let outcome = health.ready();
                async move {
                    match outcome {
                        Ok(()) => (StatusCode::OK, "ready"),
                        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                async move { metrics.render() }
            }),
        );
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    }))
}

async fn consume(
    ctx: &Arc<Ctx>,
    tracker: &TaskTracker,
    prefetch: usize,
    grace: Duration,
) -> Result<(), BrokerError> {
    let spec = crate::broker::ConsumerSpec {
        queue: &ctx.config.amqp.jobs_queue,
        prefetch,
        what: "jobs",
        grace,
    };
    crate::broker::consume(
        &ctx.config.amqp,
        spec,
        &ctx.shutdown,
        tracker,
        |on| ctx.health.set_consuming(on),
        |delivery| {
            let ctx = Arc::clone(ctx);
            async move { process(&ctx, delivery).await }
        },
    )
    .await
}

enum Outcome {
    Done,
    DeadLettered,
    Abandoned,
}

async fn process(ctx: &Ctx, delivery: Delivery) {
    ctx.metrics.jobs_in_flight.inc();
    let started = Instant::now();
    let outcome = process_inner(ctx, &delivery).await;
    ctx.metrics.jobs_in_flight.dec();
    let label = match outcome {
        Outcome::Done => {
            ctx.metrics.stage("job", started.elapsed().as_secs_f64());
            "done"
        }
        Outcome::DeadLettered => "dead_lettered",
        Outcome::Abandoned => "abandoned",
    };
    Metrics::inc(&ctx.metrics.jobs, "outcome", label);
}

/// Open while the services jobs need answer; closed by a job that met an outage and opened by
/// the first job that gets through again. Jobs that have not yet met the outage wait at the
/// gate instead of failing against it, so a worker cut off from storage stops working its
/// prefetched jobs and resumes by itself (docs/pipeline.md, "Outages").
pub(crate) struct Gate(tokio::sync::watch::Sender<bool>);

impl Gate {
    pub(crate) fn new() -> Gate {
        Gate(tokio::sync::watch::channel(true).0)
    }

    pub(crate) fn is_open(&self) -> bool {
        *self.0.borrow()
    }

    pub(crate) fn set(&self, open: bool) {
        self.0
            .send_if_modified(|v| std::mem::replace(v, open) != open);
    }

    /// Waits until the gate is open; `false` if `shutdown` came first.
    pub(crate) async fn wait_open(&self, shutdown: &CancellationToken) -> bool {
        let mut rx = self.0.subscribe();
        tokio::select! {
            r = rx.wait_for(|open| *open) => r.is_ok(),
            _ = shutdown.cancelled() => false,
        }
    }
}

async fn process_inner(ctx: &Ctx, delivery: &Delivery) -> Outcome {
    let job = match parse_job(&delivery.data, &ctx.config.s3.bucket) {
        Ok(job) => job,
        Err(e) => return dead_letter(ctx, delivery, None, &e, 1).await,
    };
    let max_attempts = ctx.config.worker.max_attempts.max(1);
    // Attempts count only failures that belong to the job; outages are waited out.
    let mut attempt = 1u32;
    let mut waits = 0u32;
    // Set once the engine has failed for good on this photo: the job then answers with an
    // `engine.error` result instead of a check.
    let mut failure: Option<JobError> = None;
    loop {
        if waits == 0 && !ctx.health.gate.wait_open(&ctx.shutdown).await {
            return Outcome::Abandoned;
        }
        match run_job(ctx, &job, failure.as_ref()).await {
            Ok(()) => {
                if waits > 0 {
                    tracing::info!(job_id = %job.id, waits, "services back; resuming jobs");
                    ctx.health.gate.set(true);
                }
                if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
                    // The job will be redelivered and reuse the stored result.
                    tracing::warn!(error = %e, job_id = %job.id, "job done but could not ack");
                }
                return Outcome::Done;
            }
            Err(e) if e.is_outage() => {
                if ctx.health.gate.is_open() {
                    tracing::warn!(error = %e, code = e.code(), job_id = %job.id, "service unavailable; pausing new jobs until it answers");
                }
                ctx.health.gate.set(false);
                waits += 1;
                Metrics::inc(&ctx.metrics.job_retries, "code", e.code());
                let delay = backoff(
                    waits.min(16),
                    ctx.config.worker.retry_base_ms,
                    ctx.config.worker.outage_retry_max_ms,
                );
                tracing::debug!(error = %e, job_id = %job.id, waits, delay_ms = delay.as_millis() as u64, "waiting out an outage");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    // Leave it unacked: it goes back to the queue when the channel closes.
                    _ = ctx.shutdown.cancelled() => return Outcome::Abandoned,
                }
            }
            Err(e) if failure.is_none() && e.is_retryable() && attempt < max_attempts => {
                Metrics::inc(&ctx.metrics.job_retries, "code", e.code());
                let delay = backoff(
                    attempt,
                    ctx.config.worker.retry_base_ms,
                    ctx.config.worker.retry_max_ms,
                );
                tracing::warn!(error = %e, code = e.code(), job_id = %job.id, attempt, delay_ms = delay.as_millis() as u64, "job failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    // Leave it unacked: it goes back to the queue when the channel closes.
                    _ = ctx.shutdown.cancelled() => return Outcome::Abandoned,
                }
                attempt += 1;
            }
            Err(e) if failure.is_none() && e.is_answerable() => {
                tracing::error!(error = %e, code = e.code(), job_id = %job.id, attempt, "engine could not check the photo; answering with engine.error");
                Metrics::inc(&ctx.metrics.job_retries, "code", e.code());
                failure = Some(e);
            }
            Err(e) => return dead_letter(ctx, delivery, Some(&job.id), &e, attempt).await,
        }
    }
}

/// Reads a job and checks its scope: anything that can publish on the jobs queue must not make
/// a worker read or write outside its own bucket's photos. The job must name the worker's
/// bucket and the key the API gives its id (`photos/<window>/<id>`, the window of the job's
/// `window_id` when given); anything else is malformed (dead-lettered, never run).
fn parse_job(data: &[u8], bucket: &str) -> Result<JobMessage, JobError> {
    let job: JobMessage =
        serde_json::from_slice(data).map_err(|e| JobError::Malformed(e.to_string()))?;
    if job.id.is_empty() || job.bucket.is_empty() || job.key.is_empty() {
        return Err(JobError::Malformed(
            "id, bucket and key must not be empty".into(),
        ));
    }
    if job.bucket != bucket {
        return Err(JobError::Malformed(format!(
            "the job names bucket {:?}, not this worker's",
            job.bucket
        )));
    }
    let safe = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let in_scope = match job
        .key
        .strip_prefix("photos/")
        .and_then(|k| k.split_once('/'))
    {
        Some((window, id)) => {
            safe(window)
                && safe(id)
                && id == job.id
                && job.window_id.as_deref().is_none_or(|w| w == window)
        }
        None => false,
    };
    if !in_scope {
        return Err(JobError::Malformed(
            "the job's key is not photos/<window>/<id> of its own id and window".into(),
        ));
    }
    Ok(job)
}

/// How long a job waits for another worker that is writing the same photo's result.
const RESULT_LOCK_PATIENCE: Duration = Duration::from_secs(600);

/// Runs the job under its result's lock ([`crate::lock`]): one id may be queued twice (an
/// upload retried after its record could not be marked, a job redelivered while the worker
/// that had it still works on it), and every copy must answer with the one stored body.
async fn run_job(ctx: &Ctx, job: &JobMessage, failure: Option<&JobError>) -> Result<(), JobError> {
    let conn = ctx.publisher.connection().await?;
    let resource = format!("result/{}/{}", job.bucket, result_key(&job.key));
    let held = tokio::select! {
        held = crate::lock::lock(&conn, &resource, RESULT_LOCK_PATIENCE) => held?,
        _ = ctx.shutdown.cancelled() => {
            return Err(JobError::Broker(BrokerError::Unavailable("shutting down".into())))
        }
    };
    let Some(held) = held else {
        return Err(JobError::Busy);
    };
    let outcome = run_job_locked(ctx, job, failure, &held).await;
    tokio::spawn(held.release());
    outcome
}

/// Checks the job's photo (or, after `failure`, reports that the engine could not), stores the
/// result next to the photo, and hands it on to the results exchange and the deliveries queue.
async fn run_job_locked(
    ctx: &Ctx,
    job: &JobMessage,
    failure: Option<&JobError>,
    held: &crate::lock::Held,
) -> Result<(), JobError> {
    let store = ctx.store.with_bucket(&job.bucket);
    let rkey = result_key(&job.key);
    let t = Instant::now();
    // Both reads at once (one round trip, not two): the stored result, and the photo in case
    // there is none yet.
    let (existing, photo) = match failure {
        None => tokio::join!(store.get_opt(&rkey), async {
            Some(store.get(&job.key).await)
        }),
        Some(_) => (store.get_opt(&rkey).await, None),
    };
    let (body, verdict) = match existing? {
        // A previous attempt (maybe by a worker that died) stored it: reuse it byte-for-byte so
        // every publish and delivery of this id carries the identical body.
        Some(existing) => {
            let stored: CheckResult = serde_json::from_slice(&existing)
                .map_err(|e| JobError::CorruptResult(e.to_string()))?;
            (existing, stored.verdict)
        }
        None => {
            let mut result = match (failure, photo) {
                (Some(f), _) => {
                    CheckResult::engine_error(&job.profile, ctx.pool.info(), f.clerk_message())
                }
                (None, photo) => {
                    let photo = match photo.expect("fetched when there is no failure") {
                        Err(StoreError::NotFound { .. }) => {
                            return Err(JobError::Store(StoreError::NotFound {
                                key: "photo".into(),
                            }))
                        }
                        other => other?,
                    };
                    ctx.metrics.stage("fetch", t.elapsed().as_secs_f64());
                    let t = Instant::now();
                    let result = if job.fix {
                        let fixed = ctx.pool.fix(photo, job.profile.clone()).await?;
                        ctx.metrics.stage("check", t.elapsed().as_secs_f64());
                        let mut info = fixed.info;
                        if let Some(jpeg) = fixed.jpeg {
                            // Stored before the result names it, so a result never points at
                            // a photo that is not there.
                            let key = crate::store::fixed_key(&job.key);
                            store
                                .put(&key, bytes::Bytes::from(jpeg), "image/jpeg")
                                .await?;
                            info.key = Some(key);
                        }
                        let mut result = fixed.result;
                        result.fix = Some(info);
                        result
                    } else {
                        let result = ctx.pool.check(photo, job.profile.clone()).await?;
                        ctx.metrics.stage("check", t.elapsed().as_secs_f64());
                        result
                    };
                    result
                }
            };
            result.id = Some(job.id.clone());
            result.application_id = Some(job.application_id.clone());
            result.window_id = job.window_id.clone();
            result.submitted_at = Some(job.submitted_at.clone());
            result.checked_at =
                Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            result.source = Some(format!("s3://{}/{}", job.bucket, job.key));
            let body = bytes::Bytes::from(
                serde_json::to_vec(&result).map_err(|e| JobError::CorruptResult(e.to_string()))?,
            );
            if !held.still_held() {
                // Another worker may hold it now and store its own body: start again, and
                // reuse whatever is stored by then.
                return Err(JobError::Broker(BrokerError::Unavailable(
                    "lost the result's lock before storing it".into(),
                )));
            }
            let t = Instant::now();
            store.put(&rkey, body.clone(), "application/json").await?;
            ctx.metrics.stage("store", t.elapsed().as_secs_f64());
            ctx.audit.record(
                "result.stored",
                &job.id,
                serde_json::json!({"window": job.window_id, "verdict": result.verdict.as_str()}),
            );
            Metrics::inc(&ctx.metrics.results, "verdict", result.verdict.as_str());
            for check in result.checks.iter().filter(|c| c.status == Status::Fail) {
                Metrics::inc(&ctx.metrics.check_failures, "check", check.code.as_str());
            }
            (body, result.verdict)
        }
    };
    let mut headers = FieldTable::default();
    headers.insert(ID_HEADER.into(), string(&job.id));
    headers.insert(SUBMITTED_HEADER.into(), string(&job.submitted_at));
    // Both publishes at once, each awaiting its own confirm: the job is acked only after both.
    let routing_key = format!("result.{}", verdict.as_str());
    let to_results = async {
        let t = Instant::now();
        ctx.publisher
            .publish(
                &ctx.config.amqp.results_exchange,
                &routing_key,
                false,
                &body,
                json_properties(&job.id, headers.clone()),
            )
            .await?;
        ctx.metrics.stage("publish", t.elapsed().as_secs_f64());
        Ok::<(), BrokerError>(())
    };
    let to_deliveries = async {
        if !ctx.deliver {
            return Ok(());
        }
        let t = Instant::now();
        ctx.publisher
            .publish(
                "",
                &ctx.config.amqp.deliveries_queue,
                true,
                &body,
                json_properties(&job.id, headers.clone()),
            )
            .await?;
        ctx.metrics.stage("handoff", t.elapsed().as_secs_f64());
        Ok::<(), BrokerError>(())
    };
    tokio::try_join!(to_results, to_deliveries)?;
    tracing::info!(job_id = %job.id, verdict = verdict.as_str(), "job done");
    Ok(())
}

/// Publishes the job to the dead-letter queue with the reason, then acks it. If that publish
/// fails, rejects it without requeue so the broker's own dead-lettering moves it instead.
async fn dead_letter(
    ctx: &Ctx,
    delivery: &Delivery,
    job_id: Option<&str>,
    error: &JobError,
    attempts: u32,
) -> Outcome {
    let id = job_id.unwrap_or("");
    tracing::error!(error = %error, code = error.code(), job_id = %id, attempts, "job dead-lettered");
    let mut headers = FieldTable::default();
    headers.insert(ERROR_CODE_HEADER.into(), string(error.code()));
    headers.insert(ERROR_HEADER.into(), string(&error.to_string()));
    headers.insert(ATTEMPTS_HEADER.into(), string(&attempts.to_string()));
    headers.insert(
        crate::delivery::PARKED_AT_HEADER.into(),
        string(&chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    if !id.is_empty() {
        headers.insert(ID_HEADER.into(), string(id));
    }
    let published = ctx
        .publisher
        .publish(
            "",
            &ctx.config.amqp.dead_letter_queue,
            true,
            &delivery.data,
            json_properties(if id.is_empty() { "malformed" } else { id }, headers),
        )
        .await;
    let acked = match published {
        Ok(()) => delivery.acker.ack(BasicAckOptions::default()).await,
        Err(e) => {
            tracing::warn!(error = %e, "could not publish to the dead-letter queue; rejecting");
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: false,
                    ..BasicNackOptions::default()
                })
                .await
        }
    };
    if let Err(e) = acked {
        tracing::warn!(error = %e, job_id = %id, "could not settle dead-lettered job");
    }
    Outcome::DeadLettered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_messages_are_permanent_errors() {
        let e = parse_job(b"not json", "b").unwrap_err();
        assert_eq!(e.code(), "job.malformed");
        assert!(!e.is_retryable());
        let e = parse_job(
            br#"{"id":"","bucket":"b","key":"k","profile":"ga461","submitted_at":"x"}"#,
            "b",
        )
        .unwrap_err();
        assert_eq!(e.code(), "job.malformed");
        assert!(parse_job(
            br#"{"id":"1","bucket":"b","key":"photos/w1/1","profile":"ga461","submitted_at":"x"}"#,
            "b"
        )
        .is_ok());
    }

    #[test]
    fn a_job_outside_the_workers_bucket_or_photos_is_malformed() {
        let job = |bucket: &str, key: &str, window: &str| {
            format!(
                r#"{{"id":"1","bucket":"{bucket}","key":"{key}","profile":"ga461","submitted_at":"x","window_id":"{window}"}}"#
            )
        };
        let ok = job("b", "photos/w1/1", "w1");
        assert!(parse_job(ok.as_bytes(), "b").is_ok());
        for (bucket, key, window) in [
            ("other", "photos/w1/1", "w1"),
            ("b", "idempotency/w1/1", "w1"),
            ("b", "photos/w1/2", "w1"),
            ("b", "photos/w2/1", "w1"),
            ("b", "photos/../1", "w1"),
            ("b", "photos/w1/1/../../x", "w1"),
            ("b", "photos/w1", "w1"),
        ] {
            let e = parse_job(job(bucket, key, window).as_bytes(), "b").unwrap_err();
            assert_eq!(e.code(), "job.malformed", "{bucket} {key}");
        }
    }
}
