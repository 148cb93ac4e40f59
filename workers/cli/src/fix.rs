//! `photocheck fix`: makes compliant photos from captures, in parallel, and reports per photo
//! what was changed and the new verdict, or why it cannot be fixed.

use crate::check::{output_paths, Format};
use photocheck_engine::annotate::LabelFont;
use photocheck_engine::fix::{contact_sheet, FixOutcome, FixReport};
use photocheck_engine::{Engine, Profile};
use photocheck_types::Verdict;
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How to run `fix`.
#[derive(Debug, Clone)]
pub struct FixOptions<'a> {
    /// Profile to fix to.
    pub profile: &'a Profile,
    /// Folder for the fixed photos (`<stem>.jpg`, keeping the relative folders).
    pub out: &'a Path,
    /// Folder for the before/after sheets (`<stem>.fix.png`), if wanted.
    pub annotate: Option<&'a Path>,
    /// Font for the sheets' Chinese labels.
    pub label_font: Option<&'a LabelFont>,
    /// `table` or `jsonl` (`csv` is read as `table`).
    pub format: Format,
    /// Photos in parallel.
    pub jobs: usize,
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FixSummary {
    /// Photos given.
    pub total: usize,
    /// Made and passing every check.
    pub fixed: usize,
    /// Made, but the new photo still does not pass.
    pub still_failing: usize,
    /// Refused (the reasons are printed).
    pub refused: usize,
    /// Could not be processed (unreadable file, system error).
    pub errors: usize,
}

enum Done {
    Report(Box<FixReport>, Option<PathBuf>),
    Error(String),
}

fn one(
    engine: &Engine,
    file: &Path,
    out: &Path,
    sheet: Option<&Path>,
    opts: &FixOptions<'_>,
) -> Done {
    let data = match std::fs::read(file) {
        Ok(d) => d,
        Err(e) => return Done::Error(format!("cannot read: {e}")),
    };
    let report = match engine.fix(&data, opts.profile) {
        Ok(r) => r,
        Err(e) => return Done::Error(format!("[{}] {e}", e.code())),
    };
    let FixOutcome::Fixed { jpeg, .. } = &report.outcome else {
        return Done::Report(Box::new(report), None);
    };
    if let Some(parent) = out.parent() {
        if let Err(e) = std::fs::create_dir_all(parent) {
            return Done::Error(format!("cannot create {}: {e}", parent.display()));
        }
    }
    if let Err(e) = std::fs::write(out, jpeg) {
        return Done::Error(format!("cannot write {}: {e}", out.display()));
    }
    if let Some(sheet) = sheet {
        let pictures = engine
            .analyze(&data, opts.profile)
            .ok()
            .zip(engine.analyze(jpeg, opts.profile).ok())
            .and_then(|(a, b)| {
                Some((
                    photocheck_engine::annotate::render(&a, opts.profile, opts.label_font)?,
                    photocheck_engine::annotate::render(&b, opts.profile, opts.label_font)?,
                ))
            });
        if let Some((before, after)) = pictures {
            let written = sheet
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    contact_sheet(&before, &after)
                        .save_with_format(sheet, image::ImageFormat::Png)
                        .map_err(std::io::Error::other)
                });
            if let Err(e) = written {
                tracing::warn!(error = %e, "cannot write the before/after sheet");
            }
        }
    }
    Done::Report(Box::new(report), Some(out.to_path_buf()))
}

/// Fixes `files`, writing the new photos under `opts.out` and one report per photo to `w`, in
/// input order.
pub fn run(
    engine: &Engine,
    files: &[PathBuf],
    opts: &FixOptions<'_>,
    w: &mut dyn Write,
) -> anyhow::Result<FixSummary> {
    let outs = output_paths(files, opts.out, ".jpg");
    let sheets = opts
        .annotate
        .map(|dir| output_paths(files, dir, ".fix.png"));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()?;
    let done: Vec<Done> = pool.install(|| {
        files
            .par_iter()
            .enumerate()
            .map(|(i, f)| {
                let sheet = sheets.as_ref().map(|s| s[i].as_path());
                one(engine, f, &outs[i], sheet, opts)
            })
            .collect()
    });
    let mut summary = FixSummary {
        total: files.len(),
        ..FixSummary::default()
    };
    for (file, done) in files.iter().zip(done) {
        let source = file.display().to_string();
        match done {
            Done::Error(e) => {
                summary.errors += 1;
                match opts.format {
                    Format::Jsonl => writeln!(
                        w,
                        "{}",
                        serde_json::json!({"source": source, "status": "error", "error": e})
                    )?,
                    _ => writeln!(w, "错误     {source}: {e}")?,
                }
            }
            Done::Report(report, output) => match &report.outcome {
                FixOutcome::Fixed { after, changes, .. } => {
                    let passes = after.verdict == Verdict::Pass;
                    if passes {
                        summary.fixed += 1;
                    } else {
                        summary.still_failing += 1;
                    }
                    let output = output.map(|p| p.display().to_string()).unwrap_or_default();
                    match opts.format {
                        Format::Jsonl => writeln!(
                            w,
                            "{}",
                            serde_json::json!({"source": source, "status": "fixed",
                                "output": output, "before": report.before.verdict,
                                "changes": changes, "after": after})
                        )?,
                        _ => {
                            let unchanged = changes
                                .iter()
                                .all(|c| c == photocheck_engine::fix::UNCHANGED);
                            let head = if passes && unchanged {
                                "无需修正 pass"
                            } else if passes {
                                "已修正 pass"
                            } else {
                                "修正后仍不合格"
                            };
                            writeln!(w, "{head}  {source} → {output}")?;
                            for c in changes {
                                writeln!(w, "  · {c}")?;
                            }
                            for c in after.checks.iter().filter(|c| {
                                c.status == photocheck_types::Status::Fail || c.uncertain
                            }) {
                                writeln!(w, "  ✗ {:<24} {}", c.code.as_str(), c.message)?;
                            }
                        }
                    }
                }
                FixOutcome::Refused { reasons } => {
                    summary.refused += 1;
                    match opts.format {
                        Format::Jsonl => writeln!(
                            w,
                            "{}",
                            serde_json::json!({"source": source, "status": "refused",
                                "before": report.before.verdict,
                                "reasons": reasons.iter().map(|(c, m)| serde_json::json!({"code": c, "message": m})).collect::<Vec<_>>()})
                        )?,
                        _ => {
                            writeln!(w, "无法修正  {source}")?;
                            for (code, message) in reasons {
                                writeln!(w, "  ✗ {:<24} {message}", code.as_str())?;
                            }
                        }
                    }
                }
            },
        }
    }
    Ok(summary)
}
