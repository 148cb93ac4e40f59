//! `clothing.color`: the top must not be white or merge with the backdrop (GA 461's general
//! requirements: no white top, no uniform; a white shirt on the white backdrop loses the
//! shoulder line on the printed card). The measurement, the rule and its messages live here.
//!
//! **Where the top is.** Below the neck line (the chin plus [`NECK_BELOW_CHIN`] face widths),
//! within 1.3 face widths of the face's centre (adult shoulders span about 2.7), the top is:
//! - *cloth*: pixels that differ from the backdrop's colour by more than the backdrop itself
//!   varies above the chin (its shadow drop, at least ΔE*ab [`PLAIN_DE`]), in runs along the
//!   row at least [`CLOTH_RUN`] face widths long: a garment of any colour, and the shading of
//!   a white shirt's folds, but not the thin blends along hair strands and edges;
//! - the *chest below the collar*: where the neck's skin ends above the bottom edge, the middle
//!   ±[`CHEST_HALF`] face widths below that row, whatever its colour (a flat white shirt there
//!   may not differ from the backdrop at all);
//! - the sure part of the person mask (selfie segmentation on [`torso_crop`], probability ≥
//!   [`SURE_PERSON`]);
//!
//! leaving out skin (CIELAB a*, b* within [`SKIN_AB`] of the cheeks' mean and L* within
//! [`SKIN_L`] of theirs, but never a nearly neutral pixel lighter than the cheeks) and
//! [`SKIN_EDGE`] px beside it along the row (the neck's edge blends). The mask alone is not
//! enough: on the white-top fixtures it gives the white shoulders a probability below 0.05 (it
//! sees no edge there), exactly where the check must look (`docs/checks.md`, "Clothing").
//!
//! **What merges.** A top pixel merges with the backdrop when it is white (L* ≥
//! [`WHITE_L`], C* ≤ [`WHITE_C`]) or within ΔE*ab [`MERGE_DE`] of the backdrop's colour (the
//! background fill's median L* and mean a*, b*). The measure is the merging share of the top's
//! pixels, and separately of the chest's (long hair over the shoulders can outweigh a white
//! chest in the whole, never in the middle); its outline is measured too: in each row, at the
//! top's outermost pixels, the share of edges whose two sides (3 px in, 4 px out) differ by
//! less than [`EDGE_DE`] (the shoulder line a printer loses).
//!
//! A top with fewer than `clothing_area_min` face widths² of pixels (a tight crop, the neck
//! reaching the bottom edge) is not judged: the check is skipped with the reason. A photo
//! cannot tell a uniform from a plain dark shirt (`docs/checks.md`, "Clothing"), so uniforms
//! are not judged.

use crate::color::{delta_e, lightness, LabCache};
use crate::imgops::RotatedCrop;
use crate::measure::{BackgroundStats, FaceGeometry, SkinSample};
use crate::models::{Person, SEGMENT_SIDE};
use crate::profile::{Profile, Range};
use image::RgbImage;
use photocheck_types::{Check, CheckCode, Status};

/// The neck line, in face widths below the chin: pixels above it are face, jaw and beard.
pub const NECK_BELOW_CHIN: f32 = 0.15;
/// Half-width of the region searched for the top, in face widths around the face's centre.
pub const TORSO_HALF: f32 = 1.3;
/// Largest CIELAB a*b* distance from the cheeks' mean colour for a pixel to count as skin.
pub const SKIN_AB: f32 = 10.0;
/// Largest L* difference from the cheeks for skin (necks are shaded under the jaw).
pub const SKIN_L: f32 = 25.0;
/// Least C* of a skin pixel lighter than the cheeks.
pub const SKIN_MIN_C: f32 = 4.0;
/// Least C* of a skin pixel lighter than the cheeks, relative to the cheeks' C*.
pub const SKIN_CHROMA_SHARE: f32 = 0.5;
/// Pixels beside skin along a row that count as neither skin nor top (edge blends).
pub const SKIN_EDGE: usize = 2;
/// Least L* of a white pixel (shaded folds of a white shirt reach down to about 85).
pub const WHITE_L: f32 = 85.0;
/// Largest C* of a white pixel.
pub const WHITE_C: f32 = 12.0;
/// Largest ΔE*ab from the backdrop's colour at which a pixel merges with it.
pub const MERGE_DE: f32 = 15.0;
/// Least ΔE*ab from the backdrop's colour (beyond its own shadow drop) for cloth.
pub const PLAIN_DE: f32 = 3.0;
/// Least run of cloth along a row, in face widths (0.05 ≈ 10 px at GA 461 size): a shirt's
/// shading spans many pixels, blends along hair and edges a few.
pub const CLOTH_RUN: f32 = 0.05;
/// Largest ΔE*ab across the top's outer edge at which the edge is lost.
pub const EDGE_DE: f32 = 10.0;
/// Half-width of the chest below the collar that counts as the top, in face widths (the
/// neck is about 0.35 either side; the chest below it is wider).
pub const CHEST_HALF: f32 = 0.4;
/// Mask probability at which a pixel below the neck is the person's body for certain.
pub const SURE_PERSON: f32 = 0.8;
/// Rows of mostly non-skin that make the collar (a shadow line is thinner).
const COLLAR_ROWS: u32 = 3;

