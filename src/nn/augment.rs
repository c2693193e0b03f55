//! The paper's three training augmentations and the evaluation transform, in pure Rust on
//! decoded images. Every random decision is drawn first into a `Plan` from a ChaCha stream keyed
//! by (seed, epoch, sample index), so results do not depend on thread scheduling.
//!
//! Geometry at image size S (224 in the paper) with resize side R = round(S * 256 / 224):
//! - `none` and eval: shorter side resized to R (aspect kept), centre S x S crop.
//! - `weak`: shorter side resized to R, uniformly placed S x S crop, horizontal flip p 0.5.
//! - `crop`: `weak` without the flip (a fixed view stays one view, not two mirror images).
//! - `strong`: RandomResizedCrop (area 8-100 %, aspect 3/4-4/3, 10 tries then a centre crop)
//!   resized to S x S, flip p 0.5, ColorJitter(0.4, 0.4, 0.2, 0.1) in random order with p 0.8,
//!   grayscale p 0.2, Gaussian blur p 0.5 with sigma U[0.1, 2.0] (kernel radius ceil(3 sigma)).
//!
//! Output: CHW f32 normalised with the ImageNet mean and std.
use image::{imageops, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Augment {
    /// Resize + centre crop (also the evaluation transform).
    None,
    /// Resize + random crop + horizontal flip.
    Weak,
    /// Resize + random crop, no flip.
    Crop,
    /// RandomResizedCrop + flip + colour jitter + grayscale + blur.
    Strong,
}

/// A pixel rectangle in the image it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Colour operations of ColorJitter, applied in `order`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    pub order: [u8; 4],
    pub brightness: f32,
    pub contrast: f32,
    pub saturation: f32,
    pub hue: f32,
}

/// Every random decision of one augmented sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Shorter-side resize applied before the crop (None: crop the original image).
    pub resize_to: Option<(u32, u32)>,
    /// Crop in the (resized) image; it is then resized to `out` x `out`.
    pub crop: CropBox,
    pub out: u32,
    pub flip: bool,
    pub jitter: Option<Jitter>,
    pub grayscale: bool,
    pub blur_sigma: Option<f32>,
}

/// The resize side for image size `size` (256 at 224).
pub fn resize_side(size: u32) -> u32 {
    ((size as f64) * 256.0 / 224.0).round() as u32
}

/// The ChaCha stream for one sample: independent of worker count and order.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Streams separate (epoch, index) pairs without hashing collisions for < 2^32 samples.
    rng.set_stream((epoch << 32) ^ index);
    rng
}

/// Size of an image whose shorter side is resized to `side`, aspect kept (torchvision rounding
/// truncates the longer side).
pub fn shorter_side_resize(w: u32, h: u32, side: u32) -> (u32, u32) {
    if w <= h {
        (side, ((h as u64 * side as u64) / w.max(1) as u64) as u32)
    } else {
        (((w as u64 * side as u64) / h.max(1) as u64) as u32, side)
    }
}

pub fn center_crop(w: u32, h: u32, size: u32) -> CropBox {
    let cw = size.min(w);
    let ch = size.min(h);
    CropBox {
        x: ((w - cw) as f64 / 2.0).round() as u32,
        y: ((h - ch) as f64 / 2.0).round() as u32,
        w: cw,
        h: ch,
    }
}

