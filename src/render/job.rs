//! One dataset render as a library call: preset -> models (embedded catalog) -> plans ->
//! worker pool. `synthgen render` and `synthgen study` both go through here; the ShapeNet
//! benchmark sources stay with the CLI for now (they need its ShapeNet flags).
use crate::assets::shapenet;
use crate::assets::{
    split_models, BenchmarkMap, Catalog, ClassMap, ModelCache, ModelEntry, ShapeNetDenylist,
    ShapeNetSource, Taxonomy,
};
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
    /// The user's ShapeNet denylist, when ShapeNet models are used: failures are added to it.
    pub shapenet_denylist: Option<ShapeNetDenylist>,
}

/// Where a `catalog: shapenet` preset finds ShapeNet (all optional: without a root, the
/// classes the embedded catalog stands in for are rendered).
#[derive(Debug, Clone, Default)]
pub struct ShapeNetOptions {
    pub root: Option<PathBuf>,
    pub index: Option<PathBuf>,
    pub denylist: Option<PathBuf>,
    pub class_map: Option<String>,
    /// Refuse a partial benchmark instead of rendering the classes that have models.
    pub strict: bool,
}

/// The models of the preset's catalog; `say` gets the coverage block of a partial benchmark.
pub fn sources(
    preset: &Preset,
    shapenet: &ShapeNetOptions,
    say: &mut dyn FnMut(&str),
) -> Result<Sources, JobError> {
    if preset.catalog == "shapenet" {
        benchmark_sources(preset, shapenet, say)
    } else {
        sweethome3d_sources(preset)
    }
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
        shapenet_denylist: None,
    })
}

/// `catalog: shapenet`: per benchmark class, ShapeNet models when the user's tree has any,
/// else the Sweet Home 3D stand-ins of the class map, else the class is missing (rendered
/// without it, or refused with --strict).
pub fn benchmark_sources(
    preset: &Preset,
    args: &ShapeNetOptions,
    say: &mut dyn FnMut(&str),
) -> Result<Sources, JobError> {
    check_classes_listed(preset)?;
    let map = match &args.class_map {
        Some(name) => BenchmarkMap::load(name),
        None => BenchmarkMap::covering(&preset.classes),
    }
    .map_err(input)?;
    let wanted = label_order(&preset.classes);
    let unknown: Vec<&str> = wanted
        .iter()
        .filter(|c| !map.classes.contains_key(c.as_str()))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(JobError::Input(format!(
            "preset {}: classes: {} not in the class map {}; use its class folder names",
            preset.name,
            unknown.join(", "),
            map.path.display()
        )));
    }
    let sh3d = stand_ins(args, &map)?;
    let (shapenet, shapenet_denylist) = match &args.root {
        Some(root) => {
            let (catalog, denylist) = shapenet_catalog(root, args, &map, &wanted)?;
            (catalog, Some(denylist))
        }
        None => (Catalog::new(), None),
    };

    let mut entries = Vec::new();
    let (mut rendered, mut from_sh3d, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    for class in &wanted {
        let synsets = map.synsets_of(class);
        let from_shapenet: Vec<ModelEntry> = shapenet
            .entries()
            .iter()
            .filter(|e| shapenet::synset_of_key(&e.key).is_some_and(|s| synsets.contains(&s)))
            .cloned()
            .collect();
        let chosen = if from_shapenet.is_empty() {
            let stand_ins = map.sweethome3d_of(class);
            let v: Vec<ModelEntry> = sh3d
                .entries()
                .iter()
                .filter(|e| e.class.as_ref().is_some_and(|c| stand_ins.contains(c)))
                .cloned()
                .collect();
            if !v.is_empty() {
                from_sh3d.push(format!("{class} ({})", v.len()));
            }
            v
        } else {
            from_shapenet
        };
        if chosen.is_empty() {
            missing.push(class.clone());
            continue;
        }
        rendered.push(class.clone());
        entries.extend(chosen.into_iter().map(|mut e| {
            e.class = Some(class.clone());
            e
        }));
    }
    let partial = !missing.is_empty() || !from_sh3d.is_empty();
    if partial {
        say(&coverage_block(
            &map.name,
            args.root.as_deref(),
            &from_sh3d,
            &missing,
        ));
    }
    if !missing.is_empty() && (args.strict || rendered.is_empty()) {
        let why = if rendered.is_empty() {
            "no class has models"
        } else {
            "--strict refuses a partial dataset"
        };
        return Err(JobError::Input(format!(
            "preset {}: {why}: no models for {}; point --shapenet (or SYNTHGEN_SHAPENET) at a ShapeNetCore copy that has them, or drop them from --classes",
            preset.name,
            missing.join(", ")
        )));
    }
    Ok(Sources {
        entries,
        classes: rendered,
        shapenet_denylist,
    })
}

