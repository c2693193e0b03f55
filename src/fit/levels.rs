//! The fitted factors and their levels: which preset parameters a weights overlay can
//! reweight, how each one's values fall into levels, and how a set of level weights becomes
//! a preset distribution again.
//!
//! Categorical parameters (and numeric `choice`s) have one level per possible value;
//! continuous ones have [`BINS`] equal bins of the distribution's support (log-spaced for
//! `log_uniform`), sampled uniformly inside the chosen bin, so weights only change the bin.
use crate::preset::{CategoryDist, Factors, NumberDist, Preset};
use crate::scene::params::{Background, LampKind, SceneParams};
use rand::SeedableRng;
use std::f64::consts::PI;

/// Bins of a continuous factor (a few, so a probe pool of a few thousand images fills each).
pub const BINS: usize = 4;

/// A fitted factor, by its preset path under `factors.` (see docs/FIT.md). `as_str` is the
/// key of the weights file and the preset path; `FromStr` reads it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FactorPath {
    ScaleSize,
    CameraDistance,
    CameraElevation,
    LightEnergy,
    LightKind,
    LightWorldKind,
    LightWorldStrength,
    MaterialFamily,
    BackgroundKind,
    BackgroundPattern,
}

impl FactorPath {
    /// Every fitted factor, in the order of a weights file.
    pub const ALL: [FactorPath; 10] = [
        FactorPath::ScaleSize,
        FactorPath::CameraDistance,
        FactorPath::CameraElevation,
        FactorPath::LightEnergy,
        FactorPath::LightKind,
        FactorPath::LightWorldKind,
        FactorPath::LightWorldStrength,
        FactorPath::MaterialFamily,
        FactorPath::BackgroundKind,
        FactorPath::BackgroundPattern,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FactorPath::ScaleSize => "scale.size",
            FactorPath::CameraDistance => "camera.distance",
            FactorPath::CameraElevation => "camera.elevation",
            FactorPath::LightEnergy => "light.energy",
            FactorPath::LightKind => "light.kind",
            FactorPath::LightWorldKind => "light.world.kind",
            FactorPath::LightWorldStrength => "light.world.strength",
            FactorPath::MaterialFamily => "material.family",
            FactorPath::BackgroundKind => "background.kind",
            FactorPath::BackgroundPattern => "background.pattern",
        }
    }
}

impl std::fmt::Display for FactorPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the fitted factors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("\"{0}\" is not a fitted factor")]
pub struct NotAFactor(pub String);

impl std::str::FromStr for FactorPath {
    type Err = NotAFactor;

    fn from_str(s: &str) -> Result<Self, NotAFactor> {
        FactorPath::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| NotAFactor(s.to_string()))
    }
}

/// Draws used to estimate bin masses of a distribution that is not itself binned.
const MASS_DRAWS: usize = 50_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Levels {
    Names(Vec<String>),
    Values(Vec<f64>),
    Bins { edges: Vec<f64>, log: bool },
}

