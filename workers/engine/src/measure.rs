//! Measurements on a decoded photo and its face geometry: the numbers the rules compare with the
//! profile's limits. Pure functions of pixels; no models, no I/O. See `docs/checks.md` for why
//! each measure was chosen and how it was validated.
//!
//! The loops over whole planes (luma, noise, blocking, blur, gradients) are also compiled for
//! AVX2 and picked at run time where the CPU has it (`multiversion`); every target gives the
//! same results, since they sum integers or do float operations in one fixed order.

use crate::color::{lab, luma, LabCache};
use image::RgbImage;

/// Face-oval indices of the MediaPipe mesh, clockwise from the top of the forehead.
pub const FACE_OVAL: [usize; 36] = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
];

/// Where the face is: everything the geometry and quality rules need, in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceGeometry {
    /// Detector box `[x0, y0, x1, y1]`.
    pub bbox: [f32; 4],
    /// Detector score.
    pub score: f32,
    /// Image-left eye centre.
    pub left_eye: [f32; 2],
    /// Image-right eye centre.
    pub right_eye: [f32; 2],
    /// Nose tip.
    pub nose: [f32; 2],
    /// Mouth corners, image-left then image-right.
    pub mouth: [[f32; 2]; 2],
    /// Face contour at cheek level, image-left then image-right.
    pub cheeks: [[f32; 2]; 2],
    /// Chin.
    pub chin: [f32; 2],
    /// Face outline polygon.
    pub oval: Vec<[f32; 2]>,
    /// The full face mesh (468 points: x, y in image pixels, z in the same scale, larger
    /// farther from the camera), or empty when the geometry was not measured by the mesh.
    pub mesh: Vec<[f32; 3]>,
    /// The head pose fitted to the mesh, when there is one.
    pub pose: Option<crate::pose::HeadPose>,
}

impl FaceGeometry {
    /// The same geometry with every coordinate multiplied by `k` (a photo `k` times larger).
    pub fn scaled(&self, k: f32) -> FaceGeometry {
        let p = |v: [f32; 2]| [v[0] * k, v[1] * k];
        FaceGeometry {
            bbox: self.bbox.map(|v| v * k),
            score: self.score,
            left_eye: p(self.left_eye),
            right_eye: p(self.right_eye),
            nose: p(self.nose),
            mouth: self.mouth.map(p),
            cheeks: self.cheeks.map(p),
            chin: p(self.chin),
            oval: self.oval.iter().map(|&v| p(v)).collect(),
            mesh: self.mesh.iter().map(|v| v.map(|c| c * k)).collect(),
            pose: self.pose,
        }
    }

    /// Midpoint between the eyes.
    pub fn eye_mid(&self) -> [f32; 2] {
        [
            (self.left_eye[0] + self.right_eye[0]) / 2.0,
            (self.left_eye[1] + self.right_eye[1]) / 2.0,
        ]
    }

    /// Distance between the eye centres.
    pub fn iod(&self) -> f32 {
        dist(self.left_eye, self.right_eye)
    }

    /// Face width at cheek level: the distance between the mesh's cheek contour points
    /// (234–454), as MediaPipe's refined mesh places them, the fixtures' own definition. GA
    /// 461's 207 ± 14 px (`geometry.face_width`) and `fix`'s scaling are measured on it, and
    /// regions in the face's frame are sized by it.
    pub fn face_width(&self) -> f32 {
        dist(self.cheeks[0], self.cheeks[1])
    }

    /// Head roll in degrees: positive when the image-right eye is lower. From the head pose
    /// fitted to the mesh when there is one, else the angle of the line through the eyes.
    pub fn roll_deg(&self) -> f32 {
        if let Some(pose) = self.pose {
            return pose.roll_deg;
        }
        let (dx, dy) = (
            self.right_eye[0] - self.left_eye[0],
            self.right_eye[1] - self.left_eye[1],
        );
        dy.atan2(dx).to_degrees()
    }

    /// Horizontal centre of the face (between the cheek points).
    pub fn center_x(&self) -> f32 {
        (self.cheeks[0][0] + self.cheeks[1][0]) / 2.0
    }
}

pub(crate) fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// The background colour the photo's border agrees on: the per-channel median of the border
/// pixels above `limit_row`.
pub fn border_reference(img: &RgbImage, limit_row: u32) -> [u8; 3] {
    let (w, h) = img.dimensions();
    let limit = limit_row.clamp(1, h);
    let mut hist = [[0u32; 256]; 3];
    let mut n = 0u32;
    let mut add = |p: &image::Rgb<u8>| {
        for c in 0..3 {
            hist[c][p[c] as usize] += 1;
        }
        n += 1;
    };
    for x in 0..w {
        add(img.get_pixel(x, 0));
    }
    for y in 1..limit {
        add(img.get_pixel(0, y));
        add(img.get_pixel(w - 1, y));
    }
    let mut out = [0u8; 3];
    for c in 0..3 {
        let mut acc = 0;
        for (v, &k) in hist[c].iter().enumerate() {
            acc += k;
            if acc * 2 >= n {
                out[c] = v as u8;
                break;
            }
        }
    }
    out
}

#[inline]
fn diff(p: &image::Rgb<u8>, r: [u8; 3]) -> u8 {
    (0..3).map(|c| p[c].abs_diff(r[c])).max().unwrap_or(0)
}

/// The crown: the first row from the top where at least 3 pixels between `x0` and `x1` (the
/// face's edges) belong to the subject with an opacity above one half, so faint stray hairs do
/// not count. A pixel's opacity is estimated locally: its difference from the background
/// divided by the largest difference in the same column within `reach` rows below it (the
/// solid hair it fades into). Differences must also exceed `faint`, which the caller raises on
/// noisy photos. Returns 0 when the head touches the top edge, `None` when nothing differs from
/// the background above `max_row`.
pub fn crown_row(
    img: &RgbImage,
    bg: [u8; 3],
    (x0, x1): (f32, f32),
    max_row: f32,
    reach: u32,
    faint: u8,
) -> Option<f32> {
    let (w, h) = img.dimensions();
    let xa = x0.max(0.0) as u32;
    let xb = (x1.min(w as f32).max(0.0) as u32).max(xa);
    let ymax = (max_row.max(0.0) as u32).min(h);
    let cols = (xb - xa) as usize;
    if cols == 0 || ymax == 0 {
        return None;
    }
    // Differences of the rows needed, computed once.
    let rows_needed = (ymax + reach).min(h);
    let stride = w as usize * 3;
    let raw = img.as_raw();
    let mut d: Vec<u8> = Vec::with_capacity(rows_needed as usize * cols);
    for y in 0..rows_needed as usize {
        let row = &raw[y * stride + xa as usize * 3..y * stride + xb as usize * 3];
        d.extend(row.chunks_exact(3).map(|p| {
            p[0].abs_diff(bg[0])
                .max(p[1].abs_diff(bg[1]))
                .max(p[2].abs_diff(bg[2]))
        }));
    }
    for y in 0..ymax {
        let mut count = 0;
        for c in 0..cols {
            let v = d[y as usize * cols + c];
            if v <= faint {
                continue;
            }
            let below = (y..(y + reach + 1).min(rows_needed))
                .map(|yy| d[yy as usize * cols + c])
                .max()
                .unwrap_or(v);
            if u16::from(v) * 2 >= u16::from(below) {
                count += 1;
                if count >= 3 {
                    return Some(y as f32);
                }
            }
        }
    }
    None
}

