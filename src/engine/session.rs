//! The setup and the end that `synthgen train` and `synthgen adapt` share around `run`: this
//! process's place among the data-parallel ranks, the device and the thread budget, the seeded
//! VarStore and its `--init` weights; after the loop, the evaluation numbers of the summary,
//! summary.json and a diverged run's error. The commands keep what differs: their data, their
//! step, their schedule and their summary's fields.
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{nn, Device};

use super::data_parallel::{DataParallel, DataParallelSummary};
use super::output::write_json_atomic;
use super::run::Outcome;
use crate::nn::checkpoint::{self, InitReport};
use crate::nn::device::{self, DeviceChoice};
use crate::nn::distributed::Launch;
use crate::nn::metrics::BestTracker;
use crate::nn::TrainError;

/// This process's place in the run: one process, or one rank of a data-parallel launch.
pub struct Session {
    pub dp: Option<DataParallel>,
    /// Whether this process evaluates and writes the outputs (rank 0, or the only process).
    pub leader: bool,
}

impl Session {
    /// Joins the other ranks of `launch` (None: runs as one process).
    pub fn connect(launch: Option<Launch>) -> Result<Session, TrainError> {
        let dp = launch.map(DataParallel::connect).transpose()?;
        let leader = dp.as_ref().is_none_or(|d| d.rank() == 0);
        Ok(Session { dp, leader })
    }

    /// The torch device of this process and the loader's decode threads (libtorch gets the
    /// rest of the cores, shared between the ranks of a node).
    pub fn place(
        &self,
        choice: DeviceChoice,
        workers: Option<usize>,
    ) -> Result<(Device, usize), TrainError> {
        let device = device::select(choice).map_err(TrainError::Device)?;
        let device = self.dp.as_ref().map_or(device, |d| d.device(device));
        let workers = device::apply_thread_plan(workers, device.is_cuda());
        if let Some(d) = &self.dp {
            d.share_cores(device.is_cuda());
        }
        Ok((device, workers))
    }

    /// This rank's part of a set's training images (all of them for one process).
    pub fn take<T: Clone>(&self, items: &[T]) -> Vec<T> {
        match &self.dp {
            Some(d) => d.slice().take(items),
            None => items.to_vec(),
        }
    }

    /// The summary's record of the ranks (None for one process).
    pub fn summary(&self, per_rank_batch: usize, lr: f64) -> Option<DataParallelSummary> {
        self.dp.as_ref().map(|d| d.summary(per_rank_batch, lr))
    }
}

/// A VarStore on `device`, with torch seeded first as every run seeds it (so a model's initial
/// weights depend only on the run's seed).
pub fn seeded_store(seed: u64, device: Device) -> nn::VarStore {
    tch::manual_seed(checkpoint::torch_seed(seed, u64::MAX));
    nn::VarStore::new(device)
}

/// Loads the `--init` weights into `vs` (when given) and logs the line `describe` writes.
pub fn load_init(
    vs: &nn::VarStore,
    file: Option<&Path>,
    keep_head: bool,
    describe: impl Fn(&Path, &InitReport) -> String,
) -> Result<Option<InitReport>, TrainError> {
    let Some(file) = file else {
        return Ok(None);
    };
    let report = checkpoint::load_init(vs, file, keep_head)?;
    tracing::info!("{}", describe(file, &report));
    Ok(Some(report))
}

/// Best / last numbers of one evaluation set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalSummary {
    pub best_acc: Option<(u64, f64)>,
    pub best_mean: Option<(u64, f64)>,
    pub last_acc: Option<f64>,
    pub last_mean: Option<f64>,
    pub last_per_class: Vec<Option<f64>>,
}

impl From<&BestTracker> for EvalSummary {
    fn from(t: &BestTracker) -> Self {
        let last = t.last.as_ref();
        EvalSummary {
            best_acc: t.best_acc,
            best_mean: t.best_mean,
            last_acc: last.map(|r| r.acc),
            last_mean: last.map(|r| r.mean),
            last_per_class: last.map(|r| r.per_class.clone()).unwrap_or_default(),
        }
    }
}

impl Outcome {
    /// Best and last numbers of each evaluation set, as the summaries report them.
    pub fn evals(&self) -> BTreeMap<String, EvalSummary> {
        self.best
            .iter()
            .map(|(k, t)| (k.clone(), EvalSummary::from(t)))
            .collect()
    }
}

/// Ends a run: the leader writes `summary` to `<out>/summary.json`; then a diverged run
/// returns its error, and any other clears its progress bar and returns the summary.
pub fn finish<S: Serialize>(
    out: &Path,
    leader: bool,
    o: &Outcome,
    summary: S,
) -> Result<S, TrainError> {
    if leader {
        write_json_atomic(&out.join("summary.json"), &summary)?;
    }
    if let Some((value, at)) = o.diverged {
        o.bar.abandon_with_message("diverged");
        return Err(TrainError::NonFiniteLoss {
            value,
            step: at + 1,
            out: o.checkpoint.clone(),
        });
    }
    o.bar.finish_and_clear();
    Ok(summary)
}
