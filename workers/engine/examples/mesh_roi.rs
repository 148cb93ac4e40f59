//! Calibration of the mesh crop (`models/mesh.rs`, `DETECTION_TO_MESH_*`): for each fixture
//! with a measured face width, where the crop the mesh implies sits relative to the detector
//! box (dx, dy in box sides; size ratio; angle), and the face-width error of one pass from the
//! calibrated detector crop (w1, O-Net eyes; wb, BlazeFace eyes) and of a second and third pass
//! placed from the mesh (w2, w3), against `params.face_width`.
//!
//! `cargo run --release -p photocheck-engine --example mesh_roi ../shared/fixtures`
use photocheck_engine::decode::{self, DecodeLimits};
use photocheck_engine::manifest::Manifest;
use photocheck_engine::models::*;
use std::path::PathBuf;

mod common;

fn main() {
    let cfg = common::installed();
    let rt = Runtime::load(&cfg.ort_dylib, 1).unwrap();
    let m = Manifest::builtin().unwrap();
    let load = |r: &str| LoadedModel::load(&cfg.models_dir, m.by_role(r).unwrap()).unwrap();
    let mut det = BlazeFace::new(&rt, &load("face_detector"), 128).unwrap();
    let mut onet = ONet::new(&rt, &load("landmarks")).unwrap();
    let mut mesh = MediaPipeMesh::new(&rt, &load("face_mesh")).unwrap();
    let fx = PathBuf::from(std::env::args().nth(1).unwrap());
    let lim = DecodeLimits {
        max_dimension: 10000,
        max_pixels: 25_000_000,
    };
    for line in std::fs::read_to_string(fx.join("expected.jsonl"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let Some(truth) = v["params"]["face_width"].as_f64() else {
            continue;
        };
        let file = v["file"].as_str().unwrap();
        let bytes = std::fs::read(fx.join(file)).unwrap();
        let Ok(h) = decode::probe(&bytes, lim) else {
            continue;
        };
        let Ok(d) = decode::decode(&bytes, h, lim) else {
            continue;
        };
        let img = d.rgb;
        let faces = det.detect(&img).unwrap();
        if faces.len() != 1 {
            continue;
        }
        let f = faces[0];
        let five = onet.refine(&img, &f).unwrap();
        let c0 = roi_from_detection(f.bbox, five.points[0], five.points[1]);
        let m1 = mesh.run(&img, c0).unwrap();
        let c1 = roi_from_mesh(&m1);
        let m2 = mesh.run(&img, c1).unwrap();
        let c2 = roi_from_mesh(&m2);
        let m3 = mesh.run(&img, c2).unwrap();
        let (bw, bh) = (f.bbox[2] - f.bbox[0], f.bbox[3] - f.bbox[1]);
        let s = bw.max(bh);
        let bc = [(f.bbox[0] + f.bbox[2]) / 2.0, (f.bbox[1] + f.bbox[3]) / 2.0];
        // BlazeFace-eye-based crop (no O-Net).
        let cb = roi_from_detection(f.bbox, f.keypoints[0], f.keypoints[1]);
        let mb = mesh.run(&img, cb).unwrap();
        println!(
            "{file:50} {:5} dx {:+.3} dy {:+.3} size {:.3} ang {:+.2} | w1 {:+.1} w2 {:+.1} w3 {:+.1} wb {:+.1} | d12 {:.2}",
            v["category"].as_str().unwrap(),
            (c1.center[0] - bc[0]) / s,
            (c1.center[1] - bc[1]) / s,
            c1.size / c0.size,
            (c1.angle - c0.angle).to_degrees(),
            m1.face_width() as f64 - truth,
            m2.face_width() as f64 - truth,
            m3.face_width() as f64 - truth,
            mb.face_width() as f64 - truth,
            ((c2.center[0]-c1.center[0]).hypot(c2.center[1]-c1.center[1])) / c1.size,
        );
    }
}
