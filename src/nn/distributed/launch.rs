//! Who this process is in a data-parallel job, from its launcher's variables, as PyTorch reads
//! them: torchrun (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`) or a Slurm
//! job step (`SLURM_PROCID`, `SLURM_STEP_NUM_TASKS`, `SLURM_LOCALID`, the master being the
//! step's first node). A process outside both (a plain command, even inside a multi-task
//! Slurm allocation but outside an `srun` step) is a single process and never waits for a
//! rendezvous.
use super::group::DistError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Launcher {
    /// torchrun or any launcher that sets PyTorch's `env://` variables.
    Torchrun,
    /// An `srun` job step.
    Slurm,
}

/// This rank's place in the job and where the rendezvous is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub launcher: Launcher,
    pub rank: usize,
    pub world: usize,
    /// The rank on this node: its CUDA device.
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
    /// torchrun's agent already hosts a TCPStore at the master address
    /// (`TORCHELASTIC_USE_AGENT_STORE=True`): every rank connects as a client.
    pub agent_store: bool,
}

/// The part of a data set (or of a list of shards) that one rank reads: the items whose
/// index is `rank` modulo `world` (the stride of PyTorch's DistributedSampler), each rank
/// keeping the same number of items so that every rank runs the same number of steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankSlice {
    pub rank: usize,
    pub world: usize,
}

impl RankSlice {
    /// The whole data (one process).
    pub const ALL: RankSlice = RankSlice { rank: 0, world: 1 };

    /// Whether item `index` belongs to this rank (ignoring the trimmed remainder).
    pub fn owns(&self, index: usize) -> bool {
        index % self.world == self.rank
    }

    /// This rank's items of `items`: every `world`-th from `rank`, `items.len() / world` of
    /// them (the last `items.len() % world` items are read by no rank).
    pub fn take<T: Clone>(&self, items: &[T]) -> Vec<T> {
        let each = items.len() / self.world;
        items
            .iter()
            .skip(self.rank)
            .step_by(self.world)
            .take(each)
            .cloned()
            .collect()
    }
}

fn parse<T: std::str::FromStr>(var: &str, value: &str, what: &str) -> Result<T, DistError> {
    value.trim().parse().map_err(|_| DistError::BadEnv {
        var: var.into(),
        value: value.into(),
        why: format!("expected {what}"),
    })
}

/// The launch this process is part of, from `env` (`std::env::var` in the binary); None for a
/// single process.
pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Launch>, DistError> {
    let get = |v: &str| env(v).filter(|s| !s.trim().is_empty());
    if let (Some(rank), Some(world)) = (get("RANK"), get("WORLD_SIZE")) {
        let world: usize = parse("WORLD_SIZE", &world, "a number of ranks")?;
        if world <= 1 {
            return Ok(None);
        }
        let rank: usize = parse("RANK", &rank, "a rank number")?;
        if rank >= world {
            return Err(DistError::BadEnv {
                var: "RANK".into(),
                value: rank.to_string(),
                why: format!("WORLD_SIZE is {world}"),
            });
        }
        let need = |v: &str| {
            get(v).ok_or_else(|| DistError::BadEnv {
                var: v.into(),
                value: String::new(),
                why:
                    "RANK and WORLD_SIZE are set, so the rendezvous needs it too (torchrun sets it)"
                        .into(),
            })
        };
        return Ok(Some(Launch {
            launcher: Launcher::Torchrun,
            rank,
            world,
            local_rank: match get("LOCAL_RANK") {
                Some(l) => parse("LOCAL_RANK", &l, "a rank number")?,
                None => 0,
            },
            master_addr: need("MASTER_ADDR")?,
            master_port: parse("MASTER_PORT", &need("MASTER_PORT")?, "a TCP port")?,
            agent_store: get("TORCHELASTIC_USE_AGENT_STORE").is_some_and(|v| v == "True"),
        }));
    }
    // Only an srun step sets SLURM_STEP_NUM_TASKS; a batch script or salloc shell does not.
    let (Some(tasks), Some(procid)) = (get("SLURM_STEP_NUM_TASKS"), get("SLURM_PROCID")) else {
        return Ok(None);
    };
    let world: usize = parse("SLURM_STEP_NUM_TASKS", &tasks, "a number of tasks")?;
    if world <= 1 {
        return Ok(None);
    }
    let rank: usize = parse("SLURM_PROCID", &procid, "a task number")?;
    let master_addr = match get("MASTER_ADDR") {
        Some(a) => a,
        None => {
            let list = get("SLURM_STEP_NODELIST")
                .or_else(|| get("SLURM_NODELIST"))
                .ok_or_else(|| DistError::BadEnv {
                    var: "SLURM_STEP_NODELIST".into(),
                    value: String::new(),
                    why: "an srun step should set it; or set MASTER_ADDR".into(),
                })?;
            first_host(&list).ok_or_else(|| DistError::BadEnv {
                var: "SLURM_STEP_NODELIST".into(),
                value: list.clone(),
                why: "not a Slurm host list; set MASTER_ADDR".into(),
            })?
        }
    };
    let master_port = match get("MASTER_PORT") {
        Some(p) => parse("MASTER_PORT", &p, "a TCP port")?,
        None => {
            // A port per job step, so that two steps of one job on one node do not collide.
            let job: u64 = get("SLURM_JOB_ID")
                .and_then(|j| j.parse().ok())
                .unwrap_or(0);
            let step: u64 = get("SLURM_STEP_ID")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (20000 + (job * 31 + step) % 30000) as u16
        }
    };
    Ok(Some(Launch {
        launcher: Launcher::Slurm,
        rank,
        world,
        local_rank: match get("SLURM_LOCALID") {
            Some(l) => parse("SLURM_LOCALID", &l, "a task number")?,
            None => 0,
        },
        master_addr,
        master_port,
        agent_store: false,
    }))
}

