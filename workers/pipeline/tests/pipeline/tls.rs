//! TLS on every hop, with a private CA made by the test: window system → API (HTTPS with client
//! certificates), API and worker → RabbitMQ (`amqps://`, a node serving TLS only), API and worker
//! → Garage (behind a TLS terminator), worker → central system (HTTPS). The audit log records
//! the upload, the stored result and the delivery.

use crate::harness::*;
use crate::pki::Pki;
use photocheck_config::ServerTlsSection;
use photocheck_pipeline::delivery::DEFAULT_TOLERANCE_S;
use photocheck_pipeline::receiver::Receiver;
use photocheck_pipeline::store::{photo_key, result_key, Store};
use photocheck_pipeline::tls::ClientTls;

fn client(pki: &Pki, identity: Option<&(String, String)>) -> reqwest::Client {
    let tls = ClientTls {
        ca_file: pki.path("ca.pem"),
        cert_file: identity.map(|i| i.0.clone()).unwrap_or_default(),
        key_file: identity.map(|i| i.1.clone()).unwrap_or_default(),
    };
    tls.apply(reqwest::Client::builder())
        .unwrap()
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hop_runs_over_tls_with_a_private_ca() {
    let pki = Pki::new();
    let w1 = pki.client("w1", "counter-w1");
    let w2 = pki.client("w2", "counter-w2");
    let rabbit = RabbitNode::start_tls(pki.dir.path());
    let s3 = S3Server::start();
    let s3_tls = TlsTerminator::start(pki.dir.path(), s3.port);
    let server_tls = ServerTlsSection {
        cert_file: pki.path("server.pem"),
        key_file: pki.path("server.key"),
        ..Default::default()
    };
    let receiver = Receiver::start_tls(
        "127.0.0.1:0",
        &[SECRET],
        DEFAULT_TOLERANCE_S,
        false,
        &server_tls,
    )
    .await
    .unwrap();
    assert!(receiver.url().starts_with("https://"), "{}", receiver.url());

    let names = Names::new();
    let audit = tempfile::tempdir().unwrap();
    let audit_path = audit.path().join("audit.jsonl");
    let mut config = config(&s3, &names, Some(&receiver.url()));
    config.amqp.url = rabbit.url.clone();
    config.s3.endpoint = format!("https://localhost:{}", s3_tls.port);
    config.tls.ca_file = pki.path("ca.pem");
    config.api.tls = ServerTlsSection {
        client_ca_file: pki.path("ca.pem"),
        ..server_tls.clone()
    };
    config
        .api
        .client_cert_names
        .insert("w1".into(), "counter-w1".into());
    config.audit.path = audit_path.display().to_string();
    config.resolve();
    config.validate().unwrap();
    assert!(config.amqp.url.starts_with("amqps://"));

    let api = start_api(&config).await;
    assert!(api.url.starts_with("https://"));
    let photo = photos(1).remove(0);
    let upload = |http: reqwest::Client, token: &'static str| {
        let url = format!("{}/v1/photos", api.url);
        let body = photo.clone();
        async move {
            http.post(url)
                .bearer_auth(token)
                .header("content-type", "image/jpeg")
                .body(body)
                .send()
                .await
        }
    };

    // No client certificate: no connection at all; plain HTTP on the port: nothing served.
    assert!(upload(client(&pki, None), TOKEN_W1).await.is_err());
    let plain = reqwest::get(format!(
        "{}/healthz",
        api.url.replace("https://", "http://")
    ))
    .await;
    assert!(
        !plain.is_ok_and(|r| r.status().is_success()),
        "plain HTTP answered"
    );
    // Window 2's certificate with window 1's token: refused.
    let stolen = upload(client(&pki, Some(&w2)), TOKEN_W1).await.unwrap();
    assert_eq!(stolen.status(), 403);
    let body: serde_json::Value = stolen.json().await.unwrap();
    assert_eq!(body["error"]["code"], "api.client_cert_mismatch");

    // Window 1 with its own certificate: accepted, checked and delivered over TLS. A 503 (a
    // dependency's first TLS handshake slower than the API's deadline on a loaded machine) is
    // waited out as a window system would; its code is kept for the failure message.
    let w1_client = client(&pki, Some(&w1));
    let mut refusals = Vec::new();
    let accepted = loop {
        let answer = multipart_upload(
            &w1_client,
            &api.url,
            TOKEN_W1,
            &photo,
            r#"{"application_id": "GD-APP-7731942"}"#,
        )
        .await;
        if answer.status() != 503 || refusals.len() >= 10 {
            break answer;
        }
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        refusals.push(body["error"]["code"].to_string());
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    assert_eq!(accepted.status(), 202, "after 503s {refusals:?}");
    if !refusals.is_empty() {
        eprintln!("tls: the upload was refused {refusals:?} before it was accepted");
    }
    let id = accepted.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let _worker = Worker::start(&config, false);
    within(receiver.wait_until(|r| r.accepted_count() >= 1)).await;
    let got = receiver.received();
    assert!(got.iter().all(|r| r.signature_valid));
    let result: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(result["id"], id.as_str());
    let store = Store::new(&config.s3).unwrap();
    assert!(store
        .exists(&result_key(&photo_key("w1", &id)))
        .await
        .unwrap());

    // The audit log, written by the API and the worker: who sent it, what was decided, where
    // the verdict went. Never the photo or the application id.
    let mut lines = Vec::new();
    within(async {
        loop {
            let text = std::fs::read_to_string(&audit_path).unwrap_or_default();
            lines = text
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>();
            if lines.iter().any(|l| l["event"] == "result.delivered") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    let event = |name: &str| {
        lines
            .iter()
            .find(|l| l["event"] == name)
            .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
            .clone()
    };
    let accepted = event("photo.accepted");
    assert_eq!(
        (accepted["id"].as_str(), accepted["window"].as_str()),
        (Some(id.as_str()), Some("w1"))
    );
    let stored = event("result.stored");
    assert_eq!(stored["verdict"], result["verdict"]);
    let delivered = event("result.delivered");
    assert_eq!(delivered["id"], id.as_str());
    assert_eq!(delivered["receiver"], receiver.url().as_str());
    assert_eq!(delivered["status"], 200);
    let text = std::fs::read_to_string(&audit_path).unwrap();
    assert_eq!(result["application_id"], "GD-APP-7731942");
    assert!(!text.contains("GD-APP-7731942"));
}
