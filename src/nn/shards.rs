//! A streaming source over WebDataset shards (a folder of `.tar` files, a `wids` index, or a
//! brace pattern `a-{000000..000099}.tar`), for training on datasets too large for a folder of
//! files. It follows the render stream's path into the engine: an iterator of `Batch`es.
//!
//! The sample sequence of epoch `e` is a function of (seed, e, rank, world, streams, shuffle
//! buffer) only: the shard list is shuffled (seeded per epoch), rank `r` of `world` takes every
//! `world`-th shard from offset `r`, and these are dealt round-robin to `streams` readers (the
//! counterpart of webdataset's DataLoader workers, each reading its own shards). Each reader
//! passes its samples through a seeded shuffle buffer; the readers' outputs interleave
//! round-robin. Batch `k` is positions `[k B, (k + 1) B)` of the epochs laid end to end, and a
//! sample's augmentation depends on (seed, epoch, position), so a run resumed at step `k`
//! (the sequence replayed without decoding up to `k B`) equals the uninterrupted run, whatever
//! the number of decode threads.
use std::collections::VecDeque;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::augment::{augment_into, sample_rng, Augment};
use super::loader::{Batch, InOrder};
use super::TrainError;
use crate::dataset::webdataset::tar::TarReader;
use crate::dataset::webdataset::{
    split_member, ShardIndex, EXT_CLASS, INDEX_FILE, READ_IMAGE_EXTENSIONS,
};

/// The shards of a dataset with their sample counts and the class names.
#[derive(Debug, Clone)]
pub struct ShardSet {
    pub source: PathBuf,
    pub shards: Vec<(PathBuf, u64)>,
    pub classes: Vec<String>,
}

