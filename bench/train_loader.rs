//! Loader throughput benchmark (decode + strong augmentation), run by bench/train_bench.sh:
//!   cargo bench --bench train_loader -- write-data <folder> [per class]
//!   cargo bench --bench train_loader -- loader <folder>
//!   cargo bench --bench train_loader -- list <shards>   (the random-access list of shards)
//! It prints figures and asserts nothing about time.
use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use synthgen::nn::augment::Augment;
use synthgen::nn::data::ImageSet;
use synthgen::nn::loader::{Loader, LoaderConfig, Order};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("write-data") if args.len() >= 2 => {
            let per_class = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(20);
            write_bench_data(&args[1], per_class)
        }
        Some("loader") if args.len() >= 2 => loader_throughput(&args[1]),
        Some("shards") if args.len() >= 3 => shard_throughput(&args[1], &args[2]),
        Some("epoch") if args.len() >= 2 => shard_epoch(&args[1]),
        Some("list") if args.len() >= 2 => shard_list(&args[1]),
        _ => {
            eprintln!("usage: train_loader write-data <folder> [per class] | loader <folder> | shards <folder> <shard folder> | epoch <shards> | list <shards>");
            std::process::exit(2)
        }
    }
}

/// Writes `per_class` 320 x 240 PNGs for each of 10 classes: smooth sinusoid patterns with
/// mild noise, roughly as costly to decode as renders.
fn write_bench_data(dir: &str, per_class: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for c in 0..10 {
        let class_dir = std::path::Path::new(&dir).join(format!("class{c}"));
        std::fs::create_dir_all(&class_dir).unwrap();
        for i in 0..per_class {
            let f: [f32; 6] = std::array::from_fn(|_| rng.random_range(0.01..0.08));
            let noise: Vec<u8> = (0..320 * 240).map(|_| rng.random_range(0..16)).collect();
            let img = image::RgbImage::from_fn(320, 240, |x, y| {
                let (x, y) = (x as f32, y as f32);
                let n = noise[(y as usize) * 320 + x as usize];
                let ch = |a: f32, b: f32| (120.0 + 100.0 * (a * x + b * y).sin()) as u8 + n;
                image::Rgb([ch(f[0], f[1]), ch(f[2], f[3]), ch(f[4], f[5])])
            });
            img.save(class_dir.join(format!("{i:04}.png"))).unwrap();
        }
    }
}

fn loader_throughput(dir: &str) {
    let set = ImageSet::open(std::path::Path::new(&dir)).unwrap();
    let samples = Arc::new(set.samples.clone());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for size in [112u32, 224] {
        for workers in [1usize, cores] {
            let cfg = LoaderConfig {
                augment: Augment::Strong,
                image_size: size,
                batch_size: 32,
                workers,
                prefetch: 4,
                seed: 0,
                order: Order::Once,
                start_batch: 0,
                end_batch: None,
            };
            let t = Instant::now();
            let n: usize = Loader::new(samples.clone(), cfg).map(|b| b.len()).sum();
            let s = t.elapsed().as_secs_f64();
            println!(
                "loader strong aug {size}px workers {workers}: {n} images in {s:.2}s = {:.1} img/s ({:.1} img/s per worker)",
                n as f64 / s,
                n as f64 / s / workers as f64
            );
        }
    }
}

