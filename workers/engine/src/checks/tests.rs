//! Each rule at the edges of its limit, on hand-made observations.
use super::*;
use crate::header::read_header;
use photocheck_types::Verdict;

fn header() -> Header {
    // A real 358×441 JFIF header at 350 dpi, quality 70.
    let mut h = read_header(&crate::header::tests::jpeg_header(
        358,
        441,
        3,
        Some(350),
        true,
    ))
    .unwrap();
    h.luma_quant = Some(crate::header::ijg_luma_table(70));
    h
}

/// A compliant face on the GA 461 canvas: eyes at y = 200, face width 207, centred.
fn face(width: f32, eye_y: f32, mid_x: f32, roll_deg: f32) -> FaceGeometry {
    let half = 0.21 * width;
    let (s, c) = roll_deg.to_radians().sin_cos();
    let left = [mid_x - half * c, eye_y - half * s];
    let right = [mid_x + half * c, eye_y + half * s];
    FaceGeometry {
        bbox: [
            mid_x - width / 2.0,
            eye_y - 80.0,
            mid_x + width / 2.0,
            eye_y + 140.0,
        ],
        score: 0.99,
        left_eye: left,
        right_eye: right,
        nose: [mid_x, eye_y + 45.0],
        mouth: [[mid_x - 30.0, eye_y + 80.0], [mid_x + 30.0, eye_y + 80.0]],
        cheeks: [
            [mid_x - width / 2.0, eye_y + 10.0],
            [mid_x + width / 2.0, eye_y + 10.0],
        ],
        chin: [mid_x, eye_y + 140.0],
        oval: vec![],
        mesh: vec![],
    }
}

fn measures() -> Measures {
    Measures {
        crown: Some(14.0),
        background: BackgroundStats {
            lightness: 100.0,
            a: 0.0,
            b: 0.0,
            chroma: 0.0,
            shadow_drop: 1.0,
            coverage: 1.0,
            pixels: 50_000,
        },
        tone: Some(FaceTone {
            mean: 120.0,
            p5: 60.0,
            p95: 170.0,
            clipped: 0.0,
        }),
        skin: Some(SkinSample {
            left_luma: 130.0,
            right_luma: 128.0,
            a: 12.0,
            b: 16.0,
        }),
        sharpness: Some(2.5),
        noise: 0.5,
        blockiness: 1.05,
        subject: Some(SubjectMeasures {
            eye_open: [0.3, 0.3],
            mouth_gap: 0.0,
            smile: 0.0,
            mouth_width: 0.38,
            teeth: 0.0,
            yaw_deg: 0.0,
            pitch_deg: 0.0,
        }),
        cover: Some(cover()),
        clothing: Some(crate::checks::clothing::ClothingMeasures {
            area: 0.3,
            merge: Some(0.0),
            outline_lost: Some(0.0),
            chest_area: 0.1,
            chest_merge: Some(0.0),
            merging: Vec::new(),
        }),
    }
}

/// A bareheaded face without glasses: values typical of the compliant fixtures.
fn cover() -> CoverMeasures {
    CoverMeasures {
        lens_luminance: Some(0.85),
        lens_tint: Some(0.02),
        lens_glare: Some(0.0),
        head_covering: Some(0.0),
        brows: [Some(Brow {
            above: -0.5,
            on: -1.7,
        }); 2],
        hair_stops: Some(-2.5),
        ear_skin: [Some(0.5), Some(0.4)],
        ear_person: [Some(0.9), Some(0.9)],
    }
}

struct Case {
    header: Header,
    face: FaceGeometry,
    m: Measures,
    file_len: usize,
    faces: usize,
    size: (u32, u32),
}

impl Case {
    fn good() -> Case {
        Case {
            header: header(),
            face: face(207.0, 200.0, 179.0, 0.0),
            m: measures(),
            file_len: 16_000,
            faces: 1,
            size: (358, 441),
        }
    }

