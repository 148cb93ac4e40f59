//! Pose (yaw, pitch), eyes open, mouth closed and expression (`pose.yaw`, `pose.pitch`,
//! `face.eyes_open`, `face.mouth_closed`, `face.expression`): the measurements on the face mesh
//! (first half) and the rules with the clerk's messages (second half).

use super::*;
use crate::color::lab;
use crate::measure::{dist, for_each_span};
use crate::pose::HeadPose;
use ::image::RgbImage;

/// Mesh indices the subject measures use (MediaPipe face mesh topology).
pub mod subject_idx {
    /// Eye contour of the image-left eye for the eye aspect ratio: outer corner, two upper-lid
    /// points, inner corner, two lower-lid points (p1…p6 of Soukupová & Čech).
    pub const LEFT_EYE_EAR: [usize; 6] = [33, 160, 158, 133, 153, 144];
    /// Same for the image-right eye (outer corner first).
    pub const RIGHT_EYE_EAR: [usize; 6] = [263, 387, 385, 362, 380, 373];
    /// Inner lip, upper and lower, at the centre.
    pub const INNER_LIP: [usize; 2] = [13, 14];
    /// Outer lip, upper and lower, at the centre.
    pub const OUTER_LIP: [usize; 2] = [0, 17];
    /// Mouth corners, image-left and image-right.
    pub const MOUTH_CORNERS: [usize; 2] = [61, 291];
    /// Outer-lip contour (the lips' outline), clockwise from the image-left corner.
    pub const OUTER_LIP_POLYGON: [usize; 20] = [
        61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146,
    ];
    /// Inner-lip contour (the opening of the mouth), clockwise from the image-left corner.
    pub const INNER_LIP_POLYGON: [usize; 20] = [
        78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95,
    ];
}

/// Teeth are at least this light (L*), and this much lighter than the lips around them.
const TEETH_MIN_L: f32 = 50.0;
const TEETH_OVER_LIPS: f32 = 10.0;
/// Teeth are nearly colourless (C*).
const TEETH_MAX_CHROMA: f32 = 20.0;
/// Largest |median L* inside the inner-lip contour − the lips' mean L*| of an opening that is
/// lip. Closed mouths read −15 … 0 (the dark line where the lips meet), full lips parted by the
/// mesh about 0; the open mouths of the fixtures' smiles +7 … +24 (teeth); a mouth cavity
/// should read darker still (no such photo was at hand). Used only to settle a doubt below the
/// gap's limit, never to pass a gap over it.
const LIP_LIKE_INTERIOR_L: f64 = 5.0;

/// What the face mesh says about the subject: eyes, mouth, expression and head pose. All
/// ratios are scale-free (relative to a length of the same face), angles in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubjectMeasures {
    /// Eye aspect ratio of the image-left and image-right eye: mean lid distance ÷ eye width.
    pub eye_open: [f32; 2],
    /// Inner-lip gap (points 13–14) ÷ face width (234–454).
    pub mouth_gap: f32,
    /// Mouth-corner elevation: height of the corners (61, 291) above the centre of the lips
    /// (mean of 0, 13, 14, 17), in the face's frame (roll removed), ÷ mouth width. Positive
    /// when the corners are raised (a smile).
    pub smile: f32,
    /// Mouth width (61–291) ÷ face width.
    pub mouth_width: f32,
    /// Teeth: pixels inside the inner-lip contour that are bright, nearly colourless and
    /// clearly lighter than the lips (L* ≥ max(50, lips + 10), C* ≤ 20), ÷ mouth width².
    pub teeth: f32,
    /// What lies between the inner-lip points: the median L* of the pixels inside the inner-lip
    /// contour minus the lips' mean L*. Near 0 the opening is lip (full lips whose inner edges
    /// the mesh parts); teeth read far above it, a mouth cavity far below. `None` without
    /// pixels inside the contour.
    pub mouth_interior: Option<f32>,
    /// Yaw: positive when the face turns toward the image's right (the nose moves right); from
    /// the mesh fitted to the canonical face ([`crate::pose`]).
    pub yaw_deg: f32,
    /// Pitch: positive when the head is raised (chin up); from the same fit.
    pub pitch_deg: f32,
    /// P(happy) from the expression network ([`crate::models::ExpressionModel`]), when it ran:
    /// a smile, including one with closed lips that the mouth shape above does not show.
    pub happy: Option<f32>,
}

