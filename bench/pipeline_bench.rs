//! `photocheck bench pipeline`: end-to-end throughput and latency through the real parts, so an
//! operator can size a deployment from one run.
//!
//! ```text
//! bench ──POST /v1/photos──▶ photocheck serve (child) ──▶ S3 (Garage node, or --s3-endpoint)
//!   │                                 └──▶ RabbitMQ <prefix>.jobs ──▶ photocheck worker ×N (children)
//!   └── receiver (in-process, stands in for the central system) ◀── signed POST per result
//! ```
//!
//! Every run uses fresh queue, exchange and bucket names (`bench.<random>`), so it never touches
//! a running deployment; the children get the effective configuration as a file, with every
//! `PHOTOCHECK*` variable removed from their environment so nothing can point them elsewhere.
//! For each worker count in the sweep: start the workers, wait until they consume, run a few
//! unmeasured photos, then
//!
//! - **throughput**: upload `photos` photos with `upload_concurrency` in flight; photos/s is the
//!   count over the time from the first submit to the last result delivered;
//! - **latency**: submit `latency_photos` photos open-loop at a fixed rate (or a fraction of the
//!   maximum just measured); a photo's latency is the instant the receiver got its signed
//!   callback minus the instant its upload started (one monotonic clock: the receiver runs in
//!   this process).
//!
//! Before the workers start, the engine's in-process rate on the same number of threads is
//! measured for comparison. Worker memory is read from `/proc/<pid>/status` (`VmHWM`, the peak
//! resident set) just before each worker is stopped with SIGTERM, and the mean time per worker
//! stage from each worker's `/metrics`. The S3 store is a real one reached directly: a Garage
//! node started by the project's `scripts/s3-server.sh` (see [`S3Source::Start`]), or the
//! operator's own. Logs carry counts and codes, never photo bytes or ids.

use crate::engine_bench::{percentiles, BenchError, Machine, Percentiles};
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use photocheck_config::Config;
use photocheck_pipeline::receiver::Receiver;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The window id the bench uploads as.
pub const WINDOW: &str = "bench";

/// Why a pipeline benchmark could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum PipelineBenchError {
    /// Nothing to upload.
    #[error("no photos to upload (no image files among the given paths)")]
    NoPhotos,
    /// The options contradict each other or are out of range.
    #[error("invalid options: {0}")]
    Options(String),
    /// A binary the bench starts is missing.
    #[error("{what} not found at {path}")]
    BinaryMissing {
        /// Which program.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A child process could not be started.
    #[error("cannot start {what}: {reason}")]
    Spawn {
        /// Which process.
        what: String,
        /// The OS error.
        reason: String,
    },
    /// A child process exited while the bench needed it.
    #[error("{what} exited with {status}{detail}")]
    Exited {
        /// Which process.
        what: String,
        /// Its exit status.
        status: String,
        /// The end of its log, when there is one.
        detail: String,
    },
    /// A part did not become ready in time.
    #[error("{what} not ready after {waited_s} s")]
    NotReady {
        /// Which part.
        what: String,
        /// Seconds waited.
        waited_s: u64,
    },
    /// RabbitMQ refused or dropped the bench's own admin connection.
    #[error("broker: {0}")]
    Broker(String),
    /// Not every accepted photo was delivered in time.
    #[error("{delivered} of {expected} results delivered after {waited_s} s")]
    Incomplete {
        /// Distinct results delivered.
        delivered: usize,
        /// Photos accepted by the API.
        expected: usize,
        /// Seconds waited.
        waited_s: u64,
    },
    /// The in-process engine run failed.
    #[error("in-process engine run: {0}")]
    Engine(#[from] BenchError),
    /// Interrupted (SIGINT/SIGTERM); the children were stopped.
    #[error("interrupted")]
    Interrupted,
    /// Local I/O (temporary files, the configuration file).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl PipelineBenchError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PipelineBenchError::NoPhotos => "bench.no_photos",
            PipelineBenchError::Options(_) => "bench.options",
            PipelineBenchError::BinaryMissing { .. } => "bench.binary_missing",
            PipelineBenchError::Spawn { .. } => "bench.spawn",
            PipelineBenchError::Exited { .. } => "bench.child_exited",
            PipelineBenchError::NotReady { .. } => "bench.not_ready",
            PipelineBenchError::Broker(_) => "bench.broker",
            PipelineBenchError::Incomplete { .. } => "bench.incomplete",
            PipelineBenchError::Engine(_) => "bench.engine",
            PipelineBenchError::Interrupted => "bench.interrupted",
            PipelineBenchError::Io(_) => "bench.io",
        }
    }
}

type Result<T, E = PipelineBenchError> = std::result::Result<T, E>;

/// Where the S3 server comes from.
#[derive(Debug, Clone)]
pub enum S3Source {
    /// Start a one-node Garage store with this script (the project's `scripts/s3-server.sh`) on
    /// free ports with a temporary data folder; stopped and removed at the end.
    Start(PathBuf),
    /// Use a running server at this endpoint, with the configuration's credentials and region;
    /// the bench's bucket is emptied at the end.
    Endpoint(String),
}

/// The submit rate of the latency run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Photos per second.
    PerSecond(f64),
    /// A fraction of the maximum measured by the throughput run of the same worker count.
    OfMaximum(f64),
}

impl FromStr for Rate {
    type Err = String;

    /// `12.5` (photos/s) or `50%` (of the measured maximum).
    fn from_str(s: &str) -> Result<Rate, String> {
        let s = s.trim();
        if let Some(pct) = s.strip_suffix('%') {
            let v: f64 = pct
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a percentage"))?;
            if !(v > 0.0 && v <= 1000.0) {
                return Err(format!("{s:?}: the percentage must be in (0, 1000]"));
            }
            return Ok(Rate::OfMaximum(v / 100.0));
        }
        let v: f64 = s
            .parse()
            .map_err(|_| format!("{s:?} is neither photos/s nor a percentage like 50%"))?;
        if !(v > 0.0 && v.is_finite()) {
            return Err(format!("{s:?}: the rate must be positive"));
        }
        Ok(Rate::PerSecond(v))
    }
}

/// How the latency run spaces its submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Exactly 1/rate apart.
    Even,
    /// Exponential gaps with mean 1/rate (a Poisson process, like independent windows).
    Poisson,
}

impl FromStr for Arrivals {
    type Err = String;

    /// `even` or `poisson`.
    fn from_str(s: &str) -> Result<Arrivals, String> {
        match s {
            "even" => Ok(Arrivals::Even),
            "poisson" => Ok(Arrivals::Poisson),
            other => Err(format!("{other:?}: arrivals are even or poisson")),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The effective configuration (file and environment): RabbitMQ URL, S3 credentials and
    /// region, engine paths. Queue, exchange and bucket names are replaced by fresh ones.
    pub config: Config,
    /// The `photocheck` binary whose `serve` and `worker` subcommands are started.
    pub photocheck_bin: PathBuf,
    /// The S3 server.
    pub s3: S3Source,
    /// The distinct photos (image bytes), uploaded in order and repeated as needed.
    pub photos: Vec<Bytes>,
    /// Photos per throughput run.
    pub count: usize,
    /// Photos per latency run.
    pub latency_count: usize,
    /// Worker process counts to sweep.
    pub workers: Vec<usize>,
    /// Jobs each worker checks in parallel (`worker --concurrency`).
    pub worker_concurrency: usize,
    /// Uploads in flight in the throughput run.
    pub upload_concurrency: usize,
    /// Run the max-throughput measurement.
    pub throughput: bool,
    /// Rate of the latency run; `None`: no latency run.
    pub rate: Option<Rate>,
    /// Spacing of the latency run's submits.
    pub arrivals: Arrivals,
    /// Unmeasured photos before the measurements of each worker count (`None`: 2 per worker
    /// thread).
    pub warmup: Option<usize>,
    /// Longest wait for the results of one run.
    pub timeout: Duration,
    /// `--log` of the child processes.
    pub child_log: String,
    /// Check profile the API assigns.
    pub profile: String,
}

/// The engine in-process on the same number of threads (`bench engine`, one run).
#[derive(Debug, Clone, Serialize)]
pub struct EngineRate {
    /// Threads.
    pub threads: usize,
    /// Photos checked.
    pub photos: usize,
    /// Photos per second.
    pub photos_per_s: f64,
}

/// What happened to the photos of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Uploads started.
    pub submitted: usize,
    /// Answered 202.
    pub accepted: usize,
    /// Anything else (logged with the status; overload shows up here as 503).
    pub rejected: usize,
    /// Distinct accepted photos whose result reached the receiver.
    pub delivered: usize,
    /// Extra POSTs of an id already delivered (redeliveries; same body by design).
    pub duplicates: usize,
}

/// The max-throughput run of one worker count.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputRun {
    /// Photo counts.
    pub counts: Counts,
    /// Uploads in flight.
    pub upload_concurrency: usize,
    /// Seconds from the first submit to the last result delivered.
    pub wall_s: f64,
    /// Delivered photos per second over `wall_s`.
    pub photos_per_s: f64,
    /// `photos_per_s` per worker process.
    pub photos_per_s_per_worker: f64,
    /// The engine's in-process rate on the same number of threads, when measured.
    pub in_process_photos_per_s: Option<f64>,
    /// `photos_per_s / in_process_photos_per_s` (the issue's target: ≥ 0.8).
    pub ratio_to_in_process: Option<f64>,
    /// Upload request time (POST to 202), ms.
    pub upload_ms: Percentiles,
    /// Submit → delivered, ms (mostly queueing: the photos arrive faster than they are checked).
    pub latency_ms: Percentiles,
    /// Mean ms per worker stage in this run (`fetch`, `check`, `store`, `publish`, `handoff`,
    /// `job`), from the workers' `/metrics`.
    pub worker_stage_ms: BTreeMap<String, f64>,
    /// CPU time (user + system) per delivered photo during this run, ms, by process:
    /// `workers` (all of them), `api`, `s3` (a started Garage node), `broker` (a local RabbitMQ's
    /// `beam.smp`), `bench` (this process: uploader, receiver) and `total`. Where the
    /// cores are saturated, this shows what besides the checks takes them.
    pub cpu_ms_per_photo: BTreeMap<String, f64>,
}

