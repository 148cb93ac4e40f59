//! `photocheck bench engine`: in-process throughput of the check engine over a folder, per
//! core and with N threads, with a per-stage breakdown and latency percentiles. Writes a JSON
//! report, a Markdown summary and an SVG plot, so an operator can size a deployment from one run.

use photocheck_engine::{Engine, Profile};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// The machine a benchmark ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model name (from /proc/cpuinfo).
    pub cpu: String,
    /// Logical cores available to the process.
    pub cores: usize,
    /// UTC date and time of the run (RFC 3339).
    pub date: String,
}

impl Machine {
    /// Reads the current machine.
    pub fn current() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            date: utc_now(),
        }
    }
}

fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One run at a given thread count.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Threads checking photos in parallel.
    pub threads: usize,
    /// Photos checked.
    pub photos: usize,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Photos per second, all threads together.
    pub photos_per_s: f64,
    /// Photos per second per thread.
    pub photos_per_s_per_thread: f64,
    /// Speed-up over the one-thread run, when there is one.
    pub speedup: Option<f64>,
    /// Latency percentiles of one photo, milliseconds.
    pub latency_ms: Percentiles,
    /// Mean milliseconds per stage.
    pub stage_ms: BTreeMap<String, f64>,
}

/// Latency percentiles.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// Engine version and models.
    pub engine: photocheck_types::EngineInfo,
    /// Profile used.
    pub profile: String,
    /// Distinct photos in the set.
    pub distinct_photos: usize,
    /// Runs, by thread count.
    pub runs: Vec<Run>,
}

/// Why `bench engine` could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// No photo could be read.
    #[error("no photos to benchmark")]
    NoPhotos,
    /// The thread pool could not be built.
    #[error("cannot build the thread pool: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
    /// The engine failed on a photo (a system error, not a failed check).
    #[error("[{}] {}", .0.code(), .0)]
    Engine(#[from] photocheck_engine::EngineError),
}

/// Percentiles (nearest rank on the sorted values, [`photocheck_pipeline::metrics::percentile`])
/// of a series; zeros when it is empty.
pub fn percentiles(mut v: Vec<f64>) -> Percentiles {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| photocheck_pipeline::metrics::percentile(&v, p).unwrap_or(0.0);
    Percentiles {
        p50: at(50.0),
        p95: at(95.0),
        p99: at(99.0),
        max: at(100.0),
    }
}

/// Checks every photo `passes` times at each thread count and reports.
pub fn engine(
    engine: &Engine,
    photos: &[Vec<u8>],
    profile: &Profile,
    threads: &[usize],
    passes: usize,
) -> Result<Report, BenchError> {
    if photos.is_empty() {
        return Err(BenchError::NoPhotos);
    }
    let mut runs: Vec<Run> = Vec::new();
    for &n in threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("photocheck-bench-{i}"))
            .build()?;
        // Warm-up: every thread builds its sessions and touches every photo once.
        pool.install(|| {
            photos.par_iter().for_each(|p| {
                let _ = engine.check(p, profile);
            })
        });
        let work: Vec<&Vec<u8>> = (0..passes.max(1)).flat_map(|_| photos.iter()).collect();
        let start = Instant::now();
        let timings: Vec<BTreeMap<String, f64>> = pool.install(|| {
            work.par_iter()
                .map(|p| engine.check(p, profile).map(|r| r.timings_ms))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let wall = start.elapsed().as_secs_f64();
        let mut stage_ms = BTreeMap::new();
        for t in &timings {
            for (k, v) in t {
                *stage_ms.entry(k.clone()).or_insert(0.0) += v / timings.len() as f64;
            }
        }
        let latency = percentiles(
            timings
                .iter()
                .filter_map(|t| t.get("total").copied())
                .collect(),
        );
        let rate = timings.len() as f64 / wall;
        let base = runs.iter().find(|r| r.threads == 1).map(|r| r.photos_per_s);
        runs.push(Run {
            threads: n,
            photos: timings.len(),
            wall_s: wall,
            photos_per_s: rate,
            photos_per_s_per_thread: rate / n as f64,
            speedup: base.map(|b| rate / b),
            latency_ms: latency,
            stage_ms,
        });
    }
    Ok(Report {
        machine: Machine::current(),
        engine: engine.info().clone(),
        profile: profile.name.clone(),
        distinct_photos: photos.len(),
        runs,
    })
}

/// The report as a Markdown summary.
pub fn markdown(r: &Report) -> String {
    let mut s = format!(
        "# photocheck bench engine\n\n{} · {} cores · {} · profile {} · {} distinct photos\n\n",
        r.machine.cpu, r.machine.cores, r.machine.date, r.profile, r.distinct_photos
    );
    s.push_str("| threads | photos | photos/s | per thread | speed-up | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|---|---|\n");
    for run in &r.runs {
        s.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {:.1} |\n",
            run.threads,
            run.photos,
            run.photos_per_s,
            run.photos_per_s_per_thread,
            run.speedup.map_or("–".into(), |x| format!("{x:.2}×")),
            run.latency_ms.p50,
            run.latency_ms.p95,
            run.latency_ms.p99
        ));
    }
    if let Some(first) = r.runs.first() {
        s.push_str(&format!(
            "\nMean ms per stage ({} thread(s)): ",
            first.threads
        ));
        let parts: Vec<String> = first
            .stage_ms
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}"))
            .collect();
        s.push_str(&parts.join(", "));
        s.push('\n');
    }
    s
}

/// Throughput against threads as a small SVG bar chart.
pub fn svg(r: &Report) -> String {
    let (w, h, pad) = (480.0, 260.0, 40.0);
    let max = r.runs.iter().map(|x| x.photos_per_s).fold(1.0, f64::max);
    let bw = (w - 2.0 * pad) / r.runs.len().max(1) as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<text x=\"{pad}\" y=\"20\">photos/s by threads ({})</text>\n",
        r.machine.date
    );
    for (i, run) in r.runs.iter().enumerate() {
        let bh = (h - 2.0 * pad) * run.photos_per_s / max;
        let x = pad + i as f64 * bw + 8.0;
        let y = h - pad - bh;
        s.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#2a6fdb\"/>\n<text x=\"{x:.1}\" y=\"{:.1}\">{:.0}</text>\n<text x=\"{x:.1}\" y=\"{:.1}\">{} thr</text>\n",
            bw - 16.0,
            y - 4.0,
            run.photos_per_s,
            h - pad + 16.0,
            run.threads
        ));
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_series() {
        let p = percentiles((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(percentiles(vec![3.0]).p99, 3.0);
        assert_eq!(percentiles(vec![]).max, 0.0);
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        let d = utc_now();
        assert_eq!(d.len(), 20);
        assert!(d.starts_with("20") && d.ends_with('Z') && d.as_bytes()[10] == b'T');
    }
}
