//! Glasses, head covering and occlusion (`face.glasses`, `face.head_covering`, `face.occlusion`):
//! the measurements (first half) and the rules with the clerk's messages (second half).
//! Measured on the face mesh, the pixels around it and the person mask (MediaPipe selfie segmentation, one inference per photo on a crop around the
//! head, see [`crate::models::head_crop`]).
//!
//! Every measure compares a region with the person's own skin, sampled on the cheek of the same
//! side (so side lighting and skin tone cancel): luminance as a ratio of linear-light Y, colour as
//! the distance of linear-light chromaticities (r, g) = (R, G) / (R + G + B), which a change of
//! brightness leaves alone. See `docs/checks.md`, "Glasses, head covering, occlusion".
//!
//! Regions are placed in the face's frame: origin at the eye midpoint, x along the eye line,
//! y perpendicular (down), lengths in units of the face width (mesh points 234–454), so they
//! follow the face's size and roll. Each region holds a few hundred pixels; all of them together
//! cost well under 0.1 ms next to the ~3 ms inference.

use super::{
    against_ratio, check, near_limit, no_face_reason, pass_fail, skipped, with, Check, CheckCode,
    Observation, Profile, Range, SkinSample, Status,
};
use crate::color::{delta_e, linear_table, LabCache};
use crate::measure::{BackgroundStats, FaceGeometry};
use crate::models::{head_crop, Person, Segmenter};
use crate::EngineError;
use image::RgbImage;

/// Mesh indices the cover measures use (MediaPipe face mesh topology).
pub mod idx {
    /// Eye-opening contour of the image-left eye (subject's right), 16 points.
    pub const LEFT_EYE: [usize; 16] = [
        33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7,
    ];
    /// Eye-opening contour of the image-right eye.
    pub const RIGHT_EYE: [usize; 16] = [
        263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249,
    ];
    /// Upper edge of the image-left eyebrow, outer to inner.
    pub const LEFT_BROW_UPPER: [usize; 5] = [70, 63, 105, 66, 107];
    /// Upper edge of the image-right eyebrow, outer to inner.
    pub const RIGHT_BROW_UPPER: [usize; 5] = [300, 293, 334, 296, 336];
    /// Top of the forehead on the face oval.
    pub const FOREHEAD_TOP: usize = 10;
    /// Face contour at cheek level, image-left and image-right (in front of the ears).
    pub const CHEEKS: [usize; 2] = [234, 454];
}

/// What the cover checks measure. Each field is `None` when its region fell outside the photo
/// or held too few pixels to decide.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CoverMeasures {
    /// Lens tint: linear luminance of the skin just below each eye (inside where a lens sits)
    /// ÷ the same side's cheek below the lens; the brighter side (tinted glasses darken both).
    pub lens_luminance: Option<f32>,
    /// Lens colour: chromaticity distance between the skin below each eye and the same side's
    /// cheek; the smaller side.
    pub lens_tint: Option<f32>,
    /// Reflections: clipped pixels (every channel ≥ 245) in the lens area around each eye,
    /// beyond a catchlight allowance inside the eye opening, ÷ IOD²; the larger side. `None`
    /// when the cheeks themselves are clipped (over-exposure: nothing stands out).
    pub lens_glare: Option<f32>,
    /// Share of the person's pixels above the forehead whose colour no natural hair or skin has
    /// (a hat, cap or scarf).
    pub head_covering: Option<f32>,
    /// Each eyebrow (image-left, image-right): luminance above it and on it.
    pub brows: [Option<Brow>; 2],
    /// Median luminance of the hair above the forehead (person pixels), in stops relative to the
    /// nose bridge; `None` when too little of it is in the photo.
    pub hair_stops: Option<f32>,
    /// Share of the region just outside each cheek contour at ear height (image-left,
    /// image-right) that is skin-coloured: a visible ear.
    pub ear_skin: [Option<f32>; 2],
    /// Share of the same regions that belongs to the person (skin or hair, not background).
    pub ear_person: [Option<f32>; 2],
}

/// Luminance around one eyebrow, in stops (log2) relative to the skin of the nose bridge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Brow {
    /// Median of the forehead band 0.07–0.12 face widths above the brow's upper edge.
    pub above: f32,
    /// Median of the brow itself (0–0.03 face widths below its upper edge).
    pub on: f32,
}

impl Brow {
    /// How much brighter the forehead above the brow is than the brow, in stops: an uncovered
    /// brow is a dark band under skin (0.5–1.7 stops on light skin); hair over it leaves no step.
    pub fn contrast(&self) -> f32 {
        self.above - self.on
    }
}

