//! `synthgen merge`: shard folders -> one dataset.
use super::{CliError, CliResult};
use crate::dataset::merge::{merge, MergeError};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The output folders of `synthgen render --shard I/N`, all N of them.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Folder of the merged dataset (must not hold a dataset yet).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: MergeArgs) -> CliResult {
    let summary = merge(&args.shards, &args.out).map_err(|e| match e {
        MergeError::Input(msg) => CliError::Input(msg),
        e => CliError::Run(e.into()),
    })?;
    println!(
        "merged {} shards: {} images in {} classes into {}",
        summary.shards,
        summary.images_total,
        summary.per_class.len(),
        args.out.display()
    );
    Ok(())
}
