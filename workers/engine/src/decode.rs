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
    /// The file is beyond what one photo may cost to decode: more scans than [`MAX_SCANS`],
    /// or more memory than the decoder's ceiling (see [`DecodeLimits`]).
    #[error("image is too costly to decode: {0}")]
    TooCostly(String),
    /// The pixels decode, but libjpeg-turbo reported damaged entropy-coded data (bad Huffman
    /// codes, a segment ending early, data where a marker belongs, a premature end): what comes
    /// out is shifted rows, smeared blocks or colour garbage, not the photo that was taken.
    #[error("image data is damaged: {0}")]
    Damaged(String),
}

/// Most scans a JPEG may have. A camera's progressive JPEG has about 10 (libjpeg's default
/// script), an optimised one rarely 20; every scan makes the decoder pass over the coefficients
/// again, so a file with thousands of tiny scans costs minutes for a few kilobytes.
pub const MAX_SCANS: u32 = 64;

/// Limits that protect the decoder. The decoder's memory is capped at 8 bytes per allowed
/// pixel (the RGB buffer and, for progressive JPEGs, the coefficients), 200 MB at 25 MP.
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
    if header.scans > MAX_SCANS {
        return Err(DecodeError::TooCostly(format!(
            "{} scans, more than {MAX_SCANS}",
            header.scans
        )));
    }
    if header.width == 0 || header.height == 0 {
        return Err(DecodeError::Corrupt(format!(
            "the image claims no pixels ({}×{})",
            header.width, header.height
        )));
    }
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

/// Decodes a file whose header `probe` (or `check_size`) accepted. A JPEG whose scan data
/// libjpeg-turbo reports as damaged is refused ([`jpeg_damage`]): the `image` decoder would
/// hand back its garbage without a word.
pub fn decode(data: &[u8], header: Header, limits: DecodeLimits) -> Result<Decoded, DecodeError> {
    if !header.complete {
        return Err(DecodeError::Truncated);
    }
    let is_jpeg = header.format == crate::header::Format::Jpeg;
    if is_jpeg {
        if let Some(warning) = jpeg_damage(data, &header) {
            return Err(DecodeError::Damaged(warning));
        }
    }
    // The damage steps' quantiser, when they judge this file, and their pixels: on the stored
    // frame, before orientation, where the 8×8 grid of the scan lies, and libjpeg-turbo's where
    // it decodes the file: what a viewer at the central system shows (its upsampling and
    // inverse DCT differ from the `image` decoder's by a level or two, enough to hide a step on
    // one and show it on the other).
    let steps_quant = header
        .luma_quant
        .map(|q| q[0])
        .filter(|&q| q <= PIXEL_STEPS_MAX_DC_QUANT);
    let small = u64::from(header.width) * u64::from(header.height) <= RECHECK_MAX_PIXELS;
    let theirs = (is_jpeg && small && steps_quant.is_some())
        .then(|| libjpeg_rgb(data, &header, header.width, header.height))
        .flatten();
    let theirs = match (steps_quant, theirs, header.orientation) {
        // Upright: a decode without a warning is the photo, so the `image` decoder is not run
        // a second time.
        (Some(quant), Some(rgb), 1) => {
            damage_in_pixels(&rgb, quant)?;
            return Ok(Decoded { header, rgb });
        }
        (_, theirs, _) => theirs,
    };
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
    if img.width() == 0 || img.height() == 0 {
        // A GIF's frame can be empty whatever its screen claims (found by fuzzing).
        return Err(DecodeError::Corrupt(format!(
            "the image has no pixels ({}×{})",
            img.width(),
            img.height()
        )));
    }
    if let Some(quant) = steps_quant {
        damage_in_pixels(&theirs.unwrap_or_else(|| img.to_rgb8()), quant)?;
    }
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    let rgb = match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    };
    Ok(Decoded { header, rgb })
}

/// Largest frame (pixels) whose damage steps run on a libjpeg-turbo decode rather than the
/// `image` decoder's pixels: 4 × the GA 461 canvas (about 1 ms at canvas size); larger
/// captures are decoded reduced where they can be ([`decode_reduced`]).
pub const RECHECK_MAX_PIXELS: u64 = 4 * 358 * 441;

/// The image-level damage steps on decoded pixels of the stored frame: a flat tail
/// ([`uniform_tail`]), a garbage block ([`garbage_block`]), steps along the block grid
/// ([`block_grid_damage`]), rows shifted by whole blocks ([`shifted_rows`]) and colour steps
/// along the grid ([`chroma_grid_run`]). The luma plane is computed here once; each step takes
/// the frame and that plane.
fn damage_in_pixels(rgb: &RgbImage, dc_quant: u16) -> Result<(), DecodeError> {
    let luma = luma_plane(rgb);
    if let Some(rows) = uniform_tail(rgb) {
        return Err(DecodeError::Damaged(format!(
            "the last {rows} rows of the decoded image are one flat colour \
             (scan data missing)"
        )));
    }
    if let Some((x, y)) = garbage_block(rgb, &luma) {
        return Err(DecodeError::Damaged(format!(
            "the 8×8 block at ({x}, {y}) of the decoded image is a checkerboard the photo \
             around it has nothing like (scan data decoded as garbage)"
        )));
    }
    if let Some(run) = block_grid_damage(rgb, &luma, dc_quant) {
        return Err(DecodeError::Damaged(format!(
            "the decoded image steps along its 8×8 block grid over {run} px \
             (scan data decoded out of step)"
        )));
    }
    if dc_quant <= SHIFT_MAX_DC_QUANT {
        if let Some((y, ratio)) = shifted_rows(rgb, &luma) {
            return Err(DecodeError::Damaged(format!(
                "the decoded image is shifted sideways by whole blocks from row {y} on \
                 (rows meet at {:.0}% of their unshifted mismatch: scan data lost or added)",
                ratio * 100.0
            )));
        }
    }
    let run = chroma_grid_run(rgb, &luma, dc_quant);
    if run >= CHROMA_RUN_BLOCKS {
        return Err(DecodeError::Damaged(format!(
            "the decoded image changes colour along its 8×8 block grid over {} px \
             (colour data decoded out of step)",
            run * 8
        )));
    }
    Ok(())
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
    let eighths = reduced_eighths(header, limits, cover)?;
    // A decoder bug on hostile data must not take the photo's verdict with it: a panic here
    // falls back to the full decoder, which gives the file its verdict.
    std::panic::catch_unwind(|| reduced(data, header, eighths)).ok()?
}

/// The reduction (in eighths) a complete JPEG within the limits is decoded at to cover `cover`
/// (oriented width and height), or `None` when it is not decoded reduced.
fn reduced_eighths(header: &Header, limits: DecodeLimits, cover: (u32, u32)) -> Option<u32> {
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
    reduction(header.width, header.height, cover)
}

/// [`decode_reduced`] for a capture whose face region will be measured at its own resolution
/// as well: libjpeg-turbo decodes the file once, to its Y, Cb and Cr planes at full resolution
/// without colour conversion (Huffman decoding, most of a large JPEG's cost, is done once
/// instead of twice), the planes are shrunk area-correctly to the reduced size and converted
/// to RGB there, and the luma plane is handed back for [`LumaPlane::crop`]. Falls back to
/// [`decode_reduced`] (and no plane) for files that cannot be decoded to planes (CMYK, an RGB
/// JPEG, a warning about corrupt data).
pub fn decode_reduced_with_luma(
    data: &[u8],
    header: &Header,
    limits: DecodeLimits,
    cover: (u32, u32),
) -> Option<(Decoded, f32, Option<LumaPlane>)> {
    let eighths = reduced_eighths(header, limits, cover)?;
    match std::panic::catch_unwind(|| reduced_via_planes(data, header, eighths)) {
        Ok(Some((d, k, plane))) => Some((d, k, Some(plane))),
        _ => decode_reduced(data, header, limits, cover).map(|(d, k)| (d, k, None)),
    }
}

/// Most bytes of planes decoded at once (a 12 MP 4:4:4 file, a 25 MP 4:2:0 one); a larger file
/// is decoded reduced and its face region to greyscale as before (two entropy decodes, but at
/// most one byte a pixel held), so a worker's peak stays where it was on 25 MP 4:4:4 captures.
const PLANES_MAX_BYTES: usize = 40_000_000;

fn reduced_via_planes(
    data: &[u8],
    header: &Header,
    eighths: u32,
) -> Option<(Decoded, f32, LumaPlane)> {
    use fast_image_resize::{images::Image as FirImage, images::ImageRef, PixelType};
    let mut decoder = turbojpeg::Decompressor::new().ok()?;
    let stored = decoder.read_header(data).ok()?;
    let (w, h) = (header.width, header.height);
    if (stored.width, stored.height) != (w as usize, h as usize) {
        return None;
    }
    let subsamp = stored.subsamp;
    let bytes = turbojpeg::yuv_pixels_len(w as usize, 1, h as usize, subsamp).ok()?;
    if bytes > PLANES_MAX_BYTES {
        return None;
    }
    let layout = turbojpeg::YuvImage {
        pixels: (),
        width: w as usize,
        align: 1,
        height: h as usize,
        subsamp,
    };
    let mut planes = vec![0u8; bytes];
    decoder
        .decompress_to_yuv(
            data,
            turbojpeg::YuvImage {
                pixels: planes.as_mut_slice(),
                width: layout.width,
                align: layout.align,
                height: layout.height,
                subsamp,
            },
        )
        .ok()?;
    let (sw, sh) = (scaled(w, eighths), scaled(h, eighths));
    let (yw, yh) = layout.y_size();
    // Photo pixels per reduced pixel, when whole (1/8, 1/4, 1/2 scale).
    let whole = (8 % eighths == 0).then_some((8 / eighths) as usize);
    let mut resizer = fast_image_resize::Resizer::new();
    // One plane (`pw` × `ph` bytes) shrunk to sw × sh over the frame's extent `ew` × `eh` (its
    // padding left out): by whole blocks when the plane's factor is whole, else by
    // fast_image_resize's box filter.
    let mut shrink = |buf: &[u8], pw: usize, ph: usize, ew: usize, eh: usize, f: Option<usize>| {
        if let Some(f) =
            f.filter(|&f| ew.div_ceil(f) == sw as usize && eh.div_ceil(f) == sh as usize)
        {
            return Some(box_shrink(buf, pw, ew, eh, f));
        }
        let src = ImageRef::new(pw as u32, ph as u32, buf, PixelType::U8).ok()?;
        let mut dst = FirImage::new(sw, sh, PixelType::U8);
        let opts = fast_image_resize::ResizeOptions::new()
            .resize_alg(fast_image_resize::ResizeAlg::Convolution(
                fast_image_resize::FilterType::Box,
            ))
            .crop(0.0, 0.0, ew as f64, eh as f64);
        resizer.resize(&src, &mut dst, &opts).ok()?;
        Some(dst.into_vec())
    };
    let (ew, eh) = (w as usize, h as usize);
    let y = shrink(&planes[..yw * yh], yw, yh, ew, eh, whole)?;
    let mut rgb = vec![0u8; y.len() * 3];
    if subsamp == turbojpeg::Subsamp::Gray {
        for (px, &l) in rgb.chunks_exact_mut(3).zip(&y) {
            px.fill(l);
        }
    } else {
        let (cw, ch) = layout.uv_size();
        let (sx, sy) = (subsamp.width(), subsamp.height());
        // Whole blocks only where the chroma is subsampled alike both ways.
        let f = whole.filter(|f| sx == sy && f % sx == 0).map(|f| f / sx);
        let (cew, ceh) = (ew.div_ceil(sx), eh.div_ceil(sy));
        let u0 = yw * yh;
        let [cb, cr] = [0, 1].map(|k| {
            let at = u0 + k * cw * ch;
            shrink(&planes[at..at + cw * ch], cw, ch, cew, ceh, f)
        });
        let (cb, cr) = (cb?, cr?);
        ycc_to_rgb(&y, &cb, &cr, &mut rgb);
    }
    let rgb = oriented(RgbImage::from_raw(sw, sh, rgb)?, header.orientation)?;
    planes.truncate(yw * yh);
    let plane = LumaPlane {
        luma: planes,
        stride: yw,
        width: w,
        height: h,
        mcu: (subsamp.mcu_width() as u32, subsamp.mcu_height() as u32),
    };
    Some((
        Decoded {
            header: header.clone(),
            rgb,
        },
        w as f32 / sw as f32,
        plane,
    ))
}