/// The Sweet Home 3D catalog with the class map's stand-in classes. It is only a stand-in
/// here: with ShapeNet, a missing install is not fatal.
fn stand_ins(args: &ShapeNetOptions, map: &BenchmarkMap) -> Result<Catalog, JobError> {
    let sh3d_map = ClassMap::load_default_sweethome3d().map_err(input)?;
    map.check_sweethome3d(&sh3d_map).map_err(input)?;
    match Catalog::load_default() {
        Ok(mut c) => {
            c.apply_class_map(&sh3d_map);
            Ok(c)
        }
        Err(e) if args.root.is_some() => {
            tracing::warn!("Sweet Home 3D catalog unavailable, using ShapeNet only: {e}");
            Ok(Catalog::new())
        }
        Err(e) => Err(input(e)),
    }
}

/// The ShapeNet models under `root` (its index and denylist as `args` name them, checked
/// against the class map's synsets for the `wanted` classes), and the denylist.
fn shapenet_catalog(
    root: &Path,
    args: &ShapeNetOptions,
    map: &BenchmarkMap,
    wanted: &[String],
) -> Result<(Catalog, ShapeNetDenylist), JobError> {
    let index_path = args
        .index
        .clone()
        .unwrap_or_else(|| shapenet::default_index_path(root));
    let deny_path = args
        .denylist
        .clone()
        .unwrap_or_else(|| shapenet::default_denylist_path(&index_path));
    let denylist = ShapeNetDenylist::open(&deny_path).map_err(input)?;
    let source = ShapeNetSource {
        root: root.to_path_buf(),
        index_path,
        denylist: denylist.clone(),
    };
    let mut shapenet = Catalog::new();
    shapenet.add_source(&source).map_err(input)?;
    let taxonomy_path = root.join(shapenet::TAXONOMY_FILE);
    let taxonomy = Taxonomy::load(&taxonomy_path).map_err(input)?;
    map.check_synsets(wanted, &taxonomy, &taxonomy_path)
        .map_err(input)?;
    for s in shapenet.skipped() {
        tracing::debug!("ShapeNet skipped {}: {}", s.label, s.reason);
    }
    Ok((shapenet, denylist))
}

/// The one short block shown before a partial benchmark run.
fn coverage_block(
    benchmark: &str,
    shapenet: Option<&std::path::Path>,
    from_sh3d: &[String],
    missing: &[String],
) -> String {
    let mut s = format!("{benchmark}: not every class comes from ShapeNet\n");
    match shapenet {
        Some(root) => s.push_str(&format!("  ShapeNet: {}\n", root.display())),
        None => s.push_str("  ShapeNet: not given\n"),
    }
    if shapenet.is_none() && !from_sh3d.is_empty() {
        // Every rendered class is a stand-in: the count says it, a list of 40 would not.
        s.push_str(&format!(
            "  from the embedded Sweet Home 3D catalog: all {} rendered classes\n",
            from_sh3d.len()
        ));
    } else if !from_sh3d.is_empty() {
        s.push_str(&format!(
            "  from the embedded Sweet Home 3D catalog: {}\n",
            from_sh3d.join(", ")
        ));
    }
    if !missing.is_empty() {
        s.push_str(&format!(
            "  missing (not rendered; labels are over the rendered classes): {}\n",
            missing.join(", ")
        ));
    }
    s.push_str(
        "  To use ShapeNet: --shapenet /path/to/ShapeNetCore (or SYNTHGEN_SHAPENET); --strict refuses a partial run.\n",
    );
    s
}

