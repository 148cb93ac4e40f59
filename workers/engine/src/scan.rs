//! Accounting for every byte of a baseline JPEG's entropy-coded data.
//!
//! A sequential Huffman scan has no slack: the frame fixes how many blocks each component has,
//! and the Huffman codes of exactly those blocks, padded with at most seven 1-bits to a whole
//! byte, fill the data up to the marker that ends it (the end of image, the next scan, or a
//! restart marker, which closes each restart interval). A block lost or added in transit, or a
//! run of bytes that decodes out of step, changes that count: either the codes run out before
//! the blocks do (libjpeg-turbo warns: a premature end), or whole bytes are left over before the
//! marker. libjpeg-turbo warns of the second case only when more bytes are left than its Huffman
//! look-ahead has already swallowed (1–8), which is exactly the case of one or two blocks shifted
//! along a row. This module walks the codes (no coefficients are kept, nothing is transformed)
//! and reports the leftover bytes.

/// Whole bytes of entropy-coded data that no block's codes account for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leftover {
    /// Bytes between the end of the last block's codes and the marker.
    pub bytes: usize,
    /// Bits of the last byte after the last block's codes when they are not the 1-bits an
    /// encoder pads with (0 when the padding is right).
    pub bits: u32,
    /// The restart interval they end (0-based), or `None` at the end of a scan.
    pub interval: Option<usize>,
}

/// One canonical Huffman table, decodable by a 9-bit lookup with a slow path to 16 bits.
struct Table {
    /// For each 9-bit prefix: code length (0 = longer than 9 bits or no code) and symbol.
    fast: Vec<(u8, u8)>,
    /// Largest code of each length 1..=16 (−1 when none), as in the JPEG standard's decoder.
    maxcode: [i32; 17],
    /// Code value minus symbol index for each length.
    offset: [i32; 17],
    symbols: Vec<u8>,
}

const FAST_BITS: u32 = 9;

impl Table {
    /// Builds a table from the 16 code counts and the symbols of a DHT entry; `None` when the
    /// counts describe more codes than a prefix code can hold.
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Option<Table> {
        let mut fast = vec![(0u8, 0u8); 1 << FAST_BITS];
        let mut maxcode = [-1i32; 17];
        let mut offset = [0i32; 17];
        let mut code: i32 = 0;
        let mut k = 0usize;
        for len in 1..=16usize {
            let n = usize::from(counts[len - 1]);
            if n > 0 {
                offset[len] = code - k as i32;
                for _ in 0..n {
                    if len as u32 <= FAST_BITS {
                        let shift = FAST_BITS - len as u32;
                        let first = (code as usize) << shift;
                        for slot in fast.get_mut(first..first + (1 << shift))? {
                            *slot = (len as u8, *symbols.get(k)?);
                        }
                    }
                    code += 1;
                    k += 1;
                }
                maxcode[len] = code - 1;
            }
            // A prefix code of this length cannot exceed 2^len codes.
            if code > (1 << len) {
                return None;
            }
            code <<= 1;
        }
        Some(Table {
            fast,
            maxcode,
            offset,
            symbols: symbols.get(..k)?.to_vec(),
        })
    }

    /// Decodes one symbol; `None` for a bit pattern that is no code (corrupt data).
    fn decode(&self, bits: &mut Bits) -> Option<u8> {
        let peek = bits.peek16();
        let (len, symbol) = self.fast[(peek >> (16 - FAST_BITS)) as usize];
        if len > 0 {
            bits.consume(u32::from(len));
            return Some(symbol);
        }
        for len in FAST_BITS as usize + 1..=16 {
            let code = (peek >> (16 - len)) as i32;
            if self.maxcode[len] >= 0 && code <= self.maxcode[len] {
                let index = usize::try_from(code - self.offset[len]).ok()?;
                bits.consume(len as u32);
                return self.symbols.get(index).copied();
            }
        }
        None
    }
}