/// The mean of each `f` × `f` block of the first `ew` × `eh` pixels of a plane with rows of
/// `stride` bytes, rounded; blocks cut by the right or bottom edge average what they hold.
/// Rows are summed first (a contiguous, vectorised pass), then runs of `f` across; the whole
/// blocks of a row divide by one count, through its reciprocal ([`RoundDiv`]).
fn box_shrink(buf: &[u8], stride: usize, ew: usize, eh: usize, f: usize) -> Vec<u8> {
    let (dw, dh) = (ew.div_ceil(f), eh.div_ceil(f));
    let whole = ew / f;
    let mut out = vec![0u8; dw * dh];
    // At most 8 rows of 255: fits 16 bits.
    let mut acc = vec![0u16; ew];
    for (oy, orow) in out.chunks_exact_mut(dw).enumerate() {
        let (y0, y1) = (oy * f, (oy * f + f).min(eh));
        acc.fill(0);
        for row in buf[y0 * stride..].chunks(stride).take(y1 - y0) {
            for (a, &v) in acc.iter_mut().zip(&row[..ew]) {
                *a += u16::from(v);
            }
        }
        let rows = (y1 - y0) as u32;
        let div = RoundDiv::new(rows * f as u32);
        let (full, cut) = orow.split_at_mut(whole);
        for (o, c) in full.iter_mut().zip(acc.chunks_exact(f)) {
            *o = div.of(c.iter().map(|&v| u32::from(v)).sum());
        }
        if let Some(o) = cut.first_mut() {
            let c = &acc[whole * f..];
            *o = RoundDiv::new(rows * c.len() as u32).of(c.iter().map(|&v| u32::from(v)).sum());
        }
    }
    out
}

/// Rounded division of a block's sum by its pixel count, as a multiplication: a division per
/// output pixel was most of [`box_shrink`]'s time on a 12 MP capture.
#[derive(Clone, Copy)]
struct RoundDiv {
    n: u32,
    /// ⌈2^24 / n⌉: exact for sums below 2^15 and counts up to 64 (the error of the product,
    /// under 2^-9, stays below the 1/n a quotient's fraction leaves).
    m: u64,
}

impl RoundDiv {
    fn new(n: u32) -> RoundDiv {
        let n = n.max(1);
        RoundDiv {
            n,
            m: (1u64 << 24).div_ceil(u64::from(n)),
        }
    }

    /// `(sum + n / 2) / n`, for a sum of at most 64 values of 255.
    fn of(self, sum: u32) -> u8 {
        ((u64::from(sum + self.n / 2) * self.m) >> 24) as u8
    }
}

/// JFIF's full-range YCbCr to RGB in 16-bit fixed point, as libjpeg converts it.
fn ycc_to_rgb(y: &[u8], cb: &[u8], cr: &[u8], rgb: &mut [u8]) {
    const R_CR: i32 = 91_881; // 1.402 × 2^16
    const G_CB: i32 = -22_554; // -0.344136 × 2^16
    const G_CR: i32 = -46_802; // -0.714136 × 2^16
    const B_CB: i32 = 116_130; // 1.772 × 2^16
    const HALF: i32 = 1 << 15;
    for (((px, &l), &b), &r) in rgb.chunks_exact_mut(3).zip(y).zip(cb).zip(cr) {
        let (l, b, r) = (i32::from(l), i32::from(b) - 128, i32::from(r) - 128);
        px[0] = (l + ((R_CR * r + HALF) >> 16)).clamp(0, 255) as u8;
        px[1] = (l + ((G_CB * b + G_CR * r + HALF) >> 16)).clamp(0, 255) as u8;
        px[2] = (l + ((B_CB * b + HALF) >> 16)).clamp(0, 255) as u8;
    }
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
    let rgb = oriented(libjpeg_rgb(data, header, sw, sh)?, header.orientation)?;
    Some((
        Decoded {
            header: header.clone(),
            rgb,
        },
        w as f32 / sw as f32,
    ))
}

/// The stored frame `rgb` turned as its EXIF `orientation` says (1–8; anything else leaves it).
fn oriented(rgb: RgbImage, orientation: u8) -> Option<RgbImage> {
    let mut img = DynamicImage::ImageRgb8(rgb);
    if let Some(o) = image::metadata::Orientation::from_exif(orientation) {
        img.apply_orientation(o);
    }
    match img {
        DynamicImage::ImageRgb8(rgb) => Some(rgb),
        _ => None,
    }
}

/// libjpeg-turbo's decode of the stored frame (before orientation) at `sw` × `sh`, which must
/// be exactly its size at one of its scales (`header`'s size for a full decode). Colour and
/// greyscale files come out as RGB; `None` for a CMYK file, an error, any warning about corrupt
/// data, a frame that disagrees with `header`, or a panic in the decoder.
fn libjpeg_rgb(data: &[u8], header: &Header, sw: u32, sh: u32) -> Option<RgbImage> {
    let mut decoder = turbojpeg::Decompressor::new().ok()?;
    let stored = decoder.read_header(data).ok()?;
    // The header parser and libjpeg must agree on the frame, or the scale is wrong.
    if (stored.width, stored.height) != (header.width as usize, header.height as usize) {
        return None;
    }
    let mut pixels = vec![0u8; sw as usize * sh as usize * 3];
    // Given a smaller output, libjpeg-turbo picks the largest of its scales that fits.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decoder.decompress(
            data,
            turbojpeg::Image {
                pixels: pixels.as_mut_slice(),
                width: sw as usize,
                pitch: sw as usize * 3,
                height: sh as usize,
                format: turbojpeg::PixelFormat::RGB,
            },
        )
    }));
    match outcome {
        Ok(Ok(())) => RgbImage::from_raw(sw, sh, pixels),
        _ => None,
    }
}

/// A rectangle of a photo's luma at the photo's own resolution, in the stored frame (before
/// EXIF orientation): what the resolution-bound measures (noise, JPEG blocking) read on a large
/// capture that the checks otherwise see reduced.
#[derive(Debug, Clone, PartialEq)]
pub struct LumaCrop {
    /// Row-major luma, 0–255 (JPEG's Y, i.e. Rec. 601 luma).
    pub luma: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Left edge in the stored frame: a multiple of 8, so the crop's 8 × 8 grid is the file's.
    pub x: u32,
    /// Top edge in the stored frame (a multiple of 8).
    pub y: u32,
}

/// The luma of `rect` (`[x0, y0, x1, y1]`, stored-frame pixels, its top-left corner moved out
/// to a whole MCU) of a JPEG at full resolution: libjpeg-turbo decodes the file to greyscale,
/// which skips the colour components' inverse DCT and upsampling and keeps one byte a pixel
/// (a lossless crop in the DCT domain was tried first: it holds every coefficient of the file
/// in memory, 150 MB for 25 MP at 4:4:4, and was slower on baseline files). `None` when the
/// file is not a JPEG libjpeg-turbo decodes without a warning, or the rectangle is empty.
pub fn jpeg_luma_crop(data: &[u8], header: &Header, rect: [u32; 4]) -> Option<LumaCrop> {
    if header.format != crate::header::Format::Jpeg || !header.complete {
        return None;
    }
    std::panic::catch_unwind(|| luma_crop(data, header, rect)).ok()?
}

fn luma_crop(data: &[u8], header: &Header, rect: [u32; 4]) -> Option<LumaCrop> {
    let mut decoder = turbojpeg::Decompressor::new().ok()?;
    let stored = decoder.read_header(data).ok()?;
    if (stored.width, stored.height) != (header.width as usize, header.height as usize) {
        return None;
    }
    // Decoded to greyscale, libjpeg-turbo skips the colour components' inverse DCT and
    // upsampling; a sequential file streams through a few MCU rows of buffers.
    let (w, h) = (stored.width, stored.height);
    let mut full = vec![0u8; w * h];
    decoder
        .decompress(
            data,
            turbojpeg::Image {
                pixels: full.as_mut_slice(),
                width: w,
                pitch: w,
                height: h,
                format: turbojpeg::PixelFormat::GRAY,
            },
        )
        .ok()?;
    LumaPlane {
        luma: full,
        stride: w,
        width: header.width,
        height: header.height,
        mcu: (
            stored.subsamp.mcu_width() as u32,
            stored.subsamp.mcu_height() as u32,
        ),
    }
    .crop(rect)
}

/// A JPEG's luma (Y) plane at full resolution on its stored frame (before EXIF orientation),
/// as libjpeg-turbo decodes it: kept from a large capture's one decode for the measures that
/// need its own resolution ([`LumaPlane::crop`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LumaPlane {
    /// Rows of `stride` bytes; the first `width` of each are the frame's.
    pub luma: Vec<u8>,
    /// Bytes from one row to the next.
    pub stride: usize,
    /// Width of the stored frame.
    pub width: u32,
    /// Height of the stored frame.
    pub height: u32,
    /// The MCU's width and height in pixels (the grid a crop's top-left corner keeps).
    pub mcu: (u32, u32),
}

impl LumaPlane {
    /// The luma of `rect` (`[x0, y0, x1, y1]`, stored-frame pixels), its top-left corner moved
    /// out to a whole MCU so the crop's 8 × 8 grid is the file's; `None` when the rectangle is
    /// empty or under 16 pixels on a side.
    pub fn crop(&self, rect: [u32; 4]) -> Option<LumaCrop> {
        let (mw, mh) = self.mcu;
        let x1 = rect[2].min(self.width);
        let y1 = rect[3].min(self.height);
        let x0 = rect[0].min(x1) / mw.max(1) * mw.max(1);
        let y0 = rect[1].min(y1) / mh.max(1) * mh.max(1);
        if x1 <= x0 + 16 || y1 <= y0 + 16 {
            return None;
        }
        let (cw, ch) = ((x1 - x0) as usize, (y1 - y0) as usize);
        let mut luma = Vec::with_capacity(cw * ch);
        for row in self
            .luma
            .chunks_exact(self.stride)
            .skip(y0 as usize)
            .take(ch)
        {
            luma.extend_from_slice(&row[x0 as usize..x0 as usize + cw]);
        }
        (luma.len() == cw * ch).then_some(LumaCrop {
            luma,
            width: cw as u32,
            height: ch as u32,
            x: x0,
            y: y0,
        })
    }
}

/// `rect` (`[x0, y0, x1, y1]`) of the photo as shown (after EXIF `orientation`) in the stored
/// frame of `stored_w` × `stored_h` pixels.
pub fn oriented_rect_to_stored(
    rect: [f32; 4],
    orientation: u8,
    stored_w: u32,
    stored_h: u32,
) -> [f32; 4] {
    let (w, h) = (stored_w as f32, stored_h as f32);
    // Where a point of the shown photo lies in the stored frame (edges, not pixel centres).
    let map = |x: f32, y: f32| -> (f32, f32) {
        match orientation {
            2 => (w - x, y),
            3 => (w - x, h - y),
            4 => (x, h - y),
            5 => (y, x),
            6 => (y, h - x),
            7 => (w - y, h - x),
            8 => (w - y, x),
            _ => (x, y),
        }
    };
    let (ax, ay) = map(rect[0], rect[1]);
    let (bx, by) = map(rect[2], rect[3]);
    [ax.min(bx), ay.min(by), ax.max(bx), ay.max(by)]
}

