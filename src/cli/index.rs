//! `synthgen index`: walk a ShapeNetCore tree and write its index of usable models.
use super::{CliError, CliResult};
use crate::assets::shapenet::{default_index_path, ShapeNetIndex};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct IndexArgs {
    /// The ShapeNetCore folder (v1 or v2 layout, with taxonomy.json).
    #[arg(long, env = "SYNTHGEN_SHAPENET", value_name = "ROOT")]
    pub shapenet: PathBuf,
    /// Where to write the index (default: the cache file `render` reads).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: IndexArgs) -> CliResult {
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| default_index_path(&args.shapenet));
    let (index, stats) = ShapeNetIndex::load_or_build(&args.shapenet, &path)
        .map_err(|e| CliError::Input(e.to_string()))?;
    println!(
        "{}: {} synsets, {} usable and {} unusable models ({} checked, {} unchanged since the last index)",
        args.shapenet.display(),
        index.synsets.len(),
        index.usable_count(),
        index.unusable_count(),
        stats.checked,
        stats.reused
    );
    for (synset, s) in &index.synsets {
        let name = if s.name.is_empty() {
            "(not in taxonomy.json)"
        } else {
            s.name.as_str()
        };
        println!(
            "  {synset} {name}: {} usable, {} unusable",
            s.models.len(),
            s.unusable.len()
        );
    }
    // Reasons by kind (the text before the first `:`), so a big tree gives a short report.
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for s in index.synsets.values() {
        for u in &s.unusable {
            *kinds
                .entry(u.reason.split(':').next().unwrap_or(&u.reason))
                .or_insert(0) += 1;
        }
    }
    for (kind, n) in &kinds {
        println!("  unusable, {kind}: {n}");
    }
    println!("index: {}", path.display());
    Ok(())
}
