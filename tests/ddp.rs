//! Data-parallel training on libtorch's c10d (Gloo, CPU, 2 ranks, small inputs):
//! - synthgen under `torchrun --no-python` equals PyTorch's own DistributedDataParallel
//!   (torchrun, Gloo, torchvision ResNet-18, same initial weights and per-rank batches);
//! - 2 ranks equal 1 rank with the combined batch on a model without batch norm;
//! - a SIGKILLed rank ends the job with one line naming it, and `--resume` then equals the
//!   uninterrupted run; a resume with another number of ranks is refused;
//! - a plain process inside a multi-task Slurm allocation (no srun step) stays one process,
//!   and `--stream` in a data-parallel launch is refused before anything starts.
//!
//! Ranks are started by torchrun (.venv-torch) or directly with torchrun's variables.
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tch::Tensor;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn parity_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/parity")
        .join(name)
}

fn torchrun() -> PathBuf {
    let python = synthgen::paths::torch_python();
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh (it installs PyTorch into .venv-torch) or set SYNTHGEN_TORCH_VENV",
        python.display()
    );
    python.parent().unwrap().join("torchrun")
}

fn check(o: &Output, what: &str) {
    assert!(o.status.success(), "{what}: {}", common::text(o));
}

fn read(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_kind(tch::Kind::Double) - b.to_kind(tch::Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

/// `synthgen train` flags shared by the runs of a test (CPU, no augmentation).
fn train_args(data: &Path, out: &Path, rest: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["train".into(), "--train".into()];
    a.push(data.display().to_string());
    a.push("--out".into());
    a.push(out.display().to_string());
    a.extend(
        ["--aug", "none", "--device", "cpu", "--weight-decay", "1e-4"]
            .iter()
            .map(|s| s.to_string()),
    );
    a.extend(rest.iter().map(|s| s.to_string()));
    a
}

/// One rank of a `world`-rank job started directly with torchrun's variables.
fn spawn_rank(scratch: &Path, args: &[String], rank: usize, world: usize, port: u16) -> Child {
    common::synthgen(scratch)
        .args(args)
        .env("RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env("OMP_NUM_THREADS", "1")
        .env("SYNTHGEN_DIST_TIMEOUT", "120")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs a 2-rank job to the end; both ranks must succeed.
fn two_ranks(scratch: &Path, args: &[String]) {
    let port = free_port();
    let ranks: Vec<Child> = (0..2)
        .map(|r| spawn_rank(scratch, args, r, 2, port))
        .collect();
    for (r, c) in ranks.into_iter().enumerate() {
        check(&c.wait_with_output().unwrap(), &format!("rank {r}"));
    }
}

fn one_process(scratch: &Path, args: &[String]) -> Output {
    common::synthgen(scratch)
        .args(args)
        .env("OMP_NUM_THREADS", "1")
        .env_remove("RANK")
        .env_remove("WORLD_SIZE")
        .env_remove("SLURM_STEP_NUM_TASKS")
        .output()
        .unwrap()
}

/// Runs synthgen as rank 0 of 2 under torchrun's variables and returns its stderr, which must
/// be one refusal line with exit 2 (no rendezvous is ever waited for).
fn refused_as_rank_0_of_2(d: &Path, args: &[impl AsRef<std::ffi::OsStr>]) -> String {
    let o = common::synthgen(d)
        .args(args)
        .env("RANK", "0")
        .env("WORLD_SIZE", "2")
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", free_port().to_string())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", common::text(&o));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn two_rank_training_matches_pytorch_ddp() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ds = d.to_str().unwrap();
    // 2 classes x 4 images at 40 px: 4 images per rank, each rank's whole slice per step.
    let (size, lr, steps) = ("40", "0.05", "5");
    let python = synthgen::paths::torch_python();
    check(
        &Command::new(&python)
            .arg(parity_script("torchvision_train_step.py"))
            .args(["prepare", "resnet18", size, "2", "4", "7", ds])
            .output()
            .unwrap(),
        "prepare",
    );
    let port = free_port().to_string();
    check(
        &Command::new(torchrun())
            .args(["--nproc-per-node", "2", "--master-port", &port])
            .arg(parity_script("ddp_train.py"))
            .args(["resnet18", size, lr, steps, ds])
            .env("OMP_NUM_THREADS", "1")
            .output()
            .unwrap(),
        "PyTorch DDP",
    );
    let out = d.join("run");
    let args = train_args(
        &d.join("data"),
        &out,
        &[
            "--arch",
            "resnet18",
            "--image-size",
            size,
            "--batch-size",
            "4",
            "--iters",
            steps,
            "--lr",
            lr,
            "--init-keep-head",
            "--init",
            &format!("{ds}/init.safetensors"),
        ],
    );
    let port = free_port().to_string();
    check(
        &Command::new(torchrun())
            .args([
                "--no-python",
                "--nproc-per-node",
                "2",
                "--master-port",
                &port,
            ])
            .arg(common::synthgen_bin())
            .args(&args)
            .env("SYNTHGEN_CACHE", d.join("cache"))
            .env("OMP_NUM_THREADS", "1")
            .output()
            .unwrap(),
        "synthgen under torchrun",
    );
    let ours = read(&out.join("checkpoint-last.safetensors"));
    let theirs = read(&d.join("ddp.safetensors"));
    let init = read(&d.join("init.safetensors"));
    let mut worst = (0.0, String::new());
    let mut moved: f64 = 0.0;
    for (name, want) in &theirs {
        let got = &ours[&format!("model.{name}")];
        let e = max_diff(got, want);
        if e > worst.0 {
            worst = (e, name.clone());
        }
        let bare = name.strip_prefix("backbone.").unwrap_or(name);
        if !name.contains("running") {
            moved = moved.max(max_diff(want, &init[bare]));
        }
    }
    assert_eq!(theirs.len(), 102, "weights and running statistics");
    // The bound means something: weights moved far more than it.
    assert!(moved > 1e-3, "weights moved only {moved}");
    assert!(
        worst.0 < 1e-4,
        "{} differs from PyTorch DDP by {}",
        worst.1,
        worst.0
    );
    let s = summary(&out);
    assert_eq!(s["data_parallel"]["world_size"], 2);
    assert_eq!(s["data_parallel"]["global_batch"], 8);
    assert_eq!(s["data_parallel"]["launcher"], "torchrun");
    assert_eq!(s["images_seen"], 40);
}

#[test]
fn two_ranks_equal_one_rank_with_the_combined_batch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = common::image_folder(d, 40, 2, 4);
    let common_flags = ["--arch", "mixer_tiny", "--image-size", "40", "--iters", "4"];
    let mut one = common_flags.to_vec();
    one.extend(["--batch-size", "8", "--lr", "0.05"]);
    let mut two = common_flags.to_vec();
    two.extend(["--batch-size", "4", "--lr", "0.05"]);
    let o = one_process(d, &train_args(&data, &d.join("one"), &one));
    check(&o, "one process");
    two_ranks(d, &train_args(&data, &d.join("two"), &two));
    let a = read(&d.join("one/checkpoint-last.safetensors"));
    let b = read(&d.join("two/checkpoint-last.safetensors"));
    let mut worst = (0.0, String::new());
    for (name, t) in a.iter().filter(|(n, _)| n.starts_with("model.")) {
        let e = max_diff(t, &b[name]);
        if e > worst.0 {
            worst = (e, name.clone());
        }
    }
    assert!(worst.0 < 1e-4, "{} differs by {}", worst.1, worst.0);
    assert_eq!(summary(&d.join("two"))["images_seen"], 32);
}

#[test]
fn a_killed_rank_ends_the_job_and_resume_equals_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = common::image_folder(d, 40, 2, 4);
    let flags = [
        "--arch",
        "resnet_tiny",
        "--image-size",
        "40",
        "--batch-size",
        "4",
        "--iters",
        "200",
        "--eval-every",
        "10",
        "--lr",
        "0.05",
    ];
    let whole = d.join("whole");
    two_ranks(d, &train_args(&data, &whole, &flags));

    let cut = d.join("cut");
    let args = train_args(&data, &cut, &flags);
    let port = free_port();
    let mut rank0 = spawn_rank(d, &args, 0, 2, port);
    let mut rank1 = spawn_rank(d, &args, 1, 2, port);
    let meta = cut.join("checkpoint-last.json");
    let t = Instant::now();
    loop {
        let step = std::fs::read_to_string(&meta)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["step"].as_u64());
        if step.is_some_and(|s| s >= 20) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    rank1.kill().unwrap();
    rank1.wait().unwrap();
    let t = Instant::now();
    while rank0.try_wait().unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "rank 0 hangs after rank 1 died"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = rank0.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert_eq!(o.status.code(), Some(1), "{}", common::text(&o));
    assert!(
        last.contains("rank 1 (pid") && last.contains("has died") && last.contains("--resume"),
        "{last}"
    );
    assert!(
        summary_absent_or_stopped(&cut),
        "rank 0 wrote a completed summary"
    );

    // Another number of ranks is refused with one line; the same number resumes.
    let mut resume = args.clone();
    resume.push("--resume".into());
    let o = one_process(d, &resume);
    assert_eq!(o.status.code(), Some(2), "{}", common::text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("2 rank(s)") && err.contains("same number of ranks"),
        "{err}"
    );
    two_ranks(d, &resume);

    let a = read(&whole.join("checkpoint-last.safetensors"));
    let b = read(&cut.join("checkpoint-last.safetensors"));
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        let e = max_diff(t, &b[name]);
        assert!(e <= 1e-6, "{name} differs by {e} after the resume");
    }
    assert_eq!(summary(&cut)["steps"], 200);
    assert_eq!(summary(&cut)["data_parallel"]["world_size"], 2);
}

