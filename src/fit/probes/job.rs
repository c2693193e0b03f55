//! A whole fit as one library call, used by `synthgen fit` and by the study's fit stage: the
//! probe plan, probe rounds rendered in this process (a finished or interrupted round is
//! resumed; images that fail validation are counted and left out), descriptors, the fit
//! rounds, the optional `--val` refinement and per-class step, and the outputs (weights file,
//! chart, sample grids, report), each written atomically.
use super::pool::{list_target, space_of, FitError, ProbePool, MIN_TARGET_IMAGES};
use super::run::{describe_probe, describe_target, fit_round, Measure, Round, Target};
use crate::fit::descriptors::features::{FeatureDevice, FeatureKind, FeatureSource};
use crate::fit::descriptors::ImageItem;
use crate::fit::optimisation::classes::{
    fit_per_class, target_labels, Labelling, PerClass, PerClassInputs, PerClassMode,
};
use crate::fit::optimisation::mmd::Features;
use crate::fit::optimisation::optimise::FitOptions;
use crate::fit::optimisation::refine::{self, RefineError, RefineOptions, Refinement};
use crate::fit::optimisation::val_set::ValSet;
use crate::fit::{report, FactorLevels, LevelWeights};
use crate::preset::Preset;
use crate::render::job::{JobError, ShapeNetOptions};
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The report's per-factor chart of the weights before and after, in the work folder.
pub const CHART_FILE: &str = "weights.png";

