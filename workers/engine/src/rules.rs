//! The rules: each check compares one measurement with the profile's limit and tells the clerk,
//! in Chinese, what to change. Pure functions of an [`Observation`]; no models, no I/O, so unit
//! tests build observations from synthetic images and hand-made face geometry.

use crate::clothing::ClothingMeasures;
use crate::decode::DecodeError;
use crate::header::{ColorModel, Format, Header};
use crate::measure::{BackgroundStats, FaceGeometry, FaceTone, SkinSample, SubjectMeasures};
use crate::measure_subject::{Brow, CoverMeasures};
use crate::profile::{Profile, Range};
use photocheck_types::{Check, CheckCode, Status};
use serde_json::json;

/// Everything measured on one photo, as the rules see it.
#[derive(Debug, Clone, Default)]
pub struct Observation<'a> {
    /// Length of the file in bytes.
    pub file_len: usize,
    /// The header, when it could be read.
    pub header: Option<&'a Header>,
    /// Why decoding failed, if it did.
    pub decode_error: Option<&'a DecodeError>,
    /// Decoded size `(width, height)` after orientation, when decoded.
    pub size: Option<(u32, u32)>,
    /// Share of pixels with visible colour (channel spread > 12), when decoded.
    pub colourful: Option<f32>,
    /// Faces found, when decoded.
    pub face_count: Option<usize>,
    /// The face measured, when exactly one was found.
    pub face: Option<&'a FaceGeometry>,
    /// Measurements, when decoded.
    pub measures: Option<&'a Measures>,
}

/// Measurements on the decoded image (see [`crate::measure`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Measures {
    /// Crown row, when a face was found and the head top is visible.
    pub crown: Option<f32>,
    /// Background statistics.
    pub background: BackgroundStats,
    /// Face tone, when a face was found.
    pub tone: Option<FaceTone>,
    /// Skin samples, when a face was found.
    pub skin: Option<SkinSample>,
    /// Sharpness ratio of the face, when a face was found.
    pub sharpness: Option<f32>,
    /// Noise sigma of the whole image.
    pub noise: f32,
    /// JPEG blocking ratio of the whole image.
    pub blockiness: f32,
    /// Eyes, mouth, expression and pose from the face mesh, when a face was meshed.
    pub subject: Option<SubjectMeasures>,
    /// Glasses, head covering and occlusion (mesh and person mask), when a face was meshed.
    pub cover: Option<CoverMeasures>,
    /// The top below the neck (`clothing.rs`), when a face was meshed and the photo reaches
    /// below its neck.
    pub clothing: Option<ClothingMeasures>,
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn check(code: CheckCode, status: Status, message: impl Into<String>) -> Check {
    Check {
        code,
        status,
        value: None,
        min: None,
        max: None,
        unit: None,
        message: message.into(),
        uncertain: false,
    }
}

fn with(mut c: Check, value: f64, range: Option<Range>, unit: &str) -> Check {
    c.value = Some(json!(round1(value)));
    if let Some(r) = range {
        c.min = (r.min > f64::MIN / 2.0).then_some(round1(r.min));
        c.max = (r.max < f64::MAX / 2.0).then_some(round1(r.max));
    }
    c.unit = Some(unit.into());
    c
}

fn skipped(code: CheckCode, why: &str, uncertain: bool) -> Check {
    let mut c = check(code, Status::Skipped, why);
    c.uncertain = uncertain;
    c
}

fn pass_fail(ok: bool) -> Status {
    if ok {
        Status::Pass
    } else {
        Status::Fail
    }
}

/// Runs every check of the profile on the observation, in the contract's order.
pub fn evaluate(obs: &Observation<'_>, profile: &Profile) -> Vec<Check> {
    let mut out = Vec::with_capacity(CheckCode::ALL.len());
    file_checks(obs, profile, &mut out);
    image_checks(obs, profile, &mut out);
    face_checks(obs, profile, &mut out);
    subject_checks(obs, profile, &mut out);
    cover_checks(obs, profile, &mut out);
    quality_checks(obs, profile, &mut out);
    background_checks(obs, profile, &mut out);
    out.push(clothing_check(obs, profile));
    out
}

/// `clothing.color` (`clothing.rs`), skipped like the other face checks without a face.
fn clothing_check(obs: &Observation<'_>, p: &Profile) -> Check {
    use CheckCode::ClothingColor as C;
    if let Some((why, unsure)) = no_face_reason(obs) {
        return skipped(C, why, unsure);
    }
    crate::clothing::check(obs.measures.and_then(|m| m.clothing.as_ref()), p)
}

fn file_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    // file.decodable
    out.push(match obs.decode_error {
        None => check(FileDecodable, Status::Pass, "照片文件完整，可以正常读取"),
        Some(e) => {
            let msg = match e {
                DecodeError::Header(crate::header::HeaderError::Empty) => {
                    "文件为空（0 字节），请重新拍摄或重新上传照片".to_string()
                }
                DecodeError::Header(crate::header::HeaderError::NotAnImage) => {
                    "文件不是图片，请上传 JPEG 格式的照片".to_string()
                }
                DecodeError::Truncated
                | DecodeError::Header(crate::header::HeaderError::Truncated) => {
                    "照片文件不完整（传输或保存时被截断），请重新上传".to_string()
                }
                DecodeError::TooLarge { width, height, .. } => format!(
                    "照片尺寸异常（文件声称 {width}×{height} 像素），无法读取，请重新导出照片"
                ),
                _ => "照片文件已损坏，无法读取，请重新拍摄或重新导出".to_string(),
            };
            let mut c = check(FileDecodable, Status::Fail, msg);
            c.value = Some(json!(e.to_string()));
            c
        }
    });
    // file.format
    out.push(match obs.header.map(|h| h.format) {
        Some(Format::Jpeg) => {
            let mut c = check(FileFormat, Status::Pass, "JPEG 格式，符合要求");
            c.value = Some(json!("JPEG"));
            c
        }
        Some(f) => {
            let mut c = check(
                FileFormat,
                Status::Fail,
                format!("照片是 {} 格式，请另存为 JPEG（.jpg）格式后上传", f.name()),
            );
            c.value = Some(json!(f.name()));
            c
        }
        None if obs.file_len == 0 => skipped(FileFormat, "文件为空，无法判断格式", false),
        None => {
            let mut c = check(
                FileFormat,
                Status::Fail,
                "文件不是可识别的图片格式，请上传 JPEG 照片",
            );
            c.value = Some(json!("unknown"));
            c
        }
    });
    // file.size
    let kb = obs.file_len as f64 / 1000.0;
    let status = if !p.file_size_hard_kb.contains(kb) {
        Status::Fail
    } else if !p.file_size_typical_kb.contains(kb) {
        Status::Warn
    } else {
        Status::Pass
    };
    let msg = match status {
        Status::Pass => format!(
            "文件大小 {kb:.1} KB，在常见范围 {:.0}–{:.0} KB 内",
            p.file_size_typical_kb.min, p.file_size_typical_kb.max
        ),
        Status::Warn => format!(
            "文件大小 {kb:.1} KB，超出常见范围 {:.0}–{:.0} KB（不影响受理），请确认压缩质量约为 70",
            p.file_size_typical_kb.min, p.file_size_typical_kb.max
        ),
        _ if kb < p.file_size_hard_kb.min => format!(
            "文件只有 {kb:.1} KB，过小（至少 {:.0} KB），照片可能被过度压缩，请重新导出",
            p.file_size_hard_kb.min
        ),
        _ => format!(
            "文件 {kb:.1} KB，过大（至多 {:.0} KB），请按 358×441 像素、质量 70 重新导出",
            p.file_size_hard_kb.max
        ),
    };
    out.push(with(
        check(FileSize, status, msg),
        kb,
        Some(p.file_size_hard_kb),
        "KB",
    ));
}