/// The fixed-rate (open-loop) run of one worker count.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRun {
    /// Target rate, photos/s.
    pub rate_per_s: f64,
    /// How the rate was chosen: `"50% of the maximum"` or `"fixed"`.
    pub rate_from: String,
    /// Spacing of the submits.
    pub arrivals: Arrivals,
    /// Submits per second actually achieved (first to last submit).
    pub achieved_rate_per_s: f64,
    /// Photo counts.
    pub counts: Counts,
    /// Seconds from the first submit to the last result delivered.
    pub wall_s: f64,
    /// Upload request time (POST to 202), ms.
    pub upload_ms: Percentiles,
    /// Submit → result delivered to the receiver, ms (the issue's target: p99 ≤ 50 ms at half
    /// the maximum rate).
    pub latency_ms: Percentiles,
    /// Every photo's submit → delivered latency, ms, sorted (for plots).
    pub latencies_ms: Vec<f64>,
    /// Mean ms per worker stage in this run, from the workers' `/metrics`.
    pub worker_stage_ms: BTreeMap<String, f64>,
}

/// Memory of one process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcMemory {
    /// Resident set now (`VmRSS`), MB (10^6 bytes).
    pub rss_mb: f64,
    /// Peak resident set (`VmHWM`), MB.
    pub peak_rss_mb: f64,
}

/// Memory of the processes of one worker count, read just before the workers were stopped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Memory {
    /// Each worker process.
    pub workers: Vec<ProcMemory>,
    /// The largest worker peak (the issue's target: ≤ 300 MB).
    pub worker_peak_rss_mb: f64,
    /// The API process.
    pub api: ProcMemory,
}

/// Everything measured with one worker count.
#[derive(Debug, Clone, Serialize)]
pub struct WorkersRun {
    /// Worker processes.
    pub workers: usize,
    /// Check threads in all (workers × worker concurrency).
    pub threads: usize,
    /// Unmeasured photos run through first.
    pub warmup_photos: usize,
    /// Max throughput, when run.
    pub throughput: Option<ThroughputRun>,
    /// Latency at a fixed rate, when run.
    pub latency: Option<LatencyRun>,
    /// Process memory.
    pub memory: Memory,
}

/// The issue's targets and whether this run met them (`None`: not measured).
#[derive(Debug, Clone, Serialize)]
pub struct Targets {
    /// Lowest end-to-end / in-process ratio over the throughput runs.
    pub worst_ratio_to_in_process: Option<f64>,
    /// Target: at least this ratio.
    pub ratio_min: f64,
    /// Highest p99 over the latency runs, ms.
    pub worst_latency_p99_ms: Option<f64>,
    /// Target: at most this p99, ms, at half the maximum rate.
    pub latency_p99_max_ms: f64,
    /// Largest worker peak resident set, MB.
    pub worker_peak_rss_mb: f64,
    /// Target: at most this, MB.
    pub worker_rss_max_mb: f64,
}

/// Settings of the run, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    /// Distinct photos uploaded (repeated to reach the counts).
    pub distinct_photos: usize,
    /// Photos per throughput run.
    pub photos: usize,
    /// Photos per latency run.
    pub latency_photos: usize,
    /// Jobs each worker checks in parallel.
    pub worker_concurrency: usize,
    /// The S3 server: `garage v2.5.0, one node (started by the bench)` or the endpoint.
    pub s3: String,
    /// RabbitMQ host and port (no credentials).
    pub amqp: String,
    /// Prefix of the fresh queue and exchange names.
    pub names: String,
    /// The fresh bucket.
    pub bucket: String,
    /// Check profile.
    pub profile: String,
    /// `/proc/loadavg` (1, 5, 15 minutes) when the pipeline started: other work on the machine
    /// shares the cores and lowers every figure.
    pub load_average: String,
}

/// The whole report (`bench-pipeline.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// How it ran.
    pub setup: Setup,
    /// The engine in-process on the same thread counts.
    pub engine_in_process: Vec<EngineRate>,
    /// One entry per worker count.
    pub runs: Vec<WorkersRun>,
    /// The issue's targets.
    pub targets: Targets,
}

// ─── child processes ─────────────────────────────────────────────────────────────────────────

/// A child process, killed (SIGKILL) if dropped without [`Child::stop`].
struct Child {
    what: String,
    child: tokio::process::Child,
    log: Option<PathBuf>,
}

fn log_tail(path: Option<&Path>) -> String {
    let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n  ");
    if tail.is_empty() {
        String::new()
    } else {
        format!("; its log ends:\n  {tail}")
    }
}

impl Child {
    fn spawn(what: String, program: &Path, args: &[&str], log: Option<PathBuf>) -> Result<Child> {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
        // The configuration file is the whole truth: no variable may point a child elsewhere.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PHOTOCHECK") {
                cmd.env_remove(&name);
            }
        }
        match &log {
            Some(path) => {
                let file = std::fs::File::create(path)?;
                cmd.stdout(file.try_clone()?).stderr(file);
            }
            None => {
                cmd.stdout(Stdio::null());
            }
        }
        let child = cmd.spawn().map_err(|e| PipelineBenchError::Spawn {
            what: what.clone(),
            reason: e.to_string(),
        })?;
        Ok(Child { what, child, log })
    }

    /// Fails if the process has exited.
    fn alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(PipelineBenchError::Exited {
                what: self.what.clone(),
                status: status.to_string(),
                detail: log_tail(self.log.as_deref()),
            }),
            Err(e) => Err(PipelineBenchError::Io(e)),
        }
    }

    fn memory(&self) -> ProcMemory {
        self.child.id().map(read_memory).unwrap_or_default()
    }

    /// SIGTERM, then SIGKILL after `grace`. Returns the exit status when it exited by itself.
    async fn stop(mut self, grace: Duration) -> Option<ExitStatus> {
        let pid = self.child.id()?;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                tracing::warn!(process = %self.what, "did not stop after SIGTERM; killing");
                let _ = self.child.kill().await;
                None
            }
        }
    }
}

/// `VmRSS` and `VmHWM` of a process in MB (zeros where `/proc` cannot be read).
pub fn read_memory(pid: u32) -> ProcMemory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    parse_memory(&status)
}

fn parse_memory(status: &str) -> ProcMemory {
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |v| v * 1024.0 / 1e6)
    };
    ProcMemory {
        rss_mb: kb("VmRSS:"),
        peak_rss_mb: kb("VmHWM:"),
    }
}

/// CPU time (user + system, all threads) a process has used so far, in seconds; `None` where
/// `/proc/<pid>/stat` cannot be read.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = parse_cpu_ticks(&stat)?;
    Some(ticks as f64 / if hz > 0 { hz as f64 } else { 100.0 })
}

/// `utime + stime` (clock ticks) from a `/proc/<pid>/stat` line. The command name (field 2) is
/// in parentheses and may hold spaces, so fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state (3) … utime (14), stime (15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The pid of the local RabbitMQ node (`beam.smp`) that listens on `port`, when `/proc` shows
/// it; else, when no process can be matched to the port, the only `beam.smp` on the machine. A
/// machine may run several nodes (the fault suite's beside the system one), and only the one
/// the bench talks to is to be counted.
fn local_broker_pid(port: u16) -> Option<u32> {
    let beams: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            (comm.trim() == "beam.smp").then_some(pid)
        })
        .collect();
    let inodes = listening_inodes(port);
    if let Some(&pid) = beams.iter().find(|&&pid| owns_socket(pid, &inodes)) {
        return Some(pid);
    }
    match beams.as_slice() {
        [only] => Some(*only),
        _ => None,
    }
}

