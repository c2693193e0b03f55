//! The image sets of a fit: the probe pool (a rendered dataset whose manifest gives every
//! image's level per factor) and the target (a folder of images, or a rendered dataset).
use crate::dataset::layout::PRESET_FILE;
use crate::dataset::manifest::{read_manifest, MANIFEST_FILE};
use crate::fit::descriptors::ImageItem;
use crate::fit::levels::{dist_of, fit_space, observed, FactorLevels};
use crate::preset::Preset;
use std::path::{Path, PathBuf};

/// Fewer target images than this cannot define a distribution worth matching.
pub const MIN_TARGET_IMAGES: usize = 10;
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "webp"];

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("target {dir}: {message}")]
    Target { dir: String, message: String },
    #[error("target {dir}: {found} usable images ({unreadable} unreadable skipped); a fit needs at least {min}: add images or point --target at the right folder")]
    TooFewTargets {
        dir: String,
        found: usize,
        unreadable: usize,
        min: usize,
    },
    #[error("probe {dir}: {message}")]
    Probe { dir: String, message: String },
    #[error(transparent)]
    Features(#[from] crate::fit::descriptors::features::FeatureError),
    #[error("preset {preset} has no factor with two or more levels to reweight; a fit needs a preset that varies scale, camera, light, material or background")]
    NothingToFit { preset: String },
}

/// A rendered probe dataset seen through the levels of the base preset.
#[derive(Debug, Clone)]
pub struct ProbePool {
    pub dir: PathBuf,
    pub items: Vec<ImageItem>,
    /// draws[f][i]: levels of factor f in image i.
    pub draws: Vec<Vec<Vec<usize>>>,
    /// Level masses of the preset the probe was rendered with, per factor.
    pub proposal: Vec<Vec<f64>>,
    /// Manifest records whose values fall outside the base preset's levels (left out).
    pub dropped: usize,
    /// The class of each image (from the manifest), for per-class fits.
    pub classes: Vec<String>,
}

impl ProbePool {
    pub fn load(dir: &Path, space: &[FactorLevels]) -> Result<Self, FitError> {
        let err = |message: String| FitError::Probe {
            dir: dir.display().to_string(),
            message,
        };
        let records = read_manifest(&dir.join(MANIFEST_FILE)).map_err(|e| err(e.to_string()))?;
        if records.is_empty() {
            return Err(err(format!(
                "no {MANIFEST_FILE} records; pass a dataset rendered by `synthgen render` (or leave --probe out to render one)"
            )));
        }
        let preset_file = dir.join(PRESET_FILE);
        let probe_preset = Preset::load(&preset_file.display().to_string(), &[])
            .map_err(|e| err(format!("cannot read its {PRESET_FILE}: {e}")))?;
        // One proposal for the whole pool: per-class factors would need one per image.
        if !probe_preset.class_factors.is_empty() {
            return Err(err(format!(
                "its {PRESET_FILE} has per-class factors (class_factors, from a weights file with a classes: section); use a probe rendered without one, or leave --probe out"
            )));
        }
        let proposal = space
            .iter()
            .map(|f| f.masses(&dist_of(&probe_preset.factors, f.path)))
            .collect();
        let mut items = Vec::new();
        let mut draws = vec![Vec::new(); space.len()];
        let mut dropped = 0;
        let mut classes = Vec::new();
        'records: for r in &records {
            let mut levels = Vec::with_capacity(space.len());
            for f in space {
                let obs = observed(&r.params, f.path);
                let l: Option<Vec<usize>> = obs.iter().map(|o| f.level_of(o)).collect();
                match l {
                    Some(l) => levels.push(l),
                    None => {
                        dropped += 1;
                        continue 'records;
                    }
                }
            }
            for (f, l) in levels.into_iter().enumerate() {
                draws[f].push(l);
            }
            items.push(ImageItem {
                path: dir.join(&r.path),
                mask: r.mask.as_ref().map(|m| dir.join(m)),
            });
            classes.push(r.class.clone());
        }
        if items.is_empty() {
            return Err(err(format!(
                "none of its {} images fits the levels of the preset being fitted; render the probe from the same preset",
                records.len()
            )));
        }
        Ok(ProbePool {
            dir: dir.to_path_buf(),
            items,
            draws,
            proposal,
            dropped,
            classes,
        })
    }

    /// The indices of the images of `class`.
    pub fn indices_of(&self, class: &str) -> Vec<usize> {
        (0..self.items.len())
            .filter(|i| self.classes[*i] == class)
            .collect()
    }

    /// The images at `indices`, with the same proposal.
    pub fn subset(&self, indices: &[usize]) -> ProbePool {
        ProbePool {
            dir: self.dir.clone(),
            items: indices.iter().map(|i| self.items[*i].clone()).collect(),
            draws: self
                .draws
                .iter()
                .map(|d| indices.iter().map(|i| d[*i].clone()).collect())
                .collect(),
            proposal: self.proposal.clone(),
            dropped: 0,
            classes: indices.iter().map(|i| self.classes[*i].clone()).collect(),
        }
    }

    /// Keeps only the images at `keep` (e.g. those whose descriptors could be computed).
    pub fn retain(&mut self, keep: &[bool]) {
        let mut k = keep.iter();
        self.items.retain(|_| *k.next().unwrap_or(&false));
        let mut k = keep.iter();
        self.classes.retain(|_| *k.next().unwrap_or(&false));
        for d in &mut self.draws {
            let mut k = keep.iter();
            d.retain(|_| *k.next().unwrap_or(&false));
        }
    }
}

/// The images of a target folder: a rendered dataset (its manifest, with masks) or any
/// folder of images (searched recursively).
pub fn list_target(dir: &Path) -> Result<Vec<ImageItem>, FitError> {
    let err = |message: String| FitError::Target {
        dir: dir.display().to_string(),
        message,
    };
    if !dir.is_dir() {
        return Err(err(
            "not a folder; pass a folder of target images with --target".into(),
        ));
    }
    let manifest = dir.join(MANIFEST_FILE);
    if manifest.is_file() {
        let records = read_manifest(&manifest).map_err(|e| err(e.to_string()))?;
        return Ok(records
            .iter()
            .map(|r| ImageItem {
                path: dir.join(&r.path),
                mask: r.mask.as_ref().map(|m| dir.join(m)),
            })
            .collect());
    }
    let mut items = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| err(format!("cannot list: {e}")))?;
        let ext = entry
            .path()
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let in_masks = entry
            .path()
            .strip_prefix(dir)
            .ok()
            .and_then(|p| p.components().next())
            .is_some_and(|c| c.as_os_str() == "masks");
        if entry.file_type().is_file()
            && !in_masks
            && ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
        {
            items.push(ImageItem {
                path: entry.into_path(),
                mask: None,
            });
        }
    }
    Ok(items)
}

/// The fitted factors of a preset, or an error when it has none.
pub fn space_of(preset: &Preset) -> Result<Vec<FactorLevels>, FitError> {
    let space = fit_space(preset);
    if space.is_empty() {
        return Err(FitError::NothingToFit {
            preset: preset.name.clone(),
        });
    }
    Ok(space)
}
