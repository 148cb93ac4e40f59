//! The HTTP ingest API (`photocheck serve`, `shared/CONTRACT.md` §3).
//!
//! `POST /v1/photos` authenticates the window's bearer token (constant-time comparison), sniffs
//! the bytes (415 unless they are an image), stores the photo in S3 and publishes the job with a
//! publisher confirm before answering 202. If either step fails it undoes what it did and
//! answers 503 with `Retry-After`. An `Idempotency-Key` is remembered per window in S3, so the
//! same key returns the same id and never queues a second job.

use crate::broker::{json_properties, Publisher};
use crate::error::{BrokerError, StoreError};
use crate::metrics::Metrics;
use crate::store::{photo_key, result_key, Store};
use crate::tls::{Peer, TlsListener};
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lapin::types::FieldTable;
use photocheck_config::Config;
use photocheck_types::JobMessage;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The OpenAPI 3.1 description served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;
/// Longest accepted `application_id`.
const MAX_APPLICATION_ID: usize = 128;

struct Window {
    id: String,
    /// SHA-256 of the token: tokens are compared as digests, in constant time whatever their
    /// length, and the configuration may hold only the digest (`sha256:<hex>`).
    token_sha256: [u8; 32],
    /// Profiles this window may ask for.
    profiles: Vec<String>,
    /// The subject CN its client certificate must carry (`api.client_cert_names`).
    cert_name: Option<String>,
}

/// The digest of a configured token: `sha256:<64 hex>` as given, or the SHA-256 of a plain
/// token (at least 16 characters).
fn token_digest(id: &str, token: &str) -> Result<[u8; 32], crate::PipelineError> {
    if let Some(hex_digest) = token.strip_prefix("sha256:") {
        let bytes = hex::decode(hex_digest).ok().filter(|b| b.len() == 32);
        return bytes
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                crate::PipelineError::Config(format!(
                    "api.tokens.{id}: a sha256: token must be 64 hex digits"
                ))
            });
    }
    if token.len() < 16 {
        return Err(crate::PipelineError::Config(format!(
            "api.tokens.{id}: token must be at least 16 characters"
        )));
    }
    Ok(Sha256::digest(token.as_bytes()).into())
}

/// Shared state of the API.
pub struct ApiState {
    store: Store,
    audit: crate::audit::Audit,
    publisher: Publisher,
    metrics: Metrics,
    windows: Vec<Window>,
    jobs_queue: String,
    default_profile: String,
    retry_after_s: u64,
    instance: String,
    /// Uploads handled at once (`api.max_in_flight`).
    in_flight: Arc<tokio::sync::Semaphore>,
    /// Per-window token buckets (`api.window_rate_per_s`, `api.window_burst`).
    buckets: std::sync::Mutex<std::collections::HashMap<String, Bucket>>,
    rate_per_s: f64,
    burst: f64,
    body_timeout: std::time::Duration,
}

/// A token bucket: `tokens` left at `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: std::time::Instant,
}

impl ApiState {
    /// Takes one upload from `window`'s bucket; `Err(seconds)` until a token is back.
    fn take_rate(&self, window: &str) -> Result<(), u64> {
        if self.rate_per_s <= 0.0 {
            return Ok(());
        }
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry(window.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens =
            (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate_per_s).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.rate_per_s).ceil().max(1.0) as u64)
        }
    }
}

/// Error answered by the API: a status, a stable code and a message, as JSON.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "api.unauthorized",
            "missing or invalid bearer token",
        )
    }

    fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "api.not_found", "no such photo")
    }

    fn unavailable(state: &ApiState, code: &'static str, message: String) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code,
            message,
            retry_after: Some(state.retry_after_s),
        }
    }

    fn store(state: &ApiState, e: StoreError) -> ApiError {
        tracing::warn!(error = %e, code = e.code(), "storage failed");
        ApiError::unavailable(
            state,
            e.code(),
            "storage unavailable, try again later".into(),
        )
    }

    fn broker(state: &ApiState, e: BrokerError) -> ApiError {
        tracing::warn!(error = %e, code = e.code(), "broker failed");
        ApiError::unavailable(state, e.code(), "queue unavailable, try again later".into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The `202` answer of an upload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Accepted {
    /// Job id.
    pub id: String,
    /// Always `queued`.
    pub status: String,
}

/// Optional metadata part of a multipart upload.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadMetadata {
    application_id: Option<String>,
    window_id: Option<String>,
    profile: Option<String>,
    /// Make the compliant photo too (also `?fix=true` on the upload's address).
    fix: Option<bool>,
}

/// Whether the upload's query asks for `fix` (`fix=true` or `fix=1`).
fn wants_fix(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|pair| matches!(pair, "fix=true" | "fix=1"))
    })
}

