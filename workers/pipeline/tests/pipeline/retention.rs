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
    put("photos/w1/unchecked").await;
    put("idempotency/w1/record.json").await;

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
    assert_eq!(store.list("photos/").await.unwrap().len(), 3);

    // Two hours later, with photos kept one hour once checked and records one hour: the
    // checked photo and the record go; the result and the photo still waiting for its check stay.
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
        (1, 0, 1)
    );
    assert!(!store.exists("photos/w1/checked").await.unwrap());
    assert!(store.exists("photos/w1/checked.result.json").await.unwrap());
    assert!(store.exists("photos/w1/unchecked").await.unwrap());
    assert!(!store.exists("idempotency/w1/record.json").await.unwrap());

    // Past the result's retention everything under photos/ goes, checked or not.
    let swept = sweep(&store, &rules, &audit, now_unix() + 31 * 86_400)
        .await
        .unwrap();
    assert_eq!((swept.photos, swept.results), (1, 1));
    assert!(store.list("photos/").await.unwrap().is_empty());

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
            ("idempotency", "record.json", "idempotency/w1/record.json"),
            ("result", "checked", "photos/w1/checked.result.json"),
            ("photo", "unchecked", "photos/w1/unchecked"),
        ]
    );
}
