//! Command-line entry: argument parsing and dispatch. Each subcommand lives in its module.
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "synthgen", version, about = "Synthetic-to-real datasets with Blender, and a trainer")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[cfg(feature = "train")]
    /// Train a classifier on image folders (supervised pre-training).
    Train(crate::train::TrainArgs),
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "train")]
        Command::Train(args) => crate::train::run(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}
