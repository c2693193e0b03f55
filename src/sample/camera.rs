//! Camera viewpoint factor: a point on a spherical shell, looking at a jittered centre.
use super::streams::Streams;
use crate::preset::CameraFactor;
use crate::scene::params::CameraParams;

/// `size` is the object's sampled largest side (the framing option measures it in frames).
pub fn sample_camera(f: &CameraFactor, s: &Streams, size: f64) -> CameraParams {
    let jitter = |axis: &str| {
        f.look_at_jitter
            .sample(&mut s.rng(&format!("camera.look_at.{axis}")))
    };
    let focal_length_mm = f.focal_length.sample(&mut s.rng("camera.focal_length"));
    let sensor_width_mm = f.sensor_width.sample(&mut s.rng("camera.sensor_width"));
    let frame_fill = f
        .frame_fill
        .as_ref()
        .map(|d| d.sample(&mut s.rng("camera.frame_fill")));
    // A pinhole sees sensor / focal x distance across: the size fills `fill` of that.
    let distance = match frame_fill {
        Some(fill) => size * focal_length_mm / (fill * sensor_width_mm),
        None => f.distance.sample(&mut s.rng("camera.distance")),
    };
    CameraParams {
        distance,
        elevation_deg: f.elevation.sample(&mut s.rng("camera.elevation")),
        azimuth_deg: f.azimuth.sample(&mut s.rng("camera.azimuth")),
        focal_length_mm,
        sensor_width_mm,
        roll_deg: f.roll.sample(&mut s.rng("camera.roll")),
        look_at: [jitter("x"), jitter("y"), jitter("z")],
        frame_fill,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::NumberDist;

    #[test]
    fn frame_fill_sets_the_distance_from_the_lens_and_size() {
        let s = Streams::new(7, "chair", 3, 0);
        let mut f = CameraFactor::default();
        let off = sample_camera(&f, &s, 2.0);
        assert_eq!(off.frame_fill, None);
        assert!((2.5..=5.0).contains(&off.distance));
        f.frame_fill = Some(NumberDist::Fixed(0.5));
        let on = sample_camera(&f, &s, 2.0);
        assert_eq!(on.frame_fill, Some(0.5));
        // 50 mm on 36 mm sees 0.72 x distance across: 2 units fill half of it at 5.556.
        assert!((on.distance - 2.0 * 50.0 / (0.5 * 36.0)).abs() < 1e-12);
        // Every other value is drawn from its own stream, so framing leaves it unchanged.
        assert_eq!(
            (on.elevation_deg, on.look_at),
            (off.elevation_deg, off.look_at)
        );
    }
}
