//! Tiny generated domains for the adaptation tests: the same three shape classes in a "source"
//! style (bright red shape on a dark, lightly noisy background) and a "target" style with a
//! strong colour and texture change (dark green shape on a bright, striped and noisy
//! background). Class = shape only, so a classifier that learned shapes could transfer, but
//! the low-level statistics differ completely. `Style::TargetViolet` is the same target with the
//! shape in violet: it keeps half the source's red, so source-trained filters see the target's
//! shapes at lower contrast (see tests/adapt_shift.rs for why).
#![allow(dead_code)]
use std::path::Path;

use synthgen::adapt::{AdaptConfig, MethodKind};
use synthgen::nn::device::DeviceChoice;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const CLASSES: [&str; 3] = ["disc", "plus", "ring"];
pub const SIDE: u32 = 20;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Source,
    Target,
    TargetViolet,
}

fn inside(class: usize, dx: i32, dy: i32, len: i32, half: i32) -> bool {
    let r2 = dx * dx + dy * dy;
    match class {
        0 => r2 <= len * len,
        1 => (dy.abs() <= half && dx.abs() <= len) || (dx.abs() <= half && dy.abs() <= len),
        _ => r2 <= len * len && r2 >= (len - 2) * (len - 2),
    }
}

/// Writes `per_class` images per class as `<root>/<class>/<i>.png`.
pub fn write_domain(root: &Path, style: Style, per_class: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let s = SIDE as i32;
    for (c, name) in CLASSES.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let (cx, cy) = (rng.random_range(8..12i32), rng.random_range(8..12i32));
            let len = rng.random_range(5..8i32);
            let half = 1;
            let phase = rng.random_range(0..4i32);
            let noise: Vec<i32> = (0..s * s).map(|_| rng.random_range(0..50)).collect();
            let img = image::RgbImage::from_fn(SIDE, SIDE, |x, y| {
                let (x, y) = (x as i32, y as i32);
                let n = noise[(y * s + x) as usize];
                let on = inside(c, x - cx, y - cy, len, half);
                let px = match (style, on) {
                    (Style::Source, true) => [220, n / 2, n / 2],
                    (Style::Source, false) => [n / 2, n / 2, n / 2],
                    (Style::Target, true) => [n / 2, n / 2, 220],
                    (Style::TargetViolet, true) => [110 + n / 2, n / 2, 220],
                    (Style::Target | Style::TargetViolet, false) => {
                        // Faint diagonal stripes: texture the source never shows.
                        let stripe = if (x + y + phase) % 4 < 2 { 30 } else { 0 };
                        let v = stripe + n / 2;
                        [v, v, v]
                    }
                };
                image::Rgb(px.map(|v: i32| v.clamp(0, 255) as u8))
            });
            img.save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
}

/// A seconds-long run on the tiny domains under `dir` (`source/`, `target/`): resnet_tiny at
/// 16 px, batch 8, 10 iterations evaluated every 2, CPU, no t-SNE picture.
pub fn tiny_config(dir: &Path, method: MethodKind, out: &str) -> AdaptConfig {
    let mut cfg = AdaptConfig::new(
        dir.join("source"),
        dir.join("target"),
        method,
        dir.join(out),
    );
    cfg.arch = "resnet_tiny".into();
    cfg.image_size = 16;
    cfg.batch_size = 8;
    cfg.iters = Some(10);
    cfg.eval_every = Some(2);
    cfg.lr = Some(0.01);
    cfg.device = DeviceChoice::Cpu;
    cfg.workers = Some(1);
    cfg.tsne_points = 0;
    cfg
}
