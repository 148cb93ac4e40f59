//! Jobs that cannot be processed end in the dead-letter queue with the reason.

use crate::harness::*;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::BasicProperties;
use photocheck_pipeline::broker::header_str;
use photocheck_pipeline::worker::{ATTEMPTS_HEADER, ERROR_CODE_HEADER, ERROR_HEADER};

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
async fn malformed_and_over_retried_jobs_are_dead_lettered_with_the_reason() {
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
    };
    publish(&names.jobs, &serde_json::to_vec(&job).unwrap()).await;

    let _worker = Worker::start(&config, false);
    eventually("both jobs in the DLQ", || async {
        depth(&names.dlq).await >= 2
    })
    .await;
    assert_eq!(depth(&names.jobs).await, 0);

    let dead = drain(&names.dlq).await;
    assert_eq!(dead.len(), 2);
    let malformed = dead
        .iter()
        .find(|(_, body, _)| body.as_slice() == b"{ this is not a job")
        .expect("malformed message kept as sent");
    assert_eq!(
        header_str(&malformed.0, ERROR_CODE_HEADER).as_deref(),
        Some("job.malformed")
    );
    assert!(header_str(&malformed.0, ERROR_HEADER)
        .unwrap()
        .contains("malformed"));

    let retried = dead
        .iter()
        .find(|(_, body, _)| serde_json::from_slice::<photocheck_types::JobMessage>(body).is_ok())
        .expect("the job");
    assert_eq!(
        header_str(&retried.0, ERROR_CODE_HEADER).as_deref(),
        Some("storage.unavailable")
    );
    assert_eq!(
        header_str(&retried.0, ATTEMPTS_HEADER).as_deref(),
        Some("3")
    );
    assert_eq!(retried.2.as_deref(), Some(job.id.as_str()));
}