#[derive(Debug, Serialize, Deserialize)]
struct IdempotencyRecord {
    id: String,
    /// `reserved` while the upload is in progress, `queued` once the job is confirmed.
    state: String,
    body_sha256: String,
}

/// The image type the bytes start with, by magic number.
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"BM") && bytes.len() > 26 {
        Some("image/bmp")
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some("image/tiff")
    } else {
        None
    }
}

fn valid_window_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ApiState {
    /// Builds the state from the configuration; validates the window tokens.
    pub fn new(config: &Config, metrics: Metrics) -> Result<ApiState, crate::PipelineError> {
        let mut windows = Vec::new();
        for (id, token) in &config.api.tokens {
            if !valid_window_id(id) {
                return Err(crate::PipelineError::Config(format!(
                    "api.tokens: window id {id:?} must be 1-64 of [A-Za-z0-9_-]"
                )));
            }
            let profiles = config
                .api
                .window_profiles
                .get(id)
                .cloned()
                .unwrap_or_else(|| vec![config.engine.profile.clone()]);
            for profile in &profiles {
                if photocheck_profile::Profile::by_name(profile).is_none() {
                    return Err(crate::PipelineError::Config(format!(
                        "api.window_profiles.{id}: unknown profile {profile:?}"
                    )));
                }
            }
            windows.push(Window {
                id: id.clone(),
                token_sha256: token_digest(id, token)?,
                profiles,
                cert_name: config.api.client_cert_names.get(id).cloned(),
            });
        }
        if windows.is_empty() {
            tracing::warn!("api.tokens is empty: every upload will be refused with 401");
        }
        if let Some(unknown) = config
            .api
            .client_cert_names
            .keys()
            .find(|w| !config.api.tokens.contains_key(*w))
        {
            return Err(crate::PipelineError::Config(format!(
                "api.client_cert_names.{unknown}: no such window in api.tokens"
            )));
        }
        Ok(ApiState {
            store: Store::new(&config.s3)?,
            audit: crate::audit::Audit::open(&config.audit)?,
            publisher: Publisher::new(config.amqp.clone()),
            metrics,
            windows,
            jobs_queue: config.amqp.jobs_queue.clone(),
            default_profile: config.engine.profile.clone(),
            retry_after_s: config.api.retry_after_s,
            instance: format!("api-{}", uuid::Uuid::now_v7()),
            in_flight: Arc::new(tokio::sync::Semaphore::new(config.api.max_in_flight.max(1))),
            buckets: Default::default(),
            rate_per_s: config.api.window_rate_per_s.max(0.0),
            burst: f64::from(config.api.window_burst.max(1)),
            body_timeout: std::time::Duration::from_secs(config.api.body_timeout_s.max(1)),
        })
    }

    /// The window whose token the request carries. Compares against every token in constant
    /// time, without stopping at the first match. A window bound to a client certificate
    /// (`api.client_cert_names`) must also have come over a connection that presented it.
    fn authenticate(&self, headers: &HeaderMap, extensions: &Extensions) -> Result<&str, ApiError> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest)
            })
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found: Option<&Window> = None;
        for window in &self.windows {
            if bool::from(window.token_sha256.ct_eq(&digest)) {
                found = Some(window);
            }
        }
        let window = found.ok_or_else(ApiError::unauthorized)?;
        if let Some(expected) = &window.cert_name {
            let presented = extensions
                .get::<ConnectInfo<Peer>>()
                .and_then(|c| c.0.client_cn.as_deref());
            if presented != Some(expected.as_str()) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "api.client_cert_mismatch",
                    "this token is bound to another client certificate",
                ));
            }
        }
        Ok(&window.id)
    }

    /// Whether `window` may ask for `profile`.
    fn allows(&self, window: &str, profile: &str) -> bool {
        self.windows
            .iter()
            .any(|w| w.id == window && w.profiles.iter().any(|p| p == profile))
    }
}

/// The API's router over `state`, with the body limit applied.
pub fn router(state: Arc<ApiState>, max_body_bytes: usize) -> Router {
    public_router(state, max_body_bytes, true)
}