impl SubjectMeasures {
    /// The less open eye's aspect ratio.
    pub fn eye_open_min(&self) -> f32 {
        self.eye_open[0].min(self.eye_open[1])
    }
}

fn d3(a: [f32; 3], b: [f32; 3]) -> f32 {
    dist([a[0], a[1]], [b[0], b[1]])
}

fn ear(mesh: &[[f32; 3]], ids: [usize; 6]) -> f32 {
    let p = ids.map(|i| mesh[i]);
    (d3(p[1], p[5]) + d3(p[2], p[4])) / (2.0 * d3(p[0], p[3]).max(1e-3))
}

/// Measures the subject on a 468-point face mesh (image pixels; z in the same scale, larger
/// farther from the camera) and the head pose fitted to it; `None` when the mesh is not a full
/// MediaPipe mesh or no pose could be fitted.
pub fn subject(
    img: &RgbImage,
    mesh: &[[f32; 3]],
    pose: Option<HeadPose>,
) -> Option<SubjectMeasures> {
    use subject_idx as s;
    let pose = pose?;
    if mesh.len() != 468 {
        return None;
    }
    let xy = |i: usize| [mesh[i][0], mesh[i][1]];
    let face_w = dist(xy(234), xy(454)).max(1.0);
    // The face's frame: x along the eye line, y perpendicular (down), roll removed.
    let (le, re) = (
        [
            (mesh[33][0] + mesh[133][0]) / 2.0,
            (mesh[33][1] + mesh[133][1]) / 2.0,
        ],
        [
            (mesh[263][0] + mesh[362][0]) / 2.0,
            (mesh[263][1] + mesh[362][1]) / 2.0,
        ],
    );
    let roll = (re[1] - le[1]).atan2(re[0] - le[0]);
    let (sin, cos) = roll.sin_cos();
    // Height in the face's frame (up is positive).
    let up_xy = |x: f32, y: f32| x * sin - y * cos;
    let up = |i: usize| up_xy(mesh[i][0], mesh[i][1]);
    let centre = s::INNER_LIP
        .iter()
        .chain(&s::OUTER_LIP)
        .map(|&i| up(i))
        .sum::<f32>()
        / 4.0;
    let corners = (up(s::MOUTH_CORNERS[0]) + up(s::MOUTH_CORNERS[1])) / 2.0;
    let mouth_w = dist(xy(s::MOUTH_CORNERS[0]), xy(s::MOUTH_CORNERS[1])).max(1.0);

    // Teeth inside the mouth opening: bright, nearly colourless, and clearly lighter than this
    // person's own lips (so pale lips, or a photo with little contrast, are not teeth).
    let (w, h) = img.dimensions();
    let inner: Vec<[f32; 2]> = s::INNER_LIP_POLYGON.iter().map(|&i| xy(i)).collect();
    let outer: Vec<[f32; 2]> = s::OUTER_LIP_POLYGON.iter().map(|&i| xy(i)).collect();
    let mut opening: Vec<(u32, u32, u32)> = Vec::new();
    for_each_span(&inner, w, h, |y, x0, x1| opening.push((y, x0, x1)));
    let in_opening = |x: u32, y: u32| {
        opening
            .iter()
            .any(|&(yy, x0, x1)| yy == y && (x0..x1).contains(&x))
    };
    let (mut lip_l, mut lip_n) = (0f32, 0u32);
    for_each_span(&outer, w, h, |y, x0, x1| {
        for x in x0..x1 {
            if !in_opening(x, y) {
                lip_l += lab(img.get_pixel(x, y).0)[0];
                lip_n += 1;
            }
        }
    });
    let lips = (lip_n > 0).then(|| lip_l / lip_n as f32);
    let floor = lips.map_or(TEETH_MIN_L, |l| (l + TEETH_OVER_LIPS).max(TEETH_MIN_L));
    let mut teeth = 0u32;
    let mut inside = Vec::new();
    for &(y, x0, x1) in &opening {
        for x in x0..x1 {
            let l = lab(img.get_pixel(x, y).0);
            inside.push(l[0]);
            if l[0] >= floor && l[1].hypot(l[2]) <= TEETH_MAX_CHROMA {
                teeth += 1;
            }
        }
    }
    let mouth_interior = lips.filter(|_| !inside.is_empty()).map(|lips| {
        let mid = inside.len() / 2;
        *inside.select_nth_unstable_by(mid, f32::total_cmp).1 - lips
    });

    Some(SubjectMeasures {
        eye_open: [ear(mesh, s::LEFT_EYE_EAR), ear(mesh, s::RIGHT_EYE_EAR)],
        mouth_gap: dist(xy(s::INNER_LIP[0]), xy(s::INNER_LIP[1])) / face_w,
        smile: (corners - centre) / mouth_w,
        mouth_width: mouth_w / face_w,
        teeth: teeth as f32 / (mouth_w * mouth_w),
        mouth_interior,
        yaw_deg: pose.yaw_deg,
        pitch_deg: pose.pitch_deg,
        happy: None,
    })
}