/// libjpeg-turbo's report on a JPEG's entropy-coded data: the message of a warning or error
/// that means the data is damaged, or `None`. Messages that say nothing about the pixels (an
/// unknown JFIF revision, a bad ICC marker, a colour conversion it does not do, a few padding
/// bytes before the end marker) are not damage.
///
/// A frame of up to [`RECHECK_MAX_PIXELS`] is read as coefficients ([`crate::coefficients`]):
/// Huffman decoding reads every coefficient, so every warning a full decode would give comes
/// out, and the first component's DC coefficients are judged as well: blocks that average
/// outside 0–255 before clamping are a DC chain that drifted, which the clamped pixels of a
/// clipped white backdrop hide. Larger frames, and files the coefficient reader cannot take,
/// are decoded at 1/8 scale, where the inverse DCT is a single term per block (about a tenth of
/// a full decode) and the same warnings come out.
pub fn jpeg_damage(data: &[u8], header: &Header) -> Option<String> {
    let small = u64::from(header.width) * u64::from(header.height) <= RECHECK_MAX_PIXELS;
    if small {
        if let Some(read) = crate::coefficients::read_coefficients(data) {
            if let Some(message) = read.message.filter(|m| is_damage_message(data, header, m)) {
                return Some(message);
            }
            if let Some(planes) = read.planes {
                return coefficient_damage(&planes, header).or_else(|| left_over(data, header));
            }
        }
    }
    let mut decoder = turbojpeg::Decompressor::new().ok()?;
    // The first scan's header is read with the frame's: a broken one fails here.
    let stored = match decoder.read_header(data) {
        Ok(s) => s,
        Err(e) => {
            let message = e.to_string();
            return is_damage(&message).then_some(message);
        }
    };
    if (stored.width, stored.height) != (header.width as usize, header.height as usize) {
        return None;
    }
    let (w, h) = (stored.width.div_ceil(8), stored.height.div_ceil(8));
    let mut pixels = vec![0u8; w * h * 3];
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        decoder.decompress(
            data,
            turbojpeg::Image {
                pixels: pixels.as_mut_slice(),
                width: w,
                pitch: w * 3,
                height: h,
                format: turbojpeg::PixelFormat::RGB,
            },
        )
    }));
    match outcome {
        Ok(Ok(())) | Err(_) => None,
        Ok(Err(e)) => Some(e.to_string()).filter(|m| is_damage_message(data, header, m)),
    }
}

/// Bytes of a sequential scan that no block's Huffman codes account for (`scan`): a block lost
/// or added moves the rest of the scan, and libjpeg-turbo's look-ahead hides up to 8 such bytes
/// at the end. Progressive files are not walked.
fn left_over(data: &[u8], header: &Header) -> Option<String> {
    if header.progressive {
        return None;
    }
    let left = crate::scan::leftover_bytes(data)?;
    if left.bytes == 0 {
        let place = match left.interval {
            Some(i) => format!("restart interval {}", i + 1),
            None => "the scan".to_owned(),
        };
        return Some(format!(
            "the last {} bits of {place} after its last block are not the 1-bits an encoder \
             pads with (the codes were read out of step: damaged scan data)",
            left.bits
        ));
    }
    Some(match left.interval {
        Some(i) => format!(
            "{} bytes of scan data in restart interval {} belong to no block (blocks were lost \
             or added in the scan data)",
            left.bytes,
            i + 1
        ),
        None => format!(
            "{} bytes of scan data before the end marker belong to no block (blocks were lost \
             or added in the scan data)",
            left.bytes
        ),
    })
}

/// [`is_damage`]; or a frame marker of a process libjpeg-turbo does not decode (a lossless
/// SOF3, say) met in the middle of the data: the frame read first is one it decodes, so that is
/// bytes out of place; or a few bytes left over before the end marker that are not fill.
fn is_damage_message(data: &[u8], header: &Header, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    is_damage(message)
        || m.contains("unsupported jpeg process")
        || stray_count(&m).is_some_and(|n| !stray_bytes_are_fill(data, header.first_scan_at, n))
}

/// Most bytes before the end marker that may be an encoder's padding rather than damage.
const STRAY_BYTES_MAX: usize = 16;

/// libjpeg's "Corrupt JPEG data: N extraneous bytes before marker 0xXX" (lower-cased
/// message): N (`usize::MAX` when unreadable) and whether the marker is the end marker.
fn extraneous_bytes(message: &str) -> Option<(usize, bool)> {
    let rest = message.strip_prefix("corrupt jpeg data: ")?;
    let (n, tail) = rest.split_once(" extraneous bytes before marker ")?;
    Some((
        n.trim().parse().unwrap_or(usize::MAX),
        tail.starts_with("0xd9"),
    ))
}

/// The N of "N extraneous bytes before marker 0xd9" (lower-cased message).
fn stray_count(message: &str) -> Option<usize> {
    extraneous_bytes(message).and_then(|(n, before_eoi)| before_eoi.then_some(n))
}

/// Whether the `n` bytes before the image's end marker (the first FF D9 after the first scan
/// header at `scan_at`) are zero or FF fill, as an encoder that pads its scan writes them. When
/// they are not, the decoder finished the picture with scan data left over: it read the data
/// out of step, and what it shows is shifted, however little is left.
fn stray_bytes_are_fill(data: &[u8], scan_at: usize, n: usize) -> bool {
    let Some(tail) = data.get(scan_at..) else {
        return false;
    };
    let Some(eoi) = tail.windows(2).position(|w| w == [0xFF, 0xD9]) else {
        return false;
    };
    // libjpeg counts the bytes before the marker's first FF (fill FFs before it are skipped).
    let mut end = eoi;
    while end > 0 && tail[end - 1] == 0xFF {
        end -= 1;
    }
    end.checked_sub(n)
        .and_then(|start| tail.get(start..end))
        .is_some_and(|stray| stray.iter().all(|&b| b == 0x00 || b == 0xFF))
}

/// The coefficient steps of [`jpeg_damage`] on a frame read in full: the first component's
/// blocks averaging outside 0–255, or a drift's top edge in any of the first three components.
fn coefficient_damage(planes: &[crate::coefficients::Plane], header: &Header) -> Option<String> {
    use crate::coefficients::{dc_out_of_range, drift_staircase, drift_step_line};
    if header.bits != 8 {
        return None;
    }
    let (w, h) = (header.width as usize, header.height as usize);
    let luma = planes.first()?;
    if let Some(q) = header.dc_quants[0] {
        if let Some((n, worst)) = dc_out_of_range(luma, q, w.div_ceil(8), h.div_ceil(8)) {
            return Some(format!(
                "{n} blocks of the scan average {worst:.0} before clamping, outside the 0–255 \
                 that 8-bit samples can hold (the brightness drifted from a damaged difference \
                 in the scan data)"
            ));
        }
    }
    for (c, plane) in planes.iter().enumerate() {
        let Some(q) = header.dc_quants.get(c).copied().flatten() else {
            continue;
        };
        // Block size from the planes' proportions: 8 px for the first component, 16 px
        // where chroma is subsampled 2:1.
        let ratio = |a: usize, b: usize| (a as f32 / b.max(1) as f32).round().clamp(1.0, 4.0);
        let block = (
            8 * ratio(luma.width, plane.width) as usize,
            8 * ratio(luma.height, plane.height) as usize,
        );
        if let Some((run, row, step)) = drift_step_line(plane, q, block, c > 0, w, h) {
            let what = [
                "brightness",
                "blue-difference colour",
                "red-difference colour",
            ][c];
            return Some(format!(
                "the {what} of the scan steps by {step:+.1} levels along row {row} in {run} \
                 flat blocks alike out to the right edge (a DC drift from damaged scan data)"
            ));
        }
        if c > 0 {
            if let Some((row, column, step)) = drift_staircase(plane, q, block, w, h) {
                let what = ["", "blue-difference colour", "red-difference colour"][c];
                return Some(format!(
                    "the {what} of the scan steps by {step:+.1} levels from column {column} of \
                     row {row} to the end of the photo (a DC drift from damaged scan data)"
                ));
            }
        }
    }
    None
}

/// Blocks in a row that must step together before [`block_grid_damage`] calls it damage: a
/// step one pixel wide with backdrop white on one side.
const GRID_RUN_BLOCKS: usize = 5;
/// The same anywhere else (inside the subject, or against a coloured or patterned backdrop,
/// where straight grid-aligned edges are commoner).
const GRID_RUN_BLOCKS_ANYWHERE: usize = 12;
/// The same for a step smeared over the pixel on each side of the line (chroma upsampling
/// blends the rows next to a 4:2:0 block edge), counted only where one side is backdrop white:
/// natural edges two pixels wide are commoner, so the run must be longer.
const GRID_RUN_BLOCKS_SMEARED: usize = 6;
/// Luma of the bright side of a smeared step.
const GRID_BRIGHT: f32 = 230.0;

/// Damage the decoders let through. A flipped bit or a stretch of wrong bytes in a JPEG's
/// scan often leaves valid Huffman codes: nothing is reported, but every block after the spot
/// decodes with a wrong DC term (the DC is coded as a difference from the previous block), so
/// the rest of the image, or of the restart interval, is brighter or darker by a constant.
/// That shows as a step exactly on the 8×8 block grid, between two areas that are each smooth,
/// running on for many blocks with one sign: something no lens produces, and more than one DC
/// quantisation step (`dc_quant`, the luma table's first entry: a heavily compressed JPEG's
/// blocks legitimately step by about that much).
///
/// Returns the longest such run, in pixels, if it spans [`GRID_RUN_BLOCKS`] blocks or more
/// (or [`GRID_RUN_BLOCKS_SMEARED`] for a step smeared by upsampling against white), along a row
/// or a column of the grid. Measured on damaged copies of compliant photos
/// (`bench/damage/damage.py`): no intact photo comes near either run.
pub(crate) fn block_grid_damage(rgb: &RgbImage, luma: &[f32], dc_quant: u16) -> Option<u32> {
    let (w, h) = rgb.dimensions();
    if w < 24 || h < 24 {
        return None;
    }
    let threshold = 5f32.max(1.5 * f32::from(dc_quant) / 8.0);
    let (w, h) = (w as usize, h as usize);
    let rows = |i: usize, j: usize| luma[i * w + j];
    let columns = |i: usize, j: usize| luma[j * w + i];
    let sharp = longest_grid_run(rows, h, w, threshold, 0)
        .max(longest_grid_run(columns, w, h, threshold, 0));
    if sharp.bright >= GRID_RUN_BLOCKS {
        return Some(sharp.bright as u32 * 8);
    }
    if sharp.anywhere >= GRID_RUN_BLOCKS_ANYWHERE {
        return Some(sharp.anywhere as u32 * 8);
    }
    let smeared = longest_grid_run(rows, h, w, threshold, 1)
        .max(longest_grid_run(columns, w, h, threshold, 1))
        .bright;
    if smeared >= GRID_RUN_BLOCKS_SMEARED {
        return Some(smeared as u32 * 8);
    }
    let drift = drift_lines(luma, w, h, dc_quant);
    if drift.run >= DRIFT_RUN_BLOCKS {
        return Some(drift.run as u32 * 8);
    }
    if drift.score >= DRIFT_LINE_SCORE {
        return Some(drift.score as u32 * 8);
    }
    restart_strip(luma, w, h).map(|blocks| blocks as u32 * 8)
}

