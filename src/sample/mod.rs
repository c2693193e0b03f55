//! Sampling of scene parameters, one file per variation factor.
mod params;
pub use params::*;
