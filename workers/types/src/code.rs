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
}
