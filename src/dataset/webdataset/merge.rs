//! `synthgen merge` of WebDataset task outputs: the merged folder gets the `wids` index (urls
//! relative to it, pointing into the task folders: no image byte is copied), classes,
//! preset and the combined manifest in canonical order. The manifests are merged as sorted
//! streams (each task's is in (label, index) order), so memory stays flat in the image count.
use super::index::{IndexEntry, ShardIndex, INDEX_FILE};
use super::{io_err, shard_of_path, ShardError};
use crate::dataset::manifest::{ManifestRecord, MANIFEST_FILE};
use crate::dataset::shard::{image_id, Shard};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Component, Path, PathBuf};

/// `target` relative to the folder `base` (both made absolute first).
pub fn relative_to(target: &Path, base: &Path) -> PathBuf {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (t, b) = (abs(target), abs(base));
    let tc: Vec<Component> = t.components().collect();
    let bc: Vec<Component> = b.components().collect();
    let common = tc.iter().zip(&bc).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..bc.len() {
        rel.push("..");
    }
    for c in &tc[common..] {
        rel.push(c.as_os_str());
    }
    if rel.as_os_str().is_empty() {
        rel.push(".");
    }
    rel
}

/// What the merge wrote.
pub struct MergedShards {
    pub images: u64,
    pub per_class: Vec<u64>,
    pub shards: usize,
}

struct Stream {
    lines: std::io::Lines<BufReader<std::fs::File>>,
    path: PathBuf,
    line: usize,
}

impl Stream {
    fn next(&mut self) -> Result<Option<ManifestRecord>, ShardError> {
        for line in self.lines.by_ref() {
            self.line += 1;
            let line = line.map_err(io_err("read", &self.path))?;
            if line.trim().is_empty() {
                continue;
            }
            return serde_json::from_str(&line).map(Some).map_err(|e| {
                ShardError::Input(format!(
                    "{}:{}: not a manifest record ({e}); finish that task with --resume",
                    self.path.display(),
                    self.line
                ))
            });
        }
        Ok(None)
    }
}