fn bad(path: &Path, why: impl Into<String>) -> TrainError {
    TrainError::Shards {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

/// Whether `text` is a brace pattern (`a-{000000..000099}.tar`), not a path.
fn is_pattern(text: &str) -> bool {
    text.contains('{') && text.contains('}') && text.contains("..")
}

/// Expands one `{a..b}` range (zero-padded to the width of `a`); text without one is itself.
pub fn brace_expand(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('{') else {
        return Ok(vec![pattern.to_string()]);
    };
    let close = pattern[open..]
        .find('}')
        .map(|i| i + open)
        .ok_or("a '{' without its '}'")?;
    let inner = &pattern[open + 1..close];
    let (a, b) = inner
        .split_once("..")
        .ok_or("write the range as {000000..000099}")?;
    let (lo, hi): (u64, u64) = (
        a.parse().map_err(|_| format!("{a:?} is not a number"))?,
        b.parse().map_err(|_| format!("{b:?} is not a number"))?,
    );
    if hi < lo {
        return Err(format!("the range {{{inner}}} is empty"));
    }
    let width = a.len();
    let rest = brace_expand(&pattern[close + 1..])?;
    let mut out = Vec::new();
    for i in lo..=hi {
        for r in &rest {
            out.push(format!("{}{i:0width$}{r}", &pattern[..open]));
        }
    }
    Ok(out)
}

/// Samples in a shard (distinct consecutive keys), read through once.
pub fn count_samples(path: &Path) -> Result<u64, TrainError> {
    let file = std::fs::File::open(path).map_err(|e| TrainError::io(path, e))?;
    let mut r = TarReader::new(BufReader::with_capacity(1 << 20, file));
    let mut n = 0;
    let mut last = String::new();
    while let Some(m) = r.next_member().map_err(|e| bad(path, e.to_string()))? {
        if let Some((key, _)) = split_member(&m.name) {
            if key != last {
                n += 1;
                last = key.to_string();
            }
        }
    }
    Ok(n)
}

impl ShardSet {
    /// The shard set `path` names, or `None` when it is not one (an ImageFolder, a list...):
    /// a `.json` wids index, a brace pattern, or a folder with a wids index or `.tar` files
    /// and no image list. Class names come from `classes.txt` beside the shards.
    pub fn detect(path: &Path) -> Result<Option<ShardSet>, TrainError> {
        let Some((shards, dir)) = Self::find(path)? else {
            return Ok(None);
        };
        if shards.iter().all(|(_, n)| *n == 0) {
            return Err(bad(path, "the shards hold no samples"));
        }
        Ok(Some(ShardSet {
            source: path.to_path_buf(),
            shards,
            classes: read_classes(path, &dir)?,
        }))
    }

    /// The shards `path` names with their sample counts, and the folder that holds
    /// `classes.txt`.
    #[allow(clippy::type_complexity)]
    fn find(path: &Path) -> Result<Option<(Vec<(PathBuf, u64)>, PathBuf)>, TrainError> {
        let text = path.to_string_lossy();
        let parent = || path.parent().unwrap_or(Path::new(".")).to_path_buf();
        if is_pattern(&text) {
            return Ok(Some((Self::from_pattern(path)?, parent())));
        }
        if path.is_file() && text.ends_with(".json") {
            return Ok(Some((Self::from_index(path)?, parent())));
        }
        if !path.is_dir() {
            return Ok(None);
        }
        if path.join(INDEX_FILE).is_file() {
            let shards = Self::from_index(&path.join(INDEX_FILE))?;
            return Ok(Some((shards, path.to_path_buf())));
        }
        if path.join("image_list.txt").is_file() {
            return Ok(None);
        }
        Ok(Self::from_folder(path)?.map(|shards| (shards, path.to_path_buf())))
    }

    /// Every file of a brace pattern, counted.
    fn from_pattern(path: &Path) -> Result<Vec<(PathBuf, u64)>, TrainError> {
        let names = brace_expand(&path.to_string_lossy()).map_err(|e| bad(path, e))?;
        let mut shards = Vec::new();
        for n in names {
            let p = PathBuf::from(n);
            if !p.is_file() {
                return Err(bad(path, format!("{} does not exist", p.display())));
            }
            let count = count_samples(&p)?;
            shards.push((p, count));
        }
        Ok(shards)
    }

    /// The `.tar` files of a folder in name order, counted; `None` when it has none.
    fn from_folder(path: &Path) -> Result<Option<Vec<(PathBuf, u64)>>, TrainError> {
        let mut tars: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| TrainError::io(path, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "tar"))
            .collect();
        if tars.is_empty() {
            return Ok(None);
        }
        tars.sort();
        let mut shards = Vec::new();
        for p in tars {
            let count = count_samples(&p)?;
            shards.push((p, count));
        }
        Ok(Some(shards))
    }

    fn from_index(index_path: &Path) -> Result<Vec<(PathBuf, u64)>, TrainError> {
        let index = ShardIndex::read(index_path).map_err(|e| bad(index_path, e.to_string()))?;
        let paths = index.shard_paths(index_path);
        Ok(paths
            .into_iter()
            .zip(index.shardlist.iter().map(|s| s.nsamples))
            .collect())
    }

    pub fn len(&self) -> u64 {
        self.shards.iter().map(|(_, n)| n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shards of rank `rank` of `world` in epoch `epoch` (seeded shuffle, then every
    /// `world`-th), with their sample counts.
    pub fn rank_shards(
        &self,
        seed: u64,
        epoch: u64,
        rank: usize,
        world: usize,
    ) -> Vec<(PathBuf, u64)> {
        let mut order: Vec<usize> = (0..self.shards.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SHARD_ORDER_SALT);
        rng.set_stream(epoch);
        order.shuffle(&mut rng);
        order
            .into_iter()
            .skip(rank)
            .step_by(world.max(1))
            .map(|i| self.shards[i].clone())
            .collect()
    }

    /// Samples rank `rank` of `world` reads in epoch `epoch` (shards differ in size, so with
    /// several ranks this depends on the epoch's draw).
    pub fn rank_len(&self, seed: u64, epoch: u64, rank: usize, world: usize) -> u64 {
        if world <= 1 {
            return self.len();
        }
        self.rank_shards(seed, epoch, rank, world)
            .iter()
            .map(|(_, n)| n)
            .sum()
    }

    /// The epoch of a rank's sequence that holds position `pos` (epochs laid end to end) and
    /// the position that epoch starts at; `None` when an epoch of the rank is empty.
    pub fn locate(&self, seed: u64, pos: u64, rank: usize, world: usize) -> Option<(u64, u64)> {
        let (mut epoch, mut first) = (0u64, 0u64);
        loop {
            let len = self.rank_len(seed, epoch, rank, world);
            if len == 0 {
                return None;
            }
            if pos < first + len {
                return Some((epoch, first));
            }
            first += len;
            epoch += 1;
        }
    }
}

/// The class names in `classes.txt` of `dir`, beside the shards `path` names.
fn read_classes(path: &Path, dir: &Path) -> Result<Vec<String>, TrainError> {
    let classes_path = dir.join("classes.txt");
    let text = std::fs::read_to_string(&classes_path).map_err(|e| {
        bad(
            path,
            format!(
                "{} is needed beside the shards ({e}); synthgen render and merge write it",
                classes_path.display()
            ),
        )
    })?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect())
}

const SHARD_ORDER_SALT: u64 = 0x5a4d_0000_0000_0001;
const BUFFER_SALT: u64 = 0x5a4d_0000_0000_0002;

#[derive(Debug, Clone)]
pub struct ShardStreamConfig {
    pub augment: Augment,
    pub image_size: u32,
    pub batch_size: usize,
    /// Decode + augment threads (any number gives the same batches).
    pub workers: usize,
    pub seed: u64,
    /// Readers per rank, each with its own shards and shuffle buffer.
    pub streams: usize,
    /// Samples each reader's shuffle buffer holds (1 = no shuffling within shards).
    pub shuffle_buffer: usize,
    /// This process's rank and the number of ranks (data-parallel training; 0 and 1 alone).
    pub rank: usize,
    pub world: usize,
    pub start_batch: u64,
    pub end_batch: Option<u64>,
}

/// One raw sample of the sequence.
struct Raw {
    image: Vec<u8>,
    label: i64,
    name: String,
}

/// One reader: its shards in order, a shuffle buffer, a seeded rng.
struct Reader {
    shards: VecDeque<PathBuf>,
    current: Option<(PathBuf, TarReader<BufReader<std::fs::File>>)>,
    /// File name of the shard read last: samples are named `<shard file>#<key>`.
    current_name: String,
    buffer: Vec<Raw>,
    capacity: usize,
    rng: ChaCha8Rng,
    exhausted: bool,
    pending: Option<(String, Option<Vec<u8>>, Option<i64>)>,
}

impl Reader {
    /// The next sample of the shards, in file order (`None` when they are all read).
    fn next_in_order(&mut self) -> Option<Raw> {
        loop {
            if self.current.is_none() {
                let path = self.shards.pop_front()?;
                match std::fs::File::open(&path) {
                    Ok(f) => {
                        self.current_name = path
                            .file_name()
                            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
                        self.current =
                            Some((path, TarReader::new(BufReader::with_capacity(1 << 20, f))))
                    }
                    Err(e) => {
                        tracing::warn!("skipping shard {}: {e}", path.display());
                        continue;
                    }
                }
            }
            let (path, reader) = self.current.as_mut().expect("open");
            let member = match reader.next_member() {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("rest of shard {} skipped: {e}", path.display());
                    None
                }
            };
            let Some(m) = member else {
                self.current = None;
                if let Some(raw) = self.take_pending() {
                    return Some(raw);
                }
                continue;
            };
            let Some((key, ext)) = split_member(&m.name) else {
                continue;
            };
            let mut finished = None;
            if self.pending.as_ref().is_some_and(|(k, _, _)| k != key) {
                finished = self.take_pending();
            }
            let p = self
                .pending
                .get_or_insert_with(|| (key.to_string(), None, None));
            if READ_IMAGE_EXTENSIONS.contains(&ext) {
                p.1 = Some(m.data);
            } else if ext == EXT_CLASS {
                // Parsed into the batch's signed label type (not `class_id`, which is unsigned).
                p.2 = std::str::from_utf8(&m.data)
                    .ok()
                    .and_then(|t| t.trim().parse().ok());
            }
            if finished.is_some() {
                return finished;
            }
        }
    }

    /// The sample collected so far, if it has an image and a label (else it is skipped).
    fn take_pending(&mut self) -> Option<Raw> {
        let (key, image, label) = self.pending.take()?;
        let name = format!("{}#{key}", self.current_name);
        match (image, label) {
            (Some(image), Some(label)) => Some(Raw { image, label, name }),
            _ => {
                tracing::warn!("sample {name} has no image or no .cls; skipped");
                None
            }
        }
    }

    /// The next sample through the shuffle buffer.
    fn next(&mut self) -> Option<Raw> {
        while !self.exhausted && self.buffer.len() < self.capacity {
            match self.next_in_order() {
                Some(r) => self.buffer.push(r),
                None => self.exhausted = true,
            }
        }
        if self.buffer.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..self.buffer.len());
        Some(self.buffer.swap_remove(i))
    }
}

/// The raw sample sequence of one epoch: the readers' outputs interleaved round-robin.
struct EpochSequence {
    readers: Vec<Reader>,
    turn: usize,
}

impl EpochSequence {
    /// Epoch `epoch` of a training stream: this rank's shards, shuffled for the epoch.
    fn new(set: &ShardSet, cfg: &ShardStreamConfig, epoch: u64) -> Self {
        let shards = set.rank_shards(cfg.seed, epoch, cfg.rank, cfg.world);
        Self::over(&shards, cfg, epoch)
    }

    fn over(shards: &[(PathBuf, u64)], cfg: &ShardStreamConfig, epoch: u64) -> Self {
        let streams = cfg.streams.max(1);
        let readers = (0..streams)
            .map(|s| {
                let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ BUFFER_SALT);
                rng.set_stream((epoch << 24) ^ ((cfg.rank as u64) << 12) ^ s as u64);
                Reader {
                    shards: shards
                        .iter()
                        .skip(s)
                        .step_by(streams)
                        .map(|(p, _)| p.clone())
                        .collect(),
                    current: None,
                    current_name: String::new(),
                    buffer: Vec::new(),
                    capacity: cfg.shuffle_buffer.max(1),
                    rng,
                    exhausted: false,
                    pending: None,
                }
            })
            .collect();
        EpochSequence { readers, turn: 0 }
    }

    fn next(&mut self) -> Option<Raw> {
        let n = self.readers.len();
        for _ in 0..n {
            let i = self.turn % n;
            self.turn += 1;
            if let Some(r) = self.readers[i].next() {
                return Some(r);
            }
        }
        None
    }
}