    fn run(&self) -> Vec<Check> {
        let obs = Observation {
            file_len: self.file_len,
            header: Some(&self.header),
            decode_error: None,
            size: Some(self.size),
            colourful: Some(0.3),
            face_count: Some(self.faces),
            face: (self.faces == 1).then_some(&self.face),
            measures: Some(&self.m),
        };
        evaluate(&obs, &Profile::ga461())
    }

    fn status(&self, code: CheckCode) -> Status {
        self.run()
            .into_iter()
            .find(|c| c.code == code)
            .unwrap()
            .status
    }
}

#[test]
fn a_compliant_photo_passes_every_check_in_the_contract_order() {
    let checks = Case::good().run();
    let codes: Vec<CheckCode> = checks.iter().map(|c| c.code).collect();
    assert_eq!(codes.len(), 30);
    assert_eq!(codes[0], CheckCode::FileDecodable);
    assert_eq!(codes[28], CheckCode::BackgroundUniformity);
    assert_eq!(codes[29], CheckCode::ClothingColor);
    // The subject checks follow pose.roll, in a fixed order.
    let roll = codes
        .iter()
        .position(|&c| c == CheckCode::PoseRoll)
        .unwrap();
    assert_eq!(
        codes[roll + 1..roll + 6],
        [
            CheckCode::PoseYaw,
            CheckCode::PosePitch,
            CheckCode::FaceEyesOpen,
            CheckCode::FaceMouthClosed,
            CheckCode::FaceExpression,
        ]
    );
    // Then glasses, occlusion and head covering, in the contract's order.
    assert_eq!(
        codes[roll + 6..roll + 9],
        [
            CheckCode::FaceGlasses,
            CheckCode::FaceOcclusion,
            CheckCode::FaceHeadCovering,
        ]
    );
    assert!(checks.iter().all(|c| !c.uncertain), "{checks:?}");
    for c in &checks {
        assert_eq!(c.status, Status::Pass, "{}: {}", c.code, c.message);
        assert!(!c.message.is_empty());
    }
    assert_eq!(Verdict::from_checks(&checks), Verdict::Pass);
}

fn edge(code: CheckCode, pass: impl Fn(&mut Case), fail: impl Fn(&mut Case)) {
    let mut c = Case::good();
    pass(&mut c);
    assert_eq!(c.status(code), Status::Pass, "{code} just inside the limit");
    let mut c = Case::good();
    fail(&mut c);
    assert_eq!(
        c.status(code),
        Status::Fail,
        "{code} just outside the limit"
    );
}

#[test]
fn face_width_limits_are_193_and_221() {
    use CheckCode::GeometryFaceWidth as C;
    edge(
        C,
        |c| c.face = face(193.5, 200.0, 179.0, 0.0),
        |c| c.face = face(192.5, 200.0, 179.0, 0.0),
    );
    edge(
        C,
        |c| c.face = face(220.5, 200.0, 179.0, 0.0),
        |c| c.face = face(221.5, 200.0, 179.0, 0.0),
    );
    let mut c = Case::good();
    c.face = face(150.0, 200.0, 179.0, 0.0);
    let msg = c.run().into_iter().find(|x| x.code == C).unwrap().message;
    assert!(msg.contains("头部偏小"), "{msg}");
}

#[test]
fn crown_limits_are_7_and_21_and_a_cut_head_fails() {
    use CheckCode::GeometryCrown as C;
    edge(C, |c| c.m.crown = Some(7.0), |c| c.m.crown = Some(6.0));
    edge(C, |c| c.m.crown = Some(21.0), |c| c.m.crown = Some(22.0));
    let mut c = Case::good();
    c.m.crown = Some(0.0);
    assert_eq!(c.status(C), Status::Fail);
}

#[test]
fn when_crown_and_eye_rules_conflict_the_eye_rule_wins() {
    // Crown 3 px from the top, but moving the head down 4 px would put the eyes below the
    // limit (y 232 → 236 > 234): GA 461 lets tall hair be cropped.
    let mut c = Case::good();
    c.face = face(207.0, 232.0, 179.0, 0.0);
    c.m.crown = Some(3.0);
    assert_eq!(c.status(CheckCode::GeometryCrown), Status::Warn);
    assert_eq!(c.status(CheckCode::GeometryEyeLine), Status::Pass);
}

