//! The stage graph of a study: one render stage per rendered dataset, one train stage per
//! run. `plan` checks every input and computes every hash before anything is written;
//! `execute` runs what is not done, in-process (render workers are separate processes).
use super::cache::{self, StageState};
use super::error::StudyError;
use super::spec::{Adapt, Dataset, Run, Spec};
use crate::preset::Preset;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A dataset ready to use: where its images are and what it contains.
#[derive(Debug, Clone)]
pub struct PlannedDataset {
    pub name: String,
    /// The stage folder (rendered) or the user's folder (real).
    pub stage: Option<PathBuf>,
    pub data: PathBuf,
    pub hash: String,
    pub classes: Vec<String>,
    pub images: usize,
    pub seed: Option<u64>,
    /// The preset as planned; a weighted dataset gets its fit's weights when it renders.
    pub preset: Option<Preset>,
    /// Rendered while its runs train (`stream: true`): no render stage; `data` holds the kept
    /// images, shared by the runs on it.
    pub stream: bool,
    /// The fit whose weights it renders with.
    pub weights: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub name: String,
    pub run: Run,
    pub stage: PathBuf,
    pub hash: String,
}

#[derive(Debug, Clone)]
pub struct PlannedAdapt {
    pub name: String,
    pub adapt: Adapt,
    /// The `--pretrained` weight file it starts from (instead of its `init` run).
    pub init_file: Option<PathBuf>,
    pub stage: PathBuf,
    pub hash: String,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub datasets: BTreeMap<String, PlannedDataset>,
    pub fits: BTreeMap<String, super::fit_stage::PlannedFit>,
    pub runs: BTreeMap<String, PlannedRun>,
    pub adaptations: BTreeMap<String, PlannedAdapt>,
}

/// What `done.json` of a stage records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    pub kind: String,
    pub name: String,
    pub hash: String,
    /// Wall time of the run that finished it (summed over resumed parts).
    pub seconds: f64,
    #[serde(default)]
    pub images: usize,
    /// Per eval set of a train stage: (last Acc, last Mean), in [0, 1].
    #[serde(default)]
    pub evals: BTreeMap<String, (Option<f64>, Option<f64>)>,
    /// Per eval set: (best Acc, best Mean) over the run's evaluations (possibly at different
    /// steps), in [0, 1].
    #[serde(default)]
    pub best: BTreeMap<String, (Option<f64>, Option<f64>)>,
    #[serde(default)]
    pub steps: u64,
    #[serde(default)]
    pub status: String,
}

/// How a stage went in this invocation.
#[derive(Debug, Clone, Serialize)]
pub struct StageOutcome {
    pub kind: String,
    pub name: String,
    /// "ran", "resumed" or "cached".
    pub how: String,
    pub record: StageRecord,
}

const PARTIAL_SECONDS: &str = "partial-seconds";

/// Checks the spec's inputs against the disk and computes each stage's hash and folder.
pub fn plan(
    spec: &Spec,
    out: &Path,
    real: Option<&Path>,
    pretrained: Option<&Path>,
    resume: bool,
) -> Result<Plan, StudyError> {
    let pretrained_part = pretrained_part(pretrained)?;
    let mut datasets = plan_unweighted_datasets(spec, out, real)?;
    let mut fits = BTreeMap::new();
    for (name, f) in &spec.fits {
        let planned = super::fit_stage::plan_fit(spec, name, f, &datasets, out)?;
        fits.insert(name.clone(), planned);
    }
    for (name, d) in &spec.datasets {
        let Dataset::Render(r) = d else { continue };
        let Some(w) = &r.weights else { continue };
        let preset = load_preset(spec, name, r)?;
        super::fit_stage::check_weights_fit(spec, name, &preset, &fits[w])?;
        let hash = cache::hash_parts(&["render", &preset.to_yaml(), "weights", &fits[w].hash]);
        datasets.insert(name.clone(), rendered(out, name, r, preset, hash));
    }
    let runs = plan_runs(spec, out, &datasets)?;
    let adaptations = plan_adaptations(
        spec,
        out,
        &datasets,
        &runs,
        pretrained,
        pretrained_part.as_deref(),
    )?;
    let plan = Plan {
        datasets,
        fits,
        runs,
        adaptations,
    };
    if !resume {
        if let Some(dir) = plan
            .stage_dirs()
            .find(|d| cache::state(d) == StageState::Unfinished)
        {
            return Err(StudyError::input(format!(
                "{} is an unfinished stage of an interrupted run; finish it with --resume (or delete it)",
                dir.display()
            )));
        }
    }
    Ok(plan)
}