/// A batch of raw samples for the decode threads.
struct RawBatch {
    index: u64,
    epoch: u64,
    /// (position in the epoch, sample)
    items: Vec<(u64, Raw)>,
}

/// Batches from shards; dropping it stops its threads.
pub struct ShardStream(InOrder);

/// The sample names (`<shard file>#<key>`) of an evaluation pass, by position, filled as the
/// pass reads ahead of its batches.
pub type PassNames = Arc<Mutex<Vec<String>>>;

/// What the reading thread produces.
enum Mode {
    /// The training sequence, epoch after epoch, from `cfg.start_batch`.
    Train,
    /// One pass over the shards in their listed order, the last batch partial, naming each
    /// sample.
    Evaluation(PassNames),
}

impl ShardStream {
    pub fn new(set: Arc<ShardSet>, cfg: ShardStreamConfig) -> Self {
        Self::start(set, cfg, Mode::Train)
    }

    /// One pass over every sample of `set` in shard order with the evaluation transform
    /// (resize and centre crop, no augmentation), `batch_size` at a time; memory stays that
    /// of a few batches whatever the number of samples. The names fill as the pass goes:
    /// batch sample `i` is `names[batch.samples[i]]`.
    pub fn evaluation(
        set: Arc<ShardSet>,
        image_size: u32,
        batch_size: usize,
        workers: usize,
    ) -> (Self, PassNames) {
        let cfg = ShardStreamConfig {
            augment: Augment::None,
            image_size,
            batch_size,
            workers,
            seed: 0,
            streams: 1,
            shuffle_buffer: 1,
            rank: 0,
            world: 1,
            start_batch: 0,
            end_batch: None,
        };
        let names = PassNames::default();
        (
            Self::start(set, cfg, Mode::Evaluation(names.clone())),
            names,
        )
    }

