//! MediaPipe's face mesh with refined lips and eyes (468 points) and the irises, on ONNX Runtime,
//! converted from `face_landmark_with_attention.tflite`, the model FaceMesh runs with
//! `refine_landmarks` and the one the fixtures' geometry was measured with
//! (`models/convert_face_refined.py`: its three custom operators written as standard ONNX ones).
//!
//! Input: a 192 × 192 crop, rotated so the eyes are level, of side 1.5 × the face, RGB in
//! [0, 1]. Outputs: the 468-point mesh (x, y, z in crop pixels), the lips (80 points), each eye
//! with its brow (71) and each iris (5) in crop pixels, and a face-presence logit. As MediaPipe
//! does, the lip and eye points replace the mesh's x and y at their indices
//! ([`REFINED_LIPS`], [`REFINED_LEFT_EYE`], [`REFINED_RIGHT_EYE`]); the irises' centres are kept
//! beside the mesh ([`FaceMesh::iris`]).
//!
//! The crop must be where MediaPipe's tracking would put it (from the mesh's own bounding box
//! and eye corners): a crop at the bare detector box gives faces 1.2 px narrower on average.
//! [`roi_from_detection`] places the first crop there directly, from a calibrated offset
//! between BlazeFace's box and the mesh, so one pass is enough; a second pass runs only when
//! the mesh lands far from the crop.

use super::runtime::{output, run_square, LoadedModel, Runtime};
use super::MeshModel;
use crate::imgops::RotatedCrop;
use crate::EngineError;
use image::RgbImage;
use ort::session::Session;

const SIDE: u32 = 192;
/// Crop side relative to the face.
const SCALE: f32 = 1.5;

/// Indices of mesh points the checks use.
pub mod idx {
    /// Face contour at cheek level, image-left (subject's right), just in front of the ear.
    pub const CHEEK_LEFT: usize = 234;
    /// Face contour at cheek level, image-right.
    pub const CHEEK_RIGHT: usize = 454;
    /// Top of the forehead on the face oval.
    pub const FOREHEAD_TOP: usize = 10;
    /// Chin.
    pub const CHIN: usize = 152;
    /// Nose tip.
    pub const NOSE_TIP: usize = 1;
    /// Mouth corners, image-left and image-right.
    pub const MOUTH: [usize; 2] = [61, 291];
}

/// Mesh indices the lip network's 80 points replace, in its output order (MediaPipe's
/// `tensors_to_face_landmarks_with_attention.pbtxt`): lower outer contour, upper outer, lower
/// inner, upper inner, then the semi-outer and semi-inner rings.
pub const REFINED_LIPS: [usize; 80] = [
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409, 78,
    95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415, 76, 77,
    90, 180, 85, 16, 315, 404, 320, 307, 306, 184, 74, 73, 72, 11, 302, 303, 304, 408, 62, 96, 89,
    179, 86, 15, 316, 403, 319, 325, 292, 183, 42, 41, 38, 12, 268, 271, 272, 407,
];

/// Mesh indices the image-left eye network's 71 points replace: the lid contour, four halos
/// around it and the brow.
pub const REFINED_LEFT_EYE: [usize; 71] = [
    33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173, 130, 25, 110, 24,
    23, 22, 26, 112, 243, 247, 30, 29, 27, 28, 56, 190, 226, 31, 228, 229, 230, 231, 232, 233, 244,
    113, 225, 224, 223, 222, 221, 189, 35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121,
    128, 245, 156, 70, 63, 105, 66, 107, 55, 193,
];

/// The same for the image-right eye.
pub const REFINED_RIGHT_EYE: [usize; 71] = [
    263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398, 359, 255, 339,
    254, 253, 252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414, 446, 261, 448, 449, 450, 451,
    452, 453, 464, 342, 445, 444, 443, 442, 441, 413, 265, 353, 276, 283, 282, 295, 372, 340, 346,
    347, 348, 349, 350, 357, 465, 383, 300, 293, 334, 296, 336, 285, 417,
];

/// A face mesh in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceMesh {
    /// 468 points (x, y in image pixels; z in the same scale, relative).
    pub points: Vec<[f32; 3]>,
    /// Face presence probability, 0–1.
    pub presence: f32,
    /// Centres of the irises (image-left, image-right).
    pub iris: [[f32; 2]; 2],
}

impl FaceMesh {
    /// A point's (x, y).
    pub fn xy(&self, i: usize) -> [f32; 2] {
        let p = self.points[i];
        [p[0], p[1]]
    }

    /// Centre of the image-left eye: its iris centre (the fixtures' definition).
    pub fn left_eye(&self) -> [f32; 2] {
        self.iris[0]
    }

    /// Centre of the image-right eye: its iris centre.
    pub fn right_eye(&self) -> [f32; 2] {
        self.iris[1]
    }

