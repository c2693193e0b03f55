//! `synthgen train` as a configuration of the engine: the data (a folder or a render stream),
//! the classifier and its optimizer (`supervised::Supervised`, the step), the cosine schedule,
//! about 10 evaluations per run, and the run summary. No CLI code: `TrainConfig` is plain data
//! so that tests and other commands can drive it.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tch::nn;

use super::stream::{progress_note, StreamSource, StreamStatus};
use super::supervised::Supervised;
use crate::engine::data_parallel::DataParallelSummary;
use crate::engine::{self, DataParallel, EvalCtx, Feed, Feeds, RunSpec, Schedule};
use crate::nn::augment::Augment;
use crate::nn::checkpoint;
use crate::nn::data::ImageSet;
use crate::nn::device::{self, DeviceChoice};
use crate::nn::error::TrainError;
use crate::nn::loader::{batches_per_pass, Batch, Loader, LoaderConfig, Order};
use crate::nn::metrics::BestTracker;
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

/// Best / last numbers of one evaluation set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalSummary {
    pub best_acc: Option<(u64, f64)>,
    pub best_mean: Option<(u64, f64)>,
    pub last_acc: Option<f64>,
    pub last_mean: Option<f64>,
    pub last_per_class: Vec<Option<f64>>,
}

impl From<&BestTracker> for EvalSummary {
    fn from(t: &BestTracker) -> Self {
        let last = t.last.as_ref();
        EvalSummary {
            best_acc: t.best_acc,
            best_mean: t.best_mean,
            last_acc: last.map(|r| r.acc),
            last_mean: last.map(|r| r.mean),
            last_per_class: last.map(|r| r.per_class.clone()).unwrap_or_default(),
        }
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
    let dp = launch.map(DataParallel::connect).transpose()?;
    let leader = dp.as_ref().is_none_or(|d| d.rank() == 0);
    let device = device::select(cfg.device).map_err(TrainError::Device)?;
    let device = dp.as_ref().map_or(device, |d| d.device(device));
    let use_autocast = device.is_cuda() && device::set_cuda_autocast_bf16();
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }

    let workers = device::apply_thread_plan(cfg.workers, device.is_cuda());
    if let Some(d) = &dp {
        d.share_cores(device.is_cuda());
    }

    // A folder of shards, a wids index or a brace pattern streams from its shards.
    let shard_set = match &stream {
        None => ShardSet::detect(&cfg.train)?.map(Arc::new),
        Some(_) => None,
    };
    if dp.is_some() && shard_set.is_some() {
        return Err(TrainError::NotDataParallel(format!(
            "{} holds WebDataset shards, which data-parallel runs do not split between ranks yet: train on an ImageFolder render (`synthgen render` without --format webdataset), or run one process.",
            cfg.train.display()
        )));
    }
    let train_set = match (&stream, &shard_set) {
        (Some(s), _) => ImageSet {
            source: cfg.train.clone(),
            classes: s.class_names(),
            samples: Vec::new(),
        },
        (None, Some(set)) => ImageSet {
            source: cfg.train.clone(),
            classes: set.classes.clone(),
            samples: Vec::new(),
        },
        (None, None) => ImageSet::open(&cfg.train)?,
    };
    let mut eval_sets = Vec::new();
    for (name, path) in &cfg.evals {
        let set = ImageSet::open(path)?;
        train_set.check_same_classes(name, &set)?;
        eval_sets.push((name.clone(), Arc::new(set)));
    }
    let num_classes = train_set.num_classes() as i64;
    // Each rank reads its own slice; the length of a run in epochs counts this rank's images.
    let samples = match &dp {
        Some(d) => d.slice().take(&train_set.samples),
        None => train_set.samples.clone(),
    };
    let n = match (&stream, &shard_set) {
        (Some(s), _) => s.images_per_pass() as usize,
        (None, Some(set)) => set.len() as usize,
        (None, None) => samples.len(),
    };
    let b = cfg.batch_size.max(1);
    let mut total = match cfg.length {
        Length::Iters(i) => i,
        Length::Epochs(e) => ((e * n as f64) / b as f64).ceil().max(1.0) as u64,
    };
    if cfg.non_repetitive {
        total = total.min(batches_per_pass(n, b));
    }

