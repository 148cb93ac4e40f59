//! `fix`: from a counter capture (or a non-compliant photo) to a photo that meets the profile,
//! re-checked by the engine.
//!
//! Only what is mechanical is changed: the head is levelled (roll), the photo is scaled so the
//! face width lands in the middle of its band, cropped so the crown and the eye line land in
//! theirs with the eyes centred, resampled with a Lanczos filter, and written as a baseline
//! JPEG at the profile's resolution (350 dpi in JFIF and EXIF) with the encoder quality chosen
//! so the file lands in the profile's size window. The person is never altered: a photo whose
//! subject, clothing, backdrop or sharpness fails (eyes closed, a turned head, a smile, a white
//! top, a busy or grey backdrop, blur) is refused with the check's own reason, and so is a face
//! too small to reach the canvas's face width without enlarging it.

use crate::decode::{self, DecodeLimits};
use crate::measure::FaceGeometry;
use crate::{Engine, EngineError};
use image::{Rgb, RgbImage};
use photocheck_profile::Profile;
use photocheck_types::{CheckCode, CheckResult, Status};

/// What `fix` may change, by check: everything else describes the person, the backdrop or the
/// capture itself and is refused when it fails or is uncertain.
pub const FIXABLE: &[CheckCode] = &[
    CheckCode::FileFormat,
    CheckCode::FileSize,
    CheckCode::ImageDimensions,
    CheckCode::ImageResolution,
    CheckCode::ImageColor,
    CheckCode::GeometryFaceWidth,
    CheckCode::GeometryCrown,
    CheckCode::GeometryEyeLine,
    CheckCode::GeometryCentered,
    CheckCode::PoseRoll,
];

/// Least backdrop lightness (L*) `fix` whitens: a light-grey studio backdrop (the calibration
/// photos' measures 80–86); a darker one is refused.
pub const WHITEN_LIGHTNESS_MIN: f32 = 70.0;

/// Colour difference (largest channel, levels) over which a pixel at the backdrop's edge counts
/// as wholly the person's: between it and the backdrop's own colour, a pixel is a mix (a strand
/// of hair over the backdrop) and only its backdrop share is lightened.
pub const WHITEN_MIX_LEVELS: f32 = 48.0;

/// Pixels from the backdrop within which mixed pixels are looked for.
pub const WHITEN_EDGE_PX: i64 = 3;

/// Smallest roll `fix` levels, in degrees.
pub const ROLL_KEPT_DEG: f32 = 0.5;

/// Most enlargement `fix` accepts: beyond it the face is too small for the canvas at the
/// profile's resolution, and enlarging would invent detail.
pub const MAX_ENLARGEMENT: f32 = 1.05;

/// The outcome of `fix` on one photo.
#[derive(Debug, Clone)]
pub enum FixOutcome {
    /// A new photo was made and re-checked.
    Fixed {
        /// The new JPEG file.
        jpeg: Vec<u8>,
        /// The engine's result on it.
        after: Box<CheckResult>,
        /// What was changed, for the clerk (Chinese).
        changes: Vec<String>,
    },
    /// Nothing was made: what cannot be fixed, as check codes with the clerk's reasons.
    Refused {
        /// Each reason: the check, and its message (or why fix cannot reach it).
        reasons: Vec<(CheckCode, String)>,
    },
}

/// `fix`'s report on one photo: the result before, and what happened.
#[derive(Debug, Clone)]
pub struct FixReport {
    /// The engine's result on the photo as given.
    pub before: CheckResult,
    /// The new photo, or the refusal.
    pub outcome: FixOutcome,
}

/// The similarity transform from the photo to the canvas: `out = k · R(−θ) · (p − eye) + eye_out`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Scale (canvas pixels per photo pixel).
    pub k: f32,
    /// Roll removed, radians (positive when the image-right eye was lower).
    pub theta: f32,
    /// The eyes' midpoint in the photo.
    pub eye: [f32; 2],
    /// Where it lands on the canvas.
    pub eye_out: [f32; 2],
}

impl Placement {
    /// The photo point that lands on canvas point `q`.
    pub fn source_of(&self, q: [f32; 2]) -> [f32; 2] {
        let (s, c) = self.theta.sin_cos();
        let (u, v) = (
            (q[0] - self.eye_out[0]) / self.k,
            (q[1] - self.eye_out[1]) / self.k,
        );
        [self.eye[0] + c * u - s * v, self.eye[1] + s * u + c * v]
    }

    /// Where photo point `p` lands on the canvas.
    pub fn target_of(&self, p: [f32; 2]) -> [f32; 2] {
        let (s, c) = self.theta.sin_cos();
        let (u, v) = (p[0] - self.eye[0], p[1] - self.eye[1]);
        [
            self.eye_out[0] + self.k * (c * u + s * v),
            self.eye_out[1] + self.k * (-s * u + c * v),
        ]
    }
}

