//! The world HDRI seen through the render camera, so the backdrop matches the lighting.
//!
//! Conventions are Blender's, so that what is behind the object is what lights it:
//! * Camera: `scene::camera` (`Camera::tracked`, Blender's placement for every view, vertical
//!   ones included); a pixel's ray is forward + sx * right + sy * up.
//! * Environment Texture, equirectangular (Cycles `direction_to_equirectangular`, EEVEE
//!   `node_tex_environment_equirectangular`): u = 0.5 - atan2(y, x) / 2pi and
//!   v = 0.5 + atan2(z, hypot(x, y)) / pi, v = 1 the image's top row. So +X is the image's
//!   centre column and +Y is a quarter of the width from the left.
//! * `rotation_deg` turns the environment counter-clockwise about +Z: a direction is rotated by
//!   -rotation before the lookup (the Blender side feeds -rotation to a POINT Mapping node).
//!
//! Values are linear; they are scaled by the world strength, clipped to [0, 1] (Blender's
//! 'Standard' view transform) and sRGB-encoded.
use super::cache::LruCache;
use super::color::linear_to_srgb_u8;
use super::CompositeError;
use crate::sample::CameraParams;
use crate::scene::camera::Camera;
use image::{Rgb, Rgb32FImage, RgbImage};
use std::path::Path;
use std::sync::Arc;

/// Decoded HDRIs (the bundled ones are 1-2 k wide; a handful covers a run).
static HDRIS: LruCache<Rgb32FImage> = LruCache::new(16);

pub fn load_cached(path: &Path) -> Result<Arc<Rgb32FImage>, CompositeError> {
    HDRIS.get_or_load(
        path,
        |p| Ok(super::decode_background_file(p)?.into_rgb32f()),
    )
}

/// How the HDRI is placed and exposed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HdriView {
    pub rotation_deg: f64,
    pub strength: f64,
}

fn positive(field: &'static str, value: f64) -> Result<f64, CompositeError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(CompositeError::BadCamera { field, value })
    }
}

/// The render camera, once its distance and lens are checked (a backdrop needs a real
/// pinhole).
pub fn camera_of(c: &CameraParams) -> Result<Camera, CompositeError> {
    positive("camera.distance", c.distance)?;
    positive("camera.focal_length_mm", c.focal_length_mm)?;
    positive("camera.sensor_width_mm", c.sensor_width_mm)?;
    Ok(Camera::tracked(c))
}

/// Rotates a direction by `angle` radians about +Z.
fn rotate_z(v: [f64; 3], angle: f64) -> [f64; 3] {
    let (s, c) = angle.sin_cos();
    [c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]]
}

/// Bilinear lookup at (u, v): u wraps around, v is clamped at the poles.
#[inline]
fn sample_equirect(img: &Rgb32FImage, u: f32, v: f32) -> [f32; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let px = u * w as f32 - 0.5;
    let py = (1.0 - v) * h as f32 - 0.5;
    let (x0, y0) = (px.floor(), py.floor());
    let (fx, fy) = (px - x0, py - y0);
    // u is within [0, 1] up to rounding, so one step of wrapping is enough (no division).
    let wrap = |x: i64| {
        if x < 0 {
            (x + w).max(0)
        } else if x >= w {
            (x - w).min(w - 1)
        } else {
            x
        }
    };
    let (xa, xb) = (wrap(x0 as i64) as usize, wrap(x0 as i64 + 1) as usize);
    let ya = (y0 as i64).clamp(0, h - 1) as usize;
    let yb = (y0 as i64 + 1).clamp(0, h - 1) as usize;
    let raw = img.as_raw();
    let at = |x: usize, y: usize| {
        let i = (y * w as usize + x) * 3;
        [raw[i], raw[i + 1], raw[i + 2]]
    };
    let (a, b, c, d) = (at(xa, ya), at(xb, ya), at(xa, yb), at(xb, yb));
    std::array::from_fn(|i| {
        let top = a[i] + (b[i] - a[i]) * fx;
        let bottom = c[i] + (d[i] - c[i]) * fx;
        top + (bottom - top) * fy
    })
}

/// atan2 from a least-squares odd polynomial (degree 11, error under 2e-6 rad, far below
/// a texel of any HDRI): basic arithmetic only, so it is fast, and portable across libms.
#[inline]
pub fn atan2_poly(y: f32, x: f32) -> f32 {
    use std::f32::consts::{FRAC_PI_2, PI};
    let (ax, ay) = (x.abs(), y.abs());
    let (lo, hi) = if ay > ax { (ax, ay) } else { (ay, ax) };
    if hi == 0.0 {
        return 0.0;
    }
    let a = lo / hi;
    let s = a * a;
    let mut r = a
        * (0.999_979_8
            + s * (-0.332_655_42
                + s * (0.193_669_89
                    + s * (-0.116_649_98 + s * (0.052_822_19 + s * -0.011_769_97)))));
    if ay > ax {
        r = FRAC_PI_2 - r;
    }
    if x < 0.0 {
        r = PI - r;
    }
    if y < 0.0 {
        -r
    } else {
        r
    }
}

