//! What a run renders: the classes, their models, and one job per (class, index), ordered so
//! that consecutive jobs share a model.
use crate::assets::ModelEntry;
use crate::render::denylist::Denylist;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// One class of the run with the models it draws from (already split, sorted, shuffled).
#[derive(Debug, Clone)]
pub struct ClassPlan {
    pub class: String,
    pub label: usize,
    /// Model order for this class: image `i` uses `models[(i + attempt) % n]`, skipping
    /// denylisted ones, so every model is used about equally and the choice is deterministic.
    pub models: Vec<ModelEntry>,
    /// Keys of the class's models on the test side of the model split.
    pub test_keys: std::collections::HashSet<String>,
}

impl ClassPlan {
    /// "train" or "test": the side of the model split a model is on.
    pub fn split_of(&self, key: &str) -> &'static str {
        if self.test_keys.contains(key) {
            "test"
        } else {
            "train"
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageJob {
    pub class: usize,
    pub index: u64,
}

/// A stable 64-bit seed from parts (sha256, so it is the same on every platform and version).
pub fn derive_seed(parts: &[&[u8]]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// Shuffles a class's models with a seed of (run seed, class), independent of other classes.
pub fn order_models(mut models: Vec<ModelEntry>, seed: u64, class: &str) -> Vec<ModelEntry> {
    models.sort_by(|a, b| a.key.cmp(&b.key));
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(&[
        b"model-order",
        &seed.to_le_bytes(),
        class.as_bytes(),
    ]));
    models.shuffle(&mut rng);
    models
}

/// The model for an image at an attempt: the first model not on the denylist, starting at
/// `(index + attempt) % n`. None when every model of the class is denylisted.
pub fn pick_model<'a>(
    plan: &'a ClassPlan,
    index: u64,
    attempt: u32,
    deny: &Denylist,
) -> Option<&'a ModelEntry> {
    let n = plan.models.len() as u64;
    (0..n)
        .map(|k| &plan.models[((index + attempt as u64 + k) % n) as usize])
        .find(|m| !deny.contains(&m.key))
}

/// Groups jobs into batches that share their first-choice model, so a worker keeps the model
/// loaded across the batch. Batches are capped so that work spreads over all workers.
pub fn batch_jobs(
    classes: &[ClassPlan],
    jobs: Vec<ImageJob>,
    deny: &Denylist,
    max_batch: usize,
) -> Vec<Vec<ImageJob>> {
    let key_of = |j: &ImageJob| {
        pick_model(&classes[j.class], j.index, 0, deny)
            .map(|m| m.key.clone())
            .unwrap_or_default()
    };
    let mut keyed: Vec<(String, ImageJob)> = jobs.into_iter().map(|j| (key_of(&j), j)).collect();
    keyed.sort_by(|a, b| (&a.0, a.1.class, a.1.index).cmp(&(&b.0, b.1.class, b.1.index)));
    let mut batches: Vec<Vec<ImageJob>> = Vec::new();
    let mut current_key: Option<String> = None;
    for (key, job) in keyed {
        let same = current_key.as_deref() == Some(key.as_str());
        match batches.last_mut() {
            Some(b) if same && b.len() < max_batch => b.push(job),
            _ => batches.push(vec![job]),
        }
        current_key = Some(key);
    }
    batches
}

/// The run's queue of batches, each with the first-choice model it shares, and the model
/// each worker slot took last. Workers take batches of the model they hold, else one whose
/// model no other worker holds, else the front: a model's batches (split so that work spreads)
/// then stay with one worker instead of being loaded by several. Which worker renders a job
/// never changes its image, only the time it takes.
#[derive(Debug, Default)]
pub struct BatchQueue {
    batches: std::collections::VecDeque<(String, Vec<ImageJob>)>,
    held: Vec<Option<String>>,
}

impl BatchQueue {
    /// Batches from [`batch_jobs`], keyed by the model of their first job.
    pub fn new(classes: &[ClassPlan], batches: Vec<Vec<ImageJob>>, deny: &Denylist) -> Self {
        let batches = batches
            .into_iter()
            .map(|b| {
                let key = b
                    .first()
                    .and_then(|j| pick_model(&classes[j.class], j.index, 0, deny))
                    .map(|m| m.key.clone())
                    .unwrap_or_default();
                (key, b)
            })
            .collect();
        BatchQueue {
            batches,
            held: Vec::new(),
        }
    }

    /// The next batch for worker `slot`; `None` when the queue is empty.
    pub fn take(&mut self, slot: usize) -> Option<Vec<ImageJob>> {
        if self.held.len() <= slot {
            self.held.resize(slot + 1, None);
        }
        let mine = self.held[slot].clone();
        let held_by_others = |key: &str| {
            self.held
                .iter()
                .enumerate()
                .any(|(w, k)| w != slot && k.as_deref() == Some(key))
        };
        let pick = mine
            .and_then(|k| self.batches.iter().position(|(key, _)| *key == k))
            .or_else(|| {
                self.batches
                    .iter()
                    .position(|(key, _)| !held_by_others(key))
            })
            .or((!self.batches.is_empty()).then_some(0))?;
        let (key, batch) = self.batches.remove(pick)?;
        self.held[slot] = Some(key);
        Some(batch)
    }
}

#[cfg(test)]
mod queue_tests {
    use super::*;

    fn job(index: u64) -> ImageJob {
        ImageJob { class: 0, index }
    }

    #[test]
    fn a_worker_keeps_taking_its_models_batches() {
        // Keys a, a, b, b in queue order: two workers alternating must each stay on one model.
        let mut q = BatchQueue {
            batches: [("a", 0), ("a", 1), ("b", 2), ("b", 3)]
                .into_iter()
                .map(|(k, i)| (k.to_string(), vec![job(i)]))
                .collect(),
            held: Vec::new(),
        };
        let order: Vec<(usize, u64)> = [0, 1, 0, 1]
            .into_iter()
            .map(|w| (w, q.take(w).expect("a batch")[0].index))
            .collect();
        assert_eq!(order, vec![(0, 0), (1, 2), (0, 1), (1, 3)]);
        assert!(q.take(0).is_none());
    }
}
