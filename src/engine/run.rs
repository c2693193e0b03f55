//! The training loop of `synthgen train` and `synthgen adapt`: resume from the last checkpoint,
//! feed batches to the step at the scheduled lr, per-epoch hooks, train records, evaluation
//! cadence, best/last tracking, checkpoints (model, optimizer and method state), plots.
//! The commands configure it (`RunSpec`) and write their own summaries from the `Outcome`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use indicatif::ProgressBar;
use tch::{nn, Kind, Tensor};

use super::data_parallel::DataParallel;
use super::eval::EvalCtx;
use super::output::draw_plots;
use super::schedule::Schedule;
use super::step::{FullPass, StepBatch, TrainStep};
use super::stream::StreamWatch;
use super::window::{log_every, Window};
use crate::nn::checkpoint::{self, CheckpointMeta, RngState};
use crate::nn::data::ImageSet;
use crate::nn::loader::Batch;
use crate::nn::metrics::BestTracker;
use crate::nn::plots::RunChartTitles;
use crate::nn::records::{MetricsLog, Record};
use crate::nn::TrainError;

/// The checkpoint `--resume` continues from, rewritten at every evaluation.
pub const CKPT_LAST: &str = "checkpoint-last";
/// The checkpoint at the best Mean of the first evaluation set (when `RunSpec::keep_best`).
pub const CKPT_BEST: &str = "checkpoint-best-mean";

/// What one iteration reads: a labelled batch and, for adaptation, a target batch.
pub struct Feed {
    pub labelled: Batch,
    pub target: Option<Batch>,
}

/// The batches of a run from a start iteration on: loaders, zipped loaders or a render stream.
pub type Feeds = Box<dyn Iterator<Item = Feed>>;

/// Fixed-length epochs with a hook before each (the released DA code's epochs).
pub struct Epochs<'a> {
    /// Iterations per epoch.
    pub length: u64,
    /// What the step's `epoch_start` may pass over.
    pub data: &'a dyn FullPass,
    /// Also evaluate at the end of every epoch.
    pub evaluate_at_end: bool,
}

/// How a run goes; the commands fill it in.
pub struct RunSpec<'a> {
    pub out: &'a Path,
    pub vs: &'a nn::VarStore,
    pub eval: &'a EvalCtx<'a>,
    /// Labelled evaluation sets (name, set); the first one decides "best Mean".
    pub eval_sets: &'a [(String, Arc<ImageSet>)],
    pub schedule: Schedule,
    pub total: u64,
    /// None: epochs are the loader's passes over the data, without hooks.
    pub epochs: Option<Epochs<'a>>,
    pub eval_every: u64,
    /// Evaluate when stopping at `stop_after` (else a stop only checkpoints, so that best/last
    /// equal an uninterrupted run's).
    pub eval_on_stop: bool,
    /// Also keep `CKPT_BEST`.
    pub keep_best: bool,
    pub stop_after: Option<u64>,
    pub resume: bool,
    pub seed: u64,
    pub arch: &'a str,
    pub classes: &'a [String],
    /// Names the optimizer (and method) in checkpoints; a resume with another one is refused.
    pub optimizer: String,
    pub titles: &'a RunChartTitles<'a>,
    pub progress: bool,
    /// "steps" or "iterations".
    pub unit: &'static str,
    /// The render stream the run reads, if any (its render rate joins the progress line).
    pub stream: &'a StreamWatch,
    /// Data-parallel mode (see `data_parallel`); None: one process.
    pub dp: Option<&'a DataParallel>,
}

impl RunSpec<'_> {
    /// Ranks of the run (1 without data parallelism).
    pub fn world(&self) -> usize {
        self.dp.map_or(1, DataParallel::world)
    }

    /// Whether this process evaluates and writes (rank 0, or the only process).
    pub fn leader(&self) -> bool {
        self.dp.is_none_or(|d| d.rank() == 0)
    }
}