/// Statistics of a backdrop region reached from the border through small steps (a flood fill
/// that stops at the subject's edges but runs through soft shadows; see [`backdrop`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackgroundStats {
    /// Median L* of the region.
    pub lightness: f32,
    /// Mean a*.
    pub a: f32,
    /// Mean b*.
    pub b: f32,
    /// Chroma of the mean colour.
    pub chroma: f32,
    /// Median L* minus the 1st percentile: how dark the darkest part (a shadow) gets.
    pub shadow_drop: f32,
    /// Share of the border band that the fill reached (low: objects or texture at the border).
    pub coverage: f32,
    /// Pixels in the region.
    pub pixels: usize,
}

/// The background region the fill reached: `true` for background, over the rows above the
/// fill's limit; every row below it counts as the subject.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundMask {
    /// Row-major, `width × rows`.
    pub seen: Vec<bool>,
    /// Width in pixels.
    pub width: u32,
    /// Rows the fill covered.
    pub rows: u32,
}

impl BackgroundMask {
    /// Whether pixel `(x, y)` is background; outside the image counts as background.
    pub fn is_background(&self, x: i64, y: i64) -> bool {
        if x < 0 || y < 0 || x >= i64::from(self.width) {
            return true;
        }
        y < i64::from(self.rows) && self.seen[y as usize * self.width as usize + x as usize]
    }
}

/// The backdrop as the background checks and the head's checks see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Backdrop {
    /// The backdrop beside and above the head, down to the fill's limit row (the chin): the
    /// reference the covering and clothing checks compare the person with.
    pub behind_head: BackgroundStats,
    /// Every backdrop pixel of the photo: the fill continued below the limit row into the
    /// backdrop beside the neck and shoulders, where it stops at the clothes' edges as it
    /// stops at the hair's. Its coverage is `behind_head`'s (clothes reach the side edges at
    /// the bottom of a well-framed photo).
    pub whole: BackgroundStats,
    /// The region measured behind the head.
    pub mask: BackgroundMask,
}

/// The fill's state over the whole photo: the region claimed so far and its statistics.
struct Fill<'a> {
    raw: &'a [u8],
    w: usize,
    seen: Vec<bool>,
    stack: Vec<u32>,
    /// Border band width in pixels.
    band: usize,
    band_hit: usize,
    /// L* to the nearest 0.1; 1024 bins (1001 used) so the masked index needs no bounds check.
    hist: [u32; 1024],
    cache: LabCache,
    sa: f64,
    sb: f64,
    sampled: usize,
    count: usize,
}

/// Largest per-channel difference between neighbours inside the backdrop.
const FILL_STEP: u8 = 3;

impl Fill<'_> {
    fn close(&self, a: usize, b: usize) -> bool {
        let raw = self.raw;
        (0..3).all(|c| raw[a * 3 + c].abs_diff(raw[b * 3 + c]) <= FILL_STEP)
    }

    /// Span fill over rows `lo..hi` from the stacked seeds. A popped seed grows into the run
    /// of its row it reaches through close horizontal steps over unclaimed pixels; the run is
    /// claimed and measured. In the rows above and below (within `lo..hi`), a pixel vertically
    /// close to the run is pushed as a seed unless its left neighbour was just pushed and is
    /// horizontally close to it (that seed's run, or whichever run claims that neighbour
    /// first, grows into it). So every pixel the 4-neighbour fill reaches is claimed exactly
    /// once, with about one stack entry per run. Runs count toward the border band only when
    /// `band_counts`.
    fn run(&mut self, lo: usize, hi: usize, band_counts: bool) {
        let (wu, bu) = (self.w, self.band);
        let raw = self.raw;
        while let Some(s) = self.stack.pop() {
            let s = s as usize;
            if self.seen[s] {
                continue;
            }
            self.seen[s] = true;
            let (y, x) = (s / wu, s % wu);
            let row = y * wu;
            let (mut a, mut b) = (x, x);
            while a > 0 && !self.seen[row + a - 1] && self.close(row + a, row + a - 1) {
                a -= 1;
                self.seen[row + a] = true;
            }
            while b + 1 < wu && !self.seen[row + b + 1] && self.close(row + b, row + b + 1) {
                b += 1;
                self.seen[row + b] = true;
            }
            // Pixels of the run inside the border band: all in the top rows, else those in
            // the left and right columns of the band.
            if band_counts {
                self.band_hit += if y < bu || wu <= 2 * bu {
                    b - a + 1
                } else {
                    (b + 1).min(bu).saturating_sub(a) + (b + 1).saturating_sub(a.max(wu - bu))
                };
            }
            let even_row = y & 1 == 0;
            for xx in a..=b {
                let i = row + xx;
                // L* to the nearest 0.1 (halves up), from the cache with the colour.
                let (l, bin) = self
                    .cache
                    .get_binned([raw[i * 3], raw[i * 3 + 1], raw[i * 3 + 2]]);
                self.hist[usize::from(bin) & 1023] += 1;
                // The mean colour needs no more than one pixel in four.
                if even_row && xx & 1 == 0 {
                    self.sa += f64::from(l[2]);
                    self.sb += f64::from(l[3]);
                    self.sampled += 1;
                }
            }
            self.count += b - a + 1;
            let above = (y > lo).then(|| row - wu);
            let below = (y + 1 < hi).then_some(row + wu);
            for other in above.into_iter().chain(below) {
                let mut pushed_left = false;
                for xx in a..=b {
                    let j = other + xx;
                    let push = !self.seen[j] && self.close(row + xx, j);
                    if push && !(pushed_left && self.close(j - 1, j)) {
                        self.stack.push(j as u32);
                    }
                    pushed_left = push;
                }
            }
        }
    }

    /// The statistics of the region claimed so far, with the given coverage.
    fn stats(&self, coverage: f32) -> BackgroundStats {
        if self.count == 0 {
            return BackgroundStats {
                lightness: 0.0,
                a: 0.0,
                b: 0.0,
                chroma: 0.0,
                shadow_drop: 0.0,
                coverage: 0.0,
                pixels: 0,
            };
        }
        let pct = |q: f64| -> f32 {
            let target = (q * self.count as f64).ceil().max(1.0) as u64;
            let mut acc = 0u64;
            for (k, &c) in self.hist.iter().enumerate() {
                acc += u64::from(c);
                if acc >= target {
                    return k as f32 / 10.0;
                }
            }
            100.0
        };
        let n = self.sampled.max(1) as f64;
        let (a, b) = ((self.sa / n) as f32, (self.sb / n) as f32);
        let median = pct(0.5);
        BackgroundStats {
            lightness: median,
            a,
            b,
            chroma: a.hypot(b),
            shadow_drop: median - pct(0.01),
            coverage,
            pixels: self.count,
        }
    }
}