/// torchvision's RandomResizedCrop box, scale (0.08, 1), ratio (3/4, 4/3).
pub fn random_resized_crop(w: u32, h: u32, rng: &mut ChaCha8Rng) -> CropBox {
    let area = (w as f64) * (h as f64);
    let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..10 {
        let target = area * rng.random_range(0.08..1.0);
        let aspect = rng.random_range(lo..hi).exp();
        let cw = (target * aspect).sqrt().round() as u32;
        let ch = (target / aspect).sqrt().round() as u32;
        if cw > 0 && ch > 0 && cw <= w && ch <= h {
            let y = rng.random_range(0..=h - ch);
            let x = rng.random_range(0..=w - cw);
            return CropBox { x, y, w: cw, h: ch };
        }
    }
    let ratio = w as f64 / h as f64;
    let (cw, ch) = if ratio < 3.0 / 4.0 {
        (w, ((w as f64) / (3.0 / 4.0)).round() as u32)
    } else if ratio > 4.0 / 3.0 {
        (((h as f64) * 4.0 / 3.0).round() as u32, h)
    } else {
        (w, h)
    };
    let (cw, ch) = (cw.min(w), ch.min(h));
    CropBox {
        x: (w - cw) / 2,
        y: (h - ch) / 2,
        w: cw,
        h: ch,
    }
}

/// Draws the plan for an image of `w` x `h` at output size `size`.
pub fn plan(aug: Augment, w: u32, h: u32, size: u32, rng: &mut ChaCha8Rng) -> Plan {
    let side = resize_side(size);
    match aug {
        Augment::None => {
            let (rw, rh) = shorter_side_resize(w, h, side);
            Plan {
                resize_to: Some((rw, rh)),
                crop: center_crop(rw, rh, size),
                out: size,
                flip: false,
                jitter: None,
                grayscale: false,
                blur_sigma: None,
            }
        }
        Augment::Weak | Augment::Crop => {
            let (rw, rh) = shorter_side_resize(w, h, side);
            let (cw, ch) = (size.min(rw), size.min(rh));
            let y = rng.random_range(0..=rh - ch);
            let x = rng.random_range(0..=rw - cw);
            let flip = aug == Augment::Weak && rng.random_bool(0.5);
            Plan {
                resize_to: Some((rw, rh)),
                crop: CropBox { x, y, w: cw, h: ch },
                out: size,
                flip,
                jitter: None,
                grayscale: false,
                blur_sigma: None,
            }
        }
        Augment::Strong => {
            let crop = random_resized_crop(w, h, rng);
            let flip = rng.random_bool(0.5);
            let jitter = rng.random_bool(0.8).then(|| {
                let mut order = [0u8, 1, 2, 3];
                // Fisher-Yates, as torchvision permutes the four operations.
                for i in (1..4).rev() {
                    order.swap(i, rng.random_range(0..=i));
                }
                Jitter {
                    order,
                    brightness: rng.random_range(0.6..1.4),
                    contrast: rng.random_range(0.6..1.4),
                    saturation: rng.random_range(0.8..1.2),
                    hue: rng.random_range(-0.1..0.1),
                }
            });
            let grayscale = rng.random_bool(0.2);
            let blur_sigma = rng.random_bool(0.5).then(|| rng.random_range(0.1..2.0));
            Plan {
                resize_to: None,
                crop,
                out: size,
                flip,
                jitter,
                grayscale,
                blur_sigma,
            }
        }
    }
}

/// Applies `plan`, returning HWC floats in [0, 1] of `out` x `out` pixels.
pub fn execute(img: &RgbImage, plan: &Plan) -> Vec<f32> {
    let filter = imageops::FilterType::Triangle;
    let resized;
    let src = match plan.resize_to {
        Some((rw, rh)) if (rw, rh) != img.dimensions() => {
            resized = imageops::resize(img, rw, rh, filter);
            &resized
        }
        _ => img,
    };
    let c = plan.crop;
    let cropped = imageops::crop_imm(src, c.x, c.y, c.w, c.h).to_image();
    let mut out = if (c.w, c.h) == (plan.out, plan.out) {
        cropped
    } else {
        imageops::resize(&cropped, plan.out, plan.out, filter)
    };
    if plan.flip {
        imageops::flip_horizontal_in_place(&mut out);
    }
    let mut px: Vec<f32> = out.as_raw().iter().map(|&v| v as f32 / 255.0).collect();
    if let Some(j) = plan.jitter {
        for op in j.order {
            match op {
                0 => px
                    .iter_mut()
                    .for_each(|v| *v = (*v * j.brightness).clamp(0.0, 1.0)),
                1 => adjust_contrast(&mut px, j.contrast),
                2 => adjust_saturation(&mut px, j.saturation),
                _ => shift_hue(&mut px, j.hue),
            }
        }
    }
    if plan.grayscale {
        for p in px.chunks_exact_mut(3) {
            let g = gray(p);
            p.fill(g);
        }
    }
    if let Some(sigma) = plan.blur_sigma {
        gaussian_blur(&mut px, plan.out as usize, sigma);
    }
    px
}

