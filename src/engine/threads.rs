//! How the cores are split between image decoding and libtorch.
use tch::Device;

/// Decode/augment threads for a run, and libtorch's share of the CPU. `requested`: the user's
/// `--workers`; None means all cores on CUDA and half of them on the CPU, because the other
/// half runs libtorch, whose OpenMP threads slow down tenfold when oversubscribed.
pub fn loader_workers(requested: Option<usize>, device: Device) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = match (requested, device.is_cuda()) {
        (Some(w), _) => w.max(1),
        (None, true) => cores,
        (None, false) => (cores / 2).max(1),
    };
    if !device.is_cuda() {
        tch::set_num_threads(cores.saturating_sub(workers).max(1) as i32);
    }
    workers
}
