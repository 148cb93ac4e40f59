//! The `photocheck` binary as a user runs it: output formats, input order, exit codes,
//! annotations and errors.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    std::env::var_os("PHOTOCHECK_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        })
}

fn photocheck(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_photocheck"))
        .args(args)
        .current_dir(cwd)
        .env_remove("PHOTOCHECK_CONFIG")
        .output()
        .expect("run photocheck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A folder with two good photos and two bad files, named so sorting gives a known order.
fn sample_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures();
    std::fs::copy(
        f.join("pass__pass_034_0.jpg"),
        dir.path().join("a_good.jpg"),
    )
    .unwrap();
    std::fs::copy(
        f.join("geometry__face_small_037_1.jpg"),
        dir.path().join("b_small.jpg"),
    )
    .unwrap();
    std::fs::write(dir.path().join("c_empty.jpg"), b"").unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::copy(
        f.join("pass__pass_099_0.jpg"),
        dir.path().join("d/e_good.jpeg"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"not a photo, not picked up").unwrap();
    dir
}

#[test]
fn jsonl_lists_each_photo_in_input_order_and_exits_1_on_failures() {
    let dir = sample_folder();
    let (code, out, err) = photocheck(
        &["check", "--format", "jsonl", "--jobs", "2", "."],
        dir.path(),
    );
    assert_eq!(code, 1, "stderr: {err}");
    let results: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sources: Vec<&str> = results
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        [
            "./a_good.jpg",
            "./b_small.jpg",
            "./c_empty.jpg",
            "./d/e_good.jpeg"
        ]
    );
    let verdicts: Vec<&str> = results
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["pass", "fail", "fail", "pass"]);
    // The contract's fields are present; no job id for local runs.
    let r = &results[0];
    assert!(r.get("id").is_none());
    assert_eq!(r["profile"], "ga461");
    assert!(r["engine"]["models"]["face_detector"]
        .as_str()
        .unwrap()
        .contains('@'));
    assert!(r["face"]["landmarks"]["left_eye"].is_array());
    let small = &results[1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "geometry.face_width")
        .unwrap()
        .clone();
    assert_eq!(small["status"], "fail");
    assert!(small["message"].as_str().unwrap().contains("头部偏小"));
}

#[test]
fn all_good_photos_exit_0_and_csv_has_a_header_row() {
    let f = fixtures();
    let good = [
        f.join("pass__pass_034_0.jpg"),
        f.join("pass__pass_172_1.jpg"),
    ];
    let args: Vec<&str> = ["check", "--format", "csv"]
        .into_iter()
        .chain(good.iter().map(|p| p.to_str().unwrap()))
        .collect();
    let (code, out, err) = photocheck(&args, &f);
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("source,verdict,failed,uncertain,file.decodable"));
    assert!(lines[1].contains(",pass,,"));
}

#[test]
fn table_output_shows_the_clerk_messages_and_a_summary() {
    let dir = sample_folder();
    let (code, out, _) = photocheck(&["check", "."], dir.path());
    assert_eq!(code, 1);
    assert!(out.contains("不合格 fail  ./b_small.jpg"));
    assert!(out.contains("geometry.face_width"));
    assert!(out.contains("4 photos: 2 pass, 2 fail, 0 review"));
}

#[test]
fn annotate_writes_a_picture_per_decodable_photo() {
    let dir = sample_folder();
    let ann = dir.path().join("ann");
    let (code, _, err) = photocheck(
        &[
            "check",
            "--format",
            "jsonl",
            "--annotate",
            "ann",
            "a_good.jpg",
            "b_small.jpg",
            "c_empty.jpg",
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    let img = image::open(ann.join("a_good.annotated.png")).unwrap();
    assert_eq!((img.width(), img.height()), (716, 882));
    assert!(ann.join("b_small.annotated.png").is_file());
    assert!(!ann.join("c_empty.annotated.png").exists());
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = photocheck(&["check", "--profile", "passport", "."], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("unknown profile"));
    let (code, _, err) = photocheck(&["check", "missing-folder"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"));
    let (code, _, _) = photocheck(&["check"], dir.path());
    assert_eq!(code, 2);
    // Models missing: exit 2 with the command that fixes it.
    std::fs::write(
        dir.path().join("photocheck.toml"),
        "[engine]\nmodels_dir = \"/nonexistent\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("a.jpg"), b"").unwrap();
    let (code, _, err) = photocheck(&["check", "a.jpg"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("photocheck models fetch"), "{err}");
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    // `serve` without tokens logs a warning at once; its stderr is a pipe here.
    let mut child = Command::new(env!("CARGO_BIN_EXE_photocheck"))
        .args(["--log", "info", "serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("PHOTOCHECK_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let first = std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stderr).read_line(&mut line);
        line
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !first.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = first.join().unwrap();
    assert!(line.contains("WARN"), "no log line: {line:?}");
    assert!(
        !line.contains('\u{1b}'),
        "ANSI escape in a piped log: {line:?}"
    );
}

#[test]
fn a_tuned_profile_file_changes_the_limits_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = fixtures().join("pass__pass_034_0.jpg");
    let built_in = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../profile/profiles/ga461.toml"),
    )
    .unwrap();
    // The same photo passes ga461 but fails a copy whose face width band starts above its face.
    let tuned = built_in.replacen(
        "[face_width_px]\nmin = 193.0",
        "[face_width_px]\nmin = 230.0",
        1,
    );
    assert_ne!(tuned, built_in, "the face width table moved in ga461.toml");
    std::fs::write(dir.path().join("tuned.toml"), tuned).unwrap();
    let photo = good.to_str().unwrap();
    let (code, _, _) = photocheck(&["check", "--format", "jsonl", photo], dir.path());
    assert_eq!(code, 0);
    let (code, out, _) = photocheck(
        &[
            "check",
            "--format",
            "jsonl",
            "--profile",
            "tuned.toml",
            photo,
        ],
        dir.path(),
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let width = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "geometry.face_width")
        .unwrap();
    assert_eq!(width["status"], "fail");
    assert_eq!(width["min"], 230.0);

    std::fs::write(dir.path().join("broken.toml"), "name = \"x\"\n").unwrap();
    let (code, _, err) = photocheck(&["check", "--profile", "broken.toml", photo], dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid profile"), "{err}");
}
