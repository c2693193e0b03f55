//! One driver thread of a render run: the worker lifecycle. It owns one Blender worker process
//! at a time (started, recycled, restarted after a crash), takes batches of jobs from the
//! shared queue, hands each image to `image::attempt_image` (the per-image stages) and
//! denylists models that keep failing.
use super::run::Shared;
use crate::dataset::layout;
use crate::dataset::ManifestRecord;
use crate::render::phases::OutsideRender;
use crate::render::plan::ImageJob;
use crate::render::process::{WorkerFailure, WorkerProcess, WorkerSpec};
use crate::render::stats::FailedImage;
use std::sync::mpsc;
use std::time::Instant;

/// NVIDIA GPUs this machine exposes (/dev/nvidia0, /dev/nvidia1, ...).
fn visible_gpus() -> usize {
    (0..64)
        .take_while(|i| std::path::Path::new(&format!("/dev/nvidia{i}")).exists())
        .count()
}

pub(super) enum Outcome {
    Saved(Box<ManifestRecord>),
    Failed(FailedImage),
}

/// One driver thread: owns one worker process at a time and takes batches from `next_jobs`
/// (the run's queue, or a stream's feed, which may wait) until it returns `None`.
pub(super) fn drive_worker(
    slot: usize,
    shared: &Shared,
    tx: &mpsc::Sender<Outcome>,
    next_jobs: &dyn Fn() -> Option<Vec<ImageJob>>,
) {
    let mut spec = shared.opts.worker.clone();
    spec.work_dir = shared
        .out
        .join(layout::WORK_DIR)
        .join("render")
        .join(format!("worker-{slot}"));
    // One worker per GPU: with several GPUs, worker `slot` sees only GPU `slot % count`
    // (set workers.count to the GPU count to use them all).
    let gpus = visible_gpus();
    if shared.settings.device != crate::scene::contract::Device::Cpu && gpus > 1 {
        spec.gpu = Some(slot % gpus);
    }
    let mut driver = Driver {
        shared,
        spec,
        worker: None,
        consecutive_start_failures: 0,
    };
    loop {
        if shared.fatal.lock().expect("fatal").is_some() {
            break;
        }
        let Some(batch) = next_jobs() else {
            break;
        };
        for job in batch {
            let outcome = driver.render_image(job);
            if tx.send(outcome).is_err() {
                return;
            }
        }
    }
    if let Some(w) = driver.worker.take() {
        w.shutdown();
    }
}

pub(super) struct Driver<'a> {
    pub(super) shared: &'a Shared,
    pub(super) spec: WorkerSpec,
    worker: Option<WorkerProcess>,
    consecutive_start_failures: u32,
}

impl Driver<'_> {
    pub(super) fn worker(&mut self) -> Result<&mut WorkerProcess, WorkerFailure> {
        let recycle = self
            .worker
            .as_ref()
            .is_some_and(|w| w.served >= self.shared.opts.max_jobs_per_worker);
        if recycle {
            if let Some(w) = self.worker.take() {
                w.shutdown();
            }
            self.shared.stats.lock().expect("stats").worker_recycles += 1;
        }
        if self.worker.is_none() {
            let start = Instant::now();
            let spawned = WorkerProcess::spawn(&self.spec);
            self.shared
                .stats
                .lock()
                .expect("stats")
                .seconds_outside_render
                .worker_start += start.elapsed().as_secs_f64();
            self.worker = Some(spawned?);
            self.consecutive_start_failures = 0;
        }
        Ok(self.worker.as_mut().expect("just set"))
    }

    /// Renders one image, moving through attempts until one passes validation.
    fn render_image(&mut self, job: ImageJob) -> Outcome {
        let mut phases = OutsideRender::default();
        let outcome = self.attempt_image(job, &mut phases);
        self.shared
            .stats
            .lock()
            .expect("stats")
            .seconds_outside_render
            .add(&phases);
        outcome
    }

    pub(super) fn deny(&self, key: &str, reason: &str) {
        let mut deny = self.shared.deny.lock().expect("deny");
        match deny.add(key, reason) {
            Ok(true) => tracing::warn!("model {key} is denylisted: {reason}"),
            Ok(false) => {}
            Err(e) => tracing::error!("{e}"),
        }
    }

    /// A worker that cannot even start is a setup problem, not a model problem: after two
    /// tries in a row the whole run stops with the worker's own last words.
    pub(super) fn on_start_failure(&mut self, failure: &WorkerFailure) {
        self.worker = None;
        self.consecutive_start_failures += 1;
        tracing::warn!("a Blender worker failed to start: {failure}");
        if self.consecutive_start_failures >= 2 {
            *self.shared.fatal.lock().expect("fatal") = Some(failure.to_string());
        }
    }

    /// A crash or hang during a request: restart the worker and charge the model; a model that
    /// keeps taking workers down goes on the denylist.
    pub(super) fn on_worker_failure(&mut self, key: &str, failure: &WorkerFailure) {
        self.worker = None;
        self.consecutive_start_failures = 0;
        self.shared.stats.lock().expect("stats").worker_restarts += 1;
        tracing::warn!("worker restarted after: {failure}");
        let count = {
            let mut fails = self.shared.model_failures.lock().expect("failures");
            let c = fails.entry(key.to_string()).or_insert(0);
            *c += 1;
            *c
        };
        if count >= self.shared.opts.max_model_failures {
            self.deny(
                key,
                &format!("the worker failed {count} times on it: {failure}"),
            );
        }
    }
}
