//! libtorch's CPU thread count on a machine it shares: the team is sized to the CPUs that are
//! actually free, measured from `/proc/stat` (the machine's busy time) minus `/proc/self/stat`
//! (this process's own), and re-sized as the load changes (other jobs, or `--stream`'s Blender
//! workers, which are other processes).
//!
//! Why (bench/threads.sh, docs/BENCHMARKS.md "Threads on a busy machine"): an OpenMP team
//! waits for its slowest thread at every operation, so a team with more threads than free
//! cores runs at the pace of the thread that shares its core with someone else: resnet_tiny at
//! 64 px beside one busy process ran 3.6x slower with 2 threads than with 1 on 2 cores.
//! A team sized to the free cores never waits on a descheduled thread.
use std::time::{Duration, Instant};

/// How long the first measurement looks at the machine before the run starts.
pub const FIRST_LOOK: Duration = Duration::from_millis(150);
/// How often a running job re-measures (each look covers the time since the previous one).
pub const INTERVAL: Duration = Duration::from_secs(2);
/// The free-CPU estimate must pass the current team size by this much before the team is
/// re-sized (so that noise around a half CPU does not flip it every interval).
const HYSTERESIS: f64 = 0.6;

/// CPU seconds spent so far: by the whole machine (all CPUs, not idle) and by this process.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    at: Instant,
    machine_busy: f64,
    own: f64,
    machine_cpus: usize,
}

/// Clock ticks per second of /proc's counters.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a constant of the running system.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Busy ticks of the first `cpu` line of /proc/stat (user, nice, system, irq, softirq and steal:
/// everything but idle and iowait; guest time is inside user) and the number of CPUs listed.
pub fn parse_proc_stat(text: &str) -> Option<(u64, usize)> {
    let first = text.lines().next()?;
    let mut fields = first.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 4 {
        return None;
    }
    let busy = v[0]
        + v[1]
        + v[2]
        + v.get(5).unwrap_or(&0)
        + v.get(6).unwrap_or(&0)
        + v.get(7).unwrap_or(&0);
    let cpus = text
        .lines()
        .filter(|l| l.starts_with("cpu") && l[3..].starts_with(|c: char| c.is_ascii_digit()))
        .count();
    Some((busy, cpus.max(1)))
}

/// utime + stime ticks of /proc/<pid>/stat (fields 14 and 15; the command name, field 2, may
/// hold spaces and parentheses, so fields are counted after its last ')').
pub fn parse_self_stat(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, i.e. index 11 here.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

impl CpuTimes {
    /// Now, from /proc; None where /proc is not Linux's.
    pub fn now() -> Option<CpuTimes> {
        let (busy, cpus) = parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let own = parse_self_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        let hz = ticks_per_second();
        Some(CpuTimes {
            at: Instant::now(),
            machine_busy: busy as f64 / hz,
            own: own as f64 / hz,
            machine_cpus: cpus,
        })
    }

    /// CPUs that others (not this process) kept busy on average since `earlier`.
    pub fn others_since(&self, earlier: &CpuTimes) -> f64 {
        let dt = self.at.duration_since(earlier.at).as_secs_f64().max(1e-3);
        let others = (self.machine_busy - earlier.machine_busy) - (self.own - earlier.own);
        (others / dt).clamp(0.0, self.machine_cpus as f64)
    }
}

/// The team size for `free` free CPUs: the nearest whole number within [1, `cores`], kept at
/// `current` while `free` stays within `HYSTERESIS` of it.
pub fn team_size(free: f64, cores: usize, current: Option<usize>) -> usize {
    let cores = cores.max(1);
    if let Some(c) = current {
        if (free - c as f64).abs() < HYSTERESIS {
            return c.clamp(1, cores);
        }
    }
    (free.round().max(1.0) as usize).min(cores)
}

/// Sizes and re-sizes libtorch's team to the free CPUs of the machine.
#[derive(Debug)]
pub struct FreeCpuTeam {
    cores: usize,
    threads: usize,
    last: CpuTimes,
}

impl FreeCpuTeam {
    /// Looks at the machine for `FIRST_LOOK` and picks the first team size; None where /proc
    /// cannot be read (then the caller keeps a fixed team).
    pub fn start(cores: usize) -> Option<FreeCpuTeam> {
        let a = CpuTimes::now()?;
        std::thread::sleep(FIRST_LOOK);
        let b = CpuTimes::now()?;
        let free = b.machine_cpus.min(cores) as f64 - b.others_since(&a);
        let threads = team_size(free, cores, None);
        Some(FreeCpuTeam {
            cores,
            threads,
            last: b,
        })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Re-measures when `INTERVAL` has passed since the last look; returns the new team size
    /// when it changed.
    pub fn tick(&mut self) -> Option<usize> {
        if self.last.at.elapsed() < INTERVAL {
            return None;
        }
        let now = CpuTimes::now()?;
        let others = now.others_since(&self.last);
        self.last = now;
        let free = now.machine_cpus.min(self.cores) as f64 - others;
        let t = team_size(free, self.cores, Some(self.threads));
        (t != self.threads).then(|| {
            self.threads = t;
            t
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_and_self_stat() {
        let stat = "cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 50 2 25 500 10 1 1 3 0 0\ncpu1 50 3 25 500 10 2 1 4 0 0\nintr 1\n";
        assert_eq!(parse_proc_stat(stat), Some((100 + 5 + 50 + 3 + 2 + 7, 2)));
        assert_eq!(parse_proc_stat("intr 1\n"), None);
        let own = "4242 (synth gen) (x)) R 1 2 3 4 5 6 7 8 9 10 311 22 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_self_stat(own), Some(311 + 22));
        assert_eq!(parse_self_stat("garbage"), None);
    }

    #[test]
    fn team_follows_the_free_cpus_with_hysteresis() {
        // A quiet 2-core machine, one busy process beside us, two.
        assert_eq!(team_size(1.9, 2, None), 2);
        assert_eq!(team_size(1.0, 2, None), 1);
        assert_eq!(team_size(0.0, 2, None), 1);
        // A busy loop beside a 2-thread team gets 2/3 of a core: 1.33 free, so 1 thread.
        assert_eq!(team_size(2.0 - 0.67, 2, Some(2)), 1);
        // Noise around the current size does not flip it.
        assert_eq!(team_size(1.45, 2, Some(1)), 1);
        assert_eq!(team_size(1.5, 2, Some(2)), 2);
        // Never more than the cores, never fewer than one.
        assert_eq!(team_size(7.6, 4, Some(2)), 4);
        assert_eq!(team_size(-3.0, 4, Some(2)), 1);
    }

    #[test]
    fn measures_this_machine() {
        let a = CpuTimes::now().expect("/proc is readable on Linux");
        // Busy until this process has used 50 ms of CPU (however loaded the machine is): that
        // time must show as our own, not as others'.
        let t0 = Instant::now();
        let mut b = a;
        let mut x = 0u64;
        while b.own - a.own < 0.05 {
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(10) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            b = CpuTimes::now().unwrap();
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "own CPU time never grew"
            );
        }
        std::hint::black_box(x);
        let others = b.others_since(&a);
        assert!((0.0..=b.machine_cpus as f64).contains(&others), "{others}");
    }
}
