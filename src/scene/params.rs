//! `SceneParams`: everything that varies between two images, as typed data. It is the one
//! scene shape: the sampler draws it, the Blender worker receives it (`contract::WorkerRequest`)
//! and applies it, the compositor draws its background, and the manifest records it (`params`).
//!
//! Kinds are serde-tagged enums (`material.family`, `light.lamps[].kind`, `light.world.kind`,
//! `background.kind`), so each carries only the fields its kind uses. Angles are in degrees,
//! lengths in scene units (the normalized model's largest side is 1 before scaling), colours
//! are linear RGB in [0, 1]. The worker ignores what Rust alone uses: the background (composited
//! in Rust), a lamp's `temperature_k` (its `color` is what Blender gets) and the camera's
//! `frame_fill` (its `distance` is what Blender gets).
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::background::{
    Background, BackgroundKind, Pattern, BACKGROUND_KINDS, BACKGROUND_PATTERNS,
};
pub use super::light::{
    Cone, Emitter, Lamp, LampKind, Light, World, WorldKind, LAMP_KINDS, WORLD_KINDS,
};
pub use super::material::{ImageSurface, Material, MaterialFamily, Surface, MATERIAL_FAMILIES};
pub use super::Rgb;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SceneParams {
    pub scale: ScaleParams,
    pub material: Material,
    pub light: Light,
    pub camera: CameraParams,
    pub background: Background,
}

/// Object scale: the largest side of the model, after normalization to 1, is multiplied by `size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleParams {
    /// Largest side of the normalized model.
    #[schemars(range(min = 1e-9))]
    pub size: f64,
}

/// Camera on a spherical shell around the object, looking at `look_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraParams {
    #[schemars(range(min = 1e-9))]
    pub distance: f64,
    pub elevation_deg: f64,
    pub azimuth_deg: f64,
    #[schemars(range(min = 1e-9))]
    pub focal_length_mm: f64,
    /// Sensor width; with a square image the horizontal and vertical FOV are equal.
    #[schemars(range(min = 1e-9))]
    pub sensor_width_mm: f64,
    pub roll_deg: f64,
    pub look_at: [f64; 3],
    /// The drawn frame fill when `factors.camera.frame_fill` set the distance (absent when
    /// off; the worker ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_fill: Option<f64>,
}
