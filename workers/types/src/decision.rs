//! A reviewer's decision on a checked photo (`shared/CONTRACT.md` §4, "Reviewer decisions").
//!
//! The console's reviewers accept or reject photos whose verdict is `review` (or, by filter,
//! `fail`). The decision is delivered to the central system exactly like a result: the same
//! URL, the same signature, with its own `Idempotency-Key` ([`Decision::delivery_key`]) so the
//! receiver never takes it for a repeat of the result. Its JSON Schema is `decision.schema.json`.

use crate::{CheckCode, Verdict};
use serde::{Deserialize, Serialize};

/// The JSON Schema of the decision object.
pub const DECISION_SCHEMA: &str = include_str!("../decision.schema.json");

/// What the reviewer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionKind {
    /// The photo may be used: the engine's doubt (or failure) was overruled.
    Accept,
    /// The photo must be taken again.
    Reject,
}

impl DecisionKind {
    /// `accept` or `reject`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Accept => "accept",
            DecisionKind::Reject => "reject",
        }
    }

    /// Parses `accept` / `reject`.
    pub fn parse(text: &str) -> Option<DecisionKind> {
        match text {
            "accept" => Some(DecisionKind::Accept),
            "reject" => Some(DecisionKind::Reject),
            _ => None,
        }
    }
}

/// One reviewer decision. Delivered as JSON with `"object": "decision"` so a receiver that gets
/// results and decisions on one URL tells them apart (a result has no `object` field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Always `decision`.
    pub object: String,
    /// The photo's id (the result's `id`).
    pub id: String,
    /// The window system's application number, as in the result (`null` when none was given).
    pub application_id: Option<String>,
    /// The uploading window, as in the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_id: Option<String>,
    /// Accept or reject.
    pub decision: DecisionKind,
    /// For a rejection: the check whose defect is the reason (a stable check code); `null` when
    /// the reviewer gave only a note.
    pub reason_code: Option<CheckCode>,
    /// The reason's Chinese label, for the window's clerk (empty with no reason code).
    #[serde(default)]
    pub reason: String,
    /// The reviewer's free-text note (may be empty).
    #[serde(default)]
    pub note: String,
    /// The reviewer's log-in name.
    pub reviewer: String,
    /// When the decision was made (RFC 3339, UTC).
    pub decided_at: String,
    /// The engine's verdict that was reviewed.
    pub verdict: Verdict,
    /// When the engine's result was made (RFC 3339, UTC), as in the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
}

impl Decision {
    /// The value of `object` on every decision.
    pub const OBJECT: &'static str = "decision";

    /// The `Idempotency-Key` its delivery carries: `<id>.decision` (a result's is `<id>`).
    pub fn delivery_key(id: &str) -> String {
        format!("{id}.decision")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Decision {
        Decision {
            object: Decision::OBJECT.into(),
            id: "0190d0a4-0000-7000-8000-000000000001".into(),
            application_id: Some("4401-2026-000123".into()),
            window_id: Some("gz-tianhe-03".into()),
            decision: DecisionKind::Reject,
            reason_code: Some(CheckCode::BackgroundColor),
            reason: CheckCode::BackgroundColor.label_zh().into(),
            note: String::new(),
            reviewer: "li".into(),
            decided_at: "2026-12-06T03:00:00.000Z".into(),
            verdict: Verdict::Review,
            checked_at: Some("2026-12-06T02:59:00.000Z".into()),
        }
    }

    #[test]
    fn round_trips_with_the_contract_field_names() {
        let d = sample();
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["object"], "decision");
        assert_eq!(v["decision"], "reject");
        assert_eq!(v["reason_code"], "background.color");
        assert_eq!(v["verdict"], "review");
        assert_eq!(serde_json::from_value::<Decision>(v).unwrap(), d);
        let accept = Decision {
            decision: DecisionKind::Accept,
            reason_code: None,
            reason: String::new(),
            application_id: None,
            ..sample()
        };
        let v = serde_json::to_value(&accept).unwrap();
        assert!(v["reason_code"].is_null() && v["application_id"].is_null());
        assert_eq!(serde_json::from_value::<Decision>(v).unwrap(), accept);
    }

    #[test]
    fn schema_names_every_field_it_requires_and_every_code() {
        let schema: serde_json::Value = serde_json::from_str(DECISION_SCHEMA).unwrap();
        let v = serde_json::to_value(sample()).unwrap();
        let props = schema["properties"].as_object().unwrap();
        for key in v.as_object().unwrap().keys() {
            assert!(props.contains_key(key), "schema lacks {key}");
        }
        for required in schema["required"].as_array().unwrap() {
            assert!(v.get(required.as_str().unwrap()).is_some(), "{required}");
        }
        let codes = schema.pointer("/properties/reason_code/enum").unwrap();
        for code in CheckCode::ALL {
            assert!(codes.as_array().unwrap().iter().any(|c| c == code.as_str()));
        }
        assert_eq!(DecisionKind::parse("accept"), Some(DecisionKind::Accept));
        assert_eq!(DecisionKind::parse("ok"), None);
        assert_eq!(Decision::delivery_key("x"), "x.decision");
    }
}
