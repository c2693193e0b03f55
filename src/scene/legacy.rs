//! Manifests written before the scene had one shape (up to commit 719d48c) record a flat,
//! string-kinded scene: every field of every kind, a lamp's kind-dependent `size`, a
//! background's `image` for both photos and HDRIs. [`deserialize_params`] reads either shape
//! into [`SceneParams`]; the flat one is converted as the renderer of that time mapped it
//! onto what Blender received, so an old record reads as the scene that was rendered.
use super::params::*;
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LegacyError {
    #[error("{field} is \"{value}\"; known: {known}")]
    UnknownKind {
        field: &'static str,
        value: String,
        known: String,
    },
    #[error("{field} is missing, but a {kind} needs it")]
    Missing {
        field: &'static str,
        kind: &'static str,
    },
}

/// Reads `params` of a manifest line in the current shape or the flat one of older manifests.
pub fn deserialize_params<'de, D: Deserializer<'de>>(d: D) -> Result<SceneParams, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    params_of_value(&value).map_err(serde::de::Error::custom)
}

/// The scene of a `params` value of either shape; the error is the current shape's (and why
/// it is not the old one either).
pub fn params_of_value(value: &serde_json::Value) -> Result<SceneParams, String> {
    let current = match SceneParams::deserialize(value) {
        Ok(p) => return Ok(p),
        Err(e) => e,
    };
    let flat = FlatScene::deserialize(value)
        .map_err(|old| format!("{current} (nor is it the flat scene of older manifests: {old})"))?;
    flat.into_scene().map_err(|e| e.to_string())
}

