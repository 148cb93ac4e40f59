//! Loading ONNX Runtime (from the shared library the project installs) and the model files.

use crate::manifest::Entry;
use crate::EngineError;
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// ONNX Runtime can be loaded once per process; the first successful path wins.
static ENVIRONMENT: OnceLock<Result<(PathBuf, Environment), String>> = OnceLock::new();

/// The loaded runtime library and its environment.
#[derive(Clone)]
pub struct Runtime {
    env: Environment,
    intra_threads: usize,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("intra_threads", &self.intra_threads)
            .finish()
    }
}

impl Runtime {
    /// Loads `libonnxruntime` from `dylib` (once per process).
    pub fn load(dylib: &Path, intra_threads: usize) -> Result<Runtime, EngineError> {
        if !dylib.is_file() {
            return Err(EngineError::RuntimeMissing {
                path: dylib.to_path_buf(),
            });
        }
        let loaded = ENVIRONMENT.get_or_init(|| {
            let builder = ort::init_from(dylib).map_err(|e| e.to_string())?;
            let env = builder
                .with_name("photocheck")
                .build()
                .map_err(|e| e.to_string())?;
            Ok((dylib.to_path_buf(), env))
        });
        match loaded {
            Ok((_, env)) => Ok(Runtime {
                env: env.clone(),
                intra_threads: intra_threads.max(1),
            }),
            Err(reason) => Err(EngineError::RuntimeLoad {
                path: dylib.to_path_buf(),
                reason: reason.clone(),
            }),
        }
    }

    /// A new session for `model` (one per thread).
    pub fn session(&self, model: &LoadedModel) -> Result<Session, EngineError> {
        let fail = |e: ort::Error| EngineError::Inference {
            model: model.entry.name.clone(),
            reason: e.to_string(),
        };
        // The builder's error type carries the builder back; convert each step to ort::Error.
        let builder = Session::builder(&self.env).map_err(fail)?;
        let builder = builder
            .with_intra_threads(self.intra_threads)
            .map_err(|e| fail(e.into()))?;
        let builder = builder.with_inter_threads(1).map_err(|e| fail(e.into()))?;
        let mut builder = builder
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| fail(e.into()))?;
        builder.commit_from_memory(&model.bytes).map_err(fail)
    }
}

/// A model file read into memory and checked against the manifest.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// Its manifest entry.
    pub entry: Entry,
    /// The ONNX bytes.
    pub bytes: std::sync::Arc<Vec<u8>>,
}

impl LoadedModel {
    /// Reads `dir/<entry.name>` and checks its sha256.
    pub fn load(dir: &Path, entry: &Entry) -> Result<LoadedModel, EngineError> {
        let path = dir.join(&entry.name);
        if !path.is_file() {
            return Err(EngineError::ModelMissing {
                name: entry.name.clone(),
                path,
            });
        }
        let bytes = std::fs::read(&path).map_err(|source| EngineError::Io {
            path: path.clone(),
            source,
        })?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != entry.sha256 {
            return Err(EngineError::ModelChecksum {
                name: entry.name.clone(),
                path,
                expected: entry.sha256.clone(),
                actual,
            });
        }
        Ok(LoadedModel {
            entry: entry.clone(),
            bytes: std::sync::Arc::new(bytes),
        })
    }
}

/// Extracts a float output by name, as a flat slice with its shape.
pub(crate) fn output<'a>(
    outputs: &'a ort::session::SessionOutputs<'_>,
    name: &str,
    model: &str,
) -> Result<&'a [f32], EngineError> {
    let value = outputs.get(name).ok_or_else(|| EngineError::ModelOutput {
        model: model.into(),
        reason: format!("no output {name}"),
    })?;
    let (_, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| EngineError::ModelOutput {
            model: model.into(),
            reason: e.to_string(),
        })?;
    Ok(data)
}

/// Runs `session` on one float NHWC tensor `[1, side, side, 3]` named `input`, reporting a
/// failure as an inference error of `model`. Every model here takes one such tensor.
pub(crate) fn run_square<'s>(
    session: &'s mut Session,
    model: &str,
    input: &str,
    side: usize,
    data: &[f32],
) -> Result<ort::session::SessionOutputs<'s>, EngineError> {
    let fail = |e: ort::Error| EngineError::Inference {
        model: model.to_string(),
        reason: e.to_string(),
    };
    let tensor = TensorRef::from_array_view(([1usize, side, side, 3], data)).map_err(fail)?;
    session.run(ort::inputs![input => tensor]).map_err(fail)
}
