//! What the examples share: the engine settings of the default installation.
use photocheck_engine::EngineConfig;

/// The default installation (`photocheck models fetch`, under the data folder), and
/// `ORT_DYLIB_PATH` when set: what `photocheck` itself resolves with no config file.
pub fn installed() -> EngineConfig {
    let data = photocheck_config::data_dir_from_env();
    let env = photocheck_config::ort_dylib_from_env();
    EngineConfig::resolve(None, None, env.as_deref(), 1, &data).expect("the built-in manifest")
}
