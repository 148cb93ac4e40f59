//! Retention on a real store: the sweeper deletes what the rules no longer keep, and never a
//! photo that has no result yet.

use crate::harness::*;
use bytes::Bytes;
use photocheck_config::{AuditSection, RetentionSection};
use photocheck_pipeline::audit::Audit;
use photocheck_pipeline::retention::{now_unix, sweep};
use photocheck_pipeline::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_deletes_expired_photos_results_and_records() {
    let s3 = S3Server::start();
    let names = Names::new();
    let config = config(&s3, &names, None);
    let store = Store::new(&config.s3).unwrap();
    store.ensure_bucket().await.unwrap();
    let put = |key: &'static str| {
        let store = store.clone();
        async move {
            store
                .put(key, Bytes::from_static(b"x"), "application/octet-stream")
                .await
                .unwrap()
        }
    };
    put("photos/w1/checked").await;
    put("photos/w1/checked.result.json").await;
    put("photos/w1/checked.fixed.jpg").await;
    put("photos/w1/checked.decision.json").await;
    put("photos/w1/unchecked").await;
    put("idempotency/w1/record.json").await;
    put("index/v1/r/2026-12-06/w1/checked~pass~1~-").await;

    // Defaults: nothing is old enough yet.
    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let audit = Audit::open(&AuditSection {
        path: audit_path.display().to_string(),
    })
    .unwrap();
    let kept = sweep(&store, &RetentionSection::default(), &audit, now_unix())
        .await
        .unwrap();
    assert_eq!(kept, Default::default());
    assert_eq!(store.list("photos/").await.unwrap().len(), 5);

    // Two hours later, with photos kept one hour once checked and records one hour: the
    // checked photo (with the photo `fix` made from it) and the record go; the result, the
    // reviewer's decision, the statistics and the photo still waiting for its check stay.
    let rules = RetentionSection {
        photo_hours: 1.0,
        result_days: 30.0,
        idempotency_days: 1.0 / 24.0,
        sweep_every_s: 0,
    };
    let swept = sweep(&store, &rules, &audit, now_unix() + 2 * 3600)
        .await
        .unwrap();
    assert_eq!(
        (swept.photos, swept.results, swept.idempotency_records),
        (2, 0, 1)
    );
    assert!(!store.exists("photos/w1/checked").await.unwrap());
    assert!(!store.exists("photos/w1/checked.fixed.jpg").await.unwrap());
    assert!(store
        .exists("photos/w1/checked.decision.json")
        .await
        .unwrap());
    assert!(store.exists("photos/w1/checked.result.json").await.unwrap());
    assert!(store.exists("photos/w1/unchecked").await.unwrap());
    assert!(!store.exists("idempotency/w1/record.json").await.unwrap());

    // Past the result's retention everything under photos/ goes, checked or not.
    let swept = sweep(&store, &rules, &audit, now_unix() + 31 * 86_400)
        .await
        .unwrap();
    assert_eq!(
        (
            swept.photos,
            swept.results,
            swept.decisions,
            swept.index_entries
        ),
        (1, 1, 1, 1)
    );
    assert!(store.list("photos/").await.unwrap().is_empty());
    assert!(store.list("index/").await.unwrap().is_empty());

    // Every deletion is in the audit log, in order, with its kind and id.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["event"], "retention.deleted");
            (
                l["kind"].as_str().unwrap(),
                l["id"].as_str().unwrap(),
                l["key"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("photo", "checked", "photos/w1/checked"),
            ("photo", "checked", "photos/w1/checked.fixed.jpg"),
            ("idempotency", "record.json", "idempotency/w1/record.json"),
            ("decision", "checked", "photos/w1/checked.decision.json"),
            ("result", "checked", "photos/w1/checked.result.json"),
            ("photo", "unchecked", "photos/w1/unchecked"),
        ]
    );
}

/// `deploy/s3-lifecycle.json`, the store-side second line behind the sweeper, as an operator
/// installs it (PutBucketLifecycleConfiguration): Garage accepts every rule and reads them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_lifecycle_rules_install_on_garage() {
    use aws_sdk_s3::types::{
        AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
        LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    };
    let s3 = S3Server::start();
    let names = Names::new();
    let config = config(&s3, &names, None);
    Store::new(&config.s3)
        .unwrap()
        .ensure_bucket()
        .await
        .unwrap();
    let text = std::fs::read_to_string(repo_root().join("deploy/s3-lifecycle.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut rules = Vec::new();
    for r in json["Rules"].as_array().unwrap() {
        let mut rule = LifecycleRule::builder()
            .id(r["ID"].as_str().unwrap())
            .status(ExpirationStatus::Enabled)
            .filter(
                LifecycleRuleFilter::builder()
                    .prefix(r["Filter"]["Prefix"].as_str().unwrap())
                    .build(),
            );
        if let Some(days) = r["Expiration"]["Days"].as_i64() {
            rule = rule.expiration(LifecycleExpiration::builder().days(days as i32).build());
        }
        if let Some(days) = r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"].as_i64() {
            rule = rule.abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(days as i32)
                    .build(),
            );
        }
        rules.push(rule.build().unwrap());
    }
    // Never stricter than the sweeper's defaults: a photo's result is kept result_days.
    let defaults = RetentionSection::default();
    let days = |id: &str| {
        json["Rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ID"] == id)
            .unwrap()["Expiration"]["Days"]
            .as_f64()
            .unwrap()
    };
    assert!(days("photocheck-photos-and-results-backstop") > defaults.result_days);
    assert!(days("photocheck-idempotency-records") > defaults.idempotency_days);

    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(config.s3.region.clone()))
            .endpoint_url(&config.s3.endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                &config.s3.access_key,
                &config.s3.secret_key,
                None,
                None,
                "test",
            ))
            .build(),
    );
    let n = rules.len();
    client
        .put_bucket_lifecycle_configuration()
        .bucket(&config.s3.bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("Garage accepts the lifecycle rules");
    let back = client
        .get_bucket_lifecycle_configuration()
        .bucket(&config.s3.bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(back.rules().len(), n);
}
