//! `photocheck bench pipeline` as an operator runs it, small: 10 photos through the real API,
//! RabbitMQ (127.0.0.1:5672, started if down) and a Garage node the bench starts itself, with
//! one `photocheck worker` process. Checks the report's counts and shape, never its speed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    std::env::var_os("PHOTOCHECK_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/fixtures"))
}

/// The binary under test: `PHOTOCHECK_BIN` (as the pipeline tests), else Cargo's.
fn photocheck_bin() -> PathBuf {
    std::env::var_os("PHOTOCHECK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_photocheck")))
}

/// RabbitMQ on 127.0.0.1:5672, started with `rabbitmq-server -detached` if it is down.
fn rabbitmq_up() {
    let up = || std::net::TcpStream::connect(("127.0.0.1", 5672)).is_ok();
    if up() {
        return;
    }
    let _ = Command::new("rabbitmq-server").arg("-detached").status();
    for _ in 0..300 {
        if up() {
            // The port opens slightly before the broker accepts logins.
            std::thread::sleep(Duration::from_secs(2));
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("RabbitMQ is not reachable at 127.0.0.1:5672");
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not a count"))
}

fn assert_ordered_percentiles(p: &serde_json::Value, what: &str) {
    let (p50, p95, p99, max) = (f(&p["p50"]), f(&p["p95"]), f(&p["p99"]), f(&p["max"]));
    assert!(
        0.0 < p50 && p50 <= p95 && p95 <= p99 && p99 <= max,
        "{what}: p50 {p50} ≤ p95 {p95} ≤ p99 {p99} ≤ max {max}"
    );
}

#[test]
fn ten_photos_through_one_worker_are_all_delivered_and_reported() {
    rabbitmq_up();
    let install = Command::new("bash")
        .arg(repo_root().join("scripts/s3-server.sh"))
        .arg("--install-only")
        .status()
        .expect("run scripts/s3-server.sh --install-only");
    assert!(install.success(), "Garage could not be installed");

    let out = tempfile::tempdir().unwrap();
    let run = Command::new(photocheck_bin())
        .args(["bench", "pipeline", "--workers", "1", "--photos", "10"])
        .args(["--latency-photos", "10", "--rate", "50%", "--warmup", "2"])
        .args(["--concurrency", "4", "--timeout-s", "240", "--s3-script"])
        .arg(repo_root().join("scripts/s3-server.sh"))
        .arg("--out")
        .arg(out.path())
        .arg(fixtures())
        .current_dir(out.path())
        .env_remove("PHOTOCHECK_CONFIG")
        .output()
        .expect("run photocheck bench pipeline");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "bench pipeline failed: {stderr}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.starts_with("# photocheck bench pipeline"),
        "{stdout}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("bench-pipeline.json")).unwrap())
            .unwrap();
    assert!(u(&report["machine"]["cores"]) >= 1);
    assert_eq!(u(&report["setup"]["photos"]), 10);
    assert!(report["setup"]["names"]
        .as_str()
        .unwrap()
        .starts_with("bench."));

    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(u(&run["workers"]), 1);
    assert_eq!(u(&run["warmup_photos"]), 2);

    let t = &run["throughput"];
    for (key, want) in [
        ("submitted", 10),
        ("accepted", 10),
        ("rejected", 0),
        ("delivered", 10),
    ] {
        assert_eq!(u(&t["counts"][key]), want, "throughput {key}");
    }
    assert!(f(&t["photos_per_s"]) > 0.0 && f(&t["wall_s"]) > 0.0);
    assert!(f(&t["in_process_photos_per_s"]) > 0.0);
    assert!(f(&t["ratio_to_in_process"]) > 0.0);
    assert_ordered_percentiles(&t["latency_ms"], "throughput latency");
    assert_ordered_percentiles(&t["upload_ms"], "throughput upload");

    let l = &run["latency"];
    for (key, want) in [
        ("submitted", 10),
        ("accepted", 10),
        ("rejected", 0),
        ("delivered", 10),
    ] {
        assert_eq!(u(&l["counts"][key]), want, "latency {key}");
    }
    // Half the rate the throughput run measured.
    let max = f(&t["photos_per_s"]);
    assert!((f(&l["rate_per_s"]) - max / 2.0).abs() < 1e-9 * max.max(1.0));
    assert_ordered_percentiles(&l["latency_ms"], "latency run");
    let samples = l["latencies_ms"].as_array().unwrap();
    assert_eq!(samples.len(), 10);
    assert!(samples.windows(2).all(|w| f(&w[0]) <= f(&w[1])), "sorted");

    let memory = &run["memory"];
    assert_eq!(memory["workers"].as_array().unwrap().len(), 1);
    assert!(f(&memory["worker_peak_rss_mb"]) > 0.0);
    assert!(f(&memory["api"]["peak_rss_mb"]) > 0.0);

    let md = std::fs::read_to_string(out.path().join("bench-pipeline.md")).unwrap();
    assert!(md.contains("| 1 | 10 | 10 | 0 |"), "{md}");
    let svg = std::fs::read_to_string(out.path().join("bench-pipeline.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
}
