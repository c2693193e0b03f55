//! One image's way through a render run, in named stages: `sample` (model, scene, material
//! override), `predict` (the view checked before Cycles), `request` (the worker's line),
//! `render` (the reply, with the backdrop built meanwhile), `judge_reply`, `decode`,
//! `validate`, `composite`, `write` and `record` (the manifest line). `attempt_image` runs
//! them attempt after attempt; the driver thread (`driver.rs`) owns the worker process.
use super::driver::{Driver, Outcome};
use crate::assets::geometry::ModelGeometry;
use crate::assets::look::ModelLook;
use crate::assets::ModelEntry;
use crate::composite;
use crate::dataset::layout::{image_rel_path, mask_rel_path};
use crate::dataset::shard::image_id;
use crate::dataset::{ManifestRecord, ModelInfo};
use crate::fsio::save_png_atomic;
use crate::render::phases::{lap, OutsideRender};
use crate::render::plan::{pick_model, ClassPlan, ImageJob};
use crate::render::predict;
use crate::render::stats::FailedImage;
use crate::sample;
use crate::scene::contract::{ModelRef, RenderSettings, WorkerReply, WorkerRequest};
use crate::scene::params::SceneParams;
use crate::validate::{self, ValidationConfig, ValidationReport, ViewPrediction};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Views of one image that may be predicted to fail and re-sampled before giving up (each
/// costs a sample and a projection, no render).
const MAX_PREDICTED_REJECTIONS: u32 = 50;

/// Why an attempt ended without a saved image, and what the attempt loop does next.
enum Stop {
    /// Try again at the same attempt number (a model was denylisted, a worker restarted).
    Again,
    /// A view was predicted to break this check: re-sample without rendering.
    Predicted(&'static str),
    /// A rendered attempt was rejected for this reason: move to the next attempt.
    Reject(String),
    /// No later attempt can succeed, for this reason.
    GiveUp(String),
    /// The image is finished (the run is stopping, or saving failed).
    Done(Outcome),
}

/// The attempt counters of one image and the last reason an attempt failed.
#[derive(Debug, Default)]
struct Attempts {
    /// Bounds the attempts that reached Cycles.
    max: u32,
    attempt: u32,
    predicted_rejections: u32,
    last_reason: String,
}

impl Attempts {
    fn new(max: u32) -> Self {
        Attempts {
            max,
            ..Attempts::default()
        }
    }

    /// Whether another attempt may run: `max` rendered attempts, and views predicted to fail
    /// are re-sampled up to MAX_PREDICTED_REJECTIONS times.
    fn more(&self) -> bool {
        self.attempt - self.predicted_rejections < self.max
            && self.predicted_rejections < MAX_PREDICTED_REJECTIONS
    }

    fn reject(&mut self, reason: String) {
        self.last_reason = reason;
        self.attempt += 1;
    }

    fn predicted(&mut self, check: &str) {
        self.last_reason = format!("every view was predicted to break {check}");
        self.predicted_rejections += 1;
        self.attempt += 1;
    }

    /// The failure line of an image that ran out of attempts.
    fn give_up_message(&self) -> String {
        let reason = if self.last_reason.is_empty() {
            "no attempt succeeded"
        } else {
            &self.last_reason
        };
        format!("gave up after {} attempt(s): {reason}", self.attempt)
    }
}

/// What the `sample` stage drew for one attempt.
struct Sampled {
    model: ModelEntry,
    model_ref: ModelRef,
    params: SceneParams,
    /// Why `keep_original` was turned off (see `material_override`).
    material_override: Option<String>,
}

/// What a worker's reply says about the attempt.
#[derive(Debug, PartialEq)]
enum ReplyFault {
    /// The model itself is at fault (it goes on the denylist).
    Model(String),
    /// This render failed; the next attempt may not.
    Render(String),
}

/// The files the `write` stage saved, relative to the dataset root, and the image's hash.
#[derive(Debug)]
struct Written {
    path: String,
    mask: Option<String>,
    sha256: String,
}

/// The magenta check finds textures that did not load; a render with no texture at all (a
/// sampled material other than `image`) can only be magenta because its sampled colour is,
/// and rejecting that would cut magenta hues out of the colour distribution.
fn validation_for(cfg: &ValidationConfig, params: &SceneParams) -> ValidationConfig {
    let textured = params.material.surface().keep_original || params.material.image().is_some();
    let mut cfg = cfg.clone();
    if !textured {
        cfg.max_magenta_fraction = 1.0;
    }
    cfg
}

/// The composited background of a sampled scene at `w` x `h`.
fn backdrop_of(params: &SceneParams, w: u32, h: u32) -> Result<image::RgbImage, String> {
    composite::background(
        &params.background,
        &params.light.world,
        &params.camera,
        w,
        h,
    )
    .map_err(|e| format!("background: {e}"))
}

/// Stage `request`: the worker's line for one attempt (the scene as sampled and recorded).
fn request(
    id: &str,
    model: ModelRef,
    params: &SceneParams,
    settings: &RenderSettings,
    seed: u32,
    output: PathBuf,
) -> WorkerRequest {
    WorkerRequest::Render {
        id: id.to_string(),
        model,
        params: Box::new(params.clone()),
        settings: Box::new(settings.clone()),
        seed,
        output,
    }
}

/// Stage `judge_reply`: whether the worker rendered, and if not whose fault it was.
fn judge_reply(reply: &WorkerReply) -> Result<(), ReplyFault> {
    if reply.ok {
        return Ok(());
    }
    let reason = reply
        .error
        .clone()
        .unwrap_or_else(|| "unknown error".into());
    if reply.error_kind.as_deref() == Some("model") {
        Err(ReplyFault::Model(reason))
    } else {
        Err(ReplyFault::Render(reason))
    }
}

/// Stage `decode`: the worker's RGBA render.
fn decode(output: &Path) -> Result<image::RgbaImage, String> {
    image::open(output)
        .map(|img| img.to_rgba8())
        .map_err(|e| format!("the worker's render could not be decoded: {e}"))
}

/// Stage `validate`: the checks of `validate` with the magenta rule of `validation_for`.
fn check(
    rgba: &image::RgbaImage,
    resolution: u32,
    cfg: &ValidationConfig,
    params: &SceneParams,
) -> ValidationReport {
    validate::check_render(rgba, resolution, &validation_for(cfg, params))
}

/// Stage `composite`: the render over its backdrop. Validation checked the render's size, so
/// a backdrop built ahead at the requested resolution fits; it is built again only if not.
fn composite_over(
    rgba: &image::RgbaImage,
    params: &SceneParams,
    backdrop: Result<image::RgbImage, String>,
) -> Result<image::RgbImage, String> {
    let (w, h) = rgba.dimensions();
    let backdrop = match backdrop? {
        b if b.dimensions() == (w, h) => b,
        _ => backdrop_of(params, w, h)?,
    };
    composite::over(rgba, &backdrop).map_err(|e| e.to_string())
}

/// Stage `write`: image (and mask, when `masks`) written atomically under `out`.
fn write(
    out: &Path,
    masks: bool,
    class: &str,
    id: &str,
    rgb: &image::RgbImage,
    rgba: &image::RgbaImage,
    ph: &mut OutsideRender,
) -> Result<Written, String> {
    let mut t = Instant::now();
    let rel = image_rel_path(class, id);
    let path = out.join(&rel);
    save_png_atomic(&path, rgb).map_err(|e| format!("{}: {e}", path.display()))?;
    ph.write += lap(&mut t);
    let sha256 = crate::dataset::file_sha256(&path).map_err(|e| e.to_string())?;
    ph.hash += lap(&mut t);
    let mask = if masks {
        let rel = mask_rel_path(class, id);
        let p = out.join(&rel);
        save_png_atomic(&p, &composite::mask(rgba)).map_err(|e| format!("{}: {e}", p.display()))?;
        Some(rel)
    } else {
        None
    };
    ph.write += lap(&mut t);
    Ok(Written {
        path: rel,
        mask,
        sha256,
    })
}

/// Saves the worker request of an image as `<dir>/<id>.json` (`--keep-requests`).
fn keep_request(dir: &Path, id: &str, request: &WorkerRequest) {
    let path = dir.join(format!("{id}.json"));
    let json = serde_json::to_vec_pretty(request).expect("requests serialize");
    if let Err(e) = crate::fsio::write_atomic(&path, &json) {
        tracing::warn!("could not keep the request {}: {e}", path.display());
    }
}

impl Driver<'_> {
    /// Renders one image, moving through attempts until one passes validation; the time of
    /// each phase outside Cycles goes to `ph`.
    pub(super) fn attempt_image(&mut self, job: ImageJob, ph: &mut OutsideRender) -> Outcome {
        let sh = self.shared;
        let class = &sh.classes[job.class];
        let id = image_id(&class.class, job.index);
        let mut tries = Attempts::new(sh.preset.validate.max_attempts);
        while tries.more() {
            match self.attempt(
                job,
                class,
                &id,
                tries.attempt,
                tries.predicted_rejections,
                ph,
            ) {
                Ok(outcome) | Err(Stop::Done(outcome)) => return outcome,
                Err(Stop::Again) => {}
                Err(Stop::Predicted(check)) => tries.predicted(check),
                Err(Stop::Reject(reason)) => tries.reject(reason),
                Err(Stop::GiveUp(reason)) => {
                    tries.last_reason = reason;
                    break;
                }
            }
        }
        Outcome::Failed(FailedImage::new(
            &id,
            class,
            job.index,
            &tries.give_up_message(),
        ))
    }

    /// One attempt through every stage.
    fn attempt(
        &mut self,
        job: ImageJob,
        class: &ClassPlan,
        id: &str,
        attempt: u32,
        predicted_rejections: u32,
        ph: &mut OutsideRender,
    ) -> Result<Outcome, Stop> {
        let sh = self.shared;
        let mut t = Instant::now();
        let s = self.sample(class, job.index, attempt)?;
        let prediction = self.predict(&s);
        ph.sampling += lap(&mut t);
        if let Some(check) = prediction.and_then(|p| p.failed_check(&sh.validation)) {
            sh.stats
                .lock()
                .expect("stats")
                .count_predicted_rejection(check);
            return Err(Stop::Predicted(check));
        }
        let cycles_seed =
            sample::sample_seed_for_cycles(sh.preset.seed, &class.class, job.index, attempt);
        let output = self.spec.work_dir.join("render.png");
        let _ = std::fs::remove_file(&output);
        let request = request(
            id,
            s.model_ref.clone(),
            &s.params,
            &sh.settings,
            cycles_seed,
            output.clone(),
        );
        let (reply, backdrop) = self.render(&request, &s, id, class, job.index, ph)?;
        let mut t = Instant::now();
        match judge_reply(&reply) {
            Ok(()) => {}
            Err(ReplyFault::Model(reason)) => {
                self.deny(&s.model.key, &reason);
                return Err(Stop::Again);
            }
            Err(ReplyFault::Render(reason)) => {
                return Err(self.reject("render error", &reply, reason));
            }
        }
        let rgba = decode(&output).map_err(|e| self.reject("undecodable render", &reply, e))?;
        ph.decode += lap(&mut t);
        let report = check(&rgba, sh.settings.resolution, &sh.validation, &s.params);
        ph.validate += lap(&mut t);
        if !report.ok {
            let reason = report.reason.clone().unwrap_or_default();
            let check = report.failed_check.as_deref().unwrap_or("validation");
            return Err(self.reject(check, &reply, reason));
        }
        if let Some(dir) = &sh.opts.keep_requests {
            keep_request(dir, id, &request);
        }
        let failed =
            |e: String| Stop::Done(Outcome::Failed(FailedImage::new(id, class, job.index, &e)));
        let mut t = Instant::now();
        let rgb = composite_over(&rgba, &s.params, backdrop).map_err(failed)?;
        ph.composite += lap(&mut t);
        let written =
            write(&sh.image_root, sh.masks, &class.class, id, &rgb, &rgba, ph).map_err(failed)?;
        Ok(self.record(
            job,
            class,
            id,
            s,
            attempt,
            predicted_rejections,
            prediction,
            cycles_seed,
            &reply,
            report,
            written,
        ))
    }

    /// Stage `sample`: the attempt's model (the rotation skipping denylisted ones) and scene.
    fn sample(&self, class: &ClassPlan, index: u64, attempt: u32) -> Result<Sampled, Stop> {
        let sh = self.shared;
        let model = {
            let deny = sh.deny.lock().expect("deny");
            pick_model(class, index, attempt, &deny).cloned()
        };
        let model = model.ok_or_else(|| {
            Stop::GiveUp(format!(
                "every model of class {} is on the denylist (see denylist.jsonl)",
                class.class
            ))
        })?;
        let model_ref = model.to_model_ref(&sh.cache).map_err(|e| {
            self.deny(&model.key, &format!("could not extract the model: {e}"));
            Stop::Again
        })?;
        // The context was checked up front, so an error is a preset/context mismatch.
        let mut params = sample::sample_scene(
            &sh.preset,
            &sh.ctx,
            sh.preset.seed,
            &class.class,
            index,
            attempt,
        )
        .map_err(|e| Stop::GiveUp(e.to_string()))?;
        let material_override = self.material_override(&model.key, &model_ref, &params);
        if material_override.is_some() {
            params.material.surface_mut().keep_original = false;
        }
        Ok(Sampled {
            model,
            model_ref,
            params,
            material_override,
        })
    }

    /// Stage `predict`: the view's coverage and truncation before Cycles runs (None when
    /// prediction is off or the model's geometry cannot be read).
    fn predict(&self, s: &Sampled) -> Option<ViewPrediction> {
        let sh = self.shared;
        if !sh.preset.validate.predict_views {
            return None;
        }
        self.geometry(&s.model.key, &s.model_ref)
            .and_then(|g| predict::predict_view(&g, &s.params, sh.settings.resolution))
    }

    /// Stage `render`: the worker's reply, and the backdrop built while Cycles renders (it
    /// depends only on the sampled scene: a photo decoded on first use, an HDRI projected).
    fn render(
        &mut self,
        request: &WorkerRequest,
        s: &Sampled,
        id: &str,
        class: &ClassPlan,
        index: u64,
        ph: &mut OutsideRender,
    ) -> Result<(WorkerReply, Result<image::RgbImage, String>), Stop> {
        let sh = self.shared;
        let worker = match self.worker() {
            Ok(w) => w,
            Err(failure) => {
                self.on_start_failure(&failure);
                if sh.fatal.lock().expect("fatal").is_some() {
                    return Err(Stop::Done(Outcome::Failed(FailedImage::new(
                        id,
                        class,
                        index,
                        &failure.to_string(),
                    ))));
                }
                return Err(Stop::Again);
            }
        };
        let mut t = Instant::now();
        let resolution = sh.settings.resolution;
        let (reply, round_trip, backdrop) = std::thread::scope(|scope| {
            let backdrop = scope.spawn(|| backdrop_of(&s.params, resolution, resolution));
            let reply = worker.request(request);
            let round_trip = lap(&mut t);
            let backdrop = backdrop
                .join()
                .unwrap_or_else(|_| Err("background: the thread building it panicked".to_string()));
            (reply, round_trip, backdrop)
        });
        // Waiting for a backdrop that took longer than the render counts as compositing.
        ph.composite += lap(&mut t);
        let reply = reply.map_err(|failure| {
            // Same attempt again: the model gets another chance unless denylisted.
            self.on_worker_failure(&s.model.key, &failure);
            Stop::Again
        })?;
        ph.request +=
            (round_trip - reply.render_seconds - reply.load_seconds - reply.setup_seconds).max(0.0);
        Ok((reply, backdrop))
    }

    /// A rendered attempt rejected by check `kind`: counted with its render time.
    fn reject(&self, kind: &str, reply: &WorkerReply, reason: String) -> Stop {
        self.shared
            .stats
            .lock()
            .expect("stats")
            .count_rejected(kind, reply.render_seconds);
        Stop::Reject(reason)
    }

    /// Stage `record`: the manifest line of a saved image, and its share of the run's stats.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        job: ImageJob,
        class: &ClassPlan,
        id: &str,
        s: Sampled,
        attempt: u32,
        predicted_rejections: u32,
        prediction: Option<ViewPrediction>,
        cycles_seed: u32,
        reply: &WorkerReply,
        validation: ValidationReport,
        written: Written,
    ) -> Outcome {
        let sh = self.shared;
        let mut st = sh.stats.lock().expect("stats");
        st.render_seconds += reply.render_seconds;
        st.load_seconds += reply.load_seconds;
        st.setup_seconds += reply.setup_seconds;
        st.model_reuses += reply.reused_model as usize;
        st.material_overrides += s.material_override.is_some() as usize;
        st.missing_texture_images += !reply.missing_textures.is_empty() as usize;
        drop(st);
        let model = &s.model;
        Outcome::Saved(Box::new(ManifestRecord {
            id: id.to_string(),
            path: written.path,
            mask: written.mask,
            class: class.class.clone(),
            label: class.label,
            model: ModelInfo {
                source: model.source.clone(),
                key: model.key.clone(),
                name: model.name.clone(),
                license: model.license.clone(),
                split: class.split_of(&model.key).to_string(),
            },
            seed: sh.preset.seed,
            index: job.index,
            attempt,
            predicted_rejections,
            prediction,
            material_override: s.material_override,
            missing_textures: reply.missing_textures.clone(),
            cycles_seed,
            params: s.params,
            render_seconds: reply.render_seconds,
            validation,
            sha256: written.sha256,
        }))
    }

    /// The model's normalized points, read once per run and model.
    fn geometry(&self, key: &str, model: &ModelRef) -> Option<Arc<ModelGeometry>> {
        let mut cache = self.shared.geometry.lock().expect("geometry");
        cache
            .entry(key.to_string())
            .or_insert_with(|| {
                ModelGeometry::from_obj(&model.path, &model.up_axis, model.rotation.as_deref())
                    .map_err(|e| tracing::debug!("no view prediction for {key}: {e}"))
                    .ok()
                    .map(Arc::new)
            })
            .clone()
    }

    /// Why the model's own colours must not be kept for this view (they would fail the
    /// magenta check), or None when the sampled material can be rendered as drawn.
    fn material_override(
        &self,
        key: &str,
        model: &ModelRef,
        params: &SceneParams,
    ) -> Option<String> {
        if !params.material.surface().keep_original {
            return None;
        }
        let share = {
            let mut looks = self.shared.looks.lock().expect("looks");
            *looks.entry(key.to_string()).or_insert_with(|| {
                ModelLook::from_obj(&model.path)
                    .map_err(|e| tracing::debug!("no material look for {key}: {e}"))
                    .ok()
                    .map(|l| l.magenta_share)
            })
        }?;
        let limit = self.shared.validation.max_magenta_fraction;
        (share > limit).then(|| {
            format!(
                "{:.0}% of the model's faces have magenta own colours (validate.max_magenta_fraction {limit}): rendered with the sampled {} material",
                100.0 * share,
                params.material.family()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::Preset;
    use crate::sample::SamplingContext;
    use crate::scene::params::{Material, MaterialFamily};

    fn params() -> SceneParams {
        let ctx = SamplingContext {
            hdris: vec![PathBuf::from("/hdri/studio.exr")],
            material_images: vec![PathBuf::from("/tex/a.png")],
            background_images: vec![PathBuf::from("/bg/a.jpg")],
        };
        sample::sample_scene(&Preset::default(), &ctx, 42, "chair", 3, 0).unwrap()
    }

    fn reply(ok: bool, error: Option<&str>, kind: Option<&str>) -> WorkerReply {
        WorkerReply {
            ok,
            error: error.map(String::from),
            error_kind: kind.map(String::from),
            ..WorkerReply::ready("chair_000003")
        }
    }

    #[test]
    fn attempts_bound_renders_and_predicted_views_apart() {
        let mut a = Attempts::new(2);
        for _ in 0..10 {
            a.predicted("min_coverage");
        }
        // Predicted views use no render: two rendered attempts are still allowed.
        assert!(a.more());
        a.reject("blank".into());
        assert!(a.more());
        a.reject("too small".into());
        assert!(!a.more());
        assert_eq!(
            a.give_up_message(),
            "gave up after 12 attempt(s): too small"
        );

        let mut a = Attempts::new(5);
        for _ in 0..MAX_PREDICTED_REJECTIONS {
            a.predicted("max_truncation");
        }
        assert!(!a.more(), "predictions alone must not spin forever");
        assert_eq!(
            Attempts::new(0).give_up_message(),
            "gave up after 0 attempt(s): no attempt succeeded"
        );
    }

    #[test]
    fn replies_are_judged_by_whose_fault_a_failure_is() {
        assert_eq!(judge_reply(&reply(true, None, None)), Ok(()));
        assert_eq!(
            judge_reply(&reply(false, Some("no geometry"), Some("model"))),
            Err(ReplyFault::Model("no geometry".into()))
        );
        assert_eq!(
            judge_reply(&reply(false, Some("out of memory"), Some("render"))),
            Err(ReplyFault::Render("out of memory".into()))
        );
        assert_eq!(
            judge_reply(&reply(false, None, None)),
            Err(ReplyFault::Render("unknown error".into()))
        );
    }

    #[test]
    fn the_request_carries_the_attempts_scene_seed_and_output() {
        let p = params();
        let model = ModelRef {
            key: "m".into(),
            path: PathBuf::from("/models/m.obj"),
            format: "obj".into(),
            up_axis: "Y".into(),
            rotation: None,
        };
        let settings = Preset::default().render.settings();
        let req = request(
            "chair_000003",
            model.clone(),
            &p,
            &settings,
            77,
            "/w/render.png".into(),
        );
        match req {
            WorkerRequest::Render {
                id,
                model: m,
                params: scene,
                seed,
                output,
                ..
            } => {
                assert_eq!(id, "chair_000003");
                assert_eq!(m, model);
                assert_eq!(*scene, p);
                assert_eq!(seed, 77);
                assert_eq!(output, PathBuf::from("/w/render.png"));
            }
            other => panic!("not a render request: {other:?}"),
        }
    }

    #[test]
    fn decode_reads_a_render_and_names_a_broken_one() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("render.png");
        image::RgbaImage::from_pixel(4, 3, image::Rgba([1, 2, 3, 255]))
            .save(&good)
            .unwrap();
        assert_eq!(decode(&good).unwrap().dimensions(), (4, 3));
        let bad = dir.path().join("broken.png");
        std::fs::write(&bad, b"not a png").unwrap();
        assert!(decode(&bad).unwrap_err().contains("could not be decoded"));
    }

    #[test]
    fn the_magenta_check_applies_only_to_textured_renders() {
        let cfg = ValidationConfig::default();
        let mut p = params();
        let mut surface = p.material.surface().clone();
        surface.keep_original = false;
        p.material = Material::Plastic(surface.clone());
        assert_eq!(validation_for(&cfg, &p).max_magenta_fraction, 1.0);
        p.material = Material::new(
            MaterialFamily::Image,
            surface.clone(),
            Some("/t.png".into()),
        )
        .unwrap();
        assert_eq!(validation_for(&cfg, &p), cfg);
        surface.keep_original = true;
        p.material = Material::Plastic(surface);
        assert_eq!(validation_for(&cfg, &p), cfg);
    }

    #[test]
    fn composite_and_write_save_the_image_its_hash_and_mask() {
        let dir = tempfile::tempdir().unwrap();
        let mut rgba = image::RgbaImage::from_pixel(8, 8, image::Rgba([0, 0, 0, 0]));
        rgba.put_pixel(3, 4, image::Rgba([200, 10, 10, 255]));
        let backdrop = image::RgbImage::from_pixel(8, 8, image::Rgb([0, 0, 255]));
        let rgb = composite_over(&rgba, &params(), Ok(backdrop)).unwrap();
        assert_eq!(rgb.get_pixel(3, 4), &image::Rgb([200, 10, 10]));
        assert_eq!(rgb.get_pixel(0, 0), &image::Rgb([0, 0, 255]));
        // A failed backdrop fails the image with its reason.
        assert_eq!(
            composite_over(&rgba, &params(), Err("background: gone".into())).unwrap_err(),
            "background: gone"
        );

        let mut ph = OutsideRender::default();
        let w = write(
            dir.path(),
            true,
            "chair",
            "chair_000003",
            &rgb,
            &rgba,
            &mut ph,
        )
        .unwrap();
        assert_eq!(w.path, image_rel_path("chair", "chair_000003"));
        let saved = dir.path().join(&w.path);
        assert_eq!(w.sha256, crate::dataset::file_sha256(&saved).unwrap());
        assert_eq!(image::open(&saved).unwrap().to_rgb8(), rgb);
        let mask = image::open(dir.path().join(w.mask.unwrap()))
            .unwrap()
            .to_luma8();
        assert_eq!(mask.get_pixel(3, 4)[0], 255);
        assert_eq!(mask.get_pixel(0, 0)[0], 0);
        let no_mask = write(
            dir.path(),
            false,
            "chair",
            "chair_000004",
            &rgb,
            &rgba,
            &mut ph,
        )
        .unwrap();
        assert!(no_mask.mask.is_none());
    }
}
