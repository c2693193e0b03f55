//! The built-in studies: one spec file per study and scale, embedded in the binary.
use super::error::StudyError;

/// (name, scale, spec text).
const SPECS: &[(&str, &str, &str)] = &[
    (
        "factor-ablation",
        "mini",
        include_str!("specs/factor-ablation.mini.yaml"),
    ),
    (
        "factor-ablation",
        "full",
        include_str!("specs/factor-ablation.full.yaml"),
    ),
    (
        "fixed-vs-nonrepetitive",
        "mini",
        include_str!("specs/fixed-vs-nonrepetitive.mini.yaml"),
    ),
    (
        "fixed-vs-nonrepetitive",
        "full",
        include_str!("specs/fixed-vs-nonrepetitive.full.yaml"),
    ),
    (
        "pretrain-for-da",
        "mini",
        include_str!("specs/pretrain-for-da.mini.yaml"),
    ),
    (
        "architectures",
        "mini",
        include_str!("specs/architectures.mini.yaml"),
    ),
    (
        "model-capacity",
        "mini",
        include_str!("specs/model-capacity.mini.yaml"),
    ),
    (
        "data-quantity",
        "mini",
        include_str!("specs/data-quantity.mini.yaml"),
    ),
    ("demo", "mini", include_str!("specs/demo.mini.yaml")),
];

/// The names of the built-in studies (each at least at one scale).
pub fn names() -> Vec<&'static str> {
    let mut n: Vec<&str> = SPECS.iter().map(|s| s.0).collect();
    n.dedup();
    n
}

pub fn text(name: &str, scale: &str) -> Result<&'static str, StudyError> {
    if let Some(s) = SPECS.iter().find(|s| s.0 == name && s.1 == scale) {
        return Ok(s.2);
    }
    let scales: Vec<&str> = SPECS.iter().filter(|s| s.0 == name).map(|s| s.1).collect();
    if scales.is_empty() {
        Err(StudyError::input(format!(
            "unknown study `{name}`: built in are {}; or give a spec file (.yaml)",
            names().join(", ")
        )))
    } else {
        Err(StudyError::input(format!(
            "study `{name}` has no `{scale}` scale; use --scale {}",
            scales.join(" or --scale ")
        )))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_builtin_spec_parses_and_plans() {
        for (name, scale, text) in super::SPECS {
            let source = format!("built-in study {name} ({scale})");
            let spec = crate::study::spec::parse(text, &source).unwrap_or_else(|e| panic!("{e}"));
            // Planning loads every dataset's preset with its overrides; nothing is written.
            let out = std::path::Path::new("/nonexistent/study");
            if let Err(e) = crate::study::stages::plan(&spec, out, None, false) {
                panic!("{e}");
            }
        }
    }
}
