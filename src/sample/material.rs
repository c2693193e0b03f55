//! Material texture factor.
use super::color::hsv_to_linear;
use super::params::MaterialParams;
use super::streams::Streams;
use super::{pick, SampleError};
use crate::preset::MaterialFactor;
use rand::Rng;
use std::path::PathBuf;

pub fn sample_material(
    f: &MaterialFactor,
    images: &[PathBuf],
    s: &Streams,
) -> Result<MaterialParams, SampleError> {
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
    let family = f.family.sample(&mut s.rng("material.family"));
    let image = if family == "image" {
        Some(pick(
            images,
            &mut s.rng("material.image"),
            "factors.material.image_folder",
        )?)
    } else {
        None
    };
    Ok(MaterialParams {
        keep_original,
        base_color: colour("base"),
        secondary_color: colour("secondary"),
        roughness: draw("material.roughness", &f.roughness),
        metallic: draw("material.metallic", &f.metallic),
        pattern_scale: draw("material.pattern_scale", &f.pattern_scale),
        pattern_detail: draw("material.pattern_detail", &f.pattern_detail),
        pattern_distortion: draw("material.pattern_distortion", &f.pattern_distortion),
        family,
        image,
    })
}
