//! The JSON-lines protocol between the render pool (parent) and a Blender worker process.
//!
//! The parent writes one `WorkerRequest` per line to the worker's stdin; the worker answers
//! each with exactly one `WorkerReply` line on stdout. The worker's stderr is free-form log.
//! The types themselves are the scene contract (`render::contract`).
pub use super::contract::{Device, ModelRef, RenderSettings, WorkerReply, WorkerRequest};
