//! Shared harness of the integration tests: the real engine (installed by
//! `photocheck models fetch`, as `scripts/test.sh` does) and the labelled fixtures in
//! `../shared/fixtures`.

use photocheck_engine::Engine;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The fixtures folder (`<repo>/../shared/fixtures`), or `PHOTOCHECK_FIXTURES`.
pub fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PHOTOCHECK_FIXTURES") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

/// One line of `expected.jsonl`.
#[derive(Debug, Clone, Deserialize)]
pub struct Expected {
    /// File name in the fixtures folder.
    pub file: String,
    /// Category (`pass`, `geometry`, …).
    pub category: String,
    /// `pass` or `fail`.
    pub expect_verdict: String,
    /// Codes that must fail.
    #[serde(default)]
    pub must_fail: Vec<String>,
    /// At least one of these must fail.
    #[serde(default)]
    pub must_fail_any: Vec<String>,
    /// 1 or 2.
    pub tier: u8,
    /// How the case was made, with measured geometry.
    #[serde(default)]
    pub params: serde_json::Value,
}

/// Every fixture with its expectation.
pub fn expectations() -> Vec<Expected> {
    let path = fixtures_dir().join("expected.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid expected.jsonl line"))
        .collect()
}

/// The fixture's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The engine, started once per test binary from the default installation.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let config = photocheck_config::Config::default();
        let data = photocheck::data_dir_from_env();
        photocheck::start_engine(&config, &data)
            .unwrap_or_else(|e| panic!("engine not installed ({e:#}); run scripts/test.sh"))
    })
}
