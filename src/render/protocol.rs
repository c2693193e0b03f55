//! The JSON-lines protocol between the render pool (parent) and a Blender worker process.
//!
//! The parent writes one `WorkerRequest` per line to the worker's stdin; the worker answers
//! each with exactly one `WorkerReply` line on stdout. The worker's stderr is free-form log.
use crate::sample::SceneParams;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Render settings that are constant over a run (from the preset's `render:` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderSettings {
    pub resolution: u32,
    pub samples: u32,
    pub denoise: bool,
    /// Only "cycles" is supported for now.
    pub engine: String,
    /// CPU threads for Cycles; 0 = Blender's automatic choice.
    pub threads: u32,
}

/// A model file ready to import (extracted from its archive if needed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Unique, stable key ("sweethome3d:<catalog id>", "shapenet:<synset>/<model>").
    pub key: String,
    pub path: PathBuf,
    /// "obj" for now.
    pub format: String,
    /// Up axis of the file: "Y" (Sweet Home 3D, ShapeNet) or "Z".
    pub up_axis: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerRequest {
    /// Render one image to `output` (RGBA PNG, straight alpha, transparent film).
    Render {
        id: String,
        model: ModelRef,
        params: Box<SceneParams>,
        settings: RenderSettings,
        /// Cycles noise seed, so that a re-render gives identical pixels.
        seed: u32,
        output: PathBuf,
    },
    /// Finish cleanly.
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerReply {
    pub id: String,
    pub ok: bool,
    /// Seconds spent inside `bpy.ops.render.render`.
    #[serde(default)]
    pub render_seconds: f64,
    /// Seconds spent importing and normalizing the model (0 when it was reused).
    #[serde(default)]
    pub load_seconds: f64,
    /// Seconds spent setting up material, lights, camera and world.
    #[serde(default)]
    pub setup_seconds: f64,
    #[serde(default)]
    pub reused_model: bool,
    /// Textures of the model that did not resolve and were replaced by the sampled material.
    #[serde(default)]
    pub missing_textures: Vec<String>,
    /// Set when `ok` is false.
    #[serde(default)]
    pub error: Option<String>,
    /// "model" when the model itself is at fault (import failed, no geometry), else "render".
    #[serde(default)]
    pub error_kind: Option<String>,
}
