//! Rendering: the worker pool (parent side) and the embedded-Blender worker.
pub mod protocol;
