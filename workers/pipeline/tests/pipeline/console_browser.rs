//! The console in a real browser: Debian's Chromium driven through chromedriver (W3C WebDriver,
//! spoken here over HTTP). A reviewer logs in, takes a photo with the keyboard, rejects it with a
//! reason key; the decision reaches a receiver with a valid signature; a supervisor sees the
//! statistics change, exports the CSV and reads it back. Each page's screenshot is written to
//! `$PHOTOCHECK_SCREENSHOTS` (default: `console-screenshots/` in the test's target temp folder)
//! for people to look at; the photo is a synthetic drawing.

use super::console::*;
use crate::harness::*;
use photocheck_types::Verdict;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver on a free port, and one headless Chromium session at 1366 × 768.
struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let chromedriver = which("chromedriver");
        let chromium = which("chromium");
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let root = format!("http://127.0.0.1:{port}");
        eventually("chromedriver answers", || {
            let url = format!("{root}/status");
            let http = http.clone();
            async move {
                http.get(url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1366,768",
                         "--lang=zh-CN", format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let v: Value = http
            .post(format!("{root}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_owned();
        Browser {
            driver,
            base: format!("{root}/session/{id}"),
            http,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut rq = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        let v: Value = rq.send().await.unwrap().json().await.unwrap();
        assert!(v["value"].get("error").is_none(), "WebDriver {path}: {v}");
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{e}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{e}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Presses keys on the page (W3C actions), one after another.
    async fn keys(&self, keys: &[&str]) {
        let mut actions = Vec::new();
        for k in keys {
            actions.push(json!({"type": "keyDown", "value": k}));
            actions.push(json!({"type": "keyUp", "value": k}));
        }
        self.call(
            reqwest::Method::POST,
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )
        .await;
    }

    /// The browser console's messages of level SEVERE since the last call (errors, CSP
    /// violations, failed loads).
    async fn console_errors(&self) -> Vec<String> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/se/log",
                Some(json!({"type": "browser"})),
            )
            .await;
        v.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn assert_no_console_errors(&self, page: &str) {
        let errors = self.console_errors().await;
        assert!(
            errors.is_empty(),
            "{page}: browser console errors: {errors:?}"
        );
    }

    async fn cookie(&self, name: &str) -> String {
        let v = self
            .call(reqwest::Method::GET, &format!("/cookie/{name}"), None)
            .await;
        v["value"].as_str().unwrap().to_owned()
    }

    async fn screenshot(&self, dir: &std::path::Path, name: &str) {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64_decode(v.as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn wait_for_path(&self, what: &str, prefix: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let url = self.url().await;
            let path = url
                .splitn(4, '/')
                .nth(3)
                .map(|p| format!("/{p}"))
                .unwrap_or_default();
            if path.starts_with(prefix) {
                return path;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: still at {url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let base = self.base.clone();
        let http = self.http.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let _ = http.delete(base).send().await;
            });
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // chromedriver leaves its own profile folders behind.
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("org.chromium.Chromium.")
                    || name.starts_with(".org.chromium.Chromium.")
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

fn which(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"] {
        let p = PathBuf::from(dir).join(name);
        if p.is_file() {
            return p.display().to_string();
        }
    }
    panic!("{name} is not installed: bash scripts/system-deps.sh --tests installs chromium and chromium-driver");
}

/// Standard base64 (the screenshot), decoded without a dependency.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter_map(value) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("PHOTOCHECK_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Photos the reviewer clears with the keyboard alone.
const PHOTOS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reviewer_clears_the_queue_by_keyboard_and_a_supervisor_sees_it_in_chromium() {
    let s3 = S3Server::start();
    let names = Names::new();
    let receiver = receiver().await;
    let config = console_config(&s3, &names, Some(&receiver.url()));
    declare(&config, &names).await;
    let console = ConsoleServer::start(&config).await;
    let _deliveries = deliveries(&config);
    let mut ids = Vec::new();
    for _ in 0..PHOTOS {
        ids.push(seed(&config, Verdict::Review).await);
    }
    eventually("the photos are queued", || async {
        depth(&names.review).await == PHOTOS as u32
    })
    .await;
    let shots = screenshot_dir();
    let browser = Browser::start().await;

    // Log in as the reviewer.
    browser.go(&format!("{}/", console.url)).await;
    browser.wait_for_path("the log-in page", "/login").await;
    browser.type_into("#user", "li").await;
    browser.type_into("#password", PASSWORD).await;
    browser.screenshot(&shots, "01-login").await;
    browser.assert_no_console_errors("log-in").await;
    browser.click("#login").await;
    browser.wait_for_path("the review queue", "/review").await;
    assert_eq!(browser.text("#depth-review").await, PHOTOS.to_string());
    browser.screenshot(&shots, "02-review-queue").await;
    browser.assert_no_console_errors("review queue").await;

    // The whole queue with the keyboard: N takes the next photo; A then Enter accepts; 1 (the
    // photo's first uncertain check as the reason) then Enter rejects.
    for i in 0..PHOTOS {
        browser.keys(&["n"]).await;
        let lease = browser.wait_for_path("the photo's page", "/review/").await;
        assert!(!lease.contains('?'), "{lease}");
        assert_eq!(browser.text("#verdict").await, "待复核");
        if i == 0 {
            browser.screenshot(&shots, "03-review-photo").await;
            browser.assert_no_console_errors("review photo").await;
        }
        let (key, done) = if i % 2 == 0 {
            ("a", "accept")
        } else {
            ("1", "reject")
        };
        browser.keys(&[key]).await;
        browser.keys(&["\u{E007}"]).await; // Enter
        browser
            .wait_for_path("back at the queue", &format!("/review?done={done}"))
            .await;
    }
    assert_eq!(browser.text("#depth-review").await, "0");
    browser.assert_no_console_errors("after the queue").await;

    // Every decision reached the central system once, signed, with its application id.
    eventually("every decision is delivered", || {
        let n = receiver
            .received()
            .iter()
            .filter(|r| r.idempotency_key.ends_with(".decision"))
            .count();
        async move { n >= PHOTOS }
    })
    .await;
    let received = receiver.received();
    for (i, id) in ids.iter().enumerate() {
        let key = format!("{id}.decision");
        let got: Vec<_> = received
            .iter()
            .filter(|r| r.idempotency_key == key)
            .collect();
        assert_eq!(got.len(), 1, "{key} delivered {} times", got.len());
        assert!(got[0].signature_valid);
        let body: Value = serde_json::from_slice(&got[0].body).unwrap();
        assert_eq!(body["application_id"], format!("4401-2026-{}", &id[..8]));
        assert_eq!(body["reviewer"], "li");
        // Taken in order of arrival, so the n-th photo got the n-th decision.
        if i % 2 == 0 {
            assert_eq!(
                (body["decision"].as_str(), body["reason_code"].as_str()),
                (Some("accept"), None)
            );
        } else {
            assert_eq!(body["decision"], "reject");
            assert_eq!(body["reason_code"], "background.color");
        }
    }

    // The supervisor: the statistics show the photos and the decisions; the CSV agrees.
    browser.click("#logout").await;
    browser.wait_for_path("logged out", "/login").await;
    browser.type_into("#user", "wang").await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#login").await;
    browser
        .wait_for_path("the supervisor's landing page", "/review")
        .await;
    let (accepted, rejected) = (PHOTOS.div_ceil(2), PHOTOS / 2);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        browser.go(&format!("{}/stats", console.url)).await;
        if browser.text("#total-photos").await == PHOTOS.to_string()
            && browser.text("#decisions").await == format!("{accepted}/{rejected}")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the statistics never counted the photos"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(browser.text("#review-rate").await, "100.0%");
    browser.screenshot(&shots, "04-statistics").await;
    browser.assert_no_console_errors("statistics").await;
    let export = browser.find("#export").await;
    let href = browser
        .call(
            reqwest::Method::GET,
            &format!("/element/{export}/attribute/href"),
            None,
        )
        .await;
    let cookie = browser.cookie("pc_session").await;
    let csv = reqwest::Client::new()
        .get(format!("{}{}", console.url, href.as_str().unwrap()))
        .header("cookie", format!("pc_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv
        .trim_start_matches('\u{feff}')
        .trim_end()
        .split("\r\n")
        .collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("日期,城市,办证点,窗口"));
    let cells: Vec<&str> = lines[1].split(',').collect();
    let (photos, review, acc, rej) = (
        PHOTOS.to_string(),
        PHOTOS.to_string(),
        accepted.to_string(),
        rejected.to_string(),
    );
    assert_eq!(
        (cells[3], cells[4], cells[7], cells[10], cells[11]),
        (
            "w1",
            photos.as_str(),
            review.as_str(),
            acc.as_str(),
            rej.as_str()
        )
    );

    browser.go(&format!("{}/ops", console.url)).await;
    assert!(browser.text("#queues").await.contains("待复核"));
    browser.screenshot(&shots, "05-operations").await;
    browser.assert_no_console_errors("operations").await;
    for name in [
        "01-login",
        "02-review-queue",
        "03-review-photo",
        "04-statistics",
        "05-operations",
    ] {
        assert!(shots.join(format!("{name}.png")).metadata().unwrap().len() > 1000);
    }
    drop(browser);
    console.shut().await;
}