/// The entropy-coded bytes of one scan segment (up to the next marker), read MSB first with
/// the stuffed zero after each 0xFF removed.
struct Bits<'a> {
    data: &'a [u8],
    /// The next byte to load.
    pos: usize,
    acc: u64,
    /// Bits in `acc`, counting the zero bits fed past the marker.
    n: u32,
    /// Zero bits fed past the marker (the decoder ran out of data).
    pad: u32,
    /// Where the marker that ends the segment starts, once met.
    marker_at: Option<usize>,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Bits<'a> {
        Bits {
            data,
            pos,
            acc: 0,
            n: 0,
            pad: 0,
            marker_at: None,
        }
    }

    fn fill(&mut self) {
        while self.n <= 56 {
            let byte = if self.marker_at.is_some() {
                self.pad += 8;
                0
            } else {
                match self.data.get(self.pos).copied() {
                    None => {
                        self.marker_at = Some(self.pos);
                        continue;
                    }
                    Some(0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                        self.pos += 2;
                        0xFF
                    }
                    Some(0xFF) => {
                        self.marker_at = Some(self.pos);
                        continue;
                    }
                    Some(b) => {
                        self.pos += 1;
                        b
                    }
                }
            };
            self.acc |= u64::from(byte) << (56 - self.n);
            self.n += 8;
        }
    }

    fn peek16(&mut self) -> u32 {
        if self.n < 16 {
            self.fill();
        }
        (self.acc >> 48) as u32
    }

    fn consume(&mut self, k: u32) {
        if self.n < k {
            self.fill();
        }
        self.acc <<= k;
        self.n = self.n.saturating_sub(k);
    }

    fn skip(&mut self, k: u32) {
        if k > 0 {
            self.consume(k);
        }
    }

    /// Whether the codes read so far needed bits past the marker.
    fn overran(&self) -> bool {
        self.n < self.pad
    }

    /// The bits left in the byte the last code ended in, when they are not all 1s (the padding
    /// every encoder writes); 0 when they are.
    fn bad_padding(&self) -> u32 {
        let r = (self.n - self.pad) % 8;
        if r == 0 || (self.acc >> (64 - r)) == (1u64 << r) - 1 {
            0
        } else {
            r
        }
    }

    /// Finds the marker that ends the segment (if no read has met it yet) and returns where it
    /// starts and where the first byte no code used starts.
    fn finish(&mut self) -> (usize, usize) {
        let marker_at = match self.marker_at {
            Some(at) => at,
            None => {
                let mut p = self.pos;
                while p < self.data.len() {
                    if self.data[p] == 0xFF && self.data.get(p + 1) != Some(&0) {
                        break;
                    }
                    p += if self.data[p] == 0xFF { 2 } else { 1 };
                }
                p.min(self.data.len())
            }
        };
        // Whole loaded bytes no code used, walked back over the stuffing.
        let mut unused = (self.n - self.pad) / 8;
        let mut p = self.pos;
        while unused > 0 && p > 0 {
            p -= if p >= 2 && self.data[p - 1] == 0 && self.data[p - 2] == 0xFF {
                2
            } else {
                1
            };
            unused -= 1;
        }
        (marker_at, p)
    }
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
}

