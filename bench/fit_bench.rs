//! Fit benchmark (descriptors + optimisation; probe rendering excluded), run by
//! bench/fit_bench.sh:
//!   cargo bench --bench fit_bench -- <scratch folder> [target images] [probe images] [side]
//! Writes synthetic PNGs (smooth patterns whose brightness, contrast and frequency depend on
//! planted factor levels), then times descriptors and the fit. Prints figures, asserts nothing
//! about time.
use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::time::Instant;
use synthgen::fit::descriptors::{describe_all, ImageItem};
use synthgen::fit::optimisation::mmd::Features;
use synthgen::fit::optimisation::optimise::FitOptions;
use synthgen::fit::probes::pool::ProbePool;
use synthgen::fit::probes::run::{fit_round, Measure, Target};

const LEVELS: [usize; 3] = [4, 4, 3];

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: fit_bench <scratch folder> [target] [probe] [side]");
        std::process::exit(2)
    };
    let n_target: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let n_probe: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let side: u32 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(128);
    let dir = PathBuf::from(dir);
    let uniform: Vec<Vec<f64>> = LEVELS.iter().map(|k| vec![1.0 / *k as f64; *k]).collect();
    let planted = vec![
        vec![0.55, 0.15, 0.15, 0.15],
        vec![0.1, 0.1, 0.2, 0.6],
        vec![0.6, 0.2, 0.2],
    ];
    let t = Instant::now();
    let (target_items, _) = write_set(&dir.join("target"), n_target, &planted, side, 1);
    let (probe_items, probe_levels) = write_set(&dir.join("probe"), n_probe, &uniform, side, 2);
    println!(
        "wrote {} images in {:.1} s (not part of the fit)",
        n_target + n_probe,
        t.elapsed().as_secs_f64()
    );

    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let tf = describe_all(&target_items, false);
    let pf = describe_all(&probe_items, false);
    let describe_s = t.elapsed().as_secs_f64();
    let n = (n_target + n_probe) as f64;
    println!(
        "descriptors: {n} images of {side} px in {describe_s:.2} s = {:.0} images/s on {threads} threads = {:.0} images/s per thread",
        n / describe_s,
        n / describe_s / threads as f64
    );

    let t = Instant::now();
    let rows: Vec<Vec<f32>> = tf.into_iter().flatten().collect();
    let held_n = rows.len() / 5;
    let target = Target {
        held: Features::from_rows(&rows[..held_n]),
        train: Features::from_rows(&rows[held_n..]),
        held_items: Vec::new(),
        train_items: Vec::new(),
        unreadable: 0,
    };
    let probe = Features::from_rows(&pf.into_iter().flatten().collect::<Vec<_>>());
    let measure = Measure::new(&target, &probe);
    let pool = ProbePool {
        dir: dir.join("probe"),
        classes: vec![String::new(); probe_items.len()],
        items: probe_items,
        draws: (0..LEVELS.len())
            .map(|f| probe_levels.iter().map(|l| vec![l[f]]).collect())
            .collect(),
        proposal: uniform.clone(),
        dropped: 0,
    };
    let measure_s = t.elapsed().as_secs_f64();
    let round = fit_round(&measure, &pool, &probe, &uniform, &FitOptions::default());
    let fit_s = t.elapsed().as_secs_f64();
    println!(
        "fit: measure {measure_s:.2} s, total (kernels + {} Adam steps) {fit_s:.2} s; held-out MMD^2 {:.5} -> {:.5}, ESS {:.0}",
        round.result.iterations, round.held_before, round.held_after, round.result.ess
    );
    for (f, w) in round.result.weights.iter().enumerate() {
        let w: Vec<String> = w.iter().map(|x| format!("{x:.3}")).collect();
        println!(
            "factor {f}: planted {:?} fitted [{}]",
            planted[f],
            w.join(", ")
        );
    }
    println!("descriptors + fit: {:.1} s", describe_s + fit_s);
}

/// `n` images whose levels are drawn from `weights`: level 0 sets brightness, level 1 the
/// stripe frequency, level 2 the colour cast.
fn write_set(
    dir: &Path,
    n: usize,
    weights: &[Vec<f64>],
    side: u32,
    seed: u64,
) -> (Vec<ImageItem>, Vec<Vec<usize>>) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut items = Vec::with_capacity(n);
    let mut levels = Vec::with_capacity(n);
    for i in 0..n {
        let l: Vec<usize> = weights
            .iter()
            .map(|w| {
                let mut u: f64 = rng.random();
                w.iter()
                    .position(|x| {
                        u -= x;
                        u < 0.0
                    })
                    .unwrap_or(w.len() - 1)
            })
            .collect();
        let path = dir.join(format!("{i:05}.png"));
        // Drawn whether or not the file exists, so a kept scratch folder keeps its levels.
        let bright = 40.0 + 45.0 * l[0] as f32 + rng.random::<f32>() * 20.0;
        let phase: f32 = rng.random::<f32>() * 6.0;
        if !path.exists() {
            let freq = 0.05 + 0.12 * l[1] as f32;
            let cast = [[1.0, 0.9, 0.8], [0.8, 1.0, 0.9], [0.9, 0.8, 1.0]][l[2]];
            let img = RgbImage::from_fn(side, side, |x, y| {
                let v = bright + 30.0 * ((x as f32 + 0.5 * y as f32) * freq + phase).sin();
                Rgb(cast.map(|c: f32| (v * c).clamp(0.0, 255.0) as u8))
            });
            img.save(&path).unwrap();
        }
        items.push(ImageItem { path, mask: None });
        levels.push(l);
    }
    (items, levels)
}
