//! WebDataset shards as a random-access `ImageSet`: every sample's image is one tar member, so
//! knowing each member's offset and length (as `wids` does) makes shards a list like an
//! ImageFolder. The list is built by reading each shard's headers once (the image data is
//! skipped by seeking; only the small `.cls` members are read), and it holds one entry per
//! sample (name, label, shard, offset, length), never image bytes: everything that takes an
//! `ImageSet` (adaptation's loaders, its per-epoch passes, the t-SNE picture, data-parallel
//! slices, resume) works on shards unchanged.
//!
//! Order: samples are listed by (label, key), not in the order they were packed, so the same
//! samples give the same list whatever the shard size or the number of render tasks, and a
//! synthgen render (keys `<class>_<NNNNNN>`) lists its images in its `image_list.txt` order: a
//! run on the shards equals the run on the same render as an ImageFolder.
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::data::{ImageSet, Member, Sample};
use super::shards::ShardSet;
use super::TrainError;
use crate::dataset::webdataset::tar::TarReader;
use crate::dataset::webdataset::{class_id, split_member, EXT_CLASS, READ_IMAGE_EXTENSIONS};

fn bad(path: &Path, why: impl Into<String>) -> TrainError {
    TrainError::Shards {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

/// One sample as its shard's headers describe it.
#[derive(Default)]
struct Pending {
    key: String,
    image: Option<(u64, u64)>,
    label: Option<usize>,
}

impl ImageSet {
    /// The list of every sample of `set` (see the module's doc for the order).
    pub fn from_shards(set: &ShardSet) -> Result<ImageSet, TrainError> {
        let mut listed: Vec<(usize, String, Sample)> = Vec::new();
        for (path, expected) in &set.shards {
            let before = listed.len();
            index_shard(path, set.classes.len(), &mut listed)?;
            let found = (listed.len() - before) as u64;
            if found != *expected {
                return Err(bad(
                    path,
                    format!(
                        "it holds {found} samples with an image and a .cls, but the index counts {expected}; run `synthgen validate` on {}",
                        set.source.display()
                    ),
                ));
            }
        }
        if listed.is_empty() {
            return Err(TrainError::EmptyDataset {
                path: set.source.clone(),
                why: "its shards hold no sample with an image and a .cls member".into(),
            });
        }
        listed.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(ImageSet {
            source: set.source.clone(),
            classes: set.classes.clone(),
            samples: listed.into_iter().map(|(_, _, s)| s).collect(),
            shards: None,
        })
    }
}

/// Appends the samples of one shard, reading its headers and `.cls` members only.
fn index_shard(
    path: &Path,
    classes: usize,
    out: &mut Vec<(usize, String, Sample)>,
) -> Result<(), TrainError> {
    let file = std::fs::File::open(path).map_err(|e| TrainError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| TrainError::io(path, e))?.len();
    let mut reader = TarReader::new(BufReader::with_capacity(64 << 10, file));
    let shard: Arc<Path> = Arc::from(path);
    let shard_name = path
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let mut pending = Pending::default();
    let finish = |p: Pending, out: &mut Vec<(usize, String, Sample)>| {
        let (Some((offset, len)), Some(label)) = (p.image, p.label) else {
            if !p.key.is_empty() {
                tracing::warn!(
                    "sample {shard_name}#{} has no image or no .cls; skipped",
                    p.key
                );
            }
            return;
        };
        let sample = Sample {
            path: PathBuf::from(format!("{shard_name}#{}", p.key)),
            label,
            member: Some(Member {
                shard: shard.clone(),
                offset,
                len,
            }),
        };
        out.push((label, p.key, sample));
    };
    let want = |name: &str| split_member(name).is_some_and(|(_, ext)| ext == EXT_CLASS);
    loop {
        let m = reader
            .next_located(file_len, want)
            .map_err(|e| bad(path, e.to_string()))?;
        let Some(m) = m else { break };
        let Some((key, ext)) = split_member(&m.name) else {
            continue;
        };
        if key != pending.key {
            finish(std::mem::take(&mut pending), out);
            pending.key = key.to_string();
        }
        if READ_IMAGE_EXTENSIONS.contains(&ext) {
            pending.image = Some((m.offset, m.size));
        } else if let Some(data) = m.data {
            let label = class_id(&data).ok_or_else(|| {
                bad(
                    path,
                    format!("{}: the class id is not a non-negative integer", m.name),
                )
            })?;
            if label >= classes {
                return Err(bad(
                    path,
                    format!(
                        "{}: class id {label}, but classes.txt names {classes} classes",
                        m.name
                    ),
                ));
            }
            pending.label = Some(label);
        }
    }
    finish(pending, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::webdataset::{ShardLimits, ShardNaming, ShardWriter};

    fn png(i: usize) -> Vec<u8> {
        let mut png = Vec::new();
        image::RgbImage::from_pixel(9 + i as u32, 7, image::Rgb([i as u8 * 9, 3, 200]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    }

    /// Samples `k_<i>` of class `i % 2` in shards of `per_shard`, with a mask and a record.
    fn write(dir: &Path, n: usize, per_shard: u64) {
        let mut w = ShardWriter::new(
            dir,
            ShardNaming::single("t"),
            ShardLimits {
                max_samples: per_shard,
                max_bytes: 1 << 30,
            },
            0,
        );
        for i in 0..n {
            let cls = (i % 2).to_string();
            w.append(
                &format!("k_{i:03}"),
                &[
                    ("png", &png(i)),
                    ("mask.png", &png(100)),
                    ("cls", cls.as_bytes()),
                    ("json", b"{}"),
                ],
            )
            .unwrap();
        }
        w.finish().unwrap();
        std::fs::write(dir.join("classes.txt"), "a\nb\n").unwrap();
    }

    #[test]
    fn shards_list_every_image_by_label_and_key_whatever_the_shard_size() {
        let (d3, d4) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write(d3.path(), 7, 3);
        write(d4.path(), 7, 4);
        let a = ImageSet::open(d3.path()).unwrap();
        let b = ImageSet::open(d4.path()).unwrap();
        let names = |s: &ImageSet| {
            s.samples
                .iter()
                .map(|x| {
                    let p = x.path.to_string_lossy().into_owned();
                    (p.split_once('#').unwrap().1.to_string(), x.label)
                })
                .collect::<Vec<_>>()
        };
        let expected: Vec<(String, usize)> = [0, 2, 4, 6, 1, 3, 5]
            .iter()
            .map(|&i| (format!("k_{i:03}"), i % 2))
            .collect();
        assert_eq!(names(&a), expected);
        assert_eq!(names(&b), expected);
        assert_eq!(a.classes, ["a", "b"]);
        assert_eq!(a.samples[1].path, PathBuf::from("t-000000.tar#k_002"));
        // Each entry reads its own image's bytes back (not the mask's), from either packing.
        for (x, y) in a.samples.iter().zip(&b.samples) {
            let name = x.path.to_string_lossy().into_owned();
            let i: usize = name.rsplit_once("k_").unwrap().1.parse().unwrap();
            assert_eq!(x.member.as_ref().unwrap().read().unwrap(), png(i));
            assert_eq!(x.load().unwrap(), y.load().unwrap());
        }
    }

    #[test]
    fn a_class_id_out_of_range_and_a_short_index_are_one_line_errors() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 4, 10);
        std::fs::write(dir.path().join("classes.txt"), "a\n").unwrap();
        let err = ImageSet::open(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("k_001.cls: class id 1, but classes.txt names 1 classes"),
            "{err}"
        );
        std::fs::write(dir.path().join("classes.txt"), "a\nb\n").unwrap();
        let mut set = ShardSet::detect(dir.path()).unwrap().unwrap();
        set.shards[0].1 = 5;
        let err = ImageSet::from_shards(&set).unwrap_err().to_string();
        assert!(err.contains("holds 4 samples"), "{err}");
        assert!(err.contains("index counts 5"), "{err}");
        // A shard cut inside a member is an error, not a shorter list.
        let tar = dir.path().join("t-000000.tar");
        let bytes = std::fs::read(&tar).unwrap();
        std::fs::write(&tar, &bytes[..1546]).unwrap();
        set.shards[0].1 = 4;
        let err = ImageSet::from_shards(&set).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
