//! A JPEG's quantised DCT coefficients, read by libjpeg-turbo's lossless-transform machinery
//! (`tjTransform` with a custom filter and no output): the entropy-coded data is decoded once,
//! as for any decode, but no inverse DCT, upsampling or colour conversion runs, and the values
//! come back before the decoder clamps anything to 0–255.
//!
//! That is what makes them evidence. Each component's DC coefficient is coded as a difference
//! from the block before, so one wrong difference moves every later block of the scan (or of
//! the restart interval) by the same amount. On a white backdrop the decoder clamps the result
//! back to white or shows a faint, even tint; only the face looks a little brighter. The
//! coefficients keep both traces: block means beyond what 8-bit samples can hold
//! ([`dc_out_of_range`]), and a grid line across flat backdrop where every block steps by the
//! very same DC amount, running out to the right edge as a drift does ([`drift_step_line`]).

use std::ffi::{c_int, c_short, c_uchar, c_ulong, c_void, CStr};
use turbojpeg::raw;

/// One component's blocks, row by row over the component plane as coded.
#[derive(Debug, Default, Clone)]
pub(crate) struct Plane {
    /// Blocks across the plane.
    pub width: usize,
    /// Blocks down the plane.
    pub height: usize,
    /// Each block's quantised DC coefficient.
    pub dc: Vec<i16>,
    /// Whether each block's 63 AC coefficients are all zero (a flat block).
    pub flat: Vec<bool>,
    /// Block rows the filter was handed (all of them when the read completed).
    rows: usize,
}

/// What reading the coefficients gave.
pub(crate) struct CoefficientRead {
    /// libjpeg-turbo's warning or error message, if it gave one.
    pub message: Option<String>,
    /// The first three components (fewer for a file with fewer), when libjpeg-turbo got as
    /// far as handing every block row of each over (it does after a warning: a damaged scan
    /// still yields coefficients).
    pub planes: Option<Vec<Plane>>,
}

/// A transformer handle, destroyed on drop.
struct Handle(raw::tjhandle);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from tjInitTransform, is not null and is destroyed once.
        unsafe {
            raw::tjDestroy(self.0);
        }
    }
}

/// A custom filter as libjpeg-turbo calls it: one block row of one component at a time.
type Filter = unsafe extern "C" fn(
    *mut c_short,
    raw::tjregion,
    raw::tjregion,
    c_int,
    c_int,
    *mut raw::tjtransform,
) -> c_int;

/// Runs one lossless no-op transform of `data`, handing every block row of every component to
/// `filter` with `state` as its data; with `output`, the re-encoded JPEG comes back (the
/// filter's changes in it). Returns libjpeg-turbo's message, when it warned or failed, and the
/// output; `None` when no transformer could be made or the data is empty.
fn transform_with<T>(
    data: &[u8],
    filter: Filter,
    state: &mut T,
    output: bool,
) -> Option<(Option<String>, Option<Vec<u8>>)> {
    if data.is_empty() {
        return None;
    }
    // SAFETY: no arguments; a null handle is checked.
    let handle = unsafe { raw::tjInitTransform() };
    if handle.is_null() {
        return None;
    }
    let handle = Handle(handle);
    let no_output = if output { 0 } else { raw::TJXOPT_NOOUTPUT };
    let mut transform = raw::tjtransform {
        r: raw::tjregion {
            x: 0,
            y: 0,
            w: 0,
            h: 0,
        },
        op: raw::TJXOP_TJXOP_NONE as c_int,
        options: (no_output | raw::TJXOPT_COPYNONE) as c_int,
        data: (state as *mut T).cast::<c_void>(),
        customFilter: Some(filter),
    };
    let mut out: *mut c_uchar = std::ptr::null_mut();
    let mut out_len: c_ulong = 0;
    // SAFETY: `data` outlives the call; `transform` is one valid tjtransform whose `data`
    // points at `state`, alive and not otherwise borrowed until the call returns, and `filter`
    // reads it as a `T`; the output pointers are valid (TurboJPEG allocates the output, freed
    // below; with TJXOPT_NOOUTPUT it writes nothing).
    let rc = unsafe {
        raw::tjTransform(
            handle.0,
            data.as_ptr(),
            data.len() as c_ulong,
            1,
            &mut out,
            &mut out_len,
            &mut transform,
            0,
        )
    };
    let bytes = (!out.is_null()).then(|| {
        // SAFETY: TurboJPEG allocated `out_len` bytes at `out` for this call; copied, then freed.
        let bytes = unsafe { std::slice::from_raw_parts(out, out_len as usize) }.to_vec();
        unsafe { raw::tjFree(out) };
        bytes
    });
    let message = (rc != 0).then(|| {
        // SAFETY: the handle is valid; the string is copied before the handle is dropped.
        unsafe { CStr::from_ptr(raw::tjGetErrorStr2(handle.0)) }
            .to_string_lossy()
            .into_owned()
    });
    Some((message, bytes.filter(|_| output && rc == 0)))
}