/// The window-facing routes, with `/readyz` and `/metrics` too unless `with_ops` is false (they
/// are then served on `api.internal_listen` only, by [`ops_router`]).
fn public_router(state: Arc<ApiState>, max_body_bytes: usize, with_ops: bool) -> Router {
    let mut app = Router::new()
        .route("/v1/photos", post(upload).get(list_photos))
        .route("/v1/photos/{id}", get(get_photo).delete(delete_photo))
        .route("/v1/photos/{id}/fixed", get(get_fixed_photo))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        );
    if with_ops {
        app = app
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics));
    }
    app.layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// The operators' routes for `api.internal_listen`: `/healthz`, `/readyz`, `/metrics`.
fn ops_router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Runs the API on `listener` until `shutdown` is cancelled, then finishes open requests.
pub async fn serve_listener(
    listener: TcpListener,
    config: Config,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), crate::PipelineError> {
    let state = Arc::new(ApiState::new(&config, metrics)?);
    if config.s3.create_bucket {
        if let Err(e) = state.store.ensure_bucket().await {
            tracing::warn!(error = %e, "cannot ensure the bucket exists yet; /readyz will tell");
        }
    }
    if let Err(e) = state.publisher.ready().await {
        tracing::warn!(error = %e, "broker not reachable yet; /readyz will tell");
    }
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(%addr, "ingest API listening");
    let internal = config.api.internal_listen.trim();
    let ops = if internal.is_empty() {
        None
    } else {
        let ops_listener =
            TcpListener::bind(internal)
                .await
                .map_err(|e| crate::PipelineError::Listen {
                    addr: internal.to_owned(),
                    reason: e.to_string(),
                })?;
        tracing::info!(addr = %internal, "readiness and metrics listening");
        let ops_app = ops_router(Arc::clone(&state));
        Some(tokio::spawn(
            axum::serve(ops_listener, ops_app)
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .into_future(),
        ))
    };
    let app = public_router(Arc::clone(&state), config.api.max_body_bytes, ops.is_none())
        .into_make_service_with_connect_info::<Peer>();
    let served = if config.api.tls.enabled() {
        let listener = TlsListener::spawn(listener, config.api.tls.clone(), shutdown.clone())?;
        tracing::info!(
            client_certificates = !config.api.tls.client_ca_file.is_empty(),
            "serving HTTPS"
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    } else {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    };
    let result = served.map_err(|e| crate::PipelineError::Listen {
        addr,
        reason: e.to_string(),
    });
    if let Some(ops) = ops {
        ops.abort();
    }
    state.publisher.close().await;
    result
}

/// Binds the address configured under `key` (`api.listen`, `console.listen`): a malformed
/// address is a configuration error, one that cannot be bound a listen error.
pub(crate) async fn bind(key: &str, listen: &str) -> Result<TcpListener, crate::PipelineError> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e| crate::PipelineError::Config(format!("{key} {listen:?}: {e}")))?;
    TcpListener::bind(addr)
        .await
        .map_err(|e| crate::PipelineError::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}

/// Binds `api.listen` and serves until `shutdown`.
pub async fn serve(
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), crate::PipelineError> {
    for warning in config.security_warnings() {
        tracing::warn!("{warning}");
    }
    let listener = bind("api.listen", &config.api.listen).await?;
    let sweeper = tokio::spawn(crate::retention::run_sweeper(
        Store::new(&config.s3)?,
        config.retention.clone(),
        crate::audit::Audit::open(&config.audit)?,
        shutdown.clone(),
    ));
    let served = serve_listener(listener, config, Metrics::new(), shutdown).await;
    sweeper.abort();
    served
}

fn count(state: &ApiState, route: &'static str, status: StatusCode) {
    state
        .metrics
        .api_requests
        .get_or_create(&vec![
            ("route", route.to_owned()),
            ("status", status.as_u16().to_string()),
        ])
        .inc();
}

async fn upload(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    // Over the process's concurrency limit: shed at once rather than queue without bound.
    let Ok(_permit) = Arc::clone(&state.in_flight).try_acquire_owned() else {
        let response = ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "api.busy",
            message: "too many uploads in progress, try again shortly".into(),
            retry_after: Some(1),
        }
        .into_response();
        count(&state, "upload", response.status());
        return response;
    };
    let response = match upload_inner(&state, request).await {
        Ok(accepted) => {
            let location = format!("/v1/photos/{}", accepted.id);
            let mut r = (StatusCode::ACCEPTED, Json(accepted)).into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Err(e) => e.into_response(),
    };
    count(&state, "upload", response.status());
    response
}

