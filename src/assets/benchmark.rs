//! Benchmark class maps (`shapenet_index/<benchmark>.yaml`): for each class folder of a
//! benchmark, the ShapeNet synsets that supply its models and the Sweet Home 3D classes
//! (of `sweethome3d.yaml`) that stand in when ShapeNet has none.
//!
//! ```yaml
//! benchmark: s2rda49
//! classes:
//!   airplane: {synsets: ["02691156"], sweethome3d: [airplane]}
//!   bicycle: {optional_synsets: ["02834778"], sweethome3d: [bicycle]}
//! ```
//! `synsets` must exist in the tree's taxonomy.json; `optional_synsets` are used when the
//! tree has the folder (full ShapeNet) and are not checked.
use super::class_map::ClassMap;
use super::error::AssetError;
use super::shapenet::Taxonomy;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The benchmark maps shipped in `shapenet_index/`, in the order a preset's classes are
/// matched against them when no map is named.
pub const BENCHMARKS: [&str; 3] = ["s2rda49", "s2rda_ms39", "subvisda10"];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkClass {
    #[serde(default)]
    pub synsets: Vec<String>,
    #[serde(default)]
    pub optional_synsets: Vec<String>,
    #[serde(default)]
    pub sweethome3d: Vec<String>,
    /// Why the mapping is what it is, for the reader of the file.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    benchmark: String,
    #[serde(default)]
    description: String,
    classes: BTreeMap<String, BenchmarkClass>,
}

#[derive(Debug, Clone)]
pub struct BenchmarkMap {
    pub name: String,
    pub description: String,
    pub path: PathBuf,
    /// Class folder name -> sources, sorted by name (= label order).
    pub classes: BTreeMap<String, BenchmarkClass>,
}

