//! The study spec (YAML): datasets, training runs and the tables to report. Parsing keeps the
//! file:line:col of every error, like presets; `resolve` fills defaults and checks names.
use super::error::StudyError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The file as written: every field optional, unknown fields refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Why this scale was designed the way it is (shown in the report).
    #[serde(default)]
    pub design: String,
    #[serde(default)]
    pub dataset_defaults: RawDataset,
    #[serde(default)]
    pub run_defaults: RawRun,
    pub datasets: BTreeMap<String, RawDataset>,
    /// Rendering weights fitted to a target folder (`synthgen fit`, in-process).
    #[serde(default)]
    pub fits: BTreeMap<String, RawFit>,
    #[serde(default)]
    pub runs: BTreeMap<String, RawRun>,
    /// Unsupervised domain adaptation runs (`synthgen adapt`), optionally from a run's weights.
    #[serde(default)]
    pub adaptations: BTreeMap<String, RawAdapt>,
    #[serde(default)]
    pub tables: Vec<Table>,
    /// Repeat every run and adaptation this many times (training seed + k for replicate k;
    /// datasets with `per_replicate: true` are rendered anew per replicate). Default 1.
    pub replicates: Option<u32>,
    /// Accuracy of chosen rows broken down by a manifest field of an evaluation set.
    #[serde(default)]
    pub breakdowns: Vec<Breakdown>,
}

/// A breakdown of per-image correctness by a field of the evaluated dataset's manifest.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Breakdown {
    pub title: String,
    /// The evaluation set (a rendered dataset: its manifest gives the field).
    pub eval: String,
    /// A dotted manifest path (`params.background.kind`), or `view_angle`: the angle in
    /// degrees between the image's camera direction and `view`.
    pub by: String,
    /// The reference view of `by: view_angle`.
    pub view: Option<View>,
    /// Ascending bin edges for a numeric field (required for `view_angle`).
    #[serde(default)]
    pub bins: Vec<f64>,
    /// The runs (or adaptations) to break down.
    pub rows: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    pub elevation_deg: f64,
    pub azimuth_deg: f64,
}

