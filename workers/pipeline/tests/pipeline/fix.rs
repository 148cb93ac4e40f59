//! `POST /v1/photos?fix=true` through a real worker: the result says what `fix` did, and the
//! window fetches the new photo with `GET /v1/photos/{id}/fixed`; a photo whose person cannot
//! be fixed is refused with the reason, and nothing is stored for it.

use crate::harness::*;

async fn upload_fix(api: &Api, body: Vec<u8>) -> String {
    let r = http()
        .post(format!("{}/v1/photos?fix=true", api.url))
        .bearer_auth(TOKEN_W1)
        .header("content-type", "image/jpeg")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let v: serde_json::Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

/// `GET /v1/photos/{id}/fixed` as the window holding `token`.
async fn get_fixed(api: &Api, id: &str, token: &str) -> reqwest::Response {
    http()
        .get(format!("{}/v1/photos/{id}/fixed", api.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn result_of(api: &Api, id: &str) -> serde_json::Value {
    let url = format!("{}/v1/photos/{id}", api.url);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let v: serde_json::Value = http()
            .get(&url)
            .bearer_auth(TOKEN_W1)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["status"] == "done" {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "no result for {id}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_window_asks_for_the_fixed_photo_and_gets_it() {
    let s3 = S3Server::start();
    let names = Names::new();
    let config = config(&s3, &names, None);
    declare(&config, &names).await;
    let api = start_api(&config).await;
    let _worker = Worker::start(&config, false);
    let dir = repo_root().join("../shared/fixtures");

    // A compliant photo: handed back as it is, the same bytes fetched.
    let compliant = std::fs::read(dir.join("pass__pass_034_0.jpg")).unwrap();
    let id = upload_fix(&api, compliant.clone()).await;
    let v = result_of(&api, &id).await;
    let fix = &v["result"]["fix"];
    assert_eq!(fix["status"], "fixed", "{v}");
    assert_eq!(fix["verdict"], "pass");
    let changes = fix["changes"].as_array().unwrap();
    assert!(
        changes.len() == 1 && changes[0].as_str().unwrap().contains("未作改动"),
        "{v}"
    );
    let r = get_fixed(&api, &id, TOKEN_W1).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), compliant.as_slice());

    // A photo twice the size: made, passing, fetched as a 358 × 441 JPEG at 350 dpi.
    let id = upload_fix(
        &api,
        std::fs::read(dir.join("file__size_716x882_034_0.jpg")).unwrap(),
    )
    .await;
    let v = result_of(&api, &id).await;
    let fix = &v["result"]["fix"];
    assert_eq!(fix["status"], "fixed", "{v}");
    assert_eq!(fix["verdict"], "pass");
    assert!(fix["key"].as_str().unwrap().ends_with(".fixed.jpg"));
    assert!(fix["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().contains("350 dpi")));
    let r = get_fixed(&api, &id, TOKEN_W1).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let jpeg = r.bytes().await.unwrap();
    assert_eq!(&jpeg[..2], b"\xFF\xD8");
    // JFIF density: units 1 (dpi), 350 × 350.
    assert_eq!((jpeg[13], &jpeg[14..18]), (1, &[1u8, 94, 1, 94][..]));
    // Only the uploading window may fetch it.
    let other = get_fixed(&api, &id, TOKEN_W2).await;
    assert_eq!(other.status().as_u16(), 404);

    // A white top is the person's clothing: refused with that reason, nothing made.
    let id = upload_fix(
        &api,
        std::fs::read(dir.join("subject__white_top_037_1.jpg")).unwrap(),
    )
    .await;
    let v = result_of(&api, &id).await;
    let fix = &v["result"]["fix"];
    assert_eq!(fix["status"], "refused", "{v}");
    assert!(fix.get("key").is_none());
    assert!(fix["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"] == "clothing.color"));
    let r = get_fixed(&api, &id, TOKEN_W1).await;
    assert_eq!(r.status().as_u16(), 404);
    // A plain upload carries no fix at all.
    let (status, answer) = upload(
        &api,
        TOKEN_W1,
        std::fs::read(dir.join("pass__pass_034_0.jpg")).unwrap(),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let v = result_of(&api, answer["id"].as_str().unwrap()).await;
    assert!(v["result"].get("fix").is_none(), "{v}");
}
