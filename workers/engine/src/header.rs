//! Reading what a file says about itself before decoding a single pixel: the container format
//! (by magic bytes, never by name), the frame size, colour components, recorded resolution,
//! EXIF orientation, JPEG quantisation tables and whether the file is complete.
//!
//! Everything here works on untrusted bytes: every length is bounds-checked, and nothing is
//! allocated in proportion to a size the file claims.

/// Container format, from the file's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JPEG (SOI marker).
    Jpeg,
    /// PNG.
    Png,
    /// WebP (RIFF/WEBP).
    Webp,
    /// GIF.
    Gif,
    /// BMP.
    Bmp,
    /// TIFF.
    Tiff,
}

impl Format {
    /// Upper-case name used in results.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::Webp => "WEBP",
            Format::Gif => "GIF",
            Format::Bmp => "BMP",
            Format::Tiff => "TIFF",
        }
    }

    /// Sniffs the format from magic bytes; `None` for anything that is not a known image.
    pub fn sniff(data: &[u8]) -> Option<Format> {
        if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Format::Jpeg)
        } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if data.len() >= 12 && &data[0..4] == b"RIFF" && &data[8..12] == b"WEBP" {
            Some(Format::Webp)
        } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
            Some(Format::Gif)
        } else if data.starts_with(b"BM") && data.len() > 26 {
            Some(Format::Bmp)
        } else if data.starts_with(b"II*\0") || data.starts_with(b"MM\0*") {
            Some(Format::Tiff)
        } else {
            None
        }
    }

    /// The `image` crate's name for the format.
    pub fn image_format(self) -> image::ImageFormat {
        match self {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Png => image::ImageFormat::Png,
            Format::Webp => image::ImageFormat::WebP,
            Format::Gif => image::ImageFormat::Gif,
            Format::Bmp => image::ImageFormat::Bmp,
            Format::Tiff => image::ImageFormat::Tiff,
        }
    }
}

/// Colour model of the stored pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorModel {
    /// One channel.
    Grey,
    /// Three channels (YCbCr or RGB).
    Rgb,
    /// Four-channel CMYK or YCCK (JPEG), or RGBA.
    Cmyk,
    /// RGB with alpha.
    Rgba,
    /// Anything else (palette, 16-bit, …).
    Other,
}

impl ColorModel {
    /// Name used in results.
    pub fn name(self) -> &'static str {
        match self {
            ColorModel::Grey => "grey",
            ColorModel::Rgb => "rgb",
            ColorModel::Cmyk => "cmyk",
            ColorModel::Rgba => "rgba",
            ColorModel::Other => "other",
        }
    }
}

/// What the header of a file says.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Container format.
    pub format: Format,
    /// Stored width in pixels, before EXIF orientation.
    pub width: u32,
    /// Stored height in pixels, before EXIF orientation.
    pub height: u32,
    /// Colour model.
    pub color: ColorModel,
    /// Bits per sample.
    pub bits: u8,
    /// Recorded resolution `(x, y)` in dots per inch, if the file records one.
    pub dpi: Option<(f64, f64)>,
    /// EXIF orientation (1–8; 1 when absent).
    pub orientation: u8,
    /// JPEG: a JFIF APP0 segment is present.
    pub jfif: bool,
    /// JPEG: an EXIF APP1 segment is present.
    pub exif: bool,
    /// JPEG: progressive coding.
    pub progressive: bool,
    /// JPEG: the first (luminance) quantisation table, in zig-zag order.
    pub luma_quant: Option<[u16; 64]>,
    /// JPEG: the DC quantisers of the frame's first three components (the tables its frame
    /// header names), each when that table was defined before the first scan.
    pub dc_quants: [Option<u16>; 3],
    /// JPEG: the byte offset of the first scan's SOS marker (0 for other formats). The image's
    /// EOI is the first FF D9 from here: entropy-coded data cannot contain one.
    pub first_scan_at: usize,
    /// The file ends properly (JPEG: EOI marker after the scan data; other formats: assumed).
    pub complete: bool,
    /// JPEG: scans in the file (SOS markers; 1 for baseline, about 10 for progressive); 0 for
    /// other formats.
    pub scans: u32,
}

