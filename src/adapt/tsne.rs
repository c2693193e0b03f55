//! The t-SNE picture of the paper's figure: source and target features in 2-D, coloured by
//! class (filled dots: source, rings: target; grey rings: target without labels). The embedding
//! is bhtsne's exact t-SNE on squared Euclidean distances, started from a seeded ChaCha
//! initialisation so that the picture is reproducible.
use std::path::Path;

use plotters::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::nn::plots::{err, save_rgb, text_available};
use crate::nn::TrainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Source,
    Target,
}

#[derive(Debug, Clone)]
pub struct Point {
    pub features: Vec<f32>,
    /// Class index, or -1 when unknown (unlabelled target).
    pub label: i64,
    pub domain: Domain,
}

/// Fewer points than this give no meaningful neighbourhoods.
pub const MIN_POINTS: usize = 10;

/// 2-D t-SNE embedding (row-major x, y) of `features`; `None` below `MIN_POINTS` points.
pub fn embed(features: &[&[f32]], seed: u64) -> Option<Vec<f32>> {
    let n = features.len();
    if n < MIN_POINTS {
        return None;
    }
    // bhtsne needs n - 1 >= 3 * perplexity.
    let perplexity = (((n - 1) / 3) as f32 - 1.0).clamp(2.0, 30.0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x75e_0001);
    let normal = Normal::new(0.0f32, 1e-4).ok()?;
    let init: Vec<f32> = (0..2 * n).map(|_| normal.sample(&mut rng)).collect();
    // bhtsne parallelises its float reductions with rayon, so the summation order (and the
    // embedding) would depend on scheduling; one thread makes the same seed give the same
    // picture.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .ok()?;
    pool.install(|| {
        let mut tsne: bhtsne::tSNE<f32, &[f32]> = bhtsne::tSNE::new(features);
        tsne.perplexity(perplexity)
            .epochs(1000)
            .initial_embedding(init)
            .exact(|a, b| a.iter().zip(*b).map(|(x, y)| (x - y) * (x - y)).sum());
        Some(tsne.embedding())
    })
}

/// Embeds the points and draws `path`; false when there are too few points.
pub fn embed_and_draw(
    points: &[Point],
    classes: &[String],
    seed: u64,
    path: &Path,
) -> Result<bool, TrainError> {
    let feats: Vec<&[f32]> = points.iter().map(|p| p.features.as_slice()).collect();
    let Some(y) = embed(&feats, seed) else {
        return Ok(false);
    };
    draw(points, &y, classes, path)?;
    Ok(true)
}

fn draw(points: &[Point], y: &[f32], classes: &[String], path: &Path) -> Result<(), TrainError> {
    let size = (800u32, 800u32);
    let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
    let text = text_available();
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(path, e))?;
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for c in y.chunks(2) {
            x0 = x0.min(c[0] as f64);
            x1 = x1.max(c[0] as f64);
            y0 = y0.min(c[1] as f64);
            y1 = y1.max(c[1] as f64);
        }
        let pad = ((x1 - x0).max(y1 - y0) * 0.05).max(1e-3);
        let mut builder = ChartBuilder::on(&root);
        builder.margin(15);
        if text {
            builder.caption(
                "t-SNE of features (dots: source, rings: target)",
                ("sans-serif", 22),
            );
        }
        let mut chart = builder
            .build_cartesian_2d((x0 - pad)..(x1 + pad), (y0 - pad)..(y1 + pad))
            .map_err(|e| err(path, e))?;
        let color = |label: i64| {
            if label < 0 {
                RGBColor(150, 150, 150).to_rgba()
            } else {
                Palette99::pick(label as usize).to_rgba()
            }
        };
        chart
            .draw_series(points.iter().zip(y.chunks(2)).map(|(p, c)| {
                let at = (c[0] as f64, c[1] as f64);
                match p.domain {
                    Domain::Source => Circle::new(at, 3, color(p.label).filled()),
                    Domain::Target => Circle::new(at, 4, color(p.label).stroke_width(2)),
                }
            }))
            .map_err(|e| err(path, e))?;
        // A class legend in the top-left corner (at most 20 names fit).
        if text {
            for (i, name) in classes.iter().enumerate().take(20) {
                let y = 40 + 18 * i as i32;
                root.draw(&Circle::new((25, y), 5, color(i as i64).filled()))
                    .and_then(|_| {
                        root.draw(&Text::new(name.clone(), (35, y - 7), ("sans-serif", 14)))
                    })
                    .map_err(|e| err(path, e))?;
            }
        }
        root.present().map_err(|e| err(path, e))?;
    }
    save_rgb(path, buf, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_clusters_stay_separated_and_runs_repeat() {
        // Two tight clusters far apart in 5-D: every point's nearest embedded neighbour must
        // be in its own cluster, and the same seed must give the same embedding.
        let pts: Vec<Vec<f32>> = (0..30)
            .map(|i| {
                let base = if i < 15 { 0.0 } else { 10.0 };
                (0..5)
                    .map(|d| base + 0.01 * ((i * 7 + d * 3) % 11) as f32)
                    .collect()
            })
            .collect();
        let refs: Vec<&[f32]> = pts.iter().map(|p| p.as_slice()).collect();
        let y = embed(&refs, 3).unwrap();
        assert_eq!(y, embed(&refs, 3).unwrap());
        for i in 0..30 {
            let d =
                |j: usize| (y[2 * i] - y[2 * j]).powi(2) + (y[2 * i + 1] - y[2 * j + 1]).powi(2);
            let nearest = (0..30)
                .filter(|&j| j != i)
                .min_by(|&a, &b| d(a).total_cmp(&d(b)))
                .unwrap();
            assert_eq!(i < 15, nearest < 15, "point {i} sits next to {nearest}");
        }
        assert!(embed(&refs[..5], 3).is_none());
    }
}
