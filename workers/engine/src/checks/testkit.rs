//! What the rules' unit tests share: a compliant case on the GA 461 canvas (header, face,
//! measures, cover measures) that each test changes at one limit.

use super::*;
use crate::header::read_header;
pub(super) use photocheck_types::Verdict;

pub(super) fn header() -> Header {
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
pub(super) fn face(width: f32, eye_y: f32, mid_x: f32, roll_deg: f32) -> FaceGeometry {
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
        pose: None,
    }
}

pub(super) fn measures() -> Measures {
    // A clean white backdrop, behind the head and over the whole photo alike.
    let backdrop = BackgroundStats {
        lightness: 100.0,
        a: 0.0,
        b: 0.0,
        chroma: 0.0,
        shadow_drop: 1.0,
        coverage: 1.0,
        pixels: 50_000,
    };
    Measures {
        crown: Some(14.0),
        background: backdrop,
        backdrop,
        tone: Some(FaceTone {
            mean: 120.0,
            p5: 60.0,
            p95: 170.0,
            clipped: 0.0,
            eye_white: Some(150.0),
        }),
        skin: Some(SkinSample {
            left_luma: 130.0,
            right_luma: 128.0,
            left_light: 0.223,
            right_light: 0.216,
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
            mouth_interior: Some(-10.0),
            yaw_deg: 0.0,
            pitch_deg: 0.0,
            happy: Some(0.01),
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
pub(super) fn cover() -> CoverMeasures {
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

pub(super) struct Case {
    pub(super) header: Header,
    pub(super) face: FaceGeometry,
    pub(super) m: Measures,
    pub(super) file_len: usize,
    pub(super) faces: usize,
    pub(super) size: (u32, u32),
    pub(super) beyond: Option<[f32; 4]>,
}

impl Case {
    pub(super) fn good() -> Case {
        Case {
            header: header(),
            face: face(207.0, 200.0, 179.0, 0.0),
            m: measures(),
            file_len: 16_000,
            faces: 1,
            size: (358, 441),
            beyond: None,
        }
    }

    pub(super) fn run(&self) -> Vec<Check> {
        self.run_with(&Profile::ga461())
    }

    /// [`Case::run`] against another profile.
    pub(super) fn run_with(&self, profile: &Profile) -> Vec<Check> {
        let obs = Observation {
            file_len: self.file_len,
            header: Some(&self.header),
            decode_error: None,
            size: Some(self.size),
            colourful: Some(0.3),
            face_count: Some(self.faces),
            beyond_frame: self.beyond,
            face: (self.faces == 1).then_some(&self.face),
            measures: Some(&self.m),
        };
        evaluate(&obs, profile)
    }

    pub(super) fn status(&self, code: CheckCode) -> Status {
        self.run()
            .into_iter()
            .find(|c| c.code == code)
            .unwrap()
            .status
    }
}

pub(super) fn edge(code: CheckCode, pass: impl Fn(&mut Case), fail: impl Fn(&mut Case)) {
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

pub(super) fn subj(c: &mut Case) -> &mut SubjectMeasures {
    c.m.subject.as_mut().unwrap()
}

pub(super) fn find(c: &Case, code: CheckCode) -> Check {
    c.run().into_iter().find(|x| x.code == code).unwrap()
}

/// `codes` are skipped (with certainty) when no face was found, and skipped as uncertain,
/// making the verdict `review`, when the face lacks what `clear` removes.
pub(super) fn skipped_without_a_face_and_reviewed_without(
    codes: &[CheckCode],
    clear: impl Fn(&mut Case),
) {
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

pub(super) fn cov(c: &mut Case) -> &mut CoverMeasures {
    c.m.cover.as_mut().unwrap()
}

/// A fringe of the person's own hair (−2.5 stops) over a brow.
pub(super) fn fringe(b: &mut Brow, step: f32) {
    b.above = -2.5;
    b.on = -2.5 - step;
}
