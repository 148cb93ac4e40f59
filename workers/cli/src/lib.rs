//! The `photocheck` command line, as a library so tests and benches drive the same code the
//! binary runs. `main.rs` only parses arguments, installs logging and calls in here.

pub use photocheck_bench::engine_bench as bench;
pub use photocheck_bench::pipeline_bench as bench_pipeline;
pub mod check;
pub mod fetch;
pub mod fix;
pub mod service;

use photocheck_config::Config;
use photocheck_engine::{Engine, EngineConfig, EngineError};
use std::path::Path;

/// The data folder (`$XDG_DATA_HOME/photocheck`, else `~/.local/share/photocheck`), from the
/// process environment. Read once, by the binary.
pub use photocheck_config::data_dir_from_env;

/// The engine settings for this configuration: config keys, then `ORT_DYLIB_PATH`, then the
/// defaults under the data folder.
pub fn engine_config(config: &Config, data_dir: &Path) -> Result<EngineConfig, EngineError> {
    let env_dylib = photocheck_config::ort_dylib_from_env();
    EngineConfig::resolve(
        config.engine.models_dir.as_deref(),
        config.engine.ort_dylib.as_deref(),
        env_dylib.as_deref(),
        config.engine.intra_threads,
        data_dir,
    )
}

/// Where the usual CJK fonts are installed on Debian and Ubuntu (`fonts-wqy-microhei`,
/// `fonts-noto-cjk`, `fonts-wqy-zenhei`), in the order they are tried.
pub const LABEL_FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
];

/// The font for the annotated pictures' Chinese labels: `check.label_font` if set (an error if
/// it cannot be used), else the first of [`LABEL_FONTS`] that loads; `Ok(None)` when none is
/// installed (the pictures then carry ASCII labels).
pub fn label_font(
    config: &Config,
) -> anyhow::Result<Option<photocheck_engine::annotate::LabelFont>> {
    use anyhow::Context;
    use photocheck_engine::annotate::LabelFont;
    if let Some(path) = &config.check.label_font {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read check.label_font {}", path.display()))?;
        let font = LabelFont::from_bytes(bytes)
            .with_context(|| format!("check.label_font {}", path.display()))?;
        return Ok(Some(font));
    }
    Ok(LABEL_FONTS
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .find_map(|b| LabelFont::from_bytes(b).ok()))
}

/// Starts the engine, turning a missing installation into an actionable message.
pub fn start_engine(config: &Config, data_dir: &Path) -> anyhow::Result<Engine> {
    let cfg = engine_config(config, data_dir)?;
    Engine::new(&cfg).map_err(|e| {
        let hint = match e {
            EngineError::RuntimeMissing { .. }
            | EngineError::ModelMissing { .. }
            | EngineError::ModelChecksum { .. } => {
                "\n  fix: run `photocheck models fetch` (installs the ONNX Runtime library and the models)"
            }
            _ => "",
        };
        anyhow::anyhow!("[{}] {e}{hint}", e.code())
    })
}

/// The engine as the worker's [`photocheck_pipeline::Checker`] (the pipeline crate does not
/// depend on the engine; this binary's library joins them).
pub struct EngineChecker(pub std::sync::Arc<Engine>);

impl photocheck_pipeline::Checker for EngineChecker {
    fn check(
        &self,
        bytes: &[u8],
        profile: &str,
    ) -> Result<photocheck_types::CheckResult, photocheck_pipeline::JobError> {
        let profile = photocheck_engine::Profile::by_name(profile)
            .ok_or_else(|| photocheck_pipeline::JobError::UnknownProfile(profile.to_owned()))?;
        self.0
            .check(bytes, &profile)
            .map_err(|e| photocheck_pipeline::JobError::Engine {
                code: e.code(),
                message: e.to_string(),
                retryable: e.is_retryable(),
            })
    }

    fn info(&self) -> photocheck_types::EngineInfo {
        self.0.info().clone()
    }

    fn fix(
        &self,
        bytes: &[u8],
        profile: &str,
    ) -> Result<photocheck_pipeline::Fixed, photocheck_pipeline::JobError> {
        use photocheck_engine::fix::FixOutcome;
        use photocheck_types::{FixInfo, FixReason, Status};
        let profile = photocheck_engine::Profile::by_name(profile)
            .ok_or_else(|| photocheck_pipeline::JobError::UnknownProfile(profile.to_owned()))?;
        let report =
            self.0
                .fix(bytes, &profile)
                .map_err(|e| photocheck_pipeline::JobError::Engine {
                    code: e.code(),
                    message: e.to_string(),
                    retryable: e.is_retryable(),
                })?;
        let (info, jpeg) = match report.outcome {
            FixOutcome::Fixed {
                jpeg,
                after,
                changes,
            } => (
                FixInfo {
                    status: "fixed".into(),
                    key: None,
                    verdict: Some(after.verdict),
                    changes,
                    reasons: Vec::new(),
                    failed: after
                        .checks
                        .iter()
                        .filter(|c| c.status == Status::Fail)
                        .map(|c| c.code)
                        .collect(),
                },
                Some(jpeg),
            ),
            FixOutcome::Refused { reasons } => (
                FixInfo {
                    status: "refused".into(),
                    key: None,
                    verdict: None,
                    changes: Vec::new(),
                    reasons: reasons
                        .into_iter()
                        .map(|(code, message)| FixReason { code, message })
                        .collect(),
                    failed: Vec::new(),
                },
                None,
            ),
        };
        Ok(photocheck_pipeline::Fixed {
            result: report.before,
            info,
            jpeg,
        })
    }
}
