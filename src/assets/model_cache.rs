//! On-demand extraction of archived models into a cache folder, one folder per model,
//! published atomically so that concurrent processes never see a half-extracted model.
use super::entry::{ModelEntry, ModelLocation};
use super::error::AssetError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temp folders of threads within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone)]
pub struct ModelCache {
    root: PathBuf,
}

impl ModelCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelCache { root: root.into() }
    }

    /// `SYNTHGEN_CACHE`, else `~/.cache/synthgen`.
    pub fn default_location() -> Self {
        Self::new(crate::paths::cache_dir())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<source>/<sanitized key>`: where an archived model is extracted.
    pub fn model_dir(&self, entry: &ModelEntry) -> PathBuf {
        self.root
            .join(sanitize(&entry.source))
            .join(sanitize_key(&entry.key))
    }

    /// The model's main file on disk, extracting its folder first when it is archived.
    /// Once extracted, a call is only an existence check.
    pub fn materialize(&self, entry: &ModelEntry) -> Result<PathBuf, AssetError> {
        match &entry.location {
            ModelLocation::File { path } => {
                if path.is_file() {
                    Ok(path.clone())
                } else {
                    Err(AssetError::ModelFileMissing {
                        key: entry.key.clone(),
                        path: path.clone(),
                    })
                }
            }
            ModelLocation::Archive {
                archive,
                model_path,
            } => self.extract(entry, archive, model_path),
        }
    }

    fn extract(
        &self,
        entry: &ModelEntry,
        archive: &Path,
        model_path: &str,
    ) -> Result<PathBuf, AssetError> {
        let unsafe_entry = |name: &str| AssetError::UnsafeZipEntry {
            archive: archive.to_path_buf(),
            entry: name.to_string(),
        };
        safe_relative(model_path).ok_or_else(|| unsafe_entry(model_path))?;
        // Everything under the model file's folder belongs to it (OBJ, MTL, textures).
        let prefix = match model_path.rfind('/') {
            Some(slash) => &model_path[..=slash],
            None => "",
        };
        let obj_in_folder = &model_path[prefix.len()..];
        let dest = self.model_dir(entry);
        let final_obj = dest.join(obj_in_folder);
        if final_obj.is_file() {
            return Ok(final_obj);
        }

        let file = File::open(archive).map_err(|e| AssetError::io("open", archive, e))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|source| AssetError::Zip {
            path: archive.to_path_buf(),
            source,
        })?;
        if zip.index_for_name(model_path).is_none() {
            return Err(AssetError::ModelNotInArchive {
                key: entry.key.clone(),
                archive: archive.to_path_buf(),
                path: model_path.to_string(),
                index_hint: "the catalog index (index.json in the cache folder)".to_string(),
            });
        }

        let parent = dest.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent).map_err(|e| AssetError::io("create", parent, e))?;
        let temp = TempDir::create(parent.join(format!(
            ".tmp-{}-{}-{}",
            sanitize_key(&entry.key),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        )))?;

        for index in 0..zip.len() {
            let mut item = zip.by_index(index).map_err(|source| AssetError::Zip {
                path: archive.to_path_buf(),
                source,
            })?;
            let name = item.name().to_string();
            let Some(rest) = name.strip_prefix(prefix) else {
                continue;
            };
            let relative = safe_relative(rest).ok_or_else(|| unsafe_entry(&name))?;
            let target = temp.path.join(&relative);
            if item.is_dir() {
                std::fs::create_dir_all(&target)
                    .map_err(|e| AssetError::io("create", &target, e))?;
                continue;
            }
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir).map_err(|e| AssetError::io("create", dir, e))?;
            }
            let mut out =
                File::create(&target).map_err(|e| AssetError::io("create", &target, e))?;
            std::io::copy(&mut item, &mut out)
                .map_err(|e| AssetError::io("extract a file of the archive into", &target, e))?;
        }

        match std::fs::rename(&temp.path, &dest) {
            Ok(()) => {
                temp.keep();
                Ok(final_obj)
            }
            // Another process won the race: its complete folder is as good as ours.
            Err(_) if final_obj.is_file() => Ok(final_obj),
            Err(e) => Err(AssetError::io("move the extracted model to", &dest, e)),
        }
    }
}

/// A zip entry name as a relative path, or `None` when it is absolute or climbs out.
fn safe_relative(name: &str) -> Option<PathBuf> {
    if name.starts_with('/') || name.starts_with('\\') || name.contains('\\') {
        return None;
    }
    let mut out = PathBuf::new();
    for part in name.split('/') {
        match part {
            "" | "." => continue,
            ".." => return None,
            // A drive prefix such as "C:" would make the path absolute on Windows.
            p if p.contains(':') && cfg!(windows) => return None,
            p => out.push(p),
        }
    }
    Some(out)
}

fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A readable, collision-free folder name: the key without its source prefix, sanitized and
/// shortened, plus a hash of the full key (two keys can sanitize to the same text).
pub fn sanitize_key(key: &str) -> String {
    let readable: String = sanitize(key.split_once(':').map_or(key, |(_, rest)| rest))
        .trim_start_matches('.')
        .chars()
        .take(80)
        .collect();
    let digest = Sha256::digest(key.as_bytes());
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{readable}-{hash}")
}

/// A temp folder removed on drop unless kept (renamed into place).
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    fn create(path: PathBuf) -> Result<Self, AssetError> {
        std::fs::create_dir_all(&path).map_err(|e| AssetError::io("create", &path, e))?;
        Ok(TempDir { path, keep: false })
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::test_zip::write_zip;

    fn archived(archive: &Path, key: &str, model_path: &str) -> ModelEntry {
        ModelEntry {
            key: key.into(),
            source: "sweethome3d".into(),
            name: "Chair".into(),
            category: "Office".into(),
            tags: vec![],
            creator: String::new(),
            license: String::new(),
            size_cm: [1.0; 3],
            location: ModelLocation::Archive {
                archive: archive.to_path_buf(),
                model_path: model_path.into(),
            },
            format: "obj".into(),
            up_axis: "Y".into(),
            model_rotation: None,
            class: None,
        }
    }

    fn sample_archive(dir: &Path) -> PathBuf {
        let archive = dir.join("models.sh3f");
        write_zip(
            &archive,
            &[
                ("cat/chair/chair.obj", b"mtllib chair.mtl\nv 0 0 0\n"),
                ("cat/chair/chair.mtl", b"newmtl m\nmap_Kd tex/wood.jpg\n"),
                ("cat/chair/tex/wood.jpg", b"jpeg bytes"),
                ("cat/table/table.obj", b"v 1 1 1\n"),
                ("cat/chair.png", b"icon"),
            ],
        );
        archive
    }

    #[test]
    fn extracts_the_model_folder_only_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let archive = sample_archive(dir.path());
        let cache = ModelCache::new(dir.path().join("cache"));
        let entry = archived(&archive, "sweethome3d:Test#chair", "cat/chair/chair.obj");
        let obj = cache.materialize(&entry).unwrap();
        assert_eq!(obj, cache.model_dir(&entry).join("chair.obj"));
        assert_eq!(std::fs::read(&obj).unwrap(), b"mtllib chair.mtl\nv 0 0 0\n");
        let folder = obj.parent().unwrap();
        assert!(folder.join("chair.mtl").is_file());
        assert_eq!(
            std::fs::read(folder.join("tex/wood.jpg")).unwrap(),
            b"jpeg bytes"
        );
        assert!(!folder.join("table.obj").exists() && !folder.join("chair.png").exists());

        // The second call must not touch the archive: prove it by deleting the archive.
        std::fs::remove_file(&archive).unwrap();
        assert_eq!(cache.materialize(&entry).unwrap(), obj);
        // No temp folders left behind.
        let leftovers: Vec<_> = std::fs::read_dir(folder.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn concurrent_extractions_agree() {
        let dir = tempfile::tempdir().unwrap();
        let archive = sample_archive(dir.path());
        let cache = ModelCache::new(dir.path().join("cache"));
        let entry = archived(&archive, "sweethome3d:Test#chair", "cat/chair/chair.obj");
        let paths: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| cache.materialize(&entry).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(paths.windows(2).all(|w| w[0] == w[1]));
        assert!(paths[0].parent().unwrap().join("tex/wood.jpg").is_file());
    }

    #[test]
    fn refuses_entries_that_climb_out_or_are_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("evil.sh3f");
        write_zip(
            &archive,
            &[("m/x.obj", b"v 0 0 0\n"), ("m/../../escape.txt", b"gotcha")],
        );
        let cache = ModelCache::new(dir.path().join("cache"));
        let err = cache
            .materialize(&archived(&archive, "sweethome3d:evil", "m/x.obj"))
            .unwrap_err();
        assert!(matches!(err, AssetError::UnsafeZipEntry { .. }), "{err:?}");
        assert!(err.to_string().contains("evil.sh3f"), "{err}");
        assert!(!dir.path().join("escape.txt").exists());
        assert!(!cache
            .model_dir(&archived(&archive, "sweethome3d:evil", "m/x.obj"))
            .exists());

        let err = cache
            .materialize(&archived(&archive, "sweethome3d:abs", "/etc/x.obj"))
            .unwrap_err();
        assert!(matches!(err, AssetError::UnsafeZipEntry { .. }), "{err:?}");
    }

    #[test]
    fn missing_model_and_corrupt_archive_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let archive = sample_archive(dir.path());
        let cache = ModelCache::new(dir.path().join("cache"));
        let err = cache
            .materialize(&archived(&archive, "sweethome3d:gone", "cat/gone/gone.obj"))
            .unwrap_err();
        assert!(err.to_string().contains("cat/gone/gone.obj"), "{err}");

        let corrupt = dir.path().join("corrupt.sh3f");
        std::fs::write(&corrupt, b"PK\x03\x04 truncated garbage").unwrap();
        let err = cache
            .materialize(&archived(&corrupt, "sweethome3d:c", "a/a.obj"))
            .unwrap_err();
        assert!(err.to_string().contains("corrupt.sh3f"), "{err}");
    }

    #[test]
    fn plain_files_are_used_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let obj = dir.path().join("model.obj");
        std::fs::write(&obj, b"v 0 0 0\n").unwrap();
        let mut entry = archived(&obj, "shapenet:03001627/abc", "");
        entry.location = ModelLocation::File { path: obj.clone() };
        let cache = ModelCache::new(dir.path().join("cache"));
        let model_ref = entry.to_model_ref(&cache).unwrap();
        assert_eq!(model_ref.path, obj);
        assert_eq!(model_ref.up_axis, "Y");
        entry.location = ModelLocation::File {
            path: dir.path().join("missing.obj"),
        };
        assert!(cache
            .materialize(&entry)
            .unwrap_err()
            .to_string()
            .contains("missing.obj"));
    }

    #[test]
    fn sanitized_keys_are_distinct_and_safe() {
        let a = sanitize_key("sweethome3d:Blend Swap CC-0#armchair");
        let b = sanitize_key("sweethome3d:Blend_Swap_CC-0_armchair");
        assert_ne!(a, b);
        assert!(a.starts_with("Blend_Swap_CC-0_armchair-"), "{a}");
        assert!(
            sanitize_key("x:../..").chars().all(|c| c != '/')
                && !sanitize_key("x:..").starts_with('.')
        );
    }
}