fn image_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    // image.dimensions: from the decoded image, else from the header (a bomb still has a size).
    let size = obs.size.or_else(|| obs.header.map(|h| h.oriented_size()));
    out.push(match (size, p.dimensions) {
        (None, _) => skipped(ImageDimensions, "无法读取照片尺寸", false),
        (Some((w, h)), Some((rw, rh))) => {
            let ok = (w, h) == (rw, rh);
            let msg = if ok {
                format!("照片尺寸 {w}×{h} 像素，符合要求")
            } else {
                format!("照片尺寸 {w}×{h} 像素，应为 {rw}×{rh} 像素，请按标准尺寸裁剪或重新导出")
            };
            let mut c = check(ImageDimensions, pass_fail(ok), msg);
            c.value = Some(json!([w, h]));
            c.unit = Some("px".into());
            c
        }
        (Some((w, h)), None) => {
            let (cw, ch) = p.canvas;
            let ratio = f64::from(w) / f64::from(h);
            let want = f64::from(cw) / f64::from(ch);
            let ok = (ratio - want).abs() / want < 0.02 && w >= cw / 2;
            let msg = if ok {
                format!("照片尺寸 {w}×{h} 像素，比例符合要求")
            } else {
                format!(
                    "照片尺寸 {w}×{h} 像素，宽高比应为 {cw}:{ch} 且宽度至少 {} 像素",
                    cw / 2
                )
            };
            let mut c = check(ImageDimensions, pass_fail(ok), msg);
            c.value = Some(json!([w, h]));
            c.unit = Some("px".into());
            c
        }
    });
    // image.resolution
    out.push(match (obs.header, p.dpi) {
        (None, _) => skipped(ImageResolution, "无法读取照片文件信息", false),
        (Some(_), None) => check(ImageResolution, Status::Pass, "本规格不限定分辨率"),
        (Some(h), Some(want)) => match h.dpi {
            None => {
                let mut c = check(
                    ImageResolution,
                    Status::Fail,
                    format!("照片未记录分辨率，应为 {want:.0} dpi，请在导出时设置分辨率"),
                );
                c.unit = Some("dpi".into());
                c.min = Some(want);
                c.max = Some(want);
                c
            }
            Some((x, y)) => {
                let ok = (x - want).abs() < 1.0 && (y - want).abs() < 1.0;
                let msg = if ok {
                    format!("分辨率 {x:.0} dpi，符合要求")
                } else {
                    format!("分辨率为 {x:.0}×{y:.0} dpi，应为 {want:.0} dpi，请在导出时设置分辨率")
                };
                let mut c = check(ImageResolution, pass_fail(ok), msg);
                c.value = Some(json!(round1(x)));
                c.min = Some(want);
                c.max = Some(want);
                c.unit = Some("dpi".into());
                c
            }
        },
    });
    // image.color
    out.push(match obs.header {
        None => skipped(ImageColor, "无法读取照片文件信息", false),
        Some(h) => {
            let (ok, msg) = match (h.color, h.bits) {
                (ColorModel::Grey, _) => (
                    false,
                    "照片是黑白（灰度）照片，请使用 24 位彩色照片".to_string(),
                ),
                (ColorModel::Cmyk, _) => (
                    false,
                    "照片是 CMYK 印刷色彩模式，请转换为 RGB 24 位彩色后导出".to_string(),
                ),
                (ColorModel::Rgb, 8) => match obs.colourful {
                    Some(c) if c < 0.005 => (
                        false,
                        "照片几乎没有色彩（黑白照片存为彩色格式），请使用彩色照片".to_string(),
                    ),
                    _ => (true, "24 位 RGB 彩色，符合要求".to_string()),
                },
                (ColorModel::Rgba, _) => (
                    false,
                    "照片带透明通道，请导出为 24 位 RGB 彩色 JPEG".to_string(),
                ),
                (_, bits) => (
                    false,
                    format!("照片色彩格式不符（每通道 {bits} 位），请导出为 24 位 RGB 彩色"),
                ),
            };
            let mut c = check(ImageColor, pass_fail(ok), msg);
            c.value = Some(json!(h.color.name()));
            c
        }
    });
}

fn no_face_reason(obs: &Observation<'_>) -> Option<(&'static str, bool)> {
    match (obs.decode_error, obs.face_count, obs.face) {
        (Some(_), _, _) | (None, None, _) => Some(("照片无法解码，无法检查此项", false)),
        (None, Some(0), _) => Some(("未检测到人脸，无法检查此项", false)),
        (None, Some(n), _) if n > 1 => Some(("照片中有多张人脸，无法检查此项", false)),
        (None, Some(_), None) => Some(("人脸特征点定位失败，无法检查此项，请人工复核", true)),
        _ => None,
    }
}

fn face_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    // face.count
    out.push(match obs.face_count {
        None => skipped(FaceCount, "照片无法解码，无法检测人脸", false),
        Some(1) => with(
            check(FaceCount, Status::Pass, "检测到一张人脸"),
            1.0,
            None,
            "faces",
        ),
        Some(0) => with(
            check(
                FaceCount,
                Status::Fail,
                "未检测到人脸，请让申请人正对镜头重新拍摄",
            ),
            0.0,
            None,
            "faces",
        ),
        Some(n) => with(
            check(
                FaceCount,
                Status::Fail,
                format!("照片中检测到 {n} 张人脸，证件照只能有申请人一人"),
            ),
            n as f64,
            None,
            "faces",
        ),
    });
    let geometry = [
        GeometryFaceWidth,
        GeometryCrown,
        GeometryEyeLine,
        GeometryCentered,
        PoseRoll,
    ];
    if let Some((why, unsure)) = no_face_reason(obs) {
        out.extend(geometry.iter().map(|&c| skipped(c, why, unsure)));
        return;
    }
    let (Some(face), Some((w, h))) = (obs.face, obs.size) else {
        return;
    };
    let (sx, sy) = p.scale_to(w, h);
    // geometry.face_width
    let fw = f64::from(face.face_width());
    let lim = p.face_width_px.scaled(sx);
    let msg = if fw < lim.min {
        format!(
            "头部偏小（脸宽 {fw:.0} 像素，应为 {:.0}–{:.0}），请靠近镜头或放大头部",
            lim.min, lim.max
        )
    } else if fw > lim.max {
        format!(
            "头部偏大（脸宽 {fw:.0} 像素，应为 {:.0}–{:.0}），请远离镜头或缩小头部",
            lim.min, lim.max
        )
    } else {
        format!(
            "脸部宽度 {fw:.0} 像素，符合 {:.0}–{:.0} 像素",
            lim.min, lim.max
        )
    };
    out.push(with(
        check(GeometryFaceWidth, pass_fail(lim.contains(fw)), msg),
        fw,
        Some(lim),
        "px",
    ));
    // geometry.eye_line (computed first: the crown rule defers to it)
    let eye_from_bottom = f64::from(h) - f64::from(face.eye_mid()[1]);
    let eye_lim = p.eye_line_from_bottom_px.scaled(sy);
    // geometry.crown
    let crown_lim = p.crown_px.scaled(sy);
    out.push(match obs.measures.and_then(|m| m.crown) {
        None => skipped(GeometryCrown, "无法确定头顶位置（背景与头发难以区分），请人工复核", true),
        Some(crown) => {
            let crown = f64::from(crown);
            let (status, msg) = if crown_lim.contains(crown) {
                (Status::Pass, format!("头顶距上边缘 {crown:.0} 像素，符合 {:.0}–{:.0} 像素", crown_lim.min, crown_lim.max))
            } else if crown < crown_lim.min {
                // GA 461: when crown and eye rules conflict, the eye rule wins (tall hair may
                // be cropped). Moving the head down to satisfy the crown must not break it.
                let room = eye_from_bottom - (crown_lim.min - crown);
                if crown > 0.0 && room < eye_lim.min {
                    (Status::Warn, format!("头顶距上边缘仅 {crown:.0} 像素，但下移会使眼睛过低，按眼线优先处理（头发较高可裁切）"))
                } else if crown <= 0.0 {
                    (Status::Fail, format!("头顶被裁切，请下移头部，使头顶距上边缘 {:.0}–{:.0} 像素", crown_lim.min, crown_lim.max))
                } else {
                    (Status::Fail, format!("头顶离上边缘太近（{crown:.0} 像素），请下移头部，使头顶距上边缘 {:.0}–{:.0} 像素", crown_lim.min, crown_lim.max))
                }
            } else {
                (Status::Fail, format!("头顶离上边缘太远（{crown:.0} 像素），请上移头部，使头顶距上边缘 {:.0}–{:.0} 像素", crown_lim.min, crown_lim.max))
            };
            with(check(GeometryCrown, status, msg), crown, Some(crown_lim), "px")
        }
    });
    let ok = eye_lim.contains(eye_from_bottom);
    let msg = if ok {
        format!(
            "眼睛距下边缘 {eye_from_bottom:.0} 像素，符合要求（至少 {:.0}）",
            eye_lim.min
        )
    } else if eye_from_bottom < eye_lim.min {
        format!(
            "眼睛位置过低（距下边缘 {eye_from_bottom:.0} 像素，至少 {:.0}），请上移头部",
            eye_lim.min
        )
    } else {
        format!(
            "眼睛位置过高（距下边缘 {eye_from_bottom:.0} 像素，至多 {:.0}），请下移头部",
            eye_lim.max
        )
    };
    out.push(with(
        check(GeometryEyeLine, pass_fail(ok), msg),
        eye_from_bottom,
        Some(eye_lim),
        "px",
    ));
    // geometry.centered
    let offset = f64::from(face.eye_mid()[0]) - f64::from(w) / 2.0;
    let tol = p.centre_tolerance_px * sx;
    let ok = offset.abs() <= tol;
    let msg = if ok {
        format!("人像水平居中（偏移 {offset:.0} 像素，允许 ±{tol:.0}）")
    } else if offset < 0.0 {
        format!(
            "人像偏左 {:.0} 像素（允许 ±{tol:.0}），请使头部位于照片正中",
            -offset
        )
    } else {
        format!("人像偏右 {offset:.0} 像素（允许 ±{tol:.0}），请使头部位于照片正中")
    };
    out.push(with(
        check(GeometryCentered, pass_fail(ok), msg),
        offset,
        Some(Range::new(-tol, tol)),
        "px",
    ));
    // pose.roll
    let roll = f64::from(face.roll_deg());
    let ok = roll.abs() <= p.roll_max_deg;
    let msg = if ok {
        format!("头部端正（倾斜 {roll:.1}°，允许 ±{:.0}°）", p.roll_max_deg)
    } else {
        format!(
            "头部歪斜 {:.0}°（允许 ±{:.0}°），请让申请人坐正、头部不要偏斜",
            roll.abs(),
            p.roll_max_deg
        )
    };
    out.push(with(
        check(PoseRoll, pass_fail(ok), msg),
        roll,
        Some(Range::new(-p.roll_max_deg, p.roll_max_deg)),
        "deg",
    ));
}

