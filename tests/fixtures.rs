//! Every tier-1 fixture gets its expected verdict and fails with its own check codes; every
//! `pass` fixture passes, whatever the subject's skin tone. Tier-2 cases fail their own codes
//! (smiles with teeth the mouth or expression check, white tops `clothing.color`); the mesh's
//! pose is checked on real and transformed photos.

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
        // Nothing skipped on a good photo: every check was actually assessed, except the
        // clothing where the top is hardly in the frame (see the clothing test below).
        let hidden_top = top_fraction(&e) < HARDLY_IN_FRAME;
        for c in &r.checks {
            if c.code == CheckCode::ClothingColor && hidden_top {
                continue;
            }
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
    let mut width_signed = Vec::new();
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
            width_signed.push(w - fw);
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
    let width_err: Vec<f64> = width_signed.iter().map(|d| d.abs()).collect();
    assert!(width_err.len() >= 40, "{} widths", width_err.len());
    assert!(
        // The largest: a broad smile (subject__smile_099, +9.9 px), whose cheeks the mesh
        // places wider than the reference did.
        mean(&width_err) < 4.0 && max(&width_err) < 10.5,
        "face width error mean {:.1} max {:.1}",
        mean(&width_err),
        max(&width_err)
    );
    // No systematic error: the refined mesh is the model the ground truth was measured with.
    assert!(
        mean(&width_signed).abs() < 1.0,
        "face width reads {:+.2} px on average",
        mean(&width_signed)
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

/// A compliant face scaled to just inside either end of GA 461's face-width band (197 and
/// 217 px, 4 px from 193 and 221) keeps passing `geometry.face_width`, read within 5 px of its
/// true width (35 of these 40 within 3 px): the width is read by MediaPipe's refined (attention)
/// mesh, the fixtures' own definition. The plain mesh used before read 3 of the 40 over 221 px
/// (222.3–223.5) and 10 more than 3 px off.
#[test]
fn a_compliant_face_near_either_width_limit_keeps_passing() {
    let profile = Profile::ga461();
    let mut wrong = Vec::new();
    for e in expectations().into_iter().filter(|e| e.category == "pass") {
        let truth = e.params["face_width"].as_f64().unwrap();
        let mid = e.params["eye_mid"].as_array().unwrap();
        let (ex, ey) = (mid[0].as_f64().unwrap(), mid[1].as_f64().unwrap());
        let img = image::load_from_memory(&fixture(&e.file))
            .unwrap()
            .to_rgb8();
        for target in [197.0, 217.0] {
            // The whole photo scaled about the eye midpoint; where it no longer reaches the
            // canvas, its edge rows and columns run on (no seam for the damage checks).
            let k = target / truth;
            let (w, h) = (
                (f64::from(img.width()) * k).round() as u32,
                (f64::from(img.height()) * k).round() as u32,
            );
            let big = image::imageops::resize(&img, w, h, image::imageops::FilterType::Lanczos3);
            let (dx, dy) = (ex - ex * k, ey - ey * k);
            let canvas = image::RgbImage::from_fn(358, 441, |x, y| {
                let sx = (f64::from(x) - dx).round().clamp(0.0, f64::from(w - 1)) as u32;
                let sy = (f64::from(y) - dy).round().clamp(0.0, f64::from(h - 1)) as u32;
                *big.get_pixel(sx, sy)
            });
            let r = engine().check(&jpeg_q(&canvas, 92), &profile).unwrap();
            let c = r.check(CheckCode::GeometryFaceWidth).unwrap();
            let read = c.value.as_ref().and_then(|v| v.as_f64());
            let near = read.is_some_and(|r| (r - target).abs() <= 5.0);
            if c.status != Status::Pass || !near {
                wrong.push(format!(
                    "{} at {target}: read {read:?}, {:?}",
                    e.file, c.status
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Share of the image the top covers (`params.top.visible_fraction`), 0 where not recorded.
fn top_fraction(e: &photocheck_tests::Expected) -> f64 {
    e.params["top"]["visible_fraction"].as_f64().unwrap_or(0.0)
}

/// Below this share of the image the top is "hardly in the frame" (fixtures README).
const HARDLY_IN_FRAME: f64 = 0.015;

#[test]
fn clothing_is_judged_where_the_top_shows_white_tops_fail_and_dark_ones_pass_with_margin() {
    let profile = Profile::ga461();
    let cases: Vec<_> = expectations()
        .into_iter()
        .filter(|e| e.params["top"].is_object())
        .collect();
    let white: Vec<_> = cases
        .iter()
        .filter(|e| e.must_fail.iter().any(|c| c == "clothing.color"))
        .collect();
    assert!(white.len() >= 4, "{} white-top fixtures", white.len());
    assert!(cases.len() >= 24, "{} fixtures with a top", cases.len());
    let mut judged = 0;
    for e in &cases {
        let r = engine().check(&fixture(&e.file), &profile).unwrap();
        let c = r.check(CheckCode::ClothingColor).unwrap();
        let v = c.value.as_ref().and_then(|v| v.as_f64());
        if e.must_fail.iter().any(|x| x == "clothing.color") {
            assert_eq!(c.status, Status::Fail, "{}: {}", e.file, c.message);
            assert!(!c.uncertain, "{}: {v:?}", e.file);
            assert!(c.message.contains("深色"), "{}", c.message);
            continue;
        }
        // A dark top: never fails; judged whenever it covers a visible part of the image,
        // and then far from the limit (at most half of it).
        assert_ne!(c.status, Status::Fail, "{}: {}", e.file, c.message);
        if top_fraction(e) >= HARDLY_IN_FRAME {
            judged += 1;
            assert_eq!(c.status, Status::Pass, "{}: {}", e.file, c.message);
            let max = c.max.unwrap();
            assert!(v.unwrap() <= max / 2.0, "{}: {v:?} of {max}", e.file);
        }
    }
    assert!(judged >= 12, "only {judged} dark tops judged");
}

#[test]
fn every_tier2_fixture_fails_its_own_codes() {
    // Smiles with teeth fail face.mouth_closed or face.expression; white tops fail
    // clothing.color; each keeps its tier-1 expectations (a coloured backdrop still fails
    // background.color).
    let profile = Profile::ga461();
    let cases: Vec<_> = expectations().into_iter().filter(|e| e.tier == 2).collect();
    assert!(cases.len() >= 12, "{} tier-2 cases", cases.len());
    let mut wrong = Vec::new();
    for e in &cases {
        let r = engine().check(&fixture(&e.file), &profile).unwrap();
        let f = failed(&r);
        if r.verdict.as_str() != e.expect_verdict {
            wrong.push(format!("{}: verdict {}", e.file, r.verdict.as_str()));
        }
        for code in &e.must_fail {
            if !f.contains(code) {
                wrong.push(format!("{}: {code} did not fail", e.file));
            }
        }
        if !e.must_fail_any.is_empty() && !e.must_fail_any.iter().any(|c| f.contains(c)) {
            wrong.push(format!(
                "{}: none of {:?} failed (failed: {f:?})",
                e.file, e.must_fail_any
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn value(r: &photocheck_types::CheckResult, code: CheckCode) -> f64 {
    r.check(code)
        .and_then(|c| c.value.as_ref())
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("{code} has no value"))
}

fn jpeg(img: &image::RgbImage) -> Vec<u8> {
    jpeg_q(img, 95)
}

fn jpeg_q(img: &image::RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .unwrap();
    out
}

/// The compliant fixtures, decoded: (file name, pixels).
fn compliant_photos() -> Vec<(String, image::RgbImage)> {
    expectations()
        .into_iter()
        .filter(|e| e.category == "pass")
        .map(|e| {
            let img = image::load_from_memory(&fixture(&e.file))
                .unwrap()
                .to_rgb8();
            (e.file, img)
        })
        .collect()
}

/// `img` rotated by `deg` about its centre (nearest neighbour, white outside).
fn rotated(img: &image::RgbImage, deg: f32) -> image::RgbImage {
    let (w, h) = img.dimensions();
    let (s, c) = deg.to_radians().sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    image::RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        let (sx, sy) = (c * dx + s * dy + cx, -s * dx + c * dy + cy);
        if sx >= 0.0 && sy >= 0.0 && (sx as u32) < w && (sy as u32) < h {
            *img.get_pixel(sx as u32, sy as u32)
        } else {
            image::Rgb([255, 255, 255])
        }
    })
}

#[test]
fn mesh_pose_is_near_frontal_on_good_photos_and_follows_mirroring_and_rotation() {
    let profile = Profile::ga461();
    // The compliant photos face the camera: yaw within the mesh's stated ±3.5° (limit 5° less
    // its uncertainty), pitch within the per-person allowance (docs/checks.md).
    let mut most_turned = (0.0, String::new());
    for e in expectations().into_iter().filter(|e| e.category == "pass") {
        let r = engine().check(&fixture(&e.file), &profile).unwrap();
        let (yaw, pitch) = (
            value(&r, CheckCode::PoseYaw),
            value(&r, CheckCode::PosePitch),
        );
        assert!(yaw.abs() <= 3.5, "{}: yaw {yaw}", e.file);
        assert!(pitch.abs() <= 11.0, "{}: pitch {pitch}", e.file);
        if yaw < most_turned.0 {
            most_turned = (yaw, e.file.clone());
        }
    }
    // The most turned of them (yaw about -2.5°): its mirror image turns the other way by the
    // same amount, with the same pitch. The mesh model is not exactly mirror-symmetric: over
    // the 20 compliant fixtures, yaw + mirrored yaw is +0.4° on average (SD 1.1°, largest
    // 2.5°; docs/checks.md), hence 2.5°.
    let img = image::load_from_memory(&fixture(&most_turned.1))
        .unwrap()
        .to_rgb8();
    let r = engine().check(&jpeg(&img), &profile).unwrap();
    let m = engine()
        .check(&jpeg(&image::imageops::flip_horizontal(&img)), &profile)
        .unwrap();
    let (yaw, yaw_m) = (value(&r, CheckCode::PoseYaw), value(&m, CheckCode::PoseYaw));
    assert!(yaw < -1.5, "{}: yaw {yaw}", most_turned.1);
    assert!((yaw + yaw_m).abs() <= 2.5, "yaw {yaw}, mirrored {yaw_m}");
    assert!(yaw_m > 1.5, "mirrored yaw {yaw_m}");
    let (pitch, pitch_m) = (
        value(&r, CheckCode::PosePitch),
        value(&m, CheckCode::PosePitch),
    );
    assert!(
        (pitch - pitch_m).abs() <= 1.0,
        "pitch {pitch}, mirrored {pitch_m}"
    );
    // Rolled 15° in the image plane: roll follows, yaw and pitch do not move beyond the mesh's
    // own jitter (the 20 compliant photos turned so, nearest-neighbour: roll changes by
    // 14.4–15.4°, yaw by at most 2.2°, pitch by 1.2°; docs/checks.md), hence 2.5°.
    let t = engine()
        .check(&jpeg(&rotated(&img, 15.0)), &profile)
        .unwrap();
    let roll = value(&t, CheckCode::PoseRoll) - value(&r, CheckCode::PoseRoll);
    assert!((roll.abs() - 15.0).abs() <= 1.5, "roll changed by {roll}");
    let (yaw_t, pitch_t) = (
        value(&t, CheckCode::PoseYaw),
        value(&t, CheckCode::PosePitch),
    );
    assert!((yaw_t - yaw).abs() <= 2.5, "yaw {yaw}, rotated {yaw_t}");
    assert!(
        (pitch_t - pitch).abs() <= 2.5,
        "pitch {pitch}, rotated {pitch_t}"
    );
    eprintln!("yaw {yaw} mirrored {yaw_m} rotated {yaw_t}; pitch {pitch} mirrored {pitch_m} rotated {pitch_t}; roll change {roll}");
}

#[test]
fn the_icao_profile_checks_the_same_photo_with_its_own_limits() {
    let r = engine()
        .check(&fixture("pass__pass_034_0.jpg"), &Profile::icao())
        .unwrap();
    assert_eq!(r.profile, "icao");
    // Every code but engine.error, which only an engine that failed on the photo writes.
    assert_eq!(r.checks.len(), photocheck_types::CheckCode::ALL.len() - 1);
    // ICAO records no resolution requirement, and a 358×441 photo is narrower than 35:45.
    assert_eq!(
        r.check(CheckCode::ImageResolution).unwrap().status,
        Status::Pass
    );
    assert_eq!(
        r.check(CheckCode::ImageDimensions).unwrap().status,
        Status::Fail
    );
    // A GA 461 face is 58 % of the width at the cheeks alone: over ICAO's 4/7 (image width :
    // head width ≥ 7:4).
    let width = r.check(CheckCode::GeometryFaceWidth).unwrap();
    assert_eq!(width.status, Status::Fail, "{}", width.message);
    assert_eq!(width.max, Some(204.6));
    // The head's height is judged as a share of the image's, not by a crown band.
    assert_eq!(
        r.check(CheckCode::GeometryCrown).unwrap().unit.as_deref(),
        Some("%")
    );
}

/// A compliant photo captured at 4× the canvas (1432 × 1764) is checked on a reduced decode:
/// it fails only the file checks of its size, and its face is where the 358 × 441 photo's
/// face is, times 4, in the large photo's pixels.
#[test]
fn a_large_capture_is_checked_like_the_photo_it_shows() {
    let profile = Profile::ga461();
    let name = "pass__pass_094_0.jpg";
    let small = engine()
        .check(&fixture(name), &profile)
        .expect("engine runs");
    assert_eq!(small.verdict, Verdict::Pass);
    let img = image::load_from_memory(&fixture(name)).unwrap().to_rgb8();
    let big = image::imageops::resize(
        &img,
        358 * 4,
        441 * 4,
        image::imageops::FilterType::CatmullRom,
    );
    let mut bytes = Vec::new();
    big.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
        &mut bytes, 92,
    ))
    .unwrap();
    let r = engine().check(&bytes, &profile).expect("engine runs");
    let mut f = failed(&r);
    f.sort();
    // No dpi recorded; 4× the pixels and the bytes.
    for code in &f {
        assert!(
            ["image.dimensions", "image.resolution", "file.size"].contains(&code.as_str()),
            "the large capture also failed {code}: {f:?}"
        );
    }
    assert!(f.contains(&"image.dimensions".to_string()), "{f:?}");
    let (a, b) = (small.face.unwrap(), r.face.unwrap());
    for (p, q) in [
        (a.landmarks.left_eye, b.landmarks.left_eye),
        (a.landmarks.right_eye, b.landmarks.right_eye),
        (a.landmarks.nose, b.landmarks.nose),
    ] {
        let d = (p[0] * 4.0 - q[0]).hypot(p[1] * 4.0 - q[1]);
        assert!(d < 4.0 * 3.0, "point {p:?} ×4 vs {q:?}: {d:.1} px apart");
    }
    let width = |r: &photocheck_types::CheckResult| {
        r.checks
            .iter()
            .find(|c| c.code == CheckCode::GeometryFaceWidth)
            .and_then(|c| c.value.as_ref().and_then(|v| v.as_f64()))
            .expect("face width measured")
    };
    let (ws, wb) = (width(&small), width(&r));
    assert!((wb / ws - 4.0).abs() < 0.12, "face width {ws} vs {wb}");
}

/// Gaussian noise of `sigma` levels on every channel of every pixel (a fixed seed).
fn noised(img: &image::RgbImage, sigma: f32) -> image::RgbImage {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut out = img.clone();
    for v in out.iter_mut() {
        let g = (-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos();
        *v = (f64::from(*v) + g * f64::from(sigma))
            .round()
            .clamp(0.0, 255.0) as u8;
    }
    out
}

/// A compliant photo captured at 8× the canvas (2864 × 3528) is checked on a 1/8 decode, where
/// every 8 × 8 block is one pixel: sensor noise and JPEG blocking of the capture itself would
/// vanish there. They are measured on the face at the capture's own resolution instead, so
/// the noisy capture fails `quality.noise`, the capture compressed to blocks and saved again at
/// quality 95 fails `quality.compression`, and the clean capture fails neither (issue 21).
#[test]
fn a_large_capture_is_judged_on_its_own_noise_and_blocking() {
    let profile = Profile::ga461();
    let img = image::load_from_memory(&fixture("pass__pass_094_0.jpg"))
        .unwrap()
        .to_rgb8();
    let big = image::imageops::resize(
        &img,
        358 * 8,
        441 * 8,
        image::imageops::FilterType::Triangle,
    );
    let status = |bytes: &[u8], code: CheckCode| {
        let r = engine().check(bytes, &profile).expect("engine runs");
        let c = r.check(code).unwrap().clone();
        (c.status, c.value)
    };
    let clean = jpeg_q(&big, 92);
    for code in [CheckCode::QualityNoise, CheckCode::QualityCompression] {
        let (s, v) = status(&clean, code);
        assert_eq!(s, Status::Pass, "clean capture, {code}: {v:?}");
    }
    let (s, v) = status(&jpeg_q(&noised(&big, 12.0), 92), CheckCode::QualityNoise);
    assert_eq!(s, Status::Fail, "noise σ 12 at 8×: {v:?}");
    let blocky = image::load_from_memory(&jpeg_q(&big, 12))
        .unwrap()
        .to_rgb8();
    let (s, v) = status(&jpeg_q(&blocky, 95), CheckCode::QualityCompression);
    assert_eq!(
        s,
        Status::Fail,
        "quality 12 saved again at 95, at 8×: {v:?}"
    );
}

/// Pale lips are not teeth: every compliant photo with its contrast lowered by 15 % (as a
/// flatter camera would give) still has a neutral expression and a closed mouth.
#[test]
fn low_contrast_good_photos_keep_a_neutral_expression() {
    let profile = Profile::ga461();
    let mut wrong = Vec::new();
    for (file, img) in compliant_photos() {
        let mean = img
            .pixels()
            .map(|p| f32::from(p[0]) + f32::from(p[1]) + f32::from(p[2]))
            .sum::<f32>()
            / (3.0 * img.pixels().len() as f32);
        let flat = image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
            image::Rgb(
                img.get_pixel(x, y)
                    .0
                    .map(|c| (mean + 0.85 * (f32::from(c) - mean)).round() as u8),
            )
        });
        let r = engine().check(&jpeg_q(&flat, 80), &profile).unwrap();
        for code in [CheckCode::FaceExpression, CheckCode::FaceMouthClosed] {
            if r.check(code).unwrap().status == Status::Fail {
                wrong.push(format!("{}: {}", file, code.as_str()));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn the_annotated_picture_marks_a_white_top_and_nothing_on_a_dark_one() {
    // The white-top file and its recoloured twin differ only in the top's colour.
    let profile = Profile::ga461();
    let red_below = |file: &str, row: u32| {
        let a = engine().analyze(&fixture(file), &profile).unwrap();
        let img = photocheck_engine::annotate::render(&a, &profile, None).unwrap();
        // Pure marking red, in the picture's rows below `row` of the photo (it is drawn at
        // twice the size), left of the failed-codes list at the bottom-left corner.
        img.enumerate_pixels()
            .filter(|&(x, y, p)| y >= 2 * row && x >= 200 && p.0 == [230, 30, 30])
            .count()
    };
    let white = red_below("subject__white_top_037_1.jpg", 380);
    let dark = red_below("pass__pass_037_1.jpg", 380);
    assert!(white > 500, "{white} marked pixels on the white top");
    assert_eq!(dark, 0, "the dark top is marked");
}

#[test]
fn a_face_larger_than_the_frame_is_too_large_not_missing() {
    let profile = Profile::ga461();
    let names = [
        "pass__pass_034_0.jpg",
        "pass__pass_099_1.jpg",
        "pass__pass_137_0.jpg",
    ];
    for (name, z) in names
        .iter()
        .flat_map(|n| [1.9f32, 2.2, 2.4, 2.7].map(|z| (*n, z)))
    {
        let img = image::load_from_memory(&fixture(name)).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        // Zoomed in about the face: wider than the photo allows, the crown cut off; from
        // about 2.4× on the detectors alone no longer find it.
        let big = image::imageops::resize(
            &img,
            (w as f32 * z) as u32,
            (h as f32 * z) as u32,
            image::imageops::FilterType::Triangle,
        );
        let (x0, y0) = (
            ((w as f32 * z) - w as f32) / 2.0,
            h as f32 * (z - 1.0) * 0.45,
        );
        let cut = image::imageops::crop_imm(&big, x0 as u32, y0 as u32, w, h).to_image();
        let r = engine().check(&jpeg(&cut), &profile).unwrap();
        let get = |code: CheckCode| r.check(code).unwrap().clone();
        let count = get(CheckCode::FaceCount);
        let fw = get(CheckCode::GeometryFaceWidth);
        eprintln!("{name} {z}: {} | {}", count.message, fw.message);
        assert_eq!(count.status, Status::Pass, "{name} {z}: {}", count.message);
        assert_eq!(fw.status, Status::Fail, "{name} {z}: {}", fw.message);
        assert!(fw.message.contains("头部"), "{name} {z}: {}", fw.message);
        assert!(fw.message.contains("大"), "{name} {z}: {}", fw.message);
        assert_eq!(r.verdict, Verdict::Fail, "{name} {z}");
    }
}

#[test]
fn the_annotated_picture_lists_an_uncertain_check_in_amber() {
    let profile = Profile::ga461();
    let amber_at_bottom = |a: &photocheck_engine::Analysis| {
        let img = photocheck_engine::annotate::render(a, &profile, None).unwrap();
        let h = img.height();
        // The list at the bottom-left corner; the face's amber landmarks are far above it.
        img.enumerate_pixels()
            .filter(|&(x, y, p)| y + 40 >= h && x < 400 && p.0 == [240, 160, 0])
            .count()
    };
    let mut a = engine()
        .analyze(&fixture("pass__pass_034_0.jpg"), &profile)
        .unwrap();
    assert_eq!(
        amber_at_bottom(&a),
        0,
        "a clear pass lists nothing to review"
    );
    let pitch = a
        .result
        .checks
        .iter_mut()
        .find(|c| c.code == CheckCode::PosePitch)
        .expect("the pitch check");
    pitch.uncertain = true;
    assert!(
        amber_at_bottom(&a) > 100,
        "the uncertain check is not listed"
    );
}

/// The Chinese labels (with the CJK font `scripts/system-deps.sh` installs): an uncertain check
/// is listed in amber in glyphs about 20 px tall on the 2× picture, a failed one in red; a clear
/// pass lists neither.
#[test]
fn the_annotated_picture_labels_checks_in_chinese_at_a_readable_size() {
    let config = photocheck_config::Config::default();
    let font = photocheck::label_font(&config)
        .unwrap()
        .expect("a CJK font installed (scripts/system-deps.sh: fonts-wqy-microhei)");
    assert!(font.covers("头部正对镜头（左右转动 3.1°，允许 ±5°）"));
    let profile = Profile::ga461();
    // Rows of the bottom band holding pixels of exactly this colour (glyph cores).
    let rows_of = |a: &photocheck_engine::Analysis, c: [u8; 3]| {
        let img = photocheck_engine::annotate::render(a, &profile, Some(&font)).unwrap();
        let h = img.height();
        (h / 2..h)
            .filter(|&y| (0..img.width()).any(|x| img.get_pixel(x, y).0 == c))
            .count()
    };
    const AMBER: [u8; 3] = [240, 160, 0];
    const RED: [u8; 3] = [230, 30, 30];
    let mut a = engine()
        .analyze(&fixture("pass__pass_034_0.jpg"), &profile)
        .unwrap();
    let clear = (rows_of(&a, AMBER), rows_of(&a, RED));
    let pitch = a
        .result
        .checks
        .iter_mut()
        .find(|c| c.code == CheckCode::PosePitch)
        .unwrap();
    pitch.uncertain = true;
    // Two lines (the heading and the check's message): glyph cores over 2 × 15 rows or more.
    let amber = rows_of(&a, AMBER);
    assert!(
        amber >= 30 + clear.0,
        "amber rows {amber} (clear pass: {})",
        clear.0
    );
    let f = engine()
        .analyze(&fixture("subject__white_top_037_1.jpg"), &profile)
        .unwrap();
    let red = rows_of(&f, RED);
    assert!(
        red >= 30 + clear.1,
        "red rows {red} (clear pass: {})",
        clear.1
    );
}

/// An intact photo saved at a very low JPEG quality is over-compressed, not damaged: its blocks
/// step along the 8×8 grid like a decoding error would, so the damage steps must leave it to
/// `quality.compression`, whose message tells the clerk to export it again at quality 70
/// (found on the calibration people at quality 10-25: `bench/calibrate/jpeg.py`).
#[test]
fn an_over_compressed_photo_fails_its_compression_not_as_damaged() {
    let profile = Profile::ga461();
    let mut refused = Vec::new();
    for (file, img) in compliant_photos() {
        for q in [8u8, 12, 16, 20, 25] {
            let r = engine().check(&jpeg_q(&img, q), &profile).unwrap();
            let decodable = r.check(CheckCode::FileDecodable).unwrap();
            if decodable.status != Status::Pass {
                refused.push(format!("{} q{q}: {:?}", file, decodable.value));
            }
            let c = r.check(CheckCode::QualityCompression).unwrap();
            assert_eq!(c.status, Status::Fail, "{} q{q}: {}", file, c.message);
        }
    }
    assert!(
        refused.is_empty(),
        "{} refused as damaged: {refused:#?}",
        refused.len()
    );
}

/// A whole photo two stops too dark (a quarter of the light) fails `quality.exposure` whatever
/// the skin tone: the backdrop reads grey and the whites of the eyes are dark with it. A grey
/// backdrop in good light is the backdrop's fault only (`bench/calibrate/graded.py` measures
/// the same on the 39 calibration people: 39 of 39 at two stops, 0 at none).
#[test]
fn an_under_exposed_photo_fails_its_exposure_and_a_grey_backdrop_alone_does_not() {
    let profile = Profile::ga461();
    let lin = |v: u8| {
        let c = f32::from(v) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let srgb = |c: f32| {
        let s = if c <= 0.003_130_8 {
            12.92 * c
        } else {
            1.055 * c.powf(1.0 / 2.4) - 0.055
        };
        (s * 255.0).round().clamp(0.0, 255.0) as u8
    };
    let mut missed = Vec::new();
    for (file, mut img) in compliant_photos() {
        for p in img.pixels_mut() {
            p.0 = p.0.map(|v| srgb(lin(v) * 0.25));
        }
        let r = engine().check(&jpeg_q(&img, 92), &profile).unwrap();
        let c = r.check(CheckCode::QualityExposure).unwrap();
        if c.status != Status::Fail {
            missed.push(format!("{}: {}", file, c.message));
        }
    }
    assert!(missed.is_empty(), "two stops under, not found: {missed:#?}");
    for file in [
        "background__bg_grey_099_1.jpg",
        "background__bg_grey_137_0.jpg",
        "background__bg_grey_172_2.jpg",
    ] {
        let r = engine().check(&fixture(file), &profile).unwrap();
        assert_eq!(
            r.check(CheckCode::BackgroundColor).unwrap().status,
            Status::Fail
        );
        let c = r.check(CheckCode::QualityExposure).unwrap();
        assert_eq!(c.status, Status::Pass, "{file}: {}", c.message);
    }
}

/// A warm cast keeps skin in its hue band; it shows in the chroma. The compliant fixtures pass
/// `quality.color` as they are and fail it, by the chroma, under a warm cast of the strength
/// the fixtures' own cast has at 0.4 (red ×1.4, green ×0.8, blue ×0.6 on the sRGB values):
/// orange to a person, yet inside the hue band and below the former chroma limit of 45 on some.
#[test]
fn a_warm_cast_fails_quality_color_by_the_skins_chroma() {
    let profile = Profile::ga461();
    let mut missed = Vec::new();
    for (file, mut img) in compliant_photos() {
        let r = engine().check(&jpeg_q(&img, 92), &profile).unwrap();
        let c = r.check(CheckCode::QualityColor).unwrap();
        assert_eq!(c.status, Status::Pass, "{file}: {}", c.message);
        assert!(!c.uncertain, "{file}: {}", c.message);
        for p in img.pixels_mut() {
            let [r, g, b] = p.0.map(f32::from);
            p.0 = [r * 1.4, g * 0.8, b * 0.6].map(|v| v.round().clamp(0.0, 255.0) as u8);
        }
        let r = engine().check(&jpeg_q(&img, 92), &profile).unwrap();
        let c = r.check(CheckCode::QualityColor).unwrap();
        if c.status != Status::Fail || c.unit.as_deref() != Some("chroma") {
            missed.push(format!("{file}: {:?} {}", c.value, c.message));
        }
    }
    assert!(missed.is_empty(), "a warm cast not found: {missed:#?}");
}

/// A face lit badly and set on a white backdrop afterwards: the compliant fixtures with the
/// subject alone darkened to 60 % of its sRGB values (about 1.5 stops less light; the backdrop,
/// every pixel of 250 or more in each channel, left white) fail `quality.exposure` by the
/// whites of their eyes, on skin of every tone, while as they are they pass it without doubt.
/// The mean luma alone (limit 35) let most of them pass; the eyes' whites read at their 90th
/// percentile (until 2026-12-07) caught them only at 50 %.
#[test]
fn a_dim_face_on_a_white_backdrop_fails_its_exposure() {
    let profile = Profile::ga461();
    let mut missed = Vec::new();
    for (file, mut img) in compliant_photos() {
        let r = engine().check(&jpeg_q(&img, 92), &profile).unwrap();
        let c = r.check(CheckCode::QualityExposure).unwrap();
        assert!(
            c.status == Status::Pass && !c.uncertain,
            "{file}: {}",
            c.message
        );
        for p in img.pixels_mut() {
            if p.0.iter().any(|&v| v < 250) {
                p.0 = p.0.map(|v| (f32::from(v) * 0.6).round() as u8);
            }
        }
        let r = engine().check(&jpeg_q(&img, 92), &profile).unwrap();
        assert_eq!(
            r.check(CheckCode::BackgroundColor).unwrap().status,
            Status::Pass,
            "{file}: the backdrop stays white"
        );
        let c = r.check(CheckCode::QualityExposure).unwrap();
        if c.status != Status::Fail {
            missed.push(format!("{file}: {}", c.message));
        }
    }
    assert!(missed.is_empty(), "a dim face not found: {missed:#?}");
}
