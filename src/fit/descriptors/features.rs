//! Where a fit's image features come from: the handcrafted descriptors, the pooled
//! penultimate features of a trained synthgen checkpoint, or both side by side. The
//! measure standardises every column, so the two kinds need no common scale.
use crate::fit::descriptors::{describe_all, ImageItem, BASE_NAMES, MASK_NAMES};
use std::path::{Path, PathBuf};

/// `--features`: which features the fit matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FeatureKind {
    /// The handcrafted descriptors (colour, contrast, edges, spectrum, mask statistics).
    Descriptors,
    /// A trained checkpoint's pooled penultimate features (needs --checkpoint).
    Checkpoint,
    /// Descriptors and checkpoint features concatenated.
    Both,
}

/// `--device` of the checkpoint features (the trainer's choices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FeatureDevice {
    Cpu,
    Cuda,
    /// CUDA when a GPU is usable, else the CPU.
    Auto,
}

#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error("--features {kind} needs --checkpoint <file>: a `synthgen train` checkpoint such as <run>/checkpoint-last.safetensors")]
    MissingCheckpoint { kind: &'static str },
    #[error("--checkpoint {0} is given but --features is descriptors; add --features checkpoint or --features both to use it")]
    UnusedCheckpoint(PathBuf),
    #[error("{what} needs checkpoint features or a trained model, but this synthgen was built without the train feature; rebuild with default features")]
    NoTrainFeature { what: &'static str },
    #[cfg(feature = "train")]
    #[error(transparent)]
    Checkpoint(#[from] crate::nn::TrainError),
}

impl FeatureError {
    /// True when the user's input is at fault (exit code 2).
    pub fn is_input_error(&self) -> bool {
        match self {
            #[cfg(feature = "train")]
            FeatureError::Checkpoint(e) => e.is_input_error(),
            _ => true,
        }
    }
}

/// The feature source of one fit: target, probe and validation images all go through it.
#[derive(Debug)]
pub enum FeatureSource {
    Descriptors,
    #[cfg(feature = "train")]
    Checkpoint {
        net: super::deep_features::DeepFeatures,
        /// `both`: the descriptors first, then the checkpoint features.
        with_descriptors: bool,
    },
}

impl FeatureSource {
    /// Opens the source that `--features` and `--checkpoint` ask for; a checkpoint is
    /// loaded here, so a bad file fails before any image is read.
    pub fn open(
        kind: FeatureKind,
        checkpoint: Option<&Path>,
        device: FeatureDevice,
    ) -> Result<Self, FeatureError> {
        let name = match kind {
            FeatureKind::Descriptors => {
                return match checkpoint {
                    Some(c) => Err(FeatureError::UnusedCheckpoint(c.to_path_buf())),
                    None => Ok(FeatureSource::Descriptors),
                }
            }
            FeatureKind::Checkpoint => "checkpoint",
            FeatureKind::Both => "both",
        };
        let Some(file) = checkpoint else {
            return Err(FeatureError::MissingCheckpoint { kind: name });
        };
        open_checkpoint(kind, file, device)
    }

    /// Features of every item, in order; unreadable images come back as `None`.
    /// `with_mask` adds the descriptors' object/background statistics.
    pub fn describe(
        &self,
        items: &[ImageItem],
        with_mask: bool,
    ) -> Result<Vec<Option<Vec<f32>>>, FeatureError> {
        match self {
            FeatureSource::Descriptors => Ok(describe_all(items, with_mask)),
            #[cfg(feature = "train")]
            FeatureSource::Checkpoint {
                net,
                with_descriptors,
            } => {
                let deep = net.extract(items)?;
                if !with_descriptors {
                    return Ok(deep);
                }
                let hand = describe_all(items, with_mask);
                Ok(hand
                    .into_iter()
                    .zip(deep)
                    .map(|(h, d)| match (h, d) {
                        (Some(mut h), Some(d)) => {
                            h.extend(d);
                            Some(h)
                        }
                        _ => None,
                    })
                    .collect())
            }
        }
    }

    /// The columns of a `describe(.., with_mask)` row that do not need a mask, so features
    /// of mask-less images (a validation folder) line up with them.
    pub fn maskless_columns(&self, dim: usize, with_mask: bool) -> Vec<usize> {
        let has_descriptors = match self {
            FeatureSource::Descriptors => true,
            #[cfg(feature = "train")]
            FeatureSource::Checkpoint {
                with_descriptors, ..
            } => *with_descriptors,
        };
        // Descriptor rows are BASE_NAMES then MASK_NAMES; checkpoint features follow them.
        let (lo, hi) = (BASE_NAMES.len(), BASE_NAMES.len() + MASK_NAMES.len());
        (0..dim)
            .filter(|c| !(has_descriptors && with_mask && (lo..hi).contains(c)))
            .collect()
    }

    /// A one-line description for logs and the weights file.
    pub fn describe_source(&self) -> String {
        match self {
            FeatureSource::Descriptors => "descriptors".into(),
            #[cfg(feature = "train")]
            FeatureSource::Checkpoint {
                net,
                with_descriptors,
            } => format!(
                "{}{} ({}-d, {} at {} px)",
                if *with_descriptors {
                    "descriptors + "
                } else {
                    ""
                },
                net.file.display(),
                net.dim,
                net.arch,
                net.image_size
            ),
        }
    }
}

#[cfg(feature = "train")]
fn open_checkpoint(
    kind: FeatureKind,
    file: &Path,
    device: FeatureDevice,
) -> Result<FeatureSource, FeatureError> {
    use crate::nn::device::DeviceChoice;
    let choice = match device {
        FeatureDevice::Cpu => DeviceChoice::Cpu,
        FeatureDevice::Cuda => DeviceChoice::Cuda,
        FeatureDevice::Auto => DeviceChoice::Auto,
    };
    let net = super::deep_features::DeepFeatures::load(file, choice)?;
    Ok(FeatureSource::Checkpoint {
        net,
        with_descriptors: kind == FeatureKind::Both,
    })
}

#[cfg(not(feature = "train"))]
fn open_checkpoint(
    _: FeatureKind,
    _: &Path,
    _: FeatureDevice,
) -> Result<FeatureSource, FeatureError> {
    Err(FeatureError::NoTrainFeature {
        what: "--features checkpoint|both",
    })
}
