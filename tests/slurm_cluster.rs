//! A real one-node Slurm cluster on localhost runs `examples/slurm/render_shards.sbatch` as a
//! 3-task job array; `synthgen merge` of its shard folders validates and equals a single run.
//! It also runs `examples/slurm/train_ddp.sbatch`: `srun -n 2` of a small data-parallel
//! training (2 ranks meeting at the step's first node).
//!
//! Everything the cluster needs lives in a temp dir: slurm.conf, munge key and socket, state,
//! spool, pid and log files; the daemons listen on free local ports and are killed by a Drop
//! guard however the test ends. It needs Debian's `slurm-wlm` and `munge` (scripts/setup.sh)
//! and root (slurmd starts jobs as the submitting user).
mod common;

use common::{manifest_digests, synthgen, text};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SHARDS: usize = 3;
/// Tiny demo render: 4 classes x 2 images at 32 px.
const RENDER_FLAGS: [&str; 8] = [
    "--per-class",
    "2",
    "--set",
    "render.resolution=32",
    "--set",
    "render.samples=4",
    "--set",
    "render.denoise=false",
];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tail(p: &Path) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    let from = lines.len().saturating_sub(15);
    format!("--- {}\n{}", p.display(), lines[from..].join("\n"))
}

/// The daemons of one test cluster; dropping it cancels its jobs and kills them all.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    daemons: Vec<Child>,
}

