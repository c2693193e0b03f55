//! Per-class weights: when the target is labelled, each class with enough data gets its own
//! level weights, fitted on the probe images of that class against the target images of
//! that class, starting from the class-agnostic weights. The units (standardiser, kernel)
//! are those of the class-agnostic fit, so per-class MMD values compare with it.
//!
//! A target is labelled when it is a rendered dataset whose manifest names classes of the
//! preset, or a folder whose images all lie in top-level subfolders named after classes of
//! the preset (ImageFolder layout). Anything else is fitted class-agnostic only.
use super::mmd::Features;
use super::optimise::{ess, fit, importance_weights, FitOptions};
use crate::dataset::manifest::{read_manifest, MANIFEST_FILE};
use crate::fit::descriptors::ImageItem;
use crate::fit::levels::FactorLevels;
use crate::fit::probes::pool::{ProbePool, MIN_TARGET_IMAGES};
use crate::fit::probes::run::{Measure, Target};
use crate::fit::LevelWeights;
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A class is fitted on its own only with at least [`MIN_TARGET_IMAGES`] training target
/// images, this many held-out ones (to report its MMD before and after) ...
pub const MIN_CLASS_HELD: usize = 2;
/// ... and this many probe images of the class (the optimiser's ESS guard asks for 20).
pub const MIN_CLASS_PROBE: usize = 20;

/// `synthgen fit --per-class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PerClassMode {
    /// Per-class weights when the target is labelled, class-agnostic otherwise.
    Auto,
    /// Class-agnostic weights only.
    Off,
}

/// The class of each target image, or why the target counts as unlabelled.
#[derive(Debug, Clone, PartialEq)]
pub enum Labelling {
    Labelled(HashMap<PathBuf, String>),
    Unlabelled(String),
}

/// Reads the target's labels (see the module comment for the rule).
pub fn target_labels(dir: &Path, items: &[ImageItem], classes: &[String]) -> Labelling {
    let known = |c: &str| classes.iter().any(|k| k == c);
    let manifest = dir.join(MANIFEST_FILE);
    if manifest.is_file() {
        let records = match read_manifest(&manifest) {
            Ok(r) => r,
            Err(e) => return Labelling::Unlabelled(format!("its manifest cannot be read: {e}")),
        };
        let labels: HashMap<PathBuf, String> = records
            .iter()
            .filter(|r| known(&r.class))
            .map(|r| (dir.join(&r.path), r.class.clone()))
            .collect();
        if labels.is_empty() {
            return Labelling::Unlabelled(
                "no class in its manifest is a class of the preset".into(),
            );
        }
        return Labelling::Labelled(labels);
    }
    let mut labels = HashMap::new();
    let mut foreign = std::collections::BTreeSet::new();
    for item in items {
        let rel = item.path.strip_prefix(dir).unwrap_or(&item.path);
        let mut parts = rel.components();
        let (Some(first), Some(_)) = (parts.next(), parts.next()) else {
            return Labelling::Unlabelled(format!(
                "{} lies directly in the folder, not in a class subfolder",
                rel.display()
            ));
        };
        let folder = first.as_os_str().to_string_lossy().into_owned();
        if known(&folder) {
            labels.insert(item.path.clone(), folder);
        } else {
            foreign.insert(folder);
        }
    }
    if !foreign.is_empty() {
        return Labelling::Unlabelled(format!(
            "its subfolders {} are not classes of the preset ({})",
            foreign.into_iter().collect::<Vec<_>>().join(", "),
            classes.join(", ")
        ));
    }
    if labels.is_empty() {
        return Labelling::Unlabelled("it has no images".into());
    }
    Labelling::Labelled(labels)
}

/// What became of one class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassFit {
    pub class: String,
    pub target_train: usize,
    pub target_held: usize,
    pub probe: usize,
    pub outcome: ClassOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClassOutcome {
    /// Own weights; held-out MMD^2 of the class under the probe's proposal, the
    /// class-agnostic weights and its own weights.
    Fitted {
        weights: Vec<Vec<f64>>,
        held_probe: f64,
        held_agnostic: f64,
        held_after: f64,
        ess: f64,
        ess_limited: bool,
    },
    /// Too little data: the class keeps the class-agnostic weights.
    KeptAgnostic { reason: String },
}