/// What to fit and how: the command fills it from its flags, the study from its spec.
#[derive(Debug, Clone)]
pub struct FitJob {
    /// The preset (name or path) whose factors are fitted and which the probe renders use,
    /// with its overrides (`--set`).
    pub preset: String,
    pub overrides: Vec<String>,
    /// Target images (any layout), or a rendered dataset.
    pub target: PathBuf,
    /// The weights file to write.
    pub out: PathBuf,
    /// Probe renders (`probe-<round>/`) and the report.
    pub work: PathBuf,
    /// A rendered dataset used as the first probe pool instead of rendering one.
    pub probe: Option<PathBuf>,
    pub probe_per_class: u64,
    /// Probe rounds at most.
    pub rounds: u32,
    /// Seed of the probe renders (round r renders with seed + r) and of the held-out split.
    pub seed: u64,
    pub holdout: f64,
    /// Optimiser steps per round.
    pub iterations: usize,
    /// ESS guard, as a fraction of the pool.
    pub min_ess: f64,
    pub features: FeatureKind,
    pub checkpoint: Option<PathBuf>,
    pub device: FeatureDevice,
    /// A labelled validation set that refines the weights, and the refinement steps.
    pub val: Option<PathBuf>,
    pub val_steps: usize,
    pub per_class: PerClassMode,
    pub show_progress: bool,
    pub shapenet: ShapeNetOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum FitJobError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Fit(#[from] FitError),
    #[error(transparent)]
    Refine(#[from] RefineError),
    #[error("probe render into {dir}: {source}")]
    Render { dir: String, source: JobError },
    #[error("probe round {round}: only {kept} of {requested} images passed validation ({failed} failed, listed in {failures}); a fit needs at least {min}: relax validate.* (e.g. --set validate.max_attempts=10) or fix what the failures name, then run the same fit again (finished probe renders are reused)")]
    TooFewProbeImages {
        round: usize,
        kept: usize,
        requested: u64,
        failed: usize,
        failures: String,
        min: usize,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("writing {path}: {message}")]
    Image { path: String, message: String },
}

impl FitJobError {
    /// Bad input (exit 2) rather than a failure while running (exit 1).
    pub fn is_input_error(&self) -> bool {
        match self {
            FitJobError::Input(_) => true,
            FitJobError::Fit(FitError::Features(f)) => f.is_input_error(),
            FitJobError::Fit(_) => true,
            FitJobError::Refine(e) => e.is_input_error(),
            FitJobError::Render { source, .. } => source.is_input_error(),
            FitJobError::TooFewProbeImages { .. }
            | FitJobError::Io { .. }
            | FitJobError::Image { .. } => false,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FitJobError + '_ {
    move |source| FitJobError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What a fit found; its files are written when `run` returns.
#[derive(Debug, Clone)]
pub struct FitOutcome {
    pub space: Vec<FactorLevels>,
    /// The probe's uniform weights and the fitted (class-agnostic) ones, per factor.
    pub before: Vec<Vec<f64>>,
    pub after: Vec<Vec<f64>>,
    pub heldout_mmd2_before: f64,
    pub heldout_mmd2_after: f64,
    pub effective_sample_size: f64,
    /// Images of the first probe pool that were described.
    pub probe_images: usize,
    pub target_images: usize,
    pub target_unreadable: usize,
    pub rounds: usize,
    /// The weights file's `fit:` record.
    pub record: Mapping,
}

/// Runs the fit and writes the weights file (`job.out`) and the report files in `job.work`.
pub fn run(job: &FitJob) -> Result<FitOutcome, FitJobError> {
    let Inputs {
        preset,
        space,
        source,
        val,
        target_items,
    } = Inputs::open(job)?;
    let mut probes = Probes {
        job,
        preset: &preset,
        space: &space,
        source: &source,
        with_mask: false,
        failed: 0,
        unreadable: 0,
    };
    let uniform = LevelWeights::uniform(&preset);
    let mut pool = match &job.probe {
        Some(dir) => ProbePool::load(dir, &space)?,
        None => probes.render(&uniform, 0)?,
    };
    let (target, mut probe, describe_s) = probes.describe_first(&target_items, &mut pool)?;
    let t1 = Instant::now();
    let measure = Measure::new(&target, &probe);
    let opts = FitOptions {
        iterations: job.iterations,
        min_ess_fraction: job.min_ess,
        ..FitOptions::default()
    };
    let first_pool = pool.clone();
    // A labelled target keeps the last of the rounds for the per-class probe round.
    let labelled = job.per_class == PerClassMode::Auto
        && matches!(
            target_labels(&job.target, &target_items, &preset.classes),
            Labelling::Labelled(_)
        );
    let fit = Fit {
        measure: &measure,
        opts: &opts,
        target: &target,
        reserved_round: usize::from(labelled && job.rounds > 1),
    };
    let rounds = fit.rounds(&mut probes, &mut pool, &mut probe, &uniform.weights)?;
    let (first, last) = (&rounds[0], &rounds[rounds.len() - 1]);
    let refinement = match &val {
        Some(val) => Some(refine_weights(
            job,
            &source,
            val,
            &pool,
            &probe,
            probes.with_mask,
            &last.result.weights,
        )?),
        None => None,
    };
    let fitted = LevelWeights {
        factors: space.clone(),
        weights: refinement
            .as_ref()
            .map_or(&last.result.weights, |r| &r.after().weights)
            .clone(),
    };
    let per_class = fit.per_class(&mut probes, &fitted, (&pool, &probe), rounds.len())?;
    let seconds = (describe_s, t1.elapsed().as_secs_f64());
    let mut info = probes.record(&target, &first_pool, &rounds, seconds);
    if let Some(r) = &refinement {
        let (problem, kph) = measure.problem(&pool, &probe);
        let mmd = measure.held_mmd2(&problem, &kph, &problem.image_weights(&fitted.weights));
        info.insert("refinement".into(), refinement_record(job, r, mmd));
    }
    info.insert("per_class".into(), per_class.record());
    let text = fitted.to_yaml_with_classes(
        &preset.name,
        Value::Mapping(info.clone()),
        &per_class.weights(&space),
    );
    crate::fsio::write_atomic(&job.out, text.as_bytes()).map_err(io(&job.out))?;
    let shown = Shown {
        first_pool: &first_pool,
        first,
        last,
        last_pool: &pool,
        refinement: refinement.as_ref(),
        per_class: &per_class,
    };
    write_report(&job.work, &space, &uniform.weights, &fitted.weights, &shown)?;
    Ok(FitOutcome {
        space,
        before: uniform.weights,
        after: fitted.weights,
        heldout_mmd2_before: first.held_before,
        heldout_mmd2_after: last.held_after,
        effective_sample_size: last.result.ess,
        probe_images: first_pool.items.len(),
        target_images: target.train.len() + target.held.len(),
        target_unreadable: target.unreadable,
        rounds: rounds.len(),
        record: info,
    })
}

/// What a fit reads before anything is rendered.
struct Inputs {
    preset: Preset,
    space: Vec<FactorLevels>,
    source: FeatureSource,
    val: Option<ValSet>,
    target_items: Vec<ImageItem>,
}

impl Inputs {
    /// Checks the job's numbers and opens its inputs, creating the work folder.
    fn open(job: &FitJob) -> Result<Inputs, FitJobError> {
        check_fractions(job)?;
        let preset = Preset::load(&job.preset, &job.overrides)
            .map_err(|e| FitJobError::Input(e.to_string()))?;
        let space = space_of(&preset)?;
        // Feature source and validation set first: their errors must not wait for a render.
        let source = FeatureSource::open(job.features, job.checkpoint.as_deref(), job.device)
            .map_err(FitError::from)?;
        let val = open_val(job, &preset)?;
        std::fs::create_dir_all(&job.work).map_err(io(&job.work))?;
        let target_items = list_target(&job.target)?;
        if target_items.len() < MIN_TARGET_IMAGES {
            return Err(FitError::TooFewTargets {
                dir: job.target.display().to_string(),
                found: target_items.len(),
                unreadable: 0,
                min: MIN_TARGET_IMAGES,
            }
            .into());
        }
        Ok(Inputs {
            preset,
            space,
            source,
            val,
            target_items,
        })
    }
}

/// `--holdout` and `--min-ess` are fractions strictly between 0 and 1.
fn check_fractions(job: &FitJob) -> Result<(), FitJobError> {
    if !(job.holdout > 0.0 && job.holdout < 1.0) {
        return Err(FitJobError::Input(format!(
            "--holdout must lie strictly between 0 and 1 (got {})",
            job.holdout
        )));
    }
    if !(job.min_ess > 0.0 && job.min_ess < 1.0) {
        return Err(FitJobError::Input(format!(
            "--min-ess is a fraction of the probe pool and must lie strictly between 0 and 1 (got {})",
            job.min_ess
        )));
    }
    Ok(())
}

/// The class-agnostic fit: what each round measures and how it optimises.
struct Fit<'a> {
    measure: &'a Measure,
    opts: &'a FitOptions,
    target: &'a Target,
    /// 1 when the last probe round is kept for the per-class step.
    reserved_round: usize,
}

impl Fit<'_> {
    /// Per class, starting from the class-agnostic weights `fitted`; a probe round left
    /// (after `rounds_done`) may render a probe from them when a class's share of the last
    /// pool is too thin.
    fn per_class(
        &self,
        probes: &mut Probes,
        fitted: &LevelWeights,
        (pool, probe): (&ProbePool, &Features),
        rounds_done: usize,
    ) -> Result<PerClass, FitJobError> {
        let job = probes.job;
        let rounds_left = (job.rounds as usize).saturating_sub(rounds_done);
        let inputs = PerClassInputs {
            mode: job.per_class,
            target_dir: &job.target,
            classes: &probes.preset.classes,
            target: self.target,
            measure: self.measure,
            agnostic: &fitted.weights,
            opts: self.opts,
        };
        fit_per_class(&inputs, pool, probe, || {
            if rounds_left == 0 {
                return Ok(None);
            }
            let mut p = probes.render(fitted, rounds_done)?;
            let f = probes.describe(&mut p)?;
            Ok::<_, FitJobError>(Some((p, f)))
        })
    }

    /// Fit rounds from `start`: while the ESS guard limits a round and rounds are left, the
    /// next probe round renders from the round's weights and the next fit starts there.
    fn rounds(
        &self,
        probes: &mut Probes,
        pool: &mut ProbePool,
        probe: &mut Features,
        start: &[Vec<f64>],
    ) -> Result<Vec<Round>, FitJobError> {
        let job = probes.job;
        let mut start = start.to_vec();
        let mut rounds = Vec::new();
        loop {
            let round = fit_round(self.measure, pool, probe, &start, self.opts);
            tracing::info!(
                "round {}: held-out MMD^2 {:.5} -> {:.5}, ESS {:.0} of {}{}",
                rounds.len(),
                round.held_before,
                round.held_after,
                round.result.ess,
                probe.len(),
                if round.result.ess_limited {
                    " (ESS guard)"
                } else {
                    ""
                }
            );
            start = round.result.weights.clone();
            let again = round.result.ess_limited
                && rounds.len() + 1 + self.reserved_round < job.rounds as usize;
            rounds.push(round);
            if !again {
                return Ok(rounds);
            }
            let current = LevelWeights {
                factors: probes.space.to_vec(),
                weights: start.clone(),
            };
            *pool = probes.render(&current, rounds.len())?;
            *probe = probes.describe(pool)?;
        }
    }
}

/// The probe plan: round `r` renders `probe_per_class` images per class of the preset with
/// seed `seed + r` and the round's weights, into `<work>/probe-<r>`; its pools are described
/// by `source`. Counts the probe images left out.
struct Probes<'a> {
    job: &'a FitJob,
    preset: &'a Preset,
    space: &'a [FactorLevels],
    source: &'a FeatureSource,
    /// Mask statistics in the descriptors (both sides have masks for every image).
    with_mask: bool,
    /// Images that failed validation in rendered rounds (left out).
    failed: usize,
    /// Probe images that could not be described (left out).
    unreadable: usize,
}

impl Probes<'_> {
    /// Describes the target and the first probe pool, with mask statistics only when both
    /// sides have masks for every image; returns the seconds it took too.
    fn describe_first(
        &mut self,
        target_items: &[ImageItem],
        pool: &mut ProbePool,
    ) -> Result<(Target, Features, f64), FitJobError> {
        let job = self.job;
        self.with_mask = pool.items.iter().all(|i| i.mask.is_some())
            && target_items.iter().all(|i| i.mask.is_some());
        let t0 = Instant::now();
        let target = describe_target(
            self.source,
            &job.target,
            target_items,
            self.with_mask,
            job.holdout,
            job.seed,
        )?;
        let probe = self.describe(pool)?;
        let describe_s = t0.elapsed().as_secs_f64();
        tracing::info!(
            "descriptors: {} target ({} unreadable skipped), {} probe in {describe_s:.1} s",
            target.train.len() + target.held.len(),
            target.unreadable,
            probe.len()
        );
        Ok((target, probe, describe_s))
    }

    /// The descriptors of `pool`, which keeps only the images that could be described.
    fn describe(&mut self, pool: &mut ProbePool) -> Result<Features, FitJobError> {
        let (features, unreadable) = describe_probe(self.source, pool, self.with_mask)?;
        self.unreadable += unreadable;
        Ok(features)
    }

    /// The weights file's `fit:` record, without the refinement and per-class parts;
    /// `seconds`: (describing, fitting).
    fn record(
        &self,
        target: &Target,
        first_pool: &ProbePool,
        rounds: &[Round],
        (describe_s, fit_s): (f64, f64),
    ) -> Mapping {
        let job = self.job;
        let (first, last) = (&rounds[0], &rounds[rounds.len() - 1]);
        let mut info = Mapping::new();
        let mut put = |k: &str, v: Value| info.insert(Value::String(k.into()), v);
        put("target", Value::String(job.target.display().to_string()));
        put(
            "target_images",
            int((target.train.len() + target.held.len()) as u64),
        );
        put("target_unreadable", int(target.unreadable as u64));
        put("probe_images", int(first_pool.items.len() as u64));
        put("probe_unreadable", int(self.unreadable as u64));
        put("probe_failed", int(self.failed as u64));
        put("rounds", int(rounds.len() as u64));
        put("seed", int(job.seed));
        put("heldout_mmd2_before", num(first.held_before));
        put("heldout_mmd2_after", num(last.held_after));
        put("effective_sample_size", num(last.result.ess));
        put("mask_statistics", Value::Bool(self.with_mask));
        put("describe_seconds", num(describe_s));
        put("fit_seconds", num(fit_s));
        put("features", Value::String(self.source.describe_source()));
        info
    }

    /// Renders probe round `round` with `weights` (resuming a finished or interrupted one)
    /// and loads it; images that failed validation are left out and counted in `failed`.
    fn render(&mut self, weights: &LevelWeights, round: usize) -> Result<ProbePool, FitJobError> {
        let job = self.job;
        // The round's weights file, read back as `render --weights` reads one, so the probe
        // can be rendered again by hand from what is on disk.
        let wfile = job.work.join(format!("probe-{round}.weights.yaml"));
        let text = weights.to_yaml(&self.preset.name, Value::Null);
        crate::fsio::write_atomic(&wfile, text.as_bytes()).map_err(io(&wfile))?;
        let out = job.work.join(format!("probe-{round}"));
        let per_class = job.probe_per_class.max(1);
        let mut overrides = job.overrides.clone();
        overrides.push(format!("images_per_class={per_class}"));
        overrides.push(format!("seed={}", job.seed + round as u64));
        let mut preset =
            Preset::load(&job.preset, &overrides).map_err(|e| FitJobError::Input(e.to_string()))?;
        LevelWeights::parse(&text, &wfile.display().to_string(), &preset)
            .map_err(|e| FitJobError::Input(e.to_string()))?
            .apply(&mut preset);
        if let Some(warning) = crate::sample::drop_missing_builtin_photos(&mut preset) {
            tracing::warn!("{warning}");
        }
        let classes = preset.classes.len().max(1) as u64;
        let requested = per_class * classes;
        let resume = out.join(crate::dataset::manifest::MANIFEST_FILE).exists();
        tracing::info!(
            "rendering probe round {round}: {per_class} images per class into {}",
            out.display()
        );
        let stats = crate::render::job::render_keeping_failures(
            preset,
            &out,
            resume,
            job.show_progress,
            &job.shapenet,
            &mut |line: &str| tracing::info!("{}", line.trim_end()),
        )
        .map_err(|source| FitJobError::Render {
            dir: out.display().to_string(),
            source,
        })?;
        // The render's own summary (rendered, already done after a resume, rejects) in the log.
        for line in stats.summary_text().lines() {
            tracing::info!("probe round {round}: {line}");
        }
        // A round that gave up on some images goes on without them, unless too few are left.
        let failed = stats.failed.len();
        let pool = ProbePool::load(&out, self.space);
        let kept = pool.as_ref().map_or(0, |p| p.items.len());
        if failed > 0 {
            let failures = out.join(crate::dataset::layout::FAILURES_FILE);
            if kept < min_probe_images(requested) {
                return Err(FitJobError::TooFewProbeImages {
                    round,
                    kept,
                    requested,
                    failed,
                    failures: failures.display().to_string(),
                    min: min_probe_images(requested),
                });
            }
            tracing::warn!(
                "probe round {round}: {failed} of {requested} images failed validation and are left out (listed in {})",
                failures.display()
            );
            self.failed += failed;
        }
        Ok(pool?)
    }
}

/// Fewest images a rendered probe round may keep after validation failures: half of what
/// was asked for (more failing means the preset's settings are off, not bad luck), and
/// never fewer than the optimiser's ESS floor of 20.
fn min_probe_images(requested: u64) -> usize {
    (requested as usize).div_ceil(2).max(20)
}

fn int(x: u64) -> Value {
    Value::Number(x.into())
}

fn num(x: f64) -> Value {
    Value::Number(((x * 1e6).round() / 1e6).into())
}

/// What the report shows besides the weights.
struct Shown<'a> {
    first_pool: &'a ProbePool,
    first: &'a Round,
    last: &'a Round,
    last_pool: &'a ProbePool,
    refinement: Option<&'a Refinement>,
    per_class: &'a PerClass,
}

