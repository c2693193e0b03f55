//! Rendering: the worker pool (parent side) and the embedded-Blender worker.
pub mod denylist;
mod driver;
pub mod plan;
pub mod process;
pub mod protocol;
pub mod run;
pub mod stats;
pub mod stream;
#[cfg(feature = "blender")]
pub mod worker;