/// What a run did; the commands turn it into their summaries.
pub struct Outcome {
    /// "completed", "stopped" (stop_after) or "diverged".
    pub status: &'static str,
    /// Completed iterations (a diverged run counts those before the bad batch).
    pub steps: u64,
    /// The iteration this session started from (0, or the checkpoint's on resume).
    pub start: u64,
    /// Labelled images read by every rank (data-parallel runs: the global count).
    pub images_seen: u64,
    pub start_images: u64,
    pub skipped: u64,
    pub skipped_examples: Vec<String>,
    pub last_loss: Option<f64>,
    /// The last value of each loss term.
    pub last_terms: BTreeMap<String, f64>,
    pub started: Instant,
    /// Of the time since `started`, the time spent in epoch hooks, evaluations, checkpoints
    /// and plots.
    pub eval_seconds: f64,
    pub best: BTreeMap<String, BestTracker>,
    /// (loss, 0-based iteration) of a non-finite loss.
    pub diverged: Option<(f64, u64)>,
    /// The last checkpoint's tensor file.
    pub checkpoint: PathBuf,
    pub bar: ProgressBar,
}

impl Outcome {
    /// A run that has not started.
    fn new(spec: &RunSpec) -> Outcome {
        Outcome {
            status: "completed",
            steps: 0,
            start: 0,
            images_seen: 0,
            start_images: 0,
            skipped: 0,
            skipped_examples: Vec::new(),
            last_loss: None,
            last_terms: BTreeMap::new(),
            started: Instant::now(),
            eval_seconds: 0.0,
            best: BTreeMap::new(),
            diverged: None,
            checkpoint: checkpoint::paths(spec.out, CKPT_LAST).0,
            bar: crate::progress::bar(spec.total, spec.progress, spec.unit),
        }
    }

    /// Counts the images of `feed` that did not decode (the first 10 by name).
    fn count_skipped(&mut self, feed: &Feed) {
        let batches = std::iter::once(&feed.labelled).chain(&feed.target);
        for skipped in batches.map(|b| &b.skipped) {
            self.skipped += skipped.len() as u64;
            for (p, _) in skipped
                .iter()
                .take(10usize.saturating_sub(self.skipped_examples.len()))
            {
                self.skipped_examples.push(p.display().to_string());
            }
        }
    }
}