/// Chooses the placement of a face from a photo of `photo` size (its pixels) on the profile's
/// canvas, or says why none fits.
///
/// Scale: none when the face width is already within its band (a crop, however large the
/// photo), else to the middle of the band; enlarging beyond [`MAX_ENLARGEMENT`] is refused.
/// Position: the eyes level when `level` (a roll under [`ROLL_KEPT_DEG`] is left alone:
/// resampling would cost more sharpness than it gains); horizontally 2 px inside the centring tolerance,
/// vertically so the crown lies 2 px inside its band and the eye line at least 3 px above its
/// limit; within that, as close to the photo's own framing as the photo allows (a compliant
/// photo stays as it is), else the middle of the band. A photo that cannot cover the canvas
/// there is refused.
pub fn place(
    face: &FaceGeometry,
    crown_y: f32,
    photo: (u32, u32),
    profile: &Profile,
    level: bool,
) -> Result<Placement, String> {
    let (w, h) = profile.dimensions.unwrap_or(profile.canvas);
    let (w, h) = (w as f32, h as f32);
    let band = profile.face_width_px;
    let fw = face.face_width();
    if fw <= 0.0 {
        return Err("未能测得脸宽".into());
    }
    let k = if (band.min as f32..=band.max as f32).contains(&fw) {
        1.0
    } else {
        ((band.min + band.max) / 2.0) as f32 / fw
    };
    if k > MAX_ENLARGEMENT {
        return Err(format!(
            "人像太小：脸宽只有 {fw:.0} 像素，需放大到 {:.0} 像素以上，会损失清晰度，请靠近镜头重新拍摄",
            band.min
        ));
    }
    let [l, r] = [face.left_eye, face.right_eye];
    let theta = (r[1] - l[1]).atan2(r[0] - l[0]);
    let theta = if !level || theta.to_degrees().abs() < ROLL_KEPT_DEG {
        0.0
    } else {
        theta
    };
    let eye = face.eye_mid();
    // The crown's height above the eye line, across the levelled head.
    let above = (eye[1] - crown_y) * theta.cos() * k;
    // Where the eyes may land on the canvas.
    let tol = (profile.centre_tolerance_px as f32 - 2.0).max(1.0);
    let x_ok = (w / 2.0 - tol, w / 2.0 + tol);
    let eye_low = h - profile.eye_line_from_bottom_px.min as f32 - 3.0;
    let y_ok = match profile.crown_px {
        Some(c) => (
            c.min as f32 + 2.0 + above,
            (c.max as f32 - 2.0 + above).min(eye_low),
        ),
        None => (0.3 * h, eye_low),
    };
    if y_ok.0 > y_ok.1 {
        return Err(
            "头部过高（头顶到眼睛的距离过大），无法同时满足头顶和眼睛位置，请重新拍摄".into(),
        );
    }
    // Where the photo covers the canvas (the top may run a little past the photo's edge).
    let (pw, ph) = (photo.0 as f32, photo.1 as f32);
    let x_cover = (w - k * (pw - eye[0]), k * eye[0]);
    let y_cover = (h - k * (ph - eye[1]), k * (eye[1] + 0.04 * ph));
    let pick = |ok: (f32, f32), cover: (f32, f32), own: f32| -> Option<f32> {
        let (lo, hi) = (ok.0.max(cover.0), ok.1.min(cover.1));
        (lo <= hi).then(|| own.clamp(lo, hi))
    };
    // The photo's own framing, as the canvas would show it at this scale.
    let own = [
        eye[0] * k - (pw * k - w) / 2.0,
        eye[1] * k - (ph * k - h) / 2.0,
    ];
    let centre_y = match profile.crown_px {
        Some(c) => ((c.min + c.max) / 2.0) as f32 + above,
        None => own[1],
    };
    let keep_own = (pw * k - w).abs() < 2.0 && (ph * k - h).abs() < 2.0;
    let wanted = if keep_own {
        own
    } else {
        [w / 2.0, centre_y.min(eye_low)]
    };
    let (Some(x), Some(y)) = (
        pick(x_ok, x_cover, wanted[0]),
        pick(y_ok, y_cover, wanted[1]),
    ) else {
        return Err(
            "原照片取景不足（人像太靠边、太靠上或太靠下），裁切后会缺少部分画面，请重新拍摄".into(),
        );
    };
    Ok(Placement {
        k,
        theta,
        eye,
        eye_out: [x, y],
    })
}

/// Whether a backdrop of this lightness and chroma may be whitened: light and nearly neutral
/// (a grey studio backdrop), never a coloured or dark one.
pub fn whitenable(lightness: f32, chroma: f32, profile: &Profile) -> bool {
    lightness >= WHITEN_LIGHTNESS_MIN && f64::from(chroma) <= profile.background_chroma_max * 1.5
}

/// Makes the backdrop white: every pixel of `backdrop` (the flood fill from the border) and the
/// backdrop's share of the mixed pixels at its edge (hair strands) move by the difference
/// between white and the backdrop's colour `bg`; the person's pixels (and anything inside
/// `protect`, the face) are left as they are. A pixel `p = a·F + (1 − a)·B` becomes
/// `a·F + (1 − a)·W`, with the share `a` read from how far `p` is from `B`.
pub fn whiten(
    img: &mut RgbImage,
    backdrop: &crate::measure::BackgroundMask,
    bg: [u8; 3],
    protect: &[[f32; 2]],
) {
    let (w, h) = img.dimensions();
    let mut keep = vec![false; (w * h) as usize];
    crate::measure::for_each_span(protect, w, h, |y, x0, x1| {
        for x in x0..x1 {
            keep[(y * w + x) as usize] = true;
        }
    });
    let lift = bg.map(|c| 255.0 - f32::from(c));
    let near_backdrop = |x: i64, y: i64| {
        (-WHITEN_EDGE_PX..=WHITEN_EDGE_PX).any(|dy| {
            (-WHITEN_EDGE_PX..=WHITEN_EDGE_PX).any(|dx| {
                let (xx, yy) = (x + dx, y + dy);
                xx >= 0
                    && yy >= 0
                    && xx < i64::from(w)
                    && yy < i64::from(h)
                    && backdrop.is_background(xx, yy)
            })
        })
    };
    for y in 0..h {
        for x in 0..w {
            if keep[(y * w + x) as usize] {
                continue;
            }
            let share = if backdrop.is_background(i64::from(x), i64::from(y)) {
                1.0
            } else if near_backdrop(i64::from(x), i64::from(y)) {
                let p = img.get_pixel(x, y).0;
                let d = (0..3)
                    .map(|c| (f32::from(p[c]) - f32::from(bg[c])).abs())
                    .fold(0.0, f32::max);
                (1.0 - d / WHITEN_MIX_LEVELS).max(0.0)
            } else {
                0.0
            };
            if share > 0.0 {
                let px = img.get_pixel_mut(x, y);
                for (v, l) in px.0.iter_mut().zip(lift) {
                    *v = (f32::from(*v) + share * l).round().min(255.0) as u8;
                }
            }
        }
    }
}

