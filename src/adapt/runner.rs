//! `synthgen adapt` as a configuration of the engine: two cycling loaders (source with labels,
//! target without), the method (the step), the released per-epoch schedule, 200 evaluations
//! per run plus one at each epoch's end on the labelled target data, checkpoints (last and best
//! Mean), the t-SNE picture and summary.json. Epochs follow the released code: one epoch is
//! max(len(source), len(target)) / batch iterations.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::data::{open_eval, open_target, TargetSet};
use super::error::AdaptError;
use super::evaluate::tsne_picture;
use super::method::{build, MethodKind, MethodSetup};
use crate::engine::data_parallel::DataParallelSummary;
use crate::engine::{
    self, DataParallel, Epochs, EvalCtx, EvalSummary, Feed, Feeds, RunSpec, Schedule, Session,
    SetPass, StreamSource, StreamWatch,
};
use crate::nn::augment::Augment;
use crate::nn::checkpoint;
use crate::nn::data::{ImageSet, Sample};
use crate::nn::device::DeviceChoice;
use crate::nn::distributed::Launch;
use crate::nn::loader::{Batch, Loader, LoaderConfig, Order};
use crate::nn::models::count_trainable;
use crate::nn::plots;
use crate::nn::TrainError;
use crate::render::stream::StreamReport;

/// Evaluations per run in the released DA scripts.
pub const EVALUATIONS_PER_RUN: u64 = 200;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdaptConfig {
    pub source: PathBuf,
    pub target: PathBuf,
    pub target_eval: Option<PathBuf>,
    pub method: MethodKind,
    pub arch: String,
    pub init: Option<PathBuf>,
    pub out: PathBuf,
    pub epochs: f64,
    /// Iterations instead of epochs (tests and benchmarks).
    pub iters: Option<u64>,
    /// Per domain: each iteration sees `batch_size` source and `batch_size` target images.
    pub batch_size: usize,
    /// None: the method's default (1e-4, MCD 1e-3).
    pub lr: Option<f64>,
    pub momentum: f64,
    pub weight_decay: f64,
    pub augment: Augment,
    pub image_size: u32,
    pub seed: u64,
    pub device: DeviceChoice,
    pub workers: Option<usize>,
    /// None: `EVALUATIONS_PER_RUN` evaluations.
    pub eval_every: Option<u64>,
    /// Points per domain in the t-SNE picture (0: no picture).
    pub tsne_points: usize,
    pub progress: bool,
    /// Continue from `<out>/checkpoint-last.*` when present.
    pub resume: bool,
    /// Stop (with a checkpoint) after this many completed iterations, as if interrupted.
    pub stop_after: Option<u64>,
    /// SRDC's bottleneck width (None: the released 128 x block expansion).
    pub srdc_bottleneck: Option<i64>,
    /// Dropout of MCD's classifiers (released: 0.5).
    pub mcd_dropout: f64,
}

