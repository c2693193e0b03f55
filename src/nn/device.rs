//! Device selection. The linker drops `libtorch_cuda.so` (nothing references it directly), so
//! one binary serves CPU and GPU machines by loading it at start-up, before any tch call, when
//! it sits next to the loaded `libtorch_cpu.so`. After that `tch::Cuda::is_available()` works.
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};

use tch::Device;

use super::threads::FreeCpuTeam;

/// A libtorch symbol whose address tells where `libtorch_cpu.so` was loaded from; it is also the
/// setter of the autocast dtype, which tch does not expose.
const SET_AUTOCAST_DTYPE: &str =
    "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    Cpu,
    Cuda,
    /// CUDA when a GPU is usable, else the CPU.
    Auto,
}

/// The folder of the libtorch that this process loaded (dladdr on a libtorch symbol), else the
/// LIBTORCH path the binary was built against.
pub fn libtorch_lib_dir() -> Option<PathBuf> {
    let sym = CString::new(SET_AUTOCAST_DTYPE).ok()?;
    // SAFETY: dlsym/dladdr only read the loader's tables; the returned name is copied at once.
    let from_loader = unsafe {
        let addr = libc::dlsym(libc::RTLD_DEFAULT, sym.as_ptr());
        let mut info: libc::Dl_info = std::mem::zeroed();
        if !addr.is_null() && libc::dladdr(addr, &mut info) != 0 && !info.dli_fname.is_null() {
            let file = CStr::from_ptr(info.dli_fname)
                .to_string_lossy()
                .into_owned();
            Path::new(&file).parent().map(Path::to_path_buf)
        } else {
            None
        }
    };
    from_loader.or_else(|| option_env!("LIBTORCH").map(|l| Path::new(l).join("lib")))
}

/// Loads `libtorch_cuda.so` globally when present; returns the path loaded. Failure (e.g. no
/// CUDA runtime libraries on a CPU machine) is logged and leaves the CPU path intact.
pub fn preload_cuda() -> Option<PathBuf> {
    let lib = libtorch_lib_dir()?.join("libtorch_cuda.so");
    if !lib.is_file() {
        tracing::debug!("no {} next to libtorch: CPU only", lib.display());
        return None;
    }
    let c = CString::new(lib.to_string_lossy().as_bytes()).ok()?;
    // SAFETY: dlopen of a libtorch component that matches the loaded libtorch_cpu; the handle is
    // kept for the life of the process on purpose.
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns a thread-local message or null.
        let why = unsafe {
            let e = libc::dlerror();
            if e.is_null() {
                "unknown error".to_string()
            } else {
                CStr::from_ptr(e).to_string_lossy().into_owned()
            }
        };
        tracing::info!("CUDA libtorch not loaded ({why}); using the CPU");
        return None;
    }
    Some(lib)
}

/// Resolves the requested device; `Cuda` without a usable GPU is an error. The first call of a
/// process says which device it picked, and why the CPU when it is the CPU.
pub fn select(choice: DeviceChoice) -> Result<Device, String> {
    if choice == DeviceChoice::Cpu {
        report("torch device: cpu (--device cpu)".into());
        return Ok(Device::Cpu);
    }
    let loaded = preload_cuda();
    let available = tch::Cuda::is_available();
    match (choice, available) {
        (_, true) => {
            report(format!(
                "torch device: cuda:0 ({} CUDA GPU(s) visible)",
                tch::Cuda::device_count()
            ));
            Ok(Device::Cuda(0))
        }
        (DeviceChoice::Cuda, false) => Err(
            "--device cuda was asked for but no CUDA GPU is usable (libtorch_cuda.so missing or no driver); use --device cpu or auto"
                .into(),
        ),
        _ => {
            let why = match loaded {
                None => "libtorch_cuda.so not loaded",
                Some(_) => "CUDA sees no GPU",
            };
            report(format!("torch device: cpu (no CUDA GPU usable: {why})"));
            Ok(Device::Cpu)
        }
    }
}

/// The device line of the first `select`, logged by `announce` (a study trains many times).
static DEVICE_LINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn report(line: String) {
    let _ = DEVICE_LINE.set(line);
}

/// Logs which torch device `select` chose, once per process. Callers announce once the run's
/// inputs have been checked, so that a refused input stays the only line on stderr.
pub fn announce() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if let Some(line) = DEVICE_LINE.get() {
        ONCE.call_once(|| tracing::info!("{line}"));
    }
}

/// How a run shares the machine's cores between the batch loader and libtorch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadPlan {
    /// Decode/augment worker threads of the loader.
    pub loader_workers: usize,
    /// libtorch's intra-op (OpenMP) threads, at most; None leaves libtorch's own choice (GPU
    /// runs).
    pub torch_threads: Option<usize>,
    /// The team follows the free CPUs of the machine (`threads::FreeCpuTeam`), up to
    /// `torch_threads`; false: exactly `torch_threads`.
    pub follow_free_cpus: bool,
}