/// HWC [0, 1] -> CHW normalised with the ImageNet statistics.
pub fn normalize_chw(hwc: &[f32], out: &mut Vec<f32>) {
    let n = hwc.len() / 3;
    let start = out.len();
    out.resize(start + hwc.len(), 0.0);
    for (i, p) in hwc.chunks_exact(3).enumerate() {
        for ch in 0..3 {
            out[start + ch * n + i] = (p[ch] - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch];
        }
    }
}

/// Decision + application for one sample, appended to `out` as normalised CHW.
pub fn augment_into(
    img: &RgbImage,
    aug: Augment,
    size: u32,
    rng: &mut ChaCha8Rng,
    out: &mut Vec<f32>,
) {
    let p = plan(aug, img.width(), img.height(), size, rng);
    normalize_chw(&execute(img, &p), out);
}

fn gray(p: &[f32]) -> f32 {
    0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]
}

fn adjust_contrast(px: &mut [f32], factor: f32) {
    let n = (px.len() / 3).max(1) as f32;
    let mean = px.chunks_exact(3).map(gray).sum::<f32>() / n;
    px.iter_mut()
        .for_each(|v| *v = (mean + factor * (*v - mean)).clamp(0.0, 1.0));
}

fn adjust_saturation(px: &mut [f32], factor: f32) {
    for p in px.chunks_exact_mut(3) {
        let g = gray(p);
        p.iter_mut()
            .for_each(|v| *v = (g + factor * (*v - g)).clamp(0.0, 1.0));
    }
}

fn shift_hue(px: &mut [f32], shift: f32) {
    for p in px.chunks_exact_mut(3) {
        let (r, g, b) = (p[0], p[1], p[2]);
        let max = r.max(g).max(b);
        let min = r.min(g).min(b);
        let delta = max - min;
        if delta <= 0.0 {
            continue; // grey pixels have no hue
        }
        let h = if max == r {
            ((g - b) / delta).rem_euclid(6.0)
        } else if max == g {
            (b - r) / delta + 2.0
        } else {
            (r - g) / delta + 4.0
        } / 6.0;
        let h = (h + shift).rem_euclid(1.0) * 6.0;
        let s = delta / max;
        let v = max;
        let i = h.floor();
        let f = h - i;
        let (pp, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
        let (nr, ng, nb) = match i as i32 % 6 {
            0 => (v, t, pp),
            1 => (q, v, pp),
            2 => (pp, v, t),
            3 => (pp, q, v),
            4 => (t, pp, v),
            _ => (v, pp, q),
        };
        p[0] = nr;
        p[1] = ng;
        p[2] = nb;
    }
}

/// Separable Gaussian blur of a square HWC image, edges clamped.
fn gaussian_blur(px: &mut [f32], side: usize, sigma: f32) {
    let radius = (3.0 * sigma).ceil().max(1.0) as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let norm: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / norm).collect();
    let mut tmp = vec![0.0f32; px.len()];
    blur_pass(px, &mut tmp, side, &kernel, true);
    blur_pass(&tmp, px, side, &kernel, false);
}

