//! Dataset indexing: ImageFolder folders, VisDA image lists and synthgen output folders become
//! one `ImageSet` (paths + labels + class names). Only paths are held; images are decoded lazily
//! by the loader. WebDataset shards become the same list (`data_shards`): each sample then
//! names its image's place in a shard.
use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::TrainError;

const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "webp"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The image file, or `<shard file>#<key>` for an image inside a shard (`member`).
    pub path: PathBuf,
    pub label: usize,
    /// Where the image lies inside a WebDataset shard; `None` for an image file.
    pub member: Option<Member>,
}

/// An image stored as one member of a tar shard: read with one seek, like `wids` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub shard: Arc<Path>,
    /// The member data's first byte in the shard, and its length.
    pub offset: u64,
    pub len: u64,
}

impl Sample {
    /// An image file with its label.
    pub fn file(path: PathBuf, label: usize) -> Sample {
        Sample {
            path,
            label,
            member: None,
        }
    }

    /// The decoded image, from its file or its shard member.
    pub fn load(&self) -> image::ImageResult<image::DynamicImage> {
        match &self.member {
            None => image::open(&self.path),
            Some(m) => image::load_from_memory(&m.read()?),
        }
    }
}

impl Member {
    /// The member's bytes.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        let mut f = std::fs::File::open(&self.shard)?;
        f.seek(SeekFrom::Start(self.offset))?;
        let mut data = vec![0u8; self.len as usize];
        f.read_exact(&mut data)?;
        Ok(data)
    }
}

/// An indexed image set; label `i` is `classes[i]`.
#[derive(Debug, Clone)]
pub struct ImageSet {
    pub source: PathBuf,
    pub classes: Vec<String>,
    pub samples: Vec<Sample>,
    /// An evaluation set in WebDataset shards (`open_evaluation`): read as a stream, so
    /// `samples` is empty and `len` counts the shards' samples.
    pub shards: Option<std::sync::Arc<super::shards::ShardSet>>,
}

impl ImageSet {
    /// Opens WebDataset shards (a folder of `.tar` files, a wids index or a brace pattern: a
    /// list of their members, `data_shards`), a synthgen output folder (`image_list.txt` +
    /// `classes.txt`), a VisDA list file, or an ImageFolder directory, in that order of
    /// preference.
    pub fn open(path: &Path) -> Result<Self, TrainError> {
        if let Some(set) = super::shards::ShardSet::detect(path)? {
            return Self::from_shards(&set);
        }
        if !path.exists() {
            return Err(TrainError::MissingDataset(path.to_path_buf()));
        }
        if path.is_file() {
            return Self::from_list(path, None);
        }
        let list = path.join("image_list.txt");
        if list.is_file() {
            let classes = path.join("classes.txt");
            return Self::from_list(&list, classes.is_file().then_some(classes.as_path()));
        }
        Self::from_image_folder(path)
    }

    /// An evaluation set: WebDataset shards (a folder of `.tar` files, a wids index or a
    /// brace pattern), streamed when evaluated, or anything `open` takes.
    pub fn open_evaluation(path: &Path) -> Result<Self, TrainError> {
        match super::shards::ShardSet::detect(path)? {
            Some(set) => Ok(ImageSet {
                source: path.to_path_buf(),
                classes: set.classes.clone(),
                samples: Vec::new(),
                shards: Some(std::sync::Arc::new(set)),
            }),
            None => Self::open(path),
        }
    }

