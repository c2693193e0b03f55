//! Predicts what validation would measure on a render before Cycles runs: the model's
//! triangles go through the sampled camera (`scene::camera`, the conventions of
//! blender_scripts/synthgen_blender/shell.py and camera.py) and are rasterized at pixel
//! centres into the object mask a transparent-film render would have. A view whose mask
//! breaks a validation threshold is re-sampled without rendering; validation after the
//! render stays the safety net (anti-aliased edges differ by a fraction of a pixel).
use crate::assets::geometry::ModelGeometry;
use crate::sample::SceneParams;
use crate::scene::camera::{scale, Camera};
use crate::validate::ViewPrediction;

/// None when the view is vertical or a point is behind or at the camera (the prediction would
/// be meaningless; the view is rendered and validated as before).
pub fn predict_view(g: &ModelGeometry, p: &SceneParams, resolution: u32) -> Option<ViewPrediction> {
    let side = resolution as f64;
    let camera = Camera::aimed(&p.camera)?;
    let mut pixels = Vec::with_capacity(g.points.len());
    for q in &g.points {
        let [x, y] = camera.to_screen(scale(*q, p.scale.size))?;
        pixels.push([(x + 1.0) / 2.0 * side, (1.0 - y) / 2.0 * side]);
    }
    let n = resolution as usize;
    let mask = rasterize(&pixels, &g.triangles, n);
    let object = mask.iter().filter(|&&m| m).count();
    let ring_total = if n > 1 { 4 * n - 4 } else { 1 };
    let ring = (0..n * n)
        .filter(|&i| {
            let (x, y) = (i % n, i / n);
            mask[i] && (x == 0 || y == 0 || x == n - 1 || y == n - 1)
        })
        .count();
    Some(ViewPrediction {
        coverage: object as f64 / (n * n).max(1) as f64,
        truncation: ring as f64 / ring_total as f64,
    })
}

/// The n x n mask (row-major, top row first) of pixels whose centre a triangle covers.
/// Triangles of either winding count: the renderer shows back faces too.
fn rasterize(pixels: &[[f64; 2]], triangles: &[[u32; 3]], n: usize) -> Vec<bool> {
    let mut mask = vec![false; n * n];
    let side = n as f64;
    for t in triangles {
        let [a, b, c] = t.map(|i| pixels[i as usize]);
        let area = edge(a, b, c);
        if area.abs() < 1e-12 {
            continue;
        }
        let lo_x = a[0].min(b[0]).min(c[0]);
        let hi_x = a[0].max(b[0]).max(c[0]);
        let lo_y = a[1].min(b[1]).min(c[1]);
        let hi_y = a[1].max(b[1]).max(c[1]);
        if hi_x < 0.0 || hi_y < 0.0 || lo_x > side || lo_y > side {
            continue;
        }
        // Pixel (x, y) has its centre at (x + 0.5, y + 0.5).
        let x0 = (lo_x - 0.5).ceil().max(0.0) as usize;
        let x1 = ((hi_x - 0.5).floor().min(side - 1.0)).max(-1.0);
        let y0 = (lo_y - 0.5).ceil().max(0.0) as usize;
        let y1 = ((hi_y - 0.5).floor().min(side - 1.0)).max(-1.0);
        if x1 < 0.0 || y1 < 0.0 {
            continue;
        }
        let sign = area.signum();
        for y in y0..=y1 as usize {
            for x in x0..=x1 as usize {
                let p = [x as f64 + 0.5, y as f64 + 0.5];
                if sign * edge(a, b, p) >= 0.0
                    && sign * edge(b, c, p) >= 0.0
                    && sign * edge(c, a, p) >= 0.0
                {
                    mask[y * n + x] = true;
                }
            }
        }
    }
    mask
}

/// Twice the signed area of (a, b, p): which side of a -> b the point p is on.
fn edge(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_of_two_triangles_covers_the_pixel_centres_inside_it() {
        // The square (1, 1)..(3, 3) in a 4 x 4 image: the pixels 1..=2 in x and y.
        let px = [[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0]];
        let mask = rasterize(&px, &[[0, 1, 2], [0, 3, 2]], 4);
        let on: Vec<usize> = (0..16).filter(|&i| mask[i]).collect();
        assert_eq!(on, vec![5, 6, 9, 10]);
    }
}
