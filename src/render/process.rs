//! One Blender worker process seen from the parent: spawn, request/reply, crash detection.
use crate::scene::contract::{WorkerReply, WorkerRequest};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

/// How a worker was started: the executable that has the hidden `__worker` subcommand.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub exe: PathBuf,
    pub scripts_dir: PathBuf,
    pub site_packages: PathBuf,
    /// Blender's scratch space (TMPDIR) and the worker's stderr log live here.
    pub work_dir: PathBuf,
    /// A request that takes longer than this is treated as a hung worker.
    pub reply_timeout: Duration,
    /// The one GPU this worker may use (CUDA_VISIBLE_DEVICES), when the run has several.
    pub gpu: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerFailure {
    #[error("could not start a Blender worker ({exe}): {source}")]
    Spawn {
        exe: PathBuf,
        source: std::io::Error,
    },
    #[error("the Blender worker died ({status}); last log lines: {log_tail}")]
    Died { status: String, log_tail: String },
    #[error("the Blender worker did not answer within {0:?} and was killed")]
    Timeout(Duration),
    #[error("the Blender worker sent a reply that is not valid JSON ({error}): {line}")]
    BadReply { line: String, error: String },
}

/// The id of the line a worker prints once it is ready to serve.
pub const READY_ID: &str = "__ready__";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);

pub struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<String>,
    log_path: PathBuf,
    timeout: Duration,
    /// Requests served so far (for recycling).
    pub served: u64,
}

impl WorkerProcess {
    pub fn spawn(spec: &WorkerSpec) -> Result<Self, WorkerFailure> {
        let spawn_err = |source| WorkerFailure::Spawn {
            exe: spec.exe.clone(),
            source,
        };
        std::fs::create_dir_all(&spec.work_dir).map_err(spawn_err)?;
        let log_path = spec.work_dir.join("worker.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(spawn_err)?;
        let mut command = Command::new(&spec.exe);
        if let Some(gpu) = spec.gpu {
            command.env("CUDA_VISIBLE_DEVICES", gpu.to_string());
        }
        let mut child = command
            .arg("__worker")
            .arg("--scripts")
            .arg(&spec.scripts_dir)
            .arg("--site-packages")
            .arg(&spec.site_packages)
            .env("TMPDIR", &spec.work_dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(spawn_err)?;
        let stdin = child.stdin.take().expect("stdin was piped");
        let stdout = child.stdout.take().expect("stdout was piped");
        // A reader thread turns the blocking pipe into a channel, so a hung render can time out.
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut worker = Self {
            child,
            stdin,
            replies,
            log_path,
            timeout: spec.reply_timeout,
            served: 0,
        };
        worker.wait_ready()?;
        Ok(worker)
    }

    /// The worker announces itself once bpy is imported; a worker that dies before that has an
    /// environment problem (no bpy, missing libraries), which no retry will fix.
    fn wait_ready(&mut self) -> Result<(), WorkerFailure> {
        match self.replies.recv_timeout(STARTUP_TIMEOUT) {
            Ok(line) if line.contains(READY_ID) => Ok(()),
            Ok(line) => Err(WorkerFailure::BadReply {
                line,
                error: "expected the ready line first".into(),
            }),
            Err(RecvTimeoutError::Disconnected) => Err(self.died()),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Err(WorkerFailure::Timeout(STARTUP_TIMEOUT))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one request and waits for its reply.
    pub fn request(&mut self, req: &WorkerRequest) -> Result<WorkerReply, WorkerFailure> {
        let line = serde_json::to_string(req).expect("requests always serialize");
        if writeln!(self.stdin, "{line}")
            .and_then(|_| self.stdin.flush())
            .is_err()
        {
            return Err(self.died());
        }
        match self.replies.recv_timeout(self.timeout) {
            Ok(reply) => {
                self.served += 1;
                serde_json::from_str(&reply).map_err(|e| WorkerFailure::BadReply {
                    line: reply.chars().take(300).collect(),
                    error: e.to_string(),
                })
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.died()),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Err(WorkerFailure::Timeout(self.timeout))
            }
        }
    }

    fn died(&mut self) -> WorkerFailure {
        let status = match self.child.wait() {
            Ok(s) => s.to_string(),
            Err(e) => format!("unknown status: {e}"),
        };
        WorkerFailure::Died {
            status,
            log_tail: log_tail(&self.log_path, 3),
        }
    }

    /// Asks the worker to finish; kills it if it does not within a few seconds.
    pub fn shutdown(mut self) {
        let line = serde_json::to_string(&WorkerRequest::Shutdown).expect("serializes");
        let _ = writeln!(self.stdin, "{line}").and_then(|_| self.stdin.flush());
        let _ = self.replies.recv_timeout(Duration::from_secs(10));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last `n` non-empty lines of a log file, joined with " | ".
fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}
