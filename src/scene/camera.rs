//! The render camera's geometry, in one place: view prediction (`render::predict`) projects the
//! model through it and the HDRI backdrop (`composite::hdri`) casts its rays from it.
//! blender_scripts/synthgen_blender/shell.py and camera.py place Blender's camera by the same
//! conventions (the necessary mirror on the Python side; change both together).
//!
//! Conventions are Blender's:
//! * The eye is on the shell at (distance, elevation, azimuth) around the origin, azimuth 0 = +X
//!   and counter-clockwise seen from +Z.
//! * The camera looks down its local -Z at `look_at` with local +Y as close to world +Z as
//!   possible (`to_track_quat('-Z', 'Y')`), then turns by `roll_deg` about its local Z.
//! * Pinhole with horizontal sensor fit and square pixels: a point at horizontal angle `a`
//!   from the axis lands at screen x = tan(a) * focal / (sensor / 2), x = +-1 being the image's
//!   left and right edges.
//!
//! Float order is part of the contract: renders are compared byte for byte across builds
//! (`scripts/render_digest.sh`), so a change to any formula here must keep their bits.
use super::params::CameraParams;

pub type Vec3 = [f64; 3];

const WORLD_UP: Vec3 = [0.0, 0.0, 1.0];

/// The camera's axes in world space: a pixel's ray is `forward + sx * right + sy * up`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Basis {
    pub right: Vec3,
    pub up: Vec3,
    pub forward: Vec3,
}

/// Looking straight down with the picture's up along +Y (Blender's choice without a horizon).
const LOOKING_DOWN: Basis = Basis {
    right: [1.0, 0.0, 0.0],
    up: [0.0, 1.0, 0.0],
    forward: [0.0, 0.0, -1.0],
};

/// Looking straight up: a half turn of `LOOKING_DOWN` about X.
const LOOKING_UP: Basis = Basis {
    right: [1.0, 0.0, 0.0],
    up: [0.0, -1.0, 0.0],
    forward: [0.0, 0.0, 1.0],
};

impl Basis {
    /// Looking from `eye` at `target` with the horizon level. None when the eye is on the
    /// target or the view is vertical (no horizon to level).
    pub fn look_at(eye: Vec3, target: Vec3) -> Option<Basis> {
        let forward = normalize(sub(target, eye))?;
        let right = normalize(cross(forward, WORLD_UP))?;
        let up = cross(right, forward);
        Some(Basis { right, up, forward })
    }

    /// Blender's `to_track_quat('-Z', 'Y')` for every view: `look_at`, and for a vertical view
    /// (horizontal part under 1e-9 of the distance) the picture's up is +Y looking down, -Y
    /// looking up; an eye on the target looks down.
    pub fn track_to(eye: Vec3, target: Vec3) -> Basis {
        let dir = sub(target, eye);
        let len = dot(dir, dir).sqrt();
        if len.is_nan() || len <= 1e-12 {
            return LOOKING_DOWN;
        }
        if dir[0].hypot(dir[1]) < 1e-9 * len {
            return if dir[2] < 0.0 {
                LOOKING_DOWN
            } else {
                LOOKING_UP
            };
        }
        // Both norms are far above `look_at`'s limits here, so the fallback is never taken.
        Basis::look_at(eye, target).unwrap_or(LOOKING_DOWN)
    }

    /// Turned by `roll_deg` about the forward axis: right' = cos r right + sin r up,
    /// up' = -sin r right + cos r up.
    pub fn rolled(self, roll_deg: f64) -> Basis {
        let (s, c) = roll_deg.to_radians().sin_cos();
        Basis {
            right: add(scale(self.right, c), scale(self.up, s)),
            up: add(scale(self.right, -s), scale(self.up, c)),
            forward: self.forward,
        }
    }
}

/// The eye on the shell around the origin.
pub fn eye(distance: f64, elevation_deg: f64, azimuth_deg: f64) -> Vec3 {
    let (el, az) = (elevation_deg.to_radians(), azimuth_deg.to_radians());
    [
        distance * el.cos() * az.cos(),
        distance * el.cos() * az.sin(),
        distance * el.sin(),
    ]
}

/// A placed pinhole camera: eye, rolled basis and lens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    pub eye: Vec3,
    pub basis: Basis,
    /// focal / (sensor / 2): screen units per unit of tangent.
    pub focal_ratio: f64,
    /// (sensor / 2) / focal: the tangent of half the horizontal field of view. Computed
    /// directly rather than as `1 / focal_ratio`, which would round differently.
    pub half_width: f64,
}

impl Camera {
    fn placed(c: &CameraParams, basis: Basis) -> Camera {
        Camera {
            eye: eye(c.distance, c.elevation_deg, c.azimuth_deg),
            basis: basis.rolled(c.roll_deg),
            focal_ratio: c.focal_length_mm / (c.sensor_width_mm / 2.0),
            half_width: 0.5 * c.sensor_width_mm / c.focal_length_mm,
        }
    }

    /// The camera with a level horizon (`Basis::look_at`); None for a vertical view or an eye
    /// on its target.
    pub fn aimed(c: &CameraParams) -> Option<Camera> {
        let at = eye(c.distance, c.elevation_deg, c.azimuth_deg);
        Some(Camera::placed(c, Basis::look_at(at, c.look_at)?))
    }

