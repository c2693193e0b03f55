//! `synthgen render`: preset -> plan -> worker pool -> dataset.
use super::{CliError, CliResult};
use crate::assets::{ModelCache, ShapeNetDenylist};
use crate::dataset::shard::Shard;
use crate::preset::Preset;
use crate::render::job;
use crate::render::plan::ClassPlan;
use crate::render::run::{self, RunOptions};
use crate::sample::SamplingContext;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Preset name (a file in scene_presets/) or path to a preset YAML file.
    #[arg(long)]
    pub preset: String,
    /// Output folder of the dataset (required unless --estimate).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Images per class (sets `images_per_class`).
    #[arg(long, value_parser = crate::numbers::count_u64, allow_negative_numbers = true)]
    pub per_class: Option<u64>,
    /// Comma-separated classes to render (sets `classes`).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Blender worker processes (sets `workers.count`).
    #[arg(long, value_parser = crate::numbers::count_u32, allow_negative_numbers = true)]
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
    /// Your ShapeNetCore copy (v1 or v2 layout), used by presets with `catalog: shapenet`.
    #[arg(long, env = "SYNTHGEN_SHAPENET", value_name = "ROOT")]
    pub shapenet: Option<PathBuf>,
    /// The ShapeNet index file (default: in the cache, one per ShapeNet root).
    #[arg(long, value_name = "FILE")]
    pub index: Option<PathBuf>,
    /// ShapeNet models never to render (`<model id> <reason>` lines); models this run gives up
    /// on are appended (default: denylist.txt next to the index).
    #[arg(long, value_name = "FILE")]
    pub denylist: Option<PathBuf>,
    /// Benchmark class map (a name in shapenet_index/ or a path); default: the first of
    /// s2rda49, s2rda_ms39, subvisda10 that has every class of the preset.
    #[arg(long, value_name = "NAME|FILE")]
    pub class_map: Option<String>,
    /// Refuse to render when a class has no models (instead of rendering the others).
    #[arg(long)]
    pub strict: bool,
    /// Render only part I of N of the job list (1-based), for running on many machines;
    /// join the parts with `synthgen merge`.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// Output format: `imagefolder` (default) or `webdataset` (tar shards; sets
    /// `output.format`; shard size: `--set output.shard_samples=N`, `output.shard_bytes=B`).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<crate::preset::OutputFormat>,
    /// Level weights from `synthgen fit` (or written by hand): the factors it names draw
    /// their levels with these weights; preset.yaml records the result (see docs/FIT.md).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    #[command(flatten)]
    pub estimate: EstimateArgs,
}

/// `render --estimate`: price the full dataset from a calibration render, writing nothing.
#[derive(Debug, Default, clap::Args)]
pub struct EstimateArgs {
    /// Print what rendering the preset's full dataset costs (images, core-hours, bytes per
    /// format, wall time on --nodes), measured on a small calibration render here; no --out.
    #[arg(long)]
    pub estimate: bool,
    /// Calibration images for --estimate, spread over the classes [default: 8].
    #[arg(long, value_name = "N", value_parser = crate::numbers::count_u64, allow_negative_numbers = true)]
    pub calibrate: Option<u64>,
    /// Nodes (or array tasks) the --estimate wall time is for [default: 1].
    #[arg(long, value_name = "N", value_parser = crate::numbers::count_u64, allow_negative_numbers = true)]
    pub nodes: Option<u64>,
    /// CPU cores per node for --estimate [default: this machine's].
    #[arg(long, value_name = "N", value_parser = crate::numbers::count_u64, allow_negative_numbers = true)]
    pub cores_per_node: Option<u64>,
}

