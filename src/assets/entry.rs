//! One model of any catalog, as plain serializable data.
use super::error::AssetError;
use super::model_cache::ModelCache;
use crate::scene::contract::ModelRef;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where a model's main file lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelLocation {
    /// Inside a zip archive (Sweet Home 3D `.sh3f`): extracted on demand by `ModelCache`.
    Archive {
        archive: PathBuf,
        /// Path inside the archive, without a leading `/`.
        model_path: String,
    },
    /// A plain file on disk (e.g. ShapeNet's `<synset>/<model>/model.obj`), used in place.
    File { path: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// Stable and unique over all sources: "sweethome3d:<catalog id>", "shapenet:<synset>/<id>".
    pub key: String,
    /// "sweethome3d", later "shapenet".
    pub source: String,
    pub name: String,
    pub category: String,
    pub tags: Vec<String>,
    pub creator: String,
    pub license: String,
    /// Real-world width, depth, height in centimetres (0 when the source does not say).
    pub size_cm: [f32; 3],
    pub location: ModelLocation,
    /// "obj".
    pub format: String,
    /// "Y" or "Z".
    pub up_axis: String,
    /// Row-major 3x3 rotation Sweet Home 3D applies to the file to stand it upright and turn
    /// its front to +Z, when not identity. Its up axis is folded into `up_axis`; the rest (the
    /// turn about the vertical, any tilt) reaches the renderer as `ModelRef::rotation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_rotation: Option<[f32; 9]>,
    /// The dataset class this model stands for, set by a `ClassMap`.
    #[serde(default)]
    pub class: Option<String>,
}

impl ModelEntry {
    /// Makes the model's file available on disk (extracting it if needed) and describes it
    /// for a render worker.
    pub fn to_model_ref(&self, cache: &ModelCache) -> Result<ModelRef, AssetError> {
        let path = cache.materialize(self)?;
        Ok(ModelRef {
            key: self.key.clone(),
            path,
            format: self.format.clone(),
            up_axis: self.up_axis.clone(),
            rotation: self.rotation_after_import().map(Box::new),
        })
    }

    /// What the renderer must still turn the model by after importing it with `up_axis`
    /// (row-major, Blender's frame), or None when nothing.
    pub fn rotation_after_import(&self) -> Option<[f64; 9]> {
        self.model_rotation
            .as_ref()
            .and_then(|r| super::orientation::after_import(r, &self.up_axis))
    }
}

/// A model a source left out of its catalog, and why (shown to the user, so a sentence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedModel {
    /// Where it was found: "<archive file>#<index>" or a path.
    pub origin: String,
    /// The model's name or id when known.
    pub label: String,
    pub reason: String,
}