/// Why each failing or uncertain check that `fix` must not touch stops it. With `whiten`, a
/// failing `background.color` is not a reason (the backdrop will be made white).
pub fn unfixable(result: &CheckResult, whiten: bool) -> Vec<(CheckCode, String)> {
    result
        .checks
        .iter()
        .filter(|c| (c.status == Status::Fail || c.uncertain) && !FIXABLE.contains(&c.code))
        .filter(|c| !(whiten && c.code == CheckCode::BackgroundColor && c.status == Status::Fail))
        .map(|c| {
            let message = if c.status == Status::Fail {
                c.message.clone()
            } else {
                format!("无法确定是否合格（{}）", c.message)
            };
            (c.code, message)
        })
        .collect()
}

fn bilinear(img: &RgbImage, x: f32, y: f32, fill: Rgb<u8>) -> Rgb<u8> {
    let (wi, hi) = (img.width(), img.height());
    let (w, h) = (wi as f32, hi as f32);
    if !(x >= -0.5 && y >= -0.5 && x <= w - 0.5 && y <= h - 0.5) {
        return fill;
    }
    let (x, y) = (x.clamp(0.0, w - 1.0), y.clamp(0.0, h - 1.0));
    let (x0, y0) = (x as u32, y as u32);
    let (x1, y1) = ((x0 + 1).min(wi - 1), (y0 + 1).min(hi - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let raw = img.as_raw();
    let stride = wi as usize * 3;
    let at = |xx: u32, yy: u32| yy as usize * stride + xx as usize * 3;
    let (a, b, c, d) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
    let mut out = [0u8; 3];
    for (i, o) in out.iter_mut().enumerate() {
        let p = |k: usize| f32::from(raw[k + i]);
        let top = p(a) + (p(b) - p(a)) * fx;
        let bottom = p(c) + (p(d) - p(c)) * fx;
        // Rounds half up, as `round` does for values that are not negative.
        *o = ((top + (bottom - top) * fy).clamp(0.0, 255.0) + 0.5) as u8;
    }
    Rgb(out)
}

/// Renders the canvas from the full-resolution photo: the region the canvas needs is cut out,
/// shrunk by the placement's scale with a Lanczos filter (fast_image_resize), then levelled and
/// positioned with bilinear sampling at about one to one. The canvas may reach past the photo's
/// top edge by a few pixels (filled with the backdrop's colour along that edge), nowhere else.
pub fn render(
    photo: &RgbImage,
    placement: &Placement,
    size: (u32, u32),
) -> Result<RgbImage, String> {
    let (w, h) = (size.0 as f32, size.1 as f32);
    let corners = [[0.0, 0.0], [w, 0.0], [0.0, h], [w, h]].map(|q| placement.source_of(q));
    let (pw, ph) = (photo.width() as f32, photo.height() as f32);
    let min_x = corners.iter().map(|c| c[0]).fold(f32::MAX, f32::min);
    let max_x = corners.iter().map(|c| c[0]).fold(f32::MIN, f32::max);
    let min_y = corners.iter().map(|c| c[1]).fold(f32::MAX, f32::min);
    let max_y = corners.iter().map(|c| c[1]).fold(f32::MIN, f32::max);
    let slack = 2.0 / placement.k;
    if min_x < -slack || max_x > pw + slack || max_y > ph + slack {
        return Err(
            "原照片取景不足（人像太靠边或太靠下），裁切后会缺少部分画面，请重新拍摄".into(),
        );
    }
    if min_y < -(0.04 * ph).max(slack) {
        return Err("原照片头顶上方空间不足，请重新拍摄".into());
    }
    // The region, with a margin for the filter and the rotation.
    let margin = 4.0 / placement.k;
    let x0 = (min_x - margin).floor().max(0.0) as u32;
    let y0 = (min_y - margin).floor().max(0.0) as u32;
    let x1 = ((max_x + margin).ceil().min(pw) as u32).max(x0 + 1);
    let y1 = ((max_y + margin).ceil().min(ph) as u32).max(y0 + 1);
    // Sampled at about 1 : 1 the photo is read in place (the canvas maps inside the region);
    // otherwise the region is cut out and shrunk first.
    let (small, sx, sy, x0, y0) = if placement.k < 0.95 {
        let region = image::imageops::crop_imm(photo, x0, y0, x1 - x0, y1 - y0).to_image();
        let rw = ((region.width() as f32 * placement.k).round() as u32).max(1);
        let rh = ((region.height() as f32 * placement.k).round() as u32).max(1);
        let mut resizer = fast_image_resize::Resizer::new();
        let mut dst = RgbImage::new(rw, rh);
        let opts = fast_image_resize::ResizeOptions::new().resize_alg(
            fast_image_resize::ResizeAlg::Convolution(fast_image_resize::FilterType::Lanczos3),
        );
        resizer
            .resize(&region, &mut dst, &opts)
            .map_err(|e| format!("resampling failed: {e}"))?;
        (
            std::borrow::Cow::Owned(dst),
            rw as f32 / region.width() as f32,
            rh as f32 / region.height() as f32,
            x0,
            y0,
        )
    } else {
        (std::borrow::Cow::Borrowed(photo), 1.0, 1.0, 0, 0)
    };
    // The backdrop's colour along the photo's top edge, for the few rows above it.
    let fill = {
        let mut sum = [0u64; 3];
        let rows = photo.height().min(4);
        for y in 0..rows {
            for x in 0..photo.width() {
                for (s, v) in sum.iter_mut().zip(photo.get_pixel(x, y).0) {
                    *s += u64::from(v);
                }
            }
        }
        let n = u64::from(rows * photo.width()).max(1);
        Rgb(sum.map(|s| (s / n) as u8))
    };
    let mut out = RgbImage::new(size.0, size.1);
    if let Some(shift) = whole_pixel_shift(placement, sx, sy) {
        // Kept as framed (no scale, no turn, a shift by whole pixels): bilinear sampling
        // would land on pixel centres, so the rows are copied as they are.
        copy_shifted(
            &small,
            &mut out,
            [shift[0] - x0 as i64, shift[1] - y0 as i64],
            fill,
        );
        return Ok(out);
    }
    // `Placement::source_of` for every pixel, with its sine and cosine taken once.
    let (sin, cos) = placement.theta.sin_cos();
    for (x, y, px) in out.enumerate_pixels_mut() {
        let du = (x as f32 + 0.5 - placement.eye_out[0]) / placement.k;
        let dv = (y as f32 + 0.5 - placement.eye_out[1]) / placement.k;
        let p = [
            placement.eye[0] + cos * du - sin * dv,
            placement.eye[1] + sin * du + cos * dv,
        ];
        // Pixel centres: photo coordinates → the shrunk region's.
        let u = (p[0] - x0 as f32) * sx - 0.5;
        let v = (p[1] - y0 as f32) * sy - 0.5;
        *px = bilinear(&small, u, v, fill);
    }
    Ok(out)
}

/// The whole-pixel offset from canvas to photo (`photo = canvas + shift`) when the placement is
/// a pure translation by whole pixels of an unscaled photo, else `None`.
fn whole_pixel_shift(placement: &Placement, sx: f32, sy: f32) -> Option<[i64; 2]> {
    const EPS: f32 = 1e-3;
    if placement.theta != 0.0 || (placement.k - 1.0).abs() > 1e-6 || sx != 1.0 || sy != 1.0 {
        return None;
    }
    let d = [
        placement.eye[0] - placement.eye_out[0],
        placement.eye[1] - placement.eye_out[1],
    ];
    let r = d.map(f32::round);
    ((d[0] - r[0]).abs() <= EPS && (d[1] - r[1]).abs() <= EPS).then(|| r.map(|v| v as i64))
}

/// Fills `out` with `src` shifted by `shift` (`out(x, y) = src(x + dx, y + dy)`), `fill` where
/// that falls outside `src`.
fn copy_shifted(src: &RgbImage, out: &mut RgbImage, shift: [i64; 2], fill: Rgb<u8>) {
    let (sw, sh) = (i64::from(src.width()), i64::from(src.height()));
    let ow = out.width() as usize;
    let raw = src.as_raw();
    for (y, row) in out.chunks_exact_mut(ow * 3).enumerate() {
        let sy = y as i64 + shift[1];
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let sx = x as i64 + shift[0];
            if (0..sw).contains(&sx) && (0..sh).contains(&sy) {
                let i = (sy * sw + sx) as usize * 3;
                px.copy_from_slice(&raw[i..i + 3]);
            } else {
                px.copy_from_slice(&fill.0);
            }
        }
    }
}

/// Sets the JFIF density of a JPEG written by libjpeg-turbo to `dpi` and adds an EXIF segment
/// with the same resolution (XResolution, YResolution, ResolutionUnit = inch).
pub fn set_resolution(jpeg: &[u8], dpi: u16) -> Option<Vec<u8>> {
    // SOI, then APP0 "JFIF\0": version (2), units (1), Xdensity (2), Ydensity (2).
    if jpeg.len() < 20 || jpeg[..4] != [0xFF, 0xD8, 0xFF, 0xE0] || &jpeg[6..11] != b"JFIF\0" {
        return None;
    }
    let app0_len = usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    let mut out = jpeg.to_vec();
    out[13] = 1;
    out[14..16].copy_from_slice(&dpi.to_be_bytes());
    out[16..18].copy_from_slice(&dpi.to_be_bytes());
    // EXIF (big-endian TIFF): IFD0 with XResolution, YResolution (RATIONAL dpi/1) and
    // ResolutionUnit (SHORT 2 = inch).
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\x00\x2A\x00\x00\x00\x08");
    tiff.extend_from_slice(&3u16.to_be_bytes());
    let rational_at = 8 + 2 + 3 * 12 + 4;
    let entry = |tag: u16, kind: u16, count: u32, value: u32| {
        let mut e = Vec::new();
        e.extend_from_slice(&tag.to_be_bytes());
        e.extend_from_slice(&kind.to_be_bytes());
        e.extend_from_slice(&count.to_be_bytes());
        e.extend_from_slice(&value.to_be_bytes());
        e
    };
    tiff.extend(entry(0x011A, 5, 1, rational_at as u32));
    tiff.extend(entry(0x011B, 5, 1, rational_at as u32 + 8));
    tiff.extend(entry(0x0128, 3, 1, 2 << 16));
    tiff.extend_from_slice(&0u32.to_be_bytes());
    for _ in 0..2 {
        tiff.extend_from_slice(&u32::from(dpi).to_be_bytes());
        tiff.extend_from_slice(&1u32.to_be_bytes());
    }
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    let at = 4 + app0_len;
    out.splice(at..at, app1);
    Some(out)
}

/// Encodes the canvas as a baseline 4:2:0 JPEG at `dpi` at the highest quality (≤ 95) whose
/// file is not over `size_kb`'s top, found in 2–3 encodes when the size model holds (a
/// bisection otherwise), never below `quality_min`.
pub fn encode(
    img: &RgbImage,
    dpi: u16,
    size_kb: (f64, f64),
    quality_min: i32,
) -> Result<(Vec<u8>, i32), String> {
    let mut compressor = turbojpeg::Compressor::new().map_err(|e| e.to_string())?;
    compressor.set_subsamp(turbojpeg::Subsamp::Sub2x2);
    let mut run = |q: i32| -> Result<Vec<u8>, String> {
        compressor.set_quality(q);
        let jpeg = compressor
            .compress_to_vec(turbojpeg::Image {
                pixels: img.as_raw().as_slice(),
                width: img.width() as usize,
                pitch: img.width() as usize * 3,
                height: img.height() as usize,
                format: turbojpeg::PixelFormat::RGB,
            })
            .map_err(|e| e.to_string())?;
        set_resolution(&jpeg, dpi).ok_or_else(|| "the encoder wrote no JFIF header".to_owned())
    };
    let kb = |v: &Vec<u8>| v.len() as f64 / 1000.0;
    let top = size_kb.1;
    let floor = quality_min.clamp(1, 95);
    // The largest quality in [floor, 95] whose file is not over the window's top. A JPEG's
    // size roughly doubles every 8 quality steps near 90: one encode at 90 predicts the
    // answer, the next one or two confirm it, and a bisection takes over only when the
    // prediction was wrong by more than a step.
    let probe_q = 90.clamp(floor, 95);
    let probe = run(probe_q)?;
    let guess = ((f64::from(probe_q) + 8.0 * (top / kb(&probe).max(0.001)).log2()).floor() as i32)
        .clamp(floor, 95);
    let at_guess = if guess == probe_q { probe } else { run(guess)? };
    let (mut lo, mut hi, mut best) = if kb(&at_guess) <= top {
        if guess == 95 {
            return Ok((at_guess, 95));
        }
        let next = run(guess + 1)?;
        if kb(&next) > top {
            return Ok((at_guess, guess));
        }
        (guess + 1, 96, next)
    } else {
        if guess == floor {
            return Ok((at_guess, floor));
        }
        let below = run(guess - 1)?;
        if kb(&below) <= top {
            return Ok((below, guess - 1));
        }
        // Nothing at or above `guess − 1` fits: search below it; the floor is the answer when
        // nothing fits at all.
        (floor, guess - 1, run(floor)?)
    };
    if kb(&best) > top {
        return Ok((best, lo));
    }
    // Invariant: quality `lo` fits (its file is `best`), `hi` does not (96 = beyond 95).
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        let jpeg = run(mid)?;
        if kb(&jpeg) <= top {
            lo = mid;
            best = jpeg;
        } else {
            hi = mid;
        }
    }
    Ok((best, lo))
}