impl Cluster {
    /// A Slurm client command (sbatch, sinfo, ...) talking to this cluster only.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        // Input variables of an enclosing Slurm job (SBATCH_PARTITION, SLURM_JOB_ID, ...)
        // would be read by sbatch as options for this cluster.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("SBATCH_") || k.starts_with("SLURM_") {
                c.env_remove(&*k);
            }
        }
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn spawn(&mut self, name: &str, program: &str, args: &[&str]) {
        let log = std::fs::File::create(self.dir.join(format!("{name}.out"))).unwrap();
        let child = self
            .cmd(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{program}: {e} (scripts/setup.sh installs slurm-wlm and munge)")
            });
        self.daemons.push(child);
    }

    fn logs(&self) -> String {
        [
            "munged.out",
            "slurmctld.log",
            "slurmd.log",
            "slurmctld.out",
            "slurmd.out",
        ]
        .iter()
        .map(|f| tail(&self.dir.join(f)))
        .collect::<Vec<_>>()
        .join("\n")
    }

    /// Polls `check` every 200 ms until it holds; panics with the daemons' logs after `limit`.
    fn wait_for(&self, what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while !check() {
            assert!(
                start.elapsed() < limit,
                "{what}: not after {limit:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn start(dir: &Path) -> Cluster {
        let o = Command::new("id").arg("-u").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "0",
            "the Slurm test starts slurmd, which runs jobs as their user: run it as root"
        );
        let mut c = Cluster {
            dir: dir.to_path_buf(),
            conf: dir.join("slurm.conf"),
            daemons: Vec::new(),
        };
        for d in ["state", "spool"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let p = |f: &str| dir.join(f).to_string_lossy().into_owned();

        // munge: own key, socket, pid, seed and log, in the foreground so the guard owns it.
        // --force: munged refuses a socket/key under a world-writable /tmp parent otherwise.
        let key = dir.join("munge.key");
        let o = Command::new("mungekey")
            .args(["--create", "--force", "--keyfile"])
            .arg(&key)
            .output()
            .expect("mungekey (scripts/setup.sh installs munge)");
        assert!(o.status.success(), "{}", text(&o));
        let socket = p("munge.socket");
        c.spawn(
            "munged",
            "munged",
            &[
                "--foreground",
                "--force",
                &format!("--socket={socket}"),
                &format!("--key-file={}", p("munge.key")),
                &format!("--log-file={}", p("munged.log")),
                &format!("--pid-file={}", p("munged.pid")),
                &format!("--seed-file={}", p("munged.seed")),
            ],
        );
        c.wait_for("munged answers", Duration::from_secs(10), || {
            Command::new("munge")
                .args(["--no-input", "--socket", &socket])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });

        // This machine's real CPUs, sockets and memory, under the node name `localhost`.
        let o = Command::new("slurmd").arg("-C").output().unwrap();
        assert!(o.status.success(), "slurmd -C: {}", text(&o));
        let hw = String::from_utf8_lossy(&o.stdout);
        let node = hw
            .lines()
            .find(|l| l.starts_with("NodeName="))
            .and_then(|l| l.split_once(' '))
            .map(|(_, rest)| rest.trim().to_string())
            .unwrap_or_else(|| panic!("slurmd -C printed no node line:\n{hw}"));

        // proctrack/linuxproc + task/none: no cgroups, which containers and CI sandboxes often
        // cannot delegate; --mem is then a scheduling figure only, not enforced.
        // SlurmctldHost=localhost is accepted whatever the hostname; slurmd is started with
        // -N localhost to match NodeName. ReturnToService=2: the node comes up idle.
        let conf = format!(
            "ClusterName=synthgentest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket}
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={ctld_pid}
SlurmdPidFile={d_pid}
SlurmctldLogFile={ctld_log}
SlurmdLogFile={d_log}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 {node} State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
",
            ctld_port = free_port(),
            d_port = free_port(),
            state = p("state"),
            spool = p("spool"),
            ctld_pid = p("slurmctld.pid"),
            d_pid = p("slurmd.pid"),
            ctld_log = p("slurmctld.log"),
            d_log = p("slurmd.log"),
        );
        std::fs::write(&c.conf, conf).unwrap();
        // Foreground (-D) so the guard owns both; -i: no earlier state to recover.
        c.spawn("slurmctld", "slurmctld", &["-D", "-i"]);
        c.spawn("slurmd", "slurmd", &["-D", "-N", "localhost"]);
        c
    }

    fn wait_idle(&self) {
        self.wait_for("sinfo shows the node idle", Duration::from_secs(30), || {
            self.cmd("sinfo")
                .args(["--noheader", "--nodes=localhost", "--format=%t"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle")
        });
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Jobs first (their slurmstepd would outlive slurmd), then the daemons.
        let _ = self
            .cmd("scancel")
            .arg("--user=root")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for d in self.daemons.iter_mut().rev() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_example_job_array_on_a_real_slurm_merges_to_a_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let cluster = Cluster::start(&scratch.join("slurm"));

    // The unsharded reference, rendered while the daemons come up.
    let single = scratch.join("single");
    let o = synthgen(scratch)
        .args(["render", "--preset", "demo", "--seed", "3", "--out"])
        .arg(&single)
        .args(RENDER_FLAGS)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    cluster.wait_idle();

    // The example as it is in the repo; the command line only shrinks its #SBATCH resources
    // to fit a small machine (they override the script's directives).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/slurm/render_shards.sbatch");
    let out_root = scratch.join("out");
    let jobs = scratch.join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    let mut sbatch = cluster
        .cmd("sbatch")
        .args(["--wait", "--parsable", "--cpus-per-task=1", "--mem=2G"])
        .arg(format!("--array=1-{SHARDS}"))
        .arg(format!("--chdir={}", jobs.display()))
        .arg(&script)
        .args(RENDER_FLAGS)
        .env("PRESET", "demo")
        .env("SEED", "3")
        .env("OUT_ROOT", &out_root)
        .env("SYNTHGEN", common::synthgen_bin())
        .env("SYNTHGEN_CACHE", scratch.join("cache"))
        .env_remove("SYNTHGEN_SHAPENET")
        .env_remove("RUST_LOG")
        .env_remove("SYNTHGEN_SWEETHOME3D")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while sbatch.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = sbatch.kill();
            panic!(
                "sbatch --wait: array not done after 120 s\n{}",
                cluster.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = sbatch.wait_with_output().unwrap();
    let job_logs: String = std::fs::read_dir(&jobs)
        .unwrap()
        .map(|e| tail(&e.unwrap().path()))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(o.status.code(), Some(0), "{}\n{job_logs}", text(&o));
    let job = String::from_utf8_lossy(&o.stdout).trim().to_string();

    // One task per shard, each with its own log and its own shard folder.
    let mut shards = Vec::new();
    for i in 1..=SHARDS {
        let log = jobs.join(format!("synthgen-{job}_{i}.log"));
        assert!(
            read(&log).contains(&format!("shard {i}/{SHARDS}")),
            "{}",
            tail(&log)
        );
        let shard = out_root.join(format!("shard-{i:04}"));
        assert!(!manifest_digests(&shard).is_empty(), "{}", shard.display());
        shards.push(shard);
    }

    let merged = scratch.join("merged");
    let o = synthgen(scratch)
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = synthgen(scratch)
        .arg("validate")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Same records (params, models, image hashes) and lists as the single run, and the
    // merged images are the files those hashes name.
    let want = manifest_digests(&single);
    assert_eq!(want.len(), 8);
    assert_eq!(manifest_digests(&merged), want);
    for f in ["image_list.txt", "classes.txt", "preset.yaml"] {
        assert_eq!(read(&merged.join(f)), read(&single.join(f)), "{f}");
    }
    for d in &want {
        let class = d.id.rsplit_once('_').unwrap().0;
        let bytes = std::fs::read(merged.join(class).join(format!("{}.png", d.id))).unwrap();
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, d.sha256, "{}", d.id);
    }
    drop(cluster);
}

#[test]
fn the_ddp_example_trains_over_two_srun_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let cluster = Cluster::start(&scratch.join("slurm"));
    let data = common::image_folder(scratch, 40, 2, 4);
    cluster.wait_idle();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/slurm/train_ddp.sbatch");
    let out = scratch.join("run");
    let jobs = scratch.join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    // The example as it is; the command line shrinks its resources to this machine.
    let o = cluster
        .cmd("sbatch")
        .args([
            "--wait",
            "--parsable",
            "--nodes=1",
            "--ntasks-per-node=2",
            "--cpus-per-task=1",
            "--mem-per-cpu=1G",
        ])
        .arg(format!("--chdir={}", jobs.display()))
        .arg(&script)
        .args([
            "--device",
            "cpu",
            "--image-size",
            "40",
            "--iters",
            "4",
            "--aug",
            "none",
        ])
        .env("TRAIN", &data)
        .env("OUT", &out)
        .env("BATCH_PER_RANK", "2")
        .env("ARCH", "resnet_tiny")
        .env("SYNTHGEN", common::synthgen_bin())
        .env("SYNTHGEN_CACHE", scratch.join("cache"))
        .env("SYNTHGEN_DIST_TIMEOUT", "120")
        .env_remove("RUST_LOG")
        .env_remove("OMP_NUM_THREADS")
        .env_remove("MASTER_ADDR")
        .env_remove("MASTER_PORT")
        .env_remove("RANK")
        .env_remove("WORLD_SIZE")
        .output()
        .unwrap();
    let job_logs: String = std::fs::read_dir(&jobs)
        .unwrap()
        .map(|e| tail(&e.unwrap().path()))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{job_logs}\n{}",
        text(&o),
        cluster.logs()
    );
    let log: String = std::fs::read_dir(&jobs)
        .unwrap()
        .map(|e| read(&e.unwrap().path()))
        .collect();
    assert!(
        log.contains("data-parallel rank 0 of 2 (Slurm")
            && log.contains("data-parallel rank 1 of 2 (Slurm"),
        "{log}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["data_parallel"]["world_size"], 2);
    assert_eq!(summary["data_parallel"]["launcher"], "slurm");
    // 4 steps x 2 ranks x 2 images.
    assert_eq!(summary["images_seen"], 16);
    drop(cluster);
}
