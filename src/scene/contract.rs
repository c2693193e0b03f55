//! The scene contract: every value that crosses into Python, as typed data.
//!
//! The Blender side (`blender_scripts/synthgen_blender`) receives exactly these types as JSON,
//! checks each request against [`request_schema`] and applies the values; it decides none.
//! The scene it receives is the one the sampler drew and the manifest records
//! ([`SceneParams`]); kinds are serde-tagged enums, so a lamp carries only the fields its kind
//! uses and Python dispatches on the tag through a table.
//!
//! It is also the JSON-lines protocol between the render pool (parent) and a Blender worker
//! process: the parent writes one `WorkerRequest` per line to the worker's stdin; the worker
//! answers each with exactly one `WorkerReply` line on stdout. The worker's stderr is free-form
//! log.
use super::params::SceneParams;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One line from the parent to a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkerRequest {
    /// Render one image to `output` (RGBA PNG, straight alpha, transparent film).
    Render {
        id: String,
        model: ModelRef,
        /// The sampled scene, as the manifest records it.
        params: Box<SceneParams>,
        settings: Box<RenderSettings>,
        /// Cycles noise seed, so that a re-render gives identical pixels.
        seed: u32,
        output: PathBuf,
    },
    /// Finish cleanly.
    Shutdown,
}

/// A model file ready to import (extracted from its archive if needed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    /// Unique, stable key ("sweethome3d:<catalog id>", "shapenet:<synset>/<model>").
    pub key: String,
    pub path: PathBuf,
    /// "obj" for now.
    #[schemars(regex(pattern = r"^obj$"))]
    pub format: String,
    /// Up axis of the file: "Y" (Sweet Home 3D, ShapeNet) or "Z".
    #[schemars(regex(pattern = r"^[YZ]$"))]
    pub up_axis: String,
    /// Row-major 3x3 rotation applied to the model after the up-axis import, in Blender's
    /// frame (Z up), before it is normalized: the rest of the catalog's own rotation (Sweet
    /// Home 3D's `modelRotation`: its turn about the vertical and any tilt), so that every
    /// model of the catalog faces one way (`assets::orientation`). Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Box<[f64; 9]>>,
}

/// Render settings that are constant over a run (from the preset's `render:` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderSettings {
    #[schemars(range(min = 1))]
    pub resolution: u32,
    #[schemars(range(min = 1))]
    pub samples: u32,
    pub denoise: bool,
    /// Only "cycles" is supported.
    #[schemars(regex(pattern = r"^cycles$"))]
    pub engine: String,
    /// CPU threads for Cycles; 0 = Blender's automatic choice.
    pub threads: u32,
    /// Where Cycles renders.
    #[serde(default)]
    pub device: Device,
    /// Keep Cycles' synced scene (BVH, shaders, images) between renders of one worker, so
    /// consecutive views of a reused model skip the re-sync (`render.use_persistent_data`).
    #[serde(default)]
    pub persistent_data: bool,
    /// Stop sampling pixels whose noise is below a threshold.
    #[serde(default)]
    pub adaptive: Adaptive,
    /// Light path limits (defaults: Blender's own).
    #[serde(default)]
    pub bounces: Bounces,
}

/// Cycles adaptive sampling, tagged by mode (Python dispatches on it through a table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Adaptive {
    /// Every pixel takes `samples` samples.
    #[default]
    Off,
    On {
        /// Noise level below which a pixel stops sampling.
        #[schemars(range(min = 1e-9, max = 1.0))]
        threshold: f64,
        /// Samples every pixel takes before the threshold applies (0: Cycles' choice).
        min_samples: u32,
    },
}

/// Cycles light path limits and clamps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bounces {
    /// Total bounces of a path.
    pub max: u32,
    pub diffuse: u32,
    pub glossy: u32,
    pub transmission: u32,
    /// Reflective and refractive caustics.
    pub caustics: bool,
    /// Largest sample value of direct light (0: no clamp).
    #[schemars(range(min = 0.0))]
    pub clamp_direct: f64,
    /// Largest sample value of indirect light (0: no clamp).
    #[schemars(range(min = 0.0))]
    pub clamp_indirect: f64,
}

impl Default for Bounces {
    /// Blender 5.0's defaults, so a request without `bounces` renders as before.
    fn default() -> Self {
        Bounces {
            max: 12,
            diffuse: 4,
            glossy: 4,
            transmission: 12,
            caustics: true,
            clamp_direct: 0.0,
            clamp_indirect: 10.0,
        }
    }
}

/// `render.device`: `auto` takes a GPU (OptiX, else CUDA) when the worker sees one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    #[default]
    Auto,
    Cpu,
    Gpu,
}

/// One line from a worker to the parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// The Cycles device that rendered: "cpu", "optix" or "cuda". In the worker's ready line:
    /// the GPUs its Cycles sees, as JSON `{"optix": [names], "cuda": [names]}`.
    #[serde(default)]
    pub device: Option<String>,
    /// Set when `ok` is false.
    #[serde(default)]
    pub error: Option<String>,
    /// "model" when the model itself is at fault (import failed, no geometry), else "render".
    #[serde(default)]
    pub error_kind: Option<String>,
}

impl WorkerReply {
    /// A successful reply with nothing measured (the worker's ready line).
    pub fn ready(id: &str) -> Self {
        WorkerReply {
            id: id.to_string(),
            ok: true,
            render_seconds: 0.0,
            load_seconds: 0.0,
            setup_seconds: 0.0,
            reused_model: false,
            missing_textures: Vec::new(),
            device: None,
            error: None,
            error_kind: None,
        }
    }
}

/// The JSON schema of [`WorkerRequest`], pretty-printed; the worker checks every request
/// against it (blender_scripts/synthgen_blender/request.schema.json is this text).
pub fn request_schema() -> String {
    let schema = schemars::schema_for!(WorkerRequest);
    let mut text = serde_json::to_string_pretty(&schema).expect("schemas serialize");
    text.push('\n');
    text
}