impl BenchmarkMap {
    /// A map by name (`shapenet_index/<name>.yaml`) or by path.
    pub fn load(name_or_path: &str) -> Result<BenchmarkMap, AssetError> {
        let path = if name_or_path.ends_with(".yaml") || name_or_path.contains('/') {
            PathBuf::from(name_or_path)
        } else {
            crate::paths::index_dir().join(format!("{name_or_path}.yaml"))
        };
        let text = std::fs::read_to_string(&path).map_err(|e| AssetError::ClassMap {
            path: path.clone(),
            field: "(file)".into(),
            message: format!("the file cannot be read ({e})"),
            fix: format!(
                "name a map in shapenet_index/ ({}) or a path",
                BENCHMARKS.join(", ")
            ),
        })?;
        Self::parse(&text, &path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<BenchmarkMap, AssetError> {
        let err = |field: String, message: String, fix: &str| AssetError::ClassMap {
            path: path.to_path_buf(),
            field,
            message,
            fix: fix.to_string(),
        };
        let de = serde_yaml::Deserializer::from_str(text);
        let file: MapFile = serde_path_to_error::deserialize(de).map_err(|e| {
            err(
                e.path().to_string(),
                e.into_inner().to_string(),
                "the file needs `benchmark` and `classes`; each class takes `synsets`, \
                 `optional_synsets`, `sweethome3d` (lists of strings) and `note`",
            )
        })?;
        for (class, c) in &file.classes {
            let class_ok = !class.is_empty()
                && class
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !class_ok {
                return Err(err(
                    format!("classes.{class}"),
                    format!("{class:?} is not a valid class folder name"),
                    "use lowercase letters, digits and `_`",
                ));
            }
            for (field, list) in [
                ("synsets", &c.synsets),
                ("optional_synsets", &c.optional_synsets),
            ] {
                if let Some(bad) = list
                    .iter()
                    .find(|s| !(s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit())))
                {
                    return Err(err(
                        format!("classes.{class}.{field}"),
                        format!("{bad:?} is not a synset id"),
                        "write the 8-digit WordNet offset in quotes, e.g. \"02691156\"",
                    ));
                }
            }
            if c.synsets.is_empty() && c.optional_synsets.is_empty() && c.sweethome3d.is_empty() {
                return Err(err(
                    format!("classes.{class}"),
                    "has no source".into(),
                    "give `synsets`, `optional_synsets` or `sweethome3d`",
                ));
            }
        }
        Ok(BenchmarkMap {
            name: file.benchmark,
            description: file.description,
            path: path.to_path_buf(),
            classes: file.classes,
        })
    }

    /// The first shipped map that has every one of `classes`.
    pub fn covering(classes: &[String]) -> Result<BenchmarkMap, AssetError> {
        for name in BENCHMARKS {
            let map = Self::load(name)?;
            if classes.iter().all(|c| map.classes.contains_key(c)) {
                return Ok(map);
            }
        }
        let first = Self::load(BENCHMARKS[0])?;
        let unknown: Vec<&str> = classes
            .iter()
            .filter(|c| !first.classes.contains_key(c.as_str()))
            .map(String::as_str)
            .collect();
        Err(AssetError::ClassMap {
            path: crate::paths::index_dir(),
            field: "classes".into(),
            message: format!(
                "no benchmark map ({}) has all the classes; e.g. {} is not in {}",
                BENCHMARKS.join(", "),
                unknown.join(", "),
                BENCHMARKS[0]
            ),
            fix: "use the class folder names of PAPER.md or pass --class-map FILE".into(),
        })
    }

    /// The `synsets` of `classes` must exist in the tree's taxonomy (classes a run does not
    /// render are not checked, so a custom map may name synsets of other trees).
    pub fn check_synsets(
        &self,
        classes: &[String],
        taxonomy: &Taxonomy,
        taxonomy_path: &Path,
    ) -> Result<(), AssetError> {
        for (class, c) in self.classes.iter().filter(|(k, _)| classes.contains(k)) {
            if let Some(bad) = c.synsets.iter().find(|s| !taxonomy.contains(s)) {
                return Err(AssetError::UnknownSynset {
                    path: self.path.clone(),
                    class: class.clone(),
                    synset: bad.clone(),
                    taxonomy: taxonomy_path.to_path_buf(),
                });
            }
        }
        Ok(())
    }

    /// Every Sweet Home 3D class named must be one the Sweet Home 3D map can produce.
    pub fn check_sweethome3d(&self, map: &ClassMap) -> Result<(), AssetError> {
        let known = map.classes();
        for (class, c) in &self.classes {
            if let Some(bad) = c.sweethome3d.iter().find(|s| !known.contains(&s.as_str())) {
                return Err(AssetError::ClassMap {
                    path: self.path.clone(),
                    field: format!("classes.{class}.sweethome3d"),
                    message: format!("{bad:?} is not a class of the Sweet Home 3D map"),
                    fix: format!("use one of: {}", known.join(", ")),
                });
            }
        }
        Ok(())
    }

    /// The synsets (required and optional) that supply `class`.
    pub fn synsets_of(&self, class: &str) -> Vec<&str> {
        self.classes.get(class).map_or(Vec::new(), |c| {
            c.synsets
                .iter()
                .chain(&c.optional_synsets)
                .map(String::as_str)
                .collect()
        })
    }

    pub fn sweethome3d_of(&self, class: &str) -> &[String] {
        self.classes.get(class).map_or(&[], |c| &c.sweethome3d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_maps_parse_and_name_known_sweethome3d_classes() {
        let sh3d = ClassMap::load_default_sweethome3d().unwrap();
        for (name, count) in [("s2rda49", 49), ("s2rda_ms39", 39), ("subvisda10", 10)] {
            let map = BenchmarkMap::load(name).unwrap();
            assert_eq!(map.classes.len(), count, "{name}");
            assert_eq!(map.name, name);
            map.check_sweethome3d(&sh3d).unwrap();
        }
        let ms39 = BenchmarkMap::load("s2rda_ms39").unwrap();
        for gone in [
            "birdhouse",
            "cap",
            "filecabinet",
            "flowerpot",
            "guitar",
            "mailbox",
        ] {
            assert!(!ms39.classes.contains_key(gone));
        }
        assert_eq!(
            BenchmarkMap::covering(&["aeroplane".into(), "truck".into()])
                .unwrap()
                .name,
            "subvisda10"
        );
        assert_eq!(
            BenchmarkMap::covering(&["chair".into()]).unwrap().name,
            "s2rda49"
        );
    }

    #[test]
    fn benchmark_presets_load_and_list_exactly_their_map_classes() {
        use crate::preset::Preset;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scene_presets");
        for name in BENCHMARKS {
            let preset = Preset::load_in(&dir, name, &[]).unwrap();
            let map = BenchmarkMap::load(name).unwrap();
            let mut classes = preset.classes.clone();
            classes.sort();
            assert_eq!(
                classes,
                map.classes.keys().cloned().collect::<Vec<_>>(),
                "{name}"
            );
            assert_eq!(preset.catalog, "shapenet");
            assert_eq!(preset.images_per_class, 12000);
        }
        let mut ablations = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let file = entry.unwrap().file_name().to_string_lossy().to_string();
            if let Some(stem) = file
                .strip_prefix("subvisda10_")
                .and_then(|f| f.strip_suffix(".yaml"))
            {
                let preset = Preset::load_in(&dir, &format!("subvisda10_{stem}"), &[])
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(preset.classes.len(), 10, "{file}");
                ablations += 1;
            }
        }
        // One preset per column of the paper's factor table: scale x3, material x4, light x4,
        // camera x4 and no background.
        assert_eq!(ablations, 16);
    }

    #[test]
    fn bad_synset_ids_are_refused_with_the_field() {
        let msg = BenchmarkMap::parse(
            "benchmark: x\nclasses:\n  chair: {synsets: [\"3001627\"]}\n",
            Path::new("x.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("classes.chair.synsets") && msg.contains("3001627"),
            "{msg}"
        );
    }
}