/// The before/after sheet a clerk shows the applicant: the two pictures side by side at the
/// same height (the taller one's), on white, 16 px apart.
pub fn contact_sheet(before: &RgbImage, after: &RgbImage) -> RgbImage {
    let h = before.height().max(after.height()).max(1);
    let fit = |img: &RgbImage| -> RgbImage {
        if img.height() == h {
            return img.clone();
        }
        let w =
            ((img.width() as f32 * h as f32 / img.height().max(1) as f32).round() as u32).max(1);
        image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle)
    };
    let (a, b) = (fit(before), fit(after));
    let mut sheet = RgbImage::from_pixel(a.width() + 16 + b.width(), h, Rgb([255, 255, 255]));
    image::imageops::replace(&mut sheet, &a, 0, 0);
    image::imageops::replace(&mut sheet, &b, i64::from(a.width() + 16), 0);
    sheet
}

/// The change `fix` reports for a photo it hands back untouched.
pub const UNCHANGED: &str = "照片已符合标准，原样保留，未作改动";

/// Whether `data` can be handed back as it is: the verdict is pass with no check warning or
/// uncertain (a check skipped for want of something to measure, such as a top below the
/// frame, would be skipped on a new encoding too), and the file is a JPEG at the profile's
/// resolution (in its header) inside the profile's typical file size, which is what `fix`
/// would write.
fn already_compliant(data: &[u8], result: &CheckResult, profile: &Profile) -> bool {
    let clean = result.verdict == photocheck_types::Verdict::Pass
        && result
            .checks
            .iter()
            .all(|c| matches!(c.status, Status::Pass | Status::Skipped) && !c.uncertain);
    if !clean {
        return false;
    }
    let Ok(header) = crate::header::read_header(data) else {
        return false;
    };
    let kb = data.len() as f64 / 1000.0;
    let dpi_ok = match (profile.dpi, header.dpi) {
        (Some(want), Some((x, y))) => (x - want).abs() < 0.5 && (y - want).abs() < 0.5,
        (Some(_), None) => false,
        (None, _) => true,
    };
    header.format == crate::header::Format::Jpeg
        && dpi_ok
        && kb >= profile.file_size_typical_kb.min
        && kb <= profile.file_size_typical_kb.max
}