/// Walks every scan of a baseline or extended sequential Huffman JPEG (SOF0/SOF1, 8-bit) and
/// returns the first place whole non-fill bytes are left over before a scan's or a restart
/// interval's closing marker. `None` when every byte is accounted for, and also when the file is
/// one this reader does not judge (progressive, arithmetic-coded, lossless, 12-bit, a height
/// defined later by DNL) or whose codes are broken in a way libjpeg-turbo itself reports (a bad
/// Huffman code, data that ends early): the caller has its message.
pub(crate) fn leftover_bytes(data: &[u8]) -> Option<Leftover> {
    if data.get(..2) != Some(&[0xFF, 0xD8]) {
        return None;
    }
    let mut tables: [Option<Table>; 8] = Default::default();
    let mut components: Vec<Component> = Vec::new();
    let (mut width, mut height) = (0usize, 0usize);
    let mut restart = 0usize;
    let mut interval_base = 0usize;
    let mut pos = 2usize;
    loop {
        // Skip fill bytes before a marker; anything else between segments is not ours to judge.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if data.get(pos) != Some(&0xFF) {
            return None;
        }
        let marker = *data.get(pos + 1)?;
        pos += 2;
        if marker == 0xD9 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([*data.get(pos)?, *data.get(pos + 1)?]));
        let body = data.get(pos + 2..pos.checked_add(len)?)?;
        match marker {
            0xC0 | 0xC1 => {
                if body.len() < 6 || body[0] != 8 {
                    return None;
                }
                height = usize::from(u16::from_be_bytes([body[1], body[2]]));
                width = usize::from(u16::from_be_bytes([body[3], body[4]]));
                let nf = usize::from(body[5]);
                if height == 0 || width == 0 || nf == 0 || body.len() < 6 + 3 * nf {
                    return None;
                }
                components = (0..nf)
                    .map(|i| {
                        let c = &body[6 + 3 * i..9 + 3 * i];
                        Component {
                            id: c[0],
                            h: usize::from(c[1] >> 4),
                            v: usize::from(c[1] & 15),
                        }
                    })
                    .collect();
                if components
                    .iter()
                    .any(|c| !(1..=4).contains(&c.h) || !(1..=4).contains(&c.v))
                {
                    return None;
                }
            }
            0xC2..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            0xC4 => {
                let mut rest = body;
                while !rest.is_empty() {
                    let class_id = rest[0];
                    let (class, id) = (usize::from(class_id >> 4), usize::from(class_id & 15));
                    if class > 1 || id > 3 || rest.len() < 17 {
                        return None;
                    }
                    let counts: [u8; 16] = rest[1..17].try_into().ok()?;
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let symbols = rest.get(17..17 + total)?;
                    tables[class * 4 + id] = Some(Table::new(&counts, symbols)?);
                    rest = &rest[17 + total..];
                }
            }
            0xDD => {
                restart = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
            }
            0xDA => {
                let end = scan(
                    data,
                    pos + len,
                    body,
                    &components,
                    (width, height),
                    &tables,
                    restart,
                    &mut interval_base,
                )?;
                match end {
                    ScanEnd::Left(leftover) => return Some(leftover),
                    ScanEnd::Marker(at) => {
                        pos = at;
                        continue;
                    }
                }
            }
            _ => {}
        }
        pos += len;
    }
}

enum ScanEnd {
    /// Bytes left over: the finding.
    Left(Leftover),
    /// Every byte accounted for; the next marker starts here.
    Marker(usize),
}

