//! Statistics from stored results and decisions: an index in the object store whose keys are
//! the figures, so a period's statistics are a few listings, survive any restart and agree with
//! what was delivered.
//!
//! Each result gets one empty object `index/v1/r/<day>/<window>/<id>~<verdict>~<checked ms>~<codes>`
//! (the codes that failed, `+`-joined; written by the console's indexer from the stats queue);
//! each decision `index/v1/d/<day>/<window>/<id>~<accept|reject>~<reason code>~<turnaround s>`
//! (written when it is made). `<day>` is the centre's calendar day (`console.utc_offset_min`) of
//! the result's `checked_at`. No applicant identifier is in a key: the photo id and the window.

use crate::broker::ConsumerSpec;
use crate::error::StoreError;
use crate::store::Store;
use chrono::{DateTime, Duration as Days, FixedOffset, NaiveDate, Utc};
use photocheck_types::{CheckResult, Decision, DecisionKind, Status, Verdict};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Prefix of the results' index.
pub const RESULTS_PREFIX: &str = "index/v1/r/";
/// Prefix of the decisions' index.
pub const DECISIONS_PREFIX: &str = "index/v1/d/";

/// A window id made safe for one key segment: letters, digits, `-`, `_` and `.` kept, any other
/// byte as `%XX`; no window becomes `-`.
pub fn key_segment(window: Option<&str>) -> String {
    let Some(window) = window.filter(|w| !w.is_empty()) else {
        return "-".into();
    };
    let mut out = String::new();
    for b in window.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unsegment(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&segment[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The centre's calendar day of an RFC 3339 instant.
pub fn day_of(instant: &str, utc_offset_min: i32) -> Option<NaiveDate> {
    let t = DateTime::parse_from_rfc3339(instant).ok()?;
    let offset = FixedOffset::east_opt(utc_offset_min.clamp(-1439, 1439) * 60)?;
    Some(t.with_timezone(&offset).date_naive())
}

fn millis(instant: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(instant)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The index key of a service result (`None` without `id` or `checked_at`).
pub fn result_index_key(result: &CheckResult, utc_offset_min: i32) -> Option<String> {
    let id = result.id.as_deref()?;
    let checked = result.checked_at.as_deref()?;
    let day = day_of(checked, utc_offset_min)?;
    let codes: Vec<&str> = result
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.code.as_str())
        .collect();
    Some(format!(
        "{RESULTS_PREFIX}{day}/{}/{}~{}~{}~{}",
        key_segment(result.window_id.as_deref()),
        key_segment(Some(id)),
        result.verdict.as_str(),
        millis(checked)?,
        if codes.is_empty() {
            "-".into()
        } else {
            codes.join("+")
        }
    ))
}

/// The index key of a decision (`None` without the result's `checked_at`).
pub fn decision_index_key(decision: &Decision, utc_offset_min: i32) -> Option<String> {
    let checked = decision.checked_at.as_deref()?;
    let day = day_of(checked, utc_offset_min)?;
    let turnaround_s = (millis(&decision.decided_at)? - millis(checked)?).max(0) / 1000;
    Some(format!(
        "{DECISIONS_PREFIX}{day}/{}/{}~{}~{}~{turnaround_s}",
        key_segment(decision.window_id.as_deref()),
        key_segment(Some(&decision.id)),
        decision.decision.as_str(),
        decision.reason_code.map_or("-", |c| c.as_str()),
    ))
}

/// The city and the office of a window id by the naming convention `<city>-<office>-<window>`
/// (`gz-tianhe-03` → `gz`, `gz-tianhe`); a window without dashes is its own city and office.
pub fn city_office(window: &str) -> (String, String) {
    let mut parts = window.splitn(3, '-');
    let city = parts.next().unwrap_or_default().to_owned();
    let office = match parts.next() {
        Some(o) => format!("{city}-{o}"),
        None => city.clone(),
    };
    (city, office)
}

/// Which photos a statistics query covers: days `from..=to` of the centre's calendar, and
/// optionally one city, office or window (by prefix of the window id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// First day.
    pub from: NaiveDate,
    /// Last day (inclusive).
    pub to: NaiveDate,
    /// A city, office or window id: windows equal to it or starting with it and `-`.
    pub scope: Option<String>,
}

impl Filter {
    fn covers(&self, window: &str) -> bool {
        self.scope
            .as_deref()
            .is_none_or(|s| s.is_empty() || window == s || window.starts_with(&format!("{s}-")))
    }

    /// The days in the period (at most 366, so a typo cannot ask for centuries).
    pub fn days(&self) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut d = self.from;
        while d <= self.to && out.len() < 366 {
            out.push(d);
            d += Days::days(1);
        }
        out
    }
}

/// One day of one window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// Photos checked.
    pub photos: u32,
    /// Verdict `pass`.
    pub pass: u32,
    /// Verdict `fail`.
    pub fail: u32,
    /// Verdict `review`.
    pub review: u32,
    /// Reviewer decisions: accepted.
    pub accepted: u32,
    /// Reviewer decisions: rejected.
    pub rejected: u32,
    /// Sum of review turnarounds (result → decision), seconds.
    pub turnaround_s: u64,
    /// Failed checks: code → photos.
    pub reasons: BTreeMap<String, u32>,
}