/// Runs `step` over the batches `feeds(start)` gives (start: the resumed iteration, or 0).
pub fn run(
    spec: &RunSpec,
    step: &mut dyn TrainStep,
    feeds: impl FnOnce(u64) -> Result<Feeds, TrainError>,
) -> Result<Outcome, TrainError> {
    let total = spec.total;
    let mut o = Outcome::new(spec);
    if spec.resume {
        resume(spec, step, &mut o)?;
    }
    if let Some(dp) = spec.dp {
        dp.broadcast_model(spec.vs)?;
        dp.attach(step);
    }
    o.start_images = o.images_seen;
    let mut log = if spec.leader() {
        Some(MetricsLog::open(spec.out, spec.resume.then_some(o.start))?)
    } else {
        None
    };
    let feeds = feeds(o.start)?;
    // Inputs, resume point and data are checked: from here on the run trains.
    crate::nn::device::announce();
    o.bar.set_position(o.start);
    o.started = Instant::now();
    let log_every = log_every(total);
    let stop_at = spec.stop_after.unwrap_or(u64::MAX);
    let mut window = Window::default();
    let mut at = o.start;
    let iteration = Iteration {
        spec,
        no_target: Tensor::zeros(
            [
                0,
                3,
                spec.eval.image_size as i64,
                spec.eval.image_size as i64,
            ],
            (Kind::Float, spec.eval.device),
        ),
    };

    for feed in feeds {
        let b = &feed.labelled;
        o.count_skipped(&feed);
        at = b.index + 1;
        let epoch = spec.epochs.as_ref().map_or(b.epoch, |e| b.index / e.length);
        if let Some(e) = spec.epochs.as_ref().filter(|e| b.index % e.length == 0) {
            let te = Instant::now();
            step.epoch_start(epoch, e.data)?;
            o.eval_seconds += te.elapsed().as_secs_f64();
        }
        if !b.is_empty() && !feed.target.as_ref().is_some_and(Batch::is_empty) {
            let diverged = iteration.train(step, &feed, epoch, &mut o, &mut window)?;
            if diverged {
                break;
            }
        }
        // Other processes come and go (and `--stream` workers start): libtorch's team follows.
        crate::nn::device::retune_threads();
        o.bar.set_position(at);
        if at % log_every == 0 || at == total {
            if let Some((loss, ips)) = window.record() {
                let note = spec.stream.note();
                o.bar
                    .set_message(format!("loss {loss:.4} | {ips:.0} img/s{note}"));
                // An adaptation iteration reads a target image with every source image.
                let per_labelled = if feed.target.is_some() { 2.0 } else { 1.0 };
                let record = window.take(at, epoch, per_labelled);
                if let Some(log) = log.as_mut() {
                    log.push(record)?;
                }
            }
        }
        let stopping = at >= stop_at;
        let epoch_end = spec
            .epochs
            .as_ref()
            .is_some_and(|e| e.evaluate_at_end && at % e.length == 0);
        let evaluating = at % spec.eval_every == 0 || at == total || epoch_end;
        if (evaluating || stopping) && spec.leader() {
            let log = log.as_mut().expect("the leader keeps the metric log");
            let te = Instant::now();
            if evaluating || spec.eval_on_stop {
                evaluate(spec, step, at, &mut o, log)?;
            }
            save(spec, step, CKPT_LAST, at, &o)?;
            draw_plots(spec.out, log, spec.eval_sets, spec.classes, spec.titles);
            o.eval_seconds += te.elapsed().as_secs_f64();
        }
        if stopping {
            o.status = "stopped";
            break;
        }
    }
    o.steps = o.diverged.map_or(at, |(_, i)| i);
    Ok(o)
}

/// One training iteration's work around the step.
struct Iteration<'a> {
    spec: &'a RunSpec<'a>,
    /// The target batch of a run without a target domain (0 images).
    no_target: Tensor,
}

impl Iteration<'_> {
    /// Moves the batches to the device, seeds torch for this iteration and runs the step;
    /// returns whether the loss diverged (then `o` says where and nothing was counted).
    fn train(
        &self,
        step: &mut dyn TrainStep,
        feed: &Feed,
        epoch: u64,
        o: &mut Outcome,
        window: &mut Window,
    ) -> Result<bool, TrainError> {
        let spec = self.spec;
        let b = &feed.labelled;
        let ctx = spec.schedule.at(b.index, epoch);
        if let Some(dp) = spec.dp {
            dp.broadcast_buffers(spec.vs)?;
        }
        tch::manual_seed(checkpoint::torch_seed(spec.seed, b.index));
        let (xs, ys) = spec.eval.to_device(b);
        let xt = feed.target.as_ref().map(|t| spec.eval.to_device(t).0);
        let stats = step.step(
            &StepBatch {
                xs: &xs,
                ys: &ys,
                xt: xt.as_ref().unwrap_or(&self.no_target),
                target_index: feed.target.as_ref().map_or(&[][..], |t| &t.samples[..]),
            },
            &ctx,
        );
        if let Some(dp) = spec.dp {
            dp.check()?;
        }
        if !stats.total.is_finite() {
            o.status = "diverged";
            o.diverged = Some((stats.total, b.index));
            return Ok(true);
        }
        let world = spec.world() as u64;
        o.images_seen += b.len() as u64 * world;
        o.last_loss = Some(stats.total);
        for (k, v) in &stats.terms {
            o.last_terms.insert(k.to_string(), *v);
        }
        window.add(stats.total, stats.source_correct, b.len(), ctx.lr);
        window.ranks(world);
        Ok(false)
    }
}