/// Walks one scan whose header is `header` and whose data starts at `start`.
#[allow(clippy::too_many_arguments)]
fn scan(
    data: &[u8],
    start: usize,
    header: &[u8],
    components: &[Component],
    (width, height): (usize, usize),
    tables: &[Option<Table>; 8],
    restart: usize,
    interval_base: &mut usize,
) -> Option<ScanEnd> {
    let ns = usize::from(*header.first()?);
    if ns == 0 || header.len() < 1 + 2 * ns + 3 || components.is_empty() {
        return None;
    }
    let (ss, se, a) = (header[1 + 2 * ns], header[2 + 2 * ns], header[3 + 2 * ns]);
    if ss != 0 || se != 63 || a != 0 {
        return None;
    }
    let hmax = components.iter().map(|c| c.h).max()?;
    let vmax = components.iter().map(|c| c.v).max()?;
    // For each scan component: its DC and AC tables and its blocks per MCU.
    let mut members: Vec<(&Table, &Table, usize)> = Vec::with_capacity(ns);
    let mut single: Option<&Component> = None;
    for i in 0..ns {
        let (id, t) = (header[1 + 2 * i], header[2 + 2 * i]);
        let c = components.iter().find(|c| c.id == id)?;
        let dc = tables[usize::from(t >> 4).min(3)].as_ref()?;
        let ac = tables[4 + usize::from(t & 15).min(3)].as_ref()?;
        members.push((dc, ac, if ns == 1 { 1 } else { c.h * c.v }));
        single = Some(c);
    }
    let mcus = if ns == 1 {
        let c = single?;
        let cw = (width * c.h).div_ceil(hmax);
        let ch = (height * c.v).div_ceil(vmax);
        cw.div_ceil(8) * ch.div_ceil(8)
    } else {
        width.div_ceil(8 * hmax) * height.div_ceil(8 * vmax)
    };
    let per_interval = if restart > 0 { restart } else { mcus };
    let mut bits = Bits::new(data, start);
    let mut done = 0usize;
    let mut interval = 0usize;
    while done < mcus {
        let n = per_interval.min(mcus - done);
        for _ in 0..n {
            for &(dc, ac, blocks) in &members {
                for _ in 0..blocks {
                    let s = dc.decode(&mut bits)?;
                    if s > 11 {
                        return None;
                    }
                    bits.skip(u32::from(s));
                    let mut k = 1u32;
                    while k < 64 {
                        let rs = ac.decode(&mut bits)?;
                        let (r, s) = (u32::from(rs >> 4), u32::from(rs & 15));
                        if s == 0 {
                            if r != 15 {
                                break;
                            }
                            k += 16;
                        } else {
                            k += r + 1;
                            bits.skip(s);
                        }
                    }
                }
            }
            if bits.overran() {
                return None;
            }
        }
        done += n;
        let padding = bits.bad_padding();
        let (marker_at, used_to) = bits.finish();
        let left = &data[used_to.min(marker_at)..marker_at];
        let stray = !left.is_empty() && !left.iter().all(|&b| b == 0 || b == 0xFF);
        if stray || padding > 0 {
            return Some(ScanEnd::Left(Leftover {
                bytes: if stray { left.len() } else { 0 },
                bits: padding,
                interval: (restart > 0 && done < mcus).then_some(*interval_base + interval),
            }));
        }
        if done < mcus {
            // The interval must close on a restart marker; anything else libjpeg-turbo reports.
            let marker = *data.get(marker_at + 1)?;
            if !(0xD0..=0xD7).contains(&marker) {
                return None;
            }
            bits = Bits::new(data, marker_at + 2);
            interval += 1;
        } else {
            *interval_base += interval + 1;
            return Some(ScanEnd::Marker(marker_at));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    fn photo(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = ((x * 7 + y * 3) % 200) as u8 + 20;
            image::Rgb([v, 255 - v, ((x * y) % 251) as u8])
        })
    }

    fn encode(img: &RgbImage, subsamp: turbojpeg::Subsamp) -> Vec<u8> {
        let mut c = turbojpeg::Compressor::new().unwrap();
        c.set_quality(85);
        c.set_subsamp(subsamp);
        let image = turbojpeg::Image {
            pixels: img.as_raw().as_slice(),
            width: img.width() as usize,
            pitch: img.width() as usize * 3,
            height: img.height() as usize,
            format: turbojpeg::PixelFormat::RGB,
        };
        c.compress_to_vec(image).unwrap()
    }

    /// Where the marker that closes the (last) scan starts: the EOI at the end.
    fn eoi(data: &[u8]) -> usize {
        assert_eq!(&data[data.len() - 2..], &[0xFF, 0xD9]);
        data.len() - 2
    }

    #[test]
    fn an_intact_scan_accounts_for_every_byte() {
        for subsamp in [
            turbojpeg::Subsamp::None,
            turbojpeg::Subsamp::Sub2x2,
            turbojpeg::Subsamp::Sub2x1,
            turbojpeg::Subsamp::Gray,
        ] {
            let data = encode(&photo(123, 77), subsamp);
            assert_eq!(leftover_bytes(&data), None, "{subsamp:?}");
        }
    }

    #[test]
    fn bytes_no_block_uses_before_the_end_are_left_over_unless_fill() {
        let data = encode(&photo(96, 64), turbojpeg::Subsamp::Sub2x2);
        let at = eoi(&data);
        let mut extra = data.clone();
        extra.splice(at..at, [0x12, 0x34, 0x56]);
        assert_eq!(
            leftover_bytes(&extra),
            Some(Leftover {
                bytes: 3,
                bits: 0,
                interval: None
            })
        );
        let mut fill = data.clone();
        fill.splice(at..at, [0x00, 0x00, 0xFF, 0xFF]);
        assert_eq!(leftover_bytes(&fill), None);
    }

    /// A minimal grey baseline JPEG of `blocks` flat 8 × 8 blocks in a row (every block one
    /// 1-bit DC code for "no change" and one 1-bit end-of-block code, padded to a byte), with a
    /// restart marker after every `restart` blocks.
    fn flat_strip(blocks: u16, restart: Option<u16>) -> Vec<u8> {
        let mut d = vec![0xFF, 0xD8];
        d.extend([0xFF, 0xDB, 0, 67, 0]);
        d.extend([1u8; 64]);
        d.extend([0xFF, 0xC0, 0, 11, 8, 0, 8]);
        d.extend((blocks * 8).to_be_bytes());
        d.extend([1, 1, 0x11, 0]);
        // DC table 0 and AC table 0: one code of length 1 each (symbol 0: category 0 / EOB).
        for class in [0x00, 0x10] {
            d.extend([0xFF, 0xC4, 0, 20, class, 1]);
            d.extend([0u8; 15]);
            d.push(0);
        }
        if let Some(r) = restart {
            d.extend([0xFF, 0xDD, 0, 4]);
            d.extend(r.to_be_bytes());
        }
        d.extend([0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 63, 0]);
        let per = usize::from(restart.unwrap_or(blocks));
        let mut marker = 0u8;
        for i in 0..usize::from(blocks) {
            // Bits "0" "0" for each block; the interval's bits padded with 1s.
            if i % per == 0 && i > 0 {
                d.extend([0xFF, 0xD0 + marker]);
                marker = (marker + 1) % 8;
            }
            let in_interval = (i % per) + 1;
            let last = in_interval == per || i + 1 == usize::from(blocks);
            if last {
                // Every block of the interval is 2 bits; write the whole interval now.
                let n = in_interval;
                let bits = 2 * n;
                let bytes = bits.div_ceil(8);
                for b in 0..bytes {
                    let used = (bits - 8 * b).min(8);
                    d.push((0xFFu16 >> used) as u8);
                }
            }
        }
        d.extend([0xFF, 0xD9]);
        d
    }

    #[test]
    fn a_restart_interval_with_bytes_left_over_is_named() {
        let data = flat_strip(6, Some(2));
        // A well-formed file: libjpeg-turbo decodes it to mid-grey without a warning.
        let mut dec = turbojpeg::Decompressor::new().unwrap();
        let header = dec.read_header(&data).unwrap();
        assert_eq!((header.width, header.height), (48, 8));
        let mut pixels = vec![0u8; 48 * 8];
        dec.decompress(
            &data,
            turbojpeg::Image {
                pixels: pixels.as_mut_slice(),
                width: 48,
                pitch: 48,
                height: 8,
                format: turbojpeg::PixelFormat::GRAY,
            },
        )
        .unwrap();
        assert!(pixels.iter().all(|&p| p == 128));
        assert_eq!(leftover_bytes(&data), None);
        assert_eq!(leftover_bytes(&flat_strip(5, None)), None);
        // Two non-fill bytes spliced in before the second restart marker.
        let rst = (0..data.len() - 1)
            .filter(|&i| data[i] == 0xFF && (0xD0..=0xD7).contains(&data[i + 1]))
            .nth(1)
            .expect("two restart markers");
        let mut damaged = data.clone();
        damaged.splice(rst..rst, [0x5A, 0xA5]);
        assert_eq!(
            leftover_bytes(&damaged),
            Some(Leftover {
                bytes: 2,
                bits: 0,
                interval: Some(1)
            })
        );
        // A bit pattern that is no code: libjpeg-turbo reports that itself; not judged here.
        let mut short = data.clone();
        let first_rst = (0..data.len() - 1)
            .find(|&i| data[i] == 0xFF && data[i + 1] == 0xD0)
            .unwrap();
        short[first_rst - 1] = 0xFF >> 2;
        assert_eq!(leftover_bytes(&short), None);
    }

    #[test]
    fn what_it_does_not_judge_gives_nothing() {
        assert_eq!(leftover_bytes(b""), None);
        assert_eq!(leftover_bytes(b"not a jpeg"), None);
        let data = encode(&photo(64, 64), turbojpeg::Subsamp::Sub2x2);
        // Cut inside the scan: the codes run out (libjpeg-turbo reports that itself).
        assert_eq!(leftover_bytes(&data[..data.len() / 2]), None);
        // A progressive frame (only the frame marker changed: not read further).
        let sof = (0..data.len() - 1)
            .find(|&i| data[i] == 0xFF && data[i + 1] == 0xC0)
            .unwrap();
        let mut progressive = data.clone();
        progressive[sof + 1] = 0xC2;
        assert_eq!(leftover_bytes(&progressive), None);
    }
}
