//! `synthgen fit`: weighted rendering. Learns, from target images, how often each level of
//! each variation factor should be rendered (see docs/FIT.md).
//!
//! `levels` maps preset parameters to levels, `weights` is the overlay file, `descriptors`
//! turns images into feature vectors, `mmd` builds kernels and `optimise` fits the weights; `report` draws the chart
//! (labels in `font`'s bitmap font) and sample grids.
pub mod descriptors;
mod font;
pub mod levels;
pub mod mmd;
pub mod optimise;
pub mod pool;
pub mod report;
pub mod run;
pub mod weights;

pub use levels::{fit_space, FactorLevels, Levels, FIT_FACTORS};
pub use weights::{LevelWeights, Overlay, WeightsError};
