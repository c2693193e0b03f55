//! A render whose output folder fills up, or is read-only, stops with one clear error, and
//! what it wrote stays valid: once space is freed and the folder writable, `--resume`
//! completes the dataset and it validates. Needs a
//! small tmpfs (root with mount rights, as `make test` has).
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test and always unmounted.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(String::from_utf8_lossy(&o.stderr).trim().to_string());
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }

    fn remount(&self, options: &str) {
        let o = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_output_disk_gives_one_clear_error_and_resume_completes_the_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    // 600 KiB holds about half of these 80 images at 64 px (measured: 43).
    // make test runs as root (setup needs it too), so a tmpfs can always be mounted: a failure
    // here is a broken environment, not a reason to pass without checking.
    let disk = Tmpfs::mount(&tmp.path().join("disk"), "600k").unwrap_or_else(|why| {
        panic!("cannot mount a tmpfs ({why}); the full-disk check needs root with mount rights")
    });
    let out = disk.0.join("ds");
    let mut args = small_render_args(&out, 40);
    args.extend(["--set".into(), "render.resolution=64".into()]);
    let o = synthgen(tmp.path()).args(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        // The output folder or its manifest, whichever write failed first.
        errors[0].contains(&out.display().to_string())
            && errors[0].matches("No space left on device").count() == 1
            && errors[0].contains("run again with --resume"),
        "{}",
        errors[0]
    );
    // Complete records only: the write that hit the full disk may have left half a line.
    let complete = || {
        std::fs::read_to_string(out.join("manifest.jsonl"))
            .unwrap()
            .matches('\n')
            .count()
    };
    let written = complete();
    assert!(written > 0 && written < 80, "{written} images fitted");

    // Read-only: `--resume` stops with one error line and leaves the records as they were.
    disk.remount("ro");
    let o = synthgen(tmp.path())
        .args(&args)
        .arg("--resume")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("Read-only file system") && errors[0].contains("--resume"),
        "{}",
        errors[0]
    );
    assert_eq!(complete(), written);

    disk.remount("rw,size=16m");
    let o = synthgen(tmp.path())
        .args(&args)
        .arg("--resume")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("{written} already done")),
        "{}",
        text(&o)
    );
    assert_eq!(manifest_digests(&out).len(), 80);
    let v = synthgen(tmp.path())
        .arg("validate")
        .arg(&out)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", text(&v));
}
