//! One `Idempotency-Key` → one id and one job, with API replicas racing on the same keys while
//! storage fails mid-way; and the broker lock that makes it so. The replicas run with no ONNX
//! Runtime and no models (`ApiProcess`): the API never needs the engine.

use crate::harness::*;
use photocheck_pipeline::lock;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Uploads `body` with `key` to `api_url` until it is accepted (503 and a refused connection
/// are waited out, as a window system would); returns the id.
async fn upload_until_accepted(api_url: &str, key: &str, body: Vec<u8>) -> String {
    for _ in 0..600 {
        let sent = http()
            .post(format!("{api_url}/v1/photos"))
            .bearer_auth(TOKEN_W1)
            .header("content-type", "image/jpeg")
            .header("idempotency-key", key)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 202 => {
                let v: serde_json::Value = r.json().await.unwrap();
                return v["id"].as_str().unwrap().to_owned();
            }
            Ok(r) => assert_eq!(r.status(), 503, "unexpected answer for {key}"),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{key} never accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_api_processes_racing_on_50_keys_through_a_storage_outage_queue_50_jobs() {
    let s3 = S3Server::start();
    let names = Names::new();
    let config = config(&s3, &names, None);
    declare(&config, &names).await;
    let (a, b) = (ApiProcess::start(&config), ApiProcess::start(&config));
    a.wait_ready().await;
    b.wait_ready().await;

    let bodies = photos(50);
    let answered = Arc::new(AtomicUsize::new(0));
    // Storage goes away once a fifth of the answers are in, for three seconds.
    let outage = {
        let answered = Arc::clone(&answered);
        tokio::spawn(async move {
            let mut s3 = s3;
            while answered.load(Ordering::SeqCst) < 20 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let mut s3 = tokio::task::spawn_blocking(move || {
                s3.stop();
                s3
            })
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
            tokio::task::spawn_blocking(move || {
                s3.restart();
                s3
            })
            .await
            .unwrap()
        })
    };
    let mut tasks = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        for url in [a.url.clone(), b.url.clone()] {
            let (body, answered) = (body.clone(), Arc::clone(&answered));
            tasks.push(tokio::spawn(async move {
                let key = format!("race-{i:02}");
                let id = upload_until_accepted(&url, &key, body).await;
                answered.fetch_add(1, Ordering::SeqCst);
                (key, id)
            }));
        }
    }
    let mut ids: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for t in tasks {
        let (key, id) = within(t).await.unwrap();
        ids.entry(key).or_default().insert(id);
    }
    let _s3 = outage.await.unwrap();
    assert_eq!(ids.len(), 50);
    for (key, set) in &ids {
        assert_eq!(set.len(), 1, "{key} got two ids: {set:?}");
    }
    let distinct: HashSet<&String> = ids.values().flatten().collect();
    assert_eq!(distinct.len(), 50);
    let jobs = drain(&names.jobs).await;
    let job_ids: Vec<String> = jobs
        .iter()
        .map(|(_, body, _)| {
            let job: serde_json::Value = serde_json::from_slice(body).unwrap();
            job["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(job_ids.len(), 50, "jobs queued: {job_ids:?}");
    let job_set: HashSet<&String> = job_ids.iter().collect();
    assert_eq!(job_set, distinct);
}

/// How long a lock test waits for a lock it expects free: lock queues are shared stripes, and
/// the in-process API of a test running beside it may hold one for a moment.
const FREE_WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_lock_is_held_by_one_connection_and_freed_with_it() {
    let (one, two) = (Arc::new(rabbit().await), Arc::new(rabbit().await));
    let resource = unique("lock-test-");
    let held = lock::lock(&one, &resource, FREE_WAIT)
        .await
        .unwrap()
        .expect("free");
    assert!(held.still_held());
    assert!(lock::try_lock(&two, &resource).await.unwrap().is_none());
    // Another task on the holder's own connection is refused too.
    assert!(lock::try_lock(&one, &resource).await.unwrap().is_none());
    // Waiting gives up after its patience while the holder keeps it.
    let t = std::time::Instant::now();
    assert!(lock::lock(&two, &resource, Duration::from_millis(300))
        .await
        .unwrap()
        .is_none());
    assert!(t.elapsed() >= Duration::from_millis(300));
    held.release().await;
    let again = lock::lock(&two, &resource, FREE_WAIT)
        .await
        .unwrap()
        .expect("released");
    // A holder whose connection closes loses the lock without releasing it.
    two.close(200, "gone".into()).await.unwrap();
    assert!(!again.still_held());
    drop(again);
    let third = Arc::new(rabbit().await);
    let held = lock::lock(&third, &resource, FREE_WAIT)
        .await
        .unwrap()
        .expect("freed with its connection");
    // A lock whose queue the broker loses (its node gone; here deleted by an operator) is lost
    // too: the broker cancels the consumer, and the holder sees it.
    assert!(held.still_held());
    let admin = rabbit().await;
    let deleted = admin
        .create_channel()
        .await
        .unwrap()
        .queue_delete(
            lock::queue_name(&resource).as_str().into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(deleted, 0, "a lock queue holds no message");
    let t = std::time::Instant::now();
    while held.still_held() && t.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !held.still_held(),
        "the cancelled consumer still reads as held"
    );
    drop(held);
    // Its resource can be taken again (the queue is declared anew).
    let fourth = Arc::new(rabbit().await);
    assert!(lock::lock(&fourth, &resource, FREE_WAIT)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn locks_on_one_stripe_exclude_each_other_and_the_stripe_holds_no_message() {
    // Two resources that share a lock queue: the second waits for the first.
    let base = unique("stripe-");
    let a = format!("{base}-a");
    let b = (0..100_000)
        .map(|i| format!("{base}-b{i}"))
        .find(|r| lock::queue_name(r) == lock::queue_name(&a))
        .expect("a resource on the same stripe");
    let (one, two) = (Arc::new(rabbit().await), Arc::new(rabbit().await));
    let held = lock::lock(&one, &a, FREE_WAIT)
        .await
        .unwrap()
        .expect("free");
    assert!(lock::try_lock(&two, &b).await.unwrap().is_none());
    // A stray message published to a lock queue (dropped by its x-max-length 0, or handed to
    // the holder's consumer, which takes it without an ack) does not end the lock.
    let ch = two.create_channel().await.unwrap();
    ch.confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    ch.basic_publish(
        "".into(),
        lock::queue_name(&a).as_str().into(),
        lapin::options::BasicPublishOptions::default(),
        b"stray",
        lapin::BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(held.still_held());
    held.release().await;
    let b_held = lock::lock(&two, &b, FREE_WAIT)
        .await
        .unwrap()
        .expect("released");
    b_held.release().await;
    // Locks taken and released one after another on one connection (the released channels
    // are reused) keep excluding the other connection.
    for i in 0..20 {
        let r = format!("{base}-seq{i}");
        let held = lock::lock(&one, &r, FREE_WAIT)
            .await
            .unwrap()
            .expect("free");
        assert!(held.still_held());
        assert!(
            lock::try_lock(&two, &r).await.unwrap().is_none(),
            "lock {i}"
        );
        held.release().await;
    }
    assert!(lock::lock(&two, &a, FREE_WAIT).await.unwrap().is_some());
}