/// Reads the coefficients of `data`'s first three components. `None` only when no transformer
/// could be made or the data is empty.
pub(crate) fn read_coefficients(data: &[u8]) -> Option<CoefficientRead> {
    let mut sink: [Plane; 3] = Default::default();
    let (message, _) = transform_with(data, collect_planes, &mut sink, false)?;
    let planes: Vec<Plane> = sink.into_iter().take_while(|p| p.height > 0).collect();
    let complete = !planes.is_empty() && planes.iter().all(|p| p.rows == p.height);
    Some(CoefficientRead {
        message,
        planes: complete.then_some(planes),
    })
}

/// The custom filter: copies the first three components' DC coefficients and flatness, one
/// block row per call, and leaves the coefficients as they are. It must not panic (it runs
/// inside C).
unsafe extern "C" fn collect_planes(
    coeffs: *mut c_short,
    array: raw::tjregion,
    plane: raw::tjregion,
    component: c_int,
    _transform_index: c_int,
    transform: *mut raw::tjtransform,
) -> c_int {
    if coeffs.is_null() || transform.is_null() {
        return 0;
    }
    // SAFETY: `transform` is the tjtransform passed to tjTransform, whose `data` is the sink.
    let sink = unsafe { (*transform).data.cast::<[Plane; 3]>() };
    if sink.is_null() {
        return 0;
    }
    // SAFETY: the sink is alive for the whole tjTransform call and only this filter touches it.
    let sink = unsafe { &mut *sink };
    let Some(sink) = usize::try_from(component)
        .ok()
        .and_then(|c| sink.get_mut(c))
    else {
        return 0;
    };
    let (Ok(width), Ok(height), Ok(across), Ok(y)) = (
        usize::try_from(plane.w / 8),
        usize::try_from(plane.h / 8),
        usize::try_from(array.w / 8),
        usize::try_from(array.y / 8),
    ) else {
        return -1;
    };
    if sink.dc.is_empty() {
        let Some(blocks) = width.checked_mul(height).filter(|&n| n > 0) else {
            return -1;
        };
        sink.width = width;
        sink.height = height;
        sink.dc = vec![0; blocks];
        sink.flat = vec![false; blocks];
    }
    if across != sink.width {
        return -1;
    }
    // libjpeg-turbo walks whole MCU rows, so a plane whose height is not a multiple of its
    // sampling factor is handed a padding row past its end: nothing to keep.
    if y >= sink.height {
        return 0;
    }
    // SAFETY: libjpeg-turbo hands over one row of `array.w / 8` blocks of 64 coefficients.
    let row = unsafe { std::slice::from_raw_parts(coeffs, across * 64) };
    let start = y * sink.width;
    for (x, block) in row.chunks_exact(64).enumerate() {
        if let (Some(dc), Some(flat)) = (sink.dc.get_mut(start + x), sink.flat.get_mut(start + x)) {
            *dc = block[0];
            *flat = block[1..].iter().all(|&c| c == 0);
        }
    }
    sink.rows += 1;
    0
}

