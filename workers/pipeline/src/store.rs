//! The object store: photos, results and idempotency records in one S3 bucket.
//!
//! Layout (keys): `photos/<window>/<id>` the photo as uploaded, `photos/<window>/<id>.result.json`
//! its result object (next to the photo), `idempotency/<window>/<sha256 of the key>.json` the
//! API's idempotency records, `health/<instance>` the readiness probe's object.

use crate::error::StoreError;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use photocheck_config::S3Section;
use std::time::Duration;

/// A bucket on an S3-compatible server.
#[derive(Clone, Debug)]
pub struct Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

/// Key of a photo.
pub fn photo_key(window: &str, id: &str) -> String {
    format!("photos/{window}/{id}")
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

impl Store {
    /// Builds a client for `section` (path-style, static credentials, bounded timeouts). Makes
    /// no request.
    pub fn new(section: &S3Section) -> Store {
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
        if !section.endpoint.is_empty() {
            builder = builder.endpoint_url(section.endpoint.clone());
        }
        Store {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            bucket: section.bucket.clone(),
        }
    }

    /// The same client on another bucket (a job names its bucket).
    pub fn with_bucket(&self, bucket: &str) -> Store {
        Store {
            client: self.client.clone(),
            bucket: bucket.to_owned(),
        }
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket unless it exists.
    pub async fn ensure_bucket(&self) -> Result<(), StoreError> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => return Ok(()),
            Err(e) => match classify("head_bucket", &self.bucket, e) {
                StoreError::NotFound { .. } => {}
                other => return Err(other),
            },
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.as_service_error().and_then(|s| s.code()).unwrap_or("");
                if matches!(code, "BucketAlreadyOwnedByYou" | "BucketAlreadyExists") {
                    Ok(())
                } else {
                    Err(classify("create_bucket", &self.bucket, e))
                }
            }
        }
    }

    /// Stores `body` under `key`.
    pub async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("put", key, e))
    }

    /// Reads the object under `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
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
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match classify("head", key, e) {
                StoreError::NotFound { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Deletes the object under `key` (no error if it is absent).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("delete", key, e))
    }

    /// Keys under `prefix` (first 1000), for operators and tests.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| classify("list", prefix, e))?;
        Ok(out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect())
    }

    /// Up to `max` keys under `prefix` after `start_after` (in key order), and whether more
    /// follow.
    pub async fn list_after(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: i32,
    ) -> Result<(Vec<String>, bool), StoreError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .max_keys(max.clamp(1, 1000))
            .send()
            .await
            .map_err(|e| classify("list", prefix, e))?;
        let keys = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        Ok((keys, out.is_truncated().unwrap_or(false)))
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
