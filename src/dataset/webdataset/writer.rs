//! Samples -> shards. A shard is written under a temporary name and renamed once it holds
//! `max_samples` samples or reached `max_bytes` (checked after each sample, as webdataset's
//! `ShardWriter` does), so a shard file that exists is complete.
use super::tar;
use super::{io_err, ShardError};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardLimits {
    pub max_samples: u64,
    pub max_bytes: u64,
}

/// Shard file names: the `k`-th shard a writer closes is `<prefix>-<first + k * step>.tar`
/// (six digits). A `render --shard I/N` task uses first = I - 1, step = N, so the tasks'
/// names are disjoint and, with equal shard counts, together number 0, 1, 2, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardNaming {
    pub prefix: String,
    pub first: u64,
    pub step: u64,
}

impl ShardNaming {
    pub fn single(prefix: &str) -> Self {
        ShardNaming {
            prefix: prefix.to_string(),
            first: 0,
            step: 1,
        }
    }

    pub fn name(&self, k: u64) -> String {
        format!("{}-{:06}.tar", self.prefix, self.first + k * self.step)
    }
}

/// A closed shard: its file name, sample count and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedShard {
    pub name: String,
    pub nsamples: u64,
    pub filesize: u64,
}

struct OpenShard {
    name: String,
    tmp: PathBuf,
    file: BufWriter<File>,
    samples: u64,
    bytes: u64,
}

/// One member of a sample: extension (`png`, `mask.png`, `cls`, `json`) and bytes.
pub type MemberData<'a> = (&'a str, &'a [u8]);

pub struct ShardWriter {
    dir: PathBuf,
    naming: ShardNaming,
    limits: ShardLimits,
    next: u64,
    open: Option<OpenShard>,
}

impl ShardWriter {
    /// A writer whose next shard is number `next` of `naming` (0 for a fresh output).
    pub fn new(dir: &Path, naming: ShardNaming, limits: ShardLimits, next: u64) -> Self {
        ShardWriter {
            dir: dir.to_path_buf(),
            naming,
            limits,
            next,
            open: None,
        }
    }

    pub fn naming(&self) -> &ShardNaming {
        &self.naming
    }

    /// The file the next sample goes into (opening it if needed).
    pub fn current(&mut self) -> Result<&str, ShardError> {
        if self.open.is_none() {
            let name = self.naming.name(self.next);
            let path = self.dir.join(&name);
            let tmp = crate::fsio::temp_path(&path);
            let file = File::create(&tmp).map_err(io_err("create", &tmp))?;
            self.open = Some(OpenShard {
                name,
                tmp,
                file: BufWriter::with_capacity(1 << 20, file),
                samples: 0,
                bytes: 0,
            });
        }
        Ok(&self.open.as_ref().expect("just opened").name)
    }

    /// Appends one sample; returns the shard it closed, if this sample filled it.
    pub fn append(
        &mut self,
        key: &str,
        members: &[MemberData<'_>],
    ) -> Result<Option<SealedShard>, ShardError> {
        self.current()?;
        let open = self.open.as_mut().expect("open");
        for (ext, data) in members {
            let name = format!("{key}.{ext}");
            open.bytes += tar::write_member(&mut open.file, &name, data).map_err(|cause| {
                ShardError::Tar {
                    path: open.tmp.clone(),
                    cause,
                }
            })?;
        }
        open.samples += 1;
        if open.samples >= self.limits.max_samples
            || open.bytes + tar::END_SIZE >= self.limits.max_bytes
        {
            return self.seal().map(Some);
        }
        Ok(None)
    }

    /// Closes the open shard, if any (the last, partial shard of a run).
    pub fn finish(&mut self) -> Result<Option<SealedShard>, ShardError> {
        if self.open.is_some() {
            return self.seal().map(Some);
        }
        Ok(None)
    }

    fn seal(&mut self) -> Result<SealedShard, ShardError> {
        let open = self.open.take().expect("an open shard");
        let OpenShard {
            name,
            tmp,
            mut file,
            samples,
            bytes,
        } = open;
        let path = self.dir.join(&name);
        let result = (|| {
            tar::write_end(&mut file)?;
            file.flush()?;
            let f = file.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err("write the shard", &path)(e));
        }
        self.next += 1;
        Ok(SealedShard {
            name,
            nsamples: samples,
            filesize: bytes + tar::END_SIZE,
        })
    }
}

impl Drop for ShardWriter {
    /// An unfinished shard is not a shard: its temporary file goes.
    fn drop(&mut self) {
        if let Some(open) = self.open.take() {
            drop(open.file);
            let _ = std::fs::remove_file(&open.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_roll_over_by_count_and_by_bytes_and_appear_complete() {
        let dir = tempfile::tempdir().unwrap();
        let limits = ShardLimits {
            max_samples: 3,
            max_bytes: 10 * 1024,
        };
        let mut w = ShardWriter::new(dir.path(), ShardNaming::single("t"), limits, 0);
        let mut sealed = Vec::new();
        for i in 0..4 {
            let key = format!("k_{i}");
            sealed.extend(
                w.append(&key, &[("png", &[1u8; 10][..]), ("cls", b"0")])
                    .unwrap(),
            );
        }
        assert_eq!(sealed.len(), 1, "three samples close the first shard");
        assert!(dir.path().join("t-000000.tar").is_file());
        assert!(
            !dir.path().join("t-000001.tar").exists(),
            "open shard not visible"
        );
        // A sample of 9 KiB fills the 10 KiB budget on its own.
        sealed.extend(w.append("big", &[("png", &[2u8; 9 * 1024][..])]).unwrap());
        assert_eq!(sealed.len(), 2);
        assert_eq!(sealed[1].nsamples, 2);
        assert!(w.finish().unwrap().is_none());
        let size = std::fs::metadata(dir.path().join("t-000001.tar"))
            .unwrap()
            .len();
        assert_eq!(size, sealed[1].filesize);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[test]
    fn dropping_an_unfinished_writer_leaves_no_partial_shard() {
        let dir = tempfile::tempdir().unwrap();
        let limits = ShardLimits {
            max_samples: 10,
            max_bytes: 1 << 30,
        };
        let naming = ShardNaming {
            prefix: "t".into(),
            first: 2,
            step: 4,
        };
        assert_eq!(naming.name(3), "t-000014.tar");
        let mut w = ShardWriter::new(dir.path(), naming, limits, 0);
        w.append("a", &[("cls", b"1")]).unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
