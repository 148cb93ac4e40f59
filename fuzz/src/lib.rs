//! photocheck's fuzz targets, one function each over the raw input bytes. The libFuzzer binary
//! (`src/main.rs`) calls the one named by `PHOTOCHECK_FUZZ_TARGET`; `replay` runs a file through
//! the same function outside the fuzzer (for regressions).
//!
//! A target "crashes" on a panic (libfuzzer-sys aborts in its panic hook, before any
//! `catch_unwind` in the engine can hide it), on an allocation above the limit
//! (`PHOTOCHECK_FUZZ_MALLOC_LIMIT_MB`, see `alloc.rs`), and on a broken invariant asserted here.

pub mod alloc;
pub mod seeds;

use photocheck_engine::decode::{self, DecodeLimits};
use photocheck_engine::header;
use photocheck_profile::Profile;
use std::sync::OnceLock;

/// A fuzz target: name, one-line description, function.
pub type Target = (&'static str, &'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("header", "header::read_header", fuzz_header),
    ("decode", "decode::probe + decode::decode (image crate)", fuzz_decode),
    (
        "decode_reduced",
        "decode::decode_reduced, decode_reduced_with_luma and jpeg_luma_crop (libjpeg-turbo)",
        fuzz_decode_reduced,
    ),
    (
        "engine",
        "Engine::check with the ONNX models (ga461)",
        fuzz_engine,
    ),
    (
        "engine_rules",
        "the engine's decode + measure + rules path without models",
        fuzz_engine_rules,
    ),
    (
        "job",
        "JobMessage JSON + the worker's scope checks",
        fuzz_job,
    ),
    (
        "upload",
        "POST /v1/photos through the API router (multipart/raw)",
        fuzz_upload,
    ),
    ("config", "Config::load on a TOML file", fuzz_config),
];

/// The function of target `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|t| t.0 == name).map(|t| t.2)
}

fn profile() -> &'static Profile {
    static P: OnceLock<Profile> = OnceLock::new();
    P.get_or_init(Profile::ga461)
}