#[test]
fn unknown_crown_makes_the_photo_a_review() {
    let mut c = Case::good();
    c.m.crown = None;
    let checks = c.run();
    let crown = checks
        .iter()
        .find(|x| x.code == CheckCode::GeometryCrown)
        .unwrap();
    assert_eq!(crown.status, Status::Skipped);
    assert!(crown.uncertain);
    assert_eq!(Verdict::from_checks(&checks), Verdict::Review);
}

#[test]
fn eye_line_must_be_at_least_207_above_the_bottom() {
    use CheckCode::GeometryEyeLine as C;
    edge(
        C,
        |c| c.face = face(207.0, 234.0, 179.0, 0.0),
        |c| c.face = face(207.0, 235.0, 179.0, 0.0),
    );
}

#[test]
fn centring_tolerance_is_17_px() {
    use CheckCode::GeometryCentered as C;
    edge(
        C,
        |c| c.face = face(207.0, 200.0, 179.0 + 16.5, 0.0),
        |c| c.face = face(207.0, 200.0, 179.0 + 17.5, 0.0),
    );
    edge(
        C,
        |c| c.face = face(207.0, 200.0, 179.0 - 16.5, 0.0),
        |c| c.face = face(207.0, 200.0, 179.0 - 17.5, 0.0),
    );
}

#[test]
fn roll_limit_is_8_degrees_either_way() {
    use CheckCode::PoseRoll as C;
    edge(
        C,
        |c| c.face = face(207.0, 200.0, 179.0, 7.9),
        |c| c.face = face(207.0, 200.0, 179.0, 8.2),
    );
    edge(
        C,
        |c| c.face = face(207.0, 200.0, 179.0, -7.9),
        |c| c.face = face(207.0, 200.0, 179.0, -8.2),
    );
}

#[test]
fn geometry_limits_scale_with_the_image() {
    // A twice-as-large photo framed correctly fails only its dimensions.
    let mut c = Case::good();
    c.size = (716, 882);
    c.face = face(414.0, 400.0, 358.0, 0.0);
    c.m.crown = Some(28.0);
    assert_eq!(c.status(CheckCode::ImageDimensions), Status::Fail);
    for code in [
        CheckCode::GeometryFaceWidth,
        CheckCode::GeometryCrown,
        CheckCode::GeometryEyeLine,
        CheckCode::GeometryCentered,
    ] {
        assert_eq!(c.status(code), Status::Pass, "{code}");
    }
}

#[test]
fn face_count_must_be_one_and_geometry_is_skipped_otherwise() {
    for (n, want) in [(0, Status::Fail), (1, Status::Pass), (2, Status::Fail)] {
        let mut c = Case::good();
        c.faces = n;
        let checks = c.run();
        assert_eq!(
            checks
                .iter()
                .find(|x| x.code == CheckCode::FaceCount)
                .unwrap()
                .status,
            want
        );
        let fw = checks
            .iter()
            .find(|x| x.code == CheckCode::GeometryFaceWidth)
            .unwrap();
        if n != 1 {
            assert_eq!(fw.status, Status::Skipped);
            assert!(!fw.uncertain, "a failed face count decides the verdict");
            assert_eq!(Verdict::from_checks(&checks), Verdict::Fail);
        }
    }
}

fn subj(c: &mut Case) -> &mut SubjectMeasures {
    c.m.subject.as_mut().unwrap()
}

fn find(c: &Case, code: CheckCode) -> Check {
    c.run().into_iter().find(|x| x.code == code).unwrap()
}

#[test]
fn yaw_limit_is_5_degrees_either_way() {
    use CheckCode::PoseYaw as C;
    edge(C, |c| subj(c).yaw_deg = 4.9, |c| subj(c).yaw_deg = 5.1);
    edge(C, |c| subj(c).yaw_deg = -4.9, |c| subj(c).yaw_deg = -5.1);
    let mut c = Case::good();
    subj(&mut c).yaw_deg = 7.0;
    assert!(find(&c, C).message.contains("不要转头"));
}

