//! Atomic file writes: write to a temporary sibling, fsync, rename. A reader (or a resumed run)
//! sees either the old file or the complete new one, never a partial file. On the ground floor
//! of the house, so that every folder may write this way.
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary sibling used while writing `path` (same folder, so the rename is atomic).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Writes through `fill` into a temporary file, then renames it over `path`.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        fill(&mut f)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Encodes an image as PNG and writes it atomically.
pub fn save_png_atomic<P, C>(path: &Path, img: &image::ImageBuffer<P, C>) -> std::io::Result<()>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(std::io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Removes temporary files left by an interrupted run under `dir`.
pub fn remove_stale_temps(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy();
            e.file_type().is_file() && name.starts_with('.') && name.ends_with(".tmp")
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let entries: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1, "only the final file remains");
    }

    #[test]
    fn failed_fill_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.txt");
        let r = write_atomic_with(&p, |_| Err(std::io::Error::other("boom")));
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn stale_temps_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".x.png.123.tmp"), b"partial").unwrap();
        std::fs::write(dir.path().join("keep.png"), b"ok").unwrap();
        assert_eq!(remove_stale_temps(dir.path()), 1);
        assert!(dir.path().join("keep.png").exists());
    }
}
