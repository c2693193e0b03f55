//! A render run: plan the jobs, drive a pool of Blender workers, validate and composite every
//! result, and write the dataset. Everything here is deterministic per (seed, class, index):
//! worker count, order and crashes change timings, never images or parameters.
use crate::assets::geometry::ModelGeometry;
use crate::assets::ModelCache;
use crate::dataset::layout;
use crate::dataset::manifest::{read_manifest, ManifestWriter, MANIFEST_FILE};
use crate::dataset::webdataset::assemble::{Assembler, PositionOrder};
use crate::dataset::webdataset::{ShardLimits, ShardNaming, INDEX_FILE};
use crate::fsio::remove_stale_temps;
use crate::preset::{OutputFormat, Preset};
use crate::render::denylist::Denylist;
use crate::render::driver::{drive_worker, Outcome};
use crate::render::plan::{self, ClassPlan, ImageJob};
use crate::render::process::WorkerSpec;
use crate::render::stats::{FailedImage, RunStats};
use crate::sample::SamplingContext;
use crate::scene::contract::RenderSettings;
use crate::validate::ValidationConfig;
use std::collections::{HashMap, HashSet};
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
    pub shard: Option<crate::dataset::shard::Shard>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Setup(String),
    // `cause`, not `source`: the message names it once (a source would be printed again).
    #[error("cannot write to the output folder {path}: {cause}; free space there (or make it writable) and run again with --resume: what was written so far is kept")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] crate::dataset::manifest::ManifestError),
    #[error(transparent)]
    Denylist(#[from] crate::render::denylist::DenylistError),
    #[error(transparent)]
    Shards(#[from] crate::dataset::webdataset::ShardError),
    #[error("the Blender workers cannot start: {0}. Run `make setup` (it installs the venv with bpy), or set SYNTHGEN_VENV to a venv that has bpy==5.0.1")]
    WorkersBroken(String),
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |cause| RunError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// State shared by the worker driver threads.
pub(super) struct Shared {
    pub(super) preset: Preset,
    pub(super) ctx: SamplingContext,
    pub(super) classes: Vec<ClassPlan>,
    pub(super) settings: RenderSettings,
    pub(super) validation: ValidationConfig,
    pub(super) cache: ModelCache,
    pub(super) out: PathBuf,
    /// Where images and masks are saved: `out` for an ImageFolder, the staging folder
    /// (`out/.synthgen/staging`) when they go into WebDataset shards.
    pub(super) image_root: PathBuf,
    pub(super) masks: bool,
    pub(super) opts: RunOptions,
    pub(super) deny: Mutex<Denylist>,
    pub(super) model_failures: Mutex<HashMap<String, u32>>,
    pub(super) stats: Mutex<RunStats>,
    /// Set when workers cannot start at all: every driver stops.
    pub(super) fatal: Mutex<Option<String>>,
    /// Model key -> its normalized points for view prediction (None: unreadable, so its
    /// views are rendered unpredicted and Blender has the last word).
    pub(super) geometry: Mutex<HashMap<String, Option<Arc<ModelGeometry>>>>,
    /// Model key -> the magenta share of its own materials (None: unreadable).
    pub(super) looks: Mutex<HashMap<String, Option<f64>>>,
    /// The first worker that starts says which GPUs Cycles sees (once per run).
    pub(super) devices_reported: std::sync::Once,
}

/// What `Shared` starts from; the render settings, validation thresholds and mask choice come
/// from the preset, the failure and geometry tables start empty.
pub(super) struct SharedParts {
    pub preset: Preset,
    pub ctx: SamplingContext,
    pub classes: Vec<ClassPlan>,
    pub cache: ModelCache,
    pub opts: RunOptions,
    pub deny: Denylist,
    pub stats: RunStats,
}

impl Shared {
    pub(super) fn new(p: SharedParts) -> Self {
        Shared {
            settings: p.preset.render.settings(),
            validation: p.preset.validation_config(),
            masks: p.preset.output.masks,
            out: p.opts.out.clone(),
            image_root: match p.preset.output.format {
                OutputFormat::ImageFolder => p.opts.out.clone(),
                OutputFormat::WebDataset => staging_dir(&p.opts.out),
            },
            preset: p.preset,
            ctx: p.ctx,
            classes: p.classes,
            cache: p.cache,
            opts: p.opts,
            deny: Mutex::new(p.deny),
            model_failures: Mutex::new(HashMap::new()),
            stats: Mutex::new(p.stats),
            fatal: Mutex::new(None),
            geometry: Mutex::new(HashMap::new()),
            looks: Mutex::new(HashMap::new()),
            devices_reported: std::sync::Once::new(),
        }
    }
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
    let class_names: Vec<String> = classes.iter().map(|c| c.class.clone()).collect();
    let manifest_path = prepare_output(&out, &preset, &class_names, opts.resume)?;

    let existing = read_manifest(&manifest_path)?;
    let mut assembler = match preset.output.format {
        OutputFormat::ImageFolder => None,
        OutputFormat::WebDataset => Some(open_assembler(&preset, &classes, &opts, &existing)?),
    };
    let done: HashSet<String> = match &mut assembler {
        Some((_, done)) => std::mem::take(done),
        None => existing
            .iter()
            .filter(|r| out.join(&r.path).is_file())
            .map(|r| r.id.clone())
            .collect(),
    };
    let mut assembler = assembler.map(|(a, _)| a);
    let deny = Denylist::open(&out.join(layout::DENYLIST_FILE))?;

    let jobs = pending_jobs(&classes, preset.images_per_class, opts.shard, &done);
    let total_jobs = jobs.len();
    let workers = opts.workers.max(1).min(total_jobs.max(1));
    // Small batches keep all workers busy; big enough that a worker reuses its loaded model.
    let max_batch = (total_jobs / (workers * 4)).clamp(1, 32);
    let batches = plan::batch_jobs(&classes, jobs, &deny, max_batch);
    let queue = Arc::new(Mutex::new(plan::BatchQueue::new(&classes, batches, &deny)));

    let mut stats = RunStats::new(&class_names);
    stats.already_done = done.len();
    let shared = Arc::new(Shared::new(SharedParts {
        preset,
        ctx,
        classes,
        cache,
        opts: opts.clone(),
        deny,
        stats,
    }));

    let progress = crate::progress::bar(total_jobs as u64, opts.show_progress, "images");
    let (tx, rx) = mpsc::channel::<Outcome>();
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let shared = Arc::clone(&shared);
            let tx = tx.clone();
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                let next = || queue.lock().expect("queue").take(w);
                drive_worker(w, &shared, &tx, &next)
            })
        })
        .collect();
    drop(tx);

    let mut records = existing;
    records.retain(|r| done.contains(&r.id));
    let mut writer = ManifestWriter::open(&manifest_path)?;
    let failures = record_outcomes(
        rx,
        &shared,
        &mut writer,
        assembler.as_mut(),
        &mut records,
        &progress,
    )?;
    for h in handles {
        let _ = h.join();
    }
    progress.finish_and_clear();
    let images_total = records.len();
    if let Some(msg) = shared.fatal.lock().expect("fatal").take() {
        return Err(RunError::WorkersBroken(msg));
    }
    finish_outputs(&out, assembler, records, &failures)?;

    let mut stats = std::mem::replace(
        &mut *shared.stats.lock().expect("stats"),
        RunStats::new(&[]),
    );
    stats.failed = failures;
    stats.wall_seconds = started.elapsed().as_secs_f64();
    stats.workers = workers;
    stats.images_total = images_total;
    stats.denylisted = shared.deny.lock().expect("deny").entries().collect();
    let summary = serde_json::to_string_pretty(&stats).expect("stats serialize");
    crate::fsio::write_atomic(&out.join(layout::SUMMARY_FILE), summary.as_bytes())
        .map_err(io_err(&out))?;
    let _ = std::fs::remove_dir_all(out.join(layout::WORK_DIR).join("render"));
    Ok(stats)
}