#[test]
fn pitch_fails_beyond_5_degrees_plus_the_mesh_allowance() {
    use CheckCode::PosePitch as C;
    edge(
        C,
        |c| subj(c).pitch_deg = 12.9,
        |c| subj(c).pitch_deg = 13.1,
    );
    edge(
        C,
        |c| subj(c).pitch_deg = -12.9,
        |c| subj(c).pitch_deg = -13.1,
    );
    let mut c = Case::good();
    subj(&mut c).pitch_deg = 20.0;
    assert!(find(&c, C).message.contains("不要抬头"));
    subj(&mut c).pitch_deg = -20.0;
    assert!(find(&c, C).message.contains("不要低头"));
}

#[test]
fn either_eye_below_0_15_fails() {
    use CheckCode::FaceEyesOpen as C;
    edge(
        C,
        |c| subj(c).eye_open = [0.151, 0.3],
        |c| subj(c).eye_open = [0.149, 0.3],
    );
    edge(
        C,
        |c| subj(c).eye_open = [0.3, 0.151],
        |c| subj(c).eye_open = [0.3, 0.149],
    );
    let mut c = Case::good();
    subj(&mut c).eye_open = [0.05, 0.06];
    assert!(find(&c, C).message.contains("请睁大眼睛"));
}

#[test]
fn mouth_gap_limit_is_6_percent_of_the_face_width() {
    use CheckCode::FaceMouthClosed as C;
    edge(
        C,
        |c| subj(c).mouth_gap = 0.059,
        |c| subj(c).mouth_gap = 0.061,
    );
    let mut c = Case::good();
    subj(&mut c).mouth_gap = 0.12;
    assert!(find(&c, C).message.contains("请闭上嘴巴"));
}

#[test]
fn a_smile_teeth_or_a_wide_mouth_fail_the_expression() {
    use CheckCode::FaceExpression as C;
    edge(C, |c| subj(c).smile = 0.099, |c| subj(c).smile = 0.101);
    edge(C, |c| subj(c).teeth = 0.0099, |c| subj(c).teeth = 0.0101);
    edge(
        C,
        |c| subj(c).mouth_width = 0.499,
        |c| subj(c).mouth_width = 0.501,
    );
    let mut c = Case::good();
    subj(&mut c).teeth = 0.08;
    assert!(find(&c, C).message.contains("不要露齿微笑"));
    let mut c = Case::good();
    subj(&mut c).smile = 0.2;
    assert!(find(&c, C).message.contains("请保持自然表情"));
}

#[test]
fn subject_values_within_their_uncertainty_of_a_limit_make_a_review() {
    type Set = fn(&mut SubjectMeasures);
    // (code, just inside but within the uncertainty, inside and clear of it)
    let cases: [(CheckCode, Set, Set); 7] = [
        (
            CheckCode::PoseYaw,
            |s| s.yaw_deg = -4.0,
            |s| s.yaw_deg = -3.0,
        ),
        (
            CheckCode::PosePitch,
            |s| s.pitch_deg = 11.5,
            |s| s.pitch_deg = 10.0,
        ),
        (
            CheckCode::FaceEyesOpen,
            |s| s.eye_open[1] = 0.17,
            |s| s.eye_open[1] = 0.2,
        ),
        (
            CheckCode::FaceMouthClosed,
            |s| s.mouth_gap = 0.057,
            |s| s.mouth_gap = 0.05,
        ),
        (
            CheckCode::FaceExpression,
            |s| s.smile = 0.085,
            |s| s.smile = 0.07,
        ),
        (
            CheckCode::FaceExpression,
            |s| s.teeth = 0.007,
            |s| s.teeth = 0.004,
        ),
        (
            CheckCode::FaceExpression,
            |s| s.mouth_width = 0.49,
            |s| s.mouth_width = 0.47,
        ),
    ];
    for (code, near, clear) in cases {
        let mut c = Case::good();
        near(subj(&mut c));
        let checks = c.run();
        let x = checks.iter().find(|x| x.code == code).unwrap();
        assert_eq!(x.status, Status::Pass, "{code}");
        assert!(x.uncertain, "{code} near its limit is uncertain");
        assert_eq!(Verdict::from_checks(&checks), Verdict::Review, "{code}");
        let mut c = Case::good();
        clear(subj(&mut c));
        let checks = c.run();
        assert!(!checks.iter().find(|x| x.code == code).unwrap().uncertain);
        assert_eq!(Verdict::from_checks(&checks), Verdict::Pass, "{code}");
    }
}