/// A measured value against a range whose ends carry a measurement uncertainty `u`: `pass` or
/// `fail` by the range, and `uncertain` (a `review` unless something else fails) when the value
/// lies within `u` of a finite end.
fn against(code: CheckCode, v: f64, lim: Range, u: f64, unit: &str, msg: String) -> Check {
    let mut c = with(
        check(code, pass_fail(lim.contains(v)), msg),
        v,
        Some(lim),
        unit,
    );
    let near = |end: f64| end.abs() < f64::MAX / 2.0 && (v - end).abs() <= u;
    c.uncertain = near(lim.min) || near(lim.max);
    c
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Like [`against`], for small ratios: the value and limits keep three decimals.
fn against_ratio(code: CheckCode, v: f64, lim: Range, u: f64, msg: String) -> Check {
    let mut c = against(code, v, lim, u, "ratio", msg);
    c.value = Some(json!(round3(v)));
    c.min = (lim.min > f64::MIN / 2.0).then_some(round3(lim.min));
    c.max = (lim.max < f64::MAX / 2.0).then_some(round3(lim.max));
    c
}

/// Pose (yaw, pitch), eyes, mouth and expression from the face mesh, after `pose.roll`.
fn subject_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
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

/// Glasses, occlusion and head covering (after the subject checks, in the contract's order).
fn cover_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    let codes = [FaceGlasses, FaceOcclusion, FaceHeadCovering];
    if let Some((why, unsure)) = no_face_reason(obs) {
        out.extend(codes.iter().map(|&c| skipped(c, why, unsure)));
        return;
    }
    let Some(m) = obs.measures.and_then(|m| m.cover) else {
        let why = "未能取得面部网格，无法检查此项，请人工复核";
        out.extend(codes.iter().map(|&c| skipped(c, why, true)));
        return;
    };
    let checks = [
        glasses_check(&m, p),
        occlusion_check(&m, p),
        head_covering_check(&m, obs.measures.and_then(|x| x.skin.as_ref()), p),
    ];
    // These measures compare colours of small regions; a photo compressed beyond the
    // compression limit has lost them (JPEG quality 1–2 turns skin into coloured blocks), so
    // it cannot fail them with confidence: it fails quality.compression instead.
    let q = obs.header.and_then(|h| h.jpeg_quality());
    let degraded = q.is_some_and(|q| q < p.jpeg_quality_min)
        || obs
            .measures
            .is_some_and(|x| f64::from(x.blockiness) > p.blockiness_max);
    for c in checks {
        out.push(if degraded && c.status == Status::Fail {
            skipped(
                c.code,
                "照片压缩过度，无法可靠判断此项，请以质量 70 重新导出后复核",
                true,
            )
        } else {
            c
        });
    }
}

/// Whether `v` lies within `u` of `limit`.
fn near_limit(v: f64, limit: f64, u: f64) -> bool {
    (v - limit).abs() <= u
}

/// A lens that changes the colour under it also absorbs light: the colour test applies only
/// where the lens area is at most this bright relative to the cheek.
const TINT_NEEDS_LUMINANCE_BELOW: f64 = 0.8;

fn glasses_check(m: &CoverMeasures, p: &Profile) -> Check {
    use CheckCode::FaceGlasses as C;
    let Some(lum) = m.lens_luminance.map(f64::from) else {
        return skipped(
            C,
            "眼睛下方或面颊超出照片范围，无法检查眼镜，请人工复核",
            true,
        );
    };
    let tint = m.lens_tint.map_or(0.0, f64::from);
    let glare = m.lens_glare.map(f64::from);
    let absorbs = lum < TINT_NEEDS_LUMINANCE_BELOW;
    let dark = lum < p.lens_luminance_min;
    let coloured = absorbs && tint > p.lens_tint_max;
    let shiny = glare.is_some_and(|g| g > p.lens_glare_max);
    let msg = if dark {
        format!(
            "眼镜镜片有颜色（眼睛下方亮度仅为面颊的 {:.0}%，至少 {:.0}%），请摘下有色眼镜或换用无色镜片",
            lum * 100.0,
            p.lens_luminance_min * 100.0
        )
    } else if coloured {
        format!(
            "眼镜镜片带颜色（眼睛下方与面颊的色度差 {tint:.3}，至多 {:.3}），请摘下有色眼镜或换用无色镜片",
            p.lens_tint_max
        )
    } else if shiny {
        format!(
            "眼镜镜片反光（反光面积为两眼间距平方的 {:.2}%，至多 {:.2}%），请调整灯光，或使用窗口提供的无镜片镜框",
            glare.unwrap_or(0.0) * 100.0,
            p.lens_glare_max * 100.0
        )
    } else if let Some(g) = glare {
        format!(
            "未见有色镜片或镜片反光（眼睛下方亮度为面颊的 {:.0}%，反光 {:.2}%）",
            lum * 100.0,
            g * 100.0
        )
    } else {
        "未见有色镜片；面部过亮，无法判断镜片反光".to_string()
    };
    let mut c = against_ratio(
        C,
        lum,
        Range::new(p.lens_luminance_min, f64::MAX),
        p.lens_luminance_uncertainty,
        msg,
    );
    if coloured || shiny {
        c.status = Status::Fail;
    }
    c.uncertain |= glare.is_none()
        || (absorbs && near_limit(tint, p.lens_tint_max, p.lens_tint_uncertainty))
        || glare.is_some_and(|g| near_limit(g, p.lens_glare_max, p.lens_glare_uncertainty));
    c
}

/// Whether hair covers this brow: no step from the brow up to the forehead, and the forehead
/// band as dark as the person's own hair and clearly darker than skin. `(covered, near)`:
/// `near` when only the step is within its uncertainty of the limit.
fn brow_covered(b: &Brow, hair: Option<f32>, p: &Profile) -> (bool, bool) {
    let above = f64::from(b.above);
    let like_hair = above <= -p.brow_dark_stops
        && hair.is_some_and(|h| {
            let h = f64::from(h);
            h <= -p.brow_dark_stops && (above - h).abs() <= p.brow_hair_match_stops
        });
    let step = f64::from(b.contrast());
    (
        like_hair && step < p.brow_contrast_min,
        like_hair && near_limit(step, p.brow_contrast_min, p.brow_contrast_uncertainty),
    )
}

fn occlusion_check(m: &CoverMeasures, p: &Profile) -> Check {
    use CheckCode::FaceOcclusion as C;
    let [Some(left), Some(right)] = m.brows else {
        return skipped(C, "眉毛区域超出照片范围，无法检查遮挡，请人工复核", true);
    };
    let (lc, ln) = brow_covered(&left, m.hair_stops, p);
    let (rc, rn) = brow_covered(&right, m.hair_stops, p);
    let step = f64::from(left.contrast().min(right.contrast()));
    let ears = m.ear_skin_max().map(f64::from).filter(|_| p.ears_must_show);
    let beside = m.ear_person_min().map_or(0.0, f64::from) >= p.ear_person_min;
    let ears_covered = beside && ears.is_some_and(|e| e < p.ear_skin_min);
    let msg = if lc || rc {
        let side = match (lc, rc) {
            (true, true) => "双眉",
            (true, false) => "画面左侧的眉毛",
            _ => "画面右侧的眉毛",
        };
        format!(
            "头发遮住了{side}（眉毛与上方额头的亮度差 {step:.1} 档，至少 {:.1}），请将刘海梳起，露出眉毛",
            p.brow_contrast_min
        )
    } else if ears_covered {
        format!(
            "头发遮住了双耳（耳部露出的皮肤仅 {:.0}%，至少 {:.0}%），请将头发拢到耳后，至少露出一只耳朵",
            ears.unwrap_or(0.0) * 100.0,
            p.ear_skin_min * 100.0
        )
    } else if let (true, Some(e)) = (p.ears_must_show, ears) {
        format!("眉毛和耳朵未被头发遮挡（耳部露出的皮肤 {:.0}%）", e * 100.0)
    } else if p.ears_must_show {
        "眉毛未被头发遮挡；耳部超出照片范围，请人工复核".to_string()
    } else {
        "眉毛未被头发遮挡".to_string()
    };
    let mut c = with(
        check(C, pass_fail(!(lc || rc || ears_covered)), msg),
        step,
        Some(Range::new(p.brow_contrast_min, f64::MAX)),
        "stops",
    );
    // Ears unmeasured (outside the photo) where the profile asks for them, or near the limit.
    c.uncertain = ln
        || rn
        || (p.ears_must_show && ears.is_none())
        || (beside && ears.is_some_and(|e| near_limit(e, p.ear_skin_min, p.ear_skin_uncertainty)));
    c
}

