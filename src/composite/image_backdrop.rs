//! Backdrops cut from an image file: crop window, then resize to the render's size.
//!
//! The crop window (fractions of the image) is shrunk about its centre to the output's aspect
//! ratio before resizing, so a square crop of a landscape photo is never stretched. Resizing
//! happens in 8-bit sRGB, as photo viewers do.
use super::cache::LruCache;
use super::shrunk_cache;
use super::CompositeError;
use image::imageops::{self, FilterType};
use image::RgbImage;
use std::path::Path;
use std::sync::Arc;

/// Decoded backdrop images kept in memory, at most MAX_SIDE on their longer side (at most
/// 12.6 MB each), enough for the 31 built-in photos to be decoded once per run.
static IMAGES: LruCache<RgbImage> = LruCache::new(32);
/// Photos larger than this are shrunk once at load: a crop (at least 0.3 of the side by
/// default) still has over 600 px for a render of a few hundred, and a 24 MP photo is not
/// decoded again for every image that draws it.
const MAX_SIDE: u32 = 2048;

pub fn load_cached(path: &Path) -> Result<Arc<RgbImage>, CompositeError> {
    IMAGES.get_or_load(path, |p| {
        // Only photos that need shrinking are worth a disk copy (the header is cheap to read;
        // an unreadable one is left to the decoder, which names the error).
        let large = image::image_dimensions(p).is_ok_and(|(w, h)| w.max(h) > MAX_SIDE);
        if large {
            let cache = crate::paths::cache_dir().join("backdrops");
            shrunk_cache::shrunk(&cache, p, MAX_SIDE, || decode_shrunk(p))
        } else {
            decode_shrunk(p)
        }
    })
}

/// The photo decoded and, when larger than MAX_SIDE, shrunk to it.
fn decode_shrunk(p: &Path) -> Result<RgbImage, CompositeError> {
    let rgb = super::decode_background_file(p)?.into_rgb8();
    let longer = rgb.width().max(rgb.height());
    if longer <= MAX_SIDE {
        return Ok(rgb);
    }
    let k = MAX_SIDE as f64 / longer as f64;
    let w = ((rgb.width() as f64 * k).round() as u32).max(1);
    let h = ((rgb.height() as f64 * k).round() as u32).max(1);
    Ok(imageops::resize(&rgb, w, h, FilterType::Triangle))
}

/// Pixel rectangle (x, y, w, h) of the crop window, at the output's aspect ratio.
pub fn crop_rect(
    crop: [f64; 4],
    image_w: u32,
    image_h: u32,
    out_w: u32,
    out_h: u32,
) -> Result<(u32, u32, u32, u32), CompositeError> {
    let [x, y, w, h] = crop;
    let eps = 1e-9;
    let valid = crop.iter().all(|c| c.is_finite())
        && x >= -eps
        && y >= -eps
        && w > 0.0
        && h > 0.0
        && x + w <= 1.0 + eps
        && y + h <= 1.0 + eps;
    if !valid {
        return Err(CompositeError::BadCrop { crop });
    }
    let (iw, ih) = (image_w as f64, image_h as f64);
    let (mut cw, mut ch) = (w * iw, h * ih);
    let (cx, cy) = ((x + 0.5 * w) * iw, (y + 0.5 * h) * ih);
    let target_aspect = out_w as f64 / out_h as f64;
    if cw / ch > target_aspect {
        cw = ch * target_aspect;
    } else {
        ch = cw / target_aspect;
    }
    let pw = (cw.round() as u32).clamp(1, image_w);
    let ph = (ch.round() as u32).clamp(1, image_h);
    let px = ((cx - 0.5 * pw as f64).round().max(0.0) as u32).min(image_w - pw);
    let py = ((cy - 0.5 * ph as f64).round().max(0.0) as u32).min(image_h - ph);
    Ok((px, py, pw, ph))
}

