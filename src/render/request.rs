//! Sampled parameters -> the scene contract: a one-to-one mapping that adds no value of its
//! own, so everything Blender receives is in the manifest's `params`.
use crate::sample::{CameraParams, LampParams, MaterialParams, SceneParams, WorldParams};
use crate::scene::contract::{
    Camera, ImageSurface, Lamp, Light, Material, Scale, Scene, Surface, World,
};

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("{field} is \"{value}\", which the scene contract has no kind for")]
    UnknownKind { field: &'static str, value: String },
    #[error("params.material.image is missing for the image family")]
    MissingImage,
    #[error("params.light.world.hdri is missing for an hdri world")]
    MissingHdri,
}

/// The Blender scene of sampled parameters.
pub fn scene_of(p: &SceneParams) -> Result<Scene, ContractError> {
    Ok(Scene {
        scale: Scale { size: p.scale.size },
        material: material_of(&p.material)?,
        light: Light {
            lamps: p
                .light
                .lamps
                .iter()
                .map(lamp_of)
                .collect::<Result<_, _>>()?,
            world: world_of(&p.light.world)?,
        },
        camera: camera_of(&p.camera),
    })
}

fn material_of(m: &MaterialParams) -> Result<Material, ContractError> {
    let s = Surface {
        keep_original: m.keep_original,
        base_color: m.base_color,
        secondary_color: m.secondary_color,
        roughness: m.roughness,
        secondary_roughness: m.secondary_roughness,
        metallic: m.metallic,
        pattern_scale: m.pattern_scale,
        pattern_detail: m.pattern_detail,
        pattern_distortion: m.pattern_distortion,
    };
    Ok(match m.family.as_str() {
        "plastic" => Material::Plastic(s),
        "metal" => Material::Metal(s),
        "rubber" => Material::Rubber(s),
        "ceramic" => Material::Ceramic(s),
        "wood" => Material::Wood(s),
        "marble" => Material::Marble(s),
        "fabric" => Material::Fabric(s),
        "fingerprints" => Material::Fingerprints(s),
        "moss" => Material::Moss(s),
        "noise" => Material::Noise(s),
        "voronoi" => Material::Voronoi(s),
        "wave" => Material::Wave(s),
        "brick" => Material::Brick(s),
        "checker" => Material::Checker(s),
        "image" => Material::Image(ImageSurface {
            surface: s,
            image: m.image.clone().ok_or(ContractError::MissingImage)?,
        }),
        other => {
            return Err(ContractError::UnknownKind {
                field: "params.material.family",
                value: other.to_string(),
            })
        }
    })
}

fn lamp_of(l: &LampParams) -> Result<Lamp, ContractError> {
    let (radius, elevation_deg, azimuth_deg, energy, color) =
        (l.radius, l.elevation_deg, l.azimuth_deg, l.energy, l.color);
    Ok(match l.kind.as_str() {
        "point" => Lamp::Point {
            radius,
            elevation_deg,
            azimuth_deg,
            energy,
            color,
            shadow_radius: l.size,
        },
        "sun" => Lamp::Sun {
            radius,
            elevation_deg,
            azimuth_deg,
            energy,
            color,
            angle_deg: l.size,
        },
        "spot" => Lamp::Spot {
            radius,
            elevation_deg,
            azimuth_deg,
            energy,
            color,
            shadow_radius: l.size,
            spot_angle_deg: l.spot_angle_deg,
            spot_blend: l.spot_blend,
        },
        "area" => Lamp::Area {
            radius,
            elevation_deg,
            azimuth_deg,
            energy,
            color,
            side: l.size,
        },
        other => {
            return Err(ContractError::UnknownKind {
                field: "params.light.lamps[].kind",
                value: other.to_string(),
            })
        }
    })
}

fn world_of(w: &WorldParams) -> Result<World, ContractError> {
    Ok(match w.kind.as_str() {
        "uniform" => World::Uniform {
            strength: w.strength,
            color: w.color,
        },
        "hdri" => World::Hdri {
            strength: w.strength,
            hdri: w.hdri.clone().ok_or(ContractError::MissingHdri)?,
            rotation_deg: w.rotation_deg,
        },
        "sky" => World::Sky {
            strength: w.strength,
            sun_elevation_deg: w.sun_elevation_deg,
            sun_azimuth_deg: w.rotation_deg,
            turbidity: w.sky_turbidity,
            ground_albedo: w.sky_ground_albedo,
        },
        other => {
            return Err(ContractError::UnknownKind {
                field: "params.light.world.kind",
                value: other.to_string(),
            })
        }
    })
}

fn camera_of(c: &CameraParams) -> Camera {
    Camera {
        distance: c.distance,
        elevation_deg: c.elevation_deg,
        azimuth_deg: c.azimuth_deg,
        focal_length_mm: c.focal_length_mm,
        sensor_width_mm: c.sensor_width_mm,
        roll_deg: c.roll_deg,
        look_at: c.look_at,
    }
}
