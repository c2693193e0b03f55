//! `render --estimate`: what rendering a preset's full dataset costs, projected from a small
//! calibration render on this machine.
//!
//! The calibration renders a few images of the preset (spread over its classes, same seed and
//! settings) into a scratch folder, as an ImageFolder, and measures:
//! - CPU time (user + system) of the run and of its Blender workers (`getrusage`), less the
//!   cost of starting a worker (measured by starting one alone), as core-seconds per image;
//! - the bytes of every PNG and mask file (apparent and allocated on this filesystem) and of
//!   the manifest records;
//! - the bytes the same samples take in a real WebDataset shard written from those files.
//!
//! The projection multiplies these by the full dataset's image count; wall time divides the
//! core-hours by the cores of the nodes (or array tasks) given.
use crate::assets::ModelCache;
use crate::dataset::manifest::{read_manifest, ManifestRecord, MANIFEST_FILE};
use crate::dataset::webdataset::{
    assemble, tar, ShardError, ShardLimits, ShardNaming, ShardWriter,
};
use crate::preset::{OutputFormat, Preset};
use crate::render::plan::ClassPlan;
use crate::render::process::WorkerProcess;
use crate::render::run::{self, RunError, RunOptions};
use crate::sample::SamplingContext;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Calibration images when `--calibrate` is not given: a few seconds of rendering per image
/// on a laptop core, so the whole estimate takes well under a minute.
pub const DEFAULT_CALIBRATION: u64 = 8;

#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Shards(#[from] ShardError),
    #[error("cannot {action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EstimateError {
    let path = path.to_path_buf();
    move |cause| EstimateError::Io {
        action,
        path,
        cause,
    }
}

/// A scratch folder under the system's temporary folder, deleted when dropped: the estimate
/// leaves nothing behind.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn create() -> Result<Scratch, EstimateError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("synthgen-estimate-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(Scratch(dir))
    }

    /// Where the calibration dataset is rendered.
    pub fn dataset(&self) -> PathBuf {
        self.0.join("dataset")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the calibration renders with: the preset and its class plans (the classes that have
/// models), as `synthgen render` prepares them, and where the models come from (a sentence).
pub struct Inputs {
    pub preset: Preset,
    pub classes: Vec<ClassPlan>,
    pub ctx: SamplingContext,
    pub cache: ModelCache,
    pub opts: RunOptions,
    pub models: String,
}

/// The cluster the projection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cluster {
    /// Nodes, or array tasks of one node each.
    pub nodes: u64,
    pub cores_per_node: u64,
}

/// Measured on the calibration render.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calibration {
    pub images: u64,
    pub classes: usize,
    pub per_class: u64,
    pub wall_seconds: f64,
    /// CPU seconds of the images, worker starts removed.
    pub cpu_seconds: f64,
    /// CPU seconds to start one Blender worker (once per worker process of a task).
    pub startup_cpu_seconds: f64,
    pub rejected_attempts: usize,
    pub image_bytes: u64,
    pub mask_bytes: u64,
    /// Image and mask files as allocated on this filesystem (whole blocks).
    pub allocated_bytes: u64,
    pub files: u64,
    pub manifest_bytes: u64,
    /// The samples' members in a WebDataset shard (headers and padding; no end marker).
    pub shard_bytes: u64,
    /// `/proc/loadavg`'s 1-minute figure when the calibration ended.
    pub load: Option<f64>,
    /// What Cycles saw and rendered on (`render::devices::describe`).
    pub device: String,
}

/// CPU seconds (user + system) of this process or of its reaped children.
fn cpu_seconds(who: libc::c_int) -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut u) } != 0 {
        return 0.0;
    }
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn cpu_now() -> (f64, f64) {
    (
        cpu_seconds(libc::RUSAGE_SELF),
        cpu_seconds(libc::RUSAGE_CHILDREN),
    )
}

pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// `k` of `n` classes, evenly spread over the label order.
fn spread(n: usize, k: usize) -> Vec<usize> {
    (0..k).map(|i| i * n / k).collect()
}

