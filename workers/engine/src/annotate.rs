//! Annotated pictures for the clerk and the reviewer: the photo at twice its size with the face
//! box, the landmarks, the GA 461 guide lines (crown band, eye-line limit, face-width band,
//! centre line) and the measured values, red where a check failed and amber where it is
//! uncertain (sent to review) or a warning. At the bottom, the verdict, each failed check and,
//! under them, each uncertain check with its value and limits (the reason for a `review`): in
//! Chinese, the checks' own messages, when a CJK font is given ([`LabelFont`]: 22-px text on
//! the 2× picture, readable at arm's length); else as ASCII codes in an 8×8 bitmap font.

use crate::measure::FaceGeometry;
use crate::{Analysis, Profile};
use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};
use photocheck_types::{CheckCode, Status};
use std::path::Path;

const SCALE: u32 = 2;
const GREEN: Rgb<u8> = Rgb([0, 170, 60]);
const RED: Rgb<u8> = Rgb([230, 30, 30]);
const BLUE: Rgb<u8> = Rgb([40, 110, 230]);
const AMBER: Rgb<u8> = Rgb([240, 160, 0]);
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);

/// Why an annotated picture could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AnnotateError {
    /// The photo could not be decoded: nothing to draw on.
    #[error("the photo could not be decoded")]
    NoImage,
    /// The label font could not be used.
    #[error("the label font cannot be used: {0}")]
    Font(String),
    /// Writing the PNG failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Target file.
        path: std::path::PathBuf,
        /// Encoder error.
        #[source]
        source: image::ImageError,
    },
}

/// Height of a label line in pixels of the 2× picture, and the glyphs' size in it.
const LABEL_LINE: u32 = 28;
const LABEL_PX: f32 = 22.0;

/// A font for the picture's Chinese labels (any TrueType/OpenType font with CJK glyphs, or the
/// first font of a collection, e.g. WenQuanYi Micro Hei's `wqy-microhei.ttc`), parsed once and
/// shared by every picture.
pub struct LabelFont(ab_glyph::FontVec);

impl std::fmt::Debug for LabelFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LabelFont")
    }
}

impl LabelFont {
    /// Parses a font file's bytes (the first face of a collection). Refuses a font without
    /// the glyphs of the labels' common characters (合格, 复核), so a Latin-only font is not
    /// taken for a CJK one.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<LabelFont, AnnotateError> {
        let font = ab_glyph::FontVec::try_from_vec_and_index(bytes, 0)
            .map_err(|e| AnnotateError::Font(e.to_string()))?;
        let font = LabelFont(font);
        if !font.covers("不合格需人工复核") {
            return Err(AnnotateError::Font("the font has no Chinese glyphs".into()));
        }
        Ok(font)
    }

    /// Whether every character of `s` (but spaces) has a glyph.
    pub fn covers(&self, s: &str) -> bool {
        use ab_glyph::Font;
        s.chars()
            .filter(|c| !c.is_whitespace())
            .all(|c| self.0.glyph_id(c).0 != 0)
    }
}