    fn start(set: Arc<ShardSet>, cfg: ShardStreamConfig, mode: Mode) -> Self {
        let workers = cfg.workers.max(1);
        let (raw_tx, raw_rx) = sync_channel::<RawBatch>(2 * workers);
        let raw_rx = Arc::new(Mutex::new(raw_rx));
        let (tx, rx) = sync_channel::<Batch>(2 * workers);
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        {
            let (set, cfg, stop) = (set.clone(), cfg.clone(), stop.clone());
            handles.push(std::thread::spawn(move || match mode {
                Mode::Train => produce(&set, &cfg, &raw_tx, &stop),
                Mode::Evaluation(names) => produce_pass(&set, &cfg, &raw_tx, &stop, &names),
            }));
        }
        for _ in 0..workers {
            let (raw_rx, tx, cfg) = (raw_rx.clone(), tx.clone(), cfg.clone());
            handles.push(std::thread::spawn(move || loop {
                let job = raw_rx.lock().expect("raw batches").recv();
                let Ok(job) = job else { break };
                if tx.send(decode_batch(job, &cfg)).is_err() {
                    break;
                }
            }));
        }
        ShardStream(InOrder::new(
            rx,
            cfg.start_batch,
            cfg.end_batch,
            stop,
            handles,
        ))
    }
}