/// The per-class part of a fit: what to write and report.
#[derive(Debug, Clone, PartialEq)]
pub struct PerClass {
    /// Why there are no per-class weights (off, or the target is unlabelled); None when
    /// classes were considered.
    pub skipped: Option<String>,
    /// Which probe pool the classes were fitted on.
    pub probe_from: String,
    pub classes: Vec<ClassFit>,
}

impl PerClass {
    pub fn skipped(reason: String) -> Self {
        PerClass {
            skipped: Some(reason),
            probe_from: String::new(),
            classes: Vec::new(),
        }
    }

    /// The fitted classes' weights, for the weights file's `classes:` section.
    pub fn weights(&self, space: &[FactorLevels]) -> BTreeMap<String, LevelWeights> {
        self.classes
            .iter()
            .filter_map(|c| match &c.outcome {
                ClassOutcome::Fitted { weights, .. } => Some((
                    c.class.clone(),
                    LevelWeights {
                        factors: space.to_vec(),
                        weights: weights.clone(),
                    },
                )),
                ClassOutcome::KeptAgnostic { .. } => None,
            })
            .collect()
    }

    /// The `per_class:` entry of the weights file's `fit:` record.
    pub fn record(&self) -> Value {
        if let Some(reason) = &self.skipped {
            return Value::String(format!("class-agnostic only: {reason}"));
        }
        let mut all = Mapping::new();
        all.insert("probe".into(), Value::String(self.probe_from.clone()));
        for c in &self.classes {
            let mut m = Mapping::new();
            let mut put = |k: &str, v: Value| m.insert(Value::String(k.into()), v);
            put("target_images", int(c.target_train + c.target_held));
            put("target_held_out", int(c.target_held));
            put("probe_images", int(c.probe));
            match &c.outcome {
                ClassOutcome::Fitted {
                    held_probe,
                    held_agnostic,
                    held_after,
                    ess,
                    ess_limited,
                    ..
                } => {
                    put("heldout_mmd2_probe", num(*held_probe));
                    put("heldout_mmd2_before", num(*held_agnostic));
                    put("heldout_mmd2_after", num(*held_after));
                    put("effective_sample_size", num(*ess));
                    put("ess_limited", Value::Bool(*ess_limited));
                }
                ClassOutcome::KeptAgnostic { reason } => {
                    put("kept_class_agnostic", Value::String(reason.clone()));
                }
            }
            all.insert(Value::String(c.class.clone()), Value::Mapping(m));
        }
        Value::Mapping(all)
    }

    /// The per-class section of report.md.
    pub fn report(&self, space: &[FactorLevels], agnostic: &[Vec<f64>]) -> String {
        let mut s = String::from("\n## Per class\n\n");
        if let Some(reason) = &self.skipped {
            s.push_str(&format!("Class-agnostic only: {reason}.\n"));
            return s;
        }
        s.push_str(&format!("Classes fitted on {}.\n\n", self.probe_from));
        s.push_str("Held-out MMD^2 of each class's target images: probe as rendered, class-agnostic weights (before), the class's own weights (after).\n\n| class | target (held out) | probe | probe MMD^2 | before | after |\n|---|---|---|---|---|---|\n");
        for c in &self.classes {
            let head = format!(
                "| {} | {} ({}) | {} |",
                c.class,
                c.target_train + c.target_held,
                c.target_held,
                c.probe
            );
            match &c.outcome {
                ClassOutcome::Fitted {
                    held_probe,
                    held_agnostic,
                    held_after,
                    ..
                } => s.push_str(&format!(
                    "{head} {held_probe:.5} | {held_agnostic:.5} | {held_after:.5} |\n"
                )),
                ClassOutcome::KeptAgnostic { reason } => {
                    s.push_str(&format!("{head} kept class-agnostic: {reason} | | |\n"))
                }
            }
        }
        for c in &self.classes {
            if let ClassOutcome::Fitted { weights, .. } = &c.outcome {
                s.push_str(&format!(
                    "\n### {}\n\nbefore: class-agnostic, after: the class's own.\n\n{}",
                    c.class,
                    crate::fit::report::weights_table(space, agnostic, weights)
                ));
            }
        }
        s
    }
}

