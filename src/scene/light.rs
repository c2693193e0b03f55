//! Illumination: lamps on a shell around the object, tagged by kind, and the world shader.
use super::kinds::kinds;
use super::Rgb;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

kinds! {
    /// Blender lamp types.
    LampKind, LAMP_KINDS {
        Point = "point",
        Sun = "sun",
        Spot = "spot",
        Area = "area",
    }
}

kinds! {
    /// World shaders (they light the object; the film stays transparent).
    WorldKind, WORLD_KINDS {
        Uniform = "uniform",
        Hdri = "hdri",
        Sky = "sky",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Light {
    pub lamps: Vec<Lamp>,
    pub world: World,
}

/// A lamp on a shell of `radius` around the origin, aimed at it, tagged by kind. Energies
/// are in Blender's units (watts; W/m^2 for a sun). `temperature_k` is the drawn colour
/// temperature, recorded for the manifest; Blender uses `color`, its linear RGB computed in
/// Rust (the worker ignores `temperature_k`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Lamp {
    Point {
        radius: f64,
        elevation_deg: f64,
        azimuth_deg: f64,
        energy: f64,
        temperature_k: f64,
        color: Rgb,
        /// Radius of the emitting sphere (soft shadows).
        shadow_radius: f64,
    },
    Sun {
        radius: f64,
        elevation_deg: f64,
        azimuth_deg: f64,
        energy: f64,
        temperature_k: f64,
        color: Rgb,
        /// Angular diameter of the sun disc.
        angle_deg: f64,
    },
    Spot {
        radius: f64,
        elevation_deg: f64,
        azimuth_deg: f64,
        energy: f64,
        temperature_k: f64,
        color: Rgb,
        shadow_radius: f64,
        /// Full cone angle.
        spot_angle_deg: f64,
        /// Softness of the cone's edge, 0..1.
        spot_blend: f64,
    },
    Area {
        radius: f64,
        elevation_deg: f64,
        azimuth_deg: f64,
        energy: f64,
        temperature_k: f64,
        color: Rgb,
        /// Side of the square emitter.
        side: f64,
    },
}

/// What every lamp kind has: where it is and what it emits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Emitter {
    pub radius: f64,
    pub elevation_deg: f64,
    pub azimuth_deg: f64,
    pub energy: f64,
    pub temperature_k: f64,
    pub color: Rgb,
}

/// A spot lamp's cone: full angle and edge softness.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cone {
    pub angle_deg: f64,
    pub blend: f64,
}

impl Lamp {
    /// A lamp of `kind`; `size` is its soft-shadow size in the kind's own terms (the radius
    /// of a point or spot, the angle of a sun, the side of an area lamp), `cone` a spot's.
    pub fn new(kind: LampKind, e: Emitter, size: f64, cone: Cone) -> Lamp {
        let Emitter {
            radius,
            elevation_deg,
            azimuth_deg,
            energy,
            temperature_k,
            color,
        } = e;
        match kind {
            LampKind::Point => Lamp::Point {
                radius,
                elevation_deg,
                azimuth_deg,
                energy,
                temperature_k,
                color,
                shadow_radius: size,
            },
            LampKind::Sun => Lamp::Sun {
                radius,
                elevation_deg,
                azimuth_deg,
                energy,
                temperature_k,
                color,
                angle_deg: size,
            },
            LampKind::Spot => Lamp::Spot {
                radius,
                elevation_deg,
                azimuth_deg,
                energy,
                temperature_k,
                color,
                shadow_radius: size,
                spot_angle_deg: cone.angle_deg,
                spot_blend: cone.blend,
            },
            LampKind::Area => Lamp::Area {
                radius,
                elevation_deg,
                azimuth_deg,
                energy,
                temperature_k,
                color,
                side: size,
            },
        }
    }

    pub fn kind(&self) -> LampKind {
        match self {
            Lamp::Point { .. } => LampKind::Point,
            Lamp::Sun { .. } => LampKind::Sun,
            Lamp::Spot { .. } => LampKind::Spot,
            Lamp::Area { .. } => LampKind::Area,
        }
    }

    pub fn emitter(&self) -> Emitter {
        match *self {
            Lamp::Point {
                radius,
                elevation_deg,
                azimuth_deg,
                energy,
                temperature_k,
                color,
                ..
            }
            | Lamp::Sun {
                radius,
                elevation_deg,
                azimuth_deg,
                energy,
                temperature_k,
                color,
                ..
            }
            | Lamp::Spot {
                radius,
                elevation_deg,
                azimuth_deg,
                energy,
                temperature_k,
                color,
                ..
            }
            | Lamp::Area {
                radius,
                elevation_deg,
                azimuth_deg,
                energy,
                temperature_k,
                color,
                ..
            } => Emitter {
                radius,
                elevation_deg,
                azimuth_deg,
                energy,
                temperature_k,
                color,
            },
        }
    }
}

/// The world shader, tagged by kind. It lights the model; the film stays transparent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum World {
    Uniform {
        strength: f64,
        color: Rgb,
    },
    Hdri {
        strength: f64,
        /// Equirectangular .exr/.hdr file.
        hdri: PathBuf,
        /// Turn of the environment about +Z (counter-clockwise seen from above).
        rotation_deg: f64,
    },
    /// Blender's analytic Hosek-Wilkie sky.
    Sky {
        strength: f64,
        sun_elevation_deg: f64,
        /// Sun azimuth in the shell convention (0 = +X, counter-clockwise seen from +Z).
        sun_azimuth_deg: f64,
        /// Atmospheric turbidity (2 = clear, 10 = hazy).
        turbidity: f64,
        ground_albedo: f64,
    },
}

impl World {
    pub fn kind(&self) -> WorldKind {
        match self {
            World::Uniform { .. } => WorldKind::Uniform,
            World::Hdri { .. } => WorldKind::Hdri,
            World::Sky { .. } => WorldKind::Sky,
        }
    }

    pub fn strength(&self) -> f64 {
        match *self {
            World::Uniform { strength, .. }
            | World::Hdri { strength, .. }
            | World::Sky { strength, .. } => strength,
        }
    }

    /// The HDRI file of an `hdri` world.
    pub fn hdri(&self) -> Option<&Path> {
        match self {
            World::Hdri { hdri, .. } => Some(hdri),
            _ => None,
        }
    }
}
