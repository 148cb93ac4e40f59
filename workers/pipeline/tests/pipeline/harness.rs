//! Starting and stopping the real parts the tests use.

use lapin::options::{
    BasicGetOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use photocheck_config::Config;
use photocheck_pipeline::receiver::Receiver;
use photocheck_pipeline::Metrics;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const TOKEN_W1: &str = "token-window-one-0123456789";
pub const TOKEN_W2: &str = "token-window-two-0123456789";
pub const SECRET: &str = "central-shared-secret-for-the-tests-0123456789";

/// Upper bound for any wait, so a broken build fails instead of hanging CI. Never an assertion
/// on speed.
pub const PATIENCE: Duration = Duration::from_secs(240);

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fixture photos (`../shared/fixtures/*.jpg`, never copied into the repo) whose bytes are
/// an image (the junk-file fixtures are refused with 415, tested in `api`), sorted.
pub fn fixtures() -> Vec<PathBuf> {
    let dir = repo_root().join("../shared/fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixtures at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .filter(|p| photocheck_pipeline::api::sniff_image(&std::fs::read(p).unwrap()).is_some())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixture photos in {}", dir.display());
    v
}

/// `n` fixture photos, cycling, as (name, bytes).
pub fn photos(n: usize) -> Vec<Vec<u8>> {
    let all = fixtures();
    (0..n)
        .map(|i| std::fs::read(&all[i % all.len()]).unwrap())
        .collect()
}

pub fn unique(prefix: &str) -> String {
    let u = uuid::Uuid::now_v7().simple().to_string();
    format!("{prefix}{}", &u[u.len() - 12..])
}

/// Waits for `cond`, polling; panics after [`PATIENCE`] with `what`.
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Makes sure RabbitMQ is up (starting it if it is not) and returns a connection.
pub async fn rabbit() -> Connection {
    if let Ok(c) = Connection::connect(AMQP_URL, ConnectionProperties::default()).await {
        return c;
    }
    let _ = Command::new("rabbitmq-server").arg("-detached").status();
    let mut last = None;
    for _ in 0..300 {
        match Connection::connect(AMQP_URL, ConnectionProperties::default()).await {
            Ok(c) => return c,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("RabbitMQ not reachable at {AMQP_URL}: {last:?}");
}

/// A one-node Garage store started by the project's script (`scripts/s3-server.sh`).
pub struct S3Server {
    pub endpoint: String,
    pub port: u16,
    pub data: PathBuf,
    pid: Option<u32>,
}

impl S3Server {
    pub fn start() -> S3Server {
        Self::run(&[])
    }

    fn run(extra: &[&str]) -> S3Server {
        let out = Command::new(repo_root().join("scripts/s3-server.sh"))
            .args(extra)
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/s3-server.sh");
        assert!(out.status.success(), "s3-server.sh failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("{k} missing in {text}"))
                .to_owned()
        };
        let endpoint = get("S3_ENDPOINT");
        let port = endpoint.rsplit(':').next().unwrap().parse().unwrap();
        S3Server {
            endpoint,
            port,
            data: PathBuf::from(get("S3_DATA")),
            pid: Some(get("S3_PID").parse().unwrap()),
        }
    }

    /// Stops the server (SIGKILL); its data stays.
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            // Wait until the port is closed.
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) {
        assert!(self.pid.is_none(), "still running");
        let data = self.data.display().to_string();
        let out = Command::new(repo_root().join("scripts/s3-server.sh"))
            .args(["--data", &data, "--restart"])
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/s3-server.sh --restart");
        assert!(out.status.success(), "s3-server.sh --restart failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let pid = text
            .lines()
            .find_map(|l| l.strip_prefix("S3_PID="))
            .unwrap_or_else(|| panic!("S3_PID missing in {text}"));
        self.pid = Some(pid.parse().unwrap());
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Fresh broker names and bucket for one test; deleted on drop.
pub struct Names {
    pub jobs: String,
    pub dlq: String,
    pub deliveries: String,
    pub parking: String,
    pub results: String,
    /// A queue bound to the results exchange (`result.#`), to see what was published there.
    pub results_tap: String,
    pub review: String,
    pub review_fail: String,
    pub stats: String,
    pub bucket: String,
}

impl Names {
    pub fn new() -> Names {
        let p = unique("t.");
        Names {
            jobs: format!("{p}.jobs"),
            dlq: format!("{p}.jobs.dlq"),
            deliveries: format!("{p}.deliveries"),
            parking: format!("{p}.deliveries.parked"),
            results: format!("{p}.results"),
            results_tap: format!("{p}.results.tap"),
            review: format!("{p}.review"),
            review_fail: format!("{p}.review.fail"),
            stats: format!("{p}.stats"),
            bucket: unique("pc-"),
        }
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        let queues = [
            self.jobs.clone(),
            self.dlq.clone(),
            self.deliveries.clone(),
            self.parking.clone(),
            self.results_tap.clone(),
            self.review.clone(),
            self.review_fail.clone(),
            self.stats.clone(),
        ];
        let exchange = self.results.clone();
        // Drop may run inside a runtime: clean up on a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(conn) =
                    Connection::connect(AMQP_URL, ConnectionProperties::default()).await
                {
                    if let Ok(ch) = conn.create_channel().await {
                        for q in &queues {
                            let _ = ch
                                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                                .await;
                        }
                        let _ = ch
                            .exchange_delete(
                                exchange.as_str().into(),
                                ExchangeDeleteOptions::default(),
                            )
                            .await;
                    }
                    let _ = conn.close(200, "bye".into()).await;
                }
            });
        })
        .join();
    }
}

/// A test configuration for the given S3 server and names.
pub fn config(s3: &S3Server, names: &Names, central_url: Option<&str>) -> Config {
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".into();
    c.api.max_body_bytes = 1024 * 1024;
    c.api.retry_after_s = 1;
    // The tests upload in bursts; the rate limit has a test of its own.
    c.api.window_rate_per_s = 0.0;
    c.api.tokens.insert("w1".into(), TOKEN_W1.into());
    c.api.tokens.insert("w2".into(), TOKEN_W2.into());
    c.amqp.url = AMQP_URL.into();
    c.amqp.jobs_queue = names.jobs.clone();
    c.amqp.dead_letter_queue = names.dlq.clone();
    c.amqp.deliveries_queue = names.deliveries.clone();
    c.amqp.parking_queue = names.parking.clone();
    c.amqp.results_exchange = names.results.clone();
    c.amqp.review_queue = names.review.clone();
    c.amqp.review_fail_queue = names.review_fail.clone();
    c.amqp.stats_queue = names.stats.clone();
    c.s3.endpoint = s3.endpoint.clone();
    c.s3.bucket = names.bucket.clone();
    c.s3.access_key = "photocheck".into();
    c.s3.secret_key = "photocheck-secret".into();
    c.s3.timeout_ms = 2000;
    c.s3.max_attempts = 1;
    c.worker.concurrency = 1;
    c.worker.max_attempts = 4;
    c.worker.retry_base_ms = 50;
    c.worker.retry_max_ms = 400;
    c.worker.outage_retry_max_ms = 400;
    c.worker.grace_period_s = 20;
    c.worker.metrics_listen = String::new();
    if let Some(url) = central_url {
        c.central.url = url.into();
        c.central.secret = SECRET.into();
    }
    c.central.retry_base_ms = 50;
    c.central.retry_max_ms = 400;
    c.central.requeue_after = 3;
    // Audit lines would go to the test's stdout; the tests that read them name a file.
    c.audit.path = "off".into();
    c
}

/// The API running in-process on a free port.
pub struct Api {
    pub url: String,
    stop: CancellationToken,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn start_api(config: &Config) -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Over TLS by the name the test certificates carry.
    let url = if config.api.tls.enabled() {
        format!("https://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    };
    let stop = CancellationToken::new();
    let token = stop.clone();
    let config = config.clone();
    tokio::spawn(async move {
        photocheck_pipeline::serve_listener(listener, config, Metrics::new(), token)
            .await
            .expect("api");
    });
    Api { url, stop }
}

/// Declares the topology (as the API and workers would) and a tap queue on the results exchange.
pub async fn declare(config: &Config, names: &Names) {
    let conn = rabbit().await;
    let ch = conn.create_channel().await.unwrap();
    photocheck_pipeline::broker::declare_topology(&ch, &config.amqp)
        .await
        .unwrap();
    ch.queue_declare(
        names.results_tap.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        names.results_tap.as_str().into(),
        names.results.as_str().into(),
        "result.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let _ = conn.close(200, "ok".into()).await;
}

/// Messages now in `queue` (exact, from a passive declare).
pub async fn depth(queue: &str) -> u32 {
    let conn = rabbit().await;
    let ch = conn.create_channel().await.unwrap();
    let q = photocheck_pipeline::broker::inspect(&ch, queue)
        .await
        .unwrap();
    let n = q.message_count();
    let _ = conn.close(200, "ok".into()).await;
    n
}

/// Takes every message out of `queue` (auto-ack): (headers, body, message id).
pub async fn drain(queue: &str) -> Vec<(Option<FieldTable>, Vec<u8>, Option<String>)> {
    let conn = rabbit().await;
    let ch = conn.create_channel().await.unwrap();
    let mut out = Vec::new();
    while let Some(m) = ch
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        let d = m.delivery;
        out.push((
            d.properties.headers().clone(),
            d.data.clone(),
            d.properties.message_id().as_ref().map(|s| s.to_string()),
        ));
    }
    let _ = conn.close(200, "ok".into()).await;
    out
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Uploads one photo as window 1; returns (status, body).
pub async fn upload(
    api: &Api,
    token: &str,
    body: Vec<u8>,
    key: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut rq = http()
        .post(format!("{}/v1/photos", api.url))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(body);
    if let Some(k) = key {
        rq = rq.header("idempotency-key", k);
    }
    let r = rq.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Sends one photo to `{api_url}/v1/photos` as a multipart form (`photo`, then `metadata` as
/// JSON text) with `client`, as a window system that sends metadata does.
pub async fn multipart_upload(
    client: &reqwest::Client,
    api_url: &str,
    token: &str,
    photo: &[u8],
    metadata: &str,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part(
            "photo",
            reqwest::multipart::Part::bytes(photo.to_vec())
                .file_name("photo.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        )
        .text("metadata", metadata.to_owned());
    client
        .post(format!("{api_url}/v1/photos"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Path of the `photocheck` binary: `PHOTOCHECK_BIN`, else next to this test's target dir.
pub fn photocheck_bin() -> PathBuf {
    if let Ok(p) = std::env::var("PHOTOCHECK_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("photocheck");
    assert!(
        bin.exists(),
        "{} not found: build it first (cargo build -p photocheck), or set PHOTOCHECK_BIN",
        bin.display()
    );
    bin
}

/// A `photocheck worker` process with the test's configuration file.
pub struct Worker {
    child: Option<Child>,
    _dir: tempfile::TempDir,
    pub metrics_url: Option<String>,
}

impl Worker {
    pub fn start(config: &Config, with_metrics: bool) -> Worker {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config.clone();
        let metrics_url = if with_metrics {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            config.worker.metrics_listen = format!("127.0.0.1:{port}");
            Some(format!("http://127.0.0.1:{port}/metrics"))
        } else {
            None
        };
        let path = dir.path().join("photocheck.toml");
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        let child = Command::new(photocheck_bin())
            .arg("--config")
            .arg(&path)
            .arg("worker")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("start photocheck worker");
        Worker {
            child: Some(child),
            _dir: dir,
            metrics_url,
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        c.wait().unwrap()
    }

    /// Status of one of the worker's probes (`/healthz`, `/readyz`); 0 when unreachable.
    pub async fn probe(&self, path: &str) -> u16 {
        let Some(url) = &self.metrics_url else {
            return 0;
        };
        let url = url.replace("/metrics", path);
        match http().get(url).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// A counter's total from the worker's /metrics (sum over labels).
    pub async fn metric(&self, name: &str) -> f64 {
        let Some(url) = &self.metrics_url else {
            return 0.0;
        };
        let Ok(r) = http().get(url).send().await else {
            return 0.0;
        };
        let text = r.text().await.unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Starts a receiver.
pub async fn receiver() -> Receiver {
    Receiver::start("127.0.0.1:0", SECRET, false).await.unwrap()
}

/// Awaits `f`, failing the test after [`PATIENCE`] instead of hanging.
pub async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f)
        .await
        .expect("gave up waiting (PATIENCE)")
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for a test's own server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A RabbitMQ node of the test's own beside the system node (`scripts/rabbit-node.sh`), for
/// blocking or stopping a broker for real; stopped and removed on drop.
pub struct RabbitNode {
    pub name: String,
    pub url: String,
    dir: tempfile::TempDir,
}

impl RabbitNode {
    pub fn start() -> RabbitNode {
        Self::launch(None)
    }

    /// A node that serves AMQP over TLS only (`amqps://localhost:PORT`), with the server
    /// certificate of `pki` (a folder holding `ca.pem`, `server.pem`, `server.key`).
    pub fn start_tls(pki: &std::path::Path) -> RabbitNode {
        Self::launch(Some(pki))
    }

    fn launch(tls: Option<&std::path::Path>) -> RabbitNode {
        let name = unique("pc-t-");
        let port = free_port();
        let dist = free_port();
        let dir = tempfile::tempdir().unwrap();
        let url = match tls {
            Some(_) => format!("amqps://guest:guest@localhost:{port}/%2f"),
            None => format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        };
        let node = RabbitNode { url, name, dir };
        let (port, dist) = (port.to_string(), dist.to_string());
        let dir = node.dir.path().display().to_string();
        let pki = tls.map(|p| p.display().to_string());
        let mut args = vec!["start", &port, &dist, &dir];
        args.extend(pki.as_deref());
        node.script(&args);
        node
    }

    fn script(&self, args: &[&str]) {
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("scripts/rabbit-node.sh"))
            .arg(args[0])
            .arg(&self.name)
            .args(&args[1..]);
        let status = cmd.status().unwrap();
        assert!(status.success(), "rabbit-node.sh {args:?} failed");
    }

    /// Raises a memory alarm: the broker blocks every publishing connection.
    pub fn block(&self) {
        self.script(&["block"]);
    }

    /// Clears the alarm.
    pub fn unblock(&self) {
        self.script(&["unblock"]);
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("scripts/rabbit-node.sh"))
            .args(["stop", &self.name])
            .status();
    }
}

/// A `photocheck serve` process (an API replica) with the test's configuration file.
pub struct ApiProcess {
    child: Option<Child>,
    _dir: tempfile::TempDir,
    pub url: String,
}

impl ApiProcess {
    pub fn start(config: &Config) -> ApiProcess {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config.clone();
        let port = free_port();
        config.api.listen = format!("127.0.0.1:{port}");
        config.engine.models_dir = Some(dir.path().join("no-models"));
        config.engine.ort_dylib = Some(dir.path().join("no-libonnxruntime.so"));
        let path = dir.path().join("photocheck.toml");
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        let child = Command::new(photocheck_bin())
            .arg("--config")
            .arg(&path)
            .arg("serve")
            .env("RUST_LOG", "warn")
            // The API needs neither ONNX Runtime nor the models: give it neither.
            .env("XDG_DATA_HOME", dir.path().join("no-data"))
            .env_remove("ORT_DYLIB_PATH")
            .stdin(Stdio::null())
            .spawn()
            .expect("start photocheck serve");
        ApiProcess {
            child: Some(child),
            _dir: dir,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits until `/readyz` answers 200 (storage and broker reachable).
    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.url);
        eventually("the API process ready", || {
            let url = url.clone();
            async move { matches!(http().get(url).send().await, Ok(r) if r.status() == 200) }
        })
        .await;
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// stunnel terminating TLS in front of a local port (as a reverse proxy does in front of
/// Garage, which serves plain HTTP), with the server certificate of `pki`; stopped on drop.
pub struct TlsTerminator {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsTerminator {
    pub fn start(pki: &std::path::Path, backend_port: u16) -> TlsTerminator {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\ndebug = warning\n[s3]\naccept = 127.0.0.1:{port}\n\
                 connect = 127.0.0.1:{backend_port}\ncert = {}\nkey = {}\n",
                pki.join("server.pem").display(),
                pki.join("server.key").display()
            ),
        )
        .unwrap();
        let bin = ["stunnel4", "stunnel"]
            .into_iter()
            .find(|b| {
                Command::new(b)
                    .arg("-version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok()
            })
            .expect("stunnel is not installed: bash scripts/system-deps.sh --tests");
        let child = Command::new(bin)
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start stunnel");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsTerminator {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for TlsTerminator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