/// What the per-class step needs from the class-agnostic fit.
pub struct PerClassInputs<'a> {
    pub mode: PerClassMode,
    pub target_dir: &'a Path,
    /// The preset's classes.
    pub classes: &'a [String],
    pub target: &'a Target,
    pub measure: &'a Measure,
    /// The class-agnostic weights: every class's starting point.
    pub agnostic: &'a [Vec<f64>],
    pub opts: &'a FitOptions,
}

/// The per-class step of `synthgen fit`: labels the target and fits each class with enough
/// data on the probe images of that class, starting from the class-agnostic weights.
///
/// The class-agnostic fit leaves its pool's effective sample size near the guard, and a
/// class holds only its share of the pool, so the class-agnostic weights are often already
/// below the guard within a class. Then `fresh_round` is asked for a probe rendered from the
/// class-agnostic weights (`Ok(None)`: no round left); without one such a class keeps the
/// class-agnostic weights.
pub fn fit_per_class<E>(
    inp: &PerClassInputs,
    pool: &ProbePool,
    probe: &Features,
    fresh_round: impl FnOnce() -> Result<Option<(ProbePool, Features)>, E>,
) -> Result<PerClass, E> {
    if inp.mode == PerClassMode::Off {
        return Ok(PerClass::skipped("--per-class off".into()));
    }
    let target = inp.target;
    let items: Vec<ImageItem> = target
        .train_items
        .iter()
        .chain(&target.held_items)
        .cloned()
        .collect();
    let labels = match target_labels(inp.target_dir, &items, inp.classes) {
        Labelling::Labelled(l) => l,
        Labelling::Unlabelled(reason) => {
            let reason = format!("the target is not labelled ({reason})");
            tracing::info!("per-class weights: none, {reason}");
            return Ok(PerClass::skipped(reason));
        }
    };
    let rows_of = |items: &[ImageItem], class: &str| -> Vec<usize> {
        (0..items.len())
            .filter(|i| labels.get(&items[*i].path).is_some_and(|c| c == class))
            .collect()
    };
    let mut classes = inp.classes.to_vec();
    classes.sort();
    let rows: Vec<(Vec<usize>, Vec<usize>)> = classes
        .iter()
        .map(|c| {
            (
                rows_of(&target.train_items, c),
                rows_of(&target.held_items, c),
            )
        })
        .collect();
    let enough_target = |train: &[usize], held: &[usize]| {
        train.len() >= MIN_TARGET_IMAGES && held.len() >= MIN_CLASS_HELD
    };
    let thin = |pool: &ProbePool, class: &str| {
        let idx = pool.indices_of(class);
        idx.len() < MIN_CLASS_PROBE
            || start_ess(pool, &idx, inp.agnostic) < inp.opts.min_ess(idx.len())
    };
    let needs_round = classes
        .iter()
        .zip(&rows)
        .any(|(c, (train, held))| enough_target(train, held) && thin(pool, c));
    let fresh = if needs_round { fresh_round()? } else { None };
    let (pool, probe, probe_from) = match &fresh {
        Some((p, f)) => (p, f, "a round rendered from the class-agnostic weights"),
        None => (pool, probe, "the class-agnostic fit's last round"),
    };
    let fits = classes
        .iter()
        .zip(rows)
        .map(|(class, (train, held))| {
            let probe_rows = pool.indices_of(class);
            let n = probe_rows.len();
            let outcome = if !enough_target(&train, &held) || n < MIN_CLASS_PROBE {
                ClassOutcome::KeptAgnostic {
                    reason: format!(
                        "{} training and {} held-out target images, {n} probe images (needs {MIN_TARGET_IMAGES}, {MIN_CLASS_HELD} and {MIN_CLASS_PROBE})",
                        train.len(),
                        held.len(),
                    ),
                }
            } else if thin(pool, class) {
                ClassOutcome::KeptAgnostic {
                    reason: format!(
                        "under the class-agnostic weights its {n} probe images count as {:.0} (the guard needs {:.0}); allow one more probe round with --rounds or a larger --probe-size",
                        start_ess(pool, &probe_rows, inp.agnostic),
                        inp.opts.min_ess(n)
                    ),
                }
            } else {
                let sub = class_measure(inp.measure, &train, &held);
                fit_class(
                    &sub,
                    &pool.subset(&probe_rows),
                    &probe.select(&probe_rows),
                    inp.agnostic,
                    inp.opts,
                )
            };
            match &outcome {
                ClassOutcome::Fitted {
                    held_agnostic,
                    held_after,
                    ess,
                    ..
                } => tracing::info!(
                    "class {class}: held-out MMD^2 {held_agnostic:.5} (class-agnostic) -> {held_after:.5}, ESS {ess:.0} of {n}"
                ),
                ClassOutcome::KeptAgnostic { reason } => {
                    tracing::info!("class {class}: keeps the class-agnostic weights: {reason}")
                }
            }
            ClassFit {
                class: class.clone(),
                target_train: train.len(),
                target_held: held.len(),
                probe: n,
                outcome,
            }
        })
        .collect();
    Ok(PerClass {
        skipped: None,
        probe_from: probe_from.to_string(),
        classes: fits,
    })
}

