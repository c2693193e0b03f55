//! `synthgen train` as a configuration of the engine: the data (a folder or a render stream),
//! the classifier and its optimizer (`supervised::Supervised`, the step), the cosine schedule,
//! about 10 evaluations per run, and the run summary. No CLI code: `TrainConfig` is plain data
//! so that tests and other commands can drive it.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::supervised::Supervised;
use crate::engine::data_parallel::DataParallelSummary;
use crate::engine::EvalSummary;
use crate::engine::{
    self, DataParallel, EvalCtx, Feed, Feeds, RunSpec, Schedule, Session, StreamSource, StreamWatch,
};
use crate::nn::augment::Augment;
use crate::nn::checkpoint;
use crate::nn::data::{ImageSet, Sample};
use crate::nn::device::{self, DeviceChoice};
use crate::nn::error::TrainError;
use crate::nn::loader::{batches_per_pass, Batch, Loader, LoaderConfig, Order};
use crate::nn::models::{count_trainable, Classifier};
use crate::nn::optim::{OptimConfig, Optimizer, OptimizerKind};
use crate::nn::plots;
use crate::nn::shards::{ShardSet, ShardStream, ShardStreamConfig};
use crate::render::stream::StreamReport;

/// How long to train.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Length {
    Iters(u64),
    Epochs(f64),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub train: PathBuf,
    /// (name, path) of each evaluation set.
    pub evals: Vec<(String, PathBuf)>,
    pub arch: String,
    pub augment: Augment,
    pub length: Length,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub optimizer: OptimizerKind,
    pub warmup_iters: u64,
    pub out: PathBuf,
    pub resume: bool,
    pub init: Option<PathBuf>,
    /// Also load the head from `init` when its shape matches (the released code drops it).
    pub init_keep_head: bool,
    pub device: DeviceChoice,
    pub seed: u64,
    pub non_repetitive: bool,
    /// Evaluate (and checkpoint) every this many steps; None: 10 times per run.
    pub eval_every: Option<u64>,
    pub image_size: u32,
    /// Decode/augment threads; None: see device::thread_plan.
    pub workers: Option<usize>,
    /// Stop (with a checkpoint) after this many completed steps, as if interrupted.
    pub stop_after: Option<u64>,
    pub progress: bool,
    /// Read training shards as a random-access list in (label, key) order
    /// (`nn::data_shards`, as `adapt` does) instead of streaming them: the run then equals the
    /// run on the same samples as an ImageFolder. Studies set it, so a dataset's format never
    /// changes a cell; the index holds an entry per sample.
    #[serde(default)]
    pub shards_as_list: bool,
}

impl TrainConfig {
    /// Defaults of the paper's supervised runs for the given data and output folder.
    pub fn new(train: PathBuf, out: PathBuf) -> Self {
        TrainConfig {
            train,
            evals: Vec::new(),
            arch: "resnet50".into(),
            augment: Augment::None,
            length: Length::Epochs(1.0),
            batch_size: 128,
            lr: 0.01,
            weight_decay: 1e-4,
            optimizer: OptimizerKind::Sgd,
            warmup_iters: 0,
            out,
            resume: false,
            init: None,
            init_keep_head: false,
            device: DeviceChoice::Auto,
            seed: 0,
            non_repetitive: false,
            eval_every: None,
            image_size: 224,
            workers: None,
            stop_after: None,
            progress: false,
            shards_as_list: false,
        }
    }
}

