//! On a constructed shift (same shape classes; the source draws them in red on dark noise, the
//! target in violet on a striped background), DANN and MCD must beat source-only on target
//! Mean. As in the paper's protocol, all three start from the same pre-trained backbone (here: a
//! short source-only run), with the backbone lr x0.1 and the released protocol's MCD lr ratio.
//! Real libtorch on the CPU, 16 px images, the tiny ResNet. DisClusterDA's figure is printed,
//! not asserted.
//!
//! Why this design (measured, 2026-12-01). The first version drew the target shapes in pure
//! blue. In the source only the red channel carries the class, so pre-training keys the first
//! convolution on red: its blue-input weights stayed at their initial size (norm 1.42, like the
//! equally useless green's 1.49; red grew to 1.72) and blue shapes reached the classifier only
//! through what the random init happened to leave. With pre-training seed 101 that was nothing:
//! source accuracy 1.0 from step 16, while every one of the 120 target images was called "ring"
//! from step 20 to 200, and DANN and MCD had no class structure to align (0.329 / 0.350 against
//! source-only 0.333). Now the target shape keeps half the source's red (violet: 110 + noise
//! red, 220 blue), so source-trained filters see it at lower contrast on a texture they never
//! saw: transfer above chance on most seeds, below ceiling, and class structure for DA to align
//! even where the pre-trained net still collapses (seed 101: 0.333 -> DANN 0.492, MCD 0.975).
//! What varies most is the pre-trained start (its target Mean 0.33 to 0.85 over 15 seeds), so
//! the test repeats the whole protocol (pre-training, then every method from that start) on 3
//! seeds and compares the means.
//!
//! Measured with `SYNTHGEN_TEST_SEED=k OMP_NUM_THREADS=1 cargo test --release --test
//! adapt_shift -- --nocapture` (k shifts every seed by 100k), source-only / DANN / MCD /
//! DisClusterDA mean over the 3 replicates:
//! k=0 0.389 / 0.575 / 0.853 / 0.672; k=1 0.631 / 0.758 / 0.944 / 0.847;
//! k=2 0.583 / 0.736 / 0.919 / 0.831; k=3 0.508 / 0.719 / 0.833 / 0.822;
//! k=4 0.553 / 0.786 / 0.917 / 0.875. DANN gains 0.127 to 0.233, MCD gains 0.313 to 0.464;
//! DANN beat source-only in all 15 replicates (by 0.067 to 0.400), MCD in all 15 (0.067 to
//! 0.633). The bounds are about half the smallest mean gain: DANN +0.06, MCD +0.15. 94-162 s
//! per run at load 10-15 on the shared 2-core machine. At OMP_NUM_THREADS=2, k=0 (stopped
//! after 1500 s, in the third MCD run): source-only as at 1 thread, DANN 0.758 / 0.492 / 0.492
//! per replicate (1 thread 0.767 / 0.483 / 0.475), MCD 0.958 / 0.908 (1 thread 0.992 / 0.658).
#![cfg(feature = "train")]
mod adapt_data;

use std::path::{Path, PathBuf};

use adapt_data::{write_domain, Style};
use synthgen::adapt::{adapt, AdaptConfig, MethodKind};
use synthgen::nn::augment::Augment;
use synthgen::nn::device::DeviceChoice;

/// Each replicate is the whole protocol with its own seed: a pre-training, then every method
/// adapted from that pre-trained start.
const REPLICATES: [u64; 3] = [1, 2, 3];
/// Source accuracy reaches 1.0 within 16-24 steps (measured); more steps only sharpen the
/// source-specific filters.
const PRETRAIN_ITERS: u64 = 60;

/// Shifts every seed (data, pre-training, adaptation) so the margins can be measured on other
/// inputs: `SYNTHGEN_TEST_SEED=k` (default 0).
fn seed_shift() -> u64 {
    std::env::var("SYNTHGEN_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn config(dir: &Path, method: MethodKind, out: &str, iters: u64, seed: u64) -> AdaptConfig {
    let mut cfg = AdaptConfig::new(
        dir.join("source"),
        dir.join("target"),
        method,
        dir.join(out),
    );
    cfg.arch = "resnet_tiny".into();
    cfg.image_size = 16;
    cfg.batch_size = 32;
    cfg.iters = Some(iters);
    // Only the last evaluation is read.
    cfg.eval_every = Some(iters);
    cfg.lr = Some(0.01);
    cfg.augment = Augment::None;
    cfg.seed = seed;
    cfg.device = DeviceChoice::Cpu;
    cfg.workers = Some(1);
    cfg.tsne_points = 0;
    cfg
}

fn last_target_mean(dir: &Path, method: MethodKind, init: &Path, seed: u64) -> f64 {
    let mut cfg = config(dir, method, &format!("{}-{seed}", method.name()), 100, seed);
    cfg.init = Some(init.to_path_buf());
    if method == MethodKind::Mcd {
        // The released protocol's ratio: MCD at 10x the other methods' lr (1e-3 vs 1e-4).
        cfg.lr = Some(0.1);
    }
    let s = adapt(&cfg).unwrap();
    assert_eq!(s.backbone_lr_mult, 0.1);
    s.evals["target"].last_mean.unwrap()
}

#[test]
fn dann_and_mcd_beat_source_only_on_the_shifted_target() {
    let dir = tempfile::tempdir().unwrap();
    let k = seed_shift();
    write_domain(&dir.path().join("source"), Style::Source, 40, 11 + 100 * k);
    write_domain(
        &dir.path().join("target"),
        Style::TargetViolet,
        40,
        12 + 100 * k,
    );
    let inits: Vec<PathBuf> = REPLICATES
        .iter()
        .map(|&r| {
            let seed = r + 100 * k;
            let pre = config(
                dir.path(),
                MethodKind::SourceOnly,
                &format!("pretrain-{seed}"),
                PRETRAIN_ITERS,
                seed,
            );
            let s = adapt(&pre).unwrap();
            eprintln!(
                "pre-trained (seed {seed}): source-only target Mean {:.3}",
                s.evals["target"].last_mean.unwrap()
            );
            pre.out.join("checkpoint-last.safetensors")
        })
        .collect();
    let mean = |m: MethodKind| {
        let v: Vec<f64> = REPLICATES
            .iter()
            .zip(&inits)
            .map(|(&r, init)| last_target_mean(dir.path(), m, init, r + 100 * k))
            .collect();
        eprintln!("{}: target Mean per replicate {v:.3?}", m.name());
        v.iter().sum::<f64>() / v.len() as f64
    };
    let so = mean(MethodKind::SourceOnly);
    let dann = mean(MethodKind::Dann);
    let mcd = mean(MethodKind::Mcd);
    let t0 = std::time::Instant::now();
    let dcda = mean(MethodKind::DisClusterDa);
    eprintln!(
        "last target Mean: source-only {so:.3}, DANN {dann:.3}, MCD {mcd:.3}, \
         DisClusterDA {dcda:.3} (its runs took {:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    // Bounds: about half the smallest measured mean gain over k=0..4 (DANN 0.127, MCD 0.313).
    assert!(dann > so + 0.06, "DANN {dann:.3} vs source-only {so:.3}");
    assert!(mcd > so + 0.15, "MCD {mcd:.3} vs source-only {so:.3}");
}