/// Largest per-channel difference from the backdrop's colour of a backdrop pixel below the
/// chin: a shadow deeper than this (about 23 L* on white) already fails
/// `background.uniformity` over a broad area, so nothing is lost by stopping there.
const BELOW_MAX_DIFF: u8 = 64;
/// Largest CIELAB a*b* distance from the backdrop's colour of a backdrop pixel below the chin.
const BELOW_MAX_TINT: f32 = 5.0;

/// Measures the backdrop (see [`Backdrop`]): a flood fill from the border through small steps
/// (it stops at the subject's edges but runs through soft shadows) over the rows above
/// `limit_row` (the chin), then on from there and from the side edges over the rows below it.
pub fn backdrop(img: &RgbImage, bg: [u8; 3], limit_row: f32) -> Backdrop {
    let (w, h) = img.dimensions();
    let limit = (limit_row.max(2.0) as u32).min(h);
    const SEED_TOL: u8 = 24;
    // Border band: 12 px of the reference canvas width.
    let band = ((w as f32 * 12.0 / 358.0).round() as u32).max(2);
    let mut fill = Fill {
        raw: img.as_raw(),
        w: w as usize,
        seen: vec![false; (w * h) as usize],
        stack: Vec::new(),
        band: band as usize,
        band_hit: 0,
        hist: [0; 1024],
        cache: LabCache::default(),
        sa: 0.0,
        sb: 0.0,
        sampled: 0,
        count: 0,
    };
    // Seeds are pushed unclaimed; a pixel is claimed (`seen`) when a run takes it.
    let seed = |x: u32, y: u32, stack: &mut Vec<u32>| {
        if diff(img.get_pixel(x, y), bg) <= SEED_TOL {
            stack.push(y * w + x);
        }
    };
    for x in 0..w {
        seed(x, 0, &mut fill.stack);
    }
    for y in 0..limit {
        seed(0, y, &mut fill.stack);
        seed(w - 1, y, &mut fill.stack);
    }
    fill.run(0, limit as usize, true);
    let top = limit.min(band);
    let band_total = (top * w + (limit - top) * w.min(2 * band)) as usize;
    let coverage = fill.band_hit as f32 / band_total.max(1) as f32;
    let behind_head = fill.stats(coverage);
    // Below the limit: on from the region's last row, and from the side edges, over pixels
    // near the backdrop's colour only. Beside the neck a blurred edge can ramp into the skin
    // or the clothes in steps the fill takes; a shadow on the backdrop keeps its hue.
    if limit < h {
        let bg_lab = crate::color::lab(bg);
        let mut lab = LabCache::default();
        for i in (limit * w) as usize..(w * h) as usize {
            let p = [fill.raw[i * 3], fill.raw[i * 3 + 1], fill.raw[i * 3 + 2]];
            let c = lab.get(p);
            let far = p
                .iter()
                .zip(bg)
                .any(|(&v, r)| v.abs_diff(r) > BELOW_MAX_DIFF)
                || crate::color::norm2(c[2] - bg_lab[1], c[3] - bg_lab[2]) > BELOW_MAX_TINT;
            // Claimed without being measured: the fill does not enter it.
            fill.seen[i] = far;
        }
        let last = ((limit - 1) * w) as usize;
        for x in 0..w as usize {
            let (i, j) = (last + x, last + x + w as usize);
            if fill.seen[i] && fill.close(i, j) {
                fill.stack.push(j as u32);
            }
        }
        for y in limit..h {
            seed(0, y, &mut fill.stack);
            seed(w - 1, y, &mut fill.stack);
        }
        fill.run(limit as usize, h as usize, false);
    }
    let whole = fill.stats(coverage);
    let mut seen = fill.seen;
    seen.truncate((w * limit) as usize);
    Backdrop {
        behind_head,
        whole,
        mask: BackgroundMask {
            seen,
            width: w,
            rows: limit,
        },
    }
}

/// Rows of a polygon's interior, by scanline: calls `f(y, x0, x1)` for each span.
pub fn for_each_span(poly: &[[f32; 2]], w: u32, h: u32, mut f: impl FnMut(u32, u32, u32)) {
    if poly.len() < 3 {
        return;
    }
    let ymin = poly.iter().map(|p| p[1]).fold(f32::MAX, f32::min).max(0.0) as u32;
    let ymax = (poly.iter().map(|p| p[1]).fold(f32::MIN, f32::max).ceil() as i64)
        .clamp(0, i64::from(h)) as u32;
    let mut xs = Vec::new();
    for y in ymin..ymax {
        let yc = y as f32 + 0.5;
        xs.clear();
        for i in 0..poly.len() {
            let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
            if (a[1] <= yc) != (b[1] <= yc) {
                xs.push(a[0] + (yc - a[1]) / (b[1] - a[1]) * (b[0] - a[0]));
            }
        }
        if xs.len() == 2 {
            if xs[1] < xs[0] {
                xs.swap(0, 1);
            }
        } else {
            xs.sort_unstable_by(f32::total_cmp);
        }
        for pair in xs.chunks_exact(2) {
            let x0 = pair[0].max(0.0).round() as u32;
            let x1 = (pair[1].round().max(0.0) as u32).min(w);
            if x1 > x0 {
                f(y, x0, x1);
            }
        }
    }
}

/// Tonal statistics of the face (inside the face outline), on luma 0–255.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceTone {
    /// Mean luma.
    pub mean: f32,
    /// 5th percentile.
    pub p5: f32,
    /// 95th percentile.
    pub p95: f32,
    /// Share of pixels at ≤ 5 or ≥ 250.
    pub clipped: f32,
    /// The whites of the eyes: the 97th percentile ([`EYE_WHITE_QUANTILE`]) of luma inside
    /// each eye's contour on the mesh, the brighter eye; `None` without a mesh or where an eye
    /// covers under 20 pixels.
    pub eye_white: Option<f32>,
}

/// Eye contours on the MediaPipe mesh (image-left eye, image-right eye), each a closed loop.
const EYE_CONTOURS: [[usize; 16]; 2] = [
    [
        33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
    ],
    [
        263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
    ],
];

