//! Every tier-1 fixture gets its expected verdict and fails with its own check codes; every
//! `pass` fixture passes, whatever the subject's skin tone. Tier-2 cases (smiles) belong to the
//! subject-checks issue and are only reported here.

use photocheck_engine::Profile;
use photocheck_tests::{engine, expectations, fixture};
use photocheck_types::{CheckCode, Status, Verdict};

fn failed(r: &photocheck_types::CheckResult) -> Vec<String> {
    r.failed_codes()
        .iter()
        .map(|c| c.as_str().to_string())
        .collect()
}

#[test]
fn every_tier1_fixture_matches_its_expectation() {
    let profile = Profile::ga461();
    let mut mismatches = Vec::new();
    let cases: Vec<_> = expectations().into_iter().filter(|e| e.tier == 1).collect();
    assert!(
        cases.len() >= 90,
        "expected the full fixture set, found {}",
        cases.len()
    );
    for e in &cases {
        let r = engine()
            .check(&fixture(&e.file), &profile)
            .expect("engine runs");
        let f = failed(&r);
        let mut problems = Vec::new();
        if r.verdict.as_str() != e.expect_verdict {
            problems.push(format!(
                "verdict {} (want {})",
                r.verdict.as_str(),
                e.expect_verdict
            ));
        }
        for code in &e.must_fail {
            if !f.contains(code) {
                problems.push(format!("{code} did not fail"));
            }
        }
        if !e.must_fail_any.is_empty() && !e.must_fail_any.iter().any(|c| f.contains(c)) {
            problems.push(format!("none of {:?} failed", e.must_fail_any));
        }
        if !problems.is_empty() {
            mismatches.push(format!(
                "{}: {} (failed: {f:?})",
                e.file,
                problems.join("; ")
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} tier-1 fixtures wrong:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn good_photos_pass_with_every_check_and_margin_to_the_limits() {
    let profile = Profile::ga461();
    let good: Vec<_> = expectations()
        .into_iter()
        .filter(|e| e.category == "pass")
        .collect();
    assert_eq!(good.len(), 20);
    for e in good {
        let r = engine().check(&fixture(&e.file), &profile).unwrap();
        assert_eq!(r.verdict, Verdict::Pass, "{}: {:?}", e.file, failed(&r));
        // Nothing skipped on a good photo: every check was actually assessed.
        for c in &r.checks {
            assert_ne!(
                c.status,
                Status::Skipped,
                "{}: {} skipped ({})",
                e.file,
                c.code,
                c.message
            );
        }
    }
}

#[test]
fn measured_geometry_agrees_with_the_ground_truth() {
    // params hold the geometry measured when the fixtures were made (FaceMesh 234–454 width,
    // alpha-matte crown, iris-centre eyes). Compare on every London photo of standard size.
    let profile = Profile::ga461();
    let mut width_err = Vec::new();
    let mut crown_err = Vec::new();
    let mut eye_err = Vec::new();
    for e in expectations() {
        let p = &e.params;
        let (Some(fw), Some(eyes)) = (p["face_width"].as_f64(), p["eyes"].as_array()) else {
            continue;
        };
        if !matches!(
            e.category.as_str(),
            "pass" | "geometry" | "background" | "subject"
        ) {
            continue;
        }
        let r = engine().check(&fixture(&e.file), &profile).unwrap();
        let Some(face) = r.face else { continue };
        let w = r
            .check(CheckCode::GeometryFaceWidth)
            .and_then(|c| c.value.as_ref())
            .and_then(|v| v.as_f64());
        if let Some(w) = w {
            width_err.push((w - fw).abs());
        }
        if let (Some(c), Some(gt)) = (
            r.check(CheckCode::GeometryCrown)
                .and_then(|c| c.value.as_ref())
                .and_then(|v| v.as_f64()),
            p["crown_y"].as_f64(),
        ) {
            if gt > 0.0 && e.category == "pass" {
                crown_err.push((c - gt).abs());
            }
        }
        let gl = eyes[0].as_array().unwrap();
        let dx = f64::from(face.landmarks.left_eye[0]) - gl[0].as_f64().unwrap();
        let dy = f64::from(face.landmarks.left_eye[1]) - gl[1].as_f64().unwrap();
        eye_err.push(dx.hypot(dy));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    assert!(width_err.len() >= 40, "{} widths", width_err.len());
    assert!(
        mean(&width_err) < 4.0 && max(&width_err) < 9.0,
        "face width error mean {:.1} max {:.1}",
        mean(&width_err),
        max(&width_err)
    );
    assert!(
        max(&crown_err) <= 3.0,
        "crown error max {:.1}",
        max(&crown_err)
    );
    assert!(
        mean(&eye_err) < 4.0 && max(&eye_err) < 8.0,
        "eye error mean {:.1} max {:.1}",
        mean(&eye_err),
        max(&eye_err)
    );
}

#[test]
fn tier2_cases_are_reported_not_required() {
    // Smiles are the subject-checks issue's; here they must at least be checked without error
    // and keep their tier-1 expectations (a coloured backdrop still fails background.color).
    let profile = Profile::ga461();
    for e in expectations().into_iter().filter(|e| e.tier == 2) {
        let r = engine().check(&fixture(&e.file), &profile).unwrap();
        let f = failed(&r);
        for code in e.must_fail.iter().filter(|c| {
            !c.starts_with("face.") && !c.starts_with("pose.y") && !c.starts_with("pose.p")
        }) {
            assert!(f.contains(code), "{}: {code} should fail", e.file);
        }
    }
}
