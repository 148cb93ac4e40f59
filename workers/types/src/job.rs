//! The job message on the jobs queue (`shared/CONTRACT.md` §4).

use serde::{Deserialize, Serialize};

/// One photo to check: where it is stored and how to check it. Persistent JSON on the jobs queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// Job id (ULID), also the result's id.
    pub id: String,
    /// S3 bucket holding the photo.
    pub bucket: String,
    /// S3 key of the photo.
    pub key: String,
    /// Check profile name (`ga461`, `icao`).
    pub profile: String,
    /// RFC 3339 time the API accepted the photo.
    pub submitted_at: String,
    /// The window system's application number, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// The submitting window, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_id: Option<String>,
    /// Make the compliant photo too (`POST /v1/photos?fix=true`); absent = false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fix: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_fields_are_omitted_and_accepted_when_missing() {
        let job = JobMessage {
            id: "01J".into(),
            bucket: "photos".into(),
            key: "a/b.jpg".into(),
            profile: "ga461".into(),
            submitted_at: "2026-11-29T12:00:00Z".into(),
            application_id: None,
            window_id: None,
            fix: false,
        };
        let json = serde_json::to_string(&job).unwrap();
        assert!(!json.contains("application_id") && !json.contains("fix"));
        let fixing = JobMessage {
            fix: true,
            ..job.clone()
        };
        let text = serde_json::to_string(&fixing).unwrap();
        assert!(text.contains("\"fix\":true"));
        assert_eq!(serde_json::from_str::<JobMessage>(&text).unwrap(), fixing);
        assert_eq!(serde_json::from_str::<JobMessage>(&json).unwrap(), job);
        assert!(serde_json::from_str::<JobMessage>(r#"{"id":"x"}"#).is_err());
    }
}