/// Which quantile of an eye's luma stands for its white. The brightest few per cent of the
/// eye opening are sclera in every open eye, whatever the iris, lids and lashes take of the
/// rest; higher ones reach the catchlight. Of the quantiles from the 85th to the maximum, the
/// 97th–98th spread least between people in good light (brightest ÷ darkest 1.47 on the 59
/// compliant calibration and fixture photos, against 1.89 for the 90th and 1.80 for the
/// maximum: `bench/calibrate/explore/eyes_white.py`), so a floor under it tells a dim face
/// from a dark-skinned one with the most room.
pub const EYE_WHITE_QUANTILE: f32 = 0.97;

/// The whites of the eyes (see [`FaceTone::eye_white`]) on a 468-point mesh.
pub fn eye_white(luma: &Luma, mesh: &[[f32; 3]]) -> Option<f32> {
    if mesh.len() != 468 {
        return None;
    }
    let (w, h) = (luma.width as u32, luma.height as u32);
    EYE_CONTOURS
        .iter()
        .filter_map(|ids| {
            let poly: Vec<[f32; 2]> = ids.iter().map(|&i| [mesh[i][0], mesh[i][1]]).collect();
            let mut v: Vec<i32> = Vec::new();
            for_each_span(&poly, w, h, |y, x0, x1| {
                let row = &luma.data[y as usize * luma.width..(y as usize + 1) * luma.width];
                v.extend_from_slice(&row[x0 as usize..x1 as usize]);
            });
            if v.len() < 20 {
                return None;
            }
            let k = ((v.len() - 1) as f32 * EYE_WHITE_QUANTILE).round() as usize;
            let (_, white, _) = v.select_nth_unstable(k);
            Some(*white as f32 / 1000.0)
        })
        .reduce(f32::max)
}

/// Tonal statistics inside `oval`; `None` when the outline covers no pixel.
pub fn face_tone(luma: &Luma, oval: &[[f32; 2]]) -> Option<FaceTone> {
    let (w, h) = (luma.width as u32, luma.height as u32);
    let mut hist = [0u32; 256];
    let mut n = 0u32;
    let mut sum = 0i64;
    for_each_span(oval, w, h, |y, x0, x1| {
        let row = &luma.data[y as usize * luma.width..(y as usize + 1) * luma.width];
        for &v in &row[x0 as usize..x1 as usize] {
            // Rounded to the nearest level (halves up), as `f32::round` does for these.
            hist[((v + 500) / 1000) as usize] += 1;
            sum += i64::from(v);
        }
        n += x1 - x0;
    });
    if n == 0 {
        return None;
    }
    let pct = |q: f32| {
        let target = ((q * n as f32).ceil() as u32).max(1);
        let mut acc = 0;
        for (v, &c) in hist.iter().enumerate() {
            acc += c;
            if acc >= target {
                return v as f32;
            }
        }
        255.0
    };
    let clipped = hist[..=5].iter().chain(&hist[250..]).sum::<u32>() as f32 / n as f32;
    Some(FaceTone {
        mean: (sum as f64 / 1000.0 / f64::from(n)) as f32,
        p5: pct(0.05),
        p95: pct(0.95),
        clipped,
        eye_white: None,
    })
}

/// Mean luma and mean CIELAB of a square of side `2r` centred on `c`, clipped to the image.
fn patch(img: &RgbImage, c: [f32; 2], r: f32) -> Option<Patch> {
    let (w, h) = img.dimensions();
    let x0 = (c[0] - r).max(0.0) as u32;
    let y0 = (c[1] - r).max(0.0) as u32;
    let x1 = ((c[0] + r).max(0.0) as u32).min(w);
    let y1 = ((c[1] + r).max(0.0) as u32).min(h);
    let t = crate::color::linear_table();
    let mut n = 0usize;
    let (mut sy, mut slight, mut sl) = (0f32, 0f32, [0f32; 3]);
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y).0;
            sy += luma(p);
            slight += 0.212_672_9 * t[p[0] as usize]
                + 0.715_152_2 * t[p[1] as usize]
                + 0.072_175 * t[p[2] as usize];
            let l = lab(p);
            for k in 0..3 {
                sl[k] += l[k];
            }
            n += 1;
        }
    }
    (n > 0).then(|| Patch {
        luma: sy / n as f32,
        light: slight / n as f32,
        lab: sl.map(|v| v / n as f32),
        n,
    })
}

/// Means over a square patch of skin.
struct Patch {
    /// Mean luma (0–255, gamma-encoded).
    luma: f32,
    /// Mean relative luminance Y (0–1, linear light).
    light: f32,
    /// Mean CIELAB colour.
    lab: [f32; 3],
    /// Pixels.
    n: usize,
}

/// Skin samples: the two cheeks below the eyes and the nose bridge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkinSample {
    /// Mean luma of the image-left cheek.
    pub left_luma: f32,
    /// Mean luma of the image-right cheek.
    pub right_luma: f32,
    /// Mean relative luminance (CIE Y, linear light, 0–1) of the image-left cheek.
    pub left_light: f32,
    /// The same of the image-right cheek.
    pub right_light: f32,
    /// Mean a* over the samples.
    pub a: f32,
    /// Mean b* over the samples.
    pub b: f32,
}

impl SkinSample {
    /// Lighting difference between the cheeks, in stops: |log2| of the ratio of their mean
    /// luminance in linear light (one stop = twice the light; a gamma-encoded ratio would read
    /// about half the stops). The small offset (about one 8-bit level near black) keeps a
    /// black cheek finite.
    pub fn side_stops(&self) -> f32 {
        const DARK: f32 = 0.001;
        ((self.left_light + DARK) / (self.right_light + DARK))
            .log2()
            .abs()
    }

    /// Hue angle of the mean skin colour in degrees (atan2(b*, a*)).
    pub fn hue_deg(&self) -> f32 {
        self.b.atan2(self.a).to_degrees()
    }

    /// Chroma of the mean skin colour.
    pub fn chroma(&self) -> f32 {
        self.a.hypot(self.b)
    }
}

/// Samples the cheeks (0.45 × IOD below each eye) and the nose bridge.
pub fn skin(img: &RgbImage, face: &FaceGeometry) -> Option<SkinSample> {
    let iod = face.iod();
    let r = 0.18 * iod;
    let below = |e: [f32; 2]| [e[0], e[1] + 0.45 * iod];
    let left = patch(img, below(face.left_eye), r)?;
    let right = patch(img, below(face.right_eye), r)?;
    let mid = face.eye_mid();
    let bridge = [(mid[0] + face.nose[0]) / 2.0, (mid[1] + face.nose[1]) / 2.0];
    let samples = [Some(&left), Some(&right)];
    let nose = patch(img, bridge, 0.8 * r);
    let all = samples.into_iter().chain([nose.as_ref()]).flatten();
    let (mut total, mut a, mut b) = (0f32, 0f32, 0f32);
    for p in all {
        total += p.n as f32;
        a += p.lab[1] * p.n as f32;
        b += p.lab[2] * p.n as f32;
    }
    Some(SkinSample {
        left_luma: left.luma,
        right_luma: right.luma,
        left_light: left.light,
        right_light: right.light,
        a: a / total,
        b: b / total,
    })
}