    pub fn len(&self) -> usize {
        match &self.shards {
            Some(s) => s.len() as usize,
            None => self.samples.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Class folders sorted alphabetically (torchvision's ImageFolder order), images recursively.
    pub fn from_image_folder(root: &Path) -> Result<Self, TrainError> {
        let mut classes = Vec::new();
        for entry in std::fs::read_dir(root).map_err(|e| TrainError::io(root, e))? {
            let entry = entry.map_err(|e| TrainError::io(root, e))?;
            if entry.path().is_dir() {
                classes.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        classes.sort();
        if classes.is_empty() {
            return Err(TrainError::EmptyDataset {
                path: root.to_path_buf(),
                why: "it has no class sub-folders (ImageFolder layout is <root>/<class>/<image>)"
                    .into(),
            });
        }
        let mut samples = Vec::new();
        for (label, class) in classes.iter().enumerate() {
            let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root.join(class))
                .follow_links(true)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file() && has_image_extension(e.path()))
                .map(|e| e.into_path())
                .collect();
            files.sort();
            samples.extend(files.into_iter().map(|path| Sample::file(path, label)));
        }
        if samples.is_empty() {
            return Err(TrainError::EmptyDataset {
                path: root.to_path_buf(),
                why: format!(
                    "its {} class folders contain no .png/.jpg/.jpeg/.bmp/.webp files",
                    classes.len()
                ),
            });
        }
        Ok(ImageSet {
            source: root.to_path_buf(),
            classes,
            samples,
            shards: None,
        })
    }

    /// A VisDA-style list: `relative/path label` per line, paths relative to the list's folder.
    /// Class names come from `classes_file` (one per line, in label order) when given, else from
    /// the first path component of each label's images, else `class<N>`.
    pub fn from_list(list: &Path, classes_file: Option<&Path>) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(list).map_err(|e| TrainError::io(list, e))?;
        let base = list.parent().unwrap_or(Path::new("."));
        let mut samples = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: String| TrainError::BadListLine {
                path: list.to_path_buf(),
                line: i + 1,
                why,
            };
            // The label is the last field, so paths may contain spaces.
            let (rel, label) = line
                .rsplit_once(char::is_whitespace)
                .ok_or_else(|| bad(format!("`{line}` has no label field")))?;
            let label: usize = label.trim().parse().map_err(|_| {
                bad(format!(
                    "the label `{}` is not a non-negative integer",
                    label.trim()
                ))
            })?;
            samples.push(Sample::file(base.join(rel.trim()), label));
        }
        if samples.is_empty() {
            return Err(TrainError::EmptyDataset {
                path: list.to_path_buf(),
                why: "the list has no `relative/path label` lines".into(),
            });
        }
        let max_label = samples.iter().map(|s| s.label).max().unwrap_or(0);
        let classes = match classes_file {
            Some(file) => {
                let names: Vec<String> = std::fs::read_to_string(file)
                    .map_err(|e| TrainError::io(file, e))?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
                if names.len() <= max_label {
                    return Err(TrainError::BadClassList {
                        path: file.to_path_buf(),
                        why: format!(
                            "it names {} classes but {} uses label {max_label}",
                            names.len(),
                            list.display()
                        ),
                    });
                }
                names
            }
            None => names_from_paths(&text_labels(&samples), base, max_label + 1),
        };
        Ok(ImageSet {
            source: list.to_path_buf(),
            classes,
            samples,
            shards: None,
        })
    }

    /// Errors when `other` (an evaluation set called `name`) has different class names.
    pub fn check_same_classes(&self, name: &str, other: &ImageSet) -> Result<(), TrainError> {
        if self.classes == other.classes {
            return Ok(());
        }
        let a: BTreeSet<&String> = self.classes.iter().collect();
        let b: BTreeSet<&String> = other.classes.iter().collect();
        let join = |s: Vec<&&String>| s.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
        let (only_train, only_eval) = if a == b {
            // Same names in another order would silently permute labels.
            (
                format!("same names, order {}", self.classes.join(",")),
                format!("order {}", other.classes.join(",")),
            )
        } else {
            (
                join(a.difference(&b).collect()),
                join(b.difference(&a).collect()),
            )
        };
        Err(TrainError::ClassMismatch {
            eval: name.to_string(),
            only_train,
            only_eval,
        })
    }
}

fn text_labels(samples: &[Sample]) -> Vec<(&Path, usize)> {
    samples
        .iter()
        .map(|s| (s.path.as_path(), s.label))
        .collect()
}

/// Names each label by the first path component its images share, when every label has one
/// distinct such name; VisDA lists carry no class names otherwise.
fn names_from_paths(samples: &[(&Path, usize)], base: &Path, n: usize) -> Vec<String> {
    let mut names: Vec<Option<String>> = vec![None; n];
    let mut consistent = true;
    for (path, label) in samples {
        let first = path
            .strip_prefix(base)
            .ok()
            .and_then(|r| {
                let mut comps = r.components();
                let c = comps.next()?;
                comps.next()?; // a bare file name gives no class
                Some(c.as_os_str().to_string_lossy().into_owned())
            })
            .unwrap_or_default();
        match &names[*label] {
            None => names[*label] = Some(first),
            Some(prev) if *prev != first => consistent = false,
            _ => {}
        }
    }
    let distinct: BTreeSet<&Option<String>> = names.iter().collect();
    let all_named = names
        .iter()
        .all(|n| n.as_deref().is_some_and(|s| !s.is_empty()));
    if consistent && all_named && distinct.len() == n {
        names.into_iter().map(|n| n.unwrap_or_default()).collect()
    } else {
        (0..n).map(|i| format!("class{i}")).collect()
    }
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_names_classes_from_first_component() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("list.txt");
        std::fs::write(&list, "car/a.png 1\nbus/b b.png 0\n\ncar/c.png 1\n").unwrap();
        let set = ImageSet::from_list(&list, None).unwrap();
        assert_eq!(set.classes, vec!["bus", "car"]);
        assert_eq!(set.samples[1].path, dir.path().join("bus/b b.png"));
        assert_eq!(set.samples[1].label, 0);
    }

    #[test]
    fn bad_list_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("list.txt");
        std::fs::write(&list, "car/a.png 1\ncar/b.png x\n").unwrap();
        let err = ImageSet::from_list(&list, None).unwrap_err().to_string();
        assert!(err.contains("Line 2"), "{err}");
        assert!(err.contains("list.txt"), "{err}");
        assert!(err.contains("`x`"), "{err}");
    }

    #[test]
    fn class_mismatch_names_the_classes() {
        let mk = |c: &[&str]| ImageSet {
            source: PathBuf::new(),
            classes: c.iter().map(|s| s.to_string()).collect(),
            samples: vec![],
            shards: None,
        };
        let err = mk(&["bus", "car"])
            .check_same_classes("real", &mk(&["bus", "truck"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("only in training: [car]"), "{err}");
        assert!(err.contains("only in `real`: [truck]"), "{err}");
    }
}