impl EstimateArgs {
    /// The first estimate flag given without --estimate.
    fn stray(&self) -> Option<&'static str> {
        if self.estimate {
            return None;
        }
        [
            (self.calibrate.is_some(), "--calibrate"),
            (self.nodes.is_some(), "--nodes"),
            (self.cores_per_node.is_some(), "--cores-per-node"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

impl RenderArgs {
    fn shapenet_options(&self) -> job::ShapeNetOptions {
        job::ShapeNetOptions {
            root: self.shapenet.clone(),
            index: self.index.clone(),
            denylist: self.denylist.clone(),
            class_map: self.class_map.clone(),
            strict: self.strict,
        }
    }

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
        match self.format {
            Some(crate::preset::OutputFormat::WebDataset) => {
                o.push("output.format=webdataset".into())
            }
            Some(crate::preset::OutputFormat::ImageFolder) => {
                o.push("output.format=imagefolder".into())
            }
            None => {}
        }
        o
    }
}

/// What `render` and `train --stream` need to start rendering: the resolved preset, its class
/// plans, the sampling context and the worker options.
pub(super) struct Prepared {
    pub preset: Preset,
    pub classes: Vec<ClassPlan>,
    pub ctx: SamplingContext,
    pub opts: RunOptions,
    shapenet_denylist: Option<ShapeNetDenylist>,
}

/// Preset -> sources -> class plans -> worker options for output folder `out` (no files
/// written).
pub(super) fn prepare(args: &RenderArgs, out: &Path) -> Result<Prepared, CliError> {
    let mut preset = Preset::load(&args.preset, &args.overrides())
        .map_err(|e| CliError::Input(e.to_string()))?;
    if let Some(file) = &args.weights {
        apply_weights(&mut preset, file)?;
    }
    if let Some(warning) = crate::sample::drop_missing_builtin_photos(&mut preset) {
        tracing::warn!("{warning}");
        eprintln!("warning: {warning}");
    }
    check_shapenet_arg(&preset, args.shapenet.as_deref())?;
    let sources = job::sources(&preset, &args.shapenet_options(), &mut |block| {
        eprint!("{block}")
    })
    .map_err(job_input)?;
    let classes =
        job::build_plans(&preset, &sources.entries, &sources.classes).map_err(job_input)?;
    let ctx = SamplingContext::prepare(&preset)
        .map_err(|e| CliError::Input(format!("preset {}: {e}", preset.name)))?;
    let opts = RunOptions {
        show_progress: std::io::stderr().is_terminal(),
        keep_requests: args.keep_requests.clone(),
        shard: args.shard,
        ..RunOptions::from_preset(&preset, out, args.resume).map_err(job_input)?
    };
    Ok(Prepared {
        preset,
        classes,
        ctx,
        opts,
        shapenet_denylist: sources.shapenet_denylist,
    })
}

pub fn run(args: RenderArgs) -> CliResult {
    if let Some(flag) = args.estimate.stray() {
        return Err(CliError::Input(format!(
            "{flag} belongs to --estimate; add --estimate (price the dataset) or drop {flag}"
        )));
    }
    if args.estimate.estimate {
        return estimate(&args);
    }
    let Some(out) = args.out.clone() else {
        return Err(CliError::Input(
            "render needs --out DIR (the dataset folder), or --estimate to price the preset without rendering it".into(),
        ));
    };
    let Prepared {
        preset,
        classes,
        ctx,
        opts,
        shapenet_denylist,
    } = prepare(&args, &out)?;
    shard_file::claim(&out, args.shard, args.resume)?;
    let settings = preset.render.settings();
    let total = preset.images_per_class * classes.len() as u64;
    let shard_text = args
        .shard
        .map_or(String::new(), |s| format!(", shard {s} of the job list"));
    eprintln!(
        "rendering {} classes x {} images ({total} in all{shard_text}) at {} px, {} samples, {} worker(s) into {}",
        classes.len(),
        preset.images_per_class,
        settings.resolution,
        settings.samples,
        opts.workers,
        out.display()
    );
    let stats = match run::run(preset, classes, ctx, ModelCache::default_location(), opts) {
        Ok(s) => s,
        Err(e @ run::RunError::Setup(_)) => return Err(CliError::Input(e.to_string())),
        Err(e) => return Err(CliError::Run(e.into())),
    };
    if let Some(deny) = shapenet_denylist {
        for line in job::remember_failed_models(deny, &stats.denylisted) {
            eprintln!("{line}");
        }
    }
    print!("{}", stats.summary_text());
    println!("dataset: {}", out.display());
    if !stats.failed.is_empty() {
        return Err(CliError::Run(anyhow::anyhow!(
            "{} image(s) could not be rendered (listed in {}); fix the cause and run again with --resume",
            stats.failed.len(),
            out.join(crate::dataset::layout::FAILURES_FILE).display()
        )));
    }
    Ok(())
}

/// `render --estimate`: a calibration render in a scratch folder, then the projection.
fn estimate(args: &RenderArgs) -> CliResult {
    use crate::render::estimate::{self, Cluster, EstimateError, Inputs, Scratch};
    for (given, flag) in [
        (args.out.is_some(), "--out"),
        (args.resume, "--resume"),
        (args.shard.is_some(), "--shard"),
        (args.keep_requests.is_some(), "--keep-requests"),
    ] {
        if given {
            return Err(CliError::Input(format!(
                "--estimate renders its calibration into a temporary folder and keeps nothing; drop {flag} (or drop --estimate to render the dataset)"
            )));
        }
    }
    let scratch = Scratch::create().map_err(|e| CliError::Run(e.into()))?;
    let Prepared {
        preset,
        classes,
        ctx,
        mut opts,
        ..
    } = prepare(args, &scratch.dataset())?;
    opts.show_progress = false;
    let models = models_sentence(&preset, args.shapenet.as_deref(), classes.len());
    let cluster = Cluster {
        nodes: args.estimate.nodes.unwrap_or(1),
        cores_per_node: args
            .estimate
            .cores_per_node
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |c| c.get() as u64)),
    };
    let images = args
        .estimate
        .calibrate
        .unwrap_or(estimate::DEFAULT_CALIBRATION);
    eprintln!(
        "estimate: rendering {images} calibration image(s) of preset {} in a temporary folder",
        preset.name
    );
    let inputs = Inputs {
        preset: preset.clone(),
        classes,
        ctx,
        cache: ModelCache::default_location(),
        opts,
        models: models.clone(),
    };
    let cal = match estimate::calibrate(inputs, images, &scratch) {
        Ok(c) => c,
        Err(EstimateError::Input(m)) => return Err(CliError::Input(m)),
        Err(EstimateError::Run(e @ run::RunError::Setup(_))) => {
            return Err(CliError::Input(e.to_string()))
        }
        Err(e) => return Err(CliError::Run(e.into())),
    };
    let projection = estimate::project(&cal, &preset, cluster);
    print!("{}", estimate::report(&preset, &models, &cal, &projection));
    Ok(())
}

