//! Typed errors of `synthgen adapt`; trainer errors (datasets, checkpoints, libtorch) pass
//! through unchanged.
use std::path::PathBuf;

use crate::nn::TrainError;

#[derive(Debug, thiserror::Error)]
pub enum AdaptError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error("The target {path} holds no images: {why}. Pass a folder of images (flat or one sub-folder per class) or a VisDA image list.")]
    NoTargetImages { path: PathBuf, why: String },
    #[error("The classes of {what} ({path}) differ from the source's: only in the source: [{only_source}]; only in {what}: [{only_other}]. Use the same class folders (same names) on both sides.")]
    ClassMismatch {
        what: String,
        path: PathBuf,
        only_source: String,
        only_other: String,
    },
    #[error("--{flag} {value} is not usable: {why}.")]
    BadOption {
        flag: &'static str,
        value: String,
        why: String,
    },
}

impl AdaptError {
    /// True when the user's input is at fault; the CLI then exits with code 2.
    pub fn is_input_error(&self) -> bool {
        match self {
            AdaptError::Train(t) => t.is_input_error(),
            AdaptError::NoTargetImages { .. }
            | AdaptError::ClassMismatch { .. }
            | AdaptError::BadOption { .. } => true,
        }
    }
}
