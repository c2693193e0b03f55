//! Two-colour procedural backdrops (noise, gradient, stripes, checker, blobs).
//!
//! Every pattern is a field t(x, y) in [0, 1] that mixes `color` (t = 0) and `secondary_color`
//! (t = 1) in linear light. Coordinates are in image widths (square features whatever the
//! aspect); `pattern_scale` is the number of features (noise cells, stripe or checker periods,
//! roughly blobs) across the width. Random choices (direction, phase, blob layout) come from
//! ChaCha20 seeded with `seed`, and only IEEE basic arithmetic and sqrt are used, so the pixels
//! are bit-identical on every machine. Hard edges are anti-aliased over one pixel.
use super::color::linear_to_srgb_u8;
use super::noise::{ValueNoise, MAX_OCTAVES};
use super::CompositeError;
use crate::scene::params::Pattern;
use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// A random unit vector in the plane (rejection sampling in the unit disc, then sqrt).
fn random_direction(rng: &mut ChaCha20Rng) -> [f32; 2] {
    loop {
        let a = rng.random_range(-1.0f32..1.0);
        let b = rng.random_range(-1.0f32..1.0);
        let r2 = a * a + b * b;
        if r2 > 1e-4 && r2 <= 1.0 {
            let r = r2.sqrt();
            return [a / r, b / r];
        }
    }
}

/// Signed distance (in periods) to the nearest edge of a 50 % square wave: positive in the
/// first half of each period, negative in the second.
#[inline]
fn square_wave_distance(q: f32) -> f32 {
    let f = q - q.floor();
    if f < 0.5 {
        f.min(0.5 - f)
    } else {
        -(f - 0.5).min(1.0 - f)
    }
}

/// One-pixel-wide anti-aliased step from a signed distance in pixels.
#[inline]
fn soft_edge(distance_px: f32) -> f32 {
    (distance_px + 0.5).clamp(0.0, 1.0)
}

/// fBm clusters around 0.5; stretch it so both colours really show.
#[inline]
fn stretch_fbm(t: f32) -> f32 {
    ((t - 0.5) * 2.2 + 0.5).clamp(0.0, 1.0)
}

#[inline]
fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

struct Blob {
    centre: [f32; 2],
    inv_radius2: f32,
}

/// The pattern's field, prepared once per image.
enum Field {
    Noise {
        noise: Box<ValueNoise>,
        octaves: usize,
    },
    Gradient {
        dir: [f32; 2],
        centre_v: f32,
        half_extent: f32,
    },
    Stripes {
        dir: [f32; 2],
        phase: f32,
    },
    Checker {
        dir: [f32; 2],
        phase: [f32; 2],
    },
    Blobs(Vec<Blob>),
}

impl Field {
    fn new(pattern: Pattern, scale: f32, width: u32, aspect: f32, rng: &mut ChaCha20Rng) -> Field {
        match pattern {
            Pattern::Noise => {
                // Octaves finer than two pixels only alias (and cost time): stop before them.
                let mut octaves = 1;
                let mut finest = scale;
                while octaves < MAX_OCTAVES && finest * 2.0 <= 0.5 * width as f32 {
                    octaves += 1;
                    finest *= 2.0;
                }
                Field::Noise {
                    noise: Box::new(ValueNoise::new(rng)),
                    octaves,
                }
            }
            Pattern::Gradient => {
                let dir = random_direction(rng);
                // Projection of the image rectangle's corners onto dir spans +-half_extent.
                let half_extent = 0.5 * (dir[0].abs() + dir[1].abs() * aspect);
                Field::Gradient {
                    dir,
                    centre_v: 0.5 * aspect,
                    half_extent,
                }
            }
            Pattern::Stripes => Field::Stripes {
                dir: random_direction(rng),
                phase: rng.random::<f32>(),
            },
            Pattern::Checker => Field::Checker {
                dir: random_direction(rng),
                phase: [rng.random::<f32>(), rng.random::<f32>()],
            },
            Pattern::Blobs => {
                // About `scale` blobs per image width (at least 3), radius shrinking with count.
                let count = (scale * scale * aspect).clamp(3.0, 400.0) as usize;
                let base_radius = 0.6 / scale.max(1.0);
                let blobs = (0..count)
                    .map(|_| {
                        let centre = [
                            rng.random_range(-0.1f32..1.1),
                            rng.random_range(-0.1f32..1.1) * aspect,
                        ];
                        let r = base_radius * rng.random_range(0.5f32..1.5);
                        Blob {
                            centre,
                            inv_radius2: 1.0 / (r * r),
                        }
                    })
                    .collect();
                Field::Blobs(blobs)
            }
        }
    }

    /// t in [0, 1] at (u, v) in image widths; `px` is one pixel in the same units.
    #[inline]
    fn at(&self, u: f32, v: f32, scale: f32, px: f32) -> f32 {
        match self {
            Field::Noise { noise, octaves } => {
                stretch_fbm(noise.fbm(u * scale, v * scale, *octaves))
            }
            Field::Gradient {
                dir,
                centre_v,
                half_extent,
            } => {
                let p = (u - 0.5) * dir[0] + (v - centre_v) * dir[1];
                ((p + half_extent) / (2.0 * half_extent)).clamp(0.0, 1.0)
            }
            Field::Stripes { dir, phase } => {
                let q = (u * dir[0] + v * dir[1]) * scale + phase;
                soft_edge(square_wave_distance(q) / (scale * px))
            }
            Field::Checker { dir, phase } => {
                let a = (u * dir[0] + v * dir[1]) * scale + phase[0];
                let b = (-u * dir[1] + v * dir[0]) * scale + phase[1];
                let ta = soft_edge(square_wave_distance(a) / (scale * px));
                let tb = soft_edge(square_wave_distance(b) / (scale * px));
                // Soft XNOR of the two square waves.
                ta * tb + (1.0 - ta) * (1.0 - tb)
            }
            // Summed by `splat_blobs` instead (far fewer kernel evaluations).
            Field::Blobs(_) => 0.0,
        }
    }
}

