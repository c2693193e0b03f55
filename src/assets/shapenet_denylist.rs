//! The user's ShapeNet denylist: models never to render, one per line with the reason.
//!
//! ```text
//! # comment
//! 1a2b3c4d5e      texture is a black square
//! 02691156/9f8e7d renders inside out
//! ```
//! A bare model id applies in every synset (ShapeNet ids are unique anyway). Render runs
//! append the models they had to give up on, so the next run skips them from the start.
use super::error::AssetError;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct ShapeNetDenylist {
    /// "<synset>/<id>" or "<id>" -> reason.
    entries: BTreeMap<String, String>,
    path: Option<PathBuf>,
}

impl ShapeNetDenylist {
    /// Reads the list at `path`; a missing file is an empty list (created on first append).
    pub fn open(path: &Path) -> Result<Self, AssetError> {
        let mut list = ShapeNetDenylist {
            entries: BTreeMap::new(),
            path: Some(path.to_path_buf()),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(list),
            Err(e) => return Err(AssetError::io("read", path, e)),
        };
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |message: String| AssetError::DenylistLine {
                path: path.to_path_buf(),
                line: i + 1,
                message,
            };
            let (id, reason) = line
                .split_once(char::is_whitespace)
                .map(|(a, b)| (a, b.trim()))
                .unwrap_or((line, ""));
            if !valid_id(id) {
                return Err(bad(format!(
                    "{id:?} is not a model id (letters, digits, `_`, `-`, optionally \
                     prefixed by an 8-digit synset and `/`)"
                )));
            }
            if reason.is_empty() {
                return Err(bad(format!("{id} has no reason after it")));
            }
            list.entries.insert(id.to_string(), reason.to_string());
        }
        Ok(list)
    }

    /// The reason a model is denylisted, if it is.
    pub fn reason(&self, synset: &str, id: &str) -> Option<&str> {
        self.entries
            .get(&format!("{synset}/{id}"))
            .or_else(|| self.entries.get(id))
            .map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn path_text(&self) -> String {
        self.path
            .as_ref()
            .map_or("(no file)".into(), |p| p.display().to_string())
    }

    /// Appends `<synset>/<id> <reason>` unless the model is already listed; returns whether
    /// it was added.
    pub fn append(&mut self, synset: &str, id: &str, reason: &str) -> Result<bool, AssetError> {
        if self.reason(synset, id).is_some() {
            return Ok(false);
        }
        let key = format!("{synset}/{id}");
        // One line per entry: a reason must not break the format.
        let reason: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let reason = if reason.trim().is_empty() {
            "failed to render".to_string()
        } else {
            reason.trim().to_string()
        };
        if let Some(path) = &self.path {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| AssetError::io("create", dir, e))?;
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| AssetError::io("open", path, e))?;
            writeln!(file, "{key} {reason}").map_err(|e| AssetError::io("append to", path, e))?;
        }
        self.entries.insert(key, reason);
        Ok(true)
    }
}

fn valid_id(id: &str) -> bool {
    let model = match id.split_once('/') {
        Some((synset, model)) => {
            if !(synset.len() == 8 && synset.bytes().all(|b| b.is_ascii_digit())) {
                return false;
            }
            model
        }
        None => id,
    };
    !model.is_empty()
        && model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_append_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deny.txt");
        std::fs::write(
            &path,
            "# mine\n\nabc123 black texture\n02691156/def renders inside out\n",
        )
        .unwrap();
        let mut list = ShapeNetDenylist::open(&path).unwrap();
        assert_eq!(list.reason("03001627", "abc123"), Some("black texture"));
        assert_eq!(list.reason("02691156", "def"), Some("renders inside out"));
        assert_eq!(list.reason("03001627", "def"), None);
        assert!(list
            .append("03001627", "xyz", "worker crashed\ntwice")
            .unwrap());
        assert!(!list.append("03001627", "abc123", "again").unwrap());
        let again = ShapeNetDenylist::open(&path).unwrap();
        assert_eq!(
            again.reason("03001627", "xyz"),
            Some("worker crashed twice")
        );
        assert_eq!(again.len(), 3);
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deny.txt");
        std::fs::write(&path, "ok1 fine\nbad/id? why\n").unwrap();
        let msg = ShapeNetDenylist::open(&path).unwrap_err().to_string();
        assert!(msg.contains("line 2") && msg.contains("bad/id?"), "{msg}");
        std::fs::write(&path, "lonely\n").unwrap();
        let msg = ShapeNetDenylist::open(&path).unwrap_err().to_string();
        assert!(msg.contains("line 1") && msg.contains("no reason"), "{msg}");
    }
}
