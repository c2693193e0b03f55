//! A render stream: the render pipeline of `synthgen render` (same plan, sampling, workers,
//! validation, compositing and files) handing its images to a consumer in stream order.
//!
//! Stream position `p` is image `p / C` of class `p % C` (C classes in label order), i.e. the
//! image `synthgen render` with the same preset writes with id `<class>_<index>`, so a stream can
//! be re-rendered or resumed at any position. Back-pressure both ways: a worker takes a position
//! only while fewer than `window` images wait for the consumer, and the consumer waits for the
//! next position.
use crate::assets::ModelCache;
use crate::dataset::layout;
use crate::dataset::manifest::{read_manifest, ManifestRecord, ManifestWriter, MANIFEST_FILE};
use crate::dataset::webdataset::tar::TarReader;
use crate::dataset::webdataset::{shard_of_path, ShardError, INDEX_FILE};
use crate::fsio::remove_stale_temps;
use crate::preset::OutputFormat;
use crate::preset::Preset;
use crate::render::denylist::Denylist;
use crate::render::driver::{drive_worker, Outcome};
use crate::render::plan::{ClassPlan, ImageJob};
use crate::render::run::{
    check_output_folder, io_err, open_assembler, staging_dir, write_failures, RunError, RunOptions,
    Shared, SharedParts,
};
use crate::render::stats::{FailedImage, RunStats};
use crate::sample::SamplingContext;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// What a stream renders and where its images land.
pub struct StreamPlan {
    pub preset: Preset,
    pub classes: Vec<ClassPlan>,
    pub ctx: SamplingContext,
    pub cache: ModelCache,
    /// `run.out` receives the images; `run.workers` Blender workers render them.
    pub run: RunOptions,
    /// Keep the images in `run.out` as a normal dataset (manifest, lists, preset.yaml);
    /// otherwise `run.out` is scratch space and the consumer deletes each image after use.
    pub keep: bool,
    /// Images rendered ahead of the consumer at most (the queue bound).
    pub window: u64,
}

/// What the consumer gets for one stream position.
#[derive(Debug, Clone)]
pub enum Streamed {
    Image {
        position: u64,
        path: PathBuf,
        label: usize,
        /// When `path` is a kept WebDataset shard: the image member's data offset and length.
        member: Option<(u64, u64)>,
    },
    /// Every attempt failed (as in `render`, a counted skip): the position holds no image.
    Failed {
        position: u64,
        id: String,
        reason: String,
    },
}

/// Rates and waits of a stream so far, for the progress line and the run summary.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct StreamReport {
    pub rendered: u64,
    /// Images taken from the kept dataset (rendered before a resume).
    pub reused: u64,
    pub failed: u64,
    pub workers: usize,
    pub seconds: f64,
    pub render_per_second: f64,
    /// Share of the time the consumer (trainer) waited for images.
    pub consumer_wait_share: f64,
    /// Share of the workers' time spent waiting because the queue was full.
    pub worker_wait_share: f64,
}

/// Positions handed to the workers: at most `limit` (consumer position + window).
struct Feed {
    state: Mutex<FeedState>,
    ready: Condvar,
    classes: u64,
    /// Microseconds the workers spent waiting for room in the queue.
    waited_us: AtomicU64,
}

struct FeedState {
    next: u64,
    end: u64,
    limit: u64,
    closed: bool,
    /// Positions already on disk (kept dataset of an interrupted run).
    done: HashSet<u64>,
}

impl Feed {
    fn job(&self, position: u64) -> ImageJob {
        ImageJob {
            class: (position % self.classes) as usize,
            index: position / self.classes,
        }
    }

    /// The next position to render, waiting while the queue is full; `None` at the end.
    fn take(&self) -> Option<Vec<ImageJob>> {
        let since = Instant::now();
        let mut s = self.state.lock().expect("feed");
        let taken = loop {
            while s.next < s.end && s.done.contains(&s.next) {
                s.next += 1;
            }
            if s.closed || s.next >= s.end {
                break None;
            }
            if s.next < s.limit {
                s.next += 1;
                break Some(vec![self.job(s.next - 1)]);
            }
            s = self.ready.wait(s).expect("feed");
        };
        let us = since.elapsed().as_micros() as u64;
        self.waited_us.fetch_add(us, Ordering::Relaxed);
        taken
    }

    fn release(&self, limit: u64) {
        self.state.lock().expect("feed").limit = limit;
        self.ready.notify_all();
    }