/// Socket inodes listening on TCP `port` (IPv4 and IPv6), from `/proc/net/tcp{,6}`.
fn listening_inodes(port: u16) -> HashSet<u64> {
    let mut inodes = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        inodes.extend(listening_inodes_in(&text, port));
    }
    inodes
}

/// The inodes of the sockets in LISTEN state (`0A`) on `port` in one `/proc/net/tcp` table.
fn listening_inodes_in(table: &str, port: u16) -> impl Iterator<Item = u64> + '_ {
    table.lines().skip(1).filter_map(move |line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let local_port = f.get(1)?.rsplit_once(':')?.1;
        (u16::from_str_radix(local_port, 16).ok()? == port && *f.get(3)? == "0A")
            .then(|| f.get(9)?.parse().ok())
            .flatten()
    })
}

/// Whether `pid` holds an open file descriptor on one of `inodes` (needs the right to read its
/// `/proc/<pid>/fd`: the same user, or root).
fn owns_socket(pid: u32, inodes: &HashSet<u64>) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_str()?;
            t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .any(|inode: u64| inodes.contains(&inode))
}

/// The processes whose CPU time a throughput run reports, by name.
#[derive(Debug, Clone, Default)]
struct CpuWatch {
    pids: Vec<(&'static str, u32)>,
}

impl CpuWatch {
    fn sample(&self) -> BTreeMap<&'static str, f64> {
        let mut out = BTreeMap::new();
        for (name, pid) in &self.pids {
            if let Some(s) = cpu_seconds(*pid) {
                *out.entry(*name).or_insert(0.0) += s;
            }
        }
        out
    }
}

/// ms of CPU per photo between two samples, with `total`.
fn cpu_per_photo(
    before: &BTreeMap<&'static str, f64>,
    after: &BTreeMap<&'static str, f64>,
    photos: usize,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if photos == 0 {
        return out;
    }
    let mut total = 0.0;
    for (name, end) in after {
        if let Some(start) = before.get(name) {
            let ms = (end - start).max(0.0) * 1000.0 / photos as f64;
            total += ms;
            out.insert((*name).to_owned(), ms);
        }
    }
    out.insert("total".to_owned(), total);
    out
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Polls `ready` every 100 ms until it holds, failing after `limit` or when a child exits.
async fn wait_ready<F, Fut>(
    what: &str,
    limit: Duration,
    children: &mut [&mut Child],
    mut ready: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        for c in children.iter_mut() {
            c.alive()?;
        }
        if ready().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(PipelineBenchError::NotReady {
                what: what.into(),
                waited_s: limit.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ─── the parts ────────────────────────────────────────────────────────────────────────────────

struct S3 {
    endpoint: String,
    label: String,
    /// The started store's process (its data folder is `_dir`).
    pid: Option<u32>,
    // Holds the data folder of a started server; removed on drop.
    _dir: Option<tempfile::TempDir>,
}

impl S3 {
    /// Stops a started store (SIGTERM, then SIGKILL after `grace`).
    async fn stop(&mut self, grace: Duration) {
        let Some(pid) = self.pid.take() else {
            return;
        };
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return;
        };
        // SAFETY: kill(2) with a pid this bench started and a valid signal number.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && Path::new(&format!("/proc/{pid}")).exists() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

async fn start_s3(source: &S3Source, config: &Config) -> Result<S3> {
    match source {
        S3Source::Endpoint(url) => Ok(S3 {
            endpoint: url.clone(),
            label: url.clone(),
            pid: None,
            _dir: None,
        }),
        S3Source::Start(script) => {
            if !script.is_file() {
                return Err(PipelineBenchError::BinaryMissing {
                    what: "scripts/s3-server.sh (run the bench from the repository, pass \
                           --s3-script, or use --s3-endpoint)",
                    path: script.clone(),
                });
            }
            let dir = tempfile::Builder::new()
                .prefix("photocheck-bench-s3.")
                .tempdir()?;
            let data = dir.path().join("garage");
            // The script installs Garage on first use (minutes) and prints shell assignments.
            let out = tokio::process::Command::new("bash")
                .arg(script)
                .arg("--data")
                .arg(&data)
                .args(["--region", &config.s3.region])
                .args(["--access-key", &config.s3.access_key])
                .args(["--secret-key", &config.s3.secret_key])
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .await?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let get = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}=")))
                    .map(str::to_owned)
            };
            let (Some(endpoint), Some(pid)) = (get("S3_ENDPOINT"), get("S3_PID")) else {
                return Err(PipelineBenchError::NotReady {
                    what: format!(
                        "the S3 store ({} exited with {})",
                        script.display(),
                        out.status
                    ),
                    waited_s: 0,
                });
            };
            let version = std::process::Command::new(
                std::env::var_os("GARAGE_BIN")
                    .map(PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/garage"))
                    })
                    .unwrap_or_else(|| PathBuf::from("garage")),
            )
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .into()
            })
            .filter(|v: &String| !v.is_empty())
            .unwrap_or_else(|| "garage".into());
            Ok(S3 {
                endpoint,
                label: format!("{version}, one node (started by the bench)"),
                pid: pid.parse().ok(),
                _dir: Some(dir),
            })
        }
    }
}

/// Fresh names for one bench invocation.
#[derive(Debug, Clone)]
struct Names {
    prefix: String,
    bucket: String,
}

impl Names {
    fn fresh() -> Names {
        let u = uuid::Uuid::now_v7().simple().to_string();
        let tail = &u[u.len() - 12..];
        Names {
            prefix: format!("bench.{tail}"),
            bucket: format!("photocheck-bench-{tail}"),
        }
    }
}

/// The configuration the children get: the caller's, with fresh names, the bench's window
/// token and the receiver as the central system (each worker gets its own metrics port by flag).
#[allow(clippy::too_many_arguments)]
fn child_config(
    base: &Config,
    names: &Names,
    s3_endpoint: &str,
    api_listen: &str,
    token: &str,
    central_url: &str,
    central_secret: &str,
    worker_concurrency: usize,
    profile: &str,
) -> Config {
    let mut c = base.clone();
    c.engine.profile = profile.to_owned();
    c.api.listen = api_listen.to_owned();
    c.api.tokens.clear();
    c.api.tokens.insert(WINDOW.into(), token.to_owned());
    // The bench measures how fast the service goes, not a window's rate limit.
    c.api.window_rate_per_s = 0.0;
    c.amqp.jobs_queue = format!("{}.jobs", names.prefix);
    c.amqp.dead_letter_queue = format!("{}.jobs.dlq", names.prefix);
    c.amqp.deliveries_queue = format!("{}.deliveries", names.prefix);
    c.amqp.parking_queue = format!("{}.deliveries.parked", names.prefix);
    c.amqp.results_exchange = format!("{}.results", names.prefix);
    c.amqp.review_queue = format!("{}.review", names.prefix);
    c.amqp.review_fail_queue = format!("{}.review.fail", names.prefix);
    c.amqp.stats_queue = format!("{}.stats", names.prefix);
    c.amqp.declare = true;
    c.s3.endpoint = s3_endpoint.to_owned();
    c.s3.bucket = names.bucket.clone();
    c.s3.create_bucket = true;
    c.worker.concurrency = worker_concurrency.max(1);
    c.worker.metrics_listen = String::new();
    c.worker.grace_period_s = c.worker.grace_period_s.min(10);
    c.central.url = central_url.to_owned();
    c.central.secret = central_secret.to_owned();
    c
}

/// `host:port` of an AMQP URL, without credentials.
fn amqp_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

async fn broker(url: &str) -> Result<Connection> {
    Connection::connect(url, ConnectionProperties::default())
        .await
        .map_err(|e| {
            PipelineBenchError::Broker(format!("cannot connect to {}: {e}", amqp_host(url)))
        })
}

/// Consumers on `queue` now (0 when it cannot be read).
async fn consumers(channel: &lapin::Channel, queue: &str) -> u32 {
    photocheck_pipeline::broker::inspect(channel, queue)
        .await
        .map_or(0, |q| q.consumer_count())
}