impl TrainConfig {
    /// The numbers' ranges, checked before any work starts (the CLI's parsers check each flag
    /// alone; this also holds for library and study callers, and checks the image size
    /// against the architecture).
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |flag: &'static str, value: String, why: String| TrainError::BadNumber {
            flag,
            value,
            why,
        };
        let iters = match self.length {
            Length::Iters(i) => Some(i),
            Length::Epochs(_) => None,
        };
        let counts = [
            ("batch-size", Some(self.batch_size as u64)),
            ("iters", iters),
            ("eval-every", self.eval_every),
            ("workers", self.workers.map(|w| w as u64)),
        ];
        for (flag, v) in counts {
            if let Some(v) = v {
                crate::numbers::check_count(v).map_err(|why| bad(flag, v.to_string(), why))?;
            }
        }
        if let Length::Epochs(e) = self.length {
            crate::numbers::check_positive(e).map_err(|why| bad("epochs", e.to_string(), why))?;
        }
        crate::numbers::check_positive(self.lr)
            .map_err(|why| bad("lr", self.lr.to_string(), why))?;
        crate::numbers::check_non_negative(self.weight_decay)
            .map_err(|why| bad("weight-decay", self.weight_decay.to_string(), why))?;
        crate::nn::models::check_image_size(&self.arch, self.image_size as i64)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    /// "completed", "stopped" (stop_after) or "diverged".
    pub status: String,
    pub arch: String,
    pub params: i64,
    pub device: String,
    pub classes: Vec<String>,
    pub train_images: usize,
    pub steps: u64,
    pub total_steps: u64,
    pub images_seen: u64,
    pub skipped_images: u64,
    pub skipped_examples: Vec<String>,
    pub last_loss: Option<f64>,
    pub seconds: f64,
    /// Of `seconds`, the time spent evaluating, checkpointing and plotting.
    pub eval_seconds: f64,
    /// Training images per second outside evaluation and checkpoints (this session only).
    pub images_per_second: f64,
    pub evals: BTreeMap<String, EvalSummary>,
    pub init: Option<checkpoint::InitReport>,
    pub config: TrainConfig,
    /// Render rates and waits of a `--stream` run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamReport>,
    /// Ranks, global batch and lr rule of a data-parallel run (torchrun / srun).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_parallel: Option<DataParallelSummary>,
    /// Whether this process wrote the outputs (false on data-parallel ranks other than 0).
    #[serde(skip)]
    pub leader: bool,
}

/// Runs training as configured and writes everything to `cfg.out`.
pub fn train(cfg: &TrainConfig) -> Result<RunSummary, TrainError> {
    train_from(cfg, None)
}

/// Trains on a render stream instead of `cfg.train`: batch `k` is stream positions
/// `[k B, (k + 1) B)`, so `--resume` restarts the stream at the checkpoint's step.
pub fn train_streamed(cfg: &TrainConfig, source: StreamSource) -> Result<RunSummary, TrainError> {
    train_from(cfg, Some(source))
}

/// Shard readers per rank and the samples each one's shuffle buffer holds (webdataset's
/// examples shuffle with a buffer of 1,000; four readers interleave four shards at a time).
const SHARD_STREAMS: usize = 4;
const SHARD_SHUFFLE_BUFFER: usize = 1000;

fn train_from(cfg: &TrainConfig, stream: Option<StreamSource>) -> Result<RunSummary, TrainError> {
    cfg.check()?;
    std::fs::create_dir_all(&cfg.out).map_err(|e| TrainError::io(&cfg.out, e))?;
    let launch = DataParallel::launch_from_env()?;
    if launch.is_some() && stream.is_some() {
        return Err(TrainError::NotDataParallel(
            "--stream renders one stream for one process; data-parallel runs (torchrun / srun with 2+ ranks) train on a rendered --train folder: render it first with `synthgen render`, or run --stream as one process.".into(),
        ));
    }
    // Shards are found and checked against the ranks before the rendezvous, so a refusal is
    // every rank's one line and no rank waits for another.
    let shard_set = match &stream {
        None if !cfg.shards_as_list => ShardSet::detect(&cfg.train)?.map(Arc::new),
        _ => None,
    };
    if let (Some(shards), Some(l)) = (&shard_set, &launch) {
        check_shards_for_ranks(shards, l.world)?;
    }
    let session = Session::connect(launch)?;
    let (device, workers) = session.place(cfg.device, cfg.workers)?;
    let use_autocast = device.is_cuda() && device::set_cuda_autocast_bf16();
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    let watch = StreamWatch::new(stream.is_some());
    let TrainData {
        set,
        eval_sets,
        images,
        source,
    } = TrainData::open(cfg, stream, shard_set, &session)?;
    let b = cfg.batch_size.max(1);
    let total = cfg.total_steps(images);

    let vs = engine::seeded_store(cfg.seed, device);
    let num_classes = set.num_classes() as i64;
    let net = Classifier::new(&vs.root(), &cfg.arch, num_classes, cfg.image_size as i64)?;
    let params = count_trainable(&vs);
    let init = engine::load_init(&vs, cfg.init.as_deref(), cfg.init_keep_head, describe_init)?;
    let opt = Optimizer::new(&vs, cfg.optim_config(total));
    let mut step = Supervised::trainee(net, opt, use_autocast);

    let eval = EvalCtx {
        device,
        image_size: cfg.image_size,
        batch_size: b,
        workers,
        classes: &set.classes,
        announce: true,
    };
    let spec = RunSpec {
        out: &cfg.out,
        vs: &vs,
        eval: &eval,
        eval_sets: &eval_sets,
        schedule: Schedule::Cosine {
            lr: cfg.lr,
            warmup: cfg.warmup_iters,
            total,
        },
        total,
        epochs: None,
        eval_every: cfg.eval_every.unwrap_or(total.div_ceil(10)).max(1),
        eval_on_stop: true,
        keep_best: false,
        stop_after: cfg.stop_after,
        resume: cfg.resume,
        seed: cfg.seed,
        arch: &cfg.arch,
        classes: &set.classes,
        optimizer: format!("{:?}", cfg.optimizer).to_lowercase(),
        titles: &TITLES,
        progress: cfg.progress && session.leader,
        unit: "steps",
        stream: &watch,
        dp: session.dp.as_ref(),
    };
    let o = engine::run(&spec, &mut step, |start| {
        source.feeds(cfg, (start, total), workers, &watch)
    })?;
    watch.check(&o.bar)?;

    let seconds = o.started.elapsed().as_secs_f64();
    let summary = RunSummary {
        status: o.status.to_string(),
        arch: cfg.arch.clone(),
        params,
        device: format!("{device:?}"),
        classes: set.classes.clone(),
        train_images: images,
        steps: o.steps,
        total_steps: total,
        images_seen: o.images_seen,
        skipped_images: o.skipped,
        skipped_examples: o.skipped_examples.clone(),
        last_loss: o.last_loss,
        seconds,
        eval_seconds: o.eval_seconds,
        images_per_second: (o.images_seen - o.start_images) as f64
            / (seconds - o.eval_seconds).max(1e-9),
        evals: o.evals(),
        init,
        config: cfg.clone(),
        stream: watch.report(),
        data_parallel: session.summary(b, cfg.lr),
        leader: session.leader,
    };
    engine::finish(&cfg.out, session.leader, &o, summary)
}

