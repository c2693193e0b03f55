//! Streamed training data: batch `k` holds stream positions `[k B, (k + 1) B)` of a render
//! stream, each used once, decoded and augmented exactly as the folder loader would (the
//! augmentation stream of a position depends only on the seed and the position), so a resumed
//! run starts the stream at `start * B` and equals an uninterrupted one. `StreamWatch` is what
//! the run reads about the stream while it trains.
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use indicatif::ProgressBar;

use crate::nn::augment::{augment_into, sample_rng, Augment};
use crate::nn::loader::Batch;
use crate::nn::TrainError;
use crate::render::run::RunError;
use crate::render::stream::{RenderStream, StreamPlan, StreamReport, Streamed};

/// The stream a `train --stream` or `adapt --stream` run draws from.
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
                    member,
                } => {
                    let img = match member {
                        None => image::open(&path),
                        Some((offset, len)) => crate::nn::data::Member {
                            shard: path.as_path().into(),
                            offset,
                            len,
                        }
                        .read()
                        .map_err(image::ImageError::IoError)
                        .and_then(|bytes| image::load_from_memory(&bytes)),
                    };
                    match img {
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
                    if !self.stream.keeps_images() && member.is_none() {
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
fn progress_note(r: &StreamReport) -> String {
    format!(
        " | render {:.1} img/s | trainer waits {:.0}%, workers wait {:.0}%",
        r.render_per_second,
        100.0 * r.consumer_wait_share,
        100.0 * r.worker_wait_share
    )
}

/// What a run reads about its render stream while it trains: the progress note, a failure,
/// and the report for the summary. A run that reads files has one too, which stays silent.
#[derive(Default)]
pub struct StreamWatch {
    streaming: bool,
    status: Arc<Mutex<StreamStatus>>,
}

impl StreamWatch {
    pub fn new(streaming: bool) -> Self {
        StreamWatch {
            streaming,
            status: Arc::default(),
        }
    }

    /// Where the stream's batches publish their status.
    pub fn status(&self) -> Arc<Mutex<StreamStatus>> {
        self.status.clone()
    }

    /// The stream's part of the progress line (empty without a stream).
    pub fn note(&self) -> String {
        if self.streaming {
            progress_note(&self.lock().report)
        } else {
            String::new()
        }
    }

    /// A failed stream ends the run: the progress bar says so and the stream's error is the
    /// run's.
    pub fn check(&self, bar: &ProgressBar) -> Result<(), TrainError> {
        if let Some(e) = self.lock().error.take() {
            bar.abandon_with_message("stream failed");
            return Err(TrainError::Stream(e));
        }
        Ok(())
    }

    /// The stream's rates and waits for the summary (None without a stream).
    pub fn report(&self) -> Option<StreamReport> {
        self.streaming.then(|| self.lock().report.clone())
    }

    fn lock(&self) -> MutexGuard<'_, StreamStatus> {
        self.status.lock().expect("stream status")
    }
}