/// The Rec. 601 luma of every pixel, row by row ([`crate::color::luma`]).
fn luma_plane(rgb: &RgbImage) -> Vec<f32> {
    // The weights of `color::luma`, summed in its order: the same values.
    channel_mix(rgb.as_raw(), [0.299, 0.587, 0.114])
}

/// `k[0]·R + k[1]·G + k[2]·B` of every pixel of packed RGB bytes, as a plane. A sized loop
/// over the raw bytes (a pixel iterator's `collect` did not vectorise).
#[multiversion::multiversion(targets("x86_64+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn channel_mix(raw: &[u8], k: [f32; 3]) -> Vec<f32> {
    let mut out = vec![0f32; raw.len() / 3];
    for (o, p) in out.iter_mut().zip(raw.chunks_exact(3)) {
        *o = k[0] * f32::from(p[0]) + k[1] * f32::from(p[1]) + k[2] * f32::from(p[2]);
    }
    out
}

/// Largest luma DC quantiser at which the pixel damage steps run: 27 is IJG quality 30, the
/// compression limit (`quality.compression`, `jpeg_quality_min`). Below it, an intact photo's
/// blocks step along the grid and its flat areas quantise to one colour much as a decoding
/// error leaves them (intact calibration photos at quality 10–25 were refused as damaged,
/// `bench/calibrate/jpeg.py`); such a file fails `quality.compression` instead, with the
/// message to export it again at quality 70. The decoders' own warnings still count.
const PIXEL_STEPS_MAX_DC_QUANT: u16 = 27;

/// Largest DC quantiser at which [`shifted_rows`] is judged: coarser files have flat blocks
/// that match their neighbours at any shift.
const SHIFT_MAX_DC_QUANT: u16 = 16;
/// Largest ratio of the shifted to the unshifted mismatch at which a row segment counts as
/// shifted. Measured (2026-12-05): intact photos of the damage runs 0.245 at the least,
/// crops of the calibration people 0.25, the fixtures 0.165 (an upscaled low-resolution
/// photo) apart from the coarsely quantised ones; damaged files that the other steps let
/// through 0.08–0.12 where a block was lost.
const SHIFT_RATIO_MAX: f32 = 0.12;
/// Textured blocks a shifted segment must hold, and their least summed mismatch (levels).
const SHIFT_MIN_BLOCKS: usize = 4;
const SHIFT_MIN_MISMATCH: f32 = 600.0;
/// A block's mismatch below which it is flat (backdrop) and says nothing about a shift.
const SHIFT_FLAT: f32 = 40.0;

/// Rows shifted sideways against the rows above them by whole blocks: a lost or added block
/// of scan data moves every later block along in raster order, so from one grid line on (to
/// the right of the damage, and over the whole width one block row lower) the picture continues
/// 8 or 16 px out of place. Across a grid line, the segment of the line from either end to
/// some block is compared with the row above it unshifted and shifted by ±8 and ±16 px: in a
/// photo the unshifted rows match best, after such damage a shift matches far better.
/// Returns the line and the lowest ratio of shifted to unshifted mismatch, when below
/// [`SHIFT_RATIO_MAX`] over at least [`SHIFT_MIN_BLOCKS`] textured blocks.
pub(crate) fn shifted_rows(rgb: &RgbImage, luma: &[f32]) -> Option<(u32, f32)> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let nb = w / 8;
    if nb < 2 * SHIFT_MIN_BLOCKS || h < 16 {
        return None;
    }
    let mut best: Option<(u32, f32)> = None;
    let (mut e0, mut es) = (vec![0f32; nb], vec![0f32; nb]);
    for y0 in (8..h).step_by(8) {
        let (a, b) = (&luma[(y0 - 1) * w..y0 * w], &luma[y0 * w..(y0 + 1) * w]);
        for (k, e) in e0.iter_mut().enumerate() {
            *e = (k * 8..k * 8 + 8).map(|x| (a[x] - b[x]).abs()).sum();
        }
        for shift in [8isize, -8, 16, -16] {
            // Blocks whose shifted partner lies outside the row are left out (NaN).
            for (k, e) in es.iter_mut().enumerate() {
                *e = (k * 8..k * 8 + 8)
                    .map(|x| {
                        let xs = x as isize + shift;
                        if (0..w as isize).contains(&xs) {
                            (a[x] - b[xs as usize]).abs()
                        } else {
                            f32::NAN
                        }
                    })
                    .sum();
            }
            // Segments from the left end and from the right end.
            for forward in [true, false] {
                let (mut s0, mut ss, mut n) = (0f32, 0f32, 0usize);
                for i in 0..nb {
                    let k = if forward { i } else { nb - 1 - i };
                    if es[k].is_nan() || e0[k] < SHIFT_FLAT {
                        continue;
                    }
                    s0 += e0[k];
                    ss += es[k];
                    n += 1;
                    if n >= SHIFT_MIN_BLOCKS && s0 >= SHIFT_MIN_MISMATCH {
                        let ratio = ss / s0;
                        if ratio < SHIFT_RATIO_MAX && best.is_none_or(|(_, r)| ratio < r) {
                            best = Some((y0 as u32, ratio));
                        }
                    }
                }
            }
        }
    }
    best
}

/// Blocks a [`chroma_grid_run`] must span. Measured (2026-12-05): intact photos of the damage
/// runs reach 3, crops of the 39 calibration people re-encoded at quality 75–92 (4:2:0 and
/// 4:4:4) 3, the fixtures 4 (a busy backdrop); 8 of the 25 damaged files the other steps let
/// through (seeds 2–7) had 6–21.
const CHROMA_RUN_BLOCKS: usize = 6;
/// Least colour step (Cb or Cr levels) of a [`chroma_grid_run`] block, raised with the DC
/// quantiser like the luma steps'.
const CHROMA_STEP_MIN: f32 = 4.0;
/// Most colour gradient (Cb or Cr levels a pixel) just outside the step on either side.
const CHROMA_FLAT: f32 = 1.5;
/// Most luma gradient just outside the step on either side.
const CHROMA_LUMA_FLAT: f32 = 3.0;

/// The longest run of 8-px blocks along a horizontal grid line where the colour (Cb or Cr)
/// steps with one sign between two flat areas: a wrong chroma DC term running on in raster
/// order tints the rest of the scan (a cream or pink backdrop from one block row down, a
/// shirt turned green), often with hardly a luma step. Compared one row further out on each
/// side, as 4:2:0 upsampling blends the two rows next to the line.
pub(crate) fn chroma_grid_run(rgb: &RgbImage, luma: &[f32], dc_quant: u16) -> usize {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    if w < 16 || h < 16 {
        return 0;
    }
    let raw = rgb.as_raw();
    let cb = channel_mix(raw, [-0.168_736, -0.331_264, 0.5]);
    let cr = channel_mix(raw, [0.5, -0.418_688, -0.081_312]);
    let threshold = CHROMA_STEP_MIN.max(1.5 * f32::from(dc_quant) / 8.0);
    let ya = |r: usize, x: usize| luma[r * w + x];
    let mut best = 0;
    for c in [&cb, &cr] {
        let at = |r: usize, x: usize| c[r * w + x];
        for y0 in (8..h - 3).step_by(8) {
            let mut line = SignRun::default();
            for b in 0..w / 8 {
                let s = b * 8;
                let step = median8_beyond(|x| at(y0 + 1, x) - at(y0 - 2, x), s, threshold);
                let step = step.unwrap_or(0.0);
                let steps = step.abs() >= threshold
                    && median8(|x| (at(y0 - 2, x) - at(y0 - 3, x)).abs(), s) <= CHROMA_FLAT
                    && median8(|x| (at(y0 + 2, x) - at(y0 + 1, x)).abs(), s) <= CHROMA_FLAT
                    && median8(|x| (ya(y0 - 2, x) - ya(y0 - 3, x)).abs(), s) <= CHROMA_LUMA_FLAT
                    && median8(|x| (ya(y0 + 2, x) - ya(y0 + 1, x)).abs(), s) <= CHROMA_LUMA_FLAT;
                line.push(steps.then_some(step));
            }
            best = best.max(line.best);
        }
    }
    best
}

/// Least checkerboard amplitude (luma levels) of a [`garbage_block`]: twice the highest of
/// any intact photo measured (6.0, an eye of a calibration person's photo downscaled with
/// Lanczos: eyelashes and catchlights alias into the highest frequency).
const GARBAGE_MIN: f32 = 12.0;
/// How many times the photo's own 99th percentile of the amplitude a [`garbage_block`] must
/// reach (noise raises every block's amplitude: a noisy photo's highest block stands about 3
/// times its 99th percentile).
const GARBAGE_RATIO: f32 = 6.0;

/// An 8×8 grid block whose pixels alternate like a checkerboard far more strongly than
/// anything else in the photo: the highest-frequency DCT term, which photographs (after the
/// lens and the encoder's quantisation) barely hold, but which wrong bytes read as Huffman
/// codes fill at random. The amplitude is |Σ (−1)^(x+y) luma| / 64 over the block. Measured
/// (2026-12-05): the intact damage bases (`bench/damage/damage.py`) reach 2.1 at most, 234
/// crops of the calibration people (`bench/damage/intact.py`) 6.0 with a 99th percentile of
/// 0.6, the fixtures' heavily noised photos 18 with a 99th percentile of 6.4; of the 23 damaged
/// files of seeds 2–5 that passed every other step, 7 had a block of 5.6–22 against a 99th
/// percentile below 0.8, 2 of them at 12 or more.
/// Returns the block's top-left pixel.
pub(crate) fn garbage_block(rgb: &RgbImage, luma: &[f32]) -> Option<(u32, u32)> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let (bw, bh) = (w / 8, h / 8);
    if bw * bh < 16 {
        return None;
    }
    let mut amp = Vec::with_capacity(bw * bh);
    for by in 0..bh {
        for bx in 0..bw {
            let mut sum = 0f32;
            for y in 0..8 {
                let row = &luma[(by * 8 + y) * w + bx * 8..][..8];
                for (x, v) in row.iter().enumerate() {
                    sum += if (x + y) % 2 == 0 { *v } else { -*v };
                }
            }
            amp.push(sum.abs() / 64.0);
        }
    }
    let (at, &top) = amp.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    if top < GARBAGE_MIN {
        return None;
    }
    let mut sorted = amp.clone();
    let k = (sorted.len() * 99 / 100).min(sorted.len() - 1);
    let (_, p99, _) = sorted.select_nth_unstable_by(k, f32::total_cmp);
    (top >= GARBAGE_RATIO * *p99).then(|| ((at % bw) as u32 * 8, (at / bw) as u32 * 8))
}

/// Rows' worth of pixels a [`uniform_tail`] must cover.
const TAIL_ROWS: u32 = 8;

/// The end of the image filled with one flat colour: what both decoders produce when the scan
/// data stops early or ends in a marker (missing coefficients read as zero, so every later
/// block repeats the last DC value). Counts the pixels, backwards in raster order from the last
/// one, that equal it within 2 levels per channel, and returns their extent in rows if it
/// reaches [`TAIL_ROWS`] full rows and the colour is not clipped white or black (a blown-out
/// or crushed bottom edge is flat for other reasons and is judged by the exposure checks).
pub fn uniform_tail(rgb: &RgbImage) -> Option<u32> {
    let (w, h) = rgb.dimensions();
    let raw = rgb.as_raw();
    let last = raw.get(raw.len().checked_sub(3)?..)?;
    let clipped = last.iter().all(|&c| c >= 245) || last.iter().all(|&c| c <= 10);
    if clipped || h < 2 * TAIL_ROWS {
        return None;
    }
    let same = raw
        .chunks_exact(3)
        .rev()
        .take_while(|p| p.iter().zip(last).all(|(&a, &b)| a.abs_diff(b) <= 2))
        .count();
    let rows = (same / w as usize) as u32;
    (rows >= TAIL_ROWS).then_some(rows)
}

