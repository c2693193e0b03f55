//! `synthgen validate <dir>`: re-checks a dataset on disk and exits non-zero on problems.
use super::{CliError, CliResult};
use crate::dataset::layout::{self, CLASSES_FILE, IMAGE_LIST_FILE};
use crate::dataset::manifest::{read_manifest, MANIFEST_FILE};
use crate::preset::Preset;
use crate::validate::{check_dataset_image, ValidationConfig};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The dataset folder (the `--out` of `synthgen render`).
    pub dir: PathBuf,
}

/// One problem found, as a sentence naming the file.
type Problem = String;

pub fn run(args: ValidateArgs) -> CliResult {
    let dir = &args.dir;
    let manifest = dir.join(MANIFEST_FILE);
    if !manifest.is_file() {
        return Err(CliError::Input(format!(
            "{} has no {MANIFEST_FILE}; point `synthgen validate` at a folder written by `synthgen render`",
            dir.display()
        )));
    }
    if dir.join(crate::dataset::webdataset::INDEX_FILE).is_file() {
        return validate_shards(dir);
    }
    let records = read_manifest(&manifest).map_err(|e| CliError::Input(e.to_string()))?;
    let cfg = dataset_validation_config(dir);

    let checked: Vec<(String, Vec<Problem>)> = records
        .par_iter()
        .map(|r| {
            let mut problems = Vec::new();
            let image = dir.join(&r.path);
            let mask = r.mask.as_ref().map(|m| dir.join(m));
            if !image.is_file() {
                problems.push(format!(
                    "{}: missing (listed in the manifest)",
                    image.display()
                ));
                return (r.class.clone(), problems);
            }
            match crate::dataset::file_sha256(&image) {
                Ok(h) if h != r.sha256 => problems.push(format!(
                    "{}: content differs from the manifest's sha256 (changed after rendering)",
                    image.display()
                )),
                Err(e) => problems.push(format!("{}: unreadable: {e}", image.display())),
                _ => {}
            }
            if let Some(m) = &mask {
                if !m.is_file() {
                    problems.push(format!("{}: mask missing", m.display()));
                }
            }
            let report = check_dataset_image(&image, mask.as_deref().filter(|m| m.is_file()), &cfg);
            if !report.ok {
                problems.push(format!(
                    "{}: {}",
                    image.display(),
                    report.reason.unwrap_or_default()
                ));
            }
            (r.class.clone(), problems)
        })
        .collect();

    let mut problems: Vec<Problem> = checked.iter().flat_map(|(_, p)| p.clone()).collect();
    problems.extend(check_lists(dir, &records));
    problems.extend(orphan_images(dir, &records));

    let mut per_class: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (class, p) in &checked {
        let e = per_class.entry(class).or_default();
        e.0 += 1;
        e.1 += usize::from(!p.is_empty());
    }
    println!(
        "{}: {} images in {} classes",
        dir.display(),
        records.len(),
        per_class.len()
    );
    for (class, (n, bad)) in &per_class {
        println!("  {class:<16} {n:>7} images, {bad} with problems");
    }
    for p in problems.iter().take(50) {
        println!("problem: {p}");
    }
    if problems.len() > 50 {
        println!("... and {} more problems", problems.len() - 50);
    }
    if problems.is_empty() {
        println!("ok: every image decodes, matches its hash and passes validation");
        Ok(())
    } else {
        Err(CliError::Run(anyhow::anyhow!(
            "{} problem(s) found in {}",
            problems.len(),
            dir.display()
        )))
    }
}

