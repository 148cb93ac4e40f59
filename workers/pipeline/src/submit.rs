//! `photocheck submit`: uploads photos like a window system would, with bounded concurrency and
//! progress reported to a [`Progress`] (the command line draws a bar); with `wait`, polls each photo until its result is done and prints the result
//! object (JSON lines, `source` set to the local path) as it arrives.
//!
//! Each upload carries an `Idempotency-Key` unique to this run and file, so the retries it makes
//! after a 503 (honouring `Retry-After`) or a lost connection never queue a photo twice.

use crate::tls::ClientTls;
use crate::PipelineError;
use futures::stream::{self, StreamExt};
use reqwest::StatusCode;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to upload and how.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// Base URL of the ingest API.
    pub api: String,
    /// Bearer token of the window.
    pub token: String,
    /// Uploads in flight.
    pub concurrency: usize,
    /// Poll for results and print them.
    pub wait: bool,
    /// Longest wait for results with `wait`; the photos still open are then reported.
    pub wait_timeout: Duration,
    /// Poll interval with `wait`.
    pub poll_interval: Duration,
    /// Attempts per upload on 503 or connection failure.
    pub max_attempts: u32,
    /// Profile to ask for (`None`: the server's default).
    pub profile: Option<String>,
    /// Files and folders (searched recursively for images).
    pub paths: Vec<PathBuf>,
    /// Roots trusted and client certificate presented to an `https://` API.
    pub tls: ClientTls,
}

/// One photo's outcome.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// Local path.
    pub path: PathBuf,
    /// Job id, when accepted.
    pub id: Option<String>,
    /// Why the API refused the photo itself (not an image, too large, a key reused with
    /// another photo): the photo's fault, like a photo that fails its check.
    pub refused: Option<String>,
    /// What went wrong on the way (API unreachable, unauthorised, no result in time).
    pub error: Option<String>,
    /// Verdict, with `wait`.
    pub verdict: Option<String>,
    /// Seconds from the upload's start to the result being seen done (with `wait`).
    pub latency_s: Option<f64>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct SubmitReport {
    /// Every photo, in input order.
    pub photos: Vec<Submitted>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

impl SubmitReport {
    /// Photos accepted by the API.
    pub fn accepted(&self) -> usize {
        self.photos.iter().filter(|p| p.id.is_some()).count()
    }

    /// Photos the API refused or that could not be uploaded.
    pub fn rejected(&self) -> usize {
        self.photos.len() - self.accepted()
    }

    /// Photos the API refused for what they are (not an image, too large).
    pub fn refused(&self) -> usize {
        self.photos.iter().filter(|p| p.refused.is_some()).count()
    }

    /// Process exit status, as `photocheck check`: 2 if a photo could not be submitted or its
    /// result not read in time, 1 if the API refused a file as not a photo or a waited-for
    /// result is `fail` or `review` (the photo's fault, as in `check`), else 0.
    pub fn exit_code(&self) -> u8 {
        if self.photos.iter().any(|p| p.error.is_some()) {
            2
        } else if self
            .photos
            .iter()
            .any(|p| p.refused.is_some() || p.verdict.as_deref().is_some_and(|v| v != "pass"))
        {
            1
        } else {
            0
        }
    }
}

const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"];

/// The image files under `paths` (files as given; folders recursively, sorted).
pub fn collect_images(paths: &[PathBuf]) -> Result<Vec<PathBuf>, PipelineError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out)?;
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut out)
                .map_err(|e| PipelineError::Submit(format!("{}: {e}", path.display())))?;
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(PipelineError::Submit(format!(
                "{}: no such file or folder",
                path.display()
            )));
        }
    }
    Ok(out)
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("bmp") => "image/bmp",
        Some("gif") => "image/gif",
        Some("tif" | "tiff") => "image/tiff",
        _ => "image/jpeg",
    }
}