/// The longest run of consecutive blocks along a line that step with one sign.
#[derive(Debug, Default)]
struct SignRun {
    run: usize,
    sign: f32,
    best: usize,
}

impl SignRun {
    /// The next block: its step, or `None` when it does not step (the run ends).
    fn push(&mut self, step: Option<f32>) {
        match step {
            Some(s) => {
                self.run = if self.run > 0 && s.signum() == self.sign {
                    self.run + 1
                } else {
                    1
                };
                self.sign = s.signum();
                self.best = self.best.max(self.run);
            }
            None => self.run = 0,
        }
    }
}

/// Least [`DriftLines::run`] that is damage. Measured (`bench/damage/damage.py`, 2026-12-05): the
/// longest run on any intact photo was 4 blocks (a busy tiled backdrop) and 3 on 1 170
/// re-encoded crops of the calibration people; every visibly damaged file that the other
/// steps let through had 5 or more.
const DRIFT_RUN_BLOCKS: usize = 5;
/// Least step, in luma levels, of a [`DriftLines::run`] block (raised with the DC quantiser).
const DRIFT_STEP_MIN: f32 = 6.0;
/// Most median gradient of the rows just above and below the grid line: textured areas such as
/// skin qualify, hair and fabric weave mostly do not.
const DRIFT_NEIGHBOUR_MAX: f32 = 5.0;
/// Luma at which both sides are clipped white: a DC error there cannot show, so such a block
/// neither extends nor breaks a run.
const DRIFT_SATURATED: f32 = 250.0;

/// What [`drift_lines`] found along the horizontal grid lines, each line's best kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DriftLines {
    /// The longest run of 8-px blocks along one line where the image steps by the same sign,
    /// measured against the rows' own gradient (the step across the line less the mean of the
    /// steps one row above and below it), each block's sides smooth enough
    /// ([`DRIFT_NEIGHBOUR_MAX`]) and its step at least [`DRIFT_STEP_MIN`]. A DC error that runs
    /// on in raster order (to the end of the scan, or of its restart interval) shifts every
    /// later block by a constant: its top edge is such a line across the face or the clothes,
    /// while the white backdrop, clipped, hides it. [`longest_grid_run`] needs smooth sides
    /// and misses these.
    run: usize,
    /// The strongest one-signed step along one line, in blocks: a block counts when its step
    /// is at least [`DRIFT_LINE_STEP`] and [`DRIFT_LINE_TEXTURE`] times the steps one row above
    /// and below (hair and fabric count too, where they are not too busy); the score is the
    /// blocks of the commoner sign less twice those of the other. Such a DC error steps one way
    /// across the whole width whether or not the blocks along it touch (a natural edge on the
    /// grid steps both ways or over a few blocks).
    score: usize,
}

/// Both drift measures of [`DriftLines`] in one pass over the grid lines; their least steps
/// rise with the luma DC quantiser `dc_quant` (a coarse file's blocks step by about that much).
/// Clipped white blocks neither extend nor break a run, nor count.
fn drift_lines(luma: &[f32], w: usize, h: usize, dc_quant: u16) -> DriftLines {
    let quant_step = 1.5 * f32::from(dc_quant) / 8.0;
    let (run_min, line_min) = (
        DRIFT_STEP_MIN.max(quant_step),
        DRIFT_LINE_STEP.max(quant_step),
    );
    let at = |y: usize, x: usize| luma[y * w + x];
    let mut best = DriftLines { run: 0, score: 0 };
    for y0 in (8..h.saturating_sub(2)).step_by(8) {
        let mut run = SignRun::default();
        let (mut up, mut down) = (0usize, 0usize);
        // Below the smaller of the two least steps a block counts for neither measure.
        let least = run_min.min(line_min);
        for b in 0..w / 8 {
            let (step, texture) = match grid_line_step(&at, y0, b * 8, least) {
                None => continue,
                Some(None) => {
                    run.push(None);
                    continue;
                }
                Some(Some(s)) => s,
            };
            let smooth_step = step.abs() >= run_min && texture <= DRIFT_NEIGHBOUR_MAX;
            run.push(smooth_step.then_some(step));
            if step.abs() >= line_min.max(DRIFT_LINE_TEXTURE * texture) {
                if step > 0.0 {
                    up += 1;
                } else {
                    down += 1;
                }
            }
        }
        best.run = best.run.max(run.best);
        best.score = best
            .score
            .max(up.max(down).saturating_sub(2 * up.min(down)));
    }
    best
}

/// Across the horizontal grid line at `y0`, the 8-px block from `start`: the step across the
/// line less the mean of the steps one row above and below it (the rows' own gradient), and the
/// larger of those two steps' medians (the texture there); `None` where both sides are clipped
/// white, where a DC error cannot show; `Some(None)` where the step is smaller than `least`
/// (> 0; the texture is then not measured).
fn grid_line_step(
    at: &dyn Fn(usize, usize) -> f32,
    y0: usize,
    start: usize,
    least: f32,
) -> Option<Option<(f32, f32)>> {
    // Luma is never negative: a median reaching the level from above is one beyond it.
    let clipped = median8_beyond(|x| at(y0 - 1, x), start, DRIFT_SATURATED).is_some()
        && median8_beyond(|x| at(y0, x), start, DRIFT_SATURATED).is_some();
    if clipped {
        return None;
    }
    let above = |x: usize| at(y0 - 1, x) - at(y0 - 2, x);
    let below = |x: usize| at(y0 + 1, x) - at(y0, x);
    let Some(step) = median8_beyond(
        |x| at(y0, x) - at(y0 - 1, x) - (above(x) + below(x)) / 2.0,
        start,
        least,
    ) else {
        return Some(None);
    };
    let texture = median8(|x| above(x).abs(), start).max(median8(|x| below(x).abs(), start));
    Some(Some((step, texture)))
}

/// Least [`DriftLines::score`] that is damage. Measured 2026-12-06 (`bench/damage/damage.py`,
/// seeds 12–15, the 20 compliant fixtures and 39 calibration people, five encodings each, and
/// `bench/damage/intact.py`'s 234 crops): intact photos 5 at most (1 414 files), the
/// calibration photos with Gaussian noise of σ 4–12 added 7 at most, the noised fixtures 7;
/// the visibly damaged files that every other step let through median 12, up to 37, and the
/// whole-photo drifts that start in the hair at the top 9.
const DRIFT_LINE_SCORE: usize = 8;
/// Least step of a [`DriftLines::score`] block, and its least multiple of the rows' own
/// gradient there.
const DRIFT_LINE_STEP: f32 = 8.0;
const DRIFT_LINE_TEXTURE: f32 = 1.5;

/// Blocks a [`restart_strip`] must span, counted from the right edge.
const STRIP_BLOCKS: usize = 3;

/// A band one MCU row tall (8 or 16 px) that runs to the right edge of the frame, where it
/// differs from the rows just above and below it while those two agree with each other, and
/// both are smooth: the rest of a restart interval decoded from wrong data (with restart
/// markers, damage ends at the end of its MCU row instead of running on to the end of the
/// scan). Returns the blocks it spans, counted leftwards from the last whole block.
fn restart_strip(luma: &[f32], w: usize, h: usize) -> Option<usize> {
    const AGREE: f32 = 6.0;
    const DIFFER: f32 = 20.0;
    const SMOOTH: f32 = 3.0;
    let at = |y: usize, x: usize| luma[y * w + x];
    let mut best = 0;
    for band in [8usize, 16] {
        for y0 in (8..h).step_by(8) {
            // The rows next to the band may be blended with it by chroma upsampling: compare
            // one row further out.
            let (above, below) = (y0 - 2, y0 + band + 1);
            if below + 1 >= h {
                break;
            }
            let mut run = 0;
            for b in (0..w / 8).rev() {
                let start = b * 8;
                let agree = median8(|x| (at(below, x) - at(above, x)).abs(), start);
                let smooth = median8(|x| (at(above, x) - at(above - 1, x)).abs(), start)
                    .max(median8(|x| (at(below + 1, x) - at(below, x)).abs(), start));
                let differ = median8(
                    |x| {
                        let mid = (at(above, x) + at(below, x)) / 2.0;
                        (y0..y0 + band).map(|y| (at(y, x) - mid).abs()).sum::<f32>() / band as f32
                    },
                    start,
                );
                if agree <= AGREE && smooth <= SMOOTH && differ >= DIFFER {
                    run += 1;
                } else {
                    break;
                }
            }
            best = best.max(run);
        }
    }
    (best >= STRIP_BLOCKS).then_some(best)
}

/// The median of `f(start)` … `f(start + 7)`: one 8-px block along a grid line.
#[inline]
fn median8(f: impl Fn(usize) -> f32, start: usize) -> f32 {
    let mut v = [0f32; 8];
    for (k, slot) in v.iter_mut().enumerate() {
        *slot = f(start + k);
    }
    // A sorting network (19 compare-exchanges) instead of a general sort: the values are
    // finite, so the two middle ones are the same either way. Written out with constant
    // indices so the eight values stay in registers (a loop over a table of pairs compiled to
    // loads and stores on the stack).
    macro_rules! exchange {
        ($(($a:literal, $b:literal)),*) => {
            $(
                let (lo, hi) = (v[$a].min(v[$b]), v[$a].max(v[$b]));
                v[$a] = lo;
                v[$b] = hi;
            )*
        };
    }
    exchange!(
        (0, 2),
        (1, 3),
        (4, 6),
        (5, 7),
        (0, 4),
        (1, 5),
        (2, 6),
        (3, 7),
        (0, 1),
        (2, 3),
        (4, 5),
        (6, 7),
        (2, 4),
        (3, 5),
        (1, 4),
        (3, 6),
        (1, 2),
        (3, 4),
        (5, 6)
    );
    (v[3] + v[4]) / 2.0
}

/// [`median8`] when its magnitude reaches `t` (> 0), else `None`, found without sorting for
/// most blocks: the median is the mean of the 4th and 5th smallest, so it reaches `t` only if
/// four values do (and −`t` only if four lie at or below it). Exact, rounding included: the
/// mean of two values below `t` stays below it.
#[inline]
fn median8_beyond(f: impl Fn(usize) -> f32, start: usize, t: f32) -> Option<f32> {
    let v: [f32; 8] = std::array::from_fn(|k| f(start + k));
    let up = v.iter().filter(|&&x| x >= t).count();
    let down = v.iter().filter(|&&x| x <= -t).count();
    if t > 0.0 && up < 4 && down < 4 {
        return None;
    }
    let m = median8(|k| v[k], 0);
    (m.abs() >= t).then_some(m)
}

/// The longest runs [`longest_grid_run`] found: with one side backdrop-bright, and anywhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct GridRuns {
    bright: usize,
    anywhere: usize,
}

impl GridRuns {
    fn max(self, other: GridRuns) -> GridRuns {
        GridRuns {
            bright: self.bright.max(other.bright),
            anywhere: self.anywhere.max(other.anywhere),
        }
    }
}

