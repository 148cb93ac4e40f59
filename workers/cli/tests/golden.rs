//! The engine's whole output on the shared fixtures, pinned: `photocheck check --format jsonl`
//! on `../shared/fixtures`, normalised (timings and the engine block dropped, `source` reduced
//! to the file name, lines in file-name order), must equal `tests/golden/check-fixtures.jsonl`.
//! It guards refactors (a moved check must give the same bytes) and tells any change of a value,
//! status or message apart from an intended one. Numbers are compared with a tolerance of
//! 1e-6 relative so that another CPU's last-bit differences in ONNX Runtime do not count;
//! everything else (verdicts, codes, statuses, messages) must be identical.
//!
//! After an intended change: `PHOTOCHECK_GOLDEN_UPDATE=1 cargo test -p photocheck --test
//! golden`, and review the diff of the golden file like code.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn normalise(line: &str) -> (String, Value) {
    let mut v: Value = serde_json::from_str(line).expect("a JSON line");
    let o = v.as_object_mut().expect("an object");
    o.remove("timings_ms");
    o.remove("engine");
    let name = o["source"]
        .as_str()
        .and_then(|s| s.rsplit('/').next())
        .expect("source")
        .to_owned();
    o.insert("source".into(), Value::String(name.clone()));
    (name, v)
}

fn same(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (x - y).abs() > 1e-6 * x.abs().max(y.abs()).max(1.0) {
                out.push(format!("{at}: {x} != {y}"));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                same(p, q, &format!("{at}[{i}]"), out);
            }
        }
        (Value::Object(x), Value::Object(y))
            if x.keys().collect::<Vec<_>>() == y.keys().collect::<Vec<_>>() =>
        {
            for (k, p) in x {
                same(p, &y[k], &format!("{at}.{k}"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{at}: {a} != {b}")),
    }
}

#[test]
fn check_output_on_the_fixtures_matches_the_golden_file() {
    let fixtures = repo().join("../shared/fixtures");
    let out = Command::new(env!("CARGO_BIN_EXE_photocheck"))
        .args(["check", "--format", "jsonl"])
        .arg(&fixtures)
        .env_remove("PHOTOCHECK_CONFIG")
        .output()
        .expect("run photocheck check");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "photocheck check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut now: Vec<(String, Value)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(normalise)
        .collect();
    now.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(now.len() >= 100, "only {} results", now.len());
    let golden_path = repo().join("tests/golden/check-fixtures.jsonl");
    if std::env::var_os("PHOTOCHECK_GOLDEN_UPDATE").is_some() {
        let text: String = now
            .iter()
            .map(|(_, v)| format!("{}\n", serde_json::to_string(v).unwrap()))
            .collect();
        std::fs::write(&golden_path, text).unwrap();
    }
    let golden: Vec<(String, Value)> = std::fs::read_to_string(&golden_path)
        .expect("tests/golden/check-fixtures.jsonl")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["source"].as_str().unwrap().to_owned(), v)
        })
        .collect();
    let names = |v: &[(String, Value)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&now), names(&golden), "the set of fixtures changed");
    let mut diffs = Vec::new();
    for ((name, a), (_, b)) in now.iter().zip(&golden) {
        same(a, b, name, &mut diffs);
    }
    assert!(
        diffs.is_empty(),
        "{} differences from the golden output:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
