//! The worker side: a process that embeds CPython 3.11 + bpy and serves render requests.
//!
//! The parent starts `synthgen __worker` with pipes. Requests arrive as JSON lines on stdin and
//! are passed, as data, to `synthgen_blender.entry.handle_request`; each reply goes out as one
//! line on the protocol channel. Blender and Python print freely to fd 1, so before Python starts
//! we move the protocol to a private duplicate of fd 1 and point fd 1 at stderr: nothing Blender
//! prints can corrupt a reply. All bpy calls stay on this one thread.
use crate::render::process::READY_ID;
use crate::scene::contract::{WorkerReply, WorkerRequest};
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::fs::File;
use std::io::{BufRead, Write};
use std::os::fd::FromRawFd;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("could not set up the worker's protocol channel: {0}")]
    Io(#[from] std::io::Error),
    #[error("Python/Blender failed in the worker: {0}")]
    Python(String),
}

fn py_err(e: PyErr) -> WorkerError {
    WorkerError::Python(e.to_string())
}

/// Moves the protocol off fd 1 and sends everything else printed on fd 1 to stderr.
fn private_protocol_channel() -> Result<File, WorkerError> {
    // SAFETY: plain fd duplication on fds this process owns; no Rust object aliases fd 1.
    unsafe {
        let proto = libc::dup(1);
        if proto < 0 || libc::dup2(2, 1) < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(File::from_raw_fd(proto))
    }
}

/// Serves requests from stdin until EOF or a `shutdown` request.
pub fn serve(scripts_dir: &Path, site_packages: &Path) -> Result<(), WorkerError> {
    let mut protocol = private_protocol_channel()?;
    Python::initialize();
    Python::attach(|py| -> Result<(), WorkerError> {
        let sys = py.import("sys").map_err(py_err)?;
        let path = sys.getattr("path").map_err(py_err)?;
        let path = path
            .cast::<PyList>()
            .map_err(|e| WorkerError::Python(e.to_string()))?;
        path.insert(0, site_packages.to_string_lossy().as_ref())
            .map_err(py_err)?;
        path.insert(0, scripts_dir.to_string_lossy().as_ref())
            .map_err(py_err)?;
        let entry = py.import("synthgen_blender.entry").map_err(py_err)?;
        let handle = entry.getattr("handle_request").map_err(py_err)?;
        // The worker checks its dispatch tables against the contract before it serves, and
        // every request against the schema.
        entry
            .getattr("start")
            .and_then(|start| start.call1((crate::scene::contract::request_schema(),)))
            .map_err(py_err)?;
        let ready = WorkerReply::ready(READY_ID);
        writeln!(
            protocol,
            "{}",
            serde_json::to_string(&ready).expect("serializes")
        )?;
        protocol.flush()?;

        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let shutdown = matches!(
                serde_json::from_str::<WorkerRequest>(&line),
                Ok(WorkerRequest::Shutdown)
            );
            let reply: String = handle
                .call1((line.as_str(),))
                .and_then(|r| r.extract())
                .map_err(py_err)?;
            protocol.write_all(reply.as_bytes())?;
            protocol.write_all(b"\n")?;
            protocol.flush()?;
            if shutdown {
                break;
            }
        }
        Ok(())
    })
}
