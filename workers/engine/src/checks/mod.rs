//! The checks, one module per family: each compares its measurements with the profile's limits
//! and tells the clerk, in Chinese, what to change. The rules are pure functions of an
//! [`Observation`] (no models, no I/O), so unit tests build observations from synthetic images
//! and hand-made face geometry. A family's file holds its rules and messages, and, where the
//! measurement belongs to that family alone, the measurement too (`subject`, `cover`, `clothing`); the
//! stages several families share (header, decode, models, image operations, colour,
//! [`crate::measure`]) stay outside. Adding a check touches its family's file, the profile and
//! the code table (`photocheck-types`).
//!
//! | family | codes |
//! |---|---|
//! | [`file`] | `file.*` |
//! | [`image`] | `image.*` |
//! | [`geometry`] | `face.count`, `geometry.*`, `pose.roll` |
//! | [`subject`] | `pose.yaw`, `pose.pitch`, `face.eyes_open`, `face.mouth_closed`, `face.expression` (measurement and rules) |
//! | [`cover`] | `face.glasses`, `face.occlusion`, `face.head_covering` (measurement and rules) |
//! | [`quality`] | `quality.*`, `face.tone` |
//! | [`background`] | `background.*` |
//! | [`clothing`] | `clothing.color` (measurement and rule) |

pub mod background;
pub mod clothing;
pub mod cover;
pub mod file;
pub mod geometry;
pub mod image;
pub mod quality;
pub mod subject;

use self::background::*;
use self::cover::*;
use self::file::*;
use self::geometry::*;
use self::image::*;
use self::quality::*;
use self::subject::*;

use self::clothing::ClothingMeasures;
use self::cover::CoverMeasures;
use self::subject::SubjectMeasures;
use crate::decode::DecodeError;
use crate::header::{ColorModel, Format, Header};
use crate::measure::{BackgroundStats, FaceGeometry, FaceTone, SkinSample};
use crate::profile::{Profile, Range};
use photocheck_types::{Check, CheckCode, Status};
use serde_json::json;

/// Everything measured on one photo, as the rules see it.
#[derive(Debug, Clone, Default)]
pub struct Observation<'a> {
    /// Length of the file in bytes.
    pub file_len: usize,
    /// The header, when it could be read.
    pub header: Option<&'a Header>,
    /// Why decoding failed, if it did.
    pub decode_error: Option<&'a DecodeError>,
    /// Decoded size `(width, height)` after orientation, when decoded.
    pub size: Option<(u32, u32)>,
    /// Share of pixels with visible colour (channel spread > 12), when decoded.
    pub colourful: Option<f32>,
    /// Faces found, when decoded.
    pub face_count: Option<usize>,
    /// The face measured, when exactly one was found.
    pub face: Option<&'a FaceGeometry>,
    /// Measurements, when decoded.
    pub measures: Option<&'a Measures>,
    /// When no face was found in the frame: the box `[x0, y0, x1, y1]` (photo pixels, beyond
    /// `0..w`, `0..h` where the frame cuts it) of the one face found once the photo was set in
    /// a margin, i.e. a face too large for the photo or pushed past its edge.
    pub beyond_frame: Option<[f32; 4]>,
}

/// Measurements on the decoded image (see [`crate::measure`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Measures {
    /// Crown row, when a face was found and the head top is visible.
    pub crown: Option<f32>,
    /// The backdrop behind the head, above the chin: the reference colour the person is told
    /// apart from.
    pub background: BackgroundStats,
    /// Every backdrop pixel of the photo, below the chin too: what the background checks judge
    /// (the same as `background` when the top merges with the backdrop, see
    /// [`clothing::merges_with_backdrop`]).
    pub backdrop: BackgroundStats,
    /// Face tone, when a face was found.
    pub tone: Option<FaceTone>,
    /// Skin samples, when a face was found.
    pub skin: Option<SkinSample>,
    /// Sharpness ratio of the face, when a face was found.
    pub sharpness: Option<f32>,
    /// Noise sigma of the whole image.
    pub noise: f32,
    /// JPEG blocking ratio of the whole image.
    pub blockiness: f32,
    /// Eyes, mouth, expression and pose from the face mesh, when a face was meshed.
    pub subject: Option<SubjectMeasures>,
    /// Glasses, head covering and occlusion (mesh and person mask), when a face was meshed.
    pub cover: Option<CoverMeasures>,
    /// The top below the neck (`checks/clothing.rs`), when a face was meshed and the photo reaches
    /// below its neck.
    pub clothing: Option<ClothingMeasures>,
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn check(code: CheckCode, status: Status, message: impl Into<String>) -> Check {
    Check {
        code,
        status,
        value: None,
        min: None,
        max: None,
        unit: None,
        message: message.into(),
        uncertain: false,
    }
}