impl CoverMeasures {
    /// The more visible ear's skin share (GA 461: hair must not cover both ears); `None` unless
    /// both sides were measured (an ear outside the photo may be visible).
    pub fn ear_skin_max(&self) -> Option<f32> {
        match self.ear_skin {
            [Some(a), Some(b)] => Some(a.max(b)),
            _ => None,
        }
    }

    /// The smaller person share of the two ear regions.
    pub fn ear_person_min(&self) -> Option<f32> {
        match self.ear_person {
            [Some(a), Some(b)] => Some(a.min(b)),
            _ => None,
        }
    }
}

/// Runs the segmentation on the head and measures; `Ok(None)` without a full mesh.
pub fn run(
    seg: &mut dyn Segmenter,
    img: &RgbImage,
    face: &FaceGeometry,
    background: &BackgroundStats,
) -> Result<Option<CoverMeasures>, EngineError> {
    if face.mesh.len() != 468 {
        return Ok(None);
    }
    let frame = Frame::of(&face.mesh);
    let mask = seg.segment(
        img,
        head_crop(frame.origin, frame.fw, frame.ex[1].atan2(frame.ex[0])),
    )?;
    Ok(Some(measure(img, &face.mesh, &mask, background)))
}

/// [`run`] on a clean backdrop: the person is what the background fill did not reach, so no
/// segmentation is needed.
pub fn run_on_backdrop(
    img: &RgbImage,
    face: &FaceGeometry,
    backdrop: &crate::measure::BackgroundMask,
    background: &BackgroundStats,
) -> Option<CoverMeasures> {
    (face.mesh.len() == 468).then(|| measure(img, &face.mesh, backdrop, background))
}

/// The face's frame: origin at the eye midpoint, unit vectors along the eye line and down.
#[derive(Debug, Clone, Copy)]
struct Frame {
    origin: [f32; 2],
    ex: [f32; 2],
    ey: [f32; 2],
    /// Face width (234–454), px.
    fw: f32,
    /// Distance between the eye centres, px.
    iod: f32,
    /// The eye centres (image-left, image-right): means of each eye's contour points.
    eyes: [[f32; 2]; 2],
}

impl Frame {
    fn of(mesh: &[[f32; 3]]) -> Frame {
        let mean = |ids: &[usize]| {
            let n = ids.len() as f32;
            let s = ids
                .iter()
                .fold([0.0, 0.0], |s, &i| [s[0] + mesh[i][0], s[1] + mesh[i][1]]);
            [s[0] / n, s[1] / n]
        };
        let l = mean(&idx::LEFT_EYE);
        let r = mean(&idx::RIGHT_EYE);
        let (dx, dy) = (r[0] - l[0], r[1] - l[1]);
        let iod = dx.hypot(dy).max(1.0);
        let ex = [dx / iod, dy / iod];
        let (a, b) = (mesh[idx::CHEEKS[0]], mesh[idx::CHEEKS[1]]);
        Frame {
            origin: [(l[0] + r[0]) / 2.0, (l[1] + r[1]) / 2.0],
            ex,
            ey: [-ex[1], ex[0]],
            fw: (a[0] - b[0]).hypot(a[1] - b[1]).max(1.0),
            iod,
            eyes: [l, r],
        }
    }

    /// Image point of frame coordinates `(u, v)` in px from `at`.
    fn at(&self, at: [f32; 2], u: f32, v: f32) -> [f32; 2] {
        [
            at[0] + u * self.ex[0] + v * self.ey[0],
            at[1] + u * self.ex[1] + v * self.ey[1],
        ]
    }

    /// Frame coordinates (px) of an image point relative to the origin.
    fn frame_of(&self, p: [f32; 2]) -> [f32; 2] {
        let (dx, dy) = (p[0] - self.origin[0], p[1] - self.origin[1]);
        [
            dx * self.ex[0] + dy * self.ex[1],
            dx * self.ey[0] + dy * self.ey[1],
        ]
    }
}

/// Linear-light RGB of a pixel.
fn linear(p: [u8; 3]) -> [f32; 3] {
    let t = linear_table();
    [t[p[0] as usize], t[p[1] as usize], t[p[2] as usize]]
}

/// Relative luminance Y of linear RGB.
fn y_of(c: [f32; 3]) -> f32 {
    0.212_672_9 * c[0] + 0.715_152_2 * c[1] + 0.072_175 * c[2]
}

/// Chromaticity (r, g) of linear RGB.
fn chroma_of(c: [f32; 3]) -> [f32; 2] {
    let s = (c[0] + c[1] + c[2]).max(1e-6);
    [c[0] / s, c[1] / s]
}

