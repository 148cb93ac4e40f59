//! photocheck's distributed pipeline: the ingest API, the queue worker, central delivery and
//! the `submit` client. The check engine reaches the worker through the [`Checker`] trait (the
//! binary passes it in), so this crate does not depend on `photocheck-engine`: the API runs on a
//! machine without ONNX Runtime or the models.
//!
//! ```text
//! window ─POST /v1/photos─▶ api ─put─▶ S3 photos/<window>/<id>
//!                            └─publish (confirm)─▶ photocheck.jobs (quorum, DLX → .dlq)
//! worker ◀─prefetch = 2 × concurrency─┘
//!   fetch ─ check (rayon pool) ─ put <key>.result.json ─▶ photocheck.results (topic, result.<verdict>)
//!                                                     └─▶ photocheck.deliveries (quorum) ─ ack job
//! delivery (in every worker) ◀─┘ POST central.url, Idempotency-Key + HMAC signature, backoff
//! ```
//!
//! Design rules: nothing is acked before what it produced is durably handed on (S3 put, publisher
//! confirm); a result is computed at most once per id in practice and always re-sent
//! byte-for-byte from S3, so repeats carry an identical body; each layer has a typed error with a
//! stable code and a retry decision (`error.rs`); CPU work runs on a named rayon pool with panics
//! caught (`checker.rs`); shutdown is a `CancellationToken`, followed by a bounded drain.
//! The binary (`photocheck serve|worker|submit|results`, its `service` module) parses flags and
//! calls the functions here.

pub mod api;
pub mod audit;
pub mod broker;
pub mod checker;
pub mod console;
pub mod delivery;
pub mod dlq;
pub mod error;
pub mod lock;
pub mod metrics;
pub mod receiver;
pub mod retention;
pub mod s3http;
pub mod store;
pub mod submit;
pub mod tls;
pub mod worker;

pub use api::{serve, serve_listener};
pub use checker::{Checker, Fixed};
pub use error::{BrokerError, DeliveryError, JobError, PipelineError, StoreError};
pub use metrics::Metrics;
pub use submit::{submit, SubmitOptions, SubmitReport};
pub use worker::{run_worker, run_worker_with};

/// A token cancelled on the first SIGTERM or SIGINT (Ctrl-C). Call inside a tokio runtime.
pub fn shutdown_on_signals() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
                        _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "shutting down"),
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        cancel.cancel();
    });
    token
}
