//! MediaPipe face mesh (468 points) on ONNX Runtime, converted from `face_landmark.tflite`,
//! and, for the face width, the mesh of `face_landmark_with_attention.tflite` run on the same
//! crop (see [`MediaPipeMesh::contour_width`]).
//!
//! Input: a 192 × 192 crop, rotated so the eyes are level, of side 1.5 × the face, RGB in
//! [0, 1]. Output: 468 × (x, y, z) in crop pixels, and a face-presence logit.
//!
//! The crop must be where MediaPipe's tracking would put it (from the mesh's own bounding box
//! and eye corners): a crop at the bare detector box gives faces 1.2 px narrower on average.
//! [`roi_from_detection`] places the first crop there directly, from a calibrated offset
//! between BlazeFace's box and the mesh, so one pass is enough (face-width error on the
//! compliant fixtures: one calibrated pass −1.5 ± 2.7 px, two passes −1.4 ± 2.7 px); a second
//! pass runs only when the mesh lands far from the crop.

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
    /// Outer and inner corner, upper and lower lid of the image-left eye.
    pub const LEFT_EYE: [usize; 4] = [33, 133, 159, 145];
    /// Same for the image-right eye.
    pub const RIGHT_EYE: [usize; 4] = [263, 362, 386, 374];
    /// Top of the forehead on the face oval.
    pub const FOREHEAD_TOP: usize = 10;
    /// Chin.
    pub const CHIN: usize = 152;
    /// Nose tip.
    pub const NOSE_TIP: usize = 1;
    /// Mouth corners, image-left and image-right.
    pub const MOUTH: [usize; 2] = [61, 291];
}

/// A face mesh in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceMesh {
    /// 468 points (x, y in image pixels; z in the same scale, relative).
    pub points: Vec<[f32; 3]>,
    /// Face presence probability, 0–1.
    pub presence: f32,
}

impl FaceMesh {
    /// A point's (x, y).
    pub fn xy(&self, i: usize) -> [f32; 2] {
        let p = self.points[i];
        [p[0], p[1]]
    }

    /// Mean of several points.
    pub fn mean(&self, ids: &[usize]) -> [f32; 2] {
        let n = ids.len() as f32;
        let (sx, sy) = ids.iter().fold((0.0, 0.0), |(sx, sy), &i| {
            (sx + self.points[i][0], sy + self.points[i][1])
        });
        [sx / n, sy / n]
    }

    /// Centre of the image-left eye.
    pub fn left_eye(&self) -> [f32; 2] {
        self.mean(&idx::LEFT_EYE)
    }

    /// Centre of the image-right eye.
    pub fn right_eye(&self) -> [f32; 2] {
        self.mean(&idx::RIGHT_EYE)
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

/// One face-mesh session, and optionally the face-width model's.
pub struct MediaPipeMesh {
    session: Session,
    name: String,
    input: Vec<f32>,
    /// The crop `input` was sampled from, once a mesh has run.
    crop: Option<RotatedCrop>,
    width: Option<(Session, String)>,
}

impl MediaPipeMesh {
    /// A session for `model`, without the face-width model.
    pub fn new(rt: &Runtime, model: &LoadedModel) -> Result<MediaPipeMesh, EngineError> {
        Ok(MediaPipeMesh {
            session: rt.session(model)?,
            name: model.entry.name.clone(),
            input: Vec::new(),
            crop: None,
            width: None,
        })
    }

    /// Adds the face-width model (`face_mesh_attention.onnx`, see [`Self::contour_width`]).
    pub fn with_width_model(
        mut self,
        rt: &Runtime,
        model: &LoadedModel,
    ) -> Result<MediaPipeMesh, EngineError> {
        self.width = Some((rt.session(model)?, model.entry.name.clone()));
        Ok(self)
    }

    /// The face width (points 234–454, image pixels) that the mesh of MediaPipe's
    /// `face_landmark_with_attention.tflite` reads on the crop of the last [`Self::run`]:
    /// the model FaceMesh runs with `refine_landmarks`, with which the fixtures' face widths
    /// were measured. It holds closer to them than the plain mesh (`bench/calibrate/explore/
    /// mesh_models.py`: spread 1.4 against 2.4 px on the compliant fixtures); its lips and
    /// eyes, without the refinement networks cut off it, are not, so the plain mesh stays the
    /// mesh. `None` without the model or before a mesh has run.
    pub fn contour_width(&mut self) -> Result<Option<f32>, EngineError> {
        let (Some((session, name)), Some(crop)) = (self.width.as_mut(), self.crop) else {
            return Ok(None);
        };
        let outputs = run_square(session, name, "input_1", SIDE as usize, &self.input)?;
        let raw = output(&outputs, "output_mesh_identity", name)?;
        if raw.len() != 468 * 3 {
            return Err(EngineError::ModelOutput {
                model: name.clone(),
                reason: format!("{} mesh values", raw.len()),
            });
        }
        let at = |i: usize| crop.to_image(raw[3 * i], raw[3 * i + 1]);
        let (a, b) = (at(idx::CHEEK_LEFT), at(idx::CHEEK_RIGHT));
        Ok(Some((a[0] - b[0]).hypot(a[1] - b[1])))
    }

    /// Runs the mesh once on `crop` (see [`roi_from_mesh`] and [`roi_from_detection`]).
    pub fn run(&mut self, img: &RgbImage, crop: RotatedCrop) -> Result<FaceMesh, EngineError> {
        crop.sample(img, 1.0 / 255.0, 0.0, &mut self.input);
        self.crop = Some(crop);
        let name = self.name.clone();
        let outputs = run_square(
            &mut self.session,
            &name,
            "input_1",
            SIDE as usize,
            &self.input,
        )?;
        let raw = output(&outputs, "conv2d_21", &name)?;
        let flag = output(&outputs, "conv2d_31", &name)?;
        if raw.len() != 468 * 3 || flag.is_empty() {
            return Err(EngineError::ModelOutput {
                model: name,
                reason: format!("{} mesh values", raw.len()),
            });
        }
        let k = crop.size / SIDE as f32;
        let points = raw
            .chunks_exact(3)
            .map(|p| {
                let [x, y] = crop.to_image(p[0], p[1]);
                [x, y, p[2] * k]
            })
            .collect();
        Ok(FaceMesh {
            points,
            presence: 1.0 / (1.0 + (-flag[0].clamp(-50.0, 50.0)).exp()),
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
/// mesh reaches the forehead), not of the photos.
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

    fn contour_width(&mut self) -> Result<Option<f32>, EngineError> {
        MediaPipeMesh::contour_width(self)
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