/// Crop and resize `source` to `width` x `height`.
pub fn crop_and_resize(
    source: &RgbImage,
    crop: [f64; 4],
    width: u32,
    height: u32,
) -> Result<RgbImage, CompositeError> {
    let (x, y, w, h) = crop_rect(crop, source.width(), source.height(), width, height)?;
    let window = imageops::crop_imm(source, x, y, w, h);
    if w == width && h == height {
        return Ok(window.to_image());
    }
    if w >= 2 * width && h >= 2 * height {
        // Large reductions: an area average is both faster and less aliased than a filter
        // kernel evaluated at the output's scale.
        return Ok(imageops::thumbnail(&*window, width, height));
    }
    Ok(imageops::resize(
        &*window,
        width,
        height,
        FilterType::Triangle,
    ))
}

pub fn render(
    path: &Path,
    crop: [f64; 4],
    width: u32,
    height: u32,
) -> Result<RgbImage, CompositeError> {
    let source = load_cached(path)?;
    crop_and_resize(&source, crop, width, height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// 400 x 200: red channel = column / 400 * 255, green = row / 200 * 255, blue = 0.
    fn ramp() -> RgbImage {
        RgbImage::from_fn(400, 200, |x, y| {
            Rgb([(x * 255 / 399) as u8, (y * 255 / 199) as u8, 0])
        })
    }

    #[test]
    fn crop_rect_keeps_the_output_aspect() {
        // A square fraction of a 2:1 image is a 2:1 pixel window: shrink its width.
        assert_eq!(
            crop_rect([0.0, 0.0, 0.5, 0.5], 400, 200, 64, 64).unwrap(),
            (50, 0, 100, 100)
        );
        assert_eq!(
            crop_rect([0.0, 0.0, 1.0, 1.0], 400, 200, 64, 64).unwrap(),
            (100, 0, 200, 200)
        );
    }

    #[test]
    fn bad_crops_are_refused() {
        for crop in [
            [0.5, 0.0, 0.6, 0.5],
            [0.0, 0.0, 0.0, 0.5],
            [-0.2, 0.0, 0.5, 0.5],
            [0.0, f64::NAN, 0.5, 0.5],
        ] {
            assert!(matches!(
                crop_rect(crop, 100, 100, 10, 10),
                Err(CompositeError::BadCrop { .. })
            ));
        }
    }

    #[test]
    fn crop_and_resize_picks_the_right_region() {
        let img = ramp();
        // Bottom-right quarter: x in 200..400, y in 100..200 -> a 100 x 100 window centred at
        // (300, 150) after aspect fitting.
        let out = crop_and_resize(&img, [0.5, 0.5, 0.5, 0.5], 32, 32).unwrap();
        assert_eq!(out.dimensions(), (32, 32));
        let centre = out.get_pixel(16, 16);
        assert!((centre[0] as i32 - 191).abs() <= 4, "red {}", centre[0]);
        assert!((centre[1] as i32 - 192).abs() <= 4, "green {}", centre[1]);
        // Left edge of the window is column 250, right edge 350.
        let left = out.get_pixel(0, 16)[0] as i32;
        let right = out.get_pixel(31, 16)[0] as i32;
        assert!(
            (left - 161).abs() <= 6 && (right - 221).abs() <= 6,
            "{left} {right}"
        );
        // Upscaling a small window works too.
        let up = crop_and_resize(&img, [0.0, 0.0, 0.05, 0.1], 64, 64).unwrap();
        assert_eq!(up.dimensions(), (64, 64));
        assert!(up.get_pixel(63, 63)[0] < 30);
    }

    #[test]
    fn files_decode_once_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ramp.png");
        ramp().save(&path).unwrap();
        let a = load_cached(&path).unwrap();
        let b = load_cached(&path).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let out = render(&path, [0.0, 0.0, 1.0, 1.0], 50, 25).unwrap();
        assert_eq!(out.dimensions(), (50, 25));

        let broken = dir.path().join("broken.jpg");
        std::fs::write(&broken, b"not a jpeg").unwrap();
        let err = render(&broken, [0.0, 0.0, 1.0, 1.0], 8, 8).unwrap_err();
        assert!(err.to_string().contains("broken.jpg"), "{err}");
    }
}