/// The thread policy of `train` and `adapt`. On the CPU libtorch gets the cores that are free:
/// its step costs seconds per batch while decoding a batch costs milliseconds, so one loader
/// worker keeps up and reserving cores for the loader only idles them. An OpenMP team with more
/// threads than free cores waits at every operation for the thread that shares its core with
/// another process (beside one busy process on 2 cores, 2 threads ran 3.6x slower than 1), so
/// the team is sized to the CPUs that other processes leave free, measured while the run goes
/// (`threads`; bench/threads.sh). `omp_threads` (OMP_NUM_THREADS) fixes the team, as it does in
/// PyTorch: the test suite sets it to 1. On a GPU the CPU does nothing else, so the loader gets
/// every core. `requested` (--workers) sets the loader's share without taking cores from
/// libtorch.
pub fn thread_plan(
    requested: Option<usize>,
    cuda: bool,
    cores: usize,
    omp_threads: Option<usize>,
) -> ThreadPlan {
    let cores = cores.max(1);
    ThreadPlan {
        loader_workers: requested.unwrap_or(if cuda { cores } else { 1 }).max(1),
        torch_threads: (!cuda).then(|| omp_threads.unwrap_or(cores).max(1)),
        follow_free_cpus: !cuda && omp_threads.is_none(),
    }
}

thread_local! {
    /// The team that follows the free CPUs, kept by the thread that runs the steps: libtorch's
    /// thread count is per calling thread under OpenMP, so only that thread may re-size it.
    static TEAM: std::cell::RefCell<Option<FreeCpuTeam>> = const { std::cell::RefCell::new(None) };
}

/// `thread_plan` for this machine and environment, applied to libtorch from the calling thread
/// (the one that will run the steps); returns the loader's worker count. On the CPU it also
/// keeps freed memory for reuse (`host_memory`), since libtorch's step allocates and frees its
/// activations from the host heap.
pub fn apply_thread_plan(requested: Option<usize>, cuda: bool) -> usize {
    if !cuda && !super::host_memory::keep_freed_memory() {
        tracing::debug!("the allocator keeps its default policy (not glibc)");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let omp = std::env::var("OMP_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0);
    let plan = thread_plan(requested, cuda, cores, omp);
    let team = plan
        .follow_free_cpus
        .then(|| FreeCpuTeam::start(plan.torch_threads.unwrap_or(cores)))
        .flatten();
    let threads = team
        .as_ref()
        .map(FreeCpuTeam::threads)
        .or(plan.torch_threads);
    if let Some(t) = threads {
        tch::set_num_threads(t as i32);
        tracing::debug!(
            "libtorch threads: {t} of {cores} cores ({})",
            if team.is_some() {
                "the free CPUs, re-measured every 2 s"
            } else {
                "fixed"
            }
        );
    }
    TEAM.with(|cell| *cell.borrow_mut() = team);
    plan.loader_workers
}

/// Re-sizes libtorch's team to the free CPUs when `apply_thread_plan` chose to follow them and
/// the re-measuring interval has passed (cheap otherwise: call it between steps).
pub fn retune_threads() {
    TEAM.with(|cell| {
        if let Some(t) = cell.borrow_mut().as_mut().and_then(FreeCpuTeam::tick) {
            tch::set_num_threads(t as i32);
            tracing::debug!("libtorch threads: {t} (free CPUs changed)");
        }
    });
}

/// Makes CUDA autocast use bfloat16 instead of float16 (no loss scaling needed). Returns false
/// when the libtorch symbol is missing, in which case the caller should not autocast.
pub fn set_cuda_autocast_bf16() -> bool {
    const CUDA: i8 = 1; // c10::DeviceType::CUDA
    const BFLOAT16: i8 = 15; // c10::ScalarType::BFloat16
    let Ok(sym) = CString::new(SET_AUTOCAST_DTYPE) else {
        return false;
    };
    // SAFETY: the symbol is `void at::autocast::set_autocast_dtype(c10::DeviceType,
    // c10::ScalarType)`; both enums are int8-backed, passed as integers in the C++ ABI.
    unsafe {
        let addr = libc::dlsym(libc::RTLD_DEFAULT, sym.as_ptr());
        if addr.is_null() {
            return false;
        }
        let f: extern "C" fn(i8, i8) = std::mem::transmute(addr);
        f(CUDA, BFLOAT16);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_loaded_libtorch() {
        let dir = libtorch_lib_dir().expect("libtorch is linked");
        assert!(dir.join("libtorch_cpu.so").is_file(), "{}", dir.display());
    }

    #[test]
    fn libtorch_follows_the_free_cores_on_the_cpu_unless_fixed() {
        let p = thread_plan(None, false, 2, None);
        assert_eq!(
            (p.loader_workers, p.torch_threads, p.follow_free_cpus),
            (1, Some(2), true)
        );
        let p = thread_plan(Some(3), false, 16, None);
        assert_eq!(
            (p.loader_workers, p.torch_threads, p.follow_free_cpus),
            (3, Some(16), true)
        );
        let p = thread_plan(None, false, 16, Some(1));
        assert_eq!(
            (p.loader_workers, p.torch_threads, p.follow_free_cpus),
            (1, Some(1), false)
        );
        let p = thread_plan(None, true, 8, Some(1));
        assert_eq!(
            (p.loader_workers, p.torch_threads, p.follow_free_cpus),
            (8, None, false)
        );
    }

    #[test]
    fn cpu_is_always_selectable() {
        assert_eq!(select(DeviceChoice::Cpu), Ok(Device::Cpu));
    }
}
