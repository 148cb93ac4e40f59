//! Check profiles: every limit a check applies, as data. The built-in `ga461` and `icao` are the
//! TOML files in `profiles/`, compiled in; an operator can tune a copy and load it
//! ([`Profile::load`]) without recompiling. A light crate (serde and toml only), so the upload
//! API can name-check a profile without linking the engine.
//!
//! Geometry limits are pixels of the profile's reference canvas (GA 461: 358 × 441). A photo of
//! another size is measured in its own pixels and compared with the limits scaled to its size,
//! so a correctly framed photo of the wrong size fails only `image.dimensions`.

use serde::{Deserialize, Serialize};

/// An inclusive range `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// Lower limit.
    pub min: f64,
    /// Upper limit.
    pub max: f64,
}

impl Range {
    /// A range from its limits.
    pub const fn new(min: f64, max: f64) -> Range {
        Range { min, max }
    }

    /// Whether `v` lies within the range.
    pub fn contains(&self, v: f64) -> bool {
        v >= self.min && v <= self.max
    }

    /// The range with both ends multiplied by `k`.
    pub fn scaled(&self, k: f64) -> Range {
        Range::new(self.min * k, self.max * k)
    }
}

/// Every limit the checks apply. Construct with [`Profile::ga461`], [`Profile::icao`],
/// [`Profile::by_name`] or [`Profile::load`]; all fields are public.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Profile name, echoed in the result.
    pub name: String,
    /// Required pixel size `(width, height)`, or `None` to accept any size of the right shape.
    pub dimensions: Option<(u32, u32)>,
    /// Reference canvas `(width, height)` the geometry limits are given in.
    pub canvas: (u32, u32),
    /// Required resolution in dpi, if any.
    pub dpi: Option<f64>,
    /// Typical file size in KB (1000 bytes); outside it is a `warn`.
    pub file_size_typical_kb: Range,
    /// File size limits in KB outside which a photo fails, where a rule the profile follows
    /// sets one; absent (GA 461, ICAO) = size alone never fails a photo: compression and pixel
    /// size have checks of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size_hard_kb: Option<Range>,
    /// Face width at cheek level, px of the canvas.
    pub face_width_px: Range,
    /// Crown (top of the hair) below the top edge, px of the canvas, where the profile bounds
    /// it (GA 461: 7–21 px).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crown_px: Option<Range>,
    /// Chin-to-crown distance as a fraction of the image height, where the profile bounds the
    /// head's height instead of the crown's position (ICAO 9303: 70–80 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chin_crown_fraction: Option<Range>,
    /// Least distance between the eye centres in the photo's own pixels (ICAO / ISO/IEC
    /// 19794-5: 90 px), where the profile sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eye_distance_min_px: Option<f64>,
    /// Eye line above the bottom edge, px of the canvas.
    pub eye_line_from_bottom_px: Range,
    /// Largest horizontal offset of the eye midpoint from the centre line, px of the canvas.
    pub centre_tolerance_px: f64,
    /// Largest head roll, degrees.
    pub roll_max_deg: f64,
    /// Largest head yaw (turn), degrees.
    pub yaw_max_deg: f64,
    /// Allowance added to `yaw_max_deg` for the mesh yaw's per-person offset (a face's own
    /// asymmetry against the symmetric canonical head, and the posture a sitter holds as
    /// "straight ahead"): yaw fails only beyond the sum. 0 when a profile file leaves it out
    /// (files written before it existed keep their old limit).
    #[serde(default)]
    pub yaw_allowance_deg: f64,
    /// Measurement uncertainty of the mesh's yaw, degrees: a value this close to the limit
    /// makes the check uncertain (verdict `review` unless something fails).
    pub yaw_uncertainty_deg: f64,
    /// Largest head pitch (up or down), degrees, as the standard gives it.
    pub pitch_max_deg: f64,
    /// Allowance added to `pitch_max_deg` for the mesh pitch's per-person error (where a
    /// person's "frontal" lies in the mesh's frame): pitch fails only beyond the sum.
    pub pitch_allowance_deg: f64,
    /// Measurement uncertainty (repeatability) of the mesh's pitch, degrees.
    pub pitch_uncertainty_deg: f64,
    /// Least eye aspect ratio (mean lid distance ÷ eye width) of the less open eye.
    pub eye_open_min: f64,
    /// Measurement uncertainty of the eye aspect ratio.
    pub eye_open_uncertainty: f64,
    /// Largest inner-lip gap ÷ face width.
    pub mouth_gap_max: f64,
    /// Measurement uncertainty of the inner-lip gap ratio.
    pub mouth_gap_uncertainty: f64,
    /// Largest mouth-corner elevation above the lip centre ÷ mouth width (a smile).
    pub smile_max: f64,
    /// Measurement uncertainty of the corner elevation.
    pub smile_uncertainty: f64,
    /// Largest mouth width ÷ face width (a broad smile widens the mouth).
    pub mouth_width_max: f64,
    /// Measurement uncertainty of the mouth width ratio.
    pub mouth_width_uncertainty: f64,
    /// Largest share of teeth pixels in the mouth opening ÷ mouth width².
    pub teeth_max: f64,
    /// Measurement uncertainty of the teeth share.
    pub teeth_uncertainty: f64,
    /// Largest P(happy) the expression network may give a face (a smile, a closed-lipped one
    /// included). 1 when a profile file leaves it out (files written before it never fail on
    /// it).
    #[serde(default = "certainty")]
    pub happy_max: f64,
    /// Uncertainty of P(happy): a value this close to `happy_max` makes the check uncertain.
    /// 0 when a profile file leaves it out.
    #[serde(default)]
    pub happy_uncertainty: f64,
    /// Tinted lenses: least luminance of the skin below the eyes (where a lens sits) ÷ the
    /// same side's cheek below the lens, the brighter side.
    pub lens_luminance_min: f64,
    /// Measurement uncertainty of the lens luminance ratio.
    pub lens_luminance_uncertainty: f64,
    /// Coloured lenses: largest chromaticity distance between the skin below the eyes and the
    /// cheek, the smaller side.
    pub lens_tint_max: f64,
    /// Measurement uncertainty of the lens chromaticity distance.
    pub lens_tint_uncertainty: f64,
    /// Reflections: largest clipped area in the lens area beyond a catchlight, ÷ IOD².
    pub lens_glare_max: f64,
    /// Measurement uncertainty of the glare area.
    pub lens_glare_uncertainty: f64,
    /// Head covering: largest share of the person's pixels above the forehead in colours no
    /// hair or skin has.
    pub head_covering_max: f64,
    /// Measurement uncertainty of the head-covering share.
    pub head_covering_uncertainty: f64,
    /// Eyebrows: least luminance step (stops) from a brow up to the forehead above it; hair
    /// over the brow leaves no step.
    pub brow_contrast_min: f64,
    /// Measurement uncertainty of the brow step, stops.
    pub brow_contrast_uncertainty: f64,
    /// A forehead band counts as hair only when it is at least this many stops darker than
    /// the nose bridge, and within `brow_hair_match_stops` of the person's own hair.
    pub brow_dark_stops: f64,
    /// How close (stops) the band must be to the hair above the forehead.
    pub brow_hair_match_stops: f64,
    /// Whether at least one ear must show (GA 461 practice: hair must not cover both ears).
    pub ears_must_show: bool,
    /// Least skin share of the more visible ear's region.
    pub ear_skin_min: f64,
    /// Measurement uncertainty of the ear skin share.
    pub ear_skin_uncertainty: f64,
    /// Least person share of both ear regions for "covered" (hair, not background, beside
    /// the face).
    pub ear_person_min: f64,
    /// Whether the top must stand apart from the backdrop (GA 461: no white top); profiles
    /// without such a rule report `clothing.color` as skipped.
    pub clothing_must_contrast: bool,
    /// Largest share of the visible top (below the neck, skin left out) that is white or
    /// within the merge distance of the backdrop's colour (see `checks/clothing.rs`).
    pub clothing_merge_max: f64,
    /// Measurement uncertainty of the merging share.
    pub clothing_merge_uncertainty: f64,
    /// Least visible top, in face widths squared, for the colour to be judged at all.
    pub clothing_area_min: f64,
    /// Sharpness: least ratio of the face's gradient energy before and after a σ = 2 px blur.
    pub sharpness_min: f64,
    /// Mean face luma (0–255) range.
    pub exposure_mean: Range,
    /// Largest share of face pixels clipped at black (≤ 5) or white (≥ 250).
    pub exposure_clipped_max: f64,
    /// Least luma of the whites of the eyes (97th percentile inside the eye contours, the
    /// brighter eye) when the backdrop reads grey: below it the whole photo is under-exposed
    /// (the backdrop and the eyes darkened together), not only the backdrop grey.
    pub eye_white_min: f64,
    /// Least luma of the whites of the eyes whatever the backdrop: below it the face lacks
    /// light (a face lit badly and set on a white backdrop afterwards reads white behind it).
    pub eye_white_floor: f64,
    /// Least tonal spread on the face: 95th minus 5th percentile of luma.
    pub dynamic_range_min: f64,
    /// Largest lighting difference between the cheeks, in stops of linear light (log2 of the
    /// ratio of their mean luminance).
    pub illumination_max_stops: f64,
    /// Skin hue angle (degrees, atan2(b*, a*)) range of natural skin of any tone.
    pub skin_hue_deg: Range,
    /// Skin chroma (CIELAB) range: below it the face has lost its colour, above it a warm
    /// cast has saturated the skin (a warm cast moves skin along its own hue band, so only its
    /// chroma shows it).
    pub skin_chroma: Range,
    /// Measurement uncertainty of the skin chroma: a value this close to its upper limit is
    /// `uncertain`.
    pub skin_chroma_uncertainty: f64,
    /// Least JPEG quality factor (estimated from the quantisation table).
    pub jpeg_quality_min: f64,
    /// Largest 8×8 blocking ratio (step across block edges / step inside blocks).
    pub blockiness_max: f64,
    /// Largest noise sigma (0–255).
    pub noise_max: f64,
    /// Least background lightness L* (0–100).
    pub background_lightness_min: f64,
    /// Largest background chroma (CIELAB).
    pub background_chroma_max: f64,
    /// Largest drop of L* from the background's median to its darkest 1 % (shadows).
    pub background_shadow_max: f64,
    /// Least share of the border band that is plain background.
    pub background_coverage_min: f64,
    /// Largest width or height the decoder accepts (decompression bombs).
    pub max_dimension: u32,
    /// Largest pixel count the decoder accepts.
    pub max_pixels: u64,
}

