//! The supervised training loop: loader -> classifier -> SGD/Adam, periodic evaluation,
//! checkpoints, metric logs, plots and the run summary. No CLI code: `TrainConfig` is plain data
//! so that tests and other commands can drive it.
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use super::augment::Augment;
use super::checkpoint::{self, CheckpointMeta, RngState};
use super::data::ImageSet;
use super::device::{self, DeviceChoice};
use super::error::TrainError;
use super::loader::{batches_per_pass, Batch, Loader, LoaderConfig, Order};
use super::metrics::{BestTracker, EvalReport};
use super::models::{count_trainable, Classifier};
use super::optim::{OptimConfig, Optimizer, OptimizerKind};
use super::plots;
use super::records::{MetricsLog, Record};
use super::stream::{StreamBatches, StreamSource, StreamStatus};
use crate::engine::{self, Window};
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
}

const CKPT: &str = "checkpoint-last";

/// Runs training as configured and writes everything to `cfg.out`.
pub fn train(cfg: &TrainConfig) -> Result<RunSummary, TrainError> {
    train_from(cfg, None)
}

/// Trains on a render stream instead of `cfg.train`: batch `k` is stream positions
/// `[k B, (k + 1) B)`, so `--resume` restarts the stream at the checkpoint's step.
pub fn train_streamed(cfg: &TrainConfig, source: StreamSource) -> Result<RunSummary, TrainError> {
    train_from(cfg, Some(source))
}

