//! Colour conversions the Blender side does not have to know: HSV picks and blackbody lamps,
//! both delivered as linear RGB (Blender's working space).

/// HSV as typed in a colour picker (sRGB-encoded), hue in turns (wraps), to linear RGB.
pub fn hsv_to_linear(hue: f64, saturation: f64, value: f64) -> [f64; 3] {
    hsv_to_srgb(hue, saturation, value).map(srgb_to_linear)
}

pub fn hsv_to_srgb(hue: f64, saturation: f64, value: f64) -> [f64; 3] {
    let h = hue.rem_euclid(1.0) * 6.0;
    let s = saturation.clamp(0.0, 1.0);
    let v = value.clamp(0.0, 1.0);
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

/// The sRGB transfer function (IEC 61966-2-1), decoded to linear.
pub fn srgb_to_linear(c: f64) -> f64 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Blackbody colour of `kelvin` (1000..40000 K) as linear RGB with its largest channel 1.
///
/// Uses Tanner Helland's published curve fit of the CIE 1964 10-degree blackbody table
/// (sRGB, 0..255 per channel), decoded to linear; accurate to a few percent, which is plenty
/// for randomized lamp tints. Normalizing keeps the lamp's energy the only brightness knob.
pub fn temperature_to_linear(kelvin: f64) -> [f64; 3] {
    let t = kelvin.clamp(1000.0, 40000.0) / 100.0;
    let red = if t <= 66.0 {
        255.0
    } else {
        329.698_727_446 * (t - 60.0).powf(-0.133_204_759_2)
    };
    let green = if t <= 66.0 {
        99.470_802_586_1 * t.ln() - 161.119_568_166_1
    } else {
        288.122_169_528_3 * (t - 60.0).powf(-0.075_514_849_2)
    };
    let blue = if t >= 66.0 {
        255.0
    } else if t <= 19.0 {
        0.0
    } else {
        138.517_731_223_1 * (t - 10.0).ln() - 305.044_792_730_7
    };
    let lin = [red, green, blue].map(|c| srgb_to_linear(c.clamp(0.0, 255.0) / 255.0));
    let max = lin.iter().cloned().fold(f64::MIN, f64::max);
    lin.map(|c| c / max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f64; 3], b: [f64; 3], tol: f64) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < tol)
    }

    #[test]
    fn hsv_primaries_and_greys() {
        assert!(close(hsv_to_srgb(0.0, 1.0, 1.0), [1.0, 0.0, 0.0], 1e-12));
        assert!(close(
            hsv_to_srgb(1.0 / 3.0, 1.0, 1.0),
            [0.0, 1.0, 0.0],
            1e-12
        ));
        assert!(close(
            hsv_to_srgb(2.0 / 3.0, 1.0, 1.0),
            [0.0, 0.0, 1.0],
            1e-12
        ));
        assert!(
            close(
                hsv_to_srgb(1.5, 1.0, 1.0),
                hsv_to_srgb(0.5, 1.0, 1.0),
                1e-12
            ),
            "hue wraps"
        );
        // sRGB 0.5 grey is linear 0.214.
        assert!(close(hsv_to_linear(0.3, 0.0, 0.5), [0.2140; 3], 1e-4));
    }

    #[test]
    fn blackbody_goes_from_orange_to_blue() {
        let warm = temperature_to_linear(2700.0);
        let day = temperature_to_linear(6600.0);
        let cold = temperature_to_linear(12000.0);
        assert!(warm[0] == 1.0 && warm[2] < 0.3, "{warm:?}");
        assert!(
            close(day, [1.0, 1.0, 1.0], 0.05),
            "6600 K is near white: {day:?}"
        );
        assert!(cold[2] == 1.0 && cold[0] < 0.8, "{cold:?}");
    }
}
