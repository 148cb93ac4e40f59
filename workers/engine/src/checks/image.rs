//! Image checks: pixel size, colour, compression quality, from the header and the decoded
//! pixels.

use super::*;

pub(crate) fn image_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    // image.dimensions: from the decoded image, else from the header (a bomb still has a size).
    let size = obs.size.or_else(|| obs.header.map(|h| h.oriented_size()));
    out.push(match (size, p.dimensions) {
        (None, _) => skipped(ImageDimensions, "无法读取照片尺寸", false),
        (Some((w, h)), Some((rw, rh))) => {
            let ok = (w, h) == (rw, rh);
            let msg = if ok {
                format!("照片尺寸 {w}×{h} 像素，符合要求")
            } else {
                format!("照片尺寸 {w}×{h} 像素，应为 {rw}×{rh} 像素，请按标准尺寸裁剪或重新导出")
            };
            let mut c = check(ImageDimensions, pass_fail(ok), msg);
            c.value = Some(json!([w, h]));
            c.unit = Some("px".into());
            c
        }
        (Some((w, h)), None) => {
            let (cw, ch) = p.canvas;
            let ratio = f64::from(w) / f64::from(h);
            let want = f64::from(cw) / f64::from(ch);
            let ok = (ratio - want).abs() / want < 0.02 && w >= cw / 2;
            let msg = if ok {
                format!("照片尺寸 {w}×{h} 像素，比例符合要求")
            } else {
                format!(
                    "照片尺寸 {w}×{h} 像素，宽高比应为 {cw}:{ch} 且宽度至少 {} 像素",
                    cw / 2
                )
            };
            let mut c = check(ImageDimensions, pass_fail(ok), msg);
            c.value = Some(json!([w, h]));
            c.unit = Some("px".into());
            c
        }
    });
    // image.resolution
    out.push(match (obs.header, p.dpi) {
        (None, _) => skipped(ImageResolution, "无法读取照片文件信息", false),
        (Some(_), None) => check(ImageResolution, Status::Pass, "本规格不限定分辨率"),
        (Some(h), Some(want)) => match h.dpi {
            None => {
                let mut c = check(
                    ImageResolution,
                    Status::Fail,
                    format!("照片未记录分辨率，应为 {want:.0} dpi，请在导出时设置分辨率"),
                );
                c.unit = Some("dpi".into());
                c.min = Some(want);
                c.max = Some(want);
                c
            }
            Some((x, y)) => {
                let ok = (x - want).abs() < 1.0 && (y - want).abs() < 1.0;
                let msg = if ok {
                    format!("分辨率 {x:.0} dpi，符合要求")
                } else {
                    format!("分辨率为 {x:.0}×{y:.0} dpi，应为 {want:.0} dpi，请在导出时设置分辨率")
                };
                let mut c = check(ImageResolution, pass_fail(ok), msg);
                c.value = Some(json!(round1(x)));
                c.min = Some(want);
                c.max = Some(want);
                c.unit = Some("dpi".into());
                c
            }
        },
    });
    // image.color
    out.push(match obs.header {
        None => skipped(ImageColor, "无法读取照片文件信息", false),
        Some(h) => {
            let (ok, msg) = match (h.color, h.bits) {
                (ColorModel::Grey, _) => (
                    false,
                    "照片是黑白（灰度）照片，请使用 24 位彩色照片".to_string(),
                ),
                (ColorModel::Cmyk, _) => (
                    false,
                    "照片是 CMYK 印刷色彩模式，请转换为 RGB 24 位彩色后导出".to_string(),
                ),
                (ColorModel::Rgb, 8) => match obs.colourful {
                    Some(c) if c < 0.005 => (
                        false,
                        "照片几乎没有色彩（黑白照片存为彩色格式），请使用彩色照片".to_string(),
                    ),
                    _ => (true, "24 位 RGB 彩色，符合要求".to_string()),
                },
                (ColorModel::Rgba, _) => (
                    false,
                    "照片带透明通道，请导出为 24 位 RGB 彩色 JPEG".to_string(),
                ),
                (_, bits) => (
                    false,
                    format!("照片色彩格式不符（每通道 {bits} 位），请导出为 24 位 RGB 彩色"),
                ),
            };
            let mut c = check(ImageColor, pass_fail(ok), msg);
            c.value = Some(json!(h.color.name()));
            c
        }
    });
}

#[cfg(test)]
mod rule_tests {
    //! The rules at the edges of their limits, on hand-made observations.
    use super::super::testkit::*;
    use super::super::*;

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
}
