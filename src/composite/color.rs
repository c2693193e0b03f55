//! Linear <-> sRGB conversion for 8-bit output, built from basic float arithmetic only.
//!
//! `powf` comes from the platform's libm and may differ in the last bit between machines; a
//! code that sits on a rounding boundary could then flip. The tables here are computed with a
//! fixed Newton iteration (IEEE add/mul/div are exact everywhere), so the same linear value
//! gives the same sRGB byte on every machine.
use std::sync::OnceLock;

/// Number of bins of the coarse index into the threshold table.
const COARSE_BINS: usize = 4096;

struct Tables {
    /// `decode[k]`: linear value of sRGB code k.
    decode: [f32; 256],
    /// `thresholds[k]`: smallest linear value that encodes to code k + 1.
    thresholds: [f32; 255],
    /// `coarse[i]`: code of the linear value i / COARSE_BINS (a lower bound inside the bin).
    coarse: Vec<u8>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut decode = [0f32; 256];
        for (k, d) in decode.iter_mut().enumerate() {
            *d = srgb_to_linear_exact(k as f64 / 255.0) as f32;
        }
        let mut thresholds = [0f32; 255];
        for (k, t) in thresholds.iter_mut().enumerate() {
            *t = srgb_to_linear_exact((k as f64 + 0.5) / 255.0) as f32;
        }
        let coarse = (0..COARSE_BINS)
            .map(|i| {
                let x = i as f32 / COARSE_BINS as f32;
                thresholds.partition_point(|&t| t <= x) as u8
            })
            .collect();
        Tables {
            decode,
            thresholds,
            coarse,
        }
    })
}

/// x^(1/5) for x in [0, 1] by Newton's method from above (monotone convergence).
fn fifth_root(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let mut y = 1.0f64;
    for _ in 0..60 {
        let y4 = (y * y) * (y * y);
        y = (4.0 * y + x / y4) / 5.0;
    }
    y
}

/// The sRGB decoding curve (IEC 61966-2-1), with x^2.4 = x^2 * (x^(1/5))^2.
fn srgb_to_linear_exact(s: f64) -> f64 {
    if s <= 0.04045 {
        s / 12.92
    } else {
        let x = (s + 0.055) / 1.055;
        let r = fifth_root(x);
        x * x * r * r
    }
}

/// Linear value of an 8-bit sRGB code.
#[inline]
pub fn srgb_u8_to_linear(code: u8) -> f32 {
    tables().decode[code as usize]
}

/// The 256-entry decode table, for loops that want to hold it.
pub fn decode_table() -> &'static [f32; 256] {
    &tables().decode
}

/// 8-bit sRGB code of a linear value (clamped to [0, 1]; NaN gives 0).
#[inline]
pub fn linear_to_srgb_u8(x: f32) -> u8 {
    let t = tables();
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    if x >= 1.0 {
        return 255;
    }
    let bin = ((x * COARSE_BINS as f32) as usize).min(COARSE_BINS - 1);
    let mut code = t.coarse[bin] as usize;
    while code < 255 && x >= t.thresholds[code] {
        code += 1;
    }
    code as u8
}

/// `linear_to_srgb_u8` for an RGB triple given in f64 (parameter colours).
pub fn encode_rgb(c: [f64; 3]) -> [u8; 3] {
    [
        linear_to_srgb_u8(c[0] as f32),
        linear_to_srgb_u8(c[1] as f32),
        linear_to_srgb_u8(c[2] as f32),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_matches_the_reference_curve() {
        for k in 0..=255u8 {
            let s = k as f64 / 255.0;
            let reference = if s <= 0.04045 {
                s / 12.92
            } else {
                ((s + 0.055) / 1.055).powf(2.4)
            };
            assert!(
                (srgb_u8_to_linear(k) as f64 - reference).abs() < 1e-6,
                "code {k}"
            );
        }
    }

    #[test]
    fn encode_inverts_decode_and_rounds_to_nearest() {
        for k in 0..=255u8 {
            assert_eq!(linear_to_srgb_u8(srgb_u8_to_linear(k)), k);
        }
        // Mid-grey: linear 0.2140 is sRGB 0.5 -> 127.5, just below/above the boundary.
        assert_eq!(linear_to_srgb_u8(0.5), 188);
        assert_eq!(linear_to_srgb_u8(0.0), 0);
        assert_eq!(linear_to_srgb_u8(-3.0), 0);
        assert_eq!(linear_to_srgb_u8(7.0), 255);
        assert_eq!(linear_to_srgb_u8(f32::NAN), 0);
    }

    #[test]
    fn encode_agrees_with_powf_away_from_boundaries() {
        for i in 0..=10_000 {
            let x = i as f32 / 10_000.0;
            let s = if x <= 0.003_130_8 {
                x as f64 * 12.92
            } else {
                1.055 * (x as f64).powf(1.0 / 2.4) - 0.055
            };
            let v = s * 255.0;
            if (v - v.floor() - 0.5).abs() > 1e-3 {
                assert_eq!(linear_to_srgb_u8(x), v.round() as u8, "x = {x}");
            }
        }
    }
}
