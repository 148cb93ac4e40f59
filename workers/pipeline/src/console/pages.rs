//! The console's pages: server-rendered HTML in Chinese, sized for a 1366 × 768 counter PC,
//! with one small script (`/console.js`) for the review page's keyboard shortcuts. Everything
//! that comes from data is escaped here.

use super::auth::{Role, Session};
use super::review::Lease;
use super::stats::{reason_label, verdict_label, Report};
use photocheck_types::{CheckCode, CheckResult, Status};

/// `text` with the five HTML-significant characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page frame: navigation for the session's role, the user and a log-out button.
pub fn layout(title: &str, session: Option<(&Session, &str)>, body: &str) -> String {
    let nav = match session {
        Some((s, token)) => {
            let mut links = String::new();
            if s.role.reviews() {
                links.push_str("<a href=\"/review\" accesskey=\"1\">复核队列</a>");
            }
            if s.role.reads_statistics() {
                links.push_str("<a href=\"/stats\" accesskey=\"2\">统计</a>");
            }
            if s.role.reads_operations() {
                links.push_str("<a href=\"/ops\" accesskey=\"3\">运行状态</a>");
            }
            format!(
                "<nav>{links}<span class=\"who\">{} · {}</span>\
                 <form method=\"post\" action=\"/logout\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <button type=\"submit\" id=\"logout\">退出</button></form></nav>",
                escape(&s.user),
                s.role.label(),
                escape(token)
            )
        }
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · 照片检测中心</title><link rel=\"stylesheet\" href=\"/console.css\">\
         <script src=\"/console.js\" defer></script></head><body>\
         <header><h1>照片检测中心</h1>{nav}</header><main>{body}</main></body></html>",
        escape(title)
    )
}

/// The log-in page, with an optional error line.
pub fn login(error: Option<&str>) -> String {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\" id=\"error\">{}</p>", escape(e))
    });
    layout(
        "登录",
        None,
        &format!(
            "<section class=\"login\"><h2>工作人员登录</h2>{error}\
             <form method=\"post\" action=\"/login\">\
             <label>用户名 <input name=\"user\" id=\"user\" autocomplete=\"username\" required autofocus></label>\
             <label>密码 <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
             <button type=\"submit\" id=\"login\">登录</button></form></section>"
        ),
    )
}

/// A plain message page (errors, refusals).
pub fn message(title: &str, session: Option<(&Session, &str)>, text: &str) -> String {
    layout(
        title,
        session,
        &format!(
            "<section><h2>{}</h2><p id=\"message\">{}</p><p><a href=\"/\">返回</a></p></section>",
            escape(title),
            escape(text)
        ),
    )
}

/// The review queue's front page: what waits, and the buttons to take the next photo.
pub fn review_home(
    session: &Session,
    token: &str,
    depths: Option<(u32, u32)>,
    held: usize,
    notice: Option<&str>,
) -> String {
    let notice = notice.map_or(String::new(), |n| {
        format!("<p class=\"notice\" id=\"notice\">{}</p>", escape(n))
    });
    let (review, fail) = depths.map_or(("?".into(), "?".into()), |(r, f)| {
        (r.to_string(), f.to_string())
    });
    let csrf = escape(token);
    layout(
        "复核队列",
        Some((session, token)),
        &format!(
            "<section><h2>复核队列</h2>{notice}\
             <table class=\"figures\"><tr><th>待复核（系统无法确定）</th><td id=\"depth-review\">{review}</td></tr>\
             <tr><th>不合格（可选复核）</th><td id=\"depth-fail\">{fail}</td></tr>\
             <tr><th>正在复核</th><td id=\"held\">{held}</td></tr></table>\
             <form method=\"post\" action=\"/review/take\" class=\"inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"queue\" value=\"review\">\
             <button type=\"submit\" id=\"take-review\" data-key=\"n\" autofocus>取下一张待复核照片 (N)</button></form> \
             <form method=\"post\" action=\"/review/take\" class=\"inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"queue\" value=\"fail\">\
             <button type=\"submit\" id=\"take-fail\" data-key=\"f\">复核不合格照片 (F)</button></form>\
             <p class=\"hint\">照片按到达顺序分配；同一张照片不会同时分给两位审核员；打开后未处理的照片到时自动退回队列。</p></section>"
        ),
    )
}

