//! Pose (yaw, pitch), eyes open, mouth closed and expression, from the face mesh
//! ([`crate::measure`]'s subject measures).

use super::*;

/// Pose (yaw, pitch), eyes, mouth and expression from the face mesh, after `pose.roll`.
pub(crate) fn subject_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    let codes = [
        PoseYaw,
        PosePitch,
        FaceEyesOpen,
        FaceMouthClosed,
        FaceExpression,
    ];
    if let Some((why, unsure)) = no_face_reason(obs) {
        out.extend(codes.iter().map(|&c| skipped(c, why, unsure)));
        return;
    }
    let Some(s) = obs.measures.and_then(|m| m.subject) else {
        let why = "未能取得面部网格，无法检查此项，请人工复核";
        out.extend(codes.iter().map(|&c| skipped(c, why, true)));
        return;
    };
    // pose.yaw: positive when the nose turns toward the image's right.
    let yaw = f64::from(s.yaw_deg);
    let lim = Range::new(-p.yaw_max_deg, p.yaw_max_deg);
    let msg = if lim.contains(yaw) {
        format!(
            "头部正对镜头（左右转动 {yaw:.1}°，允许 ±{:.0}°）",
            p.yaw_max_deg
        )
    } else {
        let side = if yaw > 0.0 { "右" } else { "左" };
        format!(
            "头部向画面{side}侧转动约 {:.0}°（允许 ±{:.0}°），请正对镜头，不要转头",
            yaw.abs(),
            p.yaw_max_deg
        )
    };
    out.push(against(
        PoseYaw,
        yaw,
        lim,
        p.yaw_uncertainty_deg,
        "deg",
        msg,
    ));
    // pose.pitch: positive when the chin is raised.
    let pitch = f64::from(s.pitch_deg);
    let pmax = p.pitch_max_deg + p.pitch_allowance_deg;
    let lim = Range::new(-pmax, pmax);
    let msg = if lim.contains(pitch) {
        format!("头部平视镜头（俯仰 {pitch:.1}°，允许 ±{pmax:.0}°）")
    } else if pitch > 0.0 {
        format!("头部上仰约 {pitch:.0}°（允许 ±{pmax:.0}°），请正对镜头，不要抬头")
    } else {
        format!(
            "头部低下约 {:.0}°（允许 ±{pmax:.0}°），请正对镜头，不要低头",
            -pitch
        )
    };
    out.push(against(
        PosePitch,
        pitch,
        lim,
        p.pitch_uncertainty_deg,
        "deg",
        msg,
    ));
    // face.eyes_open: the less open eye decides.
    let ear = f64::from(s.eye_open_min());
    let lim = Range::new(p.eye_open_min, f64::MAX);
    let msg = if lim.contains(ear) {
        format!(
            "双眼自然睁开（睁眼度 {ear:.2}，至少 {:.2}）",
            p.eye_open_min
        )
    } else {
        let which = match (
            f64::from(s.eye_open[0]) < p.eye_open_min,
            f64::from(s.eye_open[1]) < p.eye_open_min,
        ) {
            (true, true) => "双眼",
            (true, false) => "画面左侧的眼睛",
            _ => "画面右侧的眼睛",
        };
        format!(
            "{which}未完全睁开（睁眼度 {ear:.2}，至少 {:.2}），请睁大眼睛、目视镜头",
            p.eye_open_min
        )
    };
    out.push(against_ratio(
        FaceEyesOpen,
        ear,
        lim,
        p.eye_open_uncertainty,
        msg,
    ));
    // face.mouth_closed
    let gap = f64::from(s.mouth_gap);
    let lim = Range::new(f64::MIN, p.mouth_gap_max);
    let msg = if lim.contains(gap) {
        "嘴巴自然闭合".to_string()
    } else {
        format!(
            "嘴巴张开（上下唇间距为脸宽的 {:.1}%，至多 {:.1}%），请闭上嘴巴",
            gap * 100.0,
            p.mouth_gap_max * 100.0
        )
    };
    out.push(against_ratio(
        FaceMouthClosed,
        gap,
        lim,
        p.mouth_gap_uncertainty,
        msg,
    ));
    // face.expression: raised mouth corners or a widened mouth (a smile), or visible teeth.
    let smile = f64::from(s.smile);
    let teeth = f64::from(s.teeth);
    let width = f64::from(s.mouth_width);
    let lim = Range::new(f64::MIN, p.smile_max);
    let teeth_out = teeth > p.teeth_max;
    let wide = width > p.mouth_width_max;
    let msg = if teeth_out {
        format!(
            "露出牙齿（牙齿面积为嘴宽平方的 {:.1}%，至多 {:.1}%），请保持自然表情，不要露齿微笑",
            teeth * 100.0,
            p.teeth_max * 100.0
        )
    } else if !lim.contains(smile) || wide {
        format!(
            "面带微笑（嘴角上扬 {smile:.2}，至多 {:.2}；嘴宽为脸宽的 {:.0}%，至多 {:.0}%），请保持自然表情，不要微笑",
            p.smile_max,
            width * 100.0,
            p.mouth_width_max * 100.0
        )
    } else {
        format!(
            "表情自然（嘴角上扬 {smile:.2}，至多 {:.2}；未露齿）",
            p.smile_max
        )
    };
    let mut c = against_ratio(FaceExpression, smile, lim, p.smile_uncertainty, msg);
    if teeth_out || wide {
        c.status = Status::Fail;
    }
    c.uncertain |= (teeth - p.teeth_max).abs() <= p.teeth_uncertainty
        || (width - p.mouth_width_max).abs() <= p.mouth_width_uncertainty;
    out.push(c);
}
