//! Command-line entry: argument parsing and dispatch. Each subcommand lives in its own file.
mod fit;
mod index;
mod merge;
mod render;
#[cfg(feature = "train")]
mod stream;
#[cfg(feature = "train")]
mod study;
mod validate;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "synthgen",
    version,
    about = "Domain-randomized synthetic datasets rendered with Blender, and a trainer for synthetic-to-real studies"
)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a domain-randomized dataset from a scene preset.
    Render(render::RenderArgs),
    /// Index a ShapeNetCore copy: usable models per synset, and the unusable ones with why.
    Index(index::IndexArgs),
    /// Join the output folders of `render --shard I/N` runs into one dataset.
    Merge(merge::MergeArgs),
    /// Learn level weights per factor from target images (weighted rendering).
    Fit(fit::FitArgs),
    /// Re-check a rendered dataset on disk: files, hashes, masks, coverage, lists.
    Validate(validate::ValidateArgs),
    #[cfg(feature = "train")]
    /// Train a classifier on image folders (supervised pre-training).
    Train(crate::train::TrainArgs),
    #[cfg(feature = "train")]
    /// Run a study of the paper (render, train, report) as one command, cached per stage.
    Study(study::StudyArgs),
    #[cfg(feature = "train")]
    /// Unsupervised domain adaptation: labelled source (synthetic) to unlabelled target (real).
    Adapt(crate::adapt::AdaptArgs),
    /// Internal: a Blender worker process serving render requests on stdin/stdout.
    #[command(name = "__worker", hide = true)]
    Worker {
        #[arg(long)]
        scripts: PathBuf,
        #[arg(long)]
        site_packages: PathBuf,
    },
}

/// How a command failed: bad input (exit 2) or a failure while running (exit 1).
#[derive(Debug)]
pub enum CliError {
    Input(String),
    Run(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError::Run(e.into())
    }
}

pub type CliResult = Result<(), CliError>;

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "synthgen=info",
        1 => "synthgen=debug",
        _ => "synthgen=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result: CliResult = match cli.command {
        Command::Render(args) => render::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Fit(args) => fit::run(args),
        Command::Index(args) => index::run(args),
        Command::Merge(args) => merge::run(args),
        #[cfg(feature = "train")]
        Command::Train(args) if args.stream.stray_option().is_some() => {
            Err(stray_stream_option(&args.stream, "--train DIR"))
        }
        #[cfg(feature = "train")]
        Command::Train(args) if args.stream.stream.is_some() => stream::run(args),
        #[cfg(feature = "train")]
        Command::Train(args) => crate::train::run(args).map_err(train_failure),
        #[cfg(feature = "train")]
        Command::Study(args) => study::run(args),
        #[cfg(feature = "train")]
        Command::Adapt(args) if args.stream.stray_option().is_some() => {
            Err(stray_stream_option(&args.stream, "--source DIR"))
        }
        #[cfg(feature = "train")]
        Command::Adapt(args) if args.stream.stream.is_some() => stream::run_adapt(args),
        #[cfg(feature = "train")]
        Command::Adapt(args) => crate::adapt::run(args).map_err(adapt_failure),
        Command::Worker {
            scripts,
            site_packages,
        } => run_worker(&scripts, &site_packages),
    };
    match result {
        Ok(()) => 0,
        Err(CliError::Input(msg)) => {
            eprintln!("error: {msg}");
            2
        }
        Err(CliError::Run(e)) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// A stream option (`--keep`, `--queue`, `--weights`, `--set`) given to a run on a folder.
#[cfg(feature = "train")]
fn stray_stream_option(o: &crate::train::stream::StreamArgs, folder: &str) -> CliError {
    let flag = o.stray_option().unwrap_or("--keep");
    CliError::Input(format!(
        "{flag} only applies to a render stream, and this run reads {folder}: add --stream PRESET to render while training, or drop {flag}"
    ))
}

/// Trainer errors caused by the user's input exit with code 2, like every other input error.
#[cfg(feature = "train")]
fn train_failure(e: anyhow::Error) -> CliError {
    match e.downcast_ref::<crate::nn::error::TrainError>() {
        Some(t) if t.is_input_error() => CliError::Input(t.to_string()),
        _ => CliError::Run(e),
    }
}

/// Adaptation errors caused by the user's input exit with code 2, like the trainer's.
#[cfg(feature = "train")]
fn adapt_failure(e: anyhow::Error) -> CliError {
    match e.downcast_ref::<crate::adapt::AdaptError>() {
        Some(a) if a.is_input_error() => CliError::Input(a.to_string()),
        _ => CliError::Run(e),
    }
}

#[cfg(feature = "blender")]
fn run_worker(scripts: &std::path::Path, site_packages: &std::path::Path) -> CliResult {
    crate::render::worker::serve(scripts, site_packages)?;
    Ok(())
}

#[cfg(not(feature = "blender"))]
fn run_worker(_: &std::path::Path, _: &std::path::Path) -> CliResult {
    Err(CliError::Input(
        "this synthgen binary was built without the `blender` feature, so it cannot render; rebuild with default features".into(),
    ))
}