/// Luma (0–255) of a rectangle of the shared plane, as floats.
#[multiversion::multiversion(targets("x86_64+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn luma_region(luma: &Luma, x0: usize, y0: usize, x1: usize, y1: usize) -> Vec<f32> {
    let cols = x1 - x0;
    let mut out = vec![0f32; cols * (y1 - y0)];
    for (dst, y) in out.chunks_exact_mut(cols.max(1)).zip(y0..y1) {
        let row = &luma.data[y * luma.width + x0..y * luma.width + x1];
        for (o, &v) in dst.iter_mut().zip(row) {
            *o = v as f32 / 1000.0;
        }
    }
    out
}

/// Normalised Gaussian taps for `sigma`, radius ⌈3σ⌉.
fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let r = (3.0 * sigma).ceil() as isize;
    let k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let ks: f32 = k.iter().sum();
    k.iter().map(|v| v / ks).collect()
}

/// Separable Gaussian blur with edge clamping. Each output sums its taps in kernel order, so
/// the interior loops (written to vectorise across a row) give the same values as the
/// clamped border loops.
fn gaussian_blur(src: &[f32], w: usize, h: usize, sigma: f32) -> Vec<f32> {
    blur_with(src, w, h, &gaussian_kernel(sigma))
}

#[multiversion::multiversion(targets("x86_64+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn blur_with(src: &[f32], w: usize, h: usize, k: &[f32]) -> Vec<f32> {
    let r = k.len() / 2;
    let clamp = |i: isize, n: usize| i.clamp(0, n as isize - 1) as usize;
    let mut tmp = vec![0.0; w * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        let out = &mut tmp[y * w..(y + 1) * w];
        // Clamped borders.
        for x in (0..w.min(r)).chain(w.saturating_sub(r).max(r.min(w))..w) {
            let mut s = 0.0;
            for (j, kv) in k.iter().enumerate() {
                s += kv * row[clamp(x as isize + j as isize - r as isize, w)];
            }
            out[x] = s;
        }
        // Interior: x - r ..= x + r stays inside the row.
        if w > 2 * r {
            let n = w - 2 * r;
            let acc = &mut out[r..r + n];
            for (j, &kv) in k.iter().enumerate() {
                for (o, &v) in acc.iter_mut().zip(&row[j..j + n]) {
                    *o += kv * v;
                }
            }
        }
    }
    let mut out = vec![0.0; w * h];
    for y in 0..h {
        let dst = &mut out[y * w..(y + 1) * w];
        for (j, &kv) in k.iter().enumerate() {
            let yy = clamp(y as isize + j as isize - r as isize, h);
            for (o, &v) in dst.iter_mut().zip(&tmp[yy * w..(yy + 1) * w]) {
                *o += kv * v;
            }
        }
    }
    out
}

/// Squared Sobel gradient at a pixel from its 3 × 3 neighbourhood: the row above, the left
/// and right neighbours, the row below.
#[inline(always)]
fn sobel_sq(a: [f32; 3], b: [f32; 2], c: [f32; 3]) -> f32 {
    let gx = a[2] + 2.0 * b[1] + c[2] - a[0] - 2.0 * b[0] - c[0];
    let gy = c[0] + 2.0 * c[1] + c[2] - a[0] - 2.0 * a[1] - a[2];
    gx * gx + gy * gy
}

/// Mean squared Sobel gradient over the interior of a `w` × `h` plane.
#[multiversion::multiversion(targets("x86_64+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn gradient_energy(p: &[f32], w: usize, h: usize) -> f64 {
    if w < 3 || h < 3 {
        return 0.0;
    }
    let n = w - 2;
    let mut sum = 0f64;
    for y in 1..h - 1 {
        let v = |r: usize, k: usize| view(p, r * w + k, n);
        let (a0, a1, a2) = (v(y - 1, 0), v(y - 1, 1), v(y - 1, 2));
        let (b0, b2) = (v(y, 0), v(y, 2));
        let (c0, c1, c2) = (v(y + 1, 0), v(y + 1, 1), v(y + 1, 2));
        // Eight partial sums per row (a fixed order, so every target sums alike).
        let mut lanes = [0f32; 8];
        let full = n / 8 * 8;
        for i in (0..full).step_by(8) {
            let (a0, a1, a2) = (eight(a0, i), eight(a1, i), eight(a2, i));
            let (b0, b2) = (eight(b0, i), eight(b2, i));
            let (c0, c1, c2) = (eight(c0, i), eight(c1, i), eight(c2, i));
            for (l, lane) in lanes.iter_mut().enumerate() {
                *lane += sobel_sq([a0[l], a1[l], a2[l]], [b0[l], b2[l]], [c0[l], c1[l], c2[l]]);
            }
        }
        let mut row = lanes.iter().map(|&l| f64::from(l)).sum::<f64>();
        for j in full..n {
            row += f64::from(sobel_sq(
                [a0[j], a1[j], a2[j]],
                [b0[j], b2[j]],
                [c0[j], c1[j], c2[j]],
            ));
        }
        sum += row;
    }
    sum / (n * (h - 2)) as f64
}

/// Sharpness of a region: gradient energy of the region divided by the gradient energy after a
/// Gaussian blur of σ = 2 px (scaled to the image). A sharp face loses most of its fine detail
/// to the blur (ratio well above 2); a face already blurred by defocus, motion or upscaling
/// loses little (ratio near 1). The ratio does not depend on skin tone or contrast.
pub fn sharpness(luma: &Luma, region: [f32; 4], scale: f32) -> Option<f32> {
    let (w, h) = (luma.width as u32, luma.height as u32);
    let x0 = region[0].max(0.0) as u32;
    let y0 = region[1].max(0.0) as u32;
    let x1 = (region[2].max(0.0) as u32).min(w);
    let y1 = (region[3].max(0.0) as u32).min(h);
    if x1 < x0 + 16 || y1 < y0 + 16 {
        return None;
    }
    let (pw, ph) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let p = luma_region(luma, x0 as usize, y0 as usize, x1 as usize, y1 as usize);
    let blurred = gaussian_blur(&p, pw, ph, 2.0 * scale.max(0.25));
    let e0 = gradient_energy(&p, pw, ph);
    let e1 = gradient_energy(&blurred, pw, ph);
    if e1 <= 1e-6 {
        return Some(1.0);
    }
    Some((e0 / e1) as f32)
}