#[test]
fn subject_checks_are_skipped_without_a_face_and_reviewed_without_a_mesh() {
    let codes = [
        CheckCode::PoseYaw,
        CheckCode::PosePitch,
        CheckCode::FaceEyesOpen,
        CheckCode::FaceMouthClosed,
        CheckCode::FaceExpression,
    ];
    skipped_without_a_face_and_reviewed_without(&codes, |c| c.m.subject = None);
}

/// `codes` are skipped (with certainty) when no face was found, and skipped as uncertain,
/// making the verdict `review`, when the face lacks what `clear` removes.
fn skipped_without_a_face_and_reviewed_without(codes: &[CheckCode], clear: impl Fn(&mut Case)) {
    let mut c = Case::good();
    c.faces = 0;
    let checks = c.run();
    for &code in codes {
        let x = checks.iter().find(|x| x.code == code).unwrap();
        assert_eq!(x.status, Status::Skipped, "{code}");
        assert!(!x.uncertain);
    }
    let mut c = Case::good();
    clear(&mut c);
    let checks = c.run();
    for &code in codes {
        let x = checks.iter().find(|x| x.code == code).unwrap();
        assert_eq!(x.status, Status::Skipped, "{code}");
        assert!(x.uncertain, "{code}");
    }
    assert_eq!(Verdict::from_checks(&checks), Verdict::Review);
}

fn cov(c: &mut Case) -> &mut CoverMeasures {
    c.m.cover.as_mut().unwrap()
}

#[test]
fn tinted_lenses_fail_below_45_percent_of_the_cheek() {
    use CheckCode::FaceGlasses as C;
    edge(
        C,
        |c| cov(c).lens_luminance = Some(0.451),
        |c| cov(c).lens_luminance = Some(0.449),
    );
    let mut c = Case::good();
    cov(&mut c).lens_luminance = Some(0.2);
    assert!(find(&c, C).message.contains("有色眼镜"));
    // Near the limit: a review, not a confident pass.
    let mut c = Case::good();
    cov(&mut c).lens_luminance = Some(0.5);
    let x = find(&c, C);
    assert_eq!(x.status, Status::Pass);
    assert!(x.uncertain);
    assert_eq!(Verdict::from_checks(&c.run()), Verdict::Review);
}

#[test]
fn coloured_lenses_fail_only_where_they_also_absorb_light() {
    use CheckCode::FaceGlasses as C;
    edge(
        C,
        |c| {
            cov(c).lens_luminance = Some(0.7);
            cov(c).lens_tint = Some(0.099);
        },
        |c| {
            cov(c).lens_luminance = Some(0.7);
            cov(c).lens_tint = Some(0.101);
        },
    );
    // The same chromaticity shift with no loss of light is not a lens (compression
    // artefacts, make-up): no fail, no review.
    let mut c = Case::good();
    cov(&mut c).lens_luminance = Some(0.95);
    cov(&mut c).lens_tint = Some(0.15);
    let x = find(&c, C);
    assert_eq!(x.status, Status::Pass);
    assert!(!x.uncertain);
}

