//! One typed configuration for every photocheck process, loaded once at start-up.
//!
//! Layers, later ones winning: built-in defaults → the TOML file (`--config`, else
//! `PHOTOCHECK_CONFIG`, else `./photocheck.toml` if it exists) → environment variables
//! `PHOTOCHECK__SECTION__KEY` (for example `PHOTOCHECK__ENGINE__MODELS_DIR`) → command-line flags,
//! which the binary applies to the loaded struct. Nothing below the binary reads the environment.
//! `photocheck.toml` at the repository root names every key, its variable and its default.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A named config file does not exist.
    #[error("config file {0} not found")]
    FileMissing(PathBuf),
    /// A value has the wrong type or an unknown key was given.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl ConfigError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::FileMissing(_) => "config.file_missing",
            ConfigError::Invalid(_) => "config.invalid",
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The check engine.
    pub engine: EngineSection,
    /// `photocheck check`.
    pub check: CheckSection,
    /// `photocheck serve`: the HTTP ingest API.
    pub api: ApiSection,
    /// The RabbitMQ broker: queue and exchange names.
    pub amqp: AmqpSection,
    /// The S3-compatible object store holding photos and results.
    pub s3: S3Section,
    /// `photocheck worker`: job consumption and retries.
    pub worker: WorkerSection,
    /// Result delivery to the central system.
    pub central: CentralSection,
    /// `photocheck submit`: the upload client.
    pub submit: SubmitSection,
    /// How long photos, results and idempotency records are kept.
    pub retention: RetentionSection,
    /// Trust for outbound TLS (`amqps://`, `https://` storage and central URLs).
    pub tls: TlsSection,
    /// The audit log: who uploaded, which verdict went where, what was deleted.
    pub audit: AuditSection,
    /// `photocheck console`: the photo-check centre's web console.
    pub console: ConsoleSection,
}

/// `[console]`: the photo-check centre's web console (`photocheck console`): the review queue,
/// the statistics and the operations page, for staff who log in with a role.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSection {
    /// Address the console listens on (its own listener, apart from the ingest API).
    pub listen: String,
    /// HTTPS for the console, as for the API (`cert_file`, `key_file`, optional
    /// `client_ca_file`); without it the console serves plain HTTP (loopback only is safe).
    pub tls: ServerTlsSection,
    /// Secret (≥ 32 bytes) that signs the staff's session cookies; every console instance of
    /// one centre uses the same, so a session holds across instances. Required.
    pub session_secret: String,
    /// Hours a log-in lasts.
    pub session_hours: f64,
    /// Seconds a reviewer may keep a photo open; then it returns to the queue for anyone.
    pub lease_s: u64,
    /// Minutes east of UTC of the centre's calendar day (statistics per day; China: 480).
    pub utc_offset_min: i32,
    /// Staff: log-in name → role and password hash (`photocheck console hash-password`).
    pub users: std::collections::BTreeMap<String, ConsoleUser>,
}

impl Default for ConsoleSection {
    fn default() -> Self {
        ConsoleSection {
            listen: "127.0.0.1:8090".into(),
            tls: ServerTlsSection::default(),
            session_secret: String::new(),
            session_hours: 10.0,
            lease_s: 600,
            utc_offset_min: 480,
            users: std::collections::BTreeMap::new(),
        }
    }
}

/// One member of staff of the console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleUser {
    /// `reviewer` (the review queue), `supervisor` (review, statistics, re-queue and discard
    /// of dead-lettered and parked messages) or `operator` (statistics and the operations page,
    /// read only).
    pub role: String,
    /// The password's Argon2id hash in PHC form (`$argon2id$…`), never the password itself.
    pub password_hash: String,
}

/// `[tls]`: trust shared by every outbound TLS connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// PEM bundle of extra root certificates (a private CA) trusted besides the system's, for
    /// every section that names no `ca_file` of its own (`amqp`, `s3`, `central`, `submit`).
    pub ca_file: String,
}

/// `[audit]`: a separate stream of JSON lines, one per accountable event (an upload accepted,
/// a verdict delivered, a photo or result deleted), naming the window, the photo's id and the
/// time; never photo bytes, file names or tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSection {
    /// `-` = standard output (the logs go to standard error), a path = append to that file,
    /// `off` = no audit log.
    pub path: String,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection { path: "-".into() }
    }
}

/// `[api.tls]`: HTTPS for the ingest API (rustls). Files are PEM and are read again when they
/// change, so a renewed certificate needs no restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerTlsSection {
    /// Certificate chain (leaf first); with `key_file`, the API serves HTTPS only.
    pub cert_file: String,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// CA bundle of the window systems' client certificates: when set, every connection must
    /// present a certificate it issued (mutual TLS).
    pub client_ca_file: String,
    /// Seconds between checks of the files for a change.
    pub reload_every_s: u64,
}