fn summary_absent_or_stopped(out: &Path) -> bool {
    !out.join("summary.json").is_file() || summary(out)["status"] != "completed"
}

#[test]
fn plain_process_in_an_allocation_stays_one_and_stream_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = common::image_folder(d, 40, 2, 2);
    // An sbatch script or salloc shell of a 4-task allocation: no srun step variables.
    let out = d.join("plain");
    let o = common::synthgen(d)
        .args(train_args(
            &data,
            &out,
            &[
                "--arch",
                "resnet_tiny",
                "--image-size",
                "40",
                "--iters",
                "1",
            ],
        ))
        .env_remove("RANK")
        .env_remove("WORLD_SIZE")
        .env_remove("SLURM_STEP_NUM_TASKS")
        .env("SLURM_JOB_ID", "7")
        .env("SLURM_NTASKS", "4")
        .env("SLURM_PROCID", "0")
        .env("SLURM_NODELIST", "localhost")
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    check(&o, "plain process");
    assert!(summary(&out).get("data_parallel").is_none());

    // --stream under torchrun's variables: refused before any rendezvous or render.
    let t = Instant::now();
    let streamed = d.join("streamed");
    let mut args = vec!["train", "--stream", "demo", "--out"];
    args.push(streamed.to_str().unwrap());
    let err = refused_as_rank_0_of_2(d, &args);
    assert!(
        err.contains("--stream") && err.contains("one process"),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(30));
}