/// Least slack (levels of block mean) beyond a quantiser step before a flat block's mean is
/// impossible: a trellis-quantising encoder (mozjpeg) may round a DC one step the other way.
const FLAT_SLACK: f32 = 2.0;
/// The same for any block: mozjpeg's overshoot deringing raises a block's clipped samples by up
/// to 31 levels before the transform, so a block touching white may encode a mean above 255.
const ANY_SLACK: f32 = 33.0;
/// Blocks out of range before it is called damage (one is already impossible for a correct
/// encoder; two keep a single odd block of an odd encoder from refusing a photo).
const OUT_OF_RANGE_MIN: usize = 2;

/// Blocks of a (luminance) plane whose DC coefficient says their 64 samples average outside
/// what 8-bit samples can (beyond 0–255 by more than the quantiser's rounding and
/// [`FLAT_SLACK`] for a flat block, [`ANY_SLACK`] for any other), within the `image_w` ×
/// `image_h` blocks that hold the picture, with the farthest block mean; `None` when fewer than
/// [`OUT_OF_RANGE_MIN`] are.
pub(crate) fn dc_out_of_range(
    plane: &Plane,
    dc_quant: u16,
    image_w: usize,
    image_h: usize,
) -> Option<(usize, f32)> {
    let q = f32::from(dc_quant.max(1));
    let rounding = q / 8.0;
    let mut count = 0;
    let mut worst = 128.0f32;
    for y in 0..image_h.min(plane.height) {
        for x in 0..image_w.min(plane.width) {
            let i = y * plane.width + x;
            let mean = f32::from(plane.dc[i]) * q / 8.0 + 128.0;
            let slack = rounding + if plane.flat[i] { FLAT_SLACK } else { ANY_SLACK };
            if mean > 255.0 + slack || mean < -slack {
                count += 1;
                if (mean - 127.5).abs() > (worst - 127.5).abs() {
                    worst = mean;
                }
            }
        }
    }
    (count >= OUT_OF_RANGE_MIN).then_some((count, worst))
}

/// Length (pixels) of a drift step line before it is called damage: 6 blocks of 8 px. Of the
/// 773 intact files of the fixtures, the calibration originals and the damage bench's intact
/// bases, none has such a run in luminance or in unsubsampled chroma, and none more than 3
/// subsampled chroma blocks (bench/RESULTS.md, "Damaged JPEGs").
const STEP_LINE_MIN_PX: usize = 48;
/// Least chroma run in blocks, whatever their size.
const STEP_LINE_MIN_CHROMA_BLOCKS: usize = 4;
/// Least step (levels of block mean): below it a smooth backdrop's own gradient steps evenly
/// from one block row to the next often enough (at 1 level, runs of 5 subsampled chroma blocks
/// on intact photos).
const STEP_LINE_MIN_LEVELS: f32 = 1.5;
/// A step this large (levels) needs half the run: no intact file of those has a run of even 2
/// blocks stepping by 5 levels or more, in any component (a restart interval's drift may have
/// only the few blocks between the subject and the right edge to show itself).
const STEP_LINE_LARGE_LEVELS: f32 = 5.0;

/// Largest DC quantiser at which step lines are judged (quality 25 and up, as for the pixel
/// steps of `decode`): coarser, an over-compressed photo's backdrop steps by whole quantiser
/// steps along block rows of its own, and fails `quality.compression` anyway.
const STEP_LINE_MAX_DC_QUANT: u16 = 27;

/// The blocks of `plane` that hold an `image_w` × `image_h` picture when each block covers
/// `block_px` pixels (8 × 8 for luminance, 16 across or down for subsampled chroma): the block
/// size used and the blocks across and down.
fn extent(
    plane: &Plane,
    block_px: (usize, usize),
    image_w: usize,
    image_h: usize,
) -> ((usize, usize), usize, usize) {
    let (bw, bh) = (block_px.0.max(8), block_px.1.max(8));
    let w = image_w.div_ceil(bw).min(plane.width);
    let h = image_h.div_ceil(bh).min(plane.height);
    ((bw, bh), w, h)
}

