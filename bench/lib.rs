//! Shared set-up of the benchmarks: the installed engine and the fixture photos.
//!
//! Run `cargo bench -p photocheck-bench` (after `photocheck models fetch`). Every figure is
//! single-threaded: the engine runs one photo on one core with one ONNX intra-op thread, so
//! photos/s here is photos per core; a worker scales by running one photo per core.

use photocheck_engine::Engine;
use std::path::PathBuf;

/// The fixtures folder (`PHOTOCHECK_FIXTURES`, else `<repo>/../shared/fixtures`).
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("PHOTOCHECK_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"))
}

/// Bytes of the fixtures whose names start with `prefix`, sorted by name.
pub fn photos(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".jpg"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(fixtures_dir().join(&n)).expect("readable fixture");
            (n, bytes)
        })
        .collect()
}

/// The engine from the default installation.
pub fn engine() -> Engine {
    let config = photocheck_config::Config::default();
    photocheck::start_engine(&config, &photocheck::data_dir_from_env())
        .expect("engine installed: run `photocheck models fetch`")
}
