//! The web console against real parts: RabbitMQ, a Garage store, the central delivery consumer
//! and a receiver. Results are published to the results exchange as a worker publishes them
//! (the worker's own publishing is tested in `end_to_end`); the photos are synthetic pictures
//! the test draws.

use crate::harness::*;
use photocheck_config::{Config, ConsoleUser};
use photocheck_pipeline::broker::{json_properties, string, Publisher};
use photocheck_pipeline::console::auth::hash_password;
use photocheck_pipeline::delivery::{ID_HEADER, SUBMITTED_HEADER};
use photocheck_pipeline::store::{photo_key, result_key, Store};
use photocheck_pipeline::Metrics;
use photocheck_types::{CheckResult, Verdict};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "counter-pc-password";

/// A picture of a head and shoulders on white, as PNG (drawn here; no real face).
pub fn synthetic_photo(seed: u8) -> Vec<u8> {
    let (w, h) = (358u32, 441u32);
    let mut raw = Vec::with_capacity(((w * 3 + 1) * h) as usize);
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            let (fx, fy) = (x as f32 - 179.0, y as f32);
            let face = (fx / 100.0).powi(2) + ((fy - 215.0) / 130.0).powi(2) <= 1.0;
            let hair = (fx / 112.0).powi(2) + ((fy - 170.0) / 125.0).powi(2) <= 1.0 && fy < 190.0;
            let eye = ((fx.abs() - 42.0) / 14.0).powi(2) + ((fy - 200.0) / 6.0).powi(2) <= 1.0;
            let mouth = (fx / 30.0).powi(2) + ((fy - 290.0) / 5.0).powi(2) <= 1.0;
            let body = fy > 340.0 && fx.abs() < 60.0 + (fy - 340.0) * 1.6;
            let rgb = if eye {
                [40, 30, 30]
            } else if mouth {
                [170, 80, 80]
            } else if face {
                [224, 180 + seed % 20, 150]
            } else if hair {
                [35, 30, 28]
            } else if body {
                [20, 40, 90]
            } else {
                [252, 252, 252]
            };
            raw.extend_from_slice(&rgb);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &raw).unwrap();
    let idat = z.finish().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &idat);
    chunk(b"IEND", &[]);
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A service result of `verdict` for photo `id` of window `w1`, as a worker makes it.
pub fn result_for(id: &str, bucket: &str, verdict: Verdict) -> CheckResult {
    let text = format!(
        r#"{{"id":"{id}","application_id":"4401-2026-{n}","window_id":"w1",
        "submitted_at":"{now}","checked_at":"{now}","source":"s3://{bucket}/photos/w1/{id}",
        "profile":"ga461","verdict":"{v}","checks":[
        {{"code":"image.dimensions","status":"pass","value":[358,441],"message":"照片尺寸符合要求"}},
        {{"code":"background.color","status":"{bg}","value":82.5,"min":90.0,"unit":"L*","message":"背景偏灰，请使用白色背景","uncertain":{unc}}},
        {{"code":"face.glasses","status":"pass","value":0.2,"max":0.5,"message":"未见有色镜片或反光","uncertain":true}}],
        "face":{{"box":[100,110,158,200],"score":0.98,"landmarks":{{"left_eye":[137,200],"right_eye":[221,200],"nose":[179,250],"mouth_left":[150,290],"mouth_right":[208,290]}}}},
        "engine":{{"version":"test","models":{{}}}},"timings_ms":{{}}}}"#,
        n = &id[..8],
        now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        v = verdict.as_str(),
        bg = if verdict == Verdict::Fail {
            "fail"
        } else {
            "pass"
        },
        unc = verdict == Verdict::Review,
    );
    serde_json::from_str(&text).unwrap()
}

