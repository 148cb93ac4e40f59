//! Decoding untrusted bytes into an RGB image the checks can use.
//!
//! The header is read first ([`crate::header`]); sizes beyond the profile's limits are refused
//! before any pixel buffer is allocated, and the decoder runs with the same limits as a second
//! guard. EXIF orientation is applied, greyscale and CMYK are converted to RGB (the colour
//! checks report what the file really was).

use crate::header::{read_header, Header, HeaderError};
use image::{DynamicImage, ImageDecoder, RgbImage};

/// A decoded photo.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The header as read from the file.
    pub header: Header,
    /// Pixels after EXIF orientation, as 8-bit RGB.
    pub rgb: RgbImage,
}

/// Why a file could not be decoded. Every variant is a property of the file (a `fail` result),
/// never a system error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The header could not be read.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The claimed size exceeds the limits.
    #[error("image claims {width}×{height} px, beyond the limit of {max_dimension} px a side or {max_pixels} px")]
    TooLarge {
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
        /// Largest side accepted.
        max_dimension: u32,
        /// Largest pixel count accepted.
        max_pixels: u64,
    },
    /// The file ends before the image data does.
    #[error("file is truncated: the image data ends early")]
    Truncated,
    /// The decoder rejected the pixel data.
    #[error("image data is corrupt: {0}")]
    Corrupt(String),
}

/// Limits that protect the decoder.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest side in pixels.
    pub max_dimension: u32,
    /// Largest pixel count.
    pub max_pixels: u64,
}

/// Reads the header and checks the claimed size against `limits`, without decoding pixels.
pub fn probe(data: &[u8], limits: DecodeLimits) -> Result<Header, DecodeError> {
    let header = read_header(data)?;
    check_size(&header, limits)?;
    Ok(header)
}

/// Refuses a header whose claimed size exceeds `limits` (decompression bombs), before any
/// pixel buffer exists.
pub fn check_size(header: &Header, limits: DecodeLimits) -> Result<(), DecodeError> {
    let pixels = u64::from(header.width) * u64::from(header.height);
    if header.width > limits.max_dimension
        || header.height > limits.max_dimension
        || pixels > limits.max_pixels
    {
        return Err(DecodeError::TooLarge {
            width: header.width,
            height: header.height,
            max_dimension: limits.max_dimension,
            max_pixels: limits.max_pixels,
        });
    }
    Ok(())
}

/// Decodes a file whose header `probe` (or `check_size`) accepted.
pub fn decode(data: &[u8], header: Header, limits: DecodeLimits) -> Result<Decoded, DecodeError> {
    if !header.complete {
        return Err(DecodeError::Truncated);
    }
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(data), header.format.image_format());
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_dimension);
    l.max_image_height = Some(limits.max_dimension);
    // The decoded buffer (4 bytes a pixel at most) plus decoder working memory.
    l.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    reader.limits(l);
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    let rgb = match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    };
    Ok(Decoded { header, rgb })
}

/// Decodes a large JPEG at a reduced size, in the DCT domain (libjpeg-turbo's scaled decoding,
/// in steps of 1/8 of each side): the smallest reduction whose result still covers `cover`
/// (oriented width and height, the profile's canvas). Huffman decoding still reads every
/// coefficient, but the inverse DCT, upsampling, colour conversion and the pixel buffer shrink
/// with the scale, and the resize afterwards mostly disappears. Returns the photo and its scale
/// (photo pixels per decoded pixel), or `None` when the file is not a JPEG at least twice `cover`
/// on both sides, or the reduced decoder cannot take it (CMYK, an error, any warning about
/// corrupt data): the caller then decodes in full, and a broken file gets that decoder's
/// verdict.
pub fn decode_reduced(
    data: &[u8],
    header: &Header,
    limits: DecodeLimits,
    cover: (u32, u32),
) -> Option<(Decoded, f32)> {
    if header.format != crate::header::Format::Jpeg || !header.complete {
        return None;
    }
    check_size(header, limits).ok()?;
    // `cover` is oriented; the decoder works on the stored frame.
    let cover = if (5..=8).contains(&header.orientation) {
        (cover.1, cover.0)
    } else {
        cover
    };
    let eighths = reduction(header.width, header.height, cover)?;
    // A decoder bug on hostile data must not take the photo's verdict with it: a panic here
    // falls back to the full decoder, which gives the file its verdict.
    std::panic::catch_unwind(|| reduced(data, header, eighths)).ok()?
}

/// libjpeg-turbo's size for `side` scaled by `eighths`/8 (its `TJSCALED`: rounded up).
fn scaled(side: u32, eighths: u32) -> u32 {
    (u64::from(side) * u64::from(eighths)).div_ceil(8) as u32
}

