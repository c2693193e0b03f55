//! How the weights are found: `mmd` builds the kernels and the weighted MMD, `optimise` fits
//! the level weights to them, `classes` adds per-class weights when the target is labelled,
//! and `val_set`, `refine` and `align` refine the weights on a labelled validation set (`--val`).
#[cfg(feature = "train")]
pub mod align;
pub mod classes;
pub mod mmd;
pub mod optimise;
pub mod refine;
pub mod val_set;