impl Header {
    /// Width and height after EXIF orientation.
    pub fn oriented_size(&self) -> (u32, u32) {
        if (5..=8).contains(&self.orientation) {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }

    /// The IJG (libjpeg) quality factor that produces the luminance table, estimated by least
    /// squares against the standard table; `None` without a table.
    pub fn jpeg_quality(&self) -> Option<f64> {
        let table = self.luma_quant.as_ref()?;
        let mut best = (f64::MAX, 0.0);
        for q in 1..=100u32 {
            let err: f64 = ijg_luma_table(q)
                .iter()
                .zip(table.iter())
                .map(|(&e, &t)| (f64::from(e) - f64::from(t)).powi(2))
                .sum();
            if err < best.0 {
                best = (err, f64::from(q));
            }
        }
        Some(best.1)
    }
}

/// Standard luminance table (ITU-T T.81 Annex K), zig-zag order.
const STD_LUMA: [u16; 64] = [
    16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22, 22, 24, 49, 35, 37,
    29, 40, 58, 51, 61, 60, 57, 51, 56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81,
    87, 95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99,
];

/// The luminance table libjpeg writes at quality `q` (1–100): the standard table scaled by
/// `5000/q` below 50 and `200 - 2q` from 50, clamped to 1–255 (baseline).
pub fn ijg_luma_table(q: u32) -> [u16; 64] {
    let q = q.clamp(1, 100);
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    STD_LUMA.map(|s| ((u32::from(s) * scale + 50) / 100).clamp(1, 255) as u16)
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The file is empty.
    #[error("file is empty")]
    Empty,
    /// Not a known image format.
    #[error("not an image file")]
    NotAnImage,
    /// The header ends before the frame size.
    #[error("file ends inside the header")]
    Truncated,
    /// The header is inconsistent.
    #[error("corrupt header: {0}")]
    Corrupt(&'static str),
    /// Another decoder rejected the header.
    #[error("unreadable header: {0}")]
    Other(String),
}

/// Reads the header of any supported image.
pub fn read_header(data: &[u8]) -> Result<Header, HeaderError> {
    if data.is_empty() {
        return Err(HeaderError::Empty);
    }
    let format = Format::sniff(data).ok_or(HeaderError::NotAnImage)?;
    match format {
        Format::Jpeg => read_jpeg(data),
        _ => read_other(data, format),
    }
}

fn read_other(data: &[u8], format: Format) -> Result<Header, HeaderError> {
    use image::ImageDecoder;
    let reader = image::ImageReader::with_format(std::io::Cursor::new(data), format.image_format());
    let decoder = reader
        .into_decoder()
        .map_err(|e| HeaderError::Other(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    let ct = decoder.color_type();
    let color = match ct {
        image::ColorType::L8 | image::ColorType::L16 | image::ColorType::La8 => ColorModel::Grey,
        image::ColorType::Rgb8 | image::ColorType::Rgb16 => ColorModel::Rgb,
        image::ColorType::Rgba8 | image::ColorType::Rgba16 => ColorModel::Rgba,
        _ => ColorModel::Other,
    };
    let bits = (ct.bits_per_pixel() / u16::from(ct.channel_count()).max(1)) as u8;
    let dpi = if format == Format::Png {
        png_dpi(data)
    } else {
        None
    };
    Ok(Header {
        format,
        width,
        height,
        color,
        bits,
        dpi,
        orientation: 1,
        jfif: false,
        exif: false,
        progressive: false,
        luma_quant: None,
        dc_quants: [None; 3],
        first_scan_at: 0,
        complete: true,
        scans: 0,
    })
}

/// PNG pHYs chunk (pixels per metre) as dpi.
fn png_dpi(data: &[u8]) -> Option<(f64, f64)> {
    let mut pos = 8;
    while pos + 12 <= data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().ok()?) as usize;
        let kind = &data[pos + 4..pos + 8];
        let body = data.get(pos + 8..pos + 8 + len)?;
        if kind == b"pHYs" && len == 9 && body[8] == 1 {
            let x = u32::from_be_bytes(body[0..4].try_into().ok()?) as f64 * 0.0254;
            let y = u32::from_be_bytes(body[4..8].try_into().ok()?) as f64 * 0.0254;
            return Some((x, y));
        }
        if kind == b"IDAT" {
            return None;
        }
        pos += 12 + len;
    }
    None
}

fn be16(d: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(i)?, *d.get(i + 1)?]))
}

