//! `synthgen fit`: learns level weights from target images (weighted rendering, docs/FIT.md).
use super::{CliError, CliResult};
use crate::fit::classes::{fit_per_class, target_labels, Labelling, PerClassInputs, PerClassMode};
use crate::fit::features::{FeatureDevice, FeatureKind, FeatureSource};
use crate::fit::optimise::FitOptions;
use crate::fit::pool::{list_target, space_of, FitError, ProbePool};
use crate::fit::refine::{self, RefineOptions, Refinement};
use crate::fit::run::{describe_probe, describe_target, fit_round, Measure};
use crate::fit::val_set::ValSet;
use crate::fit::{report, FactorLevels, LevelWeights};
use crate::preset::Preset;
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct FitArgs {
    /// Preset name or path: the factors and levels to fit.
    #[arg(long)]
    pub preset: String,
    /// Folder of target images (any layout), or a rendered dataset.
    #[arg(long)]
    pub target: PathBuf,
    /// The weights file to write (use it with `synthgen render --weights`).
    #[arg(long)]
    pub out: PathBuf,
    /// A rendered dataset to use as the first probe pool instead of rendering one.
    #[arg(long, value_name = "DATASET")]
    pub probe: Option<PathBuf>,
    /// Images per probe round rendered with uniform (then current) level weights.
    #[arg(long, default_value_t = 2000)]
    pub probe_size: u64,
    /// Probe rounds at most; a new round is rendered from the current weights when the
    /// effective sample size of the pool falls too low.
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,
    /// Seed of the probe renders and of the held-out split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of the target held out to measure MMD before and after.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// Optimiser steps per round.
    #[arg(long, default_value_t = 300)]
    pub iterations: usize,
    /// Override a preset field, as in `render` (repeatable; also applied to probe renders).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Folder for probe renders and the report (default: <out without extension>.fit/).
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
    /// Image features to match: handcrafted descriptors, a trained checkpoint's pooled
    /// penultimate features, or both concatenated.
    #[arg(long, value_enum, default_value = "descriptors")]
    pub features: FeatureKind,
    /// A `synthgen train` checkpoint (<run>/checkpoint-last.safetensors, with its .json)
    /// for --features checkpoint|both.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Where the checkpoint features are computed.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: FeatureDevice,
    /// A small labelled real validation set (<dir>/<class>/<image>, the preset's class
    /// names): refines the fitted weights so a model trained on the probe does well on it.
    #[arg(long, value_name = "DIR")]
    pub val: Option<PathBuf>,
    /// Refinement steps with --val.
    #[arg(long, default_value_t = 5)]
    pub val_steps: usize,
    /// The fit stops (and renders a fresh probe round, if --rounds allows) when the pool's
    /// effective sample size falls below this fraction of it (never below 20 images).
    #[arg(long, default_value_t = 0.05, value_name = "FRACTION")]
    pub min_ess: f64,
    /// Per-class weights when the target is labelled (class subfolders, or a rendered
    /// dataset): `auto` fits them, `off` keeps class-agnostic weights only.
    #[arg(long, value_enum, default_value = "auto")]
    pub per_class: PerClassMode,
}

