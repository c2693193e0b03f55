//! A render's saved images -> shards in canonical order.
//!
//! Workers finish images in any order; each is first saved as loose files under a staging
//! folder. Samples go into shards in stream order (position `index * C + label`: every shard
//! holds all classes in turn, which is what a shuffle buffer over a few shards needs), so a
//! sample is written once every owned position before it is written or has failed. A shard's
//! staged files are deleted once it is sealed. The bytes of every shard are therefore a
//! function of the preset, seed and shard limits only: not of the worker count, the order
//! of completion, or a SIGKILL followed by `--resume` (which reads the sealed shards back,
//! keeps the staged files, and starts again after the last sealed shard).
use super::tar::TarReader;
use super::writer::{SealedShard, ShardLimits, ShardNaming, ShardWriter};
use super::{
    io_err, key_of, member_path, ShardError, ShardIndex, EXT_CLASS, EXT_IMAGE, EXT_MASK, EXT_RECORD,
};
use crate::dataset::shard::Shard;
use crate::dataset::ManifestRecord;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Canonical sample order of a render: position `index * classes + label`, restricted to the
/// positions a `--shard I/N` task owns.
#[derive(Debug, Clone, Copy)]
pub struct PositionOrder {
    pub classes: usize,
    pub per_class: u64,
    pub owner: Option<Shard>,
}

impl PositionOrder {
    pub fn total(&self) -> u64 {
        self.classes as u64 * self.per_class
    }

    pub fn position(&self, label: usize, index: u64) -> u64 {
        index * self.classes as u64 + label as u64
    }

    fn owns(&self, pos: u64) -> bool {
        let c = self.classes as u64;
        self.owner
            .is_none_or(|s| s.owns((pos % c) as usize, pos / c))
    }
}

/// The JSON member of a sample: its manifest record with the shard paths, without the one
/// field that is a measurement (`render_seconds`), so the bytes are the same in every run.
pub fn record_json(rec: &ManifestRecord) -> Vec<u8> {
    let mut value = serde_json::to_value(rec).expect("records serialize");
    if let Some(map) = value.as_object_mut() {
        map.remove("render_seconds");
    }
    serde_json::to_vec(&value).expect("values serialize")
}

/// Appends one sample to `writer`: the image, the mask when the record has one, the class
/// index and the record, whose paths are rewritten to the shard's members. Returns the shard
/// the sample went into and the shard it sealed, if it filled one.
pub fn append_sample(
    writer: &mut ShardWriter,
    rec: &mut ManifestRecord,
    png: &[u8],
    mask: Option<&[u8]>,
) -> Result<(String, Option<SealedShard>), ShardError> {
    let key = key_of(&rec.id);
    let shard = writer.current()?.to_string();
    rec.path = member_path(&shard, &key, EXT_IMAGE);
    if rec.mask.is_some() {
        rec.mask = Some(member_path(&shard, &key, EXT_MASK));
    }
    let json = record_json(rec);
    let cls = rec.label.to_string();
    let mut members: Vec<(&str, &[u8])> = vec![(EXT_IMAGE, png)];
    if let Some(m) = mask {
        members.push((EXT_MASK, m));
    }
    members.push((EXT_CLASS, cls.as_bytes()));
    members.push((EXT_RECORD, &json));
    let sealed = writer.append(&key, &members)?;
    Ok((shard, sealed))
}

pub struct Assembler {
    writer: ShardWriter,
    out: PathBuf,
    staging: PathBuf,
    order: PositionOrder,
    frontier: u64,
    pending: BTreeMap<u64, ManifestRecord>,
    failed: BTreeSet<u64>,
    /// Image id -> the shard file it went into.
    placed: HashMap<String, String>,
    sealed: Vec<SealedShard>,
    /// Staged files of the samples in the open shard, deleted once it is sealed.
    staged_in_open: Vec<PathBuf>,
}

impl Assembler {
    /// Opens the assembler of `out`: reads the shards sealed by an earlier session, and
    /// returns the ids already done (sealed, or staged with their files present).
    pub fn open(
        out: &Path,
        staging: &Path,
        naming: ShardNaming,
        limits: ShardLimits,
        order: PositionOrder,
        existing: &[ManifestRecord],
    ) -> Result<(Assembler, HashSet<String>), ShardError> {
        std::fs::create_dir_all(staging).map_err(io_err("create", staging))?;
        let mut placed = HashMap::new();
        let mut sealed = Vec::new();
        let mut frontier = 0u64;
        loop {
            let name = naming.name(sealed.len() as u64);
            let path = out.join(&name);
            if !path.is_file() {
                break;
            }
            let mut nsamples = 0;
            for_each_record(&path, |label, index, key| {
                nsamples += 1;
                frontier = frontier.max(order.position(label, index) + 1);
                placed.insert(key.to_string(), name.clone());
            })?;
            let filesize = std::fs::metadata(&path)
                .map_err(io_err("read", &path))?
                .len();
            sealed.push(SealedShard {
                name,
                nsamples,
                filesize,
            });
        }
        let next = sealed.len() as u64;
        let mut done: HashSet<String> = placed.keys().cloned().collect();
        let mut pending = BTreeMap::new();
        for r in existing {
            if done.contains(&r.id) {
                continue;
            }
            let staged = staging.join(&r.path).is_file()
                && r.mask.as_ref().is_none_or(|m| staging.join(m).is_file());
            if staged {
                done.insert(r.id.clone());
                pending.insert(order.position(r.label, r.index), r.clone());
            }
        }
        let mut a = Assembler {
            writer: ShardWriter::new(out, naming, limits, next),
            out: out.to_path_buf(),
            staging: staging.to_path_buf(),
            order,
            frontier,
            pending,
            failed: BTreeSet::new(),
            placed,
            sealed,
            staged_in_open: Vec::new(),
        };
        a.drain()?;
        Ok((a, done))
    }

