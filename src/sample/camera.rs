//! Camera viewpoint factor: a point on a spherical shell, looking at a jittered centre.
use super::params::CameraParams;
use super::streams::Streams;
use crate::preset::CameraFactor;

pub fn sample_camera(f: &CameraFactor, s: &Streams) -> CameraParams {
    let jitter = |axis: &str| {
        f.look_at_jitter
            .sample(&mut s.rng(&format!("camera.look_at.{axis}")))
    };
    CameraParams {
        distance: f.distance.sample(&mut s.rng("camera.distance")),
        elevation_deg: f.elevation.sample(&mut s.rng("camera.elevation")),
        azimuth_deg: f.azimuth.sample(&mut s.rng("camera.azimuth")),
        focal_length_mm: f.focal_length.sample(&mut s.rng("camera.focal_length")),
        sensor_width_mm: f.sensor_width.sample(&mut s.rng("camera.sensor_width")),
        roll_deg: f.roll.sample(&mut s.rng("camera.roll")),
        look_at: [jitter("x"), jitter("y"), jitter("z")],
    }
}
