//! The fit stage: rendering weights of a dataset's preset fitted to a target (`synthgen fit`,
//! in-process through `crate::fit`). Probe rounds are rendered into the stage folder like a
//! render stage (resumable); the weights file, the per-factor chart and `fit.json` (weights
//! before and after, held-out MMD before and after) are written atomically before `done.json`.
use super::cache;
use super::error::StudyError;
use super::spec::{Fit, Spec};
use super::stages::{record, render_into, PlannedDataset, StageRecord};
use crate::fit::features::{FeatureDevice, FeatureKind, FeatureSource};
use crate::fit::optimise::FitOptions;
use crate::fit::pool::{list_target, space_of, FitError, ProbePool};
use crate::fit::run::{describe_probe, describe_target, fit_round, Measure};
use crate::fit::{report, FactorLevels, LevelWeights};
use crate::preset::Preset;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const WEIGHTS_FILE: &str = "weights.yaml";
pub const SUMMARY_FILE: &str = "fit.json";
pub const CHART_FILE: &str = "weights.png";

#[derive(Debug, Clone)]
pub struct PlannedFit {
    pub name: String,
    pub fit: Fit,
    pub stage: PathBuf,
    pub hash: String,
    /// The fitted dataset's preset at the probe's size and seed, uniform level weights.
    pub probe_preset: Preset,
    pub space: Vec<FactorLevels>,
    pub target: PathBuf,
    /// What the target is, for the report: the `--real` folder or a rendered dataset.
    pub target_kind: String,
}

/// What `fit.json` records: the report's table and chart of the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitSummary {
    pub preset: String,
    pub target: String,
    pub factors: Vec<FactorWeights>,
    pub heldout_mmd2_before: f64,
    pub heldout_mmd2_after: f64,
    pub effective_sample_size: f64,
    pub probe_images: usize,
    pub target_images: usize,
    pub target_unreadable: usize,
    pub rounds: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactorWeights {
    pub factor: String,
    pub levels: Vec<String>,
    /// The probe's (uniform) weights and the fitted ones, per level.
    pub before: Vec<f64>,
    pub after: Vec<f64>,
}

fn input(spec: &Spec, name: &str, e: impl std::fmt::Display) -> StudyError {
    StudyError::input(format!("{}: fits.{name}: {e}", spec.source))
}

/// Checks a fit's inputs and hashes it: its dataset's preset must have factors to fit.
pub fn plan_fit(
    spec: &Spec,
    name: &str,
    fit: &Fit,
    datasets: &BTreeMap<String, PlannedDataset>,
    out: &Path,
) -> Result<PlannedFit, StudyError> {
    let (base, target) = (&datasets[&fit.dataset], &datasets[&fit.target]);
    let min = crate::fit::pool::MIN_TARGET_IMAGES;
    if target.images < min {
        return Err(input(
            spec,
            name,
            format!(
                "target `{}` has {} images; a fit needs at least {min} (more images per class, or a larger --real folder)",
                fit.target, target.images
            ),
        ));
    }
    let super::spec::Dataset::Render(r) = &spec.datasets[&fit.dataset] else {
        unreachable!("the spec checks that a fit's dataset is rendered")
    };
    let mut overrides = r.overrides.clone();
    overrides.push(format!("images_per_class={}", fit.probe_per_class));
    overrides.push(format!("seed={}", fit.seed));
    let mut probe_preset = Preset::load(&r.preset, &overrides).map_err(|e| input(spec, name, e))?;
    let space = space_of(&probe_preset).map_err(|e| input(spec, name, e))?;
    LevelWeights::uniform(&probe_preset)
        .overlay()
        .apply(&mut probe_preset);
    let settings = serde_json::to_string(fit).expect("fits serialize");
    let hash = cache::hash_parts(&[
        "fit",
        &settings,
        &probe_preset.to_yaml(),
        &base.hash,
        &target.hash,
    ]);
    Ok(PlannedFit {
        name: name.to_string(),
        fit: fit.clone(),
        stage: cache::stage_dir(out, "fit", name, &hash),
        hash,
        probe_preset,
        space,
        target: target.data.clone(),
        target_kind: if target.stage.is_none() {
            format!("the --real folder (dataset `{}`)", fit.target)
        } else {
            format!("rendered dataset `{}`", fit.target)
        },
    })
}