#[test]
fn lens_reflections_beyond_a_catchlight_fail() {
    use CheckCode::FaceGlasses as C;
    edge(
        C,
        |c| cov(c).lens_glare = Some(0.0039),
        |c| cov(c).lens_glare = Some(0.0041),
    );
    let mut c = Case::good();
    cov(&mut c).lens_glare = Some(0.02);
    assert!(find(&c, C).message.contains("反光"));
    // Over-exposed cheeks: reflections cannot be judged, so the photo is reviewed.
    let mut c = Case::good();
    cov(&mut c).lens_glare = None;
    let x = find(&c, C);
    assert_eq!(x.status, Status::Pass);
    assert!(x.uncertain);
}

/// A fringe of the person's own hair (−2.5 stops) over a brow.
fn fringe(b: &mut Brow, step: f32) {
    b.above = -2.5;
    b.on = -2.5 - step;
}

#[test]
fn hair_over_an_eyebrow_fails_when_no_step_is_left_to_the_forehead() {
    use CheckCode::FaceOcclusion as C;
    edge(
        C,
        |c| fringe(cov(c).brows[0].as_mut().unwrap(), 0.31),
        |c| fringe(cov(c).brows[0].as_mut().unwrap(), 0.29),
    );
    edge(
        C,
        |c| fringe(cov(c).brows[1].as_mut().unwrap(), 0.31),
        |c| fringe(cov(c).brows[1].as_mut().unwrap(), 0.29),
    );
    let mut c = Case::good();
    fringe(cov(&mut c).brows[0].as_mut().unwrap(), 0.0);
    fringe(cov(&mut c).brows[1].as_mut().unwrap(), 0.0);
    assert!(find(&c, C).message.contains("双眉"));
    // Just above the limit: review.
    let mut c = Case::good();
    fringe(cov(&mut c).brows[0].as_mut().unwrap(), 0.4);
    let x = find(&c, C);
    assert_eq!(x.status, Status::Pass);
    assert!(x.uncertain);
}

#[test]
fn a_dark_forehead_that_is_not_like_the_hair_is_not_a_fringe() {
    use CheckCode::FaceOcclusion as C;
    // Dark skin whose brows barely stand out (the forehead 1.2 stops under the nose
    // bridge, no step to the brow): the forehead is not as dark as the hair.
    let mut c = Case::good();
    for b in cov(&mut c).brows.iter_mut() {
        *b = Some(Brow {
            above: -1.2,
            on: -1.1,
        });
    }
    cov(&mut c).hair_stops = Some(-2.6);
    assert_eq!(c.status(C), Status::Pass);
    // Hair no darker than skin (blond, grey, or none above the forehead): never a fringe.
    let mut c = Case::good();
    fringe(cov(&mut c).brows[0].as_mut().unwrap(), 0.0);
    cov(&mut c).hair_stops = Some(-0.3);
    let x = find(&c, C);
    assert_eq!(x.status, Status::Pass);
    assert!(!x.uncertain);
}

#[test]
fn both_ears_covered_by_hair_fail_one_visible_ear_passes() {
    use CheckCode::FaceOcclusion as C;
    edge(
        C,
        |c| cov(c).ear_skin = [Some(0.01), Some(0.051)],
        |c| cov(c).ear_skin = [Some(0.01), Some(0.049)],
    );
    let mut c = Case::good();
    cov(&mut c).ear_skin = [Some(0.0), Some(0.0)];
    assert!(find(&c, C).message.contains("双耳"));
    // Background beside the face (ears flat to the head), not hair: not covered.
    let mut c = Case::good();
    cov(&mut c).ear_skin = [Some(0.0), Some(0.0)];
    cov(&mut c).ear_person = [Some(0.9), Some(0.2)];
    assert_eq!(c.status(C), Status::Pass);
    // ICAO does not ask for the ears.
    let mut c = Case::good();
    cov(&mut c).ear_skin = [Some(0.0), Some(0.0)];
    let obs = Observation {
        file_len: c.file_len,
        header: Some(&c.header),
        decode_error: None,
        size: Some(c.size),
        colourful: Some(0.3),
        face_count: Some(1),
        face: Some(&c.face),
        measures: Some(&c.m),
    };
    let x = evaluate(&obs, &Profile::icao())
        .into_iter()
        .find(|x| x.code == C)
        .unwrap();
    assert_eq!(x.status, Status::Pass);
    // Near the limit: review.
    let mut c = Case::good();
    cov(&mut c).ear_skin = [Some(0.0), Some(0.08)];
    let x = find(&c, C);
    assert_eq!(x.status, Status::Pass);
    assert!(x.uncertain);
}

