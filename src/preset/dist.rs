//! Distributions of preset parameters: how a YAML value becomes something to draw from.
//!
//! A numeric parameter is a plain number (fixed) or a one-key mapping naming the distribution:
//! `{fixed: x}`, `{uniform: [a, b]}`, `{normal: {mean: m, std: s}}`,
//! `{truncated_normal: {mean: m, std: s, min: a, max: b}}`, `{log_uniform: [a, b]}`,
//! `{choice: [v1, v2]}` or `{choice: {v1: w1, v2: w2}}`. A categorical parameter is a plain
//! string (fixed), `{fixed: name}` or the same `choice` forms. Parsing goes through
//! `serde_yaml::Value` so that every mistake gets a message that says what was expected.
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_yaml::{Mapping, Value};

/// The keys that make a one-key mapping a distribution (the merge of `extends:` chains
/// replaces such a mapping whole instead of merging it key by key).
pub const DIST_KEYWORDS: &[&str] = &[
    "fixed",
    "uniform",
    "normal",
    "truncated_normal",
    "log_uniform",
    "choice",
    "binned",
];

const NUMBER_FORMS: &str = "expected a number or one of fixed/uniform/normal/truncated_normal/log_uniform/choice/binned, e.g. `{uniform: [1, 2]}`";
const CATEGORY_FORMS: &str =
    "expected a name or one of fixed/choice, e.g. `metal` or `{choice: [metal, wood]}`";

