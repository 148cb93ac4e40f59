//! Image quality on the face: exposure, dynamic range, sharpness, noise, illumination,
//! colour cast and compression artefacts.

use super::*;

pub(crate) fn quality_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    let face_codes = [
        QualitySharpness,
        QualityExposure,
        QualityDynamicRange,
        QualityIllumination,
        QualityColor,
    ];
    let Some(m) = obs.measures else {
        let why = "照片无法解码，无法检查此项";
        out.extend(face_codes.iter().map(|&c| skipped(c, why, false)));
        out.push(skipped(QualityCompression, why, false));
        out.push(skipped(QualityNoise, why, false));
        return;
    };
    let face_reason = no_face_reason(obs);
    // quality.sharpness
    out.push(match (face_reason, m.sharpness) {
        (Some((why, u)), _) => skipped(QualitySharpness, why, u),
        (None, None) => skipped(QualitySharpness, "人脸区域过小，无法评估清晰度", true),
        (None, Some(s)) => {
            let s = f64::from(s);
            let ok = s >= p.sharpness_min;
            let msg = if ok {
                format!("面部清晰（清晰度 {s:.2}，至少 {:.2}）", p.sharpness_min)
            } else {
                format!(
                    "照片模糊（清晰度 {s:.2}，至少 {:.2}），请对焦后重新拍摄，拍摄时保持不动",
                    p.sharpness_min
                )
            };
            with(
                check(QualitySharpness, pass_fail(ok), msg),
                s,
                Some(Range::new(p.sharpness_min, f64::MAX)),
                "ratio",
            )
        }
    });
    // quality.exposure and quality.dynamic_range
    match (face_reason, m.tone) {
        (None, Some(t)) => {
            let mean = f64::from(t.mean);
            let clipped = f64::from(t.clipped);
            let lim = p.exposure_mean;
            // Each failure reports the measure that failed, with that measure's limits.
            let exposure = if mean < lim.min {
                with(
                    check(
                        QualityExposure,
                        Status::Fail,
                        format!(
                            "面部过暗（平均亮度 {mean:.0}，应为 {:.0}–{:.0}），请增加灯光或调整曝光",
                            lim.min, lim.max
                        ),
                    ),
                    mean,
                    Some(lim),
                    "luma",
                )
            } else if mean > lim.max {
                with(
                    check(
                        QualityExposure,
                        Status::Fail,
                        format!(
                            "面部过亮（平均亮度 {mean:.0}，应为 {:.0}–{:.0}），请减弱灯光或降低曝光",
                            lim.min, lim.max
                        ),
                    ),
                    mean,
                    Some(lim),
                    "luma",
                )
            } else if clipped > p.exposure_clipped_max {
                with(
                    check(
                        QualityExposure,
                        Status::Fail,
                        format!(
                            "面部有大片过曝或死黑（占面部的 {:.0}%，至多 {:.0}%；平均亮度 {mean:.0} 正常），请调整灯光，避免强光直射或阴影",
                            clipped * 100.0,
                            p.exposure_clipped_max * 100.0
                        ),
                    ),
                    clipped * 100.0,
                    Some(Range::new(0.0, p.exposure_clipped_max * 100.0)),
                    "%",
                )
            } else if let Some((e, grey)) = under_exposed(m, &t, p) {
                // The whites of the eyes are dark: the face lacks light whatever its skin
                // tone. Under a grey backdrop the whole photo does (a higher bar: the backdrop
                // darkened with the face); under a white one the face alone (lit badly, the
                // backdrop replaced afterwards; docs/checks.md, Quality).
                let (least, msg) = if grey {
                    (
                        p.eye_white_min,
                        format!(
                            "照片整体偏暗（背景发灰，眼白亮度仅 {e:.0}，至少 {:.0}），请增加灯光或调整曝光后重新拍摄",
                            p.eye_white_min
                        ),
                    )
                } else {
                    (
                        p.eye_white_floor,
                        format!(
                            "面部偏暗（眼白亮度仅 {e:.0}，至少 {:.0}），请增加面部正面补光或调整曝光后重新拍摄",
                            p.eye_white_floor
                        ),
                    )
                };
                let mut c = with(
                    check(QualityExposure, Status::Fail, msg),
                    e,
                    Some(Range::new(least, 255.0)),
                    "luma",
                );
                c.uncertain = e >= least - EYE_WHITE_UNCERTAINTY;
                c
            } else {
                with(
                    check(
                        QualityExposure,
                        Status::Pass,
                        format!("面部曝光正常（平均亮度 {mean:.0}）"),
                    ),
                    mean,
                    Some(lim),
                    "luma",
                )
            };
            out.push(exposure);
            let dr = f64::from(t.p95 - t.p5);
            let ok = dr >= p.dynamic_range_min;
            let msg = if ok {
                format!(
                    "面部层次丰富（亮度范围 {dr:.0}，至少 {:.0}）",
                    p.dynamic_range_min
                )
            } else {
                format!("面部层次不足（亮度范围 {dr:.0}，至少 {:.0}），照片发灰、过暗或过曝，请调整灯光和曝光", p.dynamic_range_min)
            };
            out.push(with(
                check(QualityDynamicRange, pass_fail(ok), msg),
                dr,
                Some(Range::new(p.dynamic_range_min, 255.0)),
                "luma",
            ));
        }
        (reason, _) => {
            let (why, u) = reason.unwrap_or(("无法测量面部亮度", true));
            out.push(skipped(QualityExposure, why, u));
            out.push(skipped(QualityDynamicRange, why, u));
        }
    }
    // quality.illumination and quality.color
    match (face_reason, m.skin) {
        (None, Some(s)) => {
            let stops = f64::from(s.side_stops());
            let ok = stops <= p.illumination_max_stops;
            let msg = if ok {
                format!("面部光照均匀（左右亮度差 {stops:.2} 档）")
            } else {
                let darker = if s.left_luma < s.right_luma {
                    "左"
                } else {
                    "右"
                };
                format!(
                    "面部光照不均，照片{darker}侧脸偏暗（相差 {stops:.1} 档，至多 {:.1}），请从正面均匀补光",
                    p.illumination_max_stops
                )
            };
            out.push(with(
                check(QualityIllumination, pass_fail(ok), msg),
                stops,
                Some(Range::new(0.0, p.illumination_max_stops)),
                "stops",
            ));
            out.push(skin_colour(&s, p));
        }
        (reason, _) => {
            let (why, u) = reason.unwrap_or(("无法采样肤色", true));
            out.push(skipped(QualityIllumination, why, u));
            out.push(skipped(QualityColor, why, u));
        }
    }
    // quality.compression: the quantisation table says how hard the file was compressed; the
    // blocking ratio catches heavy compression hidden by a later re-save at high quality.
    let q = obs.header.and_then(|h| h.jpeg_quality());
    let block = f64::from(m.blockiness);
    let q_ok = q.is_none_or(|q| q >= p.jpeg_quality_min);
    let ok = q_ok && block <= p.blockiness_max;
    let msg = match (ok, q) {
        (true, Some(q)) => format!("压缩质量正常（质量系数约 {q:.0}）"),
        (true, None) => "无明显压缩痕迹".to_string(),
        (false, Some(q)) if !q_ok => format!(
            "照片压缩过度（质量系数约 {q:.0}，至少 {:.0}），出现马赛克方块，请以质量 70 重新导出",
            p.jpeg_quality_min
        ),
        (false, _) => {
            format!("照片有明显的压缩方块（块效应 {block:.2}），请使用原始照片以质量 70 重新导出")
        }
    };
    let mut c = check(QualityCompression, pass_fail(ok), msg);
    match q {
        Some(q) => {
            c.value = Some(json!(q));
            c.min = Some(p.jpeg_quality_min);
            c.unit = Some("jpeg_quality".into());
        }
        None => {
            c.value = Some(json!(round1(block * 100.0) / 100.0));
            c.max = Some(p.blockiness_max);
            c.unit = Some("blockiness".into());
        }
    }
    out.push(c);
    // quality.noise
    let n = f64::from(m.noise);
    let ok = n <= p.noise_max;
    let msg = if ok {
        format!("噪点正常（噪声 {n:.1}）")
    } else {
        format!(
            "照片噪点过多（噪声 {n:.1}，至多 {:.1}），请增加光线、降低感光度后重新拍摄",
            p.noise_max
        )
    };
    out.push(with(
        check(QualityNoise, pass_fail(ok), msg),
        n,
        Some(Range::new(0.0, p.noise_max)),
        "sigma",
    ));
}