async fn delete_names(config: &Config) {
    let Ok(conn) = broker(&config.amqp.url).await else {
        tracing::warn!("cannot reach the broker to delete the bench's queues");
        return;
    };
    if let Ok(ch) = conn.create_channel().await {
        for q in [
            &config.amqp.jobs_queue,
            &config.amqp.dead_letter_queue,
            &config.amqp.deliveries_queue,
            &config.amqp.parking_queue,
            &config.amqp.review_queue,
            &config.amqp.review_fail_queue,
            &config.amqp.stats_queue,
        ] {
            let _ = ch
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = ch
            .exchange_delete(
                config.amqp.results_exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
        // Channel first: closing a connection with an open channel makes lapin log an error.
        let _ = ch.close(200, "bye".into()).await;
    }
    let _ = conn.close(200, "bye".into()).await;
}

/// Deletes every object in the bench's bucket (used with an external S3 server).
async fn empty_bucket(config: &Config) {
    let store = match photocheck_pipeline::store::Store::new(&config.s3) {
        Ok(store) => store,
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach the store to remove the bench's objects");
            return;
        }
    };
    let mut removed = 0usize;
    loop {
        let Ok(keys) = store.list("").await else {
            break;
        };
        if keys.is_empty() {
            break;
        }
        let before = removed;
        let done: Vec<bool> = stream::iter(keys)
            .map(|k| {
                let store = store.clone();
                async move { store.delete(&k).await.is_ok() }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        removed += done.into_iter().filter(|ok| *ok).count();
        if removed == before {
            tracing::warn!("cannot delete the bench's objects; leaving the rest");
            break;
        }
    }
    tracing::info!(removed, bucket = %config.s3.bucket, "bench objects removed");
}

/// Sums and counts of `photocheck_stage_seconds` by stage, over the workers' `/metrics`.
type StageTotals = BTreeMap<String, (f64, f64)>;

async fn scrape_stages(http: &reqwest::Client, urls: &[String]) -> StageTotals {
    let mut totals = StageTotals::new();
    for url in urls {
        let Ok(r) = http.get(url).send().await else {
            continue;
        };
        let text = r.text().await.unwrap_or_default();
        parse_stages(&text, &mut totals);
    }
    totals
}

fn parse_stages(text: &str, totals: &mut StageTotals) {
    for line in text.lines() {
        let (sum, rest) = if let Some(r) = line.strip_prefix("photocheck_stage_seconds_sum{") {
            (true, r)
        } else if let Some(r) = line.strip_prefix("photocheck_stage_seconds_count{") {
            (false, r)
        } else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let Some(stage) = labels
            .split(',')
            .find_map(|l| l.strip_prefix("stage=\""))
            .map(|v| v.trim_end_matches('"'))
        else {
            continue;
        };
        let Ok(v) = value.split_whitespace().next().unwrap_or("").parse::<f64>() else {
            continue;
        };
        let e = totals.entry(stage.to_owned()).or_insert((0.0, 0.0));
        if sum {
            e.0 += v;
        } else {
            e.1 += v;
        }
    }
}

/// Mean ms per stage between two scrapes.
fn stage_means(before: &StageTotals, after: &StageTotals) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter_map(|(stage, (sum, count))| {
            let (s0, c0) = before.get(stage).copied().unwrap_or((0.0, 0.0));
            let n = count - c0;
            (n > 0.0).then(|| (stage.clone(), (sum - s0) / n * 1e3))
        })
        .collect()
}

// ─── uploads ─────────────────────────────────────────────────────────────────────────────────

struct Uploader {
    http: reqwest::Client,
    url: String,
    token: String,
    run: String,
    photos: Vec<(Bytes, &'static str)>,
}

/// One upload: when it started, when it was accepted, the id.
struct Sample {
    submitted: Instant,
    accepted: Option<(Instant, String)>,
}

impl Uploader {
    async fn upload(&self, phase: &str, i: usize) -> Sample {
        let (body, content_type) = &self.photos[i % self.photos.len()];
        let submitted = Instant::now();
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", *content_type)
            .header("idempotency-key", format!("{}:{phase}:{i}", self.run))
            .body(body.clone())
            .send()
            .await;
        let accepted = match response {
            Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED => {
                let at = Instant::now();
                match r.json::<serde_json::Value>().await {
                    Ok(v) => v["id"].as_str().map(|id| (at, id.to_owned())),
                    Err(e) => {
                        tracing::warn!(error = %e, "202 without a readable body");
                        None
                    }
                }
            }
            Ok(r) => {
                tracing::warn!(status = r.status().as_u16(), "upload refused");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "upload failed");
                None
            }
        };
        Sample {
            submitted,
            accepted,
        }
    }
}

/// Delivered photos of one phase: first arrival per id, and the extra POSTs.
struct Deliveries {
    first: HashMap<String, Instant>,
    duplicates: usize,
}

/// Waits until every id in `ids` has reached the receiver (looking only at POSTs from index
/// `from` on), or `timeout`.
async fn await_deliveries(
    receiver: &Receiver,
    from: usize,
    ids: &HashSet<String>,
    timeout: Duration,
    shutdown: &CancellationToken,
) -> Result<Deliveries> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut want = from + ids.len();
    loop {
        let waited = tokio::select! {
            r = tokio::time::timeout_at(deadline, receiver.wait_until(|r| r.accepted_count() >= want)) => r,
            _ = shutdown.cancelled() => return Err(PipelineBenchError::Interrupted),
        };
        let received = receiver.received();
        let mut first: HashMap<String, Instant> = HashMap::new();
        let mut duplicates = 0;
        for r in received.iter().skip(from) {
            if !ids.contains(&r.idempotency_key) || !r.signature_valid {
                continue;
            }
            match first.get_mut(&r.idempotency_key) {
                Some(_) => duplicates += 1,
                None => {
                    first.insert(r.idempotency_key.clone(), r.arrived);
                }
            }
        }
        if first.len() == ids.len() {
            return Ok(Deliveries { first, duplicates });
        }
        if waited.is_err() {
            return Err(PipelineBenchError::Incomplete {
                delivered: first.len(),
                expected: ids.len(),
                waited_s: timeout.as_secs(),
            });
        }
        want = received.len() + (ids.len() - first.len());
    }
}

/// What one measured phase produced.
struct Phase {
    counts: Counts,
    wall_s: f64,
    submit_span_s: f64,
    upload_ms: Vec<f64>,
    latency_ms: Vec<f64>,
}

fn summarise(samples: &[Sample], deliveries: &Deliveries) -> Phase {
    let accepted: Vec<&(Instant, String)> =
        samples.iter().filter_map(|s| s.accepted.as_ref()).collect();
    let first_submit = samples.iter().map(|s| s.submitted).min();
    let last_submit = samples.iter().map(|s| s.submitted).max();
    let last_delivery = deliveries.first.values().max().copied();
    let wall_s = match (first_submit, last_delivery) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let upload_ms = samples
        .iter()
        .filter_map(|s| {
            s.accepted
                .as_ref()
                .map(|(at, _)| at.saturating_duration_since(s.submitted).as_secs_f64() * 1e3)
        })
        .collect();
    let mut latency_ms: Vec<f64> = samples
        .iter()
        .filter_map(|s| {
            let (_, id) = s.accepted.as_ref()?;
            let arrived = deliveries.first.get(id)?;
            Some(arrived.saturating_duration_since(s.submitted).as_secs_f64() * 1e3)
        })
        .collect();
    latency_ms.sort_by(f64::total_cmp);
    Phase {
        counts: Counts {
            submitted: samples.len(),
            accepted: accepted.len(),
            rejected: samples.len() - accepted.len(),
            delivered: deliveries.first.len(),
            duplicates: deliveries.duplicates,
        },
        wall_s,
        submit_span_s: match (first_submit, last_submit) {
            (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
            _ => 0.0,
        },
        upload_ms,
        latency_ms,
    }
}

fn accepted_ids(samples: &[Sample]) -> HashSet<String> {
    samples
        .iter()
        .filter_map(|s| s.accepted.as_ref().map(|(_, id)| id.clone()))
        .collect()
}

/// Uploads `n` photos, `concurrency` at a time, and waits for their results.
async fn closed_loop(ctx: &Ctx<'_>, phase: &str, n: usize, concurrency: usize) -> Result<Phase> {
    let from = ctx.receiver.accepted_count();
    let uploader = &ctx.uploader;
    let samples: Vec<Sample> = tokio::select! {
        s = stream::iter(0..n)
            .map(|i| uploader.upload(phase, i))
            .buffer_unordered(concurrency.max(1))
            .collect() => s,
        _ = ctx.shutdown.cancelled() => return Err(PipelineBenchError::Interrupted),
    };
    let ids = accepted_ids(&samples);
    let deliveries = await_deliveries(ctx.receiver, from, &ids, ctx.timeout, ctx.shutdown).await?;
    Ok(summarise(&samples, &deliveries))
}

/// Submits `n` photos open-loop at `rate` photos/s and waits for their results.
async fn open_loop(
    ctx: &Ctx<'_>,
    phase: &str,
    n: usize,
    rate: f64,
    arrivals: Arrivals,
) -> Result<Phase> {
    let from = ctx.receiver.accepted_count();
    let uploader = Arc::clone(&ctx.uploader);
    let phase_name = phase.to_owned();
    let submits = async move {
        let start = tokio::time::Instant::now() + Duration::from_millis(5);
        let mut offset = 0.0f64;
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            tokio::time::sleep_until(start + Duration::from_secs_f64(offset)).await;
            let uploader = Arc::clone(&uploader);
            let phase = phase_name.clone();
            tasks.push(tokio::spawn(
                async move { uploader.upload(&phase, i).await },
            ));
            offset += match arrivals {
                Arrivals::Even => 1.0 / rate,
                Arrivals::Poisson => -(1.0 - fastrand::f64()).ln() / rate,
            };
        }
        let mut samples = Vec::with_capacity(n);
        for t in tasks {
            if let Ok(s) = t.await {
                samples.push(s);
            }
        }
        samples
    };
    let samples = tokio::select! {
        s = submits => s,
        _ = ctx.shutdown.cancelled() => return Err(PipelineBenchError::Interrupted),
    };
    let ids = accepted_ids(&samples);
    let deliveries = await_deliveries(ctx.receiver, from, &ids, ctx.timeout, ctx.shutdown).await?;
    Ok(summarise(&samples, &deliveries))
}

struct Ctx<'a> {
    receiver: &'a Receiver,
    uploader: Arc<Uploader>,
    timeout: Duration,
    shutdown: &'a CancellationToken,
}