/// A drift's top edge in one plane: on a horizontal block boundary, a run of flat blocks over
/// flat blocks, each pair stepping by exactly the same DC amount of at least
/// [`STEP_LINE_MIN_LEVELS`] and two quantiser steps, over at least [`STEP_LINE_MIN_PX`] (and
/// [`STEP_LINE_MIN_CHROMA_BLOCKS`] for chroma; half both for a step of
/// [`STEP_LINE_LARGE_LEVELS`]), running out at the picture's right edge and not starting at its
/// left (a drift moves the rest of its row; a full-width step is what a band pasted below a
/// photo looks like). `block_px` is the plane's block size in pixels across and down (8 × 8
/// for luminance; 16 for subsampled chroma), `image_w`/`image_h` the picture's size in pixels.
/// Returns the run in blocks, the boundary's pixel row and the step in levels.
pub(crate) fn drift_step_line(
    plane: &Plane,
    dc_quant: u16,
    block_px: (usize, usize),
    chroma: bool,
    image_w: usize,
    image_h: usize,
) -> Option<(usize, usize, f32)> {
    let ((bw, bh), w, h) = extent(plane, block_px, image_w, image_h);
    if dc_quant > STEP_LINE_MAX_DC_QUANT {
        return None;
    }
    let q = f32::from(dc_quant.max(1));
    // One quantiser step is where a gentle gradient's contour crosses a block row.
    let min_steps = (STEP_LINE_MIN_LEVELS * 8.0 / q).ceil().max(2.0) as i32;
    let least_run = |levels: f32| {
        let halve = if levels.abs() >= STEP_LINE_LARGE_LEVELS {
            2
        } else {
            1
        };
        let least = if chroma {
            STEP_LINE_MIN_CHROMA_BLOCKS
        } else {
            1
        };
        (STEP_LINE_MIN_PX / halve).div_ceil(bw).max(least / halve)
    };
    let mut best: Option<(usize, usize, f32)> = None;
    for y in 0..h.saturating_sub(1) {
        let (above, below) = (y * plane.width, (y + 1) * plane.width);
        let mut run = 0usize;
        let mut start = 0usize;
        let mut step = 0i32;
        for x in 0..w {
            let flat = plane.flat[above + x] && plane.flat[below + x];
            let d = i32::from(plane.dc[below + x]) - i32::from(plane.dc[above + x]);
            if flat && d.abs() >= min_steps {
                if run > 0 && d == step {
                    run += 1;
                } else {
                    run = 1;
                    start = x;
                    step = d;
                }
            } else {
                run = 0;
            }
        }
        let levels = step as f32 * q / 8.0;
        if run > 0 && run >= least_run(levels) && start > 0 && best.is_none_or(|b| run > b.0) {
            best = Some((run, (y + 1) * bh, levels));
        }
    }
    best
}

/// Least chroma step (levels of block mean) of a [`drift_staircase`]: far beyond any block
/// row's rounding, and a tint a person sees at once.
const STAIRCASE_MIN_LEVELS: f32 = 16.0;
/// Least plane width (blocks) for a staircase to be judged, and least blocks on each side of
/// its corner.
const STAIRCASE_MIN_WIDTH: usize = 8;
const STAIRCASE_MIN_SIDE: usize = 3;
/// Share of a staircase's blocks whose DC steps within the tolerance of the common step.
const STAIRCASE_SHARE: f32 = 0.75;
/// Largest share of the other boundary's blocks (the one the drift does not cross on each
/// side) that may step the same way: a colour edge across the whole width steps on both.
const STAIRCASE_OTHER_SHARE: f32 = 0.34;

