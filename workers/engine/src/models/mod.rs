//! Face models behind small traits, and the ONNX Runtime they run on.
//!
//! - [`FaceDetector`]: finds faces (BlazeFace front 128, with the back 256 model for small faces).
//! - [`LandmarkRefiner`]: five points on one face (MTCNN O-Net).
//! - [`MeshModel`]: the 468-point face mesh with refined lips and eyes and the iris centres
//!   (MediaPipe face_landmark_with_attention), for face width, eye centres, pose and the face
//!   measures.
//! - [`Segmenter`]: person vs background (MediaPipe selfie segmentation), for the head-covering
//!   and ear checks.
//! - [`ExpressionModel`]: facial expression (face-api.js's expression network), for the smiles
//!   the mesh's mouth shape misses.
//!
//! A better model replaces one of these without touching the checks. Every model runs with one
//! intra-op thread: photos are processed in parallel instead, one [`ModelSet`] per worker thread
//! (`Session::run` needs `&mut self`).

mod blazeface;
mod expression;
mod mesh;
mod onet;
mod runtime;
mod segment;

pub use blazeface::BlazeFace;
pub use expression::{
    expression_crop, Expression, ExpressionModel, FaceApiExpression, SIDE as EXPRESSION_SIDE,
};
pub use mesh::{idx as mesh_idx, roi_from_detection, roi_from_mesh, FaceMesh, MediaPipeMesh};
pub use onet::ONet;
pub use runtime::{LoadedModel, Runtime};
pub use segment::{
    head_crop, Person, PersonMask, Segmenter, SelfieSegmentation, SIDE as SEGMENT_SIDE,
};

use crate::EngineError;
use image::RgbImage;

/// A face found by a detector, in image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// `[x0, y0, x1, y1]`.
    pub bbox: [f32; 4],
    /// Confidence 0–1.
    pub score: f32,
    /// Image-left eye, image-right eye, nose, mouth, image-left ear, image-right ear.
    pub keypoints: [[f32; 2]; 6],
}

impl Detection {
    /// Box width in pixels.
    pub fn width(&self) -> f32 {
        self.bbox[2] - self.bbox[0]
    }
}

/// Five landmarks of one face: image-left eye, image-right eye, nose, mouth corners.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FivePoints {
    /// The points, in image pixels.
    pub points: [[f32; 2]; 5],
    /// The model's face probability for the crop, 0–1.
    pub score: f32,
}

/// Finds faces in an image.
pub trait FaceDetector: Send {
    /// Faces, strongest first.
    fn detect(&mut self, img: &RgbImage) -> Result<Vec<Detection>, EngineError>;
}

/// Refines landmarks of one detected face.
pub trait LandmarkRefiner: Send {
    /// Five points on the face `det`.
    fn refine(&mut self, img: &RgbImage, det: &Detection) -> Result<FivePoints, EngineError>;
}

/// Dense face mesh of one face.
pub trait MeshModel: Send {
    /// The mesh of the face whose eyes are near `left_eye` and `right_eye`, inside `bbox`.
    fn mesh(
        &mut self,
        img: &RgbImage,
        bbox: [f32; 4],
        left_eye: [f32; 2],
        right_eye: [f32; 2],
    ) -> Result<FaceMesh, EngineError>;
}

/// One thread's set of model sessions.
pub struct ModelSet {
    /// Main detector (BlazeFace front 128).
    pub detector: Box<dyn FaceDetector>,
    /// Detector for small faces (BlazeFace back 256).
    pub detector_small: Box<dyn FaceDetector>,
    /// Five-point landmarks (O-Net).
    pub landmarks: Box<dyn LandmarkRefiner>,
    /// Face mesh.
    pub mesh: Box<dyn MeshModel>,
    /// Resizer for large photos (reuses its buffers).
    pub resizer: fast_image_resize::Resizer,
    /// Person segmentation.
    pub segmenter: Box<dyn Segmenter>,
    /// Facial expression.
    pub expression: Box<dyn ExpressionModel>,
    /// The reference head the mesh is fitted to for the head pose.
    pub canonical: std::sync::Arc<crate::pose::CanonicalFace>,
}

/// Intersection over union of two `[x0, y0, x1, y1]` boxes.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// MediaPipe-style weighted non-maximum suppression: detections overlapping the strongest one
/// by at least `threshold` IoU are averaged (weighted by score) into one.
pub fn weighted_nms(mut dets: Vec<Detection>, threshold: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(first) = dets.first().copied() {
        let (group, rest): (Vec<Detection>, Vec<Detection>) = dets
            .into_iter()
            .partition(|d| iou(&first.bbox, &d.bbox) >= threshold);
        let total: f32 = group.iter().map(|d| d.score).sum();
        let mut merged = Detection {
            bbox: [0.0; 4],
            score: first.score,
            keypoints: [[0.0; 2]; 6],
        };
        for d in &group {
            let w = d.score / total;
            for i in 0..4 {
                merged.bbox[i] += w * d.bbox[i];
            }
            for k in 0..6 {
                merged.keypoints[k][0] += w * d.keypoints[k][0];
                merged.keypoints[k][1] += w * d.keypoints[k][1];
            }
        }
        out.push(merged);
        dets = rest;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, score: f32) -> Detection {
        Detection {
            bbox: [x, 0.0, x + 10.0, 10.0],
            score,
            keypoints: [[x, 0.0]; 6],
        }
    }

    #[test]
    fn iou_of_identical_disjoint_and_half_boxes() {
        let a = [0.0, 0.0, 10.0, 10.0];
        assert_eq!(iou(&a, &a), 1.0);
        assert_eq!(iou(&a, &[20.0, 20.0, 30.0, 30.0]), 0.0);
        assert!((iou(&a, &[5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn nms_merges_overlaps_and_keeps_separate_faces() {
        let out = weighted_nms(vec![det(0.0, 0.9), det(1.0, 0.9), det(50.0, 0.8)], 0.3);
        assert_eq!(out.len(), 2);
        assert!((out[0].bbox[0] - 0.5).abs() < 1e-5);
        assert_eq!(out[1].bbox[0], 50.0);
    }
}