fn with(mut c: Check, value: f64, range: Option<Range>, unit: &str) -> Check {
    c.value = Some(json!(round1(value)));
    if let Some(r) = range {
        c.min = (r.min > f64::MIN / 2.0).then_some(round1(r.min));
        c.max = (r.max < f64::MAX / 2.0).then_some(round1(r.max));
    }
    c.unit = Some(unit.into());
    c
}

fn skipped(code: CheckCode, why: &str, uncertain: bool) -> Check {
    let mut c = check(code, Status::Skipped, why);
    c.uncertain = uncertain;
    c
}

fn pass_fail(ok: bool) -> Status {
    if ok {
        Status::Pass
    } else {
        Status::Fail
    }
}

/// Runs every check of the profile on the observation, in the contract's order.
pub fn evaluate(obs: &Observation<'_>, profile: &Profile) -> Vec<Check> {
    let mut out = Vec::with_capacity(CheckCode::ALL.len());
    file_checks(obs, profile, &mut out);
    image_checks(obs, profile, &mut out);
    face_checks(obs, profile, &mut out);
    subject_checks(obs, profile, &mut out);
    cover_checks(obs, profile, &mut out);
    quality_checks(obs, profile, &mut out);
    background_checks(obs, profile, &mut out);
    out.push(clothing_check(obs, profile));
    out
}

/// `clothing.color` (`checks/clothing.rs`), skipped like the other face checks without a face.
fn clothing_check(obs: &Observation<'_>, p: &Profile) -> Check {
    use CheckCode::ClothingColor as C;
    if let Some((why, unsure)) = no_face_reason(obs) {
        return skipped(C, why, unsure);
    }
    clothing::check(obs.measures.and_then(|m| m.clothing.as_ref()), p)
}

fn no_face_reason(obs: &Observation<'_>) -> Option<(&'static str, bool)> {
    match (obs.decode_error, obs.face_count, obs.face) {
        (Some(_), _, _) | (None, None, _) => Some(("照片无法解码，无法检查此项", false)),
        (None, Some(0), _) if obs.beyond_frame.is_some() => {
            Some(("人脸超出照片边框，无法检查此项", false))
        }
        (None, Some(0), _) => Some(("未检测到人脸，无法检查此项", false)),
        (None, Some(n), _) if n > 1 => Some(("照片中有多张人脸，无法检查此项", false)),
        (None, Some(_), None) => Some(("人脸特征点定位失败，无法检查此项，请人工复核", true)),
        _ => None,
    }
}

/// A measured value against a range whose ends carry a measurement uncertainty `u`: `pass` or
/// `fail` by the range, and `uncertain` (a `review` unless something else fails) when the value
/// lies within `u` of a finite end.
fn against(code: CheckCode, v: f64, lim: Range, u: f64, unit: &str, msg: String) -> Check {
    let mut c = with(
        check(code, pass_fail(lim.contains(v)), msg),
        v,
        Some(lim),
        unit,
    );
    let near = |end: f64| end.abs() < f64::MAX / 2.0 && (v - end).abs() <= u;
    c.uncertain = near(lim.min) || near(lim.max);
    c
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Like [`against`], for small ratios: the value and limits keep three decimals.
fn against_ratio(code: CheckCode, v: f64, lim: Range, u: f64, msg: String) -> Check {
    let mut c = against(code, v, lim, u, "ratio", msg);
    c.value = Some(json!(round3(v)));
    c.min = (lim.min > f64::MIN / 2.0).then_some(round3(lim.min));
    c.max = (lim.max < f64::MAX / 2.0).then_some(round3(lim.max));
    c
}

/// Whether `v` lies within `u` of `limit`.
fn near_limit(v: f64, limit: f64, u: f64) -> bool {
    (v - limit).abs() <= u
}

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
