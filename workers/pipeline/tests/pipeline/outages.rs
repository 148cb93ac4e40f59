//! Storage outages: the API refuses with 503 and queues nothing; workers wait the outage out
//! (it never counts as an attempt) and recover by themselves.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_down_api_answers_503_and_workers_recover() {
    let mut s3 = S3Server::start();
    let names = Names::new();
    let receiver = receiver().await;
    let mut config = config(&s3, &names, Some(&receiver.url()));
    // Outages are not attempts: a single attempt still outlasts the outage below.
    config.worker.max_attempts = 1;
    config.worker.outage_retry_max_ms = 200;
    declare(&config, &names).await;
    let api = start_api(&config).await;
    let ids = {
        let mut ids = Vec::new();
        for body in photos(10) {
            let (status, answer) = upload(&api, TOKEN_W1, body, None).await;
            assert_eq!(status, 202);
            ids.push(answer["id"].as_str().unwrap().to_owned());
        }
        ids
    };
    assert_eq!(depth(&names.jobs).await, 10);

    s3.stop();
    let r = http()
        .post(format!("{}/v1/photos", api.url))
        .bearer_auth(TOKEN_W1)
        .header("content-type", "image/jpeg")
        .header("idempotency-key", "during-outage")
        .body(photos(1).remove(0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(
        depth(&names.jobs).await,
        10,
        "a job was queued during the outage"
    );
    let ready = http()
        .get(format!("{}/readyz", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    // A worker meets the outage and retries.
    let worker = Worker::start(&config, true);
    eventually("worker retrying against the dead store", || async {
        worker.metric("photocheck_job_retries_total").await >= 3.0
    })
    .await;
    assert!(receiver.received().is_empty());
    // Paused, not dead: not ready, still live.
    eventually("the worker reports itself not ready", || async {
        worker.probe("/readyz").await == 503
    })
    .await;
    assert_eq!(worker.probe("/healthz").await, 200);

    s3.restart();
    within(receiver.wait_until(|r| r.distinct().len() >= 10)).await;
    eventually("the worker ready again", || async {
        worker.probe("/readyz").await == 200
    })
    .await;
    let delivered = receiver.distinct();
    for id in &ids {
        assert!(delivered.contains(id), "{id} not delivered after recovery");
    }
    assert_eq!(depth(&names.dlq).await, 0);
    // The refused upload left nothing behind: retrying it with the same key now works.
    let r = http()
        .post(format!("{}/v1/photos", api.url))
        .bearer_auth(TOKEN_W1)
        .header("content-type", "image/jpeg")
        .header("idempotency-key", "during-outage")
        .body(photos(1).remove(0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}
