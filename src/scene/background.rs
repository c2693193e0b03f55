//! The backdrop, composited in Rust behind the RGBA render (the worker ignores it).
use super::kinds::kinds;
use super::Rgb;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

kinds! {
    /// Backdrops the compositor draws (src/composite/).
    BackgroundKind, BACKGROUND_KINDS {
        None = "none",
        Solid = "solid",
        Procedural = "procedural",
        Hdri = "hdri",
        Image = "image",
    }
}

kinds! {
    /// Two-colour patterns of a `procedural` backdrop (src/composite/procedural.rs).
    Pattern, BACKGROUND_PATTERNS {
        Noise = "noise",
        Gradient = "gradient",
        Stripes = "stripes",
        Checker = "checker",
        Blobs = "blobs",
    }
}

/// The backdrop, tagged by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Background {
    /// Black (the paper's "no background").
    None,
    Solid {
        color: Rgb,
    },
    /// A two-colour pattern drawn from `seed` (identical pixels on every machine).
    Procedural {
        pattern: Pattern,
        color: Rgb,
        secondary_color: Rgb,
        /// Features across the image width.
        pattern_scale: f64,
        seed: u64,
    },
    /// The same HDRI projected through the camera (the world's, with its rotation and
    /// strength, when the world is that HDRI).
    Hdri {
        hdri: PathBuf,
    },
    /// A crop of a photograph.
    Image {
        image: PathBuf,
        /// Crop window, as fractions (x, y, width, height) of the image's size.
        crop: [f64; 4],
    },
}

impl Background {
    pub fn kind(&self) -> BackgroundKind {
        match self {
            Background::None => BackgroundKind::None,
            Background::Solid { .. } => BackgroundKind::Solid,
            Background::Procedural { .. } => BackgroundKind::Procedural,
            Background::Hdri { .. } => BackgroundKind::Hdri,
            Background::Image { .. } => BackgroundKind::Image,
        }
    }

    /// The file the backdrop is drawn from (image or HDRI).
    pub fn file(&self) -> Option<&Path> {
        match self {
            Background::Hdri { hdri } => Some(hdri),
            Background::Image { image, .. } => Some(image),
            _ => None,
        }
    }
}
