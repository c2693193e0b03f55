//! `ProcessGroup`: a c10d process group (TCPStore rendezvous + ProcessGroupGloo) with the
//! collectives data-parallel training needs, and typed errors that name the rank that died.
use std::ffi::{c_char, CStr, CString};
use std::sync::Mutex;
use std::time::Duration;

use tch::Tensor;
use torch_sys::C_tensor;

use super::ffi;
use super::launch::Launch;

/// DDP's default bucket: 25 MiB of gradients per all-reduce.
pub const BUCKET_BYTES: i64 = 25 << 20;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DistError {
    #[error("{var}={value} cannot be used: {why}.")]
    BadEnv {
        var: String,
        value: String,
        why: String,
    },
    #[error("rank {rank}: the rendezvous at {addr}:{port} failed ({why}); check that MASTER_ADDR/MASTER_PORT are reachable from every rank, the port is free, and all {world} ranks started.")]
    Rendezvous {
        rank: usize,
        world: usize,
        addr: String,
        port: u16,
        why: String,
    },
    /// A collective failed: a rank died or stopped answering within the timeout.
    #[error("rank {rank}: {op} failed: {who}; the job cannot continue. Rerun the same command with --resume (same number of ranks) to continue from the last checkpoint.")]
    Collective {
        rank: usize,
        op: &'static str,
        who: String,
    },
}

/// Where a rank runs, exchanged at start-up so that a failure can name the rank that died.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Peer {
    pid: i64,
    host: i64,
}

/// A c10d process group over `world` ranks. Collectives must be called in the same order on
/// every rank (as with any c10d group). After the first failure every later call returns
/// that failure at once, and the C++ group is leaked rather than torn down (its destructor
/// could wait on a dead peer).
pub struct ProcessGroup {
    raw: *mut ffi::Group,
    rank: usize,
    world: usize,
    timeout: Duration,
    peers: Vec<Peer>,
    failed: Mutex<Option<DistError>>,
}

// SAFETY: the C++ group is thread-safe for enqueueing collectives (c10d's contract), and
// synthgen calls it from one thread at a time.
unsafe impl Send for ProcessGroup {}
unsafe impl Sync for ProcessGroup {}

/// Takes the shim's message (and frees it).
fn take_message(err: *mut c_char) -> String {
    if err.is_null() {
        return "unknown error".into();
    }
    // SAFETY: the shim returns a NUL-terminated malloc'd string, freed here once.
    let s = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    unsafe { ffi::sg_c10d_free_message(err) };
    s
}

fn this_host() -> i64 {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let name = buf.split(|&b| b == 0).next().unwrap_or_default();
    // FNV-1a, folded into the positive i64 range.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 1) as i64
}

