//! Bad input never panics, hangs or errors: each gets a `fail` result naming what is wrong.

use photocheck_engine::Profile;
use photocheck_tests::{engine, fixture};
use photocheck_types::{CheckCode, CheckResult, Status, Verdict};

fn check(bytes: &[u8]) -> CheckResult {
    engine()
        .check(bytes, &Profile::ga461())
        .expect("bad input is a result, not an engine error")
}

fn status(r: &CheckResult, code: CheckCode) -> Status {
    r.check(code)
        .unwrap_or_else(|| panic!("{code} missing"))
        .status
}

fn good_jpeg() -> Vec<u8> {
    fixture("pass__pass_064_0.jpg")
}

fn reencode(format: image::ImageFormat, grey: bool) -> Vec<u8> {
    let img = image::load_from_memory(&good_jpeg()).unwrap();
    let img = if grey {
        image::DynamicImage::ImageLuma8(img.to_luma8())
    } else {
        img
    };
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[test]
fn empty_file_fails_decodable() {
    let r = check(b"");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(status(&r, CheckCode::FileDecodable), Status::Fail);
    assert!(r
        .check(CheckCode::FileDecodable)
        .unwrap()
        .message
        .contains("文件为空"));
    assert!(r.face.is_none());
}

#[test]
fn text_named_jpg_fails_decodable_and_format() {
    let r = check(b"Name,ID\nZhang San,440100\nthis is not a photo\n");
    assert_eq!(status(&r, CheckCode::FileDecodable), Status::Fail);
    assert_eq!(status(&r, CheckCode::FileFormat), Status::Fail);
    // Checks that need pixels are skipped with a reason, not failed or passed.
    let s = r.check(CheckCode::GeometryFaceWidth).unwrap();
    assert_eq!(s.status, Status::Skipped);
    assert!(!s.message.is_empty());
}

#[test]
fn truncated_jpeg_fails_decodable() {
    let data = good_jpeg();
    for share in [0.35, 0.45, 0.9] {
        let cut = &data[..(data.len() as f64 * share) as usize];
        let r = check(cut);
        assert_eq!(
            status(&r, CheckCode::FileDecodable),
            Status::Fail,
            "cut to {share}"
        );
        assert_eq!(r.verdict, Verdict::Fail);
    }
}

#[test]
fn a_header_claiming_60000_square_is_refused_without_decoding() {
    let mut data = good_jpeg();
    let sof = data
        .windows(2)
        .position(|w| w == [0xFF, 0xC0] || w == [0xFF, 0xC2])
        .expect("frame header");
    data[sof + 5..sof + 7].copy_from_slice(&60000u16.to_be_bytes());
    data[sof + 7..sof + 9].copy_from_slice(&60000u16.to_be_bytes());
    let r = check(&data);
    assert_eq!(status(&r, CheckCode::FileDecodable), Status::Fail);
    assert_eq!(status(&r, CheckCode::ImageDimensions), Status::Fail);
    let dims = r
        .check(CheckCode::ImageDimensions)
        .unwrap()
        .value
        .clone()
        .unwrap();
    assert_eq!(dims, serde_json::json!([60000, 60000]));
    // Refused at the header: no decode time worth the name was spent.
    assert!(r.timings_ms["decode"] < 50.0, "{:?}", r.timings_ms);
}

#[test]
fn cmyk_jpeg_fails_colour() {
    let r = check(&fixture("file__cmyk_094_0.jpg"));
    assert_eq!(status(&r, CheckCode::ImageColor), Status::Fail);
    assert_eq!(
        r.check(CheckCode::ImageColor).unwrap().value,
        Some(serde_json::json!("cmyk"))
    );
}

#[test]
fn greyscale_jpeg_fails_colour_but_is_still_analysed() {
    let r = check(&reencode(image::ImageFormat::Jpeg, true));
    assert_eq!(status(&r, CheckCode::FileDecodable), Status::Pass);
    assert_eq!(status(&r, CheckCode::ImageColor), Status::Fail);
    assert_eq!(status(&r, CheckCode::FaceCount), Status::Pass);
}

#[test]
fn png_fails_format_but_is_still_analysed() {
    let r = check(&reencode(image::ImageFormat::Png, false));
    assert_eq!(status(&r, CheckCode::FileFormat), Status::Fail);
    assert_eq!(
        r.check(CheckCode::FileFormat).unwrap().value,
        Some(serde_json::json!("PNG"))
    );
    assert_eq!(status(&r, CheckCode::FileDecodable), Status::Pass);
    assert_eq!(status(&r, CheckCode::GeometryFaceWidth), Status::Pass);
}

#[test]
fn random_bytes_and_corrupt_scans_do_not_panic() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 24) as u8
    };
    let noise: Vec<u8> = (0..4096).map(|_| next()).collect();
    assert_eq!(check(&noise).verdict, Verdict::Fail);
    // A valid header followed by garbage scan data.
    let mut data = good_jpeg();
    let sos = data.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    for b in data[sos + 20..].iter_mut().step_by(7) {
        *b = next();
    }
    let n = data.len();
    data[n - 2..].copy_from_slice(&[0xFF, 0xD9]);
    let r = check(&data);
    assert!(r.check(CheckCode::FileDecodable).is_some());
    // Every prefix of a header must be handled.
    let good = good_jpeg();
    for cut in (0..700).step_by(13) {
        let r = check(&good[..cut]);
        assert_eq!(
            status(&r, CheckCode::FileDecodable),
            Status::Fail,
            "prefix {cut}"
        );
    }
}

/// Corrupted large JPEGs (taken by the reduced DCT decoder) never panic or error: each is a
/// result, and one whose scan data is cut fails `file.decodable`.
#[test]
fn corrupted_large_jpegs_are_results() {
    let img = image::load_from_memory(&good_jpeg()).unwrap().to_rgb8();
    let big = image::imageops::resize(&img, 1432, 1764, image::imageops::FilterType::Triangle);
    let mut bytes = Vec::new();
    big.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
        &mut bytes, 85,
    ))
    .unwrap();
    let mut state = 0x9E37_79B9_u32;
    for round in 0..12 {
        let mut bad = bytes.clone();
        // Flip bytes in the entropy-coded data (after the headers, before EOI).
        for _ in 0..(1 + round * 3) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let at = 2000 + (state as usize % (bad.len() - 2100));
            bad[at] ^= (state >> 24) as u8 | 1;
        }
        let r = check(&bad);
        assert!(
            r.checks.len() >= 20,
            "round {round}: {} checks",
            r.checks.len()
        );
    }
    let cut = &bytes[..bytes.len() / 2];
    assert_eq!(status(&check(cut), CheckCode::FileDecodable), Status::Fail);
}

#[test]
fn a_file_that_cannot_be_read_fails_with_why_not_as_an_empty_file() {
    // A folder named like a photo: reading it fails (EISDIR), as a permission or disk error
    // would; the clerk is told it could not be read, not that it is empty.
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("photo.jpg");
    std::fs::create_dir(&folder).unwrap();
    let r =
        photocheck::check::check_file(engine(), &folder, &Profile::ga461(), None, None).unwrap();
    assert_eq!(r.verdict, Verdict::Fail);
    let decodable = r.check(CheckCode::FileDecodable).unwrap();
    assert_eq!(decodable.status, Status::Fail);
    assert!(
        decodable.message.contains("无法读取") && !decodable.message.contains("为空"),
        "{}",
        decodable.message
    );
}