struct Client {
    http: reqwest::Client,
    api: String,
    token: String,
    max_attempts: u32,
    profile: Option<String>,
    run: String,
}

/// Times one upload waits out a 429 before those count as failed attempts.
const MAX_SLOWDOWNS: u32 = 120;

/// How one upload ended.
enum Upload {
    Accepted(String),
    /// The API refused the file itself (413, 415, 422).
    Refused(String),
    Failed(String),
}

/// The `Idempotency-Key` of one file in one run: the run's id and a digest of the path, so the
/// header is plain ASCII whatever the file is called (Chinese names included) and no local
/// file name reaches the service.
fn idempotency_key(run: &str, path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    format!("{run}:{}", &hex::encode(digest)[..32])
}

impl Client {
    async fn upload(&self, path: &Path) -> Upload {
        match self.try_upload(path).await {
            Ok(Ok(id)) => Upload::Accepted(id),
            Ok(Err(refused)) => Upload::Refused(refused),
            Err(e) => Upload::Failed(e),
        }
    }

    async fn try_upload(&self, path: &Path) -> Result<Result<String, String>, String> {
        let bytes = tokio::fs::read(path).await.map_err(|e| e.to_string())?;
        let key = idempotency_key(&self.run, path);
        let url = format!("{}/v1/photos", self.api.trim_end_matches('/'));
        let mut attempt = 0;
        let mut slowed = 0u32;
        loop {
            attempt += 1;
            let request = self
                .http
                .post(&url)
                .bearer_auth(&self.token)
                .header("idempotency-key", &key);
            let request = match &self.profile {
                None => request
                    .header("content-type", content_type(path))
                    .body(bytes.clone()),
                Some(profile) => {
                    let part = reqwest::multipart::Part::bytes(bytes.clone())
                        .file_name("photo")
                        .mime_str(content_type(path))
                        .map_err(|e| e.to_string())?;
                    let form = reqwest::multipart::Form::new().part("photo", part).text(
                        "metadata",
                        serde_json::json!({"profile": profile}).to_string(),
                    );
                    request.multipart(form)
                }
            };
            let (retry_after, reason) = match request.send().await {
                Ok(response) if response.status() == StatusCode::ACCEPTED => {
                    let body: serde_json::Value =
                        response.json().await.map_err(|e| e.to_string())?;
                    return body["id"]
                        .as_str()
                        .map(|id| Ok(id.to_owned()))
                        .ok_or_else(|| "202 without an id".to_owned());
                }
                Ok(response)
                    if matches!(
                        response.status(),
                        StatusCode::PAYLOAD_TOO_LARGE
                            | StatusCode::UNSUPPORTED_MEDIA_TYPE
                            | StatusCode::UNPROCESSABLE_ENTITY
                    ) =>
                {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    return Ok(Err(format!("refused ({status}): {text}")));
                }
                Ok(response)
                    if response.status() == StatusCode::SERVICE_UNAVAILABLE
                        || response.status() == StatusCode::TOO_MANY_REQUESTS =>
                {
                    let secs = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1);
                    (
                        Duration::from_secs(secs.min(30)),
                        response.status().as_u16().to_string(),
                    )
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    return Err(format!("{status}: {text}"));
                }
                Err(e) => (Duration::from_secs(1), e.to_string()),
            };
            // 429 asks this window to slow down: not a failed attempt (bounded by rounds).
            if reason == "429" && slowed < MAX_SLOWDOWNS {
                slowed += 1;
                attempt -= 1;
            } else if attempt >= self.max_attempts.max(1) {
                return Err(format!("gave up after {attempt} attempts: {reason}"));
            }
            tokio::time::sleep(retry_after).await;
        }
    }

    async fn poll(&self, id: &str) -> Result<Option<serde_json::Value>, String> {
        let url = format!("{}/v1/photos/{id}", self.api.trim_end_matches('/'));
        let response = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(response.status().to_string());
        }
        let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
        Ok((body["status"] == "done").then(|| body["result"].clone()))
    }
}