    fn close(&self) {
        self.state.lock().expect("feed").closed = true;
        self.ready.notify_all();
    }
}

/// A running stream; dropping it stops the workers.
pub struct RenderStream {
    shared: Arc<Shared>,
    feed: Arc<Feed>,
    /// Outcomes in completion order, each already recorded in a kept dataset's lists.
    rx: Option<mpsc::Receiver<Result<Outcome, String>>>,
    handles: Vec<JoinHandle<()>>,
    pending: BTreeMap<u64, Streamed>,
    /// Kept images of an interrupted run, by position.
    reusable: HashMap<u64, Streamed>,
    next: u64,
    end: u64,
    window: u64,
    keep: Option<Kept>,
    workers: usize,
    started: Instant,
    consumer_wait: f64,
    rendered: u64,
    reused: u64,
    failed: u64,
    error: Option<String>,
}

/// The dataset a `keep` stream writes as it goes: the recorder thread gives each saved image
/// its line in image_list.txt and then in the manifest (appended and flushed) as soon as a
/// worker saved it, so the folder is a valid dataset of what was written whenever the run
/// stops. The consumer side collects the records for the final canonical lists.
///
/// With `output.format: webdataset` the images wait in the staging folder (manifest lines
/// only, no image_list.txt) and go into shards when the stream ends, in canonical order
/// through `render`'s own assembler, so the shards hold the bytes `render --format
/// webdataset` writes for the same images. A stream killed before its end leaves the staged
/// images and the manifest, which a `--resume` reuses; a later run over the finished folder
/// reads its images back out of the shards.
struct Kept {
    records: Vec<ManifestRecord>,
    failures: Vec<FailedImage>,
    finished: bool,
    /// The shards' assembly settings, for WebDataset output.
    shards: Option<ShardAssembly>,
}

/// What assembling a kept stream's shards needs (`render::run::open_assembler`'s inputs).
struct ShardAssembly {
    preset: Preset,
    classes: Vec<ClassPlan>,
    opts: RunOptions,
}

impl StreamPlan {
    /// The stream of `preset` (as `render` would render it) into `out`, for library callers
    /// (the study); the CLI builds its plan from the same parts with its flags.
    pub fn for_preset(
        preset: Preset,
        out: &std::path::Path,
        keep: bool,
        window: u64,
        shapenet: &crate::render::job::ShapeNetOptions,
        say: &mut dyn FnMut(&str),
    ) -> Result<StreamPlan, crate::render::job::JobError> {
        use crate::render::job;
        let sources = job::sources(&preset, shapenet, say)?;
        let classes = job::build_plans(&preset, &sources.entries, &sources.classes)?;
        let ctx = SamplingContext::prepare(&preset)
            .map_err(|e| job::JobError::Input(format!("preset {}: {e}", preset.name)))?;
        let run = RunOptions::from_preset(&preset, out, true)?;
        Ok(StreamPlan {
            preset,
            classes,
            ctx,
            cache: ModelCache::default_location(),
            run,
            keep,
            window,
        })
    }

    pub fn class_names(&self) -> Vec<String> {
        self.classes.iter().map(|c| c.class.clone()).collect()
    }