/// The luma of a whole photo, computed once and shared by the whole-image measures: Rec. 601
/// luma × 1000 as integers (`299 R + 587 G + 114 B`), which is exact, so the measures below
/// sum integers (exactly, and several pixels per instruction).
#[derive(Debug, Clone, PartialEq)]
pub struct Luma {
    /// Row-major values, luma × 1000 (0–255 000).
    pub data: Vec<i32>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// Luma × 1000 of one pixel (exact: the Rec. 601 weights have three decimals).
#[inline]
fn luma1000(p: &[u8]) -> i32 {
    299 * i32::from(p[0]) + 587 * i32::from(p[1]) + 114 * i32::from(p[2])
}

#[multiversion::multiversion(targets("x86_64+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn luma_plane(raw: &[u8]) -> Vec<i32> {
    // A plain loop into a sized buffer, so it is compiled inside each target's version
    // (`collect` would call a generic helper built for the baseline only).
    let mut out = vec![0i32; raw.len() / 3];
    for (o, p) in out.iter_mut().zip(raw.chunks_exact(3)) {
        *o = luma1000(p);
    }
    out
}

impl Luma {
    /// The luma plane of `img`.
    pub fn of(img: &RgbImage) -> Luma {
        let (w, h) = img.dimensions();
        Luma {
            data: luma_plane(img.as_raw()),
            width: w as usize,
            height: h as usize,
        }
    }

    /// The luma plane of a greyscale image (`width` × `height` bytes, row by row).
    pub fn of_grey(grey: &[u8], width: usize, height: usize) -> Luma {
        Luma {
            data: grey.iter().map(|&v| i32::from(v) * 1000).collect(),
            width,
            height,
        }
    }

    /// Luma (0–255) at `(x, y)`.
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x] as f32 / 1000.0
    }
}

/// Sum of |kernel response| over the interior of row `b`, from the rows above (`a`) and
/// below (`c`), all of one length.
#[multiversion::multiversion(targets("x86_64+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn noise_row(a: &[i32], b: &[i32], c: &[i32]) -> i64 {
    // |response| ≤ 16 × 255 000, so 512 of them fit an i32: sum in i32 lanes per chunk.
    let n = b.len().saturating_sub(2);
    let mut total = 0i64;
    for start in (0..n).step_by(512) {
        let len = (n - start).min(512);
        // Nine views of one length, so the loop has no bounds checks and vectorises.
        let v = |r, k| view(r, start + k, len);
        let (a0, a1, a2) = (v(a, 0), v(a, 1), v(a, 2));
        let (b0, b1, b2) = (v(b, 0), v(b, 1), v(b, 2));
        let (c0, c1, c2) = (v(c, 0), v(c, 1), v(c, 2));
        let mut part = 0i32;
        for i in 0..len {
            let r = a0[i] - 2 * a1[i] + a2[i] - 2 * b0[i] + 4 * b1[i] - 2 * b2[i] + c0[i]
                - 2 * c1[i]
                + c2[i];
            part += r.abs();
        }
        total += i64::from(part);
    }
    total
}

/// The eight values of `r` from `at` (one vector register on AVX2).
#[inline(always)]
fn eight(r: &[f32], at: usize) -> [f32; 8] {
    let mut v = [0f32; 8];
    v.copy_from_slice(&r[at..at + 8]);
    v
}

/// `len` values of `r` from `at`.
#[inline(always)]
fn view<T>(r: &[T], at: usize, len: usize) -> &[T] {
    &r[at..at + len]
}

/// Sum of |b[i] − a[i]| over two luma rows of one length.
#[multiversion::multiversion(targets("x86_64+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn abs_step_sum(a: &[i32], b: &[i32]) -> i64 {
    // A step is at most 255 000: 4096 of them fit an i32.
    let n = a.len().min(b.len());
    let mut total = 0i64;
    for start in (0..n).step_by(4096) {
        let end = (start + 4096).min(n);
        let part: i32 = a[start..end]
            .iter()
            .zip(&b[start..end])
            .map(|(&x, &y)| (y - x).abs())
            .sum();
        total += i64::from(part);
    }
    total
}

/// Noise standard deviation (0–255) by Immerkær's method: the mean absolute response to a
/// Laplacian-difference kernel that cancels smooth image structure.
pub fn noise_sigma(luma: &Luma) -> f32 {
    let (p, w, h) = (&luma.data, luma.width, luma.height);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let mut sum = 0i64;
    for y in 1..h - 1 {
        let (a, b, c) = (
            &p[(y - 1) * w..y * w],
            &p[y * w..(y + 1) * w],
            &p[(y + 1) * w..(y + 2) * w],
        );
        sum += noise_row(a, b, c);
    }
    let norm = (std::f64::consts::PI / 2.0).sqrt() / (6.0 * (w - 2) as f64 * (h - 2) as f64);
    (sum as f64 / 1000.0 * norm) as f32
}

/// JPEG blocking: mean luma step across 8-pixel block boundaries divided by the mean step
/// inside blocks (1 for a photo without blocking; large for heavy compression).
pub fn blockiness(luma: &Luma) -> f32 {
    let (p, w, h) = (&luma.data, luma.width, luma.height);
    if w < 16 || h < 16 {
        return 1.0;
    }
    let (mut edge, mut inner) = (0i64, 0i64);
    let (mut edge_n, mut inner_n) = (0usize, 0usize);
    for row in p.chunks_exact(w).take(h) {
        // Steps x → x + 1; those with x % 8 == 7 cross a block boundary. All steps are summed
        // in one branch-free pass (it vectorises), the boundary ones picked out by stride.
        let all = abs_step_sum(&row[..w - 1], &row[1..]);
        let across: i64 = (7..w - 1)
            .step_by(8)
            .map(|x| i64::from((row[x + 1] - row[x]).abs()))
            .sum();
        let n_across = (w - 1) / 8;
        edge += across;
        edge_n += n_across;
        inner += all - across;
        inner_n += w - 1 - n_across;
    }
    for y in 0..h - 1 {
        let (top, bot) = (&p[y * w..(y + 1) * w], &p[(y + 1) * w..(y + 2) * w]);
        let s = abs_step_sum(top, bot);
        if y % 8 == 7 {
            edge += s;
            edge_n += w;
        } else {
            inner += s;
            inner_n += w;
        }
    }
    let e = edge as f64 / 1000.0 / edge_n.max(1) as f64;
    let i = inner as f64 / 1000.0 / inner_n.max(1) as f64;
    ((e + 0.05) / (i + 0.05)) as f32
}

#[cfg(test)]
mod tests {
    //! Each measure on synthetic images built here.
    use super::*;
    use image::Rgb;

    const W: u32 = 358;
    const H: u32 = 441;