/// Stores a synthetic photo and its result, and publishes the result to the results exchange
/// as a worker does; returns the id.
pub async fn seed(config: &Config, verdict: Verdict) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let store = Store::new(&config.s3).unwrap();
    store.ensure_bucket().await.unwrap();
    let key = photo_key("w1", &id);
    store
        .put(&key, synthetic_photo(id.as_bytes()[35]).into(), "image/png")
        .await
        .unwrap();
    let result = result_for(&id, &config.s3.bucket, verdict);
    let body = serde_json::to_vec(&result).unwrap();
    store
        .put(&result_key(&key), body.clone().into(), "application/json")
        .await
        .unwrap();
    let publisher = Publisher::new(config.amqp.clone());
    let mut headers = lapin::types::FieldTable::default();
    headers.insert(ID_HEADER.into(), string(&id));
    headers.insert(
        SUBMITTED_HEADER.into(),
        string(result.submitted_at.as_deref().unwrap()),
    );
    publisher
        .publish(
            &config.amqp.results_exchange,
            &format!("result.{}", verdict.as_str()),
            false,
            &body,
            json_properties(&id, headers),
        )
        .await
        .unwrap();
    publisher.close().await;
    id
}

/// The test configuration with a console: three staff (`li` reviewer, `wang` supervisor,
/// `zhao` operator), all with [`PASSWORD`].
pub fn console_config(s3: &S3Server, names: &Names, central: Option<&str>) -> Config {
    let mut c = config(s3, names, central);
    c.console.session_secret = "console-session-secret-for-the-tests-0123456789".into();
    c.console.lease_s = 600;
    let hash = hash_password(PASSWORD).unwrap();
    for (user, role) in [
        ("li", "reviewer"),
        ("wang", "supervisor"),
        ("zhao", "operator"),
    ] {
        c.console.users.insert(
            user.into(),
            ConsoleUser {
                role: role.into(),
                password_hash: hash.clone(),
            },
        );
    }
    c.validate().unwrap();
    c
}

/// The console in-process on a free port, with the central delivery consumer beside it.
pub struct ConsoleServer {
    pub url: String,
    pub stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ConsoleServer {
    pub async fn start(config: &Config) -> ConsoleServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let token = stop.clone();
        let c = config.clone();
        let task = tokio::spawn(async move {
            photocheck_pipeline::console::serve_listener(listener, c, token)
                .await
                .expect("console");
        });
        ConsoleServer {
            url,
            stop,
            task: Some(task),
        }
    }

    /// Stops it and waits until it has closed its broker connection.
    pub async fn shut(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = within(t).await;
        }
    }
}

impl Drop for ConsoleServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Runs the central delivery consumer (as a worker process does) until dropped.
pub fn deliveries(config: &Config) -> CancellationToken {
    let stop = CancellationToken::new();
    let token = stop.clone();
    let c = config.clone();
    tokio::spawn(async move {
        let publisher = Arc::new(Publisher::new(c.amqp.clone()));
        let _ = photocheck_pipeline::delivery::run_deliveries(
            c.central.clone(),
            c.amqp.clone(),
            publisher,
            Metrics::new(),
            photocheck_pipeline::audit::Audit::off(),
            Duration::from_secs(2),
            token,
        )
        .await;
    });
    stop
}

/// A member of staff's browser without JavaScript: a cookie, no redirects followed.
pub struct Staff {
    pub base: String,
    pub client: reqwest::Client,
    pub cookie: String,
}

pub struct Page {
    pub status: u16,
    pub location: String,
    pub body: String,
}

impl Page {
    /// The form token in the page.
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form") + 19;
        self.body[at..].split('"').next().unwrap().to_owned()
    }
}

impl Staff {
    pub async fn log_in(base: &str, user: &str, password: &str) -> (Staff, Page) {
        let mut staff = Staff {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: String::new(),
        };
        let page = staff
            .post("/login", &[("user", user), ("password", password)])
            .await;
        (staff, page)
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        self.page(r).await
    }

