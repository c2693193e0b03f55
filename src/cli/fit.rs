//! `synthgen fit`: learns level weights from target images (weighted rendering, docs/FIT.md).
//! The fit itself is the library's `fit::probes::job`; this file parses the flags and maps
//! errors to exit codes.
use super::{CliError, CliResult};
use crate::fit::descriptors::features::{FeatureDevice, FeatureKind};
use crate::fit::optimisation::classes::PerClassMode;
use crate::fit::probes::job::{FitJob, FitJobError};
use crate::numbers;
use crate::preset::Preset;
use std::io::IsTerminal;
use std::path::PathBuf;

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
    #[arg(long, default_value_t = 2000, value_parser = numbers::count_u64, allow_negative_numbers = true)]
    pub probe_size: u64,
    /// Probe rounds at most; a new round is rendered from the current weights when the
    /// effective sample size of the pool falls too low.
    #[arg(long, default_value_t = 2, value_parser = numbers::count_u32, allow_negative_numbers = true)]
    pub rounds: u32,
    /// Seed of the probe renders and of the held-out split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of the target held out to measure MMD before and after.
    #[arg(long, default_value_t = 0.2, value_parser = numbers::open_fraction, allow_negative_numbers = true)]
    pub holdout: f64,
    /// Optimiser steps per round.
    #[arg(long, default_value_t = 300, value_parser = numbers::count_usize, allow_negative_numbers = true)]
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
    #[arg(long, default_value_t = 5, value_parser = numbers::count_usize, allow_negative_numbers = true)]
    pub val_steps: usize,
    /// The fit stops (and renders a fresh probe round, if --rounds allows) when the pool's
    /// effective sample size falls below this fraction of it (never below 20 images).
    #[arg(long, default_value_t = 0.05, value_name = "FRACTION", value_parser = numbers::open_fraction, allow_negative_numbers = true)]
    pub min_ess: f64,
    /// Per-class weights when the target is labelled (class subfolders, or a rendered
    /// dataset): `auto` fits them, `off` keeps class-agnostic weights only.
    #[arg(long, value_enum, default_value = "auto")]
    pub per_class: PerClassMode,
}

pub fn run(args: FitArgs) -> CliResult {
    // The probe plan's images per class: --probe-size over the preset's classes.
    let preset =
        Preset::load(&args.preset, &args.set).map_err(|e| CliError::Input(e.to_string()))?;
    let classes = preset.classes.len().max(1) as u64;
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| args.out.with_extension("fit"));
    let job = FitJob {
        preset: args.preset,
        overrides: args.set,
        target: args.target,
        out: args.out,
        work,
        probe: args.probe,
        probe_per_class: args.probe_size.div_ceil(classes).max(1),
        rounds: args.rounds,
        seed: args.seed,
        holdout: args.holdout,
        iterations: args.iterations,
        min_ess: args.min_ess,
        features: args.features,
        checkpoint: args.checkpoint,
        device: args.device,
        val: args.val,
        val_steps: args.val_steps,
        per_class: args.per_class,
        show_progress: std::io::stderr().is_terminal(),
        shapenet: crate::render::job::ShapeNetOptions {
            root: std::env::var_os("SYNTHGEN_SHAPENET").map(PathBuf::from),
            ..Default::default()
        },
    };
    let outcome = crate::fit::probes::job::run(&job).map_err(fit_failure)?;
    println!(
        "wrote {} (held-out MMD^2 {:.5} -> {:.5}; report in {})",
        job.out.display(),
        outcome.heldout_mmd2_before,
        outcome.heldout_mmd2_after,
        job.work.display()
    );
    Ok(())
}

/// Bad input exits 2; a failure while running (libtorch computing features, a probe render,
/// too few probe images passing validation, writing) exits 1.
fn fit_failure(e: FitJobError) -> CliError {
    if e.is_input_error() {
        CliError::Input(e.to_string())
    } else {
        CliError::Run(e.into())
    }
}