fn head_covering_check(m: &CoverMeasures, skin: Option<&SkinSample>, p: &Profile) -> Check {
    use CheckCode::FaceHeadCovering as C;
    let Some(share) = m.head_covering.map(f64::from) else {
        return skipped(
            C,
            "额头上方区域过小或超出照片，无法检查是否戴帽，请人工复核",
            true,
        );
    };
    // Colours are judged against natural hair and skin: under a colour cast (the skin itself
    // out of its natural range) hair reads as dyed, so the check cannot decide.
    let cast = skin.is_some_and(|s| {
        !p.skin_hue_deg.contains(f64::from(s.hue_deg()))
            || !p.skin_chroma.contains(f64::from(s.chroma()))
    });
    if cast {
        return skipped(C, "照片偏色，无法判断头部是否有遮盖物，请人工复核", true);
    }
    let lim = Range::new(f64::MIN, p.head_covering_max);
    let msg = if lim.contains(share) {
        "免冠，头部无帽子或头巾等遮盖物".to_string()
    } else {
        format!(
            "头部有帽子或头巾等遮盖物（额头上方 {:.0}% 为非头发颜色，至多 {:.0}%），请摘下帽子或头巾，免冠拍摄",
            share * 100.0,
            p.head_covering_max * 100.0
        )
    };
    against_ratio(C, share, lim, p.head_covering_uncertainty, msg)
}

fn quality_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    let face_codes = [
        QualitySharpness,
        QualityExposure,
        QualityDynamicRange,
        QualityIllumination,
        QualityColor,
    ];
    let Some(m) = obs.measures else {
        let why = "照片无法解码，无法检查此项";
        out.extend(face_codes.iter().map(|&c| skipped(c, why, false)));
        out.push(skipped(QualityCompression, why, false));
        out.push(skipped(QualityNoise, why, false));
        return;
    };
    let face_reason = no_face_reason(obs);
    // quality.sharpness
    out.push(match (face_reason, m.sharpness) {
        (Some((why, u)), _) => skipped(QualitySharpness, why, u),
        (None, None) => skipped(QualitySharpness, "人脸区域过小，无法评估清晰度", true),
        (None, Some(s)) => {
            let s = f64::from(s);
            let ok = s >= p.sharpness_min;
            let msg = if ok {
                format!("面部清晰（清晰度 {s:.2}，至少 {:.2}）", p.sharpness_min)
            } else {
                format!(
                    "照片模糊（清晰度 {s:.2}，至少 {:.2}），请对焦后重新拍摄，拍摄时保持不动",
                    p.sharpness_min
                )
            };
            with(
                check(QualitySharpness, pass_fail(ok), msg),
                s,
                Some(Range::new(p.sharpness_min, f64::MAX)),
                "ratio",
            )
        }
    });
    // quality.exposure and quality.dynamic_range
    match (face_reason, m.tone) {
        (None, Some(t)) => {
            let mean = f64::from(t.mean);
            let clipped = f64::from(t.clipped);
            let lim = p.exposure_mean;
            let (ok, msg) = if mean < lim.min {
                (
                    false,
                    format!(
                        "面部过暗（平均亮度 {mean:.0}，应为 {:.0}–{:.0}），请增加灯光或调整曝光",
                        lim.min, lim.max
                    ),
                )
            } else if mean > lim.max || clipped > p.exposure_clipped_max {
                (
                    false,
                    format!(
                        "面部过亮（平均亮度 {mean:.0}，过曝像素 {:.0}%），请减弱灯光或降低曝光",
                        clipped * 100.0
                    ),
                )
            } else {
                (true, format!("面部曝光正常（平均亮度 {mean:.0}）"))
            };
            out.push(with(
                check(QualityExposure, pass_fail(ok), msg),
                mean,
                Some(lim),
                "luma",
            ));
            let dr = f64::from(t.p95 - t.p5);
            let ok = dr >= p.dynamic_range_min;
            let msg = if ok {
                format!(
                    "面部层次丰富（亮度范围 {dr:.0}，至少 {:.0}）",
                    p.dynamic_range_min
                )
            } else {
                format!("面部层次不足（亮度范围 {dr:.0}，至少 {:.0}），照片发灰、过暗或过曝，请调整灯光和曝光", p.dynamic_range_min)
            };
            out.push(with(
                check(QualityDynamicRange, pass_fail(ok), msg),
                dr,
                Some(Range::new(p.dynamic_range_min, 255.0)),
                "luma",
            ));
        }
        (reason, _) => {
            let (why, u) = reason.unwrap_or(("无法测量面部亮度", true));
            out.push(skipped(QualityExposure, why, u));
            out.push(skipped(QualityDynamicRange, why, u));
        }
    }
    // quality.illumination and quality.color
    match (face_reason, m.skin) {
        (None, Some(s)) => {
            let stops = f64::from(s.side_stops());
            let ok = stops <= p.illumination_max_stops;
            let msg = if ok {
                format!("面部光照均匀（左右亮度差 {stops:.2} 档）")
            } else {
                let darker = if s.left_luma < s.right_luma {
                    "左"
                } else {
                    "右"
                };
                format!(
                    "面部光照不均，照片{darker}侧脸偏暗（相差 {stops:.1} 档，至多 {:.1}），请从正面均匀补光",
                    p.illumination_max_stops
                )
            };
            out.push(with(
                check(QualityIllumination, pass_fail(ok), msg),
                stops,
                Some(Range::new(0.0, p.illumination_max_stops)),
                "stops",
            ));
            let hue = f64::from(s.hue_deg());
            let chroma = f64::from(s.chroma());
            let ok = p.skin_hue_deg.contains(hue) && p.skin_chroma.contains(chroma);
            let msg = if ok {
                format!("肤色自然（色相 {hue:.0}°，饱和度 {chroma:.0}）")
            } else if chroma < p.skin_chroma.min {
                format!("面部缺少色彩（饱和度 {chroma:.0}），照片发灰或为黑白，请检查白平衡和曝光")
            } else if chroma > p.skin_chroma.max {
                format!(
                    "面部颜色过于浓艳（饱和度 {chroma:.0}，至多 {:.0}），请检查白平衡和色彩设置",
                    p.skin_chroma.max
                )
            } else {
                let cast = if hue > p.skin_hue_deg.max {
                    "偏黄或偏绿"
                } else {
                    "偏红、偏紫或偏蓝"
                };
                format!(
                    "照片偏色（肤色{cast}，色相 {hue:.0}°，应为 {:.0}–{:.0}°），请调整白平衡",
                    p.skin_hue_deg.min, p.skin_hue_deg.max
                )
            };
            out.push(with(
                check(QualityColor, pass_fail(ok), msg),
                hue,
                Some(p.skin_hue_deg),
                "deg",
            ));
        }
        (reason, _) => {
            let (why, u) = reason.unwrap_or(("无法采样肤色", true));
            out.push(skipped(QualityIllumination, why, u));
            out.push(skipped(QualityColor, why, u));
        }
    }
    // quality.compression: the quantisation table says how hard the file was compressed; the
    // blocking ratio catches heavy compression hidden by a later re-save at high quality.
    let q = obs.header.and_then(|h| h.jpeg_quality());
    let block = f64::from(m.blockiness);
    let q_ok = q.is_none_or(|q| q >= p.jpeg_quality_min);
    let ok = q_ok && block <= p.blockiness_max;
    let msg = match (ok, q) {
        (true, Some(q)) => format!("压缩质量正常（质量系数约 {q:.0}）"),
        (true, None) => "无明显压缩痕迹".to_string(),
        (false, Some(q)) if !q_ok => format!(
            "照片压缩过度（质量系数约 {q:.0}，至少 {:.0}），出现马赛克方块，请以质量 70 重新导出",
            p.jpeg_quality_min
        ),
        (false, _) => {
            format!("照片有明显的压缩方块（块效应 {block:.2}），请使用原始照片以质量 70 重新导出")
        }
    };
    let mut c = check(QualityCompression, pass_fail(ok), msg);
    match q {
        Some(q) => {
            c.value = Some(json!(q));
            c.min = Some(p.jpeg_quality_min);
            c.unit = Some("jpeg_quality".into());
        }
        None => {
            c.value = Some(json!(round1(block * 100.0) / 100.0));
            c.max = Some(p.blockiness_max);
            c.unit = Some("blockiness".into());
        }
    }
    out.push(c);
    // quality.noise
    let n = f64::from(m.noise);
    let ok = n <= p.noise_max;
    let msg = if ok {
        format!("噪点正常（噪声 {n:.1}）")
    } else {
        format!(
            "照片噪点过多（噪声 {n:.1}，至多 {:.1}），请增加光线、降低感光度后重新拍摄",
            p.noise_max
        )
    };
    out.push(with(
        check(QualityNoise, pass_fail(ok), msg),
        n,
        Some(Range::new(0.0, p.noise_max)),
        "sigma",
    ));
}