/// Where [`submit_with`] reports its progress: the command line draws a bar; [`Quiet`] only
/// prints the notes to stderr. Every method has a default, so an implementation picks.
pub trait Progress: Send + Sync {
    /// A phase starts (`uploading`, `checking`) with `total` steps.
    fn start(&self, _phase: &str, _total: u64) {}
    /// One step of the phase is done.
    fn step(&self) {}
    /// A line for the person running it (a refused file, a photo still open).
    fn note(&self, line: &str) {
        eprintln!("{line}");
    }
    /// Runs `f`, which writes to the output, without tearing a bar.
    fn suspend(&self, f: &mut dyn FnMut()) {
        f()
    }
    /// The phase is over.
    fn finish(&self) {}
}

/// No progress display; notes go to stderr.
pub struct Quiet;

impl Progress for Quiet {}

/// Uploads every image under `options.paths`; with `wait`, writes each result to `out` as one
/// JSON line when it is done.
pub async fn submit(
    options: SubmitOptions,
    out: &mut (dyn Write + Send),
) -> Result<SubmitReport, PipelineError> {
    submit_with(options, out, &Quiet).await
}

/// [`submit`], reporting progress to `progress`.
pub async fn submit_with(
    options: SubmitOptions,
    out: &mut (dyn Write + Send),
    progress: &dyn Progress,
) -> Result<SubmitReport, PipelineError> {
    let files = collect_images(&options.paths)?;
    let client = Client {
        http: api_client(&options.tls)?,
        api: options.api.clone(),
        token: options.token.clone(),
        max_attempts: options.max_attempts,
        profile: options.profile.clone(),
        run: uuid::Uuid::now_v7().to_string(),
    };
    progress.start("uploading", files.len() as u64);
    let started = Instant::now();
    let client = &client;
    let uploaded: Vec<(Submitted, Instant)> = stream::iter(files.iter().cloned())
        .map(|path| async move {
            let t = Instant::now();
            let outcome = client.upload(&path).await;
            progress.step();
            let (id, refused, error) = match outcome {
                Upload::Accepted(id) => (Some(id), None, None),
                Upload::Refused(why) => (None, Some(why), None),
                Upload::Failed(e) => (None, None, Some(e)),
            };
            if let Some(why) = refused.as_ref().or(error.as_ref()) {
                progress.note(&format!("{}: {why}", path.display()));
            }
            let photo = Submitted {
                path,
                id,
                refused,
                error,
                verdict: None,
                latency_s: None,
            };
            (photo, t)
        })
        .buffered(options.concurrency.max(1))
        .collect()
        .await;
    let (mut photos, upload_starts): (Vec<Submitted>, Vec<Instant>) = uploaded.into_iter().unzip();
    progress.finish();

    if options.wait {
        let waiting = photos.iter().filter(|p| p.id.is_some()).count() as u64;
        progress.start("checking", waiting);
        let mut pending: Vec<usize> = (0..photos.len())
            .filter(|&i| photos[i].id.is_some())
            .collect();
        let deadline = Instant::now() + options.wait_timeout;
        while !pending.is_empty() {
            if Instant::now() >= deadline {
                let secs = options.wait_timeout.as_secs();
                progress.note(&format!(
                    "no result within {secs} s for {} photos (still open; ask again with GET /v1/photos/<id>):",
                    pending.len()
                ));
                for &i in &pending {
                    let photo = &mut photos[i];
                    let id = photo.id.clone().unwrap_or_default();
                    progress.note(&format!("  {id}  {}", photo.path.display()));
                    photo.error = Some(format!("no result within {secs} s (id {id})"));
                }
                break;
            }
            let polled: Vec<(usize, Result<Option<serde_json::Value>, String>)> =
                stream::iter(pending.iter().copied())
                    .map(|i| {
                        let id = photos[i].id.clone().unwrap_or_default();
                        async move { (i, client.poll(&id).await) }
                    })
                    .buffer_unordered(options.concurrency.max(1))
                    .collect()
                    .await;
            let mut still = Vec::new();
            for (i, outcome) in polled {
                match outcome {
                    Ok(Some(mut result)) => {
                        let photo = &mut photos[i];
                        photo.verdict = result["verdict"].as_str().map(str::to_owned);
                        photo.latency_s = Some(upload_starts[i].elapsed().as_secs_f64());
                        result["source"] =
                            serde_json::Value::String(photo.path.display().to_string());
                        progress.suspend(&mut || {
                            let _ = writeln!(out, "{result}");
                        });
                        progress.step();
                    }
                    Ok(None) => still.push(i),
                    Err(e) => {
                        photos[i].error = Some(format!("polling failed: {e}"));
                        progress.step();
                    }
                }
            }
            pending = still;
            if !pending.is_empty() {
                tokio::time::sleep(options.poll_interval).await;
            }
        }
        progress.finish();
    }
    let _ = out.flush();
    Ok(SubmitReport {
        photos,
        elapsed: started.elapsed(),
    })
}