/// The longest runs of 8-px blocks along one grid line (`at(i, j)`: line direction `j`, across
/// it `i`, `lines` × `len` samples) where the two sides are smooth (median absolute gradient of
/// at most 2 levels just outside the step) and the step across the line (its median over the
/// block, from row `i - 1 - smear` to row `i + smear`) is at least `threshold`, with one sign;
/// counted over all such blocks, and over those where one side's median is backdrop white.
fn longest_grid_run(
    at: impl Fn(usize, usize) -> f32,
    lines: usize,
    len: usize,
    threshold: f32,
    smear: usize,
) -> GridRuns {
    const FLAT: f32 = 2.0;
    let mut best = GridRuns::default();
    for i in (8..lines.saturating_sub(1 + smear)).step_by(8) {
        let (top, bottom) = (i - 1 - smear, i + smear);
        let (mut run, mut lit_run, mut sign) = (0usize, 0usize, 0f32);
        for b in 0..len / 8 {
            let start = b * 8;
            // The step first: almost every block fails it, and the rest is then not needed.
            let step = median8_beyond(|j| at(bottom, j) - at(top, j), start, threshold);
            let step = step.unwrap_or(0.0);
            let steps = step.abs() >= threshold
                && median8(|j| (at(top, j) - at(top - 1, j)).abs(), start) <= FLAT
                && median8(|j| (at(bottom + 1, j) - at(bottom, j)).abs(), start) <= FLAT;
            if !steps {
                (run, lit_run) = (0, 0);
                continue;
            }
            let same = run > 0 && step.signum() == sign;
            sign = step.signum();
            run = if same { run + 1 } else { 1 };
            let lit = median8(|j| at(top, j), start).max(median8(|j| at(bottom, j), start))
                >= GRID_BRIGHT;
            lit_run = match (lit, same) {
                (false, _) => 0,
                (true, true) => lit_run + 1,
                (true, false) => 1,
            };
            best = best.max(GridRuns {
                bright: lit_run,
                anywhere: run,
            });
        }
    }
    best
}

/// Whether a libjpeg message reports damaged scan data (see [`jpeg_damage`]).
fn is_damage(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    if m.contains("icc marker") {
        return false;
    }
    // "Corrupt JPEG data: N extraneous bytes before marker 0xd9": a few padding bytes at the
    // end are an encoder's habit (what they are is judged by `is_damage_message`); more is
    // data that did not belong to the image.
    if let Some((n, before_eoi)) = extraneous_bytes(&m) {
        return !(before_eoi && n <= STRAY_BYTES_MAX);
    }
    // Warnings about the data, and fatal errors that a file whose header parsed can only meet
    // in a broken scan: a scan header naming a component, table or progression step that does
    // not exist, a marker segment of impossible length, a coefficient beyond any table's
    // range. (Errors about what the library does not do — a colour conversion, a precision,
    // a size — are not damage.)
    [
        "corrupt jpeg data",
        "premature end",
        "inconsistent progression",
        "huffman",
        "invalid jpeg file structure",
        "unsupported marker",
        "invalid progressive parameters",
        "invalid component id",
        "bogus marker length",
        "bogus dht index",
        "bogus dqt index",
        "bogus dac",
        "was not defined",
        "dct coefficient out of range",
        "sampling factors too large for interleaved scan",
        "didn't expect more than one scan",
    ]
    .iter()
    .any(|k| m.contains(k))
}

