//! Prometheus metrics. One registry per service instance (no globals), so tests stay isolated.
//! Labels are low-cardinality only: route, status, outcome, verdict, check code, stage, error
//! code — never ids, windows or applicant data.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;

type Labels = Vec<(&'static str, String)>;

fn histogram() -> Histogram {
    // 1 ms … ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The metrics of one process.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// API requests by route and status.
    pub api_requests: Family<Labels, Counter>,
    /// Photos accepted by the API (202, new job).
    pub api_accepted: Counter,
    /// Jobs finished, by outcome (`done`, `dead_lettered`, `abandoned`).
    pub jobs: Family<Labels, Counter>,
    /// Results produced, by verdict.
    pub results: Family<Labels, Counter>,
    /// Failed checks, by check code.
    pub check_failures: Family<Labels, Counter>,
    /// Job retries, by error code.
    pub job_retries: Family<Labels, Counter>,
    /// Jobs in progress.
    pub jobs_in_flight: Gauge,
    /// Stage latency in seconds (`fetch`, `check`, `store`, `publish`, `handoff`, `job`).
    pub stage_seconds: Family<Labels, Histogram>,
    /// Delivery attempts to the central system, by outcome (`delivered`, `failed`, `requeued`).
    pub deliveries: Family<Labels, Counter>,
    /// Deliveries in progress (including those waiting to retry).
    pub deliveries_in_flight: Gauge,
    /// Seconds from the API accepting a photo to the central system acknowledging its result.
    pub submit_to_delivery_seconds: Histogram,
    /// Messages set aside, by queue (`dead_letters`, `parked`), as last seen by the worker.
    pub set_aside_messages: Family<Labels, Gauge>,
    /// Age in seconds of the oldest message set aside, by queue (0 when empty).
    pub set_aside_oldest_seconds: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered under the `photocheck_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("photocheck");
        let api_requests = Family::<Labels, Counter>::default();
        registry.register(
            "api_requests",
            "API requests by route and status",
            api_requests.clone(),
        );
        let api_accepted = Counter::default();
        registry.register(
            "api_accepted",
            "Photos accepted and queued by the API",
            api_accepted.clone(),
        );
        let jobs = Family::<Labels, Counter>::default();
        registry.register("jobs", "Jobs finished, by outcome", jobs.clone());
        let results = Family::<Labels, Counter>::default();
        registry.register("results", "Results produced, by verdict", results.clone());
        let check_failures = Family::<Labels, Counter>::default();
        registry.register(
            "check_failures",
            "Failed checks, by check code",
            check_failures.clone(),
        );
        let job_retries = Family::<Labels, Counter>::default();
        registry.register(
            "job_retries",
            "Job attempts retried, by error code",
            job_retries.clone(),
        );
        let jobs_in_flight = Gauge::default();
        registry.register("jobs_in_flight", "Jobs in progress", jobs_in_flight.clone());
        let stage_seconds =
            Family::<Labels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "stage_seconds",
            "Latency of pipeline stages",
            stage_seconds.clone(),
        );
        let deliveries = Family::<Labels, Counter>::default();
        registry.register(
            "deliveries",
            "Delivery attempts to the central system, by outcome",
            deliveries.clone(),
        );
        let deliveries_in_flight = Gauge::default();
        registry.register(
            "deliveries_in_flight",
            "Deliveries in progress or waiting to retry",
            deliveries_in_flight.clone(),
        );
        let submit_to_delivery_seconds = histogram();
        registry.register(
            "submit_to_delivery_seconds",
            "Seconds from upload accepted to result delivered",
            submit_to_delivery_seconds.clone(),
        );
        let set_aside_messages = Family::<Labels, Gauge>::default();
        registry.register(
            "set_aside_messages",
            "Messages in the dead-letter and parking queues",
            set_aside_messages.clone(),
        );
        let set_aside_oldest_seconds =
            Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "set_aside_oldest_seconds",
            "Age of the oldest message in the dead-letter and parking queues",
            set_aside_oldest_seconds.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            set_aside_messages,
            set_aside_oldest_seconds,
            api_requests,
            api_accepted,
            jobs,
            results,
            check_failures,
            job_retries,
            jobs_in_flight,
            stage_seconds,
            deliveries,
            deliveries_in_flight,
            submit_to_delivery_seconds,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Counts one labelled event.
    pub fn inc(family: &Family<Labels, Counter>, name: &'static str, value: &str) {
        family.get_or_create(&vec![(name, value.to_owned())]).inc();
    }

    /// Records a stage latency.
    pub fn stage(&self, stage: &'static str, seconds: f64) {
        self.stage_seconds
            .get_or_create(&vec![("stage", stage.to_owned())])
            .observe(seconds);
    }
}

/// Percentile `p` (0–100, nearest rank) of sorted values; `None` when there are none. The one
/// percentile of the project's reports (submit, the receiver, the benches).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod percentile_tests {
    use super::percentile;

    #[test]
    fn percentile_uses_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