fn read_jpeg(data: &[u8]) -> Result<Header, HeaderError> {
    let mut h = Header {
        format: Format::Jpeg,
        width: 0,
        height: 0,
        color: ColorModel::Other,
        bits: 8,
        dpi: None,
        orientation: 1,
        jfif: false,
        exif: false,
        progressive: false,
        luma_quant: None,
        dc_quants: [None; 3],
        first_scan_at: 0,
        complete: false,
        scans: 0,
    };
    let mut jfif_dpi = None;
    let mut exif_dpi = None;
    let mut adobe_transform = None;
    let mut components = 0u8;
    let mut frame_seen = false;
    // DC quantisers of the four table slots as defined so far, and the components' slots.
    let mut dc_quants = [None::<u16>; 4];
    let mut component_tables = [None::<usize>; 3];
    let mut pos = 2usize;
    loop {
        // Skip fill bytes before a marker.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&ff), Some(&marker)) = (data.get(pos), data.get(pos + 1)) else {
            return Err(HeaderError::Truncated);
        };
        if ff != 0xFF {
            return Err(HeaderError::Corrupt("expected a marker"));
        }
        pos += 2;
        match marker {
            0xD8 | 0x01 | 0xD0..=0xD7 => continue,
            0xD9 => return Err(HeaderError::Corrupt("image ends before any scan")),
            _ => {}
        }
        let len = be16(data, pos).ok_or(HeaderError::Truncated)? as usize;
        if len < 2 {
            return Err(HeaderError::Corrupt("segment length"));
        }
        let seg = data.get(pos + 2..pos + len).ok_or(HeaderError::Truncated)?;
        match marker {
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                if seg.len() < 6 {
                    return Err(HeaderError::Corrupt("frame header"));
                }
                h.bits = seg[0];
                h.height = u32::from(be16(seg, 1).unwrap_or(0));
                h.width = u32::from(be16(seg, 3).unwrap_or(0));
                components = seg[5];
                for (i, slot) in component_tables.iter_mut().enumerate() {
                    *slot = (i < usize::from(components))
                        .then(|| seg.get(8 + 3 * i).map(|&t| usize::from(t)))
                        .flatten();
                }
                h.progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
                frame_seen = true;
            }
            0xDB => read_dqt(seg, &mut h, &mut dc_quants),
            0xE0 if seg.starts_with(b"JFIF\0") && seg.len() >= 12 => {
                h.jfif = true;
                let unit = seg[7];
                let (x, y) = (
                    f64::from(be16(seg, 8).unwrap_or(0)),
                    f64::from(be16(seg, 10).unwrap_or(0)),
                );
                jfif_dpi = match unit {
                    1 if x > 0.0 && y > 0.0 => Some((x, y)),
                    2 if x > 0.0 && y > 0.0 => Some((x * 2.54, y * 2.54)),
                    _ => None,
                };
            }
            0xE1 if seg.starts_with(b"Exif\0\0") => {
                h.exif = true;
                let (orientation, dpi) = read_exif(&seg[6..]);
                if let Some(o) = orientation {
                    h.orientation = o;
                }
                exif_dpi = dpi;
            }
            0xEE if seg.starts_with(b"Adobe") && seg.len() >= 12 => adobe_transform = Some(seg[11]),
            0xDA => {
                h.first_scan_at = pos - 2;
                break;
            }
            _ => {}
        }
        pos += len;
    }
    if !frame_seen {
        return Err(HeaderError::Corrupt("scan before frame header"));
    }
    if h.width == 0 || h.height == 0 {
        return Err(HeaderError::Corrupt("zero image size"));
    }
    h.color = match (components, adobe_transform) {
        (1, _) => ColorModel::Grey,
        (3, _) => ColorModel::Rgb,
        (4, _) => ColorModel::Cmyk,
        _ => ColorModel::Other,
    };
    h.dpi = jfif_dpi.or(exif_dpi);
    h.dc_quants = component_tables.map(|t| t.and_then(|t| dc_quants.get(t).copied().flatten()));
    h.complete = has_eoi_after(data, pos);
    // In entropy-coded data a 0xFF byte is followed by 0x00 or a restart marker, so every
    // FF DA from the first scan on starts a scan.
    let from = pos.saturating_sub(4);
    h.scans = data[from..]
        .windows(2)
        .filter(|w| *w == [0xFF, 0xDA])
        .count() as u32;
    Ok(h)
}