/// The flat scene of older manifests.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FlatScene {
    pub scale: ScaleParams,
    pub material: FlatMaterial,
    pub light: FlatLight,
    pub camera: CameraParams,
    pub background: FlatBackground,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FlatMaterial {
    pub keep_original: bool,
    pub family: String,
    pub base_color: Rgb,
    pub secondary_color: Rgb,
    pub roughness: f64,
    #[serde(default)]
    pub secondary_roughness: f64,
    pub metallic: f64,
    pub pattern_scale: f64,
    pub pattern_detail: f64,
    pub pattern_distortion: f64,
    pub image: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FlatLight {
    pub lamps: Vec<FlatLamp>,
    pub world: FlatWorld,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FlatLamp {
    pub kind: String,
    pub radius: f64,
    pub elevation_deg: f64,
    pub azimuth_deg: f64,
    pub energy: f64,
    pub temperature_k: f64,
    pub color: Rgb,
    /// Radius for point/spot, side for area, angle in degrees for sun.
    pub size: f64,
    #[serde(default)]
    pub spot_angle_deg: f64,
    #[serde(default)]
    pub spot_blend: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FlatWorld {
    pub kind: String,
    pub strength: f64,
    pub hdri: Option<PathBuf>,
    /// The HDRI's rotation, or the sky's sun azimuth.
    pub rotation_deg: f64,
    pub color: Rgb,
    pub sun_elevation_deg: f64,
    #[serde(default)]
    pub sky_turbidity: f64,
    #[serde(default)]
    pub sky_ground_albedo: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FlatBackground {
    pub kind: String,
    pub color: Rgb,
    pub secondary_color: Rgb,
    pub pattern: String,
    pub pattern_scale: f64,
    /// The photo of an `image` background, the HDRI of an `hdri` one.
    pub image: Option<PathBuf>,
    pub crop: [f64; 4],
    pub seed: u64,
}

fn kind_of<K>(
    parse: fn(&str) -> Option<K>,
    known: &[&str],
    field: &'static str,
    value: &str,
) -> Result<K, LegacyError> {
    parse(value).ok_or_else(|| LegacyError::UnknownKind {
        field,
        value: value.to_string(),
        known: known.join(", "),
    })
}

impl FlatScene {
    pub fn into_scene(self) -> Result<SceneParams, LegacyError> {
        let world = self.light.world.into_world()?;
        let background = self.background.into_background(&world)?;
        Ok(SceneParams {
            scale: self.scale,
            material: self.material.into_material()?,
            light: Light {
                lamps: self
                    .light
                    .lamps
                    .into_iter()
                    .map(FlatLamp::into_lamp)
                    .collect::<Result<_, _>>()?,
                world,
            },
            camera: self.camera,
            background,
        })
    }
}

impl FlatMaterial {
    fn into_material(self) -> Result<Material, LegacyError> {
        let family = kind_of(
            MaterialFamily::parse,
            MATERIAL_FAMILIES,
            "params.material.family",
            &self.family,
        )?;
        let surface = Surface {
            keep_original: self.keep_original,
            base_color: self.base_color,
            secondary_color: self.secondary_color,
            roughness: self.roughness,
            secondary_roughness: self.secondary_roughness,
            metallic: self.metallic,
            pattern_scale: self.pattern_scale,
            pattern_detail: self.pattern_detail,
            pattern_distortion: self.pattern_distortion,
        };
        Material::new(family, surface, self.image).ok_or(LegacyError::Missing {
            field: "params.material.image",
            kind: "material of the image family",
        })
    }
}

impl FlatLamp {
    fn into_lamp(self) -> Result<Lamp, LegacyError> {
        let kind = kind_of(
            LampKind::parse,
            LAMP_KINDS,
            "params.light.lamps[].kind",
            &self.kind,
        )?;
        let emitter = Emitter {
            radius: self.radius,
            elevation_deg: self.elevation_deg,
            azimuth_deg: self.azimuth_deg,
            energy: self.energy,
            temperature_k: self.temperature_k,
            color: self.color,
        };
        let cone = Cone {
            angle_deg: self.spot_angle_deg,
            blend: self.spot_blend,
        };
        Ok(Lamp::new(kind, emitter, self.size, cone))
    }
}

impl FlatWorld {
    fn into_world(self) -> Result<World, LegacyError> {
        let kind = kind_of(
            WorldKind::parse,
            WORLD_KINDS,
            "params.light.world.kind",
            &self.kind,
        )?;
        Ok(match kind {
            WorldKind::Uniform => World::Uniform {
                strength: self.strength,
                color: self.color,
            },
            WorldKind::Hdri => World::Hdri {
                strength: self.strength,
                hdri: self.hdri.ok_or(LegacyError::Missing {
                    field: "params.light.world.hdri",
                    kind: "hdri world",
                })?,
                rotation_deg: self.rotation_deg,
            },
            WorldKind::Sky => World::Sky {
                strength: self.strength,
                sun_elevation_deg: self.sun_elevation_deg,
                sun_azimuth_deg: self.rotation_deg,
                turbidity: self.sky_turbidity,
                ground_albedo: self.sky_ground_albedo,
            },
        })
    }
}

impl FlatBackground {
    /// An `hdri` background without its own file showed the world's HDRI.
    fn into_background(self, world: &World) -> Result<Background, LegacyError> {
        let kind = kind_of(
            BackgroundKind::parse,
            BACKGROUND_KINDS,
            "params.background.kind",
            &self.kind,
        )?;
        let missing = |kind| LegacyError::Missing {
            field: "params.background.image",
            kind,
        };
        Ok(match kind {
            BackgroundKind::None => Background::None,
            BackgroundKind::Solid => Background::Solid { color: self.color },
            BackgroundKind::Procedural => Background::Procedural {
                pattern: kind_of(
                    Pattern::parse,
                    BACKGROUND_PATTERNS,
                    "params.background.pattern",
                    &self.pattern,
                )?,
                color: self.color,
                secondary_color: self.secondary_color,
                pattern_scale: self.pattern_scale,
                seed: self.seed,
            },
            BackgroundKind::Hdri => Background::Hdri {
                hdri: self
                    .image
                    .or_else(|| world.hdri().map(PathBuf::from))
                    .ok_or_else(|| missing("hdri background (or params.light.world.hdri)"))?,
            },
            BackgroundKind::Image => Background::Image {
                image: self.image.ok_or_else(|| missing("image background"))?,
                crop: self.crop,
            },
        })
    }
}
