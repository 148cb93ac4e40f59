//! Photos through the API, two `photocheck worker` processes, S3, the results exchange and the
//! central system.

use crate::harness::*;
use photocheck_pipeline::receiver::Receiver;
use photocheck_pipeline::store::{result_key, Store};
use photocheck_pipeline::submit::{submit, SubmitOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The signature checked as CONTRACT §4 states it, independently of the project's own
/// `verify`: `t=<secs>,v1=<hex>`, HMAC-SHA256(secret, "<t>.<Idempotency-Key>.<body>"), `t`
/// within 300 s of now.
fn contract_signature_holds(r: &photocheck_pipeline::receiver::Received) -> bool {
    use hmac::{Hmac, Mac};
    let mut t = None;
    let mut v1 = Vec::new();
    for part in r.signature.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (chrono::Utc::now().timestamp() - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{}.", r.idempotency_key).as_bytes());
    mac.update(&r.body);
    let expected = hex::encode(mac.finalize().into_bytes());
    v1.contains(&expected)
}

/// Every id delivered, each with one body (repeats byte-identical), every signature valid.
fn delivered_bodies(receiver: &Receiver) -> BTreeMap<String, Vec<u8>> {
    let mut bodies: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for r in receiver.received() {
        assert!(r.signature_valid, "bad signature for {}", r.idempotency_key);
        assert!(contract_signature_holds(&r));
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["id"], r.idempotency_key.as_str());
        // Matched to its application: the service fields are always there (CONTRACT §2).
        assert!(body.get("application_id").is_some(), "{body}");
        assert_eq!(body["window_id"], "w1");
        for at in ["submitted_at", "checked_at"] {
            let t = body[at].as_str().unwrap_or_default();
            assert!(
                chrono::DateTime::parse_from_rfc3339(t).is_ok(),
                "{at}: {t:?}"
            );
        }
        if let Some(previous) = bodies.insert(r.idempotency_key.clone(), r.body.to_vec()) {
            assert_eq!(
                previous,
                r.body.to_vec(),
                "{} delivered with different bodies",
                r.idempotency_key
            );
        }
    }
    bodies
}

async fn upload_all(api: &Api, photos: Vec<Vec<u8>>) -> Vec<String> {
    let mut ids = Vec::new();
    for body in photos {
        let (status, answer) = upload(api, TOKEN_W1, body, None).await;
        assert_eq!(status, 202, "{answer}");
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_photos_through_two_worker_processes() {
    let s3 = S3Server::start();
    let names = Names::new();
    let receiver = receiver().await;
    let config = config(&s3, &names, Some(&receiver.url()));
    declare(&config, &names).await;
    let api = start_api(&config).await;
    let _workers = [Worker::start(&config, false), Worker::start(&config, false)];

    // Upload through the real client, in two runs of 100 fixture paths (each run has its own
    // idempotency keys, so the same file in both runs is two photos).
    let files: Vec<PathBuf> = fixtures().into_iter().cycle().take(100).collect();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let options = SubmitOptions {
            api: api.url.clone(),
            token: TOKEN_W1.into(),
            concurrency: 8,
            wait: false,
            wait_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_millis(100),
            max_attempts: 3,
            profile: None,
            paths: files
                .iter()
                .take(100)
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
            tls: Default::default(),
        };
        let mut sink = Vec::new();
        let report = submit(options, &mut sink).await.unwrap();
        assert_eq!(report.rejected(), 0);
        ids.extend(report.photos.into_iter().filter_map(|p| p.id));
    }
    // Top up to exactly 200 with direct uploads if the fixture set is smaller than 100.
    let missing = 200 - ids.len();
    ids.extend(upload_all(&api, photos(missing)).await);
    assert_eq!(ids.len(), 200);

    within(receiver.wait_until(|r| r.distinct().len() >= 200)).await;
    let bodies = delivered_bodies(&receiver);
    assert_eq!(bodies.len(), 200);
    for id in &ids {
        assert!(bodies.contains_key(id), "{id} not delivered");
    }

    // Each result is in S3 next to its photo, identical to what was delivered.
    let store = Store::new(&config.s3).unwrap();
    for id in &ids {
        let stored = store
            .get(&result_key(&format!("photos/w1/{id}")))
            .await
            .unwrap();
        assert_eq!(stored.as_ref(), bodies[id].as_slice());
    }
    // And on the results exchange, routed by verdict.
    let published = drain(&names.results_tap).await;
    let mut seen = std::collections::BTreeSet::new();
    for (_, body, message_id) in &published {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["id"].as_str(), message_id.as_deref());
        seen.insert(message_id.clone().unwrap());
    }
    assert_eq!(seen.len(), 200);
    // Nothing left behind.
    assert_eq!(depth(&names.jobs).await, 0);
    assert_eq!(depth(&names.dlq).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_loses_nothing() {
    let s3 = S3Server::start();
    let names = Names::new();
    let receiver = receiver().await;
    let mut config = config(&s3, &names, Some(&receiver.url()));
    config.worker.concurrency = 2;
    declare(&config, &names).await;
    let api = start_api(&config).await;
    let ids = upload_all(&api, photos(60)).await;

    let mut doomed = Worker::start(&config, false);
    within(receiver.wait_until(|r| r.distinct().len() >= 5)).await;
    doomed.kill9();
    let delivered_before = receiver.distinct().len();
    assert!(
        delivered_before < 60,
        "the kill came too late to test anything"
    );
    let _survivor = Worker::start(&config, false);

    within(receiver.wait_until(|r| r.distinct().len() >= 60)).await;
    let bodies = delivered_bodies(&receiver);
    for id in &ids {
        assert!(bodies.contains_key(id), "{id} lost");
    }
    eventually("jobs queue empty", || async {
        depth(&names.jobs).await == 0
    })
    .await;
    assert_eq!(depth(&names.dlq).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_failing_then_recovering_gets_every_result() {
    let s3 = S3Server::start();
    let names = Names::new();
    let receiver = receiver().await;
    receiver.set_failing(true);
    let config = config(&s3, &names, Some(&receiver.url()));
    declare(&config, &names).await;
    let api = start_api(&config).await;
    let mut worker = Worker::start(&config, false);
    let ids = upload_all(&api, photos(20)).await;

    // While the central system answers 500, jobs keep flowing: every result is checked and
    // readable through the API.
    let store = Store::new(&config.s3).unwrap();
    for id in &ids {
        let key = result_key(&format!("photos/w1/{id}"));
        eventually("result stored while central is down", || {
            let store = store.clone();
            let key = key.clone();
            async move { store.exists(&key).await.unwrap_or(false) }
        })
        .await;
    }
    within(receiver.wait_until(|r| r.refused() >= 20)).await;
    assert!(receiver.received().is_empty());

    receiver.set_failing(false);
    within(receiver.wait_until(|r| r.distinct().len() >= 20)).await;
    let bodies = delivered_bodies(&receiver);
    for id in &ids {
        assert!(bodies.contains_key(id));
    }
    eventually("deliveries queue empty", || async {
        depth(&names.deliveries).await == 0
    })
    .await;

    // SIGTERM: drains and exits 0.
    let status = worker.terminate();
    assert!(status.success(), "worker exited with {status}");
}
