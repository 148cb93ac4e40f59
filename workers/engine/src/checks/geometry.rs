//! Face count and placement on the canvas: face width, crown, eye line, centring and roll, from
//! the detected face and the crown row.

use super::*;

pub(crate) fn face_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    // face.count
    out.push(match obs.face_count {
        None => skipped(FaceCount, "照片无法解码，无法检测人脸", false),
        Some(1) => with(
            check(FaceCount, Status::Pass, "检测到一张人脸"),
            1.0,
            None,
            "faces",
        ),
        Some(0) => with(
            check(
                FaceCount,
                Status::Fail,
                "未检测到人脸，请让申请人正对镜头重新拍摄",
            ),
            0.0,
            None,
            "faces",
        ),
        Some(n) => with(
            check(
                FaceCount,
                Status::Fail,
                format!("照片中检测到 {n} 张人脸，证件照只能有申请人一人"),
            ),
            n as f64,
            None,
            "faces",
        ),
    });
    let geometry = [
        GeometryFaceWidth,
        GeometryCrown,
        GeometryEyeLine,
        GeometryCentered,
        PoseRoll,
    ];
    if let Some((why, unsure)) = no_face_reason(obs) {
        out.extend(geometry.iter().map(|&c| skipped(c, why, unsure)));
        return;
    }
    let (Some(face), Some((w, h))) = (obs.face, obs.size) else {
        return;
    };
    let (sx, sy) = p.scale_to(w, h);
    // geometry.face_width
    let fw = f64::from(face.face_width());
    let lim = p.face_width_px.scaled(sx);
    let msg = if fw < lim.min {
        format!(
            "头部偏小（脸宽 {fw:.0} 像素，应为 {:.0}–{:.0}），请靠近镜头或放大头部",
            lim.min, lim.max
        )
    } else if fw > lim.max {
        format!(
            "头部偏大（脸宽 {fw:.0} 像素，应为 {:.0}–{:.0}），请远离镜头或缩小头部",
            lim.min, lim.max
        )
    } else {
        format!(
            "脸部宽度 {fw:.0} 像素，符合 {:.0}–{:.0} 像素",
            lim.min, lim.max
        )
    };
    out.push(with(
        check(GeometryFaceWidth, pass_fail(lim.contains(fw)), msg),
        fw,
        Some(lim),
        "px",
    ));
    // geometry.eye_line (computed first: the crown rule defers to it)
    let eye_from_bottom = f64::from(h) - f64::from(face.eye_mid()[1]);
    let eye_lim = p.eye_line_from_bottom_px.scaled(sy);
    // geometry.crown
    let crown_lim = p.crown_px.scaled(sy);
    out.push(match obs.measures.and_then(|m| m.crown) {
        None => skipped(GeometryCrown, "无法确定头顶位置（背景与头发难以区分），请人工复核", true),
        Some(crown) => {
            let crown = f64::from(crown);
            let (status, msg) = if crown_lim.contains(crown) {
                (Status::Pass, format!("头顶距上边缘 {crown:.0} 像素，符合 {:.0}–{:.0} 像素", crown_lim.min, crown_lim.max))
            } else if crown < crown_lim.min {
                // GA 461: when crown and eye rules conflict, the eye rule wins (tall hair may
                // be cropped). Moving the head down to satisfy the crown must not break it.
                let room = eye_from_bottom - (crown_lim.min - crown);
                if crown > 0.0 && room < eye_lim.min {
                    (Status::Warn, format!("头顶距上边缘仅 {crown:.0} 像素，但下移会使眼睛过低，按眼线优先处理（头发较高可裁切）"))
                } else if crown <= 0.0 {
                    (Status::Fail, format!("头顶被裁切，请下移头部，使头顶距上边缘 {:.0}–{:.0} 像素", crown_lim.min, crown_lim.max))
                } else {
                    (Status::Fail, format!("头顶离上边缘太近（{crown:.0} 像素），请下移头部，使头顶距上边缘 {:.0}–{:.0} 像素", crown_lim.min, crown_lim.max))
                }
            } else {
                (Status::Fail, format!("头顶离上边缘太远（{crown:.0} 像素），请上移头部，使头顶距上边缘 {:.0}–{:.0} 像素", crown_lim.min, crown_lim.max))
            };
            with(check(GeometryCrown, status, msg), crown, Some(crown_lim), "px")
        }
    });
    let ok = eye_lim.contains(eye_from_bottom);
    let msg = if ok {
        format!(
            "眼睛距下边缘 {eye_from_bottom:.0} 像素，符合要求（至少 {:.0}）",
            eye_lim.min
        )
    } else if eye_from_bottom < eye_lim.min {
        format!(
            "眼睛位置过低（距下边缘 {eye_from_bottom:.0} 像素，至少 {:.0}），请上移头部",
            eye_lim.min
        )
    } else {
        format!(
            "眼睛位置过高（距下边缘 {eye_from_bottom:.0} 像素，至多 {:.0}），请下移头部",
            eye_lim.max
        )
    };
    out.push(with(
        check(GeometryEyeLine, pass_fail(ok), msg),
        eye_from_bottom,
        Some(eye_lim),
        "px",
    ));
    // geometry.centered
    let offset = f64::from(face.eye_mid()[0]) - f64::from(w) / 2.0;
    let tol = p.centre_tolerance_px * sx;
    let ok = offset.abs() <= tol;
    let msg = if ok {
        format!("人像水平居中（偏移 {offset:.0} 像素，允许 ±{tol:.0}）")
    } else if offset < 0.0 {
        format!(
            "人像偏左 {:.0} 像素（允许 ±{tol:.0}），请使头部位于照片正中",
            -offset
        )
    } else {
        format!("人像偏右 {offset:.0} 像素（允许 ±{tol:.0}），请使头部位于照片正中")
    };
    out.push(with(
        check(GeometryCentered, pass_fail(ok), msg),
        offset,
        Some(Range::new(-tol, tol)),
        "px",
    ));
    // pose.roll
    let roll = f64::from(face.roll_deg());
    let ok = roll.abs() <= p.roll_max_deg;
    let msg = if ok {
        format!("头部端正（倾斜 {roll:.1}°，允许 ±{:.0}°）", p.roll_max_deg)
    } else {
        format!(
            "头部歪斜 {:.0}°（允许 ±{:.0}°），请让申请人坐正、头部不要偏斜",
            roll.abs(),
            p.roll_max_deg
        )
    };
    out.push(with(
        check(PoseRoll, pass_fail(ok), msg),
        roll,
        Some(Range::new(-p.roll_max_deg, p.roll_max_deg)),
        "deg",
    ));
}

#[cfg(test)]
mod rule_tests {
    //! The rules at the edges of their limits, on hand-made observations.
    use super::super::testkit::*;
    use super::super::*;

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
}