    /// Face width at cheek level (points 234–454).
    pub fn face_width(&self) -> f32 {
        let (a, b) = (self.xy(idx::CHEEK_LEFT), self.xy(idx::CHEEK_RIGHT));
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
    }

    /// Bounding box `[x0, y0, x1, y1]` of all points.
    pub fn bbox(&self) -> [f32; 4] {
        let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        for p in &self.points {
            b[0] = b[0].min(p[0]);
            b[1] = b[1].min(p[1]);
            b[2] = b[2].max(p[0]);
            b[3] = b[3].max(p[1]);
        }
        b
    }
}

/// One session of the refined face mesh.
pub struct MediaPipeMesh {
    session: Session,
    name: String,
    input: Vec<f32>,
}

/// The model's outputs: the mesh, the face flag, and the refinements.
const MESH_OUT: &str = "output_mesh_identity";
const FLAG_OUT: &str = "conv_faceflag";

/// What a refinement output holds.
enum Refined {
    /// x, y of the mesh points at these indices, in order.
    Points(&'static [usize]),
    /// Five points of one iris (image-left 0, image-right 1), its centre first.
    Iris(usize),
}

const REFINED_OUT: [(&str, Refined); 5] = [
    ("output_lips", Refined::Points(&REFINED_LIPS)),
    ("output_left_eye", Refined::Points(&REFINED_LEFT_EYE)),
    ("output_right_eye", Refined::Points(&REFINED_RIGHT_EYE)),
    ("output_left_iris", Refined::Iris(0)),
    ("output_right_iris", Refined::Iris(1)),
];

impl MediaPipeMesh {
    /// A session for `model` (`face_mesh_refined.onnx`).
    pub fn new(rt: &Runtime, model: &LoadedModel) -> Result<MediaPipeMesh, EngineError> {
        Ok(MediaPipeMesh {
            session: rt.session(model)?,
            name: model.entry.name.clone(),
            input: Vec::new(),
        })
    }

    /// Runs the mesh once on `crop` (see [`roi_from_mesh`] and [`roi_from_detection`]).
    pub fn run(&mut self, img: &RgbImage, crop: RotatedCrop) -> Result<FaceMesh, EngineError> {
        crop.sample_mediapipe(img, 1.0 / 255.0, 0.0, &mut self.input);
        let name = self.name.clone();
        let outputs = run_square(
            &mut self.session,
            &name,
            "input_1",
            SIDE as usize,
            &self.input,
        )?;
        let bad = |what: &str, n: usize| EngineError::ModelOutput {
            model: name.clone(),
            reason: format!("{n} {what} values"),
        };
        let raw = output(&outputs, MESH_OUT, &name)?;
        let flag = output(&outputs, FLAG_OUT, &name)?;
        if raw.len() != 468 * 3 || flag.is_empty() {
            return Err(bad("mesh", raw.len()));
        }
        let k = crop.size / SIDE as f32;
        let mut points: Vec<[f32; 3]> = raw
            .chunks_exact(3)
            .map(|p| {
                let [x, y] = crop.to_image(p[0], p[1]);
                [x, y, p[2] * k]
            })
            .collect();
        let mut iris = [[0.0; 2]; 2];
        for (out, part) in &REFINED_OUT {
            let xy = output(&outputs, out, &name)?;
            let len = match part {
                Refined::Points(indices) => indices.len(),
                Refined::Iris(_) => 5,
            };
            if xy.len() != 2 * len {
                return Err(bad(out, xy.len()));
            }
            match *part {
                // The refined points keep the mesh's depth, as in MediaPipe.
                Refined::Points(indices) => {
                    for (&i, p) in indices.iter().zip(xy.chunks_exact(2)) {
                        let [x, y] = crop.to_image(p[0], p[1]);
                        points[i][0] = x;
                        points[i][1] = y;
                    }
                }
                Refined::Iris(side) => iris[side] = crop.to_image(xy[0], xy[1]),
            }
        }
        Ok(FaceMesh {
            points,
            presence: 1.0 / (1.0 + (-flag[0].clamp(-50.0, 50.0)).exp()),
            iris,
        })
    }
}

/// The crop MediaPipe derives from a mesh (as when tracking): centred on the points' bounding
/// box, side 1.5 × its larger side, rotated so the outer eye corners (33, 263) are level.
pub fn roi_from_mesh(mesh: &FaceMesh) -> RotatedCrop {
    crop_for(mesh.bbox(), mesh.xy(33), mesh.xy(263))
}

/// Where the mesh's own crop sits relative to a BlazeFace box of side `s` (the larger of its
/// width and height), measured on the 20 compliant fixtures by running the mesh on the
/// detector's crop and placing the crop again from the mesh (`examples/mesh_roi.rs`): the
/// centre lies 0.066 s above the box centre (sd 0.015 s) and the side is 1.097 × 1.5 s (sd
/// 0.017). These are properties of the two models (BlazeFace's box stops at the brows, the
/// mesh reaches the forehead), not of the photos. Measured with the plain mesh; the refined
/// mesh's own crop (same example, 2026-12-07) sits 0.062 s above the box centre (sd 0.024) and
/// is 1.027 × this side (sd 0.020), and one pass from this crop reads the compliant fixtures'
/// widths at +0.18 ± 1.57 px against +0.59 ± 1.51 from the mesh's own crop, so they stay.
const DETECTION_TO_MESH_UP: f32 = 0.066;
const DETECTION_TO_MESH_SIZE: f32 = 1.097;

/// The crop from a detector box and two eye points, placed where the mesh's own crop would
/// be, so one mesh pass is as good as two (see `DETECTION_TO_MESH_UP`).
pub fn roi_from_detection(bbox: [f32; 4], left_eye: [f32; 2], right_eye: [f32; 2]) -> RotatedCrop {
    let mut crop = crop_for(bbox, left_eye, right_eye);
    let s = crop.size / SCALE;
    // "Up" in the face's frame: perpendicular to the eye line.
    let (sin, cos) = crop.angle.sin_cos();
    crop.center[0] += sin * DETECTION_TO_MESH_UP * s;
    crop.center[1] -= cos * DETECTION_TO_MESH_UP * s;
    crop.size *= DETECTION_TO_MESH_SIZE;
    crop
}

fn crop_for(bbox: [f32; 4], a: [f32; 2], b: [f32; 2]) -> RotatedCrop {
    let size = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]).max(1.0) * SCALE;
    RotatedCrop {
        center: [(bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0],
        size,
        angle: (b[1] - a[1]).atan2(b[0] - a[0]),
        side: SIDE,
    }
}

