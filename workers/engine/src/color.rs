//! Colour conversions: sRGB (8-bit) to luma and CIELAB (D65).

/// sRGB 8-bit to linear light, by table.
pub(crate) fn linear_table() -> &'static [f32; 256] {
    static TABLE: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0.0f32; 256];
        for (i, v) in t.iter_mut().enumerate() {
            let c = i as f32 / 255.0;
            *v = if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            };
        }
        t
    })
}

/// Rec. 601 luma (0–255) of an sRGB pixel, as JPEG and most quality measures use.
#[inline]
pub fn luma(p: [u8; 3]) -> f32 {
    0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
}

/// Length of a 2-vector, e.g. the chroma √(a*² + b*²): one square root, for per-pixel loops
/// (`f32::hypot` calls libm's overflow-safe routine; colour values are far from overflow).
#[inline]
pub fn norm2(x: f32, y: f32) -> f32 {
    (x * x + y * y).sqrt()
}

/// Euclidean distance of two CIELAB colours (ΔE*ab, CIE 1976).
#[inline]
pub fn delta_e(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Bins of the relative-luminance table behind [`lightness`].
const Y_BINS: usize = 4096;

/// CIELAB L* of an sRGB pixel, by table: relative luminance Y is exact (linear-light table),
/// L* = f(Y) is interpolated in a 4096-bin table (error below 0.05). Several times
/// cheaper than [`lab`], for measures that need only lightness on many pixels.
#[inline]
pub fn lightness(p: [u8; 3]) -> f32 {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0..=Y_BINS)
            .map(|i| {
                let y = i as f32 / Y_BINS as f32;
                let f = if y > 0.008_856 {
                    y.cbrt()
                } else {
                    7.787 * y + 16.0 / 116.0
                };
                116.0 * f - 16.0
            })
            .collect()
    });
    let t = linear_table();
    let y = 0.212_672_9 * t[p[0] as usize]
        + 0.715_152_2 * t[p[1] as usize]
        + 0.072_175 * t[p[2] as usize];
    let pos = (y * Y_BINS as f32).clamp(0.0, Y_BINS as f32);
    let i = (pos as usize).min(Y_BINS - 1);
    let f = pos - i as f32;
    table[i] + f * (table[i + 1] - table[i])
}

/// CIELAB (L* 0–100, a*, b*) of an sRGB pixel, D65 white.
pub fn lab(p: [u8; 3]) -> [f32; 3] {
    let t = linear_table();
    let (r, g, b) = (t[p[0] as usize], t[p[1] as usize], t[p[2] as usize]);
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let f = |v: f32| {
        if v > 0.008_856 {
            v.cbrt()
        } else {
            7.787 * v + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// A direct-mapped cache of [`lightness`] and [`lab`] by colour. Backgrounds and skin have few
/// distinct colours, so measures over many pixels convert each colour once; values are exactly
/// those of the functions.
pub struct LabCache {
    keys: Vec<u32>,
    vals: Vec<[f32; 4]>,
    /// [`lightness`] to the nearest 0.1 (0–1000), per slot.
    bins: Vec<u16>,
    /// The last colour asked for (runs of one colour are common).
    last: (u32, [f32; 4], u16),
}

const CACHE_BITS: u32 = 12;

impl Default for LabCache {
    fn default() -> Self {
        LabCache {
            keys: vec![u32::MAX; 1 << CACHE_BITS],
            vals: vec![[0.0; 4]; 1 << CACHE_BITS],
            bins: vec![0; 1 << CACHE_BITS],
            last: (u32::MAX, [0.0; 4], 0),
        }
    }
}

impl LabCache {
    /// `[lightness(p), L*, a*, b*]` of `p`.
    #[inline]
    pub fn get(&mut self, p: [u8; 3]) -> [f32; 4] {
        self.get_binned(p).0
    }

    /// [`LabCache::get`], and `lightness(p)` to the nearest 0.1 as an integer 0–1000 (halves
    /// up), for histograms.
    #[inline(always)]
    pub fn get_binned(&mut self, p: [u8; 3]) -> ([f32; 4], u16) {
        let key = u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]);
        if key == self.last.0 {
            return (self.last.1, self.last.2);
        }
        let slot = (key.wrapping_mul(0x9E37_79B1) >> (32 - CACHE_BITS)) as usize;
        if self.keys[slot] != key {
            self.convert(p, key, slot);
        }
        self.last = (key, self.vals[slot], self.bins[slot]);
        (self.last.1, self.last.2)
    }

    /// Fills `slot` with colour `p` (out of line: the lookup above stays small enough to inline
    /// into the loops over pixels).
    #[cold]
    #[inline(never)]
    fn convert(&mut self, p: [u8; 3], key: u32, slot: usize) {
        let l = lab(p);
        let light = lightness(p);
        self.keys[slot] = key;
        self.vals[slot] = [light, l[0], l[1], l[2]];
        self.bins[slot] = (light.clamp(0.0, 100.0) * 10.0 + 0.5) as u16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_black_and_primaries() {
        let w = lab([255, 255, 255]);
        assert!((w[0] - 100.0).abs() < 0.05 && w[1].abs() < 0.05 && w[2].abs() < 0.05);
        assert!(lab([0, 0, 0])[0].abs() < 1e-3);
        let red = lab([255, 0, 0]);
        assert!((red[0] - 53.2).abs() < 0.5 && (red[1] - 80.1).abs() < 1.0);
        let blue = lab([0, 0, 255]);
        assert!(blue[2] < -100.0);
        assert_eq!(luma([255, 255, 255]).round(), 255.0);
    }

    #[test]
    fn table_lightness_matches_exact_lab() {
        for p in [
            [255, 255, 255],
            [250, 248, 240],
            [128, 128, 128],
            [200, 150, 120],
            [40, 30, 25],
            [0, 0, 255],
        ] {
            assert!((lightness(p) - lab(p)[0]).abs() < 0.05, "{p:?}");
        }
    }

    #[test]
    fn cache_returns_the_exact_values_even_on_collisions() {
        let mut c = LabCache::default();
        for i in 0..20_000u32 {
            let p = [(i % 251) as u8, (i * 7 % 253) as u8, (i * 13 % 255) as u8];
            let l = lab(p);
            assert_eq!(c.get(p), [lightness(p), l[0], l[1], l[2]], "{p:?}");
            let bin = (lightness(p).clamp(0.0, 100.0) * 10.0 + 0.5) as u16;
            assert_eq!(c.get_binned(p).1, bin, "{p:?}");
        }
    }
}