/// A fit of rendering weights: probe renders of `dataset`'s preset matched to `target`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFit {
    /// The rendered dataset whose preset (with its overrides) is fitted.
    pub dataset: String,
    /// The images to match: a dataset (rendered, or the `--real` folder).
    pub target: String,
    /// Probe renders per class (uniform level weights).
    pub probe_per_class: Option<u64>,
    /// Probe rounds at most (a new round is rendered when the pool's ESS falls too low).
    pub rounds: Option<u32>,
    /// Optimiser steps per round.
    pub iterations: Option<usize>,
    /// Fraction of the target held out to measure MMD before and after.
    pub holdout: Option<f64>,
    /// Seed of the probe renders and of the held-out split.
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdapt {
    /// The labelled source dataset.
    pub source: String,
    /// The unlabelled target dataset (its labels, if any, only evaluate).
    pub target: String,
    /// A labelled dataset to evaluate on instead of the target.
    pub target_eval: Option<String>,
    /// source-only, dann, mcd, rca, srdc or disclusterda.
    pub method: String,
    /// A run whose last checkpoint initialises the backbone (pre-training); none: from scratch.
    pub init: Option<String>,
    /// Start from the weight file given with `study --pretrained FILE` (e.g. torchvision's
    /// ImageNet ResNet-50) when one is given, instead of `init`.
    #[serde(default)]
    pub pretrained: bool,
    pub arch: Option<String>,
    pub aug: Option<String>,
    pub iters: u64,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub image_size: Option<u32>,
    pub seed: Option<u64>,
    pub eval_every: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDataset {
    pub preset: Option<String>,
    /// Preset overrides (`path=value`), after the defaults' ones.
    #[serde(default)]
    pub set: Vec<String>,
    pub classes: Option<Vec<String>>,
    pub per_class: Option<u64>,
    pub seed: Option<u64>,
    /// Which side of the per-class model split: train, test or all.
    pub split: Option<String>,
    pub resolution: Option<u32>,
    pub samples: Option<u32>,
    pub workers: Option<u32>,
    /// The user's real image folder (`--real DIR`) instead of a render.
    #[serde(default)]
    pub real: bool,
    /// A real dataset used only as an evaluation column: without `--real` it is left out
    /// (its table columns too) and the report says so, instead of refusing to run.
    #[serde(default)]
    pub optional: bool,
    /// Rendered while the `non_repetitive` runs train on it (`train --stream`), not before;
    /// the images are kept, so later runs on it reuse them.
    #[serde(default)]
    pub stream: bool,
    /// Render with the level weights of this fit (a name under `fits:`).
    pub weights: Option<String>,
    /// Rendered anew for each replicate (another render seed); else shared by all of them.
    #[serde(default)]
    pub per_replicate: bool,
    /// `imagefolder` (the default) or `webdataset`: written as tar shards, which training,
    /// evaluation and adaptation read as they read a folder.
    pub format: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    /// The dataset trained on.
    pub train: Option<String>,
    /// Datasets evaluated on (their names are the table columns).
    pub eval: Option<Vec<String>>,
    pub arch: Option<String>,
    pub aug: Option<String>,
    /// fixed (repeat the dataset) or non_repetitive (each image seen once).
    pub mode: Option<String>,
    pub iters: Option<u64>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub image_size: Option<u32>,
    pub seed: Option<u64>,
    pub eval_every: Option<u64>,
}

/// A table: one row per run, one column per evaluation set.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub title: String,
    /// acc (overall accuracy) or mean (class-balanced), in percent, at the last step.
    #[serde(default = "default_metric")]
    pub metric: String,
    /// The row every other row is compared with for the paper's direction.
    pub baseline: Option<String>,
    /// Also show the best value over each run's evaluations beside the last one (the
    /// released DA code reports the best Acc and the best Mean, maybe of different steps).
    #[serde(default)]
    pub best: bool,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

fn default_metric() -> String {
    "acc".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// The evaluation set (a dataset name).
    pub eval: String,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub run: String,
    pub label: Option<String>,
    /// The paper's value per column (by eval set name), in percent.
    #[serde(default)]
    pub paper: BTreeMap<String, f64>,
}

/// A dataset with every default applied.
#[derive(Debug, Clone, Serialize)]
pub enum Dataset {
    Render(RenderDataset),
    Real,
}

#[derive(Debug, Clone, Serialize)]
pub struct RenderDataset {
    pub preset: String,
    /// Every preset override, the explicit fields last (so they win).
    pub overrides: Vec<String>,
    pub classes: Vec<String>,
    pub per_class: u64,
    pub seed: u64,
    /// Streamed into the runs that train on it instead of rendered in a stage of its own.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// The fit whose weights this dataset renders with.
    pub weights: Option<String>,
    /// Rendered anew for each replicate.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub per_replicate: bool,
    /// Written as WebDataset shards (`format: webdataset`, `output.format` in the overrides).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub webdataset: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    pub dataset: String,
    pub target: String,
    pub probe_per_class: u64,
    pub rounds: u32,
    pub iterations: usize,
    pub holdout: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub train: String,
    pub eval: Vec<String>,
    pub arch: String,
    pub aug: String,
    pub non_repetitive: bool,
    pub iters: u64,
    pub batch_size: usize,
    pub lr: f64,
    pub image_size: u32,
    pub seed: u64,
    pub eval_every: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Adapt {
    pub source: String,
    pub target: String,
    pub target_eval: Option<String>,
    /// The dataset its numbers are reported under: target_eval, else target.
    pub eval: String,
    pub method: String,
    pub init: Option<String>,
    /// Start from the `--pretrained` file when one is given.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pretrained: bool,
    pub arch: String,
    pub aug: String,
    pub iters: u64,
    pub batch_size: usize,
    pub lr: Option<f64>,
    pub image_size: u32,
    pub seed: u64,
    pub eval_every: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub description: String,
    pub design: String,
    /// Where the spec came from (a file or `built-in NAME (scale)`), for messages.
    pub source: String,
    pub datasets: BTreeMap<String, Dataset>,
    pub fits: BTreeMap<String, Fit>,
    pub runs: BTreeMap<String, Run>,
    pub adaptations: BTreeMap<String, Adapt>,
    pub tables: Vec<Table>,
    /// Every run and adaptation is repeated this many times (1: once).
    pub replicates: u32,
    pub breakdowns: Vec<Breakdown>,
    /// Real datasets marked `optional: true` (evaluation columns only).
    pub optional_real: Vec<String>,
    /// Lines for the report about what was left out and why.
    pub notes: Vec<String>,
}

impl Spec {
    /// The spec without its optional real datasets, their evaluation columns and breakdowns,
    /// for a study run without `--real`; a note for the report says what was left out.
    pub fn without_optional_real(&self) -> Spec {
        let mut spec = self.clone();
        if spec.optional_real.is_empty() {
            return spec;
        }
        let gone = |d: &String| self.optional_real.contains(d);
        for name in &self.optional_real {
            spec.datasets.remove(name);
        }
        for r in spec.runs.values_mut() {
            r.eval.retain(|e| !gone(e));
        }
        for t in &mut spec.tables {
            t.columns.retain(|c| !gone(&c.eval));
        }
        spec.tables.retain(|t| !t.columns.is_empty());
        spec.breakdowns.retain(|b| !gone(&b.eval));
        spec.notes.push(format!(
            "The real-image column{} {} left out: no --real folder was given. Give --real DIR (one subfolder of images per class) to evaluate every run on your real images.",
            if self.optional_real.len() > 1 { "s" } else { "" },
            self.optional_real
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
                + if self.optional_real.len() > 1 { " were" } else { " was" }
        ));
        spec
    }

    /// The names of the replicates of a run, adaptation or per-replicate dataset, replicate 0
    /// first (its own name, so one replicate is the study without replicates).
    pub fn replicas(&self, name: &str) -> Vec<String> {
        // A replicate named directly (`a@1`) is itself alone.
        if name.contains('@') {
            return vec![name.to_string()];
        }
        let per_replicate_dataset = matches!(
            self.datasets.get(name),
            Some(Dataset::Render(r)) if r.per_replicate
        );
        let replicated = self.runs.contains_key(name)
            || self.adaptations.contains_key(name)
            || per_replicate_dataset;
        if !replicated {
            return vec![name.to_string()];
        }
        (0..self.replicates).map(|k| replica(name, k)).collect()
    }
}

/// The name of replicate `k` (0-based) of `name`: `name` itself for 0, else `name@k`.
pub fn replica(name: &str, k: u32) -> String {
    if k == 0 {
        name.to_string()
    } else {
        format!("{name}@{k}")
    }
}

/// The render seed of replicate `k` of a per-replicate dataset whose seed is `seed`:
/// splitmix64 of (seed, k), 32 bits, so it does not fall on a neighbouring dataset's seed
/// (test sets use seed + 1000 and the like).
pub fn replicate_seed(seed: u64, k: u32) -> u64 {
    if k == 0 {
        return seed;
    }
    let mut z = seed ^ (u64::from(k)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) & 0xFFFF_FFFF
}

/// Applies `--set key=value` overrides (dotted paths into the YAML) to the spec text.
pub fn apply_sets(text: &str, source: &str, sets: &[String]) -> Result<String, StudyError> {
    if sets.is_empty() {
        return Ok(text.to_string());
    }
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| yaml_error(source, &e))?;
    for set in sets {
        let Some((path, value)) = set.split_once('=') else {
            return Err(StudyError::input(format!(
                "--set {set}: write it as key=value, e.g. --set runs.full.iters=600"
            )));
        };
        let value: serde_yaml::Value = serde_yaml::from_str(value).map_err(|e| {
            StudyError::input(format!(
                "--set {set}: the value is not YAML ({e}); quote it"
            ))
        })?;
        let mut node = &mut doc;
        for key in path.split('.') {
            let serde_yaml::Value::Mapping(map) = node else {
                return Err(StudyError::input(format!(
                    "--set {set}: {path} does not lead through mappings; name a field of the spec"
                )));
            };
            node = map
                .entry(serde_yaml::Value::String(key.to_string()))
                .or_insert(serde_yaml::Value::Null);
        }
        *node = value;
    }
    Ok(serde_yaml::to_string(&doc).expect("a YAML value serializes"))
}

fn yaml_error(source: &str, e: &serde_yaml::Error) -> StudyError {
    let at = e
        .location()
        .map_or(String::new(), |l| format!(":{}:{}", l.line(), l.column()));
    // serde_yaml repeats the location at the end of its message; one is enough.
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    StudyError::input(format!("{source}{at}: {msg}"))
}

fn is_streamed(datasets: &BTreeMap<String, Dataset>, name: &str) -> bool {
    matches!(datasets.get(name), Some(Dataset::Render(r)) if r.stream)
}

/// Parses and resolves a spec; `source` names it in errors.
pub fn parse(text: &str, source: &str) -> Result<Spec, StudyError> {
    let raw: RawSpec = serde_yaml::from_str(text).map_err(|e| yaml_error(source, &e))?;
    resolve(raw, text, source)
}

/// `source:line:col` of the first `key: value` (block or flow style, or `- value` in a block
/// list under key) naming `value`; the bare source when none is found.
fn locate(text: &str, source: &str, key: &str, value: &str) -> String {
    let mut under_key = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let key_at = find_word(line, key).filter(|&k| line[k + key.len()..].starts_with(':'));
        if let Some(k) = key_at {
            under_key = line[k + key.len() + 1..].trim().is_empty();
            let from = k + key.len() + 1;
            if let Some(col) = find_word(&line[from..], value) {
                return format!("{source}:{}:{}", i + 1, from + col + 1);
            }
        } else if under_key && trimmed.starts_with('-') {
            if let Some(col) = find_word(line, value) {
                return format!("{source}:{}:{}", i + 1, col + 1);
            }
        } else if !trimmed.is_empty() {
            under_key = false;
        }
    }
    source.to_string()
}

