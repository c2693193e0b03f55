//! Streaming validation of a shard set: every member decodes, the sample counts equal the
//! index, class ids are in range and agree with the record, each image matches the sha256 in
//! its record, and no key appears twice. Shards are read one sample at a time (in parallel
//! over shards); memory is one 8-byte hash per key for the duplicate check.
use super::tar::TarReader;
use super::{split_member, ShardIndex, EXT_CLASS, EXT_IMAGE, EXT_MASK, EXT_RECORD};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What validation found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub shards: usize,
    pub samples: u64,
    pub per_class: Vec<u64>,
    /// Problems, each one sentence naming the shard and member (at most `MAX_KEPT`).
    pub problems: Vec<String>,
    pub problem_count: usize,
}

const MAX_KEPT: usize = 50;

impl CheckReport {
    fn problem(&mut self, p: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_KEPT {
            self.problems.push(p);
        }
    }
}

struct ShardResult {
    samples: u64,
    per_class: Vec<u64>,
    keys: Vec<u64>,
    problems: Vec<String>,
    problem_count: usize,
}

fn key_hash(key: &str) -> u64 {
    let d = Sha256::digest(key.as_bytes());
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// Checks the shards of `index` (read from `index_path`) against `classes` class names.
pub fn check_index(index: &ShardIndex, index_path: &Path, classes: usize) -> CheckReport {
    let paths = index.shard_paths(index_path);
    let results: Vec<(PathBuf, u64, ShardResult)> = paths
        .into_par_iter()
        .zip(index.shardlist.par_iter())
        .map(|(p, e)| {
            let r = check_shard(&p, classes);
            (p, e.nsamples, r)
        })
        .collect();
    let mut report = CheckReport {
        shards: results.len(),
        per_class: vec![0; classes],
        ..Default::default()
    };
    let mut seen: HashSet<u64> = HashSet::new();
    for (path, want, r) in results {
        report.samples += r.samples;
        for (c, n) in r.per_class.iter().enumerate() {
            report.per_class[c] += n;
        }
        report.problem_count += r.problem_count - r.problems.len();
        for p in r.problems {
            report.problem(p);
        }
        if r.samples != want {
            report.problem(format!(
                "{}: holds {} samples but the index says {want}",
                path.display(),
                r.samples
            ));
        }
        for k in r.keys {
            if !seen.insert(k) {
                report.problem(format!(
                    "{}: a sample key appears a second time (duplicate sample)",
                    path.display()
                ));
            }
        }
    }
    report
}

#[derive(Default)]
struct Sample {
    key: String,
    image: Option<Vec<u8>>,
    mask: Option<Vec<u8>>,
    cls: Option<Vec<u8>>,
    json: Option<Vec<u8>>,
}

fn check_shard(path: &Path, classes: usize) -> ShardResult {
    let mut r = ShardResult {
        samples: 0,
        per_class: vec![0; classes],
        keys: Vec::new(),
        problems: Vec::new(),
        problem_count: 0,
    };
    let mut problem = |r: &mut ShardResult, p: String| {
        r.problem_count += 1;
        if r.problems.len() < MAX_KEPT {
            r.problems.push(p);
        }
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            problem(&mut r, format!("{}: cannot open: {e}", path.display()));
            return r;
        }
    };
    let mut reader = TarReader::new(std::io::BufReader::with_capacity(1 << 20, file));
    let mut current: Option<Sample> = None;
    loop {
        let member = match reader.next_member() {
            Ok(m) => m,
            Err(e) => {
                problem(&mut r, format!("{}: {e}", path.display()));
                None
            }
        };
        let Some(member) = member else { break };
        let Some((key, ext)) = split_member(&member.name) else {
            problem(
                &mut r,
                format!(
                    "{}: member {} has no extension",
                    path.display(),
                    member.name
                ),
            );
            continue;
        };
        if current.as_ref().is_some_and(|s| s.key != key) {
            let s = current.take().expect("a sample");
            finish_sample(path, s, classes, &mut r, &mut problem);
        }
        let s = current.get_or_insert_with(|| Sample {
            key: key.to_string(),
            ..Default::default()
        });
        let slot = match ext {
            EXT_IMAGE => &mut s.image,
            EXT_MASK => &mut s.mask,
            EXT_CLASS => &mut s.cls,
            EXT_RECORD => &mut s.json,
            _ => {
                problem(
                    &mut r,
                    format!("{}: unexpected member {}", path.display(), member.name),
                );
                continue;
            }
        };
        if slot.replace(member.data).is_some() {
            problem(
                &mut r,
                format!("{}: member {} appears twice", path.display(), member.name),
            );
        }
    }
    if let Some(s) = current.take() {
        finish_sample(path, s, classes, &mut r, &mut problem);
    }
    r
}

fn finish_sample(
    path: &Path,
    s: Sample,
    classes: usize,
    r: &mut ShardResult,
    problem: &mut impl FnMut(&mut ShardResult, String),
) {
    r.samples += 1;
    r.keys.push(key_hash(&s.key));
    let at = |what: &str| format!("{}: sample {}: {what}", path.display(), s.key);
    let Some(image) = &s.image else {
        problem(r, at("no .png member"));
        return;
    };
    if let Err(e) = image::load_from_memory_with_format(image, image::ImageFormat::Png) {
        problem(r, at(&format!("the image does not decode: {e}")));
    }
    if let Some(mask) = &s.mask {
        if let Err(e) = image::load_from_memory_with_format(mask, image::ImageFormat::Png) {
            problem(r, at(&format!("the mask does not decode: {e}")));
        }
    }
    let label = match s.cls.as_deref().and_then(super::class_id) {
        Some(l) if l < classes => {
            r.per_class[l] += 1;
            Some(l)
        }
        Some(l) => {
            problem(
                r,
                at(&format!(
                    "class id {l} is out of range (classes.txt has {classes})"
                )),
            );
            None
        }
        None => {
            problem(r, at("no readable .cls member (an ASCII class index)"));
            None
        }
    };
    let Some(json) = &s.json else {
        problem(r, at("no .json member"));
        return;
    };
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(v) => {
            if label.is_some() && v.get("label").and_then(|x| x.as_u64()) != label.map(|l| l as u64)
            {
                problem(r, at("the .json record's label differs from .cls"));
            }
            if let Some(want) = v.get("sha256").and_then(|x| x.as_str()) {
                let got: String = Sha256::digest(image)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                if got != want {
                    problem(r, at("the image does not match the sha256 in its record"));
                }
            }
        }
        Err(e) => problem(r, at(&format!("the .json record does not parse: {e}"))),
    }
}