fn background_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
    use CheckCode::*;
    let Some(m) = obs.measures else {
        let why = "照片无法解码，无法检查此项";
        out.push(skipped(BackgroundColor, why, false));
        out.push(skipped(BackgroundUniformity, why, false));
        return;
    };
    let b = &m.background;
    if b.pixels == 0 {
        let mut c = check(
            BackgroundColor,
            Status::Fail,
            "照片边缘没有可识别的背景，请在纯白背景前拍摄",
        );
        c.unit = Some("L*".into());
        out.push(c);
        out.push(check(
            BackgroundUniformity,
            Status::Fail,
            "照片边缘没有均匀的背景，请在纯白背景前拍摄",
        ));
        return;
    }
    let l = f64::from(b.lightness);
    let chroma = f64::from(b.chroma);
    let ok = l >= p.background_lightness_min && chroma <= p.background_chroma_max;
    let msg = if ok {
        format!("背景为白色（亮度 {l:.0}，色度 {chroma:.1}）")
    } else if chroma > p.background_chroma_max {
        format!(
            "背景不是白色（带有颜色，色度 {chroma:.0}，至多 {:.0}），请在纯白背景前拍摄",
            p.background_chroma_max
        )
    } else {
        format!(
            "背景不够白（亮度 {l:.0}，至少 {:.0}），请使用纯白背景并补光",
            p.background_lightness_min
        )
    };
    out.push(with(
        check(BackgroundColor, pass_fail(ok), msg),
        l,
        Some(Range::new(p.background_lightness_min, 100.0)),
        "L*",
    ));
    let drop = f64::from(b.shadow_drop);
    let cov = f64::from(b.coverage);
    let shadow_ok = drop <= p.background_shadow_max;
    let cover_ok = cov >= p.background_coverage_min;
    let msg = match (shadow_ok, cover_ok) {
        (true, true) => format!("背景均匀（最暗处比整体暗 {drop:.0}）"),
        (false, _) => format!("背景有阴影或明暗不均（最暗处比整体暗 {drop:.0}，至多 {:.0}），请调整灯光、让申请人离背景远一些", p.background_shadow_max),
        (true, false) => format!("背景有杂物或花纹（纯色背景只占边缘的 {:.0}%），请在纯白背景前拍摄", cov * 100.0),
    };
    out.push(with(
        check(BackgroundUniformity, pass_fail(shadow_ok && cover_ok), msg),
        drop,
        Some(Range::new(0.0, p.background_shadow_max)),
        "L*",
    ));
}

#[cfg(test)]
mod tests {
    //! Each rule at the edges of its limit, on hand-made observations.
    use super::*;
    use crate::header::read_header;
    use photocheck_types::Verdict;

    fn header() -> Header {
        // A real 358×441 JFIF header at 350 dpi, quality 70.
        let mut h = read_header(&crate::header::tests::jpeg_header(
            358,
            441,
            3,
            Some(350),
            true,
        ))
        .unwrap();
        h.luma_quant = Some(crate::header::ijg_luma_table(70));
        h
    }

    /// A compliant face on the GA 461 canvas: eyes at y = 200, face width 207, centred.
    fn face(width: f32, eye_y: f32, mid_x: f32, roll_deg: f32) -> FaceGeometry {
        let half = 0.21 * width;
        let (s, c) = roll_deg.to_radians().sin_cos();
        let left = [mid_x - half * c, eye_y - half * s];
        let right = [mid_x + half * c, eye_y + half * s];
        FaceGeometry {
            bbox: [
                mid_x - width / 2.0,
                eye_y - 80.0,
                mid_x + width / 2.0,
                eye_y + 140.0,
            ],
            score: 0.99,
            left_eye: left,
            right_eye: right,
            nose: [mid_x, eye_y + 45.0],
            mouth: [[mid_x - 30.0, eye_y + 80.0], [mid_x + 30.0, eye_y + 80.0]],
            cheeks: [
                [mid_x - width / 2.0, eye_y + 10.0],
                [mid_x + width / 2.0, eye_y + 10.0],
            ],
            chin: [mid_x, eye_y + 140.0],
            oval: vec![],
            mesh: vec![],
        }
    }

    fn measures() -> Measures {
        Measures {
            crown: Some(14.0),
            background: BackgroundStats {
                lightness: 100.0,
                a: 0.0,
                b: 0.0,
                chroma: 0.0,
                shadow_drop: 1.0,
                coverage: 1.0,
                pixels: 50_000,
            },
            tone: Some(FaceTone {
                mean: 120.0,
                p5: 60.0,
                p95: 170.0,
                clipped: 0.0,
            }),
            skin: Some(SkinSample {
                left_luma: 130.0,
                right_luma: 128.0,
                a: 12.0,
                b: 16.0,
            }),
            sharpness: Some(2.5),
            noise: 0.5,
            blockiness: 1.05,
            subject: Some(SubjectMeasures {
                eye_open: [0.3, 0.3],
                mouth_gap: 0.0,
                smile: 0.0,
                mouth_width: 0.38,
                teeth: 0.0,
                yaw_deg: 0.0,
                pitch_deg: 0.0,
            }),
            cover: Some(cover()),
            clothing: Some(crate::clothing::ClothingMeasures {
                area: 0.3,
                merge: Some(0.0),
                outline_lost: Some(0.0),
                chest_area: 0.1,
                chest_merge: Some(0.0),
                merging: Vec::new(),
            }),
        }
    }

    /// A bareheaded face without glasses: values typical of the compliant fixtures.
    fn cover() -> CoverMeasures {
        CoverMeasures {
            lens_luminance: Some(0.85),
            lens_tint: Some(0.02),
            lens_glare: Some(0.0),
            head_covering: Some(0.0),
            brows: [Some(Brow {
                above: -0.5,
                on: -1.7,
            }); 2],
            hair_stops: Some(-2.5),
            ear_skin: [Some(0.5), Some(0.4)],
            ear_person: [Some(0.9), Some(0.9)],
        }
    }

    struct Case {
        header: Header,
        face: FaceGeometry,
        m: Measures,
        file_len: usize,
        faces: usize,
        size: (u32, u32),
    }

    impl Case {
        fn good() -> Case {
            Case {
                header: header(),
                face: face(207.0, 200.0, 179.0, 0.0),
                m: measures(),
                file_len: 16_000,
                faces: 1,
                size: (358, 441),
            }
        }

        fn run(&self) -> Vec<Check> {
            let obs = Observation {
                file_len: self.file_len,
                header: Some(&self.header),
                decode_error: None,
                size: Some(self.size),
                colourful: Some(0.3),
                face_count: Some(self.faces),
                face: (self.faces == 1).then_some(&self.face),
                measures: Some(&self.m),
            };
            evaluate(&obs, &Profile::ga461())
        }

        fn status(&self, code: CheckCode) -> Status {
            self.run()
                .into_iter()
                .find(|c| c.code == code)
                .unwrap()
                .status
        }
    }

    #[test]
    fn a_compliant_photo_passes_every_check_in_the_contract_order() {
        let checks = Case::good().run();
        let codes: Vec<CheckCode> = checks.iter().map(|c| c.code).collect();
        assert_eq!(codes.len(), 30);
        assert_eq!(codes[0], CheckCode::FileDecodable);
        assert_eq!(codes[28], CheckCode::BackgroundUniformity);
        assert_eq!(codes[29], CheckCode::ClothingColor);
        // The subject checks follow pose.roll, in a fixed order.
        let roll = codes
            .iter()
            .position(|&c| c == CheckCode::PoseRoll)
            .unwrap();
        assert_eq!(
            codes[roll + 1..roll + 6],
            [
                CheckCode::PoseYaw,
                CheckCode::PosePitch,
                CheckCode::FaceEyesOpen,
                CheckCode::FaceMouthClosed,
                CheckCode::FaceExpression,
            ]
        );
        // Then glasses, occlusion and head covering, in the contract's order.
        assert_eq!(
            codes[roll + 6..roll + 9],
            [
                CheckCode::FaceGlasses,
                CheckCode::FaceOcclusion,
                CheckCode::FaceHeadCovering,
            ]
        );
        assert!(checks.iter().all(|c| !c.uncertain), "{checks:?}");
        for c in &checks {
            assert_eq!(c.status, Status::Pass, "{}: {}", c.code, c.message);
            assert!(!c.message.is_empty());
        }
        assert_eq!(Verdict::from_checks(&checks), Verdict::Pass);
    }