impl Default for ServerTlsSection {
    fn default() -> Self {
        ServerTlsSection {
            cert_file: String::new(),
            key_file: String::new(),
            client_ca_file: String::new(),
            reload_every_s: 30,
        }
    }
}

impl ServerTlsSection {
    /// Whether HTTPS is configured.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty() || !self.key_file.is_empty()
    }
}

/// `[retention]`: how long each kind of object stays in the store (the sweeper deletes what is
/// older; `photocheck sweep` runs it once, `photocheck serve` every `sweep_every_s`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSection {
    /// Hours a photo is kept once it has a result (it is needed only to be checked, and for a
    /// reviewer shortly after). A photo without a result is kept until `result_days`.
    pub photo_hours: f64,
    /// Days a result (the audit record of what was answered) is kept.
    pub result_days: f64,
    /// Days an upload's idempotency record is kept (window systems retry within minutes).
    pub idempotency_days: f64,
    /// Seconds between sweeps in `photocheck serve`; 0 = never (run `photocheck sweep` instead).
    pub sweep_every_s: u64,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection {
            photo_hours: 72.0,
            result_days: 180.0,
            idempotency_days: 7.0,
            sweep_every_s: 3600,
        }
    }
}

/// `[engine]`: where the runtime and models are, and how inference runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSection {
    /// Folder holding the ONNX models (`photocheck models fetch` fills it). Default:
    /// `$XDG_DATA_HOME/photocheck/models` or `~/.local/share/photocheck/models`.
    pub models_dir: Option<PathBuf>,
    /// Path of `libonnxruntime.so`. Default: `ORT_DYLIB_PATH`, else
    /// `$XDG_DATA_HOME/photocheck/runtime/libonnxruntime.so.1.31.1`.
    pub ort_dylib: Option<PathBuf>,
    /// Intra-op threads per ONNX session (1 is fastest; parallelise across photos instead).
    pub intra_threads: usize,
    /// Default check profile (`ga461`, `icao`).
    pub profile: String,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            models_dir: None,
            ort_dylib: None,
            intra_threads: 1,
            profile: "ga461".into(),
        }
    }
}

/// `[check]`: the local folder check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckSection {
    /// Photos checked in parallel; 0 = one per CPU core.
    pub jobs: usize,
    /// Output format: `jsonl`, `csv` or `table`.
    pub format: String,
    /// Font for the annotated pictures' Chinese labels (TrueType/OpenType or a collection's
    /// first font); unset: the first installed of the usual CJK fonts (WenQuanYi Micro Hei,
    /// Noto Sans CJK, WenQuanYi Zen Hei).
    pub label_font: Option<PathBuf>,
}

impl Default for CheckSection {
    fn default() -> Self {
        CheckSection {
            jobs: 0,
            format: "table".into(),
            label_font: None,
        }
    }
}

/// `[api]`: the HTTP ingest API (`photocheck serve`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    /// Address to listen on.
    pub listen: String,
    /// Address for `/readyz` and `/metrics` alone (an internal network or loopback), which then
    /// leave `listen`; empty = both on `listen`.
    pub internal_listen: String,
    /// Largest accepted upload body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Seconds suggested in `Retry-After` when storage or broker is unreachable (503).
    pub retry_after_s: u64,
    /// Window id → bearer token. A token reads only the photos its window submitted. Window ids
    /// use `[A-Za-z0-9_-]`; tokens should be long random strings (e.g. `openssl rand -hex 32`).
    /// Better stored as its digest, `sha256:<64 hex>` (`printf %s TOKEN | sha256sum`), so the
    /// configuration holds nothing a window system could present.
    pub tokens: std::collections::BTreeMap<String, String>,
    /// Window id → the profiles it may ask for; a window not listed may use only
    /// `engine.profile`. Another profile is refused with 403 `api.profile_not_allowed`.
    pub window_profiles: std::collections::BTreeMap<String, Vec<String>>,
    /// Uploads one window may make per second, on average (429 with `Retry-After` beyond it);
    /// 0 = no limit.
    pub window_rate_per_s: f64,
    /// Uploads one window may make at once above its rate (the bucket's size).
    pub window_burst: u32,
    /// Uploads handled at once by this API process; more get 503 with `Retry-After`.
    pub max_in_flight: usize,
    /// Longest time in seconds to receive an upload's body (408 after it).
    pub body_timeout_s: u64,
    /// HTTPS, and optionally client certificates.
    pub tls: ServerTlsSection,
    /// Window id → the subject common name its client certificate must carry (needs
    /// `tls.client_ca_file`): a token presented over another window's certificate is refused.
    pub client_cert_names: std::collections::BTreeMap<String, String>,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: "127.0.0.1:8080".into(),
            internal_listen: String::new(),
            max_body_bytes: 2 * 1024 * 1024,
            retry_after_s: 5,
            tokens: Default::default(),
            window_profiles: Default::default(),
            window_rate_per_s: 20.0,
            window_burst: 40,
            max_in_flight: 256,
            body_timeout_s: 30,
            tls: ServerTlsSection::default(),
            client_cert_names: Default::default(),
        }
    }
}

