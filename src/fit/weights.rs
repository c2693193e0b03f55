//! The weights overlay file: factor -> level -> weight, with the preset it belongs to and a
//! free-form record of the fit that produced it, and optionally per-class weights under
//! `classes:` (class -> factor -> level -> weight) that override `factors:` for that class.
//! Applying it rewrites the fitted factors' distributions in the preset (per-class ones in
//! `class_factors`), so the rendered preset.yaml records it (and `--resume` refuses a
//! different one).
use super::levels::{fit_space, normalise, FactorLevels, FactorPath};
use crate::preset::Preset;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("weights file {file}: not valid YAML of the form {{preset, fit, factors: {{factor: {{level: weight}}}}}}: {message}")]
    Parse { file: String, message: String },
    #[error(
        "weights file {file}: unknown factor \"{factor}\"; preset {preset} can reweight: {known}"
    )]
    UnknownFactor {
        file: String,
        factor: String,
        preset: String,
        known: String,
    },
    #[error(
        "weights file {file}: factor {factor} has no level \"{level}\"; its levels are: {known}"
    )]
    UnknownLevel {
        file: String,
        factor: String,
        level: String,
        known: String,
    },
    #[error("weights file {file}: {factor}.{level} must be a finite number >= 0 (got {value})")]
    BadWeight {
        file: String,
        factor: String,
        level: String,
        value: String,
    },
    #[error("weights file {file}: factor {factor} has no weight > 0; give at least one level a positive weight or drop the factor")]
    AllZero { file: String, factor: String },
    #[error("weights file {file}: classes: unknown class \"{class}\"; preset {preset} has the classes: {known} (drop the entry or render that class)")]
    UnknownClass {
        file: String,
        class: String,
        preset: String,
        known: String,
    },
}

/// Normalised weights per fitted factor, in the order of [`fit_space`].
#[derive(Debug, Clone, PartialEq)]
pub struct LevelWeights {
    pub factors: Vec<FactorLevels>,
    pub weights: Vec<Vec<f64>>,
}

impl LevelWeights {
    /// Equal weight on every level of every factor (the probe's proposal).
    pub fn uniform(preset: &Preset) -> Self {
        let factors = fit_space(preset);
        let weights = factors
            .iter()
            .map(|f| vec![1.0 / f.len() as f64; f.len()])
            .collect();
        LevelWeights { factors, weights }
    }

    /// The level masses of the preset's own distributions.
    pub fn of_preset(levels_from: &Preset, dists_from: &Preset) -> Self {
        let factors = fit_space(levels_from);
        let weights = factors
            .iter()
            .map(|f| f.masses(&super::levels::dist_of(&dists_from.factors, f.path)))
            .collect();
        LevelWeights { factors, weights }
    }