fn value_text(v: &Option<serde_json::Value>) -> String {
    match v {
        None => String::new(),
        Some(serde_json::Value::Number(n)) => n.as_f64().map_or_else(
            || n.to_string(),
            |f| format!("{}", (f * 100.0).round() / 100.0),
        ),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn limit_text(min: Option<f64>, max: Option<f64>, unit: &Option<String>) -> String {
    let unit = unit.as_deref().unwrap_or("");
    let f = |x: f64| format!("{}", (x * 100.0).round() / 100.0);
    match (min, max) {
        (Some(a), Some(b)) => format!("{}–{} {unit}", f(a), f(b)),
        (Some(a), None) => format!("≥ {} {unit}", f(a)),
        (None, Some(b)) => format!("≤ {} {unit}", f(b)),
        (None, None) => String::new(),
    }
}

fn status_label(status: Status, uncertain: bool) -> &'static str {
    match (status, uncertain) {
        (Status::Fail, _) => "不合格",
        (_, true) => "不确定",
        (Status::Pass, false) => "合格",
        (Status::Warn, false) => "提示",
        (Status::Skipped, false) => "未检",
    }
}

/// The photo's pixel size from its `image.dimensions` check (`[w, h]`), else the canvas.
fn photo_size(result: &CheckResult) -> (f64, f64) {
    result
        .checks
        .iter()
        .find(|c| c.code == CheckCode::ImageDimensions)
        .and_then(|c| c.value.as_ref()?.as_array().cloned())
        .and_then(|a| Some((a.first()?.as_f64()?, a.get(1)?.as_f64()?)))
        .filter(|(w, h)| *w > 0.0 && *h > 0.0)
        .unwrap_or((358.0, 441.0))
}

/// The overlay drawn over the photo in its own pixels: the face box and landmarks the engine
/// measured, and the profile's lines (crown band, lowest eye line, face-width band).
pub fn overlay_svg(result: &CheckResult) -> String {
    let (w, h) = photo_size(result);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"overlay\" viewBox=\"0 0 {w} {h}\" preserveAspectRatio=\"none\">"
    );
    let stroke = (w / 300.0).max(1.0);
    if let Some(profile) = photocheck_profile::Profile::by_name(&result.profile) {
        let k = h / f64::from(profile.canvas.1.max(1));
        if let Some(crown) = profile.crown_px {
            for y in [crown.min * k, crown.max * k] {
                svg.push_str(&format!(
                    "<line x1=\"0\" y1=\"{y:.1}\" x2=\"{w}\" y2=\"{y:.1}\" stroke=\"#00b0ff\" stroke-width=\"{stroke:.1}\" stroke-dasharray=\"6 4\"/>"
                ));
            }
        }
        let eye_y = h - profile.eye_line_from_bottom_px.min * k;
        svg.push_str(&format!(
            "<line x1=\"0\" y1=\"{eye_y:.1}\" x2=\"{w}\" y2=\"{eye_y:.1}\" stroke=\"#ff9100\" stroke-width=\"{stroke:.1}\" stroke-dasharray=\"6 4\"/>"
        ));
        if let Some(face) = &result.face {
            let cx = f64::from(face.bbox[0] + face.bbox[2] / 2.0);
            for half in [
                profile.face_width_px.min * k / 2.0,
                profile.face_width_px.max * k / 2.0,
            ] {
                for x in [cx - half, cx + half] {
                    svg.push_str(&format!(
                        "<line x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{h}\" stroke=\"#76ff03\" stroke-width=\"{stroke:.1}\" stroke-dasharray=\"2 6\"/>"
                    ));
                }
            }
        }
    }
    if let Some(face) = &result.face {
        let [x, y, bw, bh] = face.bbox;
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"none\" stroke=\"#ffea00\" stroke-width=\"{stroke:.1}\"/>"
        ));
        let l = &face.landmarks;
        for p in [l.left_eye, l.right_eye, l.nose, l.mouth_left, l.mouth_right] {
            svg.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{:.1}\" fill=\"#ff1744\"/>",
                p[0],
                p[1],
                stroke * 2.0
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The review page of one photo.
pub fn review_photo(session: &Session, token: &str, lease: &Lease, seconds_left: u64) -> String {
    let r = &lease.result;
    let mut rows = String::new();
    for c in &r.checks {
        let class = match (c.status, c.uncertain) {
            (Status::Fail, _) => "fail",
            (_, true) => "uncertain",
            _ => "ok",
        };
        rows.push_str(&format!(
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(c.code.name_zh()),
            status_label(c.status, c.uncertain),
            escape(&value_text(&c.value)),
            escape(&limit_text(c.min, c.max, &c.unit)),
            escape(&c.message),
        ));
    }
    // Reasons: the photo's failed and uncertain checks first (keys 1–9), then every other.
    let mut reasons: Vec<CheckCode> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail || c.uncertain)
        .map(|c| c.code)
        .collect();
    for &code in CheckCode::ALL {
        if !reasons.contains(&code) && code != CheckCode::EngineError {
            reasons.push(code);
        }
    }
    let options: String = reasons
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let key = if i < 9 {
                format!("{} ", i + 1)
            } else {
                String::new()
            };
            format!(
                "<option value=\"{}\">{key}{}</option>",
                code.as_str(),
                escape(code.label_zh())
            )
        })
        .collect();
    let csrf = escape(token);
    let lease_id = escape(&lease.id);
    let source = match lease.queue {
        super::review::Queue::Review => "待复核队列",
        super::review::Queue::Fail => "不合格队列（可选复核）",
    };
    layout(
        "复核照片",
        Some((session, token)),
        &format!(
            "<section class=\"review-page\" data-seconds-left=\"{seconds_left}\">\
             <div class=\"photo\"><div class=\"frame\"><img id=\"photo\" src=\"/review/{lease_id}/photo\" alt=\"待复核照片\">{overlay}</div>\
             <p class=\"hint\">O 键：显示/隐藏标注（蓝：头顶范围，橙：眼睛最低位置，绿：脸宽范围）</p></div>\
             <div class=\"facts\"><h2>系统结论：<span id=\"verdict\" class=\"{verdict}\">{verdict_label}</span>（{source}）</h2>\
             <p>照片编号 <span id=\"photo-id\">{photo_id}</span> · 窗口 {window} · 检测时间 {checked} · 剩余 <span id=\"countdown\">{seconds_left}</span> 秒</p>\
             <table class=\"checks\"><thead><tr><th>检查项</th><th>结果</th><th>测量值</th><th>标准</th><th>说明</th></tr></thead>\
             <tbody>{rows}</tbody></table>\
             <form method=\"post\" action=\"/review/{lease_id}/decide\" id=\"decide\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <fieldset><legend>复核结论</legend>\
             <label><input type=\"radio\" name=\"decision\" value=\"accept\" id=\"accept\"> 通过 (A)</label> \
             <label><input type=\"radio\" name=\"decision\" value=\"reject\" id=\"reject\"> 退回重拍 (R)</label>\
             <label>退回原因 <select name=\"reason\" id=\"reason\"><option value=\"\">（仅填写备注）</option>{options}</select></label>\
             <label>备注 <input name=\"note\" id=\"note\" maxlength=\"500\"></label>\
             <button type=\"submit\" id=\"submit\">提交 (Enter)</button></fieldset></form>\
             <form method=\"post\" action=\"/review/{lease_id}/release\" id=\"release\" class=\"inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\" id=\"skip\">放回队列 (Esc)</button></form></div></section>",
            overlay = overlay_svg(r),
            verdict = r.verdict.as_str(),
            verdict_label = verdict_label(r.verdict),
            photo_id = escape(r.id.as_deref().unwrap_or("-")),
            window = escape(r.window_id.as_deref().unwrap_or("-")),
            checked = escape(r.checked_at.as_deref().unwrap_or("-")),
        ),
    )
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The statistics page for a period.
pub fn statistics(
    session: &Session,
    token: &str,
    filter: &super::stats::Filter,
    report: &Report,
) -> String {
    let total = report.total();
    let scope = filter.scope.clone().unwrap_or_default();
    let query = format!(
        "from={}&amp;to={}&amp;scope={}",
        filter.from,
        filter.to,
        escape(&scope)
    );
    let mut offices = String::new();
    for (office, row) in report.by_office() {
        offices.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&office),
            row.photos,
            pct(row.pass_rate()),
            pct(row.review_rate()),
            row.mean_turnaround_min()
                .map_or("-".into(), |m| format!("{m:.1}")),
            escape(
                &row.top_reasons(3)
                    .iter()
                    .map(|(c, n)| format!("{}({n})", reason_label(c)))
                    .collect::<Vec<_>>()
                    .join("；")
            ),
        ));
    }
    let mut windows = String::new();
    for ((day, window), row) in report.rows.iter().take(500) {
        windows.push_str(&format!(
            "<tr><td>{day}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(window),
            row.photos,
            row.pass,
            row.fail,
            row.review,
            row.accepted,
            row.rejected
        ));
    }
    layout(
        "统计",
        Some((session, token)),
        &format!(
            "<section><h2>统计</h2><form method=\"get\" action=\"/stats\" class=\"filter\">\
             <label>从 <input type=\"date\" name=\"from\" id=\"from\" value=\"{from}\"></label>\
             <label>到 <input type=\"date\" name=\"to\" id=\"to\" value=\"{to}\"></label>\
             <label>城市/办证点/窗口 <input name=\"scope\" id=\"scope\" value=\"{scope_e}\" placeholder=\"如 gz 或 gz-tianhe\"></label>\
             <button type=\"submit\" id=\"apply\">查询</button> <a id=\"export\" href=\"/stats.csv?{query}\">导出 CSV（Excel）</a></form>\
             <table class=\"figures\"><tr><th>照片数</th><td id=\"total-photos\">{photos}</td><th>合格率</th><td id=\"pass-rate\">{pass_rate}</td>\
             <th>复核率</th><td id=\"review-rate\">{review_rate}</td><th>复核通过/退回</th><td id=\"decisions\">{acc}/{rej}</td>\
             <th>平均复核用时</th><td>{turn}</td></tr></table>\
             <div class=\"charts\"><figure>{daily}<figcaption>每日照片数（柱）与合格率</figcaption></figure>\
             <figure>{reasons}<figcaption>主要不合格原因</figcaption></figure></div>\
             <h3>按办证点</h3><table class=\"list\"><thead><tr><th>办证点</th><th>照片数</th><th>合格率</th><th>复核率</th><th>平均复核用时（分钟）</th><th>主要不合格原因</th></tr></thead><tbody>{offices}</tbody></table>\
             <h3>按日期与窗口</h3><table class=\"list\" id=\"rows\"><thead><tr><th>日期</th><th>窗口</th><th>照片数</th><th>合格</th><th>不合格</th><th>待复核</th><th>复核通过</th><th>复核退回</th></tr></thead><tbody>{windows}</tbody></table></section>",
            from = filter.from,
            to = filter.to,
            scope_e = escape(&scope),
            photos = total.photos,
            pass_rate = pct(total.pass_rate()),
            review_rate = pct(total.review_rate()),
            acc = total.accepted,
            rej = total.rejected,
            turn = total.mean_turnaround_min().map_or("-".into(), |m| format!("{m:.1} 分钟")),
            daily = super::stats::daily_chart_svg(&report.by_day_in(filter)),
            reasons = super::stats::reasons_chart_svg(&total),
        ),
    )
}

