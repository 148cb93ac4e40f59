//! Each model on a real fixture, against hand-checked values: the face box and the eye
//! positions (iris centres measured when the fixture was made, within a few pixels).

use photocheck_engine::manifest::Manifest;
use photocheck_engine::models::{
    head_crop, BlazeFace, ExpressionModel, FaceApiExpression, FaceDetector, LandmarkRefiner,
    LoadedModel, MediaPipeMesh, MeshModel, ONet, Runtime, Segmenter, SelfieSegmentation,
};
use photocheck_engine::Profile;
use photocheck_tests::{engine, fixture, fixtures_dir};

struct Setup {
    rt: Runtime,
    models: std::path::PathBuf,
    manifest: Manifest,
}

fn setup() -> Setup {
    let cfg = photocheck::engine_config(
        &photocheck_config::Config::default(),
        &photocheck::data_dir_from_env(),
    )
    .unwrap();
    Setup {
        rt: Runtime::load(&cfg.ort_dylib, 1).expect("runtime installed (scripts/test.sh)"),
        models: cfg.models_dir,
        manifest: Manifest::builtin().unwrap(),
    }
}

fn load(s: &Setup, role: &str) -> LoadedModel {
    LoadedModel::load(&s.models, s.manifest.by_role(role).unwrap()).unwrap()
}

fn photo(name: &str) -> image::RgbImage {
    image::load_from_memory(&fixture(name)).unwrap().to_rgb8()
}

// pass__pass_064_0.jpg: eyes (iris centres) at (133.5, 167.5) and (225.1, 167.5) per the
// fixture's params; the face spans x ≈ 79–279 (face width 200 px).
const EYES: [[f32; 2]; 2] = [[133.5, 167.5], [225.1, 167.5]];

fn near(p: [f32; 2], q: [f32; 2], tol: f32) -> bool {
    (p[0] - q[0]).hypot(p[1] - q[1]) <= tol
}

#[test]
fn blazeface_front_finds_the_face_box_and_eyes() {
    let s = setup();
    let mut det = BlazeFace::new(&s.rt, &load(&s, "face_detector"), 128).unwrap();
    let faces = det.detect(&photo("pass__pass_064_0.jpg")).unwrap();
    assert_eq!(faces.len(), 1);
    let f = faces[0];
    assert!(f.score > 0.9);
    // Box centred on the face, about as wide as the face.
    let cx = (f.bbox[0] + f.bbox[2]) / 2.0;
    assert!((cx - 179.3).abs() < 10.0, "box centre {cx}");
    assert!(
        (170.0..240.0).contains(&f.width()),
        "box width {}",
        f.width()
    );
    assert!(
        near(f.keypoints[0], EYES[0], 10.0) && near(f.keypoints[1], EYES[1], 10.0),
        "{:?}",
        f.keypoints
    );
}

#[test]
fn blazeface_back_finds_three_small_faces_in_a_group() {
    let s = setup();
    let mut det = BlazeFace::new(&s.rt, &load(&s, "face_detector_small"), 256).unwrap();
    let faces = det
        .detect(&photo("faces__nat_three_people_Pilots.jpg"))
        .unwrap();
    assert_eq!(faces.len(), 3, "{faces:?}");
    let none = det
        .detect(&photo("faces__noface_backdrop-034_1.jpg"))
        .unwrap();
    assert!(none.is_empty());
}

#[test]
fn onet_puts_the_eyes_on_the_irises() {
    let s = setup();
    let img = photo("pass__pass_064_0.jpg");
    let mut det = BlazeFace::new(&s.rt, &load(&s, "face_detector"), 128).unwrap();
    let face = det.detect(&img).unwrap()[0];
    let mut onet = ONet::new(&s.rt, &load(&s, "landmarks")).unwrap();
    let p = onet.refine(&img, &face).unwrap();
    assert!(p.score > 0.9);
    assert!(
        near(p.points[0], EYES[0], 6.0) && near(p.points[1], EYES[1], 6.0),
        "{:?}",
        p.points
    );
    // Nose below the eyes, mouth corners below the nose.
    assert!(p.points[2][1] > EYES[0][1] + 20.0 && p.points[3][1] > p.points[2][1]);
}