fn find_word(hay: &str, word: &str) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    hay.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = hay[..i].chars().next_back().is_none_or(|c| !is_word(c));
        let after = hay[i + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !is_word(c));
        before && after
    })
}

/// Builds the error of a spec value: `bad(key, value, message)` locates `key: value` in the
/// spec text.
type Bad<'a> = dyn Fn(&str, &str, String) -> StudyError + 'a;

fn resolve(raw: RawSpec, text: &str, source: &str) -> Result<Spec, StudyError> {
    let bad = |key: &str, value: &str, msg: String| {
        StudyError::input(format!("{}: {msg}", locate(text, source, key, value)))
    };
    let (datasets, optional_real) = resolve_datasets(&raw, &bad)?;
    let fits = resolve_fits(&raw, &datasets, &bad)?;
    let runs = resolve_runs(&raw, &datasets, &bad)?;
    let adaptations = resolve_adaptations(&raw, &datasets, &runs, &bad)?;
    check_tables(&raw.tables, &runs, &adaptations, &bad)?;
    let replicates = resolve_replicates(&raw, &bad)?;
    check_per_replicate(&datasets, &fits, &runs, &adaptations, &bad)?;
    check_optional_use(&optional_real, &fits, &adaptations, &bad)?;
    check_breakdowns(&raw.breakdowns, &datasets, &runs, &adaptations, &bad)?;
    let mut spec = Spec {
        name: raw.name,
        description: raw.description,
        design: raw.design,
        source: source.to_string(),
        datasets,
        fits,
        runs,
        adaptations,
        tables: raw.tables,
        replicates,
        breakdowns: raw.breakdowns,
        optional_real,
        notes: Vec::new(),
    };
    expand_replicates(&mut spec);
    Ok(spec)
}

/// `section` is where the value sits (`runs.NAME`, `adaptations.NAME`).
fn check_aug(bad: &Bad, section: &str, aug: &str) -> Result<(), StudyError> {
    if ["none", "crop", "weak", "strong"].contains(&aug) {
        Ok(())
    } else {
        Err(bad(
            "aug",
            aug,
            format!("{section}.aug: `{aug}` is not none, crop, weak or strong"),
        ))
    }
}

fn check_arch(bad: &Bad, section: &str, arch: &str) -> Result<(), StudyError> {
    let known = crate::nn::models::ARCHS;
    if known.contains(&arch) {
        Ok(())
    } else {
        Err(bad(
            "arch",
            arch,
            format!(
                "{section}.arch: `{arch}` is not one of {}",
                known.join(", ")
            ),
        ))
    }
}

/// The numbers of a run or an adaptation (`section` is `runs.NAME` or `adaptations.NAME`).
fn check_numbers(
    bad: &Bad,
    section: &str,
    arch: &str,
    batch_size: usize,
    lr: Option<f64>,
    image_size: u32,
    eval_every: Option<u64>,
) -> Result<(), StudyError> {
    if batch_size == 0 {
        return Err(bad(
            "batch_size",
            "0",
            format!("{section}.batch_size: must be at least 1 (got 0)"),
        ));
    }
    if let Some(lr) = lr {
        crate::numbers::check_positive(lr)
            .map_err(|why| bad("lr", &lr.to_string(), format!("{section}.lr: {why}")))?;
    }
    if eval_every == Some(0) {
        return Err(bad(
            "eval_every",
            "0",
            format!("{section}.eval_every: must be at least 1 (got 0)"),
        ));
    }
    crate::nn::models::check_image_size(arch, image_size as i64).map_err(|e| {
        let why = match e {
            crate::nn::TrainError::BadImageSize { why, .. } => why,
            e => e.to_string(),
        };
        bad(
            "image_size",
            &image_size.to_string(),
            format!(
                "{section}.image_size: {image_size} does not suit {arch}: {}",
                why.replace("--image-size", "image_size:")
            ),
        )
    })
}

/// The datasets, and the names of the optional real ones.
#[allow(clippy::type_complexity)]
fn resolve_datasets(
    raw: &RawSpec,
    bad: &Bad,
) -> Result<(BTreeMap<String, Dataset>, Vec<String>), StudyError> {
    let mut datasets = BTreeMap::new();
    let mut optional_real = Vec::new();
    for (name, d) in &raw.datasets {
        if d.real {
            if d.format.is_some() {
                return Err(bad("format", d.format.as_deref().unwrap_or_default(), format!(
                        "datasets.{name}.format: a real dataset is read as it is on disk (a folder or shards); drop format"
                )));
            }
            datasets.insert(name.clone(), Dataset::Real);
            if d.optional {
                optional_real.push(name.clone());
            }
            continue;
        }
        if d.optional {
            return Err(bad("optional", "true", format!(
                "datasets.{name}.optional: only a real dataset (real: true) can be optional; drop optional"
            )));
        }
        let rendered = render_dataset(name, d, &raw.dataset_defaults, bad)?;
        datasets.insert(name.clone(), Dataset::Render(rendered));
    }
    if let Some(w) = &raw.dataset_defaults.weights {
        return Err(bad(
            "weights",
            w,
            "dataset_defaults.weights: give `weights:` per dataset, next to the datasets that render with the fit".into(),
        ));
    }
    Ok((datasets, optional_real))
}

/// A rendered dataset: `d` over the defaults `dd`, as preset overrides.
fn render_dataset(
    name: &str,
    d: &RawDataset,
    dd: &RawDataset,
    bad: &Bad,
) -> Result<RenderDataset, StudyError> {
    let Some(preset) = d.preset.clone().or(dd.preset.clone()) else {
        return Err(bad(name, name, format!(
            "datasets.{name}.preset: missing; name a scene preset (e.g. base), here or in dataset_defaults"
        )));
    };
    let classes = d.classes.clone().or(dd.classes.clone()).unwrap_or_default();
    if classes.is_empty() {
        return Err(bad(
            name,
            name,
            format!("datasets.{name}.classes: missing or empty; list the classes to render"),
        ));
    }
    let per_class = d.per_class.or(dd.per_class).unwrap_or(0);
    if per_class == 0 {
        return Err(bad(
            name,
            name,
            format!("datasets.{name}.per_class: missing or 0; give the images per class"),
        ));
    }
    let seed = d.seed.or(dd.seed).unwrap_or(0);
    let split = d
        .split
        .clone()
        .or(dd.split.clone())
        .unwrap_or("train".into());
    if !["train", "test", "all"].contains(&split.as_str()) {
        return Err(bad(
            "split",
            &split,
            format!("datasets.{name}.split: `{split}` is not train, test or all"),
        ));
    }
    let mut overrides = dd.set.clone();
    overrides.extend(d.set.iter().cloned());
    overrides.push(format!("classes=[{}]", classes.join(", ")));
    overrides.push(format!("images_per_class={per_class}"));
    overrides.push(format!("seed={seed}"));
    overrides.push(format!("split.use={split}"));
    if let Some(r) = d.resolution.or(dd.resolution) {
        overrides.push(format!("render.resolution={r}"));
    }
    if let Some(s) = d.samples.or(dd.samples) {
        overrides.push(format!("render.samples={s}"));
    }
    if let Some(w) = d.workers.or(dd.workers) {
        overrides.push(format!("workers.count={w}"));
    }
    let webdataset = dataset_format(name, d, dd, bad)?;
    if webdataset {
        overrides.push("output.format=webdataset".into());
    }
    Ok(RenderDataset {
        preset,
        overrides,
        classes,
        per_class,
        seed,
        stream: d.stream,
        weights: d.weights.clone(),
        per_replicate: d.per_replicate,
        webdataset,
    })
}