/// Creates the output folder (or checks that a `--resume` may continue it), clears stale
/// temporary files and writes the preset and the class list; returns the manifest's path.
fn prepare_output(
    out: &Path,
    preset: &Preset,
    class_names: &[String],
    resume: bool,
) -> Result<PathBuf, RunError> {
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let manifest_path = out.join(MANIFEST_FILE);
    let preset_yaml = preset.to_yaml();
    check_output_folder(out, &manifest_path, &preset_yaml, resume)?;
    remove_stale_temps(out);
    crate::fsio::write_atomic(&out.join(layout::PRESET_FILE), preset_yaml.as_bytes())
        .map_err(io_err(out))?;
    layout::write_classes(out, class_names).map_err(io_err(out))?;
    Ok(manifest_path)
}

/// The jobs of this run: every (class, index) of this shard that is not done yet.
fn pending_jobs(
    classes: &[ClassPlan],
    per_class: u64,
    shard: Option<crate::dataset::shard::Shard>,
    done: &HashSet<String>,
) -> Vec<ImageJob> {
    (0..classes.len())
        .flat_map(|c| (0..per_class).map(move |index| ImageJob { class: c, index }))
        .filter(|j| shard.is_none_or(|s| s.owns(classes[j.class].label, j.index)))
        .filter(|j| {
            !done.contains(&crate::dataset::shard::image_id(
                &classes[j.class].class,
                j.index,
            ))
        })
        .collect()
}