/// Where the calibration's models come from, in one sentence.
fn models_sentence(preset: &Preset, shapenet: Option<&Path>, with_models: usize) -> String {
    let all = preset.classes.len();
    match (preset.catalog.as_str(), shapenet) {
        ("shapenet", Some(root)) => format!(
            "ShapeNet at {} (Sweet Home 3D stand-ins where it lacks a class); {with_models} of {all} classes have models",
            root.display()
        ),
        ("shapenet", None) => format!(
            "the embedded Sweet Home 3D stand-ins, as no --shapenet (or SYNTHGEN_SHAPENET) was given; {with_models} of {all} classes have one. ShapeNet meshes differ in size and texture: pass --shapenet for figures of the real dataset"
        ),
        (catalog, _) => format!("the embedded {catalog} catalog ({with_models} of {all} classes)"),
    }
}

fn job_input(e: job::JobError) -> CliError {
    CliError::Input(e.to_string())
}

/// A `--shapenet` folder that does not exist is refused whatever the preset (a typo would
/// otherwise go unnoticed until a ShapeNet preset is rendered); one a preset without
/// `catalog: shapenet` does not use is named as ignored, in one line.
fn check_shapenet_arg(preset: &Preset, root: Option<&Path>) -> Result<(), CliError> {
    let Some(root) = root else { return Ok(()) };
    if !root.is_dir() {
        return Err(CliError::Input(format!(
            "--shapenet {}: no such folder; point it (or SYNTHGEN_SHAPENET) at your ShapeNetCore copy, or leave it out",
            root.display()
        )));
    }
    if preset.catalog != "shapenet" {
        eprintln!(
            "note: --shapenet {} is ignored: preset {} draws from the {} catalog (only presets with `catalog: shapenet` use ShapeNet)",
            root.display(),
            preset.name,
            preset.catalog
        );
    }
    Ok(())
}

/// `shard.json` in a shard's output folder: which part of the job list it holds, so that
/// `--resume` keeps to it and `synthgen merge` can check that all parts are there.
mod shard_file {
    use super::{CliError, Shard};
    use crate::dataset::merge::{read_shard, SHARD_FILE};
    use std::path::Path;

    /// Records the shard in a new folder; a resumed folder must be resumed as the same
    /// shard (or unsharded). A folder that already holds a dataset without --resume is left
    /// alone: the run refuses it.
    pub fn claim(out: &Path, shard: Option<Shard>, resume: bool) -> Result<(), CliError> {
        let existing = read_shard(out).map_err(CliError::Input)?;
        let has_dataset = out.join(crate::dataset::manifest::MANIFEST_FILE).is_file();
        if has_dataset && !resume {
            return Ok(());
        }
        if has_dataset && existing != shard {
            let was = existing.map_or("an unsharded run".to_string(), |s| format!("shard {s}"));
            let flag = existing.map_or("without --shard".to_string(), |s| {
                format!("with --shard {s}")
            });
            return Err(CliError::Input(format!(
                "{} holds {was}; resume it {flag}",
                out.display()
            )));
        }
        let Some(shard) = shard else {
            // A stale record would make `merge` take this unsharded run for a shard.
            let _ = std::fs::remove_file(out.join(SHARD_FILE));
            return Ok(());
        };
        std::fs::create_dir_all(out)?;
        let json = serde_json::to_string(&shard).expect("shard serializes");
        crate::fsio::write_atomic(&out.join(SHARD_FILE), json.as_bytes())?;
        Ok(())
    }
}

/// Rewrites the preset's fitted factors with the weights file's levels.
pub(super) fn apply_weights(preset: &mut Preset, file: &std::path::Path) -> CliResult {
    let text = std::fs::read_to_string(file).map_err(|e| {
        CliError::Input(format!(
            "cannot read the weights file {}: {e}; pass the file `synthgen fit --out` wrote",
            file.display()
        ))
    })?;
    let overlay = crate::fit::LevelWeights::parse(&text, &file.display().to_string(), preset)
        .map_err(|e| CliError::Input(e.to_string()))?;
    overlay.apply(preset);
    Ok(())
}
