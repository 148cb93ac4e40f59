//! Expression calibration (issue 16, point 1; issue 18's smiling originals): the face mesh the
//! engine measured, with the subject measures and the `face.expression` status it reported.
//! One JSON line per photo: `file`, `mesh` (468 × [x, y, z], pixels of the measured image),
//! `subject` (the [`SubjectMeasures`] fields), `expression` (pass / warn / review / fail),
//! `clothing` (the top's area and merging shares) and `cover` (the ears' and the hair's cover
//! measures, for the ears rule's calibration).
//!
//! `cargo run --release -p photocheck-engine --example subject_mesh -- FILE...`
//! (`bench/calibrate/expression.py` runs it on the calibration originals and the fixtures.)
use photocheck_engine::{Engine, Profile};
use photocheck_types::CheckCode;

mod common;

fn main() {
    let engine = Engine::new(&common::installed()).unwrap();
    let profile = Profile::ga461();
    for path in std::env::args().skip(1) {
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("{path}: unreadable");
            continue;
        };
        let Ok(a) = engine.analyze(&bytes, &profile) else {
            println!("{}", serde_json::json!({ "file": path, "face": false }));
            continue;
        };
        let status = a.result.check(CheckCode::FaceExpression).map(|c| c.status);
        let subject = a.measures.as_ref().and_then(|m| m.subject);
        let (Some(face), Some(s)) = (a.face.as_ref(), subject) else {
            println!("{}", serde_json::json!({ "file": path, "face": false }));
            continue;
        };
        let line = serde_json::json!({
            "file": path,
            "mesh": face.mesh,
            "subject": {
                "eye_open": s.eye_open,
                "mouth_gap": s.mouth_gap,
                "smile": s.smile,
                "mouth_width": s.mouth_width,
                "teeth": s.teeth,
                "yaw_deg": s.yaw_deg,
                "pitch_deg": s.pitch_deg,
                "happy": s.happy,
            },
            "expression": status,
            "clothing": a.measures.as_ref().and_then(|m| m.clothing.as_ref()).map(|c| serde_json::json!({
                "area": c.area,
                "merge": c.merge,
                "outline_lost": c.outline_lost,
                "chest_area": c.chest_area,
                "chest_merge": c.chest_merge,
            })),
            "cover": a.measures.as_ref().and_then(|m| m.cover).map(|c| serde_json::json!({
                "ear_skin": c.ear_skin,
                "ear_person": c.ear_person,
                "hair_stops": c.hair_stops,
            })),
        });
        println!("{line}");
    }
}