// ─── the rules ───────────────────────────────────────────────────────────────────────────────

/// Pose (yaw, pitch), eyes, mouth and expression from the face mesh, after `pose.roll`.
pub(crate) fn subject_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    let codes = [
        PoseYaw,
        PosePitch,
        FaceEyesOpen,
        FaceMouthClosed,
        FaceExpression,
    ];
    if let Some((why, unsure)) = no_face_reason(obs) {
        out.extend(codes.iter().map(|&c| skipped(c, why, unsure)));
        return;
    }
    let Some(s) = obs.measures.and_then(|m| m.subject) else {
        let why = "未能取得面部网格，无法检查此项，请人工复核";
        out.extend(codes.iter().map(|&c| skipped(c, why, true)));
        return;
    };
    // pose.yaw: positive when the nose turns toward the image's right.
    let yaw = f64::from(s.yaw_deg);
    let ymax = p.yaw_max_deg + p.yaw_allowance_deg;
    let lim = Range::new(-ymax, ymax);
    let msg = if lim.contains(yaw) {
        format!("头部正对镜头（左右转动 {yaw:.1}°，允许 ±{ymax:.0}°）")
    } else {
        let side = if yaw > 0.0 { "右" } else { "左" };
        format!(
            "头部向画面{side}侧转动约 {:.0}°（允许 ±{ymax:.0}°），请正对镜头，不要转头",
            yaw.abs()
        )
    };
    out.push(against(
        PoseYaw,
        yaw,
        lim,
        p.yaw_uncertainty_deg,
        "deg",
        msg,
    ));
    // pose.pitch: positive when the chin is raised.
    let pitch = f64::from(s.pitch_deg);
    let pmax = p.pitch_max_deg + p.pitch_allowance_deg;
    let lim = Range::new(-pmax, pmax);
    let msg = if lim.contains(pitch) {
        format!("头部平视镜头（俯仰 {pitch:.1}°，允许 ±{pmax:.0}°）")
    } else if pitch > 0.0 {
        format!("头部上仰约 {pitch:.0}°（允许 ±{pmax:.0}°），请正对镜头，不要抬头")
    } else {
        format!(
            "头部低下约 {:.0}°（允许 ±{pmax:.0}°），请正对镜头，不要低头",
            -pitch
        )
    };
    out.push(against(
        PosePitch,
        pitch,
        lim,
        p.pitch_uncertainty_deg,
        "deg",
        msg,
    ));
    // face.eyes_open: the less open eye decides.
    let ear = f64::from(s.eye_open_min());
    let lim = Range::new(p.eye_open_min, f64::MAX);
    let msg = if lim.contains(ear) {
        format!(
            "双眼自然睁开（睁眼度 {ear:.2}，至少 {:.2}）",
            p.eye_open_min
        )
    } else {
        let which = match (
            f64::from(s.eye_open[0]) < p.eye_open_min,
            f64::from(s.eye_open[1]) < p.eye_open_min,
        ) {
            (true, true) => "双眼",
            (true, false) => "画面左侧的眼睛",
            _ => "画面右侧的眼睛",
        };
        format!(
            "{which}未完全睁开（睁眼度 {ear:.2}，至少 {:.2}），请睁大眼睛、目视镜头",
            p.eye_open_min
        )
    };
    out.push(against_ratio(
        FaceEyesOpen,
        ear,
        lim,
        p.eye_open_uncertainty,
        msg,
    ));
    // face.mouth_closed
    let gap = f64::from(s.mouth_gap);
    let lim = Range::new(f64::MIN, p.mouth_gap_max);
    let msg = if lim.contains(gap) {
        "嘴巴自然闭合".to_string()
    } else {
        format!(
            "嘴巴张开（上下唇间距为脸宽的 {:.1}%，至多 {:.1}%），请闭上嘴巴",
            gap * 100.0,
            p.mouth_gap_max * 100.0
        )
    };
    let mut closed = against_ratio(FaceMouthClosed, gap, lim, p.mouth_gap_uncertainty, msg);
    // A gap just under the limit with lip between the inner-lip points is a closed mouth
    // with full lips, not a doubt: an open mouth shows teeth or its dark inside there.
    if closed.status == Status::Pass
        && s.mouth_interior
            .is_some_and(|d| f64::from(d).abs() <= LIP_LIKE_INTERIOR_L)
    {
        closed.uncertain = false;
    }
    out.push(closed);
    // face.expression: raised mouth corners or a widened mouth (a smile), visible teeth, or a
    // smile the expression network reads (closed lips show none of the others).
    let smile = f64::from(s.smile);
    let teeth = f64::from(s.teeth);
    let width = f64::from(s.mouth_width);
    let happy = s.happy.map(f64::from);
    let lim = Range::new(f64::MIN, p.smile_max);
    let teeth_out = teeth > p.teeth_max;
    let wide = width > p.mouth_width_max;
    let read_smiling = happy.is_some_and(|h| h > p.happy_max);
    let msg = if teeth_out {
        format!(
            "露出牙齿（牙齿面积为嘴宽平方的 {:.1}%，至多 {:.1}%），请保持自然表情，不要露齿微笑",
            teeth * 100.0,
            p.teeth_max * 100.0
        )
    } else if !lim.contains(smile) || wide {
        format!(
            "面带微笑（嘴角上扬 {smile:.2}，至多 {:.2}；嘴宽为脸宽的 {:.0}%，至多 {:.0}%），请保持自然表情，不要微笑",
            p.smile_max,
            width * 100.0,
            p.mouth_width_max * 100.0
        )
    } else if let (true, Some(h)) = (read_smiling, happy) {
        format!(
            "面带微笑（表情识别为微笑的可能 {:.0}%，至多 {:.0}%），请保持自然表情，抿嘴微笑也不可以",
            h * 100.0,
            p.happy_max * 100.0
        )
    } else {
        let read = happy.map_or(String::new(), |h| {
            format!(
                "；微笑可能 {:.0}%，至多 {:.0}%",
                h * 100.0,
                p.happy_max * 100.0
            )
        });
        format!(
            "表情自然（嘴角上扬 {smile:.2}，至多 {:.2}；未露齿{read}）",
            p.smile_max
        )
    };
    let mut c = against_ratio(FaceExpression, smile, lim, p.smile_uncertainty, msg);
    if teeth_out || wide || read_smiling {
        c.status = Status::Fail;
    }
    c.uncertain |= (teeth - p.teeth_max).abs() <= p.teeth_uncertainty
        || (width - p.mouth_width_max).abs() <= p.mouth_width_uncertainty
        || happy.is_some_and(|h| near_limit(h, p.happy_max, p.happy_uncertainty));
    out.push(c);
}

