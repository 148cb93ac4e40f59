//! The photocheck check engine: photo bytes and a profile in, the result object out.
//!
//! ```text
//! bytes ─ header (format, size, dpi, colour, EXIF) ─ decode (limits, orientation) ─ RGB
//!   RGB ─ BlazeFace (faces) ─ O-Net (5 points) ─ face mesh (468 points) ─ FaceGeometry
//!   RGB + FaceGeometry ─ measure (crown, background, tone, skin, sharpness, noise, blocking)
//!   Observation ─ rules (profile limits, Chinese messages) ─ CheckResult
//! ```
//!
//! The engine does no network or queue I/O: the CLI, the worker and the benches all call
//! [`Engine::check`]. Models run on ONNX Runtime loaded from the shared library the project
//! installs; each calling thread gets its own set of sessions from an internal pool, so
//! `Engine` is `Send + Sync` and photos are checked in parallel by calling it from many threads.
//! A bad photo is never an error: it is a result whose verdict is `fail`.

pub mod annotate;
pub mod checks;
mod coefficients;
mod color;
pub mod decode;
mod error;
pub mod fix;
pub mod header;
pub mod imgops;
pub mod manifest;
pub mod measure;
pub mod models;
pub mod pose;
pub mod profile;
mod scan;

pub use error::EngineError;
pub use profile::{Profile, Range};

use crate::checks::clothing;
use crate::checks::cover;
use crate::checks::{Measures, Observation};
use crate::decode::{DecodeError, DecodeLimits};
use crate::header::Header;
use crate::manifest::Manifest;
use crate::measure::FaceGeometry;
use crate::models::{
    BlazeFace, Detection, FaceApiExpression, FaceMesh, LoadedModel, MediaPipeMesh, ModelSet, ONet,
    Runtime, SelfieSegmentation,
};
use image::RgbImage;
use photocheck_types::{CheckResult, EngineInfo, FaceInfo, Landmarks, Verdict};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Version of the engine, reported in every result.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the engine finds the runtime and the models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Folder with the installed models.
    pub models_dir: PathBuf,
    /// Path of `libonnxruntime.so`.
    pub ort_dylib: PathBuf,
    /// Intra-op threads per session.
    pub intra_threads: usize,
}

impl EngineConfig {
    /// Resolves the paths: the config values when set, else `ORT_DYLIB_PATH` (passed in by the
    /// binary as `ort_dylib_env`) for the runtime, else the defaults under `data_dir`
    /// (`runtime/` and `models/`).
    pub fn resolve(
        models_dir: Option<&Path>,
        ort_dylib: Option<&Path>,
        ort_dylib_env: Option<&Path>,
        intra_threads: usize,
        data_dir: &Path,
    ) -> Result<EngineConfig, EngineError> {
        let manifest = Manifest::builtin()?;
        Ok(EngineConfig {
            models_dir: models_dir
                .map(Path::to_path_buf)
                .unwrap_or_else(|| data_dir.join("models")),
            ort_dylib: ort_dylib
                .or(ort_dylib_env)
                .map(Path::to_path_buf)
                .unwrap_or_else(|| data_dir.join("runtime").join(&manifest.runtime.name)),
            intra_threads: intra_threads.max(1),
        })
    }
}

struct Models {
    front: LoadedModel,
    back: LoadedModel,
    onet: LoadedModel,
    mesh: LoadedModel,
    segment: LoadedModel,
    expression: LoadedModel,
    canonical: Arc<pose::CanonicalFace>,
}

/// The check engine. Create once per process; share by reference or `Arc`.
pub struct Engine {
    runtime: Runtime,
    models: Models,
    pool: Mutex<Vec<ModelSet>>,
    info: EngineInfo,
}

/// A result together with what it was measured on, for annotation and debugging.
///
/// `image`, `faces`, `face` and `measures` are in the pixels of the image that was measured:
/// the decoded photo, or for a large capture its copy near the canvas size (`scale` > 1 is the
/// factor to the photo's pixels, which `result` uses).
pub struct Analysis {
    /// The result object.
    pub result: CheckResult,
    /// The image measured (the decoded photo after orientation, or its working copy).
    pub image: Option<RgbImage>,
    /// Photo pixels per pixel of `image` (1 unless the photo was large).
    pub scale: f32,
    /// Every face found.
    pub faces: Vec<Detection>,
    /// The face measured.
    pub face: Option<FaceGeometry>,
    /// The measurements.
    pub measures: Option<Measures>,
    /// The photo as decoded (oriented) when `image` is a working copy of it, with photo pixels
    /// per decoded pixel; kept only when asked for ([`Engine::analyze_keeping_decode`]), so that
    /// `fix` samples its new photo without decoding the file a second time.
    pub decoded: Option<(RgbImage, f32)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("info", &self.info).finish()
    }
}