#[test]
fn the_refined_mesh_reads_the_width_the_irises_and_parted_lips() {
    // pass__pass_064_0.jpg's face is 200.0 px wide and its iris centres are at EYES by the
    // fixtures' ground truth (MediaPipe FaceMesh with refine_landmarks on the original, carried
    // through the placement): the same model on the engine's crop reads them within 3 and
    // 1.5 px. subject__smile_037.jpg shows its teeth; the refined lips part around them.
    let s = setup();
    let mut det = BlazeFace::new(&s.rt, &load(&s, "face_detector"), 128).unwrap();
    let mut mesh = MediaPipeMesh::new(&s.rt, &load(&s, "face_mesh")).unwrap();
    let mut read = |name: &str| {
        let img = photo(name);
        let face = det.detect(&img).unwrap()[0];
        mesh.mesh(&img, face.bbox, face.keypoints[0], face.keypoints[1])
            .unwrap()
    };
    let m = read("pass__pass_064_0.jpg");
    assert_eq!(m.points.len(), 468);
    assert!(m.presence > 0.9);
    assert!(
        (m.face_width() - 200.0).abs() < 3.0,
        "face width {}",
        m.face_width()
    );
    let iris = m.iris;
    assert!(
        near(iris[0], EYES[0], 1.5) && near(iris[1], EYES[1], 1.5),
        "{iris:?}"
    );
    assert_eq!((m.left_eye(), m.right_eye()), (iris[0], iris[1]));
    // Inner lips (13 upper, 14 lower): closed on the neutral face, apart on the smile.
    let gap = |m: &photocheck_engine::models::FaceMesh| m.xy(14)[1] - m.xy(13)[1];
    let smile = read("subject__smile_037.jpg");
    assert!(gap(&m) < 3.0, "neutral inner-lip gap {}", gap(&m));
    assert!(gap(&smile) > 8.0, "smile inner-lip gap {}", gap(&smile));
}

#[test]
fn selfie_segmentation_matches_the_tflite_model_on_a_real_photo() {
    // The head crop of pass__pass_064_0.jpg from its ground-truth eyes and face width (200 px).
    // Reference values from MediaPipe's selfie_segmentation.tflite (TensorFlow Lite 2.19) on
    // the same crop: person 1.0 at the crop centre and the chin, 0.0 in the corners and beside
    // the head; the head's top edge crosses 0.5 at row 64 of column 128 (0.161 at 63, 0.503 at
    // 64), its left edge at column 46 of row 128; mean probability 0.4863. JPEG decoders
    // differ by a level here and there, so edges may move by a pixel.
    let s = setup();
    let mut seg = SelfieSegmentation::new(&s.rt, &load(&s, "segmentation")).unwrap();
    let img = photo("pass__pass_064_0.jpg");
    let mid = [(EYES[0][0] + EYES[1][0]) / 2.0, EYES[0][1]];
    let m = seg.segment(&img, head_crop(mid, 200.0, 0.0)).unwrap();
    assert_eq!(m.prob.len(), 256 * 256);
    let at = |u: usize, v: usize| m.prob[v * 256 + u];
    for (u, v) in [(128, 128), (128, 200)] {
        assert!(at(u, v) > 0.99, "person at ({u}, {v}): {}", at(u, v));
    }
    for (u, v) in [(10, 10), (245, 10), (10, 128), (245, 128), (128, 20)] {
        assert!(at(u, v) < 0.01, "background at ({u}, {v}): {}", at(u, v));
    }
    let top = (0..256).find(|&v| at(128, v) > 0.5).unwrap();
    assert!((62..=66).contains(&top), "head top at row {top}");
    let left = (0..256).find(|&u| at(u, 128) > 0.5).unwrap();
    assert!((44..=48).contains(&left), "head left edge at column {left}");
    let mean = m.prob.iter().sum::<f32>() / m.prob.len() as f32;
    assert!((mean - 0.4863).abs() < 0.01, "mean probability {mean}");
    // In image coordinates: the nose is the person, the top corners are background.
    assert!(m.at(179.0, 220.0) > 0.99);
    assert!(m.at(25.0, 20.0) < 0.01 && m.at(333.0, 20.0) < 0.01);
}