/// A weighted dataset's preset must have the fit's factors and levels, so the weights file
/// applies to it (checked at plan time: its error must not wait for the fit).
pub fn check_weights_fit(
    spec: &Spec,
    dataset: &str,
    preset: &Preset,
    fit: &PlannedFit,
) -> Result<(), StudyError> {
    let own = crate::fit::fit_space(preset);
    let names = |s: &[FactorLevels]| -> Vec<(String, Vec<String>)> {
        s.iter().map(|f| (f.name.to_string(), f.names())).collect()
    };
    if names(&own) != names(&fit.space) {
        return Err(StudyError::input(format!(
            "{}: datasets.{dataset}.weights: fit `{}` fits the factors and levels of dataset `{}`, which this dataset's preset and overrides do not have; weight a dataset with the same preset and factor overrides",
            spec.source, fit.name, fit.fit.dataset
        )));
    }
    Ok(())
}

/// Rewrites `preset` with the fitted weights (the stage's weights file).
pub fn apply_weights(fit: &PlannedFit, preset: &mut Preset) -> Result<(), StudyError> {
    let path = fit.stage.join(WEIGHTS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| StudyError::io(&path, e))?;
    let overlay = LevelWeights::parse(&text, &path.display().to_string(), preset)
        .map_err(|e| StudyError::Stage(format!("fit `{}`: {e}", fit.name)))?;
    overlay.apply(preset);
    Ok(())
}

