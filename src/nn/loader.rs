//! Threaded batch loader: worker threads decode and augment whole batches and hand them over a
//! bounded channel (bounded prefetch, never the whole dataset in memory). Batches come out in
//! order; their content depends only on (seed, epoch, sample index), not on the worker count.
//!
//! The sample stream is a sequence of positions: with `Order::Cycle`, epoch `e` is a seeded
//! shuffle of all samples and epochs follow each other without gaps, so batch `k` is positions
//! `[k B, (k + 1) B)` and resuming at step `k` needs no state. `Order::Once` uses one shuffle
//! (each sample at most once) and `Order::Sequential` the file order (evaluation).
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::augment::{augment_into, sample_rng, Augment};
use super::data::Sample;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Reshuffle each epoch (seeded) and cycle for ever.
    Cycle,
    /// One seeded shuffle; each sample is used at most once.
    Once,
    /// File order, once (evaluation).
    Sequential,
}

#[derive(Debug, Clone)]
pub struct LoaderConfig {
    pub augment: Augment,
    pub image_size: u32,
    pub batch_size: usize,
    pub workers: usize,
    /// Batches decoded ahead of the consumer.
    pub prefetch: usize,
    pub seed: u64,
    pub order: Order,
    /// First batch to produce (resume).
    pub start_batch: u64,
    /// Stop after this batch index (exclusive); `None` = until the data runs out (required for
    /// `Order::Cycle`, which never does).
    pub end_batch: Option<u64>,
}

impl LoaderConfig {
    /// Evaluation: every sample once, in order, no augmentation.
    pub fn evaluation(image_size: u32, batch_size: usize, workers: usize) -> Self {
        LoaderConfig {
            augment: Augment::None,
            image_size,
            batch_size,
            workers,
            prefetch: (2 * workers).max(2),
            seed: 0,
            order: Order::Sequential,
            start_batch: 0,
            end_batch: None,
        }
    }
}

/// One decoded batch: `images` is N x 3 x S x S, normalised, row-major.
#[derive(Debug)]
pub struct Batch {
    pub index: u64,
    pub images: Vec<f32>,
    pub labels: Vec<i64>,
    /// Indices of the samples in the dataset, in batch order.
    pub samples: Vec<usize>,
    /// Images that could not be decoded, with the reason; they are left out of the batch.
    pub skipped: Vec<(PathBuf, String)>,
    /// The epoch of the batch's first sample.
    pub epoch: u64,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Number of batches that `Order::Once` / `Order::Sequential` produce.
pub fn batches_per_pass(n: usize, batch_size: usize) -> u64 {
    n.div_ceil(batch_size.max(1)) as u64
}

/// Separates the order stream from the augmentation streams of the same seed.
const ORDER_SALT: u64 = 0x05ee_d0f0_0de4_0001;

/// The seeded permutation of epoch `epoch`.
pub fn epoch_permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ORDER_SALT);
    rng.set_stream(epoch);
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut rng);
    perm
}

/// Maps stream positions to (epoch, sample index), caching the last permutations.
struct PositionMap {
    n: usize,
    seed: u64,
    order: Order,
    cache: Vec<(u64, Arc<Vec<usize>>)>,
}

impl PositionMap {
    fn total(&self) -> Option<u64> {
        match self.order {
            Order::Cycle => None,
            Order::Once | Order::Sequential => Some(self.n as u64),
        }
    }

    fn get(&mut self, pos: u64) -> (u64, usize) {
        let n = self.n as u64;
        let (epoch, offset) = (pos / n, (pos % n) as usize);
        if self.order == Order::Sequential {
            return (0, offset);
        }
        if let Some((_, perm)) = self.cache.iter().find(|(e, _)| *e == epoch) {
            return (epoch, perm[offset]);
        }
        let perm = Arc::new(epoch_permutation(self.n, self.seed, epoch));
        if self.cache.len() >= 2 {
            self.cache.remove(0);
        }
        self.cache.push((epoch, perm.clone()));
        (epoch, perm[offset])
    }
}

/// Produces batches in order from worker threads; dropping it stops the workers.
pub struct Loader(InOrder);

