//! A 3 x 5 pixel bitmap font for the fit report's chart labels.
//!
//! WHY our own font: `fit` must not depend on the optional `train` feature (plotters and its
//! font files), and labels of digits, lower-case names and `._-:` need only ~40 glyphs. The
//! output is a pure function of the text, so the chart stays byte-for-byte deterministic.
use image::{Rgb, RgbImage};

/// Glyph size in font pixels; each is drawn as a `scale` x `scale` block.
pub const GLYPH_W: u32 = 3;
pub const GLYPH_H: u32 = 5;

/// Horizontal advance per character at `scale` (one column of spacing).
pub fn advance(scale: u32) -> u32 {
    (GLYPH_W + 1) * scale
}

/// Width of `text` set horizontally at `scale` (its length when set vertically).
pub fn text_len(text: &str, scale: u32) -> u32 {
    (text.chars().count() as u32 * advance(scale)).saturating_sub(scale)
}

/// Rows of a glyph, top to bottom, 3 bits each (most significant bit left). Letters are
/// drawn in one case; a character without a glyph is drawn as `?`.
fn glyph(c: char) -> [u8; 5] {
    let rows = match c.to_ascii_lowercase() {
        '0' => "111101101101111",
        '1' => "010110010010111",
        '2' => "111001111100111",
        '3' => "111001111001111",
        '4' => "101101111001001",
        '5' => "111100111001111",
        '6' => "111100111101111",
        '7' => "111001001010010",
        '8' => "111101111101111",
        '9' => "111101111001111",
        'a' => "010101111101101",
        'b' => "110101110101110",
        'c' => "011100100100011",
        'd' => "110101101101110",
        'e' => "111100110100111",
        'f' => "111100110100100",
        'g' => "011100101101011",
        'h' => "101101111101101",
        'i' => "111010010010111",
        'j' => "001001001101010",
        'k' => "101101110101101",
        'l' => "100100100100111",
        'm' => "101111111101101",
        'n' => "110101101101101",
        'o' => "010101101101010",
        'p' => "110101110100100",
        'q' => "010101101110011",
        'r' => "110101110101101",
        's' => "011100010001110",
        't' => "111010010010010",
        'u' => "101101101101111",
        'v' => "101101101101010",
        'w' => "101101111111101",
        'x' => "101101010101101",
        'y' => "101101010010010",
        'z' => "111001010100111",
        '.' => "000000000000010",
        '-' => "000000111000000",
        '_' => "000000000000111",
        ':' => "000010000010000",
        '/' => "001001010100100",
        ' ' => "000000000000000",
        _ => "111001010000010",
    };
    let bits = rows.as_bytes();
    let mut out = [0u8; 5];
    for (r, row) in out.iter_mut().enumerate() {
        for k in 0..3 {
            if bits[r * 3 + k] == b'1' {
                *row |= 1 << (2 - k);
            }
        }
    }
    out
}

/// Draws `text` with its top-left corner at (x, y); pixels outside the image are skipped.
pub fn draw(img: &mut RgbImage, x: u32, y: u32, text: &str, scale: u32, colour: Rgb<u8>) {
    for (i, c) in text.chars().enumerate() {
        let x0 = x + i as u32 * advance(scale);
        each_pixel(c, scale, |gx, gy| put(img, x0 + gx, y + gy, colour));
    }
}

/// Draws `text` turned a quarter left (read from bottom to top), its first character's
/// bottom-left corner at (x, y_bottom).
pub fn draw_up(img: &mut RgbImage, x: u32, y_bottom: u32, text: &str, scale: u32, colour: Rgb<u8>) {
    for (i, c) in text.chars().enumerate() {
        let along = i as u32 * advance(scale);
        each_pixel(c, scale, |gx, gy| {
            // Glyph x runs up the image, glyph y runs right.
            if let Some(py) = y_bottom.checked_sub(along + gx + 1) {
                put(img, x + gy, py, colour);
            }
        });
    }
}

fn each_pixel(c: char, scale: u32, mut f: impl FnMut(u32, u32)) {
    for (r, row) in glyph(c).iter().enumerate() {
        for k in 0..GLYPH_W {
            if row & (1 << (GLYPH_W - 1 - k)) != 0 {
                for dy in 0..scale {
                    for dx in 0..scale {
                        f(k * scale + dx, r as u32 * scale + dy);
                    }
                }
            }
        }
    }
}

fn put(img: &mut RgbImage, x: u32, y: u32, colour: Rgb<u8>) {
    if x < img.width() && y < img.height() {
        img.put_pixel(x, y, colour);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_differ_and_text_lands_where_asked() {
        let digits: Vec<[u8; 5]> = "0123456789".chars().map(glyph).collect();
        for i in 0..digits.len() {
            for j in i + 1..digits.len() {
                assert_ne!(digits[i], digits[j], "{i} and {j} look alike");
            }
        }
        assert_eq!(glyph('A'), glyph('a'));
        let mut img = RgbImage::from_pixel(40, 40, Rgb([255, 255, 255]));
        draw(&mut img, 2, 3, "1", 2, Rgb([0, 0, 0]));
        // '1' has its top row's middle pixel set: x 2 + 2..4, y 3..5.
        assert_eq!(img.get_pixel(4, 3), &Rgb([0, 0, 0]));
        assert_eq!(img.get_pixel(2, 3), &Rgb([255, 255, 255]));
        let mut up = RgbImage::from_pixel(40, 40, Rgb([255, 255, 255]));
        draw_up(&mut up, 5, 30, "ab", 1, Rgb([0, 0, 0]));
        let dark = up.pixels().filter(|p| p[0] == 0).count();
        let mut flat = RgbImage::from_pixel(40, 40, Rgb([255, 255, 255]));
        draw(&mut flat, 5, 5, "ab", 1, Rgb([0, 0, 0]));
        assert_eq!(dark, flat.pixels().filter(|p| p[0] == 0).count());
        // Turned text stays within its column: x 5..10, y up to 30.
        assert!(up
            .enumerate_pixels()
            .filter(|(_, _, p)| p[0] == 0)
            .all(|(x, y, _)| (5..10).contains(&x) && y < 30 && y >= 30 - text_len("ab", 1)));
    }
}
