//! The result object (`shared/CONTRACT.md` §2).

use crate::CheckCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// JSON Schema (draft 2020-12) of [`CheckResult`], as shipped in `result.schema.json`.
pub const RESULT_SCHEMA: &str = include_str!("../result.schema.json");

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Meets the profile's limit.
    Pass,
    /// Breaks a hard limit: the photo fails.
    Fail,
    /// Outside a soft limit; does not fail the photo.
    Warn,
    /// Could not be assessed; `message` says why.
    Skipped,
}

/// Overall verdict of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check passed (or only warned).
    Pass,
    /// At least one check failed.
    Fail,
    /// Nothing failed, but at least one check could not be decided with confidence.
    Review,
}

impl Verdict {
    /// The verdict's JSON string (`pass`, `fail`, `review`), also used as a routing-key suffix.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Review => "review",
        }
    }

    /// The contract's rule: `fail` if any check fails; else `review` if any check is uncertain;
    /// else `pass`.
    pub fn from_checks(checks: &[Check]) -> Verdict {
        if checks.iter().any(|c| c.status == Status::Fail) {
            Verdict::Fail
        } else if checks.iter().any(|c| c.uncertain) {
            Verdict::Review
        } else {
            Verdict::Pass
        }
    }
}

/// One check's outcome, with the measured value, the limits and a message for the clerk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Stable check code.
    pub code: CheckCode,
    /// Outcome.
    pub status: Status,
    /// Measured value: a number, or for a few checks a pair (`[width, height]`) or a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Lower limit of the profile, in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper limit of the profile, in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Unit of `value`, `min` and `max` (`px`, `deg`, `dpi`, `KB`, or a score name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// What the clerk should do, in Chinese; for `skipped`, why it was skipped.
    pub message: String,
    /// True when the check could not decide with confidence; makes the verdict `review` unless
    /// something failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uncertain: bool,
}

/// Five facial landmarks, pixels of the submitted image. `left_*` is the point on the image's
/// left (the subject's right).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Landmarks {
    /// Centre of the eye on the image's left.
    pub left_eye: [f32; 2],
    /// Centre of the eye on the image's right.
    pub right_eye: [f32; 2],
    /// Nose tip.
    pub nose: [f32; 2],
    /// Mouth corner on the image's left.
    pub mouth_left: [f32; 2],
    /// Mouth corner on the image's right.
    pub mouth_right: [f32; 2],
}

/// The face the checks were measured on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceInfo {
    /// Detector box `[x, y, w, h]` in pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Detector confidence, 0–1.
    pub score: f32,
    /// Refined landmarks.
    pub landmarks: Landmarks,
}

/// Which engine and models produced a result.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EngineInfo {
    /// photocheck engine version.
    pub version: String,
    /// Model role → `<name>@<sha256 prefix>`.
    pub models: BTreeMap<String, String>,
}

/// The result object of one photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Job id; absent for local `check` runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The window system's application number: on service results always present, `null`
    /// when none was uploaded (`Some(None)`); absent for local `check` runs (`None`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub application_id: Option<Option<String>>,
    /// The uploading window (from its token); service results only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_id: Option<String>,
    /// When the API accepted the photo (RFC 3339, UTC); service results only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
    /// When the worker finished the check (RFC 3339, UTC); service results only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
    /// Path, or `s3://bucket/key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Profile the photo was checked against.
    pub profile: String,
    /// Overall verdict, derived from `checks` by [`Verdict::from_checks`].
    pub verdict: Verdict,
    /// Every check run, in a fixed order.
    pub checks: Vec<Check>,
    /// The face measured, when one was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face: Option<FaceInfo>,
    /// Engine and model versions.
    pub engine: EngineInfo,
    /// Milliseconds per stage (`decode`, `detect`, `landmarks`, `checks`, `total`).
    pub timings_ms: BTreeMap<String, f64>,
    /// What `fix` did, for a photo uploaded with `fix=true` (service results only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<FixInfo>,
}

/// The outcome of `fix` on an uploaded photo, in its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixInfo {
    /// `fixed` (a new photo was made) or `refused` (what describes the person fails).
    pub status: String,
    /// Store key of the new photo (`GET /v1/photos/{id}/fixed`), when made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The new photo's verdict, when made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// What was changed (Chinese, for the clerk).
    #[serde(default)]
    pub changes: Vec<String>,
    /// Why nothing was made: each check and its message.
    #[serde(default)]
    pub reasons: Vec<FixReason>,
    /// The checks the new photo still fails (empty when it passes).
    #[serde(default)]
    pub failed: Vec<CheckCode>,
}

/// One reason `fix` refused a photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixReason {
    /// The check.
    pub code: CheckCode,
    /// The clerk's message.
    pub message: String,
}

/// A field that is present (even as `null`) deserializes to `Some`; an absent one takes the
/// `default` (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