/// Appends the ShapeNet models this run gave up on to the user's denylist.
pub fn remember_failed_models(
    mut deny: ShapeNetDenylist,
    failed: &[crate::render::denylist::DenyEntry],
) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in failed {
        let Some((synset, id)) = entry
            .key
            .strip_prefix("shapenet:")
            .and_then(|rest| rest.split_once('/'))
        else {
            continue;
        };
        match deny.append(synset, id, &entry.reason) {
            Ok(true) => lines.push(format!(
                "added {} to the ShapeNet denylist {}",
                entry.key,
                deny.path_text()
            )),
            Ok(false) => {}
            Err(e) => tracing::warn!("{e}"),
        }
    }
    lines
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
impl RunOptions {
    /// The run options a preset implies (worker count, recycling, failure limits, the worker
    /// command) for a run into `out`; no progress bar, no kept requests, the whole job list.
    /// The CLI, the study's streams and library renders all start from this.
    pub fn from_preset(preset: &Preset, out: &Path, resume: bool) -> Result<RunOptions, JobError> {
        Ok(RunOptions {
            out: out.to_path_buf(),
            workers: preset.workers.count as usize,
            resume,
            worker: worker_spec(preset)?,
            max_jobs_per_worker: u64::from(preset.workers.max_jobs_per_worker.max(1)),
            max_model_failures: preset.workers.max_model_failures.max(1),
            show_progress: false,
            keep_requests: None,
            shard: None,
        })
    }
}

pub fn worker_spec(preset: &Preset) -> Result<WorkerSpec, JobError> {
    let exe = std::env::current_exe()
        .map_err(|e| JobError::Input(format!("cannot find the synthgen executable: {e}")))?;
    Ok(WorkerSpec {
        exe,
        scripts_dir: crate::paths::blender_scripts_dir(),
        site_packages: crate::paths::venv_site_packages(),
        work_dir: PathBuf::new(), // set per worker slot
        reply_timeout: run::default_reply_timeout(&preset.render.settings()),
        gpu: None, // set per worker slot when the run has several GPUs
    })
}

/// Renders a preset into `out` (resuming what is there when `resume`) in this process's worker
/// pool; ShapeNet models given up on go to the user's denylist. Images that fail every
/// attempt are an error.
pub fn render_dataset(
    preset: Preset,
    out: &Path,
    resume: bool,
    show_progress: bool,
    shapenet: &ShapeNetOptions,
    say: &mut dyn FnMut(&str),
) -> Result<RunStats, JobError> {
    let stats = render_keeping_failures(preset, out, resume, show_progress, shapenet, say)?;
    if !stats.failed.is_empty() {
        return Err(JobError::Failed(format!(
            "{} image(s) could not be rendered (listed in {}); fix the cause and run again with --resume",
            stats.failed.len(),
            out.join(crate::dataset::layout::FAILURES_FILE).display()
        )));
    }
    Ok(stats)
}

/// As [`render_dataset`], but images that fail every attempt are left for the caller to
/// judge: listed in `stats.failed` and in the folder's failures file (a fit's probe goes on
/// without them).
pub fn render_keeping_failures(
    preset: Preset,
    out: &Path,
    resume: bool,
    show_progress: bool,
    shapenet: &ShapeNetOptions,
    say: &mut dyn FnMut(&str),
) -> Result<RunStats, JobError> {
    let sources = sources(&preset, shapenet, say)?;
    let classes = build_plans(&preset, &sources.entries, &sources.classes)?;
    let ctx = SamplingContext::prepare(&preset)
        .map_err(|e| JobError::Input(format!("preset {}: {e}", preset.name)))?;
    let opts = RunOptions {
        show_progress,
        ..RunOptions::from_preset(&preset, out, resume)?
    };
    let stats = run::run(preset, classes, ctx, ModelCache::default_location(), opts)?;
    if let Some(deny) = sources.shapenet_denylist {
        for line in remember_failed_models(deny, &stats.denylisted) {
            say(&line);
        }
    }
    Ok(stats)
}
