//! Counts and timings of a render run, for the final summary and `summary.json`.
use crate::dataset::ManifestRecord;
use crate::render::denylist::DenyEntry;
use crate::render::phases::OutsideRender;
use crate::render::plan::ClassPlan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedImage {
    pub id: String,
    pub class: String,
    pub index: u64,
    pub reason: String,
}

impl FailedImage {
    pub fn new(id: &str, class: &ClassPlan, index: u64, reason: &str) -> Self {
        Self {
            id: id.to_string(),
            class: class.class.clone(),
            index,
            reason: reason.to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunStats {
    /// Images rendered by this run, per class.
    pub rendered_per_class: BTreeMap<String, usize>,
    /// Images found done in the manifest when the run started (`--resume`).
    pub already_done: usize,
    /// Images in the dataset after the run.
    pub images_total: usize,
    /// Rejected attempts by kind (validation reasons, render errors); each was re-sampled.
    pub rejected_attempts: BTreeMap<String, usize>,
    /// Views re-sampled before rendering because their predicted mask broke a threshold
    /// (`render::predict`), by threshold: Cycles never saw them.
    #[serde(default)]
    pub predicted_rejections: BTreeMap<String, usize>,
    /// Images whose model's own colours were predicted to fail the magenta check, so they
    /// were rendered with the sampled material instead (`material_override` in the manifest).
    #[serde(default)]
    pub material_overrides: usize,
    /// Saved images in which Blender replaced textures it could not load
    /// (`missing_textures` in the manifest).
    #[serde(default)]
    pub missing_texture_images: usize,
    /// Images still missing after every attempt (also in failures.jsonl).
    pub failed: Vec<FailedImage>,
    pub denylisted: Vec<DenyEntry>,
    pub worker_restarts: usize,
    pub worker_recycles: usize,
    pub workers: usize,
    pub model_reuses: usize,
    pub wall_seconds: f64,
    /// Summed over workers: time inside `bpy.ops.render.render` of the saved images.
    pub render_seconds: f64,
    /// The same for renders rejected by validation (re-sampled).
    pub rejected_render_seconds: f64,
    pub load_seconds: f64,
    pub setup_seconds: f64,
    /// The parent's time outside the render call, by phase (`render::phases`).
    #[serde(default)]
    pub seconds_outside_render: OutsideRender,
}

impl RunStats {
    pub fn new(classes: &[String]) -> Self {
        Self {
            rendered_per_class: classes.iter().map(|c| (c.clone(), 0)).collect(),
            ..Default::default()
        }
    }

    pub fn record_saved(&mut self, rec: &ManifestRecord) {
        *self
            .rendered_per_class
            .entry(rec.class.clone())
            .or_default() += 1;
    }

    /// A render that was thrown away and re-sampled; its Cycles time is kept apart, so the
    /// overhead figure measures the pipeline, not the preset's rejection rate.
    pub fn count_rejected(&mut self, kind: &str, render_seconds: f64) {
        *self.rejected_attempts.entry(kind.to_string()).or_default() += 1;
        self.rejected_render_seconds += render_seconds;
    }

    pub fn count_predicted_rejection(&mut self, check: &str) {
        *self
            .predicted_rejections
            .entry(check.to_string())
            .or_default() += 1;
    }

    /// Renders thrown away after rendering, as a share of all renders (kept + rejected).
    pub fn rejected_render_share(&self) -> f64 {
        let rejected: usize = self.rejected_attempts.values().sum();
        let all = rejected + self.rendered();
        if all == 0 {
            0.0
        } else {
            rejected as f64 / all as f64
        }
    }

    pub fn rendered(&self) -> usize {
        self.rendered_per_class.values().sum()
    }

    /// Share of the workers' wall time not spent inside the Cycles render call (rejected
    /// renders count as render time: they are the preset's cost, not the pipeline's).
    pub fn overhead_fraction(&self) -> f64 {
        let busy = self.wall_seconds * self.workers as f64;
        if busy <= 0.0 {
            return 0.0;
        }
        (1.0 - (self.render_seconds + self.rejected_render_seconds) / busy).max(0.0)
    }

    /// The human summary printed at the end of `synthgen render`.
    pub fn summary_text(&self) -> String {
        let mut s = String::new();
        let rendered = self.rendered();
        let rate = if self.wall_seconds > 0.0 {
            rendered as f64 / self.wall_seconds
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "rendered {rendered} images in {:.1} s ({rate:.2} images/s, {} worker(s)); {} already done; {} in the dataset",
            self.wall_seconds, self.workers, self.already_done, self.images_total
        );
        let per_class: Vec<String> = self
            .rendered_per_class
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let _ = writeln!(s, "per class: {}", per_class.join(", "));
        let _ = writeln!(
            s,
            "time: render {:.1} s (+{:.1} s on rejected attempts), model load {:.1} s, scene setup {:.1} s (summed over workers); overhead {:.0}% of worker time; model reused for {} of {rendered} images",
            self.render_seconds,
            self.rejected_render_seconds,
            self.load_seconds,
            self.setup_seconds,
            100.0 * self.overhead_fraction(),
            self.model_reuses
        );
        let _ = writeln!(
            s,
            "outside the render call: {:.1} s ({})",
            self.seconds_outside_render.total(),
            self.seconds_outside_render.text()
        );
        if !self.rejected_attempts.is_empty() {
            let r: Vec<String> = self
                .rejected_attempts
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(
                s,
                "re-sampled attempts: {} ({:.1}% of renders thrown away)",
                r.join(", "),
                100.0 * self.rejected_render_share()
            );
        }
        if !self.predicted_rejections.is_empty() {
            let r: Vec<String> = self
                .predicted_rejections
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(
                s,
                "views re-sampled before rendering (predicted): {}",
                r.join(", ")
            );
        }
        if self.material_overrides > 0 {
            let _ = writeln!(
                s,
                "own colours predicted to fail the magenta check: {} image(s) rendered with the sampled material",
                self.material_overrides
            );
        }
        if self.missing_texture_images > 0 {
            let _ = writeln!(
                s,
                "textures Blender could not load: {} image(s) rendered with a fallback material (missing_textures in the manifest)",
                self.missing_texture_images
            );
        }
        if self.worker_restarts > 0 || self.worker_recycles > 0 {
            let _ = writeln!(
                s,
                "workers: {} restarted after a crash or hang, {} recycled",
                self.worker_restarts, self.worker_recycles
            );
        }
        for d in &self.denylisted {
            let _ = writeln!(s, "denylisted model {}: {}", d.key, d.reason);
        }
        for f in &self.failed {
            let _ = writeln!(s, "MISSING {} ({}): {}", f.id, f.class, f.reason);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::RunStats;

    #[test]
    fn the_summary_counts_texture_fallbacks_only_when_there_were_some() {
        let mut st = RunStats::new(&["chair".to_string()]);
        assert!(!st.summary_text().contains("could not load"));
        st.missing_texture_images = 2;
        assert!(st
            .summary_text()
            .contains("textures Blender could not load: 2 image(s)"));
        // Older summary.json files, without the count, still read.
        let mut json = serde_json::to_value(&st).unwrap();
        json.as_object_mut()
            .unwrap()
            .remove("missing_texture_images");
        let old: RunStats = serde_json::from_value(json).unwrap();
        assert_eq!(old.missing_texture_images, 0);
    }
}
