//! The ingest API on its own: authentication, idempotency, windows, media types, limits.

use crate::harness::*;
use photocheck_pipeline::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_idempotency_windows_and_media_types() {
    let s3 = S3Server::start();
    let names = Names::new();
    let mut config = config(&s3, &names, None);
    // Window 2's token is configured as its digest only; window 1 may also use icao.
    config.api.tokens.insert(
        "w2".into(),
        format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(TOKEN_W2.as_bytes()))
        ),
    );
    config
        .api
        .window_profiles
        .insert("w1".into(), vec!["ga461".into(), "icao".into()]);
    let audit = tempfile::tempdir().unwrap();
    let audit_path = audit.path().join("audit.jsonl");
    config.audit.path = audit_path.display().to_string();
    declare(&config, &names).await;
    let api = start_api(&config).await;
    let store = Store::new(&config.s3).unwrap();
    let photo = photos(2);

    // No token, wrong token: 401, nothing stored or queued.
    let r = http()
        .post(format!("{}/v1/photos", api.url))
        .header("content-type", "image/jpeg")
        .body(photo[0].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let (status, body) = upload(&api, "token-window-one-0123456780", photo[0].clone(), None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "api.unauthorized");
    assert!(store.list("photos/").await.unwrap().is_empty());
    assert_eq!(depth(&names.jobs).await, 0);

    // Not an image by content, whatever the header says: 415. Over the limit: 413.
    let (status, _) = upload(&api, TOKEN_W1, b"%PDF-1.7 not a photo".to_vec(), None).await;
    assert_eq!(status, 415);
    let r = http()
        .post(format!("{}/v1/photos", api.url))
        .bearer_auth(TOKEN_W1)
        .header("content-type", "text/plain")
        .body(photo[0].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let mut big = photo[0].clone();
    big.resize(config.api.max_body_bytes + 1, 0);
    let (status, _) = upload(&api, TOKEN_W1, big, None).await;
    assert_eq!(status, 413);
    assert!(store.list("photos/").await.unwrap().is_empty());
    assert_eq!(depth(&names.jobs).await, 0);

    // The same Idempotency-Key twice: one id, one job.
    let (s1, a) = upload(&api, TOKEN_W1, photo[0].clone(), Some("upload-1")).await;
    let (s2, b) = upload(&api, TOKEN_W1, photo[0].clone(), Some("upload-1")).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(a["status"], "queued");
    assert_eq!(a["id"], b["id"]);
    assert_eq!(depth(&names.jobs).await, 1);
    // Reusing the key for another photo is refused; another window's same key is its own.
    let (s3_status, _) = upload(&api, TOKEN_W1, photo[1].clone(), Some("upload-1")).await;
    assert_eq!(s3_status, 422);
    let (s4, c) = upload(&api, TOKEN_W2, photo[0].clone(), Some("upload-1")).await;
    assert_eq!(s4, 202);
    assert_ne!(c["id"], a["id"]);
    assert_eq!(depth(&names.jobs).await, 2);

    // A window reads its own photos only.
    let id = a["id"].as_str().unwrap();
    let get = |token: &'static str, id: String| {
        let url = format!("{}/v1/photos/{id}", api.url);
        async move { http().get(url).bearer_auth(token).send().await.unwrap() }
    };
    let mine = get(TOKEN_W1, id.into()).await;
    assert_eq!(mine.status(), 200);
    let mine: serde_json::Value = mine.json().await.unwrap();
    assert_eq!(mine["status"], "queued");
    assert_eq!(get(TOKEN_W2, id.into()).await.status(), 404);
    assert_eq!(get(TOKEN_W1, "../../etc".into()).await.status(), 404);
    let anonymous = http()
        .get(format!("{}/v1/photos/{id}", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // Multipart with metadata; the job message carries it.
    let r = multipart_upload(
        &http(),
        &api.url,
        TOKEN_W1,
        &photo[1],
        r#"{"application_id":"A-1","window_id":"w1","profile":"icao"}"#,
    )
    .await;
    assert_eq!(r.status(), 202);
    // Window 2 may use only the deployment's profile: icao is refused, nothing queued.
    let r = multipart_upload(
        &http(),
        &api.url,
        TOKEN_W2,
        &photo[1],
        r#"{"profile":"icao"}"#,
    )
    .await;
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "api.profile_not_allowed");
    let jobs = drain(&names.jobs).await;
    assert_eq!(jobs.len(), 3);
    let last: photocheck_types::JobMessage = serde_json::from_slice(&jobs[2].1).unwrap();
    assert_eq!(last.profile, "icao");
    assert_eq!(last.application_id.as_deref(), Some("A-1"));
    assert_eq!(last.window_id.as_deref(), Some("w1"));
    assert_eq!(last.bucket, names.bucket);
    assert_eq!(
        store.get(&last.key).await.unwrap().as_ref(),
        photo[1].as_slice()
    );

    // The owning window withdraws a photo: another window cannot (404), the owner can, and the
    // photo is gone from the store and from GET.
    let delete = |token: &'static str, id: String| {
        let url = format!("{}/v1/photos/{id}", api.url);
        async move { http().delete(url).bearer_auth(token).send().await.unwrap() }
    };
    let withdrawn = last.id.clone();
    assert_eq!(delete(TOKEN_W2, withdrawn.clone()).await.status(), 404);
    assert!(store.exists(&last.key).await.unwrap());
    let r = delete(TOKEN_W1, withdrawn.clone()).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "deleted");
    assert!(!store.exists(&last.key).await.unwrap());
    assert_eq!(get(TOKEN_W1, withdrawn.clone()).await.status(), 404);
    assert_eq!(delete(TOKEN_W1, withdrawn.clone()).await.status(), 404);

    // The audit log holds each accepted upload once and the withdrawal, by window and id.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events.iter().filter(|e| **e == "photo.accepted").count(), 3);
    let deleted: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["event"] == "photo.deleted")
        .collect();
    assert_eq!(deleted.len(), 1, "{lines:?}");
    assert_eq!(deleted[0]["id"], withdrawn.as_str());
    assert_eq!(deleted[0]["window"], "w1");

    // Operational endpoints.
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let r = http()
            .get(format!("{}{path}", api.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let metrics = http()
        .get(format!("{}/metrics", api.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("photocheck_api_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("photocheck_api_accepted_total 3"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_over_its_rate_gets_429_and_others_are_unaffected() {
    let s3 = S3Server::start();
    let names = Names::new();
    let mut config = config(&s3, &names, None);
    config.api.window_rate_per_s = 0.5;
    config.api.window_burst = 2;
    declare(&config, &names).await;
    let api = start_api(&config).await;
    let photo = photos(1).remove(0);
    for _ in 0..2 {
        let (status, _) = upload(&api, TOKEN_W1, photo.clone(), None).await;
        assert_eq!(status, 202);
    }
    let r = http()
        .post(format!("{}/v1/photos", api.url))
        .bearer_auth(TOKEN_W1)
        .header("content-type", "image/jpeg")
        .body(photo.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    assert_eq!(depth(&names.jobs).await, 2, "a refused upload was queued");
    // Another window has its own bucket; the scheme name is case-insensitive.
    let r = http()
        .post(format!("{}/v1/photos", api.url))
        .header("authorization", format!("bearer {TOKEN_W2}"))
        .header("content-type", "image/jpeg")
        .body(photo)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_metrics_can_leave_the_public_listener() {
    let s3 = S3Server::start();
    let names = Names::new();
    let mut config = config(&s3, &names, None);
    let internal = format!("127.0.0.1:{}", free_port());
    config.api.internal_listen = internal.clone();
    declare(&config, &names).await;
    let api = start_api(&config).await;
    let status = |url: String| async move {
        match http().get(url).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    };
    eventually("the internal listener up", || {
        let url = format!("http://{internal}/healthz");
        async move { status(url).await == 200 }
    })
    .await;
    for path in ["/metrics", "/readyz"] {
        assert_eq!(
            status(format!("{}{path}", api.url)).await,
            404,
            "public {path}"
        );
        assert_eq!(
            status(format!("http://{internal}{path}")).await,
            200,
            "internal {path}"
        );
    }
    assert_eq!(status(format!("{}/openapi.json", api.url)).await, 200);
}
