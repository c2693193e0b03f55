//! Model catalogs: the embedded Sweet Home 3D furniture, class maps, extraction cache, splits.
//!
//! A `Catalog` holds `ModelEntry`s of any `ModelSource`; a `ClassMap` (YAML rules under
//! `shapenet_index/`) gives each its class; `ModelCache` extracts a model on demand and
//! `ModelEntry::to_model_ref` turns it into what a render worker imports.
pub mod catalog;
pub mod class_map;
pub mod entry;
pub mod error;
mod index_cache;
pub mod model_cache;
pub mod properties;
pub mod split;
pub mod sweethome3d;
#[cfg(test)]
mod test_zip;

pub use catalog::{Catalog, ModelSource, SourceScan};
pub use class_map::{ClassMap, ClassRule, Field};
pub use entry::{ModelEntry, ModelLocation, SkippedModel};
pub use error::AssetError;
pub use model_cache::ModelCache;
pub use split::{split_models, ModelSplit};
pub use sweethome3d::SweetHome3dSource;
#[cfg(test)]
mod real_catalog_tests;