/// `[amqp]`: the RabbitMQ broker.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpSection {
    /// AMQP URI (`amqps://` for TLS); the vhost is the URI path (`%2f` = `/`).
    pub url: String,
    /// URIs of the other nodes of the same RabbitMQ cluster: a connection that cannot be made
    /// to one node is tried on the next (in turn, starting from the last that answered), so a
    /// stopped node costs a reconnect, not an outage. Empty = `url` only (or a load balancer
    /// in front of the cluster).
    pub failover_urls: Vec<String>,
    /// Durable quorum queue of jobs.
    pub jobs_queue: String,
    /// Dead-letter queue for jobs that cannot be processed (malformed, over the retry limit).
    pub dead_letter_queue: String,
    /// Topic exchange results are published to, routing key `result.<verdict>`.
    pub results_exchange: String,
    /// Durable quorum queue of pending deliveries to the central system.
    pub deliveries_queue: String,
    /// Parking queue: results the central system refused for good (a 4xx other than 408/429,
    /// after `central.park_after` tries) and deliveries over the delivery limit; an operator
    /// re-sends them with `photocheck dlq requeue --parked`.
    pub parking_queue: String,
    /// Broker-side cap on redeliveries of one job (quorum `x-delivery-limit`), e.g. after
    /// repeated worker crashes; then the job is dead-lettered.
    pub delivery_limit: u32,
    /// Declare the queues and exchanges at start-up (set false when an operator loads
    /// `deploy/rabbitmq/definitions.json` instead).
    pub declare: bool,
    /// Longest wait in milliseconds for a connection to the broker (TCP, TLS and AMQP
    /// handshake); then the broker counts as unavailable.
    pub connect_timeout_ms: u64,
    /// Longest wait in milliseconds for the broker to confirm a publish (a broker blocked by
    /// a resource alarm never does); then the publish counts as failed and the API answers
    /// 503 with `Retry-After`.
    pub confirm_timeout_ms: u64,
    /// PEM bundle of extra roots for `amqps://`; empty = `tls.ca_file`.
    pub ca_file: String,
    /// Durable quorum queue of results whose verdict is `review`, bound to `results_exchange`
    /// (`result.review`): the console's review queue. Each of the console's three queues is
    /// left out (not declared, not read) when its name is empty.
    pub review_queue: String,
    /// Durable quorum queue of `fail` results (`result.fail`) for optional review, capped at
    /// `review_fail_max` messages (the oldest drop off).
    pub review_fail_queue: String,
    /// Most `fail` results kept waiting in `review_fail_queue`.
    pub review_fail_max: u32,
    /// Durable quorum queue of every result (`result.#`), which the console reads into the
    /// statistics index; at most 1 000 000 results wait (the oldest drop off) while no console
    /// reads it.
    pub stats_queue: String,
}

impl Default for AmqpSection {
    fn default() -> Self {
        AmqpSection {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            failover_urls: Vec::new(),
            jobs_queue: "photocheck.jobs".into(),
            dead_letter_queue: "photocheck.jobs.dlq".into(),
            results_exchange: "photocheck.results".into(),
            deliveries_queue: "photocheck.deliveries".into(),
            parking_queue: "photocheck.deliveries.parked".into(),
            delivery_limit: 20,
            declare: true,
            connect_timeout_ms: 5_000,
            confirm_timeout_ms: 5_000,
            ca_file: String::new(),
            review_queue: "photocheck.review".into(),
            review_fail_queue: "photocheck.review.fail".into(),
            review_fail_max: 10_000,
            stats_queue: "photocheck.stats".into(),
        }
    }
}