/// Renders the annotated picture of an analysis, with Chinese labels if `font` is given.
pub fn render(a: &Analysis, profile: &Profile, font: Option<&LabelFont>) -> Option<RgbImage> {
    let src = a.image.as_ref()?;
    let (w, h) = src.dimensions();
    let mut img = image::imageops::resize(
        src,
        w * SCALE,
        h * SCALE,
        image::imageops::FilterType::Triangle,
    );
    let status = |code: CheckCode| a.result.check(code).map(|c| c.status);
    let uncertain = |code: CheckCode| a.result.check(code).is_some_and(|c| c.uncertain);
    let colour = |code: CheckCode| match status(code) {
        Some(Status::Fail) => RED,
        Some(Status::Warn) => AMBER,
        _ if uncertain(code) => AMBER,
        _ => GREEN,
    };
    let s = SCALE as f32;
    let (sx, sy) = profile.scale_to(w, h);
    let (sx, sy) = (sx as f32, sy as f32);
    // Guide lines of the profile.
    if let Some(crown) = profile.crown_px {
        shade_rows(
            &mut img,
            crown.min as f32 * sy * s,
            crown.max as f32 * sy * s,
            Rgb([0, 200, 120]),
        );
    }
    let eye_limit = h as f32 - profile.eye_line_from_bottom_px.min as f32 * sy;
    dashed_hline(&mut img, eye_limit * s, BLUE);
    let cx = w as f32 / 2.0;
    dashed_vline(&mut img, cx * s, BLUE);
    let tol = profile.centre_tolerance_px as f32 * sx;
    dashed_vline(&mut img, (cx - tol) * s, Rgb([150, 180, 240]));
    dashed_vline(&mut img, (cx + tol) * s, Rgb([150, 180, 240]));
    for d in &a.faces {
        rect(
            &mut img,
            d.bbox.map(|v| v * s),
            colour(CheckCode::FaceCount),
        );
    }
    if let Some(f) = &a.face {
        draw_face(&mut img, f, a, profile, (sx, sy), &colour);
    }
    if let Some(c) = a.measures.as_ref().and_then(|m| m.crown) {
        hline(
            &mut img,
            c * s,
            0.0,
            (w * SCALE) as f32,
            colour(CheckCode::GeometryCrown),
            2,
        );
    }
    // A top that merges with the backdrop: its merging pixels hatched in red.
    if status(CheckCode::ClothingColor) == Some(Status::Fail) {
        if let Some(c) = a.measures.as_ref().and_then(|m| m.clothing.as_ref()) {
            hatch_runs(&mut img, &c.merging, RED);
        }
    }
    match font {
        Some(font) => chinese_labels(&mut img, a, font),
        None => ascii_labels(&mut img, a),
    }
    Some(img)
}

/// The verdict, the failed checks' messages in red and the uncertain checks' messages (with
/// their values and limits) in amber, at the bottom of the picture, wrapped to its width.
fn chinese_labels(img: &mut RgbImage, a: &Analysis, font: &LabelFont) {
    let failed: Vec<&photocheck_types::Check> = a
        .result
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .collect();
    let unsure: Vec<&photocheck_types::Check> = a
        .result
        .checks
        .iter()
        .filter(|c| c.uncertain && c.status != Status::Fail)
        .collect();
    let mut lines: Vec<(String, Rgb<u8>)> = Vec::new();
    if failed.is_empty() && unsure.is_empty() {
        lines.push(("合格".to_string(), GREEN));
    }
    if !failed.is_empty() {
        lines.push((format!("不合格（{} 项）", failed.len()), RED));
        lines.extend(failed.iter().map(|c| (format!("× {}", c.message), RED)));
    }
    if !unsure.is_empty() {
        lines.push((format!("需人工复核（{} 项）", unsure.len()), AMBER));
        lines.extend(unsure.iter().map(|c| (format!("？{}", c.message), AMBER)));
    }
    let width = img.width().saturating_sub(16) as f32;
    let wrapped: Vec<(String, Rgb<u8>)> = lines
        .into_iter()
        .flat_map(|(l, c)| wrap(font, &l, width).into_iter().map(move |w| (w, c)))
        .collect();
    let h = img.height();
    let top = h.saturating_sub(LABEL_LINE * wrapped.len() as u32 + 8);
    // A dark band behind the labels (85 % black) so they read on any photo.
    for y in top..h {
        for x in 0..img.width() {
            let p = img.get_pixel_mut(x, y);
            p.0 = p.0.map(|v| (f32::from(v) * 0.15) as u8);
        }
    }
    for (i, (line, c)) in wrapped.iter().enumerate() {
        let baseline = top + 4 + LABEL_LINE * i as u32 + (LABEL_PX * 0.85) as u32;
        draw_text(img, font, 8.0, baseline as f32, line, *c);
    }
}

