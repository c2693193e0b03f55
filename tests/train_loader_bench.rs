//! Loader throughput benchmark (decode + strong augmentation), run by bench/train_bench.sh.
//! Ignored in normal test runs; it prints figures and asserts nothing about time.
#![cfg(feature = "train")]
use std::sync::Arc;
use std::time::Instant;

use synthgen::train::augment::Augment;
use synthgen::train::data::ImageSet;
use synthgen::train::loader::{Loader, LoaderConfig, Order};

#[test]
#[ignore = "benchmark: run via bench/train_bench.sh"]
fn loader_throughput() {
    let dir = std::env::var("SYNTHGEN_BENCH_DATA").expect("SYNTHGEN_BENCH_DATA=<ImageFolder>");
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