/// Luma levels within which the whites of the eyes are too close to their limit to be sure.
const EYE_WHITE_UNCERTAINTY: f64 = 5.0;

/// The whites of the eyes' luma, and whether the backdrop reads grey, when the face is
/// under-exposed: the whites are below `eye_white_floor` whatever the backdrop (a face lit badly
/// and set on white afterwards), or the backdrop behind the head is neutral but darker than the
/// white it must be and the whites are below the higher `eye_white_min` (the whole photo lacks
/// light). A dark face with bright eyes is dark skin, and a grey backdrop in good light leaves
/// the eyes' whites bright (compliant photos: 139–205), so neither alone is taken
/// for under-exposure.
fn under_exposed(m: &Measures, t: &FaceTone, p: &Profile) -> Option<(f64, bool)> {
    let grey = f64::from(m.background.lightness) < p.background_lightness_min
        && f64::from(m.background.chroma) <= p.background_chroma_max;
    let e = f64::from(t.eye_white?);
    // Blur smears the whites into the iris and lids: below the floor alone they are read on a
    // sharp face only (a blurred one fails its sharpness, with the right reason).
    let sharp = m.sharpness.is_some_and(|s| f64::from(s) >= p.sharpness_min);
    ((sharp && e < p.eye_white_floor) || (grey && e < p.eye_white_min)).then_some((e, grey))
}