/// What the clothing check measures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClothingMeasures {
    /// Top pixels ÷ face width².
    pub area: f32,
    /// Share of the top's pixels that are white or the backdrop's colour; `None` without top
    /// pixels.
    pub merge: Option<f32>,
    /// Share of the top's outer edges (against the backdrop, inside the photo) that are lost;
    /// `None` when no edge of the top lies inside the photo.
    pub outline_lost: Option<f32>,
    /// Top pixels of the chest below the collar (±[`CHEST_HALF`] face widths around the face's
    /// centre, from the row where the neck's skin ends) ÷ face width²; 0 when the skin reaches
    /// the bottom edge.
    pub chest_area: f32,
    /// Merging share of those chest pixels: the middle of the top, which long hair over the
    /// shoulders does not reach.
    pub chest_merge: Option<f32>,
    /// Runs of merging top pixels `(row, first column, end column)`, for the annotated picture.
    pub merging: Vec<[u32; 3]>,
}

/// The square the person mask is computed on: centred on the face, 2.6 face widths wide,
/// from 0.3 face widths above the eyes to 2.3 below them, so it holds the whole face (the
/// model needs it to see a person) and the chest.
pub fn torso_crop(face: &FaceGeometry) -> RotatedCrop {
    let fw = face.face_width().max(1.0);
    let eye = face.eye_mid();
    RotatedCrop {
        center: [face.center_x(), eye[1] + fw],
        size: 2.6 * fw,
        angle: 0.0,
        side: SEGMENT_SIDE,
    }
}

/// The neck line (row) below which the top is looked for.
pub fn neck_row(face: &FaceGeometry) -> f32 {
    face.chin[1] + NECK_BELOW_CHIN * face.face_width()
}

/// Whether any of the photo lies below the neck line: otherwise there is no top to look at.
pub fn top_in_frame(face: &FaceGeometry, height: u32) -> bool {
    neck_row(face) < height as f32 - 1.0
}