fn read_dqt(seg: &[u8], h: &mut Header, dc_quants: &mut [Option<u16>; 4]) {
    let mut i = 0;
    while i < seg.len() {
        let pq = seg[i] >> 4;
        let tq = seg[i] & 0x0F;
        let size = if pq == 0 { 64 } else { 128 };
        let Some(body) = seg.get(i + 1..i + 1 + size) else {
            return;
        };
        if tq == 0 {
            let mut t = [0u16; 64];
            for (k, v) in t.iter_mut().enumerate() {
                *v = if pq == 0 {
                    u16::from(body[k])
                } else {
                    u16::from_be_bytes([body[2 * k], body[2 * k + 1]])
                };
            }
            h.luma_quant = Some(t);
        }
        if let Some(slot) = dc_quants.get_mut(usize::from(tq)) {
            *slot = Some(if pq == 0 {
                u16::from(body[0])
            } else {
                u16::from_be_bytes([body[0], body[1]])
            });
        }
        i += 1 + size;
    }
}

/// Whether an EOI marker follows the start of the scan data, allowing trailing padding.
fn has_eoi_after(data: &[u8], scan_start: usize) -> bool {
    let mut end = data.len();
    // Some writers pad after EOI with zeros or whitespace.
    while end > scan_start && matches!(data[end - 1], 0 | b'\r' | b'\n' | b' ') {
        end -= 1;
    }
    if end >= scan_start + 2 && data[end - 2] == 0xFF && data[end - 1] == 0xD9 {
        return true;
    }
    // Trailing data after EOI (an appended thumbnail or vendor block): accept an EOI found in
    // the last 64 KiB that is not followed by more entropy-coded data of this image.
    let tail_start = end.saturating_sub(65_536).max(scan_start);
    data[tail_start..end].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Orientation and resolution from an EXIF TIFF block.
fn read_exif(tiff: &[u8]) -> (Option<u8>, Option<(f64, f64)>) {
    let little = match tiff.get(0..2) {
        Some(b"II") => true,
        Some(b"MM") => false,
        _ => return (None, None),
    };
    let u16_at = |i: usize| -> Option<u16> {
        let b = tiff.get(i..i + 2)?;
        Some(if little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |i: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(i..i + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let rational = |off: usize| -> Option<f64> {
        let (n, d) = (u32_at(off)?, u32_at(off + 4)?);
        (d != 0).then(|| f64::from(n) / f64::from(d))
    };
    let Some(ifd) = u32_at(4).map(|v| v as usize) else {
        return (None, None);
    };
    let Some(count) = u16_at(ifd) else {
        return (None, None);
    };
    let (mut orientation, mut xres, mut yres, mut unit) = (None, None, None, 2u16);
    for k in 0..usize::from(count.min(512)) {
        let e = ifd + 2 + 12 * k;
        let Some(tag) = u16_at(e) else { break };
        match tag {
            0x0112 => {
                orientation = u16_at(e + 8)
                    .map(|v| v as u8)
                    .filter(|v| (1..=8).contains(v))
            }
            0x011A => xres = u32_at(e + 8).and_then(|o| rational(o as usize)),
            0x011B => yres = u32_at(e + 8).and_then(|o| rational(o as usize)),
            0x0128 => unit = u16_at(e + 8).unwrap_or(2),
            _ => {}
        }
    }
    let to_dpi = |v: f64| if unit == 3 { v * 2.54 } else { v };
    let dpi = match (xres, yres, unit) {
        (Some(x), Some(y), 2 | 3) if x > 0.0 && y > 0.0 => Some((to_dpi(x), to_dpi(y))),
        _ => None,
    };
    (orientation, dpi)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal baseline JPEG header: SOI, JFIF, DQT, SOF0, SOS, data, EOI.
    pub(crate) fn jpeg_header(w: u16, h: u16, comps: u8, dpi: Option<u16>, eoi: bool) -> Vec<u8> {
        let mut d = vec![0xFF, 0xD8];
        if let Some(dpi) = dpi {
            d.extend([0xFF, 0xE0, 0, 16]);
            d.extend(b"JFIF\0");
            d.extend([1, 1, 1]);
            d.extend(dpi.to_be_bytes());
            d.extend(dpi.to_be_bytes());
            d.extend([0, 0]);
        }
        d.extend([0xFF, 0xDB, 0, 67, 0]);
        d.extend([50u8; 64]);
        let sof_len = 8 + 3 * u16::from(comps);
        d.extend([0xFF, 0xC0]);
        d.extend(sof_len.to_be_bytes());
        d.push(8);
        d.extend(h.to_be_bytes());
        d.extend(w.to_be_bytes());
        d.push(comps);
        for c in 0..comps {
            d.extend([c + 1, 0x11, 0]);
        }
        d.extend([0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
        d.extend([0x12, 0x34, 0x56]);
        if eoi {
            d.extend([0xFF, 0xD9]);
        }
        d
    }

    #[test]
    fn scans_are_counted_and_stuffed_bytes_are_not_markers() {
        let one = read_header(&jpeg_header(358, 441, 3, None, true)).unwrap();
        assert_eq!(one.scans, 1);
        // Two more scans, and scan data holding FF 00 (a stuffed byte) and FF D0 (a restart).
        let mut data = jpeg_header(358, 441, 3, None, false);
        data.extend([0xFF, 0x00, 0xDA, 0xFF, 0xD0]);
        for _ in 0..2 {
            data.extend([0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0, 0x55]);
        }
        data.extend([0xFF, 0xD9]);
        assert_eq!(read_header(&data).unwrap().scans, 3);
    }

    #[test]
    fn sniffs_by_content_not_name() {
        assert_eq!(Format::sniff(b"\x89PNG\r\n\x1a\n...."), Some(Format::Png));
        assert_eq!(Format::sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::Webp));
        assert_eq!(Format::sniff(b"hello, this is text"), None);
        assert_eq!(Format::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Format::Jpeg));
    }

    #[test]
    fn reads_a_jpeg_frame_header_and_density() {
        let h = read_header(&jpeg_header(358, 441, 3, Some(350), true)).unwrap();
        assert_eq!((h.width, h.height, h.color), (358, 441, ColorModel::Rgb));
        assert_eq!(h.dpi, Some((350.0, 350.0)));
        assert!(h.complete && h.jfif && !h.progressive);
        let h = read_header(&jpeg_header(358, 441, 1, None, true)).unwrap();
        assert_eq!((h.color, h.dpi), (ColorModel::Grey, None));
        assert_eq!(
            read_header(&jpeg_header(8, 8, 4, None, true))
                .unwrap()
                .color,
            ColorModel::Cmyk
        );
    }

    #[test]
    fn a_huge_claimed_size_is_read_without_allocating_it() {
        let h = read_header(&jpeg_header(65000, 48000, 3, Some(350), true)).unwrap();
        assert_eq!((h.width, h.height), (65000, 48000));
    }

    #[test]
    fn missing_eoi_means_incomplete_and_cut_headers_are_errors() {
        assert!(
            !read_header(&jpeg_header(10, 10, 3, None, false))
                .unwrap()
                .complete
        );
        let full = jpeg_header(10, 10, 3, Some(72), true);
        for cut in [3, 10, 20, 30] {
            assert!(read_header(&full[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(read_header(b""), Err(HeaderError::Empty));
        assert_eq!(read_header(b"just some text"), Err(HeaderError::NotAnImage));
    }

    #[test]
    fn quality_is_recovered_from_an_ijg_table() {
        let mut h = read_header(&jpeg_header(8, 8, 3, None, true)).unwrap();
        for q in [2, 30, 50, 70, 95] {
            h.luma_quant = Some(ijg_luma_table(q));
            assert_eq!(h.jpeg_quality(), Some(f64::from(q)));
        }
        h.luma_quant = Some([255; 64]);
        assert!(h.jpeg_quality().unwrap() <= 2.0);
    }
}
