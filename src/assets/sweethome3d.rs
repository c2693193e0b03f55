//! The Sweet Home 3D furniture catalog: `.sh3f` zip archives, each with a
//! `PluginFurnitureCatalog.properties` that lists its models as `key#N=value` lines.
use super::catalog::{ModelSource, SourceScan};
use super::entry::{ModelEntry, ModelLocation, SkippedModel};
use super::error::AssetError;
use super::index_cache;
use super::properties::{parse_properties, Properties};
use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const SOURCE_NAME: &str = "sweethome3d";
const CATALOG_FILE: &str = "PluginFurnitureCatalog.properties";

/// All `*.sh3f` archives of a folder, read through an index cached as JSON.
#[derive(Debug, Clone)]
pub struct SweetHome3dSource {
    archive_dir: PathBuf,
    /// `None` disables the index cache (always parse the archives).
    cache_root: Option<PathBuf>,
}

impl SweetHome3dSource {
    pub fn new(archive_dir: impl Into<PathBuf>, cache_root: Option<PathBuf>) -> Self {
        SweetHome3dSource {
            archive_dir: archive_dir.into(),
            cache_root,
        }
    }

    /// The Debian archives (`SYNTHGEN_SWEETHOME3D`) with the index in `SYNTHGEN_CACHE`.
    pub fn from_default_paths() -> Self {
        Self::new(
            crate::paths::sweethome3d_dir(),
            Some(crate::paths::cache_dir()),
        )
    }

    pub fn archive_dir(&self) -> &Path {
        &self.archive_dir
    }

    /// `<cache>/sweethome3d/index.json`, when caching is on.
    pub fn index_path(&self) -> Option<PathBuf> {
        self.cache_root
            .as_ref()
            .map(|root| root.join(SOURCE_NAME).join("index.json"))
    }

    /// The archives, sorted by file name so that the catalog order is stable.
    pub fn archives(&self) -> Result<Vec<PathBuf>, AssetError> {
        let read = std::fs::read_dir(&self.archive_dir)
            .map_err(|e| AssetError::io("list the folder", &self.archive_dir, e))?;
        let mut archives = Vec::new();
        for item in read {
            let item = item.map_err(|e| AssetError::io("list the folder", &self.archive_dir, e))?;
            let path = item.path();
            let is_sh3f = path
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("sh3f"));
            if is_sh3f && path.is_file() {
                archives.push(path);
            }
        }
        archives.sort();
        if archives.is_empty() {
            return Err(AssetError::NoArchives {
                dir: self.archive_dir.clone(),
            });
        }
        Ok(archives)
    }
}

impl ModelSource for SweetHome3dSource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    fn scan(&self) -> Result<SourceScan, AssetError> {
        let archives = self.archives()?;
        let stamps = index_cache::stamp_archives(&archives)?;
        let index_path = self.index_path();
        if let Some(path) = &index_path {
            if let Some((entries, skipped)) = index_cache::load(path, &stamps) {
                return Ok(SourceScan {
                    entries,
                    skipped,
                    from_cache: true,
                });
            }
        }
        let mut entries = Vec::new();
        let mut skipped = Vec::new();
        let mut seen = HashSet::new();
        for archive in &archives {
            let scan = scan_archive(archive)?;
            for entry in scan.entries {
                if seen.insert(entry.key.clone()) {
                    entries.push(entry);
                } else {
                    skipped.push(SkippedModel {
                        origin: archive.display().to_string(),
                        label: entry.key.clone(),
                        reason: "its id repeats one of an earlier archive; the first is kept"
                            .to_string(),
                    });
                }
            }
            skipped.extend(scan.skipped);
        }
        if let Some(path) = &index_path {
            // A cache that cannot be written only costs speed next time.
            if let Err(err) = index_cache::store(path, &stamps, &entries, &skipped) {
                tracing::warn!("{err} The Sweet Home 3D index will be rebuilt on the next run.");
            }
        }
        Ok(SourceScan {
            entries,
            skipped,
            from_cache: false,
        })
    }
}