    /// A saved (staged) image: written as soon as every position before it is settled.
    pub fn offer(&mut self, rec: ManifestRecord) -> Result<(), ShardError> {
        let pos = self.order.position(rec.label, rec.index);
        if pos < self.frontier {
            // Only an image that had failed in an earlier session and now rendered: it goes
            // into the open shard (it was skipped where it would have been).
            return self.write(rec);
        }
        self.pending.insert(pos, rec);
        self.drain()
    }

    /// An image that failed every attempt: its position is skipped.
    pub fn fail(&mut self, label: usize, index: u64) -> Result<(), ShardError> {
        let pos = self.order.position(label, index);
        if pos >= self.frontier {
            self.failed.insert(pos);
        }
        self.drain()
    }

    fn drain(&mut self) -> Result<(), ShardError> {
        while self.frontier < self.order.total() {
            let pos = self.frontier;
            if !self.order.owns(pos) || self.failed.remove(&pos) {
                self.frontier += 1;
                continue;
            }
            let Some(rec) = self.pending.remove(&pos) else {
                break;
            };
            self.write(rec)?;
            self.frontier += 1;
        }
        Ok(())
    }

    fn write(&mut self, mut rec: ManifestRecord) -> Result<(), ShardError> {
        let image_path = self.staging.join(&rec.path);
        let png = std::fs::read(&image_path).map_err(io_err("read", &image_path))?;
        let mask_path = rec.mask.as_ref().map(|m| self.staging.join(m));
        let mask = match &mask_path {
            Some(p) => Some(std::fs::read(p).map_err(io_err("read", p))?),
            None => None,
        };
        let (shard, sealed) = append_sample(&mut self.writer, &mut rec, &png, mask.as_deref())?;
        self.placed.insert(rec.id.clone(), shard);
        self.staged_in_open.push(image_path);
        self.staged_in_open.extend(mask_path);
        if let Some(s) = sealed {
            self.on_sealed(s);
        }
        Ok(())
    }

    fn on_sealed(&mut self, s: SealedShard) {
        self.sealed.push(s);
        for p in self.staged_in_open.drain(..) {
            let _ = std::fs::remove_file(p);
        }
    }

    /// The end of a run: writes what is still staged in canonical order (skipping positions
    /// that never arrived), closes the last shard, and returns the run's index.
    pub fn finish(&mut self) -> Result<ShardIndex, ShardError> {
        let rest = std::mem::take(&mut self.pending);
        for (_, rec) in rest {
            self.write(rec)?;
        }
        self.frontier = self.order.total();
        if let Some(s) = self.writer.finish()? {
            self.on_sealed(s);
        }
        let _ = std::fs::remove_dir_all(&self.staging);
        let entries = self
            .sealed
            .iter()
            .map(|s| super::index::IndexEntry {
                url: s.name.clone(),
                nsamples: s.nsamples,
                filesize: s.filesize,
            })
            .collect();
        Ok(ShardIndex::new(&self.writer.naming().prefix, entries))
    }

    /// A record with its shard paths, for the final manifest (unchanged if not placed).
    pub fn final_record(&self, mut rec: ManifestRecord) -> ManifestRecord {
        if let Some(shard) = self.placed.get(&rec.id) {
            let key = key_of(&rec.id);
            rec.path = member_path(shard, &key, EXT_IMAGE);
            if rec.mask.is_some() {
                rec.mask = Some(member_path(shard, &key, EXT_MASK));
            }
        }
        rec
    }

    pub fn out(&self) -> &Path {
        &self.out
    }
}

/// Calls `f(label, index, id)` for every sample record (`.json` member) of a shard.
pub fn for_each_record(path: &Path, mut f: impl FnMut(usize, u64, &str)) -> Result<(), ShardError> {
    let file = std::fs::File::open(path).map_err(io_err("open", path))?;
    let mut reader = TarReader::new(std::io::BufReader::with_capacity(1 << 20, file));
    while let Some(m) = reader.next_member().map_err(|cause| ShardError::Tar {
        path: path.to_path_buf(),
        cause,
    })? {
        if !m.name.ends_with(".json") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&m.data).map_err(|e| {
            ShardError::Input(format!(
                "{}: member {} is not a sample record ({e}); delete the shard and resume",
                path.display(),
                m.name
            ))
        })?;
        let (Some(label), Some(index), Some(id)) = (
            v.get("label").and_then(|x| x.as_u64()),
            v.get("index").and_then(|x| x.as_u64()),
            v.get("id").and_then(|x| x.as_str()),
        ) else {
            return Err(ShardError::Input(format!(
                "{}: member {} lacks id, label or index; delete the shard and resume",
                path.display(),
                m.name
            )));
        };
        f(label as usize, index, id);
    }
    Ok(())
}
