//! One driver thread of a render run: it owns one Blender worker process at a time, takes
//! batches of jobs from the shared queue and moves each image through its attempts (sample,
//! render, validate, composite, save), restarting workers and denylisting models that fail.
use super::run::Shared;
use crate::assets::geometry::ModelGeometry;
use crate::assets::look::ModelLook;
use crate::composite;
use crate::dataset::atomic::save_png_atomic;
use crate::dataset::layout::{self, image_rel_path, mask_rel_path};
use crate::dataset::{ManifestRecord, ModelInfo};
use crate::render::phases::{lap, OutsideRender};
use crate::render::plan::{pick_model, ClassPlan, ImageJob};
use crate::render::predict;
use crate::render::process::{WorkerFailure, WorkerProcess, WorkerSpec};
use crate::render::stats::FailedImage;
use crate::sample;
use crate::scene::contract::WorkerRequest;
use crate::validate;
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// The magenta check finds textures that did not load; a render with no texture at all (a
/// sampled material other than `image`) can only be magenta because its sampled colour is,
/// and rejecting that would cut magenta hues out of the colour distribution.
fn validation_for(
    cfg: &validate::ValidationConfig,
    params: &sample::SceneParams,
) -> validate::ValidationConfig {
    let textured = params.material.keep_original || params.material.family == "image";
    let mut cfg = cfg.clone();
    if !textured {
        cfg.max_magenta_fraction = 1.0;
    }
    cfg
}

/// NVIDIA GPUs this machine exposes (/dev/nvidia0, /dev/nvidia1, ...).
fn visible_gpus() -> usize {
    (0..64)
        .take_while(|i| std::path::Path::new(&format!("/dev/nvidia{i}")).exists())
        .count()
}

/// The composited background of a sampled scene at `w` x `h`.
fn backdrop_of(params: &sample::SceneParams, w: u32, h: u32) -> Result<image::RgbImage, String> {
    composite::background(
        &params.background,
        &params.light.world,
        &params.camera,
        w,
        h,
    )
    .map_err(|e| format!("background: {e}"))
}

/// Views of one image that may be predicted to fail and re-sampled before giving up (each
/// costs a sample and a projection, no render).
const MAX_PREDICTED_REJECTIONS: u32 = 50;

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

struct Driver<'a> {
    shared: &'a Shared,
    spec: WorkerSpec,
    worker: Option<WorkerProcess>,
    consecutive_start_failures: u32,
}