/// Records the workers' outcomes as they arrive (manifest line, statistics, the shard
/// assembler) until every worker has hung up; returns the failed images.
fn record_outcomes(
    rx: mpsc::Receiver<Outcome>,
    shared: &Shared,
    writer: &mut ManifestWriter,
    mut assembler: Option<&mut Assembler>,
    records: &mut Vec<crate::dataset::ManifestRecord>,
    progress: &indicatif::ProgressBar,
) -> Result<Vec<FailedImage>, RunError> {
    let mut failures: Vec<FailedImage> = Vec::new();
    for outcome in rx {
        match outcome {
            Outcome::Saved(rec) => {
                writer.append(&rec)?;
                shared.stats.lock().expect("stats").record_saved(&rec);
                if let Some(a) = assembler.as_deref_mut() {
                    a.offer((*rec).clone())?;
                }
                records.push(*rec);
            }
            Outcome::Failed(f) => {
                if let Some(a) = assembler.as_deref_mut() {
                    if let Some(c) = shared.classes.iter().find(|c| c.class == f.class) {
                        a.fail(c.label, f.index)?;
                    }
                }
                failures.push(f)
            }
        }
        progress.inc(1);
    }
    Ok(failures)
}

/// Writes the dataset's lists (an image folder) or the last shards, the final manifest and
/// the index (WebDataset), and the failures.
fn finish_outputs(
    out: &Path,
    assembler: Option<Assembler>,
    mut records: Vec<crate::dataset::ManifestRecord>,
    failures: &[FailedImage],
) -> Result<(), RunError> {
    match assembler {
        None => layout::finalize_lists(out, &mut records).map_err(io_err(out))?,
        Some(mut a) => {
            let index = a.finish()?;
            let mut records: Vec<_> = records.into_iter().map(|r| a.final_record(r)).collect();
            layout::finalize_manifest(out, &mut records).map_err(io_err(out))?;
            index.write(&out.join(INDEX_FILE))?;
        }
    }
    write_failures(out, failures)
}

/// Images of a WebDataset render wait here until their shard is written.
pub fn staging_dir(out: &Path) -> PathBuf {
    out.join(layout::WORK_DIR).join("staging")
}

/// The shard assembler of a WebDataset run, with the ids already done.
pub(super) fn open_assembler(
    preset: &Preset,
    classes: &[ClassPlan],
    opts: &RunOptions,
    existing: &[crate::dataset::ManifestRecord],
) -> Result<(Assembler, HashSet<String>), RunError> {
    let prefix = preset
        .output
        .shard_name
        .clone()
        .unwrap_or_else(|| preset.name.replace(['.', '/', '\\'], "_"));
    let naming = match opts.shard {
        None => ShardNaming::single(&prefix),
        Some(s) => ShardNaming {
            prefix,
            first: u64::from(s.index - 1),
            step: u64::from(s.count),
        },
    };
    let limits = ShardLimits {
        max_samples: preset.output.shard_samples,
        max_bytes: preset.output.shard_bytes,
    };
    let order = PositionOrder {
        classes: classes.len(),
        per_class: preset.images_per_class,
        owner: opts.shard,
    };
    Ok(Assembler::open(
        &opts.out,
        &staging_dir(&opts.out),
        naming,
        limits,
        order,
        existing,
    )?)
}

/// A fresh run refuses a folder that already holds a dataset; `--resume` refuses one made
/// with a different preset, since mixing would break the determinism promise.
pub(super) fn check_output_folder(
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

pub(super) fn write_failures(out: &Path, failures: &[FailedImage]) -> Result<(), RunError> {
    let path = out.join(layout::FAILURES_FILE);
    if failures.is_empty() {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    let text: String = failures
        .iter()
        .map(|f| serde_json::to_string(f).expect("serializes") + "\n")
        .collect();
    crate::fsio::write_atomic(&path, text.as_bytes()).map_err(io_err(out))
}

/// Reply timeout from the render settings: generous, since the first request also imports bpy.
pub fn default_reply_timeout(settings: &RenderSettings) -> Duration {
    let pixels = (settings.resolution as f64).powi(2);
    let estimate = pixels * settings.samples as f64 * 2e-6; // ~25x the measured CPU cost
    Duration::from_secs_f64(120.0 + estimate)
}
