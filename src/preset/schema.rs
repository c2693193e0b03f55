//! The typed preset. Every section has defaults (those of `scene_presets/base.yaml`: full
//! randomization), so any file is valid on its own and a child file lists only what it changes.
//! Field names are the paths users type in `--set` (e.g. `factors.camera.distance`).
use super::dist::{CategoryDist, NumberDist};
use crate::scene::contract::RenderSettings;
use crate::scene::params::{
    MaterialFamily, BACKGROUND_KINDS, BACKGROUND_PATTERNS, LAMP_KINDS, MATERIAL_FAMILIES,
    WORLD_KINDS,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `image_folder: debian-photos` names the photographs that Debian's wallpaper packages
/// install (mate-backgrounds: 12 nature photos, GPL-2+; lomiri-wallpapers: 19 photos,
/// CC-BY / CC-BY-SA); `make setup` installs them. `sample` looks them up.
pub const BUILTIN_PHOTOS: &str = "debian-photos";

/// The 8 CC0 HDRIs bundled in the bpy wheel (file stems under `paths::bundled_hdri_dir()`).
pub const BUNDLED_HDRIS: &[&str] = &[
    "city",
    "courtyard",
    "forest",
    "interior",
    "night",
    "studio",
    "sunrise",
    "sunset",
];

/// The value of `factors.light.world.hdri` that means "any HDRI found".
pub const ALL_HDRIS: &str = "all";

pub const CATALOGS: &[&str] = &["sweethome3d", "shapenet"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Preset {
    pub name: String,
    pub description: String,
    /// Name (in the presets folder) or path (relative to this file) of the parent preset.
    /// Always empty in a resolved preset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    pub seed: u64,
    /// Class folder names; checked against the catalog by the caller.
    pub classes: Vec<String>,
    pub images_per_class: u64,
    /// "sweethome3d" (bundled) or "shapenet" (your own download).
    pub catalog: String,
    pub split: SplitConfig,
    pub render: RenderConfig,
    pub validate: ValidateConfig,
    pub workers: WorkersConfig,
    pub output: OutputConfig,
    pub factors: Factors,
    /// Per-class factors: images of a class named here draw from its entry instead of
    /// `factors` (written by `render --weights` with a `classes:` section). In a preset file
    /// an entry lists only what it changes: the loader merges it over `factors`, so a
    /// resolved preset holds each class's complete factors. Left out of the YAML when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub class_factors: BTreeMap<String, Factors>,
}

impl Default for Preset {
    fn default() -> Self {
        Preset {
            name: "unnamed".to_string(),
            description: String::new(),
            extends: None,
            seed: 0,
            classes: Vec::new(),
            images_per_class: 100,
            catalog: "sweethome3d".to_string(),
            split: SplitConfig::default(),
            render: RenderConfig::default(),
            validate: ValidateConfig::default(),
            workers: WorkersConfig::default(),
            output: OutputConfig::default(),
            factors: Factors::default(),
            class_factors: BTreeMap::new(),
        }
    }
}

/// Model-level train/test split, so that test images show models never seen in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Fraction of each class's models held out for the test split.
    pub test_fraction: f64,
    pub seed: u64,
    /// Which models this run renders from.
    #[serde(rename = "use")]
    pub subset: SplitUse,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            test_fraction: 0.2,
            seed: 0,
            subset: SplitUse::All,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitUse {
    Train,
    Test,
    All,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RenderConfig {
    /// Square image side in pixels.
    pub resolution: u32,
    pub samples: u32,
    pub denoise: bool,
    pub engine: String,
    /// Cycles CPU threads; 0 = automatic (measured best).
    pub threads: u32,
    /// auto | cpu | gpu: `auto` renders on a GPU (OptiX, else CUDA) when the worker sees one.
    pub device: crate::scene::contract::Device,
    /// Keep Cycles' synced scene between renders of one worker (faster views of a reused
    /// model; see docs/BENCHMARKS.md "Render quality and cost").
    pub persistent_data: bool,
    /// Adaptive sampling noise threshold; 0 = off (every pixel takes `samples`).
    pub adaptive_threshold: f64,
    /// Samples every pixel takes before the adaptive threshold applies (0: Cycles' choice).
    pub adaptive_min_samples: u32,
    /// Light path limits: total, diffuse, glossy and transmission bounces.
    pub max_bounces: u32,
    pub diffuse_bounces: u32,
    pub glossy_bounces: u32,
    pub transmission_bounces: u32,
    /// Reflective and refractive caustics.
    pub caustics: bool,
    /// Largest sample value of direct / indirect light (0: no clamp).
    pub clamp_direct: f64,
    pub clamp_indirect: f64,
}

impl Default for RenderConfig {
    fn default() -> Self {
        let bounces = crate::scene::contract::Bounces::default();
        RenderConfig {
            resolution: 224,
            samples: 64,
            denoise: true,
            engine: "cycles".to_string(),
            threads: 0,
            device: crate::scene::contract::Device::Auto,
            persistent_data: false,
            adaptive_threshold: 0.0,
            adaptive_min_samples: 0,
            max_bounces: bounces.max,
            diffuse_bounces: bounces.diffuse,
            glossy_bounces: bounces.glossy,
            transmission_bounces: bounces.transmission,
            caustics: bounces.caustics,
            clamp_direct: bounces.clamp_direct,
            clamp_indirect: bounces.clamp_indirect,
        }
    }
}

impl RenderConfig {
    /// The per-run settings sent to Blender workers (the preset's flat keys become the
    /// contract's typed values here; a threshold of 0 means adaptive sampling is off).
    pub fn settings(&self) -> RenderSettings {
        use crate::scene::contract::{Adaptive, Bounces};
        RenderSettings {
            resolution: self.resolution,
            samples: self.samples,
            denoise: self.denoise,
            engine: self.engine.clone(),
            threads: self.threads,
            device: self.device,
            persistent_data: self.persistent_data,
            adaptive: if self.adaptive_threshold > 0.0 {
                Adaptive::On {
                    threshold: self.adaptive_threshold,
                    min_samples: self.adaptive_min_samples,
                }
            } else {
                Adaptive::Off
            },
            bounces: Bounces {
                max: self.max_bounces,
                diffuse: self.diffuse_bounces,
                glossy: self.glossy_bounces,
                transmission: self.transmission_bounces,
                caustics: self.caustics,
                clamp_direct: self.clamp_direct,
                clamp_indirect: self.clamp_indirect,
            },
        }
    }
}

/// Acceptance rules for a rendered image; a rejected image is re-sampled (`attempt` + 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidateConfig {
    /// Fraction of the image covered by the object (alpha > 0.5).
    pub min_coverage: f64,
    pub max_coverage: f64,
    /// Fraction of the image border covered by the object (the object is cut off).
    pub max_truncation: f64,
    /// Fraction of object pixels that are Blender's missing-texture magenta.
    pub max_magenta_fraction: f64,
    /// Re-samples of one image before giving up on it.
    pub max_attempts: u32,
    /// Project the model through each sampled camera before rendering and re-sample views
    /// predicted to break the coverage or truncation bounds without rendering them (false:
    /// every view is rendered and validation alone decides).
    pub predict_views: bool,
}

impl Default for ValidateConfig {
    fn default() -> Self {
        ValidateConfig {
            min_coverage: 0.02,
            max_coverage: 0.9,
            max_truncation: 0.05,
            max_magenta_fraction: 0.01,
            max_attempts: 5,
            predict_views: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkersConfig {
    /// Blender worker processes.
    pub count: u32,
    /// A worker is restarted after this many jobs (bounds leaks in long runs).
    pub max_jobs_per_worker: u32,
    /// A model that fails this many times is put on the denylist.
    pub max_model_failures: u32,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig {
            count: 1,
            max_jobs_per_worker: 500,
            max_model_failures: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Also write the object mask (alpha of the render) under `masks/` (in shards: as
    /// `<key>.mask.png`).
    pub masks: bool,
    /// `imagefolder` (default: one PNG per image in class folders) or `webdataset` (tar
    /// shards `<shard_name>-%06d.tar`, see docs/SHARDS.md).
    #[serde(skip_serializing_if = "is_default")]
    pub format: OutputFormat,
    /// WebDataset only: a shard is closed once it holds this many samples ...
    #[serde(skip_serializing_if = "is_default_shard_samples")]
    pub shard_samples: u64,
    /// ... or once it reaches this many bytes, whichever comes first.
    #[serde(skip_serializing_if = "is_default_shard_bytes")]
    pub shard_bytes: u64,
    /// WebDataset only: the shard file prefix (default: the preset's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_name: Option<String>,
}

/// How a render writes its images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    ImageFolder,
    WebDataset,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "imagefolder" => Ok(OutputFormat::ImageFolder),
            "webdataset" => Ok(OutputFormat::WebDataset),
            other => Err(format!(
                "unknown output format {other:?}: use imagefolder or webdataset"
            )),
        }
    }
}

/// 10,000 samples or 1 GB per shard: the webdataset project's examples use shards of about
/// 1 GB (OpenImages: 554 shards of ~1 GB; the Hugging Face WebDataset page: "often ~1GB"), large
/// enough for sequential reads at full bandwidth; the sample cap keeps shards of small images
/// numerous enough to spread over loader workers and ranks (S2RDA-49's 12M images make 1,200).
pub const DEFAULT_SHARD_SAMPLES: u64 = 10_000;
pub const DEFAULT_SHARD_BYTES: u64 = 1_000_000_000;

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_default_shard_samples(v: &u64) -> bool {
    *v == DEFAULT_SHARD_SAMPLES
}

fn is_default_shard_bytes(v: &u64) -> bool {
    *v == DEFAULT_SHARD_BYTES
}

impl OutputConfig {
    /// The output fields left out of a resolved preset while at their defaults (so presets
    /// of ImageFolder renders read as before), added to the `--set` schema.
    pub(super) fn add_hidden_keys(schema: &mut serde_yaml::Value) {
        let d = OutputConfig::default();
        if let Some(out) = schema
            .get_mut("output")
            .and_then(serde_yaml::Value::as_mapping_mut)
        {
            out.insert("format".into(), "imagefolder".into());
            out.insert("shard_samples".into(), d.shard_samples.into());
            out.insert("shard_bytes".into(), d.shard_bytes.into());
            out.insert("shard_name".into(), "name".into());
        }
    }
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            masks: true,
            format: OutputFormat::ImageFolder,
            shard_samples: DEFAULT_SHARD_SAMPLES,
            shard_bytes: DEFAULT_SHARD_BYTES,
            shard_name: None,
        }
    }
}

/// The five variation factors of the paper.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Factors {
    pub scale: ScaleFactor,
    pub material: MaterialFactor,
    pub light: LightFactor,
    pub camera: CameraFactor,
    pub background: BackgroundFactor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScaleFactor {
    /// Largest side of the model after normalization to 1.
    pub size: NumberDist,
}

impl Default for ScaleFactor {
    fn default() -> Self {
        ScaleFactor {
            // The paper's best setting mixes the sizes 1, 1.5 and 2.
            size: NumberDist::Choice {
                values: vec![1.0, 1.5, 2.0],
                weights: vec![1.0; 3],
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaterialFactor {
    pub keep_original_probability: f64,
    pub family: CategoryDist,
    /// HSV of the base colour (sRGB-encoded, as in a colour picker); hue wraps around 1.
    /// The secondary colour is drawn from the same distributions.
    pub hue: NumberDist,
    pub saturation: NumberDist,
    pub value: NumberDist,
    pub roughness: NumberDist,
    pub metallic: NumberDist,
    pub pattern_scale: NumberDist,
    pub pattern_detail: NumberDist,
    pub pattern_distortion: NumberDist,
    /// Images for the `image` family.
    pub image_folder: Option<PathBuf>,
}

impl Default for MaterialFactor {
    fn default() -> Self {
        let mut weights = vec![1.0; MATERIAL_FAMILIES.len()];
        // `image` needs image_folder, which has no default.
        if let Some(i) = MATERIAL_FAMILIES
            .iter()
            .position(|f| *f == MaterialFamily::Image.name())
        {
            weights[i] = 0.0;
        }
        MaterialFactor {
            keep_original_probability: 0.25,
            family: CategoryDist::Choice {
                values: MATERIAL_FAMILIES.iter().map(|s| s.to_string()).collect(),
                weights,
            },
            hue: NumberDist::uniform(0.0, 1.0),
            saturation: NumberDist::uniform(0.0, 1.0),
            value: NumberDist::uniform(0.15, 1.0),
            roughness: NumberDist::uniform(0.05, 1.0),
            metallic: NumberDist::Choice {
                values: vec![0.0, 1.0],
                weights: vec![3.0, 1.0],
            },
            pattern_scale: NumberDist::LogUniform {
                min: 2.0,
                max: 40.0,
            },
            pattern_detail: NumberDist::uniform(0.0, 8.0),
            pattern_distortion: NumberDist::uniform(0.0, 2.0),
            image_folder: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LightFactor {
    /// Number of lamps (rounded to the nearest integer).
    pub count: NumberDist,
    pub kind: CategoryDist,
    /// Lamp positions on a spherical shell around the object.
    pub radius: NumberDist,
    pub elevation: NumberDist,
    pub azimuth: NumberDist,
    /// Irradiance at the object in W/m^2 (the unit of a sun lamp's strength); converted to
    /// each kind's own unit with the lamp's distance.
    pub energy: NumberDist,
    pub temperature: NumberDist,
    /// Apparent angular diameter of the lamp seen from the object, degrees (shadow softness).
    pub size: NumberDist,
    pub world: WorldFactor,
}

impl Default for LightFactor {
    fn default() -> Self {
        LightFactor {
            count: NumberDist::Choice {
                values: vec![1.0, 2.0, 3.0],
                weights: vec![1.0; 3],
            },
            kind: CategoryDist::choice_of(LAMP_KINDS),
            radius: NumberDist::uniform(4.0, 10.0),
            elevation: NumberDist::uniform(-10.0, 80.0),
            azimuth: NumberDist::uniform(0.0, 360.0),
            energy: NumberDist::LogUniform { min: 1.0, max: 8.0 },
            temperature: NumberDist::uniform(2700.0, 7500.0),
            size: NumberDist::uniform(2.0, 30.0),
            world: WorldFactor::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldFactor {
    pub kind: CategoryDist,
    pub strength: NumberDist,
    /// Names (file stems) of HDRIs, or "all".
    pub hdri: CategoryDist,
    /// Folder of .exr/.hdr files; the bundled HDRIs when unset.
    pub hdri_folder: Option<PathBuf>,
    pub rotation: NumberDist,
    /// Colour of a `uniform` world.
    pub color: HsvDist,
    pub sun_elevation: NumberDist,
}

impl Default for WorldFactor {
    fn default() -> Self {
        WorldFactor {
            kind: CategoryDist::choice_of(WORLD_KINDS),
            strength: NumberDist::LogUniform { min: 0.2, max: 1.5 },
            hdri: CategoryDist::fixed(ALL_HDRIS),
            hdri_folder: None,
            rotation: NumberDist::uniform(0.0, 360.0),
            color: HsvDist {
                hue: NumberDist::uniform(0.0, 1.0),
                saturation: NumberDist::uniform(0.0, 0.3),
                value: NumberDist::uniform(0.3, 1.0),
            },
            sun_elevation: NumberDist::uniform(5.0, 70.0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HsvDist {
    pub hue: NumberDist,
    pub saturation: NumberDist,
    pub value: NumberDist,
}

impl Default for HsvDist {
    fn default() -> Self {
        HsvDist {
            hue: NumberDist::uniform(0.0, 1.0),
            saturation: NumberDist::uniform(0.0, 1.0),
            value: NumberDist::uniform(0.0, 1.0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraFactor {
    pub distance: NumberDist,
    pub elevation: NumberDist,
    pub azimuth: NumberDist,
    pub focal_length: NumberDist,
    pub sensor_width: NumberDist,
    pub roll: NumberDist,
    /// Offset of the look-at point from the object centre, drawn per axis.
    pub look_at_jitter: NumberDist,
    /// Framing: the share of the frame width the object's largest side fills, in (0, 1].
    /// When set, the distance follows from it, the lens and the object's size
    /// (size x focal_length / (fill x sensor_width)) and `distance` is not drawn; null = off.
    pub frame_fill: Option<NumberDist>,
}

impl Default for CameraFactor {
    fn default() -> Self {
        CameraFactor {
            distance: NumberDist::uniform(2.5, 5.0),
            elevation: NumberDist::uniform(-15.0, 75.0),
            azimuth: NumberDist::uniform(0.0, 360.0),
            focal_length: NumberDist::Fixed(50.0),
            sensor_width: NumberDist::Fixed(36.0),
            roll: NumberDist::TruncatedNormal {
                mean: 0.0,
                std: 5.0,
                min: -15.0,
                max: 15.0,
            },
            look_at_jitter: NumberDist::uniform(-0.1, 0.1),
            frame_fill: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackgroundFactor {
    pub kind: CategoryDist,
    /// HSV of the background colours (the secondary colour is drawn the same way).
    pub hue: NumberDist,
    pub saturation: NumberDist,
    pub value: NumberDist,
    pub pattern: CategoryDist,
    pub pattern_scale: NumberDist,
    /// Side of the crop window as a fraction of the image (for `image` and `hdri`).
    pub crop_size: NumberDist,
    /// Images for the `image` kind.
    pub image_folder: Option<PathBuf>,
}

impl Default for BackgroundFactor {
    fn default() -> Self {
        BackgroundFactor {
            kind: CategoryDist::Choice {
                values: BACKGROUND_KINDS.iter().map(|s| s.to_string()).collect(),
                weights: vec![0.0, 1.0, 2.0, 2.0, 2.0],
            },
            hue: NumberDist::uniform(0.0, 1.0),
            saturation: NumberDist::uniform(0.0, 1.0),
            value: NumberDist::uniform(0.05, 1.0),
            pattern: CategoryDist::choice_of(BACKGROUND_PATTERNS),
            pattern_scale: NumberDist::LogUniform {
                min: 1.0,
                max: 20.0,
            },
            crop_size: NumberDist::uniform(0.3, 1.0),
            image_folder: Some(PathBuf::from(BUILTIN_PHOTOS)),
        }
    }
}

impl Preset {
    /// The factors images of `class` draw from: its `class_factors` entry, else `factors`.
    pub fn factors_for(&self, class: &str) -> &Factors {
        self.class_factors.get(class).unwrap_or(&self.factors)
    }

    /// `factors` and every per-class entry (what a run can draw from, for up-front checks).
    pub fn all_factors(&self) -> impl Iterator<Item = &Factors> {
        std::iter::once(&self.factors).chain(self.class_factors.values())
    }

    /// The render checks with this preset's thresholds, at its resolution.
    pub fn validation_config(&self) -> crate::validate::ValidationConfig {
        crate::validate::ValidationConfig {
            expected_size: Some(self.render.resolution),
            min_coverage: self.validate.min_coverage,
            max_coverage: self.validate.max_coverage,
            max_truncation: self.validate.max_truncation,
            max_magenta_fraction: self.validate.max_magenta_fraction,
            ..Default::default()
        }
    }
}