struct Upload {
    bytes: Bytes,
    content_type: &'static str,
    metadata: UploadMetadata,
}

async fn read_upload(state: &Arc<ApiState>, request: Request) -> Result<Upload, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (bytes, metadata) = if declared.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, state)
            .await
            .map_err(|e| ApiError::new(e.status(), "api.bad_multipart", e.body_text()))?;
        let mut photo = None;
        let mut metadata = UploadMetadata::default();
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::new(e.status(), "api.bad_multipart", e.body_text()))?
        {
            match field.name() {
                Some("photo") => {
                    photo = Some(field.bytes().await.map_err(|e| {
                        ApiError::new(e.status(), "api.bad_multipart", e.body_text())
                    })?)
                }
                Some("metadata") => {
                    let raw = field.bytes().await.map_err(|e| {
                        ApiError::new(e.status(), "api.bad_multipart", e.body_text())
                    })?;
                    metadata = serde_json::from_slice(&raw).map_err(|e| {
                        ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "api.bad_metadata",
                            format!("metadata is not valid: {e}"),
                        )
                    })?;
                }
                _ => {}
            }
        }
        let photo = photo.ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "api.missing_photo",
                "multipart upload has no `photo` part",
            )
        })?;
        (photo, metadata)
    } else {
        let declared_ok = declared.is_empty()
            || declared.starts_with("image/")
            || declared.starts_with("application/octet-stream");
        if !declared_ok {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "api.unsupported_media_type",
                "body must be an image or multipart/form-data",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::new(e.status(), "api.bad_body", e.body_text()))?;
        (bytes, UploadMetadata::default())
    };
    let content_type = sniff_image(&bytes).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "api.unsupported_media_type",
            "the body is not an image (JPEG, PNG, WebP, GIF, BMP or TIFF)",
        )
    })?;
    Ok(Upload {
        bytes,
        content_type,
        metadata,
    })
}

async fn upload_inner(state: &Arc<ApiState>, request: Request) -> Result<Accepted, ApiError> {
    let window = state
        .authenticate(request.headers(), request.extensions())?
        .to_owned();
    if let Err(secs) = state.take_rate(&window) {
        return Err(ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "api.rate_limited",
            message: "this window is uploading faster than its rate limit".into(),
            retry_after: Some(secs),
        });
    }
    let idempotency_key = match request.headers().get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY);
            Some(
                key.ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "api.bad_idempotency_key",
                        "Idempotency-Key must be 1-255 visible ASCII characters",
                    )
                })?
                .to_owned(),
            )
        }
    };
    let fix_query = wants_fix(request.uri().query());
    let upload = tokio::time::timeout(state.body_timeout, read_upload(state, request))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "api.body_timeout",
                "the upload's body did not arrive in time",
            )
        })??;
    let mut upload = upload;
    if fix_query {
        upload.metadata.fix = Some(true);
    }
    let metadata = &upload.metadata;
    if let Some(claimed) = &metadata.window_id {
        if claimed != &window {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "api.window_mismatch",
                "metadata.window_id differs from the token's window",
            ));
        }
    }
    if metadata
        .application_id
        .as_ref()
        .is_some_and(|a| a.len() > MAX_APPLICATION_ID)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "api.bad_metadata",
            "application_id is longer than 128 characters",
        ));
    }
    let profile = metadata
        .profile
        .clone()
        .unwrap_or_else(|| state.default_profile.clone());
    if photocheck_profile::Profile::by_name(&profile).is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "api.unknown_profile",
            format!("unknown profile {profile:?}"),
        ));
    }
    if !state.allows(&window, &profile) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "api.profile_not_allowed",
            format!("this window may not use profile {profile:?}"),
        ));
    }

    let Some(key) = idempotency_key else {
        let id = uuid::Uuid::now_v7().to_string();
        let key = photo_key(&window, &id);
        store_photo(state, &key, &upload).await?;
        queue_job(state, &window, &id, &key, &upload, &profile, true).await?;
        return Ok(Accepted {
            id,
            status: "queued".into(),
        });
    };

    let key_hash = hex::encode(Sha256::digest(key.as_bytes()));
    let record_key = format!("idempotency/{window}/{key_hash}.json");
    // The same key may reach this replica twice or several replicas at once (a window system
    // retrying on another one): the key's lock makes the whole read-store-publish-mark sequence
    // single across all of them (crate::lock; the store has no conditional create).
    let conn = state
        .publisher
        .connection()
        .await
        .map_err(|e| ApiError::broker(state, e))?;
    let held = crate::lock::lock(&conn, &record_key, IDEMPOTENCY_LOCK_PATIENCE)
        .await
        .map_err(|e| ApiError::broker(state, e))?;
    let Some(held) = held else {
        return Err(ApiError::unavailable(
            state,
            "api.idempotency_in_progress",
            "an upload with this Idempotency-Key is still in progress; try again".into(),
        ));
    };
    let outcome = keyed_upload(state, &window, &record_key, &upload, &profile).await;
    match outcome {
        Ok((accepted, None)) => {
            tokio::spawn(held.release());
            Ok(accepted)
        }
        Ok((accepted, Some(queued))) => {
            // Queued, but the record could not say so yet (storage failing): keep the key's lock
            // and keep trying in the background, so a retry of this key waits (503) instead of
            // publishing the job again. If this process dies first, the lock goes with it and a
            // retry publishes the same id again (the worker answers it once).
            let store = state.store.clone();
            let record_key = record_key.clone();
            let id = accepted.id.clone();
            tokio::spawn(async move {
                mark_queued_later(&store, &record_key, queued, &id).await;
                held.release().await;
            });
            Ok(accepted)
        }
        Err(e) => {
            // In the background: on a blocked broker the release itself waits.
            tokio::spawn(held.release());
            Err(e)
        }
    }
}

