//! Sampling of scene parameters, one file per variation factor.
//!
//! [`sample_scene`] is a pure function of (preset, prepared file lists, seed, class, index,
//! attempt): the same inputs give the same [`SceneParams`] whatever the worker count or order.
//! Folder listings happen once, outside it, in [`SamplingContext::prepare`].
mod background;
mod camera;
pub mod color;
mod light;
mod material;
mod scale;
mod streams;

pub use crate::preset::BUILTIN_PHOTOS;
pub use crate::scene::params::*;
pub use streams::{sample_seed_for_cycles, Streams};

use crate::preset::{Preset, ALL_HDRIS};
use rand::Rng;
use std::path::{Path, PathBuf};

const BUILTIN_PHOTO_DIRS: &[&str] = &[
    "/usr/share/backgrounds/mate/nature",
    "/usr/share/backgrounds",
];
const PHOTO_EXTENSIONS: &[&str] = &["jpg", "jpeg"];
/// Colon-separated folders that replace [`BUILTIN_PHOTO_DIRS`] (another install prefix; a
/// test points it at an empty folder to take the "not installed" path).
pub const PHOTO_DIRS_ENV: &str = "SYNTHGEN_DEBIAN_PHOTOS";

/// Where the built-in photos are looked for.
fn builtin_photo_dirs() -> Vec<PathBuf> {
    match std::env::var_os(PHOTO_DIRS_ENV) {
        Some(dirs) => std::env::split_paths(&dirs).collect(),
        None => BUILTIN_PHOTO_DIRS.iter().map(PathBuf::from).collect(),
    }
}

fn photo_dirs_text() -> String {
    builtin_photo_dirs()
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Image extensions accepted in texture and background folders.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "webp"];
const HDRI_EXTENSIONS: &[&str] = &["exr", "hdr"];

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("{field}: no usable files in {folder} (looked for {extensions}); point {field} at a folder that has some")]
    EmptyFolder {
        field: String,
        folder: String,
        extensions: String,
    },
    #[error(
        "{field}: cannot list {folder}: {message}; check that the folder exists and is readable"
    )]
    Folder {
        field: String,
        folder: String,
        message: String,
    },
    #[error("{field}: the sampling context lists no files for it; build the context with SamplingContext::prepare")]
    NoFiles { field: String },
    #[error("{field}: the built-in folder {BUILTIN_PHOTOS} is not installed (no photos in {dirs}); install the Debian packages mate-backgrounds and lomiri-wallpapers (`make setup` does), or point {field} at a folder of images")]
    BuiltinPhotosMissing { field: String, dirs: String },
    #[error("factors.light.world.hdri: no HDRI named \"{name}\"; available: {available}")]
    UnknownHdri { name: String, available: String },
    #[error("{field}: no kind named \"{value}\"; known: {known}")]
    UnknownKind {
        field: String,
        value: String,
        known: String,
    },
}

/// The kind a preset's distribution drew, by its name (the preset's checks already refused
/// unknown names; a preset built in code may still have one).
fn kind_named<K>(
    parse: fn(&str) -> Option<K>,
    known: &[&str],
    field: &str,
    value: String,
) -> Result<K, SampleError> {
    parse(&value).ok_or_else(|| SampleError::UnknownKind {
        field: field.to_string(),
        known: known.join(", "),
        value,
    })
}

/// The sorted file lists a preset draws from (listed once per run, so draws are indices).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplingContext {
    pub hdris: Vec<PathBuf>,
    pub material_images: Vec<PathBuf>,
    pub background_images: Vec<PathBuf>,
}

impl SamplingContext {
    /// Lists the folders the preset can draw from and checks that every drawable kind has
    /// files (an `hdri` world with no HDRIs fails here, not on image 10,000).
    pub fn prepare(preset: &Preset) -> Result<Self, SampleError> {
        let mut ctx = Self::prepare_factors(&preset.factors)?;
        // A class with its own factors may draw kinds the shared factors do not; it must
        // share the folders though (a per-class entry is the shared one reweighted).
        for f in preset.class_factors.values() {
            let own = Self::prepare_factors(f)?;
            for (mine, theirs) in [
                (&mut ctx.hdris, own.hdris),
                (&mut ctx.material_images, own.material_images),
                (&mut ctx.background_images, own.background_images),
            ] {
                if mine.is_empty() {
                    *mine = theirs;
                }
            }
        }
        Ok(ctx)
    }

    fn prepare_factors(f: &crate::preset::Factors) -> Result<Self, SampleError> {
        let world = &f.light.world;
        let hdri = WorldKind::Hdri.name();
        let needs_hdri =
            world.kind.can_be(hdri) || f.background.kind.can_be(BackgroundKind::Hdri.name());
        let hdri_dir = world
            .hdri_folder
            .clone()
            .unwrap_or_else(crate::paths::bundled_hdri_dir);
        let hdris = if needs_hdri {
            list_files(
                &hdri_dir,
                HDRI_EXTENSIONS,
                false,
                "factors.light.world.hdri_folder",
            )?
        } else {
            Vec::new()
        };
        if world.kind.can_be(hdri) {
            for name in world.hdri.possible() {
                let found = name == ALL_HDRIS
                    || hdris
                        .iter()
                        .any(|p| p.file_stem().is_some_and(|s| s == name));
                if !found {
                    return Err(SampleError::UnknownHdri {
                        name: name.to_string(),
                        available: stems(&hdris),
                    });
                }
            }
        }
        let material_images = match (
            &f.material.image_folder,
            f.material.family.can_be(MaterialFamily::Image.name()),
        ) {
            (Some(dir), true) => list_images(dir, "factors.material.image_folder")?,
            _ => Vec::new(),
        };
        let background_images = match (
            &f.background.image_folder,
            f.background.kind.can_be(BackgroundKind::Image.name()),
        ) {
            (Some(dir), true) => list_images(dir, "factors.background.image_folder")?,
            _ => Vec::new(),
        };
        Ok(SamplingContext {
            hdris,
            material_images,
            background_images,
        })
    }
}

