//! The labelled validation set of `--val`: an ImageFolder (`<dir>/<class>/<image>`) whose
//! class folders are class names of the preset, and the class of every probe image (from
//! the probe dataset's manifest) in the same label space.
use crate::dataset::manifest::{read_manifest, MANIFEST_FILE};
use crate::fit::descriptors::ImageItem;
use crate::fit::probes::pool::ProbePool;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Fewer labelled images than this say nothing about which levels help.
pub const MIN_VAL_IMAGES: usize = 4;
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "webp"];

#[derive(Debug, thiserror::Error)]
pub enum ValError {
    #[error("--val {0}: not a folder; pass a labelled validation folder laid out as <dir>/<class>/<image>")]
    Missing(PathBuf),
    #[error("--val {0}: no class sub-folders; lay it out as <dir>/<class>/<image> with the preset's class names")]
    NoClassFolders(PathBuf),
    #[error("--val {dir}: the folder `{class}` is not a class of the preset; valid class names: {valid}")]
    UnknownClass {
        dir: PathBuf,
        class: String,
        valid: String,
    },
    #[error("--val {dir}: {found} usable images ({unreadable} unreadable skipped); the refinement needs at least {min}: add labelled images")]
    TooFew {
        dir: PathBuf,
        found: usize,
        unreadable: usize,
        min: usize,
    },
    #[error("--val {dir}: class `{class}` has no images in the probe pool {probe}; render the probe with that class (--probe or the preset's classes)")]
    ClassNotInProbe {
        dir: PathBuf,
        class: String,
        probe: PathBuf,
    },
    #[error("probe {dir}: cannot read the classes of its images from {MANIFEST_FILE}: {why}")]
    ProbeClasses { dir: PathBuf, why: String },
}

/// A validation folder: images with labels indexing `classes` (sorted folder names).
#[derive(Debug, Clone)]
pub struct ValSet {
    pub dir: PathBuf,
    pub classes: Vec<String>,
    pub items: Vec<ImageItem>,
    pub labels: Vec<usize>,
}

impl ValSet {
    /// Lists `dir`; every class folder must be one of `preset_classes`.
    pub fn open(dir: &Path, preset_classes: &[String]) -> Result<Self, ValError> {
        if !dir.is_dir() {
            return Err(ValError::Missing(dir.to_path_buf()));
        }
        let entries = std::fs::read_dir(dir).map_err(|_| ValError::Missing(dir.to_path_buf()))?;
        let mut classes: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        classes.sort();
        if classes.is_empty() {
            return Err(ValError::NoClassFolders(dir.to_path_buf()));
        }
        if let Some(c) = classes.iter().find(|c| !preset_classes.contains(c)) {
            return Err(ValError::UnknownClass {
                dir: dir.to_path_buf(),
                class: c.clone(),
                valid: preset_classes.join(", "),
            });
        }
        let (mut items, mut labels) = (Vec::new(), Vec::new());
        for (label, class) in classes.iter().enumerate() {
            for entry in walkdir::WalkDir::new(dir.join(class))
                .follow_links(true)
                .sort_by_file_name()
                .into_iter()
                .filter_map(Result::ok)
            {
                let ext = entry
                    .path()
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase);
                if entry.file_type().is_file()
                    && ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
                {
                    items.push(ImageItem {
                        path: entry.into_path(),
                        mask: None,
                    });
                    labels.push(label);
                }
            }
        }
        let set = ValSet {
            dir: dir.to_path_buf(),
            classes,
            items,
            labels,
        };
        set.check_size(set.items.len(), 0)?;
        Ok(set)
    }

    /// Errors when fewer than MIN_VAL_IMAGES of the images are usable.
    pub fn check_size(&self, found: usize, unreadable: usize) -> Result<(), ValError> {
        if found < MIN_VAL_IMAGES {
            return Err(ValError::TooFew {
                dir: self.dir.clone(),
                found,
                unreadable,
                min: MIN_VAL_IMAGES,
            });
        }
        Ok(())
    }

    /// The label of every probe image in this set's classes (`None`: a class the validation
    /// set does not have). Every validation class must occur in the probe.
    pub fn probe_labels(&self, pool: &ProbePool) -> Result<Vec<Option<usize>>, ValError> {
        let records =
            read_manifest(&pool.dir.join(MANIFEST_FILE)).map_err(|e| ValError::ProbeClasses {
                dir: pool.dir.clone(),
                why: e.to_string(),
            })?;
        let class_of: HashMap<PathBuf, &str> = records
            .iter()
            .map(|r| (pool.dir.join(&r.path), r.class.as_str()))
            .collect();
        let labels: Vec<Option<usize>> = pool
            .items
            .iter()
            .map(|i| {
                let c = class_of.get(&i.path)?;
                self.classes.iter().position(|k| k == c)
            })
            .collect();
        for (k, class) in self.classes.iter().enumerate() {
            if !labels.contains(&Some(k)) {
                return Err(ValError::ClassNotInProbe {
                    dir: self.dir.clone(),
                    class: class.clone(),
                    probe: pool.dir.clone(),
                });
            }
        }
        Ok(labels)
    }
}
