//! The expected time of a study's unfinished stages, printed before it starts, from stage
//! rates measured on the development machine (docs/BENCHMARKS.md, "Studies (issue 14)"): no
//! other rate is assumed, so a stage without a measured rate (another architecture) is
//! counted and named, not guessed.
use super::cache::{self, StageState};
use super::stages::Plan;

/// Renders per second with 2 workers at 64 px and 16 Cycles samples (factor-ablation mini,
/// 3,000 images in 327.1 s at load about 2; 2-core AMD EPYC VM, 2026-12-01).
pub const RENDER_IMAGES_PER_S: f64 = 9.2;
/// resnet_tiny training images per second at 64 px, `OMP_NUM_THREADS=1` (2,400 steps of
/// batch 64 in 65.7 s, the fastest factor-ablation mini run; same machine and day).
pub const RESNET_TINY_IMAGES_PER_S: f64 = 2_300.0;

/// Seconds to render `images` at `resolution` px, `samples` spp with `workers` workers:
/// the measured rate scaled by pixels x samples and by workers (Cycles time per pixel-sample
/// taken as constant; an approximation for other sizes).
pub fn render_seconds(images: usize, resolution: u32, samples: u32, workers: u32) -> f64 {
    let cost = (f64::from(resolution) / 64.0).powi(2) * (f64::from(samples) / 16.0);
    let workers = f64::from(workers.max(1)) / 2.0;
    images as f64 * cost / (RENDER_IMAGES_PER_S * workers)
}

/// Seconds to train `images` samples of `arch` at `size` px; None without a measured rate.
pub fn train_seconds(arch: &str, images: f64, size: u32) -> Option<f64> {
    (arch == "resnet_tiny")
        .then(|| images * (f64::from(size) / 64.0).powi(2) / RESNET_TINY_IMAGES_PER_S)
}

/// One line: the expected minutes of the stages not yet done.
pub fn estimate_line(plan: &Plan) -> String {
    let mut seconds = 0.0;
    let mut stages = 0;
    let mut unknown: Vec<String> = Vec::new();
    let render = |d: &super::stages::PlannedDataset| {
        let p = d.preset.as_ref()?;
        Some(render_seconds(
            d.images,
            p.render.resolution,
            p.render.samples,
            p.workers.count,
        ))
    };
    for d in plan.datasets.values() {
        let Some(stage) = &d.stage else { continue };
        if cache::state(stage) == StageState::Done {
            continue;
        }
        if let Some(s) = render(d) {
            seconds += s;
            stages += 1;
        }
    }
    // A streamed arm renders its images while its first run trains, unless they are kept
    // already; the other runs on it (replicates, other augmentations) train on the kept images.
    let mut streamed = std::collections::HashSet::new();
    for r in plan.runs.values() {
        if cache::state(&r.stage) == StageState::Done {
            continue;
        }
        stages += 1;
        let run = &r.run;
        let train = &plan.datasets[&run.train];
        let kept = train
            .data
            .join(crate::dataset::manifest::MANIFEST_FILE)
            .is_file();
        if train.stream && !kept && streamed.insert(run.train.as_str()) {
            seconds += render(train).unwrap_or(0.0);
        }
        match train_seconds(
            &run.arch,
            (run.iters * run.batch_size as u64) as f64,
            run.image_size,
        ) {
            Some(s) => seconds += s,
            None => unknown.push(format!("{} ({})", r.name, run.arch)),
        }
    }
    for a in plan.adaptations.values() {
        if cache::state(&a.stage) == StageState::Done {
            continue;
        }
        stages += 1;
        let ad = &a.adapt;
        // A source and a target image per sample.
        let images = (2 * ad.iters * ad.batch_size as u64) as f64;
        match train_seconds(&ad.arch, images, ad.image_size) {
            Some(s) => seconds += s,
            None => unknown.push(format!("{} ({})", a.name, ad.arch)),
        }
    }
    let fits = plan
        .fits
        .values()
        .filter(|f| cache::state(&f.stage) != StageState::Done)
        .count();
    let mut line = if stages + fits == 0 {
        "expected time: every stage is done (cached); writing the report".to_string()
    } else {
        let amount = if seconds < 90.0 {
            format!("{seconds:.0} s")
        } else {
            format!("{:.0} min", seconds / 60.0)
        };
        format!(
            "expected time: about {amount} for {stages} unfinished stage(s) on an idle 2-core machine, plus Blender's start-up per render stage (rates measured on the development VM: {RENDER_IMAGES_PER_S} renders/s at 64 px and 16 samples with 2 workers, resnet_tiny {RESNET_TINY_IMAGES_PER_S:.0} images/s at 64 px; a loaded machine takes several times longer)"
        )
    };
    if !unknown.is_empty() {
        line.push_str(&format!(
            "; not included, no measured rate: {}",
            unknown.join(", ")
        ));
    }
    if fits > 0 {
        line.push_str(&format!("; not included: {fits} fit stage(s)"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_scale_with_pixels_samples_and_workers() {
        // The measured stage itself: 3,000 renders at 64 px, 16 spp, 2 workers in about 326 s.
        assert!((render_seconds(3000, 64, 16, 2) - 3000.0 / 9.2).abs() < 1e-9);
        assert!(
            (render_seconds(100, 128, 16, 2) - 4.0 * render_seconds(100, 64, 16, 2)).abs() < 1e-9
        );
        assert!(
            (render_seconds(100, 64, 16, 4) - 0.5 * render_seconds(100, 64, 16, 2)).abs() < 1e-9
        );
        assert!((train_seconds("resnet_tiny", 2300.0, 64).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(train_seconds("resnet50", 1.0, 224), None);
    }

    fn minutes(line: &str) -> f64 {
        let after = line.split("about ").nth(1).expect("an amount");
        after.split(' ').next().unwrap().parse().expect("a number")
    }

    /// The fixed-vs-nonrepetitive mini streams its non-repetitive arm into the first run and
    /// trains its other runs (augmentations, replicates) on the kept images: replicates add
    /// training time only, never another pass of the stream's renders.
    #[test]
    fn a_streamed_arm_renders_once_whatever_the_replicates() {
        let text = crate::study::builtin::text("fixed-vs-nonrepetitive", "mini").unwrap();
        let spec_with = |k: u32| {
            let mut raw: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
            raw["replicates"] = k.into();
            let text = serde_yaml::to_string(&raw).unwrap();
            crate::study::spec::parse(&text, "test")
                .unwrap()
                .without_optional_real()
        };
        let out = tempfile::tempdir().unwrap();
        let line = |k| {
            let plan =
                crate::study::stages::plan(&spec_with(k), out.path(), None, None, false).unwrap();
            estimate_line(&plan)
        };
        let (one, three) = (minutes(&line(1)), minutes(&line(3)));
        let plan =
            crate::study::stages::plan(&spec_with(1), out.path(), None, None, false).unwrap();
        let training: f64 = plan
            .runs
            .values()
            .map(|r| {
                let run = &r.run;
                train_seconds(
                    &run.arch,
                    (run.iters * run.batch_size as u64) as f64,
                    run.image_size,
                )
                .unwrap()
            })
            .sum();
        // Two more replicates add two more of every run's training, and nothing else.
        let expected = one + 2.0 * training / 60.0;
        assert!(
            (three - expected).abs() <= 1.0,
            "1 replicate: {one} min, 3 replicates: {three} min, expected about {expected:.1}"
        );
    }
}
