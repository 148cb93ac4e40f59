//! The photo-check centre's web console (`photocheck console`): the review queue, the
//! statistics and the operations page, served on its own listener (HTTPS like the API) to staff
//! who log in with a role. Every action is written to the audit log.
//!
//! | where | what |
//! |---|---|
//! | `auth.rs` | staff log-in: Argon2id hashes, signed session cookies, form tokens |
//! | `review.rs` | leases on the review queues, decisions stored, delivered and indexed |
//! | `stats.rs` | the statistics index in the object store, reports, CSV, SVG charts |
//! | `pages.rs` | the HTML, the style sheet and the keyboard script |

pub mod auth;
pub mod pages;
pub mod review;
pub mod stats;

use crate::audit::Audit;
use crate::broker::Publisher;
use crate::dlq::Which;
use crate::store::Store;
use crate::tls::TlsListener;
use auth::{Auth, Refusal, Session};
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use photocheck_config::Config;
use photocheck_types::{CheckCode, DecisionKind};
use review::{Queue, Reviews};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Everything the console's handlers share.
pub struct Console {
    config: Config,
    auth: Auth,
    store: Store,
    reviews: Reviews,
    audit: Audit,
    secure: bool,
}

impl Console {
    /// Checks the configuration and builds the console's state (no connection is made yet).
    pub fn new(config: &Config) -> Result<Console, crate::PipelineError> {
        let auth = Auth::new(&config.console)?;
        let store = Store::new(&config.s3)?;
        let audit = Audit::open(&config.audit)?;
        let publisher = Arc::new(Publisher::new(config.amqp.clone()));
        let deliver = !config.central.url.is_empty();
        let reviews = Reviews::new(
            config.amqp.clone(),
            store.clone(),
            publisher,
            audit.clone(),
            deliver,
            Duration::from_secs(config.console.lease_s.max(1)),
            config.console.utc_offset_min,
        );
        Ok(Console {
            config: config.clone(),
            auth,
            store,
            reviews,
            audit,
            secure: config.console.tls.enabled(),
        })
    }
}

fn now() -> u64 {
    crate::delivery::unix_now()
}

/// The session of a request, from its cookie.
fn session_of(console: &Console, headers: &HeaderMap) -> Option<Session> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    console.auth.session(auth::cookie_value(cookies)?, now())
}

/// A page, with the headers every console response carries.
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// What a handler does when the request has no session or the wrong role.
enum Gate {
    LogIn,
    Forbidden(Session),
}

impl Gate {
    fn response(self, console: &Console) -> Response {
        match self {
            Gate::LogIn => Redirect::to("/login").into_response(),
            Gate::Forbidden(s) => {
                let token = console.auth.form_token(&s);
                html(
                    StatusCode::FORBIDDEN,
                    pages::message("无权访问", Some((&s, &token)), "您的角色不能使用此页面。"),
                )
            }
        }
    }
}

fn gate(
    console: &Console,
    headers: &HeaderMap,
    allowed: impl Fn(auth::Role) -> bool,
) -> Result<(Session, String), Gate> {
    let session = session_of(console, headers).ok_or(Gate::LogIn)?;
    if !allowed(session.role) {
        return Err(Gate::Forbidden(session));
    }
    let token = console.auth.form_token(&session);
    Ok((session, token))
}

/// A POST's session, role and form token all checked.
fn gate_post(
    console: &Console,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    allowed: impl Fn(auth::Role) -> bool,
) -> Result<(Session, String), Box<Response>> {
    let (session, token) =
        gate(console, headers, allowed).map_err(|g| Box::new(g.response(console)))?;
    let presented = form.get("csrf").map_or("", String::as_str);
    if !console.auth.form_token_ok(&session, presented) {
        return Err(Box::new(html(
            StatusCode::FORBIDDEN,
            pages::message(
                "请求无效",
                Some((&session, &token)),
                "表单已过期，请返回后重试。",
            ),
        )));
    }
    Ok((session, token))
}

type Shared = State<Arc<Console>>;

