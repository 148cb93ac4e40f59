//! photocheck's benchmarks: the harnesses behind `photocheck bench engine` ([`engine_bench`])
//! and `photocheck bench pipeline` ([`pipeline_bench`]: the real API, a Garage store and worker
//! processes), and the shared set-up of the criterion benchmarks (the installed engine and the
//! fixture photos, below).
//!
//! Run `cargo bench -p photocheck-bench` (after `photocheck models fetch`). Every figure is
//! single-threaded: the engine runs one photo on one core with one ONNX intra-op thread, so
//! photos/s here is photos per core; a worker scales by running one photo per core.

pub mod engine_bench;
pub mod pipeline_bench;

use photocheck_engine::{Engine, EngineConfig};
use std::path::PathBuf;

/// The fixtures folder (`PHOTOCHECK_FIXTURES`, else `<repo>/../shared/fixtures`).
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("PHOTOCHECK_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"))
}

/// Bytes of the fixtures whose names start with `prefix`, sorted by name.
pub fn photos(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".jpg"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(fixtures_dir().join(&n)).expect("readable fixture");
            (n, bytes)
        })
        .collect()
}

/// Where the default installation keeps the runtime and models: the same resolution as the
/// `photocheck` binary (config defaults, `ORT_DYLIB_PATH`, then the data folder).
pub fn engine_config() -> EngineConfig {
    let config = photocheck_config::Config::default();
    let data_dir = photocheck_config::data_dir_from_env();
    let env_dylib = photocheck_config::ort_dylib_from_env();
    EngineConfig::resolve(
        config.engine.models_dir.as_deref(),
        config.engine.ort_dylib.as_deref(),
        env_dylib.as_deref(),
        1,
        &data_dir,
    )
    .expect("built-in manifest")
}

/// The engine from the default installation.
pub fn engine() -> Engine {
    Engine::new(&engine_config()).expect("engine installed: run `photocheck models fetch`")
}

/// A 4000 × 3000 JPEG (quality 90) like a counter camera's capture, made here from a compliant
/// fixture: the photo scaled up 6.8× onto a light backdrop, with mild sensor noise so the file
/// has a camera's entropy (about 2–3 MB). Nothing third-party is stored; it is built per run.
/// Encoded by `image` with full-resolution chroma (4:4:4), the harder case for a decoder.
pub fn camera_capture() -> Vec<u8> {
    let img = camera_pixels();
    let mut out = Vec::new();
    img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
        &mut out, 90,
    ))
    .expect("encode");
    out
}

/// The same capture as cameras write it: libjpeg-turbo, quality 90, chroma halved both ways
/// (4:2:0), about 2.1 MB.
pub fn camera_capture_420() -> Vec<u8> {
    let img = camera_pixels();
    let (w, h) = img.dimensions();
    let jpeg = turbojpeg::compress(
        turbojpeg::Image {
            pixels: img.as_raw().as_slice(),
            width: w as usize,
            pitch: w as usize * 3,
            height: h as usize,
            format: turbojpeg::PixelFormat::RGB,
        },
        90,
        turbojpeg::Subsamp::Sub2x2,
    )
    .expect("encode");
    jpeg.to_vec()
}

fn camera_pixels() -> image::RgbImage {
    let (_, bytes) = photos("pass__pass_064_0").remove(0);
    let small = image::load_from_memory(&bytes)
        .expect("fixture decodes")
        .to_rgb8();
    let (w, h) = (4000u32, 3000u32);
    let scaled = image::imageops::resize(&small, 2435, 3000, image::imageops::FilterType::Triangle);
    let x0 = (w - scaled.width()) / 2;
    let mut state = 0x2545_F491_u32;
    image::RgbImage::from_fn(w, h, |x, y| {
        // xorshift noise, ±6 levels.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 13) as i16 - 6;
        let p = if x >= x0 && x < x0 + scaled.width() {
            *scaled.get_pixel(x - x0, y)
        } else {
            image::Rgb([250, 250, 250])
        };
        image::Rgb(p.0.map(|c| (i16::from(c) + n).clamp(0, 255) as u8))
    })
}
