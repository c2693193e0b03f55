//! Model catalogs: the embedded Sweet Home 3D furniture, class maps, extraction cache, splits.
//!
//! A `Catalog` holds `ModelEntry`s of any `ModelSource`; a `ClassMap` (YAML rules under
//! `shapenet_index/`) gives each its class; `ModelCache` extracts a model on demand and
//! `ModelEntry::to_model_ref` turns it into what a render worker imports. A user's
//! ShapeNetCore tree is indexed by `shapenet`, and `benchmark` maps its synsets (and Sweet
//! Home 3D classes) to the class folders of S2RDA-49, S2RDA-MS-39 and SubVisDA-10.
pub mod benchmark;
pub mod catalog;
pub mod class_map;
pub mod entry;
pub mod error;
pub mod geometry;
mod index_cache;
pub mod look;
pub mod model_cache;
pub mod orientation;
pub mod properties;
pub mod shapenet;
pub mod shapenet_denylist;
pub mod split;
pub mod sweethome3d;
#[cfg(test)]
mod test_zip;

pub use benchmark::BenchmarkMap;
pub use catalog::{Catalog, ModelSource, SourceScan};
pub use class_map::{ClassMap, ClassRule, Field};
pub use entry::{ModelEntry, ModelLocation, SkippedModel};
pub use error::AssetError;
pub use model_cache::ModelCache;
pub use shapenet::{ShapeNetIndex, ShapeNetSource, Taxonomy};
pub use shapenet_denylist::ShapeNetDenylist;
pub use split::{split_models, ModelSplit};
pub use sweethome3d::SweetHome3dSource;
#[cfg(test)]
pub(crate) mod real_catalog_tests;
