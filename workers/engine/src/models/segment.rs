//! MediaPipe selfie segmentation (person vs background) on ONNX Runtime, converted from
//! `selfie_segmentation.tflite` by `models/convert.sh`.
//!
//! Input: a 256 × 256 crop, RGB in [0, 1]; output: 256 × 256 person probabilities. The engine
//! runs it once per photo on a square crop around the head (side 1.6 × the face width, rotated
//! with the eyes, centred above the eyes) rather than on the whole photo letterboxed: the crop
//! holds everything the covering checks look at (hair, forehead, ears) at 1.3 instead of
//! 1.7 image pixels per mask pixel; on the fixtures both give the same crown (SD 3.6 vs 4.0 px
//! against the ground truth), so the mask does not replace the pixel crown (SD 1.0 px).

use super::runtime::{output, run_square, LoadedModel, Runtime};
use crate::imgops::RotatedCrop;
use crate::EngineError;
use image::RgbImage;
use ort::session::Session;

/// Side of the model's input and output.
pub const SIDE: u32 = 256;

/// Person probabilities over a crop of the photo.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonMask {
    /// The crop the mask covers.
    pub crop: RotatedCrop,
    /// `SIDE × SIDE` probabilities (0–1), row-major.
    pub prob: Vec<f32>,
}

impl PersonMask {
    /// Probability that image point `(x, y)` belongs to the person (bilinear); 0 outside the
    /// crop.
    pub fn at(&self, x: f32, y: f32) -> f32 {
        let c = self.crop;
        let n = c.side as f32;
        let k = c.size / n;
        let (s, co) = c.angle.sin_cos();
        let (dx, dy) = (x - c.center[0], y - c.center[1]);
        // Inverse rotation, then crop pixels; sample at pixel centres.
        let u = (co * dx + s * dy) / k + n / 2.0 - 0.5;
        let v = (-s * dx + co * dy) / k + n / 2.0 - 0.5;
        if !(0.0..=n - 1.0).contains(&u) || !(0.0..=n - 1.0).contains(&v) {
            return 0.0;
        }
        let (u0, v0) = (u.floor() as usize, v.floor() as usize);
        let (u1, v1) = (
            (u0 + 1).min(c.side as usize - 1),
            (v0 + 1).min(c.side as usize - 1),
        );
        let (fu, fv) = (u - u0 as f32, v - v0 as f32);
        let w = c.side as usize;
        let p = |uu: usize, vv: usize| self.prob[vv * w + uu];
        (p(u0, v0) * (1.0 - fu) + p(u1, v0) * fu) * (1.0 - fv)
            + (p(u0, v1) * (1.0 - fu) + p(u1, v1) * fu) * fv
    }
}

/// Where the person is: the probability (0–1) that an image point belongs to them.
pub trait Person {
    /// Probability at image point `(x, y)`.
    fn at(&self, x: f32, y: f32) -> f32;
}

impl Person for PersonMask {
    fn at(&self, x: f32, y: f32) -> f32 {
        PersonMask::at(self, x, y)
    }
}

/// The person as "everything the background fill did not reach" (see
/// [`crate::measure::backdrop`]): exact on a clean, even backdrop, where it spares
/// the segmentation model's inference; the engine uses the model whenever the backdrop is not
/// clean (busy, coloured or shadowed), where a fill cannot tell the person from the backdrop.
impl Person for crate::measure::BackgroundMask {
    fn at(&self, x: f32, y: f32) -> f32 {
        // floor(), for the values that can land inside the image (x > −1).
        if self.is_background((x + 1.0) as i64 - 1, (y + 1.0) as i64 - 1) {
            0.0
        } else {
            1.0
        }
    }
}

/// Separates the person from the background.
pub trait Segmenter: Send {
    /// The person mask over `crop` of `img`.
    fn segment(&mut self, img: &RgbImage, crop: RotatedCrop) -> Result<PersonMask, EngineError>;
}

/// One selfie-segmentation session, with its reused input buffer.
pub struct SelfieSegmentation {
    session: Session,
    name: String,
    input: Vec<f32>,
}

impl SelfieSegmentation {
    /// A session for `model`.
    pub fn new(rt: &Runtime, model: &LoadedModel) -> Result<SelfieSegmentation, EngineError> {
        Ok(SelfieSegmentation {
            session: rt.session(model)?,
            name: model.entry.name.clone(),
            input: Vec::with_capacity((SIDE * SIDE * 3) as usize),
        })
    }
}

/// The crop the engine segments: a square of side 1.6 × `face_width`, rotated by `angle`
/// (the eye line's), centred `0.35 × face_width` above the eye midpoint (in the face's frame),
/// so it spans the hair above the head, the ears and the face down to the mouth.
pub fn head_crop(eye_mid: [f32; 2], face_width: f32, angle: f32) -> RotatedCrop {
    let (s, c) = angle.sin_cos();
    let up = 0.35 * face_width;
    RotatedCrop {
        // "Up" in the face's frame is (sin, −cos) of the eye-line angle.
        center: [eye_mid[0] + s * up, eye_mid[1] - c * up],
        size: (1.6 * face_width).max(1.0),
        angle,
        side: SIDE,
    }
}

impl Segmenter for SelfieSegmentation {
    fn segment(&mut self, img: &RgbImage, crop: RotatedCrop) -> Result<PersonMask, EngineError> {
        let crop = RotatedCrop { side: SIDE, ..crop };
        crop.sample(img, 1.0 / 255.0, 0.0, &mut self.input);
        let name = &self.name;
        let n = SIDE as usize;
        let outputs = run_square(&mut self.session, name, "input_1", n, &self.input)?;
        let raw = output(&outputs, "activation_10", name)?;
        if raw.len() != n * n {
            return Err(EngineError::ModelOutput {
                model: name.clone(),
                reason: format!("{} mask values", raw.len()),
            });
        }
        Ok(PersonMask {
            crop,
            prob: raw.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_lookup_follows_the_crop_and_is_zero_outside() {
        let crop = RotatedCrop {
            center: [100.0, 100.0],
            size: 128.0,
            angle: 0.0,
            side: SIDE,
        };
        // Person in the left half of the crop only.
        let prob = (0..SIDE * SIDE)
            .map(|i| if i % SIDE < SIDE / 2 { 1.0 } else { 0.0 })
            .collect();
        let m = PersonMask { crop, prob };
        assert_eq!(m.at(60.0, 100.0), 1.0);
        assert_eq!(m.at(140.0, 100.0), 0.0);
        assert_eq!(m.at(400.0, 100.0), 0.0);
        // Rotated by 90°: the crop's left half is the image's upper half.
        let m = PersonMask {
            crop: RotatedCrop {
                angle: std::f32::consts::FRAC_PI_2,
                ..crop
            },
            prob: m.prob,
        };
        assert!(m.at(100.0, 60.0) > 0.99);
        assert!(m.at(100.0, 140.0) < 0.01);
    }

    #[test]
    fn head_crop_sits_above_the_eyes_in_the_face_frame() {
        let c = head_crop([179.0, 170.0], 200.0, 0.0);
        assert_eq!(c.center, [179.0, 100.0]);
        assert_eq!(c.size, 320.0);
        // Rolled 90°: "up" is toward +x.
        let c = head_crop([179.0, 170.0], 200.0, std::f32::consts::FRAC_PI_2);
        assert!((c.center[0] - 249.0).abs() < 1e-3 && (c.center[1] - 170.0).abs() < 1e-3);
    }
}
