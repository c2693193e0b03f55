//! The fit stage: rendering weights of a dataset's preset fitted to a target, through the
//! library call `synthgen fit` makes (`crate::fit::probes::job`). Probe rounds are rendered into the
//! stage folder (resumable); the weights file, the report and its per-factor chart, and
//! `fit.json` (weights before and after, held-out MMD before and after) are written
//! atomically before `done.json`.
use super::cache;
use super::error::StudyError;
use super::spec::{Fit, Spec};
use super::stages::{record, PlannedDataset, StageRecord};
use crate::fit::descriptors::features::{FeatureDevice, FeatureKind};
use crate::fit::optimisation::classes::PerClassMode;
use crate::fit::optimisation::optimise::FitOptions;
use crate::fit::probes::job::FitJob;
use crate::fit::probes::pool::space_of;
use crate::fit::{FactorLevels, LevelWeights};
use crate::preset::Preset;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const WEIGHTS_FILE: &str = "weights.yaml";
pub const SUMMARY_FILE: &str = "fit.json";
/// Written by the fit's report into the stage folder.
pub use crate::fit::probes::job::CHART_FILE;

#[derive(Debug, Clone)]
pub struct PlannedFit {
    pub name: String,
    pub fit: Fit,
    pub stage: PathBuf,
    pub hash: String,
    /// The fitted dataset's preset (name or path) and overrides, which the probes render.
    pub preset: String,
    pub overrides: Vec<String>,
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
    let min = crate::fit::probes::pool::MIN_TARGET_IMAGES;
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
    let dataset_overrides = overrides.clone();
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
        preset: r.preset.clone(),
        overrides: dataset_overrides,
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
        s.iter().map(|f| (f.path.to_string(), f.names())).collect()
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

/// Fits (rendering probe rounds while the ESS guard stops it and `rounds` allows) and writes
/// the weights, the report and the summary; class-agnostic weights only.
pub fn run_fit(
    f: &PlannedFit,
    show_progress: bool,
    shapenet: &crate::render::job::ShapeNetOptions,
) -> Result<StageRecord, StudyError> {
    let job = FitJob {
        preset: f.preset.clone(),
        overrides: f.overrides.clone(),
        target: f.target.clone(),
        out: f.stage.join(WEIGHTS_FILE),
        work: f.stage.clone(),
        probe: None,
        probe_per_class: f.fit.probe_per_class,
        rounds: f.fit.rounds,
        seed: f.fit.seed,
        holdout: f.fit.holdout,
        iterations: f.fit.iterations,
        min_ess: FitOptions::default().min_ess_fraction,
        features: FeatureKind::Descriptors,
        checkpoint: None,
        device: FeatureDevice::Cpu,
        val: None,
        val_steps: 0,
        per_class: PerClassMode::Off,
        show_progress,
        shapenet: shapenet.clone(),
    };
    let outcome = crate::fit::probes::job::run(&job).map_err(|e| failed(&f.name, e))?;
    let summary = FitSummary {
        preset: f.probe_preset.name.clone(),
        target: f.target.display().to_string(),
        factors: outcome
            .space
            .iter()
            .zip(outcome.before.iter().zip(&outcome.after))
            .map(|(fl, (b, a))| FactorWeights {
                factor: fl.path.to_string(),
                levels: fl.names(),
                before: b.clone(),
                after: a.clone(),
            })
            .collect(),
        heldout_mmd2_before: outcome.heldout_mmd2_before,
        heldout_mmd2_after: outcome.heldout_mmd2_after,
        effective_sample_size: outcome.effective_sample_size,
        probe_images: outcome.probe_images,
        target_images: outcome.target_images,
        target_unreadable: outcome.target_unreadable,
        rounds: outcome.rounds,
    };
    let path = f.stage.join(SUMMARY_FILE);
    let json = serde_json::to_vec_pretty(&summary).expect("summaries serialize");
    crate::fsio::write_atomic(&path, &json).map_err(|e| StudyError::io(&path, e))?;
    let mut rec = record("fit", &f.name, &f.hash);
    rec.images = summary.probe_images;
    rec.status = format!(
        "held-out MMD^2 {:.5} -> {:.5}",
        summary.heldout_mmd2_before, summary.heldout_mmd2_after
    );
    Ok(rec)
}
