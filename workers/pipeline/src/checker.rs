//! The check stage: the engine behind a small trait, run on a named rayon pool off the async
//! runtime, with panics caught and turned into a failure of that one job.

use crate::error::JobError;
use photocheck_types::CheckResult;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Checks one photo. Implemented for the engine by the binary's library (`photocheck`'s
/// `EngineChecker`), so this crate (the API among it) never links the engine; the seam lets the
/// worker run any engine build (CPU today, GPU later) without knowing its internals.
pub trait Checker: Send + Sync + 'static {
    /// Checks `bytes` against the named profile. An undecodable photo is `Ok` with a `fail`
    /// verdict; `Err` is for system errors only.
    fn check(&self, bytes: &[u8], profile: &str) -> Result<CheckResult, JobError>;

    /// Engine and model versions, as results report them.
    fn info(&self) -> photocheck_types::EngineInfo {
        photocheck_types::EngineInfo::default()
    }

    /// Checks `bytes` and, when only mechanical checks fail, makes the compliant photo
    /// (`photocheck fix`): the result as given, what `fix` did, and the new JPEG when made.
    /// A checker without `fix` checks only and says so in the refusal.
    fn fix(&self, bytes: &[u8], profile: &str) -> Result<Fixed, JobError> {
        let result = self.check(bytes, profile)?;
        Ok(Fixed {
            result,
            info: photocheck_types::FixInfo {
                status: "refused".into(),
                key: None,
                verdict: None,
                changes: Vec::new(),
                reasons: vec![photocheck_types::FixReason {
                    code: photocheck_types::CheckCode::EngineError,
                    message: "此检测程序不支持自动修正".into(),
                }],
                failed: Vec::new(),
            },
            jpeg: None,
        })
    }
}

/// What [`Checker::fix`] returns.
#[derive(Debug, Clone)]
pub struct Fixed {
    /// The result of the photo as uploaded.
    pub result: CheckResult,
    /// What `fix` did (its `key` is set by the worker once the new photo is stored).
    pub info: photocheck_types::FixInfo,
    /// The new photo, when one was made.
    pub jpeg: Option<Vec<u8>>,
}

/// A named rayon pool running checks; one engine session set per pool thread.
pub struct CheckPool {
    pool: rayon::ThreadPool,
    checker: Arc<dyn Checker>,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

impl CheckPool {
    /// A pool of `threads` threads named `photocheck-check-N`.
    pub fn new(checker: Arc<dyn Checker>, threads: usize) -> Result<CheckPool, String> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("photocheck-check-{i}"))
            // Panics are caught per job below; this only guards against aborting the process.
            .panic_handler(|payload| {
                tracing::error!(panic = %panic_message(payload.as_ref()), "panic escaped a check");
            })
            .build()
            .map_err(|e| e.to_string())?;
        Ok(CheckPool { pool, checker })
    }

    /// Engine and model versions of the checker.
    pub fn info(&self) -> photocheck_types::EngineInfo {
        self.checker.info()
    }

    /// Runs one `fix` on the pool and awaits it without blocking the async runtime.
    pub async fn fix(&self, bytes: bytes::Bytes, profile: String) -> Result<Fixed, JobError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let checker = Arc::clone(&self.checker);
        self.pool.spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(|| checker.fix(&bytes, &profile)))
                .unwrap_or_else(|payload| Err(JobError::Panic(panic_message(payload.as_ref()))));
            let _ = tx.send(outcome);
        });
        rx.await
            .unwrap_or_else(|_| Err(JobError::Panic("check thread vanished".into())))
    }

    /// Runs one check on the pool and awaits it without blocking the async runtime.
    pub async fn check(
        &self,
        bytes: bytes::Bytes,
        profile: String,
    ) -> Result<CheckResult, JobError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let checker = Arc::clone(&self.checker);
        self.pool.spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(|| checker.check(&bytes, &profile)))
                .unwrap_or_else(|payload| Err(JobError::Panic(panic_message(payload.as_ref()))));
            let _ = tx.send(outcome);
        });
        rx.await
            .unwrap_or_else(|_| Err(JobError::Panic("check thread vanished".into())))
    }
}
