//! Seeded train/test split of a class's models. A model's side depends only on
//! (seed, key), so adding or removing a model never moves another one; only the two
//! guarantees (a train model always, a test model from two models on) may move the
//! single model closest to the boundary.
use super::entry::ModelEntry;
use super::error::AssetError;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq)]
pub struct ModelSplit<'a> {
    /// Sorted by key.
    pub train: Vec<&'a ModelEntry>,
    /// Sorted by key.
    pub test: Vec<&'a ModelEntry>,
}

/// Splits the models of `class` (entries of other classes are ignored).
pub fn split_models<'a>(
    models: impl IntoIterator<Item = &'a ModelEntry>,
    class: &str,
    test_fraction: f64,
    seed: u64,
) -> Result<ModelSplit<'a>, AssetError> {
    if !(0.0..=1.0).contains(&test_fraction) {
        return Err(AssetError::InvalidTestFraction {
            value: test_fraction,
        });
    }
    let mut scored: Vec<(f64, &ModelEntry)> = models
        .into_iter()
        .filter(|m| m.class.as_deref() == Some(class))
        .map(|m| (unit_score(seed, &m.key), m))
        .collect();
    scored.sort_by(|a, b| a.1.key.cmp(&b.1.key));
    scored.dedup_by(|a, b| a.1.key == b.1.key);

    let mut is_test: Vec<bool> = scored.iter().map(|(u, _)| *u < test_fraction).collect();
    let by_score = |pick_max: bool, want_test: bool, flags: &[bool]| {
        scored
            .iter()
            .enumerate()
            .filter(|(i, _)| flags[*i] == want_test)
            .max_by(|a, b| {
                let ord = a.1 .0.total_cmp(&b.1 .0);
                if pick_max {
                    ord
                } else {
                    ord.reverse()
                }
            })
            .map(|(i, _)| i)
    };
    if !scored.is_empty() && is_test.iter().all(|&t| t) {
        // The test model scored highest is the one nearest to being train.
        if let Some(i) = by_score(true, true, &is_test) {
            is_test[i] = false;
        }
    }
    if scored.len() >= 2 && test_fraction > 0.0 && !is_test.iter().any(|&t| t) {
        if let Some(i) = by_score(false, false, &is_test) {
            is_test[i] = true;
        }
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for ((_, model), test_side) in scored.into_iter().zip(is_test) {
        if test_side {
            test.push(model);
        } else {
            train.push(model);
        }
    }
    Ok(ModelSplit { train, test })
}

/// A uniform number in [0, 1) from SHA-256(seed as little-endian bytes, key): portable
/// across platforms and Rust versions, unlike std's hasher.
fn unit_score(seed: u64, key: &str) -> f64 {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::entry::ModelLocation;
    use std::path::PathBuf;

    fn model(key: &str, class: &str) -> ModelEntry {
        ModelEntry {
            key: key.into(),
            source: "test".into(),
            name: key.into(),
            category: String::new(),
            tags: vec![],
            creator: String::new(),
            license: String::new(),
            size_cm: [1.0; 3],
            location: ModelLocation::File {
                path: PathBuf::from("m.obj"),
            },
            format: "obj".into(),
            up_axis: "Y".into(),
            model_rotation: None,
            class: Some(class.into()),
        }
    }

    fn keys(list: &[&ModelEntry]) -> Vec<String> {
        list.iter().map(|m| m.key.clone()).collect()
    }

    fn many(n: usize) -> Vec<ModelEntry> {
        (0..n)
            .map(|i| model(&format!("m{i:03}"), "chair"))
            .collect()
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let models = many(200);
        let a = split_models(&models, "chair", 0.25, 7).unwrap();
        let b = split_models(models.iter().rev(), "chair", 0.25, 7).unwrap();
        assert_eq!(keys(&a.test), keys(&b.test));
        let c = split_models(&models, "chair", 0.25, 8).unwrap();
        assert_ne!(keys(&a.test), keys(&c.test));
        assert_eq!(a.train.len() + a.test.len(), 200);
        // Roughly the asked fraction (binomial, 200 draws: 50 +- ~6 per sigma).
        assert!((25..=75).contains(&a.test.len()), "{}", a.test.len());
    }

    #[test]
    fn adding_models_never_moves_existing_ones() {
        let models = many(100);
        let before = split_models(&models, "chair", 0.3, 1).unwrap();
        let mut more = models.clone();
        more.extend((0..50).map(|i| model(&format!("new{i}"), "chair")));
        let after = split_models(&more, "chair", 0.3, 1).unwrap();
        let after_test = keys(&after.test);
        for key in keys(&before.test) {
            assert!(after_test.contains(&key), "{key} moved");
        }
        let after_train = keys(&after.train);
        for key in keys(&before.train) {
            assert!(after_train.contains(&key), "{key} moved");
        }
    }

    #[test]
    fn other_classes_are_ignored() {
        let mut models = many(10);
        models.push(model("lamp1", "lamp"));
        let split = split_models(&models, "chair", 0.5, 3).unwrap();
        assert!(!keys(&split.train).contains(&"lamp1".to_string()));
        assert!(!keys(&split.test).contains(&"lamp1".to_string()));
        assert_eq!(split.train.len() + split.test.len(), 10);
    }

    #[test]
    fn guarantees_hold_at_the_extremes() {
        for seed in 0..20 {
            let one = many(1);
            let s = split_models(&one, "chair", 0.99, seed).unwrap();
            assert_eq!((s.train.len(), s.test.len()), (1, 0));
            let two = many(2);
            let s = split_models(&two, "chair", 0.01, seed).unwrap();
            assert_eq!((s.train.len(), s.test.len()), (1, 1));
            let s = split_models(&two, "chair", 1.0, seed).unwrap();
            assert_eq!((s.train.len(), s.test.len()), (1, 1));
            let s = split_models(&two, "chair", 0.0, seed).unwrap();
            assert_eq!((s.train.len(), s.test.len()), (2, 0));
        }
        let none: Vec<ModelEntry> = Vec::new();
        let s = split_models(&none, "chair", 0.5, 0).unwrap();
        assert!(s.train.is_empty() && s.test.is_empty());
    }

    #[test]
    fn bad_fraction_is_an_error() {
        let models = many(3);
        for bad in [-0.1, 1.5, f64::NAN] {
            let err = split_models(&models, "chair", bad, 0).unwrap_err();
            assert!(err.to_string().contains("test_fraction"), "{err}");
        }
    }

    #[test]
    fn score_is_pinned() {
        // Pins the hash recipe: changing it would silently reshuffle every dataset's split.
        let u = unit_score(42, "sweethome3d:Blend Swap CC-0#armchair");
        assert!((0.0..1.0).contains(&u));
        assert_eq!(format!("{u:.12}"), PINNED);
    }
    const PINNED: &str = "0.360543529032";
}