/// What the `--pretrained` file adds to the hash of the adaptations that start from it.
fn pretrained_part(pretrained: Option<&Path>) -> Result<Option<String>, StudyError> {
    let Some(p) = pretrained else {
        return Ok(None);
    };
    let meta = std::fs::metadata(p).ok().filter(|m| m.is_file()).ok_or_else(|| {
        StudyError::input(format!(
            "--pretrained {}: not a readable file; give the weight file (e.g. torchvision's resnet50 ImageNet state_dict saved with torch.save)",
            p.display()
        ))
    })?;
    Ok(Some(format!("pretrained {} {}", p.display(), meta.len())))
}

/// The datasets rendered without fitted weights, and the real folders some stage uses.
fn plan_unweighted_datasets(
    spec: &Spec,
    out: &Path,
    real: Option<&Path>,
) -> Result<BTreeMap<String, PlannedDataset>, StudyError> {
    let mut datasets = BTreeMap::new();
    // Unweighted datasets first: a fit's hash covers its dataset's and its target's.
    for (name, d) in &spec.datasets {
        let used = spec
            .runs
            .values()
            .any(|r| r.train == *name || r.eval.contains(name))
            || spec.adaptations.values().any(|a| {
                [&a.source, &a.target].contains(&name) || a.target_eval.as_ref() == Some(name)
            })
            || spec.fits.values().any(|f| f.target == *name);
        let planned = match d {
            Dataset::Render(r) if r.weights.is_some() => continue,
            Dataset::Render(r) => {
                let preset = load_preset(spec, name, r)?;
                // A streamed dataset feeds its runs in stream order, not a shuffled folder's:
                // its own hash, so those runs are not mistaken for folder-trained ones.
                let kind = if r.stream { "stream" } else { "render" };
                let hash = cache::hash_parts(&[kind, &preset.to_yaml()]);
                rendered(out, name, r, preset, hash)
            }
            Dataset::Real if !used => continue,
            Dataset::Real => real_dataset(spec, name, real)?,
        };
        datasets.insert(name.clone(), planned);
    }
    Ok(datasets)
}

fn plan_runs(
    spec: &Spec,
    out: &Path,
    datasets: &BTreeMap<String, PlannedDataset>,
) -> Result<BTreeMap<String, PlannedRun>, StudyError> {
    let mut runs = BTreeMap::new();
    for (name, run) in &spec.runs {
        let train = &datasets[&run.train];
        for e in &run.eval {
            let eval = &datasets[e];
            if eval.classes != train.classes {
                let what = if eval.stage.is_none() {
                    format!("--real {}: its class folders", eval.data.display())
                } else {
                    format!("{}: datasets.{e}: its classes", spec.source)
                };
                return Err(StudyError::input(format!(
                    "{what} ({}) do not match the classes of `{}` that run `{name}` trains on ({}); give one folder per class with the same names",
                    eval.classes.join(", "),
                    run.train,
                    train.classes.join(", ")
                )));
            }
        }
        let settings = serde_json::to_string(run).expect("runs serialize");
        let mut parts = vec!["train", settings.as_str(), train.hash.as_str()];
        parts.extend(run.eval.iter().map(|e| datasets[e].hash.as_str()));
        let hash = cache::hash_parts(&parts);
        runs.insert(
            name.clone(),
            PlannedRun {
                name: name.clone(),
                run: run.clone(),
                stage: cache::stage_dir(out, "train", name, &hash),
                hash,
            },
        );
    }
    Ok(runs)
}