/// One queue's line on the operations page.
pub struct QueueLine {
    /// What it is, in Chinese.
    pub label: &'static str,
    /// Its name on the broker.
    pub name: String,
    /// Messages waiting (`None`: unreadable).
    pub depth: Option<u32>,
    /// Consumers attached.
    pub consumers: Option<u32>,
    /// Age of the oldest message in seconds, where it can be read without disturbing it.
    pub oldest_s: Option<f64>,
}

/// The operations page.
#[allow(clippy::too_many_arguments)]
pub fn operations(
    session: &Session,
    token: &str,
    queues: &[QueueLine],
    photos_last_hour: Option<u32>,
    dead: &[crate::dlq::Entry],
    parked: &[crate::dlq::Entry],
    retention: &photocheck_config::RetentionSection,
    notice: Option<&str>,
) -> String {
    let notice = notice.map_or(String::new(), |n| {
        format!("<p class=\"notice\" id=\"notice\">{}</p>", escape(n))
    });
    let opt = |v: Option<u32>| v.map_or("?".into(), |v| v.to_string());
    let mut q = String::new();
    for line in queues {
        q.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            line.label,
            escape(&line.name),
            opt(line.depth),
            opt(line.consumers),
            line.oldest_s.map_or("-".into(), |s| format!("{s:.0} 秒")),
        ));
    }
    let acts = session.role.acts_on_queues();
    let entries = |which: &str, list: &[crate::dlq::Entry]| -> String {
        let mut out = String::new();
        for e in list.iter().take(200) {
            let buttons = if acts {
                format!(
                    "<form method=\"post\" action=\"/ops/{which}/requeue\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{t}\">\
                     <input type=\"hidden\" name=\"id\" value=\"{id}\"><button type=\"submit\" class=\"requeue\">重新入队</button></form>\
                     <form method=\"post\" action=\"/ops/{which}/discard\" class=\"inline\" data-confirm=\"确定永久删除？\"><input type=\"hidden\" name=\"csrf\" value=\"{t}\">\
                     <input type=\"hidden\" name=\"id\" value=\"{id}\"><button type=\"submit\" class=\"discard\">丢弃</button></form>",
                    t = escape(token),
                    id = escape(&e.id)
                )
            } else {
                String::new()
            };
            out.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&e.id),
                escape(e.code.as_deref().unwrap_or("-")),
                escape(e.attempts.as_deref().unwrap_or("-")),
                escape(e.set_aside_at.as_deref().unwrap_or("-")),
                buttons
            ));
        }
        if out.is_empty() {
            out.push_str("<tr><td colspan=\"5\">（空）</td></tr>");
        }
        out
    };
    let head = "<thead><tr><th>编号</th><th>原因代码</th><th>尝试次数</th><th>时间</th><th></th></tr></thead>";
    layout(
        "运行状态",
        Some((session, token)),
        &format!(
            "<section><h2>运行状态</h2>{notice}\
             <table class=\"list\" id=\"queues\"><thead><tr><th>队列</th><th>名称</th><th>消息数</th><th>消费者</th><th>最早消息</th></tr></thead><tbody>{q}</tbody></table>\
             <p>检测进程（作业队列的消费者）：<b id=\"workers\">{workers}</b>；最近一小时检测照片：<b id=\"throughput\">{hour}</b> 张</p>\
             <h3>死信（无法处理的作业）</h3><table class=\"list\" id=\"dead\">{head}<tbody>{dead}</tbody></table>\
             <h3>暂存（中心系统拒收的结果）</h3><table class=\"list\" id=\"parked\">{head}<tbody>{parked}</tbody></table>\
             <h3>保留期限</h3><p>照片 {ph} 小时（已出结果后）；结果与复核结论 {rd} 天；幂等记录 {id} 天；每 {sw} 秒清理一次。</p></section>",
            workers = opt(queues.first().and_then(|l| l.consumers)),
            hour = opt(photos_last_hour),
            dead = entries("dead", dead),
            parked = entries("parked", parked),
            ph = retention.photo_hours,
            rd = retention.result_days,
            id = retention.idempotency_days,
            sw = retention.sweep_every_s,
        ),
    )
}