/// Renders `images` calibration images (at least one per chosen class) into `scratch`.
pub fn calibrate(
    inputs: Inputs,
    images: u64,
    scratch: &Scratch,
) -> Result<Calibration, EstimateError> {
    let Inputs {
        mut preset,
        classes,
        ctx,
        cache,
        mut opts,
        ..
    } = inputs;
    if classes.is_empty() {
        return Err(EstimateError::Input(format!(
            "preset {}: no class has models to calibrate with",
            preset.name
        )));
    }
    let k = (images as usize).clamp(1, classes.len());
    let per_class = images.div_ceil(k as u64);
    let chosen: Vec<ClassPlan> = spread(classes.len(), k)
        .into_iter()
        .map(|i| classes[i].clone())
        .collect();
    preset.images_per_class = per_class;
    preset.output.format = OutputFormat::ImageFolder;
    opts.out = scratch.dataset();
    opts.resume = false;
    opts.shard = None;
    opts.keep_requests = None;

    let requested = preset.render.settings().device;
    let (startup_cpu_seconds, seen) = worker_start_cpu(&opts, &scratch.0)?;
    let (self0, children0) = cpu_now();
    let started = Instant::now();
    let stats = run::run(preset, chosen, ctx, cache, opts.clone())?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let (self1, children1) = cpu_now();
    let starts = (stats.workers + stats.worker_restarts + stats.worker_recycles) as f64;
    let work = (self1 - self0) + (children1 - children0) - starts * startup_cpu_seconds;

    let records = read_manifest(&opts.out.join(MANIFEST_FILE)).map_err(RunError::from)?;
    if records.is_empty() {
        return Err(EstimateError::Input(format!(
            "the calibration rendered no image ({} failed); run `synthgen render` with a small --per-class to see why",
            stats.failed.len()
        )));
    }
    let mut cal = measure_files(&opts.out, &records)?;
    cal.shard_bytes = shard_bytes(&scratch.0.join("shards"), &opts.out, &records)?;
    cal.images = records.len() as u64;
    cal.classes = k;
    cal.per_class = per_class;
    cal.wall_seconds = wall_seconds;
    cal.cpu_seconds = work.max(0.0);
    cal.startup_cpu_seconds = startup_cpu_seconds;
    cal.rejected_attempts = stats.rejected_attempts.values().sum();
    cal.load = load_average();
    cal.device = seen.map_or("not reported by the worker".into(), |s| {
        crate::render::devices::describe(&s, requested)
    });
    Ok(cal)
}

/// CPU seconds of starting one Blender worker and shutting it down (bpy import, scene
/// reset), and the devices its Cycles sees.
fn worker_start_cpu(
    opts: &RunOptions,
    scratch: &Path,
) -> Result<(f64, Option<String>), EstimateError> {
    let mut spec = opts.worker.clone();
    spec.work_dir = scratch.join("startup");
    let before = cpu_seconds(libc::RUSAGE_CHILDREN);
    let mut worker =
        WorkerProcess::spawn(&spec).map_err(|e| RunError::WorkersBroken(e.to_string()))?;
    let seen = worker.cycles_gpus.take();
    worker.shutdown();
    Ok((cpu_seconds(libc::RUSAGE_CHILDREN) - before, seen))
}

/// Bytes of the calibration's image and mask files and manifest records.
fn measure_files(out: &Path, records: &[ManifestRecord]) -> Result<Calibration, EstimateError> {
    let mut cal = Calibration::default();
    for r in records {
        let image =
            std::fs::metadata(out.join(&r.path)).map_err(io_err("read", &out.join(&r.path)))?;
        cal.image_bytes += image.len();
        cal.allocated_bytes += image.blocks() * 512;
        cal.files += 1;
        if let Some(m) = &r.mask {
            let mask = std::fs::metadata(out.join(m)).map_err(io_err("read", &out.join(m)))?;
            cal.mask_bytes += mask.len();
            cal.allocated_bytes += mask.blocks() * 512;
            cal.files += 1;
        }
        cal.manifest_bytes += serde_json::to_vec(r).expect("records serialize").len() as u64 + 1;
    }
    Ok(cal)
}

