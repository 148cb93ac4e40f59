//! Stable check codes (`shared/CONTRACT.md` §2, "Check codes").

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! check_codes {
    ($( $(#[$doc:meta])* $variant:ident => $text:literal ),+ $(,)?) => {
        /// A stable check code. Its string form (`file.decodable`, …) is part of the contract and
        /// never changes meaning; new checks get new codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum CheckCode {
            $( $(#[$doc])* #[serde(rename = $text)] $variant, )+
        }

        impl CheckCode {
            /// Every code, in the contract's order.
            pub const ALL: &'static [CheckCode] = &[ $( CheckCode::$variant, )+ ];

            /// The code as it appears in the result JSON.
            pub const fn as_str(self) -> &'static str {
                match self { $( CheckCode::$variant => $text, )+ }
            }

            /// Parses the JSON form of a code.
            pub fn parse(text: &str) -> Option<CheckCode> {
                match text { $( $text => Some(CheckCode::$variant), )+ _ => None }
            }
        }
    };
}

check_codes! {
    /// A complete, valid image file.
    FileDecodable => "file.decodable",
    /// JPEG (JFIF/EXIF).
    FileFormat => "file.format",
    /// File size within the profile's range.
    FileSize => "file.size",
    /// Pixel dimensions.
    ImageDimensions => "image.dimensions",
    /// Resolution recorded in the file (dpi).
    ImageResolution => "image.resolution",
    /// 24-bit colour, not greyscale.
    ImageColor => "image.color",
    /// Exactly one face.
    FaceCount => "face.count",
    /// Face width in px.
    GeometryFaceWidth => "geometry.face_width",
    /// Crown (top of hair) distance from the top edge.
    GeometryCrown => "geometry.crown",
    /// Eye line distance from the bottom edge.
    GeometryEyeLine => "geometry.eye_line",
    /// Eye midpoint distance from the vertical centre line.
    GeometryCentered => "geometry.centered",
    /// Head yaw in degrees.
    PoseYaw => "pose.yaw",
    /// Head pitch in degrees.
    PosePitch => "pose.pitch",
    /// Head roll in degrees.
    PoseRoll => "pose.roll",
    /// Face region in focus, no motion blur.
    QualitySharpness => "quality.sharpness",
    /// Neither under- nor over-exposed.
    QualityExposure => "quality.exposure",
    /// Enough tonal range on the face.
    QualityDynamicRange => "quality.dynamic_range",
    /// Even lighting across the face.
    QualityIllumination => "quality.illumination",
    /// Natural colour, no cast.
    QualityColor => "quality.color",
    /// No visible compression artefacts.
    QualityCompression => "quality.compression",
    /// No visible sensor noise.
    QualityNoise => "quality.noise",
    /// White background.
    BackgroundColor => "background.color",
    /// Even background, no shadows or objects.
    BackgroundUniformity => "background.uniformity",
    /// Both eyes open.
    FaceEyesOpen => "face.eyes_open",
    /// Mouth closed.
    FaceMouthClosed => "face.mouth_closed",
    /// Neutral expression.
    FaceExpression => "face.expression",
    /// No tinted lenses or reflections.
    FaceGlasses => "face.glasses",
    /// Eyebrows, eyes, ears, mouth not covered.
    FaceOcclusion => "face.occlusion",
    /// Bareheaded.
    FaceHeadCovering => "face.head_covering",
    /// The top is not white and does not merge with the backdrop (GA 461: no white top).
    ClothingColor => "clothing.color",
    /// The engine could not check the photo (a panic, a model error, a budget exceeded);
    /// never `pass`.
    EngineError => "engine.error",
}

impl CheckCode {
    /// A short Chinese label for the check (the console's reason list, the statistics):
    /// what a clerk or a reviewer calls the defect.
    pub const fn label_zh(self) -> &'static str {
        match self {
            CheckCode::FileDecodable => "文件损坏或无法读取",
            CheckCode::FileFormat => "文件格式不是JPEG",
            CheckCode::FileSize => "文件大小不符",
            CheckCode::ImageDimensions => "照片尺寸不符",
            CheckCode::ImageResolution => "分辨率不是350dpi",
            CheckCode::ImageColor => "不是24位彩色",
            CheckCode::FaceCount => "未检出唯一人脸",
            CheckCode::GeometryFaceWidth => "人像脸宽不符",
            CheckCode::GeometryCrown => "头顶位置不符",
            CheckCode::GeometryEyeLine => "眼睛位置不符",
            CheckCode::GeometryCentered => "人像未居中",
            CheckCode::PoseYaw => "头部左右偏转",
            CheckCode::PosePitch => "头部俯仰",
            CheckCode::PoseRoll => "头部倾斜",
            CheckCode::QualitySharpness => "照片模糊",
            CheckCode::QualityExposure => "曝光不当",
            CheckCode::QualityDynamicRange => "反差不足",
            CheckCode::QualityIllumination => "面部光照不均",
            CheckCode::QualityColor => "偏色",
            CheckCode::QualityCompression => "压缩过度",
            CheckCode::QualityNoise => "噪点过多",
            CheckCode::BackgroundColor => "背景不是白色",
            CheckCode::BackgroundUniformity => "背景不均匀",
            CheckCode::FaceEyesOpen => "未睁眼",
            CheckCode::FaceMouthClosed => "嘴未闭合",
            CheckCode::FaceExpression => "表情不自然",
            CheckCode::FaceGlasses => "眼镜反光或有色镜片",
            CheckCode::FaceOcclusion => "五官或耳朵被遮挡",
            CheckCode::FaceHeadCovering => "戴帽子或头饰",
            CheckCode::ClothingColor => "穿白色或浅色上衣",
            CheckCode::EngineError => "系统未能检测",
        }
    }
}

impl CheckCode {
    /// The check's neutral Chinese name (what is checked, not what is wrong), for tables that
    /// list passed checks too.
    pub const fn name_zh(self) -> &'static str {
        match self {
            CheckCode::FileDecodable => "文件完整",
            CheckCode::FileFormat => "文件格式",
            CheckCode::FileSize => "文件大小",
            CheckCode::ImageDimensions => "照片尺寸",
            CheckCode::ImageResolution => "分辨率",
            CheckCode::ImageColor => "色彩模式",
            CheckCode::FaceCount => "人脸数量",
            CheckCode::GeometryFaceWidth => "脸宽",
            CheckCode::GeometryCrown => "头顶位置",
            CheckCode::GeometryEyeLine => "眼睛位置",
            CheckCode::GeometryCentered => "居中",
            CheckCode::PoseYaw => "左右转头",
            CheckCode::PosePitch => "抬头低头",
            CheckCode::PoseRoll => "歪头",
            CheckCode::QualitySharpness => "清晰度",
            CheckCode::QualityExposure => "曝光",
            CheckCode::QualityDynamicRange => "反差",
            CheckCode::QualityIllumination => "面部光照",
            CheckCode::QualityColor => "色彩",
            CheckCode::QualityCompression => "压缩质量",
            CheckCode::QualityNoise => "噪点",
            CheckCode::BackgroundColor => "背景颜色",
            CheckCode::BackgroundUniformity => "背景均匀",
            CheckCode::FaceEyesOpen => "睁眼",
            CheckCode::FaceMouthClosed => "闭嘴",
            CheckCode::FaceExpression => "表情",
            CheckCode::FaceGlasses => "眼镜",
            CheckCode::FaceOcclusion => "遮挡",
            CheckCode::FaceHeadCovering => "头饰",
            CheckCode::ClothingColor => "服装颜色",
            CheckCode::EngineError => "系统检测",
        }
    }
}

impl fmt::Display for CheckCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_form_round_trips_through_json_and_parse() {
        for &code in CheckCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<CheckCode>(&json).unwrap(), code);
            assert_eq!(CheckCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(CheckCode::parse("face.smile"), None);
    }

    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        assert!(CheckCode::ALL.iter().all(|c| seen.insert(c.as_str())));
        assert_eq!(CheckCode::ALL.len(), 31);
    }

    #[test]
    fn every_code_has_a_distinct_chinese_label() {
        let mut seen = std::collections::HashSet::new();
        for &code in CheckCode::ALL {
            let label = code.label_zh();
            assert!(
                label
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{code}"
            );
            assert!(seen.insert(label), "{code} repeats {label}");
            assert!(
                seen.insert(code.name_zh()),
                "{code} repeats {}",
                code.name_zh()
            );
        }
    }
}
