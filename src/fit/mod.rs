//! `synthgen fit`: weighted rendering. Learns, from target images, how often each level of
//! each variation factor should be rendered (see docs/FIT.md).
//!
//! `levels` maps preset parameters to levels, `weights` is the overlay file, `descriptors`
//! turns images into feature vectors (`features` chooses them, a checkpoint's from
//! `deep_features`, or both), `mmd` builds kernels and `optimise` fits the weights;
//! `classes` adds per-class weights when the target is labelled; `val_set`, `refine` and
//! `align` refine the weights on a labelled validation set (`--val`); `report` draws the
//! chart (labels in `font`'s bitmap font) and sample grids; `job` runs a whole fit (probe
//! renders, rounds, outputs) for the command and the study.
#[cfg(feature = "train")]
pub mod align;
pub mod classes;
#[cfg(feature = "train")]
pub mod deep_features;
pub mod descriptors;
pub mod features;
mod font;
pub mod job;
pub mod levels;
pub mod mmd;
pub mod optimise;
pub mod pool;
pub mod refine;
pub mod report;
pub mod run;
pub mod val_set;
pub mod weights;

pub use levels::{fit_space, FactorLevels, Levels, FIT_FACTORS};
pub use weights::{LevelWeights, Overlay, WeightsError};
