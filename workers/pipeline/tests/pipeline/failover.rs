//! Several nodes without a load balancer: a dead first node of the broker or of the store costs
//! a retry on the next, not an outage.

use crate::harness::*;
use bytes::Bytes;
use photocheck_pipeline::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_broker_node_or_store_gateway_is_skipped() {
    let s3 = S3Server::start();
    let names = Names::new();
    let mut config = config(&s3, &names, None);
    // Nothing listens on these ports: connection refused at once.
    let dead = free_port();
    config.amqp.failover_urls = vec![config.amqp.url.clone()];
    config.amqp.url = format!("amqp://guest:guest@127.0.0.1:{dead}/%2f");
    config.s3.failover_endpoints = vec![config.s3.endpoint.clone()];
    config.s3.endpoint = format!("http://127.0.0.1:{}", free_port());

    let store = Store::new(&config.s3).unwrap();
    store
        .ensure_bucket()
        .await
        .expect("bucket through the second gateway");
    store
        .put("probe/a", Bytes::from_static(b"one"), "text/plain")
        .await
        .unwrap();
    assert_eq!(
        store.get("probe/a").await.unwrap(),
        Bytes::from_static(b"one")
    );
    assert!(store.get_opt("probe/missing").await.unwrap().is_none());

    let conn = photocheck_pipeline::broker::connect(&config.amqp)
        .await
        .expect("connection through the second node");
    assert!(conn.status().connected());
    let _ = conn.close(200, "ok".into()).await;

    // Both together: the API takes a photo with both first nodes dead.
    declare(&config, &names).await;
    let api = start_api(&config).await;
    let (status, body) = upload(&api, TOKEN_W1, photos(1).remove(0), Some("failover")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(depth(&names.jobs).await, 1);

    // With no node left, storage is an error, not a hang.
    let mut none = config.s3.clone();
    none.failover_endpoints = vec![format!("http://127.0.0.1:{}", free_port())];
    assert!(Store::new(&none).unwrap().get("probe/a").await.is_err());
}
