//! Pixel operations the models need: SIMD resizing (fast_image_resize), letterboxing to a square
//! and rotated crops. All work on 8-bit RGB.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

/// Resizes `src` to `w` × `h` with a bilinear convolution (area-correct when shrinking).
pub fn resize(resizer: &mut Resizer, src: &RgbImage, w: u32, h: u32) -> RgbImage {
    convolve(resizer, src, w, h, FilterType::Bilinear)
}

/// Shrinks `src` to `w` × `h` by area averaging (a box filter as wide as the scale factor):
/// for large factors it is as correct as [`resize`] and costs about half.
pub fn shrink(resizer: &mut Resizer, src: &RgbImage, w: u32, h: u32) -> RgbImage {
    convolve(resizer, src, w, h, FilterType::Box)
}

fn convolve(resizer: &mut Resizer, src: &RgbImage, w: u32, h: u32, f: FilterType) -> RgbImage {
    let mut dst = RgbImage::new(w.max(1), h.max(1));
    let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(f));
    if resizer.resize(src, &mut dst, &opts).is_err() {
        // Only possible for empty images; leave the destination black.
        return dst;
    }
    dst
}

/// Where a letterboxed square sits in the original image: square pixel (u, v) maps to image
/// `(u * scale - pad_x, v * scale - pad_y)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Image pixels per square pixel.
    pub scale: f32,
    /// Left padding in image pixels.
    pub pad_x: f32,
    /// Top padding in image pixels.
    pub pad_y: f32,
}

/// Pads `src` to a centred square (black) and resizes it to `side` × `side`, writing a
/// normalised NHWC float tensor `x * mul + add` into `out` (length `side * side * 3`).
pub fn letterbox_tensor(
    resizer: &mut Resizer,
    src: &RgbImage,
    side: u32,
    mul: f32,
    add: f32,
    out: &mut Vec<f32>,
) -> Letterbox {
    let (w, h) = src.dimensions();
    let big = w.max(h).max(1) as f32;
    let scale = big / side as f32;
    // Resize the image itself into the part of the square it covers.
    let rw = ((w as f32 / scale).round() as u32).clamp(1, side);
    let rh = ((h as f32 / scale).round() as u32).clamp(1, side);
    let small = resize(resizer, src, rw, rh);
    let ox = (side - rw) / 2;
    let oy = (side - rh) / 2;
    out.clear();
    out.resize((side * side * 3) as usize, add);
    for y in 0..rh {
        let row = &small.as_raw()[(y * rw * 3) as usize..((y + 1) * rw * 3) as usize];
        let base = (((y + oy) * side + ox) * 3) as usize;
        for (o, &p) in out[base..base + row.len()].iter_mut().zip(row) {
            *o = f32::from(p) * mul + add;
        }
    }
    Letterbox {
        scale,
        pad_x: ox as f32 * scale,
        pad_y: oy as f32 * scale,
    }
}

/// A square crop of the image, rotated by `angle` radians about `center`, sampled to
/// `side` × `side`. Crop pixel (u, v) maps to image point `center + R(angle) · k · (u - c, v - c)`
/// with `k = size / side` and `c = side / 2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedCrop {
    /// Centre of the crop in image pixels.
    pub center: [f32; 2],
    /// Side of the crop in image pixels.
    pub size: f32,
    /// Rotation in radians (positive turns the x axis towards +y).
    pub angle: f32,
    /// Output side in pixels.
    pub side: u32,
}

impl RotatedCrop {
    /// Maps a point of the crop to the image.
    pub fn to_image(&self, u: f32, v: f32) -> [f32; 2] {
        let k = self.size / self.side as f32;
        let c = self.side as f32 / 2.0;
        let (s, co) = self.angle.sin_cos();
        let (du, dv) = ((u - c) * k, (v - c) * k);
        [
            self.center[0] + co * du - s * dv,
            self.center[1] + s * du + co * dv,
        ]
    }