    tch::manual_seed(checkpoint::torch_seed(cfg.seed, u64::MAX));
    let vs = nn::VarStore::new(device);
    let net = Classifier::new(&vs.root(), &cfg.arch, num_classes, cfg.image_size as i64)?;
    let params = count_trainable(&vs);
    let init = match &cfg.init {
        Some(file) => {
            let r = checkpoint::load_init(&vs, file, cfg.init_keep_head)?;
            tracing::info!(
                "--init {}: loaded {} tensors, kept {} fresh (shape differs: {}), {} not in the file",
                file.display(),
                r.loaded.len(),
                r.shape_mismatch.len(),
                r.shape_mismatch.join(", "),
                r.missing.len()
            );
            Some(r)
        }
        None => None,
    };
    let ocfg = OptimConfig {
        kind: cfg.optimizer,
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        warmup_iters: cfg.warmup_iters,
        ..OptimConfig::paper_sgd(cfg.lr, total)
    };
    let mut step = Supervised {
        opt: Optimizer::new(&vs, ocfg),
        net,
        autocast: use_autocast,
    };

    let eval = EvalCtx {
        device,
        image_size: cfg.image_size,
        batch_size: b,
        workers,
        classes: &train_set.classes,
        announce: true,
    };
    let stream_status = Arc::new(Mutex::new(StreamStatus::default()));
    let streaming = stream.is_some();
    let note = || progress_note(&stream_status.lock().expect("stream status").report);
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
        classes: &train_set.classes,
        optimizer: format!("{:?}", cfg.optimizer).to_lowercase(),
        titles: &TITLES,
        progress: cfg.progress && leader,
        unit: "steps",
        progress_note: streaming.then_some(&note as &dyn Fn() -> String),
        dp: dp.as_ref(),
    };
    let feeds = |start: u64| -> Result<Feeds, TrainError> {
        let batches: Box<dyn Iterator<Item = Batch>> = match stream {
            Some(source) => Box::new(source.batches(
                cfg.augment,
                cfg.image_size,
                cfg.seed,
                b as u64,
                (start, total),
                cfg.resume,
                stream_status.clone(),
            )?),
            None if shard_set.is_some() => Box::new(ShardStream::new(
                shard_set.clone().expect("shards"),
                ShardStreamConfig {
                    augment: cfg.augment,
                    image_size: cfg.image_size,
                    batch_size: b,
                    workers,
                    seed: cfg.seed,
                    streams: SHARD_STREAMS,
                    shuffle_buffer: SHARD_SHUFFLE_BUFFER,
                    rank: 0,
                    world: 1,
                    start_batch: start,
                    end_batch: Some(total),
                },
            )),
            None => Box::new(Loader::new(
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
    };
    let o = engine::run(&spec, &mut step, feeds)?;

    if let Some(e) = stream_status.lock().expect("stream status").error.take() {
        o.bar.abandon_with_message("stream failed");
        return Err(TrainError::Stream(e));
    }
    let seconds = o.started.elapsed().as_secs_f64();
    let summary = RunSummary {
        status: o.status.to_string(),
        arch: cfg.arch.clone(),
        params,
        device: format!("{device:?}"),
        classes: train_set.classes.clone(),
        train_images: n,
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
        evals: o
            .best
            .iter()
            .map(|(k, t)| (k.clone(), EvalSummary::from(t)))
            .collect(),
        init,
        config: cfg.clone(),
        stream: streaming.then(|| stream_status.lock().expect("stream status").report.clone()),
        data_parallel: dp.as_ref().map(|d| d.summary(b, cfg.lr)),
        leader,
    };
    if leader {
        engine::write_json_atomic(&cfg.out.join("summary.json"), &summary)?;
    }
    if let Some((value, at)) = o.diverged {
        o.bar.abandon_with_message("diverged");
        return Err(TrainError::NonFiniteLoss {
            value,
            step: at + 1,
            out: o.checkpoint,
        });
    }
    o.bar.finish_and_clear();
    Ok(summary)
}

const TITLES: plots::RunChartTitles = plots::RunChartTitles {
    loss: "training loss",
    loss_axis: "cross-entropy",
    accuracy: "evaluation accuracy",
};
