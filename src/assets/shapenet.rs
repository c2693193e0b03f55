//! A user's ShapeNetCore copy as a model source.
//!
//! Both layouts are read: v1 `<synset>/<model>/model.obj` and v2
//! `<synset>/<model>/models/model_normalized.obj` (v2 wins when a folder has both). Every
//! model is checked once (OBJ readable, has faces, its MTL and texture paths resolve); the
//! verdicts are cached per model with a stamp of the model folder's files, so a re-index
//! only re-reads models whose files changed. Both layouts are Y-up.
use super::catalog::{ModelSource, SourceScan};
use super::entry::{ModelEntry, ModelLocation, SkippedModel};
use super::error::AssetError;
use super::shapenet_denylist::ShapeNetDenylist;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Bump when the checks or the file format change, so old indexes are rebuilt.
const FORMAT_VERSION: u32 = 1;
pub const TAXONOMY_FILE: &str = "taxonomy.json";
const V1_OBJ: &str = "model.obj";
const V2_OBJ: &str = "models/model_normalized.obj";

/// One synset of `taxonomy.json`.
#[derive(Debug, Clone, Deserialize)]
struct TaxonomyNode {
    #[serde(rename = "synsetId")]
    synset_id: String,
    name: String,
    #[serde(default)]
    children: Vec<String>,
}

/// Synset id -> its first name ("airplane" for "airplane,aeroplane,plane").
#[derive(Debug, Clone, Default)]
pub struct Taxonomy {
    names: HashMap<String, String>,
}

impl Taxonomy {
    pub fn load(path: &Path) -> Result<Taxonomy, AssetError> {
        let text = std::fs::read_to_string(path).map_err(|e| AssetError::io("read", path, e))?;
        let nodes: Vec<TaxonomyNode> =
            serde_json::from_str(&text).map_err(|e| AssetError::Taxonomy {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let mut names = HashMap::new();
        for node in &nodes {
            let first = node.name.split(',').next().unwrap_or("").trim().to_string();
            names.insert(node.synset_id.clone(), first);
            for child in &node.children {
                names.entry(child.clone()).or_insert_with(String::new);
            }
        }
        Ok(Taxonomy { names })
    }

    pub fn contains(&self, synset: &str) -> bool {
        self.names.contains_key(synset)
    }

    pub fn name(&self, synset: &str) -> Option<&str> {
        self.names
            .get(synset)
            .map(String::as_str)
            .filter(|n| !n.is_empty())
    }
}

/// A model that can be rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexedModel {
    pub id: String,
    /// The OBJ file, relative to the ShapeNet root.
    pub obj: String,
    stamp: String,
}

/// A model left out, with the reason as a sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnusableModel {
    pub id: String,
    pub reason: String,
    stamp: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SynsetIndex {
    /// The taxonomy name, empty for a synset taxonomy.json does not list.
    pub name: String,
    pub models: Vec<IndexedModel>,
    pub unusable: Vec<UnusableModel>,
}

/// The index of one ShapeNet tree, as written by `synthgen index`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeNetIndex {
    format_version: u32,
    pub root: PathBuf,
    pub synsets: BTreeMap<String, SynsetIndex>,
}

/// How an index came about: how many models were checked afresh vs. taken from the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub checked: usize,
    pub reused: usize,
}

impl ShapeNetIndex {
    pub fn usable_count(&self) -> usize {
        self.synsets.values().map(|s| s.models.len()).sum()
    }

    pub fn unusable_count(&self) -> usize {
        self.synsets.values().map(|s| s.unusable.len()).sum()
    }