/// The images of an `image_folder`: the built-in photos, or every image under the folder.
fn list_images(dir: &Path, field: &str) -> Result<Vec<PathBuf>, SampleError> {
    if dir != Path::new(BUILTIN_PHOTOS) {
        return list_files(dir, IMAGE_EXTENSIONS, true, field);
    }
    let photos = builtin_photos();
    if photos.is_empty() {
        return Err(SampleError::BuiltinPhotosMissing {
            field: field.to_string(),
            dirs: photo_dirs_text(),
        });
    }
    Ok(photos)
}

/// The installed built-in photos, sorted (empty when the packages are not installed).
pub fn builtin_photos() -> Vec<PathBuf> {
    let mut photos: Vec<PathBuf> = builtin_photo_dirs()
        .iter()
        .filter_map(|d| list_files(d, PHOTO_EXTENSIONS, false, "").ok())
        .flatten()
        .collect();
    photos.sort();
    photos
}

/// When the built-in photos are not installed, takes `image` out of every background mix
/// that draws them (instead of failing the run) and says so; the resolved preset records it.
pub fn drop_missing_builtin_photos(preset: &mut Preset) -> Option<String> {
    if !builtin_photos().is_empty() {
        return None;
    }
    let mut dropped = false;
    let all = std::iter::once(&mut preset.factors).chain(preset.class_factors.values_mut());
    for f in all {
        let b = &mut f.background;
        if b.image_folder.as_deref() != Some(Path::new(BUILTIN_PHOTOS)) {
            continue;
        }
        if let crate::preset::CategoryDist::Choice { values, weights } = &mut b.kind {
            let total: f64 = weights.iter().sum();
            if let Some(i) = values
                .iter()
                .position(|v| v == BackgroundKind::Image.name())
            {
                // Only when other kinds are left; else preparing the context says what to do.
                if weights[i] > 0.0 && total - weights[i] > 0.0 {
                    weights[i] = 0.0;
                    dropped = true;
                }
            }
        }
    }
    dropped.then(|| {
        format!(
            "factors.background.image_folder: the built-in photos ({BUILTIN_PHOTOS}) are not installed, so image backgrounds are left out of this run's mix; install the Debian packages mate-backgrounds and lomiri-wallpapers (`make setup` does) to use them"
        )
    })
}

/// The scene parameters of image `index` of `class`, attempt `attempt` (a rejected render is
/// re-sampled with the next attempt), drawn from the class's own factors when the preset
/// has them (`class_factors`), else from `factors`. Each factor, and each parameter within it, draws from
/// its own stream (see [`Streams`]).
pub fn sample_scene(
    preset: &Preset,
    ctx: &SamplingContext,
    seed: u64,
    class: &str,
    index: u64,
    attempt: u32,
) -> Result<SceneParams, SampleError> {
    let s = Streams::new(seed, class, index, attempt);
    let f = preset.factors_for(class);
    let light = light::sample_light(&f.light, &ctx.hdris, &s)?;
    let background = background::sample_background(
        &f.background,
        &ctx.background_images,
        &ctx.hdris,
        &light.world,
        &s,
    )?;
    let scale = scale::sample_scale(&f.scale, &s);
    Ok(SceneParams {
        camera: camera::sample_camera(&f.camera, &s, scale.size),
        scale,
        material: material::sample_material(&f.material, &ctx.material_images, &s)?,
        light,
        background,
    })
}

/// A uniformly drawn entry of a sorted file list.
fn pick<R: Rng>(files: &[PathBuf], rng: &mut R, field: &str) -> Result<PathBuf, SampleError> {
    if files.is_empty() {
        return Err(SampleError::NoFiles {
            field: field.to_string(),
        });
    }
    Ok(files[rng.random_range(0..files.len())].clone())
}

/// Files with one of `extensions` (case-insensitive), sorted by path; an empty result is an error.
fn list_files(
    dir: &Path,
    extensions: &[&str],
    recursive: bool,
    field: &str,
) -> Result<Vec<PathBuf>, SampleError> {
    let mut walker = walkdir::WalkDir::new(dir).follow_links(true);
    if !recursive {
        walker = walker.max_depth(1);
    }
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| SampleError::Folder {
            field: field.to_string(),
            folder: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let ext = entry
            .path()
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if entry.file_type().is_file() && ext.is_some_and(|e| extensions.contains(&e.as_str())) {
            files.push(entry.into_path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(SampleError::EmptyFolder {
            field: field.to_string(),
            folder: dir.display().to_string(),
            extensions: extensions.join("/"),
        });
    }
    Ok(files)
}

fn stems(files: &[PathBuf]) -> String {
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests;
