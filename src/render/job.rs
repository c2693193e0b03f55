//! One dataset render as a library call: preset -> models (embedded catalog) -> plans ->
//! worker pool. `synthgen render` and `synthgen study` both go through here; the ShapeNet
//! benchmark sources stay with the CLI for now (they need its ShapeNet flags).
use crate::assets::{split_models, Catalog, ClassMap, ModelCache, ModelEntry};
use crate::dataset::layout::label_order;
use crate::preset::{Preset, SplitUse};
use crate::render::plan::{order_models, ClassPlan};
use crate::render::process::WorkerSpec;
use crate::render::run::{self, RunError, RunOptions};
use crate::render::stats::RunStats;
use crate::sample::SamplingContext;
use std::path::{Path, PathBuf};

/// Why a dataset could not be rendered: the user's input (exit 2) or the run itself.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{0}")]
    Failed(String),
}

impl JobError {
    pub fn is_input_error(&self) -> bool {
        matches!(self, JobError::Input(_) | JobError::Run(RunError::Setup(_)))
    }
}

/// The models a run may draw from, each with its class, and the classes to render (label
/// order is alphabetical over these).
pub struct Sources {
    pub entries: Vec<ModelEntry>,
    pub classes: Vec<String>,
}

fn input(e: crate::assets::AssetError) -> JobError {
    JobError::Input(e.to_string())
}

pub fn check_classes_listed(preset: &Preset) -> Result<(), JobError> {
    if preset.classes.is_empty() {
        return Err(JobError::Input(format!(
            "preset {}: classes: the list is empty; name the classes to render, e.g. --classes chair,table",
            preset.name
        )));
    }
    Ok(())
}

/// `catalog: sweethome3d`: the embedded catalog alone; every class must have models.
pub fn sweethome3d_sources(preset: &Preset) -> Result<Sources, JobError> {
    check_classes_listed(preset)?;
    let mut catalog = Catalog::load_default().map_err(input)?;
    let map = ClassMap::load_default_sweethome3d().map_err(input)?;
    catalog.apply_class_map(&map);
    for s in catalog.skipped() {
        tracing::debug!("catalog skipped {} ({}): {}", s.label, s.origin, s.reason);
    }
    let counts = catalog.class_counts();
    let unknown: Vec<&String> = preset
        .classes
        .iter()
        .filter(|c| counts.get(c.as_str()).copied().unwrap_or(0) == 0)
        .collect();
    if !unknown.is_empty() {
        let covered: Vec<String> = counts.iter().map(|(c, n)| format!("{c} ({n})")).collect();
        return Err(JobError::Input(format!(
            "preset {}: classes: no models for {} in the Sweet Home 3D catalog; it covers: {}. Fix `classes:` or --classes",
            preset.name,
            unknown.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
            covered.join(", ")
        )));
    }
    Ok(Sources {
        entries: catalog.entries().to_vec(),
        classes: label_order(&preset.classes),
    })
}

/// Classes in label order, each with its split models in a seeded order.
pub fn build_plans(
    preset: &Preset,
    entries: &[ModelEntry],
    classes: &[String],
) -> Result<Vec<ClassPlan>, JobError> {
    let mut plans = Vec::new();
    for (label, class) in label_order(classes).into_iter().enumerate() {
        let split = split_models(
            entries,
            &class,
            preset.split.test_fraction,
            preset.split.seed,
        )
        .map_err(input)?;
        let test_keys = split.test.iter().map(|m| m.key.clone()).collect();
        let (models, side): (Vec<&ModelEntry>, &str) = match preset.split.subset {
            SplitUse::Train => (split.train, "train"),
            SplitUse::Test => (split.test, "test"),
            SplitUse::All => (split.train.into_iter().chain(split.test).collect(), "all"),
        };
        if models.is_empty() {
            return Err(JobError::Input(format!(
                "preset {}: split.use: class {class} has no models on the {side} side of the split; use split.use: all or lower split.test_fraction",
                preset.name
            )));
        }
        let models = order_models(models.into_iter().cloned().collect(), preset.seed, &class);
        plans.push(ClassPlan {
            class,
            label,
            models,
            test_keys,
        });
    }
    Ok(plans)
}

/// The worker process to start: this executable's hidden `__worker` subcommand.
pub fn worker_spec(preset: &Preset) -> Result<WorkerSpec, JobError> {
    let exe = std::env::current_exe()
        .map_err(|e| JobError::Input(format!("cannot find the synthgen executable: {e}")))?;
    Ok(WorkerSpec {
        exe,
        scripts_dir: crate::paths::blender_scripts_dir(),
        site_packages: crate::paths::venv_site_packages(),
        work_dir: PathBuf::new(), // set per worker slot
        reply_timeout: run::default_reply_timeout(&preset.render.settings()),
    })
}

/// Renders a `catalog: sweethome3d` preset into `out` (resuming what is there when `resume`),
/// in this process's worker pool. Images that fail every attempt are an error.
pub fn render_embedded(
    preset: Preset,
    out: &Path,
    resume: bool,
    show_progress: bool,
) -> Result<RunStats, JobError> {
    if preset.catalog != "sweethome3d" {
        return Err(JobError::Input(format!(
            "preset {}: catalog: {} datasets are rendered by `synthgen render` only; a study renders the embedded catalog (catalog: sweethome3d)",
            preset.name, preset.catalog
        )));
    }
    let sources = sweethome3d_sources(&preset)?;
    let classes = build_plans(&preset, &sources.entries, &sources.classes)?;
    let ctx = SamplingContext::prepare(&preset)
        .map_err(|e| JobError::Input(format!("preset {}: {e}", preset.name)))?;
    let opts = RunOptions {
        out: out.to_path_buf(),
        workers: preset.workers.count as usize,
        resume,
        worker: worker_spec(&preset)?,
        max_jobs_per_worker: u64::from(preset.workers.max_jobs_per_worker.max(1)),
        max_model_failures: preset.workers.max_model_failures.max(1),
        show_progress,
        keep_requests: None,
        shard: None,
    };
    let stats = run::run(preset, classes, ctx, ModelCache::default_location(), opts)?;
    if !stats.failed.is_empty() {
        return Err(JobError::Failed(format!(
            "{} image(s) could not be rendered (listed in {}); fix the cause and run again with --resume",
            stats.failed.len(),
            out.join(crate::dataset::layout::FAILURES_FILE).display()
        )));
    }
    Ok(stats)
}