/// The smallest scale `m`/8 (m = 1…4) at which a `w` × `h` frame still covers `cover`, or
/// `None` when the frame is less than twice `cover` on some side (a full decode then costs
/// little more).
fn reduction(w: u32, h: u32, cover: (u32, u32)) -> Option<u32> {
    let (cw, ch) = (cover.0.max(1), cover.1.max(1));
    if w < 2 * cw || h < 2 * ch {
        return None;
    }
    (1..=4).find(|&m| scaled(w, m) >= cw && scaled(h, m) >= ch)
}

fn reduced(data: &[u8], header: &Header, eighths: u32) -> Option<(Decoded, f32)> {
    let (w, h) = (header.width, header.height);
    let (sw, sh) = (scaled(w, eighths), scaled(h, eighths));
    let mut decoder = turbojpeg::Decompressor::new().ok()?;
    let stored = decoder.read_header(data).ok()?;
    // The header parser and libjpeg must agree on the frame, or the scale is wrong.
    if (stored.width, stored.height) != (w as usize, h as usize) {
        return None;
    }
    let mut pixels = vec![0u8; sw as usize * sh as usize * 3];
    // Given a smaller output, libjpeg-turbo picks the largest of its scales that fits: `sw` ×
    // `sh` is exactly its size at `eighths`/8. Colour and greyscale files come out as RGB; a
    // CMYK file, an error or a warning about corrupt data is an `Err` here.
    decoder
        .decompress(
            data,
            turbojpeg::Image {
                pixels: pixels.as_mut_slice(),
                width: sw as usize,
                pitch: sw as usize * 3,
                height: sh as usize,
                format: turbojpeg::PixelFormat::RGB,
            },
        )
        .ok()?;
    let rgb = RgbImage::from_raw(sw, sh, pixels)?;
    let mut img = DynamicImage::ImageRgb8(rgb);
    if let Some(o) = image::metadata::Orientation::from_exif(header.orientation) {
        img.apply_orientation(o);
    }
    let DynamicImage::ImageRgb8(rgb) = img else {
        return None;
    };
    Some((
        Decoded {
            header: header.clone(),
            rgb,
        },
        w as f32 / sw as f32,
    ))
}

