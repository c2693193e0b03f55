//! Laying the straight-alpha render over its backdrop, and keeping the mask.
//!
//! The blend is done in LINEAR light: both images are sRGB-decoded, mixed by alpha, and
//! re-encoded. That is what Blender itself computes when a world is behind a semi-transparent
//! edge, so anti-aliased silhouettes get no dark or light fringe. Fully transparent and fully
//! opaque pixels are copied as they are (no round trip through the tables).
use super::color::{decode_table, linear_to_srgb_u8};
use super::CompositeError;
use image::{GrayImage, Luma, Rgb, RgbImage, RgbaImage};

/// The render over the backdrop (same size), as an RGB image.
pub fn over(render: &RgbaImage, backdrop: &RgbImage) -> Result<RgbImage, CompositeError> {
    if render.dimensions() != backdrop.dimensions() {
        return Err(CompositeError::SizeMismatch {
            render_w: render.width(),
            render_h: render.height(),
            backdrop_w: backdrop.width(),
            backdrop_h: backdrop.height(),
        });
    }
    let decode = decode_table();
    let mut out = RgbImage::new(render.width(), render.height());
    for ((fg, bg), dst) in render.pixels().zip(backdrop.pixels()).zip(out.pixels_mut()) {
        let [r, g, b, a] = fg.0;
        *dst = match a {
            0 => *bg,
            255 => Rgb([r, g, b]),
            _ => {
                let alpha = a as f32 / 255.0;
                Rgb(std::array::from_fn(|i| {
                    let f = decode[fg.0[i] as usize];
                    let k = decode[bg.0[i] as usize];
                    linear_to_srgb_u8(k + (f - k) * alpha)
                }))
            }
        };
    }
    Ok(out)
}

/// The object mask: the render's alpha channel.
pub fn mask(render: &RgbaImage) -> GrayImage {
    GrayImage::from_fn(render.width(), render.height(), |x, y| {
        Luma([render.get_pixel(x, y).0[3]])
    })
}