/// `[s3]`: the S3-compatible object store (Garage, MinIO, Ceph RGW, AWS).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Section {
    /// Endpoint URL; empty = AWS's regional endpoint.
    pub endpoint: String,
    /// Endpoints of the other gateways of the same store (e.g. the other Garage nodes): a
    /// request that finds `endpoint` unavailable is sent to the next (in turn, starting from
    /// the last that answered). Empty = `endpoint` only (or a load balancer in front).
    pub failover_endpoints: Vec<String>,
    /// Region (`us-east-1` for most non-AWS servers).
    pub region: String,
    /// Bucket holding photos, results and idempotency records.
    pub bucket: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Path-style addressing (`endpoint/bucket/key`); needed by MinIO, Garage and most
    /// self-hosted servers; false for virtual-hosted AWS style.
    pub path_style: bool,
    /// Create the bucket at start-up if it does not exist.
    pub create_bucket: bool,
    /// Per-request timeout in milliseconds (connect and whole operation).
    pub timeout_ms: u64,
    /// Attempts per S3 call inside the SDK before the caller sees an error.
    pub max_attempts: u32,
    /// PEM bundle of extra roots for an `https://` endpoint; empty = `tls.ca_file`.
    pub ca_file: String,
    /// Server-side encryption asked of the store on every write: empty = the bucket's default,
    /// `AES256` (keys managed by the store) or `aws:kms` (with `sse_kms_key_id`).
    pub sse: String,
    /// KMS key id for `sse = "aws:kms"`; empty = the store's default key.
    pub sse_kms_key_id: String,
    /// Acknowledge every read from the store at once (Linux `TCP_QUICKACK`): a store that
    /// writes a response's head and body apart with Nagle's algorithm on (Garage) otherwise
    /// holds each body for the client's delayed ACK, up to 40 ms on a reused connection. Off
    /// only to measure the difference (`photocheck bench store`).
    pub quick_ack: bool,
}

impl Default for S3Section {
    fn default() -> Self {
        S3Section {
            endpoint: "http://127.0.0.1:9000".into(),
            failover_endpoints: Vec::new(),
            region: "us-east-1".into(),
            bucket: "photocheck".into(),
            access_key: "photocheck".into(),
            secret_key: "photocheck-secret".into(),
            path_style: true,
            create_bucket: true,
            timeout_ms: 5000,
            max_attempts: 2,
            ca_file: String::new(),
            sse: String::new(),
            sse_kms_key_id: String::new(),
            quick_ack: true,
        }
    }
}

/// `[worker]`: job consumption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSection {
    /// Jobs checked in parallel (rayon threads); 0 = one per CPU core.
    pub concurrency: usize,
    /// Jobs taken from the queue ahead (AMQP prefetch); 0 = twice `concurrency`, so the next
    /// photo is already fetched while one is checked and the last result is being published.
    pub prefetch: usize,
    /// Attempts of a job on retryable errors of its own (a retryable engine error) before it is
    /// answered with an `engine.error` result. Outages of storage or the broker never count.
    pub max_attempts: u32,
    /// First retry delay in milliseconds; doubles per attempt, with jitter.
    pub retry_base_ms: u64,
    /// Largest retry delay in milliseconds.
    pub retry_max_ms: u64,
    /// Largest delay in milliseconds between a job's tries while storage or the broker is
    /// unreachable: the longest a worker takes to resume after an outage ends.
    pub outage_retry_max_ms: u64,
    /// Seconds to finish in-flight jobs after SIGTERM/SIGINT before exiting.
    pub grace_period_s: u64,
    /// Address of the worker's `/metrics` and `/healthz` endpoint; empty = none.
    pub metrics_listen: String,
}

impl Default for WorkerSection {
    fn default() -> Self {
        WorkerSection {
            concurrency: 0,
            prefetch: 0,
            max_attempts: 5,
            retry_base_ms: 500,
            retry_max_ms: 30_000,
            outage_retry_max_ms: 5_000,
            grace_period_s: 30,
            metrics_listen: "127.0.0.1:9091".into(),
        }
    }
}

/// `[central]`: delivery of results to the central system.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CentralSection {
    /// URL results are POSTed to; empty = no delivery (results still go to S3 and the exchange).
    pub url: String,
    /// Shared secret of the `X-Photocheck-Signature` HMAC-SHA256 (at least 32 bytes when
    /// `url` is set).
    pub secret: String,
    /// The secret being rotated out: while set, each delivery is signed with both (two `v1`
    /// values), so the central system can switch at its own pace; empty = none.
    pub previous_secret: String,
    /// Deliveries in flight per worker process (prefetch of the deliveries queue).
    pub concurrency: usize,
    /// Per-request timeout in milliseconds.
    pub timeout_ms: u64,
    /// First retry delay in milliseconds; doubles per attempt, with full jitter.
    pub retry_base_ms: u64,
    /// Largest retry delay in milliseconds. Deliveries are never dropped.
    pub retry_max_ms: u64,
    /// Failed attempts a worker holds one delivery for before moving it to the back of the
    /// deliveries queue (so a result the central system keeps refusing cannot block others).
    pub requeue_after: u32,
    /// Refusals (a 4xx other than 408 and 429) in a row after which a result is parked in
    /// `amqp.parking_queue` for an operator instead of being retried.
    pub park_after: u32,
    /// PEM bundle of extra roots for an `https://` URL; empty = `tls.ca_file`.
    pub ca_file: String,
}