/// Field levels at which the blob sum turns from background to blob colour.
const BLOB_EDGE: (f32, f32) = (0.25, 0.35);

/// Metaballs with the compact polynomial kernel (1 - d^2/r^2)^2 (no exp, exactly zero outside
/// the radius). Adds every blob's kernel into a per-pixel sum, visiting only the pixels of its bounding
/// box (a per-pixel loop over all blobs costs blobs x pixels). Blobs are added in index order
/// at every pixel, so the sums are the same bits as the plain loop would give.
fn splat_blobs(blobs: &[Blob], width: u32, height: u32) -> Vec<f32> {
    let (w, h) = (width as usize, height as usize);
    let px = 1.0 / width as f32;
    let mut sums = vec![0.0f32; w * h];
    for blob in blobs {
        let r = (1.0 / blob.inv_radius2).sqrt();
        let to_px = |c: f32| c / px - 0.5;
        let x0 = to_px(blob.centre[0] - r).floor().max(0.0) as usize;
        let x1 = (to_px(blob.centre[0] + r).ceil().max(-1.0) + 1.0) as usize;
        let y0 = to_px(blob.centre[1] - r).floor().max(0.0) as usize;
        let y1 = (to_px(blob.centre[1] + r).ceil().max(-1.0) + 1.0) as usize;
        for y in y0..y1.min(h) {
            let v = (y as f32 + 0.5) * px;
            let dy = v - blob.centre[1];
            let row = &mut sums[y * w..(y + 1) * w];
            for (x, sum) in row.iter_mut().enumerate().take(x1.min(w)).skip(x0) {
                let dx = (x as f32 + 0.5) * px - blob.centre[0];
                let d = (dx * dx + dy * dy) * blob.inv_radius2;
                if d < 1.0 {
                    let k = 1.0 - d;
                    *sum += k * k;
                }
            }
        }
    }
    sums
}

/// The two colours mixed at 4096 levels of t, encoded once per image: a pixel is then one
/// table lookup (a step of 1/4095 is under one 8-bit code even in sRGB's steep dark end).
struct Palette {
    codes: Vec<Rgb<u8>>,
}

impl Palette {
    const LEVELS: usize = 4096;

    fn new(c0: [f64; 3], c1: [f64; 3]) -> Palette {
        let codes = (0..Self::LEVELS)
            .map(|k| {
                let t = k as f32 / (Self::LEVELS - 1) as f32;
                Rgb(std::array::from_fn(|i| {
                    let (a, b) = (c0[i] as f32, c1[i] as f32);
                    linear_to_srgb_u8(a + (b - a) * t)
                }))
            })
            .collect();
        Palette { codes }
    }

    #[inline]
    fn at(&self, t: f32) -> Rgb<u8> {
        let k = (t.clamp(0.0, 1.0) * (Self::LEVELS - 1) as f32 + 0.5) as usize;
        self.codes[k.min(Self::LEVELS - 1)]
    }
}

/// Renders the procedural backdrop into 8-bit sRGB.
pub fn render(
    pattern: Pattern,
    color: [f64; 3],
    secondary: [f64; 3],
    pattern_scale: f64,
    seed: u64,
    width: u32,
    height: u32,
) -> Result<RgbImage, CompositeError> {
    if !(pattern_scale.is_finite() && pattern_scale > 0.0) {
        return Err(CompositeError::BadPatternScale {
            value: pattern_scale,
        });
    }
    let scale = pattern_scale as f32;
    let aspect = height as f32 / width as f32;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let field = Field::new(pattern, scale, width, aspect, &mut rng);
    let palette = Palette::new(color, secondary);
    let px = 1.0 / width as f32;
    let mut out = RgbImage::new(width, height);
    if let Field::Blobs(blobs) = &field {
        let sums = splat_blobs(blobs, width, height);
        for (pixel, sum) in out.pixels_mut().zip(sums) {
            *pixel = palette.at(smoothstep(BLOB_EDGE.0, BLOB_EDGE.1, sum));
        }
        return Ok(out);
    }
    if let Field::Noise { noise, octaves } = &field {
        let mut row = vec![0.0f32; width as usize];
        for (y, pixels) in out.rows_mut().enumerate() {
            let v = (y as f32 + 0.5) * px;
            noise.fbm_row(0.5 * px * scale, px * scale, v * scale, *octaves, &mut row);
            for (pixel, t) in pixels.zip(&row) {
                *pixel = palette.at(stretch_fbm(*t));
            }
        }
        return Ok(out);
    }
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        let u = (x as f32 + 0.5) * px;
        let v = (y as f32 + 0.5) * px;
        *pixel = palette.at(field.at(u, v, scale, px));
    }
    Ok(out)
}