fn train_from(cfg: &TrainConfig, stream: Option<StreamSource>) -> Result<RunSummary, TrainError> {
    std::fs::create_dir_all(&cfg.out).map_err(|e| TrainError::io(&cfg.out, e))?;
    let device = device::select(cfg.device).map_err(TrainError::Device)?;
    let use_autocast = device.is_cuda() && device::set_cuda_autocast_bf16();
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }

    let workers = device::apply_thread_plan(cfg.workers, device.is_cuda());

    let train_set = match &stream {
        None => ImageSet::open(&cfg.train)?,
        Some(s) => ImageSet {
            source: cfg.train.clone(),
            classes: s.class_names(),
            samples: Vec::new(),
        },
    };
    let mut eval_sets = Vec::new();
    for (name, path) in &cfg.evals {
        let set = ImageSet::open(path)?;
        train_set.check_same_classes(name, &set)?;
        eval_sets.push((name.clone(), Arc::new(set)));
    }
    let num_classes = train_set.num_classes() as i64;
    let n = match &stream {
        None => train_set.len(),
        Some(s) => s.images_per_pass() as usize,
    };
    let b = cfg.batch_size.max(1);
    let mut total = match cfg.length {
        Length::Iters(i) => i,
        Length::Epochs(e) => ((e * n as f64) / b as f64).ceil().max(1.0) as u64,
    };
    if cfg.non_repetitive {
        total = total.min(batches_per_pass(n, b));
    }
    let eval_every = cfg.eval_every.unwrap_or(total.div_ceil(10)).max(1);
    let log_every = engine::log_every(total);

    tch::manual_seed(checkpoint::torch_seed(cfg.seed, u64::MAX));
    let vs = nn::VarStore::new(device);
    let model = Classifier::new(&vs.root(), &cfg.arch, num_classes, cfg.image_size as i64)?;
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
    let mut opt = Optimizer::new(&vs, ocfg);

    let mut start = 0u64;
    let mut images_seen = 0u64;
    let mut skipped = 0u64;
    let mut best: HashMap<String, BestTracker> = HashMap::new();
    let (ckpt_tensors, ckpt_meta) = checkpoint::paths(&cfg.out, CKPT);
    if cfg.resume && ckpt_meta.is_file() {
        let meta = checkpoint::read_meta(&ckpt_meta)?;
        if meta.arch != cfg.arch || meta.classes != train_set.classes {
            return Err(TrainError::BadCheckpoint {
                path: ckpt_meta,
                why: format!(
                    "it was written for --arch {} with classes [{}]; this run has --arch {} and [{}]",
                    meta.arch,
                    meta.classes.join(", "),
                    cfg.arch,
                    train_set.classes.join(", ")
                ),
            });
        }
        let tensors = checkpoint::read_tensors(&ckpt_tensors)?;
        checkpoint::load_model_exact(&vs, &tensors, &ckpt_tensors)?;
        opt.load_state(&tensors, &ckpt_tensors, meta.step)?;
        start = meta.step;
        images_seen = meta.images_seen;
        skipped = meta.skipped_images;
        best = meta.best;
        tracing::info!("resuming from step {start} of {total}");
    } else if cfg.resume {
        tracing::warn!("--resume: no {} yet; starting afresh", ckpt_meta.display());
    }
    let start_images = images_seen;
    let mut log = MetricsLog::open(&cfg.out, cfg.resume.then_some(start))?;

    let stream_status = Arc::new(Mutex::new(StreamStatus::default()));
    let streaming = stream.is_some();
    let loader: Box<dyn Iterator<Item = Batch>> = match stream {
        Some(source) => {
            let b = b as u64;
            let rs = source
                .plan
                .start(start * b, total * b, cfg.resume)
                .map_err(|e| match e {
                    crate::render::run::RunError::Setup(m) => TrainError::StreamSetup(m),
                    e => TrainError::Stream(e.to_string()),
                })?;
            Box::new(StreamBatches::new(
                rs,
                cfg.augment,
                cfg.image_size,
                cfg.seed,
                b,
                start,
                total,
                stream_status.clone(),
            ))
        }
        None => Box::new(Loader::new(
            Arc::new(train_set.samples.clone()),
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
    let bar = crate::progress::bar(total, cfg.progress, "steps");
    bar.set_position(start);
    let mut skipped_examples: Vec<String> = Vec::new();
    let t0 = Instant::now();
    let mut window = Window::default();
    let mut eval_seconds = 0.0;
    // (loss, step of the batch that produced it) when training diverged.
    let mut diverged: Option<(f64, u64)> = None;
    let mut last_loss = None;
    let mut step = start;
    let mut status = "completed";
    let stop_at = cfg.stop_after.unwrap_or(u64::MAX);

    let ctx = RunCtx {
        cfg,
        model: &model,
        device,
        use_autocast,
        workers,
        eval_sets: &eval_sets,
        classes: &train_set.classes,
        total,
    };

    for batch in loader {
        skipped += batch.skipped.len() as u64;
        for (p, _) in batch
            .skipped
            .iter()
            .take(10usize.saturating_sub(skipped_examples.len()))
        {
            skipped_examples.push(p.display().to_string());
        }
        step = batch.index + 1;
        if !batch.is_empty() {
            let lr = opt.lr();
            tch::manual_seed(checkpoint::torch_seed(cfg.seed, batch.index));
            let (loss, correct) = ctx.train_step(&batch, &mut opt);
            if !loss.is_finite() {
                status = "diverged";
                diverged = Some((loss, batch.index));
                break;
            }
            images_seen += batch.len() as u64;
            last_loss = Some(loss);
            window.add(loss, correct, batch.len(), lr);
        }
        bar.set_position(step);
        if step % log_every == 0 || step == total {
            if let Some((loss, ips)) = window.record() {
                let stream_text = if streaming {
                    stream_progress(&stream_status.lock().expect("stream status").report)
                } else {
                    String::new()
                };
                bar.set_message(format!("loss {loss:.4} | {ips:.0} img/s{stream_text}"));
                log.push(window.take(step, batch.epoch, 1.0))?;
            }
        }
        let stopping = step >= stop_at;
        if step % eval_every == 0 || step == total || stopping {
            let te = Instant::now();
            for (name, set) in ctx.eval_sets {
                let report = ctx.evaluate(name, set, step)?;
                best.entry(name.clone()).or_default().update(&report);
                log.push(Record::Eval(report))?;
            }
            let meta = CheckpointMeta {
                step,
                total_steps: total,
                arch: cfg.arch.clone(),
                classes: train_set.classes.clone(),
                image_size: cfg.image_size,
                optimizer: format!("{:?}", cfg.optimizer).to_lowercase(),
                rng: RngState {
                    seed: cfg.seed,
                    next_step: step,
                },
                images_seen,
                skipped_images: skipped,
                best: best.clone(),
            };
            checkpoint::save(&cfg.out, CKPT, &vs, opt.state_tensors(), &meta)?;
            engine::draw_plots(&cfg.out, &log, &eval_sets, &train_set.classes, &TITLES);
            eval_seconds += te.elapsed().as_secs_f64();
        }
        if stopping {
            status = "stopped";
            break;
        }
    }
    if let Some(e) = stream_status.lock().expect("stream status").error.take() {
        bar.abandon_with_message("stream failed");
        return Err(TrainError::Stream(e));
    }
    let mut summary = ctx.summary(SummaryParts {
        status,
        params,
        n,
        // A diverged run's summary counts the steps before the bad batch.
        steps: diverged.map_or(step, |(_, at)| at),
        images_seen,
        skipped,
        skipped_examples: &skipped_examples,
        last_loss,
        t0,
        start_images,
        eval_seconds,
        best: &best,
        init: &init,
    });
    if streaming {
        summary.stream = Some(stream_status.lock().expect("stream status").report.clone());
    }
    engine::write_json_atomic(&cfg.out.join("summary.json"), &summary)?;
    if let Some((value, at)) = diverged {
        bar.abandon_with_message("diverged");
        return Err(TrainError::NonFiniteLoss {
            value,
            step: at + 1,
            out: ckpt_tensors,
        });
    }
    bar.finish_and_clear();
    Ok(summary)
}

struct RunCtx<'a> {
    cfg: &'a TrainConfig,
    model: &'a Classifier,
    device: Device,
    use_autocast: bool,
    workers: usize,
    eval_sets: &'a [(String, Arc<ImageSet>)],
    classes: &'a [String],
    total: u64,
}

struct SummaryParts<'a> {
    status: &'a str,
    params: i64,
    n: usize,
    steps: u64,
    images_seen: u64,
    skipped: u64,
    skipped_examples: &'a [String],
    last_loss: Option<f64>,
    t0: Instant,
    start_images: u64,
    eval_seconds: f64,
    best: &'a HashMap<String, BestTracker>,
    init: &'a Option<checkpoint::InitReport>,
}