    /// Starts rendering positions `from..to`; `resume` (or `run.resume`) allows a kept dataset
    /// to exist already.
    pub fn start(mut self, from: u64, to: u64, resume: bool) -> Result<RenderStream, RunError> {
        // A plan made to resume (the study's shared kept streams) always may.
        let resume = resume || self.run.resume;
        let out = self.run.out.clone();
        let n_classes = self.classes.len().max(1) as u64;
        let names = self.class_names();
        let (mut reusable, mut done) = (HashMap::new(), HashSet::new());
        let mut lists = None;
        let keep = if self.keep {
            std::fs::create_dir_all(&out).map_err(io_err(&out))?;
            // The kept dataset is (part of) the preset's dataset, grown to cover a stream longer
            // than one pass; `render --resume` on it would render the same missing images.
            self.preset.images_per_class = self.preset.images_per_class.max(to.div_ceil(n_classes));
            let manifest_path = out.join(MANIFEST_FILE);
            let yaml = self.preset.to_yaml();
            // The kept folder is `--keep` here, not `render`'s `--out`.
            check_output_folder(&out, &manifest_path, &yaml, resume).map_err(|e| match e {
                RunError::Setup(m) => RunError::Setup(m.replace("--out", "--keep")),
                e => e,
            })?;
            remove_stale_temps(&out);
            crate::fsio::write_atomic(&out.join(layout::PRESET_FILE), yaml.as_bytes())
                .map_err(io_err(&out))?;
            layout::write_classes(&out, &names).map_err(io_err(&out))?;
            let shards = self.preset.output.format == OutputFormat::WebDataset;
            let mut records = read_manifest(&manifest_path)?;
            let located = kept_images(&out, &mut records, shards)?;
            // A killed run may leave a half-written last line or a record of a vanished image:
            // rewrite the lists from what is really there before appending to them.
            if shards {
                layout::finalize_manifest(&out, &mut records).map_err(io_err(&out))?;
            } else {
                layout::finalize_lists(&out, &mut records).map_err(io_err(&out))?;
            }
            (reusable, done) = reusable_positions(&records, located, &names);
            let list = match shards {
                true => None,
                false => Some(
                    ListWriter::open(&out.join(layout::IMAGE_LIST_FILE)).map_err(io_err(&out))?,
                ),
            };
            lists = Some((ManifestWriter::open(&manifest_path)?, list));
            Some(Kept {
                records,
                failures: Vec::new(),
                finished: false,
                shards: shards.then(|| ShardAssembly {
                    preset: self.preset.clone(),
                    classes: self.classes.clone(),
                    opts: self.run.clone(),
                }),
            })
        } else {
            // Scratch images of an earlier session were never used: start clean. Masks belong
            // to kept datasets only (they do not change the images).
            self.preset.output.masks = false;
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out).map_err(io_err(&out))?;
            None
        };
        let deny = Denylist::open(&out.join(layout::DENYLIST_FILE))?;
        let workers = self.run.workers.max(1).min((to - from).max(1) as usize);
        let window = self.window.max(1);
        let feed = Arc::new(Feed {
            state: Mutex::new(FeedState {
                next: from,
                end: to,
                limit: from + window,
                closed: false,
                done,
            }),
            ready: Condvar::new(),
            classes: n_classes,
            waited_us: AtomicU64::new(0),
        });
        let shared = Arc::new(Shared::new(SharedParts {
            preset: self.preset,
            ctx: self.ctx,
            classes: self.classes,
            cache: self.cache,
            opts: self.run,
            deny,
            stats: RunStats::new(&names),
        }));
        let (tx, saved) = mpsc::channel::<Outcome>();
        let mut handles: Vec<JoinHandle<()>> = (0..workers)
            .map(|w| {
                let (shared, feed, tx) = (Arc::clone(&shared), Arc::clone(&feed), tx.clone());
                std::thread::spawn(move || drive_worker(w, &shared, &tx, &|| feed.take()))
            })
            .collect();
        drop(tx);
        let (recorded, rx) = mpsc::channel();
        handles.push(std::thread::spawn(move || record(saved, lists, recorded)));
        Ok(RenderStream {
            shared,
            feed,
            rx: Some(rx),
            handles,
            pending: BTreeMap::new(),
            reusable,
            next: from,
            end: to,
            window,
            keep,
            workers,
            started: Instant::now(),
            consumer_wait: 0.0,
            rendered: 0,
            reused: 0,
            failed: 0,
            error: None,
        })
    }
}

impl RenderStream {
    /// True when the images stay on disk as a dataset (the consumer must not delete them).
    pub fn keeps_images(&self) -> bool {
        self.keep.is_some()
    }

