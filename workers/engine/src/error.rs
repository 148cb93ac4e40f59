//! Errors of the engine layer. A bad photo is never an error (it is a `fail` result); these are
//! system problems: the runtime library or a model is missing or broken.

use std::path::PathBuf;

/// Why the engine could not start or run a model.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The ONNX Runtime shared library was not found.
    #[error("ONNX Runtime library not found at {path}; run `photocheck models fetch` (installs it), or set engine.ort_dylib / ORT_DYLIB_PATH")]
    RuntimeMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The ONNX Runtime library exists but could not be loaded.
    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    RuntimeLoad {
        /// The library path.
        path: PathBuf,
        /// What the loader said.
        reason: String,
    },
    /// A model file is missing.
    #[error("model {name} not found at {path}; run `photocheck models fetch`")]
    ModelMissing {
        /// Model name from the manifest.
        name: String,
        /// Expected location.
        path: PathBuf,
    },
    /// A model file's sha256 does not match the manifest.
    #[error("model {name} at {path} has sha256 {actual}, expected {expected}; run `photocheck models fetch` again")]
    ModelChecksum {
        /// Model name.
        name: String,
        /// Its path.
        path: PathBuf,
        /// Manifest sha256.
        expected: String,
        /// Actual sha256.
        actual: String,
    },
    /// ONNX Runtime rejected a model or failed while running it.
    #[error("ONNX Runtime error in {model}: {reason}")]
    Inference {
        /// Model name.
        model: String,
        /// What ONNX Runtime said.
        reason: String,
    },
    /// A model produced output of an unexpected shape.
    #[error("model {model} returned unexpected output: {reason}")]
    ModelOutput {
        /// Model name.
        model: String,
        /// What was wrong.
        reason: String,
    },
    /// The bundled model manifest could not be read.
    #[error("model manifest is invalid: {0}")]
    Manifest(String),
    /// Reading a model file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A bug: the engine panicked on this input. The photo is not at fault.
    #[error("internal error while checking the photo: {0}")]
    Panic(String),
    /// An unknown profile name.
    #[error("unknown profile {0:?} (known: ga461, icao)")]
    UnknownProfile(String),
    /// `fix` could not make its photo (decoding the original again or encoding the new one
    /// failed); the photo's own defects are a refusal, never this.
    #[error("cannot make the fixed photo: {0}")]
    Fix(String),
}

impl EngineError {
    /// Stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::RuntimeMissing { .. } => "engine.runtime_missing",
            EngineError::RuntimeLoad { .. } => "engine.runtime_load",
            EngineError::ModelMissing { .. } => "engine.model_missing",
            EngineError::ModelChecksum { .. } => "engine.model_checksum",
            EngineError::Inference { .. } => "engine.inference",
            EngineError::ModelOutput { .. } => "engine.model_output",
            EngineError::Manifest(_) => "engine.manifest",
            EngineError::Io { .. } => "engine.io",
            EngineError::Panic(_) => "engine.panic",
            EngineError::UnknownProfile(_) => "engine.unknown_profile",
            EngineError::Fix(_) => "engine.fix",
        }
    }

    /// Whether trying again later could succeed. Engine errors are configuration or installation
    /// problems, except an inference failure, which may be transient (memory pressure).
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::Inference { .. } => true,
            EngineError::RuntimeMissing { .. }
            | EngineError::RuntimeLoad { .. }
            | EngineError::ModelMissing { .. }
            | EngineError::ModelChecksum { .. }
            | EngineError::ModelOutput { .. }
            | EngineError::Manifest(_)
            | EngineError::Io { .. }
            | EngineError::Panic(_)
            | EngineError::UnknownProfile(_)
            | EngineError::Fix(_) => false,
        }
    }
}