    /// Samples the crop bilinearly (black outside the image) into a float NHWC tensor
    /// `x * mul + add`, written to `out`.
    ///
    /// Positions are fixed point with 16 fractional bits and stepped along each row by an
    /// integer add; the four neighbours are weighted in integers with 8-bit weights (1/256 px,
    /// far below what the models resolve; a weighted value is off by at most half a level),
    /// so a sample costs a few integer operations and one conversion per channel.
    pub fn sample(&self, src: &RgbImage, mul: f32, add: f32, out: &mut Vec<f32>) {
        self.sample_with(src, mul, add, out, 0.5);
    }

    /// [`Self::sample`] as MediaPipe's CPU image-to-tensor step samples a region of interest
    /// (OpenCV's `warpPerspective` from the region's corners to the tensor's): crop pixel
    /// (u, v) reads the image at pixel index `center + R(angle) · k · (u - c, v - c)`, i.e.
    /// corner to corner rather than pixel centre to pixel centre. The picture the model sees
    /// moves by (k − 1) / 2 image pixels against [`Self::sample`] (~0.5 px on a 358 × 441
    /// photo): MediaPipe's face mesh was trained, and the fixtures' ground truth measured,
    /// on this sampling, so the mesh reads points where MediaPipe's own pipeline does.
    pub fn sample_mediapipe(&self, src: &RgbImage, mul: f32, add: f32, out: &mut Vec<f32>) {
        self.sample_with(src, mul, add, out, 0.0);
    }

    /// Sampling with crop pixel (u, v) at crop point (u + half, v + half), read at image pixel
    /// index (image point − half): `half` = 0.5 is pixel centres, 0 MediaPipe's corners.
    fn sample_with(&self, src: &RgbImage, mul: f32, add: f32, out: &mut Vec<f32>, half: f64) {
        let (w, h) = src.dimensions();
        let raw = src.as_raw();
        let n = self.side as usize;
        out.clear();
        out.resize(n * n * 3, add);
        let k = f64::from(self.size) / f64::from(self.side);
        let c = f64::from(self.side) / 2.0;
        let (s, co) = f64::from(self.angle).sin_cos();
        const ONE: f64 = 65536.0;
        // Clamped so that no row of steps can overflow, whatever the crop (NaN becomes 0).
        const LIMIT: f64 = (1u64 << 46) as f64;
        let fixed = |v: f64| (v * ONE).round().clamp(-LIMIT, LIMIT) as i64;
        let (step_x, step_y) = (fixed(co * k), fixed(s * k));
        let stride = w as usize * 3;
        let (wi, hi) = (i64::from(w), i64::from(h));
        // Integer sums are value × 2^16; one multiply turns them into the tensor's scale.
        let scale = mul / 65536.0;
        for v in 0..n {
            // Pixel centres: sample at (u + 0.5, v + 0.5) of the crop (`half` = 0.5).
            let dv = (v as f64 + half - c) * k;
            let du0 = (half - c) * k;
            let mut x = fixed(f64::from(self.center[0]) + co * du0 - s * dv - half);
            let mut y = fixed(f64::from(self.center[1]) + s * du0 + co * dv - half);
            let row = &mut out[v * n * 3..(v + 1) * n * 3];
            for dst in row.chunks_exact_mut(3) {
                let (x0, y0) = (x >> 16, y >> 16);
                // Weights in 1/256, rounded (0..=256).
                let (fx, fy) = (
                    (((x & 0xffff) + 128) >> 8) as u32,
                    (((y & 0xffff) + 128) >> 8) as u32,
                );
                x += step_x;
                y += step_y;
                if x0 >= 0 && y0 >= 0 && x0 + 1 < wi && y0 + 1 < hi {
                    // Inside the image: read the four neighbours directly.
                    let i = y0 as usize * stride + x0 as usize * 3;
                    let (top, bot) = (&raw[i..i + 6], &raw[i + stride..i + stride + 6]);
                    for ch in 0..3 {
                        let quad = [top[ch], top[3 + ch], bot[ch], bot[3 + ch]];
                        dst[ch] = bilinear(quad, fx, fy) as f32 * scale + add;
                    }
                    continue;
                }
                // At or beyond the edge: neighbours outside the image are black.
                let px = |xi: i64, yi: i64, ch: usize| -> u8 {
                    if xi < 0 || yi < 0 || xi >= wi || yi >= hi {
                        0
                    } else {
                        raw[yi as usize * stride + xi as usize * 3 + ch]
                    }
                };
                for (ch, d) in dst.iter_mut().enumerate() {
                    let quad = [
                        px(x0, y0, ch),
                        px(x0 + 1, y0, ch),
                        px(x0, y0 + 1, ch),
                        px(x0 + 1, y0 + 1, ch),
                    ];
                    *d = bilinear(quad, fx, fy) as f32 * scale + add;
                }
            }
        }
    }
}