#[test]
fn a_model_with_the_wrong_checksum_is_refused() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let entry = s.manifest.by_role("landmarks").unwrap();
    std::fs::write(dir.path().join(&entry.name), b"not a model").unwrap();
    let err = LoadedModel::load(dir.path(), entry).unwrap_err();
    assert_eq!(err.code(), "engine.model_checksum");
    let err = LoadedModel::load(&dir.path().join("nowhere"), entry).unwrap_err();
    assert_eq!(err.code(), "engine.model_missing");
}

/// On a clean backdrop the background fill stands in for the segmentation model (the engine's
/// fast path): on every compliant photo both give the same cover measures.
#[test]
fn the_backdrop_fill_gives_the_segmentation_models_cover_measures_on_clean_backdrops() {
    use photocheck_engine::checks::cover as measure_subject;
    use photocheck_engine::{measure_all_with_mask, Profile};
    let s = setup();
    let mut seg = SelfieSegmentation::new(&s.rt, &load(&s, "segmentation")).unwrap();
    let engine = photocheck_tests::engine();
    let mut compared = 0;
    for e in photocheck_tests::expectations()
        .into_iter()
        .filter(|e| e.category == "pass")
    {
        let a = engine
            .analyze(&fixture(&e.file), &Profile::ga461())
            .unwrap();
        let (img, face) = (a.image.unwrap(), a.face.unwrap());
        let (m, backdrop) = measure_all_with_mask(&img, Some(&face));
        let by_model = measure_subject::run(&mut seg, &img, &face, &m.background)
            .unwrap()
            .unwrap();
        let by_fill =
            measure_subject::run_on_backdrop(&img, &face, &backdrop, &m.background).unwrap();
        let close = |a: Option<f32>, b: Option<f32>, tol: f32| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= tol,
            (None, None) => true,
            _ => false,
        };
        let f = &e.file;
        assert!(
            close(by_model.head_covering, by_fill.head_covering, 0.05),
            "{f}: head covering {:?} vs {:?}",
            by_model.head_covering,
            by_fill.head_covering
        );
        assert!(
            close(by_model.hair_stops, by_fill.hair_stops, 0.3),
            "{f}: hair {:?} vs {:?}",
            by_model.hair_stops,
            by_fill.hair_stops
        );
        for k in 0..2 {
            assert!(
                close(by_model.ear_skin[k], by_fill.ear_skin[k], 0.1),
                "{f}: ear skin {:?} vs {:?}",
                by_model.ear_skin,
                by_fill.ear_skin
            );
        }
        compared += 1;
    }
    assert_eq!(compared, 20);
}

