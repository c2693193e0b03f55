//! `synthgen render`: preset -> plan -> worker pool -> dataset.
use super::{CliError, CliResult};
use crate::assets::{split_models, Catalog, ClassMap, ModelCache, ModelEntry};
use crate::dataset::layout::label_order;
use crate::preset::{Preset, SplitUse};
use crate::render::plan::{order_models, ClassPlan};
use crate::render::process::WorkerSpec;
use crate::render::run::{self, RunOptions};
use crate::sample::SamplingContext;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Preset name (a file in scene_presets/) or path to a preset YAML file.
    #[arg(long)]
    pub preset: String,
    /// Output folder of the dataset.
    #[arg(long)]
    pub out: PathBuf,
    /// Images per class (sets `images_per_class`).
    #[arg(long)]
    pub per_class: Option<u64>,
    /// Comma-separated classes to render (sets `classes`).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Blender worker processes (sets `workers.count`).
    #[arg(long)]
    pub workers: Option<u32>,
    /// Run seed (sets `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Finish an interrupted run in --out (same preset and flags required).
    #[arg(long)]
    pub resume: bool,
    /// Override a preset field by its path, e.g. --set render.resolution=64 (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Keep each saved image's Blender request as <DIR>/<id>.json, to replay one image alone
    /// with `.venv/bin/python -m synthgen_blender <file>` (debugging, benchmarks).
    #[arg(long, value_name = "DIR")]
    pub keep_requests: Option<PathBuf>,
}

impl RenderArgs {
    /// The convenience flags are preset overrides, so the resolved preset records them.
    fn overrides(&self) -> Vec<String> {
        let mut o = self.set.clone();
        if let Some(n) = self.per_class {
            o.push(format!("images_per_class={n}"));
        }
        if let Some(c) = &self.classes {
            o.push(format!("classes=[{}]", c.join(", ")));
        }
        if let Some(w) = self.workers {
            o.push(format!("workers.count={w}"));
        }
        if let Some(s) = self.seed {
            o.push(format!("seed={s}"));
        }
        o
    }
}

pub fn run(args: RenderArgs) -> CliResult {
    let preset = Preset::load(&args.preset, &args.overrides())
        .map_err(|e| CliError::Input(e.to_string()))?;
    let classes = plan_classes(&preset)?;
    let ctx = SamplingContext::prepare(&preset)
        .map_err(|e| CliError::Input(format!("preset {}: {e}", preset.name)))?;
    let settings = preset.render.settings();
    let opts = RunOptions {
        out: args.out.clone(),
        workers: preset.workers.count as usize,
        resume: args.resume,
        worker: WorkerSpec {
            exe: std::env::current_exe()?,
            scripts_dir: crate::paths::blender_scripts_dir(),
            site_packages: crate::paths::venv_site_packages(),
            work_dir: PathBuf::new(), // set per worker slot
            reply_timeout: run::default_reply_timeout(&settings),
        },
        max_jobs_per_worker: u64::from(preset.workers.max_jobs_per_worker.max(1)),
        max_model_failures: preset.workers.max_model_failures.max(1),
        show_progress: std::io::stderr().is_terminal(),
        keep_requests: args.keep_requests.clone(),
    };
    let total = preset.images_per_class * classes.len() as u64;
    eprintln!(
        "rendering {} classes x {} images ({total} in all) at {} px, {} samples, {} worker(s) into {}",
        classes.len(),
        preset.images_per_class,
        settings.resolution,
        settings.samples,
        opts.workers,
        args.out.display()
    );
    let stats = match run::run(preset, classes, ctx, ModelCache::default_location(), opts) {
        Ok(s) => s,
        Err(e @ run::RunError::Setup(_)) => return Err(CliError::Input(e.to_string())),
        Err(e) => return Err(CliError::Run(e.into())),
    };
    print!("{}", stats.summary_text());
    println!("dataset: {}", args.out.display());
    if !stats.failed.is_empty() {
        return Err(CliError::Run(anyhow::anyhow!(
            "{} image(s) could not be rendered (listed in {}); fix the cause and run again with --resume",
            stats.failed.len(),
            args.out.join(crate::dataset::layout::FAILURES_FILE).display()
        )));
    }
    Ok(())
}

/// Classes in label order, each with its split models in a seeded order.
fn plan_classes(preset: &Preset) -> Result<Vec<ClassPlan>, CliError> {
    if preset.catalog != "sweethome3d" {
        return Err(CliError::Input(format!(
            "preset {}: catalog: \"{}\" is not supported yet; use catalog: sweethome3d (the embedded default)",
            preset.name, preset.catalog
        )));
    }
    if preset.classes.is_empty() {
        return Err(CliError::Input(format!(
            "preset {}: classes: the list is empty; name the classes to render, e.g. --classes chair,table",
            preset.name
        )));
    }
    let input = |e: crate::assets::AssetError| CliError::Input(e.to_string());
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
        return Err(CliError::Input(format!(
            "preset {}: classes: no models for {} in the Sweet Home 3D catalog; it covers: {}. Fix `classes:` or --classes",
            preset.name,
            unknown.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
            covered.join(", ")
        )));
    }
    let mut plans = Vec::new();
    for (label, class) in label_order(&preset.classes).into_iter().enumerate() {
        let split = split_models(
            catalog.entries(),
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
            return Err(CliError::Input(format!(
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