/// Truncated normals are drawn by rejection; past this many misses the draw is clamped.
const TRUNCATED_NORMAL_TRIES: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub enum NumberDist {
    Fixed(f64),
    Uniform {
        min: f64,
        max: f64,
    },
    Normal {
        mean: f64,
        std: f64,
    },
    TruncatedNormal {
        mean: f64,
        std: f64,
        min: f64,
        max: f64,
    },
    LogUniform {
        min: f64,
        max: f64,
    },
    /// Parallel lists; weights are >= 0 with a positive sum.
    Choice {
        values: Vec<f64>,
        weights: Vec<f64>,
    },
    /// A weighted histogram: bin `i` spans `edges[i]..edges[i + 1]` and is drawn with
    /// probability proportional to `weights[i]`, then uniformly inside (in log space when
    /// `log`). Written by a weights overlay (`render --weights`, see docs/FIT.md).
    Binned {
        edges: Vec<f64>,
        weights: Vec<f64>,
        log: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum CategoryDist {
    Fixed(String),
    Choice {
        values: Vec<String>,
        weights: Vec<f64>,
    },
}

impl NumberDist {
    pub fn uniform(min: f64, max: f64) -> Self {
        NumberDist::Uniform { min, max }
    }

    /// The smallest and largest value a draw can take (infinite for a plain normal).
    pub fn support(&self) -> (f64, f64) {
        match self {
            NumberDist::Fixed(x) => (*x, *x),
            NumberDist::Uniform { min, max }
            | NumberDist::TruncatedNormal { min, max, .. }
            | NumberDist::LogUniform { min, max } => (*min, *max),
            NumberDist::Normal { std, mean } if *std == 0.0 => (*mean, *mean),
            NumberDist::Normal { .. } => (f64::NEG_INFINITY, f64::INFINITY),
            NumberDist::Choice { values, weights } => {
                let live = values.iter().zip(weights).filter(|(_, w)| **w > 0.0);
                live.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (v, _)| {
                    (lo.min(*v), hi.max(*v))
                })
            }
            NumberDist::Binned { edges, weights, .. } => {
                let live = (0..weights.len()).filter(|i| weights[*i] > 0.0);
                live.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), i| {
                    (lo.min(edges[i]), hi.max(edges[i + 1]))
                })
            }
        }
    }

    /// Short name of the form, for messages ("uniform", "normal", ...).
    pub fn form(&self) -> &'static str {
        match self {
            NumberDist::Fixed(_) => "fixed",
            NumberDist::Uniform { .. } => "uniform",
            NumberDist::Normal { .. } => "normal",
            NumberDist::TruncatedNormal { .. } => "truncated_normal",
            NumberDist::LogUniform { .. } => "log_uniform",
            NumberDist::Choice { .. } => "choice",
            NumberDist::Binned { .. } => "binned",
        }
    }

    /// One draw. Fixed values consume no randomness.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            NumberDist::Fixed(x) => *x,
            NumberDist::Uniform { min, max } => draw_uniform(rng, *min, *max),
            NumberDist::Normal { mean, std } => draw_normal(rng, *mean, *std),
            NumberDist::TruncatedNormal {
                mean,
                std,
                min,
                max,
            } => {
                for _ in 0..TRUNCATED_NORMAL_TRIES {
                    let x = draw_normal(rng, *mean, *std);
                    if (*min..=*max).contains(&x) {
                        return x;
                    }
                }
                mean.clamp(*min, *max)
            }
            NumberDist::LogUniform { min, max } => draw_uniform(rng, min.ln(), max.ln())
                .exp()
                .clamp(*min, *max),
            NumberDist::Choice { values, weights } => values[pick_weighted(rng, weights)],
            NumberDist::Binned {
                edges,
                weights,
                log,
            } => {
                let i = pick_weighted(rng, weights);
                let (lo, hi) = (edges[i], edges[i + 1]);
                if *log {
                    draw_uniform(rng, lo.ln(), hi.ln()).exp().clamp(lo, hi)
                } else {
                    draw_uniform(rng, lo, hi)
                }
            }
        }
    }

    /// Parses the YAML forms listed in the module docs; errors are full sentences.
    pub fn from_value(value: &Value) -> Result<Self, String> {
        if let Some(x) = as_number(value) {
            return Ok(NumberDist::Fixed(x));
        }
        let (form, arg) = single_key(value, NUMBER_FORMS)?;
        match form {
            "fixed" => as_number(arg)
                .map(NumberDist::Fixed)
                .ok_or_else(|| format!("fixed needs a number (got {})", show(arg))),
            "uniform" => {
                let (min, max) = bounds(arg, "uniform")?;
                Ok(NumberDist::Uniform { min, max })
            }
            "log_uniform" => {
                let (min, max) = bounds(arg, "log_uniform")?;
                if min <= 0.0 {
                    return Err(format!(
                        "log_uniform needs 0 < min <= max (got [{}, {}]); use a positive lower bound or uniform",
                        fmt_num(min),
                        fmt_num(max)
                    ));
                }
                Ok(NumberDist::LogUniform { min, max })
            }
            "normal" => {
                let mut fields = number_fields(arg, "normal", &["mean", "std"])?;
                let std = fields.pop().unwrap_or(0.0);
                let mean = fields.pop().unwrap_or(0.0);
                check_std(std, "normal")?;
                Ok(NumberDist::Normal { mean, std })
            }
            "truncated_normal" => {
                let f = number_fields(arg, "truncated_normal", &["mean", "std", "min", "max"])?;
                let (mean, std, min, max) = (f[0], f[1], f[2], f[3]);
                check_std(std, "truncated_normal")?;
                if min > max {
                    return Err(format!(
                        "truncated_normal needs min <= max (got min {}, max {}); swap the bounds",
                        fmt_num(min),
                        fmt_num(max)
                    ));
                }
                Ok(NumberDist::TruncatedNormal {
                    mean,
                    std,
                    min,
                    max,
                })
            }
            "choice" => {
                let (keys, weights) = choice_entries(arg)?;
                let values = keys
                    .iter()
                    .map(|k| {
                        as_number(k).ok_or_else(|| {
                            format!("choice of numbers needs numbers (got {})", show(k))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(NumberDist::Choice { values, weights })
            }
            "binned" => binned(arg),
            other => Err(unknown_form(other, NUMBER_FORMS)),
        }
    }

    pub fn to_value(&self) -> Value {
        let pair = |a: f64, b: f64| Value::Sequence(vec![num(a), num(b)]);
        match self {
            NumberDist::Fixed(x) => num(*x),
            NumberDist::Uniform { min, max } => one_key("uniform", pair(*min, *max)),
            NumberDist::LogUniform { min, max } => one_key("log_uniform", pair(*min, *max)),
            NumberDist::Normal { mean, std } => {
                one_key("normal", fields(&[("mean", *mean), ("std", *std)]))
            }
            NumberDist::TruncatedNormal {
                mean,
                std,
                min,
                max,
            } => one_key(
                "truncated_normal",
                fields(&[("mean", *mean), ("std", *std), ("min", *min), ("max", *max)]),
            ),
            NumberDist::Choice { values, weights } => one_key(
                "choice",
                choice_value(values.iter().map(|v| num(*v)), weights),
            ),
            NumberDist::Binned {
                edges,
                weights,
                log,
            } => {
                let list = |xs: &[f64]| Value::Sequence(xs.iter().map(|x| num(*x)).collect());
                let mut m = Mapping::new();
                m.insert(Value::String("edges".into()), list(edges));
                m.insert(Value::String("weights".into()), list(weights));
                m.insert(Value::String("log".into()), Value::Bool(*log));
                one_key("binned", Value::Mapping(m))
            }
        }
    }
}

/// `{edges: [e0, e1, ...], weights: [w0, ...], log: bool}`: increasing edges, one weight per
/// bin, weights >= 0 with a positive sum, positive edges when `log`.
fn binned(arg: &Value) -> Result<NumberDist, String> {
    const EXAMPLE: &str = "{edges: [1, 2, 3], weights: [1, 2], log: false}";
    let Value::Mapping(m) = arg else {
        return Err(format!("binned needs {EXAMPLE} (got {})", show(arg)));
    };
    for k in m.keys() {
        if !k
            .as_str()
            .is_some_and(|k| ["edges", "weights", "log"].contains(&k))
        {
            return Err(format!(
                "binned has no field {}; it takes {EXAMPLE}",
                show(k)
            ));
        }
    }
    let numbers = |name: &str| -> Result<Vec<f64>, String> {
        match m.get(name) {
            Some(Value::Sequence(s)) => s
                .iter()
                .map(|v| {
                    as_number(v)
                        .ok_or_else(|| format!("binned.{name} must hold numbers (got {})", show(v)))
                })
                .collect(),
            _ => Err(format!("binned needs a list `{name}`; write {EXAMPLE}")),
        }
    };
    let edges = numbers("edges")?;
    let weights = numbers("weights")?;
    let log = match m.get("log") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(format!(
                "binned.log must be true or false (got {})",
                show(v)
            ))
        }
    };
    if edges.len() < 2 || weights.len() + 1 != edges.len() {
        return Err(format!(
            "binned needs one weight per bin: {} edges make {} bins but {} weights are given",
            edges.len(),
            edges.len().saturating_sub(1),
            weights.len()
        ));
    }
    if edges.windows(2).any(|w| w[0] >= w[1]) {
        return Err("binned.edges must increase strictly".to_string());
    }
    if log && edges[0] <= 0.0 {
        return Err("binned with log: true needs positive edges".to_string());
    }
    if weights.iter().any(|w| *w < 0.0) || weights.iter().sum::<f64>() <= 0.0 {
        return Err("binned.weights must be >= 0 with at least one > 0".to_string());
    }
    Ok(NumberDist::Binned {
        edges,
        weights,
        log,
    })
}

impl CategoryDist {
    pub fn fixed(name: &str) -> Self {
        CategoryDist::Fixed(name.to_string())
    }

    /// Equal weights over `names`.
    pub fn choice_of(names: &[&str]) -> Self {
        CategoryDist::Choice {
            values: names.iter().map(|s| s.to_string()).collect(),
            weights: vec![1.0; names.len()],
        }
    }

    /// The names a draw can return (weight > 0).
    pub fn possible(&self) -> Vec<&str> {
        match self {
            CategoryDist::Fixed(s) => vec![s.as_str()],
            CategoryDist::Choice { values, weights } => values
                .iter()
                .zip(weights)
                .filter(|(_, w)| **w > 0.0)
                .map(|(v, _)| v.as_str())
                .collect(),
        }
    }

    /// Every name listed, including those with weight 0 (they still must be valid names).
    pub fn listed(&self) -> Vec<&str> {
        match self {
            CategoryDist::Fixed(s) => vec![s.as_str()],
            CategoryDist::Choice { values, .. } => values.iter().map(|s| s.as_str()).collect(),
        }
    }

    pub fn can_be(&self, name: &str) -> bool {
        self.possible().contains(&name)
    }

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> String {
        match self {
            CategoryDist::Fixed(s) => s.clone(),
            CategoryDist::Choice { values, weights } => values[pick_weighted(rng, weights)].clone(),
        }
    }

    pub fn from_value(value: &Value) -> Result<Self, String> {
        if let Some(s) = as_name(value) {
            return Ok(CategoryDist::Fixed(s));
        }
        let (form, arg) = single_key(value, CATEGORY_FORMS)?;
        match form {
            "fixed" => as_name(arg)
                .map(CategoryDist::Fixed)
                .ok_or_else(|| format!("fixed needs a name (got {})", show(arg))),
            "choice" => {
                let (keys, weights) = choice_entries(arg)?;
                let values = keys
                    .iter()
                    .map(|k| {
                        as_name(k).ok_or_else(|| format!("choice needs names (got {})", show(k)))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(CategoryDist::Choice { values, weights })
            }
            other => Err(unknown_form(other, CATEGORY_FORMS)),
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            CategoryDist::Fixed(s) => Value::String(s.clone()),
            CategoryDist::Choice { values, weights } => one_key(
                "choice",
                choice_value(values.iter().map(|v| Value::String(v.clone())), weights),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for NumberDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        NumberDist::from_value(&value).map_err(serde::de::Error::custom)
    }
}

impl Serialize for NumberDist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for CategoryDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        CategoryDist::from_value(&value).map_err(serde::de::Error::custom)
    }
}

impl Serialize for CategoryDist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

/// True for a one-key mapping whose key is a distribution keyword.
pub fn is_dist_mapping(value: &Value) -> bool {
    match value {
        Value::Mapping(m) if m.len() == 1 => m
            .keys()
            .next()
            .and_then(Value::as_str)
            .is_some_and(|k| DIST_KEYWORDS.contains(&k)),
        _ => false,
    }
}

fn draw_uniform<R: Rng + ?Sized>(rng: &mut R, min: f64, max: f64) -> f64 {
    match Uniform::new_inclusive(min, max) {
        Ok(u) => u.sample(rng),
        // Only reachable for non-finite bounds, which parsing rejects.
        Err(_) => min,
    }
}

fn draw_normal<R: Rng + ?Sized>(rng: &mut R, mean: f64, std: f64) -> f64 {
    match Normal::new(mean, std) {
        Ok(n) => n.sample(rng),
        Err(_) => mean,
    }
}

/// Index drawn with probability proportional to its weight (weights validated at parse time).
fn pick_weighted<R: Rng + ?Sized>(rng: &mut R, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    let mut last_live = 0;
    for (i, w) in weights.iter().enumerate() {
        if *w > 0.0 {
            if u < *w {
                return i;
            }
            u -= w;
            last_live = i;
        }
    }
    // Rounding can leave u just above the last bucket.
    last_live
}

fn single_key<'a>(value: &'a Value, forms: &str) -> Result<(&'a str, &'a Value), String> {
    let Value::Mapping(m) = value else {
        return Err(format!("{forms} (got {})", show(value)));
    };
    if m.len() != 1 {
        return Err(format!(
            "{forms}; a distribution is a mapping with exactly one key (got {} keys)",
            m.len()
        ));
    }
    let (k, v) = m.iter().next().ok_or_else(|| forms.to_string())?;
    let k = k
        .as_str()
        .ok_or_else(|| format!("{forms} (got key {})", show(k)))?;
    Ok((k, v))
}

fn unknown_form(form: &str, forms: &str) -> String {
    format!("unknown distribution `{form}`; {forms}")
}

fn bounds(arg: &Value, form: &str) -> Result<(f64, f64), String> {
    let pair = match arg {
        Value::Sequence(s) if s.len() == 2 => (as_number(&s[0]), as_number(&s[1])),
        _ => (None, None),
    };
    let (Some(min), Some(max)) = pair else {
        return Err(format!(
            "{form} needs [min, max] with min <= max (got {})",
            show(arg)
        ));
    };
    if min > max {
        return Err(format!(
            "{form} needs [min, max] with min <= max (got [{}, {}]); swap the bounds",
            fmt_num(min),
            fmt_num(max)
        ));
    }
    Ok((min, max))
}

fn check_std(std: f64, form: &str) -> Result<(), String> {
    if std < 0.0 {
        return Err(format!(
            "{form} needs std >= 0 (got {}); use a positive standard deviation",
            fmt_num(std)
        ));
    }
    Ok(())
}

/// The named numeric fields of a mapping, in the order of `names`; all required, no others.
fn number_fields(arg: &Value, form: &str, names: &[&str]) -> Result<Vec<f64>, String> {
    let example = names
        .iter()
        .map(|n| format!("{n}: ..."))
        .collect::<Vec<_>>()
        .join(", ");
    let Value::Mapping(m) = arg else {
        return Err(format!("{form} needs {{{example}}} (got {})", show(arg)));
    };
    for k in m.keys() {
        let known = k.as_str().is_some_and(|k| names.contains(&k));
        if !known {
            return Err(format!(
                "{form} has no field {}; it takes {{{example}}}",
                show(k)
            ));
        }
    }
    names
        .iter()
        .map(|n| match m.get(*n) {
            Some(v) => {
                as_number(v).ok_or_else(|| format!("{form}.{n} must be a number (got {})", show(v)))
            }
            None => Err(format!("{form} needs `{n}`; write {{{example}}}")),
        })
        .collect()
}

/// `[v1, v2]` (equal weights) or `{v1: w1, v2: w2}`; returns keys and validated weights.
fn choice_entries(arg: &Value) -> Result<(Vec<Value>, Vec<f64>), String> {
    let (keys, weights): (Vec<Value>, Vec<f64>) = match arg {
        Value::Sequence(s) => (s.clone(), vec![1.0; s.len()]),
        Value::Mapping(m) => {
            let mut keys = Vec::new();
            let mut weights = Vec::new();
            for (k, w) in m {
                let w = as_number(w).ok_or_else(|| {
                    format!(
                        "choice weight of {} must be a number (got {})",
                        show(k),
                        show(w)
                    )
                })?;
                if !(w >= 0.0 && w.is_finite()) {
                    return Err(format!(
                        "choice weight of {} must be >= 0 (got {}); use 0 to disable an entry",
                        show(k),
                        fmt_num(w)
                    ));
                }
                keys.push(k.clone());
                weights.push(w);
            }
            (keys, weights)
        }
        _ => {
            return Err(format!(
                "choice needs a list `[a, b]` or a mapping of weights `{{a: 2, b: 1}}` (got {})",
                show(arg)
            ))
        }
    };
    if keys.is_empty() {
        return Err("choice needs at least one entry".to_string());
    }
    if weights.iter().sum::<f64>() <= 0.0 {
        return Err("choice needs at least one weight > 0".to_string());
    }
    Ok((keys, weights))
}

fn choice_value(keys: impl Iterator<Item = Value>, weights: &[f64]) -> Value {
    let keys: Vec<Value> = keys.collect();
    if weights.iter().all(|w| *w == weights[0]) {
        Value::Sequence(keys)
    } else {
        let mut m = Mapping::new();
        for (k, w) in keys.into_iter().zip(weights) {
            m.insert(k, num(*w));
        }
        Value::Mapping(m)
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        // Mapping keys such as `{1.5: 2}` arrive as numbers, but quoted ones as strings.
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

fn as_name(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn num(x: f64) -> Value {
    // Whole numbers are written without a fraction, as a user would.
    if x.fract() == 0.0 && x.abs() < 1e15 {
        Value::Number((x as i64).into())
    } else {
        Value::Number(x.into())
    }
}

fn one_key(key: &str, value: Value) -> Value {
    let mut m = Mapping::new();
    m.insert(Value::String(key.to_string()), value);
    Value::Mapping(m)
}

fn fields(pairs: &[(&str, f64)]) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::String(k.to_string()), num(*v));
    }
    Value::Mapping(m)
}

pub(crate) fn fmt_num(x: f64) -> String {
    format!("{x}")
}

/// A YAML value on one line, for messages.
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::Null => "nothing".to_string(),
        Value::String(s) => format!("\"{s}\""),
        other => serde_json::to_string(other)
            .unwrap_or_else(|_| "a value".to_string())
            .replace(',', ", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn parse(yaml: &str) -> Result<NumberDist, String> {
        NumberDist::from_value(&serde_yaml::from_str(yaml).unwrap())
    }

    fn draws(d: &NumberDist, n: usize) -> Vec<f64> {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    fn mean_std(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var.sqrt())
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(parse("3").unwrap(), NumberDist::Fixed(3.0));
        assert_eq!(parse("{fixed: 2.5}").unwrap(), NumberDist::Fixed(2.5));
        assert_eq!(
            parse("{uniform: [1, 2]}").unwrap(),
            NumberDist::uniform(1.0, 2.0)
        );
        assert_eq!(
            parse("{normal: {mean: 1, std: 0.5}}").unwrap(),
            NumberDist::Normal {
                mean: 1.0,
                std: 0.5
            }
        );
        assert_eq!(
            parse("{truncated_normal: {mean: 0, std: 1, min: -1, max: 2}}").unwrap(),
            NumberDist::TruncatedNormal {
                mean: 0.0,
                std: 1.0,
                min: -1.0,
                max: 2.0
            }
        );
        assert_eq!(
            parse("{log_uniform: [0.1, 10]}").unwrap(),
            NumberDist::LogUniform {
                min: 0.1,
                max: 10.0
            }
        );
        assert_eq!(
            parse("{choice: {1: 1, 1.5: 3}}").unwrap(),
            NumberDist::Choice {
                values: vec![1.0, 1.5],
                weights: vec![1.0, 3.0]
            }
        );
        let c = CategoryDist::from_value(&serde_yaml::from_str("{choice: [a, b]}").unwrap());
        assert_eq!(c.unwrap(), CategoryDist::choice_of(&["a", "b"]));
        let f = CategoryDist::from_value(&serde_yaml::from_str("metal").unwrap());
        assert_eq!(f.unwrap(), CategoryDist::fixed("metal"));
    }

    #[test]
    fn round_trips_through_yaml() {
        for src in [
            "3",
            "{uniform: [1, 2.5]}",
            "{normal: {mean: 1, std: 0.5}}",
            "{truncated_normal: {mean: 0, std: 1, min: -1, max: 2}}",
            "{log_uniform: [0.1, 10]}",
            "{choice: [1, 2]}",
            "{choice: {1: 1, 2: 3}}",
        ] {
            let d = parse(src).unwrap();
            assert_eq!(NumberDist::from_value(&d.to_value()).unwrap(), d, "{src}");
        }
    }

    #[test]
    fn bad_forms_explain_themselves() {
        let cases = [
            (
                "\"abc\"",
                "expected a number or one of fixed/uniform/normal",
            ),
            (
                "{uniform: [40, 10]}",
                "uniform needs [min, max] with min <= max (got [40, 10]); swap the bounds",
            ),
            (
                "{uniform: [1]}",
                "uniform needs [min, max] with min <= max (got [1])",
            ),
            ("{log_uniform: [0, 1]}", "log_uniform needs 0 < min <= max"),
            ("{normal: {mean: 1}}", "normal needs `std`"),
            ("{normal: {mean: 1, std: -1}}", "normal needs std >= 0"),
            ("{normal: {mean: 1, sd: 1}}", "normal has no field \"sd\""),
            ("{gaussian: [1, 2]}", "unknown distribution `gaussian`"),
            ("{choice: []}", "choice needs at least one entry"),
            ("{choice: {1: -1, 2: 1}}", "choice weight of 1 must be >= 0"),
            ("{choice: {1: 0}}", "choice needs at least one weight > 0"),
            (
                "{uniform: [1, 2], normal: {mean: 0, std: 1}}",
                "exactly one key (got 2 keys)",
            ),
        ];
        for (src, want) in cases {
            let err = parse(src).unwrap_err();
            assert!(err.contains(want), "{src}: got `{err}`, want `{want}`");
        }
        let err = CategoryDist::from_value(&serde_yaml::from_str("[a, b]").unwrap()).unwrap_err();
        assert!(
            err.contains("expected a name or one of fixed/choice"),
            "{err}"
        );
    }

    #[test]
    fn uniform_and_log_uniform_stay_in_bounds_and_fill_them() {
        let xs = draws(&NumberDist::uniform(2.0, 5.0), 20_000);
        assert!(xs.iter().all(|x| (2.0..=5.0).contains(x)));
        let (mean, std) = mean_std(&xs);
        // U[2,5]: mean 3.5, std 3/sqrt(12) = 0.866; 20k draws give a standard error of ~0.006.
        assert!((mean - 3.5).abs() < 0.03, "mean {mean}");
        assert!((std - 0.866).abs() < 0.02, "std {std}");
        let logs = draws(
            &NumberDist::LogUniform {
                min: 1.0,
                max: 100.0,
            },
            20_000,
        );
        assert!(logs.iter().all(|x| (1.0..=100.0).contains(x)));
        // Half of the mass lies below the geometric mean 10.
        let below = logs.iter().filter(|x| **x < 10.0).count() as f64 / logs.len() as f64;
        assert!((below - 0.5).abs() < 0.02, "below {below}");
    }

    #[test]
    fn normal_matches_its_moments() {
        let xs = draws(
            &NumberDist::Normal {
                mean: 3.0,
                std: 2.0,
            },
            40_000,
        );
        let (mean, std) = mean_std(&xs);
        // Standard errors: 2/sqrt(40k) = 0.01 for the mean, ~0.007 for the std; 5 sigma tolerances.
        assert!((mean - 3.0).abs() < 0.05, "mean {mean}");
        assert!((std - 2.0).abs() < 0.04, "std {std}");
    }

    #[test]
    fn truncated_normal_respects_bounds_and_shape() {
        let d = NumberDist::TruncatedNormal {
            mean: 0.0,
            std: 1.0,
            min: -1.0,
            max: 1.0,
        };
        let xs = draws(&d, 40_000);
        assert!(xs.iter().all(|x| (-1.0..=1.0).contains(x)));
        let (mean, std) = mean_std(&xs);
        // Standard normal truncated to [-1, 1]: mean 0, std 0.5376.
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((std - 0.5376).abs() < 0.01, "std {std}");
    }

    #[test]
    fn choice_frequencies_follow_weights() {
        let d = NumberDist::Choice {
            values: vec![1.0, 2.0, 3.0],
            weights: vec![1.0, 2.0, 0.0],
        };
        let xs = draws(&d, 30_000);
        let share = |v: f64| xs.iter().filter(|x| **x == v).count() as f64 / xs.len() as f64;
        // Binomial standard error at 30k draws is ~0.003; tolerance 0.015.
        assert!((share(1.0) - 1.0 / 3.0).abs() < 0.015, "{}", share(1.0));
        assert!((share(2.0) - 2.0 / 3.0).abs() < 0.015, "{}", share(2.0));
        assert_eq!(share(3.0), 0.0, "weight 0 is never drawn");
        let c = CategoryDist::choice_of(&["a", "b", "c", "d"]);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let n = 20_000;
        let a = (0..n).filter(|_| c.sample(&mut rng) == "a").count() as f64 / n as f64;
        assert!((a - 0.25).abs() < 0.015, "{a}");
    }

    #[test]
    fn support_reports_reachable_values() {
        assert_eq!(NumberDist::uniform(1.0, 2.0).support(), (1.0, 2.0));
        let c = NumberDist::Choice {
            values: vec![5.0, 1.0, 9.0],
            weights: vec![1.0, 1.0, 0.0],
        };
        assert_eq!(c.support(), (1.0, 5.0));
        let n = NumberDist::Normal {
            mean: 0.0,
            std: 1.0,
        }
        .support();
        assert!(n.0.is_infinite() && n.1.is_infinite());
    }
}