/// A skin reference: mean linear colour of a cheek patch.
#[derive(Debug, Clone, Copy)]
struct Skin {
    y: f32,
    rg: [f32; 2],
    /// Share of the patch clipped at white (any channel ≥ 250).
    clipped: f32,
}

/// Calls `f(pixel, image point)` for every image pixel of the frame rectangle `u0..u1 × v0..v1`
/// (px, relative to `at`), sampled at 1-px steps (nearest pixel); returns how many lay inside.
fn scan(
    img: &RgbImage,
    fr: &Frame,
    at: [f32; 2],
    (u0, u1): (f32, f32),
    (v0, v1): (f32, f32),
    mut f: impl FnMut([u8; 3], [f32; 2]),
) -> usize {
    let (w, h) = img.dimensions();
    let mut n = 0;
    let (nu, nv) = (
        (u1 - u0).max(0.0).ceil() as usize,
        (v1 - v0).max(0.0).ceil() as usize,
    );
    for j in 0..nv {
        for i in 0..nu {
            let p = fr.at(at, u0 + i as f32 + 0.5, v0 + j as f32 + 0.5);
            if p[0] < 0.0 || p[1] < 0.0 {
                continue;
            }
            let (x, y) = (p[0] as u32, p[1] as u32);
            if x >= w || y >= h {
                continue;
            }
            n += 1;
            f(img.get_pixel(x, y).0, p);
        }
    }
    n
}

/// Samples a side of a [`skin_patch`] takes, whatever its size in pixels.
const PATCH_SAMPLES: usize = 16;

/// Linear colour at image point `q`, interpolated between the four nearest pixel centres, and
/// whether the pixel under `q` is clipped (a channel ≥ 250); `None` outside the image.
fn linear_at(img: &RgbImage, q: [f32; 2]) -> Option<([f32; 3], bool)> {
    let (w, h) = img.dimensions();
    if !(q[0] >= 0.0 && q[1] >= 0.0 && q[0] < w as f32 && q[1] < h as f32) {
        return None;
    }
    let (fx, fy) = ((q[0] - 0.5).max(0.0), (q[1] - 0.5).max(0.0));
    let (x0, y0) = ((fx as u32).min(w - 1), (fy as u32).min(h - 1));
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
    let mut c = [0.0f32; 3];
    for (x, y, wt) in [
        (x0, y0, (1.0 - tx) * (1.0 - ty)),
        (x1, y0, tx * (1.0 - ty)),
        (x0, y1, (1.0 - tx) * ty),
        (x1, y1, tx * ty),
    ] {
        let l = linear(img.get_pixel(x, y).0);
        for k in 0..3 {
            c[k] += wt * l[k];
        }
    }
    let clipped = img
        .get_pixel(q[0] as u32, q[1] as u32)
        .0
        .iter()
        .any(|&v| v >= 250);
    Some((c, clipped))
}

/// Mean linear colour of a square patch (side `2r`, in the face frame) centred at `c`.
///
/// Sampled on a fixed grid of [`PATCH_SAMPLES`]² points interpolated between pixels, so the
/// mean moves continuously with the landmarks: nearest-pixel sampling on a 1-px grid let a
/// landmark shift of a thousandth of a pixel (another CPU's ONNX Runtime kernels) swap pixels
/// at an eyelid's edge and move the lens ratio by 0.4 % (0.743 on AVX-512, 0.740 on AVX2).
fn skin_patch(img: &RgbImage, fr: &Frame, c: [f32; 2], r: f32) -> Option<Skin> {
    // A patch of fewer than a dozen pixels says nothing about the skin.
    if 4.0 * r * r < 12.0 {
        return None;
    }
    let mut sum = [0.0f32; 3];
    let (mut n, mut clipped) = (0usize, 0usize);
    let step = 2.0 * r / PATCH_SAMPLES as f32;
    for j in 0..PATCH_SAMPLES {
        for i in 0..PATCH_SAMPLES {
            let q = fr.at(
                c,
                -r + (i as f32 + 0.5) * step,
                -r + (j as f32 + 0.5) * step,
            );
            let Some((l, clip)) = linear_at(img, q) else {
                continue;
            };
            for k in 0..3 {
                sum[k] += l[k];
            }
            n += 1;
            clipped += usize::from(clip);
        }
    }
    // Most of the patch must lie in the photo.
    if n < PATCH_SAMPLES * PATCH_SAMPLES / 2 {
        return None;
    }
    let mean = sum.map(|v| v / n as f32);
    Some(Skin {
        y: y_of(mean),
        rg: chroma_of(mean),
        clipped: clipped as f32 / n as f32,
    })
}

