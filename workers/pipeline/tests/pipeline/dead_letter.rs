//! Messages that are not jobs end in the dead-letter queue with the reason; a job meeting a
//! storage outage never does, however many attempts the outage outlasts.

use crate::harness::*;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::BasicProperties;
use photocheck_pipeline::broker::header_str;
use photocheck_pipeline::worker::{ERROR_CODE_HEADER, ERROR_HEADER};

async fn publish(queue: &str, body: &[u8]) {
    let conn = rabbit().await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = ch
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
    let _ = conn.close(200, "ok".into()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_dead_lettered_and_outages_never_are() {
    // The worker's storage is down for the whole test (a stopped server's port).
    let mut s3 = S3Server::start();
    s3.stop();
    let names = Names::new();
    let mut config = config(&s3, &names, None);
    config.worker.max_attempts = 3;
    declare(&config, &names).await;

    publish(&names.jobs, b"{ this is not a job").await;
    let job = photocheck_types::JobMessage {
        id: "0190a000-0000-7000-8000-000000000001".into(),
        bucket: names.bucket.clone(),
        key: "photos/w1/0190a000-0000-7000-8000-000000000001".into(),
        profile: "ga461".into(),
        submitted_at: "2026-11-29T12:00:00.000Z".into(),
        application_id: None,
        window_id: Some("w1".into()),
        fix: false,
    };
    publish(&names.jobs, &serde_json::to_vec(&job).unwrap()).await;
    // A job that would make the worker read another bucket: never run, dead-lettered.
    let foreign = photocheck_types::JobMessage {
        id: "0190a000-0000-7000-8000-000000000009".into(),
        bucket: "someone-elses-bucket".into(),
        key: "photos/w1/0190a000-0000-7000-8000-000000000009".into(),
        ..job.clone()
    };
    publish(&names.jobs, &serde_json::to_vec(&foreign).unwrap()).await;

    let worker = Worker::start(&config, true);
    eventually("the malformed messages in the DLQ", || async {
        depth(&names.dlq).await >= 2
    })
    .await;
    // The job outlives three times its attempts against the dead store, and stays held.
    eventually("the job waiting out the outage", || async {
        worker.metric("photocheck_job_retries_total").await >= 9.0
    })
    .await;
    assert_eq!(depth(&names.jobs).await, 0, "the job is held by the worker");

    let dead = drain(&names.dlq).await;
    assert_eq!(
        dead.len(),
        2,
        "only the malformed messages are dead-lettered"
    );
    let other_bucket = dead
        .iter()
        .find(|d| d.1.windows(12).any(|w| w == b"someone-else"))
        .expect("the job naming another bucket");
    assert_eq!(
        header_str(&other_bucket.0, ERROR_CODE_HEADER).as_deref(),
        Some("job.malformed")
    );
    let malformed = dead
        .iter()
        .find(|d| d.1.as_slice() == b"{ this is not a job")
        .expect("the message that is not a job");
    assert_eq!(malformed.1.as_slice(), b"{ this is not a job");
    assert_eq!(
        header_str(&malformed.0, ERROR_CODE_HEADER).as_deref(),
        Some("job.malformed")
    );
    assert!(header_str(&malformed.0, ERROR_HEADER)
        .unwrap()
        .contains("malformed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_the_engine_cannot_check_is_answered_with_engine_error() {
    // A job naming a profile this worker does not have: the engine cannot check it, and the
    // applicant still gets an answer (verdict review, engine.error), delivered and signed.
    let s3 = S3Server::start();
    let names = Names::new();
    let receiver = receiver().await;
    let config = config(&s3, &names, Some(&receiver.url()));
    declare(&config, &names).await;
    let job = photocheck_types::JobMessage {
        id: "0190a000-0000-7000-8000-000000000002".into(),
        bucket: names.bucket.clone(),
        key: "photos/w1/0190a000-0000-7000-8000-000000000002".into(),
        profile: "passport".into(),
        submitted_at: "2026-12-04T08:00:00.120Z".into(),
        application_id: Some("4401-A".into()),
        window_id: Some("w1".into()),
        fix: false,
    };
    publish(&names.jobs, &serde_json::to_vec(&job).unwrap()).await;
    let _worker = Worker::start(&config, false);
    within(receiver.wait_until(|r| !r.distinct().is_empty())).await;
    let got = receiver.received().remove(0);
    assert!(got.signature_valid);
    let r: photocheck_types::CheckResult = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(r.id.as_deref(), Some(job.id.as_str()));
    assert_eq!(r.verdict, photocheck_types::Verdict::Review);
    let c = r.check(photocheck_types::CheckCode::EngineError).unwrap();
    assert_eq!(c.status, photocheck_types::Status::Skipped);
    assert!(!c.message.is_empty());
    assert_eq!(r.application_id, Some(Some("4401-A".into())));
    assert_eq!(r.window_id.as_deref(), Some("w1"));
    assert_eq!(r.submitted_at.as_deref(), Some("2026-12-04T08:00:00.120Z"));
    assert!(r.checked_at.is_some());
    assert_eq!(depth(&names.dlq).await, 0);
}
