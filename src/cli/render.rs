//! `synthgen render`: preset -> plan -> worker pool -> dataset.
use super::{CliError, CliResult};
use crate::assets::shapenet;
use crate::assets::{
    split_models, BenchmarkMap, Catalog, ClassMap, ModelCache, ModelEntry, ShapeNetDenylist,
    ShapeNetSource, Taxonomy,
};
use crate::dataset::layout::label_order;
use crate::preset::{Preset, SplitUse};
use crate::render::plan::{order_models, ClassPlan, Shard};
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
    /// Level weights from `synthgen fit` (or written by hand): the factors it names draw
    /// their levels with these weights; preset.yaml records the result (see docs/FIT.md).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
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

/// What `render` and `train --stream` need to start rendering: the resolved preset, its class
/// plans, the sampling context and the worker options.
pub(super) struct Prepared {
    pub preset: Preset,
    pub classes: Vec<ClassPlan>,
    pub ctx: SamplingContext,
    pub opts: RunOptions,
    shapenet_denylist: Option<ShapeNetDenylist>,
}

/// Preset -> sources -> class plans -> worker options (no files written).
pub(super) fn prepare(args: &RenderArgs) -> Result<Prepared, CliError> {
    let mut preset = Preset::load(&args.preset, &args.overrides())
        .map_err(|e| CliError::Input(e.to_string()))?;
    if let Some(file) = &args.weights {
        apply_weights(&mut preset, file)?;
    }
    let sources = if preset.catalog == "shapenet" {
        benchmark_sources(&preset, args)?
    } else {
        sweethome3d_sources(&preset)?
    };
    let classes = build_plans(&preset, &sources.entries, &sources.classes)?;
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
        shard: args.shard,
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
    let Prepared {
        preset,
        classes,
        ctx,
        opts,
        shapenet_denylist,
    } = prepare(&args)?;
    shard_file::claim(&args.out, args.shard, args.resume)?;
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
        args.out.display()
    );
    let stats = match run::run(preset, classes, ctx, ModelCache::default_location(), opts) {
        Ok(s) => s,
        Err(e @ run::RunError::Setup(_)) => return Err(CliError::Input(e.to_string())),
        Err(e) => return Err(CliError::Run(e.into())),
    };
    if let Some(deny) = shapenet_denylist {
        remember_failed_models(deny, &stats.denylisted);
    }
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

/// The models a run may draw from, each with its benchmark class set, and the classes to
/// render (label order is alphabetical over these).
struct Sources {
    entries: Vec<ModelEntry>,
    classes: Vec<String>,
    /// The user's ShapeNet denylist, when ShapeNet models are used: failures are added to it.
    shapenet_denylist: Option<ShapeNetDenylist>,
}

fn input(e: crate::assets::AssetError) -> CliError {
    CliError::Input(e.to_string())
}

fn check_classes_listed(preset: &Preset) -> Result<(), CliError> {
    if preset.classes.is_empty() {
        return Err(CliError::Input(format!(
            "preset {}: classes: the list is empty; name the classes to render, e.g. --classes chair,table",
            preset.name
        )));
    }
    Ok(())
}

/// `catalog: sweethome3d`: the embedded catalog alone; every class must have models.
fn sweethome3d_sources(preset: &Preset) -> Result<Sources, CliError> {
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
        return Err(CliError::Input(format!(
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
fn benchmark_sources(preset: &Preset, args: &RenderArgs) -> Result<Sources, CliError> {
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
        return Err(CliError::Input(format!(
            "preset {}: classes: {} not in the class map {}; use its class folder names",
            preset.name,
            unknown.join(", "),
            map.path.display()
        )));
    }
    let sh3d_map = ClassMap::load_default_sweethome3d().map_err(input)?;
    map.check_sweethome3d(&sh3d_map).map_err(input)?;
    // Sweet Home 3D is only a stand-in here: with ShapeNet, a missing install is not fatal.
    let sh3d = match Catalog::load_default() {
        Ok(mut c) => {
            c.apply_class_map(&sh3d_map);
            c
        }
        Err(e) if args.shapenet.is_some() => {
            tracing::warn!("Sweet Home 3D catalog unavailable, using ShapeNet only: {e}");
            Catalog::new()
        }
        Err(e) => return Err(input(e)),
    };

    let mut shapenet = Catalog::new();
    let mut shapenet_denylist = None;
    if let Some(root) = &args.shapenet {
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
            root: root.clone(),
            index_path,
            denylist: denylist.clone(),
        };
        shapenet.add_source(&source).map_err(input)?;
        let taxonomy_path = root.join(shapenet::TAXONOMY_FILE);
        let taxonomy = Taxonomy::load(&taxonomy_path).map_err(input)?;
        map.check_synsets(&wanted, &taxonomy, &taxonomy_path)
            .map_err(input)?;
        for s in shapenet.skipped() {
            tracing::debug!("ShapeNet skipped {}: {}", s.label, s.reason);
        }
        shapenet_denylist = Some(denylist);
    }

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
        eprint!(
            "{}",
            coverage_block(&map.name, args.shapenet.as_deref(), &from_sh3d, &missing)
        );
    }
    if !missing.is_empty() && (args.strict || rendered.is_empty()) {
        let why = if rendered.is_empty() {
            "no class has models"
        } else {
            "--strict refuses a partial dataset"
        };
        return Err(CliError::Input(format!(
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
fn remember_failed_models(
    mut deny: ShapeNetDenylist,
    failed: &[crate::render::denylist::DenyEntry],
) {
    for entry in failed {
        let Some((synset, id)) = entry
            .key
            .strip_prefix("shapenet:")
            .and_then(|rest| rest.split_once('/'))
        else {
            continue;
        };
        match deny.append(synset, id, &entry.reason) {
            Ok(true) => eprintln!(
                "added {} to the ShapeNet denylist {}",
                entry.key,
                deny.path_text()
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!("{e}"),
        }
    }
}

/// Classes in label order, each with its split models in a seeded order.
fn build_plans(
    preset: &Preset,
    entries: &[ModelEntry],
    classes: &[String],
) -> Result<Vec<ClassPlan>, CliError> {
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
        crate::dataset::atomic::write_atomic(&out.join(SHARD_FILE), json.as_bytes())?;
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