/// The models of one archive, in catalog order.
#[derive(Debug, Clone, Default)]
pub struct ArchiveScan {
    pub entries: Vec<ModelEntry>,
    pub skipped: Vec<SkippedModel>,
}

/// Reads one `.sh3f` archive. A model with an incomplete entry, a missing model file, or that
/// is a door or window is skipped with a reason; only an unreadable archive is an error.
pub fn scan_archive(archive: &Path) -> Result<ArchiveScan, AssetError> {
    let file = File::open(archive).map_err(|e| AssetError::io("open", archive, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|source| AssetError::Zip {
        path: archive.to_path_buf(),
        source,
    })?;
    let files: HashSet<String> = zip.file_names().map(str::to_owned).collect();
    let mut bytes = Vec::new();
    zip.by_name(CATALOG_FILE)
        .map_err(|source| AssetError::Zip {
            path: archive.to_path_buf(),
            source,
        })?
        .read_to_end(&mut bytes)
        .map_err(|e| AssetError::io("read the catalog of", archive, e))?;
    let origin_name = format!("{}!{CATALOG_FILE}", archive.display());
    let props = parse_properties(&bytes).map_err(|e| AssetError::Properties {
        path: origin_name,
        line: e.line,
        message: e.message,
    })?;
    Ok(entries_from_properties(archive, &props, &files))
}

/// Builds entries from a parsed catalog; `files` are the archive's entry names.
pub fn entries_from_properties(
    archive: &Path,
    props: &Properties,
    files: &HashSet<String>,
) -> ArchiveScan {
    let archive_license = props.get("license").unwrap_or("").trim().to_string();
    let mut scan = ArchiveScan::default();
    for index in model_indices(props) {
        let origin = format!("{}#{index}", archive.display());
        match entry_at(archive, props, files, index, &archive_license) {
            Ok(entry) => scan.entries.push(entry),
            Err(reason) => scan.skipped.push(SkippedModel {
                origin,
                label: props
                    .get(&format!("id#{index}"))
                    .or_else(|| props.get(&format!("name#{index}")))
                    .unwrap_or("?")
                    .to_string(),
                reason,
            }),
        }
    }
    scan
}

/// The N of every `id#N`, `name#N` or `model#N` key, ascending.
fn model_indices(props: &Properties) -> BTreeSet<u32> {
    props
        .keys()
        .filter_map(|key| {
            let (field, index) = key.split_once('#')?;
            matches!(field, "id" | "name" | "model")
                .then(|| index.parse::<u32>().ok())
                .flatten()
        })
        .collect()
}

fn entry_at(
    archive: &Path,
    props: &Properties,
    files: &HashSet<String>,
    index: u32,
    archive_license: &str,
) -> Result<ModelEntry, String> {
    let field = |name: &str| props.get(&format!("{name}#{index}")).map(str::trim);
    let required = |name: &str| {
        field(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("its `{name}#{index}` is missing or empty"))
    };
    let id = required("id")?;
    let name = required("name")?;
    let category = required("category")?;
    let model = required("model")?;
    if field("doorOrWindow") == Some("true") || category.eq_ignore_ascii_case("Doors and windows") {
        return Err("it is a door or window, which is not an object to render".to_string());
    }
    let model_path = model.trim_start_matches('/').to_string();
    if !model_path.to_ascii_lowercase().ends_with(".obj") {
        return Err(format!(
            "its model {model} is not an OBJ file, the only format supported"
        ));
    }
    if !files.contains(&model_path) {
        return Err(format!(
            "its model file {model} is missing from the archive"
        ));
    }
    let mut size_cm = [0f32; 3];
    for (slot, dim) in size_cm.iter_mut().zip(["width", "depth", "height"]) {
        let text = required(dim)?;
        *slot = text
            .parse::<f32>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
            .ok_or_else(|| format!("its `{dim}#{index}` = {text:?} is not a positive number"))?;
    }
    let model_rotation = match field("modelRotation") {
        Some(text) => parse_rotation(text)
            .ok_or_else(|| format!("its `modelRotation#{index}` is not 9 numbers"))?,
        None => None,
    };
    let up_axis = up_axis_of(model_rotation.as_ref()).ok_or_else(|| {
        format!(
            "its `modelRotation#{index}` stands the file on an axis other than +Y or +Z, \
             which the render protocol cannot express"
        )
    })?;
    Ok(ModelEntry {
        key: format!("{SOURCE_NAME}:{id}"),
        source: SOURCE_NAME.to_string(),
        name: name.to_string(),
        category: category.to_string(),
        tags: field("tags")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        creator: field("creator").unwrap_or("").to_string(),
        license: field("license")
            .filter(|l| !l.is_empty())
            .unwrap_or(archive_license)
            .to_string(),
        size_cm,
        location: ModelLocation::Archive {
            archive: archive.to_path_buf(),
            model_path,
        },
        format: "obj".to_string(),
        up_axis: up_axis.to_string(),
        model_rotation,
        class: None,
    })
}

/// The file axis that Sweet Home 3D turns upward (its +Y): the second row of the rotation.
/// Small tilts keep "Y"; `None` for a downward or sideways axis.
fn up_axis_of(rotation: Option<&[f32; 9]>) -> Option<&'static str> {
    let Some(r) = rotation else {
        return Some("Y");
    };
    if r[4] > 0.9 {
        Some("Y")
    } else if r[5] > 0.9 {
        Some("Z")
    } else {
        None
    }
}