/// The console's style sheet.
pub const CSS: &str = r#"
*{box-sizing:border-box}body{margin:0;font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;font-size:14px;color:#222;background:#f5f6f8}
header{display:flex;align-items:center;gap:24px;background:#0d47a1;color:#fff;padding:6px 16px}header h1{font-size:18px;margin:0}
nav{display:flex;gap:16px;align-items:center;flex:1}nav a{color:#fff;text-decoration:none;font-weight:bold}nav .who{margin-left:auto}
main{padding:12px 16px}section{background:#fff;border-radius:4px;padding:12px 16px;margin-bottom:12px}
h2{font-size:17px;margin:0 0 10px}h3{font-size:15px;margin:14px 0 6px}
.inline{display:inline}button{font-size:14px;padding:5px 12px;cursor:pointer}
.login{max-width:360px;margin:60px auto}.login label{display:block;margin:10px 0}.login input{width:100%;padding:6px}
.error{color:#c62828}.notice{color:#0d47a1;font-weight:bold}.hint{color:#666;font-size:12px}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
.figures th{background:#eef2f7}.list{width:100%}.list thead th{background:#eef2f7}
.review-page{display:flex;gap:16px;align-items:flex-start}.photo{flex:0 0 auto}
.frame{position:relative;height:min(560px,calc(100vh - 150px));aspect-ratio:358/441}.frame img{height:100%;width:100%;display:block}
.frame svg{position:absolute;inset:0;width:100%;height:100%}.frame.plain svg{display:none}
.facts{flex:1;min-width:0}.checks{width:100%;font-size:12px}.checks td{padding:2px 4px}
tr.fail{background:#ffebee}tr.uncertain{background:#fff8e1;font-weight:bold}
#verdict.fail{color:#c62828}#verdict.review{color:#ef6c00}#verdict.pass{color:#2e7d32}
fieldset{margin-top:8px}fieldset label{margin-right:12px}#note{width:260px}
.charts{display:flex;gap:12px;flex-wrap:wrap}.charts figure{margin:0;flex:1 1 420px}.chart{width:100%;height:auto;background:#fafafa}
.filter label{margin-right:10px}
"#;

/// The console's script: keyboard shortcuts, the lease countdown, the overlay toggle and the
/// confirmation before a discard. The pages work without it.
pub const JS: &str = r#"
document.addEventListener('DOMContentLoaded', function () {
  var review = document.querySelector('.review-page');
  document.querySelectorAll('form[data-confirm]').forEach(function (f) {
    f.addEventListener('submit', function (e) { if (!confirm(f.dataset.confirm)) e.preventDefault(); });
  });
  if (review) {
    var left = parseInt(review.dataset.secondsLeft, 10), out = document.getElementById('countdown');
    setInterval(function () { if (left > 0) { left -= 1; out.textContent = left; } }, 1000);
  }
  document.addEventListener('keydown', function (e) {
    var t = e.target, typing = t && (t.tagName === 'INPUT' && t.type !== 'radio' || t.tagName === 'TEXTAREA');
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    var k = e.key.toLowerCase();
    if (!review) {
      if (typing) return;
      var b = document.querySelector('button[data-key="' + k + '"]');
      if (b) { e.preventDefault(); b.click(); }
      return;
    }
    if (k === 'escape') { e.preventDefault(); document.getElementById('release').submit(); return; }
    if (typing) return;
    var reason = document.getElementById('reason');
    if (k === 'a') { e.preventDefault(); document.getElementById('accept').checked = true; document.getElementById('submit').focus(); }
    else if (k === 'r') { e.preventDefault(); document.getElementById('reject').checked = true; reason.focus(); }
    else if (k === 'o') { e.preventDefault(); document.querySelector('.frame').classList.toggle('plain'); }
    else if (k >= '1' && k <= '9' && t !== reason) {
      var i = parseInt(k, 10);
      if (reason.options.length > i) { e.preventDefault(); reason.selectedIndex = i; document.getElementById('reject').checked = true; document.getElementById('submit').focus(); }
    } else if (k === 'enter' && t === reason) { e.preventDefault(); document.getElementById('decide').requestSubmit(); }
  });
});
"#;

/// The role's landing page.
pub fn home_of(role: Role) -> &'static str {
    if role.reviews() {
        "/review"
    } else {
        "/stats"
    }
}
