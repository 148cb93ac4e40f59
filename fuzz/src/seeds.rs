//! Small synthetic seeds, written by `PHOTOCHECK_FUZZ_SEEDS=DIR PHOTOCHECK_FUZZ_TARGET=T
//! photocheck-fuzz` (scripts/fuzz.sh does it at run time; nothing here is committed). Sample
//! photos from the fixtures are added by the script.

use image::{DynamicImage, ImageFormat, RgbImage};
use std::path::Path;

fn smooth(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 255 / w.max(1)) as u8,
            (y * 255 / h.max(1)) as u8,
            ((x + y) * 127 / (w + h).max(1)) as u8,
        ])
    })
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode seed");
    out.into_inner()
}

fn jpeg(img: &DynamicImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    img.write_with_encoder(enc).expect("encode jpeg");
    out
}

/// Inserts an EXIF APP1 segment with `orientation` after SOI.
pub fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend(1u16.to_be_bytes());
    tiff.extend(0x0112u16.to_be_bytes());
    tiff.extend(3u16.to_be_bytes());
    tiff.extend(1u32.to_be_bytes());
    tiff.extend(orientation.to_be_bytes());
    tiff.extend([0, 0]);
    tiff.extend(0u32.to_be_bytes());
    let mut seg = b"Exif\0\0".to_vec();
    seg.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((seg.len() + 2) as u16).to_be_bytes());
    out.extend(seg);
    out.extend(&jpeg[2..]);
    out
}

/// Small images of every format the engine reads.
pub fn images() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let rgb = DynamicImage::ImageRgb8(smooth(24, 30));
    let grey = DynamicImage::ImageLuma8(rgb.to_luma8());
    let rgba = DynamicImage::ImageRgba8(rgb.to_rgba8());
    let grey16 = DynamicImage::ImageLuma16(rgb.to_luma16());
    let one = DynamicImage::ImageRgb8(smooth(1, 1));
    out.push(("rgb.jpg".into(), jpeg(&rgb, 80)));
    out.push(("grey.jpg".into(), jpeg(&grey, 80)));
    out.push(("one.jpg".into(), jpeg(&one, 50)));
    out.push(("odd.jpg".into(), jpeg(&DynamicImage::ImageRgb8(smooth(17, 9)), 30)));
    for o in [3u16, 6, 8] {
        out.push((format!("exif{o}.jpg"), with_orientation(&jpeg(&rgb, 70), o)));
    }
    // Frames large enough for the reduced (DCT-domain) decoder at the profile's canvas, kept
    // small in bytes by smooth content and low quality.
    out.push((
        "big.jpg".into(),
        jpeg(&DynamicImage::ImageRgb8(smooth(720, 900)), 10),
    ));
    out.push((
        "big-exif6.jpg".into(),
        with_orientation(&jpeg(&DynamicImage::ImageRgb8(smooth(900, 720)), 10), 6),
    ));
    for (name, img) in [("rgb", &rgb), ("grey", &grey), ("rgba", &rgba), ("grey16", &grey16), ("one", &one)] {
        out.push((format!("{name}.png"), encode(img, ImageFormat::Png)));
    }
    for (name, img) in [("rgb", &rgb), ("one", &one)] {
        out.push((format!("{name}.gif"), encode(img, ImageFormat::Gif)));
        out.push((format!("{name}.bmp"), encode(img, ImageFormat::Bmp)));
        out.push((format!("{name}.tiff"), encode(img, ImageFormat::Tiff)));
        out.push((format!("{name}.webp"), encode(img, ImageFormat::WebP)));
    }
    out.push(("grey.tiff".into(), encode(&grey, ImageFormat::Tiff)));
    out.push(("rgba.webp".into(), encode(&rgba, ImageFormat::WebP)));
    out
}