/// One pass over the shards in listed order: batches of positions `[k B, (k + 1) B)`, the
/// last one partial; each sample's name is pushed to `names` before its batch is sent.
fn produce_pass(
    set: &ShardSet,
    cfg: &ShardStreamConfig,
    tx: &SyncSender<RawBatch>,
    stop: &AtomicBool,
    names: &PassNames,
) {
    let b = cfg.batch_size.max(1);
    let mut seq = EpochSequence::over(&set.shards, cfg, 0);
    let mut pos = 0u64;
    for index in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let mut batch = RawBatch {
            index,
            epoch: 0,
            items: Vec::with_capacity(b),
        };
        while batch.items.len() < b {
            let Some(raw) = seq.next() else { break };
            names.lock().expect("names").push(raw.name.clone());
            batch.items.push((pos, raw));
            pos += 1;
        }
        let last = batch.items.len() < b;
        if batch.items.is_empty() || tx.send(batch).is_err() || last {
            return;
        }
    }
}

/// Replays the sequence from epoch 0 position 0 of the start batch's epoch, skipping (not
/// decoding) the samples before the start, and sends raw batches until the end batch.
fn produce(set: &ShardSet, cfg: &ShardStreamConfig, tx: &SyncSender<RawBatch>, stop: &AtomicBool) {
    let b = cfg.batch_size.max(1) as u64;
    let start = cfg.start_batch * b;
    let Some((mut epoch, mut pos)) = set.locate(cfg.seed, start, cfg.rank, cfg.world) else {
        return;
    };
    let mut seq = EpochSequence::new(set, cfg, epoch);
    let mut in_epoch = 0u64;
    // Skip to the start position without decoding.
    while pos < start {
        if seq.next().is_none() {
            break;
        }
        pos += 1;
        in_epoch += 1;
    }
    let mut k = cfg.start_batch;
    loop {
        if cfg.end_batch.is_some_and(|e| k >= e) || stop.load(Ordering::Relaxed) {
            return;
        }
        let mut batch = RawBatch {
            index: k,
            epoch,
            items: Vec::with_capacity(b as usize),
        };
        while (batch.items.len() as u64) < b {
            match seq.next() {
                Some(raw) => {
                    batch.items.push((in_epoch, raw));
                    in_epoch += 1;
                }
                None => {
                    // The epoch ended: the next starts (shards reshuffled).
                    if in_epoch == 0 {
                        return;
                    }
                    epoch += 1;
                    in_epoch = 0;
                    seq = EpochSequence::new(set, cfg, epoch);
                }
            }
        }
        if tx.send(batch).is_err() {
            return;
        }
        k += 1;
    }
}