#[cfg(test)]
mod rule_tests {
    //! The rules at the edges of their limits, on hand-made observations.
    use super::super::testkit::*;
    use super::super::*;

    #[test]
    fn yaw_fails_beyond_5_degrees_plus_the_mesh_allowance_either_way() {
        use CheckCode::PoseYaw as C;
        edge(C, |c| subj(c).yaw_deg = 7.9, |c| subj(c).yaw_deg = 8.1);
        edge(C, |c| subj(c).yaw_deg = -7.9, |c| subj(c).yaw_deg = -8.1);
        let mut c = Case::good();
        subj(&mut c).yaw_deg = 12.0;
        let check = find(&c, C);
        assert!(check.message.contains("不要转头"), "{}", check.message);
        assert!(check.message.contains("右"), "{}", check.message);
        subj(&mut c).yaw_deg = -12.0;
        assert!(find(&c, C).message.contains("左"));
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
    fn lip_between_the_inner_lip_points_settles_a_gap_just_under_the_limit() {
        use CheckCode::FaceMouthClosed as C;
        let case = |gap: f32, interior: Option<f32>| {
            let mut c = Case::good();
            subj(&mut c).mouth_gap = gap;
            subj(&mut c).mouth_interior = interior;
            let x = find(&c, C);
            (x.status, x.uncertain)
        };
        // Full lips the mesh parts: lip inside, a closed mouth without doubt.
        assert_eq!(case(0.057, Some(-0.5)), (Status::Pass, false));
        assert_eq!(case(0.057, Some(4.9)), (Status::Pass, false));
        // The dark line of closed lips, teeth, or nothing measured: the doubt stays.
        assert_eq!(case(0.057, Some(-10.0)), (Status::Pass, true));
        assert_eq!(case(0.057, Some(15.0)), (Status::Pass, true));
        assert_eq!(case(0.057, None), (Status::Pass, true));
        // Over the limit it fails whatever lies inside.
        assert_eq!(case(0.062, Some(0.0)).0, Status::Fail);
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
    fn a_smile_the_expression_network_reads_fails_even_with_a_level_closed_mouth() {
        use CheckCode::FaceExpression as C;
        edge(
            C,
            |c| subj(c).happy = Some(0.49),
            |c| subj(c).happy = Some(0.51),
        );
        let mut c = Case::good();
        subj(&mut c).happy = Some(0.9);
        let x = find(&c, C);
        assert!(
            x.message.contains("表情识别为微笑的可能 90%"),
            "{}",
            x.message
        );
        assert!(x.message.contains("抿嘴微笑"));
        // Without the network's reading the mouth shape alone decides, as before.
        let mut c = Case::good();
        subj(&mut c).happy = None;
        let x = find(&c, C);
        assert_eq!(x.status, Status::Pass);
        assert!(!x.message.contains("微笑可能"));
        // A neutral reading says so in the pass message.
        let x = find(&Case::good(), C);
        assert!(x.message.contains("微笑可能 1%"), "{}", x.message);
    }

    #[test]
    fn subject_values_within_their_uncertainty_of_a_limit_make_a_review() {
        type Set = fn(&mut SubjectMeasures);
        // (code, just inside but within the uncertainty, inside and clear of it)
        let cases: [(CheckCode, Set, Set); 8] = [
            (
                CheckCode::PoseYaw,
                |s| s.yaw_deg = -7.0,
                |s| s.yaw_deg = -6.0,
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
            (
                CheckCode::FaceExpression,
                |s| s.happy = Some(0.4),
                |s| s.happy = Some(0.2),
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
}
