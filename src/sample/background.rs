//! Background factor (composited in Rust behind the RGBA render).
use super::color::hsv_to_linear;
use super::streams::Streams;
use super::{pick, SampleError};
use crate::preset::{BackgroundFactor, NumberDist};
use crate::scene::params::{BackgroundParams, WorldParams};
use rand::{Rng, RngCore};
use std::path::PathBuf;

/// `hdris` and `world`: an `hdri` background shows the world's HDRI when the world is one, so
/// the object's lighting matches what is behind it; otherwise it draws an HDRI of its own.
pub fn sample_background(
    f: &BackgroundFactor,
    images: &[PathBuf],
    hdris: &[PathBuf],
    world: &WorldParams,
    s: &Streams,
) -> Result<BackgroundParams, SampleError> {
    let draw = |label: &str, d: &NumberDist| d.sample(&mut s.rng(label));
    let colour = |which: &str| {
        hsv_to_linear(
            draw(&format!("background.{which}.hue"), &f.hue),
            draw(&format!("background.{which}.saturation"), &f.saturation),
            draw(&format!("background.{which}.value"), &f.value),
        )
    };
    let kind = f.kind.sample(&mut s.rng("background.kind"));
    let image = match kind.as_str() {
        "image" => Some(pick(
            images,
            &mut s.rng("background.image"),
            "factors.background.image_folder",
        )?),
        "hdri" => match &world.hdri {
            Some(h) => Some(h.clone()),
            None => Some(pick(
                hdris,
                &mut s.rng("background.hdri"),
                "factors.light.world.hdri_folder",
            )?),
        },
        _ => None,
    };
    let side = draw("background.crop_size", &f.crop_size).clamp(0.0, 1.0);
    let mut crop_rng = s.rng("background.crop");
    let x = crop_rng.random_range(0.0..=1.0 - side);
    let y = crop_rng.random_range(0.0..=1.0 - side);
    Ok(BackgroundParams {
        color: colour("color"),
        secondary_color: colour("secondary"),
        pattern: f.pattern.sample(&mut s.rng("background.pattern")),
        pattern_scale: draw("background.pattern_scale", &f.pattern_scale),
        crop: [x, y, side, side],
        seed: s.rng("background.seed").next_u64(),
        kind,
        image,
    })
}