fn decode_batch(job: RawBatch, cfg: &ShardStreamConfig) -> Batch {
    let s = cfg.image_size as usize;
    let mut batch = Batch {
        index: job.index,
        images: Vec::with_capacity(job.items.len() * 3 * s * s),
        labels: Vec::new(),
        samples: Vec::new(),
        skipped: Vec::new(),
        epoch: job.epoch,
    };
    for (pos, raw) in job.items {
        match image::load_from_memory(&raw.image) {
            Ok(img) => {
                // Epochs restart positions, so (epoch, position) names a draw uniquely.
                let mut rng = sample_rng(cfg.seed, job.epoch, pos);
                augment_into(
                    &img.to_rgb8(),
                    cfg.augment,
                    cfg.image_size,
                    &mut rng,
                    &mut batch.images,
                );
                batch.labels.push(raw.label);
                batch.samples.push(pos as usize);
            }
            Err(e) => {
                tracing::warn!("skipping undecodable sample {}: {e}", raw.name);
                batch.skipped.push((PathBuf::from(raw.name), e.to_string()));
            }
        }
    }
    batch
}

impl Iterator for ShardStream {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        self.0.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::webdataset::{ShardLimits, ShardNaming, ShardWriter};

    /// `n` samples of 20 x 16 PNGs, 3 classes, in shards of `per_shard`.
    fn write_shards(dir: &Path, n: usize, per_shard: u64) -> ShardSet {
        let mut w = ShardWriter::new(
            dir,
            ShardNaming::single("t"),
            ShardLimits {
                max_samples: per_shard,
                max_bytes: 1 << 30,
            },
            0,
        );
        for i in 0..n {
            let mut png = Vec::new();
            image::RgbImage::from_pixel(20, 16, image::Rgb([i as u8 * 7, (i % 3) as u8 * 80, 9]))
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .unwrap();
            let cls = (i % 3).to_string();
            w.append(
                &format!("s_{i:04}"),
                &[("png", &png), ("cls", cls.as_bytes())],
            )
            .unwrap();
        }
        w.finish().unwrap();
        std::fs::write(dir.join("classes.txt"), "a\nb\nc\n").unwrap();
        ShardSet::detect(dir).unwrap().expect("a shard folder")
    }

    fn cfg(workers: usize, start: u64, end: u64) -> ShardStreamConfig {
        ShardStreamConfig {
            augment: Augment::Strong,
            image_size: 16,
            batch_size: 4,
            workers,
            seed: 3,
            streams: 2,
            shuffle_buffer: 5,
            rank: 0,
            world: 1,
            start_batch: start,
            end_batch: Some(end),
        }
    }

