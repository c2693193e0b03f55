//! Background factor (composited in Rust behind the RGBA render).
use super::color::hsv_to_linear;
use super::streams::Streams;
use super::{kind_named, pick, SampleError};
use crate::preset::{BackgroundFactor, NumberDist};
use crate::scene::params::{
    Background, BackgroundKind, Pattern, World, BACKGROUND_KINDS, BACKGROUND_PATTERNS,
};
use rand::{Rng, RngCore};
use std::path::PathBuf;

/// `hdris` and `world`: an `hdri` background shows the world's HDRI when the world is one, so
/// the object's lighting matches what is behind it; otherwise it draws an HDRI of its own.
/// Each value is drawn from its own stream, so a kind that does not use one leaves every
/// other draw unchanged.
pub fn sample_background(
    f: &BackgroundFactor,
    images: &[PathBuf],
    hdris: &[PathBuf],
    world: &World,
    s: &Streams,
) -> Result<Background, SampleError> {
    let draw = |label: &str, d: &NumberDist| d.sample(&mut s.rng(label));
    let colour = |which: &str| {
        hsv_to_linear(
            draw(&format!("background.{which}.hue"), &f.hue),
            draw(&format!("background.{which}.saturation"), &f.saturation),
            draw(&format!("background.{which}.value"), &f.value),
        )
    };
    let kind = kind_named(
        BackgroundKind::parse,
        BACKGROUND_KINDS,
        "factors.background.kind",
        f.kind.sample(&mut s.rng("background.kind")),
    )?;
    Ok(match kind {
        BackgroundKind::None => Background::None,
        BackgroundKind::Solid => Background::Solid {
            color: colour("color"),
        },
        BackgroundKind::Procedural => Background::Procedural {
            pattern: kind_named(
                Pattern::parse,
                BACKGROUND_PATTERNS,
                "factors.background.pattern",
                f.pattern.sample(&mut s.rng("background.pattern")),
            )?,
            color: colour("color"),
            secondary_color: colour("secondary"),
            pattern_scale: draw("background.pattern_scale", &f.pattern_scale),
            seed: s.rng("background.seed").next_u64(),
        },
        BackgroundKind::Hdri => Background::Hdri {
            hdri: match world.hdri() {
                Some(h) => h.to_path_buf(),
                None => pick(
                    hdris,
                    &mut s.rng("background.hdri"),
                    "factors.light.world.hdri_folder",
                )?,
            },
        },
        BackgroundKind::Image => {
            let image = pick(
                images,
                &mut s.rng("background.image"),
                "factors.background.image_folder",
            )?;
            let side = draw("background.crop_size", &f.crop_size).clamp(0.0, 1.0);
            let mut crop_rng = s.rng("background.crop");
            let x = crop_rng.random_range(0.0..=1.0 - side);
            let y = crop_rng.random_range(0.0..=1.0 - side);
            Background::Image {
                image,
                crop: [x, y, side, side],
            }
        }
    })
}
