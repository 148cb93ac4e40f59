//! Facial expression: face-api.js's expression network (converted to ONNX by
//! `models/convert_face_expression.py`, parity with face-api.js checked by
//! `models/parity_face_expression.py`).
//!
//! Input `image` `[1, 112, 112, 3]`, RGB 0–255 (the network normalises inside); output
//! `expression` `[1, 7]`: probabilities of neutral, happy, sad, angry, fearful, disgusted,
//! surprised. The engine uses P(happy): it reads the closed-mouth smiles that the mesh's mouth
//! shape cannot tell from a neutral mouth (`face.expression`).

use super::runtime::{output, run_square, LoadedModel, Runtime};
use crate::imgops::RotatedCrop;
use crate::measure::FaceGeometry;
use crate::EngineError;
use image::RgbImage;
use ort::session::Session;

/// Side of the network's input.
pub const SIDE: u32 = 112;

/// Where the network looks: squares of side [`CROP_WIDTHS`] × the face width, levelled with the
/// eye line, centred half-way between the eyes and the chin and raised by one of
/// [`CROP_RAISES`] × the face width: brows to chin, cheek to cheek, as the detector boxes the
/// network was trained on.
pub const CROP_WIDTHS: f32 = 1.2;
/// The first crop's raise, and the second's (see [`ExpressionModel::read`]).
pub const CROP_RAISES: [f32; 2] = [0.0, 0.1];

/// Probabilities the network gives one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expression {
    /// P(neutral).
    pub neutral: f32,
    /// P(happy): a smile, with or without teeth.
    pub happy: f32,
    /// How many crops were read (1 or 2).
    pub crops: u8,
}

/// Reads the expression of one face.
pub trait ExpressionModel: Send {
    /// The expression of `face` in `img`, from the first crop; when that one reads P(happy) of
    /// `second_look` or more, a second crop is read and the lower P(happy) of the two counts.
    ///
    /// One crop alone moves a few faces a long way: on the calibration originals one neutral
    /// face read 0.01 at one framing and 0.39 to 0.70 at others close to it. A smile reads as
    /// one on both framings, so asking both before a face fails costs the smiles little and
    /// spares the neutral faces a framing's whim; the compliant photo, read once, costs one
    /// inference.
    fn read(
        &mut self,
        img: &RgbImage,
        face: &FaceGeometry,
        second_look: f32,
    ) -> Result<Expression, EngineError>;
}

/// The crop [`FaceApiExpression`] reads for `face`, raised by `raise` × the face width (one of
/// [`CROP_RAISES`]), sampled to `side` pixels.
pub fn expression_crop(face: &FaceGeometry, raise: f32, side: u32) -> RotatedCrop {
    let fw = face.face_width().max(1.0);
    let eyes = face.eye_mid();
    let (dx, dy) = (
        face.right_eye[0] - face.left_eye[0],
        face.right_eye[1] - face.left_eye[1],
    );
    let angle = dy.atan2(dx);
    let (s, c) = angle.sin_cos();
    let mid = [
        (eyes[0] + face.chin[0]) / 2.0,
        (eyes[1] + face.chin[1]) / 2.0,
    ];
    let up = raise * fw;
    RotatedCrop {
        // "Up" in the face's frame is (sin, −cos) of the eye-line angle.
        center: [mid[0] + s * up, mid[1] - c * up],
        size: CROP_WIDTHS * fw,
        angle,
        side,
    }
}

/// One session of the expression network, with its reused buffers.
pub struct FaceApiExpression {
    session: Session,
    name: String,
    fine: Vec<f32>,
    input: Vec<f32>,
}

impl FaceApiExpression {
    /// A session for `model`.
    pub fn new(rt: &Runtime, model: &LoadedModel) -> Result<FaceApiExpression, EngineError> {
        Ok(FaceApiExpression {
            session: rt.session(model)?,
            name: model.entry.name.clone(),
            fine: Vec::with_capacity((4 * SIDE * SIDE * 3) as usize),
            input: Vec::with_capacity((SIDE * SIDE * 3) as usize),
        })
    }
}

/// Averages each 2 × 2 block of a `2n × 2n` RGB float image into `out` (`n × n`).
fn halve(src: &[f32], n: usize, out: &mut [f32]) {
    let row = 2 * n * 3;
    for y in 0..n {
        for x in 0..n {
            let i = 2 * y * row + 2 * x * 3;
            for ch in 0..3 {
                let sum = src[i + ch] + src[i + 3 + ch] + src[i + row + ch] + src[i + row + 3 + ch];
                out[(y * n + x) * 3 + ch] = sum * 0.25;
            }
        }
    }
}

