//! The object store: photos, results and idempotency records in one S3 bucket.
//!
//! Layout (keys): `photos/<window>/<id>` the photo as uploaded, `photos/<window>/<id>.result.json`
//! its result object (next to the photo), `photos/<window>/<id>.fixed.jpg` the photo `fix` made
//! (uploads with `fix=true`), `photos/<window>/<id>.decision.json` a reviewer's decision, `idempotency/<window>/<sha256 of the key>.json` the
//! API's idempotency records, `health/<instance>` the readiness probe's object.

use crate::error::StoreError;
use crate::tls::TlsError;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::SharedHttpClient;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use bytes::Bytes;
use photocheck_config::S3Section;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A bucket on an S3-compatible server, reached through one or more gateways of the same
/// store (`endpoint`, then `failover_endpoints`).
#[derive(Clone, Debug)]
pub struct Store {
    clients: Arc<Vec<aws_sdk_s3::Client>>,
    /// The gateway to try first: the last that answered.
    preferred: Arc<AtomicUsize>,
    bucket: String,
    /// Server-side encryption asked on every write (`s3.sse`), and its KMS key.
    sse: Option<(ServerSideEncryption, Option<String>)>,
}

/// Key of a photo.
pub fn photo_key(window: &str, id: &str) -> String {
    format!("photos/{window}/{id}")
}

/// Key of the photo `fix` made from a photo, next to it.
pub fn fixed_key(photo_key: &str) -> String {
    format!("{photo_key}.fixed.jpg")
}

/// Key of a photo's result object, next to the photo.
pub fn result_key(photo_key: &str) -> String {
    format!("{photo_key}.result.json")
}

fn classify<E>(op: &'static str, key: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &err {
        let status = service.raw().status().as_u16();
        let code = service.err().code().unwrap_or("");
        if status == 404 || matches!(code, "NoSuchKey" | "NotFound") {
            return StoreError::NotFound { key: key.into() };
        }
        if status < 500 && status != 429 && status != 408 {
            return StoreError::Refused {
                op,
                reason: format!("{status} {code}"),
            };
        }
    }
    StoreError::Unavailable {
        op,
        reason: DisplayErrorContext(&err).to_string(),
    }
}

/// The HTTP client every gateway's SDK client shares: quick ACKs on each connection
/// ([`crate::s3http`]), trusting the system's roots and the extra ones of `section.ca_file`
/// for `https` endpoints.
fn http_client(section: &S3Section) -> Result<SharedHttpClient, TlsError> {
    let tls = crate::tls::client_config(&section.ca_file)?;
    let connect = Duration::from_millis(section.timeout_ms.max(1));
    Ok(crate::s3http::QuickAckClient::new(tls, connect, section.quick_ack).shared())
}

/// A client for one gateway.
fn client(section: &S3Section, endpoint: &str, http: &SharedHttpClient) -> aws_sdk_s3::Client {
    let timeout = Duration::from_millis(section.timeout_ms.max(1));
    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(section.region.clone()))
        .credentials_provider(Credentials::new(
            section.access_key.clone(),
            section.secret_key.clone(),
            None,
            None,
            "photocheck-config",
        ))
        .force_path_style(section.path_style)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeout)
                .operation_attempt_timeout(timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(section.max_attempts.max(1)));
    if !endpoint.is_empty() {
        builder = builder.endpoint_url(endpoint.to_owned());
    }
    builder = builder.http_client(http.clone());
    aws_sdk_s3::Client::from_conf(builder.build())
}

impl Store {
    /// Builds a client per gateway of `section` (path-style, static credentials, bounded
    /// timeouts). Makes no request.
    /// Fails only when `s3.ca_file` names a file that holds no certificate.
    pub fn new(section: &S3Section) -> Result<Store, TlsError> {
        let endpoints: Vec<&str> = std::iter::once(section.endpoint.as_str())
            .chain(section.failover_endpoints.iter().map(String::as_str))
            .collect();
        let http = http_client(section)?;
        let sse = (!section.sse.is_empty()).then(|| {
            let key = (!section.sse_kms_key_id.is_empty()).then(|| section.sse_kms_key_id.clone());
            (ServerSideEncryption::from(section.sse.as_str()), key)
        });
        Ok(Store {
            clients: Arc::new(
                endpoints
                    .iter()
                    .map(|e| client(section, e, &http))
                    .collect(),
            ),
            preferred: Arc::new(AtomicUsize::new(0)),
            bucket: section.bucket.clone(),
            sse,
        })
    }

    /// The same clients on another bucket (a job names its bucket).
    pub fn with_bucket(&self, bucket: &str) -> Store {
        Store {
            clients: Arc::clone(&self.clients),
            preferred: Arc::clone(&self.preferred),
            bucket: bucket.to_owned(),
            sse: self.sse.clone(),
        }
    }

