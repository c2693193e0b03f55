//! Two-colour procedural backdrops (noise, gradient, stripes, checker, blobs).
//!
//! Every pattern is a field t(x, y) in [0, 1] that mixes `color` (t = 0) and `secondary_color`
//! (t = 1) in linear light. Coordinates are in image widths (square features whatever the
//! aspect); `pattern_scale` is the number of features (noise cells, stripe or checker periods,
//! roughly blobs) across the width. Random choices (direction, phase, blob layout) come from
//! ChaCha20 seeded with `seed`, and only IEEE basic arithmetic and sqrt are used, so the pixels
//! are bit-identical on every machine. Hard edges are anti-aliased over one pixel.
use super::color::linear_to_srgb_u8;
use super::noise::ValueNoise;
use super::CompositeError;
use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Noise,
    Gradient,
    Stripes,
    Checker,
    Blobs,
}

impl Pattern {
    pub fn parse(name: &str) -> Result<Pattern, CompositeError> {
        Ok(match name {
            "noise" => Pattern::Noise,
            "gradient" => Pattern::Gradient,
            "stripes" => Pattern::Stripes,
            "checker" => Pattern::Checker,
            "blobs" => Pattern::Blobs,
            other => {
                return Err(CompositeError::UnknownPattern {
                    pattern: other.to_string(),
                })
            }
        })
    }
}

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
    Noise(ValueNoise),
    Gradient {
        dir: [f32; 2],
        centre_v: f32,
        half_extent: f32,
    },
    Stripes { dir: [f32; 2], phase: f32 },
    Checker { dir: [f32; 2], phase: [f32; 2] },
    Blobs(Vec<Blob>),
}

impl Field {
    fn new(pattern: Pattern, scale: f32, aspect: f32, rng: &mut ChaCha20Rng) -> Field {
        match pattern {
            Pattern::Noise => Field::Noise(ValueNoise::new(rng)),
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
            Field::Noise(noise) => {
                // fBm clusters around 0.5; stretch it so both colours really show.
                let t = noise.fbm(u * scale, v * scale);
                ((t - 0.5) * 2.2 + 0.5).clamp(0.0, 1.0)
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
            Field::Blobs(blobs) => {
                // Metaballs with the compact polynomial kernel (1 - d^2/r^2)^2 (no exp).
                let mut sum = 0.0f32;
                for blob in blobs {
                    let dx = u - blob.centre[0];
                    let dy = v - blob.centre[1];
                    let x = (dx * dx + dy * dy) * blob.inv_radius2;
                    if x < 1.0 {
                        let k = 1.0 - x;
                        sum += k * k;
                    }
                }
                smoothstep(0.25, 0.35, sum)
            }
        }
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
    let field = Field::new(pattern, scale, aspect, &mut rng);
    let c0 = color.map(|c| c as f32);
    let c1 = secondary.map(|c| c as f32);
    let px = 1.0 / width as f32;
    let mut out = RgbImage::new(width, height);
    for (x, y, pixel) in out.enumerate_pixels_mut() {
        let u = (x as f32 + 0.5) * px;
        let v = (y as f32 + 0.5) * px;
        let t = field.at(u, v, scale, px);
        *pixel = Rgb(std::array::from_fn(|i| {
            linear_to_srgb_u8(c0[i] + (c1[i] - c0[i]) * t)
        }));
    }
    Ok(out)
}