impl RunCtx<'_> {
    fn to_device(&self, batch: &Batch) -> (Tensor, Tensor) {
        let s = self.cfg.image_size as i64;
        let xs = Tensor::from_slice(&batch.images)
            .view([batch.len() as i64, 3, s, s])
            .to_device(self.device);
        let ys = Tensor::from_slice(&batch.labels).to_device(self.device);
        (xs, ys)
    }

    /// One optimisation step; returns (loss, correct predictions).
    fn train_step(&self, batch: &Batch, opt: &mut Optimizer) -> (f64, u64) {
        let (xs, ys) = self.to_device(batch);
        let logits = tch::autocast(self.use_autocast, || self.model.forward(&xs, true));
        let loss = logits.to_kind(Kind::Float).cross_entropy_for_logits(&ys);
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            return (value, 0);
        }
        opt.zero_grad();
        loss.backward();
        opt.step();
        let correct = logits
            .argmax(-1, false)
            .eq_tensor(&ys)
            .sum(Kind::Int64)
            .int64_value(&[]) as u64;
        (value, correct)
    }

    fn evaluate(&self, name: &str, set: &ImageSet, step: u64) -> Result<EvalReport, TrainError> {
        let loader = Loader::new(
            Arc::new(set.samples.clone()),
            LoaderConfig::evaluation(
                self.cfg.image_size,
                self.cfg.batch_size.max(1),
                self.workers,
            ),
        );
        let r = EvalReport::over_batches(name, step, self.classes.len(), loader, |batch| {
            let (xs, _) = self.to_device(batch);
            tch::no_grad(|| tch::autocast(self.use_autocast, || self.model.forward(&xs, false)))
        })?;
        tracing::info!(
            "step {step}: {name} Acc {:.2} Mean {:.2}",
            100.0 * r.acc,
            100.0 * r.mean
        );
        Ok(r)
    }

    fn summary(&self, p: SummaryParts) -> RunSummary {
        let seconds = p.t0.elapsed().as_secs_f64();
        let evals = p
            .best
            .iter()
            .map(|(k, t)| (k.clone(), EvalSummary::from(t)))
            .collect();
        RunSummary {
            status: p.status.to_string(),
            arch: self.cfg.arch.clone(),
            params: p.params,
            device: format!("{:?}", self.device),
            classes: self.classes.to_vec(),
            train_images: p.n,
            steps: p.steps,
            total_steps: self.total,
            images_seen: p.images_seen,
            skipped_images: p.skipped,
            skipped_examples: p.skipped_examples.to_vec(),
            last_loss: p.last_loss,
            seconds,
            eval_seconds: p.eval_seconds,
            images_per_second: (p.images_seen - p.start_images) as f64
                / (seconds - p.eval_seconds).max(1e-9),
            evals,
            init: p.init.clone(),
            config: self.cfg.clone(),
            stream: None,
        }
    }
}

const TITLES: plots::RunChartTitles = plots::RunChartTitles {
    loss: "training loss",
    loss_axis: "cross-entropy",
    accuracy: "evaluation accuracy",
};

/// The stream's part of the progress line: render rate and who waits for whom.
fn stream_progress(r: &StreamReport) -> String {
    format!(
        " | render {:.1} img/s | trainer waits {:.0}%, workers wait {:.0}%",
        r.render_per_second,
        100.0 * r.consumer_wait_share,
        100.0 * r.worker_wait_share
    )
}