#[test]
fn a_head_covering_fails_above_half_the_head_top() {
    use CheckCode::FaceHeadCovering as C;
    edge(
        C,
        |c| cov(c).head_covering = Some(0.499),
        |c| cov(c).head_covering = Some(0.501),
    );
    let mut c = Case::good();
    cov(&mut c).head_covering = Some(0.9);
    assert!(find(&c, C).message.contains("免冠拍摄"));
    let mut c = Case::good();
    cov(&mut c).head_covering = Some(0.35);
    let x = find(&c, C);
    assert_eq!(x.status, Status::Pass);
    assert!(x.uncertain);
    // Under a colour cast the colours say nothing: review, never a fail.
    let mut c = Case::good();
    cov(&mut c).head_covering = Some(0.9);
    let s = c.m.skin.as_mut().unwrap();
    s.a = -3.0;
    s.b = -16.0;
    let x = find(&c, C);
    assert_eq!(x.status, Status::Skipped);
    assert!(x.uncertain);
}

#[test]
fn an_over_compressed_photo_cannot_fail_the_cover_checks() {
    let mut c = Case::good();
    cov(&mut c).ear_skin = [Some(0.0), Some(0.0)];
    cov(&mut c).head_covering = Some(0.9);
    assert_eq!(c.status(CheckCode::FaceOcclusion), Status::Fail);
    c.header.luma_quant = Some(crate::header::ijg_luma_table(2));
    let checks = c.run();
    for code in [CheckCode::FaceOcclusion, CheckCode::FaceHeadCovering] {
        let x = checks.iter().find(|x| x.code == code).unwrap();
        assert_eq!(x.status, Status::Skipped, "{code}");
        assert!(x.uncertain);
    }
    // The photo still fails, on its compression.
    assert_eq!(Verdict::from_checks(&checks), Verdict::Fail);
}

#[test]
fn cover_checks_are_skipped_without_a_face_and_reviewed_without_a_mesh() {
    let codes = [
        CheckCode::FaceGlasses,
        CheckCode::FaceOcclusion,
        CheckCode::FaceHeadCovering,
    ];
    skipped_without_a_face_and_reviewed_without(&codes, |c| c.m.cover = None);
}

#[test]
fn resolution_must_be_recorded_as_350_dpi() {
    use CheckCode::ImageResolution as C;
    edge(
        C,
        |c| c.header.dpi = Some((350.4, 350.4)),
        |c| c.header.dpi = Some((300.0, 300.0)),
    );
    let mut c = Case::good();
    c.header.dpi = None;
    assert_eq!(c.status(C), Status::Fail);
}

#[test]
fn file_size_warns_outside_14_to_20_kb_and_fails_outside_5_to_60() {
    use CheckCode::FileSize as C;
    for (len, want) in [
        (16_000, Status::Pass),
        (13_500, Status::Warn),
        (25_000, Status::Warn),
        (4_000, Status::Fail),
        (61_000, Status::Fail),
    ] {
        let mut c = Case::good();
        c.file_len = len;
        assert_eq!(c.status(C), want, "{len} bytes");
    }
}

#[test]
fn colour_needs_three_8_bit_channels() {
    use CheckCode::ImageColor as C;
    for (model, want) in [
        (ColorModel::Rgb, Status::Pass),
        (ColorModel::Grey, Status::Fail),
        (ColorModel::Cmyk, Status::Fail),
    ] {
        let mut c = Case::good();
        c.header.color = model;
        assert_eq!(c.status(C), want, "{model:?}");
    }
}