/// A crop this far from the one the mesh itself implies (share of the crop side, ratio of
/// sides, degrees) is run again from the mesh, as MediaPipe's tracking would.
const REPLACE_SHIFT: f32 = 0.08;
const REPLACE_SIZE: f32 = 0.15;
const REPLACE_ANGLE_DEG: f32 = 8.0;

/// Whether `next` differs enough from `used` that the mesh should be run again on it.
fn needs_second_pass(used: &RotatedCrop, next: &RotatedCrop) -> bool {
    let shift = (next.center[0] - used.center[0]).hypot(next.center[1] - used.center[1]);
    let turn = (next.angle - used.angle).to_degrees().abs();
    shift > REPLACE_SHIFT * used.size
        || (next.size / used.size - 1.0).abs() > REPLACE_SIZE
        || turn.min(360.0 - turn) > REPLACE_ANGLE_DEG
}

impl MeshModel for MediaPipeMesh {
    fn mesh(
        &mut self,
        img: &RgbImage,
        bbox: [f32; 4],
        left_eye: [f32; 2],
        right_eye: [f32; 2],
    ) -> Result<FaceMesh, EngineError> {
        let crop = roi_from_detection(bbox, left_eye, right_eye);
        let first = self.run(img, crop)?;
        let next = roi_from_mesh(&first);
        if needs_second_pass(&crop, &next) {
            return self.run(img, next);
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crop(cx: f32, size: f32, angle: f32) -> RotatedCrop {
        RotatedCrop {
            center: [cx, 100.0],
            size,
            angle,
            side: SIDE,
        }
    }

    #[test]
    fn a_close_crop_is_kept_and_a_far_one_replaced() {
        let used = crop(100.0, 300.0, 0.0);
        assert!(!needs_second_pass(&used, &crop(110.0, 320.0, 0.05)));
        assert!(needs_second_pass(&used, &crop(130.0, 300.0, 0.0)));
        assert!(needs_second_pass(&used, &crop(100.0, 360.0, 0.0)));
        assert!(needs_second_pass(&used, &crop(100.0, 300.0, 0.2)));
    }

    #[test]
    fn the_detection_crop_moves_up_the_face_and_grows() {
        let c = roi_from_detection([100.0, 100.0, 300.0, 300.0], [150.0, 180.0], [250.0, 180.0]);
        assert!((c.center[0] - 200.0).abs() < 1e-3);
        assert!((c.center[1] - (200.0 - DETECTION_TO_MESH_UP * 200.0)).abs() < 1e-3);
        assert!((c.size - 200.0 * SCALE * DETECTION_TO_MESH_SIZE).abs() < 1e-2);
        // A face rolled 90° (eye line pointing down): "up" is towards +x.
        let r = roi_from_detection([100.0, 100.0, 300.0, 300.0], [200.0, 150.0], [200.0, 250.0]);
        assert!(r.center[0] > 200.0 && (r.center[1] - 200.0).abs() < 1e-3);
    }
}
