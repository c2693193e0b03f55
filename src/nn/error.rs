//! Typed errors of the trainer library; every message names the file, field or line and the fix.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("The dataset path {0} does not exist; pass an ImageFolder directory, a VisDA image list or a synthgen output folder.")]
    MissingDataset(PathBuf),
    #[error("The dataset {path} holds no images: {why}.")]
    EmptyDataset { path: PathBuf, why: String },
    #[error("Line {line} of the image list {path} is not `relative/path label`: {why}.")]
    BadListLine {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error("The class list {path} does not fit the image list: {why}.")]
    BadClassList { path: PathBuf, why: String },
    #[error("The classes of the evaluation set `{eval}` differ from the training set's: only in training: [{only_train}]; only in `{eval}`: [{only_eval}]. Use sets with the same class folders.")]
    ClassMismatch {
        eval: String,
        only_train: String,
        only_eval: String,
    },
    #[error("Could not read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Unknown architecture `{0}`; use one of resnet18, resnet34, resnet50, resnet_tiny, vit_tiny, vit_s16, vit_b16, mixer_tiny, mixer_s16, mixer_b16, mixer_l16.")]
    UnknownArch(String),
    #[error("The image size {size} (--image-size) does not suit {arch}: {why}.")]
    BadImageSize {
        arch: String,
        size: i64,
        why: String,
    },
    #[error("--{flag} {value} is not usable: {why}.")]
    BadNumber {
        flag: &'static str,
        value: String,
        why: String,
    },
    #[error("The checkpoint {path} cannot be used: {why}.")]
    BadCheckpoint { path: PathBuf, why: String },
    #[error("libtorch failed: {0}")]
    Torch(#[from] tch::TchError),
    #[error("The loss became {value} at step {step}; training stopped. The last good checkpoint is kept in {out}; lower --lr or add --warmup-iters.")]
    NonFiniteLoss { value: f64, step: u64, out: PathBuf },
    #[error("{0}")]
    Device(String),
    #[error("Could not write {path}: {why}.")]
    Write { path: PathBuf, why: String },
    #[error("The render stream cannot start: {0}")]
    StreamSetup(String),
    #[error("The render stream failed: {0}. Fix the cause and run again with --resume.")]
    Stream(String),
    #[error("The shards {path} cannot be read: {why}.")]
    Shards { path: PathBuf, why: String },
    #[error("Could not draw the plot {path}: {why}.")]
    Plot { path: PathBuf, why: String },
    /// A rendezvous or collective of data-parallel training failed.
    #[error(transparent)]
    Distributed(#[from] crate::nn::distributed::DistError),
    /// What data-parallel mode does not support (one line with the alternative).
    #[error("{0}")]
    NotDataParallel(String),
}

impl TrainError {
    /// True when the user's input is at fault (paths, lists, classes, flags, checkpoints):
    /// the CLI then exits with code 2 instead of 1.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            TrainError::MissingDataset(_)
                | TrainError::EmptyDataset { .. }
                | TrainError::BadListLine { .. }
                | TrainError::BadClassList { .. }
                | TrainError::ClassMismatch { .. }
                | TrainError::UnknownArch(_)
                | TrainError::BadImageSize { .. }
                | TrainError::BadNumber { .. }
                | TrainError::BadCheckpoint { .. }
                | TrainError::StreamSetup(_)
                | TrainError::NotDataParallel(_)
                | TrainError::Distributed(crate::nn::distributed::DistError::BadEnv { .. })
                | TrainError::Shards { .. }
        )
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
}
