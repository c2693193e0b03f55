//! The fit report: a bar chart of the weights per factor (before grey, after blue, one group
//! per factor in the order of report.md) and sample grids of probe images drawn with the
//! old and new weights. Drawn with `image` alone so the report needs no plotting feature.
use super::descriptors::ImageItem;
use super::levels::FactorLevels;
use image::{imageops::FilterType, Rgb, RgbImage};
use rand::{Rng, SeedableRng};

const BAR: u32 = 7;
const HEIGHT: u32 = 160;
const MARGIN: u32 = 10;
const GROUP_GAP: u32 = 14;
const BEFORE: Rgb<u8> = Rgb([170, 170, 170]);
const AFTER: Rgb<u8> = Rgb([40, 90, 200]);

/// Bars of `before` and `after` weights per level, grouped by factor; bar height is the
/// weight on a 0..1 axis (a level with all the weight fills the height).
pub fn bar_chart(factors: &[FactorLevels], before: &[Vec<f64>], after: &[Vec<f64>]) -> RgbImage {
    let levels: u32 = factors.iter().map(|f| f.len() as u32).sum();
    let width = 2 * MARGIN + levels * (2 * BAR + 2) + GROUP_GAP * factors.len() as u32;
    let mut img = RgbImage::from_pixel(width.max(1), HEIGHT + 2 * MARGIN, Rgb([255, 255, 255]));
    let base = HEIGHT + MARGIN;
    for x in MARGIN / 2..width - MARGIN / 2 {
        img.put_pixel(x, base, Rgb([0, 0, 0]));
    }
    let mut x = MARGIN;
    for (f, (b, a)) in factors.iter().zip(before.iter().zip(after)) {
        for l in 0..f.len() {
            fill_bar(&mut img, x, base, b[l], BEFORE);
            fill_bar(&mut img, x + BAR, base, a[l], AFTER);
            x += 2 * BAR + 2;
        }
        x += GROUP_GAP;
    }
    img
}

fn fill_bar(img: &mut RgbImage, x0: u32, base: u32, w: f64, colour: Rgb<u8>) {
    let h = (w.clamp(0.0, 1.0) * HEIGHT as f64).round() as u32;
    for x in x0..x0 + BAR {
        for y in base.saturating_sub(h)..base {
            img.put_pixel(x, y, colour);
        }
    }
}

/// A `side` x `side` grid of probe images drawn (with replacement, seeded) by `weights`.
pub fn sample_grid(
    items: &[ImageItem],
    weights: &[f64],
    side: u32,
    cell: u32,
    seed: u64,
) -> RgbImage {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let total: f64 = weights.iter().sum();
    let mut grid = RgbImage::new(side * cell, side * cell);
    for k in 0..side * side {
        let mut u = rng.random::<f64>() * total;
        let i = weights
            .iter()
            .position(|w| {
                u -= w;
                u < 0.0
            })
            .unwrap_or(weights.len().saturating_sub(1));
        let Some(item) = items.get(i) else { continue };
        // An unreadable image leaves its cell black (descriptors already skipped it).
        if let Ok(img) = image::open(&item.path) {
            let thumb = image::imageops::resize(&img.to_rgb8(), cell, cell, FilterType::Triangle);
            image::imageops::replace(
                &mut grid,
                &thumb,
                ((k % side) * cell) as i64,
                ((k / side) * cell) as i64,
            );
        }
    }
    grid
}

/// The legend of the bar chart, as Markdown.
pub fn weights_table(factors: &[FactorLevels], before: &[Vec<f64>], after: &[Vec<f64>]) -> String {
    let mut s = String::from("| factor | level | before | after |\n|---|---|---|---|\n");
    for (f, (b, a)) in factors.iter().zip(before.iter().zip(after)) {
        for (l, name) in f.names().iter().enumerate() {
            s.push_str(&format!(
                "| {} | {} | {:.3} | {:.3} |\n",
                f.name, name, b[l], a[l]
            ));
        }
    }
    s
}