pub fn run(args: FitArgs) -> CliResult {
    let input = fit_failure;
    if !(args.holdout > 0.0 && args.holdout < 1.0) {
        return Err(CliError::Input(format!(
            "--holdout must lie strictly between 0 and 1 (got {})",
            args.holdout
        )));
    }
    if !(args.min_ess > 0.0 && args.min_ess < 1.0) {
        return Err(CliError::Input(format!(
            "--min-ess is a fraction of the probe pool and must lie strictly between 0 and 1 (got {})",
            args.min_ess
        )));
    }
    let preset =
        Preset::load(&args.preset, &args.set).map_err(|e| CliError::Input(e.to_string()))?;
    let space = space_of(&preset).map_err(input)?;
    // Feature source and validation set first: their errors must not wait for a render.
    let source = FeatureSource::open(args.features, args.checkpoint.as_deref(), args.device)
        .map_err(|e| fit_failure(e.into()))?;
    let val = open_val(&args, &preset)?;
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| args.out.with_extension("fit"));
    std::fs::create_dir_all(&work)?;
    let target_items = list_target(&args.target).map_err(input)?;
    if target_items.len() < crate::fit::pool::MIN_TARGET_IMAGES {
        return Err(input(FitError::TooFewTargets {
            dir: args.target.display().to_string(),
            found: target_items.len(),
            unreadable: 0,
            min: crate::fit::pool::MIN_TARGET_IMAGES,
        }));
    }
    let uniform = LevelWeights::uniform(&preset);
    // Probe images that failed validation in rendered rounds (left out, counted).
    let mut probe_failed = 0usize;
    let mut pool = match &args.probe {
        Some(dir) => ProbePool::load(dir, &space).map_err(input)?,
        None => render_probe(&args, &preset, &uniform, &work, 0, &mut probe_failed)?,
    };
    // Mask statistics only when both sides have masks for every image.
    let with_mask = pool.items.iter().all(|i| i.mask.is_some())
        && target_items.iter().all(|i| i.mask.is_some());
    let t0 = Instant::now();
    let target = describe_target(
        &source,
        &args.target,
        &target_items,
        with_mask,
        args.holdout,
        args.seed,
    )
    .map_err(input)?;
    let (mut probe, mut probe_unreadable) =
        describe_probe(&source, &mut pool, with_mask).map_err(input)?;
    let describe_s = t0.elapsed().as_secs_f64();
    tracing::info!(
        "descriptors: {} target ({} unreadable skipped), {} probe in {describe_s:.1} s",
        target.train.len() + target.held.len(),
        target.unreadable,
        probe.len()
    );
    let t1 = Instant::now();
    let measure = Measure::new(&target, &probe);
    let opts = FitOptions {
        iterations: args.iterations,
        min_ess_fraction: args.min_ess,
        ..FitOptions::default()
    };
    let first_pool = pool.clone();
    // A labelled target keeps the last of --rounds for the per-class probe round.
    let labelled = args.per_class == PerClassMode::Auto
        && matches!(
            target_labels(&args.target, &target_items, &preset.classes),
            Labelling::Labelled(_)
        );
    let reserved_round = usize::from(labelled && args.rounds > 1);
    let mut start = uniform.weights.clone();
    let mut rounds = Vec::new();
    loop {
        let round = fit_round(&measure, &pool, &probe, &start, &opts);
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
        let again =
            round.result.ess_limited && rounds.len() + 1 + reserved_round < args.rounds as usize;
        rounds.push(round);
        if !again {
            break;
        }
        let current = LevelWeights {
            factors: space.clone(),
            weights: start.clone(),
        };
        pool = render_probe(
            &args,
            &preset,
            &current,
            &work,
            rounds.len(),
            &mut probe_failed,
        )?;
        let (p, u) = describe_probe(&source, &mut pool, with_mask).map_err(input)?;
        probe = p;
        probe_unreadable += u;
    }
    let (first, last) = (&rounds[0], &rounds[rounds.len() - 1]);
    let refinement = match &val {
        Some(val) => Some(refine_weights(
            &args,
            &source,
            val,
            &pool,
            &probe,
            with_mask,
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
    // Per class, starting from the class-agnostic weights; a round left in --rounds may
    // render a probe from them when a class's share of the last pool is too thin.
    let rounds_left = (args.rounds as usize).saturating_sub(rounds.len());
    let inputs = PerClassInputs {
        mode: args.per_class,
        target_dir: &args.target,
        classes: &preset.classes,
        target: &target,
        measure: &measure,
        agnostic: &fitted.weights,
        opts: &opts,
    };
    let per_class = fit_per_class(&inputs, &pool, &probe, || {
        if rounds_left == 0 {
            return Ok(None);
        }
        let mut p = render_probe(
            &args,
            &preset,
            &fitted,
            &work,
            rounds.len(),
            &mut probe_failed,
        )?;
        let (f, u) = describe_probe(&source, &mut p, with_mask).map_err(input)?;
        probe_unreadable += u;
        Ok::<_, CliError>(Some((p, f)))
    })?;
    let fit_s = t1.elapsed().as_secs_f64();
    let mut info = Mapping::new();
    let mut put = |k: &str, v: Value| info.insert(Value::String(k.into()), v);
    put("target", Value::String(args.target.display().to_string()));
    put(
        "target_images",
        int((target.train.len() + target.held.len()) as u64),
    );
    put("target_unreadable", int(target.unreadable as u64));
    put("probe_images", int(first_pool.items.len() as u64));
    put("probe_unreadable", int(probe_unreadable as u64));
    put("probe_failed", int(probe_failed as u64));
    put("rounds", int(rounds.len() as u64));
    put("seed", int(args.seed));
    put("heldout_mmd2_before", num(first.held_before));
    put("heldout_mmd2_after", num(last.held_after));
    put("effective_sample_size", num(last.result.ess));
    put("mask_statistics", Value::Bool(with_mask));
    put("describe_seconds", num(describe_s));
    put("fit_seconds", num(fit_s));
    put("features", Value::String(source.describe_source()));
    if let Some(r) = &refinement {
        let (problem, kph) = measure.problem(&pool, &probe);
        let mmd = measure.held_mmd2(&problem, &kph, &problem.image_weights(&fitted.weights));
        put("refinement", refinement_record(&args, r, mmd));
    }
    put("per_class", per_class.record());
    let text = fitted.to_yaml_with_classes(
        &preset.name,
        Value::Mapping(info),
        &per_class.weights(&space),
    );
    crate::dataset::atomic::write_atomic(&args.out, text.as_bytes())?;
    write_report(
        &work,
        &space,
        &uniform.weights,
        &fitted.weights,
        &first_pool,
        first,
        last,
        &pool,
        refinement.as_ref(),
        &per_class.report(&space, &fitted.weights),
    )?;
    println!(
        "wrote {} (held-out MMD^2 {:.5} -> {:.5}; report in {})",
        args.out.display(),
        first.held_before,
        last.held_after,
        work.display()
    );
    Ok(())
}

fn int(x: u64) -> Value {
    Value::Number(x.into())
}

fn num(x: f64) -> Value {
    Value::Number(((x * 1e6).round() / 1e6).into())
}

#[allow(clippy::too_many_arguments)]
fn write_report(
    work: &Path,
    space: &[FactorLevels],
    before: &[Vec<f64>],
    after: &[Vec<f64>],
    first_pool: &ProbePool,
    first: &crate::fit::run::Round,
    last: &crate::fit::run::Round,
    last_pool: &ProbePool,
    refinement: Option<&Refinement>,
    per_class_md: &str,
) -> CliResult {
    report::bar_chart(space, before, after).save(work.join("weights.png"))?;
    report::sample_grid(&first_pool.items, &first.proposal_image_weights, 4, 64, 1)
        .save(work.join("grid_before.png"))?;
    report::sample_grid(&last_pool.items, &last.result.image_weights, 4, 64, 1)
        .save(work.join("grid_after.png"))?;
    let mut md = format!(
        "# Fit report\n\nHeld-out MMD^2: {:.5} before, {:.5} after.\n\nweights.png: one group of bars per factor, in this order (grey: before, blue: after).\n\n{}{per_class_md}",
        first.held_before,
        last.held_after,
        report::weights_table(space, before, after)
    );
    if let Some(r) = refinement {
        md.push('\n');
        md.push_str(&refine::report_section(space, r));
    }
    crate::dataset::atomic::write_atomic(&work.join("report.md"), md.as_bytes())?;
    Ok(())
}

/// Renders a probe pool with `weights` into <work>/probe-<round> by running this binary's
/// `render` (resuming a finished or interrupted one), and loads it.
fn render_probe(
    args: &FitArgs,
    preset: &Preset,
    weights: &LevelWeights,
    work: &Path,
    round: usize,
    failed_total: &mut usize,
) -> Result<ProbePool, CliError> {
    let wfile = work.join(format!("probe-{round}.weights.yaml"));
    let text = weights.to_yaml(&preset.name, Value::Null);
    crate::dataset::atomic::write_atomic(&wfile, text.as_bytes())?;
    let out = work.join(format!("probe-{round}"));
    let classes = preset.classes.len().max(1) as u64;
    let per_class = args.probe_size.div_ceil(classes).max(1);
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.arg("render")
        .arg("--preset")
        .arg(&args.preset)
        .arg("--out")
        .arg(&out)
        .arg("--weights")
        .arg(&wfile)
        .arg("--per-class")
        .arg(per_class.to_string())
        .arg("--seed")
        .arg((args.seed + round as u64).to_string());
    for s in &args.set {
        cmd.arg("--set").arg(s);
    }
    if out.join(crate::dataset::manifest::MANIFEST_FILE).exists() {
        cmd.arg("--resume");
    }
    tracing::info!(
        "rendering probe round {round}: {per_class} images per class into {}",
        out.display()
    );
    let status = cmd.status()?;
    // A render that gave up on some images (validation failed on every attempt) lists them in
    // its failures file and exits 1: the fit goes on without them. Any other failure stops it.
    let failures = out.join(crate::dataset::layout::FAILURES_FILE);
    let failed = if status.success() {
        0
    } else {
        match std::fs::read_to_string(&failures) {
            Ok(text) if text.lines().any(|l| !l.trim().is_empty()) => {
                text.lines().filter(|l| !l.trim().is_empty()).count()
            }
            _ => {
                return Err(CliError::Run(anyhow::anyhow!(
                    "probe render into {} failed ({status}); see its messages above",
                    out.display()
                )))
            }
        }
    };
    let space = space_of(preset).map_err(|e| CliError::Input(e.to_string()))?;
    let pool = ProbePool::load(&out, &space).map_err(|e| CliError::Input(e.to_string()));
    let kept = pool.as_ref().map_or(0, |p| p.items.len());
    let requested = per_class * classes;
    if failed > 0 {
        if kept < min_probe_images(requested) {
            return Err(CliError::Run(anyhow::anyhow!(
                "probe round {round}: only {kept} of {requested} images passed validation ({failed} failed, listed in {}); a fit needs at least {}: relax validate.* (e.g. --set validate.max_attempts=10) or fix what the failures name, then run the same fit again (finished probe renders are reused)",
                failures.display(),
                min_probe_images(requested)
            )));
        }
        tracing::warn!(
            "probe round {round}: {failed} of {requested} images failed validation and are left out (listed in {})",
            failures.display()
        );
        *failed_total += failed;
    }
    pool
}

/// Fewest images a rendered probe round may keep after validation failures: half of what
/// was asked for (more failing means the preset's settings are off, not bad luck), and
/// never fewer than the optimiser's ESS floor of 20.
fn min_probe_images(requested: u64) -> usize {
    (requested as usize).div_ceil(2).max(20)
}

/// Fit errors exit 2 unless libtorch failed while computing checkpoint features.
fn fit_failure(e: FitError) -> CliError {
    match &e {
        FitError::Features(f) if !f.is_input_error() => CliError::Run(e.into()),
        _ => CliError::Input(e.to_string()),
    }
}

/// The --val folder, listed and checked before any render.
fn open_val(args: &FitArgs, preset: &Preset) -> Result<Option<ValSet>, CliError> {
    let Some(dir) = &args.val else {
        return Ok(None);
    };
    if !cfg!(feature = "train") {
        return Err(CliError::Input(
            "--val trains a small model, but this synthgen was built without the train feature; rebuild with default features".into(),
        ));
    }
    ValSet::open(dir, &preset.classes)
        .map(Some)
        .map_err(|e| CliError::Input(e.to_string()))
}

fn refine_weights(
    args: &FitArgs,
    source: &FeatureSource,
    val: &ValSet,
    pool: &ProbePool,
    probe: &crate::fit::mmd::Features,
    with_mask: bool,
    start: &[Vec<f64>],
) -> Result<Refinement, CliError> {
    let opts = RefineOptions {
        steps: args.val_steps,
        seed: args.seed,
        ..RefineOptions::default()
    };
    let r = refine::refine(source, val, pool, probe, with_mask, start, &opts).map_err(|e| {
        if e.is_input_error() {
            CliError::Input(e.to_string())
        } else {
            CliError::Run(e.into())
        }
    })?;
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
fn refinement_record(args: &FitArgs, r: &Refinement, heldout_mmd2: f64) -> Value {
    let mut m = Mapping::new();
    let mut put = |k: &str, v: Value| m.insert(Value::String(k.into()), v);
    let dir = args
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
