//! The service's subcommands (`serve`, `worker`, `submit`, `results`): their flags (the last
//! config layer) and blocking `run` functions that start a tokio runtime, install signal
//! handling and call the pipeline library, which itself knows nothing of command lines.

use photocheck_config::Config;
use photocheck_pipeline::metrics::percentile;
use photocheck_pipeline::submit::{Progress, SubmitOptions, SubmitReport};
use photocheck_pipeline::PipelineError;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Flags of `photocheck serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides `api.listen`).
    #[arg(long)]
    pub listen: Option<String>,
}

/// `photocheck console`: serve the web console, or make a password hash for its users.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub action: Option<ConsoleAction>,
    /// Address to listen on (overrides `console.listen`).
    #[arg(long)]
    pub listen: Option<String>,
}

/// Sub-actions of `photocheck console`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConsoleAction {
    /// Read a password from standard input (one line) and print its Argon2id hash for
    /// `console.users.<name>.password_hash`.
    HashPassword,
}

/// Flags of `photocheck worker`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WorkerArgs {
    /// Jobs checked in parallel (overrides `worker.concurrency`; 0 = one per core).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Address of the worker's /metrics endpoint (overrides `worker.metrics_listen`; "" = none).
    #[arg(long)]
    pub metrics_listen: Option<String>,
}

/// Flags of `photocheck submit`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SubmitArgs {
    /// Base URL of the ingest API (overrides `submit.api`).
    #[arg(long)]
    pub api: Option<String>,
    /// Bearer token of the window (overrides `submit.token`).
    #[arg(long)]
    pub token: Option<String>,
    /// Uploads in flight (overrides `submit.concurrency`).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Wait for each result and print it as a JSON line.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds and list the photos still open (overrides
    /// `submit.wait_timeout_s`).
    #[arg(long, value_name = "SECS")]
    pub wait_timeout: Option<u64>,
    /// Check profile to request (default: the server's).
    #[arg(long)]
    pub profile: Option<String>,
    /// Photos and folders (searched recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// `photocheck results`: the window's results from the API, for reports.
#[derive(clap::Args, Debug, Clone)]
pub struct ResultsArgs {
    /// Base URL of the ingest API (overrides `submit.api`).
    #[arg(long)]
    pub api: Option<String>,
    /// Bearer token of the window (overrides `submit.token`).
    #[arg(long)]
    pub token: Option<String>,
    /// Only photos accepted at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00+08:00).
    #[arg(long)]
    pub since: Option<String>,
    /// Only results with this verdict (pass, fail, review).
    #[arg(long)]
    pub verdict: Option<String>,
    /// `jsonl` (one listed photo per line, with its result) or `csv` (one row per photo).
    #[arg(long, default_value = "jsonl")]
    pub format: String,
}

/// `photocheck sweep`: deletes once what the retention rules (`[retention]`) no longer keep.
pub fn run_sweep(config: Config) -> Result<photocheck_pipeline::retention::Swept, PipelineError> {
    let store = photocheck_pipeline::store::Store::new(&config.s3)?;
    let audit = photocheck_pipeline::audit::Audit::open(&config.audit)?;
    runtime()?
        .block_on(photocheck_pipeline::retention::sweep(
            &store,
            &config.retention,
            &audit,
            photocheck_pipeline::retention::now_unix(),
        ))
        .map_err(PipelineError::from)
}

/// `photocheck results`: prints the listed photos to stdout; returns how many.
pub fn run_results(config: Config, args: &ResultsArgs) -> Result<usize, PipelineError> {
    let tls = submit_tls(&config);
    let api = args.api.clone().unwrap_or(config.submit.api);
    let token = args.token.clone().unwrap_or(config.submit.token);
    let photos = runtime()?.block_on(photocheck_pipeline::submit::fetch_results(
        &api,
        &token,
        &tls,
        args.since.as_deref(),
        args.verdict.as_deref(),
    ))?;
    match args.format.as_str() {
        "csv" => print!("{}", photocheck_pipeline::submit::results_csv(&photos)),
        "jsonl" => {
            for p in &photos {
                println!("{p}");
            }
        }
        other => {
            return Err(PipelineError::Config(format!(
                "--format must be jsonl or csv, not {other:?}"
            )))
        }
    }
    Ok(photos.len())
}

fn runtime() -> Result<tokio::runtime::Runtime, PipelineError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("photocheck-io")
        .build()
        .map_err(|e| PipelineError::Config(format!("cannot start the async runtime: {e}")))
}

/// `photocheck serve`: runs the API until SIGTERM/SIGINT.
pub fn run_serve(mut config: Config, args: &ServeArgs) -> Result<(), PipelineError> {
    if let Some(listen) = &args.listen {
        config.api.listen = listen.clone();
    }
    runtime()?.block_on(async {
        let shutdown = photocheck_pipeline::shutdown_on_signals();
        photocheck_pipeline::serve(config, shutdown).await
    })
}

/// `photocheck console`: runs the web console until SIGTERM/SIGINT.
pub fn run_console(mut config: Config, args: &ConsoleArgs) -> Result<(), PipelineError> {
    if let Some(listen) = &args.listen {
        config.console.listen = listen.clone();
    }
    runtime()?.block_on(async {
        let shutdown = photocheck_pipeline::shutdown_on_signals();
        photocheck_pipeline::console::serve(config, shutdown).await
    })
}

/// The Argon2id hash of the first line of `input` (without its line end); an empty password is
/// refused.
pub fn hash_password_from(input: &mut dyn std::io::BufRead) -> Result<String, String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.len() < 8 {
        return Err("the password must have at least 8 characters".into());
    }
    photocheck_pipeline::console::auth::hash_password(password)
}

/// `photocheck worker`: runs a worker with `checker` (the engine) until SIGTERM/SIGINT, drains,
/// returns.
pub fn run_worker(
    mut config: Config,
    args: &WorkerArgs,
    checker: Arc<dyn photocheck_pipeline::Checker>,
) -> Result<(), PipelineError> {
    if let Some(n) = args.concurrency {
        config.worker.concurrency = n;
    }
    if let Some(listen) = &args.metrics_listen {
        config.worker.metrics_listen = listen.clone();
    }
    runtime()?.block_on(async {
        let shutdown = photocheck_pipeline::shutdown_on_signals();
        photocheck_pipeline::run_worker(config, checker, shutdown).await
    })
}

/// The API client's TLS from `[submit]` (its `ca_file` defaults to `tls.ca_file`).
fn submit_tls(config: &Config) -> photocheck_pipeline::tls::ClientTls {
    photocheck_pipeline::tls::ClientTls {
        ca_file: config.submit.ca_file.clone(),
        cert_file: config.submit.client_cert_file.clone(),
        key_file: config.submit.client_key_file.clone(),
    }
}

/// `photocheck submit`: uploads, prints results with `--wait` to stdout and a summary to
/// stderr. Returns the report (the binary exits 1 if any photo was rejected or did not pass).
pub fn run_submit(config: Config, args: &SubmitArgs) -> Result<SubmitReport, PipelineError> {
    let tls = submit_tls(&config);
    let options = SubmitOptions {
        api: args.api.clone().unwrap_or(config.submit.api),
        token: args.token.clone().unwrap_or(config.submit.token),
        concurrency: args.concurrency.unwrap_or(config.submit.concurrency),
        wait: args.wait,
        wait_timeout: Duration::from_secs(
            args.wait_timeout
                .unwrap_or(config.submit.wait_timeout_s)
                .max(1),
        ),
        poll_interval: Duration::from_millis(config.submit.poll_interval_ms),
        max_attempts: config.submit.max_attempts,
        profile: args.profile.clone(),
        paths: args.paths.clone(),
        tls,
    };
    let wait = options.wait;
    let report = runtime()?.block_on(async {
        let mut stdout = std::io::stdout();
        photocheck_pipeline::submit::submit_with(options, &mut stdout, &Bar::default()).await
    })?;
    eprintln!("{}", summary(&report, wait));
    Ok(report)
}

/// A one-line summary of a submit run.
pub fn summary(report: &SubmitReport, wait: bool) -> String {
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    let mut line = format!(
        "submitted {} photos: {} accepted, {} refused, {} not submitted in {:.2} s ({:.1} photos/s)",
        report.photos.len(),
        report.accepted(),
        report.refused(),
        report.rejected() - report.refused(),
        secs,
        report.photos.len() as f64 / secs
    );
    if wait {
        let mut latencies: Vec<f64> = report.photos.iter().filter_map(|p| p.latency_s).collect();
        latencies.sort_by(f64::total_cmp);
        let verdicts = |v: &str| {
            report
                .photos
                .iter()
                .filter(|p| p.verdict.as_deref() == Some(v))
                .count()
        };
        line.push_str(&format!(
            "; results: {} pass, {} review, {} fail; upload→result p50 {:.0} ms, p99 {:.0} ms",
            verdicts("pass"),
            verdicts("review"),
            verdicts("fail"),
            percentile(&latencies, 50.0).unwrap_or(0.0) * 1000.0,
            percentile(&latencies, 99.0).unwrap_or(0.0) * 1000.0,
        ));
    }
    line
}

/// `submit`'s progress as a bar on stderr (indicatif hides it when stderr is not a terminal).
#[derive(Default)]
struct Bar(std::sync::Mutex<Option<indicatif::ProgressBar>>);

impl Bar {
    fn with(&self, f: impl FnOnce(&indicatif::ProgressBar)) {
        if let Ok(guard) = self.0.lock() {
            if let Some(bar) = guard.as_ref() {
                f(bar);
            }
        }
    }
}

impl Progress for Bar {
    fn start(&self, phase: &str, total: u64) {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:9} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(phase.to_owned());
        if let Ok(mut guard) = self.0.lock() {
            *guard = Some(bar);
        }
    }

    fn step(&self) {
        self.with(|bar| bar.inc(1));
    }

    fn note(&self, line: &str) {
        let mut printed = false;
        self.with(|bar| {
            bar.suspend(|| eprintln!("{line}"));
            printed = true;
        });
        if !printed {
            eprintln!("{line}");
        }
    }

    fn suspend(&self, f: &mut dyn FnMut()) {
        let mut ran = false;
        self.with(|bar| {
            bar.suspend(&mut *f);
            ran = true;
        });
        if !ran {
            f();
        }
    }

    fn finish(&self) {
        if let Ok(mut guard) = self.0.lock() {
            if let Some(bar) = guard.take() {
                bar.finish_and_clear();
            }
        }
    }
}