/// Fewest pixels a region needs before its share is trusted.
const MIN_PIXELS: usize = 30;

/// Every cover measure on a photo with its mesh and person mask.
pub fn measure(
    img: &RgbImage,
    mesh: &[[f32; 3]],
    mask: &dyn Person,
    background: &BackgroundStats,
) -> CoverMeasures {
    let fr = Frame::of(mesh);
    let xy = |i: usize| [mesh[i][0], mesh[i][1]];
    let eyes = fr.eyes;
    let iod = fr.iod;
    // Cheek below each lens: 0.7 IOD below the eye centre (at the nose tip's height), where a
    // lens (≈ 0.55 IOD tall, centred on the eye) no longer reaches.
    let cheeks = eyes.map(|e| skin_patch(img, &fr, fr.at(e, 0.0, 0.7 * iod), 0.1 * iod));
    // Skin just below each eye, inside the lens: 0.22 IOD below the eye centre.
    let under = eyes.map(|e| skin_patch(img, &fr, fr.at(e, 0.0, 0.22 * iod), 0.06 * iod));
    let mut lum = Vec::new();
    let mut tint = Vec::new();
    for k in 0..2 {
        if let (Some(c), Some(u)) = (cheeks[k], under[k]) {
            lum.push(u.y / c.y.max(1e-5));
            tint.push((u.rg[0] - c.rg[0]).hypot(u.rg[1] - c.rg[1]));
        }
    }
    let lens_luminance = (lum.len() == 2).then(|| lum[0].max(lum[1]));
    let lens_tint = (tint.len() == 2).then(|| tint[0].min(tint[1]));

    // Reflections: clipped pixels in the lens area (ellipse 0.4 × 0.28 IOD around the eye).
    let over_exposed = cheeks.iter().any(|c| c.is_none_or(|c| c.clipped > 0.05));
    let lens_glare = if over_exposed {
        None
    } else {
        let mut worst = 0.0f32;
        for (k, e) in eyes.iter().enumerate() {
            let ids: &[usize] = if k == 0 {
                &idx::LEFT_EYE
            } else {
                &idx::RIGHT_EYE
            };
            let opening: Vec<[f32; 2]> = ids.iter().map(|&i| fr.frame_of(xy(i))).collect();
            let (a, b) = (0.4 * iod, 0.28 * iod);
            let (mut inside, mut outside) = (0usize, 0usize);
            scan(img, &fr, *e, (-a, a), (-b, b), |p, q| {
                if p.iter().all(|&v| v >= 245) {
                    let f = fr.frame_of(q);
                    let ec = fr.frame_of(*e);
                    let (du, dv) = ((f[0] - ec[0]) / a, (f[1] - ec[1]) / b);
                    if du * du + dv * dv > 1.0 {
                        return;
                    }
                    if point_in(&opening, f) {
                        inside += 1;
                    } else {
                        outside += 1;
                    }
                }
            });
            // A catchlight: a bright dot in the iris, up to 0.004 IOD² (≈ 6 px across on a
            // 92-px IOD). More than that inside the opening, or anything outside it, is glare.
            let allowance = 0.004 * iod * iod;
            let glare = outside as f32 + (inside as f32 - allowance).max(0.0);
            worst = worst.max(glare / (iod * iod));
        }
        Some(worst)
    };

    // Head covering: person pixels above the forehead (mesh point 10) in colours no hair or
    // skin has, background-coloured pixels left out (the mask's edge bleeds a little).
    let top = xy(idx::FOREHEAD_TOP);
    let fw = fr.fw;
    let bg = [background.lightness, background.a, background.b];
    let (mut person, mut odd) = (0usize, 0usize);
    let mut cache = LabCache::default();
    scan(
        img,
        &fr,
        top,
        (-0.3 * fw, 0.3 * fw),
        (-0.3 * fw, -0.03 * fw),
        |p, q| {
            if mask.at(q[0], q[1]) < 0.8 {
                return;
            }
            let c = cache.get(p);
            let l = [c[1], c[2], c[3]];
            if background.pixels > 0 && delta_e(l, bg) < 15.0 {
                return;
            }
            person += 1;
            if unnatural_for_hair(l) {
                odd += 1;
            }
        },
    );
    let head_covering = (person >= MIN_PIXELS).then(|| odd as f32 / person as f32);

    // Hair over the brows. References: the nose bridge (mesh 6), a surface like the forehead
    // that hair does not reach, and the hair above the forehead.
    let bridge = skin_patch(img, &fr, xy(6), 0.04 * fw);
    let stops = |p: [u8; 3], r: &Skin| (y_of(linear(p)).max(1e-5) / r.y.max(1e-5)).log2();
    let mut hair_stops = None;
    let mut brows = [None; 2];
    if let Some(bridge) = bridge {
        let mut hair = Vec::new();
        scan(
            img,
            &fr,
            top,
            (-0.25 * fw, 0.25 * fw),
            (-0.45 * fw, -0.15 * fw),
            |p, q| {
                if mask.at(q[0], q[1]) >= 0.8 {
                    hair.push(stops(p, &bridge));
                }
            },
        );
        hair_stops = (hair.len() >= MIN_PIXELS).then(|| median(&mut hair));
        for (k, pts) in [idx::LEFT_BROW_UPPER, idx::RIGHT_BROW_UPPER]
            .iter()
            .enumerate()
        {
            let (mut above, mut on) = (Vec::new(), Vec::new());
            for w in pts.windows(2) {
                let (a, b) = (xy(w[0]), xy(w[1]));
                let mid = [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
                let half = 0.5 * (a[0] - b[0]).hypot(a[1] - b[1]);
                let band = (-half, half);
                scan(img, &fr, mid, band, (-0.12 * fw, -0.07 * fw), |p, _| {
                    above.push(stops(p, &bridge))
                });
                scan(img, &fr, mid, band, (0.0, 0.03 * fw), |p, _| {
                    on.push(stops(p, &bridge))
                });
            }
            if above.len() >= MIN_PIXELS && on.len() >= MIN_PIXELS / 2 {
                brows[k] = Some(Brow {
                    above: median(&mut above),
                    on: median(&mut on),
                });
            }
        }
    }

    // Ears: the upper ear beside each cheek contour point, where hair falls over an ear first
    // (a lobe showing under the hair does not make the ear visible). Placed from the 39
    // calibration templates' ear outlines in this frame (bench/calibrate/explore/ears.py): the
    // ear runs from 0.18 face widths above the contour point to 0.21 below (medians; its top
    // 0.08–0.27 above) and its outer edge lies 0.09 outward (median, up to 0.19). The region,
    // 0–0.12 outward and 0.25 above to 0.10 below, holds 72 % of a template ear (median), and
    // a fully visible ear fills 55 % of it. Skin from two stops darker to one brighter than
    // the same side's cheek (an ear faces sideways, away from the light) and of nearly its
    // chromaticity counts as a visible ear; what is neither skin nor background is hair (or a
    // covering). A wider window (2.5 stops) reads the own dark hair of darker-skinned people
    // as skin (ears.py; tests/cover.rs paints it), so the window stays at two.
    let mut ear_skin = [None; 2];
    let mut ear_person = [None; 2];
    for k in 0..2 {
        let Some(skin) = cheeks[k] else { continue };
        let c = xy(idx::CHEEKS[k]);
        let (u0, u1) = if k == 0 {
            (-0.12 * fw, 0.0)
        } else {
            (0.0, 0.12 * fw)
        };
        let (mut n, mut person, mut visible) = (0usize, 0usize, 0usize);
        scan(img, &fr, c, (u0, u1), (-0.25 * fw, 0.10 * fw), |p, q| {
            n += 1;
            // The person: the mask says so, or the pixel is unlike the background (the mask
            // can miss flat hair beside the face).
            let unlike_bg = background.pixels > 0 && {
                let c = cache.get(p);
                delta_e([c[1], c[2], c[3]], bg) >= 20.0
            };
            if unlike_bg || mask.at(q[0], q[1]) >= 0.5 {
                person += 1;
                let l = linear(p);
                let st = (y_of(l).max(1e-5) / skin.y.max(1e-5)).log2();
                let rg = chroma_of(l);
                if (-2.0..=1.0).contains(&st)
                    && crate::color::norm2(rg[0] - skin.rg[0], rg[1] - skin.rg[1]) <= 0.08
                {
                    visible += 1;
                }
            }
        });
        if n >= MIN_PIXELS {
            ear_skin[k] = Some(visible as f32 / n as f32);
            ear_person[k] = Some(person as f32 / n as f32);
        }
    }

    CoverMeasures {
        lens_luminance,
        lens_tint,
        lens_glare,
        head_covering,
        brows,
        hair_stops,
        ear_skin,
        ear_person,
    }
}

/// Whether a CIELAB colour is one no natural hair (black, brown, blond, red, grey, white) or
/// skin has: very saturated (C* > 60), or clearly coloured (C* > 15) outside the warm hue band
/// 15–95° in which every hair and skin colour lies.
pub fn unnatural_for_hair(l: [f32; 3]) -> bool {
    let c = crate::color::norm2(l[1], l[2]);
    let hue = l[2].atan2(l[1]).to_degrees();
    c > 60.0 || (c > 15.0 && !(15.0..=95.0).contains(&hue))
}

/// Median of a non-empty sample (reorders it).
fn median(v: &mut [f32]) -> f32 {
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f32::total_cmp).1
}