    pub async fn get_bytes(&mut self, path: &str) -> (u16, Vec<u8>, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        let kind = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec(), kind)
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        self.page(r).await
    }

    async fn page(&mut self, r: reqwest::Response) -> Page {
        if let Some(c) = r.headers().get("set-cookie") {
            self.cookie = c.to_str().unwrap().split(';').next().unwrap().to_owned();
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Page {
            status,
            location,
            body: r.text().await.unwrap(),
        }
    }

    /// Takes the next photo of `queue` as the buttons on the queue's page do.
    pub async fn take(&mut self, queue: &str) -> Page {
        let home = self.get("/review").await;
        self.post("/review/take", &[("csrf", &home.csrf()), ("queue", queue)])
            .await
    }

    /// The number in the element with `id` on `path`.
    pub async fn figure(&mut self, path: &str, id: &str) -> String {
        let page = self.get(path).await;
        let marker = format!("id=\"{id}\">");
        let at = page
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("{id} in {}", page.body))
            + marker.len();
        page.body[at..].split('<').next().unwrap().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reviewer_decides_a_photo_and_the_central_system_gets_it_signed() {
    let s3 = S3Server::start();
    let names = Names::new();
    let receiver = receiver().await;
    let config = console_config(&s3, &names, Some(&receiver.url()));
    declare(&config, &names).await;
    let console = ConsoleServer::start(&config).await;
    let _deliveries = deliveries(&config);
    let id = seed(&config, Verdict::Review).await;

    // No session: the log-in page. A wrong password: refused, no cookie.
    let (mut anon, _) = Staff::log_in(&console.url, "li", "wrong password").await;
    assert_eq!(anon.get("/review").await.location, "/login");
    let (mut li, page) = Staff::log_in(&console.url, "li", PASSWORD).await;
    assert_eq!((page.status, page.location.as_str()), (303, "/review"));
    eventually("the photo waits in the review queue", || {
        let url = console.url.clone();
        async move {
            let (mut s, _) = Staff::log_in(&url, "wang", PASSWORD).await;
            s.figure("/review", "depth-review").await == "1"
        }
    })
    .await;

    // li takes it; wang, at the same moment, gets nothing: never one photo to two reviewers.
    let taken = li.take("review").await;
    assert_eq!(taken.status, 303);
    let lease_path = taken.location.clone();
    assert!(lease_path.starts_with("/review/"), "{lease_path}");
    let (mut wang, _) = Staff::log_in(&console.url, "wang", PASSWORD).await;
    let other = wang.take("review").await;
    assert_eq!(other.location, "/review?done=empty");
    assert_eq!(wang.get(&lease_path).await.location, "/review?done=lost");

    // The page: the photo, every check with its value, limit and message, the uncertain one
    // marked; the photo's bytes as stored.
    let page = li.get(&lease_path).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("背景颜色") && page.body.contains("82.5"),
        "{}",
        page.body
    );
    assert!(page.body.contains("≥ 90 L*"));
    assert!(page.body.contains("class=\"uncertain\""));
    assert!(page.body.contains("id=\"overlay\""));
    let (status, bytes, kind) = li.get_bytes(&format!("{lease_path}/photo")).await;
    assert_eq!((status, kind.as_str()), (200, "image/png"));
    let store = Store::new(&config.s3).unwrap();
    assert_eq!(
        bytes,
        store.get(&photo_key("w1", &id)).await.unwrap().to_vec()
    );

    // A form without its token is refused; then the decision.
    let forged = li
        .post(&format!("{lease_path}/decide"), &[("decision", "accept")])
        .await;
    assert_eq!(forged.status, 403);
    let decided = li
        .post(
            &format!("{lease_path}/decide"),
            &[
                ("csrf", &page.csrf()),
                ("decision", "reject"),
                ("reason", "background.color"),
                ("note", "背景偏灰"),
            ],
        )
        .await;
    assert_eq!(decided.location, "/review?done=reject");

    // The central system receives it signed, with its own idempotency key.
    let key = format!("{id}.decision");
    eventually("the decision reaches the central system", || {
        let found = receiver.received().iter().any(|r| r.idempotency_key == key);
        async move { found }
    })
    .await;
    let got = receiver
        .received()
        .into_iter()
        .find(|r| r.idempotency_key == key)
        .unwrap();
    assert!(got.signature_valid);
    let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["object"], "decision");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["decision"], "reject");
    assert_eq!(body["reason_code"], "background.color");
    assert_eq!(body["reason"], "背景不是白色");
    assert_eq!(body["reviewer"], "li");
    assert_eq!(body["window_id"], "w1");
    assert_eq!(body["verdict"], "review");
    assert_eq!(body["application_id"], format!("4401-2026-{}", &id[..8]));
    let schema: serde_json::Value =
        serde_json::from_str(photocheck_types::DECISION_SCHEMA).unwrap();
    for field in schema["required"].as_array().unwrap() {
        assert!(body.get(field.as_str().unwrap()).is_some(), "{field}");
    }

    // The window reads it with GET /v1/photos/{id}.
    let api = start_api(&config).await;
    let r = http()
        .get(format!("{}/v1/photos/{id}", api.url))
        .bearer_auth(TOKEN_W1)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "done");
    assert_eq!(v["decision"]["decision"], "reject");
    assert_eq!(v["result"]["verdict"], "review");

    // The queue is empty now, and the statistics count the photo and the decision.
    assert_eq!(li.figure("/review", "depth-review").await, "0");
    let (mut zhao, _) = Staff::log_in(&console.url, "zhao", PASSWORD).await;
    eventually("the statistics count the photo", || {
        let url = console.url.clone();
        async move {
            let (mut z, _) = Staff::log_in(&url, "zhao", PASSWORD).await;
            z.figure("/stats", "total-photos").await == "1"
                && z.figure("/stats", "decisions").await == "0/1"
        }
    })
    .await;
    assert_eq!(zhao.figure("/stats", "review-rate").await, "100.0%");
    let stats = zhao.get("/stats").await;
    assert!(stats.body.contains("<svg"));
    let (status, csv, kind) = zhao.get_bytes("/stats.csv").await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/csv"));
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv
        .trim_start_matches('\u{feff}')
        .trim_end()
        .split("\r\n")
        .collect();
    assert_eq!(lines.len(), 2, "{csv}");
    let cells: Vec<&str> = lines[1].split(',').collect();
    // 日期,城市,办证点,窗口,照片数,合格,不合格,待复核,合格率,复核率,复核通过,复核退回
    assert_eq!(
        &cells[3..12],
        ["w1", "1", "0", "0", "1", "0.0%", "100.0%", "0", "1"]
    );

    // Roles: the operator may not review, the reviewer may not read operations.
    assert_eq!(zhao.get("/review").await.status, 403);
    assert_eq!(li.get("/ops").await.status, 403);
    assert_eq!(li.get("/stats").await.status, 403);
    console.shut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_photo_left_open_or_held_by_a_stopped_console_returns_to_the_queue() {
    let s3 = S3Server::start();
    let names = Names::new();
    let mut config = console_config(&s3, &names, None);
    config.console.lease_s = 2;
    declare(&config, &names).await;
    let console = ConsoleServer::start(&config).await;
    let first = seed(&config, Verdict::Review).await;
    let second = seed(&config, Verdict::Review).await;
    eventually("two photos wait", || async {
        depth(&names.review).await == 2
    })
    .await;

    // Taken in order of arrival; a photo left open past its lease goes back, to the front.
    let (mut li, _) = Staff::log_in(&console.url, "li", PASSWORD).await;
    let taken = li.take("review").await;
    let page = li.get(&taken.location).await;
    assert!(
        page.body.contains(&first),
        "the first photo to arrive is taken first"
    );
    assert_eq!(depth(&names.review).await, 1);
    eventually("the lease runs out", || async {
        depth(&names.review).await == 2
    })
    .await;
    assert_eq!(li.get(&taken.location).await.location, "/review?done=lost");

    // Released by hand: back at once, and someone else can take it.
    let (mut wang, _) = Staff::log_in(&console.url, "wang", PASSWORD).await;
    let taken = wang.take("review").await;
    let page = wang.get(&taken.location).await;
    assert!(
        page.body.contains(&first),
        "the expired photo went back to the front"
    );
    let released = wang
        .post(
            &format!("{}/release", taken.location),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(released.location, "/review?done=returned");
    // Back well before its 2-s lease could have returned it (the quorum queue's count follows
    // the requeue a moment after the broker answers; a CI run once read 1 here).
    let t = tokio::time::Instant::now();
    while depth(&names.review).await != 2 && t.elapsed() < Duration::from_millis(500) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(depth(&names.review).await, 2);

    // A console that stops holding a photo loses nothing: the broker returns it.
    let mut config2 = config.clone();
    config2.console.lease_s = 600;
    let console2 = ConsoleServer::start(&config2).await;
    let (mut li2, _) = Staff::log_in(&console2.url, "li", PASSWORD).await;
    li2.take("review").await;
    assert_eq!(depth(&names.review).await, 1);
    console2.shut().await;
    eventually("the stopped console's photo is back", || async {
        depth(&names.review).await == 2
    })
    .await;
    // Still in order: the first photo, then the second.
    let (mut zhang, _) = Staff::log_in(&console.url, "wang", PASSWORD).await;
    let taken = zhang.take("review").await;
    assert!(zhang.get(&taken.location).await.body.contains(&first));
    let taken = li.take("review").await;
    assert!(li.get(&taken.location).await.body.contains(&second));
    console.shut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_supervisor_requeues_and_discards_dead_letters_and_it_is_audited() {
    let s3 = S3Server::start();
    let names = Names::new();
    let mut config = console_config(&s3, &names, None);
    let audit = tempfile::NamedTempFile::new().unwrap();
    config.audit.path = audit.path().display().to_string();
    declare(&config, &names).await;
    let console = ConsoleServer::start(&config).await;
    let publisher = Publisher::new(config.amqp.clone());
    for id in ["dead-1", "dead-2"] {
        let mut headers = lapin::types::FieldTable::default();
        headers.insert(ID_HEADER.into(), string(id));
        publisher
            .publish(
                "",
                &names.dlq,
                true,
                b"{\"not\":\"a job\"}",
                json_properties(id, headers),
            )
            .await
            .unwrap();
    }
    publisher.close().await;

    // The operator sees them but has no buttons, and a forged POST is refused.
    let (mut zhao, _) = Staff::log_in(&console.url, "zhao", PASSWORD).await;
    let ops = zhao.get("/ops").await;
    assert_eq!(ops.status, 200);
    assert!(ops.body.contains("dead-1") && !ops.body.contains("class=\"requeue\""));
    let csrf = ops.csrf();
    assert_eq!(
        zhao.post("/ops/dead/discard", &[("csrf", &csrf), ("id", "dead-1")])
            .await
            .status,
        403
    );

    let (mut wang, _) = Staff::log_in(&console.url, "wang", PASSWORD).await;
    let ops = wang.get("/ops").await;
    assert!(ops.body.contains("class=\"requeue\""));
    let r = wang
        .post(
            "/ops/dead/requeue",
            &[("csrf", &ops.csrf()), ("id", "dead-1")],
        )
        .await;
    assert_eq!(r.location, "/ops?done=requeued");
    let r = wang
        .post(
            "/ops/dead/discard",
            &[("csrf", &ops.csrf()), ("id", "dead-2")],
        )
        .await;
    assert_eq!(r.location, "/ops?done=discarded");
    assert_eq!(depth(&names.dlq).await, 0);
    assert_eq!(depth(&names.jobs).await, 1);
    let page = wang.get("/ops").await;
    assert!(page.body.contains("id=\"queues\""));
    console.shut().await;

    let log = std::fs::read_to_string(audit.path()).unwrap();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has = |event: &str, id: &str| events.iter().any(|e| e["event"] == event && e["id"] == id);
    assert!(has("console.requeued", "dead-1"), "{log}");
    assert!(has("console.discarded", "dead-2"), "{log}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "console.login" && e["user"] == "wang"),
        "{log}"
    );
    // Never a password or a session in the audit log.
    assert!(!log.contains(PASSWORD) && !log.contains("pc_session"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_role_is_refused_what_it_does_not_grant() {
    let s3 = S3Server::start();
    let names = Names::new();
    let config = console_config(&s3, &names, None);
    declare(&config, &names).await;
    let console = ConsoleServer::start(&config).await;

    // (path, method) → which roles may: r reviewer, s supervisor, o operator.
    let gets = [
        ("/review", "rs"),
        ("/stats", "so"),
        ("/stats.csv", "so"),
        ("/ops", "so"),
    ];
    let posts = [
        ("/review/take", "rs"),
        ("/ops/dead/requeue", "s"),
        ("/ops/dead/discard", "s"),
        ("/ops/parked/requeue", "s"),
    ];
    let mut anon = Staff {
        base: console.url.clone(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        cookie: String::new(),
    };
    for (path, _) in gets {
        assert_eq!(anon.get(path).await.location, "/login", "anonymous {path}");
    }
    for (path, _) in posts {
        let page = anon
            .post(path, &[("csrf", "x"), ("id", "x"), ("queue", "review")])
            .await;
        assert_eq!(page.location, "/login", "anonymous POST {path}");
    }
    for (user, letter) in [("li", 'r'), ("wang", 's'), ("zhao", 'o')] {
        let (mut staff, _) = Staff::log_in(&console.url, user, PASSWORD).await;
        // A page of the role gives the form token (every role has one page at least).
        let home = staff
            .get(if letter == 'o' { "/stats" } else { "/review" })
            .await;
        let csrf = home.csrf();
        for (path, may) in gets {
            let status = staff.get(path).await.status;
            if may.contains(letter) {
                assert_eq!(status, 200, "{user} GET {path}");
            } else {
                assert_eq!(status, 403, "{user} GET {path}");
            }
        }
        for (path, may) in posts {
            let page = staff
                .post(
                    path,
                    &[("csrf", &csrf), ("id", "nothing-here"), ("queue", "review")],
                )
                .await;
            if may.contains(letter) {
                assert_eq!(page.status, 303, "{user} POST {path}");
            } else {
                assert_eq!(page.status, 403, "{user} POST {path}");
            }
        }
        // The navigation offers only what the role grants.
        let nav = staff
            .get(if letter == 'o' { "/stats" } else { "/review" })
            .await
            .body;
        assert_eq!(
            nav.contains("href=\"/review\""),
            "rs".contains(letter),
            "{user}"
        );
        assert_eq!(
            nav.contains("href=\"/ops\""),
            "so".contains(letter),
            "{user}"
        );
    }
    console.shut().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_days_statistics_match_a_count_of_the_stored_results() {
    use futures::StreamExt;
    use photocheck_types::CheckCode;
    let s3 = S3Server::start();
    let names = Names::new();
    let config = console_config(&s3, &names, None);
    declare(&config, &names).await;
    let store = Store::new(&config.s3).unwrap();
    store.ensure_bucket().await.unwrap();
    let console = ConsoleServer::start(&config).await;

    // 2 000 results across 5 windows on one day of the centre's calendar (noon, UTC+8), with
    // verdicts and failed checks drawn at random, stored and published as workers do.
    const N: usize = 2000;
    let windows = [
        "gz-tianhe-01",
        "gz-tianhe-02",
        "gz-yuexiu-01",
        "sz-futian-01",
        "sz-futian-02",
    ];
    let codes = [
        CheckCode::BackgroundColor,
        CheckCode::GeometryCrown,
        CheckCode::PoseYaw,
        CheckCode::ClothingColor,
    ];
    let day = chrono::Utc::now().date_naive();
    let noon = format!("{day}T04:00:00.000Z");
    let mut rng = fastrand::Rng::with_seed(17);
    let mut results = Vec::new();
    for i in 0..N {
        let id = uuid::Uuid::now_v7().to_string();
        let window = windows[rng.usize(..windows.len())];
        let verdict = [Verdict::Pass, Verdict::Fail, Verdict::Review][rng.usize(..3)];
        let mut r = result_for(&id, &config.s3.bucket, Verdict::Pass);
        r.window_id = Some(window.into());
        r.checked_at = Some(noon.replace(".000Z", &format!(".{:03}Z", i % 1000)));
        r.verdict = verdict;
        r.checks.retain(|c| c.code == CheckCode::ImageDimensions);
        if verdict == Verdict::Fail {
            for &code in &codes {
                if rng.bool() || code == CheckCode::BackgroundColor && r.checks.len() == 1 {
                    let mut c = r.checks[0].clone();
                    c.code = code;
                    c.status = photocheck_types::Status::Fail;
                    r.checks.push(c);
                }
            }
        }
        results.push(r);
    }
    let publisher = Arc::new(Publisher::new(config.amqp.clone()));
    futures::stream::iter(results.iter())
        .for_each_concurrent(16, |r| {
            let store = store.clone();
            let publisher = Arc::clone(&publisher);
            let config = &config;
            async move {
                let id = r.id.clone().unwrap();
                let key = photo_key(r.window_id.as_deref().unwrap(), &id);
                let body = serde_json::to_vec(r).unwrap();
                store
                    .put(&result_key(&key), body.clone().into(), "application/json")
                    .await
                    .unwrap();
                publisher
                    .publish(
                        &config.amqp.results_exchange,
                        &format!("result.{}", r.verdict.as_str()),
                        false,
                        &body,
                        json_properties(&id, lapin::types::FieldTable::default()),
                    )
                    .await
                    .unwrap();
            }
        })
        .await;
    publisher.close().await;

    // The independent count: every stored result object read back and counted per window.
    type Count = (u32, u32, u32, u32, std::collections::BTreeMap<String, u32>);
    let mut expected: std::collections::BTreeMap<String, Count> = Default::default();
    let keys: Vec<String> = store
        .list_all("photos/")
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.ends_with(".result.json"))
        .collect();
    assert_eq!(keys.len(), N);
    for key in &keys {
        let r: CheckResult = serde_json::from_slice(&store.get(key).await.unwrap()).unwrap();
        let e = expected.entry(r.window_id.clone().unwrap()).or_default();
        e.0 += 1;
        match r.verdict {
            Verdict::Pass => e.1 += 1,
            Verdict::Fail => e.2 += 1,
            Verdict::Review => e.3 += 1,
        }
        for c in r
            .checks
            .iter()
            .filter(|c| c.status == photocheck_types::Status::Fail)
        {
            *e.4.entry(c.code.label_zh().to_owned()).or_default() += 1;
        }
    }
    assert_eq!(expected.len(), 5);

    // The console's figures, once its indexer has read the stats queue.
    let (mut zhao, _) = Staff::log_in(&console.url, "zhao", PASSWORD).await;
    let local_day = day; // 04:00 UTC is 12:00 in UTC+8: the same date
    let query = format!("/stats.csv?from={local_day}&to={local_day}");
    eventually("the index holds every result", || async {
        depth(&names.stats).await == 0
            && Store::new(&config.s3)
                .unwrap()
                .list_all(&format!("index/v1/r/{local_day}/"))
                .await
                .unwrap()
                .len()
                == N
    })
    .await;
    let (status, csv, _) = zhao.get_bytes(&query).await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    let rows: Vec<Vec<String>> = csv
        .trim_start_matches('\u{feff}')
        .trim_end()
        .split("\r\n")
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 5, "{csv}");
    for row in &rows {
        let e = &expected[&row[3]];
        let n = |i: usize| row[i].parse::<u32>().unwrap();
        assert_eq!((n(4), n(5), n(6), n(7)), (e.0, e.1, e.2, e.3), "{}", row[3]);
        assert_eq!(
            row[8],
            format!("{:.1}%", f64::from(e.1) * 100.0 / f64::from(e.0))
        );
        // The top three reasons with their counts, as counted here.
        for part in row[13].split('；').filter(|p| !p.is_empty()) {
            let (label, count) = part.trim_end_matches(')').split_once('(').unwrap();
            assert_eq!(
                e.4[label],
                count.parse::<u32>().unwrap(),
                "{} {label}",
                row[3]
            );
        }
    }
    // The page's totals agree too.
    let total = zhao
        .figure(
            &format!("/stats?from={local_day}&to={local_day}"),
            "total-photos",
        )
        .await;
    assert_eq!(total, N.to_string());
    let scoped = zhao
        .figure(
            &format!("/stats?from={local_day}&to={local_day}&scope=gz-tianhe"),
            "total-photos",
        )
        .await;
    let tianhe: u32 = expected
        .iter()
        .filter(|(w, _)| w.starts_with("gz-tianhe-"))
        .map(|(_, e)| e.0)
        .sum();
    assert_eq!(scoped, tianhe.to_string());
    console.shut().await;
}
