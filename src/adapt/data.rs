//! The adaptation inputs: a labelled source, a target whose labels (if any) are never used for
//! training, and optional labelled target-evaluation data with the source's classes.
use std::path::Path;

use super::error::AdaptError;
use crate::nn::data::{ImageSet, Sample};
use crate::nn::TrainError;

const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "webp"];

/// Target images; `labelled` is set when they came with labels of the source's classes.
pub struct TargetSet {
    pub samples: Vec<Sample>,
    pub labelled: Option<ImageSet>,
}

/// Opens the target: a labelled set in any layout the trainer reads, shards included (its
/// labels count only when its classes are the source's), or a flat folder of unlabelled images
/// (recursive).
pub fn open_target(path: &Path, source: &ImageSet) -> Result<TargetSet, AdaptError> {
    match ImageSet::open(path) {
        Ok(set) => {
            // Labels are kept only for evaluation; training batches drop them. Sub-folders
            // that are not the source's classes (e.g. `target/images/*.jpg`) are no labels.
            let labelled = match check_classes(source, &set, "the target") {
                Ok(()) => Some(set.clone()),
                Err(e) => {
                    tracing::warn!("target labels are not used for evaluation: {e}");
                    None
                }
            };
            Ok(TargetSet {
                samples: set.samples,
                labelled,
            })
        }
        Err(TrainError::EmptyDataset { .. }) if path.is_dir() => {
            let mut samples: Vec<Sample> = walkdir::WalkDir::new(path)
                .follow_links(true)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file() && has_image_extension(e.path()))
                .map(|e| Sample::file(e.into_path(), 0))
                .collect();
            samples.sort_by(|a, b| a.path.cmp(&b.path));
            if samples.is_empty() {
                return Err(AdaptError::NoTargetImages {
                    path: path.to_path_buf(),
                    why: "no .png/.jpg/.jpeg/.bmp/.webp files were found in it or its sub-folders"
                        .into(),
                });
            }
            Ok(TargetSet {
                samples,
                labelled: None,
            })
        }
        Err(TrainError::EmptyDataset { why, .. }) => Err(AdaptError::NoTargetImages {
            path: path.to_path_buf(),
            why,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Opens a labelled evaluation set and checks its classes against the source.
pub fn open_eval(path: &Path, source: &ImageSet) -> Result<ImageSet, AdaptError> {
    let set = ImageSet::open_evaluation(path)?;
    check_classes(source, &set, "--target-eval")?;
    Ok(set)
}

/// Same class names in the same order (another order would silently permute labels).
pub fn check_classes(source: &ImageSet, other: &ImageSet, what: &str) -> Result<(), AdaptError> {
    if source.classes == other.classes {
        return Ok(());
    }
    let only = |a: &ImageSet, b: &ImageSet| {
        a.classes
            .iter()
            .filter(|c| !b.classes.contains(c))
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (only_source, only_other) = match (only(source, other), only(other, source)) {
        (a, b) if a.is_empty() && b.is_empty() => (
            format!("none, but in the order {}", source.classes.join(",")),
            format!("none, but in the order {}", other.classes.join(",")),
        ),
        pair => pair,
    };
    Err(AdaptError::ClassMismatch {
        what: what.to_string(),
        path: other.source.clone(),
        only_source,
        only_other,
    })
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}