fn plan_adaptations(
    spec: &Spec,
    out: &Path,
    datasets: &BTreeMap<String, PlannedDataset>,
    runs: &BTreeMap<String, PlannedRun>,
    pretrained: Option<&Path>,
    pretrained_part: Option<&str>,
) -> Result<BTreeMap<String, PlannedAdapt>, StudyError> {
    let mut adaptations = BTreeMap::new();
    for (name, a) in &spec.adaptations {
        let source = &datasets[&a.source];
        for d in [Some(&a.target), a.target_eval.as_ref()]
            .into_iter()
            .flatten()
        {
            let other = &datasets[d];
            // An unlabelled flat folder has no classes to compare; a labelled one must match.
            if !other.classes.is_empty() && other.classes != source.classes {
                return Err(StudyError::input(format!(
                    "{}: its class folders ({}) do not match the classes of `{}` that adaptation `{name}` adapts from ({}); give one folder per class with the same names",
                    if other.stage.is_none() { format!("--real {}", other.data.display()) } else { format!("{}: datasets.{d}", spec.source) },
                    other.classes.join(", "),
                    a.source,
                    source.classes.join(", ")
                )));
            }
        }
        let settings = serde_json::to_string(a).expect("adaptations serialize");
        let mut parts = vec!["adapt", settings.as_str(), source.hash.as_str()];
        parts.push(datasets[&a.target].hash.as_str());
        if let Some(e) = &a.target_eval {
            parts.push(datasets[e].hash.as_str());
        }
        let init_file = pretrained.filter(|_| a.pretrained).map(Path::to_path_buf);
        match (&init_file, &a.init) {
            (Some(_), _) => parts.push(pretrained_part.expect("set with the file")),
            (None, Some(init)) => parts.push(runs[init].hash.as_str()),
            (None, None) => {}
        }
        let hash = cache::hash_parts(&parts);
        adaptations.insert(
            name.clone(),
            PlannedAdapt {
                name: name.clone(),
                adapt: a.clone(),
                init_file,
                stage: cache::stage_dir(out, "adapt", name, &hash),
                hash,
            },
        );
    }
    Ok(adaptations)
}

impl Plan {
    fn stage_dirs(&self) -> impl Iterator<Item = &PathBuf> {
        self.datasets
            .values()
            .filter_map(|d| d.stage.as_ref())
            .chain(self.fits.values().map(|f| &f.stage))
            .chain(self.runs.values().map(|r| &r.stage))
            .chain(self.adaptations.values().map(|a| &a.stage))
    }
}

fn load_preset(
    spec: &Spec,
    name: &str,
    r: &super::spec::RenderDataset,
) -> Result<Preset, StudyError> {
    Preset::load(&r.preset, &r.overrides)
        .map_err(|e| StudyError::input(format!("{}: datasets.{name}: {e}", spec.source)))
}

fn rendered(
    out: &Path,
    name: &str,
    r: &super::spec::RenderDataset,
    preset: Preset,
    hash: String,
) -> PlannedDataset {
    let kind = if r.stream { "stream" } else { "render" };
    let stage = cache::stage_dir(out, kind, name, &hash);
    PlannedDataset {
        name: name.to_string(),
        data: stage.join("data"),
        // The kept stream folder is no stage: it never gets a done.json.
        stage: (!r.stream).then_some(stage),
        stream: r.stream,
        hash,
        classes: crate::dataset::layout::label_order(&r.classes),
        images: (r.per_class as usize) * r.classes.len(),
        seed: Some(r.seed),
        preset: Some(preset),
        weights: r.weights.clone(),
    }
}