    /// Builds the index of `root`, reusing the verdicts of `previous` for unchanged models.
    pub fn build(
        root: &Path,
        previous: Option<&ShapeNetIndex>,
    ) -> Result<(ShapeNetIndex, IndexStats), AssetError> {
        let taxonomy = check_root(root)?;
        let mut folders: Vec<(String, String, PathBuf)> = Vec::new();
        for synset_dir in walkdir::WalkDir::new(root)
            .min_depth(1)
            .max_depth(1)
            .sort_by_file_name()
        {
            let synset_dir = synset_dir.map_err(|e| walk_error(root, e))?;
            let synset = synset_dir.file_name().to_string_lossy().to_string();
            if !synset_dir.file_type().is_dir() || !is_synset_id(&synset) {
                continue;
            }
            for model_dir in walkdir::WalkDir::new(synset_dir.path())
                .min_depth(1)
                .max_depth(1)
                .sort_by_file_name()
            {
                let model_dir = model_dir.map_err(|e| walk_error(root, e))?;
                if model_dir.file_type().is_dir() {
                    let id = model_dir.file_name().to_string_lossy().to_string();
                    folders.push((synset.clone(), id, model_dir.into_path()));
                }
            }
        }
        let old: HashMap<(&str, &str), Result<&IndexedModel, &UnusableModel>> = previous
            .filter(|p| p.format_version == FORMAT_VERSION && p.root == root)
            .map(|p| {
                p.synsets
                    .iter()
                    .flat_map(|(s, idx)| {
                        idx.models
                            .iter()
                            .map(move |m| ((s.as_str(), m.id.as_str()), Ok(m)))
                            .chain(
                                idx.unusable
                                    .iter()
                                    .map(move |m| ((s.as_str(), m.id.as_str()), Err(m))),
                            )
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Stamping and checking read every model folder: spread it over all cores.
        let verdicts: Vec<(String, Result<IndexedModel, UnusableModel>, bool)> = folders
            .par_iter()
            .map(|(synset, id, dir)| {
                let stamp = stamp_folder(dir);
                let cached = old.get(&(synset.as_str(), id.as_str())).and_then(|v| {
                    let same = match v {
                        Ok(m) => m.stamp == stamp,
                        Err(u) => u.stamp == stamp,
                    };
                    same.then(|| v.map(Clone::clone).map_err(Clone::clone))
                });
                let reused = cached.is_some();
                let verdict = cached.unwrap_or_else(|| match check_model(dir) {
                    Ok(obj) => Ok(IndexedModel {
                        id: id.clone(),
                        obj: format!("{synset}/{id}/{obj}"),
                        stamp,
                    }),
                    Err(reason) => Err(UnusableModel {
                        id: id.clone(),
                        reason,
                        stamp,
                    }),
                });
                (synset.clone(), verdict, reused)
            })
            .collect();
        let mut stats = IndexStats::default();
        let mut synsets: BTreeMap<String, SynsetIndex> = BTreeMap::new();
        for (synset, verdict, reused) in verdicts {
            if reused {
                stats.reused += 1;
            } else {
                stats.checked += 1;
            }
            let entry = synsets
                .entry(synset.clone())
                .or_insert_with(|| SynsetIndex {
                    name: taxonomy.name(&synset).unwrap_or("").to_string(),
                    ..SynsetIndex::default()
                });
            match verdict {
                Ok(m) => entry.models.push(m),
                Err(u) => entry.unusable.push(u),
            }
        }
        let index = ShapeNetIndex {
            format_version: FORMAT_VERSION,
            root: root.to_path_buf(),
            synsets,
        };
        Ok((index, stats))
    }

    /// Reads an index file; `None` when absent or unreadable (it is then rebuilt).
    pub fn read(path: &Path) -> Option<ShapeNetIndex> {
        let bytes = std::fs::read(path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(index) => Some(index),
            Err(err) => {
                tracing::warn!(
                    "Ignoring unreadable ShapeNet index {}: {err}",
                    path.display()
                );
                None
            }
        }
    }

    /// Writes the index atomically, so a concurrent reader never sees half a file.
    pub fn write(&self, path: &Path) -> Result<(), AssetError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| AssetError::io("serialize", path, e.into()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| AssetError::io("create", dir, e))?;
        }
        crate::fsio::write_atomic(path, &json).map_err(|e| AssetError::io("write", path, e))
    }

    /// Loads the index at `path` and refreshes it against the tree (rewriting it when
    /// anything changed): the cached index is reused until the tree changes.
    pub fn load_or_build(
        root: &Path,
        path: &Path,
    ) -> Result<(ShapeNetIndex, IndexStats), AssetError> {
        let previous = Self::read(path);
        let (index, stats) = Self::build(root, previous.as_ref())?;
        if previous.as_ref() != Some(&index) {
            index.write(path)?;
        }
        Ok((index, stats))
    }
}

/// Default place of a tree's index (and user denylist): a folder per root in the cache.
pub fn default_index_path(root: &Path) -> PathBuf {
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let digest = Sha256::digest(canonical.to_string_lossy().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    crate::paths::cache_dir()
        .join("shapenet")
        .join(hex)
        .join("index.json")
}

/// The user-level denylist kept next to an index unless `--denylist` names another file.
pub fn default_denylist_path(index: &Path) -> PathBuf {
    index.with_file_name("denylist.txt")
}

fn walk_error(root: &Path, e: walkdir::Error) -> AssetError {
    let path = e.path().unwrap_or(root).to_path_buf();
    AssetError::io("list", path, e.into())
}

fn is_synset_id(name: &str) -> bool {
    name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit())
}

/// Checks that `root` looks like ShapeNetCore and loads its taxonomy.
fn check_root(root: &Path) -> Result<Taxonomy, AssetError> {
    let not = |problem: &str| AssetError::NotShapeNet {
        root: root.to_path_buf(),
        problem: problem.to_string(),
    };
    if !root.is_dir() {
        return Err(not("it is not a folder"));
    }
    let taxonomy = root.join(TAXONOMY_FILE);
    if !taxonomy.is_file() {
        return Err(not("it has no taxonomy.json"));
    }
    let taxonomy = Taxonomy::load(&taxonomy)?;
    let has_synset = std::fs::read_dir(root)
        .map_err(|e| AssetError::io("list", root, e))?
        .filter_map(Result::ok)
        .any(|d| d.path().is_dir() && is_synset_id(&d.file_name().to_string_lossy()));
    if !has_synset {
        return Err(not("it has no <synset id>/ folders (8-digit names)"));
    }
    Ok(taxonomy)
}

/// Hash of every file's relative path, size and mtime under a model folder: any change to
/// the model's files changes it.
fn stamp_folder(dir: &Path) -> String {
    let mut h = Sha256::new();
    for entry in walkdir::WalkDir::new(dir)
        .max_depth(3)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
    {
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        h.update(rel.to_string_lossy().as_bytes());
        if let Ok(meta) = entry.metadata() {
            h.update(meta.len().to_le_bytes());
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            h.update(mtime.to_le_bytes());
        }
    }
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The OBJ (relative to the model folder) when the model is usable, else the reason.
fn check_model(dir: &Path) -> Result<&'static str, String> {
    let rel = if dir.join(V2_OBJ).is_file() {
        V2_OBJ
    } else if dir.join(V1_OBJ).is_file() {
        V1_OBJ
    } else {
        return Err(format!(
            "missing OBJ: neither {V1_OBJ} (v1) nor {V2_OBJ} (v2) exists"
        ));
    };
    let obj = dir.join(rel);
    let bytes =
        std::fs::read(&obj).map_err(|e| format!("unreadable OBJ: {rel} cannot be read ({e})"))?;
    let text = String::from_utf8_lossy(&bytes);
    let (mut vertices, mut faces) = (0usize, 0usize);
    let mut mtllibs: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with("v ") || line.starts_with("v\t") {
            vertices += 1;
        } else if line.starts_with("f ") || line.starts_with("f\t") {
            faces += 1;
        } else if let Some(rest) = line.strip_prefix("mtllib") {
            let name = rest.trim();
            if !name.is_empty() {
                mtllibs.push(name.to_string());
            }
        }
    }
    if vertices == 0 {
        return Err(format!("empty mesh: {rel} has no vertices"));
    }
    if faces == 0 {
        return Err(format!(
            "zero faces: {rel} has {vertices} vertices but no faces"
        ));
    }
    let obj_dir = obj.parent().unwrap_or(dir);
    for lib in &mtllibs {
        let mtl = obj_dir.join(lib);
        let mtl_text = std::fs::read(&mtl)
            .map_err(|_| format!("unresolved MTL: {lib} named by {rel} does not exist"))?;
        let mtl_dir = mtl.parent().unwrap_or(obj_dir);
        for texture in texture_paths(&String::from_utf8_lossy(&mtl_text)) {
            if !mtl_dir.join(&texture).is_file() {
                return Err(format!(
                    "unresolved texture: {texture} named by {lib} does not exist"
                ));
            }
        }
    }
    Ok(rel)
}

/// Texture file names an MTL refers to (the last token of each `map_*`, `bump`, `disp`,
/// `decal` or `refl` line: options such as `-s 1 1 1` come first).
fn texture_paths(mtl: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in mtl.lines() {
        let mut tokens = line.split_whitespace();
        let Some(key) = tokens.next() else { continue };
        let key = key.to_ascii_lowercase();
        let is_map = key.starts_with("map_") || ["bump", "disp", "decal", "refl"].contains(&&*key);
        if let (true, Some(last)) = (is_map, tokens.last()) {
            let name = last.replace('\\', "/");
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// A ShapeNet tree as a `ModelSource`: its index (cached) minus the user's denylist.
pub struct ShapeNetSource {
    pub root: PathBuf,
    pub index_path: PathBuf,
    pub denylist: ShapeNetDenylist,
}

impl ShapeNetSource {
    pub const NAME: &'static str = "shapenet";

    /// The entry key of a model: "shapenet:<synset>/<model id>".
    pub fn key(synset: &str, id: &str) -> String {
        format!("{}:{synset}/{id}", Self::NAME)
    }
}

impl ModelSource for ShapeNetSource {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn scan(&self) -> Result<SourceScan, AssetError> {
        let (index, stats) = ShapeNetIndex::load_or_build(&self.root, &self.index_path)?;
        let mut scan = SourceScan {
            from_cache: stats.checked == 0,
            ..SourceScan::default()
        };
        for (synset, s) in &index.synsets {
            for m in &s.models {
                let key = Self::key(synset, &m.id);
                if let Some(reason) = self.denylist.reason(synset, &m.id) {
                    scan.skipped.push(SkippedModel {
                        origin: self.root.join(&m.obj).display().to_string(),
                        label: key,
                        reason: format!("denylisted in {}: {reason}", self.denylist.path_text()),
                    });
                    continue;
                }
                scan.entries.push(ModelEntry {
                    key,
                    source: Self::NAME.into(),
                    name: if s.name.is_empty() {
                        synset.clone()
                    } else {
                        s.name.clone()
                    },
                    // The synset decides the class (see `BenchmarkMap`).
                    category: synset.clone(),
                    tags: Vec::new(),
                    creator: "ShapeNet".into(),
                    license: "ShapeNet terms of use".into(),
                    size_cm: [0.0; 3],
                    location: ModelLocation::File {
                        path: self.root.join(&m.obj),
                    },
                    format: "obj".into(),
                    up_axis: "Y".into(),
                    model_rotation: None,
                    class: None,
                });
            }
            for u in &s.unusable {
                scan.skipped.push(SkippedModel {
                    origin: self.root.join(synset).join(&u.id).display().to_string(),
                    label: Self::key(synset, &u.id),
                    reason: u.reason.clone(),
                });
            }
        }
        Ok(scan)
    }
}

/// The synset of a ShapeNet entry key.
pub fn synset_of_key(key: &str) -> Option<&str> {
    key.strip_prefix("shapenet:")?.split('/').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texture_names_are_the_last_token_of_map_lines() {
        let mtl =
            "newmtl a\nKd 1 1 1\nmap_Kd -s 1 1 1 ../images/t0.jpg\nbump n.png\nmap_d a\\b.png\n";
        assert_eq!(
            texture_paths(mtl),
            vec!["../images/t0.jpg", "n.png", "a/b.png"]
        );
    }

    #[test]
    fn synset_ids_are_eight_digits() {
        assert!(is_synset_id("02691156"));
        assert!(!is_synset_id("0269115"));
        assert!(!is_synset_id("0269115a"));
        assert_eq!(synset_of_key("shapenet:02691156/abc"), Some("02691156"));
        assert_eq!(synset_of_key("sweethome3d:x"), None);
    }
}