/// Keeps writing the key's `queued` record until storage takes it (up to 10 minutes).
async fn mark_queued_later(store: &Store, record_key: &str, queued: Bytes, id: &str) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let mut pause = std::time::Duration::from_millis(250);
    while std::time::Instant::now() < until {
        tokio::time::sleep(pause).await;
        if store
            .put(record_key, queued.clone(), "application/json")
            .await
            .is_ok()
        {
            tracing::info!(job_id = %id, "idempotency record marked queued after a storage outage");
            return;
        }
        pause = (pause * 2).min(std::time::Duration::from_secs(5));
    }
    tracing::warn!(job_id = %id, "idempotency record still not marked queued; a retry of its key publishes the job again");
}

/// How long an upload waits for another replica's upload of the same key to finish.
const IDEMPOTENCY_LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// The upload of a photo with an `Idempotency-Key`, under that key's lock: the key's record
/// decides whether this is new, a repeat (same id, nothing published), or the retry of an
/// upload interrupted after its id was reserved (same id, published again).
async fn keyed_upload(
    state: &Arc<ApiState>,
    window: &str,
    record_key: &str,
    upload: &Upload,
    profile: &str,
) -> Result<(Accepted, Option<Bytes>), ApiError> {
    let body_hash = hex::encode(Sha256::digest(&upload.bytes));

    let existing = state
        .store
        .get_opt(record_key)
        .await
        .map_err(|e| ApiError::store(state, e))?;
    let existing: Option<IdempotencyRecord> =
        existing.and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(record) = &existing {
        if record.body_sha256 != body_hash {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "api.idempotency_key_reused",
                "this Idempotency-Key was used with a different photo",
            ));
        }
        if record.state == "queued" {
            return Ok((
                Accepted {
                    id: record.id.clone(),
                    status: "queued".into(),
                },
                None,
            ));
        }
    }
    // New key, or an upload that was interrupted after reserving its id: (re)do it with that id.
    let reserved_before = existing.is_some();
    let id = existing
        .map(|r| r.id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let record = |state_name: &str| {
        Bytes::from(
            serde_json::to_vec(&IdempotencyRecord {
                id: id.clone(),
                state: state_name.into(),
                body_sha256: body_hash.clone(),
            })
            .unwrap_or_default(),
        )
    };
    // The reservation and the photo are written at once; the job is published only when both
    // are stored, so a job never exists without its photo, and a retry finds the id reserved.
    let key = photo_key(window, &id);
    let reserve = async {
        if reserved_before {
            return Ok(());
        }
        state
            .store
            .put(record_key, record("reserved"), "application/json")
            .await
            .map_err(|e| ApiError::store(state, e))
    };
    let (reserved, stored) = tokio::join!(reserve, store_photo(state, &key, upload));
    let photo_stored = stored.is_ok();
    if let Err(e) = reserved.and(stored) {
        // Nothing was published yet: undo what was written, so a retry starts afresh.
        if photo_stored {
            if let Err(undo) = state.store.delete(&key).await {
                tracing::warn!(error = %undo, job_id = %id, "could not remove photo after failed reservation");
            }
        }
        if !reserved_before {
            let _ = state.store.delete(record_key).await;
        }
        return Err(e);
    }
    // From here the job may reach the queue even when the publish reports a failure (a
    // confirm lost in transit), so the reservation is kept: a retry with this key gets this
    // same id, never a second one, and a repeated job reuses the stored result byte for byte.
    queue_job(state, window, &id, &key, upload, profile, false).await?;
    // Marked queued before the answer, so a retry right after the 202 (on any API replica)
    // finds it queued and publishes nothing; a few quick tries ride out a storage blip.
    for attempt in 1..=3u32 {
        match state
            .store
            .put(record_key, record("queued"), "application/json")
            .await
        {
            Ok(()) => {
                return Ok((
                    Accepted {
                        id,
                        status: "queued".into(),
                    },
                    None,
                ))
            }
            Err(e) if attempt == 3 => {
                tracing::warn!(error = %e, job_id = %id, "job queued, but its idempotency record could not be marked queued yet");
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await,
        }
    }
    let queued = record("queued");
    Ok((
        Accepted {
            id,
            status: "queued".into(),
        },
        Some(queued),
    ))
}

/// Stores the photo under `key`.
async fn store_photo(state: &Arc<ApiState>, key: &str, upload: &Upload) -> Result<(), ApiError> {
    state
        .store
        .put(key, upload.bytes.clone(), upload.content_type)
        .await
        .map_err(|e| ApiError::store(state, e))
}

/// Publishes the job of the stored photo `key` with confirm. On a publish failure, with
/// `undo_on_failure` (an upload without a key: its retry gets a new id), deletes the photo
/// again so nothing half-done remains. A keyed upload keeps it: the job may have reached the
/// queue all the same (a confirm lost in transit), and the key's retry reuses the id and photo.
async fn queue_job(
    state: &Arc<ApiState>,
    window: &str,
    id: &str,
    key: &str,
    upload: &Upload,
    profile: &str,
    undo_on_failure: bool,
) -> Result<(), ApiError> {
    let job = JobMessage {
        id: id.to_owned(),
        bucket: state.store.bucket().to_owned(),
        key: key.to_owned(),
        profile: profile.to_owned(),
        submitted_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        application_id: upload.metadata.application_id.clone(),
        window_id: Some(window.to_owned()),
        fix: upload.metadata.fix.unwrap_or(false),
    };
    let payload = serde_json::to_vec(&job).unwrap_or_default();
    if let Err(e) = state
        .publisher
        .publish(
            "",
            &state.jobs_queue,
            true,
            &payload,
            json_properties(id, FieldTable::default()),
        )
        .await
    {
        if undo_on_failure {
            if let Err(undo) = state.store.delete(key).await {
                tracing::warn!(error = %undo, job_id = %id, "could not remove photo after failed publish");
            }
        }
        return Err(ApiError::broker(state, e));
    }
    state.metrics.api_accepted.inc();
    tracing::info!(job_id = %id, window = %window, profile = %profile, "photo accepted");
    state.audit.record(
        "photo.accepted",
        id,
        serde_json::json!({"window": window, "profile": profile, "instance": state.instance}),
    );
    Ok(())
}

async fn get_photo(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    parts: Parts,
) -> Response {
    let outcome = get_photo_inner(&state, &id, &parts).await;
    json_response(&state, "get_photo", outcome)
}

/// 200 with `body`, or the error; counted under `route`.
fn json_response(
    state: &ApiState,
    route: &'static str,
    outcome: Result<serde_json::Value, ApiError>,
) -> Response {
    let response = match outcome {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(e) => e.into_response(),
    };
    count(state, route, response.status());
    response
}

impl ApiState {
    /// The caller's window and the key of its photo `id` (404 for anything not an id, so no
    /// other key can be named).
    fn own_photo<'a>(&'a self, parts: &Parts, id: &str) -> Result<(&'a str, String), ApiError> {
        let window = self.authenticate(&parts.headers, &parts.extensions)?;
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ApiError::not_found());
        }
        Ok((window, photo_key(window, id)))
    }
}

