//! File checks: format, size on disk, colour depth, resolution (dpi) and decodability, from
//! the header and the decoder.

use super::*;

pub(crate) fn file_checks(obs: &Observation<'_>, p: &Profile, out: &mut Vec<Check>) {
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
                DecodeError::TooCostly(_) => {
                    "照片文件结构过于复杂（扫描段过多或所需内存超出上限），请用相机或常用软件按普通 JPEG 重新导出"
                        .to_string()
                }
                DecodeError::Damaged(_) => {
                    "照片文件已损坏（图像数据有错误，画面会出现错位、色块或花屏），请重新拍摄或重新发送"
                        .to_string()
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
    let status = if p.file_size_hard_kb.is_some_and(|hard| !hard.contains(kb)) {
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
        _ => {
            let hard = p.file_size_hard_kb.unwrap_or(p.file_size_typical_kb);
            if kb < hard.min {
                format!(
                    "文件只有 {kb:.1} KB，过小（至少 {:.0} KB），照片可能被过度压缩，请重新导出",
                    hard.min
                )
            } else {
                format!(
                    "文件 {kb:.1} KB，过大（至多 {:.0} KB），请按 358×441 像素、质量 70 重新导出",
                    hard.max
                )
            }
        }
    };
    out.push(with(
        check(FileSize, status, msg),
        kb,
        Some(p.file_size_hard_kb.unwrap_or(p.file_size_typical_kb)),
        "KB",
    ));
}

#[cfg(test)]
mod rule_tests {
    //! The rules at the edges of their limits, on hand-made observations.
    use super::super::testkit::*;
    use super::super::*;

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
    fn file_size_warns_outside_14_to_20_kb_and_never_fails_on_size_alone() {
        use CheckCode::FileSize as C;
        for (len, want) in [
            (16_000, Status::Pass),
            (13_500, Status::Warn),
            (25_000, Status::Warn),
            (4_000, Status::Warn),
            (61_000, Status::Warn),
        ] {
            let mut c = Case::good();
            c.file_len = len;
            assert_eq!(c.status(C), want, "{len} bytes");
        }
        // A profile that does set a hard range fails outside it.
        let mut strict = Profile::ga461();
        strict.file_size_hard_kb = Some(Range::new(5.0, 60.0));
        let mut c = Case::good();
        c.file_len = 61_000;
        let size = c
            .run_with(&strict)
            .into_iter()
            .find(|x| x.code == C)
            .unwrap();
        assert_eq!(size.status, Status::Fail);
    }

    #[test]
    fn format_must_be_jpeg() {
        let mut c = Case::good();
        c.header.format = Format::Png;
        assert_eq!(c.status(CheckCode::FileFormat), Status::Fail);
    }
}
