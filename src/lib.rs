//! synthgen: domain-randomized synthetic datasets rendered with Blender, and a tch trainer.
//!
//! The data flow (see docs/DESIGN.md): preset -> sample (SceneParams) -> render (Blender worker
//! pool) -> validate -> dataset; target images -> fit -> weights; datasets -> train / adapt.
#[cfg(feature = "train")]
pub mod adapt;
pub mod assets;
pub mod cli;
pub mod composite;
pub mod dataset;
#[cfg(feature = "train")]
pub mod engine;
pub mod fit;
pub mod fsio;
#[cfg(feature = "train")]
pub mod nn;
pub mod numbers;
pub mod paths;
pub mod preset;
pub mod progress;
pub mod render;
pub mod sample;
pub mod scene;
#[cfg(feature = "train")]
pub mod study;
#[cfg(feature = "train")]
pub mod train;
pub mod validate;
