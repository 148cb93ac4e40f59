//! Results the central system refuses for good are parked, never dropped, and an operator
//! re-sends them (`photocheck dlq … --parked`, the library's `dlq` module); the worker reports
//! the parked count. Messages that are not jobs are listed from the dead-letter queue.

use crate::harness::*;
use photocheck_pipeline::dlq::{self, Which};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_results_are_parked_listed_and_resent() {
    let s3 = S3Server::start();
    let names = Names::new();
    let receiver = receiver().await;
    let mut config = config(&s3, &names, Some(&receiver.url()));
    config.central.park_after = 2;
    declare(&config, &names).await;
    let api = start_api(&config).await;
    // The central system rejects every request as malformed (422): not worth retrying.
    receiver.set_refusing(422);
    let mut ids = Vec::new();
    for body in photos(3) {
        let (status, answer) = upload(&api, TOKEN_W1, body, None).await;
        assert_eq!(status, 202);
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    let worker = Worker::start(&config, true);
    eventually("three results parked", || async {
        depth(&names.parking).await >= 3
    })
    .await;
    assert!(receiver.received().is_empty());
    assert_eq!(depth(&names.deliveries).await, 0);

    // (The worker's age probe may hold one for a moment: list again until all three show.)
    let mut parked = Vec::new();
    for _ in 0..50 {
        parked = dlq::list(&config.amqp, Which::Parked).await.unwrap();
        if parked.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(parked.len(), 3);
    for e in &parked {
        assert!(ids.contains(&e.id), "{e:?}");
        assert_eq!(e.code.as_deref(), Some("delivery.status"));
        assert!(e.error.as_deref().unwrap().contains("422"));
        assert!(e.set_aside_at.is_some());
    }
    // Listing took nothing away; showing one gives its result body.
    eventually("all three still parked", || async {
        depth(&names.parking).await == 3
    })
    .await;
    let (entry, body) = dlq::show(&config.amqp, Which::Parked, &ids[0])
        .await
        .unwrap()
        .expect("shown");
    assert_eq!(entry.id, ids[0]);
    let result: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(result["id"], ids[0].as_str());
    eventually("the worker's metric counts them", || async {
        worker
            .metric("photocheck_set_aside_messages{queue=\"parked\"}")
            .await
            >= 3.0
    })
    .await;

    // Fixed on the central side: the operator re-sends one, then the rest.
    receiver.set_refusing(0);
    let moved = dlq::requeue(&config.amqp, Which::Parked, Some(&ids[..1]))
        .await
        .unwrap();
    assert_eq!(moved, 1);
    within(receiver.wait_until(|r| !r.distinct().is_empty())).await;
    // (The worker's age probe may hold one for a moment: count until it is back.)
    eventually("two left parked", || async {
        depth(&names.parking).await == 2
    })
    .await;
    let moved = dlq::requeue(&config.amqp, Which::Parked, None)
        .await
        .unwrap();
    assert_eq!(moved, 2);
    within(receiver.wait_until(|r| r.distinct().len() >= 3)).await;
    assert!(receiver.received().iter().all(|r| r.signature_valid));
    assert_eq!(depth(&names.parking).await, 0);
}