impl Engine {
    /// Loads the runtime and the models (checking each model's sha256) and builds one set of
    /// sessions, so a broken installation fails here rather than on the first photo.
    pub fn new(cfg: &EngineConfig) -> Result<Engine, EngineError> {
        let manifest = Manifest::builtin()?;
        let runtime = Runtime::load(&cfg.ort_dylib, cfg.intra_threads)?;
        let load = |role: &str| LoadedModel::load(&cfg.models_dir, manifest.by_role(role)?);
        let canonical_file = load("canonical_face")?;
        let models = Models {
            front: load("face_detector")?,
            back: load("face_detector_small")?,
            onet: load("landmarks")?,
            mesh: load("face_mesh")?,
            segment: load("segmentation")?,
            expression: load("expression")?,
            canonical: Arc::new(pose::CanonicalFace::parse(&canonical_file.bytes)?),
        };
        let mut tags = BTreeMap::new();
        for (role, m) in [
            ("face_detector", &models.front),
            ("face_detector_small", &models.back),
            ("landmarks", &models.onet),
            ("face_mesh", &models.mesh),
            ("segmentation", &models.segment),
            ("expression", &models.expression),
            ("canonical_face", &canonical_file),
        ] {
            tags.insert(role.to_string(), m.entry.tag());
        }
        let engine = Engine {
            runtime,
            models,
            pool: Mutex::new(Vec::new()),
            info: EngineInfo {
                version: VERSION.to_string(),
                models: tags,
            },
        };
        let first = engine.new_set()?;
        engine.release(first);
        Ok(engine)
    }

    /// Engine and model versions, as reported in results.
    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn new_set(&self) -> Result<ModelSet, EngineError> {
        Ok(ModelSet {
            detector: Box::new(BlazeFace::new(&self.runtime, &self.models.front, 128)?),
            detector_small: Box::new(BlazeFace::new(&self.runtime, &self.models.back, 256)?),
            landmarks: Box::new(ONet::new(&self.runtime, &self.models.onet)?),
            mesh: Box::new(MediaPipeMesh::new(&self.runtime, &self.models.mesh)?),
            resizer: fast_image_resize::Resizer::new(),
            segmenter: Box::new(SelfieSegmentation::new(
                &self.runtime,
                &self.models.segment,
            )?),
            expression: Box::new(FaceApiExpression::new(
                &self.runtime,
                &self.models.expression,
            )?),
            canonical: Arc::clone(&self.models.canonical),
        })
    }

    fn acquire(&self) -> Result<ModelSet, EngineError> {
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(set) => Ok(set),
            None => self.new_set(),
        }
    }

    fn release(&self, set: ModelSet) {
        self.pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(set);
    }

    /// Checks one photo. `Err` only for system failures (the runtime failed); a photo that
    /// cannot be read is an `Ok` result with verdict `fail`.
    pub fn check(&self, data: &[u8], profile: &Profile) -> Result<CheckResult, EngineError> {
        self.analyze(data, profile).map(|a| a.result)
    }

    /// Checks one photo and keeps what it was measured on (for `--annotate`).
    pub fn analyze(&self, data: &[u8], profile: &Profile) -> Result<Analysis, EngineError> {
        self.analyze_inner(data, profile, false)
    }

    /// [`Engine::analyze`], and when the photo was measured on a working copy, keeps the photo
    /// as decoded as well ([`Analysis::decoded`]).
    pub fn analyze_keeping_decode(
        &self,
        data: &[u8],
        profile: &Profile,
    ) -> Result<Analysis, EngineError> {
        self.analyze_inner(data, profile, true)
    }

    fn analyze_inner(
        &self,
        data: &[u8],
        profile: &Profile,
        keep_decoded: bool,
    ) -> Result<Analysis, EngineError> {
        let mut set = self.acquire()?;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            analyze_with(&mut set, data, profile, &self.info, keep_decoded)
        }));
        match outcome {
            Ok(result) => {
                self.release(set);
                result
            }
            // The sessions may be mid-run: drop them and let the next call build fresh ones.
            Err(panic) => Err(EngineError::Panic(panic_message(&panic))),
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e5).round() / 100.0
}