impl Row {
    fn add(&mut self, other: &Row) {
        self.photos += other.photos;
        self.pass += other.pass;
        self.fail += other.fail;
        self.review += other.review;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.turnaround_s += other.turnaround_s;
        for (k, v) in &other.reasons {
            *self.reasons.entry(k.clone()).or_default() += v;
        }
    }

    /// Share of photos that passed, 0–1 (0 with no photos).
    pub fn pass_rate(&self) -> f64 {
        ratio(self.pass, self.photos)
    }

    /// Share of photos sent to review, 0–1.
    pub fn review_rate(&self) -> f64 {
        ratio(self.review, self.photos)
    }

    /// Mean review turnaround in minutes (`None` without decisions).
    pub fn mean_turnaround_min(&self) -> Option<f64> {
        let n = self.accepted + self.rejected;
        (n > 0).then(|| self.turnaround_s as f64 / f64::from(n) / 60.0)
    }

    /// The most frequent failure codes, most frequent first (ties by code).
    pub fn top_reasons(&self, n: usize) -> Vec<(String, u32)> {
        let mut v: Vec<(String, u32)> = self.reasons.iter().map(|(k, v)| (k.clone(), *v)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        0.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

/// Statistics of a period: per (day, window), and the totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// (day, window id) → figures.
    pub rows: BTreeMap<(NaiveDate, String), Row>,
}

impl Report {
    /// Adds one index key (results or decisions); keys that do not parse are ignored.
    pub fn add_key(&mut self, key: &str, filter: &Filter) {
        let (decision, rest) = if let Some(r) = key.strip_prefix(RESULTS_PREFIX) {
            (false, r)
        } else if let Some(r) = key.strip_prefix(DECISIONS_PREFIX) {
            (true, r)
        } else {
            return;
        };
        let mut path = rest.splitn(3, '/');
        let (Some(day), Some(window), Some(name)) = (path.next(), path.next(), path.next()) else {
            return;
        };
        let Ok(day) = day.parse::<NaiveDate>() else {
            return;
        };
        let window = unsegment(window);
        if day < filter.from || day > filter.to || !filter.covers(&window) {
            return;
        }
        let fields: Vec<&str> = name.split('~').collect();
        if fields.len() != 4 {
            return;
        }
        let row = self.rows.entry((day, window)).or_default();
        if decision {
            match DecisionKind::parse(fields[1]) {
                Some(DecisionKind::Accept) => row.accepted += 1,
                Some(DecisionKind::Reject) => row.rejected += 1,
                None => return,
            }
            row.turnaround_s += fields[3].parse::<u64>().unwrap_or(0);
        } else {
            row.photos += 1;
            match fields[1] {
                "pass" => row.pass += 1,
                "fail" => row.fail += 1,
                _ => row.review += 1,
            }
            if fields[3] != "-" {
                for code in fields[3].split('+') {
                    *row.reasons.entry(code.to_owned()).or_default() += 1;
                }
            }
        }
    }

    /// Everything added together.
    pub fn total(&self) -> Row {
        let mut t = Row::default();
        for row in self.rows.values() {
            t.add(row);
        }
        t
    }

    /// Per day, all windows together.
    pub fn by_day(&self) -> BTreeMap<NaiveDate, Row> {
        let mut out: BTreeMap<NaiveDate, Row> = BTreeMap::new();
        for ((day, _), row) in &self.rows {
            out.entry(*day).or_default().add(row);
        }
        out
    }

    /// Per day of the filter's period (days without photos as zeros), all windows together.
    pub fn by_day_in(&self, filter: &Filter) -> BTreeMap<NaiveDate, Row> {
        let mut out = self.by_day();
        for day in filter.days() {
            out.entry(day).or_default();
        }
        out
    }

    /// Per office (`city-office`), all days together.
    pub fn by_office(&self) -> BTreeMap<String, Row> {
        let mut out: BTreeMap<String, Row> = BTreeMap::new();
        for ((_, window), row) in &self.rows {
            out.entry(city_office(window).1).or_default().add(row);
        }
        out
    }

    /// Photos checked at or after `since_ms` (Unix milliseconds) in the keys given: the
    /// operations page's throughput.
    pub fn count_since(keys: &[String], since_ms: i64) -> u32 {
        keys.iter()
            .filter_map(|k| k.rsplit('/').next())
            .filter_map(|name| name.split('~').nth(2)?.parse::<i64>().ok())
            .filter(|&t| t >= since_ms)
            .count() as u32
    }
}

/// Reads the index for `filter` from the store.
pub async fn collect(store: &Store, filter: &Filter) -> Result<Report, StoreError> {
    let mut report = Report::default();
    // One window's listing is enough when the scope names a window exactly; otherwise the day.
    for day in filter.days() {
        for prefix in [RESULTS_PREFIX, DECISIONS_PREFIX] {
            for key in store.list_all(&format!("{prefix}{day}/")).await? {
                report.add_key(&key, filter);
            }
        }
    }
    Ok(report)
}

/// The statistics as CSV that Excel opens as UTF-8 (byte-order mark, CRLF): one line per day
/// and window. Cells that a spreadsheet would run as a formula are quoted as text.
pub fn csv(report: &Report) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(
        "日期,城市,办证点,窗口,照片数,合格,不合格,待复核,合格率,复核率,复核通过,复核退回,平均复核用时(分钟),主要不合格原因\r\n",
    );
    for ((day, window), row) in &report.rows {
        let (city, office) = city_office(window);
        let reasons: Vec<String> = row
            .top_reasons(3)
            .into_iter()
            .map(|(code, n)| format!("{}({n})", reason_label(&code)))
            .collect();
        let cells = [
            day.to_string(),
            city,
            office,
            window.clone(),
            row.photos.to_string(),
            row.pass.to_string(),
            row.fail.to_string(),
            row.review.to_string(),
            format!("{:.1}%", row.pass_rate() * 100.0),
            format!("{:.1}%", row.review_rate() * 100.0),
            row.accepted.to_string(),
            row.rejected.to_string(),
            row.mean_turnaround_min()
                .map_or(String::new(), |m| format!("{m:.1}")),
            reasons.join("；"),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_cell(text: &str) -> String {
    let guarded =
        if text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err() {
            format!("'{text}")
        } else {
            text.to_owned()
        };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The Chinese label of a check code (the code itself when unknown).
pub fn reason_label(code: &str) -> String {
    photocheck_types::CheckCode::parse(code)
        .map_or_else(|| code.to_owned(), |c| c.label_zh().to_owned())
}

/// Writes a result's index key, retrying while the store is unavailable (an outage is a wait);
/// false on shutdown before it was written.
pub async fn index_result(
    store: &Store,
    result: &CheckResult,
    utc_offset_min: i32,
    shutdown: &CancellationToken,
) -> bool {
    let Some(key) = result_index_key(result, utc_offset_min) else {
        return true;
    };
    put_empty(store, &key, shutdown).await
}

/// Writes an empty object, retrying with backoff until it is stored or `shutdown`.
pub async fn put_empty(store: &Store, key: &str, shutdown: &CancellationToken) -> bool {
    let mut attempt = 0u32;
    loop {
        match store
            .put(key, bytes::Bytes::new(), "application/octet-stream")
            .await
        {
            Ok(()) => return true,
            Err(e) => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "statistics index: store unavailable; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(crate::delivery::backoff(attempt.min(8), 200, 10_000)) => {}
                    _ = shutdown.cancelled() => return false,
                }
            }
        }
    }
}

/// Consumes the stats queue into the index until `shutdown`, reconnecting after broker
/// failures. A message is acked only once its key is stored; one that is not a result is
/// acked with a warning (it can be counted nowhere).
pub async fn run_indexer(
    amqp: photocheck_config::AmqpSection,
    store: Store,
    utc_offset_min: i32,
    shutdown: CancellationToken,
) {
    if amqp.stats_queue.is_empty() {
        tracing::warn!("amqp.stats_queue is empty: the statistics get no new results");
        return;
    }
    let store = Arc::new(store);
    let tracker = TaskTracker::new();
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        let spec = ConsumerSpec {
            queue: &amqp.stats_queue,
            prefetch: 16,
            what: "stats",
            grace: Duration::from_secs(5),
        };
        let outcome = crate::broker::consume(
            &amqp,
            spec,
            &shutdown,
            &tracker,
            |_| {},
            |delivery| {
                let store = Arc::clone(&store);
                let shutdown = shutdown.clone();
                async move {
                    use lapin::options::BasicAckOptions;
                    match serde_json::from_slice::<CheckResult>(&delivery.data) {
                        Ok(result) => {
                            if !index_result(&store, &result, utc_offset_min, &shutdown).await {
                                return; // unacked: redelivered after the restart
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "stats queue: not a result; skipped");
                        }
                    }
                    let _ = delivery.acker.ack(BasicAckOptions::default()).await;
                }
            },
        )
        .await;
        match outcome {
            Ok(()) => break,
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "statistics indexer lost the broker; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(crate::delivery::backoff(failures.min(6), 500, 10_000)) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
    }
}

/// A stacked bar chart of photos per day (pass, review, fail) as standalone SVG, with the pass
/// rate printed over each bar.
pub fn daily_chart_svg(by_day: &BTreeMap<NaiveDate, Row>) -> String {
    let (w, h, left, bottom, top) = (640.0_f64, 220.0_f64, 44.0_f64, 28.0_f64, 32.0_f64);
    let max = by_day.values().map(|r| r.photos).max().unwrap_or(0).max(1) as f64;
    let n = by_day.len().max(1) as f64;
    let slot = (w - left - 8.0) / n;
    let bar = (slot * 0.7).clamp(2.0, 40.0);
    let scale = (h - bottom - top) / max;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {w} {h}\" \
         role=\"img\" aria-label=\"每日照片数与合格率\">"
    );
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#888\"/>\
         <text x=\"4\" y=\"{ty}\" font-size=\"11\">{max}</text>",
        y = h - bottom,
        x2 = w - 4.0,
        ty = top + 4.0,
        max = max as u32
    ));
    for (i, (day, row)) in by_day.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = h - bottom;
        for (count, colour) in [
            (row.pass, "#2e7d32"),
            (row.review, "#f9a825"),
            (row.fail, "#c62828"),
        ] {
            let height = f64::from(count) * scale;
            y -= height;
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{height:.1}\" fill=\"{colour}\"/>"
            ));
        }
        svg.push_str(&format!(
            "<text x=\"{cx:.1}\" y=\"{ly:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            day.format("%m-%d"),
            cx = x + bar / 2.0,
            ly = h - bottom + 14.0,
        ));
        if row.photos > 0 {
            svg.push_str(&format!(
                "<text x=\"{cx:.1}\" y=\"{ry:.1}\" font-size=\"10\" text-anchor=\"middle\">{:.0}%</text>",
                row.pass_rate() * 100.0,
                cx = x + bar / 2.0,
                ry = y - 3.0,
            ));
        }
    }
    svg.push_str(
        "<g font-size=\"11\"><rect x=\"460\" y=\"2\" width=\"10\" height=\"10\" fill=\"#2e7d32\"/>\
         <text x=\"474\" y=\"11\">合格</text><rect x=\"510\" y=\"2\" width=\"10\" height=\"10\" \
         fill=\"#f9a825\"/><text x=\"524\" y=\"11\">待复核</text><rect x=\"572\" y=\"2\" width=\"10\" \
         height=\"10\" fill=\"#c62828\"/><text x=\"586\" y=\"11\">不合格</text></g></svg>",
    );
    svg
}

