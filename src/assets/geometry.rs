//! A model's shape as the renderer sees it, for predicting a view before rendering it: the
//! OBJ's triangles in Blender's frame (Z up), normalized like the Blender side does
//! (bounding box of the face vertices centred at the origin, largest side 1;
//! blender_scripts/synthgen_blender/objects.py).
use std::io::BufRead;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum GeometryError {
    #[error("cannot read the model {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the model {path} has no face with valid vertices")]
    Empty { path: String },
    #[error("the model {path} has a degenerate bounding box")]
    Degenerate { path: String },
    #[error("up axis \"{0}\" is not Y or Z")]
    UpAxis(String),
}

/// The normalized vertices of a model and its faces as triangles (fans of the OBJ's
/// polygons); vertices no face uses are kept but play no part.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelGeometry {
    pub points: Vec<[f64; 3]>,
    pub triangles: Vec<[u32; 3]>,
}

impl ModelGeometry {
    /// Reads `v` and `f` lines of an OBJ; `up_axis` "Y" turns the file's Y-up into Z-up the
    /// way Blender's importer does (x, y, z) -> (x, -z, y); `rotation` (row-major, Blender's
    /// frame: `ModelRef::rotation`) then turns it as the worker does, before normalizing.
    pub fn from_obj(
        path: &Path,
        up_axis: &str,
        rotation: Option<&[f64; 9]>,
    ) -> Result<Self, GeometryError> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| GeometryError::Io {
            path: shown.clone(),
            source,
        })?;
        let mut vertices: Vec<[f64; 3]> = Vec::new();
        let mut used: Vec<bool> = Vec::new();
        let mut triangles: Vec<[u32; 3]> = Vec::new();
        for line in std::io::BufReader::new(file).split(b'\n') {
            let line = line.map_err(|source| GeometryError::Io {
                path: shown.clone(),
                source,
            })?;
            let line = String::from_utf8_lossy(&line);
            let mut words = line.split_whitespace();
            match words.next() {
                Some("v") => {
                    let c: Vec<f64> = words.take(3).filter_map(|w| w.parse().ok()).collect();
                    vertices.push(if c.len() == 3 && c.iter().all(|x| x.is_finite()) {
                        [c[0], c[1], c[2]]
                    } else {
                        [f64::NAN; 3]
                    });
                    used.push(false);
                }
                Some("f") => {
                    let mut face: Vec<u32> = Vec::new();
                    for w in words {
                        let index = w.split('/').next().and_then(|i| i.parse::<i64>().ok());
                        let n = vertices.len() as i64;
                        let at = match index {
                            Some(i) if i > 0 && i <= n => (i - 1) as usize,
                            Some(i) if i < 0 && -i <= n => (n + i) as usize,
                            _ => continue,
                        };
                        if vertices[at][0].is_finite() {
                            used[at] = true;
                            face.push(at as u32);
                        }
                    }
                    for k in 2..face.len() {
                        triangles.push([face[0], face[k - 1], face[k]]);
                    }
                }
                _ => {}
            }
        }
        let turn: fn([f64; 3]) -> [f64; 3] = match up_axis {
            "Y" => |[x, y, z]| [x, -z, y],
            "Z" => |p| p,
            other => return Err(GeometryError::UpAxis(other.to_string())),
        };
        let points: Vec<[f64; 3]> = vertices
            .into_iter()
            .map(turn)
            .map(|p| match rotation {
                Some(m) => super::orientation::apply(m, p),
                None => p,
            })
            .collect();
        Self::normalized(points, &used, triangles, &shown)
    }

    /// Centres the bounding box of the used vertices at the origin and scales its largest
    /// side to 1.
    fn normalized(
        mut points: Vec<[f64; 3]>,
        used: &[bool],
        triangles: Vec<[u32; 3]>,
        path: &str,
    ) -> Result<Self, GeometryError> {
        if triangles.is_empty() {
            return Err(GeometryError::Empty {
                path: path.to_string(),
            });
        }
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for p in points.iter().zip(used).filter(|(_, u)| **u).map(|(p, _)| p) {
            for k in 0..3 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let size = (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f64::max);
        if !(size.is_finite() && size > 0.0) {
            return Err(GeometryError::Degenerate {
                path: path.to_string(),
            });
        }
        for p in &mut points {
            for k in 0..3 {
                p[k] = (p[k] - (lo[k] + hi[k]) / 2.0) / size;
            }
        }
        Ok(Self { points, triangles })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_y_up_box_stands_on_z_centred_with_largest_side_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box.obj");
        // A 2 x 4 x 1 box (x, y, z) in a Y-up file, offset from the origin, plus a loose vertex.
        let mut text = String::from("v 100 100 100\n");
        for x in [1.0, 3.0] {
            for y in [0.0, 4.0] {
                for z in [5.0, 6.0] {
                    text.push_str(&format!("v {x} {y} {z}\n"));
                }
            }
        }
        text.push_str("f 2 3 4 5\nf -1 -2 -3 -4\n");
        std::fs::write(&path, text).unwrap();
        let g = ModelGeometry::from_obj(&path, "Y", None).unwrap();
        assert_eq!(g.triangles.len(), 4, "two quads, two triangles each");
        let extent = |k: usize| {
            // The loose first vertex is no part of the model.
            let v: Vec<f64> = g.points[1..].iter().map(|p| p[k]).collect();
            (
                v.iter().cloned().fold(f64::INFINITY, f64::min),
                v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            )
        };
        // Blender: file y (height 4) becomes z; file z (depth 1) becomes -y.
        assert_eq!(extent(2), (-0.5, 0.5));
        assert_eq!(extent(0), (-0.25, 0.25));
        assert_eq!(extent(1), (-0.125, 0.125));
    }

    #[test]
    fn a_quarter_turned_catalog_entry_turns_its_geometry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.obj");
        // A Y-up bench 2 long (file x), 0.5 high, 0.5 deep, with a 1-high back post at its
        // +x end: asymmetric, so the sign of the turn shows.
        let mut text = String::new();
        for (k, (lo, hi)) in [
            ([-1.0, 0.0, -0.25], [1.0, 0.5, 0.25]),
            ([0.8, 0.5, -0.25], [1.0, 1.0, 0.25]),
        ]
        .into_iter()
        .enumerate()
        {
            for x in [lo[0], hi[0]] {
                for y in [lo[1], hi[1]] {
                    for z in [lo[2], hi[2]] {
                        text.push_str(&format!("v {x} {y} {z}\n"));
                    }
                }
            }
            let o = 8 * k;
            text.push_str(&format!("f {} {} {}\n", o + 1, o + 2, o + 8));
        }
        std::fs::write(&path, text).unwrap();
        // Scopia#beige_sofa_2seats' modelRotation: the file's +x is the model's front.
        let entry_rotation = [0.0, 0.0, -1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let rotation = crate::assets::orientation::after_import(&entry_rotation, "Y").unwrap();
        let plain = ModelGeometry::from_obj(&path, "Y", None).unwrap();
        let turned = ModelGeometry::from_obj(&path, "Y", Some(&rotation)).unwrap();
        let extent = |g: &ModelGeometry, k: usize| {
            let v = g.points.iter().map(|p| p[k]);
            v.clone().fold(f64::NEG_INFINITY, f64::max) - v.fold(f64::INFINITY, f64::min)
        };
        assert_eq!((extent(&plain, 0), extent(&plain, 1)), (1.0, 0.25));
        assert_eq!((extent(&turned, 0), extent(&turned, 1)), (0.25, 1.0));
        // The post (the highest vertices) sits at +x unturned and at -y (the scene's front
        // direction) turned.
        let post = |g: &ModelGeometry| g.points[15];
        assert_eq!(post(&plain)[0], 0.5);
        assert_eq!(post(&turned)[1], -0.5);
        assert_eq!(post(&turned)[2], post(&plain)[2]);
    }
}
