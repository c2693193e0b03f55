//! Joins the output folders of `render --shard I/N` runs into one dataset, and checks that
//! the parts fit: same preset and classes, every shard once, every image exactly once and in
//! the shard that owns it, every file matching its recorded hash. The result has the same
//! manifest order and lists as a single run (`layout::finalize_lists`).
use super::layout::{self, CLASSES_FILE, DENYLIST_FILE, PRESET_FILE, SUMMARY_FILE};
use super::manifest::{read_manifest, ManifestRecord, MANIFEST_FILE};
use crate::dataset::shard::{image_id, Shard};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Written by `render --shard` into its output folder.
pub const SHARD_FILE: &str = "shard.json";

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The shard folders do not fit together (exit 2: the user picked the wrong folders).
    #[error("{0}")]
    Input(String),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> MergeError {
    let path = path.to_path_buf();
    move |source| MergeError::Io {
        action,
        path,
        source,
    }
}

/// The shard a folder holds; `None` when it has no shard record.
pub fn read_shard(dir: &Path) -> Result<Option<Shard>, String> {
    let path = dir.join(SHARD_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            format!(
                "{}: not a shard record ({e}); restore it or render that shard again",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MergeSummary {
    pub merged_from: Vec<PathBuf>,
    pub shards: u32,
    pub images_total: usize,
    pub per_class: BTreeMap<String, usize>,
}

/// One shard folder, read and checked on its own.
struct ShardDir {
    dir: PathBuf,
    shard: Shard,
    preset: String,
    classes: String,
}

fn read_shard_dir(dir: &Path) -> Result<ShardDir, MergeError> {
    let input = MergeError::Input;
    if !dir.join(MANIFEST_FILE).is_file() {
        return Err(input(format!(
            "{} holds no dataset ({MANIFEST_FILE} is missing); name the --out folders of the shard runs",
            dir.display()
        )));
    }
    let shard = read_shard(dir).map_err(input)?.ok_or_else(|| {
        input(format!(
            "{} has no {SHARD_FILE}: it was not rendered with --shard I/N, so it cannot be merged",
            dir.display()
        ))
    })?;
    let failures = dir.join(layout::FAILURES_FILE);
    if failures.is_file() {
        return Err(input(format!(
            "shard {shard} in {} has failed images ({}); finish it with `synthgen render ... --shard {shard} --resume` first",
            dir.display(),
            failures.display()
        )));
    }
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(io("read", &path))
    };
    Ok(ShardDir {
        dir: dir.to_path_buf(),
        shard,
        preset: read(PRESET_FILE)?,
        classes: read(CLASSES_FILE)?,
    })
}

/// Merges `shards` into `out` (which must not hold a dataset yet).
pub fn merge(shard_dirs: &[PathBuf], out: &Path) -> Result<MergeSummary, MergeError> {
    let shards = read_parts(shard_dirs, out)?;
    let first = &shards[0];
    let preset = crate::preset::Preset::load(&first.dir.join(PRESET_FILE).to_string_lossy(), &[])
        .map_err(|e| {
        MergeError::Input(format!("{}: {e}", first.dir.join(PRESET_FILE).display()))
    })?;
    let classes: Vec<String> = first.classes.lines().map(str::to_owned).collect();
    if preset.output.format == crate::preset::OutputFormat::WebDataset {
        return merge_webdataset(&shards, &preset, &classes, out);
    }
    let records = checked_records(&shards, &classes, preset.images_per_class)?;
    write_merged(&shards, records, out)
}

/// The shard folders, each read, and checked to fit together: same preset and classes, one
/// `--shard I/N` split, every part exactly once.
fn read_parts(shard_dirs: &[PathBuf], out: &Path) -> Result<Vec<ShardDir>, MergeError> {
    let input = MergeError::Input;
    if shard_dirs.is_empty() {
        return Err(input("name the shard folders to merge".into()));
    }
    if out.join(MANIFEST_FILE).exists() {
        return Err(input(format!(
            "{} already holds a dataset; choose a new --out",
            out.display()
        )));
    }
    let shards: Vec<ShardDir> = shard_dirs
        .iter()
        .map(|d| read_shard_dir(d))
        .collect::<Result<_, _>>()?;
    let first = &shards[0];
    for s in &shards[1..] {
        if s.preset != first.preset {
            return Err(input(format!(
                "{} and {} were rendered with different presets (compare their {PRESET_FILE}); all shards need the same preset, flags and seed",
                first.dir.display(),
                s.dir.display()
            )));
        }
        if s.classes != first.classes {
            return Err(input(format!(
                "{} and {} render different classes (compare their {CLASSES_FILE}); were they run with different ShapeNet copies?",
                first.dir.display(),
                s.dir.display()
            )));
        }
    }
    check_split(&shards)?;
    Ok(shards)
}

/// Every part of one `--shard I/N` split, each once.
fn check_split(shards: &[ShardDir]) -> Result<(), MergeError> {
    let input = MergeError::Input;
    let first = &shards[0];
    let count = first.shard.count;
    let mut seen: HashMap<u32, &Path> = HashMap::new();
    for s in shards {
        if s.shard.count != count {
            return Err(input(format!(
                "{} is shard {} but {} is shard {}: all shards must come from the same --shard I/N split",
                s.dir.display(),
                s.shard,
                first.dir.display(),
                first.shard
            )));
        }
        if let Some(other) = seen.insert(s.shard.index, &s.dir) {
            return Err(input(format!(
                "shard {} is given twice ({} and {})",
                s.shard,
                other.display(),
                s.dir.display()
            )));
        }
    }
    let absent: Vec<String> = (1..=count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !absent.is_empty() {
        return Err(input(format!(
            "shard(s) {} are missing; render them and merge all {count} folders",
            absent.join(", ")
        )));
    }
    Ok(())
}

/// The parts' records, each checked to be one the single run would make, once, from the
/// part that owns it; and no image of the run missing.
fn checked_records<'a>(
    shards: &'a [ShardDir],
    classes: &[String],
    per_class: u64,
) -> Result<Vec<(ManifestRecord, &'a ShardDir)>, MergeError> {
    let input = MergeError::Input;
    let mut records: Vec<(ManifestRecord, &ShardDir)> = Vec::new();
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for s in shards {
        let part = read_manifest(&s.dir.join(MANIFEST_FILE))
            .map_err(|e| input(format!("shard {}: {e}", s.shard)))?;
        for r in part {
            if classes.get(r.label) != Some(&r.class) || r.index >= per_class {
                return Err(input(format!(
                    "{}: record {} (class {}, label {}, index {}) is not part of this run; the folder was edited or mixes runs",
                    s.dir.display(),
                    r.id,
                    r.class,
                    r.label,
                    r.index
                )));
            }
            if !s.shard.owns(r.label, r.index) {
                return Err(input(format!(
                    "{}: image {} belongs to another shard than {}; the folder mixes shard runs",
                    s.dir.display(),
                    r.id,
                    s.shard
                )));
            }
            if !ids.insert(r.id.clone()) {
                return Err(input(format!(
                    "image {} appears twice (again in {}); remove the duplicate shard folder",
                    r.id,
                    s.dir.display()
                )));
            }
            records.push((r, s));
        }
    }
    check_complete(&ids, classes, per_class, shards[0].shard.count)?;
    Ok(records)
}

/// Every image of the run is among `ids`.
fn check_complete(
    ids: &BTreeSet<String>,
    classes: &[String],
    per_class: u64,
    count: u32,
) -> Result<(), MergeError> {
    let mut missing = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        for index in 0..per_class {
            let id = image_id(class, index);
            if !ids.contains(&id) {
                let owner = (1..=count)
                    .find(|&i| Shard { index: i, count }.owns(label, index))
                    .unwrap_or(1);
                missing.push(format!("{id} (shard {owner}/{count})"));
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
    Err(MergeError::Input(format!(
        "{} image(s) are missing, e.g. {}; finish those shards with --resume",
        missing.len(),
        shown.join(", ")
    )))
}

/// Copies the checked images and masks into `out` and writes the preset, classes, denylist,
/// lists and summary of the merged ImageFolder.
fn write_merged(
    shards: &[ShardDir],
    records: Vec<(ManifestRecord, &ShardDir)>,
    out: &Path,
) -> Result<MergeSummary, MergeError> {
    let first = &shards[0];
    std::fs::create_dir_all(out).map_err(io("create", out))?;
    for (r, s) in &records {
        copy_checked(&s.dir, out, &r.path, Some(&r.sha256))?;
        if let Some(mask) = &r.mask {
            copy_checked(&s.dir, out, mask, None)?;
        }
    }
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        crate::fsio::write_atomic(&path, bytes).map_err(io("write", &path))
    };
    write(PRESET_FILE, first.preset.as_bytes())?;
    write(CLASSES_FILE, first.classes.as_bytes())?;
    let deny = merged_denylist(shards)?;
    if !deny.is_empty() {
        write(DENYLIST_FILE, deny.as_bytes())?;
    }
    let mut merged: Vec<ManifestRecord> = records.into_iter().map(|(r, _)| r).collect();
    layout::finalize_lists(out, &mut merged).map_err(io("write the lists in", out))?;
    let mut per_class = BTreeMap::new();
    for r in &merged {
        *per_class.entry(r.class.clone()).or_insert(0) += 1;
    }
    let summary = MergeSummary {
        merged_from: shards.iter().map(|s| s.dir.clone()).collect(),
        shards: first.shard.count,
        images_total: merged.len(),
        per_class,
    };
    let json = serde_json::to_string_pretty(&summary).expect("summary serializes");
    write(SUMMARY_FILE, json.as_bytes())?;
    Ok(summary)
}

/// The WebDataset merge: index, manifest, classes and preset; the shards stay where they are.
fn merge_webdataset(
    shards: &[ShardDir],
    preset: &crate::preset::Preset,
    classes: &[String],
    out: &Path,
) -> Result<MergeSummary, MergeError> {
    use super::webdataset::{merge::merge_parts, ShardError};
    let mut parts: Vec<(PathBuf, Shard)> =
        shards.iter().map(|s| (s.dir.clone(), s.shard)).collect();
    parts.sort_by_key(|(_, s)| s.index);
    let name = preset
        .output
        .shard_name
        .clone()
        .unwrap_or_else(|| preset.name.clone());
    let merged =
        merge_parts(&parts, classes, preset.images_per_class, out, &name).map_err(|e| match e {
            ShardError::Input(m) => MergeError::Input(m),
            e => MergeError::Input(e.to_string()),
        })?;
    let first = &shards[0];
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        crate::fsio::write_atomic(&path, bytes).map_err(io("write", &path))
    };
    write(PRESET_FILE, first.preset.as_bytes())?;
    write(CLASSES_FILE, first.classes.as_bytes())?;
    let deny = merged_denylist(shards)?;
    if !deny.is_empty() {
        write(DENYLIST_FILE, deny.as_bytes())?;
    }
    let summary = MergeSummary {
        merged_from: shards.iter().map(|s| s.dir.clone()).collect(),
        shards: first.shard.count,
        images_total: merged.images as usize,
        per_class: classes
            .iter()
            .cloned()
            .zip(merged.per_class.iter().map(|&n| n as usize))
            .collect(),
    };
    let json = serde_json::to_string_pretty(&summary).expect("summary serializes");
    write(SUMMARY_FILE, json.as_bytes())?;
    Ok(summary)
}

/// Hard-links (or copies) `rel` from a shard into `out`, checking the image hash first.
fn copy_checked(
    shard: &Path,
    out: &Path,
    rel: &str,
    sha256: Option<&str>,
) -> Result<(), MergeError> {
    let src = shard.join(rel);
    if !src.is_file() {
        return Err(MergeError::Input(format!(
            "{} is listed in the manifest of {} but missing; resume that shard to re-render it",
            src.display(),
            shard.display()
        )));
    }
    if let Some(want) = sha256 {
        let got = super::file_sha256(&src).map_err(io("read", &src))?;
        if got != want {
            return Err(MergeError::Input(format!(
                "{} does not match the hash in its manifest (file changed or corrupt); delete it and resume that shard",
                src.display()
            )));
        }
    }
    let dst = out.join(rel);
    if let Some(dir) = dst.parent() {
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    }
    let _ = std::fs::remove_file(&dst);
    if std::fs::hard_link(&src, &dst).is_err() {
        std::fs::copy(&src, &dst).map_err(io("copy into", &dst))?;
    }
    Ok(())
}

/// The union of the shards' denylists, one line per model, sorted.
fn merged_denylist(shards: &[ShardDir]) -> Result<String, MergeError> {
    let mut lines = BTreeSet::new();
    for s in shards {
        let path = s.dir.join(DENYLIST_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => lines.extend(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_owned),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read", &path)(e)),
        }
    }
    Ok(lines.into_iter().map(|l| l + "\n").collect())
}
