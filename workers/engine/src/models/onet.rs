//! MTCNN O-Net: five landmarks (eyes, nose, mouth corners) on a square face crop.
//!
//! Input `[1, 48, 48, 3]` with width and height swapped (the Keras original is column-major),
//! RGB `(p - 127.5) / 128`. Outputs `dense_6`: x1..x5 then y1..y5 relative to the crop, and
//! `softmax_2`: face probability.

use super::runtime::{output, run_square, LoadedModel, Runtime};
use super::{Detection, FivePoints, LandmarkRefiner};
use crate::imgops::RotatedCrop;
use crate::EngineError;
use image::RgbImage;
use ort::session::Session;

const SIDE: u32 = 48;

/// One O-Net session.
pub struct ONet {
    session: Session,
    name: String,
    crop: Vec<f32>,
    input: Vec<f32>,
}

impl ONet {
    /// A session for `model`.
    pub fn new(rt: &Runtime, model: &LoadedModel) -> Result<ONet, EngineError> {
        Ok(ONet {
            session: rt.session(model)?,
            name: model.entry.name.clone(),
            crop: Vec::new(),
            input: Vec::new(),
        })
    }
}

impl LandmarkRefiner for ONet {
    fn refine(&mut self, img: &RgbImage, det: &Detection) -> Result<FivePoints, EngineError> {
        let b = det.bbox;
        let size = (b[2] - b[0]).max(b[3] - b[1]).max(1.0);
        let crop = RotatedCrop {
            center: [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0],
            size,
            angle: 0.0,
            side: SIDE,
        };
        crop.sample(img, 1.0 / 128.0, -127.5 / 128.0, &mut self.crop);
        // Transpose H and W: input[x][y] = crop[y][x].
        let n = SIDE as usize;
        self.input.clear();
        self.input.resize(n * n * 3, 0.0);
        for y in 0..n {
            for x in 0..n {
                let src = (y * n + x) * 3;
                let dst = (x * n + y) * 3;
                self.input[dst..dst + 3].copy_from_slice(&self.crop[src..src + 3]);
            }
        }
        let name = self.name.clone();
        // The tensor is [1, W, H, 3]; square, so the shape is the same.
        let outputs = run_square(&mut self.session, &name, "input_3", n, &self.input)?;
        let pts = output(&outputs, "dense_6", &name)?;
        let prob = output(&outputs, "softmax_2", &name)?;
        if pts.len() < 10 || prob.len() < 2 {
            return Err(EngineError::ModelOutput {
                model: name,
                reason: "expected 10 landmark values and 2 probabilities".into(),
            });
        }
        let x0 = crop.center[0] - size / 2.0;
        let y0 = crop.center[1] - size / 2.0;
        let mut points = [[0.0; 2]; 5];
        for (k, p) in points.iter_mut().enumerate() {
            *p = [x0 + size * pts[k], y0 + size * pts[5 + k]];
        }
        Ok(FivePoints {
            points,
            score: prob[1],
        })
    }
}
