//! Seeded 2D value noise and fractal sums of it (fBm), basic float arithmetic only.
//!
//! Lattice values and the permutation come from ChaCha20 seeded with the background's seed, so
//! the same seed gives the same pattern on every machine; no trig or libm calls are involved.
use rand::Rng;
use rand_chacha::ChaCha20Rng;

pub const MAX_OCTAVES: usize = 5;

pub struct ValueNoise {
    /// A permutation of 0..256, stored twice so `perm[a + b]` never needs a wrap.
    perm: [u8; 512],
    values: [f32; 256],
    /// Per-octave offsets, so the octaves do not share a lattice origin (visible as a seam).
    offsets: [[f32; 2]; MAX_OCTAVES],
}

/// Quintic fade: zero first and second derivative at the lattice points (no grid creases).
#[inline]
fn fade(t: f32) -> f32 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

impl ValueNoise {
    pub fn new(rng: &mut ChaCha20Rng) -> Self {
        let mut table: [u8; 256] = std::array::from_fn(|i| i as u8);
        // Fisher-Yates with rand's portable integer sampling.
        for i in (1..256usize).rev() {
            let j = rng.random_range(0..=i);
            table.swap(i, j);
        }
        let mut perm = [0u8; 512];
        perm[..256].copy_from_slice(&table);
        perm[256..].copy_from_slice(&table);
        let values = std::array::from_fn(|_| rng.random::<f32>());
        let offsets = std::array::from_fn(|_| {
            [
                rng.random_range(0.0f32..256.0),
                rng.random_range(0.0f32..256.0),
            ]
        });
        ValueNoise {
            perm,
            values,
            offsets,
        }
    }

    #[cfg(test)]
    pub fn from_seed(seed: u64) -> Self {
        Self::new(&mut <ChaCha20Rng as rand::SeedableRng>::seed_from_u64(seed))
    }

    #[inline]
    fn lattice(&self, ix: i32, iy: i32) -> f32 {
        let a = self.perm[(ix & 255) as usize] as usize;
        self.values[self.perm[a + (iy & 255) as usize] as usize]
    }

    /// Smooth noise in [0, 1) with one feature per lattice unit.
    #[inline]
    pub fn value(&self, x: f32, y: f32) -> f32 {
        let x0 = x.floor();
        let y0 = y.floor();
        let (ix, iy) = (x0 as i32, y0 as i32);
        let (sx, sy) = (fade(x - x0), fade(y - y0));
        let a = self.lattice(ix, iy);
        let b = self.lattice(ix + 1, iy);
        let c = self.lattice(ix, iy + 1);
        let d = self.lattice(ix + 1, iy + 1);
        let top = a + (b - a) * sx;
        let bottom = c + (d - c) * sx;
        top + (bottom - top) * sy
    }

    /// `fbm` along one row: `out[i]` = fbm(x0 + i * dx, y). The lattice corners are fetched
    /// only when the cell changes, which makes a row several times cheaper than point calls;
    /// the arithmetic per sample is the same as `value`, so the results are the same bits.
    pub fn fbm_row(&self, x0: f32, dx: f32, y: f32, octaves: usize, out: &mut [f32]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        let mut norm = 0.0f32;
        let mut amplitude = 1.0f32;
        let mut frequency = 1.0f32;
        for offset in self.offsets.iter().take(octaves.max(1)) {
            let yy = y * frequency + offset[1];
            let y0 = yy.floor();
            let (iy, sy) = (y0 as i32, fade(yy - y0));
            let mut cell = i32::MIN;
            let (mut a, mut b, mut c, mut d) = (0.0, 0.0, 0.0, 0.0);
            for (i, o) in out.iter_mut().enumerate() {
                let xx = (x0 + i as f32 * dx) * frequency + offset[0];
                let xf = xx.floor();
                let ix = xf as i32;
                if ix != cell {
                    cell = ix;
                    a = self.lattice(ix, iy);
                    b = self.lattice(ix + 1, iy);
                    c = self.lattice(ix, iy + 1);
                    d = self.lattice(ix + 1, iy + 1);
                }
                let sx = fade(xx - xf);
                let top = a + (b - a) * sx;
                let bottom = c + (d - c) * sx;
                *o += amplitude * (top + (bottom - top) * sy);
            }
            norm += amplitude;
            amplitude *= 0.5;
            frequency *= 2.0;
        }
        out.iter_mut().for_each(|o| *o /= norm);
    }

    /// Fractal Brownian motion: `octaves` (at most `MAX_OCTAVES`) of doubling frequency and
    /// halving amplitude, in [0, 1).
    pub fn fbm(&self, x: f32, y: f32, octaves: usize) -> f32 {
        let mut sum = 0.0f32;
        let mut norm = 0.0f32;
        let mut amplitude = 1.0f32;
        let mut frequency = 1.0f32;
        for offset in self.offsets.iter().take(octaves.max(1)) {
            sum += amplitude * self.value(x * frequency + offset[0], y * frequency + offset[1]);
            norm += amplitude;
            amplitude *= 0.5;
            frequency *= 2.0;
        }
        sum / norm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_continuous_and_bounded() {
        let n = ValueNoise::from_seed(3);
        let mut previous = n.value(0.0, 0.3);
        for i in 1..2000 {
            let v = n.value(i as f32 * 0.005, 0.3);
            assert!((0.0..1.0).contains(&v));
            assert!((v - previous).abs() < 0.05, "jump at step {i}");
            previous = v;
        }
    }

    #[test]
    fn fbm_row_equals_point_evaluation() {
        let n = ValueNoise::from_seed(5);
        let mut row = vec![0.0f32; 300];
        n.fbm_row(0.01, 0.037, 2.3, 4, &mut row);
        for (i, v) in row.iter().enumerate() {
            assert_eq!(*v, n.fbm(0.01 + i as f32 * 0.037, 2.3, 4), "sample {i}");
        }
    }

    #[test]
    fn noise_interpolates_lattice_values() {
        let n = ValueNoise::from_seed(9);
        assert_eq!(n.value(4.0, 7.0), n.lattice(4, 7));
        assert_eq!(n.value(-3.0, 2.0), n.lattice(-3, 2));
    }

    #[test]
    fn fbm_varies_and_stays_in_range() {
        let n = ValueNoise::from_seed(1);
        let samples: Vec<f32> = (0..500)
            .map(|i| n.fbm(i as f32 * 0.37, 1.5, MAX_OCTAVES))
            .collect();
        assert!(samples.iter().all(|v| (0.0..1.0).contains(v)));
        let min = samples.iter().cloned().fold(f32::MAX, f32::min);
        let max = samples.iter().cloned().fold(f32::MIN, f32::max);
        assert!(max - min > 0.3, "fbm range {min}..{max} is too flat");
    }
}