#[test]
fn format_must_be_jpeg() {
    let mut c = Case::good();
    c.header.format = Format::Png;
    assert_eq!(c.status(CheckCode::FileFormat), Status::Fail);
}

#[test]
fn quality_limits() {
    use CheckCode::*;
    edge(
        QualitySharpness,
        |c| c.m.sharpness = Some(1.71),
        |c| c.m.sharpness = Some(1.69),
    );
    edge(
        QualityExposure,
        |c| c.m.tone.as_mut().unwrap().mean = 35.5,
        |c| c.m.tone.as_mut().unwrap().mean = 34.5,
    );
    edge(
        QualityExposure,
        |c| c.m.tone.as_mut().unwrap().mean = 214.5,
        |c| c.m.tone.as_mut().unwrap().mean = 215.5,
    );
    edge(
        QualityExposure,
        |c| c.m.tone.as_mut().unwrap().clipped = 0.049,
        |c| c.m.tone.as_mut().unwrap().clipped = 0.051,
    );
    edge(
        QualityDynamicRange,
        |c| c.m.tone.as_mut().unwrap().p95 = 90.5,
        |c| c.m.tone.as_mut().unwrap().p95 = 89.5,
    );
    edge(
        QualityIllumination,
        |c| c.m.skin.as_mut().unwrap().right_luma = 65.0,
        |c| c.m.skin.as_mut().unwrap().right_luma = 63.0,
    );
    edge(QualityNoise, |c| c.m.noise = 2.99, |c| c.m.noise = 3.01);
    edge(
        QualityCompression,
        |c| c.header.luma_quant = Some(crate::header::ijg_luma_table(30)),
        |c| c.header.luma_quant = Some(crate::header::ijg_luma_table(29)),
    );
    edge(
        QualityCompression,
        |c| c.m.blockiness = 1.99,
        |c| c.m.blockiness = 2.01,
    );
}

#[test]
fn skin_colour_of_every_tone_passes_and_casts_fail() {
    use CheckCode::QualityColor as C;
    // (a*, b*) of light, medium and dark skin, then blue, green and magenta casts.
    for (a, b, want) in [
        (9.0, 13.0, Status::Pass),
        (12.0, 18.0, Status::Pass),
        (7.0, 8.0, Status::Pass),
        (-3.0, -16.0, Status::Fail),
        (-25.0, 33.0, Status::Fail),
        (40.0, 5.0, Status::Fail),
        (56.0, 55.0, Status::Fail),
    ] {
        let mut c = Case::good();
        let s = c.m.skin.as_mut().unwrap();
        s.a = a;
        s.b = b;
        assert_eq!(c.status(C), want, "a* {a} b* {b}");
    }
}

#[test]
fn background_limits() {
    use CheckCode::*;
    edge(
        BackgroundColor,
        |c| c.m.background.lightness = 88.5,
        |c| c.m.background.lightness = 87.5,
    );
    edge(
        BackgroundColor,
        |c| c.m.background.chroma = 7.9,
        |c| c.m.background.chroma = 8.1,
    );
    edge(
        BackgroundUniformity,
        |c| c.m.background.shadow_drop = 14.9,
        |c| c.m.background.shadow_drop = 15.1,
    );
    edge(
        BackgroundUniformity,
        |c| c.m.background.coverage = 0.61,
        |c| c.m.background.coverage = 0.59,
    );
}

#[test]
fn an_undecodable_file_fails_once_and_skips_the_rest() {
    let err = DecodeError::Truncated;
    let obs = Observation {
        file_len: 6000,
        header: None,
        decode_error: Some(&err),
        ..Observation::default()
    };
    let checks = evaluate(&obs, &Profile::ga461());
    let failed: Vec<CheckCode> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.code)
        .collect();
    assert!(failed.contains(&CheckCode::FileDecodable));
    assert!(
        checks
            .iter()
            .filter(|c| c.status == Status::Skipped)
            .count()
            >= 15
    );
    assert_eq!(Verdict::from_checks(&checks), Verdict::Fail);
}
