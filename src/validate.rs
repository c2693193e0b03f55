//! Checks on every render and on datasets on disk.
//!
//! A render is an RGBA image whose alpha is the object mask (transparent film). The checks:
//! the size is the one asked for; the object covers a sensible part of the frame (not missing,
//! not filling it); it is not cut by the frame (few border pixels covered); it shows no
//! Blender "missing texture" magenta; it is not blank (its pixels vary). A saved dataset image
//! is RGB with the background composited, so its coverage comes from the saved mask file.
use image::{DynamicImage, RgbaImage};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Thresholds of the checks. Fractions are in [0, 1]; `min_foreground_std` is the standard
/// deviation of the object's luma with 8-bit values scaled to [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    /// Side of the square image that files must have (`check_file`, `check_dataset_image`);
    /// `None` skips the size check there. `check_render` takes the side as an argument.
    pub expected_size: Option<u32>,
    /// Alpha (or mask value) at or above which a pixel counts as object.
    pub mask_threshold: u8,
    pub min_coverage: f64,
    pub max_coverage: f64,
    /// Largest fraction of the outermost ring of pixels that the object may cover.
    pub max_truncation: f64,
    /// Largest fraction of object pixels that may be Blender's missing-texture magenta.
    pub max_magenta_fraction: f64,
    pub min_foreground_std: f64,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            expected_size: None,
            mask_threshold: 128,
            min_coverage: 0.01,
            max_coverage: 0.95,
            max_truncation: 0.1,
            max_magenta_fraction: 0.05,
            min_foreground_std: 0.01,
        }
    }
}

/// What `render::predict` expects a render to measure: coverage and truncation as this module
/// defines them (object pixels / all pixels, object pixels on the outermost ring / ring
/// pixels), measured on the rasterized mask.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ViewPrediction {
    pub coverage: f64,
    pub truncation: f64,
}

impl ViewPrediction {
    /// The threshold a render of this view would surely break (`min_coverage`,
    /// `max_coverage`, `max_truncation`), if any.
    pub fn failed_check(&self, cfg: &ValidationConfig) -> Option<&'static str> {
        if self.coverage < cfg.min_coverage {
            Some("min_coverage")
        } else if self.coverage > cfg.max_coverage {
            Some("max_coverage")
        } else if self.truncation > cfg.max_truncation {
            Some("max_truncation")
        } else {
            None
        }
    }
}

/// Where the object mask of a checked image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskSource {
    /// The image's own alpha channel (a render).
    Alpha,
    /// A separate mask file (a saved dataset image).
    MaskFile,
    /// No mask: coverage and truncation are unknown, the other checks use every pixel.
    None,
}

/// The outcome of the checks, written to the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    pub ok: bool,
    /// Why the image failed, one sentence; `None` when it passed.
    pub reason: Option<String>,
    /// The threshold the image broke (`size`, `min_coverage`, `max_coverage`,
    /// `max_truncation`, `max_magenta_fraction`, `min_foreground_std`), or `decode`.
    #[serde(default)]
    pub failed_check: Option<String>,
    pub width: u32,
    pub height: u32,
    pub mask_source: MaskSource,
    /// Fraction of pixels that are object; `None` without a mask.
    pub coverage: Option<f64>,
    /// Fraction of the border ring's pixels that are object; `None` without a mask.
    pub truncation: Option<f64>,
    /// Fraction of object pixels that are missing-texture magenta.
    pub magenta_fraction: f64,
    /// Standard deviation of the object's luma, in [0, 0.5].
    pub foreground_std: f64,
}

impl ValidationReport {
    fn failed(reason: String) -> Self {
        ValidationReport {
            ok: false,
            reason: Some(reason),
            failed_check: Some("decode".to_string()),
            width: 0,
            height: 0,
            mask_source: MaskSource::None,
            coverage: None,
            truncation: None,
            magenta_fraction: 0.0,
            foreground_std: 0.0,
        }
    }
}