impl ExpressionModel for FaceApiExpression {
    fn read(
        &mut self,
        img: &RgbImage,
        face: &FaceGeometry,
        second_look: f32,
    ) -> Result<Expression, EngineError> {
        let first = self.read_crop(img, face, CROP_RAISES[0])?;
        if first.happy < second_look {
            return Ok(first);
        }
        let second = self.read_crop(img, face, CROP_RAISES[1])?;
        let lower = if second.happy < first.happy {
            second
        } else {
            first
        };
        Ok(Expression { crops: 2, ..lower })
    }
}

impl FaceApiExpression {
    fn read_crop(
        &mut self,
        img: &RgbImage,
        face: &FaceGeometry,
        raise: f32,
    ) -> Result<Expression, EngineError> {
        let n = SIDE as usize;
        let crop = expression_crop(face, raise, SIDE);
        if crop.size > 1.5 * SIDE as f32 {
            // A face larger than the input: sample at twice the side and average 2 × 2, so
            // the network sees the face without the aliasing of a plain bilinear shrink.
            RotatedCrop {
                side: 2 * SIDE,
                ..crop
            }
            .sample(img, 1.0, 0.0, &mut self.fine);
            self.input.resize(n * n * 3, 0.0);
            halve(&self.fine, n, &mut self.input);
        } else {
            crop.sample(img, 1.0, 0.0, &mut self.input);
        }
        let outputs = run_square(&mut self.session, &self.name, "image", n, &self.input)?;
        let p = output(&outputs, "expression", &self.name)?;
        if p.len() != 7 || p.iter().any(|v| !v.is_finite()) {
            return Err(EngineError::ModelOutput {
                model: self.name.clone(),
                reason: format!("{} expression values", p.len()),
            });
        }
        Ok(Expression {
            neutral: p[0],
            happy: p[1],
            crops: 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(left: [f32; 2], right: [f32; 2], chin: [f32; 2], width: f32) -> FaceGeometry {
        let mid = [(left[0] + right[0]) / 2.0, (left[1] + right[1]) / 2.0];
        FaceGeometry {
            bbox: [0.0; 4],
            score: 1.0,
            left_eye: left,
            right_eye: right,
            nose: mid,
            mouth: [mid; 2],
            cheeks: [
                [mid[0] - width / 2.0, mid[1]],
                [mid[0] + width / 2.0, mid[1]],
            ],
            chin,
            oval: Vec::new(),
            mesh: Vec::new(),
            pose: None,
        }
    }

    #[test]
    fn the_crop_spans_the_face_between_eyes_and_chin_levelled_with_the_eyes() {
        let f = face([140.0, 200.0], [220.0, 200.0], [180.0, 340.0], 200.0);
        let c = expression_crop(&f, 0.1, SIDE);
        assert_eq!(c.angle, 0.0);
        assert!((c.size - 240.0).abs() < 1e-4);
        // Half-way between the eyes (y 200) and the chin (340), raised by 0.1 × 200.
        assert!((c.center[0] - 180.0).abs() < 1e-4 && (c.center[1] - 250.0).abs() < 1e-4);
        // The same face rolled by 90°: the crop turns with it and "up" follows the face.
        let f = face([200.0, 140.0], [200.0, 220.0], [60.0, 180.0], 200.0);
        let c = expression_crop(&f, 0.1, SIDE);
        assert!((c.angle - std::f32::consts::FRAC_PI_2).abs() < 1e-5);
        assert!((c.center[0] - 150.0).abs() < 1e-3 && (c.center[1] - 180.0).abs() < 1e-3);
    }

    #[test]
    fn halving_averages_each_two_by_two_block() {
        // 4 × 4 RGB: value = x + 10 y on every channel.
        let src: Vec<f32> = (0..16)
            .flat_map(|i| {
                let v = (i % 4) as f32 + 10.0 * (i / 4) as f32;
                [v, v, v]
            })
            .collect();
        let mut out = vec![0.0; 12];
        halve(&src, 2, &mut out);
        assert_eq!(&out[0..3], &[5.5, 5.5, 5.5]);
        assert_eq!(&out[9..12], &[27.5, 27.5, 27.5]);
    }
}