/// Splits `s` into lines no wider than `width` pixels (at any character: Chinese has no spaces).
fn wrap(font: &LabelFont, s: &str, width: f32) -> Vec<String> {
    use ab_glyph::{Font, ScaleFont};
    let scaled = font.0.as_scaled(LABEL_PX);
    let mut out = Vec::new();
    let (mut line, mut w) = (String::new(), 0.0);
    for ch in s.chars() {
        let adv = scaled.h_advance(scaled.glyph_id(ch));
        if w + adv > width && !line.is_empty() {
            out.push(std::mem::take(&mut line));
            w = 0.0;
        }
        line.push(ch);
        w += adv;
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

/// Draws one line of text with its baseline at `y`, blending each glyph's coverage.
fn draw_text(img: &mut RgbImage, font: &LabelFont, x: f32, y: f32, s: &str, c: Rgb<u8>) {
    use ab_glyph::{Font, ScaleFont};
    let scaled = font.0.as_scaled(LABEL_PX);
    let (w, h) = img.dimensions();
    let mut pen = x;
    let mut prev = None;
    for ch in s.chars() {
        let id = scaled.glyph_id(ch);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(LABEL_PX, ab_glyph::point(pen, y));
        pen += scaled.h_advance(id);
        prev = Some(id);
        let Some(outline) = font.0.outline_glyph(glyph) else {
            continue;
        };
        let b = outline.px_bounds();
        outline.draw(|gx, gy, cov| {
            let (px, py) = (
                b.min.x as i64 + i64::from(gx),
                b.min.y as i64 + i64::from(gy),
            );
            if px < 0 || py < 0 || px >= i64::from(w) || py >= i64::from(h) {
                return;
            }
            let p = img.get_pixel_mut(px as u32, py as u32);
            let k = cov.clamp(0.0, 1.0);
            for (v, t) in p.0.iter_mut().zip(c.0) {
                *v = (f32::from(*v) * (1.0 - k) + f32::from(t) * k).round() as u8;
            }
        });
    }
}

/// The ASCII fallback: failed check codes in red, then each uncertain check's code, value and
/// limits in amber, in an 8×8 bitmap font.
fn ascii_labels(img: &mut RgbImage, a: &Analysis) {
    let h = img.height();
    let failed: Vec<&str> = a.result.failed_codes().iter().map(|c| c.as_str()).collect();
    let mut lines: Vec<(String, Rgb<u8>)> = if failed.is_empty() {
        vec![(
            format!(
                "{}: {}",
                a.result.profile,
                a.result.verdict.as_str().to_uppercase()
            ),
            GREEN,
        )]
    } else {
        std::iter::once(format!("FAIL ({})", failed.len()))
            .chain(failed.iter().map(|c| c.to_string()))
            .map(|l| (l, RED))
            .collect()
    };
    let unsure: Vec<String> = a
        .result
        .checks
        .iter()
        .filter(|c| c.uncertain && c.status != Status::Fail)
        .map(uncertain_line)
        .collect();
    if !unsure.is_empty() {
        lines.push((format!("REVIEW ({})", unsure.len()), AMBER));
        lines.extend(unsure.into_iter().map(|l| (l, AMBER)));
    }
    let top = h.saturating_sub(12 * lines.len() as u32 + 6);
    for (i, (line, c)) in lines.iter().enumerate() {
        let y = top + 3 + 12 * i as u32;
        text(img, 6, y, line, *c);
    }
}

/// An uncertain check as one ASCII line: its code, value and limits, e.g.
/// `pose.pitch 11.2 deg [-13..13]`.
fn uncertain_line(c: &photocheck_types::Check) -> String {
    let mut line = c.code.as_str().to_owned();
    if let Some(v) = &c.value {
        match v {
            serde_json::Value::String(s) => line.push_str(&format!(" {s}")),
            other => line.push_str(&format!(" {other}")),
        }
    }
    if let Some(u) = &c.unit {
        line.push_str(&format!(" {u}"));
    }
    match (c.min, c.max) {
        (Some(lo), Some(hi)) => line.push_str(&format!(" [{lo}..{hi}]")),
        (Some(lo), None) => line.push_str(&format!(" [>={lo}]")),
        (None, Some(hi)) => line.push_str(&format!(" [<={hi}]")),
        (None, None) => {}
    }
    line
}

fn draw_face(
    img: &mut RgbImage,
    f: &FaceGeometry,
    a: &Analysis,
    profile: &Profile,
    (sx, _sy): (f32, f32),
    colour: &dyn Fn(CheckCode) -> Rgb<u8>,
) {
    let s = SCALE as f32;
    for p in [f.left_eye, f.right_eye, f.nose, f.mouth[0], f.mouth[1]] {
        dot(img, p[0] * s, p[1] * s, 3, AMBER);
    }
    // Eye line and the midpoint.
    let eyec = colour(CheckCode::GeometryEyeLine);
    let mid = f.eye_mid();
    hline(
        img,
        mid[1] * s,
        f.left_eye[0] * s - 40.0,
        f.right_eye[0] * s + 40.0,
        eyec,
        2,
    );
    dot(
        img,
        mid[0] * s,
        mid[1] * s,
        4,
        colour(CheckCode::GeometryCentered),
    );
    // Face width: measured between the cheek points, with the allowed band around the centre.
    let fwc = colour(CheckCode::GeometryFaceWidth);
    let y = (f.cheeks[0][1] + f.cheeks[1][1]) / 2.0 * s;
    hline(img, y, f.cheeks[0][0] * s, f.cheeks[1][0] * s, fwc, 2);
    for p in f.cheeks {
        vline(img, p[0] * s, y - 10.0, y + 10.0, fwc, 2);
    }
    let band = profile.face_width_px.scaled(f64::from(sx));
    let c = f.center_x();
    for half in [band.min as f32 / 2.0, band.max as f32 / 2.0] {
        for x in [c - half, c + half] {
            vline(img, x * s, y - 18.0, y - 6.0, BLUE, 1);
        }
    }
    // Roll: a line through the two eyes.
    line(
        img,
        f.left_eye.map(|v| v * s),
        f.right_eye.map(|v| v * s),
        colour(CheckCode::PoseRoll),
    );
    let _ = a;
}

/// Hatches runs `(row, first column, end column)` of the measured image: every pixel of the
/// diagonal stripes they cover takes `c`, the rest blends half with it, so the region reads as
/// marked without hiding the photo.
fn hatch_runs(img: &mut RgbImage, runs: &[[u32; 3]], c: Rgb<u8>) {
    for &[y, x0, x1] in runs {
        for yy in y * SCALE..(y + 1) * SCALE {
            for xx in x0 * SCALE..x1 * SCALE {
                if xx >= img.width() || yy >= img.height() {
                    continue;
                }
                let p = img.get_pixel_mut(xx, yy);
                if (xx + yy) % 8 < 2 {
                    *p = c;
                } else {
                    for ch in 0..3 {
                        p.0[ch] = ((u16::from(p.0[ch]) + u16::from(c.0[ch])) / 2) as u8;
                    }
                }
            }
        }
    }
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

fn hline(img: &mut RgbImage, y: f32, x0: f32, x1: f32, c: Rgb<u8>, thick: i64) {
    let y = y.round() as i64;
    for x in x0.round() as i64..=x1.round() as i64 {
        for t in 0..thick {
            put(img, x, y + t, c);
        }
    }
}

fn vline(img: &mut RgbImage, x: f32, y0: f32, y1: f32, c: Rgb<u8>, thick: i64) {
    let x = x.round() as i64;
    for y in y0.round() as i64..=y1.round() as i64 {
        for t in 0..thick {
            put(img, x + t, y, c);
        }
    }
}

fn dashed_hline(img: &mut RgbImage, y: f32, c: Rgb<u8>) {
    let w = img.width() as i64;
    for x in (0..w).filter(|x| (x / 8) % 2 == 0) {
        put(img, x, y.round() as i64, c);
    }
}

fn dashed_vline(img: &mut RgbImage, x: f32, c: Rgb<u8>) {
    let h = img.height() as i64;
    for y in (0..h).filter(|y| (y / 8) % 2 == 0) {
        put(img, x.round() as i64, y, c);
    }
}

fn shade_rows(img: &mut RgbImage, y0: f32, y1: f32, c: Rgb<u8>) {
    let (w, h) = img.dimensions();
    for y in (y0.max(0.0) as u32)..(y1.max(0.0) as u32).min(h) {
        for x in 0..w {
            let p = img.get_pixel_mut(x, y);
            for k in 0..3 {
                p[k] = ((u16::from(p[k]) * 3 + u16::from(c[k])) / 4) as u8;
            }
        }
    }
}

fn rect(img: &mut RgbImage, b: [f32; 4], c: Rgb<u8>) {
    hline(img, b[1], b[0], b[2], c, 2);
    hline(img, b[3], b[0], b[2], c, 2);
    vline(img, b[0], b[1], b[3], c, 2);
    vline(img, b[2], b[1], b[3], c, 2);
}

fn dot(img: &mut RgbImage, x: f32, y: f32, r: i64, c: Rgb<u8>) {
    let (x, y) = (x.round() as i64, y.round() as i64);
    for dy in -r..=r {
        for dx in -r..=r {
            if dx * dx + dy * dy <= r * r {
                put(img, x + dx, y + dy, c);
            }
        }
    }
}

fn line(img: &mut RgbImage, a: [f32; 2], b: [f32; 2], c: Rgb<u8>) {
    let n = ((b[0] - a[0]).abs().max((b[1] - a[1]).abs()).ceil() as i64).max(1);
    for i in 0..=n {
        let t = i as f32 / n as f32;
        put(
            img,
            (a[0] + t * (b[0] - a[0])).round() as i64,
            (a[1] + t * (b[1] - a[1])).round() as i64,
            c,
        );
    }
}

/// Draws ASCII text with an 8×8 bitmap font on a dark box.
fn text(img: &mut RgbImage, x: u32, y: u32, s: &str, c: Rgb<u8>) {
    let width = 8 * s.chars().count() as u32 + 4;
    for yy in y.saturating_sub(2)..y + 10 {
        for xx in x.saturating_sub(2)..x + width {
            put(img, i64::from(xx), i64::from(yy), BLACK);
        }
    }
    for (i, ch) in s.chars().enumerate() {
        let Some(glyph) = font8x8::BASIC_FONTS.get(ch) else {
            continue;
        };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    put(
                        img,
                        i64::from(x) + 8 * i as i64 + col,
                        i64::from(y) + row as i64,
                        if c == BLACK { WHITE } else { c },
                    );
                }
            }
        }
    }
}