/// Evaluates every evaluation set after iteration `at`: the per-image predictions file, the
/// best/last trackers, the metric log, and `CKPT_BEST` when the first set's Mean improved.
fn evaluate(
    spec: &RunSpec,
    step: &dyn TrainStep,
    at: u64,
    o: &mut Outcome,
    log: &mut MetricsLog,
) -> Result<(), TrainError> {
    for (i, (name, set)) in spec.eval_sets.iter().enumerate() {
        let (report, rows) = spec
            .eval
            .evaluate_with_predictions(step.model(), name, set, at)?;
        // The last evaluation's per-image predictions (docs/STUDIES.md).
        let file = spec.out.join(crate::dataset::predictions::file_name(name));
        crate::dataset::predictions::write(&file, &rows).map_err(|e| TrainError::io(&file, e))?;
        let tracker = o.best.entry(name.clone()).or_default();
        let improved = tracker.best_mean.is_none_or(|(_, m)| report.mean > m);
        tracker.update(&report);
        log.push(Record::Eval(report))?;
        if improved && i == 0 && spec.keep_best {
            save(spec, step, CKPT_BEST, at, o)?;
        }
    }
    Ok(())
}

/// Restores model, step state, counters and best/last from `<out>/checkpoint-last.*`.
fn resume(spec: &RunSpec, step: &mut dyn TrainStep, o: &mut Outcome) -> Result<(), TrainError> {
    let (tensors_path, meta_path) = checkpoint::paths(spec.out, CKPT_LAST);
    if !tensors_path.is_file() {
        tracing::warn!(
            "--resume: no {} yet; starting afresh",
            tensors_path.display()
        );
        return Ok(());
    }
    let tensors = checkpoint::read_tensors(&tensors_path)?;
    // Checkpoints written before the metadata went inside the tensor file have only the JSON.
    let meta = match checkpoint::meta_in_tensors(&tensors, &tensors_path)? {
        Some(m) => m,
        None => checkpoint::read_meta(&meta_path)?,
    };
    if meta.world_size != spec.world() {
        return Err(TrainError::NotDataParallel(format!(
            "{} was written by a run of {} rank(s) and this run has {}: resume with the same number of ranks (torchrun --nproc-per-node {n} / srun -n {n}), or start a new --out.",
            tensors_path.display(),
            meta.world_size,
            spec.world(),
            n = meta.world_size
        )));
    }
    if meta.arch != spec.arch || meta.classes != spec.classes || meta.optimizer != spec.optimizer {
        return Err(TrainError::BadCheckpoint {
            path: meta_path,
            why: format!(
                "it was written by {} for --arch {} with classes [{}]; this run is {} with --arch {} and [{}]",
                meta.optimizer,
                meta.arch,
                meta.classes.join(", "),
                spec.optimizer,
                spec.arch,
                spec.classes.join(", ")
            ),
        });
    }
    checkpoint::load_model_exact(spec.vs, &tensors, &tensors_path)?;
    step.load_state(&tensors, &tensors_path, meta.step)?;
    o.start = meta.step;
    o.images_seen = meta.images_seen;
    o.skipped = meta.skipped_images;
    o.best = meta.best.into_iter().collect();
    tracing::info!("resuming after {} of {} {}", o.start, spec.total, spec.unit);
    Ok(())
}

fn save(
    spec: &RunSpec,
    step: &dyn TrainStep,
    name: &str,
    at: u64,
    o: &Outcome,
) -> Result<(), TrainError> {
    let meta = CheckpointMeta {
        step: at,
        total_steps: spec.total,
        arch: spec.arch.to_string(),
        classes: spec.classes.to_vec(),
        image_size: spec.eval.image_size,
        optimizer: spec.optimizer.clone(),
        rng: RngState {
            seed: spec.seed,
            next_step: at,
        },
        images_seen: o.images_seen,
        skipped_images: o.skipped,
        best: o.best.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        world_size: spec.world(),
    };
    checkpoint::save(spec.out, name, spec.vs, step.state_tensors(), &meta)
}
