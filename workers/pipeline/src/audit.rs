//! The audit log (`[audit]`): one JSON line per accountable event, apart from the diagnostic
//! log, for whoever must later answer "who sent this photo, what was decided, where did the
//! verdict go, when was it deleted".
//!
//! Each line carries `at` (RFC 3339, UTC, milliseconds), `event` and the photo's `id`, plus the
//! event's own fields. Events:
//! - `photo.accepted`: `window`, `profile`, `instance` (the API process);
//! - `photo.deleted`: `window`, `by` (`window` for `DELETE /v1/photos/{id}`);
//! - `result.stored`: `window`, `verdict` (a worker wrote the result);
//! - `result.delivered`: `window`, `verdict`, `receiver` (scheme, host and path of the
//!   central URL, never its query), `status`;
//! - `retention.deleted`: `kind` (`photo`, `result`, `idempotency`), `key` (the store key).
//!
//! Never photo bytes, file names, application ids or tokens. A line that cannot be written is
//! reported in the diagnostic log and does not stop the work it describes.

use photocheck_config::AuditSection;
use serde_json::{Map, Value};
use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Where audit lines go. Cheap to clone; clones share the file.
#[derive(Clone, Debug)]
pub struct Audit {
    sink: Sink,
}

#[derive(Clone, Debug)]
enum Sink {
    Off,
    Stdout,
    File(Arc<Mutex<File>>),
}

impl Audit {
    /// Opens the log `section` names: `-` = standard output, `off` = none, else a file opened
    /// for appending (created if missing, mode 0600).
    pub fn open(section: &AuditSection) -> Result<Audit, crate::PipelineError> {
        let sink = match section.path.trim() {
            "off" => Sink::Off,
            "-" | "" => Sink::Stdout,
            path => {
                let mut options = std::fs::OpenOptions::new();
                options.create(true).append(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let file = options
                    .open(path)
                    .map_err(|e| crate::PipelineError::Config(format!("audit.path {path}: {e}")))?;
                Sink::File(Arc::new(Mutex::new(file)))
            }
        };
        Ok(Audit { sink })
    }

    /// An audit log that records nothing (tests and tools that act on no one's behalf).
    pub fn off() -> Audit {
        Audit { sink: Sink::Off }
    }

    /// Writes one line: `at`, `event`, `id`, then `fields` (an object's members).
    pub fn record(&self, event: &str, id: &str, fields: Value) {
        if matches!(self.sink, Sink::Off) {
            return;
        }
        let mut line = Map::new();
        line.insert(
            "at".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        line.insert("event".into(), Value::String(event.to_owned()));
        line.insert("id".into(), Value::String(id.to_owned()));
        if let Value::Object(extra) = fields {
            line.extend(extra);
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        let written = match &self.sink {
            Sink::Off => Ok(()),
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|()| out.flush())
            }
            // One write per line on an O_APPEND file: lines of several processes never
            // interleave within a line.
            Sink::File(file) => file
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_all(text.as_bytes()),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, event, "cannot write the audit log");
        }
    }
}

/// `url` without credentials, query or fragment: what the audit log names as a receiver.
pub fn receiver_name(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..cut];
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_with_time_event_and_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let audit = Audit::open(&AuditSection {
            path: path.display().to_string(),
        })
        .unwrap();
        audit.record(
            "photo.accepted",
            "0190-id",
            serde_json::json!({"window": "w1"}),
        );
        audit
            .clone()
            .record("photo.deleted", "0190-id", Value::Null);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "photo.accepted");
        assert_eq!(lines[0]["window"], "w1");
        assert_eq!(lines[1]["id"], "0190-id");
        assert!(chrono::DateTime::parse_from_rfc3339(lines[1]["at"].as_str().unwrap()).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "audit log readable by others: {mode:o}");
        }
    }

    #[test]
    fn receivers_are_named_without_secrets() {
        assert_eq!(
            receiver_name("https://user:pw@central.example/r?token=x#f"),
            "https://central.example/r"
        );
        assert_eq!(receiver_name("http://h:1/p"), "http://h:1/p");
    }
}
