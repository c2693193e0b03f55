//! `synthgen train`: the bundled tch trainer for the paper's supervised studies.
//!
//! A thin configuration on the engine: the network parts (data, loader, models, optimiser,
//! checkpoints, metrics, plots, device) live in `crate::nn`; `trainer` drives them from a plain
//! `TrainConfig`, `supervised` is the step, `stream` the render-stream source. Only this file
//! knows about clap.
use std::path::PathBuf;

pub mod stream;
pub mod supervised;
pub mod trainer;

pub use trainer::{train, train_streamed, Length, RunSummary, TrainConfig};

use crate::nn::augment::Augment;
use crate::nn::device::DeviceChoice;
use crate::nn::optim::OptimizerKind;
use crate::numbers;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("length").args(["iters", "epochs"])))]
pub struct TrainArgs {
    /// Training data: an ImageFolder directory, a VisDA image list, or a synthgen output folder.
    #[arg(long, required_unless_present = "stream", conflicts_with = "stream")]
    pub train: Option<PathBuf>,
    /// `--stream PRESET` and its options (`--set`, `--weights`, `--keep`, `--queue`).
    #[command(flatten)]
    pub stream: stream::StreamArgs,
    /// An evaluation set as NAME=PATH (repeatable); PATH alone is named after its folder.
    #[arg(long = "eval", value_parser = parse_eval)]
    pub evals: Vec<(String, PathBuf)>,
    /// resnet18|resnet34|resnet50|resnet_tiny|vit_tiny|vit_s16|vit_b16|mixer_tiny|mixer_s16|mixer_b16|mixer_l16
    #[arg(long, default_value = "resnet50")]
    pub arch: String,
    #[arg(long = "aug", value_enum, default_value = "none")]
    pub aug: Augment,
    /// Optimisation steps (default: one epoch).
    #[arg(long, value_parser = numbers::count_u64, allow_negative_numbers = true)]
    pub iters: Option<u64>,
    /// Passes over the training set (fractions allowed).
    #[arg(long, value_parser = numbers::positive, allow_negative_numbers = true)]
    pub epochs: Option<f64>,
    #[arg(long, default_value_t = 128, value_parser = numbers::count_usize, allow_negative_numbers = true)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 0.01, value_parser = numbers::positive, allow_negative_numbers = true)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-4, value_parser = numbers::non_negative, allow_negative_numbers = true)]
    pub weight_decay: f64,
    /// The run folder: metrics, plots, checkpoints, summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue from <out>/checkpoint-last.* when present.
    #[arg(long)]
    pub resume: bool,
    /// Initial weights loaded by name: safetensors or a torchvision state dict saved by
    /// torch.save (.pth/.pt). Only the backbone is loaded: the head starts fresh, as the released
    /// code drops every `fc` key.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Also load a synthgen checkpoint's head when its shape matches (fine-tuning on the same
    /// classes).
    #[arg(long, requires = "init")]
    pub init_keep_head: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use each training image at most once (the run ends when the data runs out).
    #[arg(long)]
    pub non_repetitive: bool,
    /// Evaluate and checkpoint every K steps (default: 10 times per run).
    #[arg(long, value_parser = numbers::count_u64, allow_negative_numbers = true)]
    pub eval_every: Option<u64>,
    /// Input side in pixels; the resize side scales as S * 256 / 224. ViT and Mixer need a
    /// multiple of their patch.
    #[arg(long, default_value_t = 224, value_parser = numbers::count_u32, allow_negative_numbers = true)]
    pub image_size: u32,
    /// Decode/augment threads (default: all cores on CUDA, one on the CPU; libtorch always gets
    /// every core on the CPU, see device::thread_plan).
    #[arg(long, value_parser = numbers::count_usize, allow_negative_numbers = true)]
    pub workers: Option<usize>,
    #[arg(long, value_enum, default_value = "sgd")]
    pub optimizer: OptimizerKind,
    #[arg(long, default_value_t = 0)]
    pub warmup_iters: u64,
    /// Stop after this many steps as if interrupted (checkpoint kept; for resume checks).
    #[arg(long, hide = true, value_parser = numbers::count_u64, allow_negative_numbers = true)]
    pub stop_after: Option<u64>,
}

fn parse_eval(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        Some(_) => Err(format!(
            "`{s}` should be NAME=PATH, e.g. real=/data/visda/validation"
        )),
        None => {
            let path = PathBuf::from(s);
            let name = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "eval".into());
            Ok((name, path))
        }
    }
}

impl TrainArgs {
    pub fn to_config(&self) -> TrainConfig {
        let train = match (&self.train, &self.stream.stream) {
            (Some(t), _) => t.clone(),
            (None, s) => PathBuf::from(format!("stream:{}", s.as_deref().unwrap_or_default())),
        };
        let mut cfg = TrainConfig::new(train, self.out.clone());
        cfg.evals = self.evals.clone();
        cfg.arch = self.arch.clone();
        cfg.augment = self.aug;
        cfg.length = match (self.iters, self.epochs) {
            (Some(i), _) => Length::Iters(i),
            (None, Some(e)) => Length::Epochs(e),
            (None, None) => Length::Epochs(1.0),
        };
        cfg.batch_size = self.batch_size;
        cfg.lr = self.lr;
        cfg.weight_decay = self.weight_decay;
        cfg.optimizer = self.optimizer;
        cfg.warmup_iters = self.warmup_iters;
        cfg.resume = self.resume;
        cfg.init = self.init.clone();
        cfg.init_keep_head = self.init_keep_head;
        cfg.device = self.device;
        cfg.seed = self.seed;
        cfg.non_repetitive = self.non_repetitive;
        cfg.eval_every = self.eval_every;
        cfg.image_size = self.image_size;
        cfg.workers = self.workers;
        cfg.stop_after = self.stop_after;
        cfg.progress = true;
        cfg
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let cfg = args.to_config();
    let summary = train(&cfg)?;
    if summary.leader {
        print_summary(&cfg, &summary);
    }
    Ok(())
}

/// The last lines of a training run: evaluations and counts.
pub fn print_summary(cfg: &TrainConfig, summary: &RunSummary) {
    for (name, e) in &summary.evals {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}", 100.0 * v));
        println!(
            "{name}: last Acc {} Mean {} | best Acc {} (step {}) best Mean {} (step {})",
            pct(e.last_acc),
            pct(e.last_mean),
            pct(e.best_acc.map(|b| b.1)),
            e.best_acc.map_or(0, |b| b.0),
            pct(e.best_mean.map(|b| b.1)),
            e.best_mean.map_or(0, |b| b.0),
        );
    }
    println!(
        "{} after {} of {} steps, {} images ({:.1} img/s), {} skipped; outputs in {}",
        summary.status,
        summary.steps,
        summary.total_steps,
        summary.images_seen,
        summary.images_per_second,
        summary.skipped_images,
        cfg.out.display()
    );
}