// ─── the run ─────────────────────────────────────────────────────────────────────────────────

fn validate(o: &Options) -> Result<()> {
    let bad = |m: &str| Err(PipelineBenchError::Options(m.into()));
    if o.photos.is_empty() {
        return Err(PipelineBenchError::NoPhotos);
    }
    if o.workers.is_empty() || o.workers.contains(&0) {
        return bad("--workers needs one or more counts ≥ 1");
    }
    if o.throughput && o.count == 0 {
        return bad("--photos must be at least 1");
    }
    if o.rate.is_some() && o.latency_count == 0 {
        return bad("--latency-photos must be at least 1");
    }
    if !o.throughput && matches!(o.rate, Some(Rate::OfMaximum(_))) {
        return bad("a rate relative to the maximum (like 50%) needs the throughput run");
    }
    if !o.throughput && o.rate.is_none() {
        return bad("nothing to run: no throughput run and no rate");
    }
    if !o.photocheck_bin.is_file() {
        return Err(PipelineBenchError::BinaryMissing {
            what: "photocheck",
            path: o.photocheck_bin.clone(),
        });
    }
    Ok(())
}

/// The engine in-process on each thread count (about as many photos as a throughput run).
fn engine_rates(
    engine: &photocheck_engine::Engine,
    photos: &[Bytes],
    profile: &str,
    threads: &[usize],
    count: usize,
) -> Result<Vec<EngineRate>> {
    let profile = photocheck_engine::Profile::by_name(profile)
        .ok_or_else(|| PipelineBenchError::Options(format!("unknown profile {profile:?}")))?;
    let photos: Vec<Vec<u8>> = photos.iter().map(|b| b.to_vec()).collect();
    let passes = count.div_ceil(photos.len()).clamp(1, 3);
    let report = crate::engine_bench::engine(engine, &photos, &profile, threads, passes)?;
    Ok(report
        .runs
        .iter()
        .map(|r| EngineRate {
            threads: r.threads,
            photos: r.photos,
            photos_per_s: r.photos_per_s,
        })
        .collect())
}

/// Runs the benchmark: the engine in-process (when `engine` is given; it is dropped before the
/// pipeline starts), then the pipeline at each worker count. Every child is stopped and the
/// fresh names deleted before it returns, also on errors and on `shutdown`.
pub async fn run(
    options: Options,
    engine: Option<photocheck_engine::Engine>,
    shutdown: CancellationToken,
) -> Result<Report> {
    validate(&options)?;
    let mut photos = options.photos.clone();
    let most = options.count.max(options.latency_count).max(1);
    photos.truncate(most);
    let c = options.worker_concurrency.max(1);
    let mut thread_counts: Vec<usize> = options.workers.iter().map(|w| w * c).collect();
    thread_counts.sort_unstable();
    thread_counts.dedup();

    let engine_in_process = match engine {
        Some(engine) if options.throughput => {
            tracing::info!(threads = ?thread_counts, "engine in-process");
            let photos = photos.clone();
            let profile = options.profile.clone();
            let threads = thread_counts.clone();
            let count = options.count;
            tokio::task::spawn_blocking(move || {
                engine_rates(&engine, &photos, &profile, &threads, count)
            })
            .await
            .map_err(|e| PipelineBenchError::Options(format!("engine run panicked: {e}")))??
        }
        _ => Vec::new(),
    };

    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let names = Names::fresh();
    let mut s3 = start_s3(&options.s3, &options.config).await?;
    let outcome = pipeline(
        &options,
        &photos,
        &names,
        &s3,
        &engine_in_process,
        &shutdown,
    )
    .await;
    s3.stop(Duration::from_secs(5)).await;
    let runs = outcome?;

    let worst_ratio = runs
        .iter()
        .filter_map(|r| r.throughput.as_ref()?.ratio_to_in_process)
        .reduce(f64::min);
    let worst_p99 = runs
        .iter()
        .filter_map(|r| r.latency.as_ref().map(|l| l.latency_ms.p99))
        .reduce(f64::max);
    let peak = runs
        .iter()
        .map(|r| r.memory.worker_peak_rss_mb)
        .fold(0.0, f64::max);
    Ok(Report {
        machine: Machine::current(),
        setup: Setup {
            distinct_photos: photos.len(),
            photos: if options.throughput { options.count } else { 0 },
            latency_photos: if options.rate.is_some() {
                options.latency_count
            } else {
                0
            },
            worker_concurrency: c,
            s3: s3.label.clone(),
            amqp: amqp_host(&options.config.amqp.url),
            names: names.prefix.clone(),
            bucket: names.bucket.clone(),
            profile: options.profile.clone(),
            load_average: load,
        },
        engine_in_process,
        runs,
        targets: Targets {
            worst_ratio_to_in_process: worst_ratio,
            ratio_min: 0.8,
            worst_latency_p99_ms: worst_p99,
            latency_p99_max_ms: 50.0,
            worker_peak_rss_mb: peak,
            worker_rss_max_mb: 300.0,
        },
    })
}

/// Starts the receiver and the API, runs the sweep, and always cleans up.
async fn pipeline(
    options: &Options,
    photos: &[Bytes],
    names: &Names,
    s3: &S3,
    engine_in_process: &[EngineRate],
    shutdown: &CancellationToken,
) -> Result<Vec<WorkersRun>> {
    let token = uuid::Uuid::now_v7().simple().to_string();
    let secret = uuid::Uuid::now_v7().simple().to_string();
    let receiver = Receiver::start("127.0.0.1:0", &secret, false).await?;
    let api_port = free_port()?;
    let config = child_config(
        &options.config,
        names,
        &s3.endpoint,
        &format!("127.0.0.1:{api_port}"),
        &token,
        &receiver.url(),
        &secret,
        options.worker_concurrency,
        &options.profile,
    );
    let dir = tempfile::Builder::new()
        .prefix("photocheck-bench.")
        .tempdir()?;
    let config_path = dir.path().join("photocheck.toml");
    let text = toml::to_string(&config)
        .map_err(|e| PipelineBenchError::Options(format!("configuration as TOML: {e}")))?;
    std::fs::write(&config_path, text)?;
    // The bench declares the topology itself (idempotent, same arguments as the services), so
    // consumer counts can be read before the workers are up.
    {
        let conn = broker(&config.amqp.url).await?;
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| PipelineBenchError::Broker(e.to_string()))?;
        photocheck_pipeline::broker::declare_topology(&ch, &config.amqp)
            .await
            .map_err(|e| PipelineBenchError::Broker(e.to_string()))?;
        let _ = ch.close(200, "ok".into()).await;
        let _ = conn.close(200, "ok".into()).await;
    }
    let s3_pid = s3.pid;
    let outcome = sweep(
        options,
        photos,
        s3_pid,
        &config,
        &config_path,
        dir.path(),
        &receiver,
        engine_in_process,
        shutdown,
    )
    .await;
    delete_names(&config).await;
    if matches!(options.s3, S3Source::Endpoint(_)) {
        empty_bucket(&config).await;
    }
    outcome
}

fn photocheck_args<'a>(config_path: &'a str, log: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--config", config_path, "--log", log];
    v.extend_from_slice(rest);
    v
}