impl Default for CentralSection {
    fn default() -> Self {
        CentralSection {
            url: String::new(),
            secret: String::new(),
            previous_secret: String::new(),
            concurrency: 16,
            timeout_ms: 10_000,
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            requeue_after: 5,
            park_after: 3,
            ca_file: String::new(),
        }
    }
}

/// `[submit]`: the upload client (`photocheck submit`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubmitSection {
    /// Base URL of the ingest API.
    pub api: String,
    /// Bearer token of the submitting window.
    pub token: String,
    /// Uploads in flight.
    pub concurrency: usize,
    /// Milliseconds between result polls with `--wait`.
    pub poll_interval_ms: u64,
    /// Attempts per upload when the API answers 503 or cannot be reached.
    pub max_attempts: u32,
    /// Longest wait in seconds for results with `--wait`; then the photos still open are
    /// listed and the exit status is 2.
    pub wait_timeout_s: u64,
    /// PEM bundle of extra roots for an `https://` API; empty = `tls.ca_file`.
    pub ca_file: String,
    /// Client certificate chain (PEM) for an API that asks for one; with `client_key_file`.
    pub client_cert_file: String,
    /// The client certificate's private key (PEM).
    pub client_key_file: String,
}

impl Default for SubmitSection {
    fn default() -> Self {
        SubmitSection {
            api: "http://127.0.0.1:8080".into(),
            token: String::new(),
            concurrency: 8,
            poll_interval_ms: 250,
            max_attempts: 5,
            wait_timeout_s: 600,
            ca_file: String::new(),
            client_cert_file: String::new(),
            client_key_file: String::new(),
        }
    }
}

/// The folder photocheck keeps downloaded files in: `$XDG_DATA_HOME/photocheck`, else
/// `$HOME/.local/share/photocheck`, else `./.photocheck`. Read from the process environment the
/// binary passes in (`home`, `xdg_data_home`), so tests can choose it.
pub fn data_dir(xdg_data_home: Option<&Path>, home: Option<&Path>) -> PathBuf {
    match (xdg_data_home, home) {
        (Some(x), _) if !x.as_os_str().is_empty() => x.join("photocheck"),
        (_, Some(h)) if !h.as_os_str().is_empty() => h.join(".local/share/photocheck"),
        _ => PathBuf::from(".photocheck"),
    }
}

/// [`data_dir`] from this process's `XDG_DATA_HOME` and `HOME`: what the binary, the benches,
/// the fuzz targets and the examples all resolve with no config file.
pub fn data_dir_from_env() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).map(PathBuf::from);
    data_dir(env("XDG_DATA_HOME").as_deref(), env("HOME").as_deref())
}