/// Why a profile file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read profile {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The text is not a complete profile.
    #[error("invalid profile {what}: {reason}")]
    Invalid {
        /// The file or built-in profile.
        what: String,
        /// The parser's reason (a missing or unknown key, a wrong type).
        reason: String,
    },
}

impl ProfileError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ProfileError::Read { .. } => "profile.read",
            ProfileError::Invalid { .. } => "profile.invalid",
        }
    }
}

/// The built-in profiles' files, compiled in.
const BUILT_IN: &[(&str, &str)] = &[
    ("ga461", include_str!("../profiles/ga461.toml")),
    ("icao", include_str!("../profiles/icao.toml")),
];

/// The default of a probability limit that can never be exceeded.
fn certainty() -> f64 {
    1.0
}

impl Profile {
    /// GA 461-2004 resident ID card photo (`profiles/ga461.toml`; `shared/spec/ga461.md`).
    pub fn ga461() -> Profile {
        Profile::built_in("ga461")
    }

    /// ISO/IEC 19794-5 full-frontal geometry on a 35 × 45 mm canvas at 300 dpi (413 × 531),
    /// with the same quality checks; any pixel size of that shape (`profiles/icao.toml`).
    pub fn icao() -> Profile {
        Profile::built_in("icao")
    }

    fn built_in(name: &str) -> Profile {
        let (_, text) = BUILT_IN
            .iter()
            .find(|(n, _)| *n == name)
            .expect("a built-in profile name");
        // The files are compiled in and parsed by a test: a failure here is a build defect.
        Profile::from_toml(text, name).expect("built-in profile parses")
    }