    /// Why the stream ended early (workers could not start, the output became unwritable).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    pub fn report(&self) -> StreamReport {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let worker_wait = self.feed.waited_us.load(Ordering::Relaxed) as f64 * 1e-6;
        StreamReport {
            rendered: self.rendered,
            reused: self.reused,
            failed: self.failed,
            workers: self.workers,
            seconds,
            render_per_second: self.rendered as f64 / seconds,
            consumer_wait_share: (self.consumer_wait / seconds).min(1.0),
            worker_wait_share: (worker_wait / (seconds * self.workers as f64)).min(1.0),
        }
    }

    fn position_of(&self, class: &str, index: u64) -> u64 {
        let c = self.shared.classes.iter().position(|p| p.class == class);
        index * self.shared.classes.len() as u64 + c.unwrap_or(0) as u64
    }

    fn accept(&mut self, outcome: Outcome) -> Result<(), String> {
        let item = match outcome {
            Outcome::Saved(rec) => {
                self.rendered += 1;
                let position = self.position_of(&rec.class, rec.index);
                self.shared.stats.lock().expect("stats").record_saved(&rec);
                let item = Streamed::Image {
                    position,
                    path: self.shared.image_root.join(&rec.path),
                    label: rec.label,
                    member: None,
                };
                if let Some(k) = &mut self.keep {
                    k.records.push(*rec);
                }
                item
            }
            Outcome::Failed(f) => {
                self.failed += 1;
                tracing::warn!("stream image {} failed: {}", f.id, f.reason);
                let position = self.position_of(&f.class, f.index);
                let item = Streamed::Failed {
                    position,
                    id: f.id.clone(),
                    reason: f.reason.clone(),
                };
                if let Some(k) = &mut self.keep {
                    k.failures.push(f);
                }
                item
            }
        };
        let position = match &item {
            Streamed::Image { position, .. } | Streamed::Failed { position, .. } => *position,
        };
        self.pending.insert(position, item);
        Ok(())
    }

    /// Writes the kept dataset's lists (sorted, as `render` does) once the stream is done.
    fn finish(&mut self) {
        let out = self.shared.out.clone();
        if let Some(k) = &mut self.keep {
            if k.finished {
                return;
            }
            k.finished = true;
            let lists = match &k.shards {
                Some(a) => assemble_shards(a, &mut k.records),
                None => layout::finalize_lists(&out, &mut k.records)
                    .map_err(|e| format!("{}: {e}", out.display())),
            };
            if let Err(e) = lists {
                self.error = Some(e);
            } else if let Err(e) = write_failures(&out, &k.failures) {
                self.error = Some(e.to_string());
            }
        }
    }
}

/// The recorder thread: writes each saved image's lines into the kept dataset (when there is
/// one) the moment its worker saved it, then hands the outcome on to the consumer.
fn record(
    saved: mpsc::Receiver<Outcome>,
    mut lists: Option<(ManifestWriter, Option<ListWriter>)>,
    recorded: mpsc::Sender<Result<Outcome, String>>,
) {
    for outcome in saved {
        if let (Outcome::Saved(rec), Some((manifest, list))) = (&outcome, &mut lists) {
            // List first: a listed image the manifest lacks is harmless, the reverse is a
            // dataset `validate` refuses. (Shards have no list until they are assembled.)
            let written = list
                .as_mut()
                .map_or(Ok(()), |l| l.append(rec))
                .and_then(|_| manifest.append(rec).map_err(|e| e.to_string()));
            if let Err(e) = written {
                let _ = recorded.send(Err(e));
                return;
            }
        }
        if recorded.send(Ok(outcome)).is_err() {
            return;
        }
    }
}

/// Where each kept record's image is, keeping only the records whose image is there: a file
/// of the folder (ImageFolder), or, for shards, a member of a sealed shard (path `<shard
/// file>#<key>.png`) or a staged file waiting for its shard.
/// Returns image id -> (path, member).
#[allow(clippy::type_complexity)]
fn kept_images(
    out: &Path,
    records: &mut Vec<ManifestRecord>,
    shards: bool,
) -> Result<HashMap<String, (PathBuf, Option<(u64, u64)>)>, RunError> {
    let staging = staging_dir(out);
    let mut members: HashMap<String, HashMap<String, (u64, u64)>> = HashMap::new();
    let mut located = HashMap::with_capacity(records.len());
    let mut kept = Vec::with_capacity(records.len());
    for r in records.drain(..) {
        let found = match shard_of_path(&r.path) {
            Some(shard) if shards => {
                if !members.contains_key(shard) {
                    let path = out.join(shard);
                    let index = if path.is_file() {
                        member_offsets(&path)?
                    } else {
                        HashMap::new()
                    };
                    members.insert(shard.to_string(), index);
                }
                let member = r.path[shard.len() + 1..].to_string();
                members[shard]
                    .get(&member)
                    .map(|&at| (out.join(shard), Some(at)))
            }
            _ if shards => Some((staging.join(&r.path), None)).filter(|(p, _)| p.is_file()),
            _ => Some((out.join(&r.path), None)).filter(|(p, _)| p.is_file()),
        };
        if let Some(f) = found {
            located.insert(r.id.clone(), f);
            kept.push(r);
        }
    }
    *records = kept;
    Ok(located)
}

