//! The weights overlay file: factor -> level -> weight, with the preset it belongs to and a
//! free-form record of the fit that produced it. Applying it rewrites the fitted factors'
//! distributions in the preset, so the rendered preset.yaml records it (and `--resume`
//! refuses a different one).
use super::levels::{fit_space, normalise, FactorLevels};
use crate::preset::Preset;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

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
            .map(
                |f| match super::levels::dist_of(&dists_from.factors, f.name) {
                    Some(d) => f.masses(&d),
                    None => vec![1.0 / f.len() as f64; f.len()],
                },
            )
            .collect();
        LevelWeights { factors, weights }
    }

    /// Parses and checks a weights file against `preset`'s levels. Factors the file does not
    /// name keep the preset's own distribution (`None`); levels it does not list get 0.
    pub fn parse(text: &str, file: &str, preset: &Preset) -> Result<Overlay, WeightsError> {
        let doc: WeightsDoc = serde_yaml::from_str(text).map_err(|e| WeightsError::Parse {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let space = fit_space(preset);
        let mut chosen = Vec::new();
        for (key, levels) in &doc.factors {
            let factor = key.as_str().unwrap_or("").to_string();
            let Some(f) = space.iter().find(|f| f.name == factor) else {
                return Err(WeightsError::UnknownFactor {
                    file: file.to_string(),
                    factor: show(key),
                    preset: preset.name.clone(),
                    known: space.iter().map(|f| f.name).collect::<Vec<_>>().join(", "),
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
        Ok(Overlay { chosen })
    }

    /// The weights file text: readable, one level per line.
    pub fn to_yaml(&self, preset: &str, fit: Value) -> String {
        let mut factors = Mapping::new();
        for (f, w) in self.factors.iter().zip(&self.weights) {
            let mut levels = Mapping::new();
            for (n, x) in f.names().into_iter().zip(w) {
                levels.insert(Value::String(n), Value::Number(round6(*x).into()));
            }
            factors.insert(Value::String(f.name.to_string()), Value::Mapping(levels));
        }
        let doc = WeightsDoc {
            preset: preset.to_string(),
            fit,
            factors,
        };
        serde_yaml::to_string(&doc).unwrap_or_default()
    }

    pub fn overlay(&self) -> Overlay {
        Overlay {
            chosen: self
                .factors
                .iter()
                .cloned()
                .zip(self.weights.iter().cloned())
                .collect(),
        }
    }
}

/// The factors a weights file sets, with their normalised weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    pub chosen: Vec<(FactorLevels, Vec<f64>)>,
}

impl Overlay {
    /// Rewrites the chosen factors of `preset` to draw levels with these weights.
    pub fn apply(&self, preset: &mut Preset) {
        for (f, w) in &self.chosen {
            super::levels::set_dist(&mut preset.factors, f.name, f.to_dist(w));
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
    factors: Mapping,
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
        assert!(u.factors.iter().any(|f| f.name == "camera.distance"));
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
}