/// Merges the parts (task folder, its shard of the job list) into `out`.
pub fn merge_parts(
    parts: &[(PathBuf, Shard)],
    classes: &[String],
    images_per_class: u64,
    out: &Path,
    name: &str,
) -> Result<MergedShards, ShardError> {
    std::fs::create_dir_all(out).map_err(io_err("create", out))?;
    let mut entries = Vec::new();
    let mut expected_per_part = Vec::new();
    let mut rel_dirs = Vec::new();
    for (dir, shard) in parts {
        let index_path = dir.join(INDEX_FILE);
        if !index_path.is_file() {
            return Err(ShardError::Input(format!(
                "shard {shard} in {} has no {INDEX_FILE}: the task did not finish; run it again with --resume",
                dir.display()
            )));
        }
        let index = ShardIndex::read(&index_path)?;
        for (e, path) in index.shardlist.iter().zip(index.shard_paths(&index_path)) {
            let size = std::fs::metadata(&path).map(|m| m.len()).map_err(|_| {
                ShardError::Input(format!(
                    "{} is listed in {} but missing; render that task again with --resume",
                    path.display(),
                    index_path.display()
                ))
            })?;
            if e.filesize != 0 && size != e.filesize {
                return Err(ShardError::Input(format!(
                    "{} has {size} bytes but its index says {}; the file changed or is cut short: delete it and resume that task",
                    path.display(),
                    e.filesize
                )));
            }
            entries.push(IndexEntry {
                url: relative_to(&path, out).to_string_lossy().into_owned(),
                nsamples: e.nsamples,
                filesize: size,
            });
        }
        expected_per_part.push(index.nsamples());
        rel_dirs.push(relative_to(dir, out).to_string_lossy().into_owned());
    }
    // Shards in name order (the tasks' numbers interleave), then by path.
    let base = |u: &str| u.rsplit('/').next().unwrap_or(u).to_string();
    entries.sort_by(|a, b| (base(&a.url), &a.url).cmp(&(base(&b.url), &b.url)));

    let manifest = out.join(MANIFEST_FILE);
    let tmp = crate::fsio::temp_path(&manifest);
    let result = merge_manifests(parts, classes, images_per_class, &rel_dirs, &tmp);
    let (per_class, counts) = match result {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    for (i, (dir, shard)) in parts.iter().enumerate() {
        if counts[i] != expected_per_part[i] {
            let _ = std::fs::remove_file(&tmp);
            return Err(ShardError::Input(format!(
                "shard {shard} in {}: its manifest has {} records but its shards hold {} samples; the folder was edited: render that task again",
                dir.display(),
                counts[i],
                expected_per_part[i]
            )));
        }
    }
    std::fs::rename(&tmp, &manifest).map_err(io_err("write", &manifest))?;
    let shards = entries.len();
    ShardIndex::new(name, entries).write(&out.join(INDEX_FILE))?;
    Ok(MergedShards {
        images: per_class.iter().sum(),
        per_class,
        shards,
    })
}

/// The k-way merge of the parts' sorted manifests into `tmp`, checking that the result is
/// exactly every (label, index) once, each from the part that owns it; returns the counts
/// per class and per part.
fn merge_manifests(
    parts: &[(PathBuf, Shard)],
    classes: &[String],
    images_per_class: u64,
    rel_dirs: &[String],
    tmp: &Path,
) -> Result<(Vec<u64>, Vec<u64>), ShardError> {
    let mut streams = Vec::new();
    for (dir, _) in parts {
        let path = dir.join(MANIFEST_FILE);
        let file = std::fs::File::open(&path).map_err(io_err("read", &path))?;
        streams.push(Stream {
            lines: BufReader::with_capacity(1 << 20, file).lines(),
            path,
            line: 0,
        });
    }
    let mut heap = BinaryHeap::new();
    let mut heads: Vec<Option<ManifestRecord>> = Vec::new();
    for (i, s) in streams.iter_mut().enumerate() {
        let head = s.next()?;
        if let Some(r) = &head {
            heap.push(Reverse((r.label, r.index, i)));
        }
        heads.push(head);
    }
    let file = std::fs::File::create(tmp).map_err(io_err("create", tmp))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut expect = (0usize, 0u64);
    let mut per_class = vec![0u64; classes.len()];
    let mut counts = vec![0u64; parts.len()];
    let missing = |(label, index): (usize, u64)| {
        let id = image_id(&classes[label], index);
        ShardError::Input(format!(
            "image {id} is in no task's output; finish the task that owns it with --resume"
        ))
    };
    while let Some(Reverse((label, index, i))) = heap.pop() {
        let mut r = heads[i].take().expect("a head record");
        let (dir, shard) = &parts[i];
        if classes.get(label) != Some(&r.class) || index >= images_per_class {
            return Err(ShardError::Input(format!(
                "{}: record {} (class {}, label {label}, index {index}) is not part of this run; the folder was edited or mixes runs",
                dir.display(), r.id, r.class
            )));
        }
        if !shard.owns(label, index) {
            return Err(ShardError::Input(format!(
                "{}: image {} belongs to another shard than {shard}; the folder mixes shard runs",
                dir.display(),
                r.id
            )));
        }
        if (label, index) < expect {
            return Err(ShardError::Input(format!(
                "image {} appears twice (again in {}); remove the duplicate task folder",
                r.id,
                dir.display()
            )));
        }
        if (label, index) > expect {
            return Err(missing(expect));
        }
        if shard_of_path(&r.path).is_none() {
            return Err(ShardError::Input(format!(
                "{}: record {} has no shard path ({}); the task did not finish: run it again with --resume",
                dir.display(), r.id, r.path
            )));
        }
        r.path = format!("{}/{}", rel_dirs[i], r.path);
        if let Some(m) = &r.mask {
            r.mask = Some(format!("{}/{m}", rel_dirs[i]));
        }
        let mut line = serde_json::to_vec(&r).expect("records serialize");
        line.push(b'\n');
        w.write_all(&line).map_err(io_err("write", tmp))?;
        per_class[label] += 1;
        counts[i] += 1;
        expect = if index + 1 < images_per_class {
            (label, index + 1)
        } else {
            (label + 1, 0)
        };
        heads[i] = streams[i].next()?;
        if let Some(n) = &heads[i] {
            heap.push(Reverse((n.label, n.index, i)));
        }
    }
    if expect.0 < classes.len() {
        return Err(missing(expect));
    }
    let file = w
        .into_inner()
        .map_err(|e| io_err("write", tmp)(e.into_error()))?;
    file.sync_all().map_err(io_err("write", tmp))?;
    Ok((per_class, counts))
}