/// The kept images as stream items by position (position `index * C + label`), and the set
/// of those positions, which the workers skip.
fn reusable_positions(
    records: &[ManifestRecord],
    mut located: HashMap<String, (PathBuf, Option<(u64, u64)>)>,
    names: &[String],
) -> (HashMap<u64, Streamed>, HashSet<u64>) {
    let n_classes = names.len().max(1) as u64;
    let (mut reusable, mut done) = (HashMap::new(), HashSet::new());
    for r in records {
        let Some(c) = names.iter().position(|n| *n == r.class) else {
            continue;
        };
        let Some((path, member)) = located.remove(&r.id) else {
            continue;
        };
        let position = r.index * n_classes + c as u64;
        done.insert(position);
        let label = r.label;
        reusable.insert(
            position,
            Streamed::Image {
                position,
                path,
                label,
                member,
            },
        );
    }
    (reusable, done)
}

/// Member name -> (data offset, length) of a sealed shard, from its headers.
fn member_offsets(path: &Path) -> Result<HashMap<String, (u64, u64)>, RunError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut reader = TarReader::new(std::io::BufReader::with_capacity(64 << 10, file));
    let mut out = HashMap::new();
    loop {
        let m = reader.next_located(len, |_| false).map_err(|cause| {
            RunError::Shards(ShardError::Tar {
                path: path.to_path_buf(),
                cause,
            })
        })?;
        let Some(m) = m else { break };
        out.insert(m.name, (m.offset, m.size));
    }
    Ok(out)
}

/// The end of a kept WebDataset stream: every staged image goes into shards in canonical
/// order (as `render` assembles them), then the manifest with shard paths and the index.
fn assemble_shards(a: &ShardAssembly, records: &mut Vec<ManifestRecord>) -> Result<(), String> {
    let out = &a.opts.out;
    let say = |e: &dyn std::fmt::Display| format!("{}: {e}", out.display());
    let (mut assembler, _) =
        open_assembler(&a.preset, &a.classes, &a.opts, records).map_err(|e| say(&e))?;
    let index = assembler.finish().map_err(|e| say(&e))?;
    let mut finals: Vec<ManifestRecord> = records
        .drain(..)
        .map(|r| assembler.final_record(r))
        .collect();
    layout::finalize_manifest(out, &mut finals).map_err(|e| say(&e))?;
    index.write(&out.join(INDEX_FILE)).map_err(|e| say(&e))?;
    *records = finals;
    Ok(())
}

/// Append-only image_list.txt ("relative/path label" per line), flushed after every line.
struct ListWriter {
    file: std::fs::File,
    path: PathBuf,
}

impl ListWriter {
    fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(ListWriter {
            file,
            path: path.to_path_buf(),
        })
    }

    fn append(&mut self, rec: &ManifestRecord) -> Result<(), String> {
        use std::io::Write;
        // One write per line, so a kill leaves whole lines (the last one possibly missing).
        let line = format!("{} {}\n", rec.path, rec.label);
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

impl Iterator for RenderStream {
    type Item = Streamed;

    /// The next position's image, waiting for the workers; `None` at the end or on failure
    /// (see `error`).
    fn next(&mut self) -> Option<Streamed> {
        if self.next >= self.end {
            self.finish();
            return None;
        }
        let p = self.next;
        let since = Instant::now();
        let item = loop {
            if let Some(item) = self.reusable.remove(&p) {
                self.reused += 1;
                break item;
            }
            if let Some(item) = self.pending.remove(&p) {
                break item;
            }
            let outcome = match self.rx.as_ref().map(|rx| rx.recv()) {
                Some(Ok(Ok(o))) => o,
                Some(Ok(Err(e))) => {
                    self.error = Some(e);
                    return None;
                }
                _ => {
                    let fatal = self.shared.fatal.lock().expect("fatal").clone();
                    self.error = Some(match fatal {
                        Some(msg) => format!("the Blender workers cannot start: {msg}"),
                        None => format!("the render workers stopped before stream position {p}"),
                    });
                    return None;
                }
            };
            if let Err(e) = self.accept(outcome) {
                self.error = Some(e);
                return None;
            }
        };
        self.consumer_wait += since.elapsed().as_secs_f64();
        self.next += 1;
        self.feed.release(self.next + self.window);
        Some(item)
    }
}

impl Drop for RenderStream {
    fn drop(&mut self) {
        self.feed.close();
        self.rx.take();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        let _ = std::fs::remove_dir_all(self.shared.out.join(layout::WORK_DIR).join("render"));
    }
}