/// A chroma drift seen through texture: from a block in row `r` on, every later block of the
/// scan is tinted by the same DC amount, so the boundary above row `r` steps by that amount from
/// the drift's column to the right edge, and the boundary below it from the left edge to that
/// column — a staircase across the whole width, one block row high, whatever the blocks hold.
/// Judged where the step is large ([`STAIRCASE_MIN_LEVELS`]): the content's own vertical
/// differences are then small beside it, so [`STAIRCASE_SHARE`] of the blocks step within a
/// third of it (at least 4 levels), while the other halves of the two boundaries do not (a
/// garment's edge running straight across the photo steps along one whole boundary; the subject
/// does not make a staircase of one block row ending in the same column on both). This catches
/// the drift whose top edge crosses the shoulders, where [`drift_step_line`] finds no flat
/// backdrop to the right edge. Returns the pixel row of the upper boundary, the column where the
/// drift starts and the step in levels.
pub(crate) fn drift_staircase(
    plane: &Plane,
    dc_quant: u16,
    block_px: (usize, usize),
    image_w: usize,
    image_h: usize,
) -> Option<(usize, usize, f32)> {
    let ((bw, bh), w, h) = extent(plane, block_px, image_w, image_h);
    if w < STAIRCASE_MIN_WIDTH || h < 3 {
        return None;
    }
    let q = f32::from(dc_quant.max(1));
    let units = |levels: f32| levels * 8.0 / q;
    let dc = |y: usize, x: usize| f32::from(plane.dc[y * plane.width + x]);
    let mut best: Option<(usize, usize, usize, f32)> = None;
    let mut top = vec![0f32; w];
    let mut next = vec![0f32; w];
    let mut steps = Vec::with_capacity(w);
    for r in 1..h - 1 {
        for x in 0..w {
            top[x] = dc(r, x) - dc(r - 1, x);
            next[x] = dc(r + 1, x) - dc(r, x);
        }
        let least = (STAIRCASE_SHARE * w as f32).ceil() as usize;
        // A block near the step differs from it by at most a third, so it steps by at least
        // two thirds of the least step: too few such blocks on both boundaries, no staircase.
        let large = |d: &&f32| d.abs() >= units(STAIRCASE_MIN_LEVELS) * 2.0 / 3.0;
        if top.iter().filter(large).count() + next.iter().filter(large).count() < least {
            continue;
        }
        for c in STAIRCASE_MIN_SIDE..=w - STAIRCASE_MIN_SIDE {
            // The drift's step: the median of the staircase's own steps.
            steps.clear();
            steps.extend(next[..c].iter().chain(&top[c..]));
            let delta = median(&mut steps);
            if delta.abs() < units(STAIRCASE_MIN_LEVELS) {
                continue;
            }
            let tol = (delta.abs() / 3.0).max(units(4.0));
            let near = |d: &&f32| (**d - delta).abs() <= tol;
            let left = next[..c].iter().filter(near).count();
            let right = top[c..].iter().filter(near).count();
            if left + right < least
                || (left as f32) < STAIRCASE_SHARE * c as f32
                || (right as f32) < STAIRCASE_SHARE * (w - c) as f32
            {
                continue;
            }
            let other =
                top[..c].iter().filter(near).count() + next[c..].iter().filter(near).count();
            if other as f32 <= STAIRCASE_OTHER_SHARE * w as f32
                && best.is_none_or(|b| left + right > b.0)
            {
                best = Some((left + right, r * bh, c * bw, delta * q / 8.0));
            }
        }
        if best.is_some() {
            break;
        }
    }
    best.map(|(_, row, column, step)| (row, column, step))
}