/// The fit's summary, once its stage is done.
pub fn summary(stage: &Path) -> Option<FitSummary> {
    let text = std::fs::read_to_string(stage.join(SUMMARY_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn failed(name: &str, e: impl std::fmt::Display) -> StudyError {
    StudyError::Stage(format!("fit `{name}`: {e}"))
}

/// Fewest images a probe round may keep after validation failures (as `synthgen fit`).
fn min_probe_images(requested: usize) -> usize {
    requested.div_ceil(2).max(20)
}

/// Renders (or resumes) probe round `round` with `weights` and loads it as a pool.
fn probe_round(
    f: &PlannedFit,
    weights: Option<&LevelWeights>,
    round: usize,
    show_progress: bool,
    shapenet: &crate::render::job::ShapeNetOptions,
) -> Result<ProbePool, StudyError> {
    let mut preset = f.probe_preset.clone();
    if let Some(w) = weights {
        w.overlay().apply(&mut preset);
    }
    preset.seed = f.fit.seed + round as u64;
    let dir = f.stage.join(format!("probe-{round}"));
    let stats = render_into(preset, &dir, show_progress, shapenet)
        .map_err(|e| failed(&f.name, format!("probe round {round}: {e}")))?;
    let requested = f.fit.probe_per_class as usize * f.probe_preset.classes.len().max(1);
    if stats.images_total < min_probe_images(requested) {
        return Err(failed(&f.name, format!(
            "probe round {round}: only {} of {requested} images passed validation (failures in {}); relax validate.* in the dataset's set: list",
            stats.images_total,
            dir.display()
        )));
    }
    ProbePool::load(&dir, &f.space).map_err(|e| failed(&f.name, e))
}

/// Renders the probe, fits (more probe rounds while the ESS guard stops it and `rounds`
/// allows) and writes the weights, the chart and the summary.
pub fn run_fit(
    f: &PlannedFit,
    show_progress: bool,
    shapenet: &crate::render::job::ShapeNetOptions,
) -> Result<StageRecord, StudyError> {
    let fit_err = |e: FitError| failed(&f.name, e);
    let source = FeatureSource::open(FeatureKind::Descriptors, None, FeatureDevice::Cpu)
        .map_err(|e| failed(&f.name, e))?;
    let target_items = list_target(&f.target).map_err(fit_err)?;
    let mut pool = probe_round(f, None, 0, show_progress, shapenet)?;
    let with_mask = pool.items.iter().all(|i| i.mask.is_some())
        && target_items.iter().all(|i| i.mask.is_some());
    let target = describe_target(
        &source,
        &f.target,
        &target_items,
        with_mask,
        f.fit.holdout,
        f.fit.seed,
    )
    .map_err(fit_err)?;
    let (mut probe, _) = describe_probe(&source, &mut pool, with_mask).map_err(fit_err)?;
    let probe_images = pool.items.len();
    let measure = Measure::new(&target, &probe);
    let opts = FitOptions {
        iterations: f.fit.iterations,
        ..FitOptions::default()
    };
    let uniform = LevelWeights::uniform(&f.probe_preset);
    let mut start = uniform.weights.clone();
    let mut rounds = Vec::new();
    loop {
        let round = fit_round(&measure, &pool, &probe, &start, &opts);
        tracing::info!(
            "fit {} round {}: held-out MMD^2 {:.5} -> {:.5}, ESS {:.0} of {}",
            f.name,
            rounds.len(),
            round.held_before,
            round.held_after,
            round.result.ess,
            probe.len()
        );
        start = round.result.weights.clone();
        let again = round.result.ess_limited && rounds.len() + 1 < f.fit.rounds as usize;
        rounds.push(round);
        if !again {
            break;
        }
        let current = LevelWeights {
            factors: f.space.clone(),
            weights: start.clone(),
        };
        pool = probe_round(f, Some(&current), rounds.len(), show_progress, shapenet)?;
        probe = describe_probe(&source, &mut pool, with_mask)
            .map_err(fit_err)?
            .0;
    }
    let (first, last) = (&rounds[0], &rounds[rounds.len() - 1]);
    let fitted = LevelWeights {
        factors: f.space.clone(),
        weights: last.result.weights.clone(),
    };
    let summary = FitSummary {
        preset: f.probe_preset.name.clone(),
        target: f.target.display().to_string(),
        factors: f
            .space
            .iter()
            .zip(uniform.weights.iter().zip(&fitted.weights))
            .map(|(fl, (b, a))| FactorWeights {
                factor: fl.name.to_string(),
                levels: fl.names(),
                before: b.clone(),
                after: a.clone(),
            })
            .collect(),
        heldout_mmd2_before: first.held_before,
        heldout_mmd2_after: last.held_after,
        effective_sample_size: last.result.ess,
        probe_images,
        target_images: target.train.len() + target.held.len(),
        target_unreadable: target.unreadable,
        rounds: rounds.len(),
    };
    write_outputs(f, &fitted, &uniform, &summary)?;
    let mut rec = record("fit", &f.name, &f.hash);
    rec.images = probe_images;
    rec.status = format!(
        "held-out MMD^2 {:.5} -> {:.5}",
        summary.heldout_mmd2_before, summary.heldout_mmd2_after
    );
    Ok(rec)
}

fn write_outputs(
    f: &PlannedFit,
    fitted: &LevelWeights,
    uniform: &LevelWeights,
    summary: &FitSummary,
) -> Result<(), StudyError> {
    let write = |name: &str, bytes: &[u8]| {
        let path = f.stage.join(name);
        crate::dataset::atomic::write_atomic(&path, bytes).map_err(|e| StudyError::io(&path, e))
    };
    let info = serde_yaml::to_value(serde_json::json!({
        "target": summary.target,
        "target_images": summary.target_images,
        "probe_images": summary.probe_images,
        "rounds": summary.rounds,
        "seed": f.fit.seed,
        "heldout_mmd2_before": summary.heldout_mmd2_before,
        "heldout_mmd2_after": summary.heldout_mmd2_after,
    }))
    .expect("a JSON value converts to YAML");
    write(
        WEIGHTS_FILE,
        fitted.to_yaml(&f.probe_preset.name, info).as_bytes(),
    )?;
    write(
        SUMMARY_FILE,
        &serde_json::to_vec_pretty(summary).expect("summaries serialize"),
    )?;
    let chart = report::bar_chart(&f.space, &uniform.weights, &fitted.weights);
    let mut png = Vec::new();
    chart
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| failed(&f.name, e))?;
    write(CHART_FILE, &png)
}
