//! On a constructed shift (same shape classes, target with a strong colour and texture change),
//! DANN and MCD must beat source-only on target Mean, averaged over a few seeds. Real libtorch
//! on the CPU, 16 px images, the tiny ResNet.
#![cfg(feature = "train")]
mod adapt_data;

use std::path::Path;

use adapt_data::{write_domain, Style};
use synthgen::adapt::{adapt, AdaptConfig, MethodKind};
use synthgen::train::augment::Augment;
use synthgen::train::device::DeviceChoice;

const SEEDS: [u64; 2] = [1, 2];
const ITERS: u64 = 120;

fn target_mean(dir: &Path, method: MethodKind, seed: u64) -> f64 {
    let out = dir.join(format!("{}-{seed}", method.name()));
    let mut cfg = AdaptConfig::new(dir.join("source"), dir.join("target"), method, out);
    cfg.arch = "resnet_tiny".into();
    cfg.image_size = 16;
    cfg.batch_size = 32;
    cfg.iters = Some(ITERS);
    cfg.eval_every = Some(ITERS);
    cfg.lr = Some(match method {
        MethodKind::Mcd => 0.02,
        _ => 0.02,
    });
    cfg.augment = Augment::None;
    cfg.seed = seed;
    cfg.device = DeviceChoice::Cpu;
    cfg.workers = Some(1);
    cfg.tsne_points = 0;
    let s = adapt(&cfg).unwrap();
    s.evals["target"].last_mean.unwrap()
}

#[test]
fn dann_and_mcd_beat_source_only_on_the_shifted_target() {
    let dir = tempfile::tempdir().unwrap();
    write_domain(&dir.path().join("source"), Style::Source, 40, 11);
    write_domain(&dir.path().join("target"), Style::Target, 40, 12);
    let mean = |m: MethodKind| {
        SEEDS.iter().map(|&s| target_mean(dir.path(), m, s)).sum::<f64>() / SEEDS.len() as f64
    };
    let so = mean(MethodKind::SourceOnly);
    let dann = mean(MethodKind::Dann);
    let mcd = mean(MethodKind::Mcd);
    eprintln!("target Mean: source-only {so:.3}, DANN {dann:.3}, MCD {mcd:.3}");
    assert!(dann > so + 0.05, "DANN {dann:.3} vs source-only {so:.3}");
    assert!(mcd > so + 0.05, "MCD {mcd:.3} vs source-only {so:.3}");
}