#[allow(clippy::too_many_arguments)]
async fn sweep(
    options: &Options,
    photos: &[Bytes],
    s3_pid: Option<u32>,
    config: &Config,
    config_path: &Path,
    logs: &Path,
    receiver: &Receiver,
    engine_in_process: &[EngineRate],
    shutdown: &CancellationToken,
) -> Result<Vec<WorkersRun>> {
    let cfg = config_path.display().to_string();
    let bin = &options.photocheck_bin;
    let mut api = Child::spawn(
        "photocheck serve".into(),
        bin,
        &photocheck_args(&cfg, &options.child_log, &["serve"]),
        Some(logs.join("serve.log")),
    )?;
    let ready_url = format!("http://{}/readyz", config.api.listen);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| PipelineBenchError::Options(format!("http client: {e}")))?;
    wait_ready(
        "the ingest API",
        Duration::from_secs(30),
        &mut [&mut api],
        || {
            let http = http.clone();
            let url = ready_url.clone();
            async move {
                http.get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        },
    )
    .await?;
    let uploader = Arc::new(Uploader {
        http: http.clone(),
        url: format!("http://{}/v1/photos", config.api.listen),
        token: config.api.tokens[WINDOW].clone(),
        run: uuid::Uuid::now_v7().simple().to_string(),
        photos: photos
            .iter()
            .map(|b| {
                let ct = photocheck_pipeline::api::sniff_image(b).unwrap_or("image/jpeg");
                (b.clone(), ct)
            })
            .collect(),
    });
    let ctx = Ctx {
        receiver,
        uploader,
        timeout: options.timeout,
        shutdown,
    };
    let admin = broker(&config.amqp.url).await?;
    let admin_channel = admin
        .create_channel()
        .await
        .map_err(|e| PipelineBenchError::Broker(e.to_string()))?;
    let grace = Duration::from_secs(config.worker.grace_period_s + 5);
    let mut runs = Vec::new();
    let mut failure = None;
    for &n in &options.workers {
        let threads = n * config.worker.concurrency;
        let mut workers = Vec::new();
        let mut metrics_urls: Vec<String> = Vec::new();
        let run = async {
            let c = config.worker.concurrency.to_string();
            for i in 0..n {
                let listen = format!("127.0.0.1:{}", free_port()?);
                metrics_urls.push(format!("http://{listen}/metrics"));
                workers.push(Child::spawn(
                    format!("photocheck worker #{}", i + 1),
                    bin,
                    &photocheck_args(
                        &cfg,
                        &options.child_log,
                        &["worker", "--concurrency", &c, "--metrics-listen", &listen],
                    ),
                    Some(logs.join(format!("worker-{n}-{}.log", i + 1))),
                )?);
            }
            {
                let mut refs: Vec<&mut Child> = workers.iter_mut().collect();
                refs.push(&mut api);
                let jobs = config.amqp.jobs_queue.clone();
                let deliveries = config.amqp.deliveries_queue.clone();
                let admin = &admin_channel;
                let want = u32::try_from(n).unwrap_or(u32::MAX);
                wait_ready(
                    &format!("{n} worker(s) consuming"),
                    Duration::from_secs(120),
                    &mut refs,
                    || {
                        let jobs = jobs.clone();
                        let deliveries = deliveries.clone();
                        async move {
                            consumers(admin, &jobs).await >= want
                                && consumers(admin, &deliveries).await >= want
                        }
                    },
                )
                .await?;
            }
            let warmup = options.warmup.unwrap_or(2 * threads);
            if warmup > 0 {
                tracing::info!(workers = n, photos = warmup, "warm-up");
                closed_loop(&ctx, &format!("warmup-{n}"), warmup, threads.max(1)).await?;
            }
            let mut stages = scrape_stages(&http, &metrics_urls).await;
            let mut throughput = None;
            if options.throughput {
                tracing::info!(workers = n, photos = options.count, "throughput run");
                let mut watch = CpuWatch::default();
                watch.pids.extend(
                    workers
                        .iter()
                        .filter_map(|w| w.child.id())
                        .map(|p| ("workers", p)),
                );
                watch.pids.extend(api.child.id().map(|p| ("api", p)));
                watch.pids.extend(s3_pid.map(|p| ("s3", p)));
                // The broker's port as lapin reads the URL (the scheme's default when none).
                let local_port = config
                    .amqp
                    .url
                    .parse::<lapin::uri::AMQPUri>()
                    .ok()
                    .filter(|u| matches!(u.authority.host.as_str(), "127.0.0.1" | "localhost"))
                    .map(|u| u.authority.port);
                if let Some(port) = local_port {
                    watch
                        .pids
                        .extend(local_broker_pid(port).map(|p| ("broker", p)));
                }
                watch.pids.push(("bench", std::process::id()));
                let cpu_before = watch.sample();
                let p = closed_loop(
                    &ctx,
                    &format!("throughput-{n}"),
                    options.count,
                    options.upload_concurrency,
                )
                .await?;
                let cpu_ms_per_photo =
                    cpu_per_photo(&cpu_before, &watch.sample(), p.counts.delivered);
                let rate = if p.wall_s > 0.0 {
                    p.counts.delivered as f64 / p.wall_s
                } else {
                    0.0
                };
                let in_process = engine_in_process
                    .iter()
                    .find(|e| e.threads == threads)
                    .map(|e| e.photos_per_s);
                throughput = Some(ThroughputRun {
                    upload_concurrency: options.upload_concurrency,
                    wall_s: p.wall_s,
                    photos_per_s: rate,
                    photos_per_s_per_worker: rate / n as f64,
                    in_process_photos_per_s: in_process,
                    ratio_to_in_process: in_process.filter(|v| *v > 0.0).map(|v| rate / v),
                    upload_ms: percentiles(p.upload_ms),
                    latency_ms: percentiles(p.latency_ms),
                    counts: p.counts,
                    cpu_ms_per_photo,
                    worker_stage_ms: {
                        let now = scrape_stages(&http, &metrics_urls).await;
                        let means = stage_means(&stages, &now);
                        stages = now;
                        means
                    },
                });
            }
            let mut latency = None;
            if let Some(rate) = options.rate {
                let (per_s, from) = match rate {
                    Rate::PerSecond(r) => (r, "fixed".to_owned()),
                    Rate::OfMaximum(f) => {
                        let max = throughput.as_ref().map_or(0.0, |t| t.photos_per_s);
                        (max * f, format!("{:.0}% of the maximum", f * 100.0))
                    }
                };
                if per_s > 0.0 {
                    tracing::info!(
                        workers = n,
                        rate = per_s,
                        photos = options.latency_count,
                        "latency run"
                    );
                    let p = open_loop(
                        &ctx,
                        &format!("latency-{n}"),
                        options.latency_count,
                        per_s,
                        options.arrivals,
                    )
                    .await?;
                    let achieved = if p.submit_span_s > 0.0 {
                        (p.counts.submitted.saturating_sub(1)) as f64 / p.submit_span_s
                    } else {
                        0.0
                    };
                    latency = Some(LatencyRun {
                        rate_per_s: per_s,
                        rate_from: from,
                        arrivals: options.arrivals,
                        achieved_rate_per_s: achieved,
                        wall_s: p.wall_s,
                        upload_ms: percentiles(p.upload_ms),
                        latency_ms: percentiles(p.latency_ms.clone()),
                        latencies_ms: p.latency_ms,
                        counts: p.counts,
                        worker_stage_ms: stage_means(
                            &stages,
                            &scrape_stages(&http, &metrics_urls).await,
                        ),
                    });
                }
            }
            for w in workers.iter_mut() {
                w.alive()?;
            }
            Ok::<_, PipelineBenchError>((warmup, throughput, latency))
        }
        .await;
        let memory_workers: Vec<ProcMemory> = workers.iter().map(Child::memory).collect();
        let memory = Memory {
            worker_peak_rss_mb: memory_workers
                .iter()
                .map(|m| m.peak_rss_mb)
                .fold(0.0, f64::max),
            workers: memory_workers,
            api: api.memory(),
        };
        let stops = futures::future::join_all(workers.into_iter().map(|w| w.stop(grace))).await;
        for status in stops.into_iter().flatten() {
            if !status.success() {
                tracing::warn!(%status, "a worker did not exit cleanly");
            }
        }
        match run {
            Ok((warmup_photos, throughput, latency)) => runs.push(WorkersRun {
                workers: n,
                threads,
                warmup_photos,
                throughput,
                latency,
                memory,
            }),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let _ = admin_channel.close(200, "bye".into()).await;
    let _ = admin.close(200, "bye".into()).await;
    let _ = api.stop(Duration::from_secs(10)).await;
    match failure {
        Some(e) => Err(e),
        None => Ok(runs),
    }
}

// ─── reports ─────────────────────────────────────────────────────────────────────────────────

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.digits$}"))
}