impl CheckResult {
    /// The result of a photo the engine could not check (CONTRACT §2): verdict `review`, one
    /// check `engine.error`, `skipped` and uncertain, with `message` for the clerk.
    pub fn engine_error(profile: &str, engine: EngineInfo, message: &str) -> CheckResult {
        let checks = vec![Check {
            code: CheckCode::EngineError,
            status: Status::Skipped,
            value: None,
            min: None,
            max: None,
            unit: None,
            message: message.to_owned(),
            uncertain: true,
        }];
        CheckResult {
            id: None,
            application_id: None,
            window_id: None,
            submitted_at: None,
            checked_at: None,
            source: None,
            profile: profile.to_owned(),
            verdict: Verdict::from_checks(&checks),
            checks,
            face: None,
            engine,
            timings_ms: BTreeMap::new(),
            fix: None,
        }
    }

    /// The check with this code, if it was run.
    pub fn check(&self, code: CheckCode) -> Option<&Check> {
        self.checks.iter().find(|c| c.code == code)
    }

    /// Codes of the checks that failed.
    pub fn failed_codes(&self) -> Vec<CheckCode> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.code)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: CheckCode, status: Status, uncertain: bool) -> Check {
        Check {
            code,
            status,
            value: None,
            min: None,
            max: None,
            unit: None,
            message: String::new(),
            uncertain,
        }
    }

    #[test]
    fn an_engine_error_is_a_review_never_a_pass() {
        let r = CheckResult::engine_error("ga461", EngineInfo::default(), "引擎故障");
        assert_eq!(r.verdict, Verdict::Review);
        let c = r.check(CheckCode::EngineError).unwrap();
        assert_eq!(c.status, Status::Skipped);
        assert!(c.uncertain);
    }

    #[test]
    fn verdict_follows_the_contract() {
        use CheckCode::*;
        let pass = check(FileFormat, Status::Pass, false);
        let warn = check(FileSize, Status::Warn, false);
        let unsure = check(GeometryCrown, Status::Pass, true);
        let fail = check(FaceCount, Status::Fail, false);
        assert_eq!(
            Verdict::from_checks(&[pass.clone(), warn.clone()]),
            Verdict::Pass
        );
        assert_eq!(
            Verdict::from_checks(&[pass.clone(), unsure.clone()]),
            Verdict::Review
        );
        assert_eq!(Verdict::from_checks(&[unsure, fail, warn]), Verdict::Fail);
        assert_eq!(Verdict::from_checks(&[]), Verdict::Pass);
    }

    #[test]
    fn result_json_has_the_contract_field_names() {
        let result = CheckResult {
            id: None,
            application_id: None,
            window_id: None,
            submitted_at: None,
            checked_at: None,
            source: Some("a.jpg".into()),
            profile: "ga461".into(),
            verdict: Verdict::Pass,
            checks: vec![check(CheckCode::FileFormat, Status::Pass, false)],
            face: Some(FaceInfo {
                bbox: [1.0, 2.0, 3.0, 4.0],
                score: 0.9,
                landmarks: Landmarks {
                    left_eye: [0.0, 0.0],
                    right_eye: [0.0, 0.0],
                    nose: [0.0, 0.0],
                    mouth_left: [0.0, 0.0],
                    mouth_right: [0.0, 0.0],
                },
            }),
            engine: EngineInfo::default(),
            timings_ms: BTreeMap::new(),
            fix: None,
        };
        let v: serde_json::Value = serde_json::to_value(&result).unwrap();
        assert!(v.get("id").is_none());
        assert_eq!(v["face"]["box"][2], 3.0);
        assert_eq!(v["checks"][0]["code"], "file.format");
        assert_eq!(v["checks"][0]["status"], "pass");
        assert!(v["checks"][0].get("uncertain").is_none());
        let back: CheckResult = serde_json::from_value(v).unwrap();
        assert_eq!(back, result);
        // A local result names no application; a service result always does, null when none
        // was uploaded, and both read back as they were.
        assert!(serde_json::to_value(&result)
            .unwrap()
            .get("application_id")
            .is_none());
        let service = CheckResult {
            id: Some("01J".into()),
            application_id: Some(None),
            window_id: Some("w1".into()),
            submitted_at: Some("2026-12-04T08:00:00.120Z".into()),
            checked_at: Some("2026-12-04T08:00:00.145Z".into()),
            ..result
        };
        let v = serde_json::to_value(&service).unwrap();
        assert!(v["application_id"].is_null() && v.get("application_id").is_some());
        assert_eq!(v["window_id"], "w1");
        assert_eq!(serde_json::from_value::<CheckResult>(v).unwrap(), service);
        let with_id = CheckResult {
            application_id: Some(Some("4401".into())),
            ..service
        };
        let v = serde_json::to_value(&with_id).unwrap();
        assert_eq!(v["application_id"], "4401");
        assert_eq!(serde_json::from_value::<CheckResult>(v).unwrap(), with_id);
    }

    #[test]
    fn schema_is_valid_json_naming_every_code() {
        let schema: serde_json::Value = serde_json::from_str(RESULT_SCHEMA).unwrap();
        let codes = schema
            .pointer("/$defs/code/enum")
            .unwrap()
            .as_array()
            .unwrap();
        for code in CheckCode::ALL {
            assert!(codes.iter().any(|c| c == code.as_str()), "{code} missing");
        }
    }
}