fn jobs() -> Vec<(String, Vec<u8>)> {
    let j = |name: &str, s: &str| (name.to_string(), s.as_bytes().to_vec());
    vec![
        j("ok.json", r#"{"id":"01J0ABC","bucket":"photocheck","key":"photos/win-1/01J0ABC","profile":"ga461","submitted_at":"2026-11-29T12:00:00Z"}"#),
        j("full.json", r#"{"id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","bucket":"photocheck","key":"photos/win_2/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","profile":"icao","submitted_at":"2026-11-29T12:00:00.123+08:00","application_id":"A-1\u00e9","window_id":"win_2"}"#),
        j("wrong-window.json", r#"{"id":"x","bucket":"photocheck","key":"photos/a/x","profile":"ga461","submitted_at":"","window_id":"b"}"#),
        j("escape.json", r#"{"id":"..","bucket":"photocheck","key":"photos/../..","profile":"ga461","submitted_at":"\ud83d\ude00"}"#),
        j("extra.json", r#"{"id":"1","bucket":"photocheck","key":"photos/w/1","profile":"ga461","submitted_at":"t","unknown":[1,2.5e10,null,true,{"a":{}}]}"#),
        j("empty.json", "{}"),
    ]
}

fn uploads() -> Vec<(String, Vec<u8>)> {
    let photo = jpeg(&DynamicImage::ImageRgb8(smooth(16, 16)), 50);
    let png = encode(&DynamicImage::ImageRgb8(smooth(4, 4)), ImageFormat::Png);
    let part = |name: &str, extra: &str, body: &[u8]| {
        let mut v = format!("--B\r\nContent-Disposition: form-data; name=\"{name}\"{extra}\r\n\r\n").into_bytes();
        v.extend_from_slice(body);
        v.extend_from_slice(b"\r\n");
        v
    };
    let multipart = |head: &str, parts: &[Vec<u8>]| {
        let mut v = head.as_bytes().to_vec();
        v.extend_from_slice(b"\n\n");
        for p in parts {
            v.extend_from_slice(p);
        }
        v.extend_from_slice(b"--B--\r\n");
        v
    };
    let ct = "Content-Type: multipart/form-data; boundary=B";
    let meta = br#"{"application_id":"A-1","window_id":"win-1","profile":"icao"}"#;
    let mut raw = b"Content-Type: image/jpeg\nIdempotency-Key: k-1\n\n".to_vec();
    raw.extend_from_slice(&photo);
    let mut octet = b"Content-Type: application/octet-stream\n\n".to_vec();
    octet.extend_from_slice(&png);
    vec![
        ("photo.mp".into(), multipart(ct, &[part("photo", "; filename=\"a.jpg\"\r\nContent-Type: image/jpeg", &photo)])),
        ("meta.mp".into(), multipart(ct, &[part("metadata", "", meta), part("photo", "", &png)])),
        ("badmeta.mp".into(), multipart(ct, &[part("metadata", "", b"{\"x\":1}"), part("photo", "", &png)])),
        ("nophoto.mp".into(), multipart(ct, &[part("other", "", b"abc")])),
        ("quoted.mp".into(), multipart("Content-Type: multipart/form-data; boundary=\"B\"; charset=utf-8\nIdempotency-Key: abc", &[part("photo", "", &png)])),
        ("bare.mp".into(), part("photo", "", &photo)),
        ("raw.jpg".into(), raw),
        ("octet.png".into(), octet),
        ("noauth".into(), b"Authorization: Basic eA==\nContent-Type: image/png\n\n\x89PNG\r\n\x1a\n".to_vec()),
    ]
}

fn configs() -> Vec<(String, Vec<u8>)> {
    let c = |name: &str, s: &str| (name.to_string(), s.as_bytes().to_vec());
    let mut out = vec![
        c("empty.toml", ""),
        c("api.toml", "[api]\nlisten = \"0.0.0.0:8080\"\nmax_body_bytes = 1048576\nwindow_rate_per_s = 0.5\n[api.tokens]\nwin-1 = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n[api.window_profiles]\nwin-1 = [\"ga461\", \"icao\"]\n"),
        c("urls.toml", "[amqp]\nurl = \"amqps://user:p%40ss@[::1]:5671/%2f\"\nfailover_urls = [\"amqp://a@10.0.0.2\"]\n[s3]\nendpoint = \"https://s3.example:9000\"\nsse = \"aws:kms\"\n[central]\nurl = \"http://user:secret@central.example/v1\"\n[tls]\nca_file = \"/etc/ssl/ca.pem\"\n"),
        c("tls.toml", "[api.tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\nclient_ca_file = \"ca.pem\"\n[api.client_cert_names]\nwin-1 = \"CN\"\n[api.tokens]\nwin-1 = \"0123456789abcdef0123\"\n"),
        c("types.toml", "[retention]\nphoto_hours = 1e300\n[worker]\nmax_attempts = 4294967295\n[engine]\nintra_threads = -1\n[audit]\npath = 'off'\n[submit]\nclient_cert_file = \"\"\"x\"\"\"\n"),
    ];
    let repo_config = concat!(env!("CARGO_MANIFEST_DIR"), "/../photocheck.toml");
    if let Ok(text) = std::fs::read(repo_config) {
        out.push(("photocheck.toml".into(), text));
    }
    out
}

/// The synthetic seeds of `target`.
pub fn for_target(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "header" | "decode" | "decode_reduced" | "engine" | "engine_rules" => images(),
        "job" => jobs(),
        "upload" => uploads(),
        "config" => configs(),
        _ => Vec::new(),
    }
}

/// Writes the synthetic seeds of `target` into `dir`.
pub fn write(target: &str, dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let seeds = for_target(target);
    for (name, data) in &seeds {
        std::fs::write(dir.join(format!("syn-{name}")), data)?;
    }
    Ok(seeds.len())
}