async fn root(State(c): Shared, headers: HeaderMap) -> Response {
    match session_of(&c, &headers) {
        Some(s) => Redirect::to(pages::home_of(s.role)).into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

async fn login_page(State(c): Shared, headers: HeaderMap) -> Response {
    if let Some(s) = session_of(&c, &headers) {
        return Redirect::to(pages::home_of(s.role)).into_response();
    }
    html(StatusCode::OK, pages::login(None))
}

async fn login(State(c): Shared, Form(form): Form<HashMap<String, String>>) -> Response {
    let user = form.get("user").map_or("", |s| s.trim());
    let password = form.get("password").map_or("", String::as_str);
    let (status, error) = match c.auth.log_in(user, password, now()) {
        Ok(session) => {
            c.audit.record(
                "console.login",
                "",
                serde_json::json!({"user": session.user, "role": session.role.as_str()}),
            );
            let mut response = Redirect::to(pages::home_of(session.role)).into_response();
            if let Ok(v) = HeaderValue::from_str(&c.auth.cookie(&session, c.secure)) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            return response;
        }
        Err(Refusal::Wrong) => (StatusCode::UNAUTHORIZED, "用户名或密码错误。"),
        Err(Refusal::Paused) => (
            StatusCode::TOO_MANY_REQUESTS,
            "密码错误次数过多，请 5 分钟后再试。",
        ),
    };
    c.audit.record(
        "console.login_refused",
        "",
        serde_json::json!({"user": user, "status": status.as_u16()}),
    );
    html(status, pages::login(Some(error)))
}

async fn logout(
    State(c): Shared,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Ok((session, _)) = gate_post(&c, &headers, &form, |_| true) {
        c.audit.record(
            "console.logout",
            "",
            serde_json::json!({"user": session.user}),
        );
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&Auth::cleared_cookie(c.secure)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn review_home(
    State(c): Shared,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (session, token) = match gate(&c, &headers, auth::Role::reviews) {
        Ok(v) => v,
        Err(g) => return g.response(&c),
    };
    let depths = c.reviews.depths().await.ok();
    let notice = match q.get("done").map(String::as_str) {
        Some("accept") => Some("已提交：通过。"),
        Some("reject") => Some("已提交：退回重拍。"),
        Some("empty") => Some("队列中暂无照片。"),
        Some("returned") => Some("照片已放回队列。"),
        Some("lost") => Some("该照片已超时退回队列，请重新领取。"),
        _ => None,
    };
    let held = c.reviews.held().await;
    html(
        StatusCode::OK,
        pages::review_home(&session, &token, depths, held, notice),
    )
}

async fn review_take(
    State(c): Shared,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (session, token) = match gate_post(&c, &headers, &form, auth::Role::reviews) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let queue = form
        .get("queue")
        .and_then(|q| Queue::parse(q))
        .unwrap_or(Queue::Review);
    match c.reviews.take(&session.user, queue).await {
        Ok(Some(lease)) => Redirect::to(&format!("/review/{}", lease.id)).into_response(),
        Ok(None) => Redirect::to("/review?done=empty").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, code = e.code(), "review queue unavailable");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::message(
                    "暂时无法领取",
                    Some((&session, &token)),
                    "消息队列或存储暂时不可用，请稍后再试。",
                ),
            )
        }
    }
}

async fn review_photo_page(
    State(c): Shared,
    headers: HeaderMap,
    Path(lease): Path<String>,
) -> Response {
    let (session, token) = match gate(&c, &headers, auth::Role::reviews) {
        Ok(v) => v,
        Err(g) => return g.response(&c),
    };
    match c.reviews.lease(&lease, &session.user).await {
        Some(l) => {
            let left = l
                .expires
                .saturating_duration_since(Instant::now())
                .as_secs();
            html(
                StatusCode::OK,
                pages::review_photo(&session, &token, &l, left),
            )
        }
        None => Redirect::to("/review?done=lost").into_response(),
    }
}

async fn review_photo_bytes(
    State(c): Shared,
    headers: HeaderMap,
    Path(lease): Path<String>,
) -> Response {
    let session = match gate(&c, &headers, auth::Role::reviews) {
        Ok((s, _)) => s,
        Err(g) => return g.response(&c),
    };
    let Some(l) = c.reviews.lease(&lease, &session.user).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match c.reviews.photo(&l).await {
        Ok(Some(bytes)) => {
            let kind = crate::api::sniff_image(&bytes).unwrap_or("application/octet-stream");
            (
                [
                    (header::CONTENT_TYPE, kind),
                    (header::CACHE_CONTROL, "no-store, private"),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(None) => StatusCode::GONE.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn review_decide(
    State(c): Shared,
    headers: HeaderMap,
    Path(lease): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (session, token) = match gate_post(&c, &headers, &form, auth::Role::reviews) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let kind = form.get("decision").and_then(|d| DecisionKind::parse(d));
    let reason = form.get("reason").and_then(|r| CheckCode::parse(r));
    let note = form.get("note").map_or("", |n| n.trim()).to_owned();
    let Some(kind) = kind else {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::message(
                "请选择结论",
                Some((&session, &token)),
                "请选择“通过”或“退回重拍”后再提交。",
            ),
        );
    };
    if kind == DecisionKind::Reject && reason.is_none() && note.is_empty() {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::message(
                "请填写原因",
                Some((&session, &token)),
                "退回重拍须选择原因或填写备注。",
            ),
        );
    }
    let verdict = review::Verdict { kind, reason, note };
    match c.reviews.decide(&lease, &session.user, verdict).await {
        Ok(d) => Redirect::to(&format!("/review?done={}", d.decision.as_str())).into_response(),
        Err(review::ReviewError::NotHeld) => Redirect::to("/review?done=lost").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, code = e.code(), "decision not recorded yet");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::message(
                    "暂时无法提交",
                    Some((&session, &token)),
                    "存储或消息队列暂时不可用，结论尚未提交；照片仍由您保留，请稍后返回重试。",
                ),
            )
        }
    }
}

async fn review_release(
    State(c): Shared,
    headers: HeaderMap,
    Path(lease): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (session, _) = match gate_post(&c, &headers, &form, auth::Role::reviews) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    c.reviews.release(&lease, &session.user, "skipped").await;
    Redirect::to("/review?done=returned").into_response()
}

/// The period and scope of a statistics request: `from`/`to` (default: the last 7 days of the
/// centre's calendar), `scope` (city, office or window).
fn filter_of(c: &Console, q: &HashMap<String, String>) -> stats::Filter {
    let today = stats::today(c.config.console.utc_offset_min);
    let day = |k: &str| q.get(k).and_then(|v| v.parse::<chrono::NaiveDate>().ok());
    let to = day("to").unwrap_or(today);
    let from = day("from").unwrap_or(to - chrono::Duration::days(6));
    let (from, to) = if from > to { (to, from) } else { (from, to) };
    let from = from.max(to - chrono::Duration::days(365));
    stats::Filter {
        from,
        to,
        scope: q
            .get("scope")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
    }
}

async fn statistics(
    State(c): Shared,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (session, token) = match gate(&c, &headers, auth::Role::reads_statistics) {
        Ok(v) => v,
        Err(g) => return g.response(&c),
    };
    let filter = filter_of(&c, &q);
    match stats::collect(&c.store, &filter).await {
        Ok(report) => html(
            StatusCode::OK,
            pages::statistics(&session, &token, &filter, &report),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "statistics: store unavailable");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::message(
                    "暂时无法统计",
                    Some((&session, &token)),
                    "存储暂时不可用，请稍后再试。",
                ),
            )
        }
    }
}