impl Engine {
    /// Checks the photo, and when everything that fails is mechanical, makes the compliant photo
    /// and checks it again (see the module's documentation).
    pub fn fix(&self, data: &[u8], profile: &Profile) -> Result<FixReport, EngineError> {
        // A bug on some photo must cost that photo, not the caller (a `fix` run or a worker).
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.fix_inner(data, profile)
        }))
        .unwrap_or_else(|panic| Err(EngineError::Panic(crate::panic_message(&panic))))
    }

    fn fix_inner(&self, data: &[u8], profile: &Profile) -> Result<FixReport, EngineError> {
        let mut analysis = self.analyze_keeping_decode(data, profile)?;
        let decoded = analysis.decoded.take();
        let before = analysis.result.clone();
        let refuse = |reasons| {
            Ok(FixReport {
                before: before.clone(),
                outcome: FixOutcome::Refused { reasons },
            })
        };
        // A light, even, nearly neutral backdrop that is not white enough is made white.
        let bg_fails = before
            .checks
            .iter()
            .any(|c| c.code == CheckCode::BackgroundColor && c.status == Status::Fail);
        let whiten_backdrop = bg_fails
            && analysis
                .measures
                .as_ref()
                .is_some_and(|m| whitenable(m.background.lightness, m.background.chroma, profile));
        // A photo that already passes every check, at the profile's resolution, is handed back
        // as it is: re-encoding it would only lose detail, and the engine is deterministic, so
        // its result on these very bytes is the re-check.
        if already_compliant(data, &before, profile) {
            return Ok(FixReport {
                before: before.clone(),
                outcome: FixOutcome::Fixed {
                    jpeg: data.to_vec(),
                    after: Box::new(before),
                    changes: vec![UNCHANGED.to_owned()],
                },
            });
        }
        let reasons = unfixable(&before, whiten_backdrop);
        if !reasons.is_empty() {
            return refuse(reasons);
        }
        let (Some(face), Some(measures)) = (&analysis.face, &analysis.measures) else {
            return refuse(vec![(CheckCode::FaceCount, "未检测到可测量的人脸".into())]);
        };
        let Some(crown) = measures.crown else {
            return refuse(vec![(CheckCode::GeometryCrown, "未能测得头顶位置".into())]);
        };
        let k = analysis.scale;
        let face = face.scaled(k);
        let Some((pw, ph)) = analysis.image.as_ref().map(|i| {
            (
                (i.width() as f32 * k).round() as u32,
                (i.height() as f32 * k).round() as u32,
            )
        }) else {
            return refuse(vec![(CheckCode::FileDecodable, "照片无法解码".into())]);
        };
        // Level the head; when the photo has no room to turn and its roll is within the
        // profile's limit, keep the roll rather than refuse.
        let size = profile.dimensions.unwrap_or(profile.canvas);
        let roll_ok = face.roll_deg().abs() <= profile.roll_max_deg as f32;
        let attempt = |level: bool| {
            place(&face, crown * k, (pw, ph), profile, level)
                .map_err(|why| (CheckCode::GeometryFaceWidth, why))
        };
        let placement = match attempt(true) {
            Ok(p) => p,
            Err(e) => return refuse(vec![e]),
        };
        // The pixels to sample (`unit`: photo pixels per pixel): the photo as the analysis
        // decoded it, when that was its own size or, for a large JPEG decoded reduced in the
        // DCT domain, when it still leaves the face 1.5 × its canvas width; else the JPEG
        // decoded again, reduced only as far as that allows; else the whole photo.
        let limits = DecodeLimits {
            max_dimension: profile.max_dimension,
            max_pixels: profile.max_pixels,
        };
        let (photo, unit) = match (&analysis.image, k == 1.0) {
            (Some(img), true) => (img.clone(), 1.0f32),
            _ => {
                let cover = (
                    ((pw as f32) * placement.k * 1.5).ceil() as u32,
                    ((ph as f32) * placement.k * 1.5).ceil() as u32,
                );
                let kept = decoded.filter(|(img, unit)| {
                    *unit == 1.0 || (img.width() >= cover.0 && img.height() >= cover.1)
                });
                match kept {
                    Some(photo) => photo,
                    None => {
                        let header = decode::probe(data, limits)
                            .map_err(|e| EngineError::Fix(e.to_string()))?;
                        match decode::decode_reduced(data, &header, limits, cover) {
                            Some((d, unit)) => (d.rgb, unit),
                            None => (
                                decode::decode(data, header, limits)
                                    .map_err(|e| EngineError::Fix(e.to_string()))?
                                    .rgb,
                                1.0,
                            ),
                        }
                    }
                }
            }
        };
        // A placement in the photo's pixels, for pixels `unit` times coarser.
        let on_pixels = |p: &Placement| Placement {
            k: p.k * unit,
            eye: p.eye.map(|v| v / unit),
            ..*p
        };
        let (placement, mut canvas) = match render(&photo, &on_pixels(&placement), size) {
            Ok(c) => (placement, c),
            Err(why) => {
                let level_kept = (placement.theta != 0.0 && roll_ok)
                    .then(|| attempt(false).ok())
                    .flatten()
                    .and_then(|p| render(&photo, &on_pixels(&p), size).ok().map(|c| (p, c)));
                match level_kept {
                    Some(v) => v,
                    None => return refuse(vec![(CheckCode::GeometryCentered, why)]),
                }
            }
        };
        if whiten_backdrop {
            let bg = crate::measure::border_reference(&canvas, canvas.height());
            let fill = crate::measure::backdrop(&canvas, bg, canvas.height() as f32);
            let oval: Vec<[f32; 2]> = face.oval.iter().map(|&p| placement.target_of(p)).collect();
            whiten(&mut canvas, &fill.mask, bg, &oval);
        }
        let dpi = profile.dpi.unwrap_or(350.0).round() as u16;
        let window = (
            profile.file_size_typical_kb.min,
            profile.file_size_typical_kb.max,
        );
        let (jpeg, quality) = encode(
            &canvas,
            dpi,
            window,
            (profile.jpeg_quality_min.ceil() as i32).max(50),
        )
        .map_err(|e| EngineError::Fix(e.to_string()))?;
        let after = self.check(&jpeg, profile)?;
        let mut changes = Vec::new();
        if whiten_backdrop {
            changes.push("浅灰背景调为白色（人像、头发与衣服不变）".to_owned());
        }
        let roll = placement.theta.to_degrees();
        if roll.abs() >= 0.1 {
            changes.push(format!("旋转 {:.1}° 使双眼水平", -roll));
        }
        let fw = face.face_width();
        if (placement.k - 1.0).abs() > 1e-3 {
            changes.push(format!(
                "缩放 {:.3} 倍（脸宽 {fw:.0} → {:.0} 像素）",
                placement.k,
                fw * placement.k
            ));
        }
        changes.push(format!(
            "裁切为 {}×{} 像素，双眼居中，头顶距上边缘约 {:.0} 像素",
            size.0,
            size.1,
            placement.eye_out[1]
                - (placement.eye[1] - crown * k) * placement.theta.cos() * placement.k
        ));
        changes.push(format!(
            "存为 JPEG（质量 {quality}，{:.1} KB，{dpi} dpi）",
            jpeg.len() as f64 / 1000.0
        ));
        Ok(FixReport {
            before,
            outcome: FixOutcome::Fixed {
                jpeg,
                after: Box::new(after),
                changes,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(le: [f32; 2], re: [f32; 2], fw: f32) -> FaceGeometry {
        let mid = [(le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0];
        FaceGeometry {
            bbox: [0.0; 4],
            score: 1.0,
            left_eye: le,
            right_eye: re,
            nose: mid,
            mouth: [mid, mid],
            cheeks: [
                [mid[0] - fw / 2.0, mid[1] + 20.0],
                [mid[0] + fw / 2.0, mid[1] + 20.0],
            ],
            chin: mid,
            oval: Vec::new(),
            mesh: Vec::new(),
            pose: None,
        }
    }

    #[test]
    fn a_capture_is_placed_in_the_middle_of_every_band() {
        let p = Profile::ga461();
        // A 1350 px capture: face 444 px wide, eyes at y 600, crown at y 300, tilted 3°.
        let t = 3f32.to_radians();
        let (le, re) = (
            [600.0, 600.0],
            [600.0 + 180.0 * t.cos(), 600.0 + 180.0 * t.sin()],
        );
        let f = face(le, re, 444.0);
        let placement = place(&f, 300.0, (1350, 1350), &p, true).unwrap();
        assert!((placement.k - 207.0 / 444.0).abs() < 1e-4);
        // The eyes land level and centred.
        let (a, b) = (placement.target_of(le), placement.target_of(re));
        assert!((a[1] - b[1]).abs() < 1e-3);
        assert!(((a[0] + b[0]) / 2.0 - 179.0).abs() < 1e-3);
        // The eye line is at least 207 px above the bottom; the crown is in 7–21.
        assert!(441.0 - a[1] >= 207.0);
        let crown_out = a[1] - (f.eye_mid()[1] - 300.0) * t.cos() * placement.k;
        assert!((7.0..=21.0).contains(&crown_out), "{crown_out}");
        // source_of inverts target_of.
        let back = placement.source_of(placement.target_of([123.0, 456.0]));
        assert!((back[0] - 123.0).abs() < 1e-2 && (back[1] - 456.0).abs() < 1e-2);
    }

    #[test]
    fn a_whole_pixel_shift_is_copied_as_bilinear_sampling_would_give_it() {
        let photo = RgbImage::from_fn(40, 30, |x, y| {
            Rgb([(x * 6) as u8, (y * 8) as u8, ((x * 7 + y * 13) % 256) as u8])
        });
        let fill = Rgb([250, 250, 250]);
        for (eye, expect_copy) in [([20.0, 15.0], true), ([20.25, 15.0], false)] {
            let placement = Placement {
                k: 1.0,
                theta: 0.0,
                eye,
                eye_out: [17.0, 13.0],
            };
            assert_eq!(
                whole_pixel_shift(&placement, 1.0, 1.0).is_some(),
                expect_copy
            );
            let out = render(&photo, &placement, (30, 25)).unwrap();
            for (x, y, px) in out.enumerate_pixels() {
                let p = placement.source_of([x as f32 + 0.5, y as f32 + 0.5]);
                assert_eq!(
                    *px,
                    bilinear(&photo, p[0] - 0.5, p[1] - 0.5, fill),
                    "({x}, {y})"
                );
            }
        }
    }

    #[test]
    fn a_compliant_photo_keeps_its_framing() {
        let p = Profile::ga461();
        // 358 × 441, face 200 px, eyes 4 px right of the middle at y 200, crown at 12.
        let f = face([133.0, 200.0], [233.0, 200.0], 200.0);
        let placement = place(&f, 12.0, (358, 441), &p, true).unwrap();
        assert_eq!(placement.k, 1.0);
        let e = placement.target_of(f.eye_mid());
        assert!(
            (e[0] - 183.0).abs() < 1e-3 && (e[1] - 200.0).abs() < 1e-3,
            "{e:?}"
        );
        // Off-centre by 30 px and the crown at 3 px: moved just inside the bands, not beyond
        // what the photo covers.
        let g = face([159.0, 200.0], [259.0, 200.0], 200.0);
        assert!(
            place(&g, 3.0, (358, 441), &p, true).is_err(),
            "the photo cannot cover the shift"
        );
    }

    #[test]
    fn a_face_too_small_or_a_head_too_tall_is_refused() {
        let p = Profile::ga461();
        let small = face([150.0, 200.0], [210.0, 200.0], 150.0);
        assert!(place(&small, 60.0, (358, 441), &p, true)
            .unwrap_err()
            .contains("人像太小"));
        // Crown 400 px above the eyes at a 444 px face: 187 px on the canvas; with the crown at
        // 7 px at least the eyes sit at 194 — fine; at 700 px above they cannot.
        let tall = face([600.0, 750.0], [780.0, 750.0], 444.0);
        assert!(place(&tall, 750.0 - 700.0, (1350, 1350), &p, true).is_err());
        assert!(place(&tall, 750.0 - 400.0, (1350, 1350), &p, true).is_ok());
        // Too little photo below the eyes for the canvas: refused, not padded.
        let low = face([600.0, 1100.0], [780.0, 1100.0], 444.0);
        assert!(place(&low, 700.0, (1350, 1350), &p, true)
            .unwrap_err()
            .contains("取景不足"));
    }

    #[test]
    fn resolution_is_written_in_jfif_and_exif() {
        let img = RgbImage::from_pixel(64, 48, Rgb([200, 180, 160]));
        let (jpeg, q) = encode(&img, 350, (0.5, 20.0), 50).unwrap();
        assert!(q >= 50);
        let header = crate::header::read_header(&jpeg).unwrap();
        assert_eq!(header.dpi, Some((350.0, 350.0)));
        // The EXIF segment alone gives the same.
        let mut no_jfif = jpeg.clone();
        no_jfif[13] = 0;
        let h2 = crate::header::read_header(&no_jfif).unwrap();
        assert_eq!(h2.dpi, Some((350.0, 350.0)), "EXIF resolution");
        let decoded = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (64, 48));
    }

    #[test]
    fn the_quality_search_finds_the_highest_quality_that_fits() {
        // Against every quality tried in turn, on a smooth picture and on noise, for several
        // window tops.
        let smooth = RgbImage::from_fn(358, 441, |x, y| {
            Rgb([(x / 2) as u8, (y / 2) as u8, ((x + y) / 4) as u8])
        });
        let mut rng = 11u32;
        let noisy = RgbImage::from_fn(358, 441, |_, _| {
            rng = rng.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let v = (rng >> 16) as u8;
            Rgb([v, v, v])
        });
        for img in [&smooth, &noisy] {
            let sizes: Vec<f64> = (50..=95)
                .map(|q| {
                    let jpeg = turbojpeg::compress(
                        turbojpeg::Image {
                            pixels: img.as_raw().as_slice(),
                            width: 358,
                            pitch: 358 * 3,
                            height: 441,
                            format: turbojpeg::PixelFormat::RGB,
                        },
                        q,
                        turbojpeg::Subsamp::Sub2x2,
                    )
                    .unwrap();
                    // The resolution segments add a fixed number of bytes.
                    set_resolution(&jpeg, 350).unwrap().len() as f64 / 1000.0
                })
                .collect();
            for top in [5.0, 12.0, 20.0, 40.0, 200.0] {
                let want = (50..=95)
                    .rev()
                    .find(|&q| sizes[(q - 50) as usize] <= top)
                    .unwrap_or(50);
                let (_, got) = encode(img, 350, (0.0, top), 50).unwrap();
                assert_eq!(got, want, "top {top} KB");
            }
        }
    }

    #[test]
    fn the_quality_search_lands_the_file_under_the_window_top() {
        // Noise compresses badly: the search must come down from 95.
        let mut rng = 7u32;
        let img = RgbImage::from_fn(358, 441, |_, _| {
            rng = rng.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let v = (rng >> 16) as u8;
            Rgb([v, v / 2 + 60, 200 - v / 3])
        });
        let (jpeg, q) = encode(&img, 350, (14.0, 60.0), 30).unwrap();
        assert!(
            jpeg.len() as f64 / 1000.0 <= 60.0,
            "{} bytes at q {q}",
            jpeg.len()
        );
        assert!((30..95).contains(&q));
    }
}
