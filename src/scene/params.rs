//! `SceneParams`: everything that varies between two images, as plain data.
//!
//! This is the contract between the sampler (Rust decides WHAT to render), the Blender worker
//! (`blender_scripts/synthgen_blender` applies it), the compositor and the manifest. Angles are
//! in degrees, lengths in scene units (the normalized model's largest side is 1 before scaling),
//! colours are linear RGB in [0, 1].
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneParams {
    pub scale: ScaleParams,
    pub material: MaterialParams,
    pub light: LightParams,
    pub camera: CameraParams,
    pub background: BackgroundParams,
}

/// Object scale: the largest side of the model, after normalization to 1, is multiplied by `size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleParams {
    pub size: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaterialParams {
    /// Keep the model's own materials (textures that do not resolve fall back to the sampled
    /// material below, never to Blender's magenta).
    pub keep_original: bool,
    /// One of `MATERIAL_FAMILIES`.
    pub family: String,
    pub base_color: [f64; 3],
    /// Second colour of two-colour patterns (checker, brick, wave, voronoi, moss, ...).
    pub secondary_color: [f64; 3],
    /// The roughness Blender renders (after the family's rule in `sample/material.rs`).
    pub roughness: f64,
    /// Second roughness of two-roughness families: a ceramic's glaze coat, the rough end of
    /// fingerprint smudges; equal to `roughness` elsewhere.
    #[serde(default)]
    pub secondary_roughness: f64,
    pub metallic: f64,
    /// Texture coordinate scale of the pattern (object space; larger = finer pattern).
    pub pattern_scale: f64,
    /// Noise detail (octaves) of the pattern, 0..15.
    pub pattern_detail: f64,
    /// Domain distortion of the pattern, 0..10.
    pub pattern_distortion: f64,
    /// Image texture for `family == "image"`.
    pub image: Option<PathBuf>,
}

/// Material families the Blender side implements (blender_scripts/synthgen_blender/materials.py).
pub const MATERIAL_FAMILIES: &[&str] = &[
    "plastic",
    "metal",
    "rubber",
    "ceramic",
    "wood",
    "marble",
    "fabric",
    "fingerprints",
    "moss",
    "noise",
    "voronoi",
    "wave",
    "brick",
    "checker",
    "image",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LightParams {
    pub lamps: Vec<LampParams>,
    pub world: WorldParams,
}

/// One lamp placed on a spherical shell around the object, aimed at the origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LampParams {
    /// One of `LAMP_KINDS`.
    pub kind: String,
    pub radius: f64,
    pub elevation_deg: f64,
    pub azimuth_deg: f64,
    /// Watts for point/spot/area lamps; W/m^2 (irradiance) for sun.
    pub energy: f64,
    pub temperature_k: f64,
    /// Linear RGB of `temperature_k` (computed in Rust, so Python needs no colour science).
    pub color: [f64; 3],
    /// Soft-shadow size: radius for point/spot, side for area, angle in degrees for sun.
    pub size: f64,
    /// Full cone angle of a spot lamp (wide enough for the whole normalized model).
    #[serde(default)]
    pub spot_angle_deg: f64,
    /// Softness of a spot lamp's cone edge, 0..1.
    #[serde(default)]
    pub spot_blend: f64,
}

pub const LAMP_KINDS: &[&str] = &["point", "sun", "spot", "area"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldParams {
    /// One of `WORLD_KINDS`.
    pub kind: String,
    pub strength: f64,
    /// Equirectangular HDRI file for `kind == "hdri"`.
    pub hdri: Option<PathBuf>,
    /// Rotation of the HDRI (or the sky's sun) about +Z.
    pub rotation_deg: f64,
    /// Colour of a `uniform` world.
    pub color: [f64; 3],
    /// Sun elevation of a `sky` world.
    pub sun_elevation_deg: f64,
    /// Atmospheric turbidity of a `sky` world (2 = clear, 10 = hazy).
    #[serde(default)]
    pub sky_turbidity: f64,
    /// Ground albedo of a `sky` world.
    #[serde(default)]
    pub sky_ground_albedo: f64,
}

pub const WORLD_KINDS: &[&str] = &["uniform", "hdri", "sky"];

/// Camera on a spherical shell around the object, looking at `look_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraParams {
    pub distance: f64,
    pub elevation_deg: f64,
    pub azimuth_deg: f64,
    pub focal_length_mm: f64,
    /// Sensor width; with a square image the horizontal and vertical FOV are equal.
    pub sensor_width_mm: f64,
    pub roll_deg: f64,
    pub look_at: [f64; 3],
    /// The drawn frame fill when `factors.camera.frame_fill` set the distance (absent when off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_fill: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackgroundParams {
    /// One of `BACKGROUND_KINDS`. Backgrounds are composited in Rust behind the RGBA render.
    pub kind: String,
    pub color: [f64; 3],
    pub secondary_color: [f64; 3],
    /// Pattern of a `procedural` background, one of `BACKGROUND_PATTERNS`.
    pub pattern: String,
    pub pattern_scale: f64,
    /// Image for `kind == "image"`.
    pub image: Option<PathBuf>,
    /// Crop window of the image, as fractions (x, y, width, height) of its size.
    pub crop: [f64; 4],
    /// Seed of the procedural pattern.
    pub seed: u64,
}

pub const BACKGROUND_KINDS: &[&str] = &["none", "solid", "procedural", "hdri", "image"];
pub const BACKGROUND_PATTERNS: &[&str] = &["noise", "gradient", "stripes", "checker", "blobs"];
