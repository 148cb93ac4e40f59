//! `photocheck check`: checks local files and folders in parallel, printing results in input
//! order.

use photocheck_engine::annotate::LabelFont;
use photocheck_engine::{Engine, EngineError, Profile};
use photocheck_types::{CheckCode, CheckResult, Status, Verdict};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One result object (JSON) per line.
    Jsonl,
    /// One row per photo: verdict, failed codes, each check's status.
    Csv,
    /// A human-readable table with the clerk's messages.
    Table,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jsonl" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            "table" => Ok(Format::Table),
            other => Err(format!("unknown format {other:?} (jsonl, csv, table)")),
        }
    }
}

/// File extensions picked up when walking a folder (files named explicitly are always checked).
const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "webp", "bmp", "gif", "tif", "tiff",
];

/// Expands files and folders (recursively, sorted) into the list of files to check.
pub fn expand(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Checks one file, writing its annotated picture to `annotate` if given (Chinese labels with
/// `font`). A file that cannot
/// be read (permissions, an I/O error) is a photo that fails `file.decodable` (CONTRACT §1),
/// with the reason it could not be read rather than as an empty file.
pub fn check_file(
    engine: &Engine,
    path: &Path,
    profile: &Profile,
    annotate: Option<&Path>,
    font: Option<&LabelFont>,
) -> Result<CheckResult, EngineError> {
    let (data, unreadable) = match std::fs::read(path) {
        Ok(data) => (data, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let mut result = match annotate {
        Some(out) if unreadable.is_none() => {
            let analysis = engine.analyze(&data, profile)?;
            if let Err(e) = photocheck_engine::annotate::write(&analysis, profile, font, out) {
                tracing::warn!(error = %e, "cannot write the annotated picture");
            }
            analysis.result
        }
        _ => engine.check(&data, profile)?,
    };
    if let Some(e) = unreadable {
        if let Some(c) = result
            .checks
            .iter_mut()
            .find(|c| c.code == CheckCode::FileDecodable)
        {
            c.message = format!(
                "无法读取照片文件（{}），请检查文件权限或存储设备后重试",
                read_error_text(&e)
            );
            c.value = Some(serde_json::Value::String(e.to_string()));
        }
    }
    result.source = Some(path.display().to_string());
    Ok(result)
}

/// What went wrong reading a file, for the clerk.
fn read_error_text(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "没有读取权限",
        std::io::ErrorKind::NotFound => "文件不存在或已被移走",
        std::io::ErrorKind::IsADirectory => "这是一个文件夹",
        _ => "读取出错",
    }
}

/// Where the annotated picture of each of `files` goes in `dir`: `<stem>.annotated.png` under
/// the file's folder relative to the folder all the files share, so `a/x.jpg` and `b/x.jpg`
/// get `a/x.annotated.png` and `b/x.annotated.png` (one folder in: flat, as before).
pub fn annotated_paths(files: &[PathBuf], dir: &Path) -> Vec<PathBuf> {
    output_paths(files, dir, ".annotated.png")
}

/// Where a file made from each of `files` goes in `dir`: `<stem><suffix>` under the file's
/// folder relative to the folder all the files share (see [`annotated_paths`]).
pub fn output_paths(files: &[PathBuf], dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let parents: Vec<PathBuf> = files
        .iter()
        .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()))
        .map(|f| f.parent().map(Path::to_path_buf).unwrap_or_default())
        .collect();
    let mut common = parents.first().cloned().unwrap_or_default();
    for p in &parents[1.min(parents.len())..] {
        while !p.starts_with(&common) {
            if !common.pop() {
                break;
            }
        }
    }
    files
        .iter()
        .zip(&parents)
        .map(|(f, parent)| {
            let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("photo");
            let rel = parent.strip_prefix(&common).unwrap_or(Path::new(""));
            dir.join(rel).join(format!("{stem}{suffix}"))
        })
        .collect()
}

/// Summary of a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Photos checked.
    pub total: usize,
    /// Photos that passed.
    pub passed: usize,
    /// Photos that failed.
    pub failed: usize,
    /// Photos needing review.
    pub review: usize,
    /// Photos the engine could not check (system errors).
    pub errors: usize,
}