/// Even-odd point-in-polygon test.
fn point_in(poly: &[[f32; 2]], p: [f32; 2]) -> bool {
    let mut inside = false;
    let n = poly.len();
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + n - 1) % n]);
        if (a[1] > p[1]) != (b[1] > p[1])
            && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0]
        {
            inside = !inside;
        }
    }
    inside
}

// ─── the rules ───────────────────────────────────────────────────────────────────────────────

/// Glasses, occlusion and head covering (after the subject checks, in the contract's order).
pub(crate) fn cover_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    let codes = [FaceGlasses, FaceOcclusion, FaceHeadCovering];
    if let Some((why, unsure)) = no_face_reason(obs) {
        out.extend(codes.iter().map(|&c| skipped(c, why, unsure)));
        return;
    }
    let Some(m) = obs.measures.and_then(|m| m.cover) else {
        let why = "未能取得面部网格，无法检查此项，请人工复核";
        out.extend(codes.iter().map(|&c| skipped(c, why, true)));
        return;
    };
    let checks = [
        glasses_check(&m, p),
        occlusion_check(&m, p),
        head_covering_check(&m, obs.measures.and_then(|x| x.skin.as_ref()), p),
    ];
    // These measures compare colours of small regions; a photo compressed beyond the
    // compression limit has lost them (JPEG quality 1–2 turns skin into coloured blocks), so
    // it cannot fail them with confidence: it fails quality.compression instead.
    let q = obs.header.and_then(|h| h.jpeg_quality());
    let degraded = q.is_some_and(|q| q < p.jpeg_quality_min)
        || obs
            .measures
            .is_some_and(|x| f64::from(x.blockiness) > p.blockiness_max);
    for c in checks {
        out.push(if degraded && c.status == Status::Fail {
            skipped(
                c.code,
                "照片压缩过度，无法可靠判断此项，请以质量 70 重新导出后复核",
                true,
            )
        } else {
            c
        });
    }
}