/// A WebDataset folder (a render's or a merge's): the shards its index names, checked as
/// streams, and the manifest's line count against the index.
fn validate_shards(dir: &Path) -> CliResult {
    use crate::dataset::webdataset::{check::check_index, ShardIndex, INDEX_FILE};
    let index_path = dir.join(INDEX_FILE);
    let index = ShardIndex::read(&index_path).map_err(|e| CliError::Input(e.to_string()))?;
    let classes: Vec<String> = std::fs::read_to_string(dir.join(CLASSES_FILE))
        .map_err(|e| {
            CliError::Input(format!(
                "{}: {e}; a shard folder needs its {CLASSES_FILE}",
                dir.join(CLASSES_FILE).display()
            ))
        })?
        .lines()
        .map(str::to_string)
        .collect();
    let mut report = check_index(&index, &index_path, classes.len());
    let manifest = dir.join(MANIFEST_FILE);
    let lines = std::io::BufRead::lines(std::io::BufReader::new(
        std::fs::File::open(&manifest).map_err(|e| CliError::Run(e.into()))?,
    ))
    .map_while(Result::ok)
    .filter(|l| !l.trim().is_empty())
    .count() as u64;
    if lines != report.samples {
        report.problem_count += 1;
        report.problems.push(format!(
            "{}: {lines} records but the shards hold {} samples",
            manifest.display(),
            report.samples
        ));
    }
    println!(
        "{}: {} samples in {} shards, {} classes",
        dir.display(),
        report.samples,
        report.shards,
        classes.len()
    );
    for (class, n) in classes.iter().zip(&report.per_class) {
        println!("  {class:<16} {n:>7} samples");
    }
    for p in &report.problems {
        println!("problem: {p}");
    }
    if report.problem_count > report.problems.len() {
        println!(
            "... and {} more problems",
            report.problem_count - report.problems.len()
        );
    }
    if report.problem_count == 0 {
        println!("ok: every member decodes, counts equal the index, class ids are in range, no key repeats");
        Ok(())
    } else {
        Err(CliError::Run(anyhow::anyhow!(
            "{} problem(s) found in {}",
            report.problem_count,
            dir.display()
        )))
    }
}

/// The thresholds the dataset was rendered with (its preset.yaml), else the defaults.
fn dataset_validation_config(dir: &Path) -> ValidationConfig {
    let preset_path = dir.join(layout::PRESET_FILE);
    match Preset::load(&preset_path.to_string_lossy(), &[]) {
        Ok(p) => p.validation_config(),
        Err(e) => {
            tracing::warn!("using default validation thresholds: {e}");
            ValidationConfig::default()
        }
    }
}

/// classes.txt and image_list.txt must agree with the manifest.
fn check_lists(dir: &Path, records: &[crate::dataset::ManifestRecord]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let classes: Vec<String> = std::fs::read_to_string(dir.join(CLASSES_FILE))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    for r in records {
        if classes.get(r.label).map(String::as_str) != Some(r.class.as_str()) {
            problems.push(format!(
                "{}: label {} of {} does not match line {} of {CLASSES_FILE}",
                r.path,
                r.label,
                r.class,
                r.label + 1
            ));
            break;
        }
    }
    let listed: HashSet<String> = std::fs::read_to_string(dir.join(IMAGE_LIST_FILE))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let missing = records
        .iter()
        .filter(|r| !listed.contains(&format!("{} {}", r.path, r.label)))
        .count();
    if missing > 0 {
        problems.push(format!(
            "{IMAGE_LIST_FILE}: {missing} image(s) of the manifest are not listed; re-run `synthgen render --resume` to rewrite the lists"
        ));
    }
    problems
}

/// PNG files in class folders that the manifest does not know.
fn orphan_images(dir: &Path, records: &[crate::dataset::ManifestRecord]) -> Vec<Problem> {
    let known: HashSet<PathBuf> = records.iter().map(|r| dir.join(&r.path)).collect();
    let classes: HashSet<&str> = records.iter().map(|r| r.class.as_str()).collect();
    classes
        .iter()
        .flat_map(|c| walkdir::WalkDir::new(dir.join(c)).max_depth(1))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "png"))
        .filter(|e| !known.contains(e.path()))
        .map(|e| format!("{}: not in the manifest", e.path().display()))
        .collect()
}