async fn statistics_csv(
    State(c): Shared,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let session = match gate(&c, &headers, auth::Role::reads_statistics) {
        Ok((s, _)) => s,
        Err(g) => return g.response(&c),
    };
    let filter = filter_of(&c, &q);
    match stats::collect(&c.store, &filter).await {
        Ok(report) => {
            c.audit.record(
                "console.export",
                "",
                serde_json::json!({"user": session.user, "from": filter.from.to_string(),
                    "to": filter.to.to_string(), "scope": filter.scope}),
            );
            let name = format!(
                "attachment; filename=\"photocheck-stats-{}-{}.csv\"",
                filter.from, filter.to
            );
            let mut response = (
                [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
                stats::csv(&report),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&name) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn queue_line(
    channel: Option<&lapin::Channel>,
    label: &'static str,
    name: &str,
) -> pages::QueueLine {
    let q = match channel {
        Some(ch) => crate::broker::inspect(ch, name).await.ok(),
        None => None,
    };
    pages::QueueLine {
        label,
        name: name.to_owned(),
        depth: q.as_ref().map(|q| q.message_count()),
        consumers: q.as_ref().map(|q| q.consumer_count()),
        oldest_s: None,
    }
}

async fn operations(
    State(c): Shared,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (session, token) = match gate(&c, &headers, auth::Role::reads_operations) {
        Ok(v) => v,
        Err(g) => return g.response(&c),
    };
    let amqp = &c.config.amqp;
    let conn = crate::broker::connect(amqp).await.ok();
    let channel = match &conn {
        Some(conn) => conn.create_channel().await.ok(),
        None => None,
    };
    let mut queues = Vec::new();
    for (label, name) in [
        ("作业", &amqp.jobs_queue),
        ("待投递结果", &amqp.deliveries_queue),
        ("待复核", &amqp.review_queue),
        ("不合格（可选复核）", &amqp.review_fail_queue),
        ("统计索引", &amqp.stats_queue),
    ] {
        queues.push(queue_line(channel.as_ref(), label, name).await);
    }
    if let Some(conn) = conn {
        let _ = conn.close(200, "done".into()).await;
    }
    let mut dead = Vec::new();
    let mut parked = Vec::new();
    for (which, label, list) in [
        (Which::DeadLetters, "死信", &mut dead),
        (Which::Parked, "暂存", &mut parked),
    ] {
        let (depth, oldest) = crate::dlq::stats(amqp, which).await.ok().unzip();
        *list = crate::dlq::list(amqp, which).await.unwrap_or_default();
        queues.push(pages::QueueLine {
            label,
            name: which.queues(amqp).0.to_owned(),
            depth,
            consumers: None,
            oldest_s: oldest.flatten(),
        });
    }
    let since = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let offset = c.config.console.utc_offset_min;
    let mut hour = Some(0u32);
    for day in [
        stats::today(offset) - chrono::Duration::days(1),
        stats::today(offset),
    ] {
        match c
            .store
            .list_all(&format!("{}{day}/", stats::RESULTS_PREFIX))
            .await
        {
            Ok(keys) => hour = hour.map(|h| h + stats::Report::count_since(&keys, since)),
            Err(_) => hour = None,
        }
    }
    let notice = q.get("done").map(|d| match d.as_str() {
        "requeued" => "已重新入队。",
        "discarded" => "已丢弃。",
        _ => "没有找到该消息（可能已被处理）。",
    });
    html(
        StatusCode::OK,
        pages::operations(
            &session,
            &token,
            &queues,
            hour,
            &dead,
            &parked,
            &c.config.retention,
            notice,
        ),
    )
}

async fn operations_act(
    State(c): Shared,
    headers: HeaderMap,
    Path((which, action)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (session, token) = match gate_post(&c, &headers, &form, auth::Role::acts_on_queues) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let which = match which.as_str() {
        "dead" => Which::DeadLetters,
        "parked" => Which::Parked,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let Some(id) = form.get("id").filter(|s| !s.is_empty()).cloned() else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    let ids = [id.clone()];
    let (outcome, done) = match action.as_str() {
        "requeue" => (
            crate::dlq::requeue(&c.config.amqp, which, Some(&ids)).await,
            "requeued",
        ),
        "discard" => (
            crate::dlq::discard(&c.config.amqp, which, &ids).await,
            "discarded",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match outcome {
        Ok(n) => {
            c.audit.record(
                &format!("console.{done}"),
                &id,
                serde_json::json!({"user": session.user, "queue": which.queues(&c.config.amqp).0, "moved": n}),
            );
            let done = if n > 0 { done } else { "missing" };
            Redirect::to(&format!("/ops?done={done}")).into_response()
        }
        Err(e) => html(
            StatusCode::SERVICE_UNAVAILABLE,
            pages::message(
                "操作未完成",
                Some((&session, &token)),
                &format!("消息队列暂时不可用（{}）。", e.code()),
            ),
        ),
    }
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        pages::CSS,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        pages::JS,
    )
        .into_response()
}

/// The console's routes.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/review", get(review_home))
        .route("/review/take", post(review_take))
        .route("/review/{lease}", get(review_photo_page))
        .route("/review/{lease}/photo", get(review_photo_bytes))
        .route("/review/{lease}/decide", post(review_decide))
        .route("/review/{lease}/release", post(review_release))
        .route("/stats", get(statistics))
        .route("/stats.csv", get(statistics_csv))
        .route("/ops", get(operations))
        .route("/ops/{which}/{action}", post(operations_act))
        .route("/console.css", get(style))
        .route("/console.js", get(script))
        .route("/healthz", get(|| async { "ok" }))
        // Browsers ask for it on every page; no icon rather than a 404 in their console.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(console)
}

/// Runs the console on `listener` until `shutdown`: the pages, the statistics indexer and the
/// lease clock. On shutdown every photo still held goes back to its queue.
pub async fn serve_listener(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), crate::PipelineError> {
    let console = Arc::new(Console::new(&config)?);
    if config.s3.create_bucket {
        if let Err(e) = console.store.ensure_bucket().await {
            tracing::warn!(error = %e, "cannot ensure the bucket exists yet");
        }
    }
    let indexer = tokio::spawn(stats::run_indexer(
        config.amqp.clone(),
        console.store.clone(),
        config.console.utc_offset_min,
        shutdown.clone(),
    ));
    let clock = {
        let console = Arc::clone(&console);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {
                        console.reviews.expire().await;
                    }
                    _ = shutdown.cancelled() => break,
                }
            }
        })
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(%addr, https = config.console.tls.enabled(), "console listening");
    let app = router(Arc::clone(&console));
    let served = if config.console.tls.enabled() {
        let listener = TlsListener::spawn(listener, config.console.tls.clone(), shutdown.clone())?;
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<crate::tls::Peer>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await
    } else {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .await
    };
    shutdown.cancel();
    let _ = clock.await;
    let _ = indexer.await;
    console.reviews.close().await;
    served.map_err(|e| crate::PipelineError::Listen {
        addr,
        reason: e.to_string(),
    })
}

/// Binds `console.listen` and serves until `shutdown`.
pub async fn serve(
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), crate::PipelineError> {
    for warning in config.security_warnings() {
        tracing::warn!("{warning}");
    }
    let listener = crate::api::bind("console.listen", &config.console.listen).await?;
    serve_listener(listener, config, shutdown).await
}