/// The report as a Markdown summary.
pub fn markdown(r: &Report) -> String {
    let s_ = &r.setup;
    let mut s = format!(
        "# photocheck bench pipeline\n\n{} · {} cores · {} · profile {} · {} distinct photos · \
         S3 {} · RabbitMQ {} · worker concurrency {} · names `{}.*`, bucket `{}` · \
         load average at start {}\n\n",
        r.machine.cpu,
        r.machine.cores,
        r.machine.date,
        s_.profile,
        s_.distinct_photos,
        s_.s3,
        s_.amqp,
        s_.worker_concurrency,
        s_.names,
        s_.bucket,
        s_.load_average
    );
    if r.runs.iter().any(|x| x.throughput.is_some()) {
        s.push_str("## Maximum throughput (first submit → last result delivered)\n\n");
        s.push_str("| workers | photos | delivered | rejected | photos/s | per worker | in-process photos/s | end-to-end / in-process | upload p50 ms | submit→delivered p50 / p99 ms |\n|---|---|---|---|---|---|---|---|---|---|\n");
        for run in &r.runs {
            if let Some(t) = &run.throughput {
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {:.1} | {:.1} | {} | {} | {:.1} | {:.0} / {:.0} |\n",
                    run.workers,
                    t.counts.submitted,
                    t.counts.delivered,
                    t.counts.rejected,
                    t.photos_per_s,
                    t.photos_per_s_per_worker,
                    opt(t.in_process_photos_per_s, 1),
                    t.ratio_to_in_process
                        .map_or("–".into(), |x| format!("{:.0}%", x * 100.0)),
                    t.upload_ms.p50,
                    t.latency_ms.p50,
                    t.latency_ms.p99
                ));
            }
        }
        s.push('\n');
    }
    if r.runs.iter().any(|x| x.latency.is_some()) {
        s.push_str("## Latency at a fixed rate (open loop; submit → signed callback received)\n\n");
        s.push_str("| workers | rate photos/s | achieved | photos | delivered | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|---|\n");
        for run in &r.runs {
            if let Some(l) = &run.latency {
                s.push_str(&format!(
                    "| {} | {:.1} ({}, {}) | {:.1} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                    run.workers,
                    l.rate_per_s,
                    l.rate_from,
                    match l.arrivals {
                        Arrivals::Even => "even",
                        Arrivals::Poisson => "poisson",
                    },
                    l.achieved_rate_per_s,
                    l.counts.submitted,
                    l.counts.delivered,
                    l.latency_ms.p50,
                    l.latency_ms.p95,
                    l.latency_ms.p99,
                    l.latency_ms.max
                ));
            }
        }
        s.push('\n');
    }
    let stage_line = |m: &BTreeMap<String, f64>| {
        ["fetch", "check", "store", "publish", "handoff", "job"]
            .iter()
            .filter_map(|k| m.get(*k).map(|v| format!("{k} {v:.1}")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = Vec::new();
    for run in &r.runs {
        if let Some(t) = &run.throughput {
            lines.push(format!(
                "- {} worker(s), throughput run: {}\n",
                run.workers,
                stage_line(&t.worker_stage_ms)
            ));
        }
        if let Some(l) = &run.latency {
            lines.push(format!(
                "- {} worker(s), latency run: {}\n",
                run.workers,
                stage_line(&l.worker_stage_ms)
            ));
        }
    }
    if !lines.is_empty() {
        s.push_str("## Worker stages (mean ms per job, from the workers' /metrics)\n\n");
        s.push_str(&lines.concat());
        s.push('\n');
    }
    if r.runs.iter().any(|x| x.throughput.is_some()) {
        s.push_str(
            "## CPU per delivered photo in the throughput runs (ms, user + system)\n\n\
             | workers | workers' processes | API | S3 server | RabbitMQ | bench (uploader, receiver) | total |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for run in &r.runs {
            if let Some(t) = &run.throughput {
                let c = |k: &str| opt(t.cpu_ms_per_photo.get(k).copied(), 2);
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} |\n",
                    run.workers,
                    c("workers"),
                    c("api"),
                    c("s3"),
                    c("broker"),
                    c("bench"),
                    c("total")
                ));
            }
        }
        s.push('\n');
    }
    s.push_str("## Memory (peak resident set, VmHWM)\n\n| workers | each worker MB | API MB |\n|---|---|---|\n");
    for run in &r.runs {
        let each: Vec<String> = run
            .memory
            .workers
            .iter()
            .map(|m| format!("{:.0}", m.peak_rss_mb))
            .collect();
        s.push_str(&format!(
            "| {} | {} | {:.0} |\n",
            run.workers,
            each.join(", "),
            run.memory.api.peak_rss_mb
        ));
    }
    let t = &r.targets;
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    };
    s.push_str(&format!(
        "\n## Targets\n\n- end to end ≥ {:.0}% of the in-process rate: worst {} — {}\n\
         - p99 ≤ {:.0} ms at the latency run's rate: worst {} ms — {}\n\
         - worker resident memory ≤ {:.0} MB: peak {:.0} MB — {}\n",
        t.ratio_min * 100.0,
        t.worst_ratio_to_in_process
            .map_or("–".into(), |x| format!("{:.0}%", x * 100.0)),
        verdict(t.worst_ratio_to_in_process.map(|x| x >= t.ratio_min)),
        t.latency_p99_max_ms,
        opt(t.worst_latency_p99_ms, 1),
        verdict(t.worst_latency_p99_ms.map(|x| x <= t.latency_p99_max_ms)),
        t.worker_rss_max_mb,
        t.worker_peak_rss_mb,
        verdict(
            (t.worker_peak_rss_mb > 0.0).then_some(t.worker_peak_rss_mb <= t.worker_rss_max_mb)
        ),
    ));
    s
}

const COLOURS: &[&str] = &[
    "#2a6fdb", "#e0702a", "#2aa05a", "#b03ac0", "#c0392b", "#7f8c8d",
];