/// The canonical face as shipped: MediaPipe's 33 Procrustes landmarks on the rigid part of the
/// face, a mirror-symmetric set (each point off the midline has its twin at −x with the same
/// weight), and a fit of the canonical to itself, turned by known angles, returns them.
#[test]
fn the_canonical_face_is_symmetric_and_a_turned_copy_gives_back_its_angles() {
    use photocheck_engine::pose::{head_pose, CanonicalFace};
    let s = setup();
    let c = CanonicalFace::parse(&load(&s, "canonical_face").bytes).unwrap();
    let basis = c.basis();
    assert_eq!(basis.len(), 33);
    for &(i, p, w) in basis {
        if p[0].abs() < 1e-6 {
            continue;
        }
        let twin = basis.iter().find(|b| {
            (b.1[0] + p[0]).abs() < 1e-4
                && (b.1[1] - p[1]).abs() < 1e-4
                && (b.1[2] - p[2]).abs() < 1e-4
        });
        let twin = twin.unwrap_or_else(|| panic!("point {i} has no mirror twin"));
        assert!(
            (twin.2 - w).abs() < 1e-9,
            "point {i}: weight {w} vs {}",
            twin.2
        );
    }
    // The canonical points placed in an image (14 px a centimetre, y down, z away from the
    // camera) after turning them: yaw about y, then pitch, then roll (contract signs).
    let turned = |yaw: f64, pitch: f64, roll: f64| {
        let (sa, ca) = yaw.to_radians().sin_cos();
        let (sb, cb) = (-pitch).to_radians().sin_cos();
        let (sc, cc) = (-roll).to_radians().sin_cos();
        let mut mesh = vec![[0.0f32; 3]; 468];
        for &(i, p, _) in basis {
            // Rz, then Rx, then Ry.
            let (x, y) = (cc * p[0] - sc * p[1], sc * p[0] + cc * p[1]);
            let (y, z) = (cb * y - sb * p[2], sb * y + cb * p[2]);
            let (x, z) = (ca * x + sa * z, -sa * x + ca * z);
            mesh[i] = [
                (179.0 + 14.0 * x) as f32,
                (200.0 - 14.0 * y) as f32,
                (-14.0 * z) as f32,
            ];
        }
        mesh
    };
    for (yaw, pitch, roll) in [
        (0.0, 0.0, 0.0),
        (12.0, 0.0, 0.0),
        (0.0, -9.0, 0.0),
        (0.0, 0.0, 6.0),
        (-20.0, 15.0, -5.0),
    ] {
        let p = head_pose(&turned(yaw, pitch, roll), &c).unwrap();
        let err = [
            f64::from(p.yaw_deg) - yaw,
            f64::from(p.pitch_deg) - pitch,
            f64::from(p.roll_deg) - roll,
        ];
        assert!(
            err.iter().all(|e| e.abs() < 0.01),
            "{yaw} {pitch} {roll}: {p:?}"
        );
        assert!(p.misfit < 1e-4, "{p:?}");
    }
}

/// The expression network on real faces: a compliant fixture reads neutral in one look; a
/// calibration original (London set 011, smiling with closed lips: no teeth, corners level
/// enough for the mouth-shape rules) reads happy in both framings.
#[test]
fn the_expression_network_reads_a_closed_lip_smile_and_a_neutral_face() {
    let s = setup();
    let mut expr = FaceApiExpression::new(&s.rt, &load(&s, "expression")).unwrap();
    let profile = Profile::ga461();
    let mut look = |bytes: &[u8]| {
        let a = engine().analyze(bytes, &profile).unwrap();
        let (img, face) = (a.image.unwrap(), a.face.unwrap());
        expr.read(&img, &face, 0.35).unwrap()
    };
    let neutral = look(&fixture("pass__pass_064_0.jpg"));
    assert!(
        neutral.happy < 0.1,
        "neutral face read P(happy) {}",
        neutral.happy
    );
    assert!(neutral.neutral > 0.5);
    assert_eq!(neutral.crops, 1, "a neutral face is read once");
    let calibration = fixtures_dir().join("../calibration/london");
    let smile = look(&std::fs::read(calibration.join("011_08.jpg")).unwrap());
    assert!(
        smile.happy > 0.5,
        "closed-lip smile read P(happy) {}",
        smile.happy
    );
    assert_eq!(
        smile.crops, 2,
        "a face that reads happy is read at a second framing"
    );
    // The same person's neutral photo.
    let same = look(&std::fs::read(calibration.join("011_03.jpg")).unwrap());
    assert!(
        same.happy < 0.1,
        "011's neutral photo read P(happy) {}",
        same.happy
    );
}