/// `quality.color`: the skin's hue must lie in the band of natural skin and its chroma between
/// a colourless and a saturated face. The value reported is the measure that decides: the hue
/// when it is outside the band on a face with colour (a blue, magenta or green cast), else the
/// chroma (a grey face; a warm cast, which keeps the hue in the skin band and shows only
/// there), `uncertain` within its uncertainty of the upper limit.
fn skin_colour(s: &crate::measure::SkinSample, p: &Profile) -> Check {
    use CheckCode::QualityColor;
    let hue = f64::from(s.hue_deg());
    let chroma = f64::from(s.chroma());
    let by_chroma = |status: Status, msg: String| {
        let mut c = with(
            check(QualityColor, status, msg),
            chroma,
            Some(p.skin_chroma),
            "chroma",
        );
        c.uncertain = near_limit(chroma, p.skin_chroma.max, p.skin_chroma_uncertainty);
        c
    };
    if chroma < p.skin_chroma.min {
        // The hue of a colourless face means nothing: the chroma is the reason.
        by_chroma(
            Status::Fail,
            format!("面部缺少色彩（饱和度 {chroma:.0}），照片发灰或为黑白，请检查白平衡和曝光"),
        )
    } else if !p.skin_hue_deg.contains(hue) {
        let cast = if hue > p.skin_hue_deg.max {
            "偏黄或偏绿"
        } else {
            "偏红、偏紫或偏蓝"
        };
        with(
            check(
                QualityColor,
                Status::Fail,
                format!(
                    "照片偏色（肤色{cast}，色相 {hue:.0}°，应为 {:.0}–{:.0}°），请调整白平衡",
                    p.skin_hue_deg.min, p.skin_hue_deg.max
                ),
            ),
            hue,
            Some(p.skin_hue_deg),
            "deg",
        )
    } else if chroma > p.skin_chroma.max {
        by_chroma(
            Status::Fail,
            format!(
                "面部颜色过于浓艳或偏暖（饱和度 {chroma:.0}，至多 {:.0}），请检查白平衡和色彩设置",
                p.skin_chroma.max
            ),
        )
    } else {
        by_chroma(
            Status::Pass,
            format!("肤色自然（色相 {hue:.0}°，饱和度 {chroma:.0}）"),
        )
    }
}

#[cfg(test)]
mod rule_tests {
    //! The rules at the edges of their limits, on hand-made observations.
    use super::super::testkit::*;
    use super::super::*;
    use super::EYE_WHITE_UNCERTAINTY;

    /// `quality.exposure` of the compliant case with this backdrop (L*, chroma) and eyes'
    /// whites.
    fn case(lightness: f32, chroma: f32, eye: f32) -> Check {
        let mut c = Case::good();
        c.m.background.lightness = lightness;
        c.m.background.chroma = chroma;
        c.m.tone.as_mut().unwrap().eye_white = Some(eye);
        find(&c, CheckCode::QualityExposure)
    }

    /// The profile's two limits on the whites of the eyes: under a grey backdrop, and anywhere.
    fn limits() -> (f32, f32) {
        let p = Profile::ga461();
        (p.eye_white_min as f32, p.eye_white_floor as f32)
    }

    #[test]
    fn a_grey_backdrop_with_dark_eye_whites_is_under_exposure_and_either_alone_is_not() {
        let (grey_min, floor) = limits();
        assert!(floor + 2.0 * EYE_WHITE_UNCERTAINTY as f32 <= grey_min);
        let e = case(70.0, 1.0, floor - 20.0);
        assert_eq!(e.status, Status::Fail, "{e:?}");
        assert!(e.message.contains("偏暗"), "{}", e.message);
        assert_eq!(
            e.value.as_ref().and_then(|v| v.as_f64()),
            Some(f64::from(floor - 20.0))
        );
        assert!(!e.uncertain);
        // Just under the limit: a fail the measurement cannot be sure of.
        let e = case(70.0, 1.0, grey_min - 3.0);
        assert_eq!(e.status, Status::Fail);
        assert!(e.message.contains("背景发灰"), "{}", e.message);
        assert!(e.uncertain);
        // A grey backdrop in good light (bright eyes), a white or coloured backdrop with eyes'
        // whites between the floor and the grey backdrop's limit: not under-exposure.
        let between = (floor + grey_min) / 2.0;
        assert_eq!(case(70.0, 1.0, grey_min + 5.0).status, Status::Pass);
        assert_eq!(case(95.0, 1.0, between).status, Status::Pass);
        assert_eq!(case(70.0, 20.0, between).status, Status::Pass);
    }