/// The effective sample size of the images `idx` of `pool` under level weights `w`.
fn start_ess(pool: &ProbePool, idx: &[usize], w: &[Vec<f64>]) -> f64 {
    let sub = pool.subset(idx);
    ess(&importance_weights(idx.len(), &sub.draws, &sub.proposal, w))
}

/// The class-agnostic units restricted to one class's target rows.
fn class_measure(m: &Measure, train: &[usize], held: &[usize]) -> Measure {
    let (train, held) = (m.train.select(train), m.held.select(held));
    Measure {
        standardiser: m.standardiser.clone(),
        kernel: m.kernel.clone(),
        ktt_train: m.kernel.mean_self(&train),
        ktt_held: m.kernel.mean_self(&held),
        train,
        held,
    }
}

fn fit_class(
    measure: &Measure,
    pool: &ProbePool,
    probe: &Features,
    agnostic: &[Vec<f64>],
    opts: &FitOptions,
) -> ClassOutcome {
    let (problem, kph) = measure.problem(pool, probe);
    let held = |w: &[Vec<f64>]| measure.held_mmd2(&problem, &kph, &problem.image_weights(w));
    let result = fit(&problem, agnostic, opts);
    ClassOutcome::Fitted {
        held_probe: held(&pool.proposal),
        held_agnostic: held(agnostic),
        held_after: measure.held_mmd2(&problem, &kph, &result.image_weights),
        ess: result.ess,
        ess_limited: result.ess_limited,
        weights: result.weights,
    }
}

fn int(x: usize) -> Value {
    Value::Number((x as u64).into())
}

fn num(x: f64) -> Value {
    Value::Number(((x * 1e6).round() / 1e6).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(p: &Path) -> ImageItem {
        ImageItem {
            path: p.to_path_buf(),
            mask: None,
        }
    }

    #[test]
    fn folders_named_after_classes_label_the_target() {
        let dir = Path::new("/t");
        let classes = vec!["chair".to_string(), "table".to_string()];
        let items: Vec<ImageItem> = ["chair/a.png", "chair/b/c.png", "table/d.png"]
            .iter()
            .map(|p| item(&dir.join(p)))
            .collect();
        let Labelling::Labelled(l) = target_labels(dir, &items, &classes) else {
            panic!("labelled")
        };
        assert_eq!(l[&dir.join("chair/b/c.png")], "chair");
        assert_eq!(l[&dir.join("table/d.png")], "table");
        assert_eq!(l.len(), 3);

        let loose = vec![item(&dir.join("chair/a.png")), item(&dir.join("x.png"))];
        assert_eq!(
            target_labels(dir, &loose, &classes),
            Labelling::Unlabelled(
                "x.png lies directly in the folder, not in a class subfolder".into()
            )
        );
        let foreign = vec![
            item(&dir.join("chair/a.png")),
            item(&dir.join("sofa/b.png")),
        ];
        assert_eq!(
            target_labels(dir, &foreign, &classes),
            Labelling::Unlabelled(
                "its subfolders sofa are not classes of the preset (chair, table)".into()
            )
        );
    }
}
