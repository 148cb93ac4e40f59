//! A window lists its own photos and results (`GET /v1/photos`, paged, `since` and `verdict`
//! filters) and exports them (`photocheck results`' library calls); another window sees none.

use crate::harness::*;
use photocheck_pipeline::submit::{fetch_results, results_csv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_lists_pages_filters_and_exports_its_results() {
    let s3 = S3Server::start();
    let names = Names::new();
    let config = config(&s3, &names, None);
    declare(&config, &names).await;
    let api = start_api(&config).await;
    let before = chrono::Utc::now();
    let mut ids = Vec::new();
    for body in photos(5) {
        let (status, answer) = upload(&api, TOKEN_W1, body, None).await;
        assert_eq!(status, 202);
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    // Nothing checked yet: all queued, in upload order.
    let page: serde_json::Value = http()
        .get(format!("{}/v1/photos?limit=2", api.url))
        .bearer_auth(TOKEN_W1)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = page["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[0].as_str(), ids[1].as_str()]);
    assert_eq!(page["photos"][0]["status"], "queued");
    assert_eq!(page["next_cursor"], ids[1].as_str());

    let _worker = Worker::start(&config, false);
    let api_url = api.url.clone();
    eventually("all five checked", || {
        let api_url = api_url.clone();
        async move {
            fetch_results(&api_url, TOKEN_W1, &Default::default(), None, None)
                .await
                .is_ok_and(|all| all.len() == 5 && all.iter().all(|p| p["status"] == "done"))
        }
    })
    .await;
    let all = fetch_results(&api.url, TOKEN_W1, &Default::default(), None, None)
        .await
        .unwrap();
    let order: Vec<&str> = all.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(order, ids.iter().map(String::as_str).collect::<Vec<_>>());
    // since: the whole batch from before it, nothing from the future.
    let since = before.to_rfc3339();
    assert_eq!(
        fetch_results(&api.url, TOKEN_W1, &Default::default(), Some(&since), None)
            .await
            .unwrap()
            .len(),
        5
    );
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert!(
        fetch_results(&api.url, TOKEN_W1, &Default::default(), Some(&later), None)
            .await
            .unwrap()
            .is_empty()
    );
    // verdict: the filter partitions the batch.
    let mut by_verdict = 0;
    for v in ["pass", "fail", "review"] {
        let some = fetch_results(&api.url, TOKEN_W1, &Default::default(), None, Some(v))
            .await
            .unwrap();
        assert!(some.iter().all(|p| p["result"]["verdict"] == v));
        by_verdict += some.len();
    }
    assert_eq!(by_verdict, 5);
    // Another window sees none of them.
    assert!(
        fetch_results(&api.url, TOKEN_W2, &Default::default(), None, None)
            .await
            .unwrap()
            .is_empty()
    );
    // The export: a header and one row per photo, with its application fields.
    let csv = results_csv(&all);
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("id,application_id,window_id,submitted_at"));
    assert_eq!(rows.len(), 6);
    assert!(
        rows[1].starts_with(&format!("{},,w1,", ids[0])),
        "{}",
        rows[1]
    );
}