impl TrainConfig {
    /// Steps of the run over `images` training images per epoch.
    fn total_steps(&self, images: usize) -> u64 {
        let b = self.batch_size.max(1);
        let total = match self.length {
            Length::Iters(i) => i,
            Length::Epochs(e) => ((e * images as f64) / b as f64).ceil().max(1.0) as u64,
        };
        if self.non_repetitive {
            total.min(batches_per_pass(images, b))
        } else {
            total
        }
    }

    /// The optimizer of a run of `total` steps.
    fn optim_config(&self, total: u64) -> OptimConfig {
        OptimConfig {
            kind: self.optimizer,
            lr: self.lr,
            weight_decay: self.weight_decay,
            warmup_iters: self.warmup_iters,
            ..OptimConfig::paper_sgd(self.lr, total)
        }
    }
}

/// Each rank reads its own shards (`ShardSet::rank_shards`), so every rank needs at least one
/// shard, and every shard a sample, in every epoch's draw: otherwise a rank's stream would end
/// while the others wait for it at the next all-reduce.
fn check_shards_for_ranks(shards: &ShardSet, world: usize) -> Result<(), TrainError> {
    if shards.shards.len() < world {
        return Err(TrainError::NotDataParallel(format!(
            "{} holds {} shard(s) for {world} ranks; each rank reads whole shards, so give at least one shard per rank (render with a smaller output.shard_samples, or run fewer ranks)",
            cfg_path(shards),
            shards.shards.len()
        )));
    }
    if let Some((empty, _)) = shards.shards.iter().find(|(_, n)| *n == 0) {
        return Err(TrainError::NotDataParallel(format!(
            "{}: shard {} holds no samples, so a rank that draws only it would stop early; remove it (and re-merge) before a data-parallel run",
            cfg_path(shards),
            empty.display()
        )));
    }
    Ok(())
}

fn cfg_path(shards: &ShardSet) -> String {
    shards.source.display().to_string()
}

/// The log line of the `--init` weights.
fn describe_init(file: &std::path::Path, r: &checkpoint::InitReport) -> String {
    // Name the misshapen tensors only when there are any (a bare "()" reads as a bug).
    let fresh = match r.shape_mismatch.len() {
        0 => "none kept fresh".to_string(),
        n => format!(
            "{n} kept fresh (shape differs: {})",
            r.shape_mismatch.join(", ")
        ),
    };
    format!(
        "--init {}: loaded {} tensors, {fresh}, {} not in the file",
        file.display(),
        r.loaded.len(),
        r.missing.len()
    )
}