impl Driver<'_> {
    fn worker(&mut self) -> Result<&mut WorkerProcess, WorkerFailure> {
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

    /// `render_image`'s attempts; the time of each phase goes to `ph`.
    fn attempt_image(&mut self, job: ImageJob, ph: &mut OutsideRender) -> Outcome {
        let sh = self.shared;
        let class = &sh.classes[job.class];
        let id = crate::dataset::shard::image_id(&class.class, job.index);
        let max_attempts = sh.preset.validate.max_attempts;
        let mut attempt: u32 = 0;
        // `max_attempts` bounds the attempts that reached Cycles; views predicted to fail
        // are re-sampled without rendering, up to MAX_PREDICTED_REJECTIONS per image.
        let mut predicted_rejections: u32 = 0;
        let mut last_reason = String::new();
        while attempt - predicted_rejections < max_attempts
            && predicted_rejections < MAX_PREDICTED_REJECTIONS
        {
            let mut t = Instant::now();
            let model = {
                let deny = sh.deny.lock().expect("deny");
                pick_model(class, job.index, attempt, &deny).cloned()
            };
            let Some(model) = model else {
                last_reason = format!(
                    "every model of class {} is on the denylist (see denylist.jsonl)",
                    class.class
                );
                break;
            };
            let model_ref = match model.to_model_ref(&sh.cache) {
                Ok(r) => r,
                Err(e) => {
                    self.deny(&model.key, &format!("could not extract the model: {e}"));
                    continue;
                }
            };
            let mut params = match sample::sample_scene(
                &sh.preset,
                &sh.ctx,
                sh.preset.seed,
                &class.class,
                job.index,
                attempt,
            ) {
                Ok(p) => p,
                Err(e) => {
                    // The context was checked up front, so this is a preset/context mismatch.
                    last_reason = e.to_string();
                    break;
                }
            };
            let material_override = self.material_override(&model.key, &model_ref, &params);
            if material_override.is_some() {
                params.material.keep_original = false;
            }
            let prediction = if sh.preset.validate.predict_views {
                self.geometry(&model.key, &model_ref)
                    .and_then(|g| predict::predict_view(&g, &params, sh.settings.resolution))
            } else {
                None
            };
            ph.sampling += lap(&mut t);
            if let Some(check) = prediction.and_then(|p| p.failed_check(&sh.validation)) {
                sh.stats
                    .lock()
                    .expect("stats")
                    .count_predicted_rejection(check);
                last_reason = format!("every view was predicted to break {check}");
                predicted_rejections += 1;
                attempt += 1;
                continue;
            }
            let cycles_seed =
                sample::sample_seed_for_cycles(sh.preset.seed, &class.class, job.index, attempt);
            let output = self.spec.work_dir.join("render.png");
            let _ = std::fs::remove_file(&output);
            let scene = match crate::render::request::scene_of(&params) {
                Ok(s) => s,
                Err(e) => {
                    last_reason = e.to_string();
                    break;
                }
            };
            let request = WorkerRequest::Render {
                id: id.clone(),
                model: model_ref,
                params: Box::new(scene),
                settings: Box::new(sh.settings.clone()),
                seed: cycles_seed,
                output: output.clone(),
            };
            let worker = match self.worker() {
                Ok(w) => w,
                Err(failure) => {
                    self.on_start_failure(&failure);
                    if sh.fatal.lock().expect("fatal").is_some() {
                        return Outcome::Failed(FailedImage::new(
                            &id,
                            class,
                            job.index,
                            &failure.to_string(),
                        ));
                    }
                    continue;
                }
            };
            let mut t = Instant::now();
            // The backdrop depends only on the sampled scene, so it is built (a photo decoded
            // on first use, an HDRI projected) while Cycles renders, not after.
            let resolution = sh.settings.resolution;
            let (reply, round_trip, backdrop) = std::thread::scope(|s| {
                let backdrop = s.spawn(|| backdrop_of(&params, resolution, resolution));
                let reply = worker.request(&request);
                let round_trip = lap(&mut t);
                let backdrop = backdrop.join().unwrap_or_else(|_| {
                    Err("background: the thread building it panicked".to_string())
                });
                (reply, round_trip, backdrop)
            });
            // Waiting for a backdrop that took longer than the render counts as compositing.
            ph.composite += lap(&mut t);
            let reply = match reply {
                Ok(r) => r,
                Err(failure) => {
                    // Same attempt again: the model gets another chance unless denylisted.
                    self.on_worker_failure(&model.key, &failure);
                    continue;
                }
            };
            ph.request +=
                (round_trip - reply.render_seconds - reply.load_seconds - reply.setup_seconds)
                    .max(0.0);
            if !reply.ok {
                let reason = reply.error.unwrap_or_else(|| "unknown error".into());
                if reply.error_kind.as_deref() == Some("model") {
                    self.deny(&model.key, &reason);
                    continue;
                }
                sh.stats
                    .lock()
                    .expect("stats")
                    .count_rejected("render error", reply.render_seconds);
                last_reason = reason;
                attempt += 1;
                continue;
            }
            let rgba = match image::open(&output) {
                Ok(img) => img.to_rgba8(),
                Err(e) => {
                    last_reason = format!("the worker's render could not be decoded: {e}");
                    sh.stats
                        .lock()
                        .expect("stats")
                        .count_rejected("undecodable render", reply.render_seconds);
                    attempt += 1;
                    continue;
                }
            };
            ph.decode += lap(&mut t);
            let report = validate::check_render(
                &rgba,
                sh.settings.resolution,
                &validation_for(&sh.validation, &params),
            );
            ph.validate += lap(&mut t);
            if !report.ok {
                let reason = report.reason.clone().unwrap_or_default();
                let check = report.failed_check.as_deref().unwrap_or("validation");
                sh.stats
                    .lock()
                    .expect("stats")
                    .count_rejected(check, reply.render_seconds);
                last_reason = reason;
                attempt += 1;
                continue;
            }
            let info = ModelInfo {
                source: model.source.clone(),
                key: model.key.clone(),
                name: model.name.clone(),
                license: model.license.clone(),
                split: class.split_of(&model.key).to_string(),
            };
            if let Some(dir) = &sh.opts.keep_requests {
                let path = dir.join(format!("{id}.json"));
                let json = serde_json::to_vec_pretty(&request).expect("requests serialize");
                if let Err(e) = crate::dataset::atomic::write_atomic(&path, &json) {
                    tracing::warn!("could not keep the request {}: {e}", path.display());
                }
            }
            return match self.save(&id, class, &rgba, &params, backdrop, ph) {
                Ok((path, mask, sha256)) => {
                    let mut st = sh.stats.lock().expect("stats");
                    st.render_seconds += reply.render_seconds;
                    st.load_seconds += reply.load_seconds;
                    st.setup_seconds += reply.setup_seconds;
                    st.model_reuses += reply.reused_model as usize;
                    st.material_overrides += material_override.is_some() as usize;
                    drop(st);
                    Outcome::Saved(Box::new(ManifestRecord {
                        id,
                        path,
                        mask,
                        class: class.class.clone(),
                        label: class.label,
                        model: info,
                        seed: sh.preset.seed,
                        index: job.index,
                        attempt,
                        predicted_rejections,
                        prediction,
                        material_override,
                        cycles_seed,
                        params,
                        render_seconds: reply.render_seconds,
                        validation: report,
                        sha256,
                    }))
                }
                Err(e) => Outcome::Failed(FailedImage::new(&id, class, job.index, &e)),
            };
        }
        if last_reason.is_empty() {
            last_reason = "no attempt succeeded".into();
        }
        Outcome::Failed(FailedImage::new(
            &id,
            class,
            job.index,
            &format!("gave up after {attempt} attempt(s): {last_reason}"),
        ))
    }

    /// Composites the background, writes image (and mask) atomically, returns paths and hash.
    fn save(
        &self,
        id: &str,
        class: &ClassPlan,
        rgba: &image::RgbaImage,
        params: &crate::sample::SceneParams,
        backdrop: Result<image::RgbImage, String>,
        ph: &mut OutsideRender,
    ) -> Result<(String, Option<String>, String), String> {
        let sh = self.shared;
        let mut t = Instant::now();
        let (w, h) = rgba.dimensions();
        // Validation checked the render's size, so a backdrop built ahead at the requested
        // resolution fits; build it again only if it somehow does not.
        let backdrop = match backdrop? {
            b if b.dimensions() == (w, h) => b,
            _ => backdrop_of(params, w, h)?,
        };
        let rgb = composite::over(rgba, &backdrop).map_err(|e| e.to_string())?;
        ph.composite += lap(&mut t);
        let rel = image_rel_path(&class.class, id);
        let path = sh.out.join(&rel);
        save_png_atomic(&path, &rgb).map_err(|e| format!("{}: {e}", path.display()))?;
        ph.write += lap(&mut t);
        let sha256 = crate::dataset::file_sha256(&path).map_err(|e| e.to_string())?;
        ph.hash += lap(&mut t);
        let mask = if sh.masks {
            let rel = mask_rel_path(&class.class, id);
            let p = sh.out.join(&rel);
            save_png_atomic(&p, &composite::mask(rgba))
                .map_err(|e| format!("{}: {e}", p.display()))?;
            Some(rel)
        } else {
            None
        };
        ph.write += lap(&mut t);
        Ok((rel, mask, sha256))
    }

    /// The model's normalized points, read once per run and model.
    fn geometry(
        &self,
        key: &str,
        model: &crate::scene::contract::ModelRef,
    ) -> Option<Arc<ModelGeometry>> {
        let mut cache = self.shared.geometry.lock().expect("geometry");
        cache
            .entry(key.to_string())
            .or_insert_with(|| {
                ModelGeometry::from_obj(&model.path, &model.up_axis)
                    .map_err(|e| tracing::debug!("no view prediction for {key}: {e}"))
                    .ok()
                    .map(Arc::new)
            })
            .clone()
    }

    /// Why the model's own colours must not be kept for this view (they would fail the
    /// magenta check), or None when the sampled material can be rendered as drawn.
    fn material_override(
        &self,
        key: &str,
        model: &crate::scene::contract::ModelRef,
        params: &sample::SceneParams,
    ) -> Option<String> {
        if !params.material.keep_original {
            return None;
        }
        let share = {
            let mut looks = self.shared.looks.lock().expect("looks");
            *looks.entry(key.to_string()).or_insert_with(|| {
                ModelLook::from_obj(&model.path)
                    .map_err(|e| tracing::debug!("no material look for {key}: {e}"))
                    .ok()
                    .map(|l| l.magenta_share)
            })
        }?;
        let limit = self.shared.validation.max_magenta_fraction;
        (share > limit).then(|| {
            format!(
                "{:.0}% of the model's faces have magenta own colours (validate.max_magenta_fraction {limit}): rendered with the sampled {} material",
                100.0 * share,
                params.material.family
            )
        })
    }

    fn deny(&self, key: &str, reason: &str) {
        let mut deny = self.shared.deny.lock().expect("deny");
        match deny.add(key, reason) {
            Ok(true) => tracing::warn!("model {key} is denylisted: {reason}"),
            Ok(false) => {}
            Err(e) => tracing::error!("{e}"),
        }
    }

    /// A worker that cannot even start is a setup problem, not a model problem: after two
    /// tries in a row the whole run stops with the worker's own last words.
    fn on_start_failure(&mut self, failure: &WorkerFailure) {
        self.worker = None;
        self.consecutive_start_failures += 1;
        tracing::warn!("a Blender worker failed to start: {failure}");
        if self.consecutive_start_failures >= 2 {
            *self.shared.fatal.lock().expect("fatal") = Some(failure.to_string());
        }
    }

    /// A crash or hang during a request: restart the worker and charge the model; a model that
    /// keeps taking workers down goes on the denylist.
    fn on_worker_failure(&mut self, key: &str, failure: &WorkerFailure) {
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