/// A lens that changes the colour under it also absorbs light: the colour test applies only
/// where the lens area is at most this bright relative to the cheek.
pub(crate) const TINT_NEEDS_LUMINANCE_BELOW: f64 = 0.8;

pub(crate) fn glasses_check(m: &CoverMeasures, p: &Profile) -> Check {
    use CheckCode::FaceGlasses as C;
    let Some(lum) = m.lens_luminance.map(f64::from) else {
        return skipped(
            C,
            "眼睛下方或面颊超出照片范围，无法检查眼镜，请人工复核",
            true,
        );
    };
    let tint = m.lens_tint.map_or(0.0, f64::from);
    let glare = m.lens_glare.map(f64::from);
    let absorbs = lum < TINT_NEEDS_LUMINANCE_BELOW;
    let dark = lum < p.lens_luminance_min;
    let coloured = absorbs && tint > p.lens_tint_max;
    let shiny = glare.is_some_and(|g| g > p.lens_glare_max);
    let msg = if dark {
        format!(
            "眼镜镜片有颜色（眼睛下方亮度仅为面颊的 {:.0}%，至少 {:.0}%），请摘下有色眼镜或换用无色镜片",
            lum * 100.0,
            p.lens_luminance_min * 100.0
        )
    } else if coloured {
        format!(
            "眼镜镜片带颜色（眼睛下方与面颊的色度差 {tint:.3}，至多 {:.3}），请摘下有色眼镜或换用无色镜片",
            p.lens_tint_max
        )
    } else if shiny {
        format!(
            "眼镜镜片反光（反光面积为两眼间距平方的 {:.2}%，至多 {:.2}%），请调整灯光，或使用窗口提供的无镜片镜框",
            glare.unwrap_or(0.0) * 100.0,
            p.lens_glare_max * 100.0
        )
    } else if let Some(g) = glare {
        format!(
            "未见有色镜片或镜片反光（眼睛下方亮度为面颊的 {:.0}%，反光 {:.2}%）",
            lum * 100.0,
            g * 100.0
        )
    } else {
        "未见有色镜片；面部过亮，无法判断镜片反光".to_string()
    };
    let mut c = against_ratio(
        C,
        lum,
        Range::new(p.lens_luminance_min, f64::MAX),
        p.lens_luminance_uncertainty,
        msg,
    );
    if coloured || shiny {
        c.status = Status::Fail;
    }
    c.uncertain |= glare.is_none()
        || (absorbs && near_limit(tint, p.lens_tint_max, p.lens_tint_uncertainty))
        || glare.is_some_and(|g| near_limit(g, p.lens_glare_max, p.lens_glare_uncertainty));
    c
}