/// Whether process `pid` on this host has ended (gone, or a zombie its launcher has not
/// reaped yet).
fn has_ended(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

impl ProcessGroup {
    /// Joins the rendezvous of `launch` and builds the Gloo group; waits at most `timeout`
    /// for the other ranks, and uses it for every collective.
    pub fn connect(launch: &Launch, timeout: Duration) -> Result<Self, DistError> {
        let rendezvous = |why: String| DistError::Rendezvous {
            rank: launch.rank,
            world: launch.world,
            addr: launch.master_addr.clone(),
            port: launch.master_port,
            why,
        };
        let host = CString::new(launch.master_addr.as_str())
            .map_err(|_| rendezvous("the address holds a NUL byte".into()))?;
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: plain values and a NUL-terminated string; the shim catches every exception.
        let raw = unsafe {
            ffi::sg_c10d_new_gloo(
                host.as_ptr(),
                launch.master_port as i32,
                launch.rank as i32,
                launch.world as i32,
                launch.agent_store as i32,
                timeout.as_millis() as i64,
                &mut err,
            )
        };
        if raw.is_null() {
            return Err(rendezvous(take_message(err)));
        }
        let mut group = ProcessGroup {
            raw,
            rank: launch.rank,
            world: launch.world,
            timeout,
            peers: Vec::new(),
            failed: Mutex::new(None),
        };
        let me = Tensor::from_slice(&[std::process::id() as i64, this_host()]);
        let all = group.all_gather(&me)?;
        let v: Vec<i64> = Vec::try_from(&all.view([-1])).unwrap_or_default();
        group.peers = v
            .chunks_exact(2)
            .map(|p| Peer {
                pid: p[0],
                host: p[1],
            })
            .collect();
        Ok(group)
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world(&self) -> usize {
        self.world
    }

    /// The first failure, if any collective failed.
    pub fn failure(&self) -> Option<DistError> {
        self.failed.lock().expect("failure lock").clone()
    }

    /// Who is to blame for a failed collective: a rank on this host whose process ended, or
    /// the timeout / the message.
    fn blame(&self, why: &str) -> String {
        let host = this_host();
        let find = || {
            self.peers
                .iter()
                .enumerate()
                .find(|(r, p)| *r != self.rank && p.host == host && has_ended(p.pid))
        };
        // A dying process closes its sockets before it ends: give it up to 2 s to finish.
        let mut dead = find();
        for _ in 0..40 {
            if dead.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            dead = find();
        }
        match dead {
            Some((r, p)) => format!("rank {r} (pid {}) has died", p.pid),
            None => format!(
                "a rank ended or did not answer within the {} s collective timeout \
                 (SYNTHGEN_DIST_TIMEOUT; the launcher's log names the rank): {why}",
                self.timeout.as_secs()
            ),
        }
    }

    /// Runs one shim call, turning its failure into a `Collective` error that every later
    /// call repeats.
    fn call(
        &self,
        op: &'static str,
        f: impl FnOnce(*mut *mut c_char) -> i32,
    ) -> Result<(), DistError> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let mut err: *mut c_char = std::ptr::null_mut();
        if f(&mut err) == 0 {
            return Ok(());
        }
        let why = take_message(err);
        let e = DistError::Collective {
            rank: self.rank,
            op,
            who: self.blame(&why),
        };
        *self.failed.lock().expect("failure lock") = Some(e.clone());
        Err(e)
    }

    fn pointers(tensors: &[Tensor]) -> Vec<*const C_tensor> {
        tensors.iter().map(Tensor::as_ptr).collect()
    }

    /// Replaces each tensor by its mean over the ranks, in place (DDP's gradient all-reduce:
    /// buckets of `BUCKET_BYTES`, each divided by the world size, then summed).
    pub fn all_reduce_mean(&self, tensors: &[Tensor]) -> Result<(), DistError> {
        if tensors.is_empty() {
            return Ok(());
        }
        let ptrs = Self::pointers(tensors);
        self.call("all-reduce", |err| {
            // SAFETY: `tensors` outlive the call; the shim writes into them in place.
            unsafe {
                ffi::sg_c10d_allreduce_mean(self.raw, ptrs.as_ptr(), ptrs.len(), BUCKET_BYTES, err)
            }
        })
    }

    /// Sets each tensor to rank `root`'s value, in place.
    pub fn broadcast(&self, tensors: &[Tensor], root: usize) -> Result<(), DistError> {
        if tensors.is_empty() {
            return Ok(());
        }
        let ptrs = Self::pointers(tensors);
        self.call("broadcast", |err| {
            // SAFETY: as in all_reduce_mean.
            unsafe {
                ffi::sg_c10d_broadcast(
                    self.raw,
                    ptrs.as_ptr(),
                    ptrs.len(),
                    root as i32,
                    BUCKET_BYTES,
                    err,
                )
            }
        })
    }

    /// Waits until every rank reaches this point.
    pub fn barrier(&self) -> Result<(), DistError> {
        // SAFETY: the group is alive for the call.
        self.call("barrier", |err| unsafe {
            ffi::sg_c10d_barrier(self.raw, err)
        })
    }

    /// Every rank's `t` (the same shape and kind on every rank) concatenated along dim 0 in
    /// rank order.
    pub fn all_gather(&self, t: &Tensor) -> Result<Tensor, DistError> {
        let mut out: *mut C_tensor = std::ptr::null_mut();
        self.call("all-gather", |err| {
            // SAFETY: `t` outlives the call; `out` receives a new tensor we then own.
            unsafe { ffi::sg_c10d_allgather(self.raw, t.as_ptr(), &mut out, err) }
        })?;
        // SAFETY: a fresh `new at::Tensor` from the shim, owned (and freed) by tch from here.
        Ok(unsafe { Tensor::from_ptr(out) })
    }

    /// Every rank's rows of `t` (first dims may differ between ranks) concatenated in rank
    /// order: the row counts are gathered first and each rank's rows padded to the largest.
    pub fn all_gather_rows(&self, t: &Tensor) -> Result<Tensor, DistError> {
        let rows = t.size()[0];
        let counts = self.all_gather(&Tensor::from_slice(&[rows]))?;
        let counts: Vec<i64> = Vec::try_from(&counts).unwrap_or_default();
        let most = counts.iter().copied().max().unwrap_or(0);
        let mut pad_shape = t.size();
        pad_shape[0] = most - rows;
        let padded = if most > rows {
            let pad = Tensor::zeros(&pad_shape, (t.kind(), t.device()));
            Tensor::cat(&[t.shallow_clone(), pad], 0)
        } else {
            t.shallow_clone()
        };
        let all = self.all_gather(&padded)?;
        let parts: Vec<Tensor> = counts
            .iter()
            .enumerate()
            .map(|(r, &n)| all.narrow(0, r as i64 * most, n))
            .collect();
        Ok(Tensor::cat(&parts, 0))
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if self.failure().is_none() {
            // SAFETY: created by sg_c10d_new_gloo and freed once, here.
            unsafe { ffi::sg_c10d_free(self.raw) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::distributed::launch::Launcher;

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// Two ranks (threads of this process, each with its own Gloo group, as PyTorch's own
    /// c10d tests do) run every collective of the shim.
    #[test]
    fn two_ranks_run_every_collective() {
        let port = free_port();
        let rank = |r: usize| {
            std::thread::spawn(move || {
                let launch = Launch {
                    launcher: Launcher::Torchrun,
                    rank: r,
                    world: 2,
                    local_rank: r,
                    master_addr: "127.0.0.1".into(),
                    master_port: port,
                    agent_store: false,
                };
                let g = ProcessGroup::connect(&launch, Duration::from_secs(60)).unwrap();
                let x = r as f64;
                // Two dtypes: two buckets.
                let ts = [
                    Tensor::from_slice(&[1.0 + x, 10.0 * x]).view([2, 1]),
                    Tensor::from_slice(&[3.0f32 * x as f32]),
                ];
                g.all_reduce_mean(&ts).unwrap();
                let a: Vec<f64> = Vec::try_from(&ts[0].view([-1])).unwrap();
                let b: Vec<f32> = Vec::try_from(&ts[1]).unwrap();
                assert_eq!(a, vec![1.5, 5.0]);
                assert_eq!(b, vec![1.5]);
                let c = [Tensor::from_slice(&[x + 7.0; 3])];
                g.broadcast(&c, 1).unwrap();
                assert_eq!(Vec::<f64>::try_from(&c[0]).unwrap(), vec![8.0; 3]);
                g.barrier().unwrap();
                let rows = Tensor::from_slice(&vec![x; r + 1]).view([-1, 1]);
                let all = g.all_gather_rows(&rows).unwrap();
                assert_eq!(
                    Vec::<f64>::try_from(&all.view([-1])).unwrap(),
                    vec![0.0, 1.0, 1.0]
                );
                assert_eq!(g.peers.len(), 2);
                assert!(g.failure().is_none());
            })
        };
        let (a, b) = (rank(0), rank(1));
        a.join().unwrap();
        b.join().unwrap();
    }
}
