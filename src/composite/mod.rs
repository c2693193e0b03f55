//! Backgrounds composited behind the RGBA render.
//!
//! The Blender worker renders with a transparent film: an RGBA PNG, straight alpha (the object
//! mask), plain sRGB. Here the sampled backdrop is drawn (`background`), the render is laid over
//! it in linear light (`over`) and the mask is kept (`mask`).
mod blend;
mod cache;
pub mod color;
mod hdri;
mod image_backdrop;
mod noise;
mod procedural;
mod shrunk_cache;

pub use crate::scene::params::Pattern;
pub use blend::{mask, over};
pub use hdri::{direction_to_uv, HdriView};
pub use image_backdrop::crop_rect;

use crate::scene::params::{Background, CameraParams, World};
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Largest backdrop side accepted (a guard against a corrupt size allocating gigabytes).
pub const MAX_SIDE: u32 = 16_384;

#[derive(Debug, Error)]
pub enum CompositeError {
    #[error(
        "background.pattern_scale is {value}, but it must be a positive number (features per \
         image width); fix the preset's background pattern_scale."
    )]
    BadPatternScale { value: f64 },
    #[error(
        "background.crop is {crop:?}, but it must be (x, y, width, height) fractions with \
         width, height > 0 and the window inside the image; fix the sampler's crop."
    )]
    BadCrop { crop: [f64; 4] },
    #[error("{field} is {value}, but it must be a positive number; fix the camera parameters.")]
    BadCamera { field: &'static str, value: f64 },
    #[error(
        "a {width} x {height} backdrop was asked for, but both sides must be between 1 and \
         {MAX_SIDE}; fix the render resolution."
    )]
    BadSize { width: u32, height: u32 },
    #[error(
        "the render is {render_w} x {render_h} but the backdrop is {backdrop_w} x {backdrop_h}; \
         draw the backdrop at the render's size."
    )]
    SizeMismatch {
        render_w: u32,
        render_h: u32,
        backdrop_w: u32,
        backdrop_h: u32,
    },
    #[error(
        "could not decode background file {}: {source}; replace or remove the file (readable \
         formats: PNG, JPEG, WebP, BMP, EXR, HDR).", path.display()
    )]
    Decode {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("background file {} decodes to an empty image; replace or remove it.", path.display())]
    EmptyImage { path: PathBuf },
}

/// A background file decoded, refusing an empty image; both errors name the file.
fn decode_background_file(path: &Path) -> Result<image::DynamicImage, CompositeError> {
    let decoded = image::open(path).map_err(|source| CompositeError::Decode {
        path: path.to_path_buf(),
        source,
    })?;
    if decoded.width() == 0 || decoded.height() == 0 {
        return Err(CompositeError::EmptyImage {
            path: path.to_path_buf(),
        });
    }
    Ok(decoded)
}

/// Draws the backdrop described by `params`, `width` x `height`, 8-bit sRGB.
///
/// Kinds: `none` is black (the paper's "no background"); `solid` is `color`; `procedural`
/// draws `pattern` from `seed` (identical pixels on every machine); `image` cuts the `crop`
/// window from `image`; `hdri` projects the HDRI through `camera` (the world's rotation and
/// strength apply when the file is the world's own HDRI, as Blender then lights the object
/// with it).
pub fn background(
    params: &Background,
    world: &World,
    camera: &CameraParams,
    width: u32,
    height: u32,
) -> Result<RgbImage, CompositeError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(CompositeError::BadSize { width, height });
    }
    match params {
        Background::None => Ok(RgbImage::new(width, height)),
        Background::Solid { color } => Ok(RgbImage::from_pixel(
            width,
            height,
            Rgb(color::encode_rgb(*color)),
        )),
        Background::Procedural {
            pattern,
            color,
            secondary_color,
            pattern_scale,
            seed,
        } => procedural::render(
            *pattern,
            *color,
            *secondary_color,
            *pattern_scale,
            *seed,
            width,
            height,
        ),
        Background::Image { image, crop } => image_backdrop::render(image, *crop, width, height),
        Background::Hdri { hdri } => {
            let view = hdri_view(hdri, world);
            let pinhole = hdri::camera_of(camera)?;
            let hdri = hdri::load_cached(hdri)?;
            Ok(hdri::project(&hdri, &pinhole, view, width, height))
        }
    }
}

/// The world's placement when the backdrop shows the world's own HDRI, else the file as is.
fn hdri_view(path: &Path, world: &World) -> HdriView {
    match world {
        World::Hdri {
            hdri,
            rotation_deg,
            strength,
        } if hdri == path => HdriView {
            rotation_deg: *rotation_deg,
            strength: *strength,
        },
        _ => HdriView {
            rotation_deg: 0.0,
            strength: 1.0,
        },
    }
}

#[cfg(test)]
mod tests;