/// Packs the ImageFolder `dir` into shards in `shard_dir` (same PNG bytes), then measures one
/// decode + strong-augmentation thread at 64, 128 and 224 px from the ImageFolder (`Loader`)
/// and from the shards (`ShardStream`, 4 readers, 1,000-sample shuffle buffer), side by side.
fn shard_throughput(dir: &str, shard_dir: &str) {
    use synthgen::dataset::webdataset::{ShardLimits, ShardNaming, ShardWriter};
    use synthgen::nn::shards::{ShardSet, ShardStream, ShardStreamConfig};
    let set = ImageSet::open(std::path::Path::new(&dir)).unwrap();
    let out = std::path::Path::new(shard_dir);
    std::fs::create_dir_all(out).unwrap();
    let mut w = ShardWriter::new(
        out,
        ShardNaming::single("bench"),
        ShardLimits {
            max_samples: 100,
            max_bytes: 1 << 30,
        },
        0,
    );
    for (i, s) in set.samples.iter().enumerate() {
        let png = std::fs::read(&s.path).unwrap();
        let cls = s.label.to_string();
        w.append(
            &format!("s_{i:06}"),
            &[("png", &png), ("cls", cls.as_bytes())],
        )
        .unwrap();
    }
    w.finish().unwrap();
    std::fs::write(out.join("classes.txt"), set.classes.join("\n") + "\n").unwrap();
    let shards = Arc::new(ShardSet::detect(out).unwrap().unwrap());
    let samples = Arc::new(set.samples.clone());
    for size in [64u32, 128, 224] {
        let t = Instant::now();
        let cfg = LoaderConfig {
            augment: Augment::Strong,
            image_size: size,
            batch_size: 32,
            workers: 1,
            prefetch: 4,
            seed: 0,
            order: Order::Once,
            start_batch: 0,
            end_batch: None,
        };
        let n: usize = Loader::new(samples.clone(), cfg).map(|b| b.len()).sum();
        let folder = n as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        let batches = shards.len().div_ceil(32);
        let cfg = ShardStreamConfig {
            augment: Augment::Strong,
            image_size: size,
            batch_size: 32,
            workers: 1,
            seed: 0,
            streams: 4,
            shuffle_buffer: 1000,
            rank: 0,
            world: 1,
            start_batch: 0,
            end_batch: Some(batches),
        };
        let m: usize = ShardStream::new(shards.clone(), cfg).map(|b| b.len()).sum();
        let sharded = m as f64 / t.elapsed().as_secs_f64();
        println!(
            "synthgen {size}px, 1 thread: imagefolder {folder:.1} img/s, shards {sharded:.1} img/s ({n} / {m} images)"
        );
    }
}

/// One epoch of the shard stream over `path` (a folder, index or brace pattern) at 16 px, no
/// augmentation, every core decoding: the scale benchmark's loader pass (bench/scale.sh).
fn shard_epoch(path: &str) {
    use synthgen::nn::shards::{ShardSet, ShardStream, ShardStreamConfig};
    let t = Instant::now();
    let set = Arc::new(
        ShardSet::detect(std::path::Path::new(path))
            .unwrap()
            .expect("shards"),
    );
    let opened = t.elapsed().as_secs_f64();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cfg = ShardStreamConfig {
        augment: Augment::None,
        image_size: 16,
        batch_size: 256,
        workers,
        seed: 0,
        streams: 4,
        shuffle_buffer: 1000,
        rank: 0,
        world: 1,
        start_batch: 0,
        end_batch: Some(set.len().div_ceil(256)),
    };
    let t = Instant::now();
    let n: usize = ShardStream::new(set.clone(), cfg).map(|b| b.len()).sum();
    let s = t.elapsed().as_secs_f64();
    println!(
        "epoch over {} shards: {n} samples in {s:.1}s = {:.0} samples/s ({workers} decode threads; opening took {opened:.1}s)",
        set.shards.len(),
        n as f64 / s
    );
}

/// The random-access list of a shard set (`ImageSet::open`, what `adapt --source` builds):
/// headers read once, one entry per sample (bench/scale.sh runs it under /usr/bin/time -v).
fn shard_list(path: &str) {
    let t = Instant::now();
    let set = ImageSet::open(std::path::Path::new(path)).unwrap();
    let s = t.elapsed().as_secs_f64();
    let last = set.samples.last().map(|x| x.path.display().to_string());
    println!(
        "list of {} samples in {} classes in {s:.1}s (last: {})",
        set.samples.len(),
        set.classes.len(),
        last.unwrap_or_default()
    );
}