/// Whether a rendered dataset is written as WebDataset shards (`format:`, here or in the
/// defaults).
fn dataset_format(
    name: &str,
    d: &RawDataset,
    dd: &RawDataset,
    bad: &Bad,
) -> Result<bool, StudyError> {
    let format = d.format.clone().or(dd.format.clone());
    match format.as_deref() {
        None | Some("imagefolder") => Ok(false),
        Some("webdataset") if d.stream => Err(bad("format", "webdataset", format!(
            "datasets.{name}.format: a streamed dataset (stream: true) keeps its images as an ImageFolder; drop format: webdataset here or stream: true"
        ))),
        Some("webdataset") => Ok(true),
        Some(other) => Err(bad(
            "format",
            other,
            format!("datasets.{name}.format: `{other}` is not imagefolder or webdataset"),
        )),
    }
}

fn resolve_runs(
    raw: &RawSpec,
    datasets: &BTreeMap<String, Dataset>,
    bad: &Bad,
) -> Result<BTreeMap<String, Run>, StudyError> {
    let mut runs = BTreeMap::new();
    for (name, r) in &raw.runs {
        runs.insert(
            name.clone(),
            resolve_run(name, r, &raw.run_defaults, datasets, bad)?,
        );
    }
    Ok(runs)
}

/// The datasets a run trains on and evaluates on: defined, trained on a rendering, and
/// evaluated on ordinary folders.
fn check_run_datasets(
    name: &str,
    train: &String,
    eval: &[String],
    datasets: &BTreeMap<String, Dataset>,
    bad: &Bad,
) -> Result<(), StudyError> {
    for d in std::iter::once(train).chain(eval) {
        if !datasets.contains_key(d) {
            let key = if d == train { "train" } else { "eval" };
            return Err(bad(key, d, format!(
                "runs.{name}: dataset `{d}` is not defined; define it under datasets: or use one of {}",
                datasets.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    if matches!(datasets[train], Dataset::Real) {
        return Err(bad(
            "train",
            train,
            format!("runs.{name}.train: `{train}` is the real folder; train on a rendered dataset"),
        ));
    }
    if let Some(e) = eval.iter().find(|e| is_streamed(datasets, e)) {
        return Err(bad("eval", e, format!(
            "runs.{name}.eval: `{e}` is streamed (stream: true) and evaluation sets are ordinary folders; evaluate on a dataset without stream"
        )));
    }
    Ok(())
}

/// One run: `r` over the defaults `rd`.
fn resolve_run(
    name: &str,
    r: &RawRun,
    rd: &RawRun,
    datasets: &BTreeMap<String, Dataset>,
    bad: &Bad,
) -> Result<Run, StudyError> {
    let Some(train) = r.train.clone().or(rd.train.clone()) else {
        return Err(bad(
            name,
            name,
            format!("runs.{name}.train: missing; name the dataset to train on"),
        ));
    };
    let eval = r.eval.clone().or(rd.eval.clone()).unwrap_or_default();
    check_run_datasets(name, &train, &eval, datasets, bad)?;
    let aug = r.aug.clone().or(rd.aug.clone()).unwrap_or("none".into());
    check_aug(bad, &format!("runs.{name}"), &aug)?;
    let mode = r.mode.clone().or(rd.mode.clone()).unwrap_or("fixed".into());
    let non_repetitive = match mode.as_str() {
        "fixed" => false,
        "non_repetitive" => true,
        _ => {
            return Err(bad(
                "mode",
                &mode,
                format!("runs.{name}.mode: `{mode}` is not fixed or non_repetitive"),
            ))
        }
    };
    if is_streamed(datasets, &train) && !non_repetitive {
        return Err(bad("train", &train, format!(
            "runs.{name}: `{train}` is streamed (stream: true), so each of its images is seen once; set mode: non_repetitive, or drop stream from the dataset"
        )));
    }
    let iters = r.iters.or(rd.iters).unwrap_or(0);
    if iters == 0 {
        return Err(bad(
            name,
            name,
            format!("runs.{name}.iters: missing or 0; give the optimisation steps"),
        ));
    }
    let arch = r
        .arch
        .clone()
        .or(rd.arch.clone())
        .unwrap_or("resnet18".into());
    check_arch(bad, &format!("runs.{name}"), &arch)?;
    let run = Run {
        train,
        eval,
        arch,
        aug,
        non_repetitive,
        iters,
        batch_size: r.batch_size.or(rd.batch_size).unwrap_or(32),
        lr: r.lr.or(rd.lr).unwrap_or(0.01),
        image_size: r.image_size.or(rd.image_size).unwrap_or(224),
        seed: r.seed.or(rd.seed).unwrap_or(0),
        eval_every: r.eval_every.or(rd.eval_every),
    };
    check_numbers(
        bad,
        &format!("runs.{name}"),
        &run.arch,
        run.batch_size,
        Some(run.lr),
        run.image_size,
        run.eval_every,
    )?;
    Ok(run)
}

fn resolve_adaptations(
    raw: &RawSpec,
    datasets: &BTreeMap<String, Dataset>,
    runs: &BTreeMap<String, Run>,
    bad: &Bad,
) -> Result<BTreeMap<String, Adapt>, StudyError> {
    let mut adaptations = BTreeMap::new();
    for (name, a) in &raw.adaptations {
        if runs.contains_key(name) {
            return Err(bad(name, name, format!(
                "adaptations.{name}: a run has the same name; give each run and adaptation its own name"
            )));
        }
        check_adaptation_inputs(name, a, datasets, runs, bad)?;
        adaptations.insert(
            name.clone(),
            resolve_adaptation(name, a, &raw.run_defaults, bad)?,
        );
    }
    Ok(adaptations)
}

/// An adaptation's datasets (defined, not streamed), its init run and its method.
fn check_adaptation_inputs(
    name: &str,
    a: &RawAdapt,
    datasets: &BTreeMap<String, Dataset>,
    runs: &BTreeMap<String, Run>,
    bad: &Bad,
) -> Result<(), StudyError> {
    for d in [Some(&a.source), Some(&a.target), a.target_eval.as_ref()]
        .into_iter()
        .flatten()
    {
        if !datasets.contains_key(d) {
            return Err(bad(
                name,
                d,
                format!(
                    "adaptations.{name}: dataset `{d}` is not defined; define it under datasets:"
                ),
            ));
        }
        if is_streamed(datasets, d) {
            return Err(bad(name, name, format!(
                "adaptations.{name}: `{d}` is streamed (stream: true); a study's adaptations read rendered folders, so use a dataset without stream"
            )));
        }
    }
    if let Some(init) = &a.init {
        if !runs.contains_key(init) {
            return Err(bad("init", init, format!(
                "adaptations.{name}.init: `{init}` is not a run; name a training run whose weights to start from"
            )));
        }
    }
    if serde_json::from_value::<crate::adapt::MethodKind>(serde_json::json!(a.method)).is_err() {
        return Err(bad("method", &a.method, format!(
            "adaptations.{name}.method: `{}` is not source-only, dann, mcd, rca, srdc or disclusterda",
            a.method
        )));
    }
    Ok(())
}

/// One adaptation: `a` over the run defaults `rd`.
fn resolve_adaptation(
    name: &str,
    a: &RawAdapt,
    rd: &RawRun,
    bad: &Bad,
) -> Result<Adapt, StudyError> {
    let aug = a.aug.clone().unwrap_or("weak".into());
    check_aug(bad, &format!("adaptations.{name}"), &aug)?;
    let arch = a
        .arch
        .clone()
        .or(rd.arch.clone())
        .unwrap_or("resnet18".into());
    check_arch(bad, &format!("adaptations.{name}"), &arch)?;
    if a.iters == 0 {
        return Err(bad(
            name,
            name,
            format!("adaptations.{name}.iters: give the iterations (more than 0)"),
        ));
    }
    check_numbers(
        bad,
        &format!("adaptations.{name}"),
        &arch,
        a.batch_size.or(rd.batch_size).unwrap_or(32),
        a.lr,
        a.image_size.or(rd.image_size).unwrap_or(224),
        a.eval_every,
    )?;
    Ok(Adapt {
        source: a.source.clone(),
        target: a.target.clone(),
        target_eval: a.target_eval.clone(),
        eval: a.target_eval.clone().unwrap_or(a.target.clone()),
        method: a.method.clone(),
        init: a.init.clone(),
        pretrained: a.pretrained,
        arch,
        aug,
        iters: a.iters,
        batch_size: a.batch_size.or(rd.batch_size).unwrap_or(32),
        lr: a.lr,
        image_size: a.image_size.or(rd.image_size).unwrap_or(224),
        seed: a.seed.or(rd.seed).unwrap_or(0),
        eval_every: a.eval_every,
    })
}

/// Each table's metric, rows (defined, evaluated on every column) and baseline (a row).
fn check_tables(
    tables: &[Table],
    runs: &BTreeMap<String, Run>,
    adaptations: &BTreeMap<String, Adapt>,
    bad: &Bad,
) -> Result<(), StudyError> {
    for t in tables {
        if t.metric != "acc" && t.metric != "mean" {
            return Err(bad(
                "metric",
                &t.metric,
                format!(
                    "tables `{}`: metric `{}` is not acc or mean",
                    t.title, t.metric
                ),
            ));
        }
        for row in &t.rows {
            let evals: Vec<&String> = match (runs.get(&row.run), adaptations.get(&row.run)) {
                (Some(run), _) => run.eval.iter().collect(),
                (None, Some(a)) => vec![&a.eval],
                (None, None) => {
                    return Err(bad(
                        "run",
                        &row.run,
                        format!(
                            "tables `{}`: run `{}` is not defined under runs: or adaptations:",
                            t.title, row.run
                        ),
                    ))
                }
            };
            for c in &t.columns {
                if !evals.contains(&&c.eval) {
                    return Err(bad("eval", &c.eval, format!(
                        "tables `{}`: run `{}` is not evaluated on `{}`; add it to the run's eval list",
                        t.title, row.run, c.eval
                    )));
                }
            }
        }
        if let Some(b) = &t.baseline {
            if !t.rows.iter().any(|r| &r.run == b) {
                return Err(bad(
                    "baseline",
                    b,
                    format!(
                        "tables `{}`: baseline `{b}` is not one of the table's rows",
                        t.title
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `replicates:` (1 when absent); per-replicate rendering is set per dataset, never as a
/// default.
fn resolve_replicates(raw: &RawSpec, bad: &Bad) -> Result<u32, StudyError> {
    if raw.dataset_defaults.per_replicate {
        return Err(bad("per_replicate", "per_replicate", "dataset_defaults.per_replicate: give `per_replicate: true` per training dataset; evaluation sets are shared by the replicates".into()));
    }
    let replicates = raw.replicates.unwrap_or(1);
    if replicates == 0 {
        return Err(bad(
            "replicates",
            "0",
            "replicates: 0 runs nothing; give 1 or more".into(),
        ));
    }
    Ok(replicates)
}

/// An optional real dataset is only an evaluation column: no adaptation or fit may read it.
fn check_optional_use(
    optional_real: &[String],
    fits: &BTreeMap<String, Fit>,
    adaptations: &BTreeMap<String, Adapt>,
    bad: &Bad,
) -> Result<(), StudyError> {
    let optional_use = adaptations
        .iter()
        .flat_map(|(n, a)| {
            [Some(&a.source), Some(&a.target), a.target_eval.as_ref()]
                .into_iter()
                .flatten()
                .map(move |d| (format!("adaptations.{n}"), d))
        })
        .chain(
            fits.iter()
                .map(|(n, f)| (format!("fits.{n}.target"), &f.target)),
        );
    for (place, d) in optional_use {
        if optional_real.contains(d) {
            return Err(bad("optional", "true", format!(
                "{place}: `{d}` is optional (only an evaluation column, left out without --real); drop optional: true from `{d}` to make --real required"
            )));
        }
    }
    Ok(())
}

/// Evaluation sets are shared by every replicate (the paired test compares the same images),
/// and fits read one rendering: neither may be rendered per replicate.
fn check_per_replicate(
    datasets: &BTreeMap<String, Dataset>,
    fits: &BTreeMap<String, Fit>,
    runs: &BTreeMap<String, Run>,
    adaptations: &BTreeMap<String, Adapt>,
    bad: &Bad,
) -> Result<(), StudyError> {
    let per = |d: &str| matches!(datasets.get(d), Some(Dataset::Render(r)) if r.per_replicate);
    let names = datasets
        .keys()
        .map(|n| ("datasets", n))
        .chain(runs.keys().map(|n| ("runs", n)))
        .chain(adaptations.keys().map(|n| ("adaptations", n)));
    for (section, name) in names {
        if name.contains('@') {
            return Err(bad(
                name,
                name,
                format!(
                "{section}.{name}: `@` is kept for replicates (`NAME@K`); rename it without `@`"
            ),
            ));
        }
    }
    for (name, d) in datasets {
        if let Dataset::Render(r) = d {
            if r.per_replicate && r.weights.is_some() {
                return Err(bad(name, name, format!(
                    "datasets.{name}: a weighted dataset is rendered once; drop per_replicate or weights"
                )));
            }
        }
    }
    let evals = runs
        .iter()
        .flat_map(|(n, r)| r.eval.iter().map(move |e| (format!("runs.{n}.eval"), e)))
        .chain(
            adaptations
                .iter()
                .map(|(n, a)| (format!("adaptations.{n}"), &a.eval)),
        )
        .chain(fits.iter().flat_map(|(n, f)| {
            [
                (format!("fits.{n}.dataset"), &f.dataset),
                (format!("fits.{n}.target"), &f.target),
            ]
        }));
    for (place, d) in evals {
        if per(d) {
            return Err(bad("per_replicate", "true", format!(
                "{place}: `{d}` has per_replicate: true, but evaluation sets and fits read one rendering shared by every replicate (the paired test compares the same images); drop per_replicate from `{d}`"
            )));
        }
    }
    Ok(())
}

fn check_breakdowns(
    breakdowns: &[Breakdown],
    datasets: &BTreeMap<String, Dataset>,
    runs: &BTreeMap<String, Run>,
    adaptations: &BTreeMap<String, Adapt>,
    bad: &Bad,
) -> Result<(), StudyError> {
    for b in breakdowns {
        let t = &b.title;
        if !matches!(datasets.get(&b.eval), Some(Dataset::Render(_))) {
            return Err(bad("eval", &b.eval, format!(
                "breakdowns `{t}`: `{}` is not a rendered dataset; break down a rendered evaluation set (its manifest has the fields)",
                b.eval
            )));
        }
        if b.by == "view_angle" && (b.view.is_none() || b.bins.len() < 2) {
            return Err(bad("by", &b.by, format!(
                "breakdowns `{t}`: by: view_angle needs `view: {{elevation_deg: E, azimuth_deg: A}}` and `bins:` (at least two ascending edges, degrees)"
            )));
        }
        if b.bins.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad(
                "bins",
                "bins",
                format!("breakdowns `{t}`: bins must ascend strictly"),
            ));
        }
        for r in &b.rows {
            let evals: Vec<&String> = match (runs.get(r), adaptations.get(r)) {
                (Some(run), _) => run.eval.iter().collect(),
                (None, Some(a)) => vec![&a.eval],
                (None, None) => {
                    return Err(bad(
                        "rows",
                        r,
                        format!(
                            "breakdowns `{t}`: `{r}` is not defined under runs: or adaptations:"
                        ),
                    ))
                }
            };
            if !evals.contains(&&b.eval) {
                return Err(bad(
                    "rows",
                    r,
                    format!(
                        "breakdowns `{t}`: `{r}` is not evaluated on `{}`; add it to its eval list",
                        b.eval
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Adds replicates 1..K of every run and adaptation (training seed + k) and of every
/// per-replicate dataset (render seed `replicate_seed(seed, k)`); a replicate trains on the
/// same replicate of a per-replicate dataset and starts from the same replicate of its `init`.
fn expand_replicates(spec: &mut Spec) {
    let k_max = spec.replicates;
    let per: Vec<String> = spec
        .datasets
        .iter()
        .filter(|(_, d)| matches!(d, Dataset::Render(r) if r.per_replicate))
        .map(|(n, _)| n.clone())
        .collect();
    let pick = |name: &str, k: u32| {
        if per.iter().any(|p| p == name) {
            replica(name, k)
        } else {
            name.to_string()
        }
    };
    for k in 1..k_max {
        for name in &per {
            let Some(Dataset::Render(r)) = spec.datasets.get(name).cloned() else {
                continue;
            };
            let seed = replicate_seed(r.seed, k);
            let mut overrides = r.overrides.clone();
            // The explicit `seed=` entry is the last one (it wins); replace it.
            if let Some(s) = overrides.iter_mut().rev().find(|o| o.starts_with("seed=")) {
                *s = format!("seed={seed}");
            }
            spec.datasets.insert(
                replica(name, k),
                Dataset::Render(RenderDataset {
                    overrides,
                    seed,
                    ..r
                }),
            );
        }
        let runs: Vec<(String, Run)> = spec
            .runs
            .iter()
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect();
        for (name, r) in runs {
            if name.contains('@') {
                continue;
            }
            let run = Run {
                train: pick(&r.train, k),
                seed: r.seed + u64::from(k),
                ..r
            };
            spec.runs.insert(replica(&name, k), run);
        }
        let adapts: Vec<(String, Adapt)> = spec
            .adaptations
            .iter()
            .map(|(n, a)| (n.clone(), a.clone()))
            .collect();
        for (name, a) in adapts {
            if name.contains('@') {
                continue;
            }
            let adapt = Adapt {
                source: pick(&a.source, k),
                target: pick(&a.target, k),
                init: a.init.as_ref().map(|i| replica(i, k)),
                seed: a.seed + u64::from(k),
                ..a
            };
            spec.adaptations.insert(replica(&name, k), adapt);
        }
    }
}

/// The `fits:` section, and every dataset's `weights:` checked against it. A fit reads a
/// dataset that is not itself weighted, so the stage graph stays render -> fit -> render.
fn resolve_fits(
    raw: &RawSpec,
    datasets: &BTreeMap<String, Dataset>,
    bad: &Bad,
) -> Result<BTreeMap<String, Fit>, StudyError> {
    let weighted =
        |d: &str| matches!(&datasets.get(d), Some(Dataset::Render(r)) if r.weights.is_some());
    let mut fits = BTreeMap::new();
    for (name, f) in &raw.fits {
        match datasets.get(&f.dataset) {
            Some(Dataset::Render(_)) if !weighted(&f.dataset) => {}
            Some(_) => {
                return Err(bad("dataset", &f.dataset, format!(
                    "fits.{name}.dataset: `{}` is not a rendered dataset without weights; name the dataset whose preset to fit",
                    f.dataset
                )))
            }
            None => {
                return Err(bad("dataset", &f.dataset, format!(
                    "fits.{name}.dataset: `{}` is not defined; define it under datasets:",
                    f.dataset
                )))
            }
        }
        if !datasets.contains_key(&f.target) || weighted(&f.target) {
            return Err(bad("target", &f.target, format!(
                "fits.{name}.target: `{}` is not a dataset without weights; name the images to match (a rendered dataset, or one with `real: true` for --real)",
                f.target
            )));
        }
        let holdout = f.holdout.unwrap_or(0.2);
        if !(holdout > 0.0 && holdout < 1.0) {
            return Err(bad(
                name,
                name,
                format!("fits.{name}.holdout: {holdout} must lie strictly between 0 and 1"),
            ));
        }
        let probe_per_class = f.probe_per_class.unwrap_or(50);
        let rounds = f.rounds.unwrap_or(1);
        let iterations = f.iterations.unwrap_or(300);
        if probe_per_class == 0 || rounds == 0 || iterations == 0 {
            return Err(bad(
                name,
                name,
                format!("fits.{name}: probe_per_class, rounds and iterations must be more than 0"),
            ));
        }
        fits.insert(
            name.clone(),
            Fit {
                dataset: f.dataset.clone(),
                target: f.target.clone(),
                probe_per_class,
                rounds,
                iterations,
                holdout,
                seed: f.seed.unwrap_or(0),
            },
        );
    }
    for (name, f) in &raw.fits {
        // A streamed dataset has no folder to probe or match until its runs train.
        if let Some(d) = [&f.dataset, &f.target]
            .into_iter()
            .find(|d| is_streamed(datasets, d))
        {
            return Err(bad(name, name, format!(
                "fits.{name}: `{d}` is streamed (stream: true); a fit reads rendered folders, so use a dataset without stream"
            )));
        }
        if let Some(d) = [&f.dataset, &f.target]
            .into_iter()
            .find(|d| matches!(datasets.get(*d), Some(Dataset::Render(r)) if r.webdataset))
        {
            return Err(bad(name, name, format!(
                "fits.{name}: `{d}` is written as shards (format: webdataset); a fit reads an ImageFolder's image files, so drop its format"
            )));
        }
    }
    for (name, d) in datasets {
        if let Dataset::Render(RenderDataset {
            weights: Some(w),
            stream: true,
            ..
        }) = d
        {
            return Err(bad("weights", w, format!(
                "datasets.{name}: a streamed dataset renders with its preset's own weights; drop weights: or stream: true"
            )));
        }
        if let Dataset::Render(RenderDataset {
            weights: Some(w), ..
        }) = d
        {
            if !fits.contains_key(w) {
                return Err(bad("weights", w, format!(
                    "datasets.{name}.weights: `{w}` is not a fit; define it under fits: (or drop weights:)"
                )));
            }
        }
    }
    Ok(fits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "name: t
dataset_defaults: {preset: demo, classes: [chair, table], per_class: 4, resolution: 32}
run_defaults: {arch: resnet_tiny, iters: 5, eval: [test]}
datasets:
  train: {seed: 3, set: [render.samples=4]}
  test: {per_class: 2, split: test}
runs:
  a: {train: train}
  b: {train: train, mode: non_repetitive, aug: strong}
tables:
  - title: T
    baseline: a
    columns: [{eval: test}]
    rows: [{run: a}, {run: b, paper: {test: 60}}]
";

    #[test]
    fn defaults_fill_datasets_and_runs() {
        let spec = parse(SPEC, "t.yaml").unwrap();
        let Dataset::Render(train) = &spec.datasets["train"] else {
            panic!("train is rendered")
        };
        assert_eq!(train.per_class, 4);
        assert_eq!(train.seed, 3);
        // Explicit fields come after the `set:` lines, so they win.
        assert_eq!(
            train.overrides,
            [
                "render.samples=4",
                "classes=[chair, table]",
                "images_per_class=4",
                "seed=3",
                "split.use=train",
                "render.resolution=32"
            ]
        );
        let b = &spec.runs["b"];
        assert!(b.non_repetitive && b.aug == "strong" && b.iters == 5 && b.eval == ["test"]);
        assert!(!spec.runs["a"].non_repetitive);
    }

    #[test]
    fn errors_name_the_place_and_the_fix() {
        let err = |text: &str| parse(text, "t.yaml").unwrap_err().to_string();
        let e = err(&SPEC.replace("mode: non_repetitive", "mode: streaming"));
        assert!(e.starts_with("t.yaml:9:"), "{e}");
        assert!(
            e.contains("`streaming` is not fixed or non_repetitive"),
            "{e}"
        );
        let e = err(&SPEC.replace("baseline: a", "baseline: c"));
        assert!(
            e.starts_with("t.yaml:12:15: tables `T`: baseline `c`"),
            "{e}"
        );
        let e = err(&SPEC.replace(
            "  test: {per_class: 2, split: test}",
            "  test: {per_class: 2, split: heldout}",
        ));
        assert!(e.contains("`heldout` is not train, test or all"), "{e}");
        let e = err(&SPEC.replace("{arch: resnet_tiny,", "{arch: resnet9,"));
        assert!(e.starts_with("t.yaml:3:22: runs.a.arch: `resnet9`"), "{e}");
        let e = err("name: t\ndatasets: [a]\n");
        assert!(e.starts_with("t.yaml:2:11: datasets: invalid type"), "{e}");
    }

    #[test]
    fn fits_resolve_and_their_errors_name_the_place() {
        let with_fit = SPEC.replace(
            "  test: {per_class: 2, split: test}\n",
            "  test: {per_class: 2, split: test}\n  weighted: {weights: f}\nfits:\n  f: {dataset: train, target: test, probe_per_class: 5}\n",
        );
        let spec = parse(&with_fit, "t.yaml").unwrap();
        let f = &spec.fits["f"];
        assert_eq!((f.dataset.as_str(), f.target.as_str()), ("train", "test"));
        assert_eq!((f.probe_per_class, f.rounds, f.iterations), (5, 1, 300));
        let Dataset::Render(w) = &spec.datasets["weighted"] else {
            panic!("weighted is rendered")
        };
        assert_eq!(w.weights.as_deref(), Some("f"));
        let err = |text: &str| parse(text, "t.yaml").unwrap_err().to_string();
        let e = err(&with_fit.replace("{weights: f}", "{weights: g}"));
        assert!(
            e.starts_with("t.yaml:7:23: datasets.weighted.weights: `g` is not a fit"),
            "{e}"
        );
        let e = err(&with_fit.replace("{dataset: train,", "{dataset: trian,"));
        assert!(
            e.starts_with("t.yaml:9:16: fits.f.dataset: `trian` is not defined"),
            "{e}"
        );
        let e = err(&with_fit.replace("target: test,", "target: weighted,"));
        assert!(
            e.contains("fits.f.target: `weighted` is not a dataset without weights"),
            "{e}"
        );
        let e = err(&with_fit.replace("{dataset: train,", "{dataset: weighted,"));
        assert!(
            e.contains("fits.f.dataset: `weighted` is not a rendered dataset without weights"),
            "{e}"
        );
        let e = err(&with_fit.replace("probe_per_class: 5}", "probe_per_class: 5, holdout: 1.5}"));
        assert!(
            e.contains("fits.f.holdout: 1.5 must lie strictly between 0 and 1"),
            "{e}"
        );
        let e = err(&with_fit.replace(
            "{per_class: 2, split: test}",
            "{per_class: 2, split: test, stream: true}",
        ));
        assert!(
            e.contains("fits.f: `test` is streamed (stream: true)"),
            "{e}"
        );
        let e = err(&with_fit.replace("{weights: f}", "{weights: f, stream: true}"));
        assert!(
            e.contains(
                "datasets.weighted: a streamed dataset renders with its preset's own weights"
            ),
            "{e}"
        );
    }

    #[test]
    fn sets_override_nested_fields() {
        let text = apply_sets(
            SPEC,
            "t.yaml",
            &["runs.a.iters=9".into(), "datasets.test.seed=7".into()],
        )
        .unwrap();
        let spec = parse(&text, "t.yaml with --set").unwrap();
        assert_eq!(spec.runs["a"].iters, 9);
        let Dataset::Render(test) = &spec.datasets["test"] else {
            panic!("test is rendered")
        };
        assert_eq!(test.seed, 7);
        let e = apply_sets(SPEC, "t.yaml", &["runs.a.iters".into()]).unwrap_err();
        assert!(e.to_string().contains("key=value"), "{e}");
    }

    #[test]
    fn a_streamed_dataset_feeds_non_repetitive_runs_only() {
        let streamed = SPEC.replace("{seed: 3, set:", "{seed: 3, stream: true, set:");
        let only_b = streamed.replace("  a: {train: train}\n", "").replace(
            "baseline: a\n    columns: [{eval: test}]\n    rows: [{run: a}, ",
            "columns: [{eval: test}]\n    rows: [",
        );
        let spec = parse(&only_b, "t.yaml").unwrap();
        assert!(matches!(&spec.datasets["train"], Dataset::Render(r) if r.stream));
        let err = |text: &str| parse(text, "t.yaml").unwrap_err().to_string();
        let e = err(&streamed);
        assert!(e.contains("runs.a: `train` is streamed"), "{e}");
        assert!(e.contains("set mode: non_repetitive"), "{e}");
        let e = err(&only_b.replace("eval: [test]", "eval: [test, train]"));
        assert!(e.contains("runs.b.eval: `train` is streamed"), "{e}");
    }

    #[test]
    fn replicates_repeat_runs_with_seeds_and_per_replicate_renders() {
        let text = SPEC
            .replace("name: t\n", "name: t\nreplicates: 3\n")
            .replace("{seed: 3, set:", "{seed: 3, per_replicate: true, set:");
        let spec = parse(&text, "t.yaml").unwrap();
        assert_eq!(spec.replicas("a"), ["a", "a@1", "a@2"]);
        assert_eq!(spec.replicas("a@1"), ["a@1"]);
        assert_eq!(spec.replicas("train"), ["train", "train@1", "train@2"]);
        // The shared test set has one rendering.
        assert_eq!(spec.replicas("test"), ["test"]);
        assert!(!spec.datasets.contains_key("test@1"));
        let (a0, a2) = (&spec.runs["a"], &spec.runs["a@2"]);
        assert_eq!((a0.seed, a2.seed), (0, 2));
        assert_eq!((a0.train.as_str(), a2.train.as_str()), ("train", "train@2"));
        assert_eq!(a2.eval, ["test"]);
        let (Dataset::Render(t0), Dataset::Render(t2)) =
            (&spec.datasets["train"], &spec.datasets["train@2"])
        else {
            panic!("rendered")
        };
        assert_eq!(t2.seed, replicate_seed(3, 2));
        assert!(t2.seed != t0.seed && t2.seed != replicate_seed(3, 1));
        assert_eq!(t2.overrides.last().unwrap(), "render.resolution=32");
        assert!(t2.overrides.contains(&format!("seed={}", t2.seed)));
        assert!(!t2.overrides.contains(&"seed=3".to_string()));

        let err = |text: &str| parse(text, "t.yaml").unwrap_err().to_string();
        let e = err(&text.replace(
            "{per_class: 2, split: test}",
            "{per_class: 2, split: test, per_replicate: true}",
        ));
        assert!(
            e.contains("runs.a.eval: `test` has per_replicate: true"),
            "{e}"
        );
        let e = err(&text.replace("replicates: 3", "replicates: 0"));
        assert!(e.contains("replicates: 0 runs nothing"), "{e}");
        let e = err(&text.replace(
            "  a: {train: train}",
            "  a: {train: train}\n  c@1: {train: train}",
        ));
        assert!(e.contains("`@` is kept for replicates"), "{e}");
    }

    #[test]
    fn a_dataset_format_renders_shards_and_bad_formats_are_refused() {
        let shards = SPEC.replace("resolution: 32}", "resolution: 32, format: webdataset}");
        let spec = parse(&shards, "t.yaml").unwrap();
        let Dataset::Render(train) = &spec.datasets["train"] else {
            panic!("train is rendered")
        };
        assert!(train.webdataset);
        assert!(train
            .overrides
            .contains(&"output.format=webdataset".to_string()));
        let plain = parse(SPEC, "t.yaml").unwrap();
        assert!(matches!(&plain.datasets["train"], Dataset::Render(r) if !r.webdataset));
        let err = |text: &str| parse(text, "t.yaml").unwrap_err().to_string();
        let e = err(&SPEC.replace("{seed: 3,", "{seed: 3, format: tar,"));
        assert!(
            e.contains("datasets.train.format: `tar` is not imagefolder or webdataset"),
            "{e}"
        );
        let e = err(&SPEC.replace(
            "  test: {per_class: 2, split: test}",
            "  test: {real: true, format: webdataset}",
        ));
        assert!(e.contains("datasets.test.format: a real dataset"), "{e}");
        let with_fit = shards.replace(
            "  test: {per_class: 2, split: test}\n",
            "  test: {per_class: 2, split: test}\nfits:\n  f: {dataset: train, target: test, probe_per_class: 5}\n",
        );
        let e = err(&with_fit);
        assert!(e.contains("fits.f: `train` is written as shards"), "{e}");
    }

    #[test]
    fn breakdowns_are_checked() {
        let with = |b: &str| format!("{SPEC}breakdowns:\n  - {b}\n");
        let spec = parse(
            &with("{title: B, eval: test, by: view_angle, view: {elevation_deg: 20, azimuth_deg: 45}, bins: [0, 90, 180], rows: [a, b]}"),
            "t.yaml",
        )
        .unwrap();
        assert_eq!(spec.breakdowns[0].rows, ["a", "b"]);
        let err = |text: &str| parse(text, "t.yaml").unwrap_err().to_string();
        let e = err(&with("{title: B, eval: test, by: view_angle, rows: [a]}"));
        assert!(e.contains("by: view_angle needs `view:"), "{e}");
        let e = err(&with(
            "{title: B, eval: test, by: params.background.kind, rows: [c]}",
        ));
        assert!(e.contains("`c` is not defined under runs"), "{e}");
        let e = err(&with(
            "{title: B, eval: train, by: params.background.kind, rows: [a]}",
        ));
        assert!(e.contains("`a` is not evaluated on `train`"), "{e}");
    }
}