    /// A profile by name.
    pub fn by_name(name: &str) -> Option<Profile> {
        BUILT_IN
            .iter()
            .any(|(n, _)| *n == name)
            .then(|| Profile::built_in(name))
    }

    /// Names of the built-in profiles.
    pub const NAMES: &'static [&'static str] = &["ga461", "icao"];

    /// A profile from TOML text (`what` names it in errors). Every limit must be given (but
    /// those added later, `yaw_allowance_deg`, `happy_max` and `happy_uncertainty`, which
    /// keep a file's old behaviour when absent); unknown keys are errors, so a misspelt limit
    /// never silently keeps its default.
    pub fn from_toml(text: &str, what: &str) -> Result<Profile, ProfileError> {
        toml::from_str(text).map_err(|e| ProfileError::Invalid {
            what: what.to_owned(),
            reason: e.to_string(),
        })
    }

    /// A profile from a TOML file (a tuned copy of a built-in one).
    pub fn load(path: &std::path::Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Profile::from_toml(&text, &path.display().to_string())
    }

    /// Horizontal and vertical scale from the canvas to an image of `width` × `height`.
    pub fn scale_to(&self, width: u32, height: u32) -> (f64, f64) {
        (
            f64::from(width) / f64::from(self.canvas.0),
            f64::from(height) / f64::from(self.canvas.1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ga461_has_the_standard_numbers() {
        let p = Profile::ga461();
        assert_eq!(p.dimensions, Some((358, 441)));
        assert_eq!(p.dpi, Some(350.0));
        assert_eq!(p.face_width_px, Range::new(193.0, 221.0));
        assert_eq!(p.crown_px, Some(Range::new(7.0, 21.0)));
        assert_eq!(p.chin_crown_fraction, None);
        assert_eq!(p.eye_distance_min_px, None);
        assert_eq!(p.eye_line_from_bottom_px.min, 207.0);
    }

    #[test]
    fn icao_has_the_numbers_of_its_sources() {
        let p = Profile::icao();
        let (w, h) = (413.0, 531.0);
        // Image width : head width ≥ 7:4, and the cheek width is at most the head's.
        assert!((p.face_width_px.max - w * 4.0 / 7.0).abs() < 0.5);
        assert_eq!(p.face_width_px.min, 0.0);
        // Eye line 50–70 % of the height from the bottom; chin to crown 70–80 %; IED ≥ 90 px.
        assert!((p.eye_line_from_bottom_px.min - 0.5 * h).abs() < 0.5);
        assert!((p.eye_line_from_bottom_px.max - 0.7 * h).abs() < 0.5);
        assert_eq!(p.chin_crown_fraction, Some(Range::new(0.70, 0.80)));
        assert_eq!(p.eye_distance_min_px, Some(90.0));
        // No crown band: none of its sources gives one.
        assert_eq!(p.crown_px, None);
    }

    #[test]
    fn profiles_by_name() {
        for name in Profile::NAMES {
            assert_eq!(Profile::by_name(name).unwrap().name, *name);
        }
        assert!(Profile::by_name("passport").is_none());
    }

    #[test]
    fn scale_is_relative_to_the_canvas() {
        let p = Profile::ga461();
        assert_eq!(p.scale_to(716, 882), (2.0, 2.0));
        assert!(p.face_width_px.scaled(2.0).contains(420.0));
    }

    #[test]
    fn the_files_round_trip_and_refuse_unknown_or_missing_keys() {
        for name in Profile::NAMES {
            let p = Profile::by_name(name).unwrap();
            let again = Profile::from_toml(&toml::to_string(&p).unwrap(), name).unwrap();
            assert_eq!(again, p);
        }
        let text = BUILT_IN[0].1;
        let misspelt = text.replace("roll_max_deg", "rol_max_deg");
        let e = Profile::from_toml(&misspelt, "x").unwrap_err();
        assert_eq!(e.code(), "profile.invalid");
        assert!(e.to_string().contains("rol_max_deg"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tuned.toml");
        std::fs::write(
            &path,
            text.replace("roll_max_deg = 8.0", "roll_max_deg = 6.0"),
        )
        .unwrap();
        let tuned = Profile::load(&path).unwrap();
        assert_eq!(tuned.roll_max_deg, 6.0);
        assert_eq!(
            Profile::load(&dir.path().join("none.toml"))
                .unwrap_err()
                .code(),
            "profile.read"
        );
    }

    /// The built-in ga461 profile file with the keys starting with `prefix` left out, as a file
    /// written before those keys existed.
    fn ga461_file_without(prefix: &str) -> Profile {
        let text: String = BUILT_IN[0]
            .1
            .lines()
            .filter(|l| !l.starts_with(prefix))
            .map(|l| format!("{l}\n"))
            .collect();
        Profile::from_toml(&text, "old").unwrap()
    }

    #[test]
    fn a_profile_file_from_before_the_expression_network_never_fails_on_it() {
        let old = ga461_file_without("happy_");
        assert_eq!((old.happy_max, old.happy_uncertainty), (1.0, 0.0));
        let now = Profile::ga461();
        assert!(now.happy_max < 1.0 && now.happy_uncertainty > 0.0);
    }

    #[test]
    fn a_profile_file_from_before_the_yaw_allowance_keeps_its_old_yaw_limit() {
        let old = ga461_file_without("yaw_allowance_deg");
        assert_eq!(old.yaw_allowance_deg, 0.0);
        assert_eq!(old.yaw_max_deg, 5.0);
        assert_eq!(Profile::ga461().yaw_allowance_deg, 3.0);
    }
}
