//! Face count and placement on the canvas: face width, crown, eye line, centring and roll, from
//! the detected face and the crown row.

use super::*;

/// The placement checks for a face the frame cuts off (`Observation::beyond_frame`, box `b` in
/// the photo's pixels): each edge it crosses fails the check that bounds that edge: the top
/// the crown, the bottom the eye line (the eyes cannot then be high enough), the sides the face
/// width when the face is wider than allowed, else the centring. What cannot be measured on a
/// cut face is skipped with that reason.
fn beyond_frame_checks(b: [f32; 4], w: u32, h: u32, p: &Profile) -> Vec<Check> {
    use CheckCode::*;
    let why = "人脸超出照片边框，无法检查此项";
    let (sx, _) = p.scale_to(w, h);
    let lim = p.face_width_px.scaled(sx);
    let width = f64::from(b[2] - b[0]);
    let too_wide = width > lim.max;
    let cut_side = b[0] < 0.0 || b[2] > w as f32;
    let face_width = if too_wide {
        with(
            check(
                GeometryFaceWidth,
                Status::Fail,
                format!(
                    "头部过大，脸部超出照片边框（脸宽约 {width:.0} 像素，{}），请远离镜头或缩小头部后重新拍摄",
                    range_text(lim)
                ),
            ),
            width,
            Some(lim),
            "px",
        )
    } else {
        skipped(GeometryFaceWidth, why, false)
    };
    let crown = if b[1] < 0.0 {
        check(
            GeometryCrown,
            Status::Fail,
            "头顶超出照片上边缘，头部不完整，请重新取景，使头顶上方留出空白",
        )
    } else {
        skipped(GeometryCrown, why, false)
    };
    let eye_line = if b[3] > h as f32 {
        check(
            GeometryEyeLine,
            Status::Fail,
            "脸部下方超出照片下边缘，眼睛位置过低，请重新取景",
        )
    } else {
        skipped(GeometryEyeLine, why, false)
    };
    let centered = if cut_side && !too_wide {
        check(
            GeometryCentered,
            Status::Fail,
            "人脸偏向一侧，超出照片边框，请让申请人位于画面中央",
        )
    } else {
        skipped(GeometryCentered, why, false)
    };
    vec![
        face_width,
        crown,
        eye_line,
        centered,
        skipped(PoseRoll, why, false),
    ]
}

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
        Some(0) if obs.beyond_frame.is_some() => with(
            check(FaceCount, Status::Pass, "检测到一张人脸（超出照片边框）"),
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
    if let (Some(0), Some(b), Some((w, h))) = (obs.face_count, obs.beyond_frame, obs.size) {
        out.extend(beyond_frame_checks(b, w, h, p));
        return;
    }
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
    let ied = {
        let (l, r) = (face.left_eye, face.right_eye);
        f64::from((r[0] - l[0]).hypot(r[1] - l[1]))
    };
    let ied_short = p.eye_distance_min_px.filter(|&min| ied < min);
    let msg = if let Some(min) = ied_short {
        format!(
            "两眼间距只有 {ied:.0} 像素（至少 {min:.0}），照片分辨率不足，请放大头部或使用更高分辨率"
        )
    } else if fw < lim.min {
        format!(
            "头部偏小（脸宽 {fw:.0} 像素，应为 {:.0}–{:.0}），请靠近镜头或放大头部",
            lim.min, lim.max
        )
    } else if fw > lim.max {
        format!(
            "头部偏大（脸宽 {fw:.0} 像素，{}），请远离镜头或缩小头部",
            range_text(lim)
        )
    } else if lim.min <= 0.0 {
        format!(
            "脸部宽度 {fw:.0} 像素，符合要求（至多 {:.0} 像素）",
            lim.max
        )
    } else {
        format!(
            "脸部宽度 {fw:.0} 像素，符合 {:.0}–{:.0} 像素",
            lim.min, lim.max
        )
    };
    out.push(with(
        check(
            GeometryFaceWidth,
            pass_fail(lim.contains(fw) && ied_short.is_none()),
            msg,
        ),
        fw,
        Some(lim),
        "px",
    ));
    // geometry.eye_line (computed first: the crown rule defers to it)
    let eye_from_bottom = f64::from(h) - f64::from(face.eye_mid()[1]);
    let eye_lim = p.eye_line_from_bottom_px.scaled(sy);
    // geometry.crown: the crown's distance from the top edge (GA 461), or the head's height
    // from chin to crown as a share of the image's (ICAO).
    let crown = obs.measures.and_then(|m| m.crown);
    let crown_lim = p.crown_px.map(|c| c.scaled(sy));
    out.push(match (crown, crown_lim, p.chin_crown_fraction) {
        (Some(crown), _, Some(share)) => {
            head_height_check(f64::from(face.chin[1]), f64::from(crown), f64::from(h), share)
        }
        (None, _, _) => skipped(GeometryCrown, "无法确定头顶位置（背景与头发难以区分），请人工复核", true),
        (Some(crown), None, None) => with(
            check(GeometryCrown, Status::Pass, format!("头顶距上边缘 {crown:.0} 像素（本规格不限）")),
            f64::from(crown),
            None,
            "px",
        ),
        (Some(crown), Some(crown_lim), None) => {
            let crown = f64::from(crown);
            let (status, msg) = if crown_lim.contains(crown) {
                (Status::Pass, format!("头顶距上边缘 {crown:.0} 像素，符合 {:.0}–{:.0} 像素", crown_lim.min, crown_lim.max))
            } else if crown < crown_lim.min {
                // GA 461: when crown and eye rules conflict, the eye rule wins (tall hair may
                // be cropped). Moving the head down to satisfy the crown must not break it.
                // A crown at the edge (0: the head runs off the top) is tall hair, not a cut
                // skull, while the face is no wider than its limit: the eyes are then at least
                // 227 px below the top (within the crown band of their own limit), over 1.03
                // face widths, and the crown with its hair sits at most 1.05 face widths above
                // the eyes on the fixtures, the skull lower (docs/checks.md, Face and geometry).
                let room = eye_from_bottom - (crown_lim.min - crown);
                let standard_head = fw <= lim.max;
                if room < eye_lim.min && (crown > 0.0 || standard_head) {
                    let msg = if crown > 0.0 {
                        format!("头顶距上边缘仅 {crown:.0} 像素，但下移会使眼睛过低，按眼线优先处理（头发较高可裁切）")
                    } else {
                        "头发顶部超出上边缘，但下移会使眼睛过低，按眼线优先处理（头发较高可裁切）".to_string()
                    };
                    (Status::Warn, msg)
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

/// `geometry.crown` for a profile that bounds the head's height: chin to crown as a share of
/// the image height `h`, within `share`.
fn head_height_check(chin_y: f64, crown: f64, h: f64, share: Range) -> Check {
    use CheckCode::GeometryCrown;
    let head = (chin_y - crown) / h;
    let (lo, hi) = (share.min * 100.0, share.max * 100.0);
    let pct = head * 100.0;
    let (status, msg) = if crown <= 0.0 {
        (
            Status::Fail,
            "头顶被裁切，请下移头部或远离镜头，使头部完整入画".to_string(),
        )
    } else if head < share.min {
        (
            Status::Fail,
            format!(
                "头部偏小（下巴到头顶占照片高度的 {pct:.0}%，应为 {lo:.0}–{hi:.0}%），请靠近镜头"
            ),
        )
    } else if head > share.max {
        (
            Status::Fail,
            format!(
                "头部偏大（下巴到头顶占照片高度的 {pct:.0}%，应为 {lo:.0}–{hi:.0}%），请远离镜头"
            ),
        )
    } else {
        (
            Status::Pass,
            format!("下巴到头顶占照片高度的 {pct:.0}%，符合 {lo:.0}–{hi:.0}%"),
        )
    };
    with(
        check(GeometryCrown, status, msg),
        pct,
        Some(Range::new(lo, hi)),
        "%",
    )
}

/// A width range for a clerk: `应为 193–221`, or `至多 236` when it has no lower bound.
fn range_text(r: Range) -> String {
    if r.min <= 0.0 {
        format!("至多 {:.0}", r.max)
    } else {
        format!("应为 {:.0}–{:.0}", r.min, r.max)
    }
}

#[cfg(test)]
mod rule_tests {
    //! The rules at the edges of their limits, on hand-made observations.
    use super::super::testkit::*;
    use super::super::*;

    /// A case on ICAO's 413 × 531 canvas: eyes at 40 % from the top, the given face width and
    /// crown, the chin 0.75 of the height below the crown unless moved.
    fn icao_case(width: f32, crown: f32, head_share: f32) -> Case {
        let mut c = Case::good();
        c.size = (413, 531);
        c.face = face(width, 0.42 * 531.0, 206.5, 0.0);
        c.face.chin[1] = crown + head_share * 531.0;
        c.m.crown = Some(crown);
        c
    }

    fn icao(c: &Case, code: CheckCode) -> Check {
        c.run_with(&Profile::icao())
            .into_iter()
            .find(|x| x.code == code)
            .unwrap()
    }

    #[test]
    fn icao_bounds_the_head_height_the_width_ratio_and_the_eye_distance() {
        use CheckCode::*;
        // Chin to crown: 70-80 % of the height.
        for (share, want) in [
            (0.75, Status::Pass),
            (0.705, Status::Pass),
            (0.69, Status::Fail),
            (0.81, Status::Fail),
        ] {
            let c = icao_case(220.0, 40.0, share);
            let crown = icao(&c, GeometryCrown);
            assert_eq!(crown.status, want, "{share}: {}", crown.message);
            assert_eq!(crown.unit.as_deref(), Some("%"));
        }
        // Image width : head width ≥ 7:4 (236 px on 413), the cheeks at most that.
        assert_eq!(
            icao(&icao_case(234.0, 40.0, 0.75), GeometryFaceWidth).status,
            Status::Pass
        );
        let wide = icao(&icao_case(240.0, 40.0, 0.75), GeometryFaceWidth);
        assert_eq!(wide.status, Status::Fail);
        assert!(wide.message.contains("至多 236"), "{}", wide.message);
        // Eyes 90 px apart at least, in the photo's own pixels: a small photo fails.
        let mut small = icao_case(200.0, 20.0, 0.75);
        small.size = (200, 257);
        small.face = face(100.0, 0.42 * 257.0, 100.0, 0.0);
        small.face.chin[1] = 20.0 + 0.75 * 257.0;
        let w = icao(&small, GeometryFaceWidth);
        assert_eq!(w.status, Status::Fail);
        assert!(w.message.contains("两眼间距"), "{}", w.message);
        // GA 461 keeps its crown band and has no eye-distance rule.
        let ga = find(&Case::good(), GeometryCrown);
        assert_eq!(ga.unit.as_deref(), Some("px"));
    }

    #[test]
    fn face_width_limits_are_193_and_221() {
        use CheckCode::GeometryFaceWidth as C;
        // Mesh cheek distances half a pixel either side of a limit.
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
    fn tall_hair_off_the_top_edge_gives_way_to_the_eye_rule_on_a_head_of_standard_size() {
        use CheckCode::GeometryCrown as C;
        // The hair runs off the top (crown 0) and the eyes are 209 px above the bottom: moving
        // the head down the 7 px the crown band needs would put them at 202.
        let mut c = Case::good();
        c.face = face(207.0, 232.0, 179.0, 0.0);
        c.m.crown = Some(0.0);
        assert_eq!(c.status(C), Status::Warn);
        assert_eq!(c.status(CheckCode::GeometryEyeLine), Status::Pass);
        // A head wider than the limit: the top may be the skull, cut: a failure.
        c.face = face(225.0, 232.0, 179.0, 0.0);
        assert_eq!(c.status(C), Status::Fail);
        // Room to move the head down: the crop is the photo's fault.
        let mut c = Case::good();
        c.face = face(207.0, 220.0, 179.0, 0.0);
        c.m.crown = Some(0.0);
        assert_eq!(c.status(C), Status::Fail);
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
    fn a_face_the_frame_cuts_fails_the_edge_it_crosses_not_the_face_count() {
        use CheckCode::*;
        let run = |b: [f32; 4]| {
            let mut c = Case::good();
            c.faces = 0;
            c.beyond = Some(b);
            let checks = c.run();
            let get = |code: CheckCode| checks.iter().find(|x| x.code == code).unwrap().clone();
            assert_eq!(get(FaceCount).status, Status::Pass, "{b:?}");
            assert_eq!(Verdict::from_checks(&checks), Verdict::Fail, "{b:?}");
            (
                get(GeometryFaceWidth),
                get(GeometryCrown),
                get(GeometryEyeLine),
                get(GeometryCentered),
            )
        };
        // Wider than the photo and cut at the top: too large, crown missing.
        let (fw, crown, eyes, centred) = run([-40.0, -30.0, 400.0, 420.0]);
        assert_eq!(fw.status, Status::Fail);
        assert!(fw.message.contains("头部过大"), "{}", fw.message);
        assert_eq!(fw.value, Some(serde_json::json!(440.0)));
        assert_eq!(crown.status, Status::Fail);
        assert!(crown.message.contains("头顶超出"), "{}", crown.message);
        assert_eq!(eyes.status, Status::Skipped);
        assert_eq!(centred.status, Status::Skipped);
        // A face of allowed width pushed past the right edge: off-centre, not too large.
        let (fw, crown, _, centred) = run([250.0, 100.0, 420.0, 300.0]);
        assert_eq!(fw.status, Status::Skipped);
        assert_eq!(crown.status, Status::Skipped);
        assert_eq!(centred.status, Status::Fail);
        // Cut at the bottom: the eyes cannot be high enough.
        let (_, _, eyes, _) = run([80.0, 200.0, 280.0, 470.0]);
        assert_eq!(eyes.status, Status::Fail);
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