/// Whether hair covers this brow: no step from the brow up to the forehead, and the forehead
/// band as dark as the person's own hair and clearly darker than skin. `(covered, near)`:
/// `near` when only the step is within its uncertainty of the limit.
pub(crate) fn brow_covered(b: &Brow, hair: Option<f32>, p: &Profile) -> (bool, bool) {
    let above = f64::from(b.above);
    let like_hair = above <= -p.brow_dark_stops
        && hair.is_some_and(|h| {
            let h = f64::from(h);
            h <= -p.brow_dark_stops && (above - h).abs() <= p.brow_hair_match_stops
        });
    let step = f64::from(b.contrast());
    (
        like_hair && step < p.brow_contrast_min,
        like_hair && near_limit(step, p.brow_contrast_min, p.brow_contrast_uncertainty),
    )
}

pub(crate) fn occlusion_check(m: &CoverMeasures, p: &Profile) -> Check {
    use CheckCode::FaceOcclusion as C;
    let [Some(left), Some(right)] = m.brows else {
        return skipped(C, "眉毛区域超出照片范围，无法检查遮挡，请人工复核", true);
    };
    let (lc, ln) = brow_covered(&left, m.hair_stops, p);
    let (rc, rn) = brow_covered(&right, m.hair_stops, p);
    let step = f64::from(left.contrast().min(right.contrast()));
    let ears = m.ear_skin_max().map(f64::from).filter(|_| p.ears_must_show);
    let beside = m.ear_person_min().map_or(0.0, f64::from) >= p.ear_person_min;
    let ears_covered = beside && ears.is_some_and(|e| e < p.ear_skin_min);
    let msg = if lc || rc {
        let side = match (lc, rc) {
            (true, true) => "双眉",
            (true, false) => "画面左侧的眉毛",
            _ => "画面右侧的眉毛",
        };
        format!(
            "头发遮住了{side}（眉毛与上方额头的亮度差 {step:.1} 档，至少 {:.1}），请将刘海梳起，露出眉毛",
            p.brow_contrast_min
        )
    } else if ears_covered {
        format!(
            "头发遮住了双耳（耳部露出的皮肤仅 {:.0}%，至少 {:.0}%），请将头发拢到耳后，至少露出一只耳朵",
            ears.unwrap_or(0.0) * 100.0,
            p.ear_skin_min * 100.0
        )
    } else if let (true, Some(e)) = (p.ears_must_show, ears) {
        format!("眉毛和耳朵未被头发遮挡（耳部露出的皮肤 {:.0}%）", e * 100.0)
    } else if p.ears_must_show {
        "眉毛未被头发遮挡；耳部超出照片范围，请人工复核".to_string()
    } else {
        "眉毛未被头发遮挡".to_string()
    };
    let mut c = with(
        check(C, pass_fail(!(lc || rc || ears_covered)), msg),
        step,
        Some(Range::new(p.brow_contrast_min, f64::MAX)),
        "stops",
    );
    // Ears unmeasured (outside the photo) where the profile asks for them, or near the limit.
    c.uncertain = ln
        || rn
        || (p.ears_must_show && ears.is_none())
        || (beside && ears.is_some_and(|e| near_limit(e, p.ear_skin_min, p.ear_skin_uncertainty)));
    c
}