/// Measures the top of `face`'s person in `img` (see the module's documentation).
pub fn measure(
    img: &RgbImage,
    face: &FaceGeometry,
    mask: Option<&dyn Person>,
    backdrop: &BackgroundStats,
    skin: Option<&SkinSample>,
) -> ClothingMeasures {
    let (w, h) = img.dimensions();
    let fw = face.face_width().max(1.0);
    let cx = face.center_x();
    let x0 = (cx - TORSO_HALF * fw).floor().max(0.0) as u32;
    let x1 = ((cx + TORSO_HALF * fw).ceil().max(0.0) as u32).min(w);
    let y0 = (neck_row(face).ceil().max(0.0) as u32).min(h);
    let bg = [backdrop.lightness, backdrop.a, backdrop.b];
    // Skin: the cheeks' mean colour; their luma converted to L* as a grey of that luma.
    let skin = skin.map(|s| {
        let l = ((s.left_luma + s.right_luma) / 2.0).clamp(0.0, 255.0) as u8;
        [lightness([l, l, l]), s.a, s.b]
    });
    let mut cache = LabCache::default();
    let mut lab = |x: u32, y: u32| {
        let v = cache.get(img.get_pixel(x, y).0);
        [v[1], v[2], v[3]]
    };
    // A pixel lighter than the cheeks and nearly neutral is not skin, however pale and low
    // in chroma the cheeks are (a white shirt lies within SKIN_AB of such skin); shaded skin,
    // darker than the cheeks, may lose chroma and stays skin.
    let is_skin = |c: [f32; 3]| {
        skin.is_some_and(|s| {
            let neutral = crate::color::norm2(c[1], c[2])
                < SKIN_MIN_C.max(SKIN_CHROMA_SHARE * crate::color::norm2(s[1], s[2]));
            crate::color::norm2(c[1] - s[1], c[2] - s[2]) <= SKIN_AB
                && (c[0] - s[0]).abs() <= SKIN_L
                && !(neutral && c[0] > s[0])
        })
    };
    let merges = |c: [f32; 3]| {
        (c[0] >= WHITE_L && crate::color::norm2(c[1], c[2]) <= WHITE_C)
            || delta_e(c, bg) <= MERGE_DE
    };
    let plain = PLAIN_DE.max(backdrop.shadow_drop);
    let cloth = |c: [f32; 3]| delta_e(c, bg) > plain;
    let chest = collar_row(img, face, y0, &mut lab, &is_skin).map(|row| {
        let half = CHEST_HALF * fw;
        (row, cx - half, cx + half)
    });
    let in_chest =
        |x: u32, y: u32| chest.is_some_and(|(row, a, b)| y >= row && (a..=b).contains(&(x as f32)));
    let min_run = ((CLOTH_RUN * fw).round() as usize).max(4);

    let (mut top, mut merging, mut edges, mut lost) = (0u32, 0u32, 0u32, 0u32);
    let (mut chest_top, mut chest_merging) = (0u32, 0u32);
    let mut runs = Vec::new();
    let n = x1.saturating_sub(x0) as usize;
    let mut colours = Vec::with_capacity(n);
    let mut skin_near = Vec::with_capacity(n);
    let mut is_top = Vec::with_capacity(n);
    for y in y0..h {
        colours.clear();
        colours.extend((x0..x1).map(|x| lab(x, y)));
        // Skin, or within SKIN_EDGE px of it along the row: the blend of skin and backdrop at
        // the neck's edges (and JPEG ringing there) is neither skin nor top.
        skin_near.clear();
        skin_near.resize(n, false);
        for (i, &c) in colours.iter().enumerate() {
            if is_skin(c) {
                let (a, b) = (i.saturating_sub(SKIN_EDGE), (i + SKIN_EDGE + 1).min(n));
                skin_near[a..b].iter_mut().for_each(|v| *v = true);
            }
        }
        is_top.clear();
        is_top.extend((0..n).map(|i| !skin_near[i] && cloth(colours[i])));
        drop_short_runs(&mut is_top, min_run);
        if let Some(mask) = mask {
            for (i, x) in (x0..x1).enumerate() {
                is_top[i] |= !skin_near[i] && mask.at(x as f32, y as f32) >= SURE_PERSON;
            }
        }
        let mut run: Option<u32> = None;
        for (i, x) in (x0..x1).enumerate() {
            let chest_here = in_chest(x, y);
            is_top[i] |= chest_here && !skin_near[i];
            let merge_here = is_top[i] && merges(colours[i]);
            top += u32::from(is_top[i]);
            merging += u32::from(merge_here);
            if chest_here {
                chest_top += u32::from(is_top[i]);
                chest_merging += u32::from(merge_here);
            }
            match (merge_here, run) {
                (true, None) => run = Some(x),
                (false, Some(s)) => {
                    runs.push([y, s, x]);
                    run = None;
                }
                _ => {}
            }
        }
        if let Some(s) = run {
            runs.push([y, s, x1]);
        }
        // The top's outer edges in this row, where both sides lie inside the photo.
        let first = is_top.iter().position(|&v| v);
        let last = is_top.iter().rposition(|&v| v);
        if let (Some(l), Some(r)) = (first, last) {
            for (edge, dir) in [(x0 as i64 + l as i64, -1i64), (x0 as i64 + r as i64, 1)] {
                let (xin, xout) = (edge - 3 * dir, edge + 4 * dir);
                if xout < 0 || xout >= i64::from(w) || xin < 0 || xin >= i64::from(w) {
                    continue;
                }
                let (cin, cout) = (lab(xin as u32, y), lab(xout as u32, y));
                if is_skin(cin) || is_skin(cout) {
                    continue;
                }
                edges += 1;
                lost += u32::from(delta_e(cin, cout) < EDGE_DE);
            }
        }
    }
    ClothingMeasures {
        area: top as f32 / (fw * fw),
        merge: (top > 0).then(|| merging as f32 / top as f32),
        outline_lost: (edges > 0).then(|| lost as f32 / edges as f32),
        chest_area: chest_top as f32 / (fw * fw),
        chest_merge: (chest_top > 0).then(|| chest_merging as f32 / chest_top as f32),
        merging: runs,
    }
}