impl AdaptConfig {
    pub fn new(source: PathBuf, target: PathBuf, method: MethodKind, out: PathBuf) -> Self {
        AdaptConfig {
            source,
            target,
            target_eval: None,
            method,
            arch: "resnet50".into(),
            init: None,
            out,
            epochs: 20.0,
            iters: None,
            batch_size: 64,
            lr: None,
            momentum: 0.9,
            weight_decay: 1e-4,
            augment: Augment::Weak,
            image_size: 224,
            seed: 0,
            device: DeviceChoice::Auto,
            workers: None,
            eval_every: None,
            tsne_points: 500,
            progress: false,
            resume: false,
            stop_after: None,
            srdc_bottleneck: None,
            mcd_dropout: 0.5,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdaptSummary {
    pub method: MethodKind,
    pub status: String,
    pub arch: String,
    pub params: i64,
    pub device: String,
    pub classes: Vec<String>,
    pub source_images: usize,
    pub target_images: usize,
    pub target_labelled: bool,
    pub steps: u64,
    pub total_steps: u64,
    pub lr: f64,
    pub backbone_lr_mult: f64,
    pub last_losses: BTreeMap<String, f64>,
    pub skipped_images: u64,
    pub seconds: f64,
    pub eval_seconds: f64,
    /// Training iterations per second outside evaluation and checkpoints.
    pub iterations_per_second: f64,
    /// Best (paper protocol) and last numbers of each evaluation set, as the trainer reports them.
    pub evals: BTreeMap<String, EvalSummary>,
    pub tsne: Option<PathBuf>,
    pub init: Option<checkpoint::InitReport>,
    pub config: AdaptConfig,
    /// Render rates and waits of a streamed source (`adapt --stream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamReport>,
    /// Ranks, global batch and lr rule of a data-parallel run (torchrun / srun).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_parallel: Option<DataParallelSummary>,
    /// Whether this process wrote the outputs (false on data-parallel ranks other than 0).
    #[serde(skip)]
    pub leader: bool,
}

/// Refuses what data-parallel mode cannot run: a render stream, and the methods whose state
/// is computed from all of the data (SRDC's per-epoch clustering of every target feature) or
/// updated from each batch outside the optimizer (DisClusterDA's running centroids), which
/// per-rank batches would make differ between ranks.
fn check_data_parallel(method: MethodKind, streaming: bool) -> Result<(), AdaptError> {
    let why = if streaming {
        "--stream renders one stream for one process; data-parallel runs (torchrun / srun with 2+ ranks) adapt from a rendered --source folder: render it first, or run --stream as one process"
    } else if method == MethodKind::Srdc {
        "SRDC clusters the target features of every image each epoch, which data-parallel ranks would each see only a part of; run SRDC as one process"
    } else if method == MethodKind::DisClusterDa {
        "DisClusterDA updates its class centroids from each batch outside the optimizer, so ranks would hold different centroids; run it as one process"
    } else {
        return Ok(());
    };
    Err(TrainError::NotDataParallel(why.to_string()).into())
}

/// Runs one adaptation as configured and writes everything to `cfg.out`.
pub fn adapt(cfg: &AdaptConfig) -> Result<AdaptSummary, AdaptError> {
    adapt_from(cfg, None)
}

/// Adapts from a render stream instead of `cfg.source`: source batch `k` is stream positions
/// `[k B, (k + 1) B)`, each used once, so `--resume` restarts the stream at the checkpoint's
/// iteration.
pub fn adapt_streamed(cfg: &AdaptConfig, source: StreamSource) -> Result<AdaptSummary, AdaptError> {
    adapt_from(cfg, Some(source))
}

/// Refuses a method that cannot adapt from a stream (called before the stream is set up, so
/// that the refusal is the command's only output).
pub fn check_streamable(method: MethodKind) -> Result<(), AdaptError> {
    if method == MethodKind::Srdc {
        return Err(AdaptError::BadOption {
            flag: "method",
            value: "srdc".into(),
            why: "SRDC clusters the whole source set every epoch and a stream has none; adapt from a rendered folder (--source) instead".into(),
        });
    }
    Ok(())
}

impl AdaptConfig {
    /// The numbers' ranges, checked before any work starts (the CLI's parsers check each flag
    /// alone; this also holds for library and study callers, and checks the image size
    /// against the architecture).
    pub fn check(&self) -> Result<(), AdaptError> {
        let bad = |flag: &'static str, value: String, why: String| AdaptError::BadOption {
            flag,
            value,
            why,
        };
        if self.batch_size == 0 {
            return Err(bad(
                "batch-size",
                "0".into(),
                "each iteration needs at least one source and one target image".into(),
            ));
        }
        for (flag, v) in [
            ("iters", self.iters),
            ("eval-every", self.eval_every),
            ("workers", self.workers.map(|w| w as u64)),
            (
                "srdc-bottleneck",
                self.srdc_bottleneck.map(|w| w.max(0) as u64),
            ),
        ] {
            if let Some(v) = v {
                crate::numbers::check_count(v).map_err(|why| bad(flag, v.to_string(), why))?;
            }
        }
        if self.iters.is_none() {
            crate::numbers::check_positive(self.epochs)
                .map_err(|why| bad("epochs", self.epochs.to_string(), why))?;
        }
        if let Some(lr) = self.lr {
            crate::numbers::check_positive(lr).map_err(|why| bad("lr", lr.to_string(), why))?;
        }
        crate::numbers::check_non_negative(self.weight_decay)
            .map_err(|why| bad("weight-decay", self.weight_decay.to_string(), why))?;
        if !(0.0..1.0).contains(&self.mcd_dropout) {
            return Err(bad(
                "mcd-dropout",
                self.mcd_dropout.to_string(),
                "must be at least 0 and below 1, e.g. 0.5".into(),
            ));
        }
        crate::nn::models::check_image_size(&self.arch, self.image_size as i64)?;
        Ok(())
    }
}

fn adapt_from(cfg: &AdaptConfig, stream: Option<StreamSource>) -> Result<AdaptSummary, AdaptError> {
    let launch = preflight(cfg, stream.is_some())?;
    let session = Session::connect(launch)?;
    let data = AdaptData::open(cfg, stream.as_ref())?;
    std::fs::create_dir_all(&cfg.out).map_err(|e| TrainError::io(&cfg.out, e))?;
    let (device, workers) = session.place(cfg.device, cfg.workers)?;
    // Each rank reads its own slices of the source and target training images.
    let source_samples = session.take(&data.source.samples);
    let target_samples = session.take(&data.target.samples);
    let b = cfg.batch_size;
    let len = Lengths::new(cfg, stream.as_ref(), &source_samples, &target_samples);

    let vs = engine::seeded_store(cfg.seed, device);
    let setup = cfg.method_setup(&data);
    let mut method = build(cfg.method, &vs, &setup)?;
    let params = count_trainable(&vs);
    let init = engine::load_init(&vs, cfg.init.as_deref(), false, describe_init)?;
    let lr0 = cfg.lr.unwrap_or(cfg.method.default_lr());

    let eval = EvalCtx {
        device,
        image_size: cfg.image_size,
        batch_size: b,
        workers,
        classes: &data.source.classes,
        announce: false,
    };
    let full_pass = SetPass {
        ctx: &eval,
        source: &data.source.samples,
        target: &data.target.samples,
    };
    let watch = StreamWatch::new(stream.is_some());
    let spec = RunSpec {
        out: &cfg.out,
        vs: &vs,
        eval: &eval,
        eval_sets: &data.eval_sets,
        schedule: Schedule::Annealed {
            lr0,
            epochs: len.epochs,
        },
        total: len.total,
        // The released cadence: every int(total / 200) iterations and at every epoch's end.
        epochs: Some(Epochs {
            length: len.per_epoch,
            data: &full_pass,
            evaluate_at_end: true,
        }),
        eval_every: len.eval_every,
        // A stop checkpoints without evaluating, so that best/last match an uninterrupted run.
        eval_on_stop: false,
        keep_best: true,
        stop_after: cfg.stop_after,
        resume: cfg.resume,
        seed: cfg.seed,
        arch: &cfg.arch,
        classes: &data.source.classes,
        optimizer: format!("sgd ({})", cfg.method.name()),
        titles: &TITLES,
        progress: cfg.progress && session.leader,
        unit: "iterations",
        stream: &watch,
        dp: session.dp.as_ref(),
    };
    let source_batches = SourceBatches {
        stream,
        samples: source_samples,
    };
    let mut o = engine::run(&spec, method.as_mut(), |start| {
        feeds(
            cfg,
            source_batches,
            target_samples,
            (start, len.total),
            workers,
            &watch,
        )
    })?;
    watch.check(&o.bar)?;
    let train_seconds = o.started.elapsed().as_secs_f64() - o.eval_seconds;
    let tsne_path = data.tsne(cfg, &eval, method.model(), &mut o, session.leader)?;

    let summary = AdaptSummary {
        method: cfg.method,
        status: o.status.into(),
        arch: cfg.arch.clone(),
        params,
        device: format!("{device:?}"),
        classes: data.source.classes.clone(),
        source_images: data.source_images(len.total * b as u64),
        target_images: data.target.samples.len(),
        target_labelled: data.target.labelled.is_some(),
        steps: o.steps,
        total_steps: len.total,
        lr: lr0,
        backbone_lr_mult: setup.backbone_lr_mult,
        last_losses: std::mem::take(&mut o.last_terms),
        skipped_images: o.skipped,
        seconds: o.started.elapsed().as_secs_f64(),
        eval_seconds: o.eval_seconds,
        iterations_per_second: (o.steps - o.start) as f64 / train_seconds.max(1e-9),
        evals: o.evals(),
        tsne: tsne_path,
        init,
        config: cfg.clone(),
        stream: watch.report(),
        data_parallel: session.summary(b, lr0),
        leader: session.leader,
    };
    engine::finish(&cfg.out, session.leader, &o, summary).map_err(AdaptError::from)
}

/// The refusals and the warning that come before anything else is logged, so that a refusal
/// is the only line; returns the data-parallel launch, if any.
fn preflight(cfg: &AdaptConfig, streaming: bool) -> Result<Option<Launch>, AdaptError> {
    cfg.check()?;
    let launch = DataParallel::launch_from_env()?;
    if launch.is_some() {
        check_data_parallel(cfg.method, streaming)?;
    }
    if cfg.init.is_none() {
        tracing::warn!("adapt without --init trains the backbone from scratch; the paper's protocol starts from a pre-trained one: pass --init with a `synthgen train` checkpoint (checkpoint-last.safetensors) or a converted torchvision ResNet state dict");
    }
    if streaming {
        check_streamable(cfg.method)?;
    }
    Ok(launch)
}

impl AdaptConfig {
    /// What the method's networks and optimizers are built from (the backbone learns at a
    /// tenth of the lr when it starts from `--init`).
    fn method_setup(&self, data: &AdaptData) -> MethodSetup {
        MethodSetup {
            arch: self.arch.clone(),
            num_classes: data.source.num_classes() as i64,
            image_size: self.image_size as i64,
            backbone_lr_mult: if self.init.is_some() { 0.1 } else { 1.0 },
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            target_images: data.target.samples.len(),
            srdc_bottleneck: self.srdc_bottleneck,
            mcd_dropout: self.mcd_dropout,
        }
    }
}

/// The log line of the `--init` weights.
fn describe_init(file: &Path, r: &checkpoint::InitReport) -> String {
    format!(
        "--init {}: loaded {} backbone tensors, {} kept fresh, {} method tensors fresh",
        file.display(),
        r.loaded.len(),
        r.shape_mismatch.len() + r.missing.len(),
        r.dropped.len()
    )
}

/// How long a run is: the released code's epochs of max(len(source), len(target)) / batch
/// iterations, and its evaluation cadence.
struct Lengths {
    per_epoch: u64,
    total: u64,
    /// The schedule's E: the configured epochs, or what --iters amounts to.
    epochs: f64,
    eval_every: u64,
}

impl Lengths {
    /// The lengths over this rank's `source` and `target` images (a stream's epoch counts one
    /// pass over its preset: images_per_class x classes).
    fn new(
        cfg: &AdaptConfig,
        stream: Option<&StreamSource>,
        source: &[Sample],
        target: &[Sample],
    ) -> Lengths {
        let source_len = stream.map_or(source.len(), |s| s.images_per_pass() as usize);
        let target_len = target.len();
        let per_epoch = (source_len.max(target_len).div_ceil(cfg.batch_size) as u64).max(1);
        let total = cfg
            .iters
            .unwrap_or(((cfg.epochs * per_epoch as f64).ceil() as u64).max(1))
            .max(1);
        let epochs = match cfg.iters {
            Some(_) => total as f64 / per_epoch as f64,
            None => cfg.epochs,
        };
        let eval_every = cfg
            .eval_every
            .unwrap_or((total / EVALUATIONS_PER_RUN).max(1))
            .max(1);
        Lengths {
            per_epoch,
            total,
            epochs,
            eval_every,
        }
    }
}

/// The sets of a run: the source (a stream's holds only its classes), the target, and the
/// labelled sets each evaluation reads.
struct AdaptData {
    source: ImageSet,
    /// Where a streamed source keeps its images (`--keep`), the t-SNE picture's source points.
    kept: Option<PathBuf>,
    streaming: bool,
    target: TargetSet,
    eval_sets: Vec<(String, Arc<ImageSet>)>,
}

impl AdaptData {
    fn open(cfg: &AdaptConfig, stream: Option<&StreamSource>) -> Result<AdaptData, AdaptError> {
        let source = match stream {
            None => ImageSet::open(&cfg.source)?,
            Some(s) => ImageSet {
                source: cfg.source.clone(),
                classes: s.class_names(),
                samples: Vec::new(),
                shards: None,
            },
        };
        let kept = stream
            .filter(|s| s.plan.keep)
            .map(|s| s.plan.run.out.clone());
        let target = open_target(&cfg.target, &source)?;
        let mut eval_sets: Vec<(String, Arc<ImageSet>)> = Vec::new();
        match (&cfg.target_eval, &target.labelled) {
            (Some(p), _) => {
                eval_sets.push(("target_eval".into(), Arc::new(open_eval(p, &source)?)))
            }
            (None, Some(t)) => eval_sets.push(("target".into(), Arc::new(t.clone()))),
            (None, None) => tracing::warn!(
                "the target has no labels and no --target-eval was given: no accuracy will be reported"
            ),
        }
        Ok(AdaptData {
            source,
            kept,
            streaming: stream.is_some(),
            target,
            eval_sets,
        })
    }

    /// Source images the run read: a stream's `streamed`, or the source folder's.
    fn source_images(&self, streamed: u64) -> usize {
        if self.streaming {
            streamed as usize
        } else {
            self.source.len()
        }
    }

    /// The leader's t-SNE picture of a completed run (its time counts as evaluation time). Without
    /// --keep a streamed source's images are gone: no source points to draw.
    fn tsne(
        &self,
        cfg: &AdaptConfig,
        eval: &EvalCtx,
        model: &dyn engine::EvalModel,
        o: &mut engine::Outcome,
        leader: bool,
    ) -> Result<Option<PathBuf>, AdaptError> {
        let drawable = !self.streaming || self.kept.is_some();
        if cfg.tsne_points == 0 || o.status != "completed" || !drawable || !leader {
            return Ok(None);
        }
        let te = Instant::now();
        // A streamed source has points only when it was kept (other images are deleted).
        let source = match &self.kept {
            Some(dir) if self.streaming => ImageSet::open(dir)?,
            _ => self.source.clone(),
        };
        let picture = tsne_picture(cfg, eval, model, &source, &self.target, &self.eval_sets)?;
        o.eval_seconds += te.elapsed().as_secs_f64();
        Ok(picture)
    }
}

/// The labelled batches of a run: a render stream, or this rank's source images.
struct SourceBatches {
    stream: Option<StreamSource>,
    samples: Vec<Sample>,
}

/// Iterations `start..total` as the engine's feeds: a source batch zipped with a target batch.
fn feeds(
    cfg: &AdaptConfig,
    source: SourceBatches,
    target: Vec<Sample>,
    (start, total): (u64, u64),
    workers: usize,
    watch: &StreamWatch,
) -> Result<Feeds, TrainError> {
    let b = cfg.batch_size;
    let loader = |samples: Vec<Sample>, seed: u64| {
        Loader::new(
            Arc::new(samples),
            LoaderConfig {
                augment: cfg.augment,
                image_size: cfg.image_size,
                batch_size: b,
                workers: workers.div_ceil(2),
                prefetch: workers.max(2),
                seed,
                order: Order::Cycle,
                start_batch: start,
                end_batch: Some(total),
            },
        )
    };
    // WHY another seed for the target: the two streams must not share shuffles.
    let src: Box<dyn Iterator<Item = Batch>> = match source.stream {
        Some(s) => Box::new(s.batches(
            cfg.augment,
            cfg.image_size,
            cfg.seed,
            b as u64,
            (start, total),
            cfg.resume,
            watch.status(),
        )?),
        None => Box::new(loader(source.samples, cfg.seed)),
    };
    let tgt = loader(target, cfg.seed ^ 0x7a29_e7d0_5eed_0001);
    Ok(Box::new(src.zip(tgt).map(|(labelled, target)| Feed {
        labelled,
        target: Some(target),
    })))
}

const TITLES: plots::RunChartTitles = plots::RunChartTitles {
    loss: "adaptation loss",
    loss_axis: "total loss",
    accuracy: "target accuracy",
};