    #[test]
    fn the_stream_is_seeded_shuffled_complete_per_epoch_and_resumes_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let set = Arc::new(write_shards(dir.path(), 22, 4));
        assert_eq!(set.shards.len(), 6);
        assert_eq!(set.len(), 22);
        // 22 samples, batches of 4: 11 batches = two epochs.
        let one: Vec<Batch> = ShardStream::new(set.clone(), cfg(1, 0, 11)).collect();
        assert_eq!(one.len(), 11);
        let labels: Vec<i64> = one.iter().flat_map(|b| b.labels.clone()).collect();
        let mut counts = [0; 3];
        for l in &labels[..22] {
            counts[*l as usize] += 1;
        }
        assert_eq!(counts, [8, 7, 7], "epoch 0 holds every sample once");
        let positions: Vec<usize> = one.iter().flat_map(|b| b.samples.clone()).collect();
        assert_eq!(positions[..22], (0..22).collect::<Vec<_>>()[..]);
        // Shuffled: not file order; epoch 1 differs from epoch 0.
        let first_epoch: Vec<f32> = one[..5].iter().flat_map(|b| b.images.clone()).collect();
        let second: Vec<f32> = one[5..10].iter().flat_map(|b| b.images.clone()).collect();
        assert_ne!(first_epoch, second);
        // Three decode threads, and a resume at batch 7 (mid-epoch 1): the same batches.
        let three: Vec<Batch> = ShardStream::new(set.clone(), cfg(3, 0, 11)).collect();
        let resumed: Vec<Batch> = ShardStream::new(set.clone(), cfg(2, 7, 11)).collect();
        for (a, b) in one.iter().zip(&three) {
            assert_eq!(
                (a.index, &a.labels, &a.images),
                (b.index, &b.labels, &b.images)
            );
        }
        for (a, b) in one[7..].iter().zip(&resumed) {
            assert_eq!(
                (a.index, &a.labels, &a.images),
                (b.index, &b.labels, &b.images)
            );
        }
        assert_eq!(resumed.len(), 4);
    }

    #[test]
    fn an_evaluation_pass_reads_every_sample_once_in_shard_order_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let set = Arc::new(write_shards(dir.path(), 10, 4));
        let (pass, names) = ShardStream::evaluation(set, 16, 4, 3);
        let batches: Vec<Batch> = pass.collect();
        assert_eq!(
            batches.iter().map(Batch::len).collect::<Vec<_>>(),
            [4, 4, 2]
        );
        let labels: Vec<i64> = batches.iter().flat_map(|b| b.labels.clone()).collect();
        assert_eq!(labels, (0..10).map(|i| i % 3).collect::<Vec<i64>>());
        let positions: Vec<usize> = batches.iter().flat_map(|b| b.samples.clone()).collect();
        assert_eq!(positions, (0..10).collect::<Vec<_>>());
        let names = names.lock().unwrap().clone();
        assert_eq!(names.len(), 10);
        assert_eq!(names[0], "t-000000.tar#s_0000");
        assert_eq!(names[9], "t-000002.tar#s_0009");
    }

    #[test]
    fn a_rank_of_uneven_shards_resumes_exactly_in_any_epoch() {
        let dir = tempfile::tempdir().unwrap();
        // 5 shards of 4, 4, 4, 4 and 3 samples: two ranks draw 7 to 12 samples per epoch.
        let set = Arc::new(write_shards(dir.path(), 19, 4));
        let rank1 = |start, end| ShardStreamConfig {
            rank: 1,
            world: 2,
            ..cfg(2, start, end)
        };
        let lens: Vec<u64> = (0..6).map(|e| set.rank_len(3, e, 1, 2)).collect();
        assert!(lens.iter().all(|&n| (7..=12).contains(&n)), "{lens:?}");
        let whole: Vec<Batch> = ShardStream::new(set.clone(), rank1(0, 12)).collect();
        assert_eq!(whole.len(), 12, "the stream runs every batch asked for");
        // Epoch 0 is positions 0..lens[0] of the rank, epoch 1 the next lens[1]...
        assert_eq!(set.locate(3, lens[0], 1, 2), Some((1, lens[0])));
        for start in [3, 5, 9] {
            let resumed: Vec<Batch> = ShardStream::new(set.clone(), rank1(start, 12)).collect();
            for (a, b) in whole[start as usize..].iter().zip(&resumed) {
                assert_eq!(
                    (a.index, a.epoch, &a.labels, &a.images),
                    (b.index, b.epoch, &b.labels, &b.images)
                );
            }
        }
    }

    #[test]
    fn ranks_split_the_shards_and_patterns_and_indexes_find_them() {
        let dir = tempfile::tempdir().unwrap();
        let set = write_shards(dir.path(), 16, 4);
        let r0 = set.rank_shards(3, 0, 0, 2);
        let r1 = set.rank_shards(3, 0, 1, 2);
        assert_eq!(r0.len() + r1.len(), 4);
        assert!(r0.iter().all(|s| !r1.contains(s)));
        let pattern = dir.path().join("t-{000000..000003}.tar");
        let p = ShardSet::detect(&pattern).unwrap().unwrap();
        assert_eq!((p.shards.len(), p.len()), (4, 16));
        assert_eq!(
            brace_expand("a-{08..10}.tar").unwrap(),
            ["a-08.tar", "a-09.tar", "a-10.tar"]
        );
        // Not shards: an ImageFolder-like folder without tar files.
        let empty = tempfile::tempdir().unwrap();
        assert!(ShardSet::detect(empty.path()).unwrap().is_none());
    }
}