/// The ONNX Runtime library named by `ORT_DYLIB_PATH` in the process environment (the `ort`
/// crate's own variable), used when `[engine] ort_dylib` is not set. Read once, by the binary,
/// like [`data_dir_from_env`].
pub fn ort_dylib_from_env() -> Option<PathBuf> {
    std::env::var_os("ORT_DYLIB_PATH")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl Config {
    /// Loads defaults, then `file` (which must exist when given), then the process's
    /// `PHOTOCHECK__SECTION__KEY` variables. Called once, by the binary, at start-up.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::FileMissing(path.to_path_buf()));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        let mut config = fig
            .merge(Env::prefixed("PHOTOCHECK__").split("__"))
            .extract::<Config>()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.resolve();
        config.validate()?;
        Ok(config)
    }

    /// Fills what one key sets for several sections: `tls.ca_file` becomes the `ca_file` of
    /// every section that names none.
    pub fn resolve(&mut self) {
        let ca = &self.tls.ca_file;
        for slot in [
            &mut self.amqp.ca_file,
            &mut self.s3.ca_file,
            &mut self.central.ca_file,
            &mut self.submit.ca_file,
        ] {
            if slot.is_empty() {
                slot.clone_from(ca);
            }
        }
    }

    /// Refuses combinations that cannot work or would be unsafe without saying so.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let tls = &self.api.tls;
        if tls.enabled() && (tls.cert_file.is_empty() || tls.key_file.is_empty()) {
            return Err(ConfigError::Invalid(
                "api.tls needs both cert_file and key_file".into(),
            ));
        }
        if !self.api.client_cert_names.is_empty() && tls.client_ca_file.is_empty() {
            return Err(ConfigError::Invalid(
                "api.client_cert_names needs api.tls.client_ca_file (client certificates)".into(),
            ));
        }
        if !tls.client_ca_file.is_empty() && !tls.enabled() {
            return Err(ConfigError::Invalid(
                "api.tls.client_ca_file needs api.tls.cert_file and key_file".into(),
            ));
        }
        match self.s3.sse.as_str() {
            "" | "AES256" | "aws:kms" => {}
            other => {
                return Err(ConfigError::Invalid(format!(
                    "s3.sse {other:?}: expected \"\", \"AES256\" or \"aws:kms\""
                )))
            }
        }
        let console = &self.console.tls;
        if console.enabled() && (console.cert_file.is_empty() || console.key_file.is_empty()) {
            return Err(ConfigError::Invalid(
                "console.tls needs both cert_file and key_file".into(),
            ));
        }
        for (name, user) in &self.console.users {
            if !matches!(user.role.as_str(), "reviewer" | "supervisor" | "operator") {
                return Err(ConfigError::Invalid(format!(
                    "console.users.{name}.role {:?}: expected reviewer, supervisor or operator",
                    user.role
                )));
            }
            if !user.password_hash.starts_with("$argon2") {
                return Err(ConfigError::Invalid(format!(
                    "console.users.{name}.password_hash is not an Argon2 hash \
                     (make one with `photocheck console hash-password`)"
                )));
            }
        }
        if self.submit.client_cert_file.is_empty() != self.submit.client_key_file.is_empty() {
            return Err(ConfigError::Invalid(
                "submit needs both client_cert_file and client_key_file".into(),
            ));
        }
        Ok(())
    }
}

/// Whether `url`'s host is this machine (loopback or `localhost`).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Config {
    /// What is unsafe about this configuration outside one machine, one line each, for the
    /// services to log at start-up: plain-text broker, storage or central-system URLs that leave
    /// the machine, and the built-in default credentials used against another host.
    pub fn security_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let amqp_urls = std::iter::once(&self.amqp.url).chain(&self.amqp.failover_urls);
        for url in amqp_urls {
            if url.starts_with("amqp://") && !is_loopback(url) {
                out.push(format!(
                    "amqp: {} is plain text beyond this machine; use amqps://",
                    mask_url_password(url)
                ));
            }
            if url.contains("guest:guest@") && !is_loopback(url) {
                out.push(
                    "amqp: the default guest:guest credentials are in use beyond this machine"
                        .into(),
                );
            }
        }
        let s3 = std::iter::once(&self.s3.endpoint).chain(&self.s3.failover_endpoints);
        for url in s3 {
            if url.starts_with("http://") && !is_loopback(url) {
                out.push(format!(
                    "s3: {url} is plain text beyond this machine; use https://"
                ));
            }
            if !is_loopback(url) && self.s3.secret_key == S3Section::default().secret_key {
                out.push(
                    "s3: the built-in default secret key is in use beyond this machine".into(),
                );
            }
        }
        let central = &self.central.url;
        if central.starts_with("http://") && !is_loopback(central) {
            out.push(format!(
                "central: {central} is plain text beyond this machine; use https://"
            ));
        }
        if !self.api.tls.enabled() && !is_loopback(&format!("http://{}", self.api.listen)) {
            out.push(format!(
                "api: {} serves plain HTTP beyond this machine; set api.tls.cert_file and key_file \
                 (or terminate TLS in front of it)",
                self.api.listen
            ));
        }
        if !self.console.tls.enabled() && !is_loopback(&format!("http://{}", self.console.listen)) {
            out.push(format!(
                "console: {} serves plain HTTP beyond this machine (staff passwords and photos); \
                 set console.tls.cert_file and key_file",
                self.console.listen
            ));
        }
        out
    }
}

/// Keys whose values never appear in `Debug` output (and so in logs): secrets, tokens, keys.
const SECRET_KEYS: &[&str] = &[
    "secret",
    "session_secret",
    "password_hash",
    "previous_secret",
    "secret_key",
    "access_key",
    "token",
    "tokens",
];

