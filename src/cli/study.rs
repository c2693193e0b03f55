//! `synthgen study`: parse the flags, load the spec, run it through the library, map errors.
use super::{CliError, CliResult};
use crate::study::{self, StudyOptions};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct StudyArgs {
    /// A built-in study (factor-ablation, factor-columns, fixed-vs-nonrepetitive,
    /// architectures, model-capacity, data-quantity, pretrain-for-da, generate-then-train,
    /// s2rda49-da, s2rda-ms39-da, demo) or a spec file (.yaml).
    pub study: String,
    /// The study folder: stage cache (stages/), report.html, report.md, tables.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// Scale of a built-in study: mini (2-core CPU, embedded catalog) or full (the paper's sizes).
    #[arg(long, default_value = "mini")]
    pub scale: String,
    /// Override a spec field by its path, e.g. --set runs.full.iters=100 (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Continue the unfinished stages of an interrupted run.
    #[arg(long)]
    pub resume: bool,
    /// Your real image folder (one subfolder per class) for specs with a `real: true` dataset.
    #[arg(long, value_name = "DIR")]
    pub real: Option<PathBuf>,
    /// A weight file the adaptations marked `pretrained: true` start from (the full DA specs:
    /// torchvision's ImageNet ResNet-50 state_dict, as the paper's code does); without it
    /// they start from their spec's synthetic pre-training run, and the report says so.
    #[arg(long, value_name = "FILE")]
    pub pretrained: Option<PathBuf>,
    /// Your ShapeNetCore copy, for the `full` scale (benchmark presets, catalog: shapenet).
    #[arg(long, env = "SYNTHGEN_SHAPENET", value_name = "ROOT")]
    pub shapenet: Option<PathBuf>,
}

pub fn run(args: StudyArgs) -> CliResult {
    let spec = study::load_spec(&args.study, &args.scale, &args.set).map_err(map)?;
    let opts = StudyOptions {
        out: args.out.clone(),
        resume: args.resume,
        real: args.real.clone(),
        pretrained: args.pretrained.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        show_progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        shapenet: crate::render::job::ShapeNetOptions {
            root: args.shapenet.clone(),
            ..Default::default()
        },
    };
    let html = study::run_study(&spec, &opts, |line| eprintln!("study: {line}")).map_err(map)?;
    println!("report: {}", html.display());
    Ok(())
}

fn map(e: study::StudyError) -> CliError {
    if e.is_input_error() {
        CliError::Input(e.to_string())
    } else {
        CliError::Run(e.into())
    }
}