#[test]
fn dann_adapts_over_two_ranks_and_srdc_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = common::image_folder(d, 40, 2, 4);
    let adapt = |method: &str, out: &str| -> Vec<String> {
        let mut a: Vec<String> = ["adapt", "--method", method, "--source"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.push(data.display().to_string());
        a.push("--target".into());
        a.push(data.display().to_string());
        a.extend(
            [
                "--arch",
                "resnet_tiny",
                "--image-size",
                "40",
                "--iters",
                "4",
                "--batch-size",
                "2",
                "--tsne-points",
                "0",
                "--aug",
                "none",
                "--device",
                "cpu",
                "--out",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        a.push(d.join(out).display().to_string());
        a
    };
    two_ranks(d, &adapt("dann", "dann"));
    let s = summary(&d.join("dann"));
    assert_eq!(s["steps"], 4);
    assert_eq!(s["data_parallel"]["world_size"], 2);
    assert_eq!(s["data_parallel"]["global_batch"], 4);

    // Refused before the rendezvous: one process with torchrun's variables returns at once.
    let err = refused_as_rank_0_of_2(d, &adapt("srdc", "srdc"));
    assert!(err.contains("SRDC") && err.contains("one process"), "{err}");
}

/// The images of `folder` (class folders, as `common::image_folder` writes them) as shards of
/// `per_shard` samples in `out`, with classes.txt.
fn write_shards(folder: &Path, out: &Path, per_shard: u64) {
    use synthgen::dataset::webdataset::{ShardLimits, ShardNaming, ShardWriter};
    std::fs::create_dir_all(out).unwrap();
    let limits = ShardLimits {
        max_samples: per_shard,
        max_bytes: 1 << 30,
    };
    let mut w = ShardWriter::new(out, ShardNaming::single("s"), limits, 0);
    let mut classes: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    classes.sort();
    for (label, class) in classes.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(class)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for (i, f) in files.iter().enumerate() {
            let png = std::fs::read(f).unwrap();
            let cls = label.to_string();
            let key = format!("c{label}_{i:04}");
            w.append(&key, &[("png", &png), ("cls", cls.as_bytes())])
                .unwrap();
        }
    }
    w.finish().unwrap();
    let names: Vec<String> = classes
        .iter()
        .map(|c| c.file_name().unwrap().to_string_lossy().into_owned() + "\n")
        .collect();
    std::fs::write(out.join("classes.txt"), names.concat()).unwrap();
}

/// Two ranks on shards of uneven size (3 shards of 4, 4 and 2 samples, so a rank draws 2 to 8
/// samples an epoch) each read their own shards, run the same number of steps and finish;
/// one shard for two ranks is refused by a rank with one line, before any rendezvous.
#[test]
fn two_ranks_split_uneven_shards_and_too_few_shards_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = common::image_folder(d, 40, 2, 5);
    let shards = d.join("shards");
    write_shards(&data, &shards, 4);
    let flags = [
        "--arch",
        "mixer_tiny",
        "--image-size",
        "40",
        "--epochs",
        "3",
        "--batch-size",
        "2",
    ];
    two_ranks(d, &train_args(&shards, &d.join("two"), &flags));
    let s = summary(&d.join("two"));
    assert_eq!(s["status"], "completed");
    assert_eq!(s["data_parallel"]["world_size"], 2);
    // An epoch counts a rank's share (10 samples / 2 ranks); 3 epochs of batches of 2.
    assert_eq!(s["train_images"], 5);
    assert_eq!(s["steps"], 8);
    assert_eq!(s["images_seen"], 8 * 2 * 2);

    let one = d.join("one-shard");
    write_shards(&data, &one, 100);
    let err = refused_as_rank_0_of_2(d, &train_args(&one, &d.join("refused"), &flags));
    assert!(err.contains("1 shard(s) for 2 ranks"), "{err}");
}