/// `value` with every secret replaced by `<redacted>` and the password of any URL masked.
fn redact(value: toml::Value) -> toml::Value {
    match value {
        toml::Value::Table(table) => toml::Value::Table(
            table
                .into_iter()
                .map(|(k, v)| {
                    let v = if SECRET_KEYS.contains(&k.as_str()) {
                        match v {
                            toml::Value::Table(t) => toml::Value::Table(
                                t.into_iter()
                                    .map(|(k, _)| (k, toml::Value::String("<redacted>".into())))
                                    .collect(),
                            ),
                            toml::Value::String(s) if s.is_empty() => toml::Value::String(s),
                            _ => toml::Value::String("<redacted>".into()),
                        }
                    } else {
                        redact(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        toml::Value::Array(items) => toml::Value::Array(items.into_iter().map(redact).collect()),
        toml::Value::String(s) => toml::Value::String(mask_url_password(&s)),
        other => other,
    }
}

/// `scheme://user:password@host…` → `scheme://user:<redacted>@host…`; anything else unchanged.
pub fn mask_url_password(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return s.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{}", &rest[at + 1..]),
        None => s.to_owned(),
    }
}

/// `Debug` for a section that holds secrets: its fields as TOML with the secrets redacted.
macro_rules! debug_redacted {
    ($($section:ident),*) => {$(
        impl std::fmt::Debug for $section {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match toml::Value::try_from(self) {
                    Ok(v) => write!(f, "{} {:?}", stringify!($section), redact(v)),
                    Err(_) => f.write_str(concat!(stringify!($section), " { <unprintable> }")),
                }
            }
        }
    )*};
}

debug_redacted!(
    ConsoleSection,
    ApiSection,
    AmqpSection,
    S3Section,
    CentralSection,
    SubmitSection
);

#[cfg(test)]
// figment::Jail fixes the closures' error type (figment::Error, large by design).
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_file_then_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "photocheck.toml",
                "[engine]\nprofile = \"icao\"\nintra_threads = 2\n[check]\njobs = 3\n",
            )?;
            jail.set_env("PHOTOCHECK__ENGINE__INTRA_THREADS", "4");
            let c = Config::load(Some(Path::new("photocheck.toml"))).unwrap();
            assert_eq!(c.engine.profile, "icao");
            assert_eq!(c.engine.intra_threads, 4);
            assert_eq!(c.check.jobs, 3);
            assert_eq!(c.check.format, "table");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[engine]\nmodel_dir = \"x\"\n")?;
            let err = Config::load(Some(Path::new("bad.toml"))).unwrap_err();
            assert_eq!(err.code(), "config.invalid");
            let err = Config::load(Some(Path::new("nope.toml"))).unwrap_err();
            assert_eq!(err.code(), "config.file_missing");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure error type
    fn pipeline_sections_load_from_file_and_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "photocheck.toml",
                "[amqp]\njobs_queue = \"q\"\n[api.tokens]\nw1 = \"0123456789abcdef\"\n",
            )?;
            jail.set_env("PHOTOCHECK__API__TOKENS__W002", "fedcba9876543210");
            jail.set_env("PHOTOCHECK__WORKER__CONCURRENCY", "3");
            jail.set_env("PHOTOCHECK__CENTRAL__URL", "https://central.example/r");
            let c = Config::load(Some(Path::new("photocheck.toml"))).unwrap();
            assert_eq!(c.amqp.jobs_queue, "q");
            assert_eq!(c.amqp.dead_letter_queue, "photocheck.jobs.dlq");
            assert_eq!(c.api.tokens["w1"], "0123456789abcdef");
            assert_eq!(c.api.tokens["w002"], "fedcba9876543210");
            assert_eq!(c.worker.concurrency, 3);
            assert_eq!(c.central.url, "https://central.example/r");
            assert_eq!(c.s3.region, "us-east-1");
            Ok(())
        });
    }

    #[test]
    fn data_dir_prefers_xdg_then_home() {
        assert_eq!(
            data_dir(Some(Path::new("/x")), Some(Path::new("/h"))),
            PathBuf::from("/x/photocheck")
        );
        assert_eq!(
            data_dir(None, Some(Path::new("/h"))),
            PathBuf::from("/h/.local/share/photocheck")
        );
        assert_eq!(data_dir(None, None), PathBuf::from(".photocheck"));
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let mut c = Config::default();
        c.api
            .tokens
            .insert("w1".into(), "window-token-0123456789abc".into());
        c.amqp.url = "amqp://photocheck:broker-password-42@rabbit:5672/%2f".into();
        c.amqp.failover_urls = vec!["amqps://photocheck:broker-password-42@rabbit-2/%2f".into()];
        c.s3.access_key = "AKIA-ACCESS-KEY-ID".into();
        c.s3.secret_key = "s3-secret-key-value".into();
        c.central.secret = "central-shared-secret-0123456789abcdef".into();
        c.central.previous_secret = "the-previous-shared-secret-0123456789".into();
        c.submit.token = "submit-window-token-0123456789".into();
        let shown = format!("{c:?} {c:#?}");
        for secret in [
            "window-token-0123456789abc",
            "broker-password-42",
            "AKIA-ACCESS-KEY-ID",
            "s3-secret-key-value",
            "central-shared-secret",
            "the-previous-shared-secret",
            "submit-window-token",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        // What is not secret stays readable.
        assert!(shown.contains("rabbit:5672"), "{shown}");
        assert!(shown.contains("w1"), "{shown}");
        assert_eq!(
            mask_url_password("https://central.example/r"),
            "https://central.example/r"
        );
    }

    #[test]
    fn one_ca_bundle_serves_every_client_unless_a_section_names_its_own() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PHOTOCHECK__TLS__CA_FILE", "/etc/photocheck/ca.pem");
            jail.set_env("PHOTOCHECK__S3__CA_FILE", "/etc/photocheck/store-ca.pem");
            let c = Config::load(None).unwrap();
            assert_eq!(c.amqp.ca_file, "/etc/photocheck/ca.pem");
            assert_eq!(c.central.ca_file, "/etc/photocheck/ca.pem");
            assert_eq!(c.submit.ca_file, "/etc/photocheck/ca.pem");
            assert_eq!(c.s3.ca_file, "/etc/photocheck/store-ca.pem");
            Ok(())
        });
    }

    #[test]
    fn tls_settings_that_cannot_work_are_refused_at_load() {
        let refused = |set: &dyn Fn(&mut Config)| {
            let mut c = Config::default();
            set(&mut c);
            c.validate().unwrap_err().code()
        };
        assert_eq!(
            refused(&|c| c.api.tls.cert_file = "/tls/api.pem".into()),
            "config.invalid"
        );
        assert_eq!(
            refused(&|c| {
                c.api
                    .client_cert_names
                    .insert("w1".into(), "counter-w1".into());
            }),
            "config.invalid"
        );
        assert_eq!(
            refused(&|c| c.api.tls.client_ca_file = "/tls/windows-ca.pem".into()),
            "config.invalid"
        );
        assert_eq!(refused(&|c| c.s3.sse = "aes256".into()), "config.invalid");
        assert_eq!(
            refused(&|c| c.submit.client_cert_file = "/tls/w1.pem".into()),
            "config.invalid"
        );
        let mut ok = Config::default();
        ok.api.tls.cert_file = "/tls/api.pem".into();
        ok.api.tls.key_file = "/tls/api.key".into();
        ok.api.tls.client_ca_file = "/tls/windows-ca.pem".into();
        ok.api
            .client_cert_names
            .insert("w1".into(), "counter-w1".into());
        ok.s3.sse = "aws:kms".into();
        ok.validate().unwrap();
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn plain_text_and_default_credentials_beyond_this_machine_are_warned() {
        let local = Config::default();
        assert!(
            local.security_warnings().is_empty(),
            "{:?}",
            local.security_warnings()
        );
        let mut c = Config::default();
        c.amqp.url = "amqp://guest:guest@rabbit.internal:5672/%2f".into();
        c.s3.endpoint = "http://garage.internal:3900".into();
        c.central.url = "http://central.example/results".into();
        c.api.listen = "0.0.0.0:8080".into();
        let w = c.security_warnings().join("\n");
        for needle in [
            "amqps://",
            "0.0.0.0:8080 serves plain HTTP",
            "guest:guest",
            "garage.internal",
            "secret key",
            "central.example",
        ] {
            assert!(w.contains(needle), "{needle} not warned: {w}");
        }
        assert!(
            !w.contains("guest:guest@"),
            "a URL password was printed: {w}"
        );
        let mut safe = c.clone();
        safe.amqp.url = "amqps://pc:long-password@rabbit.internal:5671/%2f".into();
        safe.s3.endpoint = "https://garage.internal:3900".into();
        safe.s3.secret_key = "a-real-secret-key-from-the-environment".into();
        safe.central.url = "https://central.example/results".into();
        safe.api.tls.cert_file = "/tls/api.pem".into();
        safe.api.tls.key_file = "/tls/api.key".into();
        assert!(
            safe.security_warnings().is_empty(),
            "{:?}",
            safe.security_warnings()
        );
        assert!(is_loopback("http://[::1]:9000") && is_loopback("amqp://u:p@127.0.0.1:5672/%2f"));
    }
}