/// Blender's missing-texture colour is (1, 0, 1); shading scales it but keeps red = blue and
/// no green. Dark pixels carry no hue information, so they never count.
#[inline]
pub(crate) fn is_magenta(r: u8, g: u8, b: u8) -> bool {
    let m = r.max(b) as u32;
    m >= 48 && (g as u32) * 8 <= m && (r as i32 - b as i32).unsigned_abs() * 8 <= m
}

/// Measures an image given as interleaved 8-bit pixels (`channels` 3 or 4, RGB first) and an
/// optional per-pixel mask, and applies the thresholds.
fn analyse(
    pixels: &[u8],
    channels: usize,
    mask: Option<&[u8]>,
    mask_source: MaskSource,
    (width, height): (u32, u32),
    expected: Option<u32>,
    cfg: &ValidationConfig,
) -> ValidationReport {
    let (w, h) = (width as usize, height as usize);
    let is_object = |i: usize| mask.is_none_or(|m| m[i] >= cfg.mask_threshold);
    let mut object = 0usize;
    let mut magenta = 0usize;
    let (mut sum, mut sum_sq) = (0f64, 0f64);
    for i in 0..w * h {
        if !is_object(i) {
            continue;
        }
        let p = &pixels[i * channels..i * channels + 3];
        object += 1;
        if is_magenta(p[0], p[1], p[2]) {
            magenta += 1;
        }
        let luma = (0.2126 * p[0] as f64 + 0.7152 * p[1] as f64 + 0.0722 * p[2] as f64) / 255.0;
        sum += luma;
        sum_sq += luma * luma;
    }
    let (coverage, truncation) = match mask {
        Some(_) => {
            let border: Vec<usize> = border_indices(w, h).collect();
            let covered = border.iter().filter(|&&i| is_object(i)).count();
            (
                Some(object as f64 / (w * h).max(1) as f64),
                Some(covered as f64 / border.len().max(1) as f64),
            )
        }
        None => (None, None),
    };
    let n = object.max(1) as f64;
    let mean = sum / n;
    let foreground_std = (sum_sq / n - mean * mean).max(0.0).sqrt();
    let magenta_fraction = magenta as f64 / n;
    let mut report = ValidationReport {
        ok: true,
        reason: None,
        failed_check: None,
        width,
        height,
        mask_source,
        coverage,
        truncation,
        magenta_fraction,
        foreground_std,
    };
    if let Some((check, reason)) = verdict(&report, expected, cfg) {
        report.failed_check = Some(check.to_string());
        report.reason = Some(reason);
    }
    report.ok = report.reason.is_none();
    report
}