/// The training data of a run: its classes, the evaluation sets, the images one epoch counts
/// and where the batches come from.
struct TrainData {
    set: ImageSet,
    eval_sets: Vec<(String, Arc<ImageSet>)>,
    /// Images per epoch: this rank's folder images, the shards' samples, or one pass over a
    /// stream's preset.
    images: usize,
    source: Batches,
}

/// Where the training batches come from.
enum Batches {
    Stream(Box<StreamSource>),
    /// A folder of shards, a wids index or a brace pattern streams from its shards; rank
    /// `rank` of `world` reads every `world`-th shard of each epoch's shuffled list.
    Shards {
        shards: Arc<ShardSet>,
        rank: usize,
        world: usize,
    },
    /// This rank's slice of an image folder's samples.
    Folder(Vec<Sample>),
}

impl TrainData {
    fn open(
        cfg: &TrainConfig,
        stream: Option<StreamSource>,
        shard_set: Option<Arc<ShardSet>>,
        session: &Session,
    ) -> Result<TrainData, TrainError> {
        let listed = |classes| ImageSet {
            source: cfg.train.clone(),
            classes,
            samples: Vec::new(),
            shards: None,
        };
        let set = match (&stream, &shard_set) {
            (Some(s), _) => listed(s.class_names()),
            (None, Some(shards)) => listed(shards.classes.clone()),
            (None, None) => ImageSet::open(&cfg.train)?,
        };
        let mut eval_sets = Vec::new();
        for (name, path) in &cfg.evals {
            let eval = ImageSet::open_evaluation(path)?;
            set.check_same_classes(name, &eval)?;
            eval_sets.push((name.clone(), Arc::new(eval)));
        }
        // Each rank reads its own slice; the length of a run in epochs counts this rank's images.
        let (images, source) = match (stream, shard_set) {
            (Some(s), _) => (s.images_per_pass() as usize, Batches::Stream(Box::new(s))),
            (None, Some(shards)) => {
                // An epoch counts a rank's share of the samples (as a folder's slice does);
                // every rank runs the same number of steps whatever shards it draws.
                let (rank, world) = session
                    .dp
                    .as_ref()
                    .map_or((0, 1), |d| (d.rank(), d.world()));
                let images = (shards.len() as usize / world).max(1);
                (
                    images,
                    Batches::Shards {
                        shards,
                        rank,
                        world,
                    },
                )
            }
            (None, None) => {
                let samples = session.take(&set.samples);
                (samples.len(), Batches::Folder(samples))
            }
        };
        Ok(TrainData {
            set,
            eval_sets,
            images,
            source,
        })
    }
}

impl Batches {
    /// Batches `start..total` as the engine's feeds.
    fn feeds(
        self,
        cfg: &TrainConfig,
        (start, total): (u64, u64),
        workers: usize,
        watch: &StreamWatch,
    ) -> Result<Feeds, TrainError> {
        let b = cfg.batch_size.max(1);
        let batches: Box<dyn Iterator<Item = Batch>> = match self {
            Batches::Stream(source) => Box::new((*source).batches(
                cfg.augment,
                cfg.image_size,
                cfg.seed,
                b as u64,
                (start, total),
                cfg.resume,
                watch.status(),
            )?),
            Batches::Shards {
                shards,
                rank,
                world,
            } => Box::new(ShardStream::new(
                shards,
                ShardStreamConfig {
                    augment: cfg.augment,
                    image_size: cfg.image_size,
                    batch_size: b,
                    workers,
                    seed: cfg.seed,
                    streams: SHARD_STREAMS,
                    shuffle_buffer: SHARD_SHUFFLE_BUFFER,
                    rank,
                    world,
                    start_batch: start,
                    end_batch: Some(total),
                },
            )),
            Batches::Folder(samples) => Box::new(Loader::new(
                Arc::new(samples),
                LoaderConfig {
                    augment: cfg.augment,
                    image_size: cfg.image_size,
                    batch_size: b,
                    workers,
                    prefetch: (2 * workers).max(2),
                    seed: cfg.seed,
                    order: if cfg.non_repetitive {
                        Order::Once
                    } else {
                        Order::Cycle
                    },
                    start_batch: start,
                    end_batch: Some(total),
                },
            )),
        };
        Ok(Box::new(batches.map(|labelled| Feed {
            labelled,
            target: None,
        })))
    }
}

const TITLES: plots::RunChartTitles = plots::RunChartTitles {
    loss: "training loss",
    loss_axis: "cross-entropy",
    accuracy: "evaluation accuracy",
};
