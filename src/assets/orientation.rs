//! Sweet Home 3D's `modelRotation` in the renderer's frame.
//!
//! Sweet Home 3D stands a model upright and turns it to face its front (+Z in its Y-up frame)
//! with a row-major 3x3 rotation `R` of the file's coordinates (`v' = R v`). The render worker
//! imports the file with an up axis only (`up_axis`: Blender's OBJ importer maps a Y-up file
//! by `C: (x, y, z) -> (x, -z, y)` and a Z-up file unchanged), so what is left of `R` after
//! the import is `E = C R C_u^T`, in Blender's frame (Z up): the turn about the vertical, and
//! any small tilt. Applied after the import, every Sweet Home 3D model faces -Y in the scene,
//! its front towards the camera at azimuth 270 (shell convention: azimuth 0 is +X, 90 is +Y).

/// Sweet Home 3D's Y-up frame to Blender's Z-up frame, row-major: (x, y, z) -> (x, -z, y).
const Y_UP_TO_Z_UP: [f64; 9] = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 1.0, 0.0];
const IDENTITY: [f64; 9] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
/// Below this, every entry of `E - I` counts as nothing to apply (Sweet Home 3D writes its
/// matrices with about 7 digits).
const IDENTITY_TOLERANCE: f64 = 1e-6;

/// The scene direction every Sweet Home 3D model's front faces once its rotation is applied.
pub const FRONT_DIRECTION: [f64; 3] = [0.0, -1.0, 0.0];
/// The camera azimuth (degrees, shell convention) that looks at a model's front.
pub const FRONT_AZIMUTH_DEG: f64 = 270.0;

/// Row-major product `a b`.
fn multiply(a: &[f64; 9], b: &[f64; 9]) -> [f64; 9] {
    let mut out = [0.0; 9];
    for r in 0..3 {
        for c in 0..3 {
            out[3 * r + c] = (0..3).map(|k| a[3 * r + k] * b[3 * k + c]).sum();
        }
    }
    out
}

fn transpose(a: &[f64; 9]) -> [f64; 9] {
    [a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]]
}

/// The rotation left to apply after importing with `up_axis` ("Y" or "Z"), row-major in
/// Blender's frame; `None` when it is the identity (the up axis already says it all), so
/// such models render exactly as without a rotation.
pub fn after_import(model_rotation: &[f32; 9], up_axis: &str) -> Option<[f64; 9]> {
    let r = model_rotation.map(f64::from);
    let import = if up_axis.eq_ignore_ascii_case("Z") {
        IDENTITY
    } else {
        Y_UP_TO_Z_UP
    };
    let e = multiply(&multiply(&Y_UP_TO_Z_UP, &r), &transpose(&import));
    let is_identity = e
        .iter()
        .zip(IDENTITY)
        .all(|(a, b)| (a - b).abs() < IDENTITY_TOLERANCE);
    (!is_identity).then_some(e)
}

/// `m p` for a row-major 3x3 `m`.
pub fn apply(m: &[f64; 9], p: [f64; 3]) -> [f64; 3] {
    [
        m[0] * p[0] + m[1] * p[1] + m[2] * p[2],
        m[3] * p[0] + m[4] * p[1] + m[5] * p[2],
        m[6] * p[0] + m[7] * p[1] + m[8] * p[2],
    ]
}

/// The angle (degrees, counter-clockwise seen from +Z) by which `m` turns the horizontal +X
/// axis, e.g. 90 for a quarter turn that takes +X to +Y.
pub fn turn_about_vertical_deg(m: &[f64; 9]) -> f64 {
    let x = apply(m, [1.0, 0.0, 0.0]);
    x[1].atan2(x[0]).to_degrees()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f64; 3], b: [f64; 3]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    #[test]
    fn no_rotation_and_a_pure_up_axis_change_leave_nothing_to_apply() {
        let identity = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        assert_eq!(after_import(&identity, "Y"), None);
        // A Z-up file stood upright (the iPhone's and the Scopia armchair's rotation): the
        // importer's Z-up reading is already the whole rotation.
        let z_up = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0];
        assert_eq!(after_import(&z_up, "Z"), None);
    }

    #[test]
    fn a_quarter_turn_about_sweet_home_3ds_vertical_is_a_quarter_turn_about_blenders() {
        // Scopia#beige_sofa_2seats: v' = (-z, y, x), so the file's +X (its front) becomes
        // Sweet Home 3D's front +Z, which is Blender's -Y.
        let sofa = [0.0, 0.0, -1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let e = after_import(&sofa, "Y").expect("a turn");
        // After the Y-up import the file's +X is Blender's +X: it must end at -Y.
        assert!(close(apply(&e, [1.0, 0.0, 0.0]), FRONT_DIRECTION));
        assert!(
            close(apply(&e, [0.0, 0.0, 1.0]), [0.0, 0.0, 1.0]),
            "up stays up"
        );
        assert!((turn_about_vertical_deg(&e) + 90.0).abs() < 1e-9);
        // The opposite quarter turn (Scopia#ext_chair) and a half turn (Kator Legaz#scooter).
        let other = [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, -1.0, 0.0, 0.0];
        let e = after_import(&other, "Y").unwrap();
        assert!((turn_about_vertical_deg(&e) - 90.0).abs() < 1e-9);
        let half = [-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0];
        let e = after_import(&half, "Y").unwrap();
        assert!((turn_about_vertical_deg(&e).abs() - 180.0).abs() < 1e-9);
    }

    #[test]
    fn a_z_up_file_with_a_half_turn_keeps_the_turn() {
        // Scopia#pencil1: Z up in the file, and turned half way round.
        let pencil = [-1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let e = after_import(&pencil, "Z").unwrap();
        assert!(close(apply(&e, [1.0, 0.0, 0.0]), [-1.0, 0.0, 0.0]));
        assert!(close(apply(&e, [0.0, 0.0, 1.0]), [0.0, 0.0, 1.0]));
    }
}