/// Throughput against workers (bars: end to end; ticks: in-process) and the latency
/// distribution of each latency run (cumulative, with p50/p95/p99) as one SVG.
pub fn svg(r: &Report) -> String {
    let (w, h, pad) = (760.0f64, 320.0f64, 44.0f64);
    let half = w / 2.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
         <text x=\"{pad}\" y=\"18\" font-size=\"13\">photocheck bench pipeline · {} · {} cores</text>\n",
        r.machine.date, r.machine.cores
    );
    // Left: photos/s by workers.
    let with_t: Vec<&WorkersRun> = r.runs.iter().filter(|x| x.throughput.is_some()).collect();
    let max = with_t
        .iter()
        .flat_map(|x| {
            let t = x.throughput.as_ref();
            [
                t.map_or(0.0, |t| t.photos_per_s),
                t.and_then(|t| t.in_process_photos_per_s).unwrap_or(0.0),
            ]
        })
        .fold(1.0, f64::max)
        * 1.1;
    let (x0, x1, y0, y1) = (pad, half - 16.0, 40.0, h - pad);
    s.push_str(&format!(
        "<text x=\"{x0}\" y=\"34\">photos/s by worker processes (bar: end to end; line: in-process engine)</text>\n\
         <line x1=\"{x0}\" y1=\"{y1}\" x2=\"{x1}\" y2=\"{y1}\" stroke=\"#333\"/>\n\
         <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\" stroke=\"#333\"/>\n\
         <text x=\"4\" y=\"{:.1}\">{max:.0}</text><text x=\"4\" y=\"{y1}\">0</text>\n",
        y0 + 10.0
    ));
    let bw = (x1 - x0) / with_t.len().max(1) as f64;
    for (i, run) in with_t.iter().enumerate() {
        let Some(t) = &run.throughput else { continue };
        let bh = (y1 - y0) * t.photos_per_s / max;
        let x = x0 + i as f64 * bw + 10.0;
        s.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#2a6fdb\"/>\n\
             <text x=\"{x:.1}\" y=\"{:.1}\">{:.1}</text>\n\
             <text x=\"{x:.1}\" y=\"{:.1}\">{} worker(s)</text>\n",
            y1 - bh,
            bw - 20.0,
            y1 - bh - 4.0,
            t.photos_per_s,
            y1 + 14.0,
            run.workers
        ));
        if let Some(ip) = t.in_process_photos_per_s {
            let y = y1 - (y1 - y0) * ip / max;
            s.push_str(&format!(
                "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#c0392b\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#c0392b\">{ip:.1}</text>\n",
                x - 4.0,
                x + bw - 16.0,
                x + bw - 44.0,
                y - 3.0
            ));
        }
    }
    // Right: cumulative latency distribution of each latency run.
    let lat: Vec<(&WorkersRun, &LatencyRun)> = r
        .runs
        .iter()
        .filter_map(|x| x.latency.as_ref().map(|l| (x, l)))
        .collect();
    let (x0, x1) = (half + pad, w - 16.0);
    let xmax = lat
        .iter()
        .map(|(_, l)| l.latency_ms.max)
        .fold(1.0, f64::max)
        * 1.05;
    s.push_str(&format!(
        "<text x=\"{x0}\" y=\"34\">submit → delivered latency at a fixed rate (cumulative)</text>\n\
         <line x1=\"{x0}\" y1=\"{y1}\" x2=\"{x1}\" y2=\"{y1}\" stroke=\"#333\"/>\n\
         <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\" stroke=\"#333\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\">100%</text><text x=\"{:.1}\" y=\"{y1}\">0</text>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{xmax:.0} ms</text>\n",
        half + 8.0,
        y0 + 10.0,
        half + 8.0,
        x1,
        y1 + 14.0
    ));
    for (k, (run, l)) in lat.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let n = l.latencies_ms.len().max(1) as f64;
        let points: Vec<String> = l
            .latencies_ms
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let x = x0 + (x1 - x0) * v / xmax;
                let y = y1 - (y1 - y0) * (i + 1) as f64 / n;
                format!("{x:.1},{y:.1}")
            })
            .collect();
        s.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\">{} worker(s) @ {:.1}/s: p50 {:.0} · p95 {:.0} · p99 {:.0} ms</text>\n",
            points.join(" "),
            x0 + 8.0,
            y0 + 16.0 + 14.0 * k as f64,
            run.workers,
            l.rate_per_s,
            l.latency_ms.p50,
            l.latency_ms.p95,
            l.latency_ms.p99
        ));
        for p in [l.latency_ms.p50, l.latency_ms.p95, l.latency_ms.p99] {
            let x = x0 + (x1 - x0) * p / xmax;
            s.push_str(&format!(
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{y1}\" stroke=\"{colour}\" stroke-dasharray=\"2 3\"/>\n",
                y1 - 6.0
            ));
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_photos_per_second_or_percent_of_maximum() {
        assert_eq!("12.5".parse::<Rate>(), Ok(Rate::PerSecond(12.5)));
        assert_eq!("50%".parse::<Rate>(), Ok(Rate::OfMaximum(0.5)));
        assert!("0".parse::<Rate>().is_err());
        assert!("-3".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
        assert!("0%".parse::<Rate>().is_err());
    }

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        // A name with spaces and a parenthesis; utime 1234, stime 56.
        let stat = "4242 (photo check) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 9";
        assert_eq!(parse_cpu_ticks(stat), Some(1290));
        assert_eq!(parse_cpu_ticks("4242 (short"), None);
        let own = cpu_seconds(std::process::id()).expect("own /proc/self/stat");
        assert!(own >= 0.0);
        let before = BTreeMap::from([("api", 1.0), ("workers", 2.0)]);
        let after = BTreeMap::from([("api", 1.5), ("workers", 4.0), ("s3", 9.0)]);
        let per = cpu_per_photo(&before, &after, 100);
        assert!((per["api"] - 5.0).abs() < 1e-9);
        assert!((per["workers"] - 20.0).abs() < 1e-9);
        assert!(!per.contains_key("s3"), "no start sample, no figure");
        assert!((per["total"] - 25.0).abs() < 1e-9);
    }

    #[test]
    fn memory_is_read_from_proc_status_lines() {
        let m = parse_memory("Name:\tphotocheck\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n");
        assert!((m.peak_rss_mb - 209.7152).abs() < 1e-9);
        assert!((m.rss_mb - 104.8576).abs() < 1e-9);
        let own = read_memory(std::process::id());
        assert!(own.rss_mb > 0.0 && own.peak_rss_mb >= own.rss_mb);
    }

    #[test]
    fn stage_means_come_from_histogram_sums_and_counts() {
        let mut a = StageTotals::new();
        parse_stages(
            "# TYPE photocheck_stage_seconds histogram\n\
             photocheck_stage_seconds_sum{stage=\"check\"} 0.5\n\
             photocheck_stage_seconds_count{stage=\"check\"} 10\n\
             photocheck_stage_seconds_bucket{le=\"0.001\",stage=\"check\"} 0\n",
            &mut a,
        );
        let mut b = StageTotals::new();
        parse_stages(
            "photocheck_stage_seconds_sum{stage=\"check\"} 0.7\n\
             photocheck_stage_seconds_count{stage=\"check\"} 20\n",
            &mut b,
        );
        assert_eq!(a["check"], (0.5, 10.0));
        let m = stage_means(&a, &b);
        assert!((m["check"] - 20.0).abs() < 1e-9, "{m:?}");
    }

    #[test]
    fn the_process_listening_on_a_port_is_found_by_its_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inodes = listening_inodes(port);
        assert_eq!(inodes.len(), 1, "{inodes:?}");
        assert!(owns_socket(std::process::id(), &inodes));
        drop(listener);
        assert!(!owns_socket(std::process::id(), &listening_inodes(port)));
        // Only LISTEN rows of that port count.
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1628 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 4242 1\n\
   1: 0100007F:1628 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000   107        0 4343 1\n\
   2: 0100007F:1629 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 4444 1\n";
        assert_eq!(listening_inodes_in(table, 5672).collect::<Vec<_>>(), [4242]);
    }

    #[test]
    fn amqp_host_drops_credentials_and_vhost() {
        assert_eq!(
            amqp_host("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "127.0.0.1:5672"
        );
        assert_eq!(amqp_host("amqps://h:5671"), "h:5671");
    }

    #[test]
    fn children_get_fresh_names_and_only_the_bench_window() {
        let mut base = Config::default();
        base.api.tokens.insert("w001".into(), "x".repeat(20));
        let names = Names::fresh();
        let c = child_config(
            &base,
            &names,
            "http://127.0.0.1:1",
            "127.0.0.1:2",
            &"t".repeat(32),
            "http://127.0.0.1:3/results",
            "s",
            1,
            "ga461",
        );
        assert!(c.amqp.jobs_queue.starts_with("bench.") && c.amqp.jobs_queue.ends_with(".jobs"));
        assert_ne!(c.amqp.jobs_queue, base.amqp.jobs_queue);
        assert_ne!(c.amqp.deliveries_queue, base.amqp.deliveries_queue);
        assert_ne!(c.amqp.results_exchange, base.amqp.results_exchange);
        assert_ne!(c.s3.bucket, base.s3.bucket);
        assert_eq!(c.api.tokens.len(), 1);
        assert!(c.worker.metrics_listen.is_empty());
        assert_eq!(c.central.url, "http://127.0.0.1:3/results");
    }
}

/// What `photocheck bench store` measured: sequential reads and writes of one object through
/// photocheck's own S3 client (one SDK client, its connections reused), with quick ACKs on and
/// off (see `photocheck_pipeline::s3http`).
#[derive(Debug, Clone, Serialize)]
pub struct StoreReport {
    /// The store, in words.
    pub store: String,
    /// Object size in bytes.
    pub size: usize,
    /// Requests of each kind per run.
    pub requests: usize,
    /// One run per quick-ACK setting.
    pub runs: Vec<StoreRun>,
}

/// One run of [`store`].
#[derive(Debug, Clone, Serialize)]
pub struct StoreRun {
    /// Whether reads were acknowledged at once.
    pub quick_ack: bool,
    /// Milliseconds per GET.
    pub get_ms: Percentiles,
    /// Milliseconds per PUT.
    pub put_ms: Percentiles,
}

/// Times `requests` GETs, then `requests` PUTs, of one `size`-byte object, one after another on
/// one client, with quick ACKs on and then off; in a bucket of its own, emptied at the end.
pub async fn store(
    source: &S3Source,
    config: &Config,
    requests: usize,
    size: usize,
) -> Result<StoreReport> {
    if requests == 0 {
        return Err(PipelineBenchError::Options(
            "--requests must be at least 1".into(),
        ));
    }
    let mut s3 = start_s3(source, config).await?;
    let outcome = store_runs(&s3, config, requests, size).await;
    s3.stop(Duration::from_secs(5)).await;
    Ok(StoreReport {
        store: s3.label.clone(),
        size,
        requests,
        runs: outcome?,
    })
}

async fn store_runs(
    s3: &S3,
    config: &Config,
    requests: usize,
    size: usize,
) -> Result<Vec<StoreRun>> {
    let failed = |e: photocheck_pipeline::error::StoreError| PipelineBenchError::NotReady {
        what: format!("the S3 store ({e})"),
        waited_s: 0,
    };
    let body = Bytes::from((0..size).map(|_| fastrand::u8(..)).collect::<Vec<u8>>());
    let mut runs = Vec::new();
    for quick_ack in [true, false] {
        let mut section = config.s3.clone();
        section.endpoint = s3.endpoint.clone();
        section.failover_endpoints.clear();
        section.quick_ack = quick_ack;
        let id = uuid::Uuid::now_v7().simple().to_string();
        section.bucket = format!("photocheck-bench-store-{}", &id[id.len() - 12..]);
        let store = photocheck_pipeline::store::Store::new(&section)
            .map_err(|e| PipelineBenchError::Options(e.to_string()))?;
        store.ensure_bucket().await.map_err(failed)?;
        let key = "bench/object";
        // The first request opens the connection (and reads the bucket's location): unmeasured.
        store
            .put(key, body.clone(), "application/octet-stream")
            .await
            .map_err(failed)?;
        store.get(key).await.map_err(failed)?;
        let mut gets = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t = Instant::now();
            store.get(key).await.map_err(failed)?;
            gets.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let mut puts = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t = Instant::now();
            store
                .put(key, body.clone(), "application/octet-stream")
                .await
                .map_err(failed)?;
            puts.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        store.delete(key).await.map_err(failed)?;
        runs.push(StoreRun {
            quick_ack,
            get_ms: percentiles(gets),
            put_ms: percentiles(puts),
        });
    }
    Ok(runs)
}

/// The store report as Markdown.
pub fn store_markdown(r: &StoreReport) -> String {
    let mut md = format!(
        "# photocheck bench store\n\n{} · {} requests of each kind · object {} bytes · \
         one client, connections reused\n\n\
         | quick ACK | GET p50 ms | GET p95 | GET p99 | GET max | PUT p50 ms | PUT p95 | PUT p99 | PUT max |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        r.store, r.requests, r.size
    );
    for run in &r.runs {
        let (g, p) = (&run.get_ms, &run.put_ms);
        md.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            if run.quick_ack { "on" } else { "off" },
            g.p50,
            g.p95,
            g.p99,
            g.max,
            p.p50,
            p.p95,
            p.p99,
            p.max
        ));
    }
    md
}