/// `GET /v1/photos/{id}/fixed`: the photo `fix` made (uploads with `fix=true`), for the
/// window that uploaded the original.
async fn get_fixed_photo(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    parts: Parts,
) -> Response {
    let outcome = async {
        let (_, key) = state.own_photo(&parts, &id)?;
        state
            .store
            .get_opt(&crate::store::fixed_key(&key))
            .await
            .map_err(|e| ApiError::store(&state, e))?
            .ok_or_else(ApiError::not_found)
    }
    .await;
    let response = match outcome {
        Ok(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "image/jpeg")],
            bytes,
        )
            .into_response(),
        Err(e) => e.into_response(),
    };
    count(&state, "get_fixed_photo", response.status());
    response
}

async fn get_photo_inner(
    state: &Arc<ApiState>,
    id: &str,
    parts: &Parts,
) -> Result<serde_json::Value, ApiError> {
    let (_, key) = state.own_photo(parts, id)?;
    let result = state
        .store
        .get_opt(&result_key(&key))
        .await
        .map_err(|e| ApiError::store(state, e))?;
    if let Some(raw) = result {
        let result: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api.corrupt_result",
                e.to_string(),
            )
        })?;
        // A reviewer's decision, once the console has recorded one (CONTRACT §4).
        let decision = crate::console::review::Reviews::stored_decision(&state.store, &key)
            .await
            .map_err(|e| ApiError::store(state, e))?;
        let mut body = serde_json::json!({"id": id, "status": "done", "result": result});
        if let Some(decision) = decision {
            body["decision"] = decision;
        }
        return Ok(body);
    }
    if state
        .store
        .exists(&key)
        .await
        .map_err(|e| ApiError::store(state, e))?
    {
        Ok(serde_json::json!({"id": id, "status": "queued"}))
    } else {
        Err(ApiError::not_found())
    }
}