/// Indices of the outermost ring of pixels, each once.
fn border_indices(w: usize, h: usize) -> impl Iterator<Item = usize> {
    let top_bottom = (0..w).flat_map(move |x| {
        let bottom = (h > 1).then_some((h - 1) * w + x);
        std::iter::once(x).chain(bottom)
    });
    let sides = (1..h.saturating_sub(1)).flat_map(move |y| {
        let right = (w > 1).then_some(y * w + w - 1);
        std::iter::once(y * w).chain(right)
    });
    top_bottom.chain(sides)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The first failed check: its name (the config field it broke) and one sentence naming the
/// measure, the threshold and the fix.
fn verdict(
    r: &ValidationReport,
    expected: Option<u32>,
    cfg: &ValidationConfig,
) -> Option<(&'static str, String)> {
    if let Some(side) = expected {
        if r.width != side || r.height != side {
            return Some((
                "size",
                format!(
                    "The image is {} x {} but {side} x {side} was expected; re-render it at the \
                 configured resolution.",
                    r.width, r.height
                ),
            ));
        }
    }
    if let Some(coverage) = r.coverage {
        if coverage < cfg.min_coverage {
            return Some((
                "min_coverage",
                format!(
                "The object covers {} of the image, below min_coverage {}: it is missing or too \
                 small (check the camera distance and object scale).",
                pct(coverage),
                pct(cfg.min_coverage)
            ),
            ));
        }
        if coverage > cfg.max_coverage {
            return Some((
                "max_coverage",
                format!(
                    "The object covers {} of the image, above max_coverage {}: the camera is too \
                 close or the object too large.",
                    pct(coverage),
                    pct(cfg.max_coverage)
                ),
            ));
        }
    }
    if let Some(truncation) = r.truncation {
        if truncation > cfg.max_truncation {
            return Some((
                "max_truncation",
                format!(
                    "The object covers {} of the image border, above max_truncation {}: the frame \
                 cuts it (aim the camera at the object or move it back).",
                    pct(truncation),
                    pct(cfg.max_truncation)
                ),
            ));
        }
    }
    if r.magenta_fraction > cfg.max_magenta_fraction {
        return Some((
            "max_magenta_fraction",
            format!(
            "{} of the object is Blender's missing-texture magenta, above max_magenta_fraction \
             {}: a texture file did not resolve (check the model's textures).",
            pct(r.magenta_fraction),
            pct(cfg.max_magenta_fraction)
        ),
        ));
    }
    if r.foreground_std < cfg.min_foreground_std {
        return Some((
            "min_foreground_std",
            format!(
                "The object's brightness varies by {:.4} (standard deviation), below \
             min_foreground_std {:.4}: the render is blank or unlit (check the lights).",
                r.foreground_std, cfg.min_foreground_std
            ),
        ));
    }
    None
}

/// Checks a render (RGBA, alpha = object mask) that should be `expected` x `expected`.
pub fn check_render(rgba: &RgbaImage, expected: u32, cfg: &ValidationConfig) -> ValidationReport {
    let alpha: Vec<u8> = rgba.pixels().map(|p| p.0[3]).collect();
    analyse(
        rgba.as_raw(),
        4,
        Some(&alpha),
        MaskSource::Alpha,
        rgba.dimensions(),
        Some(expected),
        cfg,
    )
}

fn open(path: &Path, what: &str) -> Result<DynamicImage, String> {
    image::open(path).map_err(|e| {
        format!(
            "The {what} {} could not be decoded ({e}); delete it so that it is rendered again.",
            path.display()
        )
    })
}

/// Checks an image file: with an alpha channel it is a render (alpha = mask); without one it
/// is checked as a dataset image without a mask. A file that does not decode fails.
pub fn check_file(path: &Path, cfg: &ValidationConfig) -> ValidationReport {
    check_dataset_image(path, None, cfg)
}

/// Checks a saved dataset image (RGB, background composited) with its mask file, if one
/// exists; a mask must have the image's size. Without a mask, an alpha channel in the image is
/// used; without either, coverage and truncation are not checked.
pub fn check_dataset_image(
    image_path: &Path,
    mask_path: Option<&Path>,
    cfg: &ValidationConfig,
) -> ValidationReport {
    let image = match open(image_path, "image") {
        Ok(img) => img,
        Err(reason) => return ValidationReport::failed(reason),
    };
    let dims = (image.width(), image.height());
    if let Some(mask_path) = mask_path {
        let mask = match open(mask_path, "mask") {
            Ok(m) => m.into_luma8(),
            Err(reason) => return ValidationReport::failed(reason),
        };
        if mask.dimensions() != dims {
            let mut report = ValidationReport::failed(format!(
                "The mask {} is {} x {} but its image {} is {} x {}; delete both so that they \
                 are rendered again.",
                mask_path.display(),
                mask.width(),
                mask.height(),
                image_path.display(),
                dims.0,
                dims.1
            ));
            (report.width, report.height) = dims;
            return report;
        }
        let rgb = image.into_rgb8();
        return analyse(
            rgb.as_raw(),
            3,
            Some(mask.as_raw()),
            MaskSource::MaskFile,
            dims,
            cfg.expected_size,
            cfg,
        );
    }
    if image.color().has_alpha() {
        let rgba = image.into_rgba8();
        let alpha: Vec<u8> = rgba.pixels().map(|p| p.0[3]).collect();
        return analyse(
            rgba.as_raw(),
            4,
            Some(&alpha),
            MaskSource::Alpha,
            dims,
            cfg.expected_size,
            cfg,
        );
    }
    let rgb = image.into_rgb8();
    analyse(
        rgb.as_raw(),
        3,
        None,
        MaskSource::None,
        dims,
        cfg.expected_size,
        cfg,
    )
}

/// `check_file` over many files on the rayon pool; the result keeps the input order.
pub fn check_files(paths: &[PathBuf], cfg: &ValidationConfig) -> Vec<(PathBuf, ValidationReport)> {
    paths
        .par_iter()
        .map(|p| (p.clone(), check_file(p, cfg)))
        .collect()
}

/// `check_dataset_image` over (image, optional mask) pairs on the rayon pool, in input order.
pub fn check_dataset_images(
    items: &[(PathBuf, Option<PathBuf>)],
    cfg: &ValidationConfig,
) -> Vec<(PathBuf, ValidationReport)> {
    items
        .par_iter()
        .map(|(image, mask)| {
            (
                image.clone(),
                check_dataset_image(image, mask.as_deref(), cfg),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, RgbImage, Rgba};

    /// A 100 x 100 render: transparent, with an opaque shaded square [x0, x1) x [y0, y1).
    fn square(x0: u32, x1: u32, y0: u32, y1: u32) -> RgbaImage {
        RgbaImage::from_fn(100, 100, |x, y| {
            if (x0..x1).contains(&x) && (y0..y1).contains(&y) {
                let shade = (60 + x + y) as u8;
                Rgba([shade, shade / 2, 30, 255])
            } else {
                Rgba([0, 0, 0, 0])
            }
        })
    }

    fn cfg() -> ValidationConfig {
        ValidationConfig::default()
    }

    #[test]
    fn a_centred_object_passes_with_exact_measures() {
        let report = check_render(&square(30, 70, 20, 70), 100, &cfg());
        assert!(report.ok, "{:?}", report.reason);
        assert_eq!(report.coverage, Some(0.2));
        assert_eq!(report.truncation, Some(0.0));
        assert_eq!(report.magenta_fraction, 0.0);
        assert!(report.foreground_std > 0.02, "{}", report.foreground_std);
        assert_eq!(report.mask_source, MaskSource::Alpha);
    }

    #[test]
    fn truncation_counts_covered_border_pixels() {
        // Touches the left edge over rows 0..99 (99 pixels) and the top row over columns 0..20
        // (20 pixels, the corner shared): 118 of the 396 ring pixels.
        let report = check_render(&square(0, 20, 0, 99), 100, &cfg());
        assert_eq!(report.truncation, Some(118.0 / 396.0));
        assert!(!report.ok);
        assert!(report.reason.unwrap().contains("max_truncation"));
        assert_eq!(border_indices(100, 100).count(), 396);
        assert_eq!(border_indices(1, 1).count(), 1);
        assert_eq!(border_indices(3, 1).count(), 3);
    }

    #[test]
    fn empty_and_full_frames_fail_on_coverage() {
        let empty = check_render(&square(0, 0, 0, 0), 100, &cfg());
        assert!(!empty.ok);
        assert_eq!(empty.coverage, Some(0.0));
        assert!(empty.reason.unwrap().contains("min_coverage"));
        let loose = ValidationConfig {
            max_truncation: 1.0,
            ..cfg()
        };
        let full = check_render(&square(0, 100, 0, 100), 100, &loose);
        assert!(full.reason.unwrap().contains("max_coverage"));
    }

    #[test]
    fn wrong_size_fails_first() {
        let report = check_render(&square(30, 70, 30, 70), 128, &cfg());
        assert!(!report.ok);
        assert!(report.reason.unwrap().contains("128 x 128 was expected"));
    }

    #[test]
    fn magenta_object_pixels_are_counted() {
        let mut img = square(30, 70, 30, 70);
        // Shaded magenta on the left quarter of the square (400 of 1600 pixels); a magenta
        // pixel outside the mask does not count.
        for y in 30..70 {
            for x in 30..40 {
                let v = (120 + y) as u8;
                img.put_pixel(x, y, Rgba([v, 3, v - 4, 255]));
            }
        }
        img.put_pixel(0, 0, Rgba([255, 0, 255, 0]));
        let report = check_render(&img, 100, &cfg());
        assert_eq!(report.magenta_fraction, 0.25);
        assert!(!report.ok);
        assert!(report.reason.unwrap().contains("magenta"));
        assert!(!is_magenta(200, 60, 200)); // pink-ish, too much green
        assert!(!is_magenta(20, 0, 20)); // too dark to tell
        assert!(!is_magenta(250, 0, 150)); // crimson
    }

    #[test]
    fn a_uniform_object_is_blank() {
        let img = RgbaImage::from_fn(100, 100, |x, y| {
            let inside = (30..70).contains(&x) && (30..70).contains(&y);
            Rgba([10, 10, 10, if inside { 255 } else { 0 }])
        });
        let report = check_render(&img, 100, &cfg());
        assert!(report.foreground_std < 1e-6);
        assert!(report.reason.unwrap().contains("min_foreground_std"));
    }

    #[test]
    fn dataset_images_use_their_mask_file() {
        let dir = tempfile::tempdir().unwrap();
        let render = square(30, 70, 20, 70);
        let rgb = RgbImage::from_fn(100, 100, |x, y| {
            let p = render.get_pixel(x, y).0;
            if p[3] == 255 {
                Rgb([p[0], p[1], p[2]])
            } else {
                Rgb([40, 90, 200])
            }
        });
        let mask = GrayImage::from_fn(100, 100, |x, y| Luma([render.get_pixel(x, y).0[3]]));
        let (img_path, mask_path) = (dir.path().join("a.jpg"), dir.path().join("a_mask.png"));
        rgb.save(&img_path).unwrap();
        mask.save(&mask_path).unwrap();
        let with_mask = check_dataset_image(&img_path, Some(&mask_path), &cfg());
        assert!(with_mask.ok, "{:?}", with_mask.reason);
        assert_eq!(with_mask.coverage, Some(0.2));
        assert_eq!(with_mask.mask_source, MaskSource::MaskFile);

        let without = check_file(&img_path, &cfg());
        assert_eq!(without.coverage, None);
        assert_eq!(without.mask_source, MaskSource::None);

        let small_mask = dir.path().join("small.png");
        GrayImage::new(10, 10).save(&small_mask).unwrap();
        let mismatch = check_dataset_image(&img_path, Some(&small_mask), &cfg());
        assert!(!mismatch.ok && mismatch.reason.unwrap().contains("10 x 10"));

        let sized = ValidationConfig {
            expected_size: Some(64),
            ..cfg()
        };
        assert!(!check_dataset_image(&img_path, Some(&mask_path), &sized).ok);
    }

    #[test]
    fn files_are_checked_in_parallel_in_order_and_bad_files_fail() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.png");
        square(30, 70, 20, 70).save(&good).unwrap();
        let bad = dir.path().join("bad.png");
        std::fs::write(&bad, b"\x89PNG truncated").unwrap();
        let missing = dir.path().join("missing.png");
        let results = check_files(&[good.clone(), bad.clone(), missing.clone()], &cfg());
        assert_eq!(results[0].0, good);
        assert!(results[0].1.ok);
        assert_eq!(results[0].1.mask_source, MaskSource::Alpha);
        for (path, report) in &results[1..] {
            assert!(!report.ok);
            assert!(report
                .reason
                .as_ref()
                .unwrap()
                .contains(&*path.to_string_lossy()));
        }
        let pairs = check_dataset_images(&[(good.clone(), None)], &cfg());
        assert!(pairs[0].1.ok);
    }

    #[test]
    fn config_and_report_round_trip_through_serde() {
        let partial: ValidationConfig = serde_yaml::from_str("min_coverage: 0.05").unwrap();
        assert_eq!(partial.min_coverage, 0.05);
        assert_eq!(partial.max_coverage, cfg().max_coverage);
        assert!(serde_yaml::from_str::<ValidationConfig>("min_coverge: 0.05").is_err());
        let report = check_render(&square(30, 70, 20, 70), 100, &cfg());
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"mask_source\":\"alpha\""));
        let back: ValidationReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }
}
