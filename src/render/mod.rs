//! Rendering: the worker pool (parent side) and the embedded-Blender worker.
pub mod denylist;
pub mod devices;
mod driver;
pub mod estimate;
mod image;
pub mod job;
pub mod phases;
pub mod plan;
pub mod predict;
pub mod process;
pub mod run;
pub mod stats;
pub mod stream;
#[cfg(feature = "blender")]
pub mod worker;