/// Horizontal bars of the most frequent failure reasons, as SVG.
pub fn reasons_chart_svg(total: &Row) -> String {
    let top = total.top_reasons(8);
    let max = top.first().map_or(1, |t| t.1).max(1) as f64;
    let h = 24.0 * top.len().max(1) as f64 + 8.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 640 {h}\" \
         role=\"img\" aria-label=\"主要不合格原因\">"
    );
    if top.is_empty() {
        svg.push_str("<text x=\"320\" y=\"20\" font-size=\"12\" text-anchor=\"middle\">（本期无不合格照片）</text>");
    }
    for (i, (code, n)) in top.iter().enumerate() {
        let y = 6.0 + 24.0 * i as f64;
        let width = 380.0 * f64::from(*n) / max;
        svg.push_str(&format!(
            "<text x=\"196\" y=\"{ty:.0}\" font-size=\"12\" text-anchor=\"end\">{}</text>\
             <rect x=\"204\" y=\"{y:.0}\" width=\"{width:.1}\" height=\"16\" fill=\"#c62828\"/>\
             <text x=\"{nx:.1}\" y=\"{ty:.0}\" font-size=\"12\">{n}</text>",
            super::pages::escape(&reason_label(code)),
            ty = y + 12.0,
            nx = 208.0 + width,
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// Today in the centre's calendar.
pub fn today(utc_offset_min: i32) -> NaiveDate {
    let offset = FixedOffset::east_opt(utc_offset_min.clamp(-1439, 1439) * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    Utc::now().with_timezone(&offset).date_naive()
}

/// The verdict's Chinese word.
pub fn verdict_label(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "合格",
        Verdict::Fail => "不合格",
        Verdict::Review => "待复核",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use photocheck_types::{Check, CheckCode, EngineInfo};

    fn result(
        id: &str,
        window: &str,
        verdict: Verdict,
        fails: &[CheckCode],
        at: &str,
    ) -> CheckResult {
        let checks = fails
            .iter()
            .map(|&code| Check {
                code,
                status: Status::Fail,
                value: None,
                min: None,
                max: None,
                unit: None,
                message: String::new(),
                uncertain: false,
            })
            .collect();
        CheckResult {
            id: Some(id.into()),
            application_id: Some(None),
            window_id: Some(window.into()),
            submitted_at: Some(at.into()),
            checked_at: Some(at.into()),
            source: None,
            profile: "ga461".into(),
            verdict,
            checks,
            face: None,
            engine: EngineInfo::default(),
            timings_ms: BTreeMap::new(),
            fix: None,
        }
    }

    #[test]
    fn keys_carry_the_figures_and_the_centres_day() {
        // 17:30 UTC is the next day in Guangdong (UTC+8).
        let r = result(
            "a1",
            "gz-tianhe-03",
            Verdict::Fail,
            &[CheckCode::BackgroundColor, CheckCode::GeometryCrown],
            "2026-12-05T17:30:00Z",
        );
        let key = result_index_key(&r, 480).unwrap();
        assert_eq!(
            key,
            "index/v1/r/2026-12-06/gz-tianhe-03/a1~fail~1796491800000~background.color+geometry.crown"
        );
        assert!(result_index_key(&r, 0).unwrap().contains("/2026-12-05/"));
        assert_eq!(key_segment(Some("a/b c")), "a%2Fb%20c");
        assert_eq!(unsegment("a%2Fb%20c"), "a/b c");
        assert_eq!(key_segment(None), "-");
        assert_eq!(
            city_office("gz-tianhe-03"),
            ("gz".into(), "gz-tianhe".into())
        );
        assert_eq!(
            city_office("counter7"),
            ("counter7".into(), "counter7".into())
        );
    }

    #[test]
    fn a_report_counts_verdicts_reasons_and_decisions_in_its_scope() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let filter = Filter {
            from: day("2026-12-06"),
            to: day("2026-12-06"),
            scope: Some("gz-tianhe".into()),
        };
        let mut report = Report::default();
        let at = "2026-12-06T02:00:00Z";
        for r in [
            result("1", "gz-tianhe-03", Verdict::Pass, &[], at),
            result(
                "2",
                "gz-tianhe-03",
                Verdict::Fail,
                &[CheckCode::BackgroundColor],
                at,
            ),
            result("3", "gz-tianhe-04", Verdict::Review, &[], at),
            result(
                "4",
                "gz-tianhe-04",
                Verdict::Fail,
                &[CheckCode::BackgroundColor, CheckCode::PoseYaw],
                at,
            ),
            result("5", "gz-yuexiu-01", Verdict::Pass, &[], at),
            result(
                "6",
                "gz-tianhe-03",
                Verdict::Pass,
                &[],
                "2026-12-07T02:00:00Z",
            ),
        ] {
            report.add_key(&result_index_key(&r, 480).unwrap(), &filter);
        }
        let decision = Decision {
            object: Decision::OBJECT.into(),
            id: "3".into(),
            application_id: None,
            window_id: Some("gz-tianhe-04".into()),
            decision: DecisionKind::Reject,
            reason_code: Some(CheckCode::FaceGlasses),
            reason: String::new(),
            note: String::new(),
            reviewer: "li".into(),
            decided_at: "2026-12-06T02:06:00Z".into(),
            verdict: Verdict::Review,
            checked_at: Some(at.into()),
        };
        let dkey = decision_index_key(&decision, 480).unwrap();
        assert!(
            dkey.ends_with("/gz-tianhe-04/3~reject~face.glasses~360"),
            "{dkey}"
        );
        report.add_key(&dkey, &filter);
        report.add_key("index/v1/r/garbage", &filter);
        let t = report.total();
        assert_eq!((t.photos, t.pass, t.fail, t.review), (4, 1, 2, 1));
        assert_eq!((t.accepted, t.rejected), (0, 1));
        assert_eq!(t.mean_turnaround_min(), Some(6.0));
        assert_eq!(t.top_reasons(1), vec![("background.color".to_owned(), 2)]);
        assert_eq!(report.by_office().len(), 1);
        assert!((t.pass_rate() - 0.25).abs() < 1e-9);
        let text = csv(&report);
        assert!(text.starts_with('\u{feff}'));
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[1].starts_with("2026-12-06,gz,gz-tianhe,gz-tianhe-03,2,1,1,0,50.0%"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains("背景不是白色(1)"), "{}", lines[2]);
        assert_eq!(csv_cell("=cmd()"), "'=cmd()");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("-3"), "-3");
        let svg = daily_chart_svg(&report.by_day());
        assert!(svg.starts_with("<svg") && svg.contains("25%"));
        assert!(reasons_chart_svg(&t).contains("背景不是白色"));
        assert_eq!(Report::count_since(&[dkey.replace("~360", "~1")], 0), 0);
    }
}
