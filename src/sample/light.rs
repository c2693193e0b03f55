//! Illumination factor: `count` lamps on a spherical shell plus a world (uniform, HDRI, sky).
//!
//! The preset speaks in scene terms that do not depend on the lamp's distance: `energy` is the
//! irradiance at the object (W/m^2) and `size` the lamp's apparent angular diameter. They are
//! converted here to Blender's units with Blender's light conventions (as used by its glTF
//! exporter): a point or spot lamp of power P gives P / (4 pi r^2) at distance r, an area lamp
//! P / (pi r^2) along its axis, a sun its strength.
use super::color::{hsv_to_linear, temperature_to_linear};
use super::streams::Streams;
use super::{kind_named, pick, SampleError};
use crate::preset::{LightFactor, NumberDist, WorldFactor, ALL_HDRIS, MAX_LAMPS};
use crate::scene::params::{
    Cone, Emitter, Lamp, LampKind, Light, World, WorldKind, LAMP_KINDS, WORLD_KINDS,
};
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

/// Spot cone: wide enough that the whole normalized model is inside it, with a soft edge.
pub const SPOT_CONE: Cone = Cone {
    angle_deg: 60.0,
    blend: 0.3,
};
/// A clear sky over grey ground.
pub const SKY_TURBIDITY: f64 = 2.5;
pub const SKY_GROUND_ALBEDO: f64 = 0.3;

pub fn sample_light(f: &LightFactor, hdris: &[PathBuf], s: &Streams) -> Result<Light, SampleError> {
    let count = f
        .count
        .sample(&mut s.rng("light.count"))
        .round()
        .clamp(0.0, MAX_LAMPS) as usize;
    let lamps = (0..count)
        .map(|i| sample_lamp(f, i, s))
        .collect::<Result<_, _>>()?;
    Ok(Light {
        lamps,
        world: sample_world(&f.world, hdris, s)?,
    })
}

fn sample_lamp(f: &LightFactor, i: usize, s: &Streams) -> Result<Lamp, SampleError> {
    let draw = |name: &str, d: &NumberDist| d.sample(&mut s.rng(&format!("light.lamp{i}.{name}")));
    let kind = kind_named(
        LampKind::parse,
        LAMP_KINDS,
        "factors.light.kind",
        f.kind.sample(&mut s.rng(&format!("light.lamp{i}.kind"))),
    )?;
    let radius = draw("radius", &f.radius);
    let irradiance = draw("energy", &f.energy);
    let angle_deg = draw("size", &f.size);
    let temperature_k = draw("temperature", &f.temperature);
    let half_extent = radius * (angle_deg.to_radians() / 2.0).tan();
    let (energy, size) = match kind {
        LampKind::Sun => (irradiance, angle_deg),
        LampKind::Area => (irradiance * PI * radius * radius, 2.0 * half_extent),
        LampKind::Point | LampKind::Spot => (irradiance * 4.0 * PI * radius * radius, half_extent),
    };
    let emitter = Emitter {
        radius,
        elevation_deg: draw("elevation", &f.elevation),
        azimuth_deg: draw("azimuth", &f.azimuth),
        energy,
        temperature_k,
        color: temperature_to_linear(temperature_k),
    };
    Ok(Lamp::new(kind, emitter, size, SPOT_CONE))
}

/// The world of its drawn kind; each value is drawn from its own stream, so a kind that does
/// not use one leaves every other draw unchanged.
fn sample_world(w: &WorldFactor, hdris: &[PathBuf], s: &Streams) -> Result<World, SampleError> {
    let draw = |label: &str, d: &NumberDist| d.sample(&mut s.rng(label));
    let kind = kind_named(
        WorldKind::parse,
        WORLD_KINDS,
        "factors.light.world.kind",
        w.kind.sample(&mut s.rng("light.world.kind")),
    )?;
    let strength = draw("light.world.strength", &w.strength);
    Ok(match kind {
        WorldKind::Uniform => World::Uniform {
            strength,
            color: hsv_to_linear(
                draw("light.world.color.hue", &w.color.hue),
                draw("light.world.color.saturation", &w.color.saturation),
                draw("light.world.color.value", &w.color.value),
            ),
        },
        WorldKind::Hdri => World::Hdri {
            strength,
            hdri: hdri_named(&w.hdri.sample(&mut s.rng("light.world.hdri")), hdris, s)?,
            rotation_deg: draw("light.world.rotation", &w.rotation),
        },
        WorldKind::Sky => World::Sky {
            strength,
            sun_elevation_deg: draw("light.world.sun_elevation", &w.sun_elevation),
            // The sun turns with the world's rotation.
            sun_azimuth_deg: draw("light.world.rotation", &w.rotation),
            turbidity: SKY_TURBIDITY,
            ground_albedo: SKY_GROUND_ALBEDO,
        },
    })
}

/// The HDRI whose file stem is `name`, or any of them for "all".
fn hdri_named(name: &str, hdris: &[PathBuf], s: &Streams) -> Result<PathBuf, SampleError> {
    if name == ALL_HDRIS {
        return pick(
            hdris,
            &mut s.rng("light.world.hdri_file"),
            "factors.light.world.hdri_folder",
        );
    }
    hdris
        .iter()
        .find(|p| p.file_stem().and_then(|s| s.to_str()) == Some(name))
        .cloned()
        .ok_or_else(|| SampleError::UnknownHdri {
            name: name.to_string(),
            available: hdris
                .iter()
                .filter_map(|p| stem(p))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn stem(p: &Path) -> Option<String> {
    p.file_stem().map(|s| s.to_string_lossy().into_owned())
}