/// Faces narrower than this share of the image width send the photo to the small-face model.
const SMALL_FACE: f32 = 0.25;

fn detect_faces(set: &mut ModelSet, img: &RgbImage) -> Result<Vec<Detection>, EngineError> {
    let mut faces = set.detector.detect(img)?;
    let w = img.width() as f32;
    if faces.is_empty() || faces.iter().all(|f| f.width() < SMALL_FACE * w) {
        let mut more = set.detector_small.detect(img)?;
        more.extend(faces);
        faces = models::weighted_nms(more, 0.3);
    }
    // A face must be a sensible size for a portrait (ignores specks in busy backgrounds).
    faces.retain(|f| f.width() >= 0.06 * w);
    Ok(faces)
}

/// A face the frame cuts off: a face too large for the photo, or too far off-centre, is often
/// not found at all, because the detectors were trained on whole faces. When none was found,
/// the photo is set in a white margin (what a wider shot would show against a white backdrop)
/// and searched again; one face found there whose box crosses
/// the photo's edges is that face. Returns its box `[x0, y0, x1, y1]` in the photo's (working
/// copy's) pixels, reaching outside `0..w`, `0..h`.
fn face_beyond_frame(set: &mut ModelSet, img: &RgbImage) -> Result<Option<[f32; 4]>, EngineError> {
    let (w, h) = img.dimensions();
    // Half the photo's size on each side first, then more when that finds nothing (a face
    // cut to its middle third needs more room around it to look like a face to the detector).
    for (mx, my) in [(w / 2, h / 2), (w, h)] {
        let mut padded = RgbImage::from_pixel(w + 2 * mx, h + 2 * my, image::Rgb([255, 255, 255]));
        image::imageops::replace(&mut padded, img, i64::from(mx), i64::from(my));
        let faces = detect_faces(set, &padded)?;
        let [face] = faces.as_slice() else {
            continue;
        };
        let (mx, my) = (mx as f32, my as f32);
        let b = [
            face.bbox[0] - mx,
            face.bbox[1] - my,
            face.bbox[2] - mx,
            face.bbox[3] - my,
        ];
        // Crossing an edge by 2 % of the width: a face merely near an edge is found without
        // help.
        let margin = 0.02 * w as f32;
        let crosses = b[0] < -margin
            || b[1] < -margin
            || b[2] > w as f32 + margin
            || b[3] > h as f32 + margin;
        if crosses {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// The face geometry from the mesh; the mesh's points move into it (no copy) for the subject
/// measures.
fn geometry_from_mesh(
    det: &Detection,
    mesh: FaceMesh,
    canonical: &pose::CanonicalFace,
) -> FaceGeometry {
    use models::mesh_idx as idx;
    FaceGeometry {
        pose: pose::head_pose(&mesh.points, canonical),
        bbox: det.bbox,
        score: det.score,
        left_eye: mesh.left_eye(),
        right_eye: mesh.right_eye(),
        nose: mesh.xy(idx::NOSE_TIP),
        mouth: [mesh.xy(idx::MOUTH[0]), mesh.xy(idx::MOUTH[1])],
        cheeks: [mesh.xy(idx::CHEEK_LEFT), mesh.xy(idx::CHEEK_RIGHT)],
        chin: mesh.xy(idx::CHIN),
        oval: measure::FACE_OVAL.iter().map(|&i| mesh.xy(i)).collect(),
        mesh: mesh.points,
    }
}

/// Share of pixels whose channels differ by more than 12 (sampled on a grid).
fn colourful_share(img: &RgbImage) -> f32 {
    let (mut n, mut c) = (0u32, 0u32);
    for p in img.as_raw().chunks_exact(3).step_by(3) {
        let lo = p[0].min(p[1]).min(p[2]);
        let hi = p[0].max(p[1]).max(p[2]);
        n += 1;
        c += u32::from(hi - lo > 12);
    }
    c as f32 / n.max(1) as f32
}

/// Mesh presence below which the landmarks are not trusted.
const MESH_PRESENCE_MIN: f32 = 0.5;

fn analyze_with(
    set: &mut ModelSet,
    data: &[u8],
    profile: &Profile,
    info: &EngineInfo,
    keep_decoded: bool,
) -> Result<Analysis, EngineError> {
    let t0 = Instant::now();
    let mut timings = BTreeMap::new();
    let limits = DecodeLimits {
        max_dimension: profile.max_dimension,
        max_pixels: profile.max_pixels,
    };
    let header: Result<Header, DecodeError> = header::read_header(data).map_err(DecodeError::from);
    // A large JPEG is decoded reduced, once, with its luma plane kept for the face's own
    // resolution (see `decode_reduced_with_luma`).
    let mut scale = 1.0;
    let mut luma_plane = None;
    let decoded = match &header {
        Ok(h) => {
            decode::check_size(h, limits).and_then(|()| {
                match decode::decode_reduced_with_luma(data, h, limits, profile.canvas) {
                    Some((d, k, plane)) => {
                        scale = k;
                        luma_plane = plane;
                        Ok(d)
                    }
                    None => decode::decode(data, h.clone(), limits),
                }
            })
        }
        Err(e) => Err(e.clone()),
    };
    timings.insert("decode".to_string(), ms(t0));
    let header = header.ok();
    let (image, decode_error) = match decoded {
        Ok(d) => (Some(d.rgb), None),
        Err(e) => (None, Some(e)),
    };

    // Large captures are checked on a copy near the profile's canvas size: the models and the
    // measures cost in proportion to pixels, and GA 461 judges the photo at canvas size anyway.
    let original_size = match (&image, &header) {
        (Some(_), Some(h)) if scale > 1.0 => Some(h.oriented_size()),
        (Some(i), _) => Some(i.dimensions()),
        (None, _) => None,
    };
    // A photo decoded at its own size and then shrunk is kept until its face region has been
    // measured at that size (`native_quality`); one decoded reduced is not its own size.
    let decoded_full_size = scale == 1.0;
    let decode_unit = scale;
    let mut full = None;
    let mut reduced = None;
    let image = image.map(|img| {
        let t = Instant::now();
        let (work, k) = working_copy(set, &img, profile.canvas);
        match work {
            Some(work) => {
                scale *= k;
                timings.insert("resize".to_string(), ms(t));
                if decoded_full_size {
                    full = Some(img);
                } else if keep_decoded {
                    reduced = Some(img);
                }
                work
            }
            None => img,
        }
    });

    let mut faces = Vec::new();
    let mut face = None;
    let mut five = None;
    let mut measures = None;
    let mut colourful = None;
    let mut beyond = None;
    if let Some(img) = &image {
        let t = Instant::now();
        faces = detect_faces(set, img)?;
        if faces.is_empty() {
            beyond = face_beyond_frame(set, img)?;
        }
        timings.insert("detect".to_string(), ms(t));
        if faces.len() == 1 {
            let t = Instant::now();
            let det = faces[0];
            // O-Net's eyes level the mesh crop (0.3 ms; steadier than the detector's
            // keypoints, so mirror images measure alike).
            let points = set.landmarks.refine(img, &det)?;
            let mesh = set
                .mesh
                .mesh(img, det.bbox, points.points[0], points.points[1])?;
            if mesh.presence >= MESH_PRESENCE_MIN {
                face = Some(geometry_from_mesh(&det, mesh, &set.canonical));
            }
            five = Some(points);
            timings.insert("landmarks".to_string(), ms(t));
        }
        let t = Instant::now();
        colourful = Some(colourful_share(img));
        let (mut m, backdrop) = measure_all_with_mask(img, face.as_ref());
        timings.insert("measure".to_string(), ms(t));
        // Glasses, coverings and occlusion need the person apart from the backdrop: on a
        // clean backdrop the background fill already gives it; otherwise the segmentation
        // model does (checks/cover.rs).
        if let Some(f) = &face {
            let t = Instant::now();
            m.cover = if clean_backdrop(&m.background, profile) {
                cover::run_on_backdrop(img, f, &backdrop, &m.background)
            } else {
                cover::run(set.segmenter.as_mut(), img, f, &m.background)?
            };
            timings.insert("cover".to_string(), ms(t));
            // The expression network reads the smiles the mesh's mouth shape misses.
            if let Some(s) = m.subject.as_mut() {
                let t = Instant::now();
                let second_look = (profile.happy_max - profile.happy_uncertainty) as f32;
                s.happy = Some(set.expression.read(img, f, second_look)?.happy);
                timings.insert("expression".to_string(), ms(t));
            }
            // The top below the neck (checks/clothing.rs).
            if clothing::top_in_frame(f, img.height()) {
                let t = Instant::now();
                let plain = clothing::measure(img, f, None, &m.background, m.skin.as_ref());
                m.clothing = Some(if clothing::decided_without_mask(&plain, profile) {
                    plain
                } else {
                    let mask = set.segmenter.segment(img, clothing::torso_crop(f))?;
                    clothing::measure(img, f, Some(&mask), &m.background, m.skin.as_ref())
                });
                if m.clothing
                    .as_ref()
                    .is_some_and(|c| clothing::merges_with_backdrop(c, profile))
                {
                    m.backdrop = m.background;
                }
                timings.insert("clothing".to_string(), ms(t));
            }
        }
        if scale > 1.0 {
            if let Some(f) = &face {
                let t = Instant::now();
                let q = native_quality(
                    data,
                    header.as_ref(),
                    full.as_ref(),
                    luma_plane.as_ref(),
                    f,
                    scale,
                );
                if let Some(q) = q {
                    m.noise = q.noise;
                    m.blockiness = q.blockiness;
                }
                timings.insert("native".to_string(), ms(t));
            }
        }
        measures = Some(m);
    }

    drop(luma_plane);
    let decoded = if keep_decoded {
        full.or(reduced).map(|img| (img, decode_unit))
    } else {
        drop(full);
        None
    };

    let t = Instant::now();
    // The rules and the result speak in pixels of the submitted photo.
    let (face_px, measures_px) = if scale > 1.0 {
        (
            face.as_ref().map(|f| f.scaled(scale)),
            measures.as_ref().map(|m| Measures {
                crown: m.crown.map(|c| c * scale),
                ..m.clone()
            }),
        )
    } else {
        (None, None)
    };
    let obs = Observation {
        file_len: data.len(),
        header: header.as_ref(),
        decode_error: decode_error.as_ref(),
        size: original_size,
        colourful,
        face_count: image.as_ref().map(|_| faces.len()),
        face: face_px.as_ref().or(face.as_ref()),
        measures: measures_px.as_ref().or(measures.as_ref()),
        beyond_frame: beyond.map(|b: [f32; 4]| b.map(|v| v * scale)),
    };
    let checks = checks::evaluate(&obs, profile);
    timings.insert("rules".to_string(), ms(t));
    timings.insert("total".to_string(), ms(t0));

    let unscale = |p: [f32; 2]| [p[0] * scale, p[1] * scale];
    let five = five.map(|mut p: models::FivePoints| {
        p.points = p.points.map(unscale);
        p
    });
    let face_info = match (faces.len(), face_px.as_ref().or(face.as_ref()), five) {
        (1, Some(g), _) => Some(FaceInfo {
            bbox: bbox_xywh(g.bbox),
            score: g.score,
            landmarks: Landmarks {
                left_eye: g.left_eye,
                right_eye: g.right_eye,
                nose: g.nose,
                mouth_left: g.mouth[0],
                mouth_right: g.mouth[1],
            },
        }),
        (1, None, Some(p)) => Some(FaceInfo {
            bbox: bbox_xywh(faces[0].bbox.map(|v| v * scale)),
            score: faces[0].score,
            landmarks: Landmarks {
                left_eye: p.points[0],
                right_eye: p.points[1],
                nose: p.points[2],
                mouth_left: p.points[3],
                mouth_right: p.points[4],
            },
        }),
        _ => None,
    };
    let result = CheckResult {
        id: None,
        application_id: None,
        window_id: None,
        submitted_at: None,
        checked_at: None,
        source: None,
        profile: profile.name.clone(),
        verdict: Verdict::from_checks(&checks),
        checks,
        face: face_info.map(round_face),
        engine: info.clone(),
        timings_ms: timings,
        fix: None,
    };
    Ok(Analysis {
        result,
        image,
        scale,
        faces,
        face,
        measures,
        decoded,
    })
}

/// Share of the border band the fill must reach for the backdrop to count as clean.
const CLEAN_COVERAGE: f32 = 0.9;

/// A backdrop the background checks accept with margin: even, light, neutral and reaching
/// nearly all of the border, so the fill's region is the backdrop and nothing else.
fn clean_backdrop(b: &measure::BackgroundStats, p: &Profile) -> bool {
    b.coverage >= CLEAN_COVERAGE
        && f64::from(b.lightness) >= p.background_lightness_min
        && f64::from(b.chroma) <= p.background_chroma_max
        && f64::from(b.shadow_drop) <= p.background_shadow_max
}

/// Photos with more than this many times the canvas's pixels are checked on a smaller copy.
const LARGE_PHOTO: f32 = 4.0;

/// For a large capture, a copy scaled (area-correct, SIMD) so that it just covers the canvas,
/// with the factor from copy pixels to photo pixels; `None` when the photo is checked as it is.
fn working_copy(set: &mut ModelSet, img: &RgbImage, canvas: (u32, u32)) -> (Option<RgbImage>, f32) {
    let (w, h) = img.dimensions();
    let area = |a: u32, b: u32| a as f32 * b as f32;
    if area(w, h) <= LARGE_PHOTO * area(canvas.0, canvas.1) {
        return (None, 1.0);
    }
    let k = (w as f32 / canvas.0 as f32).min(h as f32 / canvas.1 as f32);
    if k <= 1.0 {
        return (None, 1.0);
    }
    let (sw, sh) = (
        ((w as f32 / k).round() as u32).max(1),
        ((h as f32 / k).round() as u32).max(1),
    );
    let small = imgops::shrink(&mut set.resizer, img, sw, sh);
    // The exact factor per axis differs from k by rounding only; use the width's.
    (Some(small), w as f32 / sw as f32)
}

/// Noise and JPEG blocking measured where they arise: at the photo's own resolution.
#[derive(Debug, Clone, Copy, PartialEq)]
struct NativeQuality {
    noise: f32,
    blockiness: f32,
}

/// Most pixels on a side of the region measured at full resolution: a million pixels hold
/// plenty of 8 × 8 blocks and noise samples, and the cost stays flat on a 25 MP capture.
const NATIVE_SIDE_MAX: f32 = 1024.0;

/// The face region of a large capture, in the pixels of the photo as shown: the face outline's
/// box with a margin of 15 % of the face width on each side (the hairline, the ears, a little
/// backdrop), or its middle [`NATIVE_SIDE_MAX`] pixels a side on a larger face.
fn native_region(face: &FaceGeometry, scale: f32) -> [f32; 4] {
    let b = oval_bbox(&face.oval);
    let m = 0.15 * face.face_width();
    let [x0, y0, x1, y1] = [b[0] - m, b[1] - m, b[2] + m, b[3] + m].map(|v| v.max(0.0) * scale);
    let half = NATIVE_SIDE_MAX / 2.0;
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    [
        x0.max(cx - half),
        y0.max(cy - half),
        x1.min(cx + half),
        y1.min(cy + half),
    ]
}

/// Sensor noise and JPEG blocking of a large capture, measured on its face region at the
/// photo's own resolution: the working copy averages 2–8 × 2–8 pixels into one, which divides
/// noise σ by as much and puts several 8 × 8 blocks into one pixel (issue 21). `full`, the
/// photo as decoded at its own size, is cropped where its 8 × 8 grid starts at the top-left (any
/// format but a JPEG turned by EXIF); otherwise a JPEG's luma plane, kept from its decode
/// (`plane`) or decoded again to greyscale (`decode::jpeg_luma_crop`), is cropped on its stored
/// frame's grid. `None` when none can give the region: the working copy's measures then stand.
fn native_quality(
    data: &[u8],
    header: Option<&Header>,
    full: Option<&RgbImage>,
    plane: Option<&decode::LumaPlane>,
    face: &FaceGeometry,
    scale: f32,
) -> Option<NativeQuality> {
    let region = native_region(face, scale);
    let jpeg = header.filter(|h| h.format == header::Format::Jpeg);
    let grid_at_origin = jpeg.is_none_or(|h| h.orientation <= 1);
    let luma = match full.filter(|_| grid_at_origin) {
        Some(img) => {
            let (w, h) = img.dimensions();
            let x0 = (region[0] as u32).min(w) / 8 * 8;
            let y0 = (region[1] as u32).min(h) / 8 * 8;
            let x1 = (region[2].ceil() as u32).min(w);
            let y1 = (region[3].ceil() as u32).min(h);
            if x1 <= x0 + 16 || y1 <= y0 + 16 {
                return None;
            }
            measure::Luma::of(&image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image())
        }
        None => {
            let h = jpeg?;
            let r = decode::oriented_rect_to_stored(region, h.orientation, h.width, h.height);
            let r = r.map(|v| v.round() as u32);
            let c = match plane {
                Some(p) => p.crop(r)?,
                None => decode::jpeg_luma_crop(data, h, r)?,
            };
            measure::Luma::of_grey(&c.luma, c.width as usize, c.height as usize)
        }
    };
    Some(NativeQuality {
        noise: measure::noise_sigma(&luma),
        blockiness: measure::blockiness(&luma),
    })
}

fn bbox_xywh(b: [f32; 4]) -> [f32; 4] {
    [b[0], b[1], b[2] - b[0], b[3] - b[1]]
}

fn round_face(mut f: FaceInfo) -> FaceInfo {
    let r = |v: f32| (v * 10.0).round() / 10.0;
    let rp = |p: [f32; 2]| [r(p[0]), r(p[1])];
    f.bbox = f.bbox.map(r);
    f.score = (f.score * 1000.0).round() / 1000.0;
    let l = &mut f.landmarks;
    l.left_eye = rp(l.left_eye);
    l.right_eye = rp(l.right_eye);
    l.nose = rp(l.nose);
    l.mouth_left = rp(l.mouth_left);
    l.mouth_right = rp(l.mouth_right);
    f
}

/// Every measurement the rules need, on a decoded photo and its face (if one was measured), and
/// the background region it measured.
pub fn measure_all_with_mask(
    img: &RgbImage,
    face: Option<&FaceGeometry>,
) -> (Measures, measure::BackgroundMask) {
    let (w, h) = img.dimensions();
    let limit = face.map_or(h as f32, |f| f.chin[1].clamp(2.0, h as f32));
    let bg_ref = measure::border_reference(img, limit as u32);
    // One luma plane for the whole-image measures.
    let luma = measure::Luma::of(img);
    let noise = measure::noise_sigma(&luma);
    let measure::Backdrop {
        behind_head: background,
        whole: backdrop,
        mask,
    } = measure::backdrop(img, bg_ref, limit);
    let subject = face.and_then(|f| checks::subject::subject(img, &f.mesh, f.pose));
    let (crown, tone, skin, sharpness) = match face {
        Some(f) => {
            let fw = f.face_width();
            let reach = ((8.0 * fw / 207.0).round() as u32).max(2);
            // Faint differences must stand clear of the noise (σ on luma, per-channel larger).
            let faint = (8.0 * noise).clamp(24.0, 200.0) as u8;
            let crown = measure::crown_row(
                img,
                bg_ref,
                (
                    f.cheeks[0][0].min(f.cheeks[1][0]),
                    f.cheeks[0][0].max(f.cheeks[1][0]),
                ),
                f.eye_mid()[1],
                reach,
                faint,
            );
            let ob = oval_bbox(&f.oval);
            (
                crown,
                measure::face_tone(&luma, &f.oval).map(|t| measure::FaceTone {
                    eye_white: measure::eye_white(&luma, &f.mesh),
                    ..t
                }),
                measure::skin(img, f),
                measure::sharpness(&luma, ob, fw / 207.0),
            )
        }
        None => (None, None, None, None),
    };
    let _ = w;
    let measures = Measures {
        crown,
        background,
        backdrop,
        tone,
        skin,
        sharpness,
        noise,
        blockiness: measure::blockiness(&luma),
        subject,
        cover: None,
        clothing: None,
    };
    (measures, mask)
}

fn oval_bbox(poly: &[[f32; 2]]) -> [f32; 4] {
    let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for p in poly {
        b[0] = b[0].min(p[0]);
        b[1] = b[1].min(p[1]);
        b[2] = b[2].max(p[0]);
        b[3] = b[3].max(p[1]);
    }
    b
}
