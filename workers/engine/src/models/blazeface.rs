//! BlazeFace (MediaPipe) face detector on ONNX Runtime.
//!
//! Input: the photo padded to a centred square and resized to S × S (128 for the front model,
//! 256 for the back model), NHWC RGB scaled to [-1, 1]. Output: 896 anchors (16×16 × 2, then
//! 8×8 × 6, centres at cell middles in unit coordinates), each with a score logit and 16
//! regressors: box centre offset and size, then six keypoints, all in input pixels.

use super::runtime::{output, run_square, LoadedModel, Runtime};
use super::{weighted_nms, Detection, FaceDetector};
use crate::imgops::letterbox_tensor;
use crate::EngineError;
use fast_image_resize::Resizer;
use image::RgbImage;
use ort::session::Session;

/// Minimum score kept (MediaPipe's default).
pub const SCORE_THRESHOLD: f32 = 0.75;
/// IoU above which detections are merged.
pub const NMS_IOU: f32 = 0.3;

/// One BlazeFace session.
pub struct BlazeFace {
    session: Session,
    name: String,
    side: u32,
    anchors: Vec<[f32; 2]>,
    resizer: Resizer,
    input: Vec<f32>,
}

/// Anchor centres: 16×16 cells with 2 anchors each, then 8×8 cells with 6.
pub fn anchors() -> Vec<[f32; 2]> {
    let mut out = Vec::with_capacity(896);
    for (cells, n) in [(16u32, 2u32), (8, 6)] {
        for row in 0..cells {
            for col in 0..cells {
                let c = [
                    (col as f32 + 0.5) / cells as f32,
                    (row as f32 + 0.5) / cells as f32,
                ];
                for _ in 0..n {
                    out.push(c);
                }
            }
        }
    }
    out
}

impl BlazeFace {
    /// A session for `model` with input side `side` (128 or 256).
    pub fn new(rt: &Runtime, model: &LoadedModel, side: u32) -> Result<BlazeFace, EngineError> {
        Ok(BlazeFace {
            session: rt.session(model)?,
            name: model.entry.name.clone(),
            side,
            anchors: anchors(),
            resizer: Resizer::new(),
            input: Vec::new(),
        })
    }
}

/// Turns raw outputs into detections in image pixels.
pub fn decode(
    anchors: &[[f32; 2]],
    logits: &[f32],
    regs: &[f32],
    side: u32,
    map: crate::imgops::Letterbox,
) -> Vec<Detection> {
    let s = side as f32;
    let mut dets = Vec::new();
    for (i, a) in anchors.iter().enumerate() {
        let Some(&logit) = logits.get(i) else { break };
        let score = 1.0 / (1.0 + (-logit.clamp(-100.0, 100.0)).exp());
        if score < SCORE_THRESHOLD {
            continue;
        }
        let Some(r) = regs.get(i * 16..i * 16 + 16) else {
            break;
        };
        // Unit-square coordinates → square pixels → image pixels.
        let to_img = |u: f32, v: f32| -> [f32; 2] {
            [u * s * map.scale - map.pad_x, v * s * map.scale - map.pad_y]
        };
        let (cx, cy) = (a[0] + r[0] / s, a[1] + r[1] / s);
        let (w, h) = (r[2] / s, r[3] / s);
        let p0 = to_img(cx - w / 2.0, cy - h / 2.0);
        let p1 = to_img(cx + w / 2.0, cy + h / 2.0);
        let mut keypoints = [[0.0; 2]; 6];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = to_img(a[0] + r[4 + 2 * k] / s, a[1] + r[5 + 2 * k] / s);
        }
        dets.push(Detection {
            bbox: [p0[0], p0[1], p1[0], p1[1]],
            score,
            keypoints,
        });
    }
    weighted_nms(dets, NMS_IOU)
}

impl FaceDetector for BlazeFace {
    fn detect(&mut self, img: &RgbImage) -> Result<Vec<Detection>, EngineError> {
        let side = self.side;
        let map = letterbox_tensor(
            &mut self.resizer,
            img,
            side,
            1.0 / 127.5,
            -1.0,
            &mut self.input,
        );
        let name = self.name.clone();
        let outputs = run_square(
            &mut self.session,
            &name,
            "input:0",
            side as usize,
            &self.input,
        )?;
        let mut logits = output(&outputs, "Identity:0", &name)?.to_vec();
        logits.extend_from_slice(output(&outputs, "Identity_1:0", &name)?);
        let mut regs = output(&outputs, "Identity_2:0", &name)?.to_vec();
        regs.extend_from_slice(output(&outputs, "Identity_3:0", &name)?);
        if logits.len() != self.anchors.len() || regs.len() != self.anchors.len() * 16 {
            return Err(EngineError::ModelOutput {
                model: name,
                reason: format!("{} scores for {} anchors", logits.len(), self.anchors.len()),
            });
        }
        Ok(decode(&self.anchors, &logits, &regs, side, map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imgops::Letterbox;

    #[test]
    fn there_are_896_anchors_in_the_documented_order() {
        let a = anchors();
        assert_eq!(a.len(), 896);
        assert_eq!(a[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], [1.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[512], [0.5 / 8.0, 0.5 / 8.0]);
    }

    #[test]
    fn decode_maps_one_confident_anchor_to_image_pixels() {
        let a = anchors();
        let mut logits = vec![-10.0; 896];
        let mut regs = vec![0.0; 896 * 16];
        // Anchor 0 at (0.03125, 0.03125); make it a 64×64 box centred 32 px further right.
        logits[0] = 5.0;
        regs[0] = 32.0;
        regs[2] = 64.0;
        regs[3] = 64.0;
        let map = Letterbox {
            scale: 2.0,
            pad_x: 10.0,
            pad_y: 0.0,
        };
        let d = decode(&a, &logits, &regs, 128, map);
        assert_eq!(d.len(), 1);
        let cx = (0.03125 * 128.0 + 32.0) * 2.0 - 10.0;
        assert!(((d[0].bbox[0] + d[0].bbox[2]) / 2.0 - cx).abs() < 1e-3);
        assert!((d[0].width() - 128.0).abs() < 1e-3);
        assert!(d[0].score > 0.99);
    }
}