/// The HTTP client of the ingest API: one minute per request, `tls`'s roots and certificate.
fn api_client(tls: &ClientTls) -> Result<reqwest::Client, PipelineError> {
    tls.apply(reqwest::Client::builder().timeout(Duration::from_secs(60)))?
        .build()
        .map_err(|e| PipelineError::Submit(e.to_string()))
}

/// Every photo of the window behind `token` (`GET /v1/photos`, all pages), oldest first, as
/// the API lists them (`id`, `status`, and `result` when done); `since` and `verdict` filter.
pub async fn fetch_results(
    api: &str,
    token: &str,
    tls: &ClientTls,
    since: Option<&str>,
    verdict: Option<&str>,
) -> Result<Vec<serde_json::Value>, PipelineError> {
    let http = api_client(tls)?;
    let url = format!("{}/v1/photos", api.trim_end_matches('/'));
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query: Vec<(&str, String)> = vec![("limit", "500".into())];
        if let Some(s) = since {
            query.push(("since", s.to_owned()));
        }
        if let Some(v) = verdict {
            query.push(("verdict", v.to_owned()));
        }
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let page_url = reqwest::Url::parse_with_params(&url, &query)
            .map_err(|e| PipelineError::Submit(format!("{url}: {e}")))?;
        let response = http
            .get(page_url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| PipelineError::Submit(e.to_string()))?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            return Err(PipelineError::Submit(format!("{status}: {text}")));
        }
        let mut page: serde_json::Value = response
            .json()
            .await
            .map_err(|e| PipelineError::Submit(e.to_string()))?;
        if let Some(photos) = page["photos"].as_array_mut() {
            out.append(photos);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(out),
        }
    }
}

/// The listed photos as CSV for the province's reports: one row per photo with its id,
/// application and window, times, status, verdict and the failed check codes (`;`-joined).
pub fn results_csv(photos: &[serde_json::Value]) -> String {
    let field = |v: &serde_json::Value| -> String {
        let s = v.as_str().unwrap_or_default();
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut out = String::from(
        "id,application_id,window_id,submitted_at,checked_at,status,verdict,failed_checks\n",
    );
    for p in photos {
        let r = &p["result"];
        let failed: Vec<&str> = r["checks"]
            .as_array()
            .map(|checks| {
                checks
                    .iter()
                    .filter(|c| c["status"] == "fail")
                    .filter_map(|c| c["code"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            field(&p["id"]),
            field(&r["application_id"]),
            field(&r["window_id"]),
            field(&r["submitted_at"]),
            field(&r["checked_at"]),
            field(&p["status"]),
            field(&r["verdict"]),
            failed.join(";")
        ));
    }
    out
}
