//! The backdrop: lightness, uniformity and shadows behind the head.

use super::*;

pub(crate) fn background_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    let Some(m) = obs.measures else {
        let why = "照片无法解码，无法检查此项";
        out.push(skipped(BackgroundColor, why, false));
        out.push(skipped(BackgroundUniformity, why, false));
        return;
    };
    let b = &m.backdrop;
    if b.pixels == 0 {
        let mut c = check(
            BackgroundColor,
            Status::Fail,
            "照片边缘没有可识别的背景，请在纯白背景前拍摄",
        );
        c.unit = Some("L*".into());
        out.push(c);
        out.push(check(
            BackgroundUniformity,
            Status::Fail,
            "照片边缘没有均匀的背景，请在纯白背景前拍摄",
        ));
        return;
    }
    let l = f64::from(b.lightness);
    let chroma = f64::from(b.chroma);
    let ok = l >= p.background_lightness_min && chroma <= p.background_chroma_max;
    let msg = if ok {
        format!("背景为白色（亮度 {l:.0}，色度 {chroma:.1}）")
    } else if chroma > p.background_chroma_max {
        format!(
            "背景不是白色（带有颜色，色度 {chroma:.0}，至多 {:.0}），请在纯白背景前拍摄",
            p.background_chroma_max
        )
    } else {
        format!(
            "背景不够白（亮度 {l:.0}，至少 {:.0}），请使用纯白背景并补光",
            p.background_lightness_min
        )
    };
    out.push(with(
        check(BackgroundColor, pass_fail(ok), msg),
        l,
        Some(Range::new(p.background_lightness_min, 100.0)),
        "L*",
    ));
    let drop = f64::from(b.shadow_drop);
    let cov = f64::from(b.coverage);
    let shadow_ok = drop <= p.background_shadow_max;
    let cover_ok = cov >= p.background_coverage_min;
    let msg = match (shadow_ok, cover_ok) {
        (true, true) => format!("背景均匀（最暗处比整体暗 {drop:.0}）"),
        (false, _) => format!("背景有阴影或明暗不均（最暗处比整体暗 {drop:.0}，至多 {:.0}），请调整灯光、让申请人离背景远一些", p.background_shadow_max),
        (true, false) => format!("背景有杂物或花纹（纯色背景只占边缘的 {:.0}%），请在纯白背景前拍摄", cov * 100.0),
    };
    out.push(with(
        check(BackgroundUniformity, pass_fail(shadow_ok && cover_ok), msg),
        drop,
        Some(Range::new(0.0, p.background_shadow_max)),
        "L*",
    ));
}

#[cfg(test)]
mod rule_tests {
    //! The rules at the edges of their limits, on hand-made observations.
    use super::super::testkit::*;
    use super::super::*;

    #[test]
    fn background_limits() {
        use CheckCode::*;
        edge(
            BackgroundColor,
            |c| c.m.backdrop.lightness = 88.5,
            |c| c.m.backdrop.lightness = 87.5,
        );
        edge(
            BackgroundColor,
            |c| c.m.backdrop.chroma = 7.9,
            |c| c.m.backdrop.chroma = 8.1,
        );
        edge(
            BackgroundUniformity,
            |c| c.m.backdrop.shadow_drop = 14.9,
            |c| c.m.backdrop.shadow_drop = 15.1,
        );
        edge(
            BackgroundUniformity,
            |c| c.m.backdrop.coverage = 0.61,
            |c| c.m.backdrop.coverage = 0.59,
        );
    }
}