/// Writes the calibration's samples into one WebDataset shard and returns the bytes of their
/// members (the shard less its end marker).
fn shard_bytes(dir: &Path, out: &Path, records: &[ManifestRecord]) -> Result<u64, EstimateError> {
    std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    let limits = ShardLimits {
        max_samples: u64::MAX,
        max_bytes: u64::MAX,
    };
    let mut writer = ShardWriter::new(dir, ShardNaming::single("calibration"), limits, 0);
    for r in records {
        let png = std::fs::read(out.join(&r.path)).map_err(io_err("read", &out.join(&r.path)))?;
        let mask = match &r.mask {
            Some(m) => Some(std::fs::read(out.join(m)).map_err(io_err("read", &out.join(m)))?),
            None => None,
        };
        let mut rec = r.clone();
        assemble::append_sample(&mut writer, &mut rec, &png, mask.as_deref())?;
    }
    let sealed = writer.finish()?.expect("at least one sample was written");
    Ok(sealed.filesize - tar::END_SIZE)
}

/// The full dataset's cost, projected from a calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub images: u64,
    pub classes: usize,
    pub per_class: u64,
    pub core_hours: f64,
    pub imagefolder_bytes: u64,
    pub imagefolder_allocated: u64,
    pub imagefolder_files: u64,
    pub manifest_bytes: u64,
    pub shard_bytes: u64,
    pub shards: u64,
    pub samples_per_shard: u64,
    pub cluster: Cluster,
    pub wall_hours: f64,
    /// Wall hours on `cluster.nodes` machines like this one, at the calibration's images per
    /// second (the figure that holds when Cycles renders on a GPU, whose time is no CPU time).
    pub wall_hours_here: f64,
}

/// `total * images / cal_images`, in integers (exact up to the last byte).
fn scale(total: u64, images: u64, cal_images: u64) -> u64 {
    (u128::from(total) * u128::from(images) / u128::from(cal_images.max(1))) as u64
}

pub fn project(cal: &Calibration, preset: &Preset, cluster: Cluster) -> Projection {
    let classes = preset.classes.len();
    let per_class = preset.images_per_class;
    let images = classes as u64 * per_class;
    let n = cal.images.max(1);
    let core_hours = cal.cpu_seconds / n as f64 * images as f64 / 3600.0;
    let per_sample = cal.shard_bytes.div_ceil(n).max(1);
    let by_bytes = preset
        .output
        .shard_bytes
        .saturating_sub(tar::END_SIZE)
        .div_ceil(per_sample)
        .max(1);
    let samples_per_shard = preset.output.shard_samples.min(by_bytes).max(1);
    let shards = images.div_ceil(samples_per_shard);
    let cores = (cluster.nodes * cluster.cores_per_node) as f64;
    Projection {
        images,
        classes,
        per_class,
        core_hours,
        imagefolder_bytes: scale(cal.image_bytes + cal.mask_bytes, images, n),
        imagefolder_allocated: scale(cal.allocated_bytes, images, n),
        imagefolder_files: scale(cal.files, images, n),
        manifest_bytes: scale(cal.manifest_bytes, images, n),
        shard_bytes: scale(cal.shard_bytes, images, n) + shards * tar::END_SIZE,
        shards,
        samples_per_shard,
        cluster,
        wall_hours: core_hours / cores,
        wall_hours_here: cal.wall_seconds / n as f64 * images as f64
            / cluster.nodes.max(1) as f64
            / 3600.0,
    }
}

fn gb(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / 1e9)
}