/// Equirectangular (u, v) of a world direction (Blender's convention, see the module notes).
#[inline]
pub fn direction_to_uv(d: [f32; 3]) -> (f32, f32) {
    use std::f32::consts::PI as PI32;
    let u = 0.5 - atan2_poly(d[1], d[0]) / (2.0 * PI32);
    let v = 0.5 + atan2_poly(d[2], (d[0] * d[0] + d[1] * d[1]).sqrt()) / PI32;
    (u, v)
}

/// Projects `hdri` through `camera` into a `width` x `height` sRGB image.
pub fn project(
    hdri: &Rgb32FImage,
    camera: &Camera,
    view: HdriView,
    width: u32,
    height: u32,
) -> RgbImage {
    // Fold the inverse environment rotation into the camera basis: one rotation per image.
    let angle = -view.rotation_deg.to_radians();
    let to_f32 = |v: [f64; 3]| rotate_z(v, angle).map(|x| x as f32);
    let (right, up, forward) = (
        to_f32(camera.basis.right),
        to_f32(camera.basis.up),
        to_f32(camera.basis.forward),
    );
    let half_w = camera.half_width;
    let half_h = half_w * height as f64 / width as f64;
    let strength = view.strength as f32;
    let screen_x: Vec<f32> = (0..width)
        .map(|x| ((((x as f64 + 0.5) / width as f64) * 2.0 - 1.0) * half_w) as f32)
        .collect();
    let mut out = RgbImage::new(width, height);
    for (y, pixels) in out.rows_mut().enumerate() {
        let sy = ((1.0 - ((y as f64 + 0.5) / height as f64) * 2.0) * half_h) as f32;
        let row_origin: [f32; 3] = std::array::from_fn(|i| forward[i] + sy * up[i]);
        for (pixel, &sx) in pixels.zip(&screen_x) {
            let d = std::array::from_fn(|i| row_origin[i] + sx * right[i]);
            let (u, v) = direction_to_uv(d);
            let c = sample_equirect(hdri, u, v);
            *pixel = Rgb(c.map(|x| linear_to_srgb_u8(x * strength)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::scene::camera::test_params as camera;

    /// Camera on the shell at `azimuth`, so it looks along -azimuth through the origin.
    fn looking_along(azimuth_of_view: f64) -> Camera {
        camera_of(&camera(0.0, azimuth_of_view + 180.0, 0.0)).unwrap()
    }

    /// 64 x 32 equirect: four quarters of u coloured red, green, blue, white (left to right);
    /// the top quarter (elevation above 45 degrees) is black.
    fn quarters() -> Rgb32FImage {
        Rgb32FImage::from_fn(64, 32, |x, y| {
            if y < 8 {
                return Rgb([0.0, 0.0, 0.0]);
            }
            Rgb(match x / 16 {
                0 => [1.0, 0.0, 0.0],
                1 => [0.0, 1.0, 0.0],
                2 => [0.0, 0.0, 1.0],
                _ => [1.0, 1.0, 1.0],
            })
        })
    }

    fn centre(img: &RgbImage) -> [u8; 3] {
        img.get_pixel(img.width() / 2, img.height() / 2).0
    }

    fn view() -> HdriView {
        HdriView {
            rotation_deg: 0.0,
            strength: 1.0,
        }
    }

    #[test]
    fn atan2_poly_is_close_to_libm_everywhere() {
        for i in 0..3600 {
            let angle = (i as f64 / 10.0 - 180.0).to_radians();
            for radius in [1e-3f64, 1.0, 500.0] {
                let (y, x) = ((angle.sin() * radius) as f32, (angle.cos() * radius) as f32);
                let err = (atan2_poly(y, x) - y.atan2(x)).abs();
                // Near +-pi the two may land on opposite sides of the branch cut.
                let wrapped = (err - 2.0 * std::f32::consts::PI).abs();
                assert!(err.min(wrapped) < 1e-5, "atan2({y}, {x}): error {err}");
            }
        }
        assert_eq!(atan2_poly(0.0, 0.0), 0.0);
        assert!((atan2_poly(1.0, 0.0) - std::f32::consts::FRAC_PI_2).abs() < 1e-6);
        assert!((atan2_poly(0.0, -1.0) - std::f32::consts::PI).abs() < 1e-6);
    }

    #[test]
    fn a_camera_without_a_lens_or_distance_is_refused() {
        for (field, c) in [
            (
                "camera.distance",
                CameraParams {
                    distance: 0.0,
                    ..camera(0.0, 0.0, 0.0)
                },
            ),
            (
                "camera.focal_length_mm",
                CameraParams {
                    focal_length_mm: f64::NAN,
                    ..camera(0.0, 0.0, 0.0)
                },
            ),
            (
                "camera.sensor_width_mm",
                CameraParams {
                    sensor_width_mm: -36.0,
                    ..camera(0.0, 0.0, 0.0)
                },
            ),
        ] {
            match camera_of(&c) {
                Err(CompositeError::BadCamera { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn opposite_views_see_opposite_halves() {
        let hdri = quarters();
        // +Y is u = 0.25 (the green quarter's left edge, so aim at u = 0.375 instead: azimuth
        // 45 is u = 0.375, green); -Y side azimuth -135 is u = 0.875 (white).
        let towards_45 = project(&hdri, &looking_along(45.0), view(), 16, 16);
        let towards_225 = project(&hdri, &looking_along(225.0), view(), 16, 16);
        assert_eq!(centre(&towards_45), [0, 255, 0]);
        assert_eq!(centre(&towards_225), [255, 255, 255]);
        // +X is the image centre seam between green and blue: left half green, right blue
        // (u decreases as azimuth increases, and the camera's left is +azimuth).
        let towards_x = project(&hdri, &looking_along(0.0), view(), 16, 16);
        assert_eq!(towards_x.get_pixel(2, 8).0, [0, 255, 0]);
        assert_eq!(towards_x.get_pixel(13, 8).0, [0, 0, 255]);
        // -X is the wrap seam: white on the left, red on the right.
        let towards_minus_x = project(&hdri, &looking_along(180.0), view(), 16, 16);
        assert_eq!(towards_minus_x.get_pixel(2, 8).0, [255, 255, 255]);
        assert_eq!(towards_minus_x.get_pixel(13, 8).0, [255, 0, 0]);
    }

    #[test]
    fn looking_up_sees_the_top_rows() {
        let hdri = quarters();
        let up = camera_of(&camera(-90.0, 0.0, 0.0)).unwrap();
        assert_eq!(up.basis.forward, [0.0, 0.0, 1.0]);
        let img = project(&hdri, &up, view(), 8, 8);
        assert!(img.pixels().all(|p| p.0 == [0, 0, 0]));
        let down = camera_of(&camera(90.0, 0.0, 0.0)).unwrap();
        let img = project(&hdri, &down, view(), 8, 8);
        assert!(img.pixels().all(|p| p.0 != [0, 0, 0]));
    }

    #[test]
    fn rotation_turns_the_environment_counter_clockwise() {
        let hdri = quarters();
        // Rotating by 90 brings what was at +X (u = 0.5) to +Y: looking along azimuth 135
        // now sees what azimuth 45 saw before.
        let rotated = HdriView {
            rotation_deg: 90.0,
            strength: 1.0,
        };
        let before = project(&hdri, &looking_along(45.0), view(), 16, 16);
        let after = project(&hdri, &looking_along(135.0), rotated, 16, 16);
        assert_eq!(centre(&before), centre(&after));
        assert_eq!(centre(&after), [0, 255, 0]);
    }

    #[test]
    fn strength_scales_before_clipping() {
        let grey = Rgb32FImage::from_pixel(8, 4, Rgb([0.25, 0.25, 0.25]));
        let dim = project(&grey, &looking_along(0.0), view(), 4, 4);
        let bright = project(
            &grey,
            &looking_along(0.0),
            HdriView {
                rotation_deg: 0.0,
                strength: 8.0,
            },
            4,
            4,
        );
        assert_eq!(centre(&dim), [137, 137, 137]);
        assert_eq!(centre(&bright), [255, 255, 255]);
    }

    #[test]
    fn bundled_hdris_decode() {
        let dir = crate::paths::bundled_hdri_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            panic!(
                "the bundled HDRI folder {} is missing; run the setup script",
                dir.display()
            );
        };
        let mut count = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("exr") {
                continue;
            }
            let img = load_cached(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                img.width() >= 2 * img.height() - 1,
                "{} is not 2:1",
                path.display()
            );
            let mean: f32 = img.pixels().map(|p| p.0[0] + p.0[1] + p.0[2]).sum::<f32>()
                / (3 * img.width() * img.height()) as f32;
            assert!(
                mean.is_finite() && mean > 0.0,
                "{} is black",
                path.display()
            );
            count += 1;
        }
        assert_eq!(
            count,
            8,
            "expected the 8 HDRIs of the bpy wheel in {}",
            dir.display()
        );
    }
}