fn map_image_error(e: image::ImageError) -> DecodeError {
    match e {
        image::ImageError::Limits(l) => {
            DecodeError::TooCostly(format!("over the decoder's memory ceiling ({l})"))
        }
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated
        }
        other => DecodeError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_eight_is_that_of_a_full_sort() {
        // Every 0/1 pattern (the sorting network sorts all inputs iff it sorts these), then
        // values with ties and signs.
        let sorted_median = |v: [f32; 8]| {
            let mut s = v;
            s.sort_by(f32::total_cmp);
            (s[3] + s[4]) / 2.0
        };
        let mut cases: Vec<[f32; 8]> = (0..256u32)
            .map(|m| std::array::from_fn(|i| ((m >> i) & 1) as f32))
            .collect();
        let mut x = 12345u32;
        for _ in 0..2000 {
            cases.push(std::array::from_fn(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((x >> 16) % 21) as f32 - 10.0
            }));
        }
        for v in cases {
            assert_eq!(median8(|k| v[k], 0), sorted_median(v), "{v:?}");
            // The shortcut agrees at every threshold, the median's own value included.
            let m = sorted_median(v);
            for t in [0.5, 1.0, 2.0, 4.5, 5.0, m.abs(), m.abs() + 0.25, 11.0] {
                if t > 0.0 {
                    let want = (m.abs() >= t).then_some(m);
                    assert_eq!(median8_beyond(|k| v[k], 0, t), want, "{v:?} at {t}");
                }
            }
        }
    }

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
    fn a_luma_crop_is_the_full_decode_s_luma_on_the_file_s_grid() {
        for grey in [false, true] {
            let data = jpeg_bytes(300, 200, grey);
            let h = probe(&data, LIMITS).unwrap();
            let full = turbojpeg::decompress(&data, turbojpeg::PixelFormat::GRAY).unwrap();
            let c = jpeg_luma_crop(&data, &h, [37, 45, 250, 180]).expect("crops");
            // Moved out to whole MCUs (8 or 16 px), so the crop's block grid is the file's.
            let mcu = turbojpeg::read_header(&data).unwrap().subsamp.mcu_size();
            assert_eq!(
                (c.x, c.y),
                (
                    37 / mcu.0 as u32 * mcu.0 as u32,
                    45 / mcu.1 as u32 * mcu.1 as u32
                )
            );
            assert_eq!((c.width, c.height), (250 - c.x, 180 - c.y));
            for y in 0..c.height {
                for x in 0..c.width {
                    let want = full.pixels[(c.y + y) as usize * full.pitch + (c.x + x) as usize];
                    let got = c.luma[(y * c.width + x) as usize];
                    assert!(
                        want.abs_diff(got) <= 1,
                        "({x}, {y}) of the crop: {got}, the full decode {want}"
                    );
                }
            }
            assert!(jpeg_luma_crop(&data, &h, [100, 100, 110, 300]).is_none());
            assert!(jpeg_luma_crop(b"not a jpeg", &h, [0, 0, 100, 100]).is_none());
        }
    }

    #[test]
    fn a_scan_header_naming_what_does_not_exist_is_damage() {
        // A scan that names a component the frame does not have: libjpeg-turbo stops with a
        // fatal error, a lenient decoder may skip the scan; either way the file is broken.
        let mut data = jpeg_bytes(64, 48, false);
        let sos = data.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        data[sos + 5] = 9;
        let h = probe(&data, LIMITS).unwrap();
        let warning = jpeg_damage(&data, &h).expect("libjpeg-turbo reports it");
        assert!(warning.contains("component ID"), "{warning}");
        assert!(decode(&data, h, LIMITS).is_err());
        // A frame marker of a process libjpeg-turbo does not decode (lossless SOF3), after
        // the scan of a frame it does: bytes out of place, not a lossless photo.
        let mut misplaced = jpeg_bytes(64, 48, false);
        let eoi = misplaced.len() - 2;
        let sof3 = [0xFF, 0xC3, 0, 11, 8, 0, 16, 0, 16, 1, 1, 0x11, 0];
        misplaced.splice(eoi..eoi, sof3);
        let h = probe(&misplaced, LIMITS).unwrap();
        let warning = jpeg_damage(&misplaced, &h).expect("libjpeg-turbo reports it");
        assert!(warning.contains("SOF type 0xc3"), "{warning}");
        for m in [
            "Invalid progressive parameters Ss=0 Se=26 Ah=8 Al=12",
            "Quantization table 0x02 was not defined",
            "Bogus marker length",
        ] {
            assert!(is_damage(m), "{m}");
        }
        for m in [
            "Unsupported color conversion request",
            "Unsupported JPEG data precision 12",
            "Maximum supported image dimension is 65500 pixels",
        ] {
            assert!(!is_damage(m), "{m}");
        }
    }

    #[test]
    fn a_rectangle_of_the_shown_photo_maps_to_the_stored_frame() {
        let stored = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 0]));
        for o in 1..=8u8 {
            let mut shown = DynamicImage::ImageRgb8(stored.clone());
            shown.apply_orientation(image::metadata::Orientation::from_exif(o).unwrap());
            let shown = shown.to_rgb8();
            for (x, y, p) in shown.enumerate_pixels() {
                let r = [x as f32, y as f32, x as f32 + 1.0, y as f32 + 1.0];
                let s = oriented_rect_to_stored(r, o, 5, 3);
                assert_eq!((s[2] - s[0], s[3] - s[1]), (1.0, 1.0), "orientation {o}");
                let q = stored.get_pixel(s[0] as u32, s[1] as u32);
                assert_eq!(p, q, "orientation {o}: shown ({x}, {y}) is stored {s:?}");
            }
        }
    }

    #[test]
    fn libjpeg_and_the_image_decoder_see_the_same_photo() {
        // The damage steps run on both decoders' pixels: they must be the same photo, a
        // level or two apart, at the stored frame's size.
        for grey in [false, true] {
            let data = jpeg_bytes(64, 48, grey);
            let h = probe(&data, LIMITS).unwrap();
            let ours = decode(&data, h.clone(), LIMITS).unwrap().rgb;
            let theirs = libjpeg_rgb(&data, &h, 64, 48).expect("libjpeg decodes it");
            assert_eq!(theirs.dimensions(), (64, 48));
            let worst = ours
                .as_raw()
                .iter()
                .zip(theirs.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            let mean = ours
                .as_raw()
                .iter()
                .zip(theirs.as_raw())
                .map(|(a, b)| f64::from(a.abs_diff(*b)))
                .sum::<f64>()
                / ours.as_raw().len() as f64;
            assert!(
                mean < 2.0 && worst < 40,
                "grey {grey}: mean {mean}, worst {worst}"
            );
        }
        // A truncated file is nothing libjpeg can hand back whole.
        let data = jpeg_bytes(64, 48, false);
        let h = probe(&data, LIMITS).unwrap();
        assert!(libjpeg_rgb(&data[..data.len() / 2], &h, 64, 48).is_none());
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

    /// A colourful smooth frame encoded by libjpeg-turbo with `subsamp`.
    fn colour_jpeg(w: u32, h: u32, subsamp: turbojpeg::Subsamp) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                (128.0 + 100.0 * ((x as f32 / 53.0).sin() * (y as f32 / 61.0).cos())) as u8,
            ])
        });
        let raw = img.as_raw();
        let image = turbojpeg::Image {
            pixels: raw.as_slice(),
            width: w as usize,
            pitch: w as usize * 3,
            height: h as usize,
            format: turbojpeg::PixelFormat::RGB,
        };
        turbojpeg::compress(image, 92, subsamp).unwrap().to_vec()
    }

    #[test]
    fn the_one_decode_to_planes_matches_libjpeg_s_scaled_decode_and_keeps_the_luma() {
        use turbojpeg::Subsamp::*;
        // 1/4 (whole factors), and 3/8 (1200 × 1500: the box filter's path); 4:2:2 and 4:1:1
        // take the box filter for their chroma.
        for (w, h) in [(1600u32, 1800u32), (1203, 1501)] {
            for subsamp in [Sub2x2, Sub2x1, None, Gray, Sub4x1] {
                let data = colour_jpeg(w, h, subsamp);
                let hd = probe(&data, LIMITS).unwrap();
                let (mine, k, plane) =
                    decode_reduced_with_luma(&data, &hd, LIMITS, (358, 441)).unwrap();
                let plane = plane.expect("a YCbCr or grey JPEG decodes to planes");
                let (theirs, k2) = decode_reduced(&data, &hd, LIMITS, (358, 441)).unwrap();
                assert_eq!(
                    mine.rgb.dimensions(),
                    theirs.rgb.dimensions(),
                    "{subsamp:?}"
                );
                assert_eq!(k, k2);
                let (mut total, mut worst) = (0u64, 0u8);
                for (a, b) in mine.rgb.as_raw().iter().zip(theirs.rgb.as_raw()) {
                    total += u64::from(a.abs_diff(*b));
                    worst = worst.max(a.abs_diff(*b));
                }
                let mean = total as f64 / mine.rgb.as_raw().len() as f64;
                // 4:1:1's chroma (a quarter of the width) is reconstructed differently by
                // libjpeg's scaled upsampling: a level and a half on average there.
                let (mean_max, worst_max) = if subsamp == Sub4x1 {
                    (1.5, 16)
                } else {
                    (1.0, 12)
                };
                assert!(
                    mean <= mean_max && worst <= worst_max,
                    "{w}x{h} {subsamp:?}: mean difference {mean:.2}, worst {worst}"
                );
                // The kept plane is the luma a greyscale decode gives, cropped alike.
                let rect = [101, 203, 900, 1100];
                assert_eq!(
                    plane.crop(rect),
                    jpeg_luma_crop(&data, &hd, rect),
                    "{subsamp:?}"
                );
            }
        }
        // A CMYK or RGB JPEG cannot go to planes: the scaled decode or none.
        let png_like = Header {
            format: crate::header::Format::Png,
            ..probe(&smooth_jpeg(1600, 1800), LIMITS).unwrap()
        };
        assert!(
            decode_reduced_with_luma(&smooth_jpeg(1600, 1800), &png_like, LIMITS, (358, 441))
                .is_none()
        );
    }

    #[test]
    fn the_reciprocal_divides_as_integer_division_does() {
        for n in 1..=64u32 {
            let div = RoundDiv::new(n);
            for sum in 0..=255 * n {
                assert_eq!(u32::from(div.of(sum)), (sum + n / 2) / n, "{sum} / {n}");
            }
        }
    }

    #[test]
    fn block_means_match_a_plain_average_at_every_factor_and_edge() {
        let (stride, w, h) = (37usize, 35usize, 29usize);
        let mut state = 7u32;
        let plane: Vec<u8> = (0..stride * h)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect();
        for f in 1..=8 {
            let got = box_shrink(&plane, stride, w, h, f);
            let (dw, dh) = (w.div_ceil(f), h.div_ceil(f));
            for by in 0..dh {
                for bx in 0..dw {
                    let (mut sum, mut n) = (0u32, 0u32);
                    for y in by * f..((by + 1) * f).min(h) {
                        for x in bx * f..((bx + 1) * f).min(w) {
                            sum += u32::from(plane[y * stride + x]);
                            n += 1;
                        }
                    }
                    assert_eq!(u32::from(got[by * dw + bx]), (sum + n / 2) / n, "f {f}");
                }
            }
        }
    }

    #[test]
    fn whole_blocks_average_what_they_hold() {
        // 5 × 3 pixels (rows of 6 bytes) by 2: the right column and bottom row are halves.
        let plane = [
            10, 20, 30, 40, 50, 99, //
            30, 40, 50, 60, 70, 99, //
            100, 100, 0, 1, 255, 99,
        ];
        assert_eq!(
            box_shrink(&plane, 6, 5, 3, 2),
            vec![25, 45, 60, 100, 1, 255]
        );
        assert_eq!(box_shrink(&plane, 6, 5, 3, 1), {
            let mut v: Vec<u8> = plane.chunks(6).flat_map(|r| r[..5].to_vec()).collect();
            v.truncate(15);
            v
        });
    }

    #[test]
    fn ycc_converts_as_jfif_says() {
        let y = [0u8, 128, 255, 76, 150];
        let cb = [128u8, 128, 128, 85, 44];
        let cr = [128u8, 128, 128, 255, 21];
        let mut rgb = [0u8; 15];
        ycc_to_rgb(&y, &cb, &cr, &mut rgb);
        for (i, px) in rgb.chunks(3).enumerate() {
            let (l, b, r) = (
                f32::from(y[i]),
                f32::from(cb[i]) - 128.0,
                f32::from(cr[i]) - 128.0,
            );
            let want = [
                l + 1.402 * r,
                l - 0.344_136 * b - 0.714_136 * r,
                l + 1.772 * b,
            ]
            .map(|v| v.round().clamp(0.0, 255.0) as u8);
            for c in 0..3 {
                assert!(px[c].abs_diff(want[c]) <= 1, "{i}: {px:?} against {want:?}");
            }
        }
        assert_eq!(&rgb[..9], &[0, 0, 0, 128, 128, 128, 255, 255, 255]);
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
    fn a_jpeg_of_too_many_scans_is_refused_before_decoding() {
        let data = jpeg_bytes(64, 64, false);
        let mut h = probe(&data, LIMITS).unwrap();
        assert_eq!(h.scans, 1);
        h.scans = MAX_SCANS + 1;
        assert!(matches!(
            check_size(&h, LIMITS),
            Err(DecodeError::TooCostly(_))
        ));
        h.scans = MAX_SCANS;
        assert!(check_size(&h, LIMITS).is_ok());
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

    /// A portrait-like frame: white backdrop, a smooth darker oval with an edge a few pixels
    /// soft (as a lens draws it), 358 × 441.
    fn backdrop_portrait() -> RgbImage {
        RgbImage::from_fn(358, 441, |x, y| {
            let (dx, dy) = (x as f32 - 179.0, y as f32 - 230.0);
            let r = ((dx / 110.0).powi(2) + (dy / 170.0).powi(2)).sqrt();
            let alpha = ((1.0 - r) * 30.0).clamp(0.0, 1.0);
            let face = [
                150.0 + dy * 0.2,
                (150.0 + dy * 0.2) * 0.8,
                (150.0 + dy * 0.2) * 0.7,
            ];
            image::Rgb(face.map(|v| (alpha * v + (1.0 - alpha) * 255.0) as u8))
        })
    }

    /// `img` with every pixel from block row `row` on (in raster order from column `col`)
    /// darkened by `by`: what a wrong DC term does to the rest of a scan.
    fn dc_drift(img: &RgbImage, row: u32, col: u32, by: u8) -> RgbImage {
        let mut out = img.clone();
        for (x, y, p) in out.enumerate_pixels_mut() {
            let (br, bc) = (y / 8, x / 8);
            if br > row || (br == row && bc >= col) {
                for c in p.0.iter_mut() {
                    *c = c.saturating_sub(by);
                }
            }
        }
        out
    }

    #[test]
    fn a_dc_drift_along_the_block_grid_is_damage() {
        let clean = backdrop_portrait();
        assert_eq!(block_grid_damage(&clean, &luma_plane(&clean), 4), None);
        let drifted = dc_drift(&clean, 40, 20, 60);
        assert!(block_grid_damage(&drifted, &luma_plane(&drifted), 4).is_some_and(|run| run >= 32));
        // The same step off the grid is a natural edge, however long.
        let mut shifted = RgbImage::new(358, 441);
        for (x, y, p) in shifted.enumerate_pixels_mut() {
            *p = *drifted.get_pixel(x, y.saturating_sub(3));
        }
        assert_eq!(block_grid_damage(&shifted, &luma_plane(&shifted), 4), None);
        // A step one DC quantisation step could make in a heavily compressed file is not.
        let slight = dc_drift(&clean, 40, 20, 12);
        assert!(block_grid_damage(&slight, &luma_plane(&slight), 4).is_some());
        assert_eq!(block_grid_damage(&slight, &luma_plane(&slight), 80), None);
    }

    #[test]
    fn garbage_to_the_end_of_a_restart_interval_is_damage() {
        let clean = backdrop_portrait();
        let (w, h) = (358usize, 441usize);
        assert_eq!(restart_strip(&luma_plane(&clean), w, h), None);
        // One MCU row of garbage from x = 240 to the right edge, as a restart interval decoded
        // from wrong bytes leaves it: the whole check calls it damage.
        let mut strip = clean.clone();
        for y in 96..112 {
            for x in 240..358 {
                let v = if (x + y) % 2 == 0 { 60 } else { 200 };
                strip.put_pixel(x, y, image::Rgb([v, v / 2, 255 - v]));
            }
        }
        assert!(restart_strip(&luma_plane(&strip), w, h).is_some_and(|b| b >= STRIP_BLOCKS));
        assert!(block_grid_damage(&strip, &luma_plane(&strip), 4).is_some());
        // The same band stopping short of the edge is not a restart interval's end.
        let mut short = clean.clone();
        for y in 96..112 {
            for x in 240..330 {
                let v = if (x + y) % 2 == 0 { 60 } else { 200 };
                short.put_pixel(x, y, image::Rgb([v, v / 2, 255 - v]));
            }
        }
        assert_eq!(restart_strip(&luma_plane(&short), w, h), None);
    }

    /// A textured grey field (skin-like: neighbouring rows differ by a few levels, never in
    /// a straight line), brighter by `by` from block row `row`, column `col` on in raster order.
    fn textured_drift(row: u32, col: u32, by: f32, off_grid: u32) -> RgbImage {
        RgbImage::from_fn(358, 441, |x, y| {
            let h = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 1000;
            let mut v = 120.0 + (h as f32 / 999.0 - 0.5) * 6.0 + (x as f32 / 40.0).sin() * 8.0;
            let (br, bc) = ((y.saturating_sub(off_grid)) / 8, x / 8);
            if br > row || (br == row && bc >= col) {
                v += by;
            }
            image::Rgb([v as u8, (v * 0.8) as u8, (v * 0.7) as u8])
        })
    }

    #[test]
    fn a_dc_drift_across_a_textured_area_is_damage() {
        let clean = textured_drift(0, 0, 0.0, 0);
        assert!(drift_lines(&luma_plane(&clean), 358, 441, 4).run < DRIFT_RUN_BLOCKS);
        assert_eq!(block_grid_damage(&clean, &luma_plane(&clean), 4), None);
        // Brighter by 20 from block row 12, column 30, on: the line at y = 104 steps over the
        // first 30 blocks, in texture the smooth-sided grid step does not accept.
        let drifted = textured_drift(12, 30, 20.0, 0);
        assert!(drift_lines(&luma_plane(&drifted), 358, 441, 4).run >= 30);
        assert!(block_grid_damage(&drifted, &luma_plane(&drifted), 4).is_some());
        // The same step three rows off the grid is an edge in the picture.
        let natural = textured_drift(12, 30, 20.0, 3);
        assert!(drift_lines(&luma_plane(&natural), 358, 441, 4).run < DRIFT_RUN_BLOCKS);
        // Against a clipped white backdrop the shift cannot show: those blocks do not count.
        let mut white = drifted.clone();
        for (x, _, p) in white.enumerate_pixels_mut() {
            if x < 120 {
                *p = image::Rgb([255, 255, 255]);
            }
        }
        assert!(drift_lines(&luma_plane(&white), 358, 441, 4).run >= 15);
    }

    /// Dark hair-like texture, busy from row to row, brighter by `by` from block row `row`,
    /// column `col` on in raster order (`off_grid` rows below the grid: a natural edge).
    fn hair_drift(row: u32, col: u32, by: f32, off_grid: u32) -> RgbImage {
        RgbImage::from_fn(358, 441, |x, y| {
            let h = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 1000;
            let mut v = 70.0 + (h as f32 / 999.0 - 0.5) * 30.0;
            let (br, bc) = ((y.saturating_sub(off_grid)) / 8, x / 8);
            if br > row || (br == row && bc >= col) {
                v += by;
            }
            image::Rgb([v as u8, (v * 0.9) as u8, (v * 0.8) as u8])
        })
    }

    #[test]
    fn a_dc_drift_across_busy_hair_is_damage() {
        let score = |img: &RgbImage| drift_lines(&luma_plane(img), 358, 441, 4).score;
        let clean = hair_drift(0, 0, 0.0, 0);
        assert!(score(&clean) < DRIFT_LINE_SCORE, "{}", score(&clean));
        assert_eq!(block_grid_damage(&clean, &luma_plane(&clean), 4), None);
        // Brighter by 30 from block row 12, column 20 on: too busy for the run of smooth-sided
        // steps, but the line at y = 104 steps up over 24 blocks and nowhere down.
        let drifted = hair_drift(12, 20, 30.0, 0);
        let l = luma_plane(&drifted);
        assert!(drift_lines(&l, 358, 441, 4).run < DRIFT_RUN_BLOCKS);
        assert!(score(&drifted) >= DRIFT_LINE_SCORE, "{}", score(&drifted));
        assert!(block_grid_damage(&drifted, &l, 4).is_some());
        // The same step three rows below the grid is an edge in the picture.
        let natural = hair_drift(12, 20, 30.0, 3);
        assert!(score(&natural) < DRIFT_LINE_SCORE, "{}", score(&natural));
    }

    /// A textured photo (a face with fine detail that changes along the rows and slowly down
    /// them, as skin and hair do), and with `shift = (row, col, by)` the same with its rows from
    /// `row` on right of `col`, and all rows from the next block row on, moved left by `by` px:
    /// a lost block.
    fn textured_photo(shift: Option<(u32, u32, u32)>) -> RgbImage {
        let base = backdrop_portrait();
        let tex = RgbImage::from_fn(base.width(), base.height(), |x, y| {
            let p = base.get_pixel(x, y).0;
            if p == [255; 3] {
                return image::Rgb(p);
            }
            let (fx, fy) = (x as f32, y as f32);
            let n = 25.0 * (0.7 * fx + 0.1 * fy).sin() + 15.0 * (1.3 * fx - 0.05 * fy).sin();
            image::Rgb(p.map(|c| (f32::from(c) + n).clamp(0.0, 255.0) as u8))
        });
        let Some((row, col, by)) = shift else {
            return tex;
        };
        let (w, h) = tex.dimensions();
        RgbImage::from_fn(w, h, |x, y| {
            let moved = y >= row + 8 || (y >= row && x >= col);
            if moved && x + by < w {
                *tex.get_pixel(x + by, y)
            } else {
                *tex.get_pixel(x, y)
            }
        })
    }

    #[test]
    fn rows_shifted_by_a_lost_block_are_damage() {
        for clean in [textured_photo(None), backdrop_portrait()] {
            assert_eq!(shifted_rows(&clean, &luma_plane(&clean)), None);
        }
        for by in [8, 16] {
            let lost = textured_photo(Some((160, 96, by)));
            let (row, ratio) = shifted_rows(&lost, &luma_plane(&lost)).expect("a shifted segment");
            assert!(row == 160 || row == 168, "row {row}");
            assert!(ratio < SHIFT_RATIO_MAX);
            assert!(matches!(
                damage_in_pixels(&lost, 4),
                Err(DecodeError::Damaged(_))
            ));
        }
        // Shifted by a few pixels (an edge in the picture, not a block): not this step's.
        let edge = textured_photo(Some((160, 96, 3)));
        assert_eq!(shifted_rows(&edge, &luma_plane(&edge)), None);
    }

    #[test]
    fn a_colour_drift_along_the_grid_is_damage() {
        let clean = backdrop_portrait();
        assert!(chroma_grid_run(&clean, &luma_plane(&clean), 4) < CHROMA_RUN_BLOCKS);
        // Every row from `from` on tinted: white becomes cream.
        let tint = |from: u32| {
            let mut img = clean.clone();
            for (_, y, p) in img.enumerate_pixels_mut() {
                if y >= from {
                    let [r, g, b] = p.0;
                    *p = image::Rgb([r, g.saturating_sub(3), b.saturating_sub(14)]);
                }
            }
            img
        };
        // From block row 25 on, the rest of the scan tinted: a wrong chroma DC term.
        let tinted = tint(200);
        assert!(chroma_grid_run(&tinted, &luma_plane(&tinted), 4) >= CHROMA_RUN_BLOCKS);
        assert!(matches!(
            damage_in_pixels(&tinted, 4),
            Err(DecodeError::Damaged(_))
        ));
        // The same tint off the grid is an edge in the picture, not a decoding error; a file
        // quantised as coarsely as that tint is not judged by it.
        let off = tint(203);
        assert!(chroma_grid_run(&off, &luma_plane(&off), 4) < CHROMA_RUN_BLOCKS);
        assert!(chroma_grid_run(&tinted, &luma_plane(&tinted), 80) < CHROMA_RUN_BLOCKS);
    }

    #[test]
    fn a_checkerboard_block_is_garbage_and_noise_is_not() {
        let smooth = backdrop_portrait();
        assert_eq!(garbage_block(&smooth, &luma_plane(&smooth)), None);
        // One block of decoded garbage in the face: alternate ±20 levels.
        let mut bad = smooth.clone();
        for y in 160..168 {
            for x in 176..184 {
                let p = bad.get_pixel(x, y).0;
                let d: i16 = if (x + y) % 2 == 0 { 20 } else { -20 };
                let v = p.map(|c| (i16::from(c) + d).clamp(0, 255) as u8);
                bad.put_pixel(x, y, image::Rgb(v));
            }
        }
        assert_eq!(garbage_block(&bad, &luma_plane(&bad)), Some((176, 160)));
        // Strong noise everywhere gives some blocks that amplitude too: not damage.
        let mut seed = 12345u32;
        let noisy = RgbImage::from_fn(smooth.width(), smooth.height(), |x, y| {
            let p = smooth.get_pixel(x, y).0;
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let n = ((seed >> 16) % 121) as i16 - 60;
            image::Rgb(p.map(|c| (i16::from(c) + n).clamp(0, 255) as u8))
        });
        assert_eq!(garbage_block(&noisy, &luma_plane(&noisy)), None);
    }

    #[test]
    fn a_flat_tail_is_missing_scan_data() {
        let clean = backdrop_portrait();
        assert_eq!(uniform_tail(&clean), None);
        // The decoder's fill from x = 200 of row 300 to the end: the last DC value repeated.
        let mut tail = clean.clone();
        for (x, y, p) in tail.enumerate_pixels_mut() {
            if y > 300 || (y == 300 && x >= 200) {
                *p = image::Rgb([131, 127, 125]);
            }
        }
        assert_eq!(uniform_tail(&tail), Some(140));
        let mut data = Vec::new();
        tail.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut data, 90,
        ))
        .unwrap();
        match decode(&data, probe(&data, LIMITS).unwrap(), LIMITS) {
            Err(DecodeError::Damaged(why)) => assert!(why.contains("flat colour"), "{why}"),
            other => panic!("a flat tail decoded as {other:?}"),
        }
        // Clipped white to the bottom edge is an exposure matter, not damage.
        let mut white = clean.clone();
        for (_, y, p) in white.enumerate_pixels_mut() {
            if y > 300 {
                *p = image::Rgb([255, 255, 255]);
            }
        }
        assert_eq!(uniform_tail(&white), None);
    }

    #[test]
    fn an_image_without_pixels_is_refused_not_measured() {
        // Found by fuzzing (`engine_rules`): a GIF whose screen is 783×0 panicked in the
        // background measure; kept in fuzz/regressions/engine_rules/gif-zero-height.
        let data = include_bytes!("../../../fuzz/regressions/engine_rules/gif-zero-height");
        let outcome = probe(data, LIMITS).and_then(|h| decode(data, h, LIMITS));
        assert!(
            matches!(outcome, Err(DecodeError::Corrupt(_))),
            "{outcome:?}"
        );
    }

    #[test]
    fn damaged_scan_data_is_refused_with_libjpegs_reason() {
        // A smooth picture (`jpeg_bytes`'s pattern wraps modulo 256 along whole grid lines, a
        // one-signed step no photo has, which the drift step rightly calls damage).
        let img = RgbImage::from_fn(400, 300, |x, y| {
            let v = |f: f32| (128.0 + 90.0 * f.sin()) as u8;
            let (x, y) = (x as f32, y as f32);
            image::Rgb([
                v(x / 23.0 + y / 41.0),
                v(x / 37.0 - y / 19.0),
                v((x + y) / 29.0),
            ])
        });
        let mut data = Vec::new();
        img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut data, 80,
        ))
        .unwrap();
        let h = probe(&data, LIMITS).unwrap();
        assert!(decode(&data, h.clone(), LIMITS).is_ok());
        // A run of wrong bytes in the middle of the scan: libjpeg reports corrupt data.
        let mut broken = data.clone();
        let sos = broken.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let mid = sos + (broken.len() - sos) / 2;
        for (k, b) in broken[mid..mid + 24].iter_mut().enumerate() {
            *b = if k % 2 == 0 { 0xFF } else { 0x3C };
        }
        match decode(&broken, probe(&broken, LIMITS).unwrap(), LIMITS) {
            Err(DecodeError::Damaged(why)) => assert!(!why.is_empty()),
            other => panic!("damaged scan decoded as {other:?}"),
        }
    }

    #[test]
    fn only_messages_about_the_pixels_count_as_damage() {
        assert!(is_damage("Corrupt JPEG data: bad Huffman code"));
        assert!(is_damage(
            "Corrupt JPEG data: premature end of data segment"
        ));
        assert!(is_damage("Premature end of JPEG file"));
        assert!(is_damage(
            "Corrupt JPEG data: 412 extraneous bytes before marker 0xd9"
        ));
        assert!(is_damage(
            "Corrupt JPEG data: 3 extraneous bytes before marker 0xd2"
        ));
        assert!(!is_damage(
            "Corrupt JPEG data: 2 extraneous bytes before marker 0xd9"
        ));
        assert!(!is_damage("Warning: unknown JFIF revision number 1.03"));
        assert!(!is_damage("Corrupt JPEG data: bad ICC marker"));
        assert!(!is_damage("Unsupported color conversion request"));
    }

    #[test]
    fn a_few_stray_bytes_before_the_end_are_damage_unless_they_are_fill() {
        let data = jpeg_bytes(64, 48, false);
        let h = probe(&data, LIMITS).unwrap();
        let eoi = data.len() - 2;
        assert_eq!(&data[eoi..], &[0xFF, 0xD9]);
        assert_eq!(&data[h.first_scan_at..h.first_scan_at + 2], &[0xFF, 0xDA]);
        let with_tail = |tail: &[u8]| {
            let mut d = data[..eoi].to_vec();
            d.extend_from_slice(tail);
            d.extend_from_slice(&[0xFF, 0xD9]);
            d
        };
        let message = "Corrupt JPEG data: 3 extraneous bytes before marker 0xd9";
        // Padding an encoder writes: zeros, or FF fill before the marker.
        let zeros = with_tail(&[0, 0, 0]);
        assert!(!is_damage_message(&zeros, &h, message));
        let fill = with_tail(&[0, 0, 0, 0xFF, 0xFF]);
        assert!(!is_damage_message(&fill, &h, message));
        // Scan data left over: the picture was read out of step.
        let data_left = with_tail(&[0x28, 0x03, 0x5A]);
        assert!(is_damage_message(&data_left, &h, message));
        // Many bytes are damage whatever they are, as before.
        assert!(is_damage_message(
            &zeros,
            &h,
            "Corrupt JPEG data: 400 extraneous bytes before marker 0xd9"
        ));
        assert_eq!(stray_count(&message.to_ascii_lowercase()), Some(3));
        // What libjpeg-turbo's look-ahead swallows without a word, the scan walk still counts.
        assert_eq!(left_over(&data, &h), None);
        assert_eq!(left_over(&zeros, &h), None);
        let found = left_over(&data_left, &h).expect("bytes left over");
        assert!(found.starts_with("3 bytes of scan data"), "{found}");
        assert!(jpeg_damage(&data_left, &h).is_some());
        assert_eq!(jpeg_damage(&fill, &h), None);
    }
}
