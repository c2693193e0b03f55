//! The object's surface: the sampled material, tagged by family.
use super::kinds::kinds;
use super::Rgb;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

kinds! {
    /// Material families the Blender side implements (blender_scripts/synthgen_blender/materials.py).
    MaterialFamily, MATERIAL_FAMILIES {
        Plastic = "plastic",
        Metal = "metal",
        Rubber = "rubber",
        Ceramic = "ceramic",
        Wood = "wood",
        Marble = "marble",
        Fabric = "fabric",
        Fingerprints = "fingerprints",
        Moss = "moss",
        Noise = "noise",
        Voronoi = "voronoi",
        Wave = "wave",
        Brick = "brick",
        Checker = "checker",
        Image = "image",
    }
}

/// The sampled surface, tagged by family. `keep_original` keeps the model's own materials
/// where their textures resolve; this surface replaces the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Material {
    Plastic(Surface),
    Metal(Surface),
    Rubber(Surface),
    /// `secondary_roughness` is the glaze's coat roughness.
    Ceramic(Surface),
    Wood(Surface),
    Marble(Surface),
    Fabric(Surface),
    /// Roughness swings between `roughness` (smudges) and `secondary_roughness`.
    Fingerprints(Surface),
    Moss(Surface),
    Noise(Surface),
    Voronoi(Surface),
    Wave(Surface),
    Brick(Surface),
    Checker(Surface),
    Image(ImageSurface),
}

/// Final shader values: Python sets them as given (the per-family rules live in the sampler).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Surface {
    /// Keep the model's own materials (textures that do not resolve fall back to this
    /// surface, never to Blender's magenta).
    pub keep_original: bool,
    pub base_color: Rgb,
    /// Second colour of two-colour patterns (checker, brick, wave, voronoi, moss, ...).
    pub secondary_color: Rgb,
    /// The roughness Blender renders (after the family's rule in `sample/material.rs`).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub roughness: f64,
    /// Second roughness of two-roughness families: a ceramic's glaze coat, the rough end of
    /// fingerprint smudges; equal to `roughness` elsewhere.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub secondary_roughness: f64,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub metallic: f64,
    /// Texture coordinate scale of the pattern (object space; larger = finer pattern).
    #[schemars(range(min = 1e-9))]
    pub pattern_scale: f64,
    /// Noise detail (octaves) of the pattern.
    #[schemars(range(min = 0.0, max = 15.0))]
    pub pattern_detail: f64,
    /// Domain distortion of the pattern.
    #[schemars(range(min = 0.0, max = 10.0))]
    pub pattern_distortion: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImageSurface {
    #[serde(flatten)]
    pub surface: Surface,
    /// Box-projected image texture; a file that does not load falls back to `base_color`.
    pub image: PathBuf,
}

impl Material {
    /// The material of `family` with `surface`; `image` is the texture of the `image` family
    /// (None for it: no material, as it cannot be rendered without its file).
    pub fn new(family: MaterialFamily, surface: Surface, image: Option<PathBuf>) -> Option<Self> {
        use MaterialFamily as F;
        Some(match family {
            F::Plastic => Material::Plastic(surface),
            F::Metal => Material::Metal(surface),
            F::Rubber => Material::Rubber(surface),
            F::Ceramic => Material::Ceramic(surface),
            F::Wood => Material::Wood(surface),
            F::Marble => Material::Marble(surface),
            F::Fabric => Material::Fabric(surface),
            F::Fingerprints => Material::Fingerprints(surface),
            F::Moss => Material::Moss(surface),
            F::Noise => Material::Noise(surface),
            F::Voronoi => Material::Voronoi(surface),
            F::Wave => Material::Wave(surface),
            F::Brick => Material::Brick(surface),
            F::Checker => Material::Checker(surface),
            F::Image => Material::Image(ImageSurface {
                surface,
                image: image?,
            }),
        })
    }

    pub fn family(&self) -> MaterialFamily {
        use MaterialFamily as F;
        match self {
            Material::Plastic(_) => F::Plastic,
            Material::Metal(_) => F::Metal,
            Material::Rubber(_) => F::Rubber,
            Material::Ceramic(_) => F::Ceramic,
            Material::Wood(_) => F::Wood,
            Material::Marble(_) => F::Marble,
            Material::Fabric(_) => F::Fabric,
            Material::Fingerprints(_) => F::Fingerprints,
            Material::Moss(_) => F::Moss,
            Material::Noise(_) => F::Noise,
            Material::Voronoi(_) => F::Voronoi,
            Material::Wave(_) => F::Wave,
            Material::Brick(_) => F::Brick,
            Material::Checker(_) => F::Checker,
            Material::Image(_) => F::Image,
        }
    }

    pub fn surface(&self) -> &Surface {
        match self {
            Material::Image(i) => &i.surface,
            Material::Plastic(s)
            | Material::Metal(s)
            | Material::Rubber(s)
            | Material::Ceramic(s)
            | Material::Wood(s)
            | Material::Marble(s)
            | Material::Fabric(s)
            | Material::Fingerprints(s)
            | Material::Moss(s)
            | Material::Noise(s)
            | Material::Voronoi(s)
            | Material::Wave(s)
            | Material::Brick(s)
            | Material::Checker(s) => s,
        }
    }

    pub fn surface_mut(&mut self) -> &mut Surface {
        match self {
            Material::Image(i) => &mut i.surface,
            Material::Plastic(s)
            | Material::Metal(s)
            | Material::Rubber(s)
            | Material::Ceramic(s)
            | Material::Wood(s)
            | Material::Marble(s)
            | Material::Fabric(s)
            | Material::Fingerprints(s)
            | Material::Moss(s)
            | Material::Noise(s)
            | Material::Voronoi(s)
            | Material::Wave(s)
            | Material::Brick(s)
            | Material::Checker(s) => s,
        }
    }

    /// The image texture of the `image` family.
    pub fn image(&self) -> Option<&std::path::Path> {
        match self {
            Material::Image(i) => Some(&i.image),
            _ => None,
        }
    }
}
