//! The fit report: a labelled bar chart of the weights per factor (before grey, after blue,
//! one group per factor in the order of report.md, level names under the bars, factor names
//! under the groups, a 0..1 axis) and sample grids of probe images drawn with the old and new
//! weights. Drawn with `image` and a built-in bitmap font so the report needs no plotting
//! feature and is deterministic.
mod font;
use crate::fit::descriptors::ImageItem;
use crate::fit::levels::FactorLevels;
use image::{imageops::FilterType, Rgb, RgbImage};
use rand::{Rng, SeedableRng};

const BAR: u32 = 7;
const HEIGHT: u32 = 160;
const MARGIN: u32 = 10;
const GROUP_GAP: u32 = 14;
/// Font pixel size of the labels.
const TEXT: u32 = 2;
const TICKS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];
const BEFORE: Rgb<u8> = Rgb([170, 170, 170]);
const AFTER: Rgb<u8> = Rgb([40, 90, 200]);
const INK: Rgb<u8> = Rgb([0, 0, 0]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);

/// Where the chart's parts go: computed once from the labels, used to draw and to test.
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    width: u32,
    height: u32,
    /// x of the y axis; the plot's baseline (weight 0) and top (weight 1).
    axis_x: u32,
    base: u32,
    top: u32,
    /// Per factor: the x span of its group and the x of its first bar pair.
    groups: Vec<(u32, u32, u32)>,
    /// y of the factor names' top edge.
    names_y: u32,
}

fn tick_label(t: f64) -> String {
    format!("{t}")
}

fn layout(factors: &[FactorLevels]) -> Layout {
    let pair = 2 * BAR + 2;
    let axis_label = TICKS
        .iter()
        .map(|t| font::text_len(&tick_label(*t), TEXT))
        .max()
        .unwrap_or(0);
    let axis_x = MARGIN + axis_label + 6;
    let legend_h = font::GLYPH_H * TEXT + 8;
    let top = MARGIN + legend_h;
    let base = top + HEIGHT;
    let longest_level = factors
        .iter()
        .flat_map(|f| f.names())
        .map(|n| font::text_len(&n, TEXT))
        .max()
        .unwrap_or(0);
    let names_y = base + 6 + longest_level + 6;
    let mut groups = Vec::with_capacity(factors.len());
    let mut x = axis_x + GROUP_GAP / 2;
    for f in factors {
        // A group is as wide as its bars or its name, whichever is wider; bars are centred.
        let bars = f.len() as u32 * pair;
        let w = bars.max(font::text_len(f.path.as_str(), TEXT));
        groups.push((x, x + w, x + (w - bars) / 2));
        x += w + GROUP_GAP;
    }
    Layout {
        width: (x + MARGIN).max(axis_x + MARGIN),
        height: names_y + font::GLYPH_H * TEXT + MARGIN,
        axis_x,
        base,
        top,
        groups,
        names_y,
    }
}

/// Bars of `before` and `after` weights per level, grouped by factor; bar height is the
/// weight on a 0..1 axis (a level with all the weight fills the height).
pub fn bar_chart(factors: &[FactorLevels], before: &[Vec<f64>], after: &[Vec<f64>]) -> RgbImage {
    let l = layout(factors);
    let mut img = RgbImage::from_pixel(l.width, l.height, Rgb([255, 255, 255]));
    let th = font::GLYPH_H * TEXT;
    for t in TICKS {
        let y = l.base - (t * HEIGHT as f64).round() as u32;
        for x in l.axis_x + 1..l.width - MARGIN / 2 {
            img.put_pixel(x, y, if t == 0.0 { INK } else { GRID });
        }
        for x in l.axis_x - 4..l.axis_x {
            img.put_pixel(x, y, INK);
        }
        let label = tick_label(t);
        let lx = l.axis_x - 6 - font::text_len(&label, TEXT);
        font::draw(&mut img, lx, y.saturating_sub(th / 2), &label, TEXT, INK);
    }
    for y in l.top..=l.base {
        img.put_pixel(l.axis_x, y, INK);
    }
    // Legend: a swatch and a word for each colour.
    let mut x = l.axis_x + 6;
    for (colour, word) in [(BEFORE, "before"), (AFTER, "after")] {
        fill(&mut img, x, MARGIN, th, th, colour);
        font::draw(&mut img, x + th + 4, MARGIN, word, TEXT, INK);
        x += th + 4 + font::text_len(word, TEXT) + 12;
    }
    for (f, ((b, a), (g0, g1, bars_x))) in
        factors.iter().zip(before.iter().zip(after).zip(&l.groups))
    {
        let mut x = *bars_x;
        for (i, name) in f.names().iter().enumerate() {
            fill_bar(&mut img, x, l.base, b[i], BEFORE);
            fill_bar(&mut img, x + BAR, l.base, a[i], AFTER);
            // The level's name runs up from below the axis, centred under its pair.
            let lx = (x + BAR).saturating_sub(th / 2);
            font::draw_up(
                &mut img,
                lx,
                l.base + 6 + font::text_len(name, TEXT),
                name,
                TEXT,
                INK,
            );
            x += 2 * BAR + 2;
        }
        let nx = g0 + (g1 - g0 - font::text_len(f.path.as_str(), TEXT)) / 2;
        font::draw(&mut img, nx, l.names_y, f.path.as_str(), TEXT, INK);
    }
    img
}