/// The report `render --estimate` prints: the calibration, then the projection.
pub fn report(preset: &Preset, models: &str, cal: &Calibration, p: &Projection) -> String {
    let mut s = String::new();
    let n = cal.images.max(1) as f64;
    let load = cal.load.map_or("unknown".into(), |l| format!("{l:.2}"));
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let settings = preset.render.settings();
    let _ = writeln!(
        s,
        "calibration: {} images ({} classes x {}) of preset {} at {} px, {} samples, rendered here in {:.1} s ({cores} cores, load {load}); {} rejected attempt(s) re-sampled",
        cal.images, cal.classes, cal.per_class, preset.name, settings.resolution, settings.samples,
        cal.wall_seconds, cal.rejected_attempts
    );
    let _ = writeln!(s, "models: {models}");
    let _ = writeln!(s, "device: {}", cal.device);
    let _ = writeln!(
        s,
        "per image: {:.3} core-seconds, {:.0} bytes of PNG + mask files, {:.0} bytes in a shard, {:.0} bytes of manifest; starting a Blender worker: {:.1} core-seconds (once per worker process)",
        cal.cpu_seconds / n,
        (cal.image_bytes + cal.mask_bytes) as f64 / n,
        cal.shard_bytes as f64 / n,
        cal.manifest_bytes as f64 / n,
        cal.startup_cpu_seconds
    );
    let _ = writeln!(
        s,
        "full dataset ({} classes x {} images per class):",
        p.classes, p.per_class
    );
    let _ = writeln!(s, "  images: {}", p.images);
    let _ = writeln!(s, "  core-hours: {:.2}", p.core_hours);
    let _ = writeln!(
        s,
        "  imagefolder bytes: {} ({}; {} allocated on this filesystem) in {} files, plus a {} manifest",
        p.imagefolder_bytes,
        gb(p.imagefolder_bytes),
        gb(p.imagefolder_allocated),
        p.imagefolder_files,
        gb(p.manifest_bytes)
    );
    let _ = writeln!(
        s,
        "  webdataset bytes: {} ({}) in {} shards of up to {} samples, plus a {} manifest",
        p.shard_bytes,
        gb(p.shard_bytes),
        p.shards,
        p.samples_per_shard,
        gb(p.manifest_bytes)
    );
    let _ = writeln!(
        s,
        "  wall hours: {:.3} on {} node(s) x {} cores (core-hours / cores / nodes; each task also spends {:.1} core-seconds starting its worker)",
        p.wall_hours, p.cluster.nodes, p.cluster.cores_per_node, cal.startup_cpu_seconds
    );
    let _ = writeln!(
        s,
        "  wall hours on {} machine(s) like this one: {:.3} (at the calibration's {:.3} images/s; use this one when Cycles renders on a GPU, whose time is not CPU time)",
        p.cluster.nodes,
        p.wall_hours_here,
        cal.images as f64 / cal.wall_seconds.max(1e-9)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(classes: usize, per_class: u64) -> Preset {
        let mut p = Preset::load("base", &[]).expect("the base preset loads");
        p.classes = (0..classes).map(|i| format!("c{i}")).collect();
        p.images_per_class = per_class;
        p
    }

    fn calibration() -> Calibration {
        Calibration {
            images: 4,
            classes: 4,
            per_class: 1,
            cpu_seconds: 8.0,
            image_bytes: 40_000,
            mask_bytes: 4_000,
            allocated_bytes: 57_344,
            files: 8,
            manifest_bytes: 3_000,
            shard_bytes: 4 * 12_288,
            wall_seconds: 2.0,
            ..Calibration::default()
        }
    }

    #[test]
    fn projection_scales_with_images_and_divides_by_cores() {
        let cluster = Cluster {
            nodes: 4,
            cores_per_node: 32,
        };
        let p = project(&calibration(), &preset(49, 12_000), cluster);
        assert_eq!(p.images, 588_000);
        assert!((p.core_hours - 588_000.0 * 2.0 / 3600.0).abs() < 1e-9);
        assert_eq!(p.imagefolder_bytes, 588_000 * 11_000);
        assert_eq!(p.imagefolder_files, 2 * 588_000);
        assert!((p.wall_hours - p.core_hours / 128.0).abs() < 1e-12);
        assert!((p.wall_hours_here - 588_000.0 * 0.5 / 4.0 / 3600.0).abs() < 1e-9);
        // 10,000 samples of 12,288 bytes stay under 1 GB: the sample cap decides.
        assert_eq!(p.samples_per_shard, 10_000);
        assert_eq!(p.shards, 59);
        assert_eq!(p.shard_bytes, 588_000 * 12_288 + 59 * tar::END_SIZE);
    }

    #[test]
    fn the_byte_cap_decides_for_large_samples() {
        let mut pr = preset(2, 100);
        pr.output.shard_bytes = 10 * 12_288 + tar::END_SIZE;
        let cluster = Cluster {
            nodes: 1,
            cores_per_node: 1,
        };
        let p = project(&calibration(), &pr, cluster);
        assert_eq!(p.samples_per_shard, 10);
        assert_eq!(p.shards, 20);
    }

    #[test]
    fn classes_are_spread_over_the_label_order() {
        assert_eq!(spread(49, 4), vec![0, 12, 24, 36]);
        assert_eq!(spread(3, 3), vec![0, 1, 2]);
    }
}
