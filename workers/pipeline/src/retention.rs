//! Retention: deletes what the service no longer needs, on any S3 store (no lifecycle rules
//! required). Photos go `retention.photo_hours` after they have a result (until then they are
//! kept up to `result_days`, so a photo is never deleted before it is checked); results after
//! `result_days` (with the reviewers' decisions and the statistics index); idempotency records after `idempotency_days`; readiness probe objects after a
//! day. Deleting is idempotent, so several API replicas sweeping at once do no harm.

use crate::audit::Audit;
use crate::error::StoreError;
use crate::store::Store;
use photocheck_config::RetentionSection;
use std::collections::HashSet;

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Photos deleted.
    pub photos: usize,
    /// Results deleted.
    pub results: usize,
    /// Idempotency records deleted.
    pub idempotency_records: usize,
    /// Readiness probe objects deleted.
    pub probes: usize,
    /// Reviewer decisions deleted.
    pub decisions: usize,
    /// Statistics index entries deleted.
    pub index_entries: usize,
}

const RESULT_SUFFIX: &str = ".result.json";
const DECISION_SUFFIX: &str = ".decision.json";
const FIXED_SUFFIX: &str = ".fixed.jpg";
const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;

/// Keys under `prefix` with their ages at `now_unix`, all pages.
async fn all(store: &Store, prefix: &str, now_unix: i64) -> Result<Vec<(String, f64)>, StoreError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, more) = store.list_ages(prefix, after.as_deref(), now_unix).await?;
        after = page.last().map(|(k, _)| k.clone());
        out.extend(page);
        if !more || after.is_none() {
            return Ok(out);
        }
    }
}

/// Deletes, in `store`, what `rules` no longer keep at `now_unix` (seconds since the epoch).
pub async fn sweep(
    store: &Store,
    rules: &RetentionSection,
    audit: &Audit,
    now_unix: i64,
) -> Result<Swept, StoreError> {
    let deleted = |kind: &str, key: &str| {
        let name = key.rsplit('/').next().unwrap_or(key);
        let id = name
            .strip_suffix(RESULT_SUFFIX)
            .or_else(|| name.strip_suffix(DECISION_SUFFIX))
            .or_else(|| name.strip_suffix(FIXED_SUFFIX))
            .unwrap_or(name);
        audit.record(
            "retention.deleted",
            id,
            serde_json::json!({"kind": kind, "key": key}),
        );
    };
    let mut swept = Swept::default();
    let photos = all(store, "photos/", now_unix).await?;
    let with_result: HashSet<&str> = photos
        .iter()
        .filter_map(|(k, _)| k.strip_suffix(RESULT_SUFFIX))
        .collect();
    let result_max = rules.result_days.max(0.0) * DAY;
    for (key, age) in &photos {
        if key.ends_with(RESULT_SUFFIX) {
            if *age >= result_max {
                store.delete(key).await?;
                deleted("result", key);
                swept.results += 1;
            }
        } else if key.ends_with(DECISION_SUFFIX) {
            if *age >= result_max {
                store.delete(key).await?;
                deleted("decision", key);
                swept.decisions += 1;
            }
        } else {
            // A photo, or the photo `fix` made from it, which goes with its original.
            let original = key.strip_suffix(FIXED_SUFFIX).unwrap_or(key);
            let limit = if with_result.contains(original) {
                rules.photo_hours.max(0.0) * HOUR
            } else {
                result_max
            };
            if *age >= limit {
                store.delete(key).await?;
                deleted("photo", key);
                swept.photos += 1;
            }
        }
    }
    for (key, age) in all(store, "idempotency/", now_unix).await? {
        if age >= rules.idempotency_days.max(0.0) * DAY {
            store.delete(&key).await?;
            deleted("idempotency", &key);
            swept.idempotency_records += 1;
        }
    }
    // The statistics index: empty objects whose names are the figures (console::stats).
    for (key, age) in all(store, "index/", now_unix).await? {
        if age >= result_max {
            store.delete(&key).await?;
            swept.index_entries += 1;
        }
    }
    for (key, age) in all(store, "health/", now_unix).await? {
        if age >= DAY {
            store.delete(&key).await?;
            swept.probes += 1;
        }
    }
    tracing::info!(
        photos = swept.photos,
        results = swept.results,
        idempotency_records = swept.idempotency_records,
        probes = swept.probes,
        decisions = swept.decisions,
        index_entries = swept.index_entries,
        "retention sweep done"
    );
    Ok(swept)
}

/// Seconds since the epoch now.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Sweeps every `rules.sweep_every_s` until `shutdown` (nothing when it is 0).
pub async fn run_sweeper(
    store: Store,
    rules: RetentionSection,
    audit: Audit,
    shutdown: tokio_util::sync::CancellationToken,
) {
    if rules.sweep_every_s == 0 {
        return;
    }
    let every = std::time::Duration::from_secs(rules.sweep_every_s);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(e) = sweep(&store, &rules, &audit, now_unix()).await {
            tracing::warn!(error = %e, code = e.code(), "retention sweep failed; next one at the usual time");
        }
    }
}