    fn edge(code: CheckCode, pass: impl Fn(&mut Case), fail: impl Fn(&mut Case)) {
        let mut c = Case::good();
        pass(&mut c);
        assert_eq!(c.status(code), Status::Pass, "{code} just inside the limit");
        let mut c = Case::good();
        fail(&mut c);
        assert_eq!(
            c.status(code),
            Status::Fail,
            "{code} just outside the limit"
        );
    }

    #[test]
    fn face_width_limits_are_193_and_221() {
        use CheckCode::GeometryFaceWidth as C;
        edge(
            C,
            |c| c.face = face(193.5, 200.0, 179.0, 0.0),
            |c| c.face = face(192.5, 200.0, 179.0, 0.0),
        );
        edge(
            C,
            |c| c.face = face(220.5, 200.0, 179.0, 0.0),
            |c| c.face = face(221.5, 200.0, 179.0, 0.0),
        );
        let mut c = Case::good();
        c.face = face(150.0, 200.0, 179.0, 0.0);
        let msg = c.run().into_iter().find(|x| x.code == C).unwrap().message;
        assert!(msg.contains("头部偏小"), "{msg}");
    }

    #[test]
    fn crown_limits_are_7_and_21_and_a_cut_head_fails() {
        use CheckCode::GeometryCrown as C;
        edge(C, |c| c.m.crown = Some(7.0), |c| c.m.crown = Some(6.0));
        edge(C, |c| c.m.crown = Some(21.0), |c| c.m.crown = Some(22.0));
        let mut c = Case::good();
        c.m.crown = Some(0.0);
        assert_eq!(c.status(C), Status::Fail);
    }

    #[test]
    fn when_crown_and_eye_rules_conflict_the_eye_rule_wins() {
        // Crown 3 px from the top, but moving the head down 4 px would put the eyes below the
        // limit (y 232 → 236 > 234): GA 461 lets tall hair be cropped.
        let mut c = Case::good();
        c.face = face(207.0, 232.0, 179.0, 0.0);
        c.m.crown = Some(3.0);
        assert_eq!(c.status(CheckCode::GeometryCrown), Status::Warn);
        assert_eq!(c.status(CheckCode::GeometryEyeLine), Status::Pass);
    }

    #[test]
    fn unknown_crown_makes_the_photo_a_review() {
        let mut c = Case::good();
        c.m.crown = None;
        let checks = c.run();
        let crown = checks
            .iter()
            .find(|x| x.code == CheckCode::GeometryCrown)
            .unwrap();
        assert_eq!(crown.status, Status::Skipped);
        assert!(crown.uncertain);
        assert_eq!(Verdict::from_checks(&checks), Verdict::Review);
    }

    #[test]
    fn eye_line_must_be_at_least_207_above_the_bottom() {
        use CheckCode::GeometryEyeLine as C;
        edge(
            C,
            |c| c.face = face(207.0, 234.0, 179.0, 0.0),
            |c| c.face = face(207.0, 235.0, 179.0, 0.0),
        );
    }

    #[test]
    fn centring_tolerance_is_17_px() {
        use CheckCode::GeometryCentered as C;
        edge(
            C,
            |c| c.face = face(207.0, 200.0, 179.0 + 16.5, 0.0),
            |c| c.face = face(207.0, 200.0, 179.0 + 17.5, 0.0),
        );
        edge(
            C,
            |c| c.face = face(207.0, 200.0, 179.0 - 16.5, 0.0),
            |c| c.face = face(207.0, 200.0, 179.0 - 17.5, 0.0),
        );
    }

    #[test]
    fn roll_limit_is_8_degrees_either_way() {
        use CheckCode::PoseRoll as C;
        edge(
            C,
            |c| c.face = face(207.0, 200.0, 179.0, 7.9),
            |c| c.face = face(207.0, 200.0, 179.0, 8.2),
        );
        edge(
            C,
            |c| c.face = face(207.0, 200.0, 179.0, -7.9),
            |c| c.face = face(207.0, 200.0, 179.0, -8.2),
        );
    }

    #[test]
    fn geometry_limits_scale_with_the_image() {
        // A twice-as-large photo framed correctly fails only its dimensions.
        let mut c = Case::good();
        c.size = (716, 882);
        c.face = face(414.0, 400.0, 358.0, 0.0);
        c.m.crown = Some(28.0);
        assert_eq!(c.status(CheckCode::ImageDimensions), Status::Fail);
        for code in [
            CheckCode::GeometryFaceWidth,
            CheckCode::GeometryCrown,
            CheckCode::GeometryEyeLine,
            CheckCode::GeometryCentered,
        ] {
            assert_eq!(c.status(code), Status::Pass, "{code}");
        }
    }

    #[test]
    fn face_count_must_be_one_and_geometry_is_skipped_otherwise() {
        for (n, want) in [(0, Status::Fail), (1, Status::Pass), (2, Status::Fail)] {
            let mut c = Case::good();
            c.faces = n;
            let checks = c.run();
            assert_eq!(
                checks
                    .iter()
                    .find(|x| x.code == CheckCode::FaceCount)
                    .unwrap()
                    .status,
                want
            );
            let fw = checks
                .iter()
                .find(|x| x.code == CheckCode::GeometryFaceWidth)
                .unwrap();
            if n != 1 {
                assert_eq!(fw.status, Status::Skipped);
                assert!(!fw.uncertain, "a failed face count decides the verdict");
                assert_eq!(Verdict::from_checks(&checks), Verdict::Fail);
            }
        }
    }

    fn subj(c: &mut Case) -> &mut SubjectMeasures {
        c.m.subject.as_mut().unwrap()
    }

    fn find(c: &Case, code: CheckCode) -> Check {
        c.run().into_iter().find(|x| x.code == code).unwrap()
    }

    #[test]
    fn yaw_limit_is_5_degrees_either_way() {
        use CheckCode::PoseYaw as C;
        edge(C, |c| subj(c).yaw_deg = 4.9, |c| subj(c).yaw_deg = 5.1);
        edge(C, |c| subj(c).yaw_deg = -4.9, |c| subj(c).yaw_deg = -5.1);
        let mut c = Case::good();
        subj(&mut c).yaw_deg = 7.0;
        assert!(find(&c, C).message.contains("不要转头"));
    }

    #[test]
    fn pitch_fails_beyond_5_degrees_plus_the_mesh_allowance() {
        use CheckCode::PosePitch as C;
        edge(
            C,
            |c| subj(c).pitch_deg = 12.9,
            |c| subj(c).pitch_deg = 13.1,
        );
        edge(
            C,
            |c| subj(c).pitch_deg = -12.9,
            |c| subj(c).pitch_deg = -13.1,
        );
        let mut c = Case::good();
        subj(&mut c).pitch_deg = 20.0;
        assert!(find(&c, C).message.contains("不要抬头"));
        subj(&mut c).pitch_deg = -20.0;
        assert!(find(&c, C).message.contains("不要低头"));
    }

    #[test]
    fn either_eye_below_0_15_fails() {
        use CheckCode::FaceEyesOpen as C;
        edge(
            C,
            |c| subj(c).eye_open = [0.151, 0.3],
            |c| subj(c).eye_open = [0.149, 0.3],
        );
        edge(
            C,
            |c| subj(c).eye_open = [0.3, 0.151],
            |c| subj(c).eye_open = [0.3, 0.149],
        );
        let mut c = Case::good();
        subj(&mut c).eye_open = [0.05, 0.06];
        assert!(find(&c, C).message.contains("请睁大眼睛"));
    }

    #[test]
    fn mouth_gap_limit_is_6_percent_of_the_face_width() {
        use CheckCode::FaceMouthClosed as C;
        edge(
            C,
            |c| subj(c).mouth_gap = 0.059,
            |c| subj(c).mouth_gap = 0.061,
        );
        let mut c = Case::good();
        subj(&mut c).mouth_gap = 0.12;
        assert!(find(&c, C).message.contains("请闭上嘴巴"));
    }