fn fill(img: &mut RgbImage, x0: u32, y0: u32, w: u32, h: u32, colour: Rgb<u8>) {
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            img.put_pixel(x, y, colour);
        }
    }
}

fn fill_bar(img: &mut RgbImage, x0: u32, base: u32, w: f64, colour: Rgb<u8>) {
    let h = (w.clamp(0.0, 1.0) * HEIGHT as f64).round() as u32;
    fill(img, x0, base - h, BAR, h, colour);
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
                f.path, name, b[l], a[l]
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::levels::{FactorPath, Levels};

    fn factor(path: FactorPath, levels: &[&str]) -> FactorLevels {
        FactorLevels {
            path,
            levels: Levels::Names(levels.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn labels_widen_the_chart_and_sit_under_each_group() {
        let short = [
            factor(FactorPath::LightKind, &["x", "y"]),
            factor(FactorPath::ScaleSize, &["x", "y", "z"]),
        ];
        let long = [
            factor(FactorPath::BackgroundPattern, &["x", "y"]),
            factor(FactorPath::LightWorldKind, &["uniform", "hdri", "sky"]),
        ];
        let before = vec![vec![0.5, 0.5], vec![1.0 / 3.0; 3]];
        let after = vec![vec![0.9, 0.1], vec![0.2, 0.3, 0.5]];
        let small = bar_chart(&short, &before, &after);
        let big = bar_chart(&long, &before, &after);
        assert!(
            big.width() > small.width(),
            "{} vs {}",
            big.width(),
            small.width()
        );
        // Longer level names need more room below the axis.
        assert!(big.height() > small.height());
        let l = layout(&long);
        assert_eq!((big.width(), big.height()), (l.width, l.height));
        for (g0, g1, _) in &l.groups {
            let ink_below = |y0: u32, y1: u32| {
                (*g0..*g1)
                    .flat_map(|x| (y0..y1).map(move |y| (x, y)))
                    .filter(|(x, y)| big.get_pixel(*x, *y) == &INK)
                    .count()
            };
            // Level names between the axis and the factor name, and the factor name itself.
            assert!(
                ink_below(l.base + 2, l.names_y) > 0,
                "no level names at {g0}..{g1}"
            );
            assert!(
                ink_below(l.names_y, l.height) > 0,
                "no factor name at {g0}..{g1}"
            );
        }
        // The axis has tick labels left of it, and the same input draws the same chart.
        let left_ink = (0..l.axis_x - 4)
            .flat_map(|x| (l.top - 6..l.base + 6).map(move |y| (x, y)))
            .filter(|(x, y)| big.get_pixel(*x, *y) == &INK)
            .count();
        assert!(left_ink > 0);
        assert_eq!(big, bar_chart(&long, &before, &after));
        // Bar height is the weight on the axis: 0.9 of the plot's height, 160 px.
        let x = l.groups[0].2 + BAR + 1;
        assert_eq!(big.get_pixel(x, l.base - 144), &AFTER);
        assert_eq!(big.get_pixel(x, l.base - 145), &Rgb([255, 255, 255]));
        assert_eq!(l.base - l.top, HEIGHT);
    }
}