/// The user's `--real` folder: one subfolder of images per class.
fn real_dataset(
    spec: &Spec,
    name: &str,
    real: Option<&Path>,
) -> Result<PlannedDataset, StudyError> {
    let Some(root) = real else {
        return Err(StudyError::input(format!(
            "{}: datasets.{name} is the real folder; pass it with --real DIR (one subfolder of images per class)",
            spec.source
        )));
    };
    let entries = std::fs::read_dir(root).map_err(|e| {
        StudyError::input(format!(
            "--real {}: cannot read the folder ({e}); give a folder with one subfolder of images per class",
            root.display()
        ))
    })?;
    let mut classes = Vec::new();
    let mut listing = Vec::new();
    for entry in entries.flatten() {
        if entry.path().is_dir() {
            classes.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    classes.sort();
    for class in &classes {
        for f in walkdir::WalkDir::new(root.join(class)).sort_by_file_name() {
            let Ok(f) = f else { continue };
            if f.file_type().is_file() {
                let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                listing.push(format!("{} {size}", f.path().display()));
            }
        }
    }
    if listing.is_empty() {
        return Err(StudyError::input(format!(
            "--real {}: no images in class subfolders; give a folder with one subfolder of images per class",
            root.display()
        )));
    }
    let images = listing.len();
    let hash = cache::hash_parts(&["real", &listing.join("\n")]);
    Ok(PlannedDataset {
        name: name.to_string(),
        stage: None,
        data: root.to_path_buf(),
        hash,
        classes,
        images,
        seed: None,
        preset: None,
        stream: false,
        weights: None,
    })
}

/// Runs every stage that is not done; returns what happened to each, in order.
pub fn execute(
    plan: &Plan,
    show_progress: bool,
    shapenet: &crate::render::job::ShapeNetOptions,
    mut say: impl FnMut(&str),
) -> Result<Vec<StageOutcome>, StudyError> {
    let mut outcomes = Vec::new();
    // Renders without weights, then the fits, then the renders that use the fits' weights.
    for weighted in [false, true] {
        if weighted {
            for f in plan.fits.values() {
                outcomes.push(run_stage("fit", &f.name, &f.stage, &mut say, || {
                    super::fit_stage::run_fit(f, show_progress, shapenet)
                })?);
            }
        }
        for d in plan.datasets.values() {
            if d.weights.is_some() != weighted {
                continue;
            }
            let (Some(stage), Some(preset)) = (&d.stage, &d.preset) else {
                continue;
            };
            outcomes.push(run_stage("render", &d.name, stage, &mut say, || {
                let mut preset = preset.clone();
                if let Some(fit) = &d.weights {
                    super::fit_stage::apply_weights(&plan.fits[fit], &mut preset)?;
                }
                render_stage(d, preset, show_progress, shapenet)
            })?);
        }
    }
    for r in plan.runs.values() {
        outcomes.push(run_stage("train", &r.name, &r.stage, &mut say, || {
            train_run(plan, r, show_progress, shapenet)
        })?);
    }
    for a in plan.adaptations.values() {
        outcomes.push(run_stage("adapt", &a.name, &a.stage, &mut say, || {
            adapt_run(plan, a, show_progress)
        })?);
    }
    Ok(outcomes)
}

/// Renders (or resumes) a dataset into its stage folder.
pub(super) fn render_into(
    preset: Preset,
    data: &Path,
    show_progress: bool,
    shapenet: &crate::render::job::ShapeNetOptions,
) -> Result<crate::render::stats::RunStats, crate::render::job::JobError> {
    let resume = data.join(crate::dataset::manifest::MANIFEST_FILE).is_file();
    crate::render::job::render_dataset(
        preset,
        data,
        resume,
        show_progress,
        shapenet,
        &mut |line: &str| tracing::info!("{}", line.trim_end()),
    )
}

fn render_stage(
    d: &PlannedDataset,
    preset: Preset,
    show_progress: bool,
    shapenet: &crate::render::job::ShapeNetOptions,
) -> Result<StageRecord, StudyError> {
    let stats = render_into(preset, &d.data, show_progress, shapenet)
        .map_err(|e| StudyError::Stage(format!("rendering dataset `{}`: {e}", d.name)))?;
    Ok(StageRecord {
        images: stats.images_total,
        ..record("render", &d.name, &d.hash)
    })
}

pub(super) fn record(kind: &str, name: &str, hash: &str) -> StageRecord {
    StageRecord {
        kind: kind.into(),
        name: name.into(),
        hash: hash.into(),
        seconds: 0.0,
        images: 0,
        evals: BTreeMap::new(),
        best: BTreeMap::new(),
        steps: 0,
        status: String::new(),
    }
}

/// Skips a done stage; otherwise runs it and writes its record last. The time of earlier,
/// interrupted parts is kept in the stage folder so a resumed stage reports its whole cost.
fn run_stage(
    kind: &str,
    name: &str,
    dir: &Path,
    say: &mut impl FnMut(&str),
    body: impl FnOnce() -> Result<StageRecord, StudyError>,
) -> Result<StageOutcome, StudyError> {
    let outcome = |how: &str, record| StageOutcome {
        kind: kind.into(),
        name: name.into(),
        how: how.into(),
        record,
    };
    let state = cache::state(dir);
    if state == StageState::Done {
        say(&format!("{kind} {name}: cached ({})", dir.display()));
        return Ok(outcome("cached", cache::read_done(dir)?));
    }
    let how = if state == StageState::Unfinished {
        "resumed"
    } else {
        "ran"
    };
    say(&format!("{kind} {name}: {how} -> {}", dir.display()));
    std::fs::create_dir_all(dir).map_err(|e| StudyError::io(dir, e))?;
    let partial_file = dir.join(PARTIAL_SECONDS);
    let earlier: f64 = std::fs::read_to_string(&partial_file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0.0);
    let started = Instant::now();
    // Keeps the time spent so far on disk while the stage runs, so a kill loses little of it.
    let ticker = PartialClock::start(partial_file.clone(), earlier);
    let result = body();
    drop(ticker);
    let mut record = result?;
    record.seconds = earlier + started.elapsed().as_secs_f64();
    cache::write_done(dir, &record)?;
    let _ = std::fs::remove_file(&partial_file);
    say(&format!("{kind} {name}: done in {:.1} s", record.seconds));
    Ok(outcome(how, record))
}

/// A thread that writes the stage's elapsed seconds every second until dropped.
struct PartialClock {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl PartialClock {
    fn start(path: PathBuf, earlier: f64) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let started = Instant::now();
        let handle = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(500));
                let s = earlier + started.elapsed().as_secs_f64();
                let _ = crate::fsio::write_atomic(&path, format!("{s:.3}").as_bytes());
            }
        });
        PartialClock {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for PartialClock {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The run's training folder inside its stage.
pub fn run_dir(stage: &Path) -> PathBuf {
    stage.join("run")
}

fn train_run(
    plan: &Plan,
    r: &PlannedRun,
    show_progress: bool,
    shapenet: &crate::render::job::ShapeNetOptions,
) -> Result<StageRecord, StudyError> {
    use crate::train::{Length, TrainConfig};
    let run = &r.run;
    let out = run_dir(&r.stage);
    let mut cfg = TrainConfig::new(plan.datasets[&run.train].data.clone(), out.clone());
    cfg.evals = run
        .eval
        .iter()
        .map(|e| (e.clone(), plan.datasets[e].data.clone()))
        .collect();
    cfg.arch = run.arch.clone();
    cfg.augment = serde_json::from_value(serde_json::json!(run.aug))
        .map_err(|e| StudyError::input(format!("runs.{}.aug: {e}", r.name)))?;
    cfg.length = Length::Iters(run.iters);
    cfg.batch_size = run.batch_size;
    cfg.lr = run.lr;
    cfg.image_size = run.image_size;
    cfg.seed = run.seed;
    cfg.non_repetitive = run.non_repetitive;
    cfg.eval_every = run.eval_every;
    // Shards read as a list, in the order an ImageFolder of the same render has: a
    // dataset's format does not change the run.
    cfg.shards_as_list = true;
    // A checkpoint in the folder means an interrupted run: continue it.
    cfg.resume = out.exists();
    cfg.progress = show_progress;
    let train_set = &plan.datasets[&run.train];
    let summary = match super::stream::source(train_set, run, shapenet)? {
        Some(source) => crate::train::train_streamed(&cfg, source),
        None => crate::train::train(&cfg),
    };
    let summary = summary.map_err(|e| {
        if e.is_input_error() {
            StudyError::input(format!("run `{}`: {e}", r.name))
        } else {
            StudyError::Stage(format!("training run `{}`: {e}", r.name))
        }
    })?;
    let mut rec = record("train", &r.name, &r.hash);
    rec.images = summary.train_images;
    rec.steps = summary.steps;
    rec.status = summary.status.clone();
    rec.evals = summary
        .evals
        .iter()
        .map(|(k, v)| (k.clone(), (v.last_acc, v.last_mean)))
        .collect();
    rec.best = summary
        .evals
        .iter()
        .map(|(k, v)| (k.clone(), best_pair(v)))
        .collect();
    Ok(rec)
}

/// The run's last checkpoint, as `synthgen adapt --init` takes it.
pub fn checkpoint(stage: &Path) -> PathBuf {
    run_dir(stage).join("checkpoint-last.safetensors")
}

/// An interrupted adaptation continues from its run folder's last checkpoint, as
/// `adapt --resume` does, so a kill loses at most one evaluation interval.
fn adapt_run(
    plan: &Plan,
    a: &PlannedAdapt,
    show_progress: bool,
) -> Result<StageRecord, StudyError> {
    use crate::adapt::{AdaptConfig, MethodKind};
    let spec = &a.adapt;
    let method: MethodKind = serde_json::from_value(serde_json::json!(spec.method))
        .map_err(|e| StudyError::input(format!("adaptations.{}.method: {e}", a.name)))?;
    let out = run_dir(&a.stage);
    let mut cfg = AdaptConfig::new(
        plan.datasets[&spec.source].data.clone(),
        plan.datasets[&spec.target].data.clone(),
        method,
        out,
    );
    cfg.target_eval = spec
        .target_eval
        .as_ref()
        .map(|e| plan.datasets[e].data.clone());
    cfg.arch = spec.arch.clone();
    cfg.init = match &a.init_file {
        Some(file) => Some(file.clone()),
        None => spec.init.as_ref().map(|r| checkpoint(&plan.runs[r].stage)),
    };
    cfg.iters = Some(spec.iters);
    cfg.batch_size = spec.batch_size;
    cfg.lr = spec.lr;
    cfg.augment = serde_json::from_value(serde_json::json!(spec.aug))
        .map_err(|e| StudyError::input(format!("adaptations.{}.aug: {e}", a.name)))?;
    cfg.image_size = spec.image_size;
    cfg.seed = spec.seed;
    cfg.eval_every = spec.eval_every;
    cfg.tsne_points = 100;
    cfg.progress = show_progress;
    // A checkpoint in the folder means an interrupted run: continue it.
    cfg.resume = cfg.out.exists();
    let summary = crate::adapt::adapt(&cfg).map_err(|e| {
        if e.is_input_error() {
            StudyError::input(format!("adaptation `{}`: {e}", a.name))
        } else {
            StudyError::Stage(format!("adaptation `{}`: {e}", a.name))
        }
    })?;
    let mut rec = record("adapt", &a.name, &a.hash);
    rec.images = summary.source_images;
    rec.steps = summary.steps;
    rec.status = summary.status.clone();
    // The adapter names its set `target` / `target_eval`; tables name datasets.
    rec.evals = summary
        .evals
        .values()
        .map(|v| (spec.eval.clone(), (v.last_acc, v.last_mean)))
        .collect();
    rec.best = summary
        .evals
        .values()
        .map(|v| (spec.eval.clone(), best_pair(v)))
        .collect();
    Ok(rec)
}

fn best_pair(v: &crate::engine::EvalSummary) -> (Option<f64>, Option<f64>) {
    (v.best_acc.map(|(_, a)| a), v.best_mean.map(|(_, m)| m))
}
