//! The one error type of the model catalogs. Every message names the file (and field or
//! entry) at fault and says how to fix it, because these reach the user unchanged.
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AssetError {
    #[error("Could not {action} {path}: {source}.")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{path} is not a readable zip archive ({source}). Reinstall the package that provides it \
         (for Sweet Home 3D: `apt-get install --reinstall sweethome3d-furniture`) or remove it."
    )]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },

    #[error("{path}, line {line}: {message}. Fix the line or reinstall the archive it came from.")]
    Properties {
        path: String,
        line: usize,
        message: String,
    },

    #[error(
        "No Sweet Home 3D archives (*.sh3f) in {dir}. Install Debian's `sweethome3d-furniture` \
         or set SYNTHGEN_SWEETHOME3D to a folder that holds .sh3f files."
    )]
    NoArchives { dir: PathBuf },

    #[error("Class map {path}, field `{field}`: {message}. Fix: {fix}")]
    ClassMap {
        path: PathBuf,
        field: String,
        message: String,
        fix: String,
    },

    #[error(
        "Archive {archive} holds an entry named {entry:?} that points outside its folder \
         (absolute or `..`); refusing to extract it. Replace the archive with a trusted copy."
    )]
    UnsafeZipEntry { archive: PathBuf, entry: String },

    #[error(
        "Model {key}: {path} is not in {archive}. The catalog index is stale; delete \
         {index_hint} so that it is rebuilt."
    )]
    ModelNotInArchive {
        key: String,
        archive: PathBuf,
        path: String,
        index_hint: String,
    },

    #[error("Model {key}: its file {path} does not exist. Check that the model folder is intact.")]
    ModelFileMissing { key: String, path: PathBuf },

    #[error("Two models share the key {key} (sources {first} and {second}); keys must be unique.")]
    DuplicateKey {
        key: String,
        first: String,
        second: String,
    },

    #[error("test_fraction must be within [0, 1], got {value}. Pass a fraction such as 0.2.")]
    InvalidTestFraction { value: f64 },

    #[error(
        "{root} is not a ShapeNetCore folder: {problem}. Point --shapenet (or SYNTHGEN_SHAPENET) \
         at the folder that holds taxonomy.json and the <synset id>/ folders."
    )]
    NotShapeNet { root: PathBuf, problem: String },

    #[error(
        "{path} does not parse as a ShapeNet taxonomy ({message}). It must be a JSON list of \
         {{\"synsetId\", \"name\", \"children\"}} objects; restore it from the ShapeNetCore download."
    )]
    Taxonomy { path: PathBuf, message: String },

    #[error(
        "Class map {path}, class `{class}`: synset {synset} is not in {taxonomy}. Fix the id (8 \
         digits, see taxonomy.json) or move it to `optional_synsets` if only full ShapeNet has it."
    )]
    UnknownSynset {
        path: PathBuf,
        class: String,
        synset: String,
        taxonomy: PathBuf,
    },

    #[error(
        "ShapeNet denylist {path}, line {line}: {message}. Each line is `<model id> <reason>` or \
         `<synset>/<model id> <reason>`; `#` starts a comment."
    )]
    DenylistLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl AssetError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        AssetError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