/// The production limits (the ga461 profile's).
fn limits() -> DecodeLimits {
    let p = profile();
    DecodeLimits {
        max_dimension: p.max_dimension,
        max_pixels: p.max_pixels,
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Header parser

pub fn fuzz_header(data: &[u8]) {
    if let Ok(h) = header::read_header(data) {
        assert!(
            (1..=8).contains(&h.orientation),
            "orientation {} outside 1-8",
            h.orientation
        );
        let _ = h.oriented_size();
        let _ = h.jpeg_quality();
        let _ = h.format.name();
        let _ = h.color.name();
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Decoders

pub fn fuzz_decode(data: &[u8]) {
    let limits = limits();
    let Ok(h) = decode::probe(data, limits) else {
        return;
    };
    if let Ok(d) = decode::decode(data, h, limits) {
        let (w, ht) = d.rgb.dimensions();
        assert!(
            w <= limits.max_dimension
                && ht <= limits.max_dimension
                && u64::from(w) * u64::from(ht) <= limits.max_pixels,
            "decoded {w}x{ht} beyond the limits"
        );
    }
}

pub fn fuzz_decode_reduced(data: &[u8]) {
    let limits = limits();
    let Ok(h) = decode::probe(data, limits) else {
        return;
    };
    // The profile's canvas (the production call), and a tiny one so that small inputs reach
    // libjpeg-turbo's scaled decoding too (it needs a frame at least twice `cover`).
    for cover in [profile().canvas, (4, 4)] {
        let plain = decode::decode_reduced(data, &h, limits, cover);
        let planes = decode::decode_reduced_with_luma(data, &h, limits, cover);
        // Where both decode, they choose the same reduced size.
        if let (Some((a, ka)), Some((b, kb, _))) = (&plain, &planes) {
            assert_eq!((a.rgb.dimensions(), ka), (b.rgb.dimensions(), kb));
        }
        if let Some((d, k)) = plain {
            let (w, ht) = d.rgb.dimensions();
            let (ow, oh) = h.oriented_size();
            assert!(k >= 1.0, "scale {k} below 1");
            assert!(
                w <= ow && ht <= oh && w >= cover.0.min(ow) && ht >= cover.1.min(oh),
                "reduced {w}x{ht} of {ow}x{oh} does not cover {cover:?}"
            );
        }
        if let Some((_, _, Some(plane))) = planes {
            assert!(plane.luma.len() >= plane.stride * plane.height as usize);
            assert!(plane.stride >= plane.width as usize);
        }
    }
    // The full-resolution luma crop of a large capture's face region (libjpeg-turbo's
    // greyscale decode, then a crop): a rectangle from the input's last bytes.
    let b = |i: usize| u32::from(data.get(data.len().wrapping_sub(i)).copied().unwrap_or(0));
    let (x, y) = (b(1) * h.width / 255, b(2) * h.height / 255);
    let rect = [x, y, x + 16 + b(3) * 8, y + 16 + b(4) * 8];
    if let Some(c) = decode::jpeg_luma_crop(data, &h, rect) {
        assert_eq!(c.luma.len(), c.width as usize * c.height as usize);
        assert!(
            c.x <= rect[0] && c.y <= rect[1] && c.x % 8 == 0 && c.y % 8 == 0,
            "crop at ({}, {}) for {rect:?}",
            c.x,
            c.y
        );
        assert!(c.x + c.width <= h.width && c.y + c.height <= h.height);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. The whole engine

fn engine() -> &'static photocheck_engine::Engine {
    static E: OnceLock<photocheck_engine::Engine> = OnceLock::new();
    E.get_or_init(|| {
        let data_dir = photocheck_config::data_dir_from_env();
        let env = photocheck_config::ort_dylib_from_env();
        let cfg =
            photocheck_engine::EngineConfig::resolve(None, None, env.as_deref(), 1, &data_dir)
                .expect("engine config");
        photocheck_engine::Engine::new(&cfg).unwrap_or_else(|e| {
            panic!(
                "the engine target needs the models (photocheck models fetch) under {}: {e}",
                data_dir.display()
            )
        })
    })
}

/// Loads the models now (so the first input is not charged for it).
pub fn init_engine() {
    let _ = engine();
}

pub fn fuzz_engine(data: &[u8]) {
    // `Err` is a system failure (the runtime failed, or a panic the engine caught): a finding.
    let result = engine().check(data, profile());
    if let Err(e) = result {
        panic!("engine error: {e}");
    }
}

pub fn fuzz_engine_rules(data: &[u8]) {
    use photocheck_engine::checks::{self, Observation};
    let p = profile();
    let limits = limits();
    let header = header::read_header(data).map_err(decode::DecodeError::from);
    let mut scale = 1.0;
    let decoded = match &header {
        Ok(h) => decode::check_size(h, limits).and_then(|()| {
            match decode::decode_reduced(data, h, limits, p.canvas) {
                Some((d, k)) => {
                    scale = k;
                    Ok(d)
                }
                None => decode::decode(data, h.clone(), limits),
            }
        }),
        Err(e) => Err(e.clone()),
    };
    let header = header.ok();
    let (image, decode_error) = match decoded {
        Ok(d) => (Some(d.rgb), None),
        Err(e) => (None, Some(e)),
    };
    let size = match (&image, &header) {
        (Some(_), Some(h)) if scale > 1.0 => Some(h.oriented_size()),
        (Some(i), _) => Some(i.dimensions()),
        (None, _) => None,
    };
    let measures = image
        .as_ref()
        .map(|img| photocheck_engine::measure_all_with_mask(img, None).0);
    let obs = Observation {
        file_len: data.len(),
        header: header.as_ref(),
        decode_error: decode_error.as_ref(),
        size,
        colourful: image.as_ref().map(|_| 0.0),
        face_count: image.as_ref().map(|_| 0),
        face: None,
        measures: measures.as_ref(),
        // A face beyond the frame, from the input's first bytes (any box, inside out included).
        beyond_frame: data.get(..4).map(|b| {
            let v = |i: usize| f32::from(b[i]) * 4.0 - 256.0;
            [v(0), v(1), v(2), v(3)]
        }),
    };
    let checks = checks::evaluate(&obs, p);
    assert!(!checks.is_empty(), "no checks for an input");
}

// ---------------------------------------------------------------------------------------------
// 4. Job messages

/// The worker's bucket in the fuzz runs.
const BUCKET: &str = "photocheck";

/// A copy of `parse_job` in workers/pipeline/src/worker.rs (private there): the JSON through
/// serde, then the same scope checks. Keep in step with that function.
pub fn parse_job(data: &[u8], bucket: &str) -> Option<photocheck_types::JobMessage> {
    let job: photocheck_types::JobMessage = serde_json::from_slice(data).ok()?;
    if job.id.is_empty() || job.bucket.is_empty() || job.key.is_empty() || job.bucket != bucket {
        return None;
    }
    let safe = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let in_scope = match job
        .key
        .strip_prefix("photos/")
        .and_then(|k| k.split_once('/'))
    {
        Some((window, id)) => {
            safe(window)
                && safe(id)
                && id == job.id
                && job.window_id.as_deref().is_none_or(|w| w == window)
        }
        None => false,
    };
    in_scope.then_some(job)
}

pub fn fuzz_job(data: &[u8]) {
    let Some(job) = parse_job(data, BUCKET) else {
        return;
    };
    // An accepted job names exactly photos/<window>/<id>: nothing the result or the lock
    // derive from it can leave that prefix.
    let (window, id) = job.key["photos/".len()..].split_once('/').unwrap();
    assert_eq!(photocheck_pipeline::store::photo_key(window, id), job.key);
    assert!(!window.contains("..") && !id.contains('/'));
    // It survives the trip the worker makes through JSON (dead-letter copies, redeliveries).
    let again = serde_json::to_vec(&job).unwrap();
    let back: photocheck_types::JobMessage = serde_json::from_slice(&again).unwrap();
    assert_eq!(back, job);
}

// ---------------------------------------------------------------------------------------------
// 5. The upload parser (API)

/// The token of the one window in the fuzz configuration.
pub const UPLOAD_TOKEN: &str = "fuzz-token-0123456789abcdef";

struct Api {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
}

fn api() -> &'static Api {
    static A: OnceLock<Api> = OnceLock::new();
    A.get_or_init(|| {
        let mut config = photocheck_config::Config::default();
        config
            .api
            .tokens
            .insert("win-1".into(), UPLOAD_TOKEN.into());
        config
            .api
            .window_profiles
            .insert("win-1".into(), vec!["ga461".into(), "icao".into()]);
        // No rate limit: every input reaches the body parser.
        config.api.window_rate_per_s = 0.0;
        config.api.body_timeout_s = 1;
        // Storage and broker on closed local ports, with tiny timeouts: a fully parsed upload
        // fails fast with 503 when it is stored.
        config.s3.endpoint = "http://127.0.0.1:9".into();
        config.s3.timeout_ms = 50;
        config.s3.max_attempts = 1;
        config.s3.create_bucket = false;
        config.amqp.url = "amqp://guest:guest@127.0.0.1:9/%2f".into();
        config.amqp.connect_timeout_ms = 50;
        config.amqp.confirm_timeout_ms = 50;
        config.audit.path = "off".into();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let state = {
            let _guard = rt.enter();
            photocheck_pipeline::api::ApiState::new(&config, photocheck_pipeline::Metrics::new())
                .expect("api state")
        };
        let router = photocheck_pipeline::api::router(
            std::sync::Arc::new(state),
            config.api.max_body_bytes,
        );
        Api { rt, router }
    })
}

/// Builds the request of an input: lines before the first empty line are headers
/// (`Name: value`; `Content-Type` defaults to none, `Authorization` to the window's token, and an
/// `Authorization` line replaces it), the rest is the body. An input with no empty line is all
/// body with `Content-Type: multipart/form-data; boundary=B`.
pub fn upload_request(data: &[u8]) -> Option<axum::http::Request<axum::body::Body>> {
    use axum::http::{header, Method, Request};
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body): (&[u8], &[u8]) = match split {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (b"Content-Type: multipart/form-data; boundary=B", data),
    };
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/v1/photos");
    let mut auth = Some(format!("Bearer {UPLOAD_TOKEN}"));
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = header::HeaderName::from_bytes(line[..colon].trim_ascii()).ok()?;
        let value = header::HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
        if name == header::AUTHORIZATION {
            auth = None;
        }
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            // The body is handed over whole; hyper would have checked these on a socket.
            continue;
        }
        req = req.header(name, value);
    }
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    req.body(axum::body::Body::from(body.to_vec())).ok()
}

pub fn fuzz_upload(data: &[u8]) {
    use tower::ServiceExt;
    let Some(req) = upload_request(data) else {
        return;
    };
    let api = api();
    let router = api.router.clone();
    let status = api
        .rt
        .block_on(async move { router.oneshot(req).await })
        .map(|r| r.status())
        .expect("the router is infallible");
    // Parsing failures are 4xx; a parsed upload fails at the closed store with 503. A 500
    // would be a handler that mistook bad input for a system fault.
    assert!(
        status != axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "500 for an upload"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. The configuration loader

pub fn fuzz_config(data: &[u8]) {
    use std::io::Write;
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("photocheck-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("photocheck.toml")
    });
    {
        let mut f = std::fs::File::create(path).expect("config file");
        f.write_all(data).expect("write config");
    }
    if let Ok(config) = photocheck_config::Config::load(Some(path)) {
        let _ = config.security_warnings();
        for url in [&config.amqp.url, &config.s3.endpoint, &config.central.url] {
            let _ = photocheck_config::mask_url_password(url);
        }
        // What loads must load again from its own serialisation.
        let text = toml::to_string(&config).expect("a loaded config serialises");
        let again: photocheck_config::Config = toml::from_str(&text)
            .unwrap_or_else(|e| panic!("a loaded config does not load back: {e}\n{text}"));
        // Compared as text: a NaN limit is legal TOML and never equal to itself.
        let text2 = toml::to_string(&again).expect("serialises again");
        assert_eq!(text, text2, "config changed through TOML");
    }
}

/// Runs `data` through target `name` (for regression replay outside libFuzzer).
pub fn replay(name: &str, data: &[u8]) {
    (target(name).unwrap_or_else(|| panic!("no fuzz target {name:?}")))(data)
}