/// One 1-D pass of a separable blur along rows (`horizontal`) or columns, src -> dst.
fn blur_pass(src: &[f32], dst: &mut [f32], side: usize, kernel: &[f32], horizontal: bool) {
    let radius = (kernel.len() / 2) as isize;
    let clamp = |v: isize| v.clamp(0, side as isize - 1) as usize;
    for y in 0..side {
        for x in 0..side {
            let mut acc = [0.0f32; 3];
            for (k, w) in kernel.iter().enumerate() {
                let offset = k as isize - radius;
                let (sx, sy) = if horizontal {
                    (clamp(x as isize + offset), y)
                } else {
                    (x, clamp(y as isize + offset))
                };
                let i = (sy * side + sx) * 3;
                for c in 0..3 {
                    acc[c] += w * src[i + c];
                }
            }
            dst[(y * side + x) * 3..(y * side + x) * 3 + 3].copy_from_slice(&acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 90])
        })
    }

    #[test]
    fn none_resizes_shorter_side_then_centre_crops() {
        let mut rng = sample_rng(0, 0, 0);
        let p = plan(Augment::None, 300, 200, 224, &mut rng);
        assert_eq!(p.resize_to, Some((384, 256)));
        assert_eq!(
            p.crop,
            CropBox {
                x: 80,
                y: 16,
                w: 224,
                h: 224
            }
        );
        assert!(!p.flip);
        let out = execute(&gradient(300, 200), &p);
        assert_eq!(out.len(), 224 * 224 * 3);
    }

    #[test]
    fn sizes_scale_with_image_size() {
        assert_eq!(resize_side(224), 256);
        assert_eq!(resize_side(112), 128);
        let mut rng = sample_rng(0, 0, 0);
        let p = plan(Augment::Weak, 64, 64, 112, &mut rng);
        assert_eq!(p.resize_to, Some((128, 128)));
        assert_eq!((p.crop.w, p.crop.h), (112, 112));
        assert!(p.crop.x <= 16 && p.crop.y <= 16);
    }

    #[test]
    fn crop_is_weak_without_the_flip() {
        let mut flips = 0;
        for i in 0..64 {
            let weak = plan(Augment::Weak, 80, 64, 64, &mut sample_rng(5, 1, i));
            let crop = plan(Augment::Crop, 80, 64, 64, &mut sample_rng(5, 1, i));
            assert_eq!((crop.resize_to, crop.crop), (weak.resize_to, weak.crop));
            assert!(!crop.flip);
            flips += usize::from(weak.flip);
        }
        assert!(flips > 16, "weak flipped {flips} of 64");
    }

    #[test]
    fn plans_are_reproducible_per_seed_epoch_index() {
        let draw = |s, e, i| plan(Augment::Strong, 320, 240, 224, &mut sample_rng(s, e, i));
        assert_eq!(draw(7, 1, 5), draw(7, 1, 5));
        let others = [draw(7, 1, 6), draw(7, 2, 5), draw(8, 1, 5)];
        assert!(others.iter().all(|o| *o != draw(7, 1, 5)));
        let img = gradient(320, 240);
        assert_eq!(execute(&img, &draw(7, 1, 5)), execute(&img, &draw(7, 1, 5)));
    }

    #[test]
    fn random_resized_crop_stays_inside_with_bounded_area() {
        for i in 0..200 {
            let mut rng = sample_rng(1, 0, i);
            let c = random_resized_crop(320, 240, &mut rng);
            assert!(c.x + c.w <= 320 && c.y + c.h <= 240);
            let frac = (c.w * c.h) as f64 / (320.0 * 240.0);
            assert!((0.06..=1.0).contains(&frac), "{c:?}");
            let aspect = c.w as f64 / c.h as f64;
            assert!((0.70..=1.40).contains(&aspect), "{c:?}");
        }
    }

    #[test]
    fn flip_mirrors_columns_and_rates_are_near_nominal() {
        let img = gradient(224, 224);
        let base = Plan {
            resize_to: None,
            crop: CropBox {
                x: 0,
                y: 0,
                w: 224,
                h: 224,
            },
            out: 224,
            flip: false,
            jitter: None,
            grayscale: false,
            blur_sigma: None,
        };
        let a = execute(&img, &base);
        let b = execute(
            &img,
            &Plan {
                flip: true,
                ..base.clone()
            },
        );
        // Pixel (x, 0) of the flipped image equals pixel (223 - x, 0) of the original.
        for x in [0usize, 10, 100] {
            assert_eq!(b[x * 3], a[(223 - x) * 3]);
        }
        let n = 2000;
        let (mut flips, mut jit, mut grays, mut blurs) = (0, 0, 0, 0);
        for i in 0..n {
            let p = plan(Augment::Strong, 256, 256, 224, &mut sample_rng(3, 0, i));
            flips += p.flip as u32;
            jit += p.jitter.is_some() as u32;
            grays += p.grayscale as u32;
            blurs += p.blur_sigma.is_some() as u32;
            if let Some(s) = p.blur_sigma {
                assert!((0.1..2.0).contains(&s));
            }
        }
        let rate = |k: u32| k as f64 / n as f64;
        assert!((rate(flips) - 0.5).abs() < 0.05);
        assert!((rate(jit) - 0.8).abs() < 0.05);
        assert!((rate(grays) - 0.2).abs() < 0.05);
        assert!((rate(blurs) - 0.5).abs() < 0.05);
    }

    #[test]
    fn grayscale_and_normalisation() {
        let img = RgbImage::from_pixel(8, 8, image::Rgb([255, 0, 0]));
        let p = Plan {
            resize_to: None,
            crop: CropBox {
                x: 0,
                y: 0,
                w: 8,
                h: 8,
            },
            out: 8,
            flip: false,
            jitter: None,
            grayscale: true,
            blur_sigma: Some(1.0),
        };
        let hwc = execute(&img, &p);
        assert!(hwc.iter().all(|v| (v - 0.299).abs() < 1e-5));
        let mut chw = Vec::new();
        normalize_chw(&hwc, &mut chw);
        assert!((chw[0] - (0.299 - 0.485) / 0.229).abs() < 1e-5);
        assert!((chw[64 * 2] - (0.299 - 0.406) / 0.225).abs() < 1e-5);
    }

    #[test]
    fn blur_of_an_impulse_is_the_outer_product_of_the_kernel() {
        // sigma 1: radius 3, 1-D weights exp(-i^2 / 2) normalised; the impulse sits far
        // enough from the edges that clamping never reaches it.
        let side = 9;
        let mut px = vec![0.0f32; side * side * 3];
        let centre = (4 * side + 4) * 3;
        px[centre..centre + 3].copy_from_slice(&[1.0, 2.0, 3.0]);
        gaussian_blur(&mut px, side, 1.0);
        let raw: Vec<f32> = (-3..=3)
            .map(|i: i32| (-(i * i) as f32 / 2.0).exp())
            .collect();
        let norm: f32 = raw.iter().sum();
        for dy in -3i32..=3 {
            for dx in -3i32..=3 {
                let w = raw[(dx + 3) as usize] * raw[(dy + 3) as usize] / (norm * norm);
                let i = (((4 + dy) as usize) * side + (4 + dx) as usize) * 3;
                for c in 0..3 {
                    assert!(
                        (px[i + c] - w * (c + 1) as f32).abs() < 1e-6,
                        "{dx},{dy},{c}"
                    );
                }
            }
        }
        assert!(px[0..3].iter().all(|v| *v == 0.0));
    }

    #[test]
    fn hue_shift_of_a_full_turn_is_identity() {
        let mut px = vec![0.2, 0.5, 0.9, 0.7, 0.1, 0.3];
        let orig = px.clone();
        shift_hue(&mut px, 0.0);
        for (a, b) in px.iter().zip(&orig) {
            assert!((a - b).abs() < 1e-5);
        }
        shift_hue(&mut px, 1.0 / 3.0); // R -> G -> B rotation
        assert!((px[1] - orig[0]).abs() < 1e-5 && (px[2] - orig[1]).abs() < 1e-5);
    }
}