/// The first host of a Slurm host list: `scontrol show hostnames` when available, else read
/// here (`node[01-04,07],gpu5` -> `node01`).
pub fn first_host(list: &str) -> Option<String> {
    let from_scontrol = std::process::Command::new("scontrol")
        .args(["show", "hostnames", list])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
        })
        .filter(|h| !h.is_empty());
    from_scontrol.or_else(|| first_host_of(list))
}

/// `first_host` without scontrol.
pub fn first_host_of(list: &str) -> Option<String> {
    let list = list.trim();
    let first = match list.find([',', '[']) {
        Some(i) if list.as_bytes()[i] == b',' => &list[..i],
        _ => list,
    };
    let Some(open) = first.find('[') else {
        return (!first.is_empty()).then(|| first.to_string());
    };
    let prefix = &first[..open];
    let inner = first[open + 1..].split(']').next()?;
    let start = inner.split([',', '-']).next()?.trim();
    (!prefix.is_empty() || !start.is_empty()).then(|| format!("{prefix}{start}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn torchrun_slurm_and_single_process() {
        let t = detect(&env(&[
            ("RANK", "1"),
            ("WORLD_SIZE", "2"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "127.0.0.1"),
            ("MASTER_PORT", "29511"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((t.rank, t.world, t.local_rank), (1, 2, 1));
        assert!(t.agent_store);
        assert_eq!(t.launcher, Launcher::Torchrun);

        let s = detect(&env(&[
            ("SLURM_PROCID", "0"),
            ("SLURM_STEP_NUM_TASKS", "2"),
            ("SLURM_LOCALID", "0"),
            ("SLURM_STEP_NODELIST", "zz-no-such[07-09]"),
            ("SLURM_JOB_ID", "12"),
            ("SLURM_NTASKS", "2"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((s.rank, s.world, s.launcher), (0, 2, Launcher::Slurm));
        assert_eq!(s.master_addr, "zz-no-such07");
        assert!(!s.agent_store);

        // A batch script or salloc shell in a 4-task allocation: no step, one process.
        let plain = detect(&env(&[
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "4"),
            ("SLURM_JOB_ID", "12"),
        ]))
        .unwrap();
        assert!(plain.is_none());
        assert!(detect(&env(&[("RANK", "0"), ("WORLD_SIZE", "1")]))
            .unwrap()
            .is_none());
        let bad = detect(&env(&[("RANK", "0"), ("WORLD_SIZE", "two")])).unwrap_err();
        assert!(bad.to_string().contains("WORLD_SIZE=two"), "{bad}");
        let missing = detect(&env(&[("RANK", "0"), ("WORLD_SIZE", "2")])).unwrap_err();
        assert!(missing.to_string().contains("MASTER_ADDR"), "{missing}");
    }

    #[test]
    fn host_lists_and_slices() {
        assert_eq!(first_host_of("node[01-04,07],gpu5").unwrap(), "node01");
        assert_eq!(first_host_of("gpu5,node[1-2]").unwrap(), "gpu5");
        assert_eq!(first_host_of("localhost").unwrap(), "localhost");
        let items: Vec<usize> = (0..7).collect();
        let a = RankSlice { rank: 0, world: 2 }.take(&items);
        let b = RankSlice { rank: 1, world: 2 }.take(&items);
        assert_eq!(a, vec![0, 2, 4]);
        assert_eq!(b, vec![1, 3, 5]);
        assert_eq!(RankSlice::ALL.take(&items), items);
        assert!(RankSlice { rank: 1, world: 2 }.owns(3));
    }
}