/// Renders and writes the annotated picture as PNG (Chinese labels if `font` is given).
pub fn write(
    a: &Analysis,
    profile: &Profile,
    font: Option<&LabelFont>,
    path: &Path,
) -> Result<(), AnnotateError> {
    let img = render(a, profile, font).ok_or(AnnotateError::NoImage)?;
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|source| AnnotateError::Write {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_a_font_are_refused() {
        let e = LabelFont::from_bytes(b"not a font at all".to_vec()).unwrap_err();
        assert!(matches!(e, AnnotateError::Font(_)), "{e}");
        assert!(LabelFont::from_bytes(Vec::new()).is_err());
    }

    #[test]
    fn an_uncertain_check_reads_as_code_value_unit_and_limits() {
        let c: photocheck_types::Check = serde_json::from_value(serde_json::json!({
            "code": "pose.pitch", "status": "pass", "value": 11.2, "min": -13.0, "max": 13.0,
            "unit": "deg", "message": "…", "uncertain": true
        }))
        .unwrap();
        assert_eq!(uncertain_line(&c), "pose.pitch 11.2 deg [-13..13]");
        let c: photocheck_types::Check = serde_json::from_value(serde_json::json!({
            "code": "background.color", "status": "pass", "value": 88.6, "min": 88.0,
            "unit": "L*", "message": "…", "uncertain": true
        }))
        .unwrap();
        assert_eq!(uncertain_line(&c), "background.color 88.6 L* [>=88]");
    }
}