    /// The camera as Blender places it, for every view (`Basis::track_to`).
    pub fn tracked(c: &CameraParams) -> Camera {
        let at = eye(c.distance, c.elevation_deg, c.azimuth_deg);
        Camera::placed(c, Basis::track_to(at, c.look_at))
    }

    /// Screen coordinates of a world point: x to the right, y up, +-1 at the left and right
    /// edges (horizontal sensor fit). None when the point is behind or at the camera (depth
    /// along the axis at most 1e-6).
    pub fn to_screen(&self, p: Vec3) -> Option<[f64; 2]> {
        let v = sub(p, self.eye);
        let depth = dot(v, self.basis.forward);
        if depth <= 1e-6 {
            return None;
        }
        Some([
            dot(v, self.basis.right) / depth * self.focal_ratio,
            dot(v, self.basis.up) / depth * self.focal_ratio,
        ])
    }

    /// The full horizontal field of view in degrees.
    pub fn horizontal_fov_deg(&self) -> f64 {
        2.0 * self.half_width.atan().to_degrees()
    }
}

pub fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
pub fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
pub fn scale(a: Vec3, k: f64) -> Vec3 {
    [a[0] * k, a[1] * k, a[2] * k]
}
pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
pub fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
/// `a` divided by its length; None at length 1e-12 or less.
pub fn normalize(a: Vec3) -> Option<Vec3> {
    let n = dot(a, a).sqrt();
    (n > 1e-12).then(|| [a[0] / n, a[1] / n, a[2] / n])
}

/// A 50 mm camera on a shell of radius 2 aimed at the origin: the fixture of the camera tests
/// here and of the HDRI backdrop's.
#[cfg(test)]
pub(crate) fn test_params(elevation_deg: f64, azimuth_deg: f64, roll_deg: f64) -> CameraParams {
    CameraParams {
        distance: 2.0,
        elevation_deg,
        azimuth_deg,
        focal_length_mm: 50.0,
        sensor_width_mm: 36.0,
        roll_deg,
        look_at: [0.0, 0.0, 0.0],
        frame_fill: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_params as params;

    fn close(a: Vec3, b: Vec3) -> bool {
        (0..3).all(|i| (a[i] - b[i]).abs() < 1e-9)
    }

    #[test]
    fn basis_matches_blender_track_to() {
        // Camera at +X looking at the origin: forward -X; facing -X with +Z up, +Y is on the
        // right.
        let cam = Camera::tracked(&params(0.0, 0.0, 0.0));
        assert!(close(cam.basis.forward, [-1.0, 0.0, 0.0]));
        assert!(close(cam.basis.right, [0.0, 1.0, 0.0]));
        assert!(close(cam.basis.up, [0.0, 0.0, 1.0]));
        // Roll 90: the camera's right turns towards its up.
        let rolled = Camera::tracked(&params(0.0, 0.0, 90.0));
        assert!(close(rolled.basis.right, [0.0, 0.0, 1.0]));
        assert!(close(rolled.basis.up, [0.0, -1.0, 0.0]));
        assert!((cam.horizontal_fov_deg() - 39.5978).abs() < 1e-3);
    }

    #[test]
    fn vertical_views_have_no_level_horizon_but_blender_fixes_one() {
        let up = params(-90.0, 0.0, 0.0);
        assert_eq!(Camera::aimed(&up), None);
        assert_eq!(Camera::tracked(&up).basis, LOOKING_UP);
        let down = params(90.0, 30.0, 0.0);
        assert_eq!(Camera::aimed(&down), None);
        assert_eq!(Camera::tracked(&down).basis, LOOKING_DOWN);
        let on_target = CameraParams {
            distance: 0.0,
            ..params(10.0, 0.0, 0.0)
        };
        assert_eq!(Camera::aimed(&on_target), None);
        assert_eq!(Camera::tracked(&on_target).basis, LOOKING_DOWN);
    }

    #[test]
    fn aimed_and_tracked_agree_bit_for_bit_when_there_is_a_horizon() {
        for (el, az, roll) in [(0.0, 0.0, 0.0), (37.5, 123.0, -11.0), (-15.0, 300.0, 4.0)] {
            let p = CameraParams {
                look_at: [0.05, -0.07, 0.02],
                ..params(el, az, roll)
            };
            assert_eq!(Camera::aimed(&p), Some(Camera::tracked(&p)));
        }
    }

    #[test]
    fn points_project_through_the_pinhole() {
        let cam = Camera::aimed(&params(0.0, 0.0, 0.0)).unwrap();
        // The target is the screen centre; the camera faces -X with +Y on its right.
        assert_eq!(cam.to_screen([0.0, 0.0, 0.0]), Some([0.0, 0.0]));
        // A point at the edge of the horizontal field of view lands on x = 1.
        let edge = cam.to_screen([0.0, 2.0 * cam.half_width, 0.0]).unwrap();
        assert!((edge[0] - 1.0).abs() < 1e-12 && edge[1].abs() < 1e-12);
        let above = cam.to_screen([0.0, 0.0, 0.5]).unwrap();
        assert!(above[0].abs() < 1e-12 && above[1] > 0.0);
        // Behind the camera, and at the eye itself: nothing.
        assert_eq!(cam.to_screen([3.0, 0.0, 0.0]), None);
        assert_eq!(cam.to_screen(cam.eye), None);
    }
}
