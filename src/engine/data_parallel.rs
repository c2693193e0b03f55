//! The engine's data-parallel mode (docs/SCALE.md): one process per rank, each running the
//! same loop on its own part of the data, synchronised as PyTorch's DistributedDataParallel
//! synchronises (its defaults):
//! - at the start, every variable of the model (parameters and buffers) is broadcast from
//!   rank 0, as DDP does when it wraps a module (also after a resume, where every rank has
//!   read the same checkpoint);
//! - before each iteration, rank 0's buffers (batch-norm running statistics) are broadcast
//!   (`broadcast_buffers=True`);
//! - every optimizer step first replaces the gradients by their mean over the ranks
//!   (`Optimizer::sync_gradients`: bucketed all-reduce), so clipping and the update see the
//!   gradient of the global batch and every rank applies the same update;
//! - rank 0 alone evaluates and writes checkpoints, metrics, plots and the summary.
use std::sync::Arc;

use tch::{nn, Tensor};

use super::step::TrainStep;
use crate::nn::distributed::{Launch, ProcessGroup, RankSlice};
use crate::nn::TrainError;

/// A run's process group and its place in it.
pub struct DataParallel {
    pub group: Arc<ProcessGroup>,
    pub launch: Launch,
}

impl DataParallel {
    pub fn rank(&self) -> usize {
        self.group.rank()
    }

    pub fn world(&self) -> usize {
        self.group.world()
    }

    /// The part of the training data this rank reads.
    pub fn slice(&self) -> RankSlice {
        RankSlice {
            rank: self.rank(),
            world: self.world(),
        }
    }

    /// Gradient averaging in every optimizer of `step`.
    pub fn attach(&self, step: &mut dyn TrainStep) {
        for o in step.optimizers_mut() {
            o.sync_gradients(self.group.clone());
        }
    }

    /// Every variable of `vs` (sorted by name, the same order on every rank) set to rank 0's.
    pub fn broadcast_model(&self, vs: &nn::VarStore) -> Result<(), TrainError> {
        self.broadcast(vs, |_| true)
    }

    /// The variables that are not trained (batch-norm running statistics) set to rank 0's.
    pub fn broadcast_buffers(&self, vs: &nn::VarStore) -> Result<(), TrainError> {
        self.broadcast(vs, |t| !t.requires_grad())
    }

    fn broadcast(
        &self,
        vs: &nn::VarStore,
        select: impl Fn(&Tensor) -> bool,
    ) -> Result<(), TrainError> {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| select(t))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let tensors: Vec<Tensor> = vars.into_iter().map(|(_, t)| t.detach()).collect();
        tch::no_grad(|| self.group.broadcast(&tensors, 0))?;
        Ok(())
    }

    /// A failure inside a step (a gradient all-reduce) as the run's error.
    pub fn check(&self) -> Result<(), TrainError> {
        match self.group.failure() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

/// The collective timeout: `SYNTHGEN_DIST_TIMEOUT` seconds, default 1800 (PyTorch's default
/// process-group timeout). A rank that waits longer for another (a hung or stopped rank) fails.
pub fn timeout() -> Result<std::time::Duration, TrainError> {
    let var = "SYNTHGEN_DIST_TIMEOUT";
    match std::env::var(var) {
        Err(_) => Ok(std::time::Duration::from_secs(1800)),
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(std::time::Duration::from_secs_f64)
            .ok_or_else(|| {
                TrainError::NotDataParallel(format!(
                    "{var}={v} cannot be used: give the collective timeout in seconds, e.g. {var}=600."
                ))
            }),
    }
}

impl DataParallel {
    /// The launch this process is part of (torchrun's or an srun step's variables, see
    /// `nn::distributed::launch`); None for one process. Nothing is connected yet, so a
    /// command can refuse what data-parallel mode does not support before the rendezvous.
    pub fn launch_from_env() -> Result<Option<Launch>, TrainError> {
        Ok(crate::nn::distributed::detect(&|k| std::env::var(k).ok())?)
    }

    /// Joins the rendezvous of `launch` with the other ranks.
    pub fn connect(launch: Launch) -> Result<DataParallel, TrainError> {
        let group = ProcessGroup::connect(&launch, timeout()?)?;
        tracing::info!(
            "data-parallel rank {} of {} ({:?}, rendezvous {}:{})",
            launch.rank,
            launch.world,
            launch.launcher,
            launch.master_addr,
            launch.master_port
        );
        Ok(DataParallel {
            group: Arc::new(group),
            launch,
        })
    }

    /// On the CPU without OMP_NUM_THREADS (srun sets none; torchrun sets 1), the ranks on
    /// one node share its cores: libtorch gets cores / ranks-on-this-node threads.
    pub fn share_cores(&self, cuda: bool) {
        if cuda || std::env::var_os("OMP_NUM_THREADS").is_some() {
            return;
        }
        let local = ["LOCAL_WORLD_SIZE", "SLURM_STEP_TASKS_PER_NODE"]
            .iter()
            .find_map(|v| {
                let s = std::env::var(v).ok()?;
                let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<usize>().ok()
            })
            .unwrap_or(self.world())
            .max(1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tch::set_num_threads((cores / local).max(1) as i32);
    }

    /// The device of this rank: CUDA device LOCAL_RANK when `device` is a CUDA device.
    pub fn device(&self, device: tch::Device) -> tch::Device {
        match device {
            tch::Device::Cuda(_) => tch::Device::Cuda(self.launch.local_rank),
            d => d,
        }
    }

    /// What the summary records about the run's ranks.
    pub fn summary(&self, per_rank_batch: usize, lr: f64) -> DataParallelSummary {
        let world = self.world();
        DataParallelSummary {
            world_size: world,
            launcher: self.launch.launcher,
            backend: "gloo".into(),
            per_rank_batch,
            global_batch: per_rank_batch * world,
            lr_rule: format!(
                "lr {lr} is applied as given to the mean gradient of the global batch of {} ({} ranks x {per_rank_batch}); it is not scaled with the number of ranks",
                per_rank_batch * world,
                world
            ),
            synchronised: "weights broadcast from rank 0 at start; gradients averaged by all-reduce before clipping and each optimizer step; batch-norm buffers broadcast from rank 0 before every iteration; each rank reads every world-th training image from its rank on".into(),
        }
    }
}

/// The `data_parallel` part of a run summary.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DataParallelSummary {
    pub world_size: usize,
    pub launcher: crate::nn::distributed::Launcher,
    pub backend: String,
    pub per_rank_batch: usize,
    pub global_batch: usize,
    pub lr_rule: String,
    pub synchronised: String,
}