    #[test]
    fn a_smile_teeth_or_a_wide_mouth_fail_the_expression() {
        use CheckCode::FaceExpression as C;
        edge(C, |c| subj(c).smile = 0.099, |c| subj(c).smile = 0.101);
        edge(C, |c| subj(c).teeth = 0.0099, |c| subj(c).teeth = 0.0101);
        edge(
            C,
            |c| subj(c).mouth_width = 0.499,
            |c| subj(c).mouth_width = 0.501,
        );
        let mut c = Case::good();
        subj(&mut c).teeth = 0.08;
        assert!(find(&c, C).message.contains("不要露齿微笑"));
        let mut c = Case::good();
        subj(&mut c).smile = 0.2;
        assert!(find(&c, C).message.contains("请保持自然表情"));
    }

    #[test]
    fn subject_values_within_their_uncertainty_of_a_limit_make_a_review() {
        type Set = fn(&mut SubjectMeasures);
        // (code, just inside but within the uncertainty, inside and clear of it)
        let cases: [(CheckCode, Set, Set); 7] = [
            (
                CheckCode::PoseYaw,
                |s| s.yaw_deg = -4.0,
                |s| s.yaw_deg = -3.0,
            ),
            (
                CheckCode::PosePitch,
                |s| s.pitch_deg = 11.5,
                |s| s.pitch_deg = 10.0,
            ),
            (
                CheckCode::FaceEyesOpen,
                |s| s.eye_open[1] = 0.17,
                |s| s.eye_open[1] = 0.2,
            ),
            (
                CheckCode::FaceMouthClosed,
                |s| s.mouth_gap = 0.057,
                |s| s.mouth_gap = 0.05,
            ),
            (
                CheckCode::FaceExpression,
                |s| s.smile = 0.085,
                |s| s.smile = 0.07,
            ),
            (
                CheckCode::FaceExpression,
                |s| s.teeth = 0.007,
                |s| s.teeth = 0.004,
            ),
            (
                CheckCode::FaceExpression,
                |s| s.mouth_width = 0.49,
                |s| s.mouth_width = 0.47,
            ),
        ];
        for (code, near, clear) in cases {
            let mut c = Case::good();
            near(subj(&mut c));
            let checks = c.run();
            let x = checks.iter().find(|x| x.code == code).unwrap();
            assert_eq!(x.status, Status::Pass, "{code}");
            assert!(x.uncertain, "{code} near its limit is uncertain");
            assert_eq!(Verdict::from_checks(&checks), Verdict::Review, "{code}");
            let mut c = Case::good();
            clear(subj(&mut c));
            let checks = c.run();
            assert!(!checks.iter().find(|x| x.code == code).unwrap().uncertain);
            assert_eq!(Verdict::from_checks(&checks), Verdict::Pass, "{code}");
        }
    }

    #[test]
    fn subject_checks_are_skipped_without_a_face_and_reviewed_without_a_mesh() {
        let codes = [
            CheckCode::PoseYaw,
            CheckCode::PosePitch,
            CheckCode::FaceEyesOpen,
            CheckCode::FaceMouthClosed,
            CheckCode::FaceExpression,
        ];
        skipped_without_a_face_and_reviewed_without(&codes, |c| c.m.subject = None);
    }

    /// `codes` are skipped (with certainty) when no face was found, and skipped as uncertain,
    /// making the verdict `review`, when the face lacks what `clear` removes.
    fn skipped_without_a_face_and_reviewed_without(codes: &[CheckCode], clear: impl Fn(&mut Case)) {
        let mut c = Case::good();
        c.faces = 0;
        let checks = c.run();
        for &code in codes {
            let x = checks.iter().find(|x| x.code == code).unwrap();
            assert_eq!(x.status, Status::Skipped, "{code}");
            assert!(!x.uncertain);
        }
        let mut c = Case::good();
        clear(&mut c);
        let checks = c.run();
        for &code in codes {
            let x = checks.iter().find(|x| x.code == code).unwrap();
            assert_eq!(x.status, Status::Skipped, "{code}");
            assert!(x.uncertain, "{code}");
        }
        assert_eq!(Verdict::from_checks(&checks), Verdict::Review);
    }

    fn cov(c: &mut Case) -> &mut CoverMeasures {
        c.m.cover.as_mut().unwrap()
    }

    #[test]
    fn tinted_lenses_fail_below_45_percent_of_the_cheek() {
        use CheckCode::FaceGlasses as C;
        edge(
            C,
            |c| cov(c).lens_luminance = Some(0.451),
            |c| cov(c).lens_luminance = Some(0.449),
        );
        let mut c = Case::good();
        cov(&mut c).lens_luminance = Some(0.2);
        assert!(find(&c, C).message.contains("有色眼镜"));
        // Near the limit: a review, not a confident pass.
        let mut c = Case::good();
        cov(&mut c).lens_luminance = Some(0.5);
        let x = find(&c, C);
        assert_eq!(x.status, Status::Pass);
        assert!(x.uncertain);
        assert_eq!(Verdict::from_checks(&c.run()), Verdict::Review);
    }

    #[test]
    fn coloured_lenses_fail_only_where_they_also_absorb_light() {
        use CheckCode::FaceGlasses as C;
        edge(
            C,
            |c| {
                cov(c).lens_luminance = Some(0.7);
                cov(c).lens_tint = Some(0.099);
            },
            |c| {
                cov(c).lens_luminance = Some(0.7);
                cov(c).lens_tint = Some(0.101);
            },
        );
        // The same chromaticity shift with no loss of light is not a lens (compression
        // artefacts, make-up): no fail, no review.
        let mut c = Case::good();
        cov(&mut c).lens_luminance = Some(0.95);
        cov(&mut c).lens_tint = Some(0.15);
        let x = find(&c, C);
        assert_eq!(x.status, Status::Pass);
        assert!(!x.uncertain);
    }

    #[test]
    fn lens_reflections_beyond_a_catchlight_fail() {
        use CheckCode::FaceGlasses as C;
        edge(
            C,
            |c| cov(c).lens_glare = Some(0.0039),
            |c| cov(c).lens_glare = Some(0.0041),
        );
        let mut c = Case::good();
        cov(&mut c).lens_glare = Some(0.02);
        assert!(find(&c, C).message.contains("反光"));
        // Over-exposed cheeks: reflections cannot be judged, so the photo is reviewed.
        let mut c = Case::good();
        cov(&mut c).lens_glare = None;
        let x = find(&c, C);
        assert_eq!(x.status, Status::Pass);
        assert!(x.uncertain);
    }

    /// A fringe of the person's own hair (−2.5 stops) over a brow.
    fn fringe(b: &mut Brow, step: f32) {
        b.above = -2.5;
        b.on = -2.5 - step;
    }

    #[test]
    fn hair_over_an_eyebrow_fails_when_no_step_is_left_to_the_forehead() {
        use CheckCode::FaceOcclusion as C;
        edge(
            C,
            |c| fringe(cov(c).brows[0].as_mut().unwrap(), 0.31),
            |c| fringe(cov(c).brows[0].as_mut().unwrap(), 0.29),
        );
        edge(
            C,
            |c| fringe(cov(c).brows[1].as_mut().unwrap(), 0.31),
            |c| fringe(cov(c).brows[1].as_mut().unwrap(), 0.29),
        );
        let mut c = Case::good();
        fringe(cov(&mut c).brows[0].as_mut().unwrap(), 0.0);
        fringe(cov(&mut c).brows[1].as_mut().unwrap(), 0.0);
        assert!(find(&c, C).message.contains("双眉"));
        // Just above the limit: review.
        let mut c = Case::good();
        fringe(cov(&mut c).brows[0].as_mut().unwrap(), 0.4);
        let x = find(&c, C);
        assert_eq!(x.status, Status::Pass);
        assert!(x.uncertain);
    }

    #[test]
    fn a_dark_forehead_that_is_not_like_the_hair_is_not_a_fringe() {
        use CheckCode::FaceOcclusion as C;
        // Dark skin whose brows barely stand out (the forehead 1.2 stops under the nose
        // bridge, no step to the brow): the forehead is not as dark as the hair.
        let mut c = Case::good();
        for b in cov(&mut c).brows.iter_mut() {
            *b = Some(Brow {
                above: -1.2,
                on: -1.1,
            });
        }
        cov(&mut c).hair_stops = Some(-2.6);
        assert_eq!(c.status(C), Status::Pass);
        // Hair no darker than skin (blond, grey, or none above the forehead): never a fringe.
        let mut c = Case::good();
        fringe(cov(&mut c).brows[0].as_mut().unwrap(), 0.0);
        cov(&mut c).hair_stops = Some(-0.3);
        let x = find(&c, C);
        assert_eq!(x.status, Status::Pass);
        assert!(!x.uncertain);
    }

