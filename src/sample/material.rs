//! Material texture factor.
use super::color::hsv_to_linear;
use super::streams::Streams;
use super::{kind_named, pick, SampleError};
use crate::preset::MaterialFactor;
use crate::scene::params::{Material, MaterialFamily, Surface, MATERIAL_FAMILIES};
use rand::Rng;
use std::path::PathBuf;

pub fn sample_material(
    f: &MaterialFactor,
    images: &[PathBuf],
    s: &Streams,
) -> Result<Material, SampleError> {
    let draw = |label: &str, d: &crate::preset::NumberDist| d.sample(&mut s.rng(label));
    let colour = |which: &str| {
        hsv_to_linear(
            draw(&format!("material.{which}.hue"), &f.hue),
            draw(&format!("material.{which}.saturation"), &f.saturation),
            draw(&format!("material.{which}.value"), &f.value),
        )
    };
    let keep_original =
        s.rng("material.keep_original").random::<f64>() < f.keep_original_probability;
    let family = kind_named(
        MaterialFamily::parse,
        MATERIAL_FAMILIES,
        "factors.material.family",
        f.family.sample(&mut s.rng("material.family")),
    )?;
    let image = if family == MaterialFamily::Image {
        Some(pick(
            images,
            &mut s.rng("material.image"),
            "factors.material.image_folder",
        )?)
    } else {
        None
    };
    let roughness = draw("material.roughness", &f.roughness).clamp(0.0, 1.0);
    let mut surface = Surface {
        keep_original,
        base_color: colour("base"),
        secondary_color: colour("secondary"),
        roughness,
        secondary_roughness: roughness,
        metallic: draw("material.metallic", &f.metallic).clamp(0.0, 1.0),
        pattern_scale: draw("material.pattern_scale", &f.pattern_scale).max(1e-6),
        pattern_detail: draw("material.pattern_detail", &f.pattern_detail).clamp(0.0, 15.0),
        pattern_distortion: draw("material.pattern_distortion", &f.pattern_distortion)
            .clamp(0.0, 10.0),
    };
    apply_family_rules(family, &mut surface);
    Material::new(family, surface, image).ok_or_else(|| SampleError::NoFiles {
        field: "factors.material.image_folder".to_string(),
    })
}

/// What makes a family look like itself (a metal is metallic and fairly glossy, rubber and
/// fabric are matte, marble has veins of some detail), applied to the drawn values here so
/// that the manifest records exactly what Blender renders.
fn apply_family_rules(family: MaterialFamily, m: &mut Surface) {
    use MaterialFamily as F;
    let r = m.roughness;
    let (roughness, secondary, metallic, detail) = match family {
        F::Plastic => (r, r, Some(0.0), None),
        F::Metal => (r.min(0.4), r.min(0.4), Some(1.0), None),
        F::Rubber => (r.max(0.75), r.max(0.75), Some(0.0), None),
        // A glossy glaze (the coat) over a diffuse body.
        F::Ceramic => (r.max(0.3), r.min(0.1), Some(0.0), None),
        F::Wood => (r, r, Some(0.0), None),
        F::Marble => (r.min(0.25), r.min(0.25), Some(0.0), Some((4.0, 15.0))),
        F::Fabric => (r.max(0.8), r.max(0.8), Some(0.0), None),
        // Smudges swing between glossy and rough.
        F::Fingerprints => (r.min(0.15), r.max(0.6), None, Some((6.0, 15.0))),
        F::Moss => (r.max(0.85), r.max(0.85), Some(0.0), Some((8.0, 15.0))),
        F::Voronoi => (r, r, None, Some((0.0, 8.0))),
        F::Noise | F::Wave | F::Brick | F::Checker | F::Image => (r, r, None, None),
    };
    m.roughness = roughness;
    m.secondary_roughness = secondary;
    if let Some(metallic) = metallic {
        m.metallic = metallic;
    }
    if let Some((lo, hi)) = detail {
        m.pattern_detail = m.pattern_detail.clamp(lo, hi);
    }
}