/// The median of `values` (the mean of the middle two for an even count), by selection;
/// reorders them. `values` must not be empty.
fn median(values: &mut [f32]) -> f32 {
    let n = values.len();
    let (below, upper, _) = values.select_nth_unstable_by(n / 2, f32::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return upper;
    }
    let lower = below.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (lower + upper) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    /// A portrait-like frame: clipped white backdrop, a mid-grey oval "head" with texture and a
    /// darker band of "shoulders" at the bottom.
    fn portrait(w: u32, h: u32) -> RgbImage {
        portrait_on(w, h, 255)
    }

    fn portrait_on(w: u32, h: u32, backdrop: u8) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (dx, dy) = (x as f32 - w as f32 / 2.0, y as f32 - h as f32 * 0.45);
            if (dx / (w as f32 * 0.28)).powi(2) + (dy / (h as f32 * 0.3)).powi(2) < 1.0 {
                let t = ((x * 7 + y * 3) % 23) as u8;
                image::Rgb([170 + t, 140 + t, 120 + t])
            } else if y > h * 85 / 100 {
                image::Rgb([40, 45, 60])
            } else {
                image::Rgb([backdrop; 3])
            }
        })
    }

    fn encode(img: &RgbImage, quality: i32) -> Vec<u8> {
        turbojpeg::compress(
            turbojpeg::Image {
                pixels: img.as_raw().as_slice(),
                width: img.width() as usize,
                pitch: img.width() as usize * 3,
                height: img.height() as usize,
                format: turbojpeg::PixelFormat::RGB,
            },
            quality,
            turbojpeg::Subsamp::Sub2x2,
        )
        .unwrap()
        .to_vec()
    }

    /// The drift a damaged DC difference leaves in a 4:2:0 file: every block of `component`
    /// from MCU `from` (in coding order) on moved by `delta` quantised DC steps, written back
    /// out as a JPEG by the same transform machinery (a well-formed file whose data says what
    /// damaged data would).
    fn drifted_component(data: &[u8], component: c_int, from: usize, delta: i16) -> Vec<u8> {
        struct Drift {
            component: c_int,
            from: usize,
            delta: i16,
        }
        unsafe extern "C" fn shift(
            coeffs: *mut c_short,
            array: raw::tjregion,
            plane: raw::tjregion,
            component: c_int,
            _t: c_int,
            transform: *mut raw::tjtransform,
        ) -> c_int {
            // SAFETY: the data is the `Drift` handed to `transform_with`.
            let drift = unsafe { &*(*transform).data.cast::<Drift>() };
            if component != drift.component {
                return 0;
            }
            // Luminance blocks are 2 × 2 to an MCU, chroma 1.
            let s = if component == 0 { 2 } else { 1 };
            let across = (array.w / 8) as usize;
            let mcus_across = ((plane.w / 8) as usize).div_ceil(s);
            let y = (array.y / 8) as usize;
            // SAFETY: one row of `across` blocks of 64 coefficients.
            let row = unsafe { std::slice::from_raw_parts_mut(coeffs, across * 64) };
            for (x, block) in row.chunks_exact_mut(64).enumerate() {
                if (y / s) * mcus_across + x / s >= drift.from {
                    block[0] = block[0].saturating_add(drift.delta);
                }
            }
            0
        }
        let mut drift = Drift {
            component,
            from,
            delta,
        };
        let (message, bytes) = transform_with(data, shift, &mut drift, true).unwrap();
        assert_eq!(message, None);
        bytes.expect("the drifted JPEG")
    }

    fn drifted(data: &[u8], from: usize, delta: i16) -> Vec<u8> {
        drifted_component(data, 0, from, delta)
    }

    fn header(data: &[u8]) -> crate::header::Header {
        crate::header::read_header(data).unwrap()
    }

    #[test]
    fn the_dc_coefficients_are_the_block_means_before_clamping() {
        let img = portrait(96, 120);
        let data = encode(&img, 90);
        let h = header(&data);
        let q = h.dc_quants[0].expect("the luminance table's DC");
        let read = read_coefficients(&data).unwrap();
        assert!(read.message.is_none());
        let first = read.planes.expect("every block row").remove(0);
        // The picture's blocks (libjpeg-turbo keeps the rest of the last MCU row out of view).
        assert_eq!((first.width, first.height), (12, 15));
        // The top-left block is clipped white and flat; a head block is textured.
        let mean = |i: usize| f32::from(first.dc[i]) * f32::from(q) / 8.0 + 128.0;
        assert!(
            (mean(0) - 255.0).abs() <= f32::from(q) / 16.0 + 0.01,
            "{}",
            mean(0)
        );
        assert!(first.flat[0]);
        let head = 7 * 12 + 6;
        assert!(!first.flat[head]);
        let luma = image::DynamicImage::ImageRgb8(img).to_luma8();
        let truth: f32 = (0..8)
            .flat_map(|y| (0..8).map(move |x| (x, y)))
            .map(|(x, y)| f32::from(luma.get_pixel(6 * 8 + x, 7 * 8 + y)[0]))
            .sum::<f32>()
            / 64.0;
        assert!(
            (mean(head) - truth).abs() < 2.0,
            "{} against {truth}",
            mean(head)
        );
        assert!(dc_out_of_range(&first, q, 12, 15).is_none());
    }

    #[test]
    fn a_drift_hidden_by_a_clipped_backdrop_is_out_of_range() {
        let data = encode(&portrait(96, 120), 90);
        let h = header(&data);
        let q = h.dc_quants[0].unwrap();
        // +40 levels from the third block row on: white stays white on screen.
        let steps = (40.0 * 8.0 / f32::from(q)).round() as i16;
        let bad = drifted(&data, 6 + 3, steps);
        let shown = turbojpeg::decompress(&bad, turbojpeg::PixelFormat::GRAY).unwrap();
        assert_eq!(
            shown.pixels[20 * shown.pitch + 90],
            255,
            "the backdrop still looks white"
        );
        let first = read_coefficients(&bad).unwrap().planes.unwrap().remove(0);
        let (n, worst) = dc_out_of_range(&first, q, 12, 15).expect("out of range");
        assert!(n > 20, "{n} blocks");
        assert!((worst - 295.0).abs() < 3.0, "{worst}");
        // The same drift downwards leaves a grey backdrop: visible, and left to the backdrop
        // checks, since every block stays within range.
        let darker = drifted(&data, 6 + 3, -steps);
        let first = read_coefficients(&darker)
            .unwrap()
            .planes
            .unwrap()
            .remove(0);
        assert!(dc_out_of_range(&first, q, 12, 15).is_none());
        // Through the decoder's entry point, with its message.
        let message = crate::decode::jpeg_damage(&bad, &header(&bad)).expect("damage");
        assert!(message.contains("0–255"), "{message}");
        assert!(crate::decode::jpeg_damage(&data, &h).is_none());
    }

    /// A grey backdrop of `level` with a textured square in the top-left corner.
    fn patch_on(w: u32, h: u32, level: u8) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            if x < 40 && y < 40 {
                let t = ((x * 7 + y * 3) % 23) as u8;
                image::Rgb([150 + t, 120 + t, 100 + t])
            } else {
                image::Rgb([level; 3])
            }
        })
    }

    #[test]
    fn a_drift_on_an_unclipped_backdrop_leaves_a_step_line_out_to_the_right_edge() {
        // 160 × 120, 4:2:0: 20 × 15 luminance blocks, 10 × 8 MCUs.
        let data = encode(&patch_on(160, 120, 240), 90);
        let h = header(&data);
        let planes = read_coefficients(&data).unwrap().planes.unwrap();
        for (c, plane) in planes.iter().enumerate() {
            let block = if c == 0 { (8, 8) } else { (16, 16) };
            let q = h.dc_quants[c].unwrap();
            assert!(drift_step_line(plane, q, block, c > 0, 160, 120).is_none());
        }
        // +4 levels of brightness from MCU (4, 3) on: backdrop 244, in range. The step runs
        // along pixel row 48 from the drift's start to the right edge (and along row 64 from
        // the left edge to the start, which is not judged).
        let q = h.dc_quants[0].unwrap();
        let steps = (4.0 * 8.0 / f32::from(q)).round() as i16;
        let bad = drifted(&data, 3 * 10 + 4, steps);
        let planes = read_coefficients(&bad).unwrap().planes.unwrap();
        assert!(dc_out_of_range(&planes[0], q, 20, 15).is_none());
        let (run, row, step) =
            drift_step_line(&planes[0], q, (8, 8), false, 160, 120).expect("the drift's top edge");
        assert_eq!((run, row), (12, 48));
        assert!((step - 4.0).abs() < 0.5, "{step}");
        let message = crate::decode::jpeg_damage(&bad, &header(&bad)).expect("damage");
        assert!(message.contains("brightness"), "{message}");
        // A red-difference drift of 3 levels: a faint pink that only the coefficients show.
        let qc = h.dc_quants[2].unwrap();
        let steps = (3.0 * 8.0 / f32::from(qc)).round() as i16;
        let pink = drifted_component(&data, 2, 3 * 10 + 4, steps);
        let message = crate::decode::jpeg_damage(&pink, &header(&pink)).expect("damage");
        assert!(message.contains("red-difference"), "{message}");
        // A band pasted along the whole width is not a drift.
        let mut banded = patch_on(160, 120, 240);
        for y in 96..120 {
            for x in 0..160 {
                banded.put_pixel(x, y, image::Rgb([250; 3]));
            }
        }
        let data = encode(&banded, 90);
        assert!(crate::decode::jpeg_damage(&data, &header(&data)).is_none());
    }

    /// White backdrop over a textured blue "shirt" across the whole width from row `top` down.
    fn shirt_from(w: u32, h: u32, top: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            if y >= top {
                // A weave in colour: 4-px checks of blue and of teal.
                let t = (((x / 4) + (y / 4)) % 2) as u8;
                image::Rgb([30, 40 + 50 * t, 120 - 40 * t])
            } else {
                image::Rgb([255; 3])
            }
        })
    }

    #[test]
    fn a_colour_drift_across_a_textured_shirt_is_a_staircase() {
        // 160 × 128, 4:2:0: 10 × 8 MCUs; the shirt from pixel row 56 (inside an MCU row).
        let data = encode(&shirt_from(160, 128, 56), 90);
        let h = header(&data);
        let planes = read_coefficients(&data).unwrap().planes.unwrap();
        for plane in &planes[1..] {
            assert!(drift_staircase(plane, h.dc_quants[1].unwrap(), (16, 16), 160, 128).is_none());
        }
        assert!(crate::decode::jpeg_damage(&data, &header(&data)).is_none());
        // A blue-difference drift of about 36 levels from MCU (4, 5) on: the shirt turns green
        // below a line at pixel row 80 from x = 64 and at row 96 to the left of it.
        let q = h.dc_quants[1].unwrap();
        let steps = -(36.0 * 8.0 / f32::from(q)).round() as i16;
        let bad = drifted_component(&data, 1, 5 * 10 + 4, steps);
        let planes = read_coefficients(&bad).unwrap().planes.unwrap();
        // No flat backdrop beside it: the top edge is not a step line.
        assert!(drift_step_line(&planes[1], q, (16, 16), true, 160, 128).is_none());
        let (row, column, step) =
            drift_staircase(&planes[1], q, (16, 16), 160, 128).expect("the staircase");
        assert_eq!((row, column), (80, 64));
        assert!((step + 36.0).abs() < 2.0, "{step}");
        let message = crate::decode::jpeg_damage(&bad, &header(&bad)).expect("damage");
        assert!(message.contains("to the end of the photo"), "{message}");
        // A garment edge straight across the photo on a block boundary is not a staircase.
        let edge = encode(&shirt_from(160, 128, 80), 90);
        let planes = read_coefficients(&edge).unwrap().planes.unwrap();
        for plane in &planes[1..] {
            assert!(drift_staircase(plane, q, (16, 16), 160, 128).is_none());
        }
    }

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&mut [3.0, -1.0, 7.0]), 3.0);
        assert_eq!(median(&mut [4.0, -2.0, 10.0, 0.0]), 2.0);
        assert_eq!(median(&mut [-5.0]), -5.0);
    }

    #[test]
    fn a_bright_non_flat_block_needs_more_than_deringing_gives() {
        let first = Plane {
            width: 3,
            height: 1,
            // q 2: means 128 + dc / 4.
            dc: vec![540, 540, 540],
            flat: vec![false, false, true],
            rows: 1,
        };
        // 263: impossible flat, possible (mozjpeg's deringing) textured; one block is not enough.
        assert!(dc_out_of_range(&first, 2, 3, 1).is_none());
        let textured = Plane {
            dc: vec![690, 690, 0],
            flat: vec![false, false, false],
            ..first
        };
        // 300.5 in two textured blocks.
        assert_eq!(dc_out_of_range(&textured, 2, 3, 1), Some((2, 300.5)));
        // Padding blocks outside the picture are not judged.
        assert!(dc_out_of_range(&textured, 2, 1, 1).is_none());
    }

    #[test]
    fn what_is_not_a_jpeg_gives_a_message_and_no_blocks() {
        let read = read_coefficients(b"\xFF\xD8\xFF\xDB not really").unwrap();
        assert!(read.message.is_some());
        assert!(read.planes.is_none());
        assert!(read_coefficients(&[]).is_none());
    }
}