    /// Runs `op` on the preferred gateway; when that one is unavailable, on the next ones in
    /// turn (every operation here may be repeated: puts write the same bytes again).
    async fn on_any<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn(aws_sdk_s3::Client) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let n = self.clients.len();
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let mut outcome = None;
        for i in 0..n {
            let at = (first + i) % n;
            match op(self.clients[at].clone()).await {
                Err(e @ StoreError::Unavailable { .. }) => {
                    if n > 1 {
                        tracing::warn!(gateway = at, error = %e, "storage gateway unavailable; trying the next");
                    }
                    outcome = Some(Err(e));
                }
                other => {
                    if i > 0 {
                        self.preferred.store(at, Ordering::Relaxed);
                    }
                    return other;
                }
            }
        }
        outcome.unwrap_or_else(|| {
            Err(StoreError::Unavailable {
                op: "any",
                reason: "no endpoint".into(),
            })
        })
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket unless it exists.
    pub async fn ensure_bucket(&self) -> Result<(), StoreError> {
        let bucket = self.bucket.as_str();
        self.on_any(|c| async move {
            match c.head_bucket().bucket(bucket).send().await {
                Ok(_) => return Ok(()),
                Err(e) => match classify("head_bucket", bucket, e) {
                    StoreError::NotFound { .. } => {}
                    other => return Err(other),
                },
            }
            match c.create_bucket().bucket(bucket).send().await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let code = e.as_service_error().and_then(|s| s.code()).unwrap_or("");
                    if matches!(code, "BucketAlreadyOwnedByYou" | "BucketAlreadyExists") {
                        Ok(())
                    } else {
                        Err(classify("create_bucket", bucket, e))
                    }
                }
            }
        })
        .await
    }

    /// Stores `body` under `key`.
    pub async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), StoreError> {
        let bucket = self.bucket.as_str();
        let sse = self.sse.as_ref();
        self.on_any(|c| {
            let body = body.clone();
            async move {
                let mut put = c
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .content_type(content_type)
                    .body(ByteStream::from(body));
                if let Some((mode, kms_key)) = sse {
                    put = put
                        .server_side_encryption(mode.clone())
                        .set_ssekms_key_id(kms_key.clone());
                }
                put.send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("put", key, e))
            }
        })
        .await
    }

    /// Reads the object under `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let bucket = self.bucket.as_str();
        self.on_any(|c| async move {
            let out = c
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| classify("get", key, e))?;
            out.body
                .collect()
                .await
                .map(|data| data.into_bytes())
                .map_err(|e| StoreError::Unavailable {
                    op: "get",
                    reason: e.to_string(),
                })
        })
        .await
    }

    /// Reads the object under `key`, or `None` when it does not exist.
    pub async fn get_opt(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self.get(key).await {
            Ok(b) => Ok(Some(b)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether an object exists under `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let bucket = self.bucket.as_str();
        self.on_any(|c| async move {
            match c.head_object().bucket(bucket).key(key).send().await {
                Ok(_) => Ok(true),
                Err(e) => match classify("head", key, e) {
                    StoreError::NotFound { .. } => Ok(false),
                    other => Err(other),
                },
            }
        })
        .await
    }

    /// Deletes the object under `key` (no error if it is absent).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let bucket = self.bucket.as_str();
        self.on_any(|c| async move {
            c.delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("delete", key, e))
        })
        .await
    }

    /// Keys under `prefix` (first 1000), for operators and tests.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.list_after(prefix, None, 1000)
            .await
            .map(|(keys, _)| keys)
    }

    /// Every key under `prefix`, in key order (page after page of 1000).
    pub async fn list_all(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys: Vec<String> = Vec::new();
        loop {
            let after = keys.last().cloned();
            let (page, more) = self.list_after(prefix, after.as_deref(), 1000).await?;
            let empty = page.is_empty();
            keys.extend(page);
            if !more || empty {
                return Ok(keys);
            }
        }
    }

    /// Up to `max` keys under `prefix` after `start_after` (in key order), and whether more
    /// follow.
    pub async fn list_after(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: i32,
    ) -> Result<(Vec<String>, bool), StoreError> {
        let (objects, more) = self.list_page(prefix, start_after, max).await?;
        Ok((objects.into_iter().map(|(key, _)| key).collect(), more))
    }

    /// Up to 1000 objects under `prefix` after `start_after` (key order) with their age in
    /// seconds at `now_unix`, and whether more follow.
    pub async fn list_ages(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        now_unix: i64,
    ) -> Result<(Vec<(String, f64)>, bool), StoreError> {
        let (objects, more) = self.list_page(prefix, start_after, 1000).await?;
        let aged = objects
            .into_iter()
            .filter_map(|(key, modified)| Some((key, (now_unix - modified?).max(0) as f64)))
            .collect();
        Ok((aged, more))
    }

    /// One page of `ListObjectsV2`: keys with their last-modified time (Unix seconds, when the
    /// store gives it), and whether more follow.
    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: i32,
    ) -> Result<(Vec<(String, Option<i64>)>, bool), StoreError> {
        let bucket = self.bucket.as_str();
        self.on_any(|c| async move {
            let out = c
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_start_after(start_after.map(str::to_owned))
                .max_keys(max.clamp(1, 1000))
                .send()
                .await
                .map_err(|e| classify("list", prefix, e))?;
            let objects = out
                .contents()
                .iter()
                .filter_map(|o| Some((o.key()?.to_owned(), o.last_modified().map(|t| t.secs()))))
                .collect();
            Ok((objects, out.is_truncated().unwrap_or(false)))
        })
        .await
    }

    /// Readiness probe: writes a tiny object, as the service does in normal operation (no list
    /// or admin permission needed).
    pub async fn probe(&self, instance: &str) -> Result<(), StoreError> {
        self.put(
            &format!("health/{instance}"),
            Bytes::from_static(b"ok"),
            "text/plain",
        )
        .await
    }
}
