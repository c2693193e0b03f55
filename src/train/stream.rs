//! Streamed training data: batch `k` holds stream positions `[k B, (k + 1) B)` of a render
//! stream, each used once, decoded and augmented exactly as the folder loader would (the
//! augmentation stream of a position depends only on the seed and the position), so a resumed
//! run starts the stream at `start * B` and equals an uninterrupted one.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::nn::augment::{augment_into, sample_rng, Augment};
use crate::nn::loader::Batch;
use crate::nn::TrainError;
use crate::render::run::RunError;
use crate::render::stream::{RenderStream, StreamPlan, StreamReport, Streamed};

/// The stream a `train --stream` run draws from.
pub struct StreamSource {
    pub plan: StreamPlan,
}

impl StreamSource {
    pub fn class_names(&self) -> Vec<String> {
        self.plan.class_names()
    }

    /// Images of one pass over the preset (`images_per_class` x classes): `--epochs` counts these.
    pub fn images_per_pass(&self) -> u64 {
        self.plan.preset.images_per_class * self.plan.classes.len() as u64
    }

    /// Starts the stream at batch `from` and hands out batches `from..to` of `batch_size`
    /// positions (`resume` allows a kept dataset to exist already).
    #[allow(clippy::too_many_arguments)]
    pub fn batches(
        self,
        augment: Augment,
        image_size: u32,
        seed: u64,
        batch_size: u64,
        (from, to): (u64, u64),
        resume: bool,
        status: Arc<Mutex<StreamStatus>>,
    ) -> Result<StreamBatches, TrainError> {
        let stream = self
            .plan
            .start(from * batch_size, to * batch_size, resume)
            .map_err(|e| match e {
                RunError::Setup(m) => TrainError::StreamSetup(m),
                e => TrainError::Stream(e.to_string()),
            })?;
        Ok(StreamBatches::new(
            stream, augment, image_size, seed, batch_size, from, to, status,
        ))
    }
}

/// What the trainer reads about the stream while it runs: rates, waits and a failure.
#[derive(Default)]
pub struct StreamStatus {
    pub report: StreamReport,
    pub error: Option<String>,
}

/// Batches from a render stream, in order.
pub struct StreamBatches {
    stream: RenderStream,
    augment: Augment,
    image_size: u32,
    seed: u64,
    batch_size: u64,
    next: u64,
    end: u64,
    status: Arc<Mutex<StreamStatus>>,
}

impl StreamBatches {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        stream: RenderStream,
        augment: Augment,
        image_size: u32,
        seed: u64,
        batch_size: u64,
        start_batch: u64,
        end_batch: u64,
        status: Arc<Mutex<StreamStatus>>,
    ) -> Self {
        StreamBatches {
            stream,
            augment,
            image_size,
            seed,
            batch_size,
            next: start_batch,
            end: end_batch,
            status,
        }
    }

    fn publish(&self) {
        let mut s = self.status.lock().expect("stream status");
        s.report = self.stream.report();
        s.error = self.stream.error().map(str::to_owned);
    }
}

impl Iterator for StreamBatches {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.end {
            // Lets a kept dataset write its lists.
            let _ = self.stream.next();
            self.publish();
            return None;
        }
        let k = self.next;
        let s = self.image_size as usize;
        let b = self.batch_size;
        let mut batch = Batch {
            index: k,
            images: Vec::with_capacity(b as usize * 3 * s * s),
            labels: Vec::new(),
            samples: Vec::new(),
            skipped: Vec::new(),
            epoch: 0,
        };
        for _ in 0..b {
            let Some(item) = self.stream.next() else {
                self.publish();
                return None;
            };
            match item {
                Streamed::Image {
                    position,
                    path,
                    label,
                } => {
                    match image::open(&path) {
                        Ok(img) => {
                            let mut rng = sample_rng(self.seed, 0, position);
                            augment_into(
                                &img.to_rgb8(),
                                self.augment,
                                self.image_size,
                                &mut rng,
                                &mut batch.images,
                            );
                            batch.labels.push(label as i64);
                            batch.samples.push(position as usize);
                        }
                        Err(e) => batch.skipped.push((path.clone(), e.to_string())),
                    }
                    if !self.stream.keeps_images() {
                        let _ = std::fs::remove_file(&path);
                    }
                }
                Streamed::Failed { id, reason, .. } => {
                    batch.skipped.push((PathBuf::from(id), reason));
                }
            }
        }
        self.next += 1;
        self.publish();
        Some(batch)
    }
}

/// The stream's part of the progress line: render rate and who waits for whom.
pub fn progress_note(r: &StreamReport) -> String {
    format!(
        " | render {:.1} img/s | trainer waits {:.0}%, workers wait {:.0}%",
        r.render_per_second,
        100.0 * r.consumer_wait_share,
        100.0 * r.worker_wait_share
    )
}

/// The command-line options of a render stream, shared by `train --stream` and
/// `adapt --stream` (flattened into both argument structs).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StreamArgs {
    /// Train (or adapt) on a render stream of this preset instead of a folder: Blender workers
    /// render while training runs, each image is used once, and image i of the stream is the
    /// image `synthgen render` writes as index i of class i mod C (docs/STREAM.md).
    #[arg(long, value_name = "PRESET")]
    pub stream: Option<String>,
    /// Override a field of the stream's preset, as in `render --set` (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE", requires = "stream")]
    pub set: Vec<String>,
    /// Level weights for the stream's preset, as in `render --weights`.
    #[arg(long, value_name = "FILE", requires = "stream")]
    pub weights: Option<PathBuf>,
    /// Keep the streamed images in DIR as a normal dataset (manifest, lists), written as it goes.
    #[arg(long, value_name = "DIR", requires = "stream")]
    pub keep: Option<PathBuf>,
    /// Images the render workers may get ahead of training (default: two batches).
    #[arg(long, value_name = "N", requires = "stream")]
    pub queue: Option<u64>,
}

impl StreamArgs {
    /// The first stream option given without `--stream`, which would otherwise be ignored.
    /// clap's `requires = "stream"` cannot catch it: clap excuses a missing required argument
    /// that conflicts with one present, and `--train` / `--source` conflict with `--stream`.
    pub fn stray_option(&self) -> Option<&'static str> {
        if self.stream.is_some() {
            return None;
        }
        [
            ("--keep", self.keep.is_some()),
            ("--queue", self.queue.is_some()),
            ("--weights", self.weights.is_some()),
            ("--set", !self.set.is_empty()),
        ]
        .into_iter()
        .find_map(|(flag, given)| given.then_some(flag))
    }
}
