//! A broker that blocks publishers (a memory alarm on a RabbitMQ node the test starts itself,
//! never the shared node): the API answers 503 with `Retry-After` within its confirm deadline
//! instead of hanging, and after the alarm clears a retry with the same `Idempotency-Key` gets
//! one id, every time.

use crate::harness::*;
use lapin::options::BasicGetOptions;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_broker_gets_503_and_retries_after_it_clears_get_one_id() {
    let node = RabbitNode::start();
    let s3 = S3Server::start();
    let names = Names::new();
    let mut config = config(&s3, &names, None);
    config.amqp.url = node.url.clone();
    config.amqp.confirm_timeout_ms = 2_000;
    config.amqp.connect_timeout_ms = 2_000;
    let api = start_api(&config).await;
    let photo = photos(1).remove(0);
    let (status, _) = upload(&api, TOKEN_W1, photo.clone(), Some("before")).await;
    assert_eq!(status, 202);

    node.block();
    let answer = tokio::time::timeout(
        Duration::from_secs(60),
        http()
            .post(format!("{}/v1/photos", api.url))
            .bearer_auth(TOKEN_W1)
            .header("content-type", "image/jpeg")
            .header("idempotency-key", "during")
            .body(photo.clone())
            .send(),
    )
    .await
    .expect("the API hung on a blocked broker")
    .unwrap();
    assert_eq!(answer.status(), 503);
    assert!(answer.headers().contains_key("retry-after"));

    node.unblock();
    // The window retries as told; every answer names the same id.
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let mut accepted = None;
        for _ in 0..60 {
            let (status, body) = upload(&api, TOKEN_W1, photo.clone(), Some("during")).await;
            if status == 202 {
                accepted = body["id"].as_str().map(str::to_owned);
                break;
            }
            assert_eq!(status, 503, "{body}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        ids.insert(accepted.expect("accepted after the alarm cleared"));
    }
    assert_eq!(ids.len(), 1, "one key, several ids: {ids:?}");

    // On the queue: jobs for that key carry that id only (a publish whose confirm timed out
    // may still be enqueued once the alarm clears, so it can be there twice, same id).
    let id = ids.into_iter().next().unwrap();
    let conn = lapin::Connection::connect(&node.url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let mut for_key = 0;
    let mut total = 0;
    while let Some(m) = ch
        .basic_get(names.jobs.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        total += 1;
        let job: photocheck_types::JobMessage = serde_json::from_slice(&m.delivery.data).unwrap();
        if job.key.ends_with(&id) {
            for_key += 1;
        }
    }
    assert!(total >= 2, "{total} jobs");
    assert!((1..=2).contains(&for_key), "{for_key} jobs for the key");
    let _ = conn.close(200, "ok".into()).await;
}
