//! On a constructed shift (same shape classes; the source draws them in red, the target in blue
//! on a striped background, so source-trained filters barely see target shapes), DANN and MCD
//! must beat source-only on target Mean, averaged over seeds. As in the paper's protocol, all
//! three start from the same pre-trained backbone (here: a short source-only run), with the
//! backbone lr x0.1. Real libtorch on the CPU, 16 px images, the tiny ResNet. DisClusterDA's
//! figure is printed, not asserted.
#![cfg(feature = "train")]
mod adapt_data;

use std::path::{Path, PathBuf};

use adapt_data::{write_domain, Style};
use synthgen::adapt::{adapt, AdaptConfig, MethodKind};
use synthgen::train::augment::Augment;
use synthgen::train::device::DeviceChoice;

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
    assert!(dann > so + 0.1, "DANN {dann:.3} vs source-only {so:.3}");
    assert!(mcd > so + 0.1, "MCD {mcd:.3} vs source-only {so:.3}");
}