    #[test]
    fn eyes_whites_below_the_floor_are_under_exposure_on_any_backdrop() {
        let (_, floor) = limits();
        // A dim face on a white backdrop (lit badly, the backdrop replaced afterwards).
        let e = case(99.0, 0.5, floor - 25.0);
        assert_eq!(e.status, Status::Fail, "{e:?}");
        assert!(e.message.contains("面部偏暗"), "{}", e.message);
        assert_eq!(e.min, Some(f64::from(floor)));
        assert!(!e.uncertain);
        // On a coloured backdrop too; within the uncertainty under the floor: unsure.
        assert_eq!(case(70.0, 20.0, floor - 25.0).status, Status::Fail);
        let e = case(99.0, 0.5, floor - 3.0);
        assert_eq!(e.status, Status::Fail);
        assert!(e.uncertain);
        // At the floor: passes, the face's mean is reported.
        let e = case(99.0, 0.5, floor);
        assert_eq!(e.status, Status::Pass);
        assert_eq!(e.unit.as_deref(), Some("luma"));
    }

    #[test]
    fn a_failed_exposure_reports_the_measure_that_failed() {
        // Clipping fails while the mean is fine: the value and limits are the clipped share's.
        let mut c = Case::good();
        c.m.tone.as_mut().unwrap().clipped = 0.08;
        let e = find(&c, CheckCode::QualityExposure);
        assert_eq!(e.status, Status::Fail);
        assert_eq!(e.unit.as_deref(), Some("%"));
        let value = e.value.as_ref().and_then(|v| v.as_f64()).unwrap();
        assert!(value > e.max.unwrap(), "{e:?}");
        assert!(e.message.contains("8%"), "{}", e.message);
        // A dark mean reports the mean, outside its limits.
        let mut c = Case::good();
        c.m.tone.as_mut().unwrap().mean = 20.0;
        let e = find(&c, CheckCode::QualityExposure);
        assert_eq!(e.unit.as_deref(), Some("luma"));
        assert!(e.value.as_ref().and_then(|v| v.as_f64()).unwrap() < e.min.unwrap());
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
            // The left cheek's light is 0.223: half of it (plus the dark offset) is the edge.
            |c| c.m.skin.as_mut().unwrap().right_light = 0.113,
            |c| c.m.skin.as_mut().unwrap().right_light = 0.109,
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
    fn a_warm_cast_fails_on_the_skins_chroma_with_a_band_of_doubt() {
        use CheckCode::QualityColor as C;
        let at = |a: f32, b: f32| {
            let mut c = Case::good();
            let s = c.m.skin.as_mut().unwrap();
            s.a = a;
            s.b = b;
            c
        };
        // Saturated skin of a warm cast: hue 43°, inside the skin band, chroma 41.
        let warm = at(30.0, 28.0);
        assert_eq!(warm.status(C), Status::Fail);
        let got = find(&warm, C);
        assert_eq!(got.unit.as_deref(), Some("chroma"));
        assert_eq!(got.value, Some(serde_json::json!(41.0)));
        assert!(got.message.contains("偏暖"), "{}", got.message);
        // Well-lit skin of any tone (chroma up to 27) passes.
        let fine = at(18.0, 20.0);
        assert_eq!(fine.status(C), Status::Pass);
        assert!(!find(&fine, C).uncertain);
        assert_eq!(find(&fine, C).unit.as_deref(), Some("chroma"));
        // A grey face (chroma 1, its hue meaningless) is reported by its chroma.
        let grey = at(-0.5, 0.9);
        assert_eq!(grey.status(C), Status::Fail);
        assert_eq!(find(&grey, C).unit.as_deref(), Some("chroma"));
        assert!(find(&grey, C).message.contains("缺少色彩"));
        // A green cast is reported by the hue that left the skin band.
        let green = at(-25.0, 33.0);
        assert_eq!(green.status(C), Status::Fail);
        assert_eq!(find(&green, C).unit.as_deref(), Some("deg"));
        // Within the uncertainty of the limit, on either side: uncertain, by the chroma.
        for (a, b, want) in [(22.0, 21.0, Status::Pass), (25.0, 24.0, Status::Fail)] {
            let c = at(a, b);
            assert_eq!(c.status(C), want, "a* {a} b* {b}");
            assert!(find(&c, C).uncertain, "a* {a} b* {b}");
            assert_eq!(find(&c, C).unit.as_deref(), Some("chroma"));
        }
    }
}