/// The first row at or below `from` where the neck's skin gives way across the middle of the
/// body (less than half of the band ±0.2 face widths around the face's centre is skin, for
/// [`COLLAR_ROWS`] rows running): the collar. `None` when the skin reaches the bottom edge.
fn collar_row(
    img: &RgbImage,
    face: &FaceGeometry,
    from: u32,
    lab: &mut impl FnMut(u32, u32) -> [f32; 3],
    is_skin: &impl Fn([f32; 3]) -> bool,
) -> Option<u32> {
    let (w, h) = img.dimensions();
    let fw = face.face_width();
    let cx = face.center_x();
    let x0 = (cx - 0.2 * fw).max(0.0) as u32;
    let x1 = ((cx + 0.2 * fw).max(0.0) as u32).min(w);
    if x1 <= x0 {
        return None;
    }
    let mut run = 0;
    for y in from..h {
        let skin = (x0..x1).filter(|&x| is_skin(lab(x, y))).count();
        if 2 * skin < (x1 - x0) as usize {
            run += 1;
            if run == COLLAR_ROWS {
                return Some(y + 1 - COLLAR_ROWS);
            }
        } else {
            run = 0;
        }
    }
    None
}

/// Clears every run of `true` shorter than `min` in `row`.
fn drop_short_runs(row: &mut [bool], min: usize) {
    let mut i = 0;
    while i < row.len() {
        if !row[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < row.len() && row[i] {
            i += 1;
        }
        if i - start < min {
            row[start..i].iter_mut().for_each(|v| *v = false);
        }
    }
}

/// The judged share of `m` under profile `p`: the larger of the whole top's and the chest's
/// merging share, each only when its area reaches `clothing_area_min`.
fn judged_share(m: &ClothingMeasures, p: &Profile) -> Option<f64> {
    let judged = |share: Option<f32>, area: f32| {
        share
            .filter(|_| f64::from(area) >= p.clothing_area_min)
            .map(f64::from)
    };
    [judged(m.merge, m.area), judged(m.chest_merge, m.chest_area)]
        .into_iter()
        .flatten()
        .reduce(f64::max)
}

/// Whether the top merges with the backdrop beyond the profile's limit (what fails
/// `clothing.color`). Below the neck such a top cannot be told from the backdrop, so the
/// background checks then judge the backdrop above the chin only: the shading of a white shirt
/// is not a shadow on the wall.
pub fn merges_with_backdrop(m: &ClothingMeasures, p: &Profile) -> bool {
    judged_share(m, p).is_some_and(|v| v > p.clothing_merge_max)
}

/// Whether a measurement without the person mask already decides the check: judged, and at
/// least [`DECIDED_MARGIN`] from the limit, so the mask's few sure pixels cannot move it across.
/// The engine then skips the segmentation (≈ 3 ms).
pub fn decided_without_mask(m: &ClothingMeasures, p: &Profile) -> bool {
    judged_share(m, p).is_some_and(|v| (v - p.clothing_merge_max).abs() >= DECIDED_MARGIN)
}

/// Distance from the limit at which a measurement without the mask stands.
pub const DECIDED_MARGIN: f64 = 0.3;

/// The `clothing.color` check. `measures` is `None` when the photo shows nothing below the
/// neck line.
pub fn check(measures: Option<&ClothingMeasures>, p: &Profile) -> Check {
    use CheckCode::ClothingColor as C;
    let skipped = |why: &str| Check {
        code: C,
        status: Status::Skipped,
        value: None,
        min: None,
        max: None,
        unit: None,
        message: why.into(),
        uncertain: false,
    };
    if !p.clothing_must_contrast {
        return skipped("此标准不限制上衣颜色");
    }
    let Some(m) = measures else {
        return skipped("照片下巴以下没有画面，看不到上衣，不检查此项");
    };
    // The whole visible top, and the chest below the collar on its own (hair hanging over the
    // shoulders can outweigh a white chest in the whole, never in the middle).
    let Some(merge) = judged_share(m, p) else {
        return skipped("上衣在照片中露出太少（或被头发遮挡），无法判断颜色，不检查此项");
    };
    let lim = Range::new(f64::MIN, p.clothing_merge_max);
    let outline = m
        .outline_lost
        .map(|o| format!("，肩部轮廓丢失 {:.0}%", o * 100.0))
        .unwrap_or_default();
    let ok = lim.contains(merge);
    let message = if ok {
        format!(
            "上衣颜色与背景区分明显（与背景相近的部分占 {:.0}%，至多 {:.0}%）",
            merge * 100.0,
            p.clothing_merge_max * 100.0
        )
    } else {
        format!(
            "上衣为白色或与背景颜色相近（{:.0}% 与背景融为一体{outline}），请更换深色有领上衣后重新拍摄",
            merge * 100.0
        )
    };
    let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
    Check {
        code: C,
        status: if ok { Status::Pass } else { Status::Fail },
        value: Some(serde_json::json!(r3(merge))),
        min: None,
        max: Some(r3(p.clothing_merge_max)),
        unit: Some("ratio".into()),
        message,
        uncertain: (merge - p.clothing_merge_max).abs() <= p.clothing_merge_uncertainty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A face 200 px wide with its eyes at row 150 and chin at 260, centred in 358 × 441.
    fn face() -> FaceGeometry {
        FaceGeometry {
            bbox: [79.0, 60.0, 279.0, 280.0],
            score: 0.99,
            left_eye: [135.0, 150.0],
            right_eye: [223.0, 150.0],
            nose: [179.0, 200.0],
            mouth: [[150.0, 230.0], [208.0, 230.0]],
            cheeks: [[79.0, 170.0], [279.0, 170.0]],
            chin: [179.0, 260.0],
            oval: Vec::new(),
            mesh: Vec::new(),
            pose: None,
        }
    }

    /// The person: a neck widening into shoulders below row 300.
    fn body(x: u32, y: u32) -> bool {
        let half = if y < 300 {
            55.0
        } else {
            55.0 + (y as f32 - 300.0) * 1.2
        };
        (x as f32 - 179.0).abs() <= half.min(150.0)
    }

    const SKIN: [u8; 3] = [200, 150, 120];

    fn white_backdrop() -> BackgroundStats {
        BackgroundStats {
            lightness: 100.0,
            a: 0.0,
            b: 0.0,
            chroma: 0.0,
            shadow_drop: 0.0,
            coverage: 1.0,
            pixels: 10_000,
        }
    }

    fn skin_sample() -> SkinSample {
        let l = crate::color::lab(SKIN);
        let luma = crate::color::luma(SKIN);
        SkinSample {
            left_luma: luma,
            right_luma: luma,
            left_light: 0.2,
            right_light: 0.2,
            a: l[1],
            b: l[2],
        }
    }

    /// A photo on a white backdrop: skin neck down to row 320, then a top of `top` colour
    /// (shaded ±6 levels in stripes, like folds), inside the body.
    fn photo(top: [u8; 3]) -> RgbImage {
        RgbImage::from_fn(358, 441, |x, y| {
            if !body(x, y) {
                return Rgb([255, 255, 255]);
            }
            if y < 320 {
                return Rgb(SKIN);
            }
            let shade = if (x / 9) % 2 == 0 { 6i16 } else { -6 };
            Rgb(top.map(|c| (i16::from(c) + shade).clamp(0, 255) as u8))
        })
    }

    fn run(top: [u8; 3]) -> ClothingMeasures {
        measure(
            &photo(top),
            &face(),
            None,
            &white_backdrop(),
            Some(&skin_sample()),
        )
    }

    #[test]
    fn a_white_top_merges_and_loses_its_outline() {
        let m = run([246, 246, 244]);
        assert!(m.merge.unwrap() > 0.95, "{m:?}");
        assert!(m.outline_lost.unwrap() > 0.95, "{m:?}");
        assert!(m.area > 0.3, "{m:?}");
        let c = check(Some(&m), &Profile::ga461());
        assert_eq!(c.status, Status::Fail);
        assert!(c.message.contains("深色"), "{}", c.message);
        assert!(!m.merging.is_empty());
    }

    #[test]
    fn dark_and_mid_tops_stand_apart() {
        for top in [[38, 48, 92], [30, 30, 34], [112, 32, 38], [150, 150, 150]] {
            let m = run(top);
            assert!(m.merge.unwrap() < 0.05, "{top:?}: {m:?}");
            assert_eq!(m.outline_lost, Some(0.0), "{top:?}");
            let c = check(Some(&m), &Profile::ga461());
            assert_eq!(c.status, Status::Pass, "{top:?}");
            assert!(!c.uncertain);
        }
    }

    #[test]
    fn a_top_in_the_backdrops_colour_merges_even_when_not_white() {
        // A light-blue top on a light-blue backdrop.
        let blue = [140, 185, 230];
        let lab = crate::color::lab(blue);
        let backdrop = BackgroundStats {
            lightness: lab[0],
            a: lab[1],
            b: lab[2],
            ..white_backdrop()
        };
        let m = measure(&photo(blue), &face(), None, &backdrop, Some(&skin_sample()));
        assert!(m.merge.unwrap() > 0.95, "{m:?}");
    }

    #[test]
    fn a_neck_to_the_bottom_edge_is_not_judged() {
        // Skin all the way down: no top pixels.
        let img = RgbImage::from_fn(358, 441, |x, y| {
            if !body(x, y) {
                Rgb([255, 255, 255])
            } else {
                Rgb(SKIN)
            }
        });
        let m = measure(&img, &face(), None, &white_backdrop(), Some(&skin_sample()));
        assert_eq!(m.area, 0.0);
        assert_eq!(m.merge, None);
        let c = check(Some(&m), &Profile::ga461());
        assert_eq!(c.status, Status::Skipped);
        assert!(!c.uncertain);
        // Nothing below the neck line at all.
        let c = check(None, &Profile::ga461());
        assert_eq!(c.status, Status::Skipped);
    }

    #[test]
    fn a_sliver_of_top_is_not_judged() {
        let m = ClothingMeasures {
            area: 0.019,
            merge: Some(1.0),
            ..Default::default()
        };
        assert_eq!(check(Some(&m), &Profile::ga461()).status, Status::Skipped);
        let m = ClothingMeasures { area: 0.021, ..m };
        assert_eq!(check(Some(&m), &Profile::ga461()).status, Status::Fail);
    }

    #[test]
    fn the_limit_is_the_profiles_and_near_it_is_uncertain() {
        let p = Profile::ga461();
        let at = |merge: f32| {
            check(
                Some(&ClothingMeasures {
                    area: 0.3,
                    merge: Some(merge),
                    ..Default::default()
                }),
                &p,
            )
        };
        assert_eq!(at(0.499).status, Status::Pass);
        assert_eq!(at(0.501).status, Status::Fail);
        assert!(at(0.45).uncertain && at(0.55).uncertain);
        assert!(!at(0.2).uncertain && !at(0.8).uncertain);
    }

    #[test]
    fn profiles_without_the_rule_skip_it() {
        let m = ClothingMeasures {
            area: 0.3,
            merge: Some(1.0),
            ..Default::default()
        };
        let c = check(Some(&m), &Profile::icao());
        assert_eq!(c.status, Status::Skipped);
    }

    #[test]
    fn short_runs_are_dropped_and_long_ones_kept() {
        let mut row = [
            true, true, false, true, true, true, true, false, true, false, true, true, true,
        ];
        drop_short_runs(&mut row, 3);
        assert_eq!(
            row,
            [false, false, false, true, true, true, true, false, false, false, true, true, true]
        );
    }

    #[test]
    fn the_top_is_looked_for_below_the_neck_only() {
        let f = face();
        assert!(top_in_frame(&f, 441));
        assert!(!top_in_frame(&f, 290));
    }
}
