//! A render run: plan the jobs, drive a pool of Blender workers, validate and composite every
//! result, and write the dataset. Everything here is deterministic per (seed, class, index):
//! worker count, order and crashes change timings, never images or parameters.
use crate::assets::ModelCache;
use crate::composite;
use crate::dataset::atomic::{remove_stale_temps, save_png_atomic};
use crate::dataset::layout::{self, image_rel_path, mask_rel_path};
use crate::dataset::manifest::{read_manifest, ManifestWriter, MANIFEST_FILE};
use crate::dataset::{ManifestRecord, ModelInfo};
use crate::preset::Preset;
use crate::render::denylist::Denylist;
use crate::render::plan::{self, pick_model, ClassPlan, ImageJob};
use crate::render::process::{WorkerFailure, WorkerProcess, WorkerSpec};
use crate::render::protocol::{RenderSettings, WorkerRequest};
use crate::render::stats::{FailedImage, RunStats};
use crate::sample::{self, SamplingContext};
use crate::validate::{self, ValidationConfig};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything a run needs besides the preset.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub out: PathBuf,
    pub workers: usize,
    pub resume: bool,
    pub worker: WorkerSpec,
    /// Requests served by a worker before it is replaced by a fresh process.
    pub max_jobs_per_worker: u64,
    /// Crashes or hangs of one model before it goes on the denylist.
    pub max_model_failures: u32,
    pub show_progress: bool,
    /// Save the worker request of every saved image as `<dir>/<id>.json`, so one image can be
    /// replayed in Blender alone (`python -m synthgen_blender <file>`), e.g. by the benchmark.
    pub keep_requests: Option<PathBuf>,
    /// Render only this shard's part of the job list (`--shard I/N`).
    pub shard: Option<plan::Shard>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Setup(String),
    #[error("cannot write to the output folder {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] crate::dataset::manifest::ManifestError),
    #[error(transparent)]
    Denylist(#[from] crate::render::denylist::DenylistError),
    #[error("the Blender workers cannot start: {0}. Run `make setup` (it installs the venv with bpy), or set SYNTHGEN_VENV to a venv that has bpy==5.0.1")]
    WorkersBroken(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// State shared by the worker driver threads.
struct Shared {
    preset: Preset,
    ctx: SamplingContext,
    classes: Vec<ClassPlan>,
    settings: RenderSettings,
    validation: ValidationConfig,
    cache: ModelCache,
    out: PathBuf,
    masks: bool,
    opts: RunOptions,
    queue: Mutex<VecDeque<Vec<ImageJob>>>,
    deny: Mutex<Denylist>,
    model_failures: Mutex<HashMap<String, u32>>,
    stats: Mutex<RunStats>,
    /// Set when workers cannot start at all: every driver stops.
    fatal: Mutex<Option<String>>,
}

/// Runs the whole render and returns the run's statistics.
pub fn run(
    preset: Preset,
    classes: Vec<ClassPlan>,
    ctx: SamplingContext,
    cache: ModelCache,
    opts: RunOptions,
) -> Result<RunStats, RunError> {
    let out = opts.out.clone();
    std::fs::create_dir_all(&out).map_err(io_err(&out))?;
    let manifest_path = out.join(MANIFEST_FILE);
    let preset_yaml = preset.to_yaml();
    check_output_folder(&out, &manifest_path, &preset_yaml, opts.resume)?;
    remove_stale_temps(&out);

    let class_names: Vec<String> = classes.iter().map(|c| c.class.clone()).collect();
    crate::dataset::atomic::write_atomic(&out.join(layout::PRESET_FILE), preset_yaml.as_bytes())
        .map_err(io_err(&out))?;
    layout::write_classes(&out, &class_names).map_err(io_err(&out))?;

    let existing = read_manifest(&manifest_path)?;
    let done: HashSet<String> = existing
        .iter()
        .filter(|r| out.join(&r.path).is_file())
        .map(|r| r.id.clone())
        .collect();
    let deny = Denylist::open(&out.join(layout::DENYLIST_FILE))?;

    let per_class = preset.images_per_class;
    let jobs: Vec<ImageJob> = (0..classes.len())
        .flat_map(|c| (0..per_class).map(move |index| ImageJob { class: c, index }))
        .filter(|j| {
            opts.shard
                .is_none_or(|s| s.owns(classes[j.class].label, j.index))
        })
        .filter(|j| !done.contains(&plan::image_id(&classes[j.class].class, j.index)))
        .collect();
    let total_jobs = jobs.len();
    let workers = opts.workers.max(1).min(total_jobs.max(1));
    // Small batches keep all workers busy; big enough that a worker reuses its loaded model.
    let max_batch = (total_jobs / (workers * 4)).clamp(1, 32);
    let batches = plan::batch_jobs(&classes, jobs, &deny, max_batch);

    let settings = preset.render.settings();
    let validation = preset.validation_config();
    let masks = preset.output.masks;
    let mut stats = RunStats::new(&class_names);
    stats.already_done = done.len();
    let shared = Arc::new(Shared {
        preset,
        ctx,
        classes,
        settings,
        validation,
        cache,
        out: out.clone(),
        masks,
        opts: opts.clone(),
        queue: Mutex::new(batches.into()),
        deny: Mutex::new(deny),
        model_failures: Mutex::new(HashMap::new()),
        stats: Mutex::new(stats),
        fatal: Mutex::new(None),
    });

    let progress = crate::progress::bar(total_jobs as u64, opts.show_progress, "images");
    let (tx, rx) = mpsc::channel::<Outcome>();
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let shared = Arc::clone(&shared);
            let tx = tx.clone();
            std::thread::spawn(move || drive_worker(w, &shared, &tx))
        })
        .collect();
    drop(tx);

    let mut writer = ManifestWriter::open(&manifest_path)?;
    let mut records = existing;
    records.retain(|r| done.contains(&r.id));
    let mut failures: Vec<FailedImage> = Vec::new();
    for outcome in rx {
        match outcome {
            Outcome::Saved(rec) => {
                writer.append(&rec)?;
                shared.stats.lock().expect("stats").record_saved(&rec);
                records.push(*rec);
            }
            Outcome::Failed(f) => failures.push(f),
        }
        progress.inc(1);
    }
    for h in handles {
        let _ = h.join();
    }
    progress.finish_and_clear();
    if let Some(msg) = shared.fatal.lock().expect("fatal").take() {
        return Err(RunError::WorkersBroken(msg));
    }

    layout::finalize_lists(&out, &mut records).map_err(io_err(&out))?;
    write_failures(&out, &failures)?;
    let mut stats = std::mem::replace(
        &mut *shared.stats.lock().expect("stats"),
        RunStats::new(&[]),
    );
    stats.failed = failures;
    stats.wall_seconds = started.elapsed().as_secs_f64();
    stats.workers = workers;
    stats.images_total = records.len();
    stats.denylisted = shared.deny.lock().expect("deny").entries().collect();
    let summary = serde_json::to_string_pretty(&stats).expect("stats serialize");
    crate::dataset::atomic::write_atomic(&out.join(layout::SUMMARY_FILE), summary.as_bytes())
        .map_err(io_err(&out))?;
    let _ = std::fs::remove_dir_all(out.join(layout::WORK_DIR).join("render"));
    Ok(stats)
}