pub(crate) fn head_covering_check(
    m: &CoverMeasures,
    skin: Option<&SkinSample>,
    p: &Profile,
) -> Check {
    use CheckCode::FaceHeadCovering as C;
    let Some(share) = m.head_covering.map(f64::from) else {
        return skipped(
            C,
            "额头上方区域过小或超出照片，无法检查是否戴帽，请人工复核",
            true,
        );
    };
    // Colours are judged against natural hair and skin: under a colour cast (the skin itself
    // out of its natural range) hair reads as dyed, so the check cannot decide.
    let cast = skin.is_some_and(|s| {
        !p.skin_hue_deg.contains(f64::from(s.hue_deg()))
            || !p.skin_chroma.contains(f64::from(s.chroma()))
    });
    if cast {
        return skipped(C, "照片偏色，无法判断头部是否有遮盖物，请人工复核", true);
    }
    let lim = Range::new(f64::MIN, p.head_covering_max);
    let msg = if lim.contains(share) {
        "免冠，头部无帽子或头巾等遮盖物".to_string()
    } else {
        format!(
            "头部有帽子或头巾等遮盖物（额头上方 {:.0}% 为非头发颜色，至多 {:.0}%），请摘下帽子或头巾，免冠拍摄",
            share * 100.0,
            p.head_covering_max * 100.0
        )
    };
    against_ratio(C, share, lim, p.head_covering_uncertainty, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::color::lab;

    #[test]
    fn natural_hair_and_skin_colours_are_not_a_covering_vivid_fabric_is() {
        for (name, rgb) in [
            ("black hair", [20, 15, 12]),
            ("brown hair", [90, 60, 40]),
            ("blond hair", [200, 170, 120]),
            ("red hair", [160, 70, 40]),
            ("grey hair", [150, 150, 150]),
            ("white hair", [235, 235, 230]),
            ("light skin", [230, 190, 170]),
            ("dark skin", [90, 60, 45]),
        ] {
            assert!(!unnatural_for_hair(lab(rgb)), "{name}");
        }
        for (name, rgb) in [
            ("navy cap", [30, 45, 150]),
            ("red cap", [200, 30, 40]),
            ("green scarf", [40, 120, 60]),
            ("pink hat", [230, 80, 170]),
        ] {
            assert!(unnatural_for_hair(lab(rgb)), "{name}");
        }
    }

    #[test]
    fn a_skin_patch_moves_continuously_with_its_landmarks() {
        // An eyelid-like edge: dark above row 50, light below. The patch's centre walks across
        // it in steps of a hundredth of a pixel, level and at a slight roll.
        let img = RgbImage::from_fn(100, 100, |_, y| {
            image::Rgb(if y < 50 {
                [60, 45, 40]
            } else {
                [220, 180, 160]
            })
        });
        for roll in [0.0f32, 0.02] {
            let (s, c) = roll.sin_cos();
            let fr = Frame {
                origin: [50.0, 50.0],
                ex: [c, s],
                ey: [-s, c],
                fw: 100.0,
                iod: 90.0,
                eyes: [[5.0, 50.0], [95.0, 50.0]],
            };
            let y_at = |dy: f32| skin_patch(&img, &fr, [50.3, 50.0 + dy], 5.4).unwrap().y;
            let (dark, light) = (y_at(-20.0), y_at(20.0));
            let mut worst = 0.0f32;
            let mut last = y_at(-8.0);
            for k in 1..=1600 {
                let y = y_at(-8.0 + k as f32 * 0.01);
                worst = worst.max((y - last).abs());
                last = y;
            }
            // Nearest-pixel sampling jumps by a pixel (1/121 of the contrast) at the roll, a
            // whole row (1/11) level.
            assert!(
                worst < 0.003 * (light - dark),
                "roll {roll}: a step of 0.01 px moved the patch by {:.3} % of the contrast",
                100.0 * worst / (light - dark)
            );
            // And the walk does cross the edge.
            assert!(last > 0.99 * light && y_at(-8.0) < 1.01 * dark);
        }
    }

    #[test]
    fn point_in_polygon_and_frame_round_trip() {
        let square = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        assert!(point_in(&square, [5.0, 5.0]));
        assert!(!point_in(&square, [15.0, 5.0]));
        // A frame rolled 90°: "along the eyes" is +y in the image, "down" is −x.
        let fr = Frame {
            origin: [100.0, 100.0],
            ex: [0.0, 1.0],
            ey: [-1.0, 0.0],
            fw: 200.0,
            iod: 90.0,
            eyes: [[100.0, 55.0], [100.0, 145.0]],
        };
        let p = fr.at(fr.origin, 3.0, 4.0);
        assert_eq!(p, [96.0, 103.0]);
        assert_eq!(fr.frame_of(p), [3.0, 4.0]);
    }

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 3.0);
    }
}

#[cfg(test)]
mod rule_tests {
    //! The rules at the edges of their limits, on hand-made observations.
    use super::super::testkit::*;
    use super::super::*;

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
            |c| cov(c).ear_skin = [Some(0.01), Some(0.061)],
            |c| cov(c).ear_skin = [Some(0.01), Some(0.059)],
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
            beyond_frame: None,
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
        cov(&mut c).ear_skin = [Some(0.0), Some(0.075)];
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
}