/// `DELETE /v1/photos/{id}`: the owning window withdraws a photo; the photo and its result are
/// removed from the store (a job still queued for it is answered `engine.error`, photo gone).
async fn delete_photo(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    parts: Parts,
) -> Response {
    let outcome = delete_photo_inner(&state, &id, &parts).await;
    json_response(&state, "delete_photo", outcome)
}

async fn delete_photo_inner(
    state: &Arc<ApiState>,
    id: &str,
    parts: &Parts,
) -> Result<serde_json::Value, ApiError> {
    let (window, key) = state.own_photo(parts, id)?;
    let rkey = result_key(&key);
    let (photo, result) = tokio::join!(state.store.exists(&key), state.store.exists(&rkey));
    let (photo, result) = (
        photo.map_err(|e| ApiError::store(state, e))?,
        result.map_err(|e| ApiError::store(state, e))?,
    );
    if !photo && !result {
        return Err(ApiError::not_found());
    }
    // With it, what was made from it: the fixed photo and a reviewer's decision.
    let (fixed, decision) = (
        crate::store::fixed_key(&key),
        format!("{key}.decision.json"),
    );
    let (a, b, c, d) = tokio::join!(
        state.store.delete(&key),
        state.store.delete(&rkey),
        state.store.delete(&fixed),
        state.store.delete(&decision)
    );
    a.and(b)
        .and(c)
        .and(d)
        .map_err(|e| ApiError::store(state, e))?;
    tracing::info!(job_id = %id, window = %window, "photo and result deleted at the window's request");
    state.audit.record(
        "photo.deleted",
        id,
        serde_json::json!({"window": window, "by": "window"}),
    );
    Ok(serde_json::json!({"id": id, "status": "deleted"}))
}

/// Query of `GET /v1/photos`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    /// RFC 3339: only photos accepted at or after this time.
    since: Option<String>,
    /// `pass`, `fail` or `review`: only photos with a result of that verdict.
    verdict: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Photos per page (1–500, default 100).
    limit: Option<usize>,
}

async fn list_photos(
    State(state): State<Arc<ApiState>>,
    axum::extract::Query(query): axum::extract::Query<ListQuery>,
    parts: Parts,
) -> Response {
    let response = match list_photos_inner(&state, &query, &parts).await {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(e) => e.into_response(),
    };
    count(&state, "list_photos", response.status());
    response
}