/// `Some(None)` for the identity (nothing to apply), `None` when malformed.
fn parse_rotation(text: &str) -> Option<Option<[f32; 9]>> {
    let values: Vec<f32> = text
        .split_whitespace()
        .map(|v| v.parse::<f32>().ok().filter(|v| v.is_finite()))
        .collect::<Option<_>>()?;
    let matrix: [f32; 9] = values.try_into().ok()?;
    const IDENTITY: [f32; 9] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    let is_identity = matrix
        .iter()
        .zip(IDENTITY)
        .all(|(a, b)| (a - b).abs() < 1e-6);
    Some((!is_identity).then_some(matrix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::test_zip::write_zip;

    const CATALOG: &[u8] = b"license=Public domain\n\
id#1=Test#chair\nname#1=Chair\ncategory#1=Living room\ntags#1=Seat, \\\n  Blend Swap\n\
model#1=/test/chair/chair.obj\nwidth#1=50\ndepth#1=52.5\nheight#1=90\ncreator#1=Jos\xe9\n\
id#2=Test#door\nname#2=Door\ncategory#2=Doors and windows\nmodel#2=/test/door/door.obj\n\
width#2=80\ndepth#2=10\nheight#2=200\ndoorOrWindow#2=true\n\
id#3=Test#ghost\nname#3=Ghost\ncategory#3=Misc\nmodel#3=/test/ghost/ghost.obj\n\
width#3=1\ndepth#3=1\nheight#3=1\n\
id#4=Test#nosize\nname#4=No size\ncategory#4=Misc\nmodel#4=/test/chair/chair.obj\n\
width#4=1\ndepth#4=abc\nheight#4=1\n\
name#5=No id\n\
id#6=Test#turned\nname#6=Turned\ncategory#6=Misc\nmodel#6=/test/chair/chair.obj\n\
width#6=1\ndepth#6=1\nheight#6=1\nmodelRotation#6=1 0 0 0 0 1 0 -1 0\nlicense#6=CC-BY\n\
id#7=Test#sideways\nname#7=Sideways\ncategory#7=Misc\nmodel#7=/test/chair/chair.obj\n\
width#7=1\ndepth#7=1\nheight#7=1\nmodelRotation#7=0 0 1 -1 0 0 0 -1 0\n";

    #[test]
    fn parses_complete_entries_and_skips_the_rest_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("test.sh3f");
        write_zip(
            &archive,
            &[
                (CATALOG_FILE, CATALOG),
                ("test/chair/chair.obj", b"v 0 0 0\n"),
                ("test/door/door.obj", b"v 0 0 0\n"),
            ],
        );
        let scan = scan_archive(&archive).unwrap();
        let keys: Vec<&str> = scan.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["sweethome3d:Test#chair", "sweethome3d:Test#turned"]);
        let chair = &scan.entries[0];
        assert_eq!(chair.name, "Chair");
        assert_eq!(chair.tags, ["Seat", "Blend Swap"]);
        assert_eq!(chair.creator, "Jos\u{e9}");
        assert_eq!(chair.license, "Public domain");
        assert_eq!(chair.size_cm, [50.0, 52.5, 90.0]);
        assert_eq!(chair.up_axis, "Y");
        assert_eq!(chair.model_rotation, None);
        assert_eq!(
            chair.location,
            ModelLocation::Archive {
                archive: archive.clone(),
                model_path: "test/chair/chair.obj".into()
            }
        );
        let turned = &scan.entries[1];
        assert_eq!(turned.license, "CC-BY");
        assert_eq!(turned.up_axis, "Z");
        assert_eq!(
            turned.model_rotation,
            Some([1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0])
        );

        let reasons: Vec<(&str, &str)> = scan
            .skipped
            .iter()
            .map(|s| (s.label.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 5, "{reasons:?}");
        assert!(reasons[0].0 == "Test#door" && reasons[0].1.contains("door or window"));
        assert!(reasons[1].0 == "Test#ghost" && reasons[1].1.contains("missing from the archive"));
        assert!(reasons[2].0 == "Test#nosize" && reasons[2].1.contains("depth#4"));
        assert!(reasons[3].0 == "No id" && reasons[3].1.contains("id#5"));
        assert!(reasons[4].0 == "Test#sideways" && reasons[4].1.contains("modelRotation#7"));
    }

    #[test]
    fn index_cache_is_reused_until_an_archive_changes() {
        let dir = tempfile::tempdir().unwrap();
        let archives = dir.path().join("furniture");
        std::fs::create_dir(&archives).unwrap();
        let archive = archives.join("test.sh3f");
        let files: [(&str, &[u8]); 2] = [(CATALOG_FILE, CATALOG), ("test/chair/chair.obj", b"v\n")];
        write_zip(&archive, &files);
        let source = SweetHome3dSource::new(&archives, Some(dir.path().join("cache")));
        let index = source.index_path().unwrap();
        assert!(index.ends_with("sweethome3d/index.json"));

        let first = source.scan().unwrap();
        assert!(!first.from_cache && index.is_file());
        let second = source.scan().unwrap();
        assert!(second.from_cache);
        assert_eq!(second.entries, first.entries);
        assert_eq!(second.skipped, first.skipped);

        // A different archive (other size) invalidates the index.
        let mut bigger = files.to_vec();
        bigger.push(("test/extra.txt", b"more bytes"));
        write_zip(&archive, &bigger);
        assert!(!source.scan().unwrap().from_cache);
        assert!(source.scan().unwrap().from_cache);

        // A corrupt index is ignored and rewritten, not an error.
        std::fs::write(&index, b"{ not json").unwrap();
        let rebuilt = source.scan().unwrap();
        assert!(!rebuilt.from_cache);
        assert_eq!(rebuilt.entries, first.entries);
        assert!(source.scan().unwrap().from_cache);
    }

    #[test]
    fn corrupt_archive_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("broken.sh3f");
        std::fs::write(&archive, b"this is not a zip file at all").unwrap();
        let err = scan_archive(&archive).unwrap_err();
        assert!(matches!(err, AssetError::Zip { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("broken.sh3f") && text.contains("not a readable zip"),
            "{text}"
        );
    }

    #[test]
    fn archive_without_catalog_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("nocat.sh3f");
        write_zip(&archive, &[("a/a.obj", b"v 0 0 0\n")]);
        let err = scan_archive(&archive).unwrap_err();
        assert!(err.to_string().contains("nocat.sh3f"), "{err}");
    }

    #[test]
    fn empty_folder_names_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = SweetHome3dSource::new(dir.path(), None).scan().unwrap_err();
        assert!(err.to_string().contains("SYNTHGEN_SWEETHOME3D"), "{err}");
    }
}