/// Batches that decode threads send in any order, handed out by index (`next`, then
/// `next + 1`, ...) until `end`; dropping it stops and joins the threads. The loader and the
/// shard stream share it.
pub(crate) struct InOrder {
    rx: Option<Receiver<Batch>>,
    pending: BTreeMap<u64, Batch>,
    next: u64,
    end: Option<u64>,
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl InOrder {
    pub(crate) fn new(
        rx: Receiver<Batch>,
        next: u64,
        end: Option<u64>,
        stop: Arc<AtomicBool>,
        handles: Vec<JoinHandle<()>>,
    ) -> Self {
        InOrder {
            rx: Some(rx),
            pending: BTreeMap::new(),
            next,
            end,
            stop,
            handles,
        }
    }
}

impl Loader {
    pub fn new(samples: Arc<Vec<Sample>>, cfg: LoaderConfig) -> Self {
        let b = cfg.batch_size.max(1) as u64;
        let pass_end = match cfg.order {
            Order::Cycle => None,
            _ => Some(batches_per_pass(samples.len(), cfg.batch_size)),
        };
        let end = match (pass_end, cfg.end_batch) {
            (Some(a), Some(e)) => Some(a.min(e)),
            (a, e) => a.or(e),
        };
        let (tx, rx) = sync_channel::<Batch>(cfg.prefetch.max(1));
        let next_job = Arc::new(AtomicU64::new(cfg.start_batch));
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for _ in 0..cfg.workers.max(1) {
            let (tx, next_job, stop, samples, cfg) = (
                tx.clone(),
                next_job.clone(),
                stop.clone(),
                samples.clone(),
                cfg.clone(),
            );
            handles.push(std::thread::spawn(move || {
                let mut map = PositionMap {
                    n: samples.len(),
                    seed: cfg.seed,
                    order: cfg.order,
                    cache: Vec::new(),
                };
                while !stop.load(Ordering::Relaxed) {
                    let k = next_job.fetch_add(1, Ordering::Relaxed);
                    if end.is_some_and(|e| k >= e) || samples.is_empty() {
                        break;
                    }
                    let batch = build_batch(&samples, &cfg, &mut map, k, b);
                    if tx.send(batch).is_err() {
                        break;
                    }
                }
            }));
        }
        Loader(InOrder::new(rx, cfg.start_batch, end, stop, handles))
    }
}

fn build_batch(
    samples: &[Sample],
    cfg: &LoaderConfig,
    map: &mut PositionMap,
    k: u64,
    b: u64,
) -> Batch {
    let first = k * b;
    let last = match map.total() {
        Some(t) => ((k + 1) * b).min(t),
        None => (k + 1) * b,
    };
    let s = cfg.image_size as usize;
    let mut batch = Batch {
        index: k,
        images: Vec::with_capacity((last - first) as usize * 3 * s * s),
        labels: Vec::new(),
        samples: Vec::new(),
        skipped: Vec::new(),
        epoch: map.get(first).0,
    };
    for pos in first..last {
        let (epoch, idx) = map.get(pos);
        let sample = &samples[idx];
        match sample.load() {
            Ok(img) => {
                let mut rng = sample_rng(cfg.seed, epoch, idx as u64);
                augment_into(
                    &img.to_rgb8(),
                    cfg.augment,
                    cfg.image_size,
                    &mut rng,
                    &mut batch.images,
                );
                batch.labels.push(sample.label as i64);
                batch.samples.push(idx);
            }
            Err(e) => {
                tracing::warn!("skipping unreadable image {}: {e}", sample.path.display());
                batch.skipped.push((sample.path.clone(), e.to_string()));
            }
        }
    }
    batch
}

impl Iterator for Loader {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        self.0.next()
    }
}

impl Iterator for InOrder {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.end.is_some_and(|e| self.next >= e) {
            return None;
        }
        loop {
            if let Some(batch) = self.pending.remove(&self.next) {
                self.next += 1;
                return Some(batch);
            }
            // All workers gone and nothing pending: the data ran out.
            let batch = self.rx.as_ref()?.recv().ok()?;
            self.pending.insert(batch.index, batch);
        }
    }
}

impl Drop for InOrder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver unblocks workers waiting in `send`.
        self.rx.take();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_set(dir: &std::path::Path, n: usize) -> Vec<Sample> {
        (0..n)
            .map(|i| {
                let path = dir.join(format!("{i}.png"));
                image::RgbImage::from_pixel(20, 16, image::Rgb([i as u8 * 10, 0, 0]))
                    .save(&path)
                    .unwrap();
                Sample::file(path, i % 3)
            })
            .collect()
    }

    fn cfg(order: Order, workers: usize) -> LoaderConfig {
        LoaderConfig {
            augment: Augment::Strong,
            image_size: 16,
            batch_size: 4,
            workers,
            prefetch: 2,
            seed: 9,
            order,
            start_batch: 0,
            end_batch: None,
        }
    }

    #[test]
    fn once_uses_each_sample_once_and_ends() {
        let dir = tempfile::tempdir().unwrap();
        let samples = Arc::new(write_set(dir.path(), 10));
        let batches: Vec<Batch> = Loader::new(samples, cfg(Order::Once, 3)).collect();
        assert_eq!(
            batches.iter().map(|b| b.len()).collect::<Vec<_>>(),
            vec![4, 4, 2]
        );
        let mut seen: Vec<usize> = batches.iter().flat_map(|b| b.samples.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(batches[0].images.len(), 4 * 3 * 16 * 16);
    }

    #[test]
    fn cycle_reshuffles_and_is_independent_of_workers_and_start() {
        let dir = tempfile::tempdir().unwrap();
        let samples = Arc::new(write_set(dir.path(), 6));
        let run = |workers, start| {
            let mut c = cfg(Order::Cycle, workers);
            c.start_batch = start;
            c.end_batch = Some(6);
            Loader::new(samples.clone(), c).collect::<Vec<_>>()
        };
        let one = run(1, 0);
        let three = run(3, 2);
        assert_eq!(one.len(), 6);
        for (a, b) in one[2..].iter().zip(&three) {
            assert_eq!(a.samples, b.samples);
            assert_eq!(a.images, b.images);
        }
        // Epoch 0 = positions 0..6 (batches 0 and half of 1), epoch 1 is another permutation.
        let stream: Vec<usize> = one.iter().flat_map(|b| b.samples.clone()).collect();
        assert_ne!(stream[0..6], stream[6..12]);
        let mut e1 = stream[6..12].to_vec();
        e1.sort();
        assert_eq!(e1, (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn corrupt_images_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut samples = write_set(dir.path(), 5);
        std::fs::write(&samples[2].path, b"not a png").unwrap();
        samples[3].path = dir.path().join("missing.png");
        let batches: Vec<Batch> =
            Loader::new(Arc::new(samples), cfg(Order::Sequential, 2)).collect();
        let kept: usize = batches.iter().map(|b| b.len()).sum();
        let skipped: Vec<_> = batches.iter().flat_map(|b| b.skipped.clone()).collect();
        assert_eq!(kept, 3);
        assert_eq!(skipped.len(), 2);
        assert!(skipped[0].0.ends_with("2.png"));
    }
}