    #[test]
    fn both_ears_covered_by_hair_fail_one_visible_ear_passes() {
        use CheckCode::FaceOcclusion as C;
        edge(
            C,
            |c| cov(c).ear_skin = [Some(0.01), Some(0.051)],
            |c| cov(c).ear_skin = [Some(0.01), Some(0.049)],
        );
        let mut c = Case::good();
        cov(&mut c).ear_skin = [Some(0.0), Some(0.0)];
        assert!(find(&c, C).message.contains("双耳"));
        // Background beside the face (ears flat to the head), not hair: not covered.
        let mut c = Case::good();
        cov(&mut c).ear_skin = [Some(0.0), Some(0.0)];
        cov(&mut c).ear_person = [Some(0.9), Some(0.2)];
        assert_eq!(c.status(C), Status::Pass);
        // ICAO does not ask for the ears.
        let mut c = Case::good();
        cov(&mut c).ear_skin = [Some(0.0), Some(0.0)];
        let obs = Observation {
            file_len: c.file_len,
            header: Some(&c.header),
            decode_error: None,
            size: Some(c.size),
            colourful: Some(0.3),
            face_count: Some(1),
            face: Some(&c.face),
            measures: Some(&c.m),
        };
        let x = evaluate(&obs, &Profile::icao())
            .into_iter()
            .find(|x| x.code == C)
            .unwrap();
        assert_eq!(x.status, Status::Pass);
        // Near the limit: review.
        let mut c = Case::good();
        cov(&mut c).ear_skin = [Some(0.0), Some(0.08)];
        let x = find(&c, C);
        assert_eq!(x.status, Status::Pass);
        assert!(x.uncertain);
    }

    #[test]
    fn a_head_covering_fails_above_half_the_head_top() {
        use CheckCode::FaceHeadCovering as C;
        edge(
            C,
            |c| cov(c).head_covering = Some(0.499),
            |c| cov(c).head_covering = Some(0.501),
        );
        let mut c = Case::good();
        cov(&mut c).head_covering = Some(0.9);
        assert!(find(&c, C).message.contains("免冠拍摄"));
        let mut c = Case::good();
        cov(&mut c).head_covering = Some(0.35);
        let x = find(&c, C);
        assert_eq!(x.status, Status::Pass);
        assert!(x.uncertain);
        // Under a colour cast the colours say nothing: review, never a fail.
        let mut c = Case::good();
        cov(&mut c).head_covering = Some(0.9);
        let s = c.m.skin.as_mut().unwrap();
        s.a = -3.0;
        s.b = -16.0;
        let x = find(&c, C);
        assert_eq!(x.status, Status::Skipped);
        assert!(x.uncertain);
    }

    #[test]
    fn an_over_compressed_photo_cannot_fail_the_cover_checks() {
        let mut c = Case::good();
        cov(&mut c).ear_skin = [Some(0.0), Some(0.0)];
        cov(&mut c).head_covering = Some(0.9);
        assert_eq!(c.status(CheckCode::FaceOcclusion), Status::Fail);
        c.header.luma_quant = Some(crate::header::ijg_luma_table(2));
        let checks = c.run();
        for code in [CheckCode::FaceOcclusion, CheckCode::FaceHeadCovering] {
            let x = checks.iter().find(|x| x.code == code).unwrap();
            assert_eq!(x.status, Status::Skipped, "{code}");
            assert!(x.uncertain);
        }
        // The photo still fails, on its compression.
        assert_eq!(Verdict::from_checks(&checks), Verdict::Fail);
    }

    #[test]
    fn cover_checks_are_skipped_without_a_face_and_reviewed_without_a_mesh() {
        let codes = [
            CheckCode::FaceGlasses,
            CheckCode::FaceOcclusion,
            CheckCode::FaceHeadCovering,
        ];
        skipped_without_a_face_and_reviewed_without(&codes, |c| c.m.cover = None);
    }

    #[test]
    fn resolution_must_be_recorded_as_350_dpi() {
        use CheckCode::ImageResolution as C;
        edge(
            C,
            |c| c.header.dpi = Some((350.4, 350.4)),
            |c| c.header.dpi = Some((300.0, 300.0)),
        );
        let mut c = Case::good();
        c.header.dpi = None;
        assert_eq!(c.status(C), Status::Fail);
    }

    #[test]
    fn file_size_warns_outside_14_to_20_kb_and_fails_outside_5_to_60() {
        use CheckCode::FileSize as C;
        for (len, want) in [
            (16_000, Status::Pass),
            (13_500, Status::Warn),
            (25_000, Status::Warn),
            (4_000, Status::Fail),
            (61_000, Status::Fail),
        ] {
            let mut c = Case::good();
            c.file_len = len;
            assert_eq!(c.status(C), want, "{len} bytes");
        }
    }

    #[test]
    fn colour_needs_three_8_bit_channels() {
        use CheckCode::ImageColor as C;
        for (model, want) in [
            (ColorModel::Rgb, Status::Pass),
            (ColorModel::Grey, Status::Fail),
            (ColorModel::Cmyk, Status::Fail),
        ] {
            let mut c = Case::good();
            c.header.color = model;
            assert_eq!(c.status(C), want, "{model:?}");
        }
    }

    #[test]
    fn format_must_be_jpeg() {
        let mut c = Case::good();
        c.header.format = Format::Png;
        assert_eq!(c.status(CheckCode::FileFormat), Status::Fail);
    }

    #[test]
    fn quality_limits() {
        use CheckCode::*;
        edge(
            QualitySharpness,
            |c| c.m.sharpness = Some(1.71),
            |c| c.m.sharpness = Some(1.69),
        );
        edge(
            QualityExposure,
            |c| c.m.tone.as_mut().unwrap().mean = 35.5,
            |c| c.m.tone.as_mut().unwrap().mean = 34.5,
        );
        edge(
            QualityExposure,
            |c| c.m.tone.as_mut().unwrap().mean = 214.5,
            |c| c.m.tone.as_mut().unwrap().mean = 215.5,
        );
        edge(
            QualityExposure,
            |c| c.m.tone.as_mut().unwrap().clipped = 0.049,
            |c| c.m.tone.as_mut().unwrap().clipped = 0.051,
        );
        edge(
            QualityDynamicRange,
            |c| c.m.tone.as_mut().unwrap().p95 = 90.5,
            |c| c.m.tone.as_mut().unwrap().p95 = 89.5,
        );
        edge(
            QualityIllumination,
            |c| c.m.skin.as_mut().unwrap().right_luma = 65.0,
            |c| c.m.skin.as_mut().unwrap().right_luma = 63.0,
        );
        edge(QualityNoise, |c| c.m.noise = 2.99, |c| c.m.noise = 3.01);
        edge(
            QualityCompression,
            |c| c.header.luma_quant = Some(crate::header::ijg_luma_table(30)),
            |c| c.header.luma_quant = Some(crate::header::ijg_luma_table(29)),
        );
        edge(
            QualityCompression,
            |c| c.m.blockiness = 1.99,
            |c| c.m.blockiness = 2.01,
        );
    }

    #[test]
    fn skin_colour_of_every_tone_passes_and_casts_fail() {
        use CheckCode::QualityColor as C;
        // (a*, b*) of light, medium and dark skin, then blue, green and magenta casts.
        for (a, b, want) in [
            (9.0, 13.0, Status::Pass),
            (12.0, 18.0, Status::Pass),
            (7.0, 8.0, Status::Pass),
            (-3.0, -16.0, Status::Fail),
            (-25.0, 33.0, Status::Fail),
            (40.0, 5.0, Status::Fail),
            (56.0, 55.0, Status::Fail),
        ] {
            let mut c = Case::good();
            let s = c.m.skin.as_mut().unwrap();
            s.a = a;
            s.b = b;
            assert_eq!(c.status(C), want, "a* {a} b* {b}");
        }
    }

    #[test]
    fn background_limits() {
        use CheckCode::*;
        edge(
            BackgroundColor,
            |c| c.m.background.lightness = 88.5,
            |c| c.m.background.lightness = 87.5,
        );
        edge(
            BackgroundColor,
            |c| c.m.background.chroma = 7.9,
            |c| c.m.background.chroma = 8.1,
        );
        edge(
            BackgroundUniformity,
            |c| c.m.background.shadow_drop = 14.9,
            |c| c.m.background.shadow_drop = 15.1,
        );
        edge(
            BackgroundUniformity,
            |c| c.m.background.coverage = 0.61,
            |c| c.m.background.coverage = 0.59,
        );
    }

    #[test]
    fn an_undecodable_file_fails_once_and_skips_the_rest() {
        let err = DecodeError::Truncated;
        let obs = Observation {
            file_len: 6000,
            header: None,
            decode_error: Some(&err),
            ..Observation::default()
        };
        let checks = evaluate(&obs, &Profile::ga461());
        let failed: Vec<CheckCode> = checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.code)
            .collect();
        assert!(failed.contains(&CheckCode::FileDecodable));
        assert!(
            checks
                .iter()
                .filter(|c| c.status == Status::Skipped)
                .count()
                >= 15
        );
        assert_eq!(Verdict::from_checks(&checks), Verdict::Fail);
    }
}