fn map_image_error(e: image::ImageError) -> DecodeError {
    match e {
        image::ImageError::Limits(_) => DecodeError::Corrupt("decoder limits exceeded".into()),
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated
        }
        other => DecodeError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: DecodeLimits = DecodeLimits {
        max_dimension: 12_000,
        max_pixels: 64_000_000,
    };

    fn jpeg_bytes(w: u32, h: u32, grey: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80);
        if grey {
            let img = image::GrayImage::from_fn(w, h, |x, _| image::Luma([(x % 256) as u8]));
            img.write_with_encoder(enc).unwrap();
        } else {
            let img = RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([(x * 7 + y * 13) as u8, (x * y) as u8, (x ^ y) as u8])
            });
            img.write_with_encoder(enc).unwrap();
        }
        out
    }

    #[test]
    fn decodes_colour_and_grey_to_rgb() {
        for grey in [false, true] {
            let data = jpeg_bytes(40, 30, grey);
            let h = probe(&data, LIMITS).unwrap();
            let d = decode(&data, h, LIMITS).unwrap();
            assert_eq!(d.rgb.dimensions(), (40, 30));
        }
    }

    #[test]
    fn large_jpegs_decode_reduced_to_cover_the_canvas() {
        let smooth = RgbImage::from_fn(1600, 1800, |x, y| {
            image::Rgb([(x / 7) as u8, (y / 8) as u8, ((x + y) / 14) as u8])
        });
        let mut data = Vec::new();
        smooth
            .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                &mut data, 90,
            ))
            .unwrap();
        let h = probe(&data, LIMITS).unwrap();
        let (d, k) = decode_reduced(&data, &h, LIMITS, (358, 441)).unwrap();
        // 1600 / 358 and 1800 / 441 allow 1/4 (400 × 450 still covers 358 × 441).
        assert_eq!(d.rgb.dimensions(), (400, 450));
        assert_eq!(k, 4.0);
        // The reduced pixels are the averages of the full decode's 4 × 4 blocks.
        let full = decode(&data, h.clone(), LIMITS).unwrap().rgb;
        let (mut worst, mut n, mut total) = (0u32, 0u32, 0u32);
        for (x, y, p) in d
            .rgb
            .enumerate_pixels()
            .filter(|(x, y, _)| x % 37 == 0 && y % 41 == 0)
        {
            let mut s = 0u32;
            for dy in 0..4 {
                for dx in 0..4 {
                    s += u32::from(full.get_pixel(x * 4 + dx, y * 4 + dy)[0]);
                }
            }
            let e = (s / 16).abs_diff(u32::from(p[0]));
            worst = worst.max(e);
            total += e;
            n += 1;
        }
        assert!(
            total / n <= 1 && worst <= 4,
            "mean error {} (worst {worst})",
            total / n
        );
        // Small photos, and sizes that cannot be halved, are left to the full decoder.
        let small = jpeg_bytes(358, 441, false);
        assert!(
            decode_reduced(&small, &probe(&small, LIMITS).unwrap(), LIMITS, (358, 441)).is_none()
        );
        let png_like = Header {
            format: crate::header::Format::Png,
            ..h
        };
        assert!(decode_reduced(&data, &png_like, LIMITS, (358, 441)).is_none());
    }

    fn smooth_jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x / 7) as u8, (y / 8) as u8, ((x + y) / 14) as u8])
        });
        let mut data = Vec::new();
        img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut data, 90,
        ))
        .unwrap();
        data
    }

    #[test]
    fn the_smallest_covering_eighth_is_chosen() {
        // A portrait camera frame covers the canvas at 1/8; a landscape one needs 1/4.
        assert_eq!(reduction(3000, 4000, (358, 441)), Some(1));
        assert_eq!(reduction(4000, 3000, (358, 441)), Some(2));
        // 3/8 of 1200 × 1500 is 450 × 563.
        assert_eq!(reduction(1200, 1500, (358, 441)), Some(3));
        assert_eq!(reduction(700, 2000, (358, 441)), None);
        let data = smooth_jpeg(2900, 3600);
        let h = probe(&data, LIMITS).unwrap();
        let (d, k) = decode_reduced(&data, &h, LIMITS, (358, 441)).unwrap();
        assert_eq!(d.rgb.dimensions(), (363, 450));
        assert!((k - 2900.0 / 363.0).abs() < 1e-4, "scale {k}");
    }

    #[test]
    fn corrupt_scan_data_goes_to_the_full_decoder() {
        let mut data = smooth_jpeg(1600, 1800);
        // A marker in the middle of the entropy-coded data: libjpeg stops the scan there and
        // warns; the reduced decoder must not hand back a half-grey photo.
        let sos = data.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let mid = sos + (data.len() - sos) / 2;
        data.splice(mid..mid, [0xFF, 0xD0]);
        let h = probe(&data, LIMITS).unwrap();
        assert!(decode_reduced(&data, &h, LIMITS, (358, 441)).is_none());
        // Garbage that is not a JPEG at all never reaches libjpeg with a JPEG header.
        let fake = Header {
            width: 4000,
            height: 3000,
            ..h
        };
        assert!(decode_reduced(&[0u8; 64], &fake, LIMITS, (358, 441)).is_none());
    }

    #[test]
    fn truncated_data_is_refused() {
        let data = jpeg_bytes(400, 300, false);
        let cut = &data[..data.len() * 4 / 5];
        let h = probe(cut, LIMITS).unwrap();
        assert_eq!(decode(cut, h, LIMITS).unwrap_err(), DecodeError::Truncated);
    }

    /// Inserts an EXIF APP1 segment with the given orientation after SOI.
    fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
        tiff.extend(1u16.to_be_bytes()); // one IFD entry
        tiff.extend(0x0112u16.to_be_bytes()); // Orientation
        tiff.extend(3u16.to_be_bytes()); // SHORT
        tiff.extend(1u32.to_be_bytes());
        tiff.extend(orientation.to_be_bytes());
        tiff.extend([0, 0]);
        tiff.extend(0u32.to_be_bytes()); // no next IFD
        let mut seg = b"Exif\0\0".to_vec();
        seg.extend(tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend([0xFF, 0xE1]);
        out.extend(((seg.len() + 2) as u16).to_be_bytes());
        out.extend(seg);
        out.extend(&jpeg[2..]);
        out
    }

    #[test]
    fn exif_orientation_is_applied() {
        let data = with_orientation(&jpeg_bytes(40, 30, false), 6);
        let h = probe(&data, LIMITS).unwrap();
        assert_eq!(h.orientation, 6);
        assert_eq!(h.oriented_size(), (30, 40));
        let d = decode(&data, h, LIMITS).unwrap();
        assert_eq!(d.rgb.dimensions(), (30, 40));
    }

    #[test]
    fn oversized_claims_are_refused_before_decoding() {
        let mut data = jpeg_bytes(16, 16, false);
        // Patch the SOF0 frame size to 60000 × 60000.
        let sof = data.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        data[sof + 5..sof + 7].copy_from_slice(&60000u16.to_be_bytes());
        data[sof + 7..sof + 9].copy_from_slice(&60000u16.to_be_bytes());
        assert!(matches!(
            probe(&data, LIMITS),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
