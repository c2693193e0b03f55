//! `synthgen adapt`: unsupervised domain adaptation from labelled synthetic source data to
//! unlabelled real target data, with the trainer's loader, backbones, metrics and checkpoints.
//!
//! Parts: `method` (method names, setup, builder, shared losses), `methods/*` (one module per
//! method, each an `engine::TrainStep`), `grl` (gradient reversal), `data` (source / target /
//! target-eval sets), `runner` (the engine's configuration for adaptation and the summary),
//! `evaluate` (the t-SNE picture), `tsne` (the embedding and its drawing). Only this file
//! knows about clap.
use std::path::PathBuf;

pub mod data;
pub mod error;
mod evaluate;
pub mod grl;
pub mod method;
pub mod methods;
pub mod runner;
pub mod tsne;

pub use error::AdaptError;
pub use method::MethodKind;
pub use runner::{adapt, adapt_streamed, check_streamable, AdaptConfig, AdaptSummary};

use crate::nn::augment::Augment;
use crate::nn::device::DeviceChoice;
use crate::numbers;

#[derive(Debug, clap::Args)]
pub struct AdaptArgs {
    /// Labelled source data: an ImageFolder directory, a VisDA image list or a synthgen output.
    #[arg(long, required_unless_present = "stream", conflicts_with = "stream")]
    pub source: Option<PathBuf>,
    /// `--stream PRESET` and its options (`--set`, `--weights`, `--keep`, `--queue`).
    #[command(flatten)]
    pub stream: crate::train::stream::StreamArgs,
    /// Target data: a folder of images (flat or per class) or an image list. Labels, if any,
    /// are used for evaluation only, never for training.
    #[arg(long)]
    pub target: PathBuf,
    /// Labelled target data to evaluate on (default: the target itself when it has labels).
    #[arg(long)]
    pub target_eval: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub method: MethodKind,
    /// resnet18|resnet34|resnet50|resnet_tiny|vit_tiny|vit_s16|vit_b16|mixer_*
    #[arg(long, default_value = "resnet50")]
    pub arch: String,
    /// Pre-trained backbone (safetensors, e.g. a `synthgen train` checkpoint); only backbone
    /// tensors are loaded (the released code drops every `fc` key) and the backbone lr is then
    /// multiplied by 0.1. Without it the backbone trains from scratch (a warning says so).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// The run folder: metrics, plots, checkpoints, tsne.png, summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Epochs of max(len(source), len(target)) / batch-size iterations.
    #[arg(long, default_value_t = 20.0, value_parser = numbers::positive, allow_negative_numbers = true)]
    pub epochs: f64,
    /// Iterations (overrides --epochs).
    #[arg(long, value_parser = numbers::count_u64, allow_negative_numbers = true)]
    pub iters: Option<u64>,
    /// Images per domain per iteration (64 source + 64 target by default).
    #[arg(long, default_value_t = 64, value_parser = numbers::count_usize, allow_negative_numbers = true)]
    pub batch_size: usize,
    /// Base learning rate (default: 1e-4, MCD 1e-3).
    #[arg(long, value_parser = numbers::positive, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    #[arg(long, default_value_t = 1e-4, value_parser = numbers::non_negative, allow_negative_numbers = true)]
    pub weight_decay: f64,
    #[arg(long = "aug", value_enum, default_value = "weak")]
    pub aug: Augment,
    /// Input side in pixels (ViT and Mixer need a multiple of their patch).
    #[arg(long, default_value_t = 224, value_parser = numbers::count_u32, allow_negative_numbers = true)]
    pub image_size: u32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Decode/augment threads (default: all cores on CUDA, one on the CPU).
    #[arg(long, value_parser = numbers::count_usize, allow_negative_numbers = true)]
    pub workers: Option<usize>,
    /// Evaluate every K iterations (default: 200 evaluations per run).
    #[arg(long, value_parser = numbers::count_u64, allow_negative_numbers = true)]
    pub eval_every: Option<u64>,
    /// Points per domain in tsne.png (0: no picture).
    #[arg(long, default_value_t = 500)]
    pub tsne_points: usize,
    /// Continue from <out>/checkpoint-last.* when present (same result as an uninterrupted run).
    #[arg(long)]
    pub resume: bool,
    /// SRDC's bottleneck width (default: the released 128 x block expansion: 512 for ResNet-50).
    #[arg(long, value_parser = numbers::count_i64, allow_negative_numbers = true)]
    pub srdc_bottleneck: Option<i64>,
    /// Dropout of MCD's classifiers (released: 0.5).
    #[arg(long, default_value_t = 0.5, value_parser = numbers::dropout, allow_negative_numbers = true)]
    pub mcd_dropout: f64,
    /// Stop after this many iterations as if interrupted (checkpoint kept; for resume checks).
    #[arg(long, hide = true, value_parser = numbers::count_u64, allow_negative_numbers = true)]
    pub stop_after: Option<u64>,
}

impl AdaptArgs {
    pub fn to_config(&self) -> AdaptConfig {
        let source = match (&self.source, &self.stream.stream) {
            (Some(s), _) => s.clone(),
            (None, s) => PathBuf::from(format!("stream:{}", s.as_deref().unwrap_or_default())),
        };
        let mut cfg = AdaptConfig::new(source, self.target.clone(), self.method, self.out.clone());
        cfg.target_eval = self.target_eval.clone();
        cfg.arch = self.arch.clone();
        cfg.init = self.init.clone();
        cfg.epochs = self.epochs;
        cfg.iters = self.iters;
        cfg.batch_size = self.batch_size;
        cfg.lr = self.lr;
        cfg.weight_decay = self.weight_decay;
        cfg.augment = self.aug;
        cfg.image_size = self.image_size;
        cfg.seed = self.seed;
        cfg.device = self.device;
        cfg.workers = self.workers;
        cfg.eval_every = self.eval_every;
        cfg.tsne_points = self.tsne_points;
        cfg.resume = self.resume;
        cfg.srdc_bottleneck = self.srdc_bottleneck;
        cfg.mcd_dropout = self.mcd_dropout;
        cfg.stop_after = self.stop_after;
        cfg.progress = true;
        cfg
    }
}

pub fn run(args: AdaptArgs) -> anyhow::Result<()> {
    let cfg = args.to_config();
    let s = adapt(&cfg)?;
    if s.leader {
        print_summary(&cfg, &s);
    }
    Ok(())
}

/// The result lines of a finished adaptation.
pub fn print_summary(cfg: &AdaptConfig, s: &AdaptSummary) {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}", 100.0 * v));
    for (name, e) in &s.evals {
        println!(
            "{name}: best Acc {} (iter {}) best Mean {} (iter {}) | last Acc {} Mean {}",
            pct(e.best_acc.map(|b| b.1)),
            e.best_acc.map_or(0, |b| b.0),
            pct(e.best_mean.map(|b| b.1)),
            e.best_mean.map_or(0, |b| b.0),
            pct(e.last_acc),
            pct(e.last_mean),
        );
    }
    println!(
        "{} {} after {} of {} iterations ({:.2} it/s), {} images skipped; outputs in {}",
        s.method.name(),
        s.status,
        s.steps,
        s.total_steps,
        s.iterations_per_second,
        s.skipped_images,
        cfg.out.display()
    );
}