/// One observed draw of a factor in a rendered image.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    Name(String),
    Value(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FactorLevels {
    pub path: FactorPath,
    pub levels: Levels,
}

impl FactorLevels {
    pub fn len(&self) -> usize {
        match &self.levels {
            Levels::Names(n) => n.len(),
            Levels::Values(v) => v.len(),
            Levels::Bins { edges, .. } => edges.len() - 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Readable level names, as written in a weights file.
    pub fn names(&self) -> Vec<String> {
        match &self.levels {
            Levels::Names(n) => n.clone(),
            Levels::Values(v) => v.iter().map(|x| short(*x)).collect(),
            Levels::Bins { edges, .. } => edges
                .windows(2)
                .map(|w| format!("{}..{}", short(w[0]), short(w[1])))
                .collect(),
        }
    }

    /// The level of one observed draw (None: a value this factor's levels cannot hold).
    pub fn level_of(&self, obs: &Observed) -> Option<usize> {
        match (&self.levels, obs) {
            (Levels::Names(n), Observed::Name(s)) => n.iter().position(|x| x == s),
            (Levels::Values(v), Observed::Value(x)) => v
                .iter()
                .enumerate()
                .min_by(|a, b| (a.1 - x).abs().total_cmp(&(b.1 - x).abs()))
                .map(|(i, _)| i),
            (Levels::Bins { edges, .. }, Observed::Value(x)) => {
                let tol = 1e-9 * (edges[edges.len() - 1] - edges[0]).abs().max(1e-12);
                if *x < edges[0] - tol || *x > edges[edges.len() - 1] + tol {
                    return None;
                }
                let inner = edges[1..edges.len() - 1]
                    .iter()
                    .filter(|e| *x >= **e)
                    .count();
                Some(inner)
            }
            _ => None,
        }
    }

    /// The probability of each level under a preset distribution of this parameter (exact
    /// for choices and matching bins, else estimated from seeded draws).
    pub fn masses(&self, dist: &Dist) -> Vec<f64> {
        let mut m = vec![0.0; self.len()];
        match (dist, &self.levels) {
            (Dist::Cat(CategoryDist::Fixed(s)), _) => add(&mut m, self.level_of(&name(s)), 1.0),
            (Dist::Cat(CategoryDist::Choice { values, weights }), _) => {
                for (v, w) in values.iter().zip(weights) {
                    add(&mut m, self.level_of(&name(v)), *w);
                }
            }
            (
                Dist::Num(NumberDist::Binned { edges, weights, .. }),
                Levels::Bins { edges: e, .. },
            ) if edges == e => m.clone_from(weights),
            (Dist::Num(NumberDist::Choice { values, weights }), Levels::Values(_)) => {
                for (v, w) in values.iter().zip(weights) {
                    add(&mut m, self.level_of(&Observed::Value(*v)), *w);
                }
            }
            (Dist::Num(d), _) => {
                let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
                for _ in 0..MASS_DRAWS {
                    add(
                        &mut m,
                        self.level_of(&Observed::Value(d.sample(&mut rng))),
                        1.0,
                    );
                }
            }
        }
        normalise(&m)
    }

    /// The preset distribution that draws level `i` with probability `weights[i]`.
    pub fn to_dist(&self, weights: &[f64]) -> Dist {
        match &self.levels {
            Levels::Names(n) => Dist::Cat(CategoryDist::Choice {
                values: n.clone(),
                weights: weights.to_vec(),
            }),
            Levels::Values(v) => Dist::Num(NumberDist::Choice {
                values: v.clone(),
                weights: weights.to_vec(),
            }),
            Levels::Bins { edges, log } => Dist::Num(NumberDist::Binned {
                edges: edges.clone(),
                weights: weights.to_vec(),
                log: *log,
            }),
        }
    }
}

fn name(s: &str) -> Observed {
    Observed::Name(s.to_string())
}

fn add(m: &mut [f64], level: Option<usize>, w: f64) {
    if let Some(i) = level {
        m[i] += w;
    }
}

pub fn normalise(w: &[f64]) -> Vec<f64> {
    let total: f64 = w.iter().sum();
    if total > 0.0 {
        w.iter().map(|x| x / total).collect()
    } else {
        vec![1.0 / w.len() as f64; w.len()]
    }
}

/// Up to 4 significant digits, without trailing zeros (level names stay short).
fn short(x: f64) -> String {
    let s = format!("{:.4}", x);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// A preset distribution of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    Num(NumberDist),
    Cat(CategoryDist),
}

/// The distribution of a fitted factor in a preset.
pub fn dist_of(f: &Factors, path: FactorPath) -> Dist {
    match path {
        FactorPath::ScaleSize => Dist::Num(f.scale.size.clone()),
        FactorPath::CameraDistance => Dist::Num(f.camera.distance.clone()),
        FactorPath::CameraElevation => Dist::Num(f.camera.elevation.clone()),
        FactorPath::LightEnergy => Dist::Num(f.light.energy.clone()),
        FactorPath::LightKind => Dist::Cat(f.light.kind.clone()),
        FactorPath::LightWorldKind => Dist::Cat(f.light.world.kind.clone()),
        FactorPath::LightWorldStrength => Dist::Num(f.light.world.strength.clone()),
        FactorPath::MaterialFamily => Dist::Cat(f.material.family.clone()),
        FactorPath::BackgroundKind => Dist::Cat(f.background.kind.clone()),
        FactorPath::BackgroundPattern => Dist::Cat(f.background.pattern.clone()),
    }
}

/// Where a fitted factor's distribution lives in a preset, to be replaced.
enum Slot<'a> {
    Num(&'a mut NumberDist),
    Cat(&'a mut CategoryDist),
}

fn slot(f: &mut Factors, path: FactorPath) -> Slot<'_> {
    match path {
        FactorPath::ScaleSize => Slot::Num(&mut f.scale.size),
        FactorPath::CameraDistance => Slot::Num(&mut f.camera.distance),
        FactorPath::CameraElevation => Slot::Num(&mut f.camera.elevation),
        FactorPath::LightEnergy => Slot::Num(&mut f.light.energy),
        FactorPath::LightKind => Slot::Cat(&mut f.light.kind),
        FactorPath::LightWorldKind => Slot::Cat(&mut f.light.world.kind),
        FactorPath::LightWorldStrength => Slot::Num(&mut f.light.world.strength),
        FactorPath::MaterialFamily => Slot::Cat(&mut f.material.family),
        FactorPath::BackgroundKind => Slot::Cat(&mut f.background.kind),
        FactorPath::BackgroundPattern => Slot::Cat(&mut f.background.pattern),
    }
}

/// Replaces a fitted factor's distribution (a kind mismatch leaves the preset unchanged;
/// `FactorLevels::to_dist` always gives the factor's own kind).
pub fn set_dist(f: &mut Factors, path: FactorPath, dist: Dist) {
    match (slot(f, path), dist) {
        (Slot::Num(s), Dist::Num(d)) => *s = d,
        (Slot::Cat(s), Dist::Cat(d)) => *s = d,
        (Slot::Num(_), Dist::Cat(_)) | (Slot::Cat(_), Dist::Num(_)) => {}
    }
}

/// Every draw of a fitted factor recorded in an image's parameters (one per lamp for the
/// lamp factors). Lamp energy is recorded in Blender units; the preset speaks irradiance.
/// The one place fitting reads a `SceneParams`.
pub fn observed(p: &SceneParams, path: FactorPath) -> Vec<Observed> {
    let v = |x: f64| vec![Observed::Value(x)];
    let n = |s: &str| vec![Observed::Name(s.to_string())];
    match path {
        FactorPath::ScaleSize => v(p.scale.size),
        FactorPath::CameraDistance => v(p.camera.distance),
        FactorPath::CameraElevation => v(p.camera.elevation_deg),
        FactorPath::LightEnergy => p
            .light
            .lamps
            .iter()
            .map(|l| {
                let e = l.emitter();
                let r2 = e.radius * e.radius;
                Observed::Value(match l.kind() {
                    LampKind::Sun => e.energy,
                    LampKind::Area => e.energy / (PI * r2),
                    LampKind::Point | LampKind::Spot => e.energy / (4.0 * PI * r2),
                })
            })
            .collect(),
        FactorPath::LightKind => p
            .light
            .lamps
            .iter()
            .map(|l| Observed::Name(l.kind().name().to_string()))
            .collect(),
        FactorPath::LightWorldKind => n(p.light.world.kind().name()),
        FactorPath::LightWorldStrength => v(p.light.world.strength()),
        FactorPath::MaterialFamily => n(p.material.family().name()),
        FactorPath::BackgroundKind => n(p.background.kind().name()),
        // Only a procedural backdrop has a pattern.
        FactorPath::BackgroundPattern => match &p.background {
            Background::Procedural { pattern, .. } => n(pattern.name()),
            _ => Vec::new(),
        },
    }
}

/// The levels of every fitted factor that varies in `preset` (fixed values, single choices
/// and unbounded normals are left out: there is nothing to reweight or no support to bin).
pub fn fit_space(preset: &Preset) -> Vec<FactorLevels> {
    FactorPath::ALL
        .into_iter()
        .filter_map(|path| {
            let levels = match dist_of(&preset.factors, path) {
                Dist::Cat(d) => Levels::Names(d.possible().iter().map(|s| s.to_string()).collect()),
                Dist::Num(d) => num_levels(&d)?,
            };
            let f = FactorLevels { path, levels };
            (f.len() >= 2).then_some(f)
        })
        .collect()
}

fn num_levels(d: &NumberDist) -> Option<Levels> {
    let bins = |min: f64, max: f64, log: bool| {
        if max <= min || !min.is_finite() || !max.is_finite() {
            return None;
        }
        let (a, b) = if log {
            (min.ln(), max.ln())
        } else {
            (min, max)
        };
        let mut edges: Vec<f64> = (0..=BINS)
            .map(|i| a + (b - a) * i as f64 / BINS as f64)
            .map(|x| if log { x.exp() } else { x })
            .collect();
        // Exact ends, so draws at the bounds fall inside.
        edges[0] = min;
        edges[BINS] = max;
        Some(Levels::Bins { edges, log })
    };
    match d {
        NumberDist::Fixed(_) | NumberDist::Normal { .. } => None,
        NumberDist::Uniform { min, max } | NumberDist::TruncatedNormal { min, max, .. } => {
            bins(*min, *max, false)
        }
        NumberDist::LogUniform { min, max } => bins(*min, *max, true),
        NumberDist::Choice { values, weights } => Some(Levels::Values(
            values
                .iter()
                .zip(weights)
                .filter(|(_, w)| **w > 0.0)
                .map(|(v, _)| *v)
                .collect(),
        )),
        NumberDist::Binned { edges, log, .. } => Some(Levels::Bins {
            edges: edges.clone(),
            log: *log,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn bins_name_place_and_weight_draws() {
        let space = fit_space(&Preset::default());
        let dist = space
            .iter()
            .find(|f| f.path == FactorPath::CameraDistance)
            .unwrap();
        assert_eq!(
            dist.names(),
            ["2.5..3.125", "3.125..3.75", "3.75..4.375", "4.375..5"]
        );
        assert_eq!(dist.level_of(&Observed::Value(2.5)), Some(0));
        assert_eq!(dist.level_of(&Observed::Value(3.2)), Some(1));
        assert_eq!(dist.level_of(&Observed::Value(5.0)), Some(3));
        assert_eq!(dist.level_of(&Observed::Value(5.5)), None);
        // A binned distribution draws inside its bins, with the bins' frequencies, and the
        // masses of the uniform preset distribution are (close to) equal.
        let Dist::Num(binned) = dist.to_dist(&[0.7, 0.0, 0.1, 0.2]) else {
            panic!("numeric")
        };
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let mut counts = [0usize; 4];
        for _ in 0..20_000 {
            let x = binned.sample(&mut rng);
            counts[dist.level_of(&Observed::Value(x)).unwrap()] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!(
            (counts[0] as f64 / 20_000.0 - 0.7).abs() < 0.02,
            "{counts:?}"
        );
        let masses = dist.masses(&Dist::Num(NumberDist::uniform(2.5, 5.0)));
        assert!(masses.iter().all(|m| (m - 0.25).abs() < 0.01), "{masses:?}");
        assert_eq!(dist.masses(&Dist::Num(binned)), vec![0.7, 0.0, 0.1, 0.2]);
        // Log bins for log_uniform parameters, and lamps recovered as irradiance.
        let energy = space
            .iter()
            .find(|f| f.path == FactorPath::LightEnergy)
            .unwrap();
        assert!(matches!(energy.levels, Levels::Bins { log: true, .. }));
        let fixed = Preset {
            factors: Factors {
                camera: crate::preset::CameraFactor {
                    distance: NumberDist::Fixed(3.0),
                    ..Default::default()
                },
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(!fit_space(&fixed)
            .iter()
            .any(|f| f.path == FactorPath::CameraDistance));
    }
    #[test]
    fn factor_paths_are_the_weights_file_keys_and_reach_every_factor() {
        // The keys weights files have always used, in their order.
        let keys: Vec<&str> = FactorPath::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            keys,
            [
                "scale.size",
                "camera.distance",
                "camera.elevation",
                "light.energy",
                "light.kind",
                "light.world.kind",
                "light.world.strength",
                "material.family",
                "background.kind",
                "background.pattern",
            ]
        );
        for p in FactorPath::ALL {
            assert_eq!(p.as_str().parse::<FactorPath>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(
            "camera.zoom".parse::<FactorPath>(),
            Err(NotAFactor("camera.zoom".into()))
        );
        // Each path reads and writes its own parameter: all ten vary in the default preset,
        // and after each is set to draw only its first level, each reads back its own.
        let preset = Preset::default();
        let space = fit_space(&preset);
        assert_eq!(space.len(), FactorPath::ALL.len());
        let mut factors = preset.factors.clone();
        let mut chosen = Vec::new();
        for f in &space {
            let mut w = vec![0.0; f.len()];
            w[0] = 1.0;
            let d = f.to_dist(&w);
            assert_ne!(dist_of(&factors, f.path), d, "{}", f.path);
            set_dist(&mut factors, f.path, d.clone());
            chosen.push(d);
        }
        for (f, d) in space.iter().zip(&chosen) {
            assert_eq!(&dist_of(&factors, f.path), d, "{}", f.path);
        }
    }
}