/// The lowest UUIDv7 text of time `t`: its 48-bit millisecond prefix (`xxxxxxxx-xxxx`).
fn uuid_v7_floor(t: chrono::DateTime<chrono::Utc>) -> String {
    let ms = u64::try_from(t.timestamp_millis()).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
    let hex = format!("{ms:012x}");
    format!("{}-{}", &hex[..8], &hex[8..])
}

/// The caller's photos, oldest first (ids are UUIDv7, so key order is acceptance order), one
/// page at a time; a photo with a result carries it.
async fn list_photos_inner(
    state: &Arc<ApiState>,
    query: &ListQuery,
    parts: &Parts,
) -> Result<serde_json::Value, ApiError> {
    let window = state.authenticate(&parts.headers, &parts.extensions)?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "api.bad_query", m);
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    if let Some(v) = &query.verdict {
        if !["pass", "fail", "review"].contains(&v.as_str()) {
            return Err(bad(format!(
                "verdict must be pass, fail or review, not {v:?}"
            )));
        }
    }
    let prefix = photo_key(window, "");
    let mut after = match (&query.cursor, &query.since) {
        (Some(c), _) => {
            uuid::Uuid::parse_str(c).map_err(|_| bad("cursor is not one this API gave".into()))?;
            Some(result_key(&photo_key(window, c)))
        }
        (None, Some(since)) => {
            let t = chrono::DateTime::parse_from_rfc3339(since)
                .map_err(|e| bad(format!("since is not RFC 3339: {e}")))?;
            Some(format!(
                "{prefix}{}",
                uuid_v7_floor(t.with_timezone(&chrono::Utc))
            ))
        }
        (None, None) => None,
    };
    let mut photos = Vec::new();
    let mut more = true;
    while photos.len() < limit && more {
        let (keys, truncated) = state
            .store
            .list_after(&prefix, after.as_deref(), 1000)
            .await
            .map_err(|e| ApiError::store(state, e))?;
        more = truncated;
        let Some(last) = keys.last() else { break };
        after = Some(last.clone());
        let have: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
        for key in &keys {
            let Some(id) = key.strip_prefix(&prefix) else {
                continue;
            };
            if id.contains('.') || uuid::Uuid::parse_str(id).is_err() {
                continue;
            }
            let rkey = result_key(key);
            let entry = if have.contains(rkey.as_str()) {
                let raw = state
                    .store
                    .get(&rkey)
                    .await
                    .map_err(|e| ApiError::store(state, e))?;
                let result: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
                if query
                    .verdict
                    .as_deref()
                    .is_some_and(|v| result["verdict"] != v)
                {
                    continue;
                }
                serde_json::json!({"id": id, "status": "done", "result": result})
            } else {
                if query.verdict.is_some() {
                    continue;
                }
                serde_json::json!({"id": id, "status": "queued"})
            };
            photos.push(entry);
            if photos.len() == limit {
                // More may follow this photo, in this listing or the next.
                more = true;
                break;
            }
        }
    }
    let next = if more {
        photos
            .last()
            .and_then(|p| p["id"].as_str())
            .map(str::to_owned)
    } else {
        None
    };
    Ok(serde_json::json!({"photos": photos, "next_cursor": next}))
}

async fn readyz(State(state): State<Arc<ApiState>>) -> Response {
    let storage = state.store.probe(&state.instance).await;
    let broker = state.publisher.ready().await;
    let status = if storage.is_ok() && broker.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "storage": storage.map(|_| "ok".to_owned()).unwrap_or_else(|e| e.code().to_owned()),
        "broker": broker.map(|_| "ok".to_owned()).unwrap_or_else(|e| e.code().to_owned()),
    });
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<ApiState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_recognises_images_by_bytes_only() {
        assert_eq!(
            sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]),
            Some("image/jpeg")
        );
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_image(b"GIF89a.."), Some("image/gif"));
        assert_eq!(sniff_image(b"%PDF-1.7"), None);
        assert_eq!(sniff_image(b"<html>"), None);
        assert_eq!(sniff_image(b""), None);
    }

    #[test]
    fn window_ids_are_restricted_to_safe_characters() {
        assert!(valid_window_id("w-001_a"));
        assert!(!valid_window_id("../x"));
        assert!(!valid_window_id(""));
        assert!(!valid_window_id("a/b"));
    }

    #[test]
    fn openapi_is_valid_json_naming_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        for path in [
            "/v1/photos",
            "/v1/photos/{id}",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
    }
}