fn write_report(
    work: &Path,
    space: &[FactorLevels],
    before: &[Vec<f64>],
    after: &[Vec<f64>],
    s: &Shown,
) -> Result<(), FitJobError> {
    let save_png = |name: &str, img: image::RgbImage| {
        let path = work.join(name);
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| FitJobError::Image {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        crate::fsio::write_atomic(&path, &png).map_err(io(&path))
    };
    save_png(CHART_FILE, report::bar_chart(space, before, after))?;
    save_png(
        "grid_before.png",
        report::sample_grid(
            &s.first_pool.items,
            &s.first.proposal_image_weights,
            4,
            64,
            1,
        ),
    )?;
    save_png(
        "grid_after.png",
        report::sample_grid(&s.last_pool.items, &s.last.result.image_weights, 4, 64, 1),
    )?;
    let mut md = format!(
        "# Fit report\n\nHeld-out MMD^2: {:.5} before, {:.5} after.\n\nweights.png: one group of bars per factor, in this order (grey: before, blue: after).\n\n{}{}",
        s.first.held_before,
        s.last.held_after,
        report::weights_table(space, before, after),
        s.per_class.report(space, after)
    );
    if let Some(r) = s.refinement {
        md.push('\n');
        md.push_str(&refine::report_section(space, r));
    }
    let path = work.join("report.md");
    crate::fsio::write_atomic(&path, md.as_bytes()).map_err(io(&path))
}

/// The `--val` folder, listed and checked before any render.
fn open_val(job: &FitJob, preset: &Preset) -> Result<Option<ValSet>, FitJobError> {
    let Some(dir) = &job.val else {
        return Ok(None);
    };
    if !cfg!(feature = "train") {
        return Err(FitJobError::Input(
            "--val trains a small model, but this synthgen was built without the train feature; rebuild with default features".into(),
        ));
    }
    ValSet::open(dir, &preset.classes)
        .map(Some)
        .map_err(|e| FitJobError::Input(e.to_string()))
}

fn refine_weights(
    job: &FitJob,
    source: &FeatureSource,
    val: &ValSet,
    pool: &ProbePool,
    probe: &Features,
    with_mask: bool,
    start: &[Vec<f64>],
) -> Result<Refinement, FitJobError> {
    let opts = RefineOptions {
        steps: job.val_steps,
        seed: job.seed,
        ..RefineOptions::default()
    };
    let r = refine::refine(source, val, pool, probe, with_mask, start, &opts)?;
    let (b, a) = (r.before().val, r.after().val);
    tracing::info!(
        "--val refinement: validation loss {:.4} -> {:.4}, accuracy {:.3} -> {:.3} ({} steps)",
        b.loss,
        a.loss,
        b.accuracy,
        a.accuracy,
        r.steps.len() - 1
    );
    Ok(r)
}

/// The weights file's `fit.refinement` record.
fn refinement_record(job: &FitJob, r: &Refinement, heldout_mmd2: f64) -> Value {
    let mut m = Mapping::new();
    let mut put = |k: &str, v: Value| m.insert(Value::String(k.into()), v);
    let dir = job
        .val
        .as_ref()
        .map_or(String::new(), |d| d.display().to_string());
    put("val", Value::String(dir));
    put("val_images", int(r.val_images as u64));
    put("val_unreadable", int(r.val_unreadable as u64));
    put("probe_images", int(r.probe_images as u64));
    put("steps", int((r.steps.len() - 1) as u64));
    put("val_loss_before", num(r.before().val.loss));
    put("val_loss_after", num(r.after().val.loss));
    put("val_accuracy_before", num(r.before().val.accuracy));
    put("val_accuracy_after", num(r.after().val.accuracy));
    put("heldout_mmd2_refined", num(heldout_mmd2));
    Value::Mapping(m)
}
