//! Large captures (issue 21, point 2): the resolution-bound measures as the engine reports them
//! against the same measures on the whole photo at its own resolution and on the reduced
//! working copy the other checks use. One JSON line per photo:
//!
//! - `engine`: what `photocheck check` measures (noise and blocking from the face region at the
//!   photo's resolution; sharpness from the working copy), unrounded, and `fails`: whether
//!   `quality.noise`, `quality.compression` and `quality.sharpness` fail;
//! - `full`: noise and blocking of the whole photo decoded at full size, sharpness of the face
//!   at full size (the blur σ scaled with the face, as always);
//! - `reduced`: the same three on the working copy (what was reported before issue 21).
//!
//! `cargo run --release -p photocheck-engine --example native_measures -- FILE...`
//! (`bench/calibrate/large.py` runs it on graded variants.)
use photocheck_engine::measure::{self, Luma};
use photocheck_engine::{Engine, Profile};
use photocheck_types::CheckCode;

mod common;

fn main() {
    let engine = Engine::new(&common::installed()).unwrap();
    let profile = Profile::ga461();
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).unwrap();
        let a = engine.analyze(&bytes, &profile).unwrap();
        let failed = |code: CheckCode| {
            a.result
                .check(code)
                .map(|c| c.status == photocheck_types::Status::Fail)
        };
        let m = a.measures.as_ref();
        let (Some(img), Some(face)) = (a.image.as_ref(), a.face.as_ref()) else {
            println!("{}", serde_json::json!({ "file": path, "face": false }));
            continue;
        };
        let ob = oval_bbox(&face.oval);
        let fw = face.face_width();
        let small = Luma::of(img);
        let full = Luma::of(&image::load_from_memory(&bytes).unwrap().to_rgb8());
        let k = a.scale;
        let line = serde_json::json!({
            "file": path,
            "scale": k,
            "engine": {
                "noise": m.map(|m| m.noise),
                "blocking": m.map(|m| m.blockiness),
                "sharpness": m.and_then(|m| m.sharpness),
            },
            "fails": {
                "noise": failed(CheckCode::QualityNoise),
                "compression": failed(CheckCode::QualityCompression),
                "sharpness": failed(CheckCode::QualitySharpness),
            },
            "full": {
                "noise": measure::noise_sigma(&full),
                "blocking": measure::blockiness(&full),
                "sharpness": measure::sharpness(&full, ob.map(|v| v * k), fw * k / 207.0),
            },
            "reduced": {
                "noise": measure::noise_sigma(&small),
                "blocking": measure::blockiness(&small),
                "sharpness": measure::sharpness(&small, ob, fw / 207.0),
            },
        });
        println!("{line}");
    }
}

fn oval_bbox(poly: &[[f32; 2]]) -> [f32; 4] {
    let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for p in poly {
        b = [
            b[0].min(p[0]),
            b[1].min(p[1]),
            b[2].max(p[0]),
            b[3].max(p[1]),
        ];
    }
    b
}