/// A fresh run refuses a folder that already holds a dataset; `--resume` refuses one made
/// with a different preset, since mixing would break the determinism promise.
fn check_output_folder(
    out: &Path,
    manifest: &Path,
    preset_yaml: &str,
    resume: bool,
) -> Result<(), RunError> {
    let has_manifest = manifest.is_file();
    let stored = std::fs::read_to_string(out.join(layout::PRESET_FILE)).ok();
    if !resume && has_manifest {
        return Err(RunError::Setup(format!(
            "{} already holds a dataset; add --resume to finish it, or choose a new --out",
            out.display()
        )));
    }
    if resume {
        if let Some(stored) = stored {
            if stored != preset_yaml {
                return Err(RunError::Setup(format!(
                    "{} was rendered with a different preset (see its preset.yaml); --resume needs the same preset, --set values and flags, or choose a new --out",
                    out.display()
                )));
            }
        }
    }
    Ok(())
}

fn write_failures(out: &Path, failures: &[FailedImage]) -> Result<(), RunError> {
    let path = out.join(layout::FAILURES_FILE);
    if failures.is_empty() {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    let text: String = failures
        .iter()
        .map(|f| serde_json::to_string(f).expect("serializes") + "\n")
        .collect();
    crate::dataset::atomic::write_atomic(&path, text.as_bytes()).map_err(io_err(out))
}

enum Outcome {
    Saved(Box<ManifestRecord>),
    Failed(FailedImage),
}

/// One driver thread: owns one worker process at a time and takes batches from the queue.
fn drive_worker(slot: usize, shared: &Shared, tx: &mpsc::Sender<Outcome>) {
    let mut spec = shared.opts.worker.clone();
    spec.work_dir = shared
        .out
        .join(layout::WORK_DIR)
        .join("render")
        .join(format!("worker-{slot}"));
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
        let Some(batch) = shared.queue.lock().expect("queue").pop_front() else {
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
            self.worker = Some(WorkerProcess::spawn(&self.spec)?);
            self.consecutive_start_failures = 0;
        }
        Ok(self.worker.as_mut().expect("just set"))
    }

    /// Renders one image, moving through attempts until one passes validation.
    fn render_image(&mut self, job: ImageJob) -> Outcome {
        let sh = self.shared;
        let class = &sh.classes[job.class];
        let id = plan::image_id(&class.class, job.index);
        let max_attempts = sh.preset.validate.max_attempts;
        let mut attempt: u32 = 0;
        let mut last_reason = String::new();
        while attempt < max_attempts {
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
            let params = match sample::sample_scene(
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
            let cycles_seed =
                sample::sample_seed_for_cycles(sh.preset.seed, &class.class, job.index, attempt);
            let output = self.spec.work_dir.join("render.png");
            let _ = std::fs::remove_file(&output);
            let request = WorkerRequest::Render {
                id: id.clone(),
                model: model_ref,
                params: Box::new(params.clone()),
                settings: sh.settings.clone(),
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
            let reply = match worker.request(&request) {
                Ok(r) => r,
                Err(failure) => {
                    // Same attempt again: the model gets another chance unless denylisted.
                    self.on_worker_failure(&model.key, &failure);
                    continue;
                }
            };
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
            let report = validate::check_render(&rgba, sh.settings.resolution, &sh.validation);
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
            return match self.save(&id, class, &rgba, &params) {
                Ok((path, mask, sha256)) => {
                    let mut st = sh.stats.lock().expect("stats");
                    st.render_seconds += reply.render_seconds;
                    st.load_seconds += reply.load_seconds;
                    st.setup_seconds += reply.setup_seconds;
                    st.model_reuses += reply.reused_model as usize;
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
    ) -> Result<(String, Option<String>, String), String> {
        let sh = self.shared;
        let (w, h) = rgba.dimensions();
        let backdrop = composite::background(
            &params.background,
            &params.light.world,
            &params.camera,
            w,
            h,
        )
        .map_err(|e| format!("background: {e}"))?;
        let rgb = composite::over(rgba, &backdrop).map_err(|e| e.to_string())?;
        let rel = image_rel_path(&class.class, id);
        let path = sh.out.join(&rel);
        save_png_atomic(&path, &rgb).map_err(|e| format!("{}: {e}", path.display()))?;
        let sha256 = crate::dataset::file_sha256(&path).map_err(|e| e.to_string())?;
        let mask = if sh.masks {
            let rel = mask_rel_path(&class.class, id);
            let p = sh.out.join(&rel);
            save_png_atomic(&p, &composite::mask(rgba))
                .map_err(|e| format!("{}: {e}", p.display()))?;
            Some(rel)
        } else {
            None
        };
        Ok((rel, mask, sha256))
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

/// Reply timeout from the render settings: generous, since the first request also imports bpy.
pub fn default_reply_timeout(settings: &RenderSettings) -> Duration {
    let pixels = (settings.resolution as f64).powi(2);
    let estimate = pixels * settings.samples as f64 * 2e-6; // ~25x the measured CPU cost
    Duration::from_secs_f64(120.0 + estimate)
}
