//! What a model's own materials look like, read from its OBJ and MTL files before rendering:
//! the share of its faces whose own colour is the hue the render check takes for Blender's
//! missing-texture magenta. A purple guitar kept in its own colours would be rendered and
//! then rejected on every view; knowing it up front lets the driver render it with the
//! sampled material instead (and record that it did).
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct ModelLook {
    /// Faces whose material shows magenta, weighted by the magenta share of its texture (or
    /// 1 for a magenta diffuse colour), over all faces. 0 for a model with no faces.
    pub magenta_share: f64,
}

/// A material's diffuse colour and texture, as the MTL names them.
#[derive(Debug, Default, Clone)]
struct MtlEntry {
    kd: Option<[f64; 3]>,
    map_kd: Option<PathBuf>,
}

impl ModelLook {
    /// Reads the OBJ's `mtllib`, `usemtl` and `f` lines and the MTL files they name. A
    /// missing MTL or texture counts as not magenta: the worker replaces materials whose
    /// textures do not load with the sampled one.
    pub fn from_obj(path: &Path) -> std::io::Result<Self> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let file = std::fs::File::open(path)?;
        let mut libraries: Vec<PathBuf> = Vec::new();
        let mut faces_of: HashMap<String, u64> = HashMap::new();
        let mut current = String::new();
        let mut total = 0u64;
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            let line = line.trim_start();
            if let Some(rest) = line.strip_prefix("mtllib ") {
                libraries.push(dir.join(rest.trim()));
            } else if let Some(rest) = line.strip_prefix("usemtl ") {
                current = rest.trim().to_string();
            } else if line.starts_with("f ") {
                *faces_of.entry(current.clone()).or_default() += 1;
                total += 1;
            }
        }
        let mut materials: HashMap<String, MtlEntry> = HashMap::new();
        for lib in &libraries {
            if let Ok(text) = std::fs::read_to_string(lib) {
                parse_mtl(&text, lib.parent().unwrap_or(dir), &mut materials);
            }
        }
        if total == 0 {
            return Ok(ModelLook { magenta_share: 0.0 });
        }
        let mut texture_share: HashMap<PathBuf, f64> = HashMap::new();
        let mut magenta_faces = 0.0;
        for (name, faces) in &faces_of {
            let Some(m) = materials.get(name) else {
                continue;
            };
            let share = match (&m.map_kd, m.kd) {
                (Some(tex), _) => *texture_share
                    .entry(tex.clone())
                    .or_insert_with(|| texture_magenta_share(tex)),
                (None, Some(kd)) => f64::from(u8::from(colour_is_magenta(kd))),
                (None, None) => 0.0,
            };
            magenta_faces += share * *faces as f64;
        }
        Ok(ModelLook {
            magenta_share: magenta_faces / total as f64,
        })
    }
}

fn parse_mtl(text: &str, dir: &Path, out: &mut HashMap<String, MtlEntry>) {
    let mut name: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        let mut tokens = line.split_whitespace();
        let (Some(key), Some(n)) = (tokens.next(), name.as_ref()) else {
            if let Some(rest) = line.strip_prefix("newmtl ") {
                name = Some(rest.trim().to_string());
            }
            continue;
        };
        match key {
            "newmtl" => name = Some(line["newmtl".len()..].trim().to_string()),
            "Kd" => {
                let v: Vec<f64> = tokens.filter_map(|t| t.parse().ok()).collect();
                if v.len() >= 3 {
                    out.entry(n.clone()).or_default().kd = Some([v[0], v[1], v[2]]);
                }
            }
            k if k.eq_ignore_ascii_case("map_Kd") => {
                // The file is the last token (options such as -s come before it).
                if let Some(file) = line.split_whitespace().last() {
                    out.entry(n.clone()).or_default().map_kd = Some(dir.join(file));
                }
            }
            _ => {}
        }
    }
}

/// Whether a linear diffuse colour shows the missing-texture hue under any light: it is
/// brightened to full scale and encoded like the sRGB output, then given to the render check.
fn colour_is_magenta(kd: [f64; 3]) -> bool {
    let max = kd.iter().cloned().fold(0.0, f64::max);
    if max < 0.02 {
        return false; // renders near black: no hue
    }
    let [r, g, b] = kd.map(|c| ((c / max).clamp(0.0, 1.0).powf(1.0 / 2.2) * 255.0).round() as u8);
    crate::validate::is_magenta(r, g, b)
}

/// The share of a texture's pixels the render check calls magenta (0 when it does not load).
fn texture_magenta_share(path: &Path) -> f64 {
    let Ok(img) = image::open(path) else {
        return 0.0;
    };
    let rgb = img.to_rgb8();
    let n = rgb.pixels().len().max(1);
    let hits = rgb
        .pixels()
        .filter(|p| crate::validate::is_magenta(p.0[0], p.0[1], p.0[2]))
        .count();
    hits as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magenta_faces_are_counted_by_material() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("m.mtl"),
            "newmtl body\nKd 0.267 0 0.216\nnewmtl neck\nKd 0.3 0.2 0.1\n",
        )
        .unwrap();
        let obj = dir.path().join("m.obj");
        std::fs::write(
            &obj,
            "mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl body\nf 1 2 3\nusemtl neck\nf 1 2 3\nf 1 2 3\nf 1 2 3\n",
        )
        .unwrap();
        let look = ModelLook::from_obj(&obj).unwrap();
        assert!((look.magenta_share - 0.25).abs() < 1e-12, "{look:?}");
        assert!(!colour_is_magenta([0.8, 0.1, 0.1]));
        assert!(!colour_is_magenta([0.01, 0.0, 0.01]));
    }
}
