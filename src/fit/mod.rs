//! `synthgen fit`: weighted rendering. Learns, from target images, how often each level of
//! each variation factor should be rendered (see docs/FIT.md).
//!
//! `levels` maps preset parameters to levels and `weights` is the overlay file; the folders
//! hold one concept each:
//! - `descriptors/`: images to feature vectors (`features` chooses them: the handcrafted ones
//!   of `descriptors`, a checkpoint's from `deep_features`, or both);
//! - `optimisation/`: `mmd` builds kernels and `optimise` fits the weights; `classes` adds
//!   per-class weights when the target is labelled; `val_set`, `refine` and `align` refine the
//!   weights on a labelled validation set (`--val`);
//! - `probes/`: `pool` loads a rendered probe, `run` describes target and probes and runs a
//!   fit round, `job` runs a whole fit (probe renders, rounds, outputs) for the command and
//!   the study;
//! - `report/`: the chart (labels in `font`'s bitmap font) and sample grids.
pub mod descriptors;
pub mod levels;
pub mod optimisation;
pub mod probes;
pub mod report;
pub mod weights;

pub use levels::{fit_space, FactorLevels, FactorPath, Levels};
pub use weights::{LevelWeights, Overlay, WeightsError};