/// How to run `check`.
#[derive(Debug, Clone)]
pub struct RunOptions<'a> {
    /// Profile to check against.
    pub profile: &'a Profile,
    /// Output format.
    pub format: Format,
    /// Photos checked in parallel.
    pub jobs: usize,
    /// Folder for annotated pictures, if wanted.
    pub annotate: Option<&'a Path>,
    /// Font for the pictures' Chinese labels (ASCII labels without one).
    pub label_font: Option<&'a LabelFont>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// Runs `check` over `files`, writing results to `out` in input order.
pub fn run(
    engine: &Engine,
    files: &[PathBuf],
    opts: &RunOptions<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<Summary> {
    let RunOptions {
        profile,
        format,
        jobs,
        annotate,
        label_font,
        progress,
    } = *opts;
    let annotated = match annotate {
        Some(dir) => {
            let paths = annotated_paths(files, dir);
            for parent in paths.iter().filter_map(|p| p.parent()) {
                std::fs::create_dir_all(parent)?;
            }
            Some(paths)
        }
        None => None,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("photocheck-check-{i}"))
        .build()?;
    let bar = progress.then(|| {
        let b = indicatif::ProgressBar::new(files.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let mut summary = Summary::default();
    if format == Format::Csv {
        write_csv_header(out, profile)?;
    }
    std::thread::scope(|scope| -> anyhow::Result<()> {
        scope.spawn(|| {
            pool.install(|| {
                files
                    .par_iter()
                    .enumerate()
                    .for_each_with(tx, |tx, (i, path)| {
                        let out = annotated.as_ref().map(|a| a[i].as_path());
                        let r = check_file(engine, path, profile, out, label_font);
                        let _ = tx.send((i, r));
                    });
            });
        });
        // Print in input order as results arrive.
        let mut pending = BTreeMap::new();
        let mut next = 0;
        for (i, r) in rx {
            pending.insert(i, r);
            while let Some(r) = pending.remove(&next) {
                if let Some(b) = &bar {
                    b.inc(1);
                }
                summary.total += 1;
                match r {
                    Ok(result) => {
                        match result.verdict {
                            Verdict::Pass => summary.passed += 1,
                            Verdict::Fail => summary.failed += 1,
                            Verdict::Review => summary.review += 1,
                        }
                        write_result(out, &result, format)?;
                    }
                    Err(e) => {
                        summary.errors += 1;
                        tracing::error!(file = %files[next].display(), code = e.code(), error = %e, "photo could not be checked");
                    }
                }
                next += 1;
            }
        }
        Ok(())
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    out.flush()?;
    Ok(summary)
}

fn write_csv_header(out: &mut dyn Write, _profile: &Profile) -> std::io::Result<()> {
    let codes: Vec<&str> = CheckCode::ALL.iter().map(|c| c.as_str()).collect();
    writeln!(out, "source,verdict,failed,uncertain,{}", codes.join(","))
}

/// A check's measured value with its unit and the profile's limits, for the table: `11.2 deg
/// (-13–13)`; empty when the check carries no number.
fn value_text(c: &photocheck_types::Check) -> String {
    let number = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    let Some(value) = c.value.as_ref().and_then(serde_json::Value::as_f64) else {
        return String::new();
    };
    let unit = c
        .unit
        .as_deref()
        .map(|u| format!(" {u}"))
        .unwrap_or_default();
    let range = match (c.min, c.max) {
        (Some(lo), Some(hi)) => format!(" (limits {}–{})", number(lo), number(hi)),
        (Some(lo), None) => format!(" (at least {})", number(lo)),
        (None, Some(hi)) => format!(" (at most {})", number(hi)),
        (None, None) => String::new(),
    };
    format!("{}{unit}{range}", number(value))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Warn => "warn",
        Status::Skipped => "skipped",
    }
}

/// Writes one result in the chosen format.
pub fn write_result(out: &mut dyn Write, r: &CheckResult, format: Format) -> std::io::Result<()> {
    match format {
        Format::Jsonl => {
            serde_json::to_writer(&mut *out, r)?;
            writeln!(out)
        }
        Format::Csv => {
            let failed: Vec<&str> = r.failed_codes().iter().map(|c| c.as_str()).collect();
            let uncertain: Vec<&str> = r
                .checks
                .iter()
                .filter(|c| c.uncertain)
                .map(|c| c.code.as_str())
                .collect();
            let statuses: Vec<&str> = CheckCode::ALL
                .iter()
                .map(|&c| r.check(c).map_or("", |c| status_name(c.status)))
                .collect();
            writeln!(
                out,
                "{},{},{},{},{}",
                csv_field(r.source.as_deref().unwrap_or("")),
                r.verdict.as_str(),
                failed.join(";"),
                uncertain.join(";"),
                statuses.join(",")
            )
        }
        Format::Table => {
            let mark = match r.verdict {
                Verdict::Pass => "通过 pass  ",
                Verdict::Fail => "不合格 fail",
                Verdict::Review => "复核 review",
            };
            writeln!(out, "{mark}  {}", r.source.as_deref().unwrap_or(""))?;
            // Failures, warnings, and every check that could not decide (the reason for a
            // `review`), with the value it measured and the limits it was held to.
            for c in &r.checks {
                let flag = match c.status {
                    Status::Fail => "  ✗",
                    _ if c.uncertain => "  ?",
                    Status::Warn => "  !",
                    _ => continue,
                };
                let value = value_text(c);
                if value.is_empty() {
                    writeln!(out, "{flag} {:<24} {}", c.code.as_str(), c.message)?;
                } else {
                    writeln!(out, "{flag} {:<24} {value}  {}", c.code.as_str(), c.message)?;
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_expand_recursively_sorted_and_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        for f in ["b.JPG", "a.jpg", "notes.txt", "sub/c.png"] {
            std::fs::write(d.join(f), b"x").unwrap();
        }
        let files = expand(&[d.to_path_buf(), d.join("notes.txt")]).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.strip_prefix(d).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.jpg", "b.JPG", "sub/c.png", "notes.txt"]);
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("a.jpg"), "a.jpg");
        assert_eq!(csv_field("a,b \"c\".jpg"), "\"a,b \"\"c\"\".jpg\"");
    }

    fn result_with(checks: Vec<photocheck_types::Check>) -> CheckResult {
        let mut r: CheckResult = serde_json::from_value(serde_json::json!({
            "profile": "ga461", "verdict": "pass", "checks": [],
            "engine": {"version": "test", "models": {}}, "timings_ms": {}
        }))
        .unwrap();
        r.verdict = Verdict::from_checks(&checks);
        r.checks = checks;
        r.source = Some("a.jpg".into());
        r
    }

    fn check_of(code: CheckCode, status: Status, uncertain: bool) -> photocheck_types::Check {
        serde_json::from_value(serde_json::json!({
            "code": code.as_str(), "status": status_name(status), "message": "说明",
            "value": 11.24, "min": -13.0, "max": 13.0, "unit": "deg", "uncertain": uncertain
        }))
        .unwrap()
    }

    #[test]
    fn a_review_shows_each_uncertain_check_with_its_value_in_table_and_csv() {
        let r = result_with(vec![
            check_of(CheckCode::PosePitch, Status::Pass, true),
            check_of(CheckCode::PoseYaw, Status::Pass, false),
        ]);
        assert_eq!(r.verdict, Verdict::Review);
        let mut table = Vec::new();
        write_result(&mut table, &r, Format::Table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("复核 review"), "{table}");
        assert!(
            table.contains("? pose.pitch") && table.contains("11.2 deg (limits -13–13)"),
            "{table}"
        );
        assert!(!table.contains("pose.yaw"), "{table}");
        let mut csv = Vec::new();
        write_result(&mut csv, &r, Format::Csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.starts_with("a.jpg,review,,pose.pitch,"), "{csv}");
    }

    #[test]
    fn annotated_pictures_of_same_named_files_do_not_collide() {
        let dir = Path::new("/out");
        let flat = annotated_paths(
            &[PathBuf::from("/in/x.jpg"), PathBuf::from("/in/y.jpg")],
            dir,
        );
        assert_eq!(
            flat,
            [
                PathBuf::from("/out/x.annotated.png"),
                PathBuf::from("/out/y.annotated.png")
            ]
        );
        let nested = annotated_paths(
            &[PathBuf::from("/in/a/x.jpg"), PathBuf::from("/in/b/x.jpg")],
            dir,
        );
        assert_eq!(
            nested,
            [
                PathBuf::from("/out/a/x.annotated.png"),
                PathBuf::from("/out/b/x.annotated.png")
            ]
        );
    }
}