    /// Parses and checks a weights file against `preset`'s levels and classes. Factors the
    /// file does not name keep the preset's own distribution; levels it does not list get 0;
    /// a class section's unnamed factors fall back to `factors:`.
    pub fn parse(text: &str, file: &str, preset: &Preset) -> Result<Overlay, WeightsError> {
        let doc: WeightsDoc = serde_yaml::from_str(text).map_err(|e| WeightsError::Parse {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let space = fit_space(preset);
        let chosen = parse_factors(&doc.factors, file, preset, &space)?;
        let mut classes = BTreeMap::new();
        for (key, section) in &doc.classes {
            let class = show(key);
            if !preset.classes.contains(&class) {
                return Err(WeightsError::UnknownClass {
                    file: file.to_string(),
                    class,
                    preset: preset.name.clone(),
                    known: if preset.classes.is_empty() {
                        "none".to_string()
                    } else {
                        preset.classes.join(", ")
                    },
                });
            }
            let where_ = format!("{file}, classes.{class}");
            let factors = match section {
                Value::Mapping(m) => m.clone(),
                Value::Null => Mapping::new(),
                _ => {
                    return Err(WeightsError::Parse {
                        file: where_,
                        message: "a class needs a mapping factor -> {level: weight}".into(),
                    })
                }
            };
            classes.insert(class, parse_factors(&factors, &where_, preset, &space)?);
        }
        Ok(Overlay { chosen, classes })
    }

    /// The weights file text: readable, one level per line.
    pub fn to_yaml(&self, preset: &str, fit: Value) -> String {
        self.to_yaml_with_classes(preset, fit, &BTreeMap::new())
    }

    /// As [`LevelWeights::to_yaml`], with a `classes:` section of per-class weights.
    pub fn to_yaml_with_classes(
        &self,
        preset: &str,
        fit: Value,
        classes: &BTreeMap<String, LevelWeights>,
    ) -> String {
        let doc = WeightsDoc {
            preset: preset.to_string(),
            fit,
            factors: self.factors_mapping(),
            classes: classes
                .iter()
                .map(|(c, w)| {
                    (
                        Value::String(c.clone()),
                        Value::Mapping(w.factors_mapping()),
                    )
                })
                .collect(),
        };
        serde_yaml::to_string(&doc).unwrap_or_default()
    }

    fn factors_mapping(&self) -> Mapping {
        let mut factors = Mapping::new();
        for (f, w) in self.factors.iter().zip(&self.weights) {
            let mut levels = Mapping::new();
            for (n, x) in f.names().into_iter().zip(w) {
                levels.insert(Value::String(n), Value::Number(round6(*x).into()));
            }
            factors.insert(Value::String(f.path.to_string()), Value::Mapping(levels));
        }
        factors
    }

    pub fn overlay(&self) -> Overlay {
        Overlay {
            chosen: self
                .factors
                .iter()
                .cloned()
                .zip(self.weights.iter().cloned())
                .collect(),
            classes: BTreeMap::new(),
        }
    }
}

/// One factors mapping (`factors:` or a class's section), checked against `space`.
fn parse_factors(
    section: &Mapping,
    file: &str,
    preset: &Preset,
    space: &[FactorLevels],
) -> Result<Vec<(FactorLevels, Vec<f64>)>, WeightsError> {
    let mut chosen = Vec::new();
    for (key, levels) in section {
        let factor = key.as_str().unwrap_or("").to_string();
        let path = factor.parse::<FactorPath>().ok();
        let Some(f) = space.iter().find(|f| Some(f.path) == path) else {
            return Err(WeightsError::UnknownFactor {
                file: file.to_string(),
                factor: show(key),
                preset: preset.name.clone(),
                known: space
                    .iter()
                    .map(|f| f.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let names = f.names();
        let mut w = vec![0.0; f.len()];
        let Value::Mapping(levels) = levels else {
            return Err(WeightsError::Parse {
                file: file.to_string(),
                message: format!("factor {factor} needs a mapping level -> weight"),
            });
        };
        for (lk, lv) in levels {
            let level = match lk {
                Value::String(s) => s.clone(),
                other => show(other),
            };
            let Some(i) = names.iter().position(|n| *n == level) else {
                return Err(WeightsError::UnknownLevel {
                    file: file.to_string(),
                    factor: factor.clone(),
                    level,
                    known: names.join(", "),
                });
            };
            match lv.as_f64() {
                Some(x) if x >= 0.0 && x.is_finite() => w[i] = x,
                _ => {
                    return Err(WeightsError::BadWeight {
                        file: file.to_string(),
                        factor: factor.clone(),
                        level,
                        value: show(lv),
                    })
                }
            }
        }
        if w.iter().sum::<f64>() <= 0.0 {
            return Err(WeightsError::AllZero {
                file: file.to_string(),
                factor,
            });
        }
        chosen.push((f.clone(), normalise(&w)));
    }
    Ok(chosen)
}

/// The factors a weights file sets, with their normalised weights, and per class the
/// factors its `classes:` section sets on top of those.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    pub chosen: Vec<(FactorLevels, Vec<f64>)>,
    pub classes: BTreeMap<String, Vec<(FactorLevels, Vec<f64>)>>,
}

impl Overlay {
    /// Rewrites the chosen factors of `preset` to draw levels with these weights: the shared
    /// ones in `factors` (and in any per-class factors the preset already has), a class's
    /// own in its `class_factors` entry, which starts from the class's reweighted factors.
    /// Without a `classes:` section `class_factors` is left as it was (usually empty).
    pub fn apply(&self, preset: &mut Preset) {
        let set_all = |factors: &mut crate::preset::Factors,
                       chosen: &[(FactorLevels, Vec<f64>)]| {
            for (f, w) in chosen {
                super::levels::set_dist(factors, f.path, f.to_dist(w));
            }
        };
        set_all(&mut preset.factors, &self.chosen);
        for factors in preset.class_factors.values_mut() {
            set_all(factors, &self.chosen);
        }
        for (class, chosen) in &self.classes {
            let mut own = preset.factors_for(class).clone();
            set_all(&mut own, chosen);
            preset.class_factors.insert(class.clone(), own);
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightsDoc {
    #[serde(default)]
    preset: String,
    /// How the weights were obtained (target, probe size, MMD before/after); informative.
    #[serde(default)]
    fit: Value,
    #[serde(default)]
    factors: Mapping,
    /// Per-class weights (class -> factor -> level -> weight); left out when empty.
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    classes: Mapping,
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset() -> Preset {
        Preset::default()
    }

    #[test]
    fn uniform_overlay_round_trips_and_applies() {
        let p = preset();
        let u = LevelWeights::uniform(&p);
        assert!(u
            .factors
            .iter()
            .any(|f| f.path == FactorPath::CameraDistance));
        let text = u.to_yaml("base", Value::Null);
        let o = LevelWeights::parse(&text, "w.yaml", &p).unwrap();
        assert_eq!(o.chosen.len(), u.factors.len());
        let mut q = p.clone();
        o.apply(&mut q);
        assert!(matches!(
            q.factors.camera.distance,
            crate::preset::NumberDist::Binned { .. }
        ));
        // The applied preset survives its own YAML (what preset.yaml records); equal
        // choice weights are written as a plain list, so compare the text.
        let back: Preset = serde_yaml::from_str(&q.to_yaml()).unwrap();
        assert_eq!(back.to_yaml(), q.to_yaml());
    }

    #[test]
    fn bad_files_are_named_errors() {
        let p = preset();
        let e = |t: &str| {
            LevelWeights::parse(t, "w.yaml", &p)
                .unwrap_err()
                .to_string()
        };
        assert!(e("factors: {camera.zoom: {a: 1}}").contains("unknown factor \"camera.zoom\""));
        assert!(e("factors: {material.family: {gold: 1}}").contains("no level \"gold\""));
        assert!(e("factors: {material.family: {metal: -1}}").contains(">= 0"));
        assert!(e("factors: {material.family: {metal: 0}}").contains("no weight > 0"));
        assert!(e("[1, 2]").contains("not valid YAML"));
    }

    fn two_classes() -> Preset {
        Preset {
            classes: vec!["chair".into(), "table".into()],
            ..Preset::default()
        }
    }

    #[test]
    fn class_sections_round_trip_and_override_the_shared_weights() {
        let p = two_classes();
        let shared = LevelWeights::uniform(&p);
        let mut chair = shared.clone();
        let bg = chair
            .factors
            .iter()
            .position(|f| f.path == FactorPath::BackgroundKind)
            .unwrap();
        let names = chair.factors[bg].names();
        chair.weights[bg] = names
            .iter()
            .map(|n| if n == "solid" { 1.0 } else { 0.0 })
            .collect();
        let classes = BTreeMap::from([("chair".to_string(), chair.clone())]);
        let text = shared.to_yaml_with_classes("demo", Value::Null, &classes);
        let o = LevelWeights::parse(&text, "w.yaml", &p).unwrap();
        assert_eq!(o.classes.len(), 1);
        // Written to 6 decimals: compare levels exactly, weights to that precision.
        for ((f, w), (g, v)) in o.classes["chair"].iter().zip(&chair.overlay().chosen) {
            assert_eq!(f, g);
            assert!(
                w.iter().zip(v).all(|(a, b)| (a - b).abs() < 1e-5),
                "{w:?} {v:?}"
            );
        }
        let mut q = p.clone();
        o.apply(&mut q);
        assert_eq!(
            q.factors_for("chair").background.kind,
            crate::preset::CategoryDist::Choice {
                values: names.clone(),
                weights: chair.weights[bg].clone()
            }
        );
        // The other class draws from the shared (uniform) weights.
        assert_eq!(q.factors_for("table"), &q.factors);
        assert!(!q.class_factors.contains_key("table"));
        // A class section naming one factor keeps the shared weights of the others.
        let partial = "factors: {camera.distance: {2.5..3.125: 1}}\nclasses:\n  table: {background.kind: {hdri: 1}}\n";
        let mut r = p.clone();
        LevelWeights::parse(partial, "w.yaml", &p)
            .unwrap()
            .apply(&mut r);
        assert_eq!(
            r.class_factors["table"].camera.distance,
            r.factors.camera.distance
        );
        assert_eq!(
            r.class_factors["table"].background.kind.possible(),
            vec!["hdri"]
        );
        // The resolved preset loads back to the same per-class factors.
        let back: Preset = serde_yaml::from_str(&r.to_yaml()).unwrap();
        assert_eq!(back.class_factors, r.class_factors);
    }

    #[test]
    fn without_a_classes_section_nothing_per_class_is_written_or_applied() {
        let p = two_classes();
        let u = LevelWeights::uniform(&p);
        let text = u.to_yaml("demo", Value::Null);
        assert!(!text.contains("classes"), "{text}");
        let mut q = p.clone();
        LevelWeights::parse(&text, "w.yaml", &p)
            .unwrap()
            .apply(&mut q);
        assert!(q.class_factors.is_empty());
        assert!(!q.to_yaml().contains("class_factors"));
    }

    #[test]
    fn bad_class_sections_are_named_errors() {
        let p = two_classes();
        let e = |t: &str| {
            LevelWeights::parse(t, "w.yaml", &p)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e("classes: {sofa: {background.kind: {solid: 1}}}"),
            "weights file w.yaml: classes: unknown class \"sofa\"; preset unnamed has the classes: chair, table (drop the entry or render that class)"
        );
        assert!(
            e("classes: {chair: {background.kind: {gold: 1}}}").starts_with(
                "weights file w.yaml, classes.chair: factor background.kind has no level \"gold\""
            )
        );
        assert!(
            e("classes: {chair: {camera.zoom: {a: 1}}}").contains("classes.chair: unknown factor")
        );
        assert!(e("classes: {chair: {background.kind: {solid: 0}}}").contains("no weight > 0"));
        assert!(e("classes: {chair: [1]}").contains("needs a mapping"));
    }
    /// A weights file the string-keyed code wrote (a real `synthgen fit` run, see
    /// tests/fixtures/fit/README.md), applied as `render --weights` applies it, gives the
    /// factors and per-class factors that the old code's render recorded in its preset.yaml.
    #[test]
    fn a_weights_file_written_before_typed_paths_applies_as_it_did() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fit");
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        let sets = [
            "classes=[chair, table]",
            "render.resolution=32",
            "render.samples=4",
            "render.denoise=false",
            "validate.min_coverage=0.005",
            "images_per_class=1",
        ]
        .map(String::from);
        let plain = Preset::load("demo", &sets).unwrap();
        let overlay =
            LevelWeights::parse(&read("weights_demo_chair_table.yaml"), "fixture", &plain).unwrap();
        assert_eq!(overlay.chosen.len(), FactorPath::ALL.len());
        assert_eq!(
            overlay.classes.keys().collect::<Vec<_>>(),
            ["chair", "table"]
        );
        let mut weighted = plain.clone();
        overlay.apply(&mut weighted);
        let ours: Value = serde_yaml::from_str(&weighted.to_yaml()).unwrap();
        let old: Value =
            serde_yaml::from_str(&read("weights_demo_chair_table.applied_preset.yaml")).unwrap();
        for key in ["factors", "class_factors"] {
            assert_eq!(ours[key], old[key], "{key}");
        }
        let unweighted: Value = serde_yaml::from_str(&plain.to_yaml()).unwrap();
        assert_ne!(unweighted["factors"], old["factors"]);
    }
}