/// Bilinear blend of `[top-left, top-right, bottom-left, bottom-right]` with weights in 1/256
/// (`fx`, `fy` in 0..=256 towards the right and bottom pixels): the value × 2^16, exact.
#[inline]
fn bilinear([p00, p10, p01, p11]: [u8; 4], fx: u32, fy: u32) -> u32 {
    let top = u32::from(p00) * (256 - fx) + u32::from(p10) * fx;
    let bot = u32::from(p01) * (256 - fx) + u32::from(p11) * fx;
    top * (256 - fy) + bot * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_maps_square_pixels_back_to_the_image() {
        let img = RgbImage::from_pixel(100, 200, image::Rgb([255, 255, 255]));
        let mut r = Resizer::new();
        let mut t = Vec::new();
        let lb = letterbox_tensor(&mut r, &img, 64, 1.0 / 255.0, 0.0, &mut t);
        assert_eq!(t.len(), 64 * 64 * 3);
        assert_eq!(lb.scale, 200.0 / 64.0);
        // Left padding is black, the middle white.
        assert_eq!(t[(32 * 64) * 3], 0.0);
        assert!((t[(32 * 64 + 32) * 3] - 1.0).abs() < 1e-6);
        assert!((lb.pad_x - 50.0).abs() < 4.0 && lb.pad_y == 0.0);
    }

    #[test]
    fn shrink_averages_areas() {
        // 2×2 checks of 0 and 200 average to 100 at half size.
        let img = RgbImage::from_fn(64, 64, |x, y| {
            let v = if (x + y) % 2 == 0 { 0 } else { 200 };
            image::Rgb([v, v, v])
        });
        let small = shrink(&mut Resizer::new(), &img, 32, 32);
        assert_eq!(small.dimensions(), (32, 32));
        assert!(
            small.pixels().all(|p| p[0].abs_diff(100) <= 1),
            "{:?}",
            small.get_pixel(5, 5)
        );
    }

    #[test]
    fn rotated_crop_round_trips_points() {
        let c = RotatedCrop {
            center: [50.0, 60.0],
            size: 40.0,
            angle: 0.3,
            side: 20,
        };
        let p = c.to_image(10.0, 10.0);
        assert!((p[0] - 50.0).abs() < 1e-4 && (p[1] - 60.0).abs() < 1e-4);
        let q = c.to_image(20.0, 10.0);
        let d = ((q[0] - 50.0).powi(2) + (q[1] - 60.0).powi(2)).sqrt();
        assert!((d - 20.0).abs() < 1e-3);
        assert!(((q[1] - 60.0) / (q[0] - 50.0)).atan() - 0.3 < 1e-4);
    }

    #[test]
    fn rotated_crop_samples_the_image_and_black_outside() {
        let img = RgbImage::from_fn(40, 40, |x, _| {
            image::Rgb([if x < 20 { 0 } else { 200 }, 0, 0])
        });
        let crop = RotatedCrop {
            center: [20.0, 20.0],
            size: 40.0,
            angle: 0.0,
            side: 40,
        };
        let mut t = Vec::new();
        crop.sample(&img, 1.0, 0.0, &mut t);
        assert_eq!(t[(20 * 40 + 5) * 3], 0.0);
        assert_eq!(t[(20 * 40 + 35) * 3], 200.0);
        let outside = RotatedCrop {
            center: [500.0, 500.0],
            ..crop
        };
        outside.sample(&img, 1.0, 0.0, &mut t);
        assert!(t.iter().all(|&v| v == 0.0));
        // Absurd crops (from a broken detection) give a full tensor, not a panic or an overflow.
        for (center, size) in [
            ([f32::NAN, 3.0], 10.0),
            ([1e30, -1e30], 1e30),
            ([0.0, 0.0], f32::INFINITY),
        ] {
            RotatedCrop {
                center,
                size,
                ..crop
            }
            .sample(&img, 1.0, 0.0, &mut t);
            assert_eq!(t.len(), 40 * 40 * 3);
        }
    }

    #[test]
    fn mediapipe_sampling_reads_corner_to_corner() {
        // A ramp of 2 levels a pixel, sampled at half resolution (k = 2): crop pixel u reads
        // image index 2u corner to corner (MediaPipe), 2u + 0.5 centre to centre.
        let img = RgbImage::from_fn(60, 40, |x, _| image::Rgb([(2 * x) as u8, 0, 0]));
        let crop = RotatedCrop {
            center: [30.0, 20.0],
            size: 40.0,
            angle: 0.0,
            side: 20,
        };
        let (mut centres, mut corners) = (Vec::new(), Vec::new());
        crop.sample(&img, 1.0, 0.0, &mut centres);
        crop.sample_mediapipe(&img, 1.0, 0.0, &mut corners);
        for u in [3usize, 10, 16] {
            let at = |t: &[f32]| t[(10 * 20 + u) * 3];
            let x = 30.0 + 2.0 * (u as f32 - 10.0);
            assert!(
                (at(&corners) - 2.0 * x).abs() <= 0.5,
                "{u}: {}",
                at(&corners)
            );
            assert!(
                (at(&centres) - 2.0 * (x + 0.5)).abs() <= 0.5,
                "{u}: {}",
                at(&centres)
            );
        }
    }

    #[test]
    fn fixed_point_sampling_matches_float_bilinear_within_a_level() {
        let img = RgbImage::from_fn(120, 90, |x, y| {
            let v = |k: u32| ((x * 37 + y * 91 + k * 53) ^ (x * y)) as u8;
            image::Rgb([v(0), v(1), v(2)])
        });
        let crop = RotatedCrop {
            // Wholly inside the image (corners ≤ 36 px from the centre).
            center: [61.3, 44.8],
            size: 50.0,
            angle: 0.37,
            side: 48,
        };
        let mut t = Vec::new();
        crop.sample(&img, 1.0, 0.0, &mut t);
        let mut worst = 0f32;
        for v in 0..48 {
            for u in 0..48 {
                let [x, y] = crop.to_image(u as f32 + 0.5, v as f32 + 0.5);
                let (x, y) = (x - 0.5, y - 0.5);
                let (x0, y0) = (x.floor(), y.floor());
                let (fx, fy) = (x - x0, y - y0);
                let (x0, y0) = (x0 as u32, y0 as u32);
                for ch in 0..3 {
                    let p = |xx: u32, yy: u32| f32::from(img.get_pixel(xx, yy)[ch]);
                    let top = p(x0, y0) * (1.0 - fx) + p(x0 + 1, y0) * fx;
                    let bot = p(x0, y0 + 1) * (1.0 - fx) + p(x0 + 1, y0 + 1) * fx;
                    let want = top * (1.0 - fy) + bot * fy;
                    worst = worst.max((t[(v * 48 + u) * 3 + ch] - want).abs());
                }
            }
        }
        assert!(worst <= 1.0, "largest difference {worst} levels");
        assert!(
            t.iter().any(|&v| v > 10.0),
            "the crop lies inside the image"
        );
    }
}