    /// White canvas with a dark-haired "head": an ellipse of hair whose top is at `crown`,
    /// a skin ellipse below it, and shoulders from y = 380.
    fn portrait(crown: u32) -> RgbImage {
        RgbImage::from_fn(W, H, |x, y| {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let hair = ((fx - 179.0) / 115.0).powi(2)
                + ((fy - (crown as f32 + 130.0)) / 130.0).powi(2)
                <= 1.0;
            let skin = ((fx - 179.0) / 103.0).powi(2)
                + ((fy - (crown as f32 + 175.0)) / 135.0).powi(2)
                <= 1.0;
            if skin {
                Rgb([200, 150, 120])
            } else if hair {
                Rgb([40, 30, 25])
            } else if y >= 380 {
                Rgb([30, 40, 90])
            } else {
                Rgb([255, 255, 255])
            }
        })
    }

    #[test]
    fn crown_is_the_top_of_the_hair() {
        for crown in [0, 7, 14, 21, 30] {
            let img = portrait(crown);
            let got = crown_row(&img, [255; 3], (80.0, 280.0), 200.0, 8, 24).unwrap();
            assert!(
                (got - crown as f32).abs() <= 1.0,
                "crown {crown} measured {got}"
            );
        }
        // Nothing above the limit row: no crown.
        let blank = RgbImage::from_pixel(W, H, Rgb([255; 3]));
        assert_eq!(
            crown_row(&blank, [255; 3], (80.0, 280.0), 200.0, 8, 24),
            None
        );
    }

    #[test]
    fn faint_stray_hairs_above_the_head_do_not_move_the_crown() {
        let mut img = portrait(14);
        // A few light-grey single hairs reaching 6 px higher (opacity about 0.3).
        for y in 8..14 {
            for x in [150, 170, 190] {
                img.put_pixel(x, y, Rgb([190, 190, 190]));
            }
        }
        let got = crown_row(&img, [255; 3], (80.0, 280.0), 200.0, 8, 24).unwrap();
        assert!((got - 14.0).abs() <= 1.0, "{got}");
    }

    #[test]
    fn border_reference_is_the_backdrop_colour() {
        let mut img = portrait(14);
        assert_eq!(border_reference(&img, 300), [255, 255, 255]);
        for p in img.pixels_mut() {
            if p.0 == [255, 255, 255] {
                *p = Rgb([70, 140, 220]);
            }
        }
        assert_eq!(border_reference(&img, 300), [70, 140, 220]);
    }

    #[test]
    fn a_plain_white_background_is_light_neutral_and_covered() {
        let b = backdrop(&portrait(14), [255; 3], 330.0).behind_head;
        assert!(b.lightness > 99.0 && b.chroma < 0.5, "{b:?}");
        assert!(b.shadow_drop < 1.0 && b.coverage > 0.95, "{b:?}");
        // The fill stops at the head: the subject is not part of the background.
        assert!(b.pixels < (W * 330) as usize * 3 / 4);
    }

    #[test]
    fn a_soft_shadow_beside_the_head_is_measured() {
        let mut img = portrait(14);
        // A drop shadow to the right of the head: darkens the white smoothly towards the head.
        for y in 40..330 {
            for x in 200..W {
                if img.get_pixel(x, y).0 == [255, 255, 255] {
                    let d = (x as f32 - 290.0).abs();
                    let v = (255.0 - 110.0 * (1.0 - d / 70.0).max(0.0)) as u8;
                    img.put_pixel(x, y, Rgb([v, v, v]));
                }
            }
        }
        let b = backdrop(&img, [255; 3], 330.0).behind_head;
        assert!(b.shadow_drop > 20.0, "{b:?}");
    }

    #[test]
    fn the_whole_backdrop_reaches_below_the_chin_and_stops_at_the_clothes() {
        let img = portrait(14);
        let bd = backdrop(&img, [255; 3], 330.0);
        // The white beside the neck down to the shoulders joins; the shoulders do not.
        let white = img.pixels().filter(|p| p.0 == [255; 3]).count();
        assert_eq!(bd.whole.pixels, white);
        assert!(bd.whole.pixels > bd.behind_head.pixels);
        assert_eq!(bd.whole.coverage, bd.behind_head.coverage);
        // The mask stays the region behind the head.
        assert_eq!(bd.mask.rows, 330);
        assert_eq!(bd.mask.seen.len(), (W * 330) as usize);
        // A shadow (or garbage) beside the shoulders, below the chin: only the whole sees it.
        let mut img = img;
        // It deepens 2 levels a row from the chin's row down to the shoulders.
        for y in 332..380 {
            for x in 0..150 {
                let v = (255 - 2 * (y - 332)) as u8;
                img.put_pixel(x, y, Rgb([v, v, v]));
            }
        }
        let bd = backdrop(&img, [255; 3], 330.0);
        assert!(bd.behind_head.shadow_drop < 1.0, "{:?}", bd.behind_head);
        assert!(bd.whole.shadow_drop > 15.0, "{:?}", bd.whole);
    }

    #[test]
    fn a_busy_background_leaves_little_plain_border() {
        let img = RgbImage::from_fn(W, H, |x, y| {
            let v = (((x / 6) + (y / 6)) % 2 * 120 + 60) as u8;
            Rgb([v, v / 2, 255 - v])
        });
        let b = backdrop(&img, border_reference(&img, H), 330.0).behind_head;
        assert!(b.coverage < 0.3, "{b:?}");
    }

    /// The plain 4-neighbour fill the span fill must agree with: same seeds, same steps.
    fn reference_fill(img: &RgbImage, bg: [u8; 3], limit: u32) -> Vec<bool> {
        let (w, _) = img.dimensions();
        let at = |x: u32, y: u32| img.get_pixel(x, y).0;
        let close = |p: [u8; 3], q: [u8; 3]| (0..3).all(|c| p[c].abs_diff(q[c]) <= 3);
        let mut seen = vec![false; (w * limit) as usize];
        let mut queue = std::collections::VecDeque::new();
        for y in 0..limit {
            for x in 0..w {
                let border = y == 0 || x == 0 || x == w - 1;
                let p = at(x, y);
                if border && (0..3).all(|c| p[c].abs_diff(bg[c]) <= 24) {
                    seen[(y * w + x) as usize] = true;
                    queue.push_back((x, y));
                }
            }
        }
        while let Some((x, y)) = queue.pop_front() {
            let mut next = vec![];
            if x > 0 {
                next.push((x - 1, y));
            }
            if x + 1 < w {
                next.push((x + 1, y));
            }
            if y > 0 {
                next.push((x, y - 1));
            }
            if y + 1 < limit {
                next.push((x, y + 1));
            }
            for (nx, ny) in next {
                let k = (ny * w + nx) as usize;
                if !seen[k] && close(at(x, y), at(nx, ny)) {
                    seen[k] = true;
                    queue.push_back((nx, ny));
                }
            }
        }
        seen
    }

