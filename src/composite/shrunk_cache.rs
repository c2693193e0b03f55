//! Photos shrunk to the backdrop size, kept on disk between runs.
//!
//! The built-in photographs are 4-24 MP JPEGs: decoding and shrinking one costs 0.2-1 s, which
//! every run (and every recycled process) paid again on first use, while the shrunk result
//! never changes. It is stored losslessly (PNG), keyed by the source's path, size and
//! modification time and the target side, so the pixels a backdrop is cut from are the same
//! whether they come from the cache or from the photo. A cache that cannot be written only
//! costs the decode again.
use image::RgbImage;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The cache file for `source` shrunk to `max_side`, or None when the source cannot be read.
fn entry(cache: &Path, source: &Path, max_side: u32) -> Option<PathBuf> {
    let meta = std::fs::metadata(source).ok()?;
    let modified = meta.modified().ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    let mut h = Sha256::new();
    h.update(source.to_string_lossy().as_bytes());
    h.update(meta.len().to_le_bytes());
    h.update(since.as_nanos().to_le_bytes());
    h.update(max_side.to_le_bytes());
    let key: String = h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(cache.join(format!("{key}.png")))
}

/// The shrunk image from the cache, else `shrink()` stored there (best effort) and returned.
pub fn shrunk<E>(
    cache: &Path,
    source: &Path,
    max_side: u32,
    shrink: impl FnOnce() -> Result<RgbImage, E>,
) -> Result<RgbImage, E> {
    let Some(file) = entry(cache, source, max_side) else {
        return shrink();
    };
    if let Ok(img) = image::open(&file) {
        return Ok(img.into_rgb8());
    }
    let img = shrink()?;
    if let Err(e) = store(&file, &img) {
        tracing::debug!("backdrop cache {} not written: {e}", file.display());
    }
    Ok(img)
}

/// Encodes in memory and writes atomically (temporary name, then rename), so a reader never
/// sees half a file.
fn store(file: &Path, img: &RgbImage) -> Result<(), Box<dyn std::error::Error>> {
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::fsio::write_atomic(file, &png)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn a_cached_photo_has_the_same_pixels_and_a_changed_photo_is_shrunk_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let photo = dir.path().join("photo.png");
        let img = RgbImage::from_fn(30, 20, |x, y| Rgb([x as u8 * 8, y as u8 * 12, 7]));
        img.save(&photo).unwrap();
        let mut calls = 0;
        let get = |calls: &mut u32| {
            shrunk::<()>(&cache, &photo, 16, || {
                *calls += 1;
                Ok(image::open(&photo).unwrap().into_rgb8())
            })
            .unwrap()
        };
        let first = get(&mut calls);
        let second = get(&mut calls);
        assert_eq!(calls, 1, "the second call reads the cache");
        assert_eq!(first, second);
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);

        // Another size (and mtime) of the source is another entry, shrunk again.
        let bigger = RgbImage::from_fn(40, 20, |x, _| Rgb([x as u8, 0, 0]));
        std::thread::sleep(std::time::Duration::from_millis(20));
        bigger.save(&photo).unwrap();
        let third = get(&mut calls);
        assert_eq!(calls, 2);
        assert_eq!(third, bigger);
    }

    #[test]
    fn an_unwritable_cache_still_gives_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("photo.png");
        RgbImage::new(4, 4).save(&photo).unwrap();
        // A file where the cache folder should be: nothing can be stored under it.
        let blocked = dir.path().join("blocked");
        std::fs::write(&blocked, b"x").unwrap();
        let img = shrunk::<()>(&blocked, &photo, 16, || Ok(RgbImage::new(4, 4))).unwrap();
        assert_eq!(img.dimensions(), (4, 4));
    }
}