    #[test]
    fn the_span_fill_reaches_exactly_what_a_pixel_fill_reaches() {
        // Gradients, steps and noise: regions that snake around, with dead ends both ways.
        let mut state = 0x1234_5678_u32;
        for case in 0..6u32 {
            let img = RgbImage::from_fn(97, 83, |x, y| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let wave =
                    ((x as f32 * 0.21 + case as f32).sin() * (y as f32 * 0.17).cos() * 40.0) as i32;
                let noise = (state % (2 + case)) as i32;
                let wall = if (x / 11 + y / 7 + case) % 5 == 0 {
                    60
                } else {
                    0
                };
                let v = (200 + wave + noise - wall).clamp(0, 255) as u8;
                Rgb([v, v.saturating_sub(case as u8), v])
            });
            let bg = border_reference(&img, 83);
            let limit = 70;
            let Backdrop {
                behind_head: stats,
                mask,
                ..
            } = backdrop(&img, bg, limit as f32);
            let want = reference_fill(&img, bg, limit);
            assert_eq!(mask.seen, want, "case {case}");
            assert_eq!(
                stats.pixels,
                want.iter().filter(|&&s| s).count(),
                "case {case}"
            );
            assert!(stats.pixels > 0, "case {case}: the fill must start");
            // The band coverage, counted per span, is the reference mask's share of the band.
            let (w, band) = (97usize, ((97.0f32 * 12.0 / 358.0).round() as usize).max(2));
            let (mut hit, mut total) = (0usize, 0usize);
            for (i, &s) in want.iter().enumerate() {
                let (x, y) = (i % w, i / w);
                if y < band || x < band || x + band >= w {
                    total += 1;
                    hit += usize::from(s);
                }
            }
            assert_eq!(stats.coverage, hit as f32 / total as f32, "case {case}");
        }
    }

    fn texture(sigma_blur: f32) -> RgbImage {
        // Fine deterministic texture, optionally blurred.
        let base: Vec<f32> = (0..200 * 200)
            .map(|i| {
                let (x, y) = ((i % 200) as f32, (i / 200) as f32);
                128.0
                    + 60.0 * ((x * 0.9).sin() * (y * 0.7).cos())
                    + 30.0 * ((x * 0.31 + y * 0.17).sin())
            })
            .collect();
        let p = if sigma_blur > 0.0 {
            gaussian_blur(&base, 200, 200, sigma_blur)
        } else {
            base
        };
        RgbImage::from_fn(200, 200, |x, y| {
            let v = p[(y * 200 + x) as usize].clamp(0.0, 255.0) as u8;
            Rgb([v, v, v])
        })
    }

    #[test]
    fn sharpness_separates_sharp_from_blurred() {
        let region = [0.0, 0.0, 200.0, 200.0];
        let sharp = sharpness(&Luma::of(&texture(0.0)), region, 1.0).unwrap();
        let soft = sharpness(&Luma::of(&texture(4.5)), region, 1.0).unwrap();
        assert!(sharp > 2.0, "sharp {sharp}");
        let limit = crate::Profile::ga461().sharpness_min as f32;
        assert!(
            sharp > limit && soft < limit,
            "sharp {sharp}, blurred {soft}, limit {limit}"
        );
        assert_eq!(
            sharpness(&Luma::of(&texture(0.0)), [0.0, 0.0, 10.0, 10.0], 1.0),
            None
        );
    }

    #[test]
    fn noise_sigma_matches_added_gaussian_noise() {
        let flat = RgbImage::from_pixel(200, 200, Rgb([128; 3]));
        assert!(noise_sigma(&Luma::of(&flat)) < 0.01);
        // Box–Muller with a fixed LCG: sigma 20 per channel, equal in all channels (grey).
        let mut s = 12345u64;
        let mut uniform = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let noisy = RgbImage::from_fn(200, 200, |_, _| {
            let n = (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
            let v = (128.0 + 20.0 * n).clamp(0.0, 255.0) as u8;
            Rgb([v, v, v])
        });
        let est = noise_sigma(&Luma::of(&noisy));
        assert!((est - 20.0).abs() < 2.0, "estimated {est}");
    }

    #[test]
    fn blockiness_flags_8x8_blocks() {
        let smooth = RgbImage::from_fn(128, 128, |x, y| Rgb([(x + y) as u8; 3]));
        let blocky = RgbImage::from_fn(128, 128, |x, y| {
            Rgb([((x / 8) * 17 + (y / 8) * 29) as u8; 3])
        });
        let (smooth, blocky) = (Luma::of(&smooth), Luma::of(&blocky));
        assert!(blockiness(&smooth) < 1.2, "{}", blockiness(&smooth));
        assert!(blockiness(&blocky) > 3.0, "{}", blockiness(&blocky));
    }

    #[test]
    fn face_tone_and_skin_samples() {
        let img = portrait(14);
        let oval: Vec<[f32; 2]> = (0..36)
            .map(|i| {
                let t = i as f32 / 36.0 * std::f32::consts::TAU;
                [179.0 + 90.0 * t.cos(), 189.0 + 110.0 * t.sin()]
            })
            .collect();
        let t = face_tone(&Luma::of(&img), &oval).unwrap();
        assert!(
            (t.mean - luma([200, 150, 120])).abs() < 1.0 && t.clipped == 0.0,
            "{t:?}"
        );
        let face = FaceGeometry {
            bbox: [80.0, 60.0, 280.0, 330.0],
            score: 1.0,
            left_eye: [136.0, 170.0],
            right_eye: [222.0, 170.0],
            nose: [179.0, 215.0],
            mouth: [[150.0, 250.0], [208.0, 250.0]],
            cheeks: [[80.0, 180.0], [278.0, 180.0]],
            chin: [179.0, 320.0],
            oval,
            mesh: Vec::new(),
            pose: None,
        };
        let s = skin(&img, &face).unwrap();
        assert!(s.side_stops() < 0.01);
        let want = lab([200, 150, 120]);
        assert!((s.a - want[1]).abs() < 0.5 && (s.b - want[2]).abs() < 0.5);
        assert!((20.0..70.0).contains(&s.hue_deg()));
        assert_eq!(face.face_width(), 198.0);
        assert!(face.roll_deg().abs() < 1e-6);

        // Half the light on the image-right half (in linear light, then encoded as sRGB): one
        // stop, though its gamma-encoded luma is only about 0.45 stop darker.
        let half = |v: u8| {
            let lin = crate::color::linear_table()[v as usize] * 0.5;
            let enc = if lin <= 0.003_130_8 {
                12.92 * lin
            } else {
                1.055 * lin.powf(1.0 / 2.4) - 0.055
            };
            (enc * 255.0).round() as u8
        };
        let mut lit = img.clone();
        for (x, _, p) in lit.enumerate_pixels_mut() {
            if x >= 179 {
                *p = Rgb(p.0.map(half));
            }
        }
        let s = skin(&lit, &face).unwrap();
        assert!((s.side_stops() - 1.0).abs() < 0.03, "{}", s.side_stops());
        let gamma = ((s.left_luma + 1.0) / (s.right_luma + 1.0)).log2();
        assert!(gamma < 0.6, "{gamma}");
    }
}
